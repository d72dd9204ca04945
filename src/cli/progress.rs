//! Progress on stderr while a run works (hidden when stderr is not a terminal).

use aci_chaos_harness::channel::Channel;
use aci_chaos_harness::runner::Progress;
use aci_chaos_reports::Verdict;
use indicatif::{ProgressBar, ProgressStyle};

/// An indicatif progress bar over the run's steps.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar on stderr.
    pub fn new() -> Self {
        let pb = ProgressBar::new(0);
        pb.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self(pb)
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn planned(&self, steps: u64) {
        self.0.set_length(steps);
    }

    fn step_done(&self, scenario: &str, iteration: u32, step: &str, verdicts: &[(Channel, Verdict)]) {
        let v = verdicts.iter().map(|(c, v)| format!("{c}: {v}")).collect::<Vec<_>>().join(", ");
        self.0.set_message(format!("{scenario}#{iteration} {step}: {v}"));
        if self.0.is_hidden() {
            tracing::info!("{scenario}#{iteration} {step}: {v}");
        }
        self.0.inc(1);
    }

    fn cleanup(&self, group: &str, outcome: Result<(), String>) {
        // Printed whether or not the bar is drawn: after Ctrl-C the user waits on exactly this.
        let line = match outcome {
            Ok(()) => format!("cleanup: deleted {group}"),
            Err(e) => format!("cleanup: could not delete {group}: {e}"),
        };
        if self.0.is_hidden() { eprintln!("{line}") } else { self.0.println(line) }
    }
}

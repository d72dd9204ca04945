//! `aci-chaos report render|merge`: reports from history.jsonl, without running anything.

use super::Failure;
use super::args::ReportCommand;
use aci_chaos_reports::output::{CSV_FILE, JUNIT_FILE, REPORT_FILE, merge_dirs, render_dir};
use aci_chaos_reports::{Evidence, ReportError};

/// Bad input (a missing folder, a corrupt history line) is exit code 2; failing to write is 1.
fn failure(e: ReportError) -> Failure {
    if e.is_input() { Failure::usage(e) } else { Failure::from(anyhow::Error::from(e)) }
}

fn describe(ev: &Evidence) -> String {
    let lost = ev.rows.iter().filter(|r| r.verdict == aci_chaos_reports::Verdict::Lost).count();
    let runs = if ev.runs.len() == 1 { "1 run".to_string() } else { format!("{} runs", ev.runs.len()) };
    format!("{runs}, {} checks, {lost} lost", ev.rows.len())
}

/// Runs a `report` subcommand; returns the exit code.
pub fn command(cmd: ReportCommand) -> Result<u8, Failure> {
    match cmd {
        ReportCommand::Render(a) => {
            let ev = render_dir(&a.dir, a.no_redact).map_err(failure)?;
            println!("{}", ev.summary().to_text().trim_end());
            println!("\nrewrote {REPORT_FILE}, {JUNIT_FILE} and {CSV_FILE} in {}/ ({})", a.dir.display(), describe(&ev));
        }
        ReportCommand::Merge(a) => {
            let ev = merge_dirs(&a.dirs, &a.out, a.no_redact).map_err(failure)?;
            println!("{}", ev.summary().to_text().trim_end());
            println!(
                "\nmerged {} folders into {}/ (history.jsonl, {REPORT_FILE}, {JUNIT_FILE}, {CSV_FILE}; {})",
                a.dirs.len(),
                a.out.display(),
                describe(&ev)
            );
        }
    }
    Ok(0)
}

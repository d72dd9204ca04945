//! Evidence derived from a history: the rows, the faults, and the scenario × channel matrix.

use crate::error::ReportError;
use crate::model::{CheckRow, FaultEvent, HistoryLine, Phase, Record, RunEnd, RunMeta, Verdict};
use std::path::Path;

/// The order channels appear in every table.
pub const CHANNEL_ORDER: &[&str] = &["secure-env", "plain-env", "secret-volume", "keyvault"];

/// Everything a report needs, derived from a history.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The run's metadata.
    pub meta: RunMeta,
    /// Every check, in order.
    pub rows: Vec<CheckRow>,
    /// Faults that fired.
    pub faults: Vec<FaultEvent>,
    /// How the run ended (absent when it was killed).
    pub end: Option<RunEnd>,
    /// ARM calls made, and how many failed.
    pub arm_calls: (usize, usize),
}

impl Evidence {
    /// Derives the evidence from history lines (`path` is only for error messages).
    pub fn from_history(lines: &[HistoryLine], path: &Path) -> Result<Self, ReportError> {
        let mut meta = None;
        let mut rows = Vec::new();
        let mut faults = Vec::new();
        let mut end = None;
        let (mut calls, mut failed) = (0, 0);
        for l in lines {
            match &l.record {
                Record::RunStarted(m) => meta = Some(m.clone()),
                Record::Check(r) => rows.push((**r).clone()),
                Record::Fault(f) => faults.push(f.clone()),
                Record::RunFinished(e) => end = Some(e.clone()),
                Record::Arm(_) => match l.phase {
                    Phase::Ok => calls += 1,
                    Phase::Fail => {
                        calls += 1;
                        failed += 1
                    }
                    _ => {}
                },
                Record::Step(_) => {}
            }
        }
        let meta = meta.ok_or_else(|| ReportError::NoRun { path: path.to_path_buf() })?;
        Ok(Self { meta, rows, faults, end, arm_calls: (calls, failed) })
    }

    /// The scenario × channel matrix.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.rows)
    }
}

/// The worse of two verdicts: lost, then unknown, then survived.
pub fn worse(a: Verdict, b: Verdict) -> Verdict {
    let rank = |v: Verdict| match v {
        Verdict::Lost => 2,
        Verdict::Unknown => 1,
        Verdict::Survived => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Counts of verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Survived.
    pub survived: usize,
    /// Lost.
    pub lost: usize,
    /// Unknown.
    pub unknown: usize,
}

impl Counts {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Survived => self.survived += 1,
            Verdict::Lost => self.lost += 1,
            Verdict::Unknown => self.unknown += 1,
        }
    }

    /// Total checks.
    pub fn total(&self) -> usize {
        self.survived + self.lost + self.unknown
    }

    /// `survived 3 · lost 1` style cell (zero counts left out), `–` when there is nothing.
    pub fn cell(&self) -> String {
        let parts: Vec<String> = [(self.survived, "survived", false), (self.lost, "lost", true), (self.unknown, "unknown", false)]
            .iter()
            .filter(|(n, _, _)| *n > 0)
            .map(|(n, w, bold)| if *bold { format!("**{w} {n}**") } else { format!("{w} {n}") })
            .collect();
        if parts.is_empty() { "–".into() } else { parts.join(" · ") }
    }
}

/// Verdict counts per scenario (in run order) and channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Channels that appear, in [`CHANNEL_ORDER`].
    pub channels: Vec<String>,
    /// Per scenario: its name and the counts per channel (aligned with `channels`).
    pub scenarios: Vec<(String, Vec<Counts>)>,
}

impl Summary {
    /// Counts, per scenario and channel, the outcome of each iteration: `lost` if any check of
    /// the iteration saw the secret lost, else `unknown` if any could not observe, else
    /// `survived`. (Each check is in the detail; this is the one-screen answer.)
    pub fn of(rows: &[CheckRow]) -> Self {
        let mut channels: Vec<String> =
            CHANNEL_ORDER.iter().filter(|c| rows.iter().any(|r| r.channel == **c)).map(|c| c.to_string()).collect();
        for r in rows {
            if !channels.contains(&r.channel) {
                channels.push(r.channel.clone());
            }
        }
        let mut outcomes: Vec<((String, u32, String, String), Verdict)> = Vec::new();
        for r in rows {
            let key = (r.scenario.clone(), r.iteration, r.group.clone(), r.channel.clone());
            match outcomes.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => *v = worse(*v, r.verdict),
                None => outcomes.push((key, r.verdict)),
            }
        }
        let mut scenarios: Vec<(String, Vec<Counts>)> = Vec::new();
        for ((scenario, _, _, channel), verdict) in outcomes {
            let idx = match scenarios.iter().position(|(s, _)| *s == scenario) {
                Some(i) => i,
                None => {
                    scenarios.push((scenario, vec![Counts::default(); channels.len()]));
                    scenarios.len() - 1
                }
            };
            let ch = channels.iter().position(|c| *c == channel).expect("channel listed");
            scenarios[idx].1[ch].add(verdict);
        }
        Self { channels, scenarios }
    }

    /// Totals over all scenarios for one channel.
    pub fn channel_total(&self, channel: &str) -> Counts {
        let mut c = Counts::default();
        if let Some(i) = self.channels.iter().position(|x| x == channel) {
            for (_, counts) in &self.scenarios {
                c.survived += counts[i].survived;
                c.lost += counts[i].lost;
                c.unknown += counts[i].unknown;
            }
        }
        c
    }

    /// A plain-text table for the terminal.
    pub fn to_text(&self) -> String {
        let mut header = vec!["scenario".to_string()];
        header.extend(self.channels.iter().cloned());
        let mut body: Vec<Vec<String>> = Vec::new();
        for (s, counts) in &self.scenarios {
            let mut row = vec![s.clone()];
            row.extend(counts.iter().map(|c| c.cell().replace("**", "")));
            body.push(row);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|i| std::iter::once(&header).chain(body.iter()).map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let fmt =
            |r: &Vec<String>| r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string();
        let mut out = fmt(&header) + "\n";
        for r in &body {
            out += &fmt(r);
            out.push('\n');
        }
        out
    }
}

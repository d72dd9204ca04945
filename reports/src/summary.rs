//! Evidence derived from a history: the rows, the faults, and the scenario × channel matrix.

use crate::error::ReportError;
use crate::model::{Capture, CheckRow, FaultEvent, HistoryLine, Phase, Record, RunEnd, RunMeta, StepEvent, Verdict};
use std::collections::BTreeMap;
use std::path::Path;

/// The order channels appear in every table.
pub const CHANNEL_ORDER: &[&str] = &["secure-env", "plain-env", "secret-volume", "keyvault"];

/// A fault as the history recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenFault {
    /// Target time of the history line, on the same clock as the checks. (The fault's own
    /// `at` is the mock's account, which can run ahead of the harness's clock under
    /// `--parallel`.)
    pub time: String,
    /// The fault.
    pub fault: FaultEvent,
}

impl std::ops::Deref for SeenFault {
    type Target = FaultEvent;
    fn deref(&self) -> &FaultEvent {
        &self.fault
    }
}

/// One run of the evidence (a merged report has several).
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// The run's metadata.
    pub meta: RunMeta,
    /// How the run ended (absent when it was killed).
    pub end: Option<RunEnd>,
    /// Faults that fired, with the target time of the history line that recorded each.
    pub faults: Vec<SeenFault>,
    /// Evidence captured on changes during soaks, with the target time of each.
    pub captures: Vec<(String, Capture)>,
    /// How often the run was picked up again after its process died (`run --resume`,
    /// `soak check` after a kill).
    pub resumes: usize,
    /// Why the run last stopped with its groups running (`--detach`, a `soak check` round),
    /// unless it finished since.
    pub detached: Option<String>,
    /// ARM calls made, and how many failed.
    pub arm_calls: (usize, usize),
    /// Target time (the mock's clock, or wall time on Azure) when the run started.
    pub start_time: String,
    /// Target time of the last history line of the run.
    pub end_time: String,
}

/// One check with what the history around it says: the row of `evidence.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Index of the run in [`Evidence::runs`].
    pub run: usize,
    /// The check as the harness recorded it.
    pub check: CheckRow,
    /// Wall-clock time the check was recorded.
    pub wall: String,
    /// Target time the step began (its `invoke`), empty if the history has no such line.
    pub step_time: String,
    /// Wall-clock time the step began.
    pub step_wall: String,
    /// `x-ms-request-id`s of the ARM calls on the group from the step's start to this check.
    pub request_ids: Vec<String>,
}

impl std::ops::Deref for Row {
    type Target = CheckRow;
    fn deref(&self) -> &CheckRow {
        &self.check
    }
}

/// Everything a report needs, derived from one history or several (a merge).
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The runs, in order.
    pub runs: Vec<RunInfo>,
    /// Every check, in order.
    pub rows: Vec<Row>,
}

/// The group name in an ARM path (`…/containerGroups/<name>[/…][?…]`).
fn group_of_path(path: &str) -> Option<&str> {
    let lower = path.to_ascii_lowercase();
    let key = "/containergroups/";
    let i = lower.find(key)? + key.len();
    let rest = &path[i..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Some(&rest[..end])
}

impl Evidence {
    /// Derives the evidence from history lines (`path` is only for error messages). Every
    /// `run_started` record begins a run, so a concatenation of histories is a merge.
    pub fn from_history(lines: &[HistoryLine], path: &Path) -> Result<Self, ReportError> {
        let mut runs: Vec<RunInfo> = Vec::new();
        let mut rows = Vec::new();
        // Per group of the current run: the step in progress (index, target time, wall time)
        // and the request ids seen since it began.
        let mut steps: BTreeMap<String, (u32, String, String, Vec<String>)> = BTreeMap::new();
        for l in lines {
            if let Record::RunStarted(m) = &l.record {
                runs.push(RunInfo {
                    meta: m.clone(),
                    end: None,
                    faults: Vec::new(),
                    captures: Vec::new(),
                    resumes: 0,
                    detached: None,
                    arm_calls: (0, 0),
                    start_time: l.time.clone(),
                    end_time: l.time.clone(),
                });
                steps.clear();
                continue;
            }
            let Some(run) = runs.last_mut() else {
                return Err(ReportError::NoRun { path: path.to_path_buf() });
            };
            run.end_time = l.time.clone();
            match &l.record {
                Record::RunStarted(_) => unreachable!("handled above"),
                Record::Check(r) => {
                    let (step_time, step_wall, request_ids) = match steps.get(&r.group) {
                        Some((i, t, w, ids)) if *i == r.step_index => (t.clone(), w.clone(), ids.clone()),
                        _ => Default::default(),
                    };
                    rows.push(Row { run: runs.len() - 1, check: (**r).clone(), wall: l.wall.clone(), step_time, step_wall, request_ids });
                }
                Record::Fault(f) => run.faults.push(SeenFault { time: l.time.clone(), fault: f.clone() }),
                Record::Capture(c) => run.captures.push((l.time.clone(), (**c).clone())),
                Record::RunFinished(e) => {
                    run.end = Some(e.clone());
                    run.detached = None;
                }
                Record::Arm(a) => {
                    if matches!(l.phase, Phase::Ok | Phase::Fail) {
                        run.arm_calls.0 += 1;
                        if l.phase == Phase::Fail {
                            run.arm_calls.1 += 1;
                        }
                        if let (Some(g), Some(id)) = (group_of_path(&a.path), &a.request_id)
                            && let Some((_, _, _, ids)) = steps.get_mut(g)
                            && !ids.contains(id)
                        {
                            ids.push(id.clone());
                        }
                    }
                }
                Record::Step(s) if s.is_run_event(StepEvent::RESUME) => run.resumes += 1,
                Record::Step(s) if s.is_run_event(StepEvent::DETACH) => run.detached = Some(s.detail.clone()),
                Record::Step(s) => {
                    if l.phase == Phase::Invoke {
                        steps.insert(s.group.clone(), (s.index, l.time.clone(), l.wall.clone(), Vec::new()));
                    }
                }
            }
        }
        if runs.is_empty() {
            return Err(ReportError::NoRun { path: path.to_path_buf() });
        }
        Ok(Self { runs, rows })
    }

    /// The first run's metadata (the only one unless this is a merge).
    pub fn meta(&self) -> &RunMeta {
        &self.runs[0].meta
    }

    /// The check rows as the harness recorded them.
    pub fn checks(&self) -> impl Iterator<Item = &CheckRow> {
        self.rows.iter().map(|r| &r.check)
    }

    /// The scenario × channel matrix (summed over runs).
    pub fn summary(&self) -> Summary {
        Summary::of_rows(&self.rows)
    }

    /// The redactor for this evidence's files, masking unless `keep_ids`.
    pub fn redactor(&self, keep_ids: bool) -> crate::redact::Redactor {
        crate::redact::Redactor::for_runs(self.runs.iter().map(|r| &r.meta)).enable(!keep_ids)
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
        let rows: Vec<Row> = rows
            .iter()
            .map(|c| Row {
                run: 0,
                check: c.clone(),
                wall: String::new(),
                step_time: String::new(),
                step_wall: String::new(),
                request_ids: vec![],
            })
            .collect();
        Self::of_rows(&rows)
    }

    /// [`Summary::of`] over evidence rows: iterations of different runs count separately, so a
    /// merge sums its runs.
    pub fn of_rows(rows: &[Row]) -> Self {
        let mut channels: Vec<String> =
            CHANNEL_ORDER.iter().filter(|c| rows.iter().any(|r| r.channel == **c)).map(|c| c.to_string()).collect();
        for r in rows {
            if !channels.contains(&r.channel) {
                channels.push(r.channel.clone());
            }
        }
        // (run, scenario, iteration, channel) → worst verdict over the iteration's checks (of
        // every group it deployed), in first-seen order.
        let mut order: Vec<(usize, String, u32, String)> = Vec::new();
        let mut outcomes: BTreeMap<(usize, String, u32, String), Verdict> = BTreeMap::new();
        for r in rows {
            let key = (r.run, r.scenario.clone(), r.iteration, r.channel.clone());
            match outcomes.get_mut(&key) {
                Some(v) => *v = worse(*v, r.verdict),
                None => {
                    outcomes.insert(key.clone(), r.verdict);
                    order.push(key);
                }
            }
        }
        let mut scenarios: Vec<(String, Vec<Counts>)> = Vec::new();
        for key in order {
            let verdict = outcomes[&key];
            let (_, scenario, _, channel) = key;
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

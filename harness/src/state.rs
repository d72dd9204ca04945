//! A run's resumable state, `state.json` in its folder: everything needed to go on after the
//! process is gone (a laptop closed, a SIGKILL, a scheduler that runs one round of a soak and
//! exits). The world itself (ARM, or a `mock serve` process) outlives the run; this file holds
//! the run's side: its setup, which iterations are done, and where the one in progress stands.
//!
//! Secrets are never in it: only their fingerprints. A resumed run on the mock derives the same
//! seeded secrets again; on Azure, steps that would have to send the secret values again cannot
//! run after a resume (see [`MemberState`]).
//!
//! The file is written after every consistent point (an iteration's deploy and checks, each
//! step and its checks, each soak round, an iteration's cleanup), atomically (a temporary file
//! renamed over it), together with the history mark: how many lines and bytes of
//! `history.jsonl` belong to that point. Lines written after the mark belong to work a resume
//! does again; they are moved aside, never deleted.

use crate::channel::Channel;
use crate::error::HarnessError;
use crate::template::GroupTemplate;
use aci_chaos_reports::{ArmView, PlacementView, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The name of the state file in a run's folder.
pub const STATE_FILE: &str = "state.json";

/// The `format` of the state file this version writes and reads.
pub const FORMAT: &str = "aci-chaos-run-state/1";

/// A suite as it was when the run started (so a resume runs exactly that, even when the file
/// has changed since).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSuite {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

/// How to reach a real subscription again (no credentials: those come from the environment of
/// the process that resumes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedAzure {
    /// The `--auth` method name.
    pub auth: String,
    /// Resource Manager endpoint.
    pub arm_endpoint: String,
    /// Entra ID authority, if one was given.
    pub authority_host: Option<String>,
    /// Extra trusted certificate file, if one was given.
    pub ca_cert: Option<PathBuf>,
}

/// What a run was started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSetup {
    /// Run id.
    pub run_id: String,
    /// Seed.
    pub seed: u64,
    /// `azure` or the URL of a mock server.
    pub target: String,
    /// Subscription.
    pub subscription: String,
    /// Resource group.
    pub resource_group: String,
    /// Location.
    pub location: String,
    /// Suites, as run.
    pub suites: Vec<SavedSuite>,
    /// Whether secrets are seeded (the mock) or random (Azure).
    pub seeded_secrets: bool,
    /// Log lines read per check.
    pub log_tail: usize,
    /// How long a group may take to settle, in seconds.
    pub settle_timeout_secs: u64,
    /// Whether ids are kept in the output files.
    pub no_redact: bool,
    /// Real subscription settings.
    pub azure: Option<SavedAzure>,
}

/// One group of the iteration in progress.
///
/// `expected` holds fingerprints, never values. On a seeded run the values are derived again
/// (and must give these fingerprints); on Azure they are gone with the process that made them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberState {
    /// Group name.
    pub name: String,
    /// Its template as it is now (an update may have changed the image, a zone change the zone).
    pub template: GroupTemplate,
    /// Fingerprint of each channel's secret.
    pub expected: BTreeMap<Channel, String>,
    /// Last placement seen.
    pub placement: PlacementView,
    /// Whether a `delete` step removed it.
    pub deleted: bool,
    /// The verdicts of its last check.
    pub last: BTreeMap<Channel, Verdict>,
}

/// Where a soak in progress stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakState {
    /// When the soak began (target time, RFC 3339): round `r` is due at `start + r × every`.
    pub start: String,
    /// Rounds done (or passed over).
    pub rounds_done: u64,
    /// Each member's last verdicts and boot id (a change against these is recorded).
    pub prev: Vec<Option<(BTreeMap<Channel, Verdict>, String)>>,
    /// Checks made.
    pub checks: u64,
    /// Checks recorded.
    pub recorded: u64,
    /// Each member's ARM view and placement before the soak.
    pub befores: Vec<(ArmView, PlacementView)>,
    /// Target time of the last capture per member (the next capture's activity-log window
    /// starts there).
    #[serde(default)]
    pub captured: Vec<Option<String>>,
    /// Each member's restart count and container state in the last round (a running
    /// container that restarted is captured).
    #[serde(default)]
    pub prev_arm: Vec<Option<(u64, String)>>,
}

/// The iteration in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationState {
    /// Scenario.
    pub scenario: String,
    /// Iteration number (1-based).
    pub iteration: u32,
    /// The index of the first step not finished: 0 while deploying, `steps + 1` when only the
    /// cleanup is left.
    pub next_step: u32,
    /// Its groups.
    pub members: Vec<MemberState>,
    /// The soak at `next_step`, when one is under way.
    pub soak: Option<SoakState>,
    /// The error that stopped the iteration (only its cleanup is left).
    #[serde(default)]
    pub error: Option<String>,
}

/// How far a run got.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunProgress {
    /// Iterations finished, as `(scenario, iteration)`.
    pub done: Vec<(String, u32)>,
    /// Per scenario with an expectation: iterations that met it, iterations run.
    pub met: BTreeMap<String, (usize, usize)>,
    /// The first error that stopped an iteration.
    pub first_error: Option<String>,
    /// The last mock fault already recorded.
    pub faults_seen: u64,
    /// Whether the run created its resource group (and so deletes it at the end).
    pub created_resource_group: bool,
    /// The iteration in progress.
    pub current: Option<IterationState>,
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// A process is running it, or died while running it (the lock file tells which).
    Running,
    /// Stopped on purpose inside a soak (`--detach`, `soak check`): its groups keep running.
    Detached,
    /// Finished: cleaned up, reports final.
    Finished,
}

/// How much of `history.jsonl` belongs to the saved point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryMark {
    /// The last line's `seq`.
    pub seq: u64,
    /// The file's length in bytes.
    pub bytes: u64,
}

/// The whole `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// [`FORMAT`].
    pub format: String,
    /// Where the run is.
    pub status: RunStatus,
    /// What it was started with.
    pub setup: RunSetup,
    /// How far it got.
    pub progress: RunProgress,
    /// The history that goes with `progress`.
    pub history: HistoryMark,
    /// sha256 of the file as written with this field empty: an edited or damaged file is
    /// refused rather than trusted (it decides what gets deleted).
    #[serde(default)]
    pub checksum: String,
}

/// The file's text for a state, with its checksum filled in.
fn seal(state: &RunState) -> Result<String, HarnessError> {
    let mut s = state.clone();
    s.checksum = String::new();
    let text = serde_json::to_string_pretty(&s).map_err(|e| HarnessError::Protocol(format!("state: {e}")))?;
    let sum = crate::secret::sha256_hex(text.as_bytes());
    Ok(text.replacen("\"checksum\": \"\"", &format!("\"checksum\": \"{sum}\""), 1))
}

/// Whether a state file's text carries the checksum of its contents.
fn sealed(text: &str, checksum: &str) -> bool {
    !checksum.is_empty()
        && crate::secret::sha256_hex(text.replacen(&format!("\"checksum\": \"{checksum}\""), "\"checksum\": \"\"", 1).as_bytes())
            == checksum
}

impl RunState {
    /// Reads a run folder's state, with a clear error when it is missing or not a state file.
    pub fn load(dir: &Path) -> Result<Self, HarnessError> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|cause| {
            if cause.kind() == std::io::ErrorKind::NotFound {
                HarnessError::Resume(format!(
                    "{} has no {STATE_FILE}: only runs against `--target azure` or a `mock serve` URL can be resumed \
                     (the embedded mock's world ends with its process), and only once they have started",
                    dir.display()
                ))
            } else {
                HarnessError::Io { path: path.clone(), cause }
            }
        })?;
        let state: RunState = serde_json::from_str(&text).map_err(|e| HarnessError::Suite {
            file: path.clone(),
            line: e.line(),
            column: e.column(),
            message: format!("not a run state file this version can read: {e} (it is written by `aci-chaos run`; do not edit it)"),
        })?;
        if state.format == FORMAT && !sealed(&text, &state.checksum) {
            return Err(HarnessError::Resume(format!(
                "{}: its checksum does not match its contents: it was edited or damaged, and it decides what gets deleted, \
                 so it is not trusted (`aci-chaos cleanup --run {}` ends the run; its evidence so far stays in the folder)",
                path.display(),
                state.setup.run_id
            )));
        }
        if state.format != FORMAT {
            return Err(HarnessError::Resume(format!(
                "{}: format `{}`, this aci-chaos reads `{FORMAT}` (resume it with the version that started it)",
                path.display(),
                state.format
            )));
        }
        Ok(state)
    }
}

impl RunState {
    /// Checks that the saved progress fits the saved suites (an edited or damaged file is refused
    /// with what does not fit, before any request).
    pub fn check(&self, suites: &[crate::suite::Suite]) -> Result<(), HarnessError> {
        let bad = |what: String| {
            HarnessError::Resume(format!(
                "state.json does not fit the run's suites: {what} (was it edited? it is written by aci-chaos only)"
            ))
        };
        let Some(cur) = &self.progress.current else { return Ok(()) };
        let sc = suites
            .iter()
            .flat_map(|s| &s.scenarios)
            .find(|sc| sc.name == cur.scenario)
            .ok_or_else(|| bad(format!("no scenario `{}`", cur.scenario)))?;
        if cur.iteration == 0 || cur.iteration > sc.iterations {
            return Err(bad(format!("scenario `{}` has no iteration {}", sc.name, cur.iteration)));
        }
        if cur.next_step as usize > sc.steps.len() + 1 {
            return Err(bad(format!("scenario `{}` has {} steps, the saved point is at step {}", sc.name, sc.steps.len(), cur.next_step)));
        }
        if cur.next_step > 0 && cur.members.len() != sc.groups.len() {
            return Err(bad(format!("scenario `{}` deploys {} groups, {} are saved", sc.name, sc.groups.len(), cur.members.len())));
        }
        for (i, m) in cur.members.iter().enumerate() {
            let name = crate::runner::group_name(&self.setup.run_id, &sc.name, cur.iteration, i, sc.groups.len());
            if m.name != name {
                return Err(bad(format!("member {} is `{}`, this run names it `{name}`", i + 1, m.name)));
            }
            if self.setup.seeded_secrets {
                for (ch, fp) in &m.expected {
                    if crate::secret::derive(self.setup.seed, &m.name, *ch).fingerprint() != *fp {
                        return Err(bad(format!("{}: the saved {ch} fingerprint is not this run's seeded secret's", m.name)));
                    }
                }
            }
        }
        if let Some(soak) = &cur.soak {
            let step = if cur.next_step >= 1 { sc.steps.get(cur.next_step as usize - 1) } else { None };
            let Some(crate::suite::Step::Soak { duration, every }) = step else {
                return Err(bad(format!("a soak is saved at step {} of scenario `{}`, which is no soak", cur.next_step, sc.name)));
            };
            let n = cur.members.len();
            if soak.prev.len() != n || soak.befores.len() != n {
                return Err(bad(format!("the saved soak has not one entry per group of scenario `{}`", sc.name)));
            }
            let rounds = (duration.0.as_secs_f64() / every.0.as_secs_f64()).floor() as u64;
            if soak.rounds_done > rounds {
                return Err(bad(format!("{} soak rounds done of {rounds}", soak.rounds_done)));
            }
            if time::OffsetDateTime::parse(&soak.start, &time::format_description::well_known::Rfc3339).is_err() {
                return Err(bad(format!("soak start `{}` is not an RFC 3339 time", soak.start)));
            }
        }
        if self.progress.done.iter().any(|(s, i)| *s == cur.scenario && *i == cur.iteration) {
            return Err(bad(format!("`{}` #{} is both done and in progress", cur.scenario, cur.iteration)));
        }
        Ok(())
    }
}

/// Writes `state.json` atomically each time the runner reaches a consistent point.
#[derive(Debug)]
pub struct StateFile {
    dir: PathBuf,
    state: Mutex<RunState>,
}

impl StateFile {
    /// A state file for a run folder, starting from `state`.
    pub fn new(dir: &Path, state: RunState) -> Self {
        Self { dir: dir.to_path_buf(), state: Mutex::new(state) }
    }

    /// The state as last saved.
    pub fn get(&self) -> RunState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Changes the state and writes it out.
    pub fn save(&self, change: impl FnOnce(&mut RunState)) -> Result<(), HarnessError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut s);
        let path = self.dir.join(STATE_FILE);
        let tmp = self.dir.join(format!(".{STATE_FILE}.tmp"));
        let text = seal(&s)?;
        std::fs::write(&tmp, text).map_err(|cause| HarnessError::Io { path: tmp.clone(), cause })?;
        std::fs::rename(&tmp, &path).map_err(|cause| HarnessError::Io { path, cause })
    }
}

/// The lock that keeps two processes from driving one run folder at once. Held while the value
/// lives; the operating system drops it when the process dies, even by SIGKILL.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    /// Takes the lock of a run folder, or says who has it.
    pub fn take(dir: &Path) -> Result<Self, HarnessError> {
        let path = dir.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .read(true)
            .open(&path)
            .map_err(|cause| HarnessError::Io { path: path.clone(), cause })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(HarnessError::Busy(format!(
                    "{} is being driven by another aci-chaos process{}: wait for it to end (a scheduler should not start a round while one runs)",
                    dir.display(),
                    holder.trim().parse::<u32>().map(|p| format!(" (pid {p})")).unwrap_or_default()
                )));
            }
            Err(std::fs::TryLockError::Error(cause)) => return Err(HarnessError::Io { path, cause }),
        }
        let _ = file.set_len(0);
        let _ = std::io::Write::write_all(&mut &file, std::process::id().to_string().as_bytes());
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RunState {
        RunState {
            format: FORMAT.into(),
            status: RunStatus::Running,
            setup: RunSetup {
                run_id: "abc123".into(),
                seed: 7,
                target: "http://127.0.0.1:1".into(),
                subscription: "sub".into(),
                resource_group: "rg".into(),
                location: "eastus".into(),
                suites: vec![SavedSuite { path: "s.toml".into(), text: "[suite]\nname = \"s\"\n".into() }],
                seeded_secrets: true,
                log_tail: 10,
                settle_timeout_secs: 600,
                no_redact: false,
                azure: None,
            },
            progress: RunProgress::default(),
            history: HistoryMark { seq: 3, bytes: 100 },
            checksum: String::new(),
        }
    }

    #[test]
    fn saves_atomically_and_loads_back() {
        let dir = tempdir();
        let f = StateFile::new(&dir, sample());
        f.save(|s| s.progress.done.push(("a".into(), 1))).unwrap();
        let back = RunState::load(&dir).unwrap();
        assert_eq!(back.progress.done, vec![("a".to_string(), 1)]);
        assert!(!dir.join(".state.json.tmp").exists());
    }

    #[test]
    fn missing_and_foreign_files_are_clear_errors() {
        let dir = tempdir();
        let e = RunState::load(&dir).unwrap_err().to_string();
        assert!(e.contains("has no state.json"), "{e}");
        std::fs::write(dir.join(STATE_FILE), "{\n  \"format\": 3\n}").unwrap();
        let e = RunState::load(&dir).unwrap_err().to_string();
        assert!(e.contains("state.json:2:"), "{e}");
        let mut s = sample();
        s.format = "aci-chaos-run-state/9".into();
        std::fs::write(dir.join(STATE_FILE), seal(&s).unwrap()).unwrap();
        let e = RunState::load(&dir).unwrap_err().to_string();
        assert!(e.contains("aci-chaos-run-state/9"), "{e}");
        // Any edit of a sealed file: refused.
        let text = seal(&sample()).unwrap();
        std::fs::write(dir.join(STATE_FILE), &text).unwrap();
        RunState::load(&dir).unwrap();
        std::fs::write(dir.join(STATE_FILE), text.replace("\"seed\": 7", "\"seed\": 8")).unwrap();
        let e = RunState::load(&dir).unwrap_err().to_string();
        assert!(e.contains("checksum does not match"), "{e}");
    }

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempdir();
        let first = RunLock::take(&dir).unwrap();
        let e = RunLock::take(&dir).unwrap_err().to_string();
        assert!(e.contains("another aci-chaos process"), "{e}");
        drop(first);
        RunLock::take(&dir).unwrap();
    }

    #[test]
    fn progress_that_does_not_fit_the_suites_is_refused() {
        let text = "[suite]\nname = \"s\"\n[[scenario]]\nname = \"a\"\nsteps = [{ kind = \"soak\", duration = \"1h\", every = \"10m\" }]\n";
        let suites = vec![crate::suite::Suite::parse(Path::new("s.toml"), text).unwrap()];
        let member = MemberState {
            name: "acc-abc123-a-1".into(),
            template: GroupTemplate::default(),
            expected: BTreeMap::new(),
            placement: PlacementView::default(),
            deleted: false,
            last: BTreeMap::new(),
        };
        let mut st = sample();
        let cur = IterationState { scenario: "a".into(), iteration: 1, next_step: 1, members: vec![member], soak: None, error: None };
        st.progress.current = Some(cur.clone());
        st.check(&suites).unwrap();
        for (edit, expect) in [
            (IterationState { scenario: "zz".into(), ..cur.clone() }, "no scenario `zz`"),
            (IterationState { iteration: 2, ..cur.clone() }, "has no iteration 2"),
            (IterationState { next_step: 9, ..cur.clone() }, "the saved point is at step 9"),
            (IterationState { members: vec![], ..cur.clone() }, "deploys 1 groups, 0 are saved"),
            (
                IterationState { members: vec![MemberState { name: "someone-elses".into(), ..cur.members[0].clone() }], ..cur.clone() },
                "member 1 is `someone-elses`",
            ),
            (
                IterationState {
                    soak: Some(SoakState {
                        start: "2026-01-01T00:00:00Z".into(),
                        rounds_done: 0,
                        prev: vec![],
                        checks: 0,
                        recorded: 0,
                        befores: vec![],
                        captured: vec![],
                        prev_arm: vec![],
                    }),
                    ..cur.clone()
                },
                "not one entry per group",
            ),
        ] {
            st.progress.current = Some(edit);
            let e = st.check(&suites).unwrap_err().to_string();
            assert!(e.contains(expect), "{e}");
        }
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("aci-chaos-state-{}-{}", std::process::id(), crate::secret::random_hex(4)));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

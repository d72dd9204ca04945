//! What a run records: run metadata, ARM calls, steps, checks with verdicts, faults.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Jepsen-style phase of a history line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// An operation begins.
    Invoke,
    /// It completed.
    Ok,
    /// It failed.
    Fail,
    /// An observation or a fact (a check result, a fault seen, run metadata).
    Info,
}

/// The verdict for one secret channel after one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The container sees the secret it was given.
    Survived,
    /// The container no longer sees it (missing, or a different value).
    Lost,
    /// It could not be observed: never guessed.
    Unknown,
}

impl Verdict {
    /// The lowercase name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Survived => "survived",
            Self::Lost => "lost",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Facts about a run, recorded first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// Run id (also in group names and tags).
    pub run_id: String,
    /// `mock (embedded)`, `mock at URL`, or `azure`.
    pub target: String,
    /// Base URL of ARM or the mock.
    pub endpoint: String,
    /// Region (location) the groups were deployed to.
    pub region: String,
    /// ACI api-version used.
    pub api_version: String,
    /// aci-chaos version.
    pub tool_version: String,
    /// Git commit the tool was built from, if known.
    pub git_commit: Option<String>,
    /// Seed of the run.
    pub seed: u64,
    /// Suite files run.
    pub suites: Vec<String>,
    /// Wall-clock start (RFC 3339).
    pub started: String,
    /// The command that reproduces this run.
    pub reproduce: String,
    /// The subscription the run used (masked in every file unless the run was `--no-redact`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// The tenant of that subscription, when known (masked like the subscription).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Whether subscription and tenant ids are masked in the run's files (`--no-redact` clears it).
    #[serde(default = "yes")]
    pub redact: bool,
}

fn yes() -> bool {
    true
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    /// Wall-clock end (RFC 3339).
    pub finished: String,
    /// Whether every group the run created was deleted.
    pub cleanup: String,
    /// Set when the run stopped early.
    pub error: Option<String>,
}

/// One HTTP call to ARM (or the mock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmCall {
    /// Method.
    pub method: String,
    /// Path and query (no host).
    pub path: String,
    /// Status code, once answered.
    pub status: Option<u16>,
    /// `x-ms-request-id`.
    pub request_id: Option<String>,
    /// Attempt number (retries count up from 1).
    pub attempt: u32,
    /// Milliseconds the call took.
    pub millis: Option<u64>,
    /// ARM error code or transport error, when it failed.
    pub error: Option<String>,
    /// Milliseconds the client paused after this answer because its
    /// `x-ms-ratelimit-remaining-*` headers said the quota was nearly spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowed_ms: Option<u64>,
}

/// A step of a scenario (deploy, restart, rehost, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEvent {
    /// Scenario name.
    pub scenario: String,
    /// Iteration (1-based).
    pub iteration: u32,
    /// Container group name.
    pub group: String,
    /// Step index within the iteration (0 is the deploy).
    pub index: u32,
    /// Step name, e.g. `rehost`.
    pub step: String,
    /// What happened, in words.
    pub detail: String,
}

impl StepEvent {
    /// The step of a run-level event ([`StepEvent::of_run`]): a later process picked the run up.
    pub const RESUME: &'static str = "resume";
    /// The step of a run-level event: the run stopped with its groups running.
    pub const DETACH: &'static str = "detach";

    /// An event of the whole run rather than of a scenario (no scenario, iteration or group).
    pub fn of_run(step: &str, detail: String) -> Self {
        Self { scenario: String::new(), iteration: 0, group: String::new(), index: 0, step: step.into(), detail }
    }

    /// Whether this is the run-level event `step`.
    pub fn is_run_event(&self, step: &str) -> bool {
        self.scenario.is_empty() && self.step == step
    }
}

/// A fault the target reported firing (mock only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultEvent {
    /// Fault kind.
    pub kind: String,
    /// Resource id hit.
    pub target: String,
    /// Mock time it fired.
    pub at: String,
    /// The hypothesis per channel, as the fault stated it.
    pub hypothesis: BTreeMap<String, serde_json::Value>,
    /// What happened per channel.
    pub outcome: BTreeMap<String, String>,
}

/// Everything captured at once when a soak saw a group change (restart count, boot id, a
/// fingerprint): the platform's account beside the probe's. Secrets are never in it: ARM's
/// instance views carry none, logs are the probe's fingerprints (and any secret value is
/// masked before recording), and activity-log claims (caller details) are dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capture {
    /// Scenario.
    pub scenario: String,
    /// Iteration.
    pub iteration: u32,
    /// Group.
    pub group: String,
    /// What changed (or `end of soak` for the closing capture).
    pub reason: String,
    /// The group's and its containers' instance views (state, restart count, events), as ARM
    /// returned them.
    pub instance_view: serde_json::Value,
    /// The container's logs, in full (or what could be read; empty with `logs_error`).
    pub logs: String,
    /// Why the logs could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_error: Option<String>,
    /// The activity-log window read: from, to (target time).
    pub window: (String, String),
    /// Its events, newest first, one summary line each (time, category, operation, status,
    /// caller, title).
    pub activity: Vec<String>,
    /// The events as ARM returned them, minus `claims`.
    pub activity_raw: Vec<serde_json::Value>,
    /// Why the activity log could not be read (e.g. no Microsoft.Insights read permission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_error: Option<String>,
}

/// What ARM showed of a group at one moment (secrets are never in it: ARM does not return them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArmView {
    /// `provisioningState`.
    pub provisioning_state: String,
    /// `instanceView.state`.
    pub group_state: String,
    /// The probe container's `currentState.state` (with detail when not empty).
    pub container_state: String,
    /// The probe container's `previousState.state` (with exit code when there is one).
    pub previous_state: String,
    /// The probe container's `restartCount`.
    pub restart_count: Option<u64>,
    /// Environment variable entries as ARM lists them: `NAME=value` for plain, `NAME` (secure).
    pub env_entries: Vec<String>,
    /// Names of the probe container's events, with counts.
    pub events: Vec<String>,
}

/// Where a group ran, from the probe (host, boot id) and ARM (IP).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementView {
    /// Host name the probe reported.
    pub host: String,
    /// Boot id the probe reported.
    pub boot: String,
    /// IP address ARM reported.
    pub ip: String,
}

/// One check of one channel after one step: a row of `evidence.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRow {
    /// Scenario name.
    pub scenario: String,
    /// Iteration (1-based).
    pub iteration: u32,
    /// Container group name.
    pub group: String,
    /// Step index (0 is the deploy).
    pub step_index: u32,
    /// Step name.
    pub step: String,
    /// Secret channel.
    pub channel: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
    /// How it was observed (`logs`).
    pub method: String,
    /// Fingerprint the container should see.
    pub expected_fp: String,
    /// Fingerprint it reported (`MISSING`, or empty when not observed).
    pub observed_fp: String,
    /// Mock (virtual) time of the check, or wall time on Azure. Written as `check_time`: a
    /// history line's own `time` sits beside the record's fields, and two `time` keys made
    /// early histories unreadable ([`crate::history`] still reads them).
    #[serde(rename = "check_time")]
    pub time: String,
    /// Zone of the group (`any` when not pinned).
    pub zone: String,
    /// Probe profile.
    pub profile: String,
    /// The hypothesis the step carried for this channel (mock faults), e.g. `lost`.
    pub hypothesis: String,
    /// ARM view before the step.
    pub arm_before: ArmView,
    /// ARM view after the step.
    pub arm_after: ArmView,
    /// Placement before the step.
    pub placement_before: PlacementView,
    /// Placement after the step.
    pub placement_after: PlacementView,
}

impl CheckRow {
    /// Whether ARM's view of the group's configuration and state changed across the step.
    pub fn arm_view_changed(&self) -> bool {
        let key = |v: &ArmView| (v.provisioning_state.clone(), v.group_state.clone(), v.container_state.clone(), v.env_entries.clone());
        key(&self.arm_before) != key(&self.arm_after)
    }

    /// Whether the group moved (host or boot id changed).
    /// Placement the probe could not report (it printed nothing) is not a change.
    pub fn placement_changed(&self) -> bool {
        let (b, a) = (&self.placement_before, &self.placement_after);
        let known = |p: &PlacementView| !p.host.is_empty() || !p.boot.is_empty();
        known(b) && known(a) && (b.host != a.host || b.boot != a.boot)
    }
}

/// What a history line records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The run began.
    RunStarted(RunMeta),
    /// An ARM call.
    Arm(ArmCall),
    /// A scenario step.
    Step(StepEvent),
    /// A check's verdict.
    Check(Box<CheckRow>),
    /// A fault that fired.
    Fault(FaultEvent),
    /// Evidence captured when a soak saw a change.
    Capture(Box<Capture>),
    /// The run ended.
    RunFinished(RunEnd),
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryLine {
    /// Order in the run.
    pub seq: u64,
    /// Phase.
    pub phase: Phase,
    /// Target time (the mock's clock, or wall time on Azure).
    pub time: String,
    /// Wall-clock time.
    pub wall: String,
    /// The record.
    #[serde(flatten)]
    pub record: Record,
}

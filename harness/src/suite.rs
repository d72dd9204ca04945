//! Suite files: TOML, one suite a file, several scenarios a suite. Unknown keys are errors, and
//! every error names the file, line and column, says what was expected, and suggests the
//! nearest valid name.
//!
//! ```toml
//! [suite]
//! name = "default"
//!
//! [[scenario]]
//! name = "rehost"
//! iterations = 1
//! group = { profile = "probe", channels = ["secure-env", "plain-env"] }
//! steps = [{ kind = "rehost", hypothesis = { secure-env = "lost" } }]
//! ```

use crate::channel::Channel;
use crate::error::HarnessError;
use crate::template::{GroupTemplate, Profile, RestartPolicy};
use aci_chaos_reports::Verdict;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// What a fault does to one channel: the hypothesis under test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Fate {
    /// `"kept"` or `"lost"`.
    Word(&'static str),
    /// A probability of loss.
    Probability(f64),
}

impl Fate {
    /// How reports show it.
    pub fn describe(&self) -> String {
        match self {
            Self::Word(w) => w.to_string(),
            Self::Probability(p) => format!("lost with p={p}"),
        }
    }
}

impl<'de> Deserialize<'de> for Fate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Fate;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"kept\", \"lost\", or a loss probability from 0 to 1")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Fate, E> {
                match v {
                    "kept" => Ok(Fate::Word("kept")),
                    "lost" => Ok(Fate::Word("lost")),
                    other => Err(E::custom(format!(
                        "unknown fate `{other}`, expected \"kept\", \"lost\", or a probability from 0 to 1{}",
                        suggest(other, &["kept", "lost"])
                    ))),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Fate, E> {
                if (0.0..=1.0).contains(&v) {
                    Ok(Fate::Probability(v))
                } else {
                    Err(E::custom(format!("loss probability {v} is out of range: expected 0 to 1")))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Fate, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// The most check rounds one soak may have (90 days every 15 minutes is 8,640).
pub const MAX_SOAK_ROUNDS: u64 = 100_000;

/// The longest duration a suite may name (ten years of virtual time).
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

/// A duration written like `30s`, `15m`, `90d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map_err(|e| e.to_string())
            .and_then(|v| if v > MAX_DURATION { Err(format!("longer than {}", humantime::format_duration(MAX_DURATION))) } else { Ok(v) })
            .map(HumanDuration)
            .map_err(|e| de::Error::custom(format!("`{s}` is not a duration ({e}): write it like \"30s\", \"15m\", \"2h\" or \"90d\"")))
    }
}

/// How an `update` step changes the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateVariant {
    /// `PUT` of the full spec, secrets resent.
    Resend,
    /// `PUT` of the body ARM's `GET` returned (it lacks secure values): ARM's refusal is recorded.
    Roundtrip,
    /// `PUT` of the spec without the secure variable (what a redeploy that drops it does).
    Omit,
    /// `PATCH` of the tags only.
    PatchTags,
    /// `PUT` with a new image, secrets resent.
    Image,
}

/// A step of a scenario, run after the groups are deployed and checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", rename_all_fields = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// `PUT` of the full spec again (creates the group if it is gone).
    Deploy {},
    /// `POST …/restart`: containers restart in place.
    Restart {},
    /// `POST …/stop`: terminate and deallocate.
    Stop {},
    /// `POST …/start`: a new deployment of a stopped group.
    Start {},
    /// `PUT`/`PATCH` of an existing group.
    Update {
        /// Which update.
        variant: UpdateVariant,
        /// The new image for `variant = "image"` (default: the image with a `-v2` tag).
        #[serde(default)]
        image: Option<String>,
    },
    /// Try to move the group to another zone (ARM refuses), then delete and recreate it there.
    ZoneChange {
        /// The zone to move to.
        to: String,
    },
    /// Delete and create again with the same spec: the field's workaround.
    Recreate {},
    /// Delete the group (no check follows).
    Delete {},
    /// Mock only: move the group to another host; each channel meets the hypothesis' fate.
    Rehost {
        /// Fate per channel; channels not named are kept.
        #[serde(default)]
        hypothesis: BTreeMap<Channel, Fate>,
    },
    /// Mock only: restart on the same host, everything kept.
    MaintenanceRestart {},
    /// Mock only: the group's host fails; the group lands on a new host after `recover-after`.
    HostFailure {
        /// How long until the group is rescheduled.
        #[serde(default = "default_recover")]
        recover_after: HumanDuration,
        /// Fate per channel when it lands again.
        #[serde(default)]
        hypothesis: BTreeMap<Channel, Fate>,
    },
    /// Mock only: the first group's zone (or `zone`) goes out for `duration`.
    ZoneOutage {
        /// The zone (default: the zone the first group runs in).
        #[serde(default)]
        zone: Option<String>,
        /// How long the zone is out.
        duration: HumanDuration,
        /// Fate per channel when groups land again.
        #[serde(default)]
        hypothesis: BTreeMap<Channel, Fate>,
    },
    /// Mock only: every group in the region is rehosted within `window`.
    MaintenanceWave {
        /// The window the rehosts spread over.
        #[serde(default = "default_window")]
        window: HumanDuration,
        /// Fate per channel.
        #[serde(default)]
        hypothesis: BTreeMap<Channel, Fate>,
    },
    /// Let time pass (virtual on the mock).
    Wait {
        /// How long.
        duration: HumanDuration,
    },
    /// Check every `every` for `duration`; history keeps the checks that saw a change.
    Soak {
        /// How long.
        duration: HumanDuration,
        /// How often to check.
        every: HumanDuration,
    },
}

fn default_recover() -> HumanDuration {
    HumanDuration(Duration::from_secs(120))
}

fn default_window() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}

impl Step {
    /// The step's name in reports.
    pub fn name(&self) -> &'static str {
        // (Unit-like steps are empty struct variants, so that serde refuses unknown keys on them.)
        match self {
            Self::Deploy {} => "deploy",
            Self::Restart {} => "restart",
            Self::Stop {} => "stop",
            Self::Start {} => "start",
            Self::Update { variant, .. } => match variant {
                UpdateVariant::Resend => "update-resend",
                UpdateVariant::Roundtrip => "update-roundtrip",
                UpdateVariant::Omit => "update-omit",
                UpdateVariant::PatchTags => "update-patch-tags",
                UpdateVariant::Image => "update-image",
            },
            Self::ZoneChange { .. } => "zone-change",
            Self::Recreate {} => "recreate",
            Self::Delete {} => "delete",
            Self::Rehost { .. } => "rehost",
            Self::MaintenanceRestart {} => "maintenance-restart",
            Self::HostFailure { .. } => "host-failure",
            Self::ZoneOutage { .. } => "zone-outage",
            Self::MaintenanceWave { .. } => "maintenance-wave",
            Self::Wait { .. } => "wait",
            Self::Soak { .. } => "soak",
        }
    }

    /// Whether the step needs the mock's fault API (platform events cannot be triggered on Azure).
    pub fn mock_only(&self) -> bool {
        matches!(
            self,
            Self::Rehost { .. }
                | Self::MaintenanceRestart {}
                | Self::HostFailure { .. }
                | Self::ZoneOutage { .. }
                | Self::MaintenanceWave { .. }
        )
    }

    /// Whether the step sends the secret values to ARM again (so a resumed run on Azure, which
    /// no longer has them, cannot run it).
    pub fn sends_secrets(&self) -> bool {
        matches!(
            self,
            Self::Deploy {}
                | Self::Recreate {}
                | Self::ZoneChange { .. }
                | Self::Update { variant: UpdateVariant::Resend | UpdateVariant::Image | UpdateVariant::Omit, .. }
        )
    }

    /// The hypothesis a fault step carries.
    pub fn hypothesis(&self) -> Option<&BTreeMap<Channel, Fate>> {
        match self {
            Self::Rehost { hypothesis }
            | Self::HostFailure { hypothesis, .. }
            | Self::ZoneOutage { hypothesis, .. }
            | Self::MaintenanceWave { hypothesis, .. } => Some(hypothesis),
            _ => None,
        }
    }
}

/// How many iterations must meet the scenario's expectation for it to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PassPolicy {
    /// Every iteration.
    #[default]
    All,
    /// More than half.
    Most,
    /// At least one.
    Any,
}

impl PassPolicy {
    /// Whether `met` of `total` iterations pass under this policy.
    pub fn passes(self, met: usize, total: usize) -> bool {
        match self {
            Self::All => met == total,
            Self::Most => met * 2 > total,
            Self::Any => met > 0,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Most => "most",
            Self::Any => "any",
        }
    }
}

/// The group a scenario deploys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    profile: Profile,
    #[serde(default = "default_channels")]
    channels: Spanned<Vec<Channel>>,
    #[serde(default)]
    restart_policy: RestartPolicy,
    #[serde(default = "no_zones")]
    zones: Spanned<Vec<String>>,
    #[serde(default = "default_cpu")]
    cpu: f64,
    #[serde(default = "default_memory")]
    memory_gb: f64,
    image: Option<String>,
}

impl Default for RawGroup {
    fn default() -> Self {
        Self {
            profile: Profile::Probe,
            channels: default_channels(),
            restart_policy: RestartPolicy::Always,
            zones: no_zones(),
            cpu: 1.0,
            memory_gb: 0.5,
            image: None,
        }
    }
}

fn default_channels() -> Spanned<Vec<Channel>> {
    Spanned::new(0..0, vec![Channel::SecureEnv, Channel::PlainEnv])
}
fn no_zones() -> Spanned<Vec<String>> {
    Spanned::new(0..0, vec![])
}
fn default_cpu() -> f64 {
    1.0
}
fn default_memory() -> f64 {
    0.5
}
fn default_iterations() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default = "default_iterations")]
    iterations: Spanned<u32>,
    group: Option<Spanned<RawGroup>>,
    groups: Option<Spanned<Vec<RawGroup>>>,
    #[serde(default)]
    pass: PassPolicy,
    #[serde(default)]
    expect: BTreeMap<Channel, Verdict>,
    #[serde(default)]
    steps: Vec<Spanned<Step>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawSuiteHeader {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawSuite {
    suite: RawSuiteHeader,
    #[serde(default)]
    scenario: Vec<RawScenario>,
    #[serde(default)]
    mock_fault: Vec<toml::Table>,
}

/// One scenario, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Name (part of group names).
    pub name: String,
    /// What it shows.
    pub description: String,
    /// How many times it runs.
    pub iterations: u32,
    /// The groups each iteration deploys together (most scenarios have one).
    pub groups: Vec<GroupTemplate>,
    /// How many iterations must meet `expect`.
    pub pass: PassPolicy,
    /// The verdict each channel should have at the end of an iteration (empty: no expectation).
    pub expect: BTreeMap<Channel, Verdict>,
    /// Steps after the deploy.
    pub steps: Vec<Step>,
}

/// A suite, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// Where it was read from.
    pub file: PathBuf,
    /// Suite name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Its scenarios, in file order.
    pub scenarios: Vec<Scenario>,
    /// Faults the mock plans for the whole run (`[[mock-fault]]` tables, in the mock's fault-file
    /// format: scheduled or at a rate). Mock only.
    pub mock_faults: Vec<serde_json::Value>,
}

/// The longest scenario name (it is part of group names, which ARM limits to 63 characters).
pub const MAX_SCENARIO_NAME: usize = 24;

/// " (did you mean `x`?)" for the nearest candidate, if one is near.
pub fn suggest(word: &str, candidates: &[&str]) -> String {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| before[i + 1..].chars().count()).unwrap_or_else(|| before.chars().count()) + 1;
    (line, col)
}

/// Adds a "did you mean" to serde's "unknown field/variant `x`, expected one of `a`, `b`".
fn with_suggestion(msg: &str) -> String {
    let (Some(start), Some(exp)) = (msg.find('`'), msg.find("expected")) else { return msg.to_string() };
    let Some(end) = msg[start + 1..].find('`') else { return msg.to_string() };
    let word = &msg[start + 1..start + 1 + end];
    let candidates: Vec<&str> = msg[exp..].split('`').skip(1).step_by(2).collect();
    if candidates.is_empty() || !(msg.starts_with("unknown field") || msg.starts_with("unknown variant")) {
        return msg.to_string();
    }
    format!("{msg}{}", suggest(word, &candidates))
}

type ErrAt<'a> = dyn Fn(usize, String) -> HarnessError + 'a;

/// Checks a step sequence makes sense: fault hypotheses name the groups' channels, and no step
/// acts on a group that an earlier step stopped or deleted.
fn check_steps(steps: &[(Step, usize)], groups: &[GroupTemplate], err_at: &ErrAt<'_>) -> Result<(), HarnessError> {
    #[derive(PartialEq)]
    enum State {
        Running,
        Stopped(usize),
        Deleted(usize),
    }
    let mut state = State::Running;
    for (i, (st, at)) in steps.iter().enumerate() {
        let n = i + 1;
        if let Some(h) = st.hypothesis() {
            for ch in h.keys() {
                if !groups.iter().all(|g| g.channels.contains(ch)) {
                    return Err(err_at(
                        *at,
                        format!(
                            "step {n} (`{}`) states a hypothesis for `{ch}`, which the scenario's groups do not all have: expected one of their channels",
                            st.name()
                        ),
                    ));
                }
            }
        }
        let needs_running =
            !matches!(st, Step::Wait { .. } | Step::Soak { .. } | Step::Deploy {} | Step::Recreate {} | Step::Start {} | Step::Delete {});
        match (&state, st) {
            (State::Deleted(d), s) if !matches!(s, Step::Deploy {} | Step::Recreate {} | Step::Wait { .. }) => {
                return Err(err_at(
                    *at,
                    format!(
                        "step {n} (`{}`) acts on a group that step {d} deleted: expected {{ kind = \"deploy\" }} or {{ kind = \"recreate\" }} first",
                        st.name()
                    ),
                ));
            }
            (State::Stopped(d), _) if needs_running => {
                return Err(err_at(
                    *at,
                    format!(
                        "step {n} (`{}`) needs a running group, but step {d} stopped it: expected {{ kind = \"start\" }} first",
                        st.name()
                    ),
                ));
            }
            _ => {}
        }
        state = match st {
            Step::Stop {} => State::Stopped(n),
            Step::Delete {} => State::Deleted(n),
            Step::Start {} | Step::Deploy {} | Step::Recreate {} => State::Running,
            _ => state,
        };
    }
    Ok(())
}

fn group_template(g: RawGroup, at: usize, name: &str, err_at: &ErrAt<'_>) -> Result<GroupTemplate, HarnessError> {
    let channels = g.channels.get_ref().clone();
    let cat = if g.channels.span().is_empty() { at } else { g.channels.span().start };
    if channels.is_empty() {
        return Err(err_at(cat, "channels is empty: expected at least one of secure-env, plain-env, secret-volume".into()));
    }
    let mut seen = Vec::new();
    for c in &channels {
        if seen.contains(c) {
            return Err(err_at(cat, format!("channel `{c}` is listed twice")));
        }
        seen.push(*c);
    }
    if g.profile != Profile::Probe && !channels.contains(&Channel::SecureEnv) {
        return Err(err_at(
            cat,
            format!(
                "profile `{}` needs the `secure-env` channel (its token): without it the agent exits at start, so nothing could be observed",
                g.profile.as_str()
            ),
        ));
    }
    let zat = if g.zones.span().is_empty() { at } else { g.zones.span().start };
    for z in g.zones.get_ref() {
        if !["1", "2", "3"].contains(&z.as_str()) {
            return Err(err_at(zat, format!("zone `{z}` is invalid: expected \"1\", \"2\" or \"3\"")));
        }
    }
    if g.zones.get_ref().len() > 1 {
        return Err(err_at(zat, "a container group can be pinned to one zone only: expected zones = [\"1\"] or similar".into()));
    }
    if !(g.cpu > 0.0 && g.cpu <= 4.0 && g.memory_gb > 0.0 && g.memory_gb <= 16.0) {
        return Err(err_at(
            at,
            format!(
                "scenario `{name}`: cpu {} / memory-gb {} out of range: expected 0 < cpu ≤ 4 and 0 < memory-gb ≤ 16",
                g.cpu, g.memory_gb
            ),
        ));
    }
    Ok(GroupTemplate {
        profile: g.profile,
        channels,
        restart_policy: g.restart_policy,
        zones: g.zones.get_ref().clone(),
        cpu: g.cpu,
        memory_gb: g.memory_gb,
        image: g.image.unwrap_or_else(|| crate::template::DEFAULT_IMAGE.to_string()),
    })
}

impl Suite {
    /// Reads and validates a suite file.
    pub fn load(path: &Path) -> Result<Self, HarnessError> {
        if path.is_dir() {
            return Err(HarnessError::Suite {
                file: path.to_path_buf(),
                line: 1,
                column: 1,
                message: "is a folder: expected a suite file (.toml)".into(),
            });
        }
        let bytes = std::fs::read(path).map_err(|cause| HarnessError::Io { path: path.to_path_buf(), cause })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let (line, column) = line_col(&String::from_utf8_lossy(e.as_bytes()), e.utf8_error().valid_up_to());
            HarnessError::Suite { file: path.to_path_buf(), line, column, message: "is not UTF-8 text: expected a TOML suite file".into() }
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates suite text (`path` is for messages).
    pub fn parse(path: &Path, text: &str) -> Result<Self, HarnessError> {
        let err_at = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            HarnessError::Suite { file: path.to_path_buf(), line, column, message }
        };
        let raw: RawSuite = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            err_at(offset, with_suggestion(e.message().trim()))
        })?;
        if raw.scenario.is_empty() {
            return Err(err_at(text.len(), "the suite has no scenarios: add at least one [[scenario]] table".into()));
        }
        let mut names: Vec<String> = Vec::new();
        let mut scenarios = Vec::new();
        for s in raw.scenario {
            let name = s.name.get_ref().clone();
            let at = s.name.span().start;
            let valid = !name.is_empty()
                && name.len() <= MAX_SCENARIO_NAME
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !name.starts_with('-')
                && !name.ends_with('-');
            if !valid {
                return Err(err_at(
                    at,
                    format!(
                        "scenario name `{name}` is invalid: expected 1 to {MAX_SCENARIO_NAME} lowercase letters, digits and inner dashes (it becomes part of container group names)"
                    ),
                ));
            }
            if names.contains(&name) {
                return Err(err_at(at, format!("scenario name `{name}` is used twice in this suite: expected unique names")));
            }
            names.push(name.clone());
            let iterations = *s.iterations.get_ref();
            if !(1..=10_000).contains(&iterations) {
                return Err(err_at(s.iterations.span().start, format!("iterations = {iterations} is out of range: expected 1 to 10000")));
            }
            let raw_groups: Vec<(RawGroup, usize)> = match (s.group, s.groups) {
                (Some(_), Some(gs)) => {
                    return Err(err_at(gs.span().start, format!("scenario `{name}` has both `group` and `groups`: expected one of them")));
                }
                (Some(g), None) => {
                    let gat = g.span().start;
                    vec![(g.into_inner(), gat)]
                }
                (None, Some(gs)) => {
                    let gat = gs.span().start;
                    let gs = gs.into_inner();
                    if gs.is_empty() || gs.len() > 26 {
                        return Err(err_at(gat, format!("`groups` has {} entries: expected 1 to 26", gs.len())));
                    }
                    gs.into_iter().map(|g| (g, gat)).collect()
                }
                (None, None) => vec![(RawGroup::default(), at)],
            };
            let mut groups = Vec::new();
            for (g, gat) in raw_groups {
                groups.push(group_template(g, gat, &name, &err_at)?);
            }
            let steps: Vec<(Step, usize)> = s.steps.into_iter().map(|st| (st.get_ref().clone(), st.span().start)).collect();
            for (st, sat) in &steps {
                match st {
                    Step::ZoneChange { to } | Step::ZoneOutage { zone: Some(to), .. } if !["1", "2", "3"].contains(&to.as_str()) => {
                        return Err(err_at(*sat, format!("zone `{to}` is invalid: expected \"1\", \"2\" or \"3\"")));
                    }
                    Step::Soak { duration, every }
                        if !every.0.is_zero() && duration.0.as_secs_f64() / every.0.as_secs_f64() > MAX_SOAK_ROUNDS as f64 =>
                    {
                        return Err(err_at(
                            *sat,
                            format!(
                                "a soak of {} every {} is {:.0} rounds: at most {MAX_SOAK_ROUNDS} expected (check less often)",
                                humantime::format_duration(duration.0),
                                humantime::format_duration(every.0),
                                duration.0.as_secs_f64() / every.0.as_secs_f64()
                            ),
                        ));
                    }
                    Step::Soak { duration, every } if every.0.is_zero() || every.0 > duration.0 => {
                        return Err(err_at(
                            *sat,
                            "soak needs 0 < every ≤ duration, e.g. { kind = \"soak\", duration = \"90d\", every = \"15m\" }".into(),
                        ));
                    }
                    Step::Update { variant, image: Some(_) } if *variant != UpdateVariant::Image => {
                        return Err(err_at(*sat, "`image` goes only with variant = \"image\"".into()));
                    }
                    _ => {}
                }
            }
            check_steps(&steps, &groups, &err_at)?;
            for ch in s.expect.keys() {
                if !groups.iter().all(|g| g.channels.contains(ch)) {
                    return Err(err_at(
                        at,
                        format!(
                            "scenario `{name}` expects channel `{ch}`, which its groups do not all have: expected one of their channels"
                        ),
                    ));
                }
            }
            scenarios.push(Scenario {
                name,
                description: s.description,
                iterations,
                groups,
                pass: s.pass,
                expect: s.expect,
                steps: steps.into_iter().map(|(st, _)| st).collect(),
            });
        }
        let mock_faults = raw.mock_fault.into_iter().map(|t| serde_json::to_value(t).unwrap_or_default()).collect();
        Ok(Suite {
            file: path.to_path_buf(),
            name: raw.suite.name.into_inner(),
            description: raw.suite.description,
            scenarios,
            mock_faults,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Suite, HarnessError> {
        Suite::parse(Path::new("s.toml"), t)
    }

    fn err(t: &str) -> String {
        parse(t).unwrap_err().to_string()
    }

    const OK: &str = r#"
[suite]
name = "t"

[[scenario]]
name = "rehost"
group = { profile = "probe", channels = ["secure-env", "plain-env"] }
steps = [{ kind = "restart" }, { kind = "rehost", hypothesis = { secure-env = "lost", plain-env = 0.25 } }, { kind = "wait", duration = "30m" }]
"#;

    #[test]
    fn a_good_suite_parses() {
        let s = parse(OK).unwrap();
        assert_eq!(s.scenarios[0].steps.len(), 3);
        assert_eq!(
            s.scenarios[0].steps[1],
            Step::Rehost { hypothesis: [(Channel::SecureEnv, Fate::Word("lost")), (Channel::PlainEnv, Fate::Probability(0.25))].into() }
        );
        assert_eq!(s.scenarios[0].steps[2], Step::Wait { duration: HumanDuration(Duration::from_secs(1800)) });
    }

    #[test]
    fn unknown_keys_name_line_column_and_the_nearest_name() {
        let e = err(&OK.replace("name = \"rehost\"", "name = \"rehost\"\niteratons = 2"));
        assert!(e.starts_with("s.toml:7:1:"), "{e}");
        assert!(e.contains("unknown field `iteratons`") && e.contains("did you mean `iterations`?"), "{e}");
        let e = err(&OK.replace("kind = \"restart\"", "kind = \"restrat\""));
        assert!(e.contains("did you mean `restart`?"), "{e}");
        let e = err(&OK.replace("\"plain-env\"]", "\"plain-evn\"]"));
        assert!(e.contains("did you mean `plain-env`?") && e.starts_with("s.toml:7:56:"), "{e}");
    }

    #[test]
    fn semantic_errors_point_at_the_value() {
        let e = err(&OK.replace("\"lost\"", "\"gone\""));
        assert!(e.contains("unknown fate `gone`"), "{e}");
        let e = err(&OK.replace("name = \"rehost\"", "name = \"Rehost!\""));
        assert!(e.starts_with("s.toml:6:8:") && e.contains("lowercase"), "{e}");
        let e = err(&OK.replace("\"30m\"", "\"soon\""));
        assert!(e.contains("is not a duration"), "{e}");
        let e = err("[suite]\nname = \"x\"\n");
        assert!(e.contains("no scenarios"), "{e}");
    }
}

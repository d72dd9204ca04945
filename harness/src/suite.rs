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

/// A duration written like `30s`, `15m`, `90d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(HumanDuration)
            .map_err(|e| de::Error::custom(format!("`{s}` is not a duration ({e}): write it like \"30s\", \"15m\", \"2h\" or \"90d\"")))
    }
}

/// A step of a scenario, run after the group is deployed and checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// `POST …/restart`: containers restart in place.
    Restart,
    /// `POST …/stop`: terminate and deallocate.
    Stop,
    /// `POST …/start`: a new deployment of a stopped group.
    Start,
    /// Mock only: move the group to another host; each channel meets the hypothesis' fate.
    Rehost {
        /// Fate per channel; channels not named are kept.
        #[serde(default)]
        hypothesis: BTreeMap<Channel, Fate>,
    },
    /// Let time pass (virtual on the mock).
    Wait {
        /// How long.
        duration: HumanDuration,
    },
}

impl Step {
    /// The step's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Rehost { .. } => "rehost",
            Self::Wait { .. } => "wait",
        }
    }

    /// Whether the step needs the mock's fault API.
    pub fn mock_only(&self) -> bool {
        matches!(self, Self::Rehost { .. })
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
    group: Option<RawGroup>,
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
}

/// One scenario, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Name (part of group names).
    pub name: String,
    /// What it shows.
    pub description: String,
    /// How many groups it deploys, one after another.
    pub iterations: u32,
    /// The group.
    pub group: GroupTemplate,
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
    let offset = offset.min(text.len());
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

impl Suite {
    /// Reads and validates a suite file.
    pub fn load(path: &Path) -> Result<Self, HarnessError> {
        let text = std::fs::read_to_string(path).map_err(|source| HarnessError::Io { path: path.to_path_buf(), source })?;
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
            let g = s.group.unwrap_or_else(|| RawGroup {
                profile: Profile::Probe,
                channels: default_channels(),
                restart_policy: RestartPolicy::Always,
                zones: no_zones(),
                cpu: 1.0,
                memory_gb: 0.5,
                image: None,
            });
            let channels = g.channels.get_ref().clone();
            if channels.is_empty() {
                return Err(err_at(
                    g.channels.span().start,
                    "channels is empty: expected at least one of secure-env, plain-env, secret-volume".into(),
                ));
            }
            let mut seen = Vec::new();
            for c in &channels {
                if seen.contains(c) {
                    return Err(err_at(g.channels.span().start, format!("channel `{c}` is listed twice")));
                }
                if *c == Channel::Keyvault {
                    return Err(err_at(g.channels.span().start, "channel `keyvault` is not available yet: it needs the mock's simulated Key Vault and managed identity; expected secure-env, plain-env or secret-volume".into()));
                }
                seen.push(*c);
            }
            for z in g.zones.get_ref() {
                if !["1", "2", "3"].contains(&z.as_str()) {
                    return Err(err_at(g.zones.span().start, format!("zone `{z}` is invalid: expected \"1\", \"2\" or \"3\"")));
                }
            }
            if g.zones.get_ref().len() > 1 {
                return Err(err_at(
                    g.zones.span().start,
                    "a container group can be pinned to one zone only: expected zones = [\"1\"] or similar".into(),
                ));
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
            let template = GroupTemplate {
                profile: g.profile,
                channels,
                restart_policy: g.restart_policy,
                zones: g.zones.get_ref().clone(),
                cpu: g.cpu,
                memory_gb: g.memory_gb,
                image: g.image.unwrap_or_else(|| crate::template::DEFAULT_IMAGE.to_string()),
            };
            scenarios.push(Scenario {
                name,
                description: s.description,
                iterations,
                group: template,
                steps: s.steps.into_iter().map(Spanned::into_inner).collect(),
            });
        }
        Ok(Suite { file: path.to_path_buf(), name: raw.suite.name.into_inner(), description: raw.suite.description, scenarios })
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

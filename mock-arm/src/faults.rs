//! Faults: the platform events users cannot trigger on Azure, and control-plane misbehaviour.
//!
//! Runtime faults act on groups: `rehost` (new host in the same zone; each secret channel meets
//! the fate the hypothesis gives it), `maintenance-restart` (same host, everything kept),
//! `host-failure` (containers go down; the group is rehosted after a delay), `zone-outage`
//! (every group in a zone), `maintenance-wave` (groups across the region rehosted within a time
//! window). Control-plane faults act on requests: throttling with `Retry-After`, 5xx, added
//! latency, slow long-running operations, dropped connections, and a low subscription request
//! budget (`ratelimit-budget`, see [`crate::ratelimit`]).
//!
//! Faults fire at once through the admin plane, or from a plan (a TOML fault file, or the admin
//! plane) at a virtual time or at a rate. Every fault that fires is logged with its time and
//! target. A fault file:
//!
//! ```toml
//! [[fault]]
//! kind = "rehost"
//! target = "each"                      # each group on its own schedule
//! hypothesis = { secure-env = "lost" } # kept / lost / probability of loss
//! schedule = { poisson = "30d" }       # or { every = "30d" } or { at = "6h" }
//!
//! [[fault]]
//! kind = "maintenance-wave"
//! window = "10m"
//! hypothesis = { secure-env = "lost" }
//! schedule = { at = "2d" }
//!
//! [[control]]
//! operation = "put"                    # put, get, delete, list, action, logs, exec, any
//! rate = 0.1                           # share of matching requests
//! effect = "throttle"                  # throttle, error-500, error-503, drop, latency, slow-lro
//! retry-after = "5s"
//!
//! [[control]]
//! effect = "ratelimit-budget"          # every subscription's request budget set this low now
//! reads = 30                           # x-ms-ratelimit-remaining-subscription-reads (of 12000/h)
//! writes = 5                           # …-writes (of 1200/h); 429 SubscriptionRequestsThrottled at 0
//! ```

use crate::error::ArmError;
use crate::model::Placement;
use axum::http::StatusCode;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a fault does to one secret channel: the hypothesis under test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Fate {
    /// `"kept"` or `"lost"`.
    Fixed(FixedFate),
    /// A probability of loss between 0 and 1, drawn from the seeded generator.
    Probability(f64),
}

/// A fate that does not depend on chance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FixedFate {
    /// The channel's value survives.
    Kept,
    /// The channel's value is gone.
    Lost,
}

impl<'de> Deserialize<'de> for Fate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Fate;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"kept\", \"lost\", or a loss probability from 0 to 1")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Fate, E> {
                match v {
                    "kept" => Ok(Fate::Fixed(FixedFate::Kept)),
                    "lost" => Ok(Fate::Fixed(FixedFate::Lost)),
                    other => {
                        Err(E::custom(format!("unknown fate `{other}`: expected \"kept\", \"lost\", or a loss probability from 0 to 1")))
                    }
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
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Fate, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

impl Default for Fate {
    fn default() -> Self {
        Fate::Fixed(FixedFate::Kept)
    }
}

/// The secret channels a fault can take from.
pub const CHANNELS: &[&str] = &["secure-env", "plain-env", "secret-volume", "keyvault"];

/// Per-channel fates; channels not named are kept.
pub type LossHypothesis = BTreeMap<String, Fate>;

/// Checks a hypothesis names known channels and probabilities in range.
pub fn check_hypothesis(h: &LossHypothesis) -> Result<(), ArmError> {
    for (ch, f) in h {
        if !CHANNELS.contains(&ch.as_str()) {
            return Err(ArmError::invalid_parameter(format!(
                "unknown secret channel '{ch}' in the hypothesis: expected one of {}",
                CHANNELS.join(", ")
            )));
        }
        if let Fate::Probability(p) = f
            && !(0.0..=1.0).contains(p)
        {
            return Err(ArmError::invalid_parameter(format!("loss probability {p} for '{ch}' is out of range: expected 0 to 1")));
        }
    }
    Ok(())
}

/// The longest duration a fault may name (ten years).
pub const MAX_SPAN: Duration = Duration::from_secs(3650 * 86_400);

/// A duration written like `30s`, `10m`, `30d` (at most [`MAX_SPAN`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span(pub Duration);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let v = humantime::parse_duration(&s)
            .map_err(|e| de::Error::custom(format!("`{s}` is not a duration ({e}): write it like \"30s\", \"10m\" or \"30d\"")))?;
        if v > MAX_SPAN {
            return Err(de::Error::custom(format!(
                "`{s}` is longer than {}: expected a shorter duration",
                humantime::format_duration(MAX_SPAN)
            )));
        }
        Ok(Span(v))
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// The kinds of runtime fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// New host in the same zone.
    Rehost,
    /// Same host, containers restarted, everything kept.
    MaintenanceRestart,
    /// The host goes down; its groups are rehosted after `recover-after`.
    HostFailure,
    /// Every group in a zone goes down for `duration`.
    ZoneOutage,
    /// Groups across the region are rehosted within `window`.
    MaintenanceWave,
}

impl FaultKind {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rehost => "rehost",
            Self::MaintenanceRestart => "maintenance-restart",
            Self::HostFailure => "host-failure",
            Self::ZoneOutage => "zone-outage",
            Self::MaintenanceWave => "maintenance-wave",
        }
    }
}

/// A runtime fault and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FaultSpec {
    /// What happens.
    pub kind: FaultKind,
    /// A group resource id, `each`/`all` (every group), or empty for region-wide kinds.
    #[serde(default)]
    pub target: String,
    /// Zone, for `zone-outage` (and to limit a `maintenance-wave`).
    #[serde(default)]
    pub zone: Option<String>,
    /// Fate of each channel when the group lands again (rehost-like kinds).
    #[serde(default)]
    pub hypothesis: LossHypothesis,
    /// `maintenance-wave`: the window the groups are rehosted within.
    #[serde(default)]
    pub window: Option<Span>,
    /// `zone-outage`: how long the zone is out.
    #[serde(default)]
    pub duration: Option<Span>,
    /// `host-failure` / `zone-outage`: how long until a group that may move is rehosted.
    #[serde(default)]
    pub recover_after: Option<Span>,
    /// When a planned fault fires (required in a plan; ignored when a fault is fired at once).
    #[serde(default)]
    pub schedule: Option<Schedule>,
}

/// When a planned fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Schedule {
    /// Once, this long after the mock's clock started.
    At(Span),
    /// Periodically (per group for target `each`).
    Every(Span),
    /// At random with this mean interval (per group for target `each`), from the seed.
    Poisson(Span),
}

/// Which requests a control-plane fault affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperationKind {
    /// `PUT` (create/update).
    Put,
    /// `GET` of one resource or operation.
    Get,
    /// `DELETE`.
    Delete,
    /// List calls.
    List,
    /// `restart`, `stop`, `start`.
    Action,
    /// Container logs.
    Logs,
    /// Container exec/attach.
    Exec,
    /// Every ARM request.
    Any,
}

/// What a control-plane fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// `429 TooManyRequests` with `Retry-After`.
    Throttle,
    /// `500 InternalServerError`.
    #[serde(rename = "error-500")]
    Error500,
    /// `503 ServiceUnavailable` with `Retry-After`.
    #[serde(rename = "error-503")]
    Error503,
    /// The connection is closed without an answer.
    Drop,
    /// The answer comes after `latency` (wall time).
    Latency,
    /// Long-running operations take `factor` times longer.
    SlowLro,
    /// Every subscription's rate-limit buckets are set to `reads` / `writes` requests (then
    /// refill as usual): the `x-ms-ratelimit-remaining-*` headers run low, then 429.
    RatelimitBudget,
}

/// A control-plane fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ControlRule {
    /// Which requests.
    #[serde(default = "any_op")]
    pub operation: OperationKind,
    /// Share of matching requests affected (0 to 1; 1 when not given).
    #[serde(default = "all_requests")]
    pub rate: f64,
    /// What happens.
    pub effect: Effect,
    /// `Retry-After` for throttle / 503.
    #[serde(default)]
    pub retry_after: Option<Span>,
    /// Added latency for `latency`.
    #[serde(default)]
    pub latency: Option<Span>,
    /// Slow-down factor for `slow-lro`.
    #[serde(default)]
    pub factor: Option<f64>,
    /// Reads left in every subscription's budget, for `ratelimit-budget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<u64>,
    /// Writes left in every subscription's budget, for `ratelimit-budget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<u64>,
}

fn any_op() -> OperationKind {
    OperationKind::Any
}

fn all_requests() -> f64 {
    1.0
}

/// A fault file: planned runtime faults and control-plane rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// Planned runtime faults (each with a `schedule`).
    #[serde(default)]
    pub fault: Vec<FaultSpec>,
    /// Control-plane rules.
    #[serde(default)]
    pub control: Vec<ControlRule>,
}

/// Errors reading a fault file.
#[derive(Debug, thiserror::Error)]
pub enum FaultFileError {
    /// Unreadable.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Invalid.
    #[error("{path}:{line}:{column}: {message} (hint: see the fault file format in the README)")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong.
        message: String,
    },
}

impl FaultPlan {
    /// Parses a fault file's text (`path` is for messages).
    pub fn parse(path: &str, text: &str) -> Result<Self, FaultFileError> {
        let at = |offset: usize, message: String| {
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rfind('\n').map(|i| before[i + 1..].chars().count()).unwrap_or(before.chars().count()) + 1;
            FaultFileError::Invalid { path: path.to_string(), line, column, message }
        };
        let plan: FaultPlan =
            toml::from_str(text).map_err(|e| at(e.span().map(|s| s.start).unwrap_or(0), e.message().trim().to_string()))?;
        plan.validate().map_err(|e| at(0, e.message))?;
        Ok(plan)
    }

    /// Reads a fault file.
    pub fn load(path: &std::path::Path) -> Result<Self, FaultFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| FaultFileError::Io { path: path.display().to_string(), source })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), ArmError> {
        for (i, f) in self.fault.iter().enumerate() {
            check_spec(f).map_err(|e| ArmError::invalid_parameter(format!("fault[{i}]: {}", e.message)))?;
            let d = match f.schedule {
                None => {
                    return Err(ArmError::invalid_parameter(format!(
                        "fault[{i}]: a planned fault needs a schedule: {{ at = \"6h\" }}, {{ every = \"30d\" }} or {{ poisson = \"30d\" }}"
                    )));
                }
                Some(Schedule::At(_)) => None,
                Some(Schedule::Every(d) | Schedule::Poisson(d)) => Some(d.0),
            };
            if d.is_some_and(|d| d < Duration::from_secs(1)) {
                return Err(ArmError::invalid_parameter(format!("fault[{i}]: a repeating schedule needs an interval of at least 1s")));
            }
        }
        for (i, c) in self.control.iter().enumerate() {
            if !(0.0..=1.0).contains(&c.rate) {
                return Err(ArmError::invalid_parameter(format!("control[{i}]: rate {} is out of range: expected 0 to 1", c.rate)));
            }
            if c.effect == Effect::Latency && c.latency.is_none_or(|l| l.0 > Duration::from_secs(60)) {
                return Err(ArmError::invalid_parameter(format!(
                    "control[{i}]: effect latency needs `latency` of at most 60s, e.g. \"200ms\""
                )));
            }
            if c.retry_after.is_some_and(|r| r.0 > Duration::from_secs(3600)) {
                return Err(ArmError::invalid_parameter(format!("control[{i}]: retry-after of at most 1h expected")));
            }
            if c.effect == Effect::RatelimitBudget && c.reads.is_none() && c.writes.is_none() {
                return Err(ArmError::invalid_parameter(format!(
                    "control[{i}]: effect ratelimit-budget needs `reads` and/or `writes`, e.g. reads = 30"
                )));
            }
            if c.effect != Effect::RatelimitBudget && (c.reads.is_some() || c.writes.is_some()) {
                return Err(ArmError::invalid_parameter(format!("control[{i}]: `reads` and `writes` belong to effect ratelimit-budget")));
            }
            if c.effect == Effect::SlowLro && !c.factor.is_some_and(|f| (1.0..=1000.0).contains(&f)) {
                return Err(ArmError::invalid_parameter(format!("control[{i}]: effect slow-lro needs a `factor` from 1 to 1000")));
            }
        }
        Ok(())
    }
}

/// Checks a fault's parameters fit its kind.
pub fn check_spec(s: &FaultSpec) -> Result<(), ArmError> {
    check_hypothesis(&s.hypothesis)?;
    let is_group_id = matches!(crate::route::route(&s.target), crate::route::Route::Group(_));
    if !(s.target.is_empty() || s.target == "each" || s.target == "all" || s.target.starts_with("host-") || is_group_id) {
        return Err(ArmError::invalid_parameter(format!(
            "target `{}` is not a container group resource id, a host id, `each` or `all`",
            s.target
        )));
    }
    match s.kind {
        FaultKind::ZoneOutage if !matches!(s.zone.as_deref(), Some("1" | "2" | "3")) && (s.zone.is_some() || s.target.is_empty()) => {
            Err(ArmError::invalid_parameter("zone-outage needs zone = \"1\", \"2\" or \"3\" (or a target group, whose zone goes out)"))
        }
        FaultKind::ZoneOutage if s.duration.is_none() => Err(ArmError::invalid_parameter("zone-outage needs a duration, e.g. \"1h\"")),
        FaultKind::Rehost | FaultKind::MaintenanceRestart | FaultKind::HostFailure if s.target.is_empty() => {
            Err(ArmError::invalid_parameter(format!(
                "{} needs a target: a container group resource id, a host id (host-failure), or `each`",
                s.kind.as_str()
            )))
        }
        _ => Ok(()),
    }
}

/// A fault that fired, with its time and target, so reports can set cause beside effect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultRecord {
    /// Order of firing.
    pub seq: u64,
    /// Mock time it fired at.
    pub at: String,
    /// Fault kind.
    pub kind: String,
    /// Resource id of the group it hit.
    pub target: String,
    /// The hypothesis it carried, per channel.
    pub hypothesis: LossHypothesis,
    /// What happened per channel once chance was drawn: `kept` or `lost`.
    pub outcome: BTreeMap<String, String>,
    /// Placement before.
    pub from: Option<Placement>,
    /// Placement after (none while the group is down).
    pub to: Option<Placement>,
}

/// What the control plane does to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlAction {
    /// Answer with this error.
    Fail(ArmError, Option<Duration>),
    /// Close the connection.
    Drop,
    /// Answer after this long.
    Delay(Duration),
}

/// The kind of ARM request a method and route make, for control-plane rules (`None` for what
/// is not ARM: discovery and the token issuer).
pub fn operation_kind(method: &axum::http::Method, route: &crate::route::Route) -> Option<OperationKind> {
    use crate::route::Route::*;
    use axum::http::Method;
    Some(match (route, method) {
        (MetadataEndpoints | Unknown, _) => return None,
        (GroupsInResourceGroup { .. } | GroupsInSubscription { .. } | Subscriptions, _) => OperationKind::List,
        (GroupAction(..), _) => OperationKind::Action,
        (ContainerAction(_, _, a), _) if a == "logs" => OperationKind::Logs,
        (ContainerAction(..), _) => OperationKind::Exec,
        (_, &Method::PUT) => OperationKind::Put,
        (_, &Method::DELETE) => OperationKind::Delete,
        _ => OperationKind::Get,
    })
}

/// What the control plane does to an ARM request at this path, drawn from the fault plan
/// (`None`: nothing; admin and discovery requests are never touched).
pub fn control_for(world: &mut crate::world::World, method: &axum::http::Method, path: &str) -> Option<ControlAction> {
    let route = crate::route::route(path);
    operation_kind(method, &route).and_then(|op| world.control(op))
}

/// The answer to a request the control plane failed: ARM's error body, with `Retry-After`.
pub fn failed_response(err: ArmError, retry_after: Option<Duration>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut r = err.into_response();
    if let Some(d) = retry_after
        && let Ok(v) = axum::http::HeaderValue::from_str(&d.as_secs().max(1).to_string())
    {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

/// An answer that breaks off mid-body, so the client sees a dropped connection.
pub fn dropped_response() -> axum::response::Response {
    let broken = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("dropped by the mock's fault plan"))
    });
    let mut r = axum::response::Response::new(axum::body::Body::from_stream(broken));
    r.headers_mut().insert(axum::http::header::CONTENT_LENGTH, axum::http::HeaderValue::from_static("64"));
    r
}

/// The error a control rule answers with.
pub fn control_error(rule: &ControlRule) -> ControlAction {
    let retry = rule.retry_after.map(|s| s.0).unwrap_or(Duration::from_secs(1));
    match rule.effect {
        Effect::Throttle => ControlAction::Fail(
            ArmError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation type. (injected by the mock)",
            ),
            Some(retry),
        ),
        Effect::Error500 => ControlAction::Fail(
            ArmError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "Encountered internal server error. (injected by the mock)",
            ),
            None,
        ),
        Effect::Error503 => ControlAction::Fail(
            ArmError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is temporarily unavailable. (injected by the mock)",
            ),
            Some(retry),
        ),
        Effect::Drop => ControlAction::Drop,
        Effect::Latency => ControlAction::Delay(rule.latency.map(|s| s.0).unwrap_or_default()),
        Effect::SlowLro | Effect::RatelimitBudget => ControlAction::Delay(Duration::ZERO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_file_parses() {
        let p = FaultPlan::parse(
            "f.toml",
            r#"
[[fault]]
kind = "rehost"
target = "each"
hypothesis = { secure-env = "lost", plain-env = 0.5 }
schedule = { poisson = "30d" }

[[fault]]
kind = "zone-outage"
zone = "2"
duration = "1h"
schedule = { at = "2d" }

[[control]]
operation = "put"
rate = 0.1
effect = "throttle"
retry-after = "5s"
"#,
        )
        .unwrap();
        assert_eq!(p.fault.len(), 2);
        assert_eq!(p.fault[0].schedule, Some(Schedule::Poisson(Span(Duration::from_secs(30 * 86400)))));
        assert_eq!(p.control[0].effect, Effect::Throttle);
    }

    #[test]
    fn bad_fault_files_name_the_place() {
        let e = FaultPlan::parse("f.toml", "[[fault]]\nkind = \"reboot\"\nschedule = { at = \"1h\" }\n").unwrap_err().to_string();
        assert!(e.starts_with("f.toml:2:8:") && e.contains("reboot"), "{e}");
        let e = FaultPlan::parse("f.toml", "[[fault]]\nkind = \"zone-outage\"\nschedule = { at = \"1h\" }\n").unwrap_err().to_string();
        assert!(e.contains("zone-outage needs zone"), "{e}");
        let e = FaultPlan::parse("f.toml", "[[control]]\nrate = 2.0\neffect = \"drop\"\n").unwrap_err().to_string();
        assert!(e.contains("rate 2 is out of range"), "{e}");
    }
}

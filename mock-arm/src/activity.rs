//! The Azure activity log the mock keeps of what it simulated: `Administrative` events for the
//! user writes it answered on container groups, `ResourceHealth` events for the platform faults
//! it fired, and `ServiceHealth` events for zone outages.
//!
//! Served at `GET /subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values`
//! (api-version `2015-04-01`), newest first and paged, with `$filter` as Azure Monitor reads it
//! (see [`Filter::parse`]). Events are shaped like Azure Monitor's: `authorization`, `caller`,
//! `channels`, `claims`, `correlationId`, `eventDataId`, `eventName`, `category`,
//! `eventTimestamp`, `id`, `level`, `operationId`, `operationName`, `resourceGroupName`,
//! `resourceProviderName`, `resourceType`, `resourceId`, `status`, `subStatus`,
//! `submissionTimestamp`, `subscriptionId`, `tenantId`, `properties`.
//!
//! Deterministic: ids and correlation ids derive from the seed and a sequence number, times from
//! the mock's clock. Bounded: the newest [`CAPACITY`] events within [`RETENTION`] of the clock
//! are kept, as Azure keeps 90 days. It never holds a secret: only resource ids, operation names,
//! fixed titles, a caller name from the token and error codes.

use crate::clock::rfc3339;
use crate::route::{Route, route};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The most events kept (oldest dropped first).
pub const CAPACITY: usize = 100_000;

/// How long events are kept, by the mock's clock (Azure keeps the activity log 90 days).
pub const RETENTION: Duration = Duration::from_secs(90 * 86_400);

/// The caller of writes whose token names nobody (not a JWT, or no `upn`/`appid` claim).
pub const DEFAULT_CALLER: &str = "aci-chaos-mock-caller";

/// The api-versions the activity log endpoint answers.
pub const API_VERSIONS: &[&str] = &["2015-04-01", "2017-03-01-preview"];

/// The user write an `Administrative` event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `PUT` (create or update) or `PATCH`.
    Write,
    /// `DELETE`.
    Delete,
    /// `POST …/restart`.
    Restart,
    /// `POST …/stop`.
    Stop,
    /// `POST …/start`.
    Start,
}

impl Write {
    fn operation(self) -> &'static str {
        match self {
            Self::Write => "Microsoft.ContainerInstance/containerGroups/write",
            Self::Delete => "Microsoft.ContainerInstance/containerGroups/delete",
            Self::Restart => "Microsoft.ContainerInstance/containerGroups/restart/action",
            Self::Stop => "Microsoft.ContainerInstance/containerGroups/stop/action",
            Self::Start => "Microsoft.ContainerInstance/containerGroups/start/action",
        }
    }

    fn localized(self) -> &'static str {
        match self {
            Self::Write => "Create or Update Container Group",
            Self::Delete => "Delete Container Group",
            Self::Restart => "Restart Container Group",
            Self::Stop => "Stop Container Group",
            Self::Start => "Start Container Group",
        }
    }

    /// The write a method and group action name (`None`: not a write).
    pub fn of(method: &axum::http::Method, action: Option<&str>) -> Option<Self> {
        use axum::http::Method;
        match (method, action) {
            (&Method::PUT | &Method::PATCH, None) => Some(Self::Write),
            (&Method::DELETE, None) => Some(Self::Delete),
            (&Method::POST, Some("restart")) => Some(Self::Restart),
            (&Method::POST, Some("stop")) => Some(Self::Stop),
            (&Method::POST, Some("start")) => Some(Self::Start),
            _ => None,
        }
    }
}

/// A platform event on a group, as Resource Health reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Moved to another host (rehost).
    Moved,
    /// Restarted in place for planned maintenance.
    Maintenance,
    /// Moved to another host during planned maintenance (a maintenance wave).
    MaintenanceMove,
    /// Down because its host failed.
    HostFailure,
    /// Down because its availability zone is out.
    ZoneOutage,
}

impl Health {
    fn texts(self) -> (&'static str, &'static str) {
        match self {
            Self::Moved => (
                "Your container group was moved to another host",
                "We detected a problem with the host your container group ran on and redeployed it to another host. Its containers were restarted.",
            ),
            Self::Maintenance => (
                "Your container group was restarted for planned maintenance",
                "Planned maintenance of the underlying infrastructure restarted the containers of your container group on the same host.",
            ),
            Self::MaintenanceMove => (
                "Your container group was moved to another host for planned maintenance",
                "Planned maintenance of the underlying infrastructure redeployed your container group to another host. Its containers were restarted.",
            ),
            Self::HostFailure => (
                "Your container group is unavailable because of a host failure",
                "The host your container group runs on failed. We are redeploying it to a healthy host.",
            ),
            Self::ZoneOutage => (
                "Your container group is unavailable because of an availability zone outage",
                "An outage in the availability zone your container group runs in made it unavailable. It is redeployed when capacity is available.",
            ),
        }
    }
}

/// What an event says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A user write: `BeginRequest` (`begin`) or `EndRequest` with an HTTP status.
    Admin { write: Write, begin: bool, http: u16, error: Option<Arc<str>> },
    /// A Resource Health event: `Activated` (`resolved` false) or `Resolved`.
    Health { what: Health, resolved: bool },
    /// A Service Health incident in a zone: active, or resolved.
    Service { zone: Arc<str>, location: Arc<str>, resolved: bool },
}

/// One event, stored compactly; [`ActivityLog::render`] gives its Azure Monitor shape.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    at: OffsetDateTime,
    seq: u64,
    correlation: u64,
    /// Resource id (the subscription for service health events).
    resource: Arc<str>,
    caller: Option<Arc<str>>,
    kind: Kind,
}

/// The activity log: events in time order (oldest first), bounded.
#[derive(Debug)]
pub struct ActivityLog {
    seed: u64,
    tenant: String,
    events: VecDeque<Stored>,
    seq: u64,
    correlation_seq: u64,
    /// Open Resource Health incidents by resource id (lowercase): their correlation.
    open: BTreeMap<String, (u64, Health)>,
    /// Open zone outages by `subscription|zone`: their correlation and region.
    zones: BTreeMap<String, (u64, Arc<str>)>,
}

impl ActivityLog {
    /// An empty log for a world with this seed and tenant.
    pub fn new(seed: u64, tenant: &str) -> Self {
        Self {
            seed,
            tenant: tenant.to_string(),
            events: VecDeque::new(),
            seq: 0,
            correlation_seq: 0,
            open: BTreeMap::new(),
            zones: BTreeMap::new(),
        }
    }

    /// How many events are kept.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is kept.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn next_correlation(&mut self) -> u64 {
        self.correlation_seq += 1;
        self.correlation_seq
    }

    fn push(&mut self, at: OffsetDateTime, correlation: u64, resource: Arc<str>, caller: Option<Arc<str>>, kind: Kind) {
        self.seq += 1;
        let e = Stored { at, seq: self.seq, correlation, resource, caller, kind };
        // Scheduled events are applied in time order, so appending keeps the log sorted but for
        // an event stamped before the last one (a write answered at the same instant): insert.
        let pos = self.events.iter().rposition(|x| x.at <= at).map(|i| i + 1).unwrap_or(0);
        if pos == self.events.len() {
            self.events.push_back(e);
        } else {
            self.events.insert(pos, e);
        }
        while self.events.len() > CAPACITY {
            self.events.pop_front();
        }
        self.expire(at);
    }

    /// Drops events older than [`RETENTION`] before `now`.
    pub fn expire(&mut self, now: OffsetDateTime) {
        let cutoff = now - RETENTION;
        while self.events.front().is_some_and(|e| e.at < cutoff) {
            self.events.pop_front();
        }
    }

    /// Records a user write on a group answered with `http` (an error `code` when it failed):
    /// `BeginRequest` (Started) and `EndRequest` (Succeeded, Accepted or Failed).
    pub fn write(&mut self, at: OffsetDateTime, resource_id: &str, write: Write, caller: &str, http: u16, code: Option<&str>) {
        let correlation = self.next_correlation();
        let resource: Arc<str> = Arc::from(resource_id);
        let caller: Arc<str> = Arc::from(caller);
        let error: Option<Arc<str>> = code.map(Arc::from);
        self.push(at, correlation, resource.clone(), Some(caller.clone()), Kind::Admin { write, begin: true, http, error: None });
        self.push(at, correlation, resource, Some(caller), Kind::Admin { write, begin: false, http, error });
    }

    /// Records a platform event on a group: it became unavailable (`Activated`).
    pub fn health_down(&mut self, at: OffsetDateTime, resource_id: &str, what: Health) {
        let correlation = self.next_correlation();
        self.open.insert(resource_id.to_ascii_lowercase(), (correlation, what));
        self.push(at, correlation, Arc::from(resource_id), None, Kind::Health { what, resolved: false });
    }

    /// Records that a group is available again (`Resolved`), closing its open incident if any,
    /// else opening and closing one at once.
    pub fn health_up(&mut self, at: OffsetDateTime, resource_id: &str, what: Health) {
        if !self.open.contains_key(&resource_id.to_ascii_lowercase()) {
            self.health_down(at, resource_id, what);
        }
        let (correlation, what) = self.open.remove(&resource_id.to_ascii_lowercase()).unwrap_or((0, what));
        self.push(at, correlation, Arc::from(resource_id), None, Kind::Health { what, resolved: true });
    }

    /// Records a zone outage beginning (`resolved` false) or ending, for a subscription.
    pub fn zone_outage(&mut self, at: OffsetDateTime, subscription: &str, zone: &str, location: &str, resolved: bool) {
        let key = format!("{}|{zone}", subscription.to_ascii_lowercase());
        let (correlation, location) = match (resolved, self.zones.remove(&key)) {
            (true, Some(open)) => open,
            (true, None) => return,
            (false, _) => {
                let open = (self.next_correlation(), Arc::from(location));
                self.zones.insert(key, open.clone());
                open
            }
        };
        let resource = Arc::from(format!("/subscriptions/{subscription}").as_str());
        self.push(at, correlation, resource, None, Kind::Service { zone: Arc::from(zone), location, resolved });
    }

    /// One page of the events a filter selects, newest first, rendered: `skip` events left
    /// out, `take` at most given, and whether more follow. Events older than [`RETENTION`]
    /// before `now` are gone, as in Azure.
    pub fn query(&self, subscription: &str, filter: &Filter, now: OffsetDateTime, skip: usize, take: usize) -> (Vec<Value>, bool) {
        let sub_prefix = format!("/subscriptions/{subscription}");
        let cutoff = now - RETENTION;
        let mut hits = self
            .events
            .iter()
            .rev()
            .filter(|e| e.at >= filter.from && e.at <= filter.to && e.at >= cutoff)
            .filter(|e| {
                e.resource.len() >= sub_prefix.len()
                    && e.resource[..sub_prefix.len()].eq_ignore_ascii_case(&sub_prefix)
                    && (e.resource.len() == sub_prefix.len() || e.resource.as_bytes()[sub_prefix.len()] == b'/')
            })
            .filter(|e| filter.resource_uri.as_deref().is_none_or(|r| e.resource.eq_ignore_ascii_case(r)))
            .filter(|e| {
                filter.resource_group.as_deref().is_none_or(|rg| resource_group_of(&e.resource).is_some_and(|g| g.eq_ignore_ascii_case(rg)))
            })
            .filter(|e| filter.correlation_id.as_deref().is_none_or(|c| self.guid("correlation", e.correlation).eq_ignore_ascii_case(c)))
            .skip(skip);
        let page: Vec<Value> = hits.by_ref().take(take).map(|e| self.render(e)).collect();
        let more = hits.next().is_some();
        (page, more)
    }

    /// Every event, newest first, rendered (for tests and the admin plane).
    pub fn all(&self) -> Vec<Value> {
        self.events.iter().rev().map(|e| self.render(e)).collect()
    }

    fn guid(&self, what: &str, n: u64) -> String {
        let d = Sha256::digest(format!("activity|{what}|{}|{n}", self.seed).as_bytes());
        let h = hex::encode(&d[..16]);
        format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    }

    fn render(&self, e: &Stored) -> Value {
        let lv = |v: &str, l: &str| json!({"value": v, "localizedValue": l});
        let same = |v: &str| lv(v, v);
        let event_data_id = self.guid("event", e.seq);
        let correlation_id = self.guid("correlation", e.correlation);
        let at = rfc3339(e.at);
        let ticks = (e.at.unix_timestamp_nanos() / 100) as i64 + 621_355_968_000_000_000;
        let (subscription, resource_group) = match route(&e.resource) {
            Route::Group(gp) => (gp.subscription, gp.resource_group),
            Route::Subscription(s) => (s, String::new()),
            _ => (String::new(), String::new()),
        };
        let mut v = Map::new();
        let mut props = Map::new();
        let (category, level, status, sub_status, event_name) = match &e.kind {
            Kind::Admin { write, begin, http, error } => {
                let (status, sub) = match (begin, http, error) {
                    (true, _, _) => ("Started", ""),
                    (false, _, Some(_)) => ("Failed", reason(*http)),
                    (false, 202, None) => ("Accepted", "Accepted"),
                    (false, _, None) => ("Succeeded", reason(*http)),
                };
                v.insert("authorization".into(), json!({"action": write.operation(), "scope": &*e.resource}));
                v.insert("caller".into(), json!(e.caller.as_deref().unwrap_or(DEFAULT_CALLER)));
                v.insert("claims".into(), json!({}));
                v.insert("description".into(), json!(""));
                v.insert("operationName".into(), lv(write.operation(), write.localized()));
                if !begin {
                    props.insert("statusCode".into(), json!(reason(*http)));
                    if let Some(code) = error {
                        props.insert("statusMessage".into(), json!(json!({"error": {"code": &**code}}).to_string()));
                    }
                }
                let level = if status == "Failed" { "Error" } else { "Informational" };
                let name = if *begin { "BeginRequest" } else { "EndRequest" };
                ("Administrative", level, status, sub, name)
            }
            Kind::Health { what, resolved } => {
                let (title, details) = match (what, resolved) {
                    (Health::HostFailure | Health::ZoneOutage, true) => (
                        "Your container group was moved to another host and is available again",
                        "After the platform event that made your container group unavailable, it was redeployed to a healthy host. Its containers were restarted.",
                    ),
                    _ => what.texts(),
                };
                let down = match what {
                    Health::Maintenance | Health::MaintenanceMove => "Degraded",
                    _ => "Unavailable",
                };
                let (current, previous, op, status) = if *resolved {
                    ("Available", down, "Microsoft.Resourcehealth/healthevent/Resolved/action", "Resolved")
                } else {
                    (down, "Available", "Microsoft.Resourcehealth/healthevent/Activated/action", "Active")
                };
                props.insert("title".into(), json!(title));
                props.insert("details".into(), json!(details));
                props.insert("currentHealthStatus".into(), json!(current));
                props.insert("previousHealthStatus".into(), json!(previous));
                props.insert("type".into(), json!("Downtime"));
                props.insert("cause".into(), json!("PlatformInitiated"));
                v.insert("description".into(), json!(""));
                v.insert("operationName".into(), same(op));
                let level = match (resolved, down) {
                    (true, _) => "Informational",
                    (false, "Degraded") => "Warning",
                    _ => "Critical",
                };
                ("ResourceHealth", level, status, "", "")
            }
            Kind::Service { zone, location, resolved } => {
                let title = format!("Availability zone {zone} of {location}: container groups unavailable");
                props.insert("title".into(), json!(title));
                props.insert("service".into(), json!("Container Instances"));
                props.insert("region".into(), json!(&**location));
                props.insert("incidentType".into(), json!("Incident"));
                props.insert("stage".into(), json!(if *resolved { "Resolved" } else { "Active" }));
                props.insert(
                    "communication".into(),
                    json!(if *resolved {
                        "The outage of the availability zone has been mitigated."
                    } else {
                        "Container groups in the availability zone are unavailable; groups not pinned to a zone are moved."
                    }),
                );
                v.insert("description".into(), json!(title));
                let op = "Microsoft.ServiceHealth/incident/action";
                v.insert("operationName".into(), same(op));
                let (level, status) = if *resolved { ("Informational", "Resolved") } else { ("Warning", "Active") };
                ("ServiceHealth", level, status, "", "")
            }
        };
        v.insert("channels".into(), json!(if category == "Administrative" { "Operation" } else { "Admin, Operation" }));
        v.insert("correlationId".into(), json!(correlation_id));
        v.insert("eventDataId".into(), json!(event_data_id));
        v.insert("eventName".into(), lv(event_name, if event_name.is_empty() { "" } else { event_name }));
        v.insert("category".into(), same(category));
        v.insert("eventTimestamp".into(), json!(at));
        v.insert("id".into(), json!(format!("{}/events/{event_data_id}/ticks/{ticks}", e.resource)));
        v.insert("level".into(), json!(level));
        v.insert("operationId".into(), json!(correlation_id));
        if !resource_group.is_empty() {
            v.insert("resourceGroupName".into(), json!(resource_group));
            v.insert("resourceProviderName".into(), same("Microsoft.ContainerInstance"));
            v.insert("resourceType".into(), same("Microsoft.ContainerInstance/containerGroups"));
        }
        v.insert("resourceId".into(), json!(&*e.resource));
        v.insert("status".into(), same(status));
        v.insert("subStatus".into(), lv(sub_status, sub_status));
        v.insert("submissionTimestamp".into(), json!(at));
        v.insert("subscriptionId".into(), json!(subscription));
        v.insert("tenantId".into(), json!(self.tenant));
        v.insert("properties".into(), Value::Object(props));
        Value::Object(v)
    }
}

/// The reason phrase ARM's activity log gives an HTTP status as `subStatus`.
fn reason(http: u16) -> &'static str {
    match http {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "NoContent",
        400 => "BadRequest",
        404 => "NotFound",
        409 => "Conflict",
        _ => "",
    }
}

fn resource_group_of(resource: &str) -> Option<String> {
    match route(resource) {
        Route::Group(gp) => Some(gp.resource_group),
        _ => None,
    }
}

/// The caller an activity event names for a bearer token: the `upn`, `unique_name`, `appid` or
/// `azp` claim of a JWT-shaped token (the mock's token issuer gives `appid`), else
/// [`DEFAULT_CALLER`]. The token is never kept.
pub fn caller_of(authorization: Option<&str>) -> String {
    use base64::Engine;
    let claims = authorization
        .and_then(|h| h.split_once(' ').map(|(_, t)| t.trim()))
        .and_then(|t| t.split('.').nth(1))
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    ["upn", "unique_name", "appid", "azp"]
        .iter()
        .find_map(|c| claims.as_ref()?.get(*c)?.as_str().filter(|s| !s.is_empty() && s.len() <= 256).map(str::to_string))
        .unwrap_or_else(|| DEFAULT_CALLER.to_string())
}

/// A parsed `$filter`: the time window and at most one of the narrowing conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `eventTimestamp ge '…'`.
    pub from: OffsetDateTime,
    /// `eventTimestamp le '…'` (the clock's now when absent).
    pub to: OffsetDateTime,
    /// `resourceUri eq '…'` (compared case-insensitively).
    pub resource_uri: Option<String>,
    /// `resourceGroupName eq '…'`.
    pub resource_group: Option<String>,
    /// `correlationId eq '…'`.
    pub correlation_id: Option<String>,
}

impl Filter {
    /// Parses `$filter` the way Azure Monitor does: clauses joined by `and`;
    /// `eventTimestamp ge '<time>'` is required, `eventTimestamp le '<time>'` optional (now),
    /// plus `resourceUri eq`, `resourceGroupName eq` or `correlationId eq`; a range over 90
    /// days is refused. The error is the message of a `400 BadRequest`.
    pub fn parse(filter: Option<&str>, now: OffsetDateTime) -> Result<Self, String> {
        let Some(text) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
            return Err("The $filter query parameter is required, e.g. $filter=eventTimestamp ge '2026-01-01T00:00:00Z' and eventTimestamp le '2026-01-02T00:00:00Z'.".into());
        };
        let mut from = None;
        let mut to = None;
        let mut f = Filter { from: now, to: now, resource_uri: None, resource_group: None, correlation_id: None };
        for clause in split_and(text) {
            let clause = clause.trim();
            let mut words = clause.splitn(3, ' ');
            let (Some(field), Some(op), Some(value)) = (words.next(), words.next(), words.next()) else {
                return Err(format!("The $filter clause '{clause}' is not valid: expected <field> <ge|le|eq> '<value>'."));
            };
            let value = value.trim();
            let Some(value) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) else {
                return Err(format!("The value in the $filter clause '{clause}' must be enclosed in single quotes."));
            };
            let field_l = field.to_ascii_lowercase();
            let op_l = op.to_ascii_lowercase();
            match (field_l.as_str(), op_l.as_str()) {
                ("eventtimestamp", "ge" | "le") => {
                    let t = OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).map_err(|_| {
                        format!("The time '{value}' in the $filter is not a valid date and time (ISO 8601, e.g. 2026-01-01T00:00:00Z).")
                    })?;
                    if op_l == "ge" { from = Some(t) } else { to = Some(t) }
                }
                ("resourceuri" | "resourceid", "eq") => f.resource_uri = Some(value.to_string()),
                ("resourcegroupname", "eq") => f.resource_group = Some(value.to_string()),
                ("correlationid", "eq") => f.correlation_id = Some(value.to_string()),
                ("eventtimestamp", _) | ("resourceuri" | "resourceid" | "resourcegroupname" | "correlationid", _) => {
                    return Err(format!("The operator '{op}' is not supported for '{field}' in the $filter."));
                }
                _ => {
                    return Err(format!(
                        "The field '{field}' is not supported in the $filter: expected eventTimestamp, resourceUri, resourceGroupName or correlationId."
                    ));
                }
            }
        }
        let Some(from) = from else {
            return Err("The $filter must contain eventTimestamp ge '<start time>'.".into());
        };
        f.from = from;
        f.to = to.unwrap_or(now);
        if f.to < f.from {
            return Err("The end time of the $filter is before its start time.".into());
        }
        if f.to - f.from > RETENTION {
            return Err("The time range of the $filter must not exceed 90 days.".into());
        }
        let narrowing = [&f.resource_uri, &f.resource_group, &f.correlation_id].iter().filter(|o| o.is_some()).count();
        if narrowing > 1 {
            return Err("The $filter may contain only one of resourceUri, resourceGroupName and correlationId.".into());
        }
        Ok(f)
    }
}

/// Splits on ` and ` outside quotes (case-insensitive).
fn split_and(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut quoted, mut i) = (0, false, 0);
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            quoted = !quoted;
        } else if !quoted && i + 5 <= bytes.len() && bytes[i..i + 5].eq_ignore_ascii_case(b" and ") {
            out.push(&text[start..i]);
            i += 5;
            start = i;
            continue;
        }
        i += 1;
    }
    out.push(&text[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const G: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/g";

    #[test]
    fn filters_parse_and_refuse_like_azure_monitor() {
        let now = datetime!(2026-02-01 00:00 UTC);
        let f = Filter::parse(
            Some("eventTimestamp ge '2026-01-01T00:00:00Z' AND eventTimestamp le '2026-01-02T00:00:00Z' and resourceUri eq '/x and y'"),
            now,
        )
        .unwrap();
        assert_eq!(f.from, datetime!(2026-01-01 00:00 UTC));
        assert_eq!(f.resource_uri.as_deref(), Some("/x and y"));
        assert!(Filter::parse(None, now).unwrap_err().contains("required"));
        assert!(Filter::parse(Some("resourceGroupName eq 'rg'"), now).unwrap_err().contains("eventTimestamp ge"));
        assert!(Filter::parse(Some("eventTimestamp ge '2025-01-01T00:00:00Z'"), now).unwrap_err().contains("90 days"));
        assert!(Filter::parse(Some("eventTimestamp ge 'yesterday'"), now).unwrap_err().contains("not a valid date"));
        assert!(Filter::parse(Some("eventTimestamp ge '2026-01-20T00:00:00Z' and level eq 'Error'"), now).unwrap_err().contains("level"));
        assert!(Filter::parse(Some("eventTimestamp ge 2026-01-20T00:00:00Z"), now).unwrap_err().contains("quotes"));
    }

    #[test]
    fn events_come_newest_first_with_azure_shape_and_shared_correlation() {
        let mut log = ActivityLog::new(1, "t");
        let t0 = datetime!(2026-01-01 00:00 UTC);
        log.write(t0, G, Write::Write, "me", 201, None);
        log.health_down(t0 + Duration::from_secs(60), G, Health::HostFailure);
        log.health_up(t0 + Duration::from_secs(180), G, Health::HostFailure);
        let f = Filter::parse(Some("eventTimestamp ge '2026-01-01T00:00:00Z' and resourceUri eq '/SUBSCRIPTIONS/s/resourcegroups/rg/providers/microsoft.containerinstance/containergroups/G'"), t0 + Duration::from_secs(3600)).unwrap();
        let (v, more) = log.query("s", &f, t0, 0, 10);
        assert!(!more);
        assert_eq!(v.len(), 4);
        assert_eq!(v[0]["status"]["value"], "Resolved");
        assert_eq!(v[0]["correlationId"], v[1]["correlationId"]);
        assert_eq!(v[1]["properties"]["currentHealthStatus"], "Unavailable");
        assert_eq!(v[1]["properties"]["cause"], "PlatformInitiated");
        assert_eq!(v[2]["eventName"]["value"], "EndRequest");
        assert_eq!(v[2]["subStatus"]["value"], "Created");
        assert_eq!(v[3]["status"]["value"], "Started");
        assert_eq!(v[3]["caller"], "me");
        assert_eq!(v[3]["resourceGroupName"], "rg");
        assert!(v[3]["id"].as_str().unwrap().starts_with(&format!("{G}/events/")));
        assert!(log.query("other", &f, t0, 0, 10).0.is_empty());
        let (page, more) = log.query("s", &f, t0, 1, 2);
        assert!(more);
        assert_eq!(page[0], v[1]);
    }

    #[test]
    fn the_log_expires_after_ninety_days() {
        let mut log = ActivityLog::new(1, "t");
        let t0 = datetime!(2026-01-01 00:00 UTC);
        log.write(t0, G, Write::Stop, "me", 204, None);
        log.expire(t0 + Duration::from_secs(89 * 86_400));
        assert_eq!(log.len(), 2);
        log.expire(t0 + Duration::from_secs(91 * 86_400));
        assert!(log.is_empty());
    }

    #[test]
    fn callers_come_from_the_token_claims() {
        use base64::Engine;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"appid":"my-app"}"#);
        assert_eq!(caller_of(Some(&format!("Bearer e30.{claims}.sig"))), "my-app");
        assert_eq!(caller_of(Some("Bearer t")), DEFAULT_CALLER);
        assert_eq!(caller_of(None), DEFAULT_CALLER);
    }
}

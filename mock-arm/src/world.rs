//! The simulated world: resource groups, container groups on hosts in zones, long-running
//! operations, containers that run the probe contract, and faults. Deterministic for a seed:
//! all randomness comes from one seeded generator and all time from the [`Clock`].

use crate::clock::{Clock, ClockMode, rfc3339};
use crate::error::ArmError;
use crate::model::{
    Container, ContainerState, Event, Group, OutputLine, Pending, PendingKind, Placement, ResourceGroup, normalize_location, push_event,
};
use crate::probe::{self, Profile};
use axum::http::StatusCode;
use base64::Engine;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

/// How long simulated operations take (on the mock's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Deploying a new group.
    pub provision: Duration,
    /// Updating a group in place.
    pub update: Duration,
    /// Restarting a group's containers.
    pub restart: Duration,
    /// Starting a stopped group.
    pub start: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            provision: Duration::from_secs(3),
            update: Duration::from_secs(2),
            restart: Duration::from_secs(2),
            start: Duration::from_secs(3),
        }
    }
}

/// What a fault does to one secret channel: the hypothesis under test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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

impl Default for Fate {
    fn default() -> Self {
        Fate::Fixed(FixedFate::Kept)
    }
}

/// The secret channels a fault can take from.
pub const CHANNELS: &[&str] = &["secure-env", "plain-env", "secret-volume", "keyvault"];

/// Per-channel fates of a rehost; channels not named are kept.
pub type LossHypothesis = BTreeMap<String, Fate>;

/// A fault that fired, with its virtual time and target, so reports can set cause beside effect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultRecord {
    /// Order of firing.
    pub seq: u64,
    /// Mock time it fired at.
    pub at: String,
    /// `rehost`, …
    pub kind: String,
    /// Resource id of the group it hit.
    pub target: String,
    /// The hypothesis it carried, per channel.
    pub hypothesis: LossHypothesis,
    /// What happened per channel once chance was drawn: `kept` or `lost`.
    pub outcome: BTreeMap<String, String>,
    /// Placement before.
    pub from: Option<Placement>,
    /// Placement after.
    pub to: Option<Placement>,
}

/// A long-running operation's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Key of the group it acts on.
    pub group_key: String,
    /// Resource id of that group.
    pub group_id: String,
    /// `Pending`, `Succeeded`, `Canceled`.
    pub status: String,
    /// When it began.
    pub start: OffsetDateTime,
    /// When it ended.
    pub end: Option<OffsetDateTime>,
}

/// Settings the world is built from (kept so a reset rebuilds the same world).
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Clock mode.
    pub clock: ClockMode,
    /// The subscription `GET /subscriptions` lists.
    pub subscription: String,
    /// The tenant of that subscription.
    pub tenant: String,
    /// Operation durations.
    pub timings: Timings,
}

/// The whole simulated state.
#[derive(Debug)]
pub struct World {
    /// Settings.
    pub config: WorldConfig,
    /// The clock.
    pub clock: Clock,
    rng: ChaCha8Rng,
    resource_groups: BTreeMap<String, ResourceGroup>,
    groups: BTreeMap<String, Group>,
    operations: BTreeMap<String, Operation>,
    faults: Vec<FaultRecord>,
    request_counter: u64,
}

fn key(parts: &[&str]) -> String {
    parts.iter().map(|p| p.to_ascii_lowercase()).collect::<Vec<_>>().join("/")
}

impl World {
    /// A fresh world.
    pub fn new(config: WorldConfig) -> Self {
        Self {
            clock: Clock::new(config.clock),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            resource_groups: BTreeMap::new(),
            groups: BTreeMap::new(),
            operations: BTreeMap::new(),
            faults: Vec::new(),
            request_counter: 0,
        }
    }

    /// Current mock time.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// A request id for response headers (deterministic, and apart from the world's generator).
    pub fn next_request_id(&mut self) -> String {
        self.request_counter += 1;
        format!("{:08x}-0000-4000-8000-{:012x}", self.config.seed as u32, self.request_counter)
    }

    fn uuid(&mut self) -> String {
        let b: [u8; 16] = self.rng.random();
        let h = hex::encode(b);
        format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    }

    fn place(&mut self, zones: &[String], avoid_host: Option<&str>) -> Placement {
        let zone = match zones.first() {
            Some(z) => z.clone(),
            None => self.rng.random_range(1..=3u8).to_string(),
        };
        let host = loop {
            let h = format!("host-z{zone}-{:04}", self.rng.random_range(0..1000u32));
            if Some(h.as_str()) != avoid_host {
                break h;
            }
        };
        let boot: [u8; 6] = self.rng.random();
        let ip = format!("203.0.113.{}", self.rng.random_range(1..=254u8));
        Placement { zone, host, boot_id: hex::encode(boot), ip }
    }

    /// Applies every transition due by now: finished operations, crash-loop restarts.
    pub fn tick(&mut self) {
        let now = self.now();
        let due: Vec<String> =
            self.groups.iter().filter(|(_, g)| g.pending.as_ref().is_some_and(|p| p.due <= now)).map(|(k, _)| k.clone()).collect();
        for k in due {
            self.complete_pending(&k);
        }
        for g in self.groups.values_mut() {
            let policy = g.restart_policy().to_string();
            if let Some(pl) = g.placement.clone() {
                for c in g.containers.iter_mut() {
                    while let Some(t) = c.next_restart.filter(|t| *t <= now) {
                        c.restart_count += 1;
                        push_event(&mut c.events, t, "Started", "Started container", "Normal");
                        start_container(c, t, &pl, &policy);
                    }
                }
            }
            refresh_state(g);
        }
    }

    fn complete_pending(&mut self, k: &str) {
        let Some(p) = self.groups.get_mut(k).and_then(|g| g.pending.take()) else { return };
        let needs_placement = matches!(p.kind, PendingKind::Create | PendingKind::Start);
        let (zones, current) = {
            let g = &self.groups[k];
            (g.zones.clone(), g.placement.clone())
        };
        let placement = match current {
            Some(pl) if !needs_placement => pl,
            _ => self.place(&zones, None),
        };
        let g = self.groups.get_mut(k).expect("group exists");
        match p.kind {
            PendingKind::Restart => {
                let policy = g.restart_policy().to_string();
                for c in g.containers.iter_mut() {
                    push_event(&mut c.events, p.due, "Killing", "Killing container with id (restart)", "Normal");
                    c.previous = Some(ContainerState::terminated(c.current.start_time, p.due, 0, "Killed"));
                    start_container(c, p.due, &placement, &policy);
                }
            }
            PendingKind::Create | PendingKind::Start | PendingKind::Update => {
                g.placement = Some(placement.clone());
                boot_from_spec(g, p.due, &placement, &BTreeMap::new());
            }
        }
        g.provisioning_state = "Succeeded".into();
        refresh_state(g);
        if let Some(op) = self.operations.get_mut(&p.op_id) {
            op.status = "Succeeded".into();
            op.end = Some(p.due);
        }
    }

    fn begin(&mut self, k: &str, kind: PendingKind, took: Duration) -> String {
        let now = self.now();
        let op_id = self.uuid();
        let g = self.groups.get_mut(k).expect("group exists");
        g.pending = Some(Pending { op_id: op_id.clone(), kind, due: now + took });
        let group_id = g.id();
        self.operations
            .insert(op_id.clone(), Operation { group_key: k.to_string(), group_id, status: "Pending".into(), start: now, end: None });
        op_id
    }

    // ---- resource groups and subscriptions -------------------------------------------------

    /// `PUT` a resource group: 201 new, 200 existing.
    pub fn put_resource_group(&mut self, sub: &str, rg: &str, body: &Value) -> Result<(StatusCode, Value), ArmError> {
        let location = body.get("location").and_then(Value::as_str).filter(|l| !l.trim().is_empty()).ok_or_else(|| {
            ArmError::new(StatusCode::BAD_REQUEST, "LocationRequired", "The location property is required for this definition.")
        })?;
        let k = key(&[sub, rg]);
        let tags = body.get("tags").cloned().unwrap_or(Value::Null);
        let created = !self.resource_groups.contains_key(&k);
        let entry = self.resource_groups.entry(k).or_insert_with(|| ResourceGroup {
            subscription: sub.to_string(),
            name: rg.to_string(),
            location: normalize_location(location),
            tags: Value::Null,
        });
        entry.tags = tags;
        Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, entry.view()))
    }

    /// `GET` a resource group.
    pub fn get_resource_group(&self, sub: &str, rg: &str) -> Result<Value, ArmError> {
        self.resource_groups.get(&key(&[sub, rg])).map(ResourceGroup::view).ok_or_else(|| ArmError::resource_group_not_found(rg))
    }

    /// `DELETE` a resource group and every container group in it. False when it did not exist.
    pub fn delete_resource_group(&mut self, sub: &str, rg: &str) -> bool {
        let k = key(&[sub, rg]);
        let prefix = format!("{k}/");
        let doomed: Vec<String> = self.groups.keys().filter(|g| g.starts_with(&prefix)).cloned().collect();
        for g in doomed {
            self.remove_group(&g);
        }
        self.resource_groups.remove(&k).is_some()
    }

    fn require_resource_group(&self, sub: &str, rg: &str) -> Result<(), ArmError> {
        if self.resource_groups.contains_key(&key(&[sub, rg])) { Ok(()) } else { Err(ArmError::resource_group_not_found(rg)) }
    }

    // ---- container groups -----------------------------------------------------------------

    fn group_key(sub: &str, rg: &str, name: &str) -> String {
        key(&[sub, rg, name])
    }

    /// The group at a path, or ARM's 404.
    pub fn group(&self, sub: &str, rg: &str, name: &str) -> Result<&Group, ArmError> {
        self.require_resource_group(sub, rg)?;
        self.groups.get(&Self::group_key(sub, rg, name)).ok_or_else(|| ArmError::group_not_found(rg, name))
    }

    fn group_mut(&mut self, sub: &str, rg: &str, name: &str) -> Result<(String, &mut Group), ArmError> {
        self.require_resource_group(sub, rg)?;
        let k = Self::group_key(sub, rg, name);
        match self.groups.get_mut(&k) {
            Some(g) => Ok((k, g)),
            None => Err(ArmError::group_not_found(rg, name)),
        }
    }

    /// `PUT` a container group (body already validated). Returns whether it was created, and the
    /// operation id of the deployment.
    pub fn put_group(&mut self, sub: &str, rg: &str, name: &str, body: Value) -> Result<(bool, String), ArmError> {
        self.require_resource_group(sub, rg)?;
        let k = Self::group_key(sub, rg, name);
        let location = normalize_location(body["location"].as_str().unwrap_or_default());
        let zones: Vec<String> = body
            .get("zones")
            .and_then(Value::as_array)
            .map(|z| z.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default();
        let properties = body["properties"].clone();
        if let Some(existing) = self.groups.get(&k) {
            if existing.pending.is_some() {
                return Err(ArmError::conflict_in_progress(name));
            }
            check_update(existing, &location, &zones, &properties)?;
            let g = self.groups.get_mut(&k).expect("exists");
            g.tags = body.get("tags").cloned().unwrap_or(Value::Null);
            g.identity = body.get("identity").cloned();
            g.properties = properties;
            g.provisioning_state = "Updating".into();
            let took = self.config.timings.update;
            let op = self.begin(&k, PendingKind::Update, took);
            return Ok((false, op));
        }
        let group = Group {
            subscription: sub.to_string(),
            resource_group: rg.to_string(),
            name: name.to_string(),
            location,
            tags: body.get("tags").cloned().unwrap_or(Value::Null),
            zones,
            identity: body.get("identity").cloned(),
            containers: Vec::new(),
            properties,
            provisioning_state: "Pending".into(),
            pending: None,
            state: "Pending".into(),
            placement: None,
            events: Vec::new(),
        };
        self.groups.insert(k.clone(), group);
        let took = self.config.timings.provision;
        let op = self.begin(&k, PendingKind::Create, took);
        Ok((true, op))
    }

    /// `PATCH` a group's tags (synchronous).
    pub fn patch_group(&mut self, sub: &str, rg: &str, name: &str, body: &Value) -> Result<Value, ArmError> {
        let (_, g) = self.group_mut(sub, rg, name)?;
        match body.get("tags") {
            Some(t @ Value::Object(_)) => g.tags = t.clone(),
            Some(Value::Null) | None => {}
            Some(_) => {
                return Err(ArmError::invalid_content(
                    "The request content was invalid: the property 'tags' has the wrong type: expected an object of strings.",
                ));
            }
        }
        Ok(g.view(true))
    }

    fn remove_group(&mut self, k: &str) -> Option<Group> {
        let g = self.groups.remove(k)?;
        if let Some(p) = &g.pending
            && let Some(op) = self.operations.get_mut(&p.op_id)
        {
            op.status = "Canceled".into();
        }
        Some(g)
    }

    /// `DELETE` a group: its last view, or `None` when it did not exist.
    pub fn delete_group(&mut self, sub: &str, rg: &str, name: &str) -> Result<Option<Value>, ArmError> {
        self.require_resource_group(sub, rg)?;
        Ok(self.remove_group(&Self::group_key(sub, rg, name)).map(|g| g.view(true)))
    }

    /// The groups of a subscription, or of one resource group, in name order.
    pub fn list_groups(&self, sub: &str, rg: Option<&str>) -> Result<Vec<&Group>, ArmError> {
        let prefix = match rg {
            Some(rg) => {
                self.require_resource_group(sub, rg)?;
                format!("{}/", key(&[sub, rg]))
            }
            None => format!("{}/", key(&[sub])),
        };
        Ok(self.groups.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, g)| g).collect())
    }

    /// `POST …/restart`: containers restart in place. Returns the operation id.
    pub fn restart_group(&mut self, sub: &str, rg: &str, name: &str) -> Result<String, ArmError> {
        let (k, g) = self.group_mut(sub, rg, name)?;
        if g.pending.is_some() {
            return Err(ArmError::conflict_in_progress(name));
        }
        if g.placement.is_none() {
            return Err(ArmError::new(
                StatusCode::CONFLICT,
                "ContainerGroupStopped",
                format!("The container group '{name}' is stopped; start it before restarting."),
            ));
        }
        g.provisioning_state = "Updating".into();
        let took = self.config.timings.restart;
        Ok(self.begin(&k, PendingKind::Restart, took))
    }

    /// `POST …/stop`: synchronous; terminates and deallocates.
    pub fn stop_group(&mut self, sub: &str, rg: &str, name: &str) -> Result<(), ArmError> {
        let now = self.now();
        let (_, g) = self.group_mut(sub, rg, name)?;
        if g.pending.is_some() {
            return Err(ArmError::conflict_in_progress(name));
        }
        if g.placement.take().is_some() {
            for c in g.containers.iter_mut() {
                push_event(&mut c.events, now, "Killing", "Killing container (stop)", "Normal");
                c.previous = Some(c.current.clone());
                c.current = ContainerState::terminated(c.current.start_time, now, 0, "Container stopped per client request");
                c.env.clear();
                c.files.clear();
                c.run_started = None;
                c.next_restart = None;
            }
        }
        g.state = "Stopped".into();
        Ok(())
    }

    /// `POST …/start`: `Some(op id)` when a stopped group is deployed again, `None` when it runs.
    pub fn start_group(&mut self, sub: &str, rg: &str, name: &str) -> Result<Option<String>, ArmError> {
        let (k, g) = self.group_mut(sub, rg, name)?;
        if g.pending.is_some() {
            return Err(ArmError::conflict_in_progress(name));
        }
        if g.placement.is_some() {
            return Ok(None);
        }
        g.provisioning_state = "Pending".into();
        let took = self.config.timings.start;
        Ok(Some(self.begin(&k, PendingKind::Start, took)))
    }

    /// A container's logs as ACI returns them: the current run's output, `tail` lines at most.
    pub fn logs(
        &self,
        sub: &str,
        rg: &str,
        name: &str,
        container: &str,
        tail: Option<usize>,
        timestamps: bool,
    ) -> Result<String, ArmError> {
        let g = self.group(sub, rg, name)?;
        let c = g.containers.iter().find(|c| c.name.eq_ignore_ascii_case(container)).ok_or_else(|| {
            ArmError::new(
                StatusCode::NOT_FOUND,
                "ContainerNotFound",
                format!("The container '{container}' does not exist in container group '{name}'."),
            )
        })?;
        let mut lines: Vec<OutputLine> = c.output.clone();
        if let (Some(started), Some(pl)) = (c.run_started, &g.placement)
            && c.profile != Profile::Other
            && c.current.state == "Running"
        {
            {
                let every = probe::heartbeat_seconds(&c.env);
                let elapsed = (self.now() - started).whole_seconds().max(0) as u64;
                let beats = elapsed / every;
                let from = beats.saturating_sub(tail.unwrap_or(10_000) as u64) + 1;
                for k in from..=beats {
                    lines.push(OutputLine {
                        at: started + Duration::from_secs(k * every),
                        text: probe::probe_line(c.profile, &c.env, &c.files, &pl.boot_id, &pl.host),
                    });
                }
            }
        }
        let skip = tail.map(|t| lines.len().saturating_sub(t)).unwrap_or(0);
        let mut out = String::new();
        for l in &lines[skip..] {
            if timestamps {
                out.push_str(&rfc3339(l.at));
                out.push(' ');
            }
            out.push_str(&l.text);
            out.push('\n');
        }
        Ok(out)
    }

    /// An operation status document, or `None` for an unknown id.
    pub fn operation_status(&self, id: &str) -> Option<Value> {
        let op = self.operations.get(id)?;
        let events = self
            .groups
            .get(&op.group_key)
            .map(|g| g.containers.iter().flat_map(|c| c.events.iter()).cloned().collect::<Vec<Event>>())
            .unwrap_or_default();
        let mut doc = json!({
            "id": op.group_id,
            "status": op.status,
            "startTime": rfc3339(op.start),
            "properties": {"events": events.iter().map(|e| json!({
                "count": e.count, "firstTimestamp": rfc3339(e.first), "lastTimestamp": rfc3339(e.last),
                "name": e.name, "message": e.message, "type": e.kind})).collect::<Vec<_>>()}
        });
        if let Some(end) = op.end {
            doc["endTime"] = json!(rfc3339(end));
        }
        Some(doc)
    }

    /// Whether an operation is still running (`None` for an unknown id).
    pub fn operation_done(&self, id: &str) -> Option<bool> {
        self.operations.get(id).map(|o| o.status != "Pending")
    }

    // ---- faults ---------------------------------------------------------------------------

    /// Moves a group to a new host in its zone; each secret channel meets the fate the
    /// hypothesis gives it. The group must be running.
    pub fn rehost(&mut self, group_id: &str, hypothesis: &LossHypothesis) -> Result<FaultRecord, ArmError> {
        for ch in hypothesis.keys() {
            if !CHANNELS.contains(&ch.as_str()) {
                return Err(ArmError::invalid_parameter(format!(
                    "unknown secret channel '{ch}' in the hypothesis: expected one of {}",
                    CHANNELS.join(", ")
                )));
            }
        }
        for f in hypothesis.values() {
            if let Fate::Probability(p) = f
                && !(0.0..=1.0).contains(p)
            {
                return Err(ArmError::invalid_parameter(format!("loss probability {p} is out of range: expected 0 to 1")));
            }
        }
        let k = self.key_of_id(group_id)?;
        let now = self.now();
        let (zones, from) = {
            let g = &self.groups[&k];
            (
                vec![g.placement.as_ref().map(|p| p.zone.clone()).or_else(|| g.zones.first().cloned()).unwrap_or_else(|| "1".into())],
                g.placement.clone(),
            )
        };
        let Some(from) = from else {
            return Err(ArmError::new(
                StatusCode::CONFLICT,
                "ContainerGroupNotRunning",
                format!("'{group_id}' has no placement (stopped or still deploying): nothing to rehost."),
            ));
        };
        let mut outcome = BTreeMap::new();
        let mut lost = BTreeMap::new();
        for ch in CHANNELS {
            let fate = hypothesis.get(*ch).copied().unwrap_or_default();
            let is_lost = match fate {
                Fate::Fixed(FixedFate::Kept) => false,
                Fate::Fixed(FixedFate::Lost) => true,
                Fate::Probability(p) => self.rng.random_bool(p),
            };
            outcome.insert(ch.to_string(), if is_lost { "lost" } else { "kept" }.to_string());
            lost.insert(ch.to_string(), is_lost);
        }
        let to = self.place(&zones, Some(&from.host));
        let g = self.groups.get_mut(&k).expect("exists");
        for c in g.containers.iter_mut() {
            push_event(&mut c.events, now, "Killing", "Killing container (host maintenance)", "Normal");
        }
        g.placement = Some(to.clone());
        boot_from_spec(g, now, &to, &lost);
        refresh_state(g);
        let rec = FaultRecord {
            seq: self.faults.len() as u64 + 1,
            at: rfc3339(now),
            kind: "rehost".into(),
            target: g.id(),
            hypothesis: hypothesis.clone(),
            outcome,
            from: Some(from),
            to: Some(to),
        };
        self.faults.push(rec.clone());
        Ok(rec)
    }

    fn key_of_id(&self, id: &str) -> Result<String, ArmError> {
        match crate::route::route(id) {
            crate::route::Route::Group(gp) => {
                let k = Self::group_key(&gp.subscription, &gp.resource_group, &gp.name);
                if self.groups.contains_key(&k) { Ok(k) } else { Err(ArmError::group_not_found(&gp.resource_group, &gp.name)) }
            }
            _ => Err(ArmError::invalid_parameter(format!("'{id}' is not a container group resource id"))),
        }
    }

    /// Every fault that fired, in order.
    pub fn faults(&self) -> &[FaultRecord] {
        &self.faults
    }

    /// A snapshot of the world for the admin plane: placements and states, secrets absent.
    pub fn snapshot(&self) -> Value {
        json!({
            "now": rfc3339(self.now()),
            "seed": self.config.seed,
            "resourceGroups": self.resource_groups.values().map(ResourceGroup::view).collect::<Vec<_>>(),
            "groups": self.groups.values().map(|g| json!({
                "id": g.id(),
                "placement": g.placement,
                "view": g.view(true),
            })).collect::<Vec<_>>(),
            "faults": self.faults,
        })
    }
}

/// Refuses updates that ACI can only do by delete + recreate.
fn check_update(g: &Group, location: &str, zones: &[String], new: &Value) -> Result<(), ArmError> {
    let old = &g.properties;
    let refuse = |what: &str, o: String, n: String| {
        Err(ArmError::new(
            StatusCode::CONFLICT,
            "InvalidContainerGroupUpdate",
            format!(
                "The updates on container group '{}' are invalid. If you are going to update the {what} (old {o}, new {n}) for a container group, you must delete it first and then create a new one.",
                g.name
            ),
        ))
    };
    let s = |v: &Value, p: &str| v.pointer(p).map(|x| x.to_string()).unwrap_or_else(|| "null".into());
    let policy = |v: &Value| v.get("restartPolicy").and_then(Value::as_str).unwrap_or("Always").to_string();
    if location != g.location {
        return refuse("location", format!("\"{}\"", g.location), format!("\"{location}\""));
    }
    if s(old, "/osType") != s(new, "/osType") {
        return refuse("OsType", s(old, "/osType"), s(new, "/osType"));
    }
    if policy(old) != policy(new) {
        return refuse("RestartPolicy", format!("\"{}\"", policy(old)), format!("\"{}\"", policy(new)));
    }
    if zones != g.zones.as_slice() {
        return refuse("availability zones", format!("{:?}", g.zones), format!("{zones:?}"));
    }
    for p in ["/subnetIds", "/ipAddress/type"] {
        if s(old, p) != s(new, p) {
            return refuse("network profile", s(old, p), s(new, p));
        }
    }
    for oc in old.get("containers").and_then(Value::as_array).into_iter().flatten() {
        let name = oc.get("name");
        if let Some(nc) = new.get("containers").and_then(Value::as_array).and_then(|cs| cs.iter().find(|c| c.get("name") == name)) {
            for p in
                ["/properties/resources/requests/cpu", "/properties/resources/requests/memoryInGB", "/properties/resources/requests/gpu"]
            {
                if s(oc, p) != s(nc, p) {
                    return refuse("resource requests (CPU/memory/GPU)", s(oc, p), s(nc, p));
                }
            }
        }
    }
    Ok(())
}

/// The environment and files a container's spec gives it, less the channels a fault lost.
fn runtime_from_spec(
    spec: &Value,
    volumes: &[Value],
    lost: &BTreeMap<String, bool>,
) -> (BTreeMap<String, String>, BTreeMap<String, Vec<u8>>) {
    let is_lost = |ch: &str| lost.get(ch).copied().unwrap_or(false);
    let mut env = BTreeMap::new();
    for e in spec.pointer("/properties/environmentVariables").and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = e.get("name").and_then(Value::as_str) else { continue };
        let (value, channel) = match (e.get("value").and_then(Value::as_str), e.get("secureValue").and_then(Value::as_str)) {
            (_, Some(s)) => (s, "secure-env"),
            (Some(v), None) => (v, "plain-env"),
            _ => continue,
        };
        // A lost value leaves the variable empty, as the field saw (`AZP_TOKEN` empty).
        let kept_config = channel == "plain-env" && name.starts_with("ACI_CHAOS_") && name != probe::PLAIN_VAR;
        let v = if is_lost(channel) && !kept_config { String::new() } else { value.to_string() };
        env.insert(name.to_string(), v);
    }
    let mut files = BTreeMap::new();
    for m in spec.pointer("/properties/volumeMounts").and_then(Value::as_array).into_iter().flatten() {
        let (Some(vname), Some(path)) = (m.get("name").and_then(Value::as_str), m.get("mountPath").and_then(Value::as_str)) else {
            continue;
        };
        let Some(secret) = volumes
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(vname))
            .and_then(|v| v.get("secret"))
            .and_then(Value::as_object)
        else {
            continue;
        };
        for (file, b64) in secret {
            let raw = b64.as_str().unwrap_or_default();
            let content = base64::engine::general_purpose::STANDARD.decode(raw).unwrap_or_else(|_| raw.as_bytes().to_vec());
            let content = if is_lost("secret-volume") { Vec::new() } else { content };
            files.insert(format!("{}/{}", path.trim_end_matches('/'), file), content);
        }
    }
    (env, files)
}

/// (Re)creates a group's containers from its stored spec on a placement and starts them.
fn boot_from_spec(g: &mut Group, now: OffsetDateTime, pl: &Placement, lost: &BTreeMap<String, bool>) {
    let volumes = g.properties.get("volumes").and_then(Value::as_array).cloned().unwrap_or_default();
    let specs = g.properties.get("containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let policy = g.restart_policy().to_string();
    let old = std::mem::take(&mut g.containers);
    for spec in &specs {
        let name = spec.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let image = spec.pointer("/properties/image").and_then(Value::as_str).unwrap_or_default().to_string();
        let (env, files) = runtime_from_spec(spec, &volumes, lost);
        let spec_env: BTreeMap<String, String> = runtime_from_spec(spec, &volumes, &BTreeMap::new()).0;
        let prior = old.iter().find(|c| c.name == name);
        let mut c = Container {
            name,
            profile: Profile::from_env(&spec_env),
            env,
            files,
            restart_count: prior.map(|p| p.restart_count).unwrap_or(0),
            current: ContainerState::running(now),
            previous: prior.map(|p| p.current.clone()).filter(|s| s.state != "Waiting" || s.start_time.is_some()),
            output: Vec::new(),
            run_started: None,
            next_restart: None,
            events: prior.map(|p| p.events.clone()).unwrap_or_default(),
        };
        if let Some(prev) = c.previous.as_mut().filter(|p| p.state == "Running") {
            *prev = ContainerState::terminated(prev.start_time, now, 0, "Killed");
        }
        push_event(&mut c.events, now, "Pulling", &format!("pulling image \"{image}\""), "Normal");
        push_event(&mut c.events, now, "Pulled", &format!("Successfully pulled image \"{image}\""), "Normal");
        push_event(&mut c.events, now, "Started", "Started container", "Normal");
        start_container(&mut c, now, pl, &policy);
        g.containers.push(c);
    }
}

/// Starts one run of a container: its output, and what its restart policy does if it exits.
fn start_container(c: &mut Container, now: OffsetDateTime, pl: &Placement, policy: &str) {
    let (lines, exit) = probe::start(c.profile, &c.env, &c.files, &pl.boot_id, &pl.host);
    c.output = lines.into_iter().map(|text| OutputLine { at: now, text }).collect();
    c.next_restart = None;
    match exit {
        None => {
            c.current = ContainerState::running(now);
            c.run_started = Some(now);
        }
        Some(code) => {
            c.run_started = None;
            let detail = if code == 0 { "Completed" } else { "Error" };
            c.previous = Some(ContainerState::terminated(Some(now), now, code, detail));
            let restarts = policy == "Always" || (policy == "OnFailure" && code != 0);
            if restarts {
                // Kubernetes' back-off: 10 s doubling to 5 min.
                let backoff = Duration::from_secs((10u64 << c.restart_count.min(5)).min(300));
                c.current = ContainerState {
                    state: "Waiting".into(),
                    start_time: None,
                    finish_time: None,
                    exit_code: None,
                    detail_status: "CrashLoopBackOff: Back-off restarting failed".into(),
                };
                c.next_restart = Some(now + backoff);
                push_event(&mut c.events, now, "BackOff", "Back-off restarting failed container", "Warning");
            } else {
                c.current = ContainerState::terminated(Some(now), now, code, detail);
            }
        }
    }
}

/// Derives the group's `instanceView.state` from its containers.
fn refresh_state(g: &mut Group) {
    if g.placement.is_none() {
        if g.state != "Stopped" {
            g.state = "Pending".into();
        }
        return;
    }
    let live = g.containers.iter().any(|c| c.current.state == "Running" || c.current.state == "Waiting");
    g.state = if live {
        "Running".into()
    } else if g.containers.iter().all(|c| c.current.exit_code == Some(0)) {
        "Succeeded".into()
    } else {
        "Failed".into()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::secret_values;

    fn world() -> World {
        World::new(WorldConfig {
            seed: 7,
            clock: ClockMode::Virtual,
            subscription: "sub".into(),
            tenant: "t".into(),
            timings: Timings::default(),
        })
    }

    fn body(secure: &str) -> Value {
        json!({"location": "East US", "properties": {"osType": "Linux", "restartPolicy": "Always", "containers": [{"name": "probe", "properties": {
            "image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}},
            "environmentVariables": [
                {"name": "ACI_CHAOS_PROFILE", "value": "probe"},
                {"name": "ACI_CHAOS_CHANNELS", "value": "secure-env,plain-env"},
                {"name": "ACI_CHAOS_SECURE_ENV", "secureValue": secure},
                {"name": "ACI_CHAOS_PLAIN_ENV", "value": "plain-secret"}]}}]}})
    }

    fn deployed(w: &mut World) {
        w.put_resource_group("sub", "rg", &json!({"location": "eastus"})).unwrap();
        let (created, op) = w.put_group("sub", "rg", "g1", body("s3cret")).unwrap();
        assert!(created);
        assert_eq!(w.operation_done(&op), Some(false));
        w.clock.advance(Duration::from_secs(5));
        w.tick();
        assert_eq!(w.operation_done(&op), Some(true));
    }

    #[test]
    fn create_completes_on_the_clock_and_the_probe_reports_fingerprints() {
        let mut w = world();
        deployed(&mut w);
        let g = w.group("sub", "rg", "G1").unwrap();
        assert_eq!(g.provisioning_state, "Succeeded");
        assert_eq!(g.state, "Running");
        let logs = w.logs("sub", "rg", "g1", "probe", Some(1), false).unwrap();
        assert!(logs.contains(&format!("secure-env={}", probe::fingerprint(b"s3cret"))), "{logs}");
        assert!(!logs.contains("s3cret"));
    }

    #[test]
    fn rehost_applies_the_hypothesis_and_keeps_the_arm_view() {
        let mut w = world();
        deployed(&mut w);
        let before = w.group("sub", "rg", "g1").unwrap().clone();
        let hyp: LossHypothesis = [("secure-env".to_string(), Fate::Fixed(FixedFate::Lost))].into();
        let rec = w.rehost(&before.id(), &hyp).unwrap();
        assert_eq!(rec.outcome["secure-env"], "lost");
        assert_eq!(rec.outcome["plain-env"], "kept");
        let after = w.group("sub", "rg", "g1").unwrap();
        assert_ne!(after.placement.as_ref().unwrap().host, before.placement.as_ref().unwrap().host);
        assert_eq!(after.placement.as_ref().unwrap().zone, before.placement.as_ref().unwrap().zone);
        assert_eq!(after.provisioning_state, before.provisioning_state);
        let logs = w.logs("sub", "rg", "g1", "probe", Some(1), false).unwrap();
        assert!(logs.contains("secure-env=MISSING"), "{logs}");
        assert!(logs.contains(&format!("plain-env={}", probe::fingerprint(b"plain-secret"))), "{logs}");
    }

    #[test]
    fn views_never_carry_secure_values() {
        let mut w = world();
        deployed(&mut w);
        let g = w.group("sub", "rg", "g1").unwrap();
        let wire = serde_json::to_string(&g.view(true)).unwrap() + &serde_json::to_string(&w.snapshot()).unwrap();
        for s in secret_values(&g.properties) {
            assert!(!wire.contains(&s), "secret leaked");
        }
    }

    #[test]
    fn crash_looping_agent_backs_off_and_counts_restarts() {
        let mut w = world();
        w.put_resource_group("sub", "rg", &json!({"location": "eastus"})).unwrap();
        let mut b = body("");
        b["properties"]["containers"][0]["properties"]["environmentVariables"] = json!([
            {"name": "ACI_CHAOS_PROFILE", "value": "azp-agent"}, {"name": "AZP_TOKEN", "secureValue": ""}]);
        w.put_group("sub", "rg", "agent", b).unwrap();
        w.clock.advance(Duration::from_secs(3600));
        w.tick();
        let c = &w.group("sub", "rg", "agent").unwrap().containers[0];
        assert_eq!(c.current.detail_status, "CrashLoopBackOff: Back-off restarting failed");
        assert_eq!(c.previous.as_ref().unwrap().exit_code, Some(1));
        // 10+20+40+80+160 = 310 s, then every 300 s: (3600-3-310)/300 ≈ 10 more.
        assert!(c.restart_count >= 14 && c.restart_count <= 17, "{}", c.restart_count);
        let logs = w.logs("sub", "rg", "agent", "probe", None, false).unwrap();
        assert_eq!(logs.trim(), probe::AZP_MISSING_TOKEN);
    }

    #[test]
    fn updates_that_need_recreate_are_refused() {
        let mut w = world();
        deployed(&mut w);
        let mut b = body("s3cret");
        b["properties"]["restartPolicy"] = json!("Never");
        let e = w.put_group("sub", "rg", "g1", b).unwrap_err();
        assert_eq!(e.code, "InvalidContainerGroupUpdate");
        assert!(e.message.contains("RestartPolicy (old \"Always\", new \"Never\")"), "{}", e.message);
    }
}

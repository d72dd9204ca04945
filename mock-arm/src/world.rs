//! The simulated world: resource groups, container groups on hosts in zones, long-running
//! operations, containers that run the probe contract, and faults. Deterministic for a seed:
//! every random choice comes from generators seeded from it (one per group, so groups do not
//! perturb each other), and all time from the [`Clock`]. Every timed transition (operations
//! finishing, crash-loop restarts, scheduled faults, recoveries) is an event applied in time
//! order when the clock passes it.

use crate::activity::{ActivityLog, Health, Write};
use crate::clock::{Clock, ClockMode, rfc3339};
use crate::error::ArmError;
use crate::model::{
    Container, ContainerState, Event, Group, OutputLine, Pending, PendingKind, Placement, ResourceGroup, normalize_location, push_event,
};
use crate::probe::{self, Profile};
use crate::ratelimit::RateLimits;
use axum::http::StatusCode;
use base64::Engine;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
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

pub use crate::faults::{CHANNELS, Fate, FaultRecord, FixedFate, LossHypothesis};
use crate::faults::{
    ControlAction, ControlRule, Effect, FaultKind, FaultPlan, FaultSpec, OperationKind, Schedule, check_spec, control_error,
};
use sha2::{Digest, Sha256};

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

/// Something due at a time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scheduled {
    /// A planned fault (rule index), for one group when the rule targets `each`.
    Planned { rule: usize, group: Option<String> },
    /// A fault on one group (a wave's member, for instance).
    Fire { spec: Box<FaultSpec>, group: String },
    /// A group that went down lands on a new host.
    Recover { group: String, kind: FaultKind, hypothesis: LossHypothesis },
    /// A zone outage ends.
    OutageEnd { zone: String },
}

/// The whole simulated state.
#[derive(Debug)]
pub struct World {
    /// Settings.
    pub config: WorldConfig,
    /// The clock.
    pub clock: Clock,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) control_rng: ChaCha8Rng,
    pub(crate) resource_groups: BTreeMap<String, ResourceGroup>,
    pub(crate) groups: BTreeMap<String, Group>,
    pub(crate) operations: BTreeMap<String, Operation>,
    pub(crate) faults: Vec<FaultRecord>,
    pub(crate) schedule: BTreeMap<(OffsetDateTime, u64), Scheduled>,
    pub(crate) schedule_seq: u64,
    pub(crate) plan: FaultPlan,
    pub(crate) outages: BTreeMap<String, OffsetDateTime>,
    /// The simulated Key Vault: `vault/secret` (lowercase) → value. Never shown.
    pub(crate) vault: BTreeMap<String, String>,
    /// The activity log of user writes and platform events (never a secret).
    pub(crate) activity: ActivityLog,
    /// The subscriptions' request budgets (`x-ms-ratelimit-remaining-*`).
    pub(crate) ratelimits: RateLimits,
    /// While a scheduled event is applied: its time (a fault planned for day 3 happens on day 3,
    /// even when the clock was advanced straight to day 30).
    event_time: Option<OffsetDateTime>,
    generations: BTreeMap<String, u64>,
    op_counter: u64,
    request_counter: u64,
}

/// A 64-bit seed derived from the world's seed and some words.
pub(crate) fn derive_seed(seed: u64, words: &[&str]) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    for w in words {
        h.update(w.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

fn key(parts: &[&str]) -> String {
    parts.iter().map(|p| p.to_ascii_lowercase()).collect::<Vec<_>>().join("/")
}

impl World {
    /// A fresh world.
    pub fn new(config: WorldConfig) -> Self {
        Self {
            clock: Clock::new(config.clock),
            rng: ChaCha8Rng::seed_from_u64(derive_seed(config.seed, &["world"])),
            control_rng: ChaCha8Rng::seed_from_u64(derive_seed(config.seed, &["control"])),
            resource_groups: BTreeMap::new(),
            groups: BTreeMap::new(),
            operations: BTreeMap::new(),
            faults: Vec::new(),
            schedule: BTreeMap::new(),
            schedule_seq: 0,
            plan: FaultPlan::default(),
            outages: BTreeMap::new(),
            vault: BTreeMap::new(),
            activity: ActivityLog::new(config.seed, &config.tenant),
            ratelimits: RateLimits::default(),
            event_time: None,
            generations: BTreeMap::new(),
            op_counter: 0,
            request_counter: 0,
            config,
        }
    }

    /// Current mock time.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The time what happens now happens at: the event's own time while a scheduled event is
    /// applied, else the clock's.
    fn t(&self) -> OffsetDateTime {
        self.event_time.unwrap_or_else(|| self.clock.now())
    }

    /// A request id for response headers (deterministic, and apart from the world's generator).
    pub fn next_request_id(&mut self) -> String {
        self.request_counter += 1;
        format!("{:08x}-0000-4000-8000-{:012x}", self.config.seed as u32, self.request_counter)
    }

    fn uuid(&mut self) -> String {
        self.op_counter += 1;
        let d = Sha256::digest(format!("op|{}|{}", self.config.seed, self.op_counter).as_bytes());
        let h = hex::encode(&d[..16]);
        format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    }

    pub(crate) fn at(&mut self, t: OffsetDateTime, what: Scheduled) {
        self.schedule_seq += 1;
        self.schedule.insert((t, self.schedule_seq), what);
    }

    /// The time of the next thing the world will do on its own, if any.
    pub fn next_event(&self) -> Option<OffsetDateTime> {
        let pending = self.groups.values().filter_map(|g| g.pending.as_ref().map(|p| p.due));
        let restarts = self
            .groups
            .values()
            .filter(|g| g.placement.is_some() && !g.down)
            .flat_map(|g| g.containers.iter().filter_map(|c| c.next_restart));
        let scheduled = self.schedule.keys().next().map(|k| k.0);
        pending.chain(restarts).chain(scheduled).min()
    }

    /// Applies every transition due by now, in time order: finished operations, crash-loop
    /// restarts, scheduled faults and recoveries.
    pub fn tick(&mut self) {
        let now = self.now();
        while let Some(t) = self.next_event().filter(|t| *t <= now) {
            let due: Vec<String> =
                self.groups.iter().filter(|(_, g)| g.pending.as_ref().is_some_and(|p| p.due <= t)).map(|(k, _)| k.clone()).collect();
            for k in due {
                self.complete_pending(&k);
            }
            while let Some(entry) = self.schedule.first_entry().filter(|e| e.key().0 <= t) {
                let ((at, _), what) = entry.remove_entry();
                let outer = self.event_time.replace(at);
                self.run_scheduled(at, what);
                self.event_time = outer;
            }
            for g in self.groups.values_mut() {
                if g.down {
                    continue;
                }
                let policy = g.restart_policy().to_string();
                if let Some(pl) = g.placement.clone() {
                    for c in g.containers.iter_mut() {
                        while let Some(rt) = c.next_restart.filter(|rt| *rt <= t) {
                            c.restart_count += 1;
                            push_event(&mut c.events, rt, "Started", "Started container", "Normal");
                            start_container(c, rt, &pl, &policy);
                        }
                    }
                }
            }
        }
        for g in self.groups.values_mut() {
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
        let outages = self.outages.clone();
        let g = self.groups.get_mut(k).expect("group exists");
        let placement = match current {
            Some(pl) if !needs_placement => pl,
            _ => place(&mut g.rng, &zones, None, None, &outages),
        };
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
                g.down = false;
                boot_from_spec(g, p.due, &placement, &BTreeMap::new(), &self.vault);
            }
        }
        let first_placement = p.kind == PendingKind::Create;
        g.provisioning_state = "Succeeded".into();
        refresh_state(g);
        if let Some(op) = self.operations.get_mut(&p.op_id) {
            op.status = "Succeeded".into();
            op.end = Some(p.due);
        }
        if first_placement {
            self.schedule_for_new_group(k, p.due);
        }
    }

    fn begin(&mut self, k: &str, kind: PendingKind, took: Duration) -> String {
        let now = self.now();
        let took = took.mul_f64(self.slow_lro_factor());
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
            rng: ChaCha8Rng::seed_from_u64(0),
            down: false,
        };
        let generation = self.generations.entry(k.clone()).or_insert(0);
        *generation += 1;
        let mut group = group;
        group.rng = ChaCha8Rng::seed_from_u64(derive_seed(self.config.seed, &["group", &k, &generation.to_string()]));
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
        g.down = false;
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
                // The environment does not change within a run: one line serves every heartbeat.
                let text = probe::probe_line(c.profile, &c.env, &c.files, &pl.boot_id, &pl.host);
                for k in from..=beats {
                    lines.push(OutputLine { at: started + Duration::from_secs(k * every), text: text.clone() });
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
        crate::faults::check_hypothesis(hypothesis)?;
        let k = self.key_of_id(group_id)?;
        self.rehost_key(&k, FaultKind::Rehost, hypothesis, false)
    }

    /// Rehosts one group (by key). `any_zone` lets a group without zones move zone.
    pub(crate) fn rehost_key(
        &mut self,
        k: &str,
        kind: FaultKind,
        hypothesis: &LossHypothesis,
        any_zone: bool,
    ) -> Result<FaultRecord, ArmError> {
        let now = self.t();
        let outages = self.outages.clone();
        let g = self.groups.get_mut(k).ok_or_else(|| ArmError::invalid_parameter(format!("no group '{k}'")))?;
        let Some(from) = g.placement.clone() else {
            return Err(ArmError::new(
                StatusCode::CONFLICT,
                "ContainerGroupNotRunning",
                format!("'{}' has no placement (stopped or still deploying): nothing to {}.", g.id(), kind.as_str()),
            ));
        };
        let mut outcome = BTreeMap::new();
        let mut lost = BTreeMap::new();
        for ch in CHANNELS {
            let fate = hypothesis.get(*ch).copied().unwrap_or_default();
            let is_lost = match fate {
                Fate::Fixed(FixedFate::Kept) => false,
                Fate::Fixed(FixedFate::Lost) => true,
                Fate::Probability(p) => g.rng.random_bool(p),
            };
            outcome.insert(ch.to_string(), if is_lost { "lost" } else { "kept" }.to_string());
            lost.insert(ch.to_string(), is_lost);
        }
        let moving_out = any_zone && g.zones.is_empty() && outages.contains_key(&from.zone);
        let stay_in = if moving_out { None } else { Some(from.zone.as_str()) };
        let zones = g.zones.clone();
        let to = place(&mut g.rng, &zones, stay_in, Some(&from.host), &outages);
        for c in g.containers.iter_mut() {
            push_event(&mut c.events, now, "Killing", &format!("Killing container ({})", kind.as_str()), "Normal");
        }
        g.placement = Some(to.clone());
        g.down = false;
        boot_from_spec(g, now, &to, &lost, &self.vault);
        refresh_state(g);
        let target = g.id();
        Ok(self.log_fault(kind, target, hypothesis.clone(), outcome, Some(from), Some(to)))
    }

    fn log_fault(
        &mut self,
        kind: FaultKind,
        target: String,
        hypothesis: LossHypothesis,
        outcome: BTreeMap<String, String>,
        from: Option<Placement>,
        to: Option<Placement>,
    ) -> FaultRecord {
        let at = self.t();
        let moved = from.as_ref().zip(to.as_ref()).is_some_and(|(f, t)| f.host != t.host);
        match (kind, &to) {
            (FaultKind::HostFailure, None) => self.activity.health_down(at, &target, Health::HostFailure),
            (FaultKind::ZoneOutage, None) => self.activity.health_down(at, &target, Health::ZoneOutage),
            (FaultKind::HostFailure | FaultKind::ZoneOutage, Some(_)) => self.activity.health_up(at, &target, Health::Moved),
            (FaultKind::MaintenanceRestart, _) => self.activity.health_up(at, &target, Health::Maintenance),
            (FaultKind::MaintenanceWave, _) if moved => self.activity.health_up(at, &target, Health::MaintenanceMove),
            (FaultKind::MaintenanceWave, _) => self.activity.health_up(at, &target, Health::Maintenance),
            (FaultKind::Rehost, _) => self.activity.health_up(at, &target, Health::Moved),
        }
        let rec = FaultRecord {
            seq: self.faults.len() as u64 + 1,
            at: rfc3339(self.t()),
            kind: kind.as_str().into(),
            target,
            hypothesis,
            outcome,
            from,
            to,
        };
        self.faults.push(rec.clone());
        rec
    }

    /// Same host, containers restarted in place, everything kept.
    pub(crate) fn maintenance_restart_key(&mut self, k: &str) -> Result<FaultRecord, ArmError> {
        let now = self.t();
        let g = self.groups.get_mut(k).ok_or_else(|| ArmError::invalid_parameter(format!("no group '{k}'")))?;
        let Some(pl) = g.placement.clone().filter(|_| !g.down) else {
            return Err(ArmError::new(StatusCode::CONFLICT, "ContainerGroupNotRunning", format!("'{}' is not running.", g.id())));
        };
        let policy = g.restart_policy().to_string();
        for c in g.containers.iter_mut() {
            push_event(&mut c.events, now, "Killing", "Killing container (maintenance-restart)", "Normal");
            c.previous = Some(ContainerState::terminated(c.current.start_time, now, 0, "Killed"));
            push_event(&mut c.events, now, "Started", "Started container", "Normal");
            start_container(c, now, &pl, &policy);
        }
        refresh_state(g);
        let target = g.id();
        Ok(self.log_fault(FaultKind::MaintenanceRestart, target, BTreeMap::new(), BTreeMap::new(), Some(pl.clone()), Some(pl)))
    }

    /// Takes a group down (its host or zone failed); it is rehosted by a scheduled recovery.
    fn take_down(&mut self, k: &str, kind: FaultKind, recover_at: OffsetDateTime, hypothesis: &LossHypothesis) -> Option<FaultRecord> {
        let now = self.t();
        let g = self.groups.get_mut(k)?;
        let from = g.placement.clone().filter(|_| !g.down)?;
        g.down = true;
        for c in g.containers.iter_mut() {
            push_event(&mut c.events, now, "Killing", &format!("Killing container ({})", kind.as_str()), "Warning");
            c.previous = Some(ContainerState::terminated(c.current.start_time.or(Some(now)), now, 137, "Killed"));
            c.current = ContainerState {
                state: "Waiting".into(),
                start_time: None,
                finish_time: None,
                exit_code: None,
                detail_status: "Host unavailable: waiting to be rescheduled".into(),
            };
            c.run_started = None;
            c.next_restart = None;
        }
        refresh_state(g);
        let target = g.id();
        self.at(recover_at, Scheduled::Recover { group: k.to_string(), kind, hypothesis: hypothesis.clone() });
        Some(self.log_fault(kind, target, hypothesis.clone(), BTreeMap::new(), Some(from), None))
    }

    /// Fires a fault now. Returns the records of what fired at once, and how many events it
    /// scheduled for later (a wave's members, recoveries).
    pub fn fire(&mut self, spec: &FaultSpec) -> Result<(Vec<FaultRecord>, usize), ArmError> {
        check_spec(spec)?;
        let before = self.schedule.len();
        let now = self.t();
        let records = match spec.kind {
            FaultKind::Rehost | FaultKind::MaintenanceRestart => {
                let keys = self.targets(&spec.target)?;
                let mut out = Vec::new();
                for k in keys {
                    out.push(if spec.kind == FaultKind::Rehost {
                        self.rehost_key(&k, FaultKind::Rehost, &spec.hypothesis, false)?
                    } else {
                        self.maintenance_restart_key(&k)?
                    });
                }
                out
            }
            FaultKind::HostFailure => {
                let recover = now + spec.recover_after.map(|s| s.0).unwrap_or(Duration::from_secs(120));
                let hosts: Vec<String> = if spec.target.starts_with("host-") {
                    vec![spec.target.clone()]
                } else {
                    self.targets(&spec.target)?.iter().filter_map(|k| self.groups[k].placement.as_ref().map(|p| p.host.clone())).collect()
                };
                let keys: Vec<String> = self
                    .groups
                    .iter()
                    .filter(|(_, g)| g.placement.as_ref().is_some_and(|p| hosts.contains(&p.host)))
                    .map(|(k, _)| k.clone())
                    .collect();
                keys.iter().filter_map(|k| self.take_down(k, FaultKind::HostFailure, recover, &spec.hypothesis)).collect()
            }
            FaultKind::ZoneOutage => {
                let zone = match &spec.zone {
                    Some(z) => z.clone(),
                    None => {
                        let k = self.key_of_id(&spec.target)?;
                        self.groups[&k].placement.as_ref().map(|p| p.zone.clone()).ok_or_else(|| {
                            ArmError::new(
                                StatusCode::CONFLICT,
                                "ContainerGroupNotRunning",
                                format!("'{}' has no placement, so no zone", spec.target),
                            )
                        })?
                    }
                };
                let until = now + spec.duration.map(|s| s.0).unwrap_or(Duration::from_secs(3600));
                let movable_at = now + spec.recover_after.map(|s| s.0).unwrap_or(Duration::from_secs(300));
                self.outages.insert(zone.clone(), until);
                self.at(until, Scheduled::OutageEnd { zone: zone.clone() });
                let (sub, location) = (self.config.subscription.clone(), self.region_of_zone(&zone));
                self.activity.zone_outage(now, &sub, &zone, &location, false);
                let hit: Vec<(String, bool)> = self
                    .groups
                    .iter()
                    .filter(|(_, g)| g.placement.as_ref().is_some_and(|p| p.zone == zone))
                    .map(|(k, g)| (k.clone(), g.zones.is_empty()))
                    .collect();
                hit.iter()
                    .filter_map(|(k, movable)| {
                        let at = if *movable { movable_at.min(until) } else { until };
                        self.take_down(k, FaultKind::ZoneOutage, at, &spec.hypothesis)
                    })
                    .collect()
            }
            FaultKind::MaintenanceWave => {
                let window = spec.window.map(|s| s.0).unwrap_or(Duration::from_secs(600));
                let keys: Vec<String> = self
                    .groups
                    .iter()
                    .filter(|(_, g)| g.placement.is_some() && !g.down)
                    .filter(|(_, g)| spec.zone.as_ref().is_none_or(|z| g.placement.as_ref().is_some_and(|p| &p.zone == z)))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in keys {
                    let offset = window.mul_f64(self.rng.random::<f64>());
                    let member = FaultSpec { kind: FaultKind::Rehost, target: String::new(), schedule: None, ..spec.clone() };
                    self.at(now + offset, Scheduled::Fire { spec: Box::new(member), group: k });
                }
                let fired = self.faults.len();
                self.tick();
                self.faults[fired..].to_vec()
            }
        };
        Ok((records, self.schedule.len().saturating_sub(before)))
    }

    /// The group keys a target names: a group resource id, or `each`/`all`.
    fn targets(&self, target: &str) -> Result<Vec<String>, ArmError> {
        match target {
            "each" | "all" => Ok(self.groups.iter().filter(|(_, g)| g.placement.is_some() && !g.down).map(|(k, _)| k.clone()).collect()),
            id => Ok(vec![self.key_of_id(id)?]),
        }
    }

    fn run_scheduled(&mut self, at: OffsetDateTime, what: Scheduled) {
        match what {
            Scheduled::Fire { spec, group } => {
                if self.groups.get(&group).is_some_and(|g| g.placement.is_some() && !g.down) {
                    let _ = self.rehost_key(&group, FaultKind::MaintenanceWave, &spec.hypothesis, false);
                }
            }
            Scheduled::Recover { group, kind, hypothesis } => {
                if self.groups.get(&group).is_some_and(|g| g.down) {
                    let _ = self.rehost_key(&group, kind, &hypothesis, true);
                }
            }
            Scheduled::OutageEnd { zone } => {
                if self.outages.get(&zone).is_some_and(|until| *until <= at) {
                    self.outages.remove(&zone);
                    let (sub, location) = (self.config.subscription.clone(), self.region_of_zone(&zone));
                    self.activity.zone_outage(at, &sub, &zone, &location, true);
                }
            }
            Scheduled::Planned { rule, group } => self.run_planned(at, rule, group),
        }
    }

    fn run_planned(&mut self, at: OffsetDateTime, rule: usize, group: Option<String>) {
        let Some(planned) = self.plan.fault.get(rule).cloned() else { return };
        let mut spec = planned.clone();
        match &group {
            Some(k) => {
                let Some(g) = self.groups.get(k) else { return };
                if g.placement.is_some() && !g.down {
                    spec.target = g.id();
                    let _ = self.fire(&spec);
                }
            }
            None => {
                let _ = self.fire(&spec);
            }
        }
        let next = match planned.schedule {
            None | Some(Schedule::At(_)) => None,
            Some(Schedule::Every(d)) => Some(d.0),
            Some(Schedule::Poisson(mean)) => Some(match &group {
                Some(k) => match self.groups.get_mut(k) {
                    Some(g) => exponential(&mut g.rng, mean.0),
                    None => return,
                },
                None => exponential(&mut self.rng, mean.0),
            }),
        };
        if let Some(d) = next {
            self.at(at + d, Scheduled::Planned { rule, group });
        }
    }

    /// Adds a fault plan: its rules apply from now on (`at` schedules count from the clock's
    /// start; a time already past fires at once).
    pub fn add_plan(&mut self, plan: FaultPlan) -> Result<(), ArmError> {
        plan.validate()?;
        let start = self.clock.start();
        let now = self.now();
        let base = self.plan.fault.len();
        for (i, f) in plan.fault.iter().enumerate() {
            let rule = base + i;
            let per_group = f.target == "each";
            match f.schedule {
                Some(Schedule::At(d)) => self.at((start + d.0).max(now), Scheduled::Planned { rule, group: None }),
                Some(Schedule::Every(d)) if !per_group => self.at(now + d.0, Scheduled::Planned { rule, group: None }),
                Some(Schedule::Poisson(d)) if !per_group => {
                    let first = exponential(&mut self.rng, d.0);
                    self.at(now + first, Scheduled::Planned { rule, group: None })
                }
                _ => {}
            }
        }
        for r in plan.control.iter().filter(|r| r.effect == Effect::RatelimitBudget) {
            self.ratelimits.set_budget(r.reads, r.writes);
        }
        self.plan.fault.extend(plan.fault);
        self.plan.control.extend(plan.control);
        let live: Vec<String> = self.groups.iter().filter(|(_, g)| g.placement.is_some()).map(|(k, _)| k.clone()).collect();
        for k in live {
            self.schedule_rules_for_group(&k, now, base);
        }
        Ok(())
    }

    fn schedule_for_new_group(&mut self, k: &str, t: OffsetDateTime) {
        self.schedule_rules_for_group(k, t, 0);
    }

    fn schedule_rules_for_group(&mut self, k: &str, t: OffsetDateTime, from_rule: usize) {
        let rules: Vec<(usize, Option<Schedule>)> =
            self.plan.fault.iter().enumerate().skip(from_rule).filter(|(_, f)| f.target == "each").map(|(i, f)| (i, f.schedule)).collect();
        for (rule, schedule) in rules {
            let first = match schedule {
                Some(Schedule::Every(d)) => d.0,
                Some(Schedule::Poisson(d)) => match self.groups.get_mut(k) {
                    Some(g) => exponential(&mut g.rng, d.0),
                    None => return,
                },
                Some(Schedule::At(_)) | None => continue,
            };
            self.at(t + first, Scheduled::Planned { rule, group: Some(k.to_string()) });
        }
    }

    /// Stores a secret in the simulated Key Vault (what a container with a managed identity
    /// fetches at start through `ACI_CHAOS_KEYVAULT_URI`).
    pub fn put_vault_secret(&mut self, vault: &str, name: &str, value: &str) -> Result<Value, ArmError> {
        let ok = |s: &str| !s.is_empty() && s.len() <= 127 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok(vault) || !ok(name) {
            return Err(ArmError::invalid_parameter(format!("vault `{vault}` / secret `{name}`: expected letters, digits and dashes")));
        }
        self.vault.insert(format!("{}/{}", vault.to_ascii_lowercase(), name.to_ascii_lowercase()), value.to_string());
        Ok(json!({"id": format!("https://{vault}.vault.azure.net/secrets/{name}"), "attributes": {"enabled": true}}))
    }

    /// Deletes a secret from the simulated Key Vault; false when it was not there.
    pub fn delete_vault_secret(&mut self, vault: &str, name: &str) -> bool {
        self.vault.remove(&format!("{}/{}", vault.to_ascii_lowercase(), name.to_ascii_lowercase())).is_some()
    }

    /// The plan in force.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Decides what the control plane does to a request of this kind (`None`: nothing).
    pub fn control(&mut self, op: OperationKind) -> Option<ControlAction> {
        let rules: Vec<ControlRule> = self
            .plan
            .control
            .iter()
            .filter(|r| !matches!(r.effect, Effect::SlowLro | Effect::RatelimitBudget))
            .filter(|r| r.operation == op || r.operation == OperationKind::Any)
            .cloned()
            .collect();
        for r in rules {
            if self.control_rng.random_bool(r.rate) {
                return Some(control_error(&r));
            }
        }
        None
    }

    fn slow_lro_factor(&mut self) -> f64 {
        let rules: Vec<ControlRule> = self.plan.control.iter().filter(|r| r.effect == Effect::SlowLro).cloned().collect();
        let mut f = 1.0;
        for r in rules {
            if self.control_rng.random_bool(r.rate) {
                f *= r.factor.unwrap_or(1.0);
            }
        }
        f
    }

    /// Moves a virtual clock to the next event the world has planned and applies it. False
    /// when nothing is planned (or the clock is real).
    pub fn advance_to_next(&mut self) -> bool {
        let now = self.now();
        let moved = match self.next_event() {
            Some(t) if t > now => self.clock.advance((t - now).unsigned_abs()),
            Some(_) => true,
            None => false,
        };
        self.tick();
        moved
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

    /// The activity log.
    pub fn activity(&self) -> &ActivityLog {
        &self.activity
    }

    /// Records a user write on a container group in the activity log, at the clock's time:
    /// answered with `http`, or failed with an ARM error `code`.
    pub fn record_write(&mut self, resource_id: &str, write: Write, caller: &str, http: u16, code: Option<&str>) {
        let now = self.now();
        self.activity.write(now, resource_id, write, caller, http, code);
    }

    /// Takes one request from a subscription's rate-limit budget (see [`crate::ratelimit`]).
    pub fn take_request_budget(&mut self, subscription: &str, write: bool) -> Result<(&'static str, u64), (ArmError, std::time::Duration)> {
        let now = self.now();
        self.ratelimits.take(subscription, write, now)
    }

    /// The region a zone's groups are in (the first group's, else `eastus`), for service health.
    fn region_of_zone(&self, zone: &str) -> String {
        self.groups
            .values()
            .find(|g| g.placement.as_ref().is_some_and(|p| p.zone == zone))
            .map(|g| g.location.clone())
            .unwrap_or_else(|| "eastus".into())
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

/// The vault key (`vault/secret`, lowercase) of a Key Vault secret URI such as
/// `https://myvault.vault.azure.net/secrets/name`.
pub fn vault_key(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/')?;
    let vault = host.split('.').next().filter(|v| !v.is_empty())?;
    let name = path.strip_prefix("secrets/")?.split(['/', '?']).next().filter(|n| !n.is_empty())?;
    Some(format!("{}/{}", vault.to_ascii_lowercase(), name.to_ascii_lowercase()))
}

/// An exponentially distributed interval with the given mean (Poisson arrivals).
fn exponential(rng: &mut ChaCha8Rng, mean: Duration) -> Duration {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    mean.mul_f64(-u.ln()).max(Duration::from_secs(1))
}

/// Picks a placement: the group's zone if it is pinned, else `stay_in`, else a zone not out.
fn place(
    rng: &mut ChaCha8Rng,
    zones: &[String],
    stay_in: Option<&str>,
    avoid_host: Option<&str>,
    outages: &BTreeMap<String, OffsetDateTime>,
) -> Placement {
    let zone = match (zones.first(), stay_in) {
        (Some(z), _) => z.clone(),
        (None, Some(z)) => z.to_string(),
        (None, None) => {
            let up: Vec<&str> = ["1", "2", "3"].into_iter().filter(|z| !outages.contains_key(*z)).collect();
            let pool = if up.is_empty() { vec!["1", "2", "3"] } else { up };
            pool[rng.random_range(0..pool.len())].to_string()
        }
    };
    let host = loop {
        let h = format!("host-z{zone}-{:04}", rng.random_range(0..1000u32));
        if Some(h.as_str()) != avoid_host {
            break h;
        }
    };
    let boot: [u8; 6] = rng.random();
    let ip = format!("203.0.113.{}", rng.random_range(1..=254u8));
    Placement { zone, host, boot_id: hex::encode(boot), ip }
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
fn boot_from_spec(g: &mut Group, now: OffsetDateTime, pl: &Placement, lost: &BTreeMap<String, bool>, vault: &BTreeMap<String, String>) {
    let has_identity = g.identity.as_ref().and_then(|i| i.get("type")).and_then(Value::as_str).is_some_and(|t| t.contains("Assigned"));
    let volumes = g.properties.get("volumes").and_then(Value::as_array).cloned().unwrap_or_default();
    let specs = g.properties.get("containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let policy = g.restart_policy().to_string();
    let old = std::mem::take(&mut g.containers);
    for spec in &specs {
        let name = spec.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let image = spec.pointer("/properties/image").and_then(Value::as_str).unwrap_or_default().to_string();
        let (env, mut files) = runtime_from_spec(spec, &volumes, lost);
        // The keyvault channel: a container with a managed identity fetches its secret at start.
        // A fault whose hypothesis loses `keyvault` makes that fetch fail.
        if let Some(uri) = env.get(probe::KEYVAULT_URI_VAR)
            && has_identity
            && !lost.get("keyvault").copied().unwrap_or(false)
            && let Some(value) = vault_key(uri).and_then(|k| vault.get(&k))
        {
            files.insert(probe::KEYVAULT_FILE.to_string(), value.as_bytes().to_vec());
        }
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
        push_event(&mut c.events, now, "Created", "Created container", "Normal");
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
    if g.down {
        g.state = "Pending".into();
        return;
    }
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
    fn planned_faults_happen_at_their_own_time_when_the_clock_jumps() {
        let mut w = world();
        deployed(&mut w);
        let plan: FaultPlan = serde_json::from_value(json!({"fault": [
            {"kind": "rehost", "target": "each", "schedule": {"every": "1d"}}]}))
        .unwrap();
        w.add_plan(plan).unwrap();
        w.clock.advance(Duration::from_secs(3 * 86_400 + 3600));
        w.tick();
        let at: Vec<&str> = w.faults().iter().map(|f| f.at.as_str()).collect();
        assert_eq!(at, ["2026-01-02T00:00:05Z", "2026-01-03T00:00:05Z", "2026-01-04T00:00:05Z"]);
    }

    #[test]
    fn absurd_advances_and_spans_are_refused_not_panics() {
        let mut w = world();
        deployed(&mut w);
        assert!(
            serde_json::from_value::<FaultPlan>(json!({"fault": [{"kind": "rehost", "target": "each", "schedule": {"at": "100000000d"}}]}))
                .is_err()
        );
        for _ in 0..200 {
            w.clock.advance(Duration::from_secs(u32::MAX as u64));
        }
        assert!(w.now() <= crate::clock::HORIZON);
        let spec: FaultSpec = serde_json::from_value(json!({"kind": "rehost", "target": "nonsense"})).unwrap();
        assert!(w.fire(&spec).unwrap_err().message.contains("not a container group resource id"));
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

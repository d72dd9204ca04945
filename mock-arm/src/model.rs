//! The simulated world's data: container groups, their containers and placements, and how ARM
//! shows them.

use crate::clock::rfc3339;
use crate::probe::Profile;
use crate::redact::redact_properties;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Where a group runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    /// Availability zone (`"1"`..`"3"`).
    pub zone: String,
    /// Host id, e.g. `host-z2-0007`.
    pub host: String,
    /// Boot id of this deployment on that host.
    pub boot_id: String,
    /// The group's IP address.
    pub ip: String,
}

/// A container state as ARM's instance view shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerState {
    /// `Running`, `Waiting`, `Terminated`.
    pub state: String,
    /// When the state began.
    pub start_time: Option<OffsetDateTime>,
    /// When a terminated container finished.
    pub finish_time: Option<OffsetDateTime>,
    /// Exit code of a terminated container.
    pub exit_code: Option<i32>,
    /// Detail, e.g. `CrashLoopBackOff: Back-off restarting failed`.
    pub detail_status: String,
}

impl ContainerState {
    /// A running state since `t`.
    pub fn running(t: OffsetDateTime) -> Self {
        Self { state: "Running".into(), start_time: Some(t), finish_time: None, exit_code: None, detail_status: String::new() }
    }

    /// A terminated state.
    pub fn terminated(started: Option<OffsetDateTime>, t: OffsetDateTime, exit_code: i32, detail: &str) -> Self {
        Self {
            state: "Terminated".into(),
            start_time: started,
            finish_time: Some(t),
            exit_code: Some(exit_code),
            detail_status: detail.into(),
        }
    }

    fn view(&self) -> Value {
        let mut m = Map::new();
        m.insert("state".into(), json!(self.state));
        if let Some(t) = self.start_time {
            m.insert("startTime".into(), json!(rfc3339(t)));
        }
        if let Some(c) = self.exit_code {
            m.insert("exitCode".into(), json!(c));
        }
        if let Some(t) = self.finish_time {
            m.insert("finishTime".into(), json!(rfc3339(t)));
        }
        m.insert("detailStatus".into(), json!(self.detail_status));
        Value::Object(m)
    }
}

/// An instance-view event, merged by name and message as ACI does (`count` grows).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// `Pulling`, `Pulled`, `Started`, `Killing`, `BackOff`, …
    pub name: String,
    /// Human message.
    pub message: String,
    /// `Normal` or `Warning`.
    pub kind: String,
    /// How many times it happened.
    pub count: u32,
    /// First time.
    pub first: OffsetDateTime,
    /// Last time.
    pub last: OffsetDateTime,
}

/// Adds an event, merging it into an existing one with the same name and message.
pub fn push_event(events: &mut Vec<Event>, t: OffsetDateTime, name: &str, message: &str, kind: &str) {
    if let Some(e) = events.iter_mut().find(|e| e.name == name && e.message == message) {
        e.count += 1;
        e.last = t;
    } else {
        events.push(Event { name: name.into(), message: message.into(), kind: kind.into(), count: 1, first: t, last: t });
    }
}

fn events_view(events: &[Event]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|e| {
                json!({"count": e.count, "firstTimestamp": rfc3339(e.first), "lastTimestamp": rfc3339(e.last),
                       "name": e.name, "message": e.message, "type": e.kind})
            })
            .collect(),
    )
}

/// One line of container output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    /// When it was written.
    pub at: OffsetDateTime,
    /// The text.
    pub text: String,
}

/// A simulated container: the stored spec's view plus its runtime.
#[derive(Debug, Clone)]
pub struct Container {
    /// Container name.
    pub name: String,
    /// What it runs.
    pub profile: Profile,
    /// Its runtime environment: kept apart from the stored spec, so a fault can take from it.
    pub env: BTreeMap<String, String>,
    /// Its files (secret volumes), path → contents.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Restarts so far.
    pub restart_count: u32,
    /// Current state.
    pub current: ContainerState,
    /// Previous state.
    pub previous: Option<ContainerState>,
    /// Output of the current run (ACI's logs show only the current run).
    pub output: Vec<OutputLine>,
    /// When the current run started, if it runs.
    pub run_started: Option<OffsetDateTime>,
    /// When a crashed container is due to be restarted by its restart policy.
    pub next_restart: Option<OffsetDateTime>,
    /// Instance-view events.
    pub events: Vec<Event>,
}

/// An in-flight long-running operation on a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Operation id.
    pub op_id: String,
    /// What completes.
    pub kind: PendingKind,
    /// When it completes.
    pub due: OffsetDateTime,
}

/// Kinds of long-running operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKind {
    /// A new group is being deployed.
    Create,
    /// An existing group is being updated in place.
    Update,
    /// Containers are restarting in place.
    Restart,
    /// A stopped group is being deployed again.
    Start,
}

/// A container group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Subscription id as first sent.
    pub subscription: String,
    /// Resource group as first sent.
    pub resource_group: String,
    /// Group name.
    pub name: String,
    /// Normalised location (`eastus`).
    pub location: String,
    /// Tags.
    pub tags: Value,
    /// Zones asked for (empty: any).
    pub zones: Vec<String>,
    /// Managed identity, as sent.
    pub identity: Option<Value>,
    /// `properties` as sent, secrets included; never shown unredacted.
    pub properties: Value,
    /// `provisioningState`.
    pub provisioning_state: String,
    /// The operation in flight, if any.
    pub pending: Option<Pending>,
    /// Group `instanceView.state`.
    pub state: String,
    /// Where it runs (none while stopped or pending).
    pub placement: Option<Placement>,
    /// Its containers.
    pub containers: Vec<Container>,
    /// Group-level events.
    pub events: Vec<Event>,
    /// This group's own random stream (placements, chance in faults), so what happens to one
    /// group does not depend on the order requests for other groups arrive in.
    pub rng: rand_chacha::ChaCha8Rng,
    /// The group's host (or zone) is down: its containers wait to be rescheduled.
    pub down: bool,
}

impl Group {
    /// The ARM resource id.
    pub fn id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerInstance/containerGroups/{}",
            self.subscription, self.resource_group, self.name
        )
    }

    /// The restart policy (`Always` when unset, as ACI defaults).
    pub fn restart_policy(&self) -> &str {
        self.properties.get("restartPolicy").and_then(Value::as_str).unwrap_or("Always")
    }

    /// The group as ARM returns it; `instance_view` is false for list items.
    pub fn view(&self, instance_view: bool) -> Value {
        let mut props = redact_properties(&self.properties);
        let p = props.as_object_mut().expect("stored properties are an object");
        p.insert("provisioningState".into(), json!(self.provisioning_state));
        p.entry("sku").or_insert(json!("Standard"));
        p.entry("restartPolicy").or_insert(json!("Always"));
        p.entry("initContainers").or_insert(json!([]));
        if let (Some(ip), Some(pl)) = (p.get_mut("ipAddress").and_then(Value::as_object_mut), &self.placement) {
            ip.insert("ip".into(), json!(pl.ip));
        }
        if instance_view {
            if let Some(Value::Array(cs)) = p.get_mut("containers") {
                for c in cs.iter_mut() {
                    let name = c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                    if let (Some(rt), Some(cp)) = (self.containers.iter().find(|k| k.name == name), c.get_mut("properties"))
                        && let Some(cp) = cp.as_object_mut()
                    {
                        {
                            let mut iv = Map::new();
                            iv.insert("restartCount".into(), json!(rt.restart_count));
                            iv.insert("currentState".into(), rt.current.view());
                            if let Some(prev) = &rt.previous {
                                iv.insert("previousState".into(), prev.view());
                            }
                            iv.insert("events".into(), events_view(&rt.events));
                            cp.insert("instanceView".into(), Value::Object(iv));
                        }
                    }
                }
            }
            p.insert("instanceView".into(), json!({"events": events_view(&self.events), "state": self.state}));
        }
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id()));
        out.insert("location".into(), json!(self.location));
        out.insert("name".into(), json!(self.name));
        out.insert("properties".into(), props);
        if !self.tags.is_null() {
            out.insert("tags".into(), self.tags.clone());
        }
        out.insert("type".into(), json!("Microsoft.ContainerInstance/containerGroups"));
        if !self.zones.is_empty() {
            out.insert("zones".into(), json!(self.zones));
        }
        if let Some(identity) = &self.identity {
            out.insert("identity".into(), identity.clone());
        }
        Value::Object(out)
    }
}

/// A resource group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGroup {
    /// Subscription id.
    pub subscription: String,
    /// Name as first sent.
    pub name: String,
    /// Location.
    pub location: String,
    /// Tags.
    pub tags: Value,
}

impl ResourceGroup {
    /// The resource group as ARM returns it.
    pub fn view(&self) -> Value {
        let mut v = json!({
            "id": format!("/subscriptions/{}/resourceGroups/{}", self.subscription, self.name),
            "name": self.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": self.location,
            "properties": {"provisioningState": "Succeeded"}
        });
        if !self.tags.is_null() {
            v["tags"] = self.tags.clone();
        }
        v
    }
}

/// Normalises a location the way ARM shows it (`West US` → `westus`).
pub fn normalize_location(l: &str) -> String {
    l.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase()
}

//! The plan of a run, for `--dry-run` and the budgets: every ARM request the run would send
//! (secrets masked), the groups and their zones, and what it would cost. Built from the suites
//! alone: no credential, no request.

use crate::channel::Channel;
use crate::runner::group_name;
use crate::secret::Secret;
use crate::suite::{Step, Suite, UpdateVariant};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Where the run would deploy.
#[derive(Debug, Clone)]
pub struct PlanTarget {
    /// Run id (group names and tags carry it).
    pub run_id: String,
    /// Subscription id.
    pub subscription: String,
    /// Resource group.
    pub resource_group: String,
    /// Location.
    pub location: String,
    /// Iterations at once.
    pub parallel: usize,
}

/// ACI prices per second (Linux, pay-as-you-go).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    /// Price of one vCPU for one second.
    pub vcpu_second: f64,
    /// Price of one GB of memory for one second.
    pub gb_second: f64,
}

/// Default price of a vCPU-second: USD 0.0000113 (ACI Linux, East US, pay-as-you-go, 2025:
/// USD 0.0405 per vCPU-hour).
pub const DEFAULT_PRICE_VCPU_SECOND: f64 = 0.0000113;
/// Default price of a GB-second: USD 0.0000013 (ACI Linux, East US: USD 0.00445 per GB-hour).
pub const DEFAULT_PRICE_GB_SECOND: f64 = 0.0000013;

impl Default for Prices {
    fn default() -> Self {
        Self { vcpu_second: DEFAULT_PRICE_VCPU_SECOND, gb_second: DEFAULT_PRICE_GB_SECOND }
    }
}

/// Seconds a deployment is assumed to keep a group billed before the first check.
pub const DEPLOY_SECONDS: u64 = 60;
/// Seconds each step (its call, settling and the check) is assumed to take.
pub const STEP_SECONDS: u64 = 45;

/// Stands for the probe script in planned bodies (the script is printed once, before them).
pub const PROBE_PLACEHOLDER: &str = "$PROBE_SCRIPT";

/// One request the run would send.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRequest {
    /// HTTP method.
    pub method: &'static str,
    /// Path and query.
    pub path: String,
    /// Body, secrets masked as `***`.
    pub body: Option<Value>,
    /// How many times (e.g. one check per step).
    pub times: usize,
}

/// One container group the run would create.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedGroup {
    /// Group name.
    pub name: String,
    /// Zones it is pinned to (empty: any).
    pub zones: Vec<String>,
    /// vCPUs.
    pub cpu: f64,
    /// Memory (GB).
    pub memory_gb: f64,
    /// Estimated billed time.
    pub seconds: u64,
}

/// The plan of a run.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Requests, in order.
    pub requests: Vec<PlannedRequest>,
    /// Groups created.
    pub groups: Vec<PlannedGroup>,
    /// Estimated wall time.
    pub duration: Duration,
    /// vCPU-seconds billed.
    pub vcpu_seconds: f64,
    /// GB-seconds billed.
    pub gb_seconds: f64,
    /// Estimated cost at `prices`.
    pub cost: f64,
    /// The prices the cost uses.
    pub prices: Prices,
}

/// Replaces every secret in a group body by `***`: secure values, the plain-env channel's value
/// and secret volume contents.
pub fn mask_body(body: &mut Value) {
    if let Some(containers) = body.pointer_mut("/properties/containers").and_then(Value::as_array_mut) {
        for c in containers {
            if let Some(env) = c.pointer_mut("/properties/environmentVariables").and_then(Value::as_array_mut) {
                for e in env {
                    if e.get("secureValue").is_some() {
                        e["secureValue"] = json!("***");
                    }
                    if e.get("name").and_then(Value::as_str) == Some("ACI_CHAOS_PLAIN_ENV") {
                        e["value"] = json!("***");
                    }
                }
            }
        }
    }
    if let Some(volumes) = body.pointer_mut("/properties/volumes").and_then(Value::as_array_mut) {
        for v in volumes {
            if let Some(Value::Object(files)) = v.get_mut("secret") {
                for f in files.values_mut() {
                    *f = json!("***");
                }
            }
        }
    }
}

fn step_seconds(step: &Step) -> u64 {
    match step {
        Step::Wait { duration } => duration.0.as_secs(),
        Step::Soak { duration, .. } => duration.0.as_secs(),
        Step::Recreate {} | Step::ZoneChange { .. } | Step::Deploy {} => STEP_SECONDS + DEPLOY_SECONDS,
        _ => STEP_SECONDS,
    }
}

/// Builds the plan of `suites` on `target`.
pub fn plan(suites: &[Suite], target: &PlanTarget, prices: Prices, api_version: &str) -> Plan {
    let mut p = Plan { prices, ..Plan::default() };
    let rg_path = format!("/subscriptions/{}/resourceGroups/{}?api-version=2021-04-01", target.subscription, target.resource_group);
    p.requests.push(PlannedRequest { method: "GET", path: rg_path.clone(), body: None, times: 1 });
    p.requests.push(PlannedRequest {
        method: "PUT",
        path: format!("{rg_path} (only if missing)"),
        body: Some(json!({"location": target.location, "tags": crate::template::tags(&target.run_id, "-")})),
        times: 1,
    });
    let mut iteration_seconds: Vec<u64> = Vec::new();
    for sc in suites.iter().flat_map(|s| &s.scenarios) {
        let steps_seconds: u64 = DEPLOY_SECONDS + sc.steps.iter().map(step_seconds).sum::<u64>();
        for n in 1..=sc.iterations {
            iteration_seconds.push(steps_seconds);
            for (i, t) in sc.groups.iter().enumerate() {
                let name = group_name(&target.run_id, &sc.name, n, i, sc.groups.len());
                let id = format!(
                    "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerInstance/containerGroups/{name}",
                    target.subscription, target.resource_group
                );
                let q = format!("?api-version={api_version}");
                let secrets: BTreeMap<Channel, Secret> = t.channels.iter().map(|c| (*c, Secret::new("***"))).collect();
                let mut body = t.body(&target.location, &target.run_id, &sc.name, &name, &secrets);
                mask_body(&mut body);
                if let Some(cmd) = body.pointer_mut("/properties/containers/0/properties/command/2")
                    && cmd.as_str() == Some(crate::template::PROBE_SCRIPT)
                {
                    *cmd = json!(PROBE_PLACEHOLDER);
                }
                let container = t.profile.container_name();
                let checks = 1 + sc.steps.iter().filter(|s| !matches!(s, Step::Delete {})).count();
                p.requests.push(PlannedRequest { method: "PUT", path: format!("{id}{q}"), body: Some(body.clone()), times: 1 });
                for step in &sc.steps {
                    let (method, suffix, body): (&'static str, String, Option<Value>) = match step {
                        Step::Restart {} | Step::Stop {} | Step::Start {} => ("POST", format!("/{}", step.name()), None),
                        Step::Update { variant: UpdateVariant::PatchTags, .. } => {
                            ("PATCH", String::new(), Some(json!({"tags": crate::template::tags(&target.run_id, &sc.name)})))
                        }
                        Step::Update { variant: UpdateVariant::Image, image } => {
                            let mut b = body.clone();
                            b["properties"]["containers"][0]["properties"]["image"] =
                                json!(image.clone().unwrap_or_else(|| crate::template::ALTERNATE_IMAGE.to_string()));
                            ("PUT", String::new(), Some(b))
                        }
                        Step::Update { variant: UpdateVariant::Omit, .. } => {
                            let mut b = body.clone();
                            if let Some(env) =
                                b.pointer_mut("/properties/containers/0/properties/environmentVariables").and_then(Value::as_array_mut)
                            {
                                env.retain(|e| e.get("name").and_then(Value::as_str) != Some(t.profile.secure_var()));
                            }
                            ("PUT", String::new(), Some(b))
                        }
                        Step::Update { variant: UpdateVariant::Roundtrip, .. } => {
                            ("PUT", " (the GET body sent back: no secure values)".into(), None)
                        }
                        Step::Update { .. } | Step::Deploy {} => ("PUT", String::new(), Some(body.clone())),
                        Step::Recreate {} | Step::ZoneChange { .. } => {
                            p.requests.push(PlannedRequest { method: "DELETE", path: format!("{id}{q}"), body: None, times: 1 });
                            ("PUT", String::new(), Some(body.clone()))
                        }
                        Step::Delete {} => ("DELETE", String::new(), None),
                        _ => continue,
                    };
                    let path = match suffix.strip_prefix(' ') {
                        Some(note) => format!("{id}{q} {note}"),
                        None => format!("{id}{suffix}{q}"),
                    };
                    p.requests.push(PlannedRequest { method, path, body, times: 1 });
                }
                p.requests.push(PlannedRequest { method: "GET", path: format!("{id}{q} (each check)"), body: None, times: checks });
                p.requests.push(PlannedRequest {
                    method: "GET",
                    path: format!("{id}/containers/{container}/logs{q}&tail=10 (each check)"),
                    body: None,
                    times: checks,
                });
                p.requests.push(PlannedRequest { method: "DELETE", path: format!("{id}{q} (cleanup)"), body: None, times: 1 });
                p.vcpu_seconds += t.cpu * steps_seconds as f64;
                p.gb_seconds += t.memory_gb * steps_seconds as f64;
                p.groups.push(PlannedGroup { name, zones: t.zones.clone(), cpu: t.cpu, memory_gb: t.memory_gb, seconds: steps_seconds });
            }
        }
    }
    p.requests.push(PlannedRequest { method: "DELETE", path: format!("{rg_path} (only if this run created it)"), body: None, times: 1 });
    // Iterations run `parallel` at a time: the longest lane sets the duration.
    let mut lanes = vec![0u64; target.parallel.max(1)];
    for s in iteration_seconds {
        if let Some(l) = lanes.iter_mut().min() {
            *l += s;
        }
    }
    p.duration = Duration::from_secs(lanes.into_iter().max().unwrap_or(0));
    p.cost = p.vcpu_seconds * prices.vcpu_second + p.gb_seconds * prices.gb_second;
    p
}

impl Plan {
    /// How many requests in all.
    pub fn request_count(&self) -> usize {
        self.requests.iter().map(|r| r.times).sum()
    }

    /// The plan as text: requests with their bodies, groups, and the estimate.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if self.requests.iter().any(|r| r.body.as_ref().is_some_and(|b| b.to_string().contains(PROBE_PLACEHOLDER))) {
            let _ = writeln!(s, "{PROBE_PLACEHOLDER}, the container's command (/bin/sh -c), in the bodies below:");
            for line in crate::template::PROBE_SCRIPT.lines() {
                let _ = writeln!(s, "  | {line}");
            }
            s.push('\n');
        }
        s.push_str("ARM requests this run would send (secrets masked as ***):\n");
        for r in &self.requests {
            let times = if r.times > 1 { format!(" ×{}", r.times) } else { String::new() };
            let _ = writeln!(s, "  {} {}{times}", r.method, r.path);
            if let Some(b) = &r.body {
                let _ = writeln!(s, "      {b}");
            }
        }
        let _ = writeln!(s, "\ncontainer groups ({}):", self.groups.len());
        for g in &self.groups {
            let zones = if g.zones.is_empty() { "any".to_string() } else { g.zones.join(",") };
            let _ = writeln!(s, "  {}  zones {zones}  {} vCPU  {} GB  ~{}s", g.name, g.cpu, g.memory_gb, g.seconds);
        }
        let _ = writeln!(
            s,
            "\nestimate: {} requests, ~{} wall time, {:.0} vCPU-seconds × {} + {:.0} GB-seconds × {} = {:.4} (currency of the prices)",
            self.request_count(),
            humantime::format_duration(self.duration),
            self.vcpu_seconds,
            self.prices.vcpu_second,
            self.gb_seconds,
            self.prices.gb_second,
            self.cost
        );
        s
    }
}

/// Limits a run must fit in before it starts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    /// Most container groups created.
    pub max_groups: Option<usize>,
    /// Longest estimated wall time (also enforced while running: no new step starts after it).
    pub max_duration: Option<Duration>,
    /// Highest estimated cost.
    pub max_cost: Option<f64>,
}

/// A plan over budget.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BudgetError {
    /// Too many groups.
    #[error("the run would create {planned} container groups, over --max-groups {max} (hint: fewer iterations, or raise the limit)")]
    Groups {
        /// Planned.
        planned: usize,
        /// Allowed.
        max: usize,
    },
    /// Too long.
    #[error("the run would take about {planned}, over --max-duration {max} (hint: shorter waits, more --parallel, or raise the limit)")]
    Duration {
        /// Planned (human-readable).
        planned: String,
        /// Allowed.
        max: String,
    },
    /// Too expensive.
    #[error("the run would cost about {planned:.4}, over --max-cost {max} (hint: see --dry-run for the estimate)")]
    Cost {
        /// Planned.
        planned: f64,
        /// Allowed.
        max: f64,
    },
}

impl Budget {
    /// Refuses a plan over any limit.
    pub fn check(&self, plan: &Plan) -> Result<(), BudgetError> {
        if let Some(max) = self.max_groups
            && plan.groups.len() > max
        {
            return Err(BudgetError::Groups { planned: plan.groups.len(), max });
        }
        if let Some(max) = self.max_duration
            && plan.duration > max
        {
            return Err(BudgetError::Duration {
                planned: humantime::format_duration(plan.duration).to_string(),
                max: humantime::format_duration(max).to_string(),
            });
        }
        if let Some(max) = self.max_cost
            && plan.cost > max
        {
            return Err(BudgetError::Cost { planned: plan.cost, max });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn suite() -> Suite {
        let text = r#"
[suite]
name = "t"
[[scenario]]
name = "restart"
iterations = 2
group = { profile = "probe", channels = ["secure-env", "plain-env", "secret-volume"] }
steps = [{ kind = "restart" }, { kind = "wait", duration = "10m" }]
"#;
        Suite::parse(Path::new("t.toml"), text).unwrap()
    }

    fn target() -> PlanTarget {
        PlanTarget { run_id: "r1".into(), subscription: "sub".into(), resource_group: "rg".into(), location: "eastus".into(), parallel: 1 }
    }

    #[test]
    fn the_plan_lists_every_request_with_secrets_masked_and_costs_it() {
        let p = plan(&[suite()], &target(), Prices::default(), "2023-05-01");
        assert_eq!(p.groups.len(), 2);
        let text = p.to_text();
        assert!(
            text.contains(
                "PUT /subscriptions/sub/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/acc-r1-restart-1"
            )
        );
        assert!(text.contains("/restart?api-version=2023-05-01"), "{text}");
        assert_eq!(text.matches("aci-chaos-probe v=1").count(), 1, "the probe script is printed once: {text}");
        let puts: Vec<&PlannedRequest> = p.requests.iter().filter(|r| r.method == "PUT" && r.path.contains("containerGroups")).collect();
        for r in puts {
            let b = r.body.as_ref().unwrap().to_string();
            assert!(b.contains("\"secureValue\":\"***\""), "{b}");
            assert!(!b.contains(&base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "***")));
        }
        let per_iteration = DEPLOY_SECONDS + STEP_SECONDS + 600;
        assert_eq!(p.duration, Duration::from_secs(2 * per_iteration));
        assert!((p.vcpu_seconds - 2.0 * per_iteration as f64).abs() < 1e-9);
        assert!(p.cost > 0.0);
    }

    #[test]
    fn budgets_refuse_what_does_not_fit() {
        let p = plan(&[suite()], &target(), Prices::default(), "2023-05-01");
        assert!(Budget::default().check(&p).is_ok());
        assert!(matches!(Budget { max_groups: Some(1), ..Default::default() }.check(&p), Err(BudgetError::Groups { planned: 2, max: 1 })));
        assert!(Budget { max_duration: Some(Duration::from_secs(60)), ..Default::default() }.check(&p).is_err());
        assert!(Budget { max_cost: Some(0.0), ..Default::default() }.check(&p).is_err());
        assert!(Budget { max_cost: Some(100.0), max_groups: Some(2), max_duration: Some(Duration::from_secs(86400)) }.check(&p).is_ok());
    }
}

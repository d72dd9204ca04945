//! Model-based property test: random sequences of create / restart / stop / start / update /
//! delete / faults / time against the mock's world, with the invariants checked after every
//! operation:
//!
//! - no view ARM returns (get, list, snapshot, activity log) ever carries a secret value;
//! - without a loss hypothesis, every running container sees exactly the secrets of its stored
//!   spec, and its probe line reports their fingerprints;
//! - `restartCount` never decreases while a group lives;
//! - a zonal group never leaves its zone;
//! - list items never carry `instanceView`.

use mock_arm::ClockMode;
use mock_arm::activity::Write;
use mock_arm::faults::{FaultKind, FaultSpec, Span};
use mock_arm::probe::fingerprint;
use mock_arm::world::{Timings, World, WorldConfig};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Create { g: u8, zonal: bool, agent: bool },
    Update { g: u8, omit: bool },
    Restart(u8),
    Stop(u8),
    Start(u8),
    Delete(u8),
    Rehost(u8),
    MaintenanceRestart(u8),
    HostFailure { g: u8, recover: u16 },
    ZoneOutage { zone: u8, secs: u32 },
    Wave { window: u32 },
    Advance(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let g = 0u8..4;
    prop_oneof![
        (g.clone(), any::<bool>(), any::<bool>()).prop_map(|(g, zonal, agent)| Op::Create { g, zonal, agent }),
        (g.clone(), any::<bool>()).prop_map(|(g, omit)| Op::Update { g, omit }),
        g.clone().prop_map(Op::Restart),
        g.clone().prop_map(Op::Stop),
        g.clone().prop_map(Op::Start),
        g.clone().prop_map(Op::Delete),
        g.clone().prop_map(Op::Rehost),
        g.clone().prop_map(Op::MaintenanceRestart),
        (g, 1u16..900).prop_map(|(g, recover)| Op::HostFailure { g, recover }),
        (1u8..4, 60u32..20_000).prop_map(|(zone, secs)| Op::ZoneOutage { zone, secs }),
        (1u32..7200).prop_map(|window| Op::Wave { window }),
        prop_oneof![1u32..30, 30u32..3600, 3600u32..(40 * 86_400)].prop_map(Op::Advance),
    ]
}

const SUB: &str = "sub";
const RG: &str = "rg";

fn name(g: u8) -> String {
    format!("g{g}")
}

fn id(g: u8) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerInstance/containerGroups/{}", name(g))
}

struct Model {
    world: World,
    secrets: Vec<String>,
    generation: u32,
    restart_counts: BTreeMap<String, u32>,
}

impl Model {
    fn new(seed: u64) -> Self {
        let mut world = World::new(WorldConfig {
            seed,
            clock: ClockMode::Virtual,
            subscription: SUB.into(),
            tenant: "t".into(),
            timings: Timings::default(),
        });
        world.put_resource_group(SUB, RG, &json!({"location": "eastus"})).unwrap();
        Self { world, secrets: Vec::new(), generation: 0, restart_counts: BTreeMap::new() }
    }

    fn body(&mut self, zonal: bool, agent: bool, omit: bool) -> Value {
        self.generation += 1;
        let secure = format!("SECURE-{}", self.generation);
        let plain = format!("PLAIN-{}", self.generation);
        self.secrets.push(secure.clone());
        let secure_var = if agent { "AZP_TOKEN" } else { "ACI_CHAOS_SECURE_ENV" };
        let mut env = vec![
            json!({"name": "ACI_CHAOS_PROFILE", "value": if agent { "azp-agent" } else { "probe" }}),
            json!({"name": "ACI_CHAOS_CHANNELS", "value": "secure-env,plain-env"}),
            json!({"name": "ACI_CHAOS_PLAIN_ENV", "value": plain}),
        ];
        if !omit {
            env.push(json!({"name": secure_var, "secureValue": secure}));
        }
        let mut b = json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [{"name": "c", "properties": {
            "image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 0.5}}, "environmentVariables": env}}]}});
        if zonal {
            b["zones"] = json!(["2"]);
        }
        b
    }

    fn apply(&mut self, op: &Op) {
        let w = &mut self.world;
        // Refusals (409 while busy, 404 for a missing group, updates that need recreate) are
        // part of the model: they must simply leave the invariants intact.
        let write = match op {
            Op::Create { .. } | Op::Update { .. } => Some(Write::Write),
            Op::Restart(_) => Some(Write::Restart),
            Op::Stop(_) => Some(Write::Stop),
            Op::Start(_) => Some(Write::Start),
            Op::Delete(_) => Some(Write::Delete),
            _ => None,
        };
        let result = match op.clone() {
            Op::Create { g, zonal, agent } => {
                let _ = w.delete_group(SUB, RG, &name(g));
                self.restart_counts.retain(|k, _| !k.starts_with(&format!("{}/", name(g))));
                let b = self.body(zonal, agent, false);
                self.world.put_group(SUB, RG, &name(g), b).map(|_| ())
            }
            Op::Update { g, omit } => {
                let (zonal, agent) = match w.group(SUB, RG, &name(g)) {
                    Ok(gr) => (!gr.zones.is_empty(), gr.containers.first().is_some_and(|c| c.env.contains_key("AZP_TOKEN"))),
                    Err(_) => return,
                };
                let b = self.body(zonal, agent, omit);
                self.world.put_group(SUB, RG, &name(g), b).map(|_| ())
            }
            Op::Restart(g) => w.restart_group(SUB, RG, &name(g)).map(|_| ()),
            Op::Stop(g) => w.stop_group(SUB, RG, &name(g)),
            Op::Start(g) => w.start_group(SUB, RG, &name(g)).map(|_| ()),
            Op::Delete(g) => {
                self.restart_counts.retain(|k, _| !k.starts_with(&format!("{}/", name(g))));
                w.delete_group(SUB, RG, &name(g)).map(|_| ())
            }
            Op::Rehost(g) => w.fire(&spec(FaultKind::Rehost, &id(g))).map(|_| ()),
            Op::MaintenanceRestart(g) => w.fire(&spec(FaultKind::MaintenanceRestart, &id(g))).map(|_| ()),
            Op::HostFailure { g, recover } => {
                let mut s = spec(FaultKind::HostFailure, &id(g));
                s.recover_after = Some(Span(Duration::from_secs(recover as u64)));
                w.fire(&s).map(|_| ())
            }
            Op::ZoneOutage { zone, secs } => {
                let mut s = spec(FaultKind::ZoneOutage, "");
                s.zone = Some(zone.to_string());
                s.duration = Some(Span(Duration::from_secs(secs as u64)));
                w.fire(&s).map(|_| ())
            }
            Op::Wave { window } => {
                let mut s = spec(FaultKind::MaintenanceWave, "");
                s.window = Some(Span(Duration::from_secs(window as u64)));
                w.fire(&s).map(|_| ())
            }
            Op::Advance(secs) => {
                w.clock.advance(Duration::from_secs(secs as u64));
                Ok(())
            }
        };
        // What the API layer records of a write (it sees the same answer).
        let g = match op {
            Op::Create { g, .. } | Op::Update { g, .. } | Op::Restart(g) | Op::Stop(g) | Op::Start(g) | Op::Delete(g) => *g,
            _ => 0,
        };
        if let Some(write) = write {
            match &result {
                Ok(()) => self.world.record_write(&id(g), write, "model", 200, None),
                Err(e) => self.world.record_write(&id(g), write, "model", e.status.as_u16(), Some(&e.code)),
            }
        }
        self.world.tick();
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        let groups: Vec<String> = self.world.list_groups(SUB, Some(RG)).unwrap().iter().map(|g| g.name.clone()).collect();
        let mut wire = serde_json::to_string(&self.world.snapshot()).unwrap();
        wire.push_str(&serde_json::to_string(&self.world.activity().all()).unwrap());
        for g in self.world.list_groups(SUB, Some(RG)).unwrap() {
            let listed = g.view(false);
            prop_assert!(listed["properties"].get("instanceView").is_none(), "list item with instanceView");
            wire.push_str(&serde_json::to_string(&g.view(true)).unwrap());
        }
        for s in &self.secrets {
            prop_assert!(!wire.contains(s.as_str()), "secret {s} in a view");
        }
        for n in groups {
            let g = self.world.group(SUB, RG, &n).unwrap();
            if let (Some(pl), Some(z)) = (&g.placement, g.zones.first()) {
                prop_assert_eq!(&pl.zone, z, "zonal group {} left its zone", n);
            }
            for c in &g.containers {
                let last = self.restart_counts.entry(format!("{n}/{}", c.name)).or_insert(0);
                prop_assert!(c.restart_count >= *last, "restartCount of {} went down: {} → {}", n, last, c.restart_count);
                *last = c.restart_count;
            }
            if g.placement.is_none() || g.down || g.pending.is_some() {
                continue;
            }
            // Without a loss hypothesis, the runtime holds exactly the stored spec's values.
            let spec_env: BTreeMap<String, String> = g.properties["containers"][0]["properties"]["environmentVariables"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let v = e.get("value").or_else(|| e.get("secureValue")).and_then(Value::as_str).unwrap_or_default();
                    (e["name"].as_str().unwrap().to_string(), v.to_string())
                })
                .collect();
            let c = &g.containers[0];
            prop_assert_eq!(&c.env, &spec_env, "runtime env of {} differs from its spec", n);
            if c.current.state == "Running" {
                let logs = self.world.logs(SUB, RG, &n, "c", Some(3), false).unwrap();
                let secure = spec_env.get("ACI_CHAOS_SECURE_ENV").or_else(|| spec_env.get("AZP_TOKEN"));
                let want = secure.map(|s| fingerprint(s.as_bytes())).unwrap_or_else(|| "MISSING".into());
                prop_assert!(logs.contains(&format!("secure-env={want}")), "{} logs {} lack {}", n, logs, want);
            }
        }
        Ok(())
    }
}

fn spec(kind: FaultKind, target: &str) -> FaultSpec {
    FaultSpec {
        kind,
        target: target.into(),
        zone: None,
        hypothesis: Default::default(),
        window: None,
        duration: None,
        recover_after: None,
        schedule: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn invariants_hold_for_any_sequence(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..60)) {
        let mut m = Model::new(seed);
        for op in &ops {
            m.apply(op);
            m.check()?;
        }
    }
}

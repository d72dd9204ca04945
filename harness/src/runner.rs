//! The runner: for each scenario iteration, deploy a test agent group, check it, run each step
//! and check again, then delete the group whatever happened. It never formats output: it
//! records history and tells a [`Progress`] what it did.

use crate::arm::ArmClient;
use crate::arm::group::GroupRef;
use crate::channel::Channel;
use crate::check::{Observation, arm_ip, arm_view, judge, settled};
use crate::error::HarnessError;
use crate::mock_admin::MockAdmin;
use crate::probe::LogReading;
use crate::recorder::Recorder;
use crate::secret::{Secret, SecretSource};
use crate::suite::{Fate, Scenario, Step, Suite};
use aci_chaos_reports::{ArmView, CheckRow, FaultEvent, Phase, PlacementView, Record, StepEvent, Verdict};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Run id (in group names and tags).
    pub run_id: String,
    /// Subscription.
    pub subscription: String,
    /// Resource group the groups go into.
    pub resource_group: String,
    /// Location.
    pub location: String,
    /// Where secrets come from.
    pub secrets: SecretSource,
    /// Scenario iterations run at once.
    pub parallel: usize,
    /// How long a group may take to settle after a step (target time).
    pub settle_timeout: Duration,
    /// Log lines read per check.
    pub log_tail: usize,
}

/// What the runner tells its caller as it goes (the CLI draws progress from it).
pub trait Progress: Send + Sync {
    /// Total steps planned (deploys included).
    fn planned(&self, steps: u64);
    /// A step finished with these verdicts.
    fn step_done(&self, scenario: &str, iteration: u32, step: &str, verdicts: &[(Channel, Verdict)]);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn planned(&self, _: u64) {}
    fn step_done(&self, _: &str, _: u32, _: &str, _: &[(Channel, Verdict)]) {}
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    /// Groups created and not deleted (should be empty).
    pub left_behind: Vec<String>,
    /// Whether the run's resource group was created (and deleted) by it.
    pub created_resource_group: bool,
    /// First error that stopped an iteration, if any.
    pub error: Option<String>,
    /// Whether the run was interrupted.
    pub interrupted: bool,
}

/// The engine.
pub struct Runner<'a> {
    cfg: RunConfig,
    client: ArmClient,
    mock: Option<MockAdmin>,
    recorder: Recorder,
    progress: &'a dyn Progress,
    cancel: &'a AtomicBool,
    live: Mutex<Vec<GroupRef>>,
}

/// The name of a scenario iteration's group: `acc-<run>-<scenario>-<n>`.
pub fn group_name(run_id: &str, scenario: &str, iteration: u32) -> String {
    format!("acc-{run_id}-{scenario}-{iteration}")
}

/// One scenario iteration: what every history line of it names.
#[derive(Clone, Copy)]
struct Ctx<'s> {
    sc: &'s Scenario,
    n: u32,
    g: &'s GroupRef,
}

/// A step's place in its iteration.
struct At<'s> {
    index: u32,
    step: &'s str,
    hypothesis: BTreeMap<Channel, String>,
}

struct Before {
    arm: ArmView,
    placement: PlacementView,
}

impl<'a> Runner<'a> {
    /// A runner. `mock` is the admin plane when the target is the aci-chaos mock.
    pub fn new(
        cfg: RunConfig,
        client: ArmClient,
        mock: Option<MockAdmin>,
        recorder: Recorder,
        progress: &'a dyn Progress,
        cancel: &'a AtomicBool,
    ) -> Self {
        Self { cfg, client, mock, recorder, progress, cancel, live: Mutex::new(Vec::new()) }
    }

    /// Refuses, before anything is deployed, suites that need the mock on a target that is not.
    pub fn preflight(&self, suites: &[Suite]) -> Result<(), HarnessError> {
        if self.mock.is_none() {
            for s in suites.iter().flat_map(|s| &s.scenarios) {
                if let Some(step) = s.steps.iter().find(|st| st.mock_only()) {
                    return Err(HarnessError::NeedsMock { scenario: s.name.clone(), step: step.name().into() });
                }
            }
        }
        Ok(())
    }

    /// Runs every scenario of every suite.
    pub async fn run(&self, suites: &[Suite]) -> Result<RunResult, HarnessError> {
        self.preflight(suites)?;
        let work: Vec<(&Scenario, u32)> =
            suites.iter().flat_map(|s| &s.scenarios).flat_map(|sc| (1..=sc.iterations).map(move |n| (sc, n))).collect();
        self.progress.planned(work.iter().map(|(s, _)| 1 + s.steps.len() as u64).sum());
        let tags = crate::template::tags(&self.cfg.run_id, "-");
        let created_rg =
            self.client.ensure_resource_group(&self.cfg.subscription, &self.cfg.resource_group, &self.cfg.location, &tags).await?;
        let errors: Vec<String> = futures::stream::iter(work)
            .map(|(sc, n)| async move { self.iteration_with_cleanup(sc, n).await.err().map(|e| e.to_string()) })
            .buffer_unordered(self.cfg.parallel.max(1))
            .filter_map(|e| async move { e })
            .collect()
            .await;
        if created_rg && let Err(e) = self.client.delete_resource_group(&self.cfg.subscription, &self.cfg.resource_group).await {
            tracing::warn!("could not delete resource group {}: {e}", self.cfg.resource_group);
        }
        let left_behind = self.live.lock().unwrap_or_else(|p| p.into_inner()).iter().map(GroupRef::id).collect();
        Ok(RunResult {
            left_behind,
            created_resource_group: created_rg,
            error: errors.into_iter().next(),
            interrupted: self.cancel.load(Ordering::SeqCst),
        })
    }

    async fn iteration_with_cleanup(&self, sc: &Scenario, n: u32) -> Result<(), HarnessError> {
        if self.cancel.load(Ordering::SeqCst) {
            return Ok(());
        }
        let g = GroupRef {
            subscription: self.cfg.subscription.clone(),
            resource_group: self.cfg.resource_group.clone(),
            name: group_name(&self.cfg.run_id, &sc.name, n),
        };
        let cx = Ctx { sc, n, g: &g };
        let result = self.iteration(cx).await;
        if let Err(e) = &result {
            self.step_event(Phase::Fail, cx, 0, "iteration", e.to_string())?;
        }
        match self.client.delete_group(&g).await {
            Ok(()) => self.live.lock().unwrap_or_else(|p| p.into_inner()).retain(|x| *x != g),
            Err(e) => tracing::warn!("could not delete {}: {e}", g.name),
        }
        result
    }

    fn step_event(&self, phase: Phase, cx: Ctx<'_>, index: u32, step: &str, detail: String) -> Result<(), HarnessError> {
        self.recorder.record(
            phase,
            Record::Step(StepEvent {
                scenario: cx.sc.name.clone(),
                iteration: cx.n,
                group: cx.g.name.clone(),
                index,
                step: step.into(),
                detail,
            }),
        )
    }

    async fn iteration(&self, cx: Ctx<'_>) -> Result<(), HarnessError> {
        let Ctx { sc, n, g } = cx;
        let secrets: BTreeMap<Channel, Secret> = sc.group.channels.iter().map(|c| (*c, self.cfg.secrets.secret(&g.name, *c))).collect();
        let expected: BTreeMap<Channel, String> = secrets.iter().map(|(c, s)| (*c, s.fingerprint())).collect();
        let body = sc.group.body(&self.cfg.location, &self.cfg.run_id, &sc.name, &g.name, &secrets);
        drop(secrets);

        self.step_event(Phase::Invoke, cx, 0, "deploy", format!("PUT {} ({} channels)", g.name, expected.len()))?;
        self.live.lock().unwrap_or_else(|p| p.into_inner()).push(g.clone());
        let deployed = self.client.put_group(g, &body).await;
        drop(body);
        let before = Before { arm: ArmView::default(), placement: PlacementView::default() };
        match deployed {
            Ok(_) => self.step_event(Phase::Ok, cx, 0, "deploy", "deployed".into())?,
            Err(e) => {
                self.step_event(Phase::Fail, cx, 0, "deploy", e.to_string())?;
                self.record_unobserved(
                    cx,
                    &At { index: 0, step: "deploy", hypothesis: BTreeMap::new() },
                    &before,
                    &expected,
                    &format!("deploy failed: {e}"),
                )?;
                return Err(e);
            }
        }
        let mut last = self.observe(sc, g).await;
        self.record_checks(cx, &At { index: 0, step: "deploy", hypothesis: BTreeMap::new() }, &before, &last, &expected)?;

        for (i, step) in sc.steps.iter().enumerate() {
            if self.cancel.load(Ordering::SeqCst) {
                self.step_event(Phase::Info, cx, i as u32 + 1, step.name(), "interrupted: remaining steps skipped".into())?;
                break;
            }
            let index = i as u32 + 1;
            let before = match self.client.get_group(g).await {
                Ok(body) => Before {
                    arm: arm_view(&body, sc.group.profile.container_name()),
                    placement: PlacementView { ip: arm_ip(&body), ..last.placement.clone() },
                },
                Err(_) => Before { arm: ArmView::default(), placement: last.placement.clone() },
            };
            self.step_event(Phase::Invoke, cx, index, step.name(), describe(step))?;
            let hypothesis = match step {
                Step::Rehost { hypothesis } => hypothesis.iter().map(|(c, f)| (*c, f.describe())).collect(),
                _ => BTreeMap::new(),
            };
            let at = At { index, step: step.name(), hypothesis };
            match self.perform(step, g).await {
                Ok(detail) => self.step_event(Phase::Ok, cx, index, step.name(), detail)?,
                Err(e) => {
                    self.step_event(Phase::Fail, cx, index, step.name(), e.to_string())?;
                    self.record_unobserved(cx, &at, &before, &expected, &format!("step failed: {e}"))?;
                    return Err(e);
                }
            }
            last = self.observe(sc, g).await;
            if last.arm.as_ref().is_some_and(|a| a.group_state == "Stopped") {
                // A stopped group has no container: there is nothing that could see a secret.
                self.step_event(Phase::Info, cx, index, step.name(), "group stopped: no container runs, so no check".into())?;
                self.progress.step_done(&sc.name, n, step.name(), &[]);
                continue;
            }
            self.record_checks(cx, &at, &before, &last, &expected)?;
        }
        Ok(())
    }

    async fn perform(&self, step: &Step, g: &GroupRef) -> Result<String, HarnessError> {
        match step {
            Step::Restart | Step::Stop | Step::Start => {
                let r = self.client.group_action(g, step.name()).await?;
                Ok(format!("{} answered {}", step.name(), r.status))
            }
            Step::Wait { duration } => {
                self.client.clock().sleep(duration.0).await?;
                Ok(format!("waited {}", humantime::format_duration(duration.0)))
            }
            Step::Rehost { hypothesis } => {
                let mock = self.mock.as_ref().ok_or_else(|| HarnessError::NeedsMock { scenario: String::new(), step: "rehost".into() })?;
                let h: BTreeMap<String, serde_json::Value> =
                    hypothesis.iter().map(|(c, f)| (c.as_str().to_string(), serde_json::to_value(f).unwrap_or_default())).collect();
                let fired = mock.fault("rehost", &g.id(), &h).await?;
                self.recorder.record(
                    Phase::Info,
                    Record::Fault(FaultEvent {
                        kind: fired.kind.clone(),
                        target: fired.target.clone(),
                        at: fired.at.clone(),
                        hypothesis: fired.hypothesis.clone(),
                        outcome: fired.outcome.clone(),
                    }),
                )?;
                Ok(format!(
                    "rehost fired at {}: {}",
                    fired.at,
                    fired.outcome.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
                ))
            }
        }
    }

    /// Polls the group until it settles (bounded), then reads its logs.
    async fn observe(&self, sc: &Scenario, g: &GroupRef) -> Observation {
        let container = sc.group.profile.container_name();
        let clock = self.client.clock().clone();
        let start = clock.now();
        let mut wait = Duration::from_secs(1);
        let mut last_err = String::new();
        let mut arm = None;
        let mut ip = String::new();
        loop {
            match self.client.get_group(g).await {
                Ok(body) => {
                    let v = arm_view(&body, container);
                    ip = arm_ip(&body);
                    let done = settled(&v);
                    arm = Some(v);
                    if done {
                        break;
                    }
                }
                Err(e) => last_err = e.to_string(),
            }
            if clock.now() - start > self.cfg.settle_timeout {
                let why = match &arm {
                    Some(v) => format!(
                        "after {} it was {} / {}",
                        humantime::format_duration(self.cfg.settle_timeout),
                        v.provisioning_state,
                        v.container_state
                    ),
                    None => format!("no answer within {}: {last_err}", humantime::format_duration(self.cfg.settle_timeout)),
                };
                return Observation {
                    arm,
                    placement: PlacementView { ip, ..Default::default() },
                    logs: Err("not read".into()),
                    unsettled: Some(why),
                };
            }
            if clock.sleep(wait).await.is_err() {
                break;
            }
            wait = (wait * 2).min(Duration::from_secs(15));
        }
        let logs = self.client.logs(g, container, self.cfg.log_tail).await.map(|t| crate::probe::read_logs(&t)).map_err(|e| e.to_string());
        let (host, boot) = match &logs {
            Ok(LogReading::Probe(p)) => (p.host.clone(), p.boot.clone()),
            _ => (String::new(), String::new()),
        };
        Observation { arm, placement: PlacementView { host, boot, ip }, logs, unsettled: None }
    }

    fn record_checks(
        &self,
        cx: Ctx<'_>,
        at: &At<'_>,
        before: &Before,
        obs: &Observation,
        expected: &BTreeMap<Channel, String>,
    ) -> Result<(), HarnessError> {
        let Ctx { sc, n, g } = cx;
        let At { index, step, hypothesis } = at;
        let mut verdicts = Vec::new();
        for (ch, fp) in expected {
            let v = judge(obs, *ch, fp);
            verdicts.push((*ch, v.verdict));
            let row = CheckRow {
                scenario: sc.name.clone(),
                iteration: n,
                group: g.name.clone(),
                step_index: *index,
                step: step.to_string(),
                channel: ch.as_str().into(),
                verdict: v.verdict,
                reason: v.reason,
                method: "logs".into(),
                expected_fp: fp.clone(),
                observed_fp: v.observed,
                time: crate::rfc3339(self.client.clock().now()),
                zone: sc.group.zones.first().cloned().unwrap_or_else(|| "any".into()),
                profile: sc.group.profile.as_str().into(),
                hypothesis: hypothesis.get(ch).cloned().unwrap_or_default(),
                arm_before: before.arm.clone(),
                arm_after: obs.arm.clone().unwrap_or_default(),
                placement_before: before.placement.clone(),
                placement_after: obs.placement.clone(),
            };
            self.recorder.record(Phase::Info, Record::Check(Box::new(row)))?;
        }
        self.progress.step_done(&sc.name, n, step, &verdicts);
        Ok(())
    }

    fn record_unobserved(
        &self,
        cx: Ctx<'_>,
        at: &At<'_>,
        before: &Before,
        expected: &BTreeMap<Channel, String>,
        why: &str,
    ) -> Result<(), HarnessError> {
        let obs = Observation { arm: None, placement: PlacementView::default(), logs: Err(why.to_string()), unsettled: None };
        self.record_checks(cx, at, before, &obs, expected)
    }
}

fn describe(step: &Step) -> String {
    match step {
        Step::Rehost { hypothesis } if !hypothesis.is_empty() => {
            format!(
                "rehost (hypothesis: {})",
                hypothesis.iter().map(|(c, f)| format!("{c} {}", Fate::describe(f))).collect::<Vec<_>>().join(", ")
            )
        }
        Step::Wait { duration } => format!("wait {}", humantime::format_duration(duration.0)),
        other => other.name().to_string(),
    }
}

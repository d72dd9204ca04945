//! The runner: for each scenario iteration, deploy its test agent groups, check them, run each
//! step and check again, then delete the groups whatever happened. It never formats output: it
//! records history and tells a [`Progress`] what it did.

use crate::arm::ArmClient;
use crate::arm::group::GroupRef;
use crate::channel::Channel;
use crate::check::{Observation, arm_ip, arm_view, judge, settled};
use crate::error::HarnessError;
use crate::mock_admin::{FiredFault, MockAdmin};
use crate::probe::LogReading;
use crate::recorder::Recorder;
use crate::secret::{Secret, SecretSource};
use crate::state::{IterationState, MemberState, RunProgress, SoakState, StateFile};
use crate::suite::{Fate, Scenario, Step, Suite, UpdateVariant};
use crate::template::GroupTemplate;
use aci_chaos_reports::{ArmView, Capture, CheckRow, FaultEvent, Phase, PlacementView, Record, StepEvent, Verdict};
use futures::StreamExt;
use serde_json::{Value, json};
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

/// Log lines a capture reads (the API's tail): bounded, so a chatty container cannot swell the
/// history.
pub const CAPTURE_LOG_LINES: usize = 2000;

/// What the runner tells its caller as it goes (the CLI draws progress from it).
pub trait Progress: Send + Sync {
    /// Total steps planned (deploys included).
    fn planned(&self, steps: u64);
    /// A step finished with these verdicts.
    fn step_done(&self, scenario: &str, iteration: u32, step: &str, verdicts: &[(Channel, Verdict)]);
    /// After an interrupt: a group was deleted (`Ok`) or could not be (`Err` with why), so the
    /// user sees the cleanup go on.
    fn cleanup(&self, _group: &str, _outcome: Result<(), String>) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn planned(&self, _: u64) {}
    fn step_done(&self, _: &str, _: u32, _: &str, _: &[(Channel, Verdict)]) {}
}

/// Whether a scenario met its expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioOutcome {
    /// Scenario.
    pub scenario: String,
    /// Iterations that met `expect`.
    pub met: usize,
    /// Iterations run.
    pub total: usize,
    /// Whether the pass policy holds.
    pub passed: bool,
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
    /// Scenarios with an expectation, and whether they passed.
    pub outcomes: Vec<ScenarioOutcome>,
    /// Why the run stopped on purpose with its groups still running (`--detach`, one round of
    /// `soak check` done, or the next round not due yet); `None` when it ran to its end.
    pub detached: Option<String>,
}

/// How a process drives a run: all at once, or a soak round at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriveMode {
    /// Soak rounds this process may do before it stops and leaves the soak running (`None`: no
    /// limit; `Some(0)`: stop when the first soak begins, `--detach`; `Some(1)`: `soak check`).
    pub soak_rounds: Option<u64>,
    /// On a real clock, the longest wait for a round that is not due yet; a round due later is
    /// left for the next call (`soak check`). `None`: wait.
    pub max_wait: Option<Duration>,
    /// An interrupt leaves the groups running and the state as last saved, instead of cleaning
    /// up (`soak check`: a cancelled scheduler job must not end a months-long soak).
    pub keep_on_interrupt: bool,
}

/// How an iteration ended.
enum Flow {
    /// Ran to its end (cleanup follows).
    Done,
    /// Stopped on purpose, groups left running.
    Detached,
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
    faults_seen: Mutex<u64>,
    met: Mutex<BTreeMap<String, (usize, usize)>>,
    unreachable: AtomicBool,
    state: Option<&'a StateFile>,
    resuming: bool,
    mode: DriveMode,
    rounds_left: Mutex<Option<u64>>,
    detached: Mutex<Option<String>>,
    done: Mutex<Vec<(String, u32)>>,
    first_error: Mutex<Option<String>>,
    created_rg: AtomicBool,
}

/// The name of a scenario iteration's group: `acc-<run>-<scenario>-<n>`, with `-a`, `-b`, …
/// when the scenario deploys several groups together.
pub fn group_name(run_id: &str, scenario: &str, iteration: u32, index: usize, count: usize) -> String {
    if count > 1 {
        format!("acc-{run_id}-{scenario}-{iteration}-{}", (b'a' + index as u8) as char)
    } else {
        format!("acc-{run_id}-{scenario}-{iteration}")
    }
}

/// One test agent group of an iteration.
struct Member {
    g: GroupRef,
    template: GroupTemplate,
    secrets: BTreeMap<Channel, Secret>,
    /// Whether `secrets` holds the values (false after a resume on Azure: they were never saved).
    secrets_known: bool,
    expected: BTreeMap<Channel, String>,
    placement: PlacementView,
    deleted: bool,
    last: BTreeMap<Channel, Verdict>,
}

struct Before {
    arm: ArmView,
    placement: PlacementView,
}

/// A step's place in its iteration.
struct At<'s> {
    index: u32,
    step: &'s str,
    hypothesis: BTreeMap<Channel, String>,
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
        Self {
            cfg,
            client,
            mock,
            recorder,
            progress,
            cancel,
            live: Mutex::new(Vec::new()),
            faults_seen: Mutex::new(0),
            met: Mutex::new(BTreeMap::new()),
            unreachable: AtomicBool::new(false),
            state: None,
            resuming: false,
            mode: DriveMode::default(),
            rounds_left: Mutex::new(None),
            detached: Mutex::new(None),
            done: Mutex::new(Vec::new()),
            first_error: Mutex::new(None),
            created_rg: AtomicBool::new(false),
        }
    }

    /// Saves the run's progress to `state` at every consistent point; with `resume`, goes on
    /// from the progress saved there instead of starting. Needs `parallel = 1` (one iteration
    /// in flight, so the history mark is exact).
    pub fn with_state(mut self, state: &'a StateFile, resume: bool) -> Self {
        self.state = Some(state);
        self.resuming = resume;
        self
    }

    /// Drives the run a round at a time, or stops at the first soak (see [`DriveMode`]).
    pub fn with_mode(mut self, mode: DriveMode) -> Self {
        self.mode = mode;
        *self.rounds_left.lock().unwrap_or_else(|p| p.into_inner()) = mode.soak_rounds;
        self
    }

    /// Saves the progress and where the current iteration stands.
    fn checkpoint(&self, current: Option<IterationState>) -> Result<(), HarnessError> {
        let Some(state) = self.state else { return Ok(()) };
        let progress = RunProgress {
            done: self.done.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            met: self.met.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            first_error: self.first_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            faults_seen: *self.faults_seen.lock().unwrap_or_else(|p| p.into_inner()),
            created_resource_group: self.created_rg.load(Ordering::SeqCst),
            current,
        };
        let mark = self.recorder.mark();
        state.save(|s| {
            s.progress = progress;
            s.history = mark;
        })
    }

    fn iteration_state(
        sc: &Scenario,
        n: u32,
        members: &[Member],
        next_step: u32,
        soak: Option<SoakState>,
        error: Option<String>,
    ) -> IterationState {
        IterationState {
            scenario: sc.name.clone(),
            iteration: n,
            next_step,
            members: members
                .iter()
                .map(|m| MemberState {
                    name: m.g.name.clone(),
                    template: m.template.clone(),
                    expected: m.expected.clone(),
                    placement: m.placement.clone(),
                    deleted: m.deleted,
                    last: m.last.clone(),
                })
                .collect(),
            soak,
            error,
        }
    }

    fn detach(&self, why: String) {
        self.detached.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(why);
    }

    fn is_detached(&self) -> bool {
        self.detached.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Refuses, before anything is deployed, suites that need the mock on a target that is not.
    pub fn preflight(&self, suites: &[Suite]) -> Result<(), HarnessError> {
        if self.mock.is_none() {
            if let Some(s) = suites.iter().find(|s| !s.mock_faults.is_empty()) {
                return Err(HarnessError::NeedsMock { scenario: format!("(suite {})", s.name), step: "mock-fault".into() });
            }
            if let Some(sc) =
                suites.iter().flat_map(|s| &s.scenarios).find(|sc| sc.groups.iter().any(|g| g.channels.contains(&Channel::Keyvault)))
            {
                // On Azure the secret would have to be written to a real vault the run owns.
                return Err(HarnessError::NeedsMock { scenario: sc.name.clone(), step: "channel keyvault".into() });
            }
            for s in suites.iter().flat_map(|s| &s.scenarios) {
                if let Some(step) = s.steps.iter().find(|st| st.mock_only()) {
                    return Err(HarnessError::NeedsMock { scenario: s.name.clone(), step: step.name().into() });
                }
            }
        }
        Ok(())
    }

    /// Runs every scenario of every suite (or, resuming, what is left of them).
    pub async fn run(&self, suites: &[Suite]) -> Result<RunResult, HarnessError> {
        self.preflight(suites)?;
        let mut current = None;
        if self.resuming {
            let saved = self.state.map(|s| s.get().progress).unwrap_or_default();
            *self.done.lock().unwrap_or_else(|p| p.into_inner()) = saved.done.clone();
            *self.met.lock().unwrap_or_else(|p| p.into_inner()) = saved.met;
            *self.first_error.lock().unwrap_or_else(|p| p.into_inner()) = saved.first_error;
            *self.faults_seen.lock().unwrap_or_else(|p| p.into_inner()) = saved.faults_seen;
            self.created_rg.store(saved.created_resource_group, Ordering::SeqCst);
            current = saved.current;
        }
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let work: Vec<(&Scenario, u32)> = suites
            .iter()
            .flat_map(|s| &s.scenarios)
            .flat_map(|sc| (1..=sc.iterations).map(move |n| (sc, n)))
            .filter(|(sc, n)| !done.iter().any(|(d, i)| *d == sc.name && i == n))
            .collect();
        self.progress.planned(work.iter().map(|(s, _)| 1 + s.steps.len() as u64).sum());
        if !self.resuming {
            if let Some(m) = &self.mock {
                *self.faults_seen.lock().unwrap_or_else(|p| p.into_inner()) = m.faults().await?.last().map(|f| f.seq).unwrap_or(0);
                let planned: Vec<Value> = suites.iter().flat_map(|s| s.mock_faults.iter().cloned()).collect();
                if !planned.is_empty() {
                    m.plan(&json!({"fault": planned})).await?;
                }
            }
            let tags = crate::template::tags(&self.cfg.run_id, "-");
            let created =
                self.client.ensure_resource_group(&self.cfg.subscription, &self.cfg.resource_group, &self.cfg.location, &tags).await?;
            self.created_rg.store(created, Ordering::SeqCst);
            self.checkpoint(None)?;
        }
        let current = std::sync::Mutex::new(current);
        let errors: Vec<String> = futures::stream::iter(work)
            .map(|(sc, n)| {
                let resume = {
                    let mut c = current.lock().unwrap_or_else(|p| p.into_inner());
                    if c.as_ref().is_some_and(|c| c.scenario == sc.name && c.iteration == n) { c.take() } else { None }
                };
                async move { self.iteration_with_cleanup(sc, n, resume).await.err().map(|e| e.to_string()) }
            })
            .buffer_unordered(self.cfg.parallel.max(1))
            .filter_map(|e| async move { e })
            .collect()
            .await;
        if let Some(e) = errors.into_iter().next() {
            self.first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
        }
        if self.mode.keep_on_interrupt && self.cancel.load(Ordering::SeqCst) {
            // Interrupted between iterations (or before the first): the soak goes on all the same.
            self.detach("interrupted: the groups keep running, the next call goes on from the last saved point".into());
        }
        let detached = self.detached.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let left_behind = self.live.lock().unwrap_or_else(|p| p.into_inner()).iter().map(GroupRef::id).collect();
        let created_rg = self.created_rg.load(Ordering::SeqCst);
        let error = self.first_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if detached.is_some() {
            return Ok(RunResult {
                left_behind,
                created_resource_group: created_rg,
                error,
                interrupted: false,
                outcomes: Vec::new(),
                detached,
            });
        }
        let mut outcomes = Vec::new();
        for sc in suites.iter().flat_map(|s| &s.scenarios).filter(|sc| !sc.expect.is_empty()) {
            let (met, total) = self.met.lock().unwrap_or_else(|p| p.into_inner()).get(&sc.name).copied().unwrap_or((0, 0));
            let passed = total > 0 && sc.pass.passes(met, total);
            let expect = sc.expect.iter().map(|(c, v)| format!("{c} {v}")).collect::<Vec<_>>().join(", ");
            self.recorder.record(
                Phase::Info,
                Record::Step(StepEvent {
                    scenario: sc.name.clone(),
                    iteration: 0,
                    group: String::new(),
                    index: 0,
                    step: "expectation".into(),
                    detail: format!(
                        "{}: {met} of {total} iterations ended with {expect} (pass policy: {})",
                        if passed { "pass" } else { "FAIL" },
                        sc.pass.as_str()
                    ),
                }),
            )?;
            outcomes.push(ScenarioOutcome { scenario: sc.name.clone(), met, total, passed });
        }
        if created_rg && let Err(e) = self.client.delete_resource_group(&self.cfg.subscription, &self.cfg.resource_group).await {
            tracing::warn!("could not delete resource group {}: {e}", self.cfg.resource_group);
        }
        Ok(RunResult {
            left_behind,
            created_resource_group: created_rg,
            error,
            interrupted: self.cancel.load(Ordering::SeqCst),
            outcomes,
            detached: None,
        })
    }

    fn new_members(&self, sc: &Scenario, n: u32) -> Vec<Member> {
        let count = sc.groups.len();
        sc.groups
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let g = self.group_ref(group_name(&self.cfg.run_id, &sc.name, n, i, count));
                let secrets: BTreeMap<Channel, Secret> = t.channels.iter().map(|c| (*c, self.cfg.secrets.secret(&g.name, *c))).collect();
                let expected = secrets.iter().map(|(c, s)| (*c, s.fingerprint())).collect();
                Member {
                    g,
                    template: t.clone(),
                    secrets,
                    secrets_known: true,
                    expected,
                    placement: PlacementView::default(),
                    deleted: false,
                    last: BTreeMap::new(),
                }
            })
            .collect()
    }

    fn group_ref(&self, name: String) -> GroupRef {
        GroupRef { subscription: self.cfg.subscription.clone(), resource_group: self.cfg.resource_group.clone(), name }
    }

    /// The members of a saved iteration: seeded secrets are derived again (and must match the
    /// saved fingerprints); random ones are gone.
    fn saved_members(&self, saved: &IterationState) -> Result<Vec<Member>, HarnessError> {
        let mut members = Vec::new();
        for m in &saved.members {
            let g = self.group_ref(m.name.clone());
            let (secrets, known) = match self.cfg.secrets {
                SecretSource::Seeded(_) => {
                    let s: BTreeMap<Channel, Secret> = m.expected.keys().map(|c| (*c, self.cfg.secrets.secret(&g.name, *c))).collect();
                    if s.iter().any(|(c, v)| m.expected.get(c) != Some(&v.fingerprint())) {
                        return Err(HarnessError::Resume(format!(
                            "{}: the saved fingerprints do not match this run's seeded secrets (was state.json edited?)",
                            m.name
                        )));
                    }
                    (s, true)
                }
                SecretSource::Os => (BTreeMap::new(), false),
            };
            self.live.lock().unwrap_or_else(|p| p.into_inner()).push(g.clone());
            members.push(Member {
                g,
                template: m.template.clone(),
                secrets,
                secrets_known: known,
                expected: m.expected.clone(),
                placement: m.placement.clone(),
                deleted: m.deleted,
                last: m.last.clone(),
            });
        }
        Ok(members)
    }

    async fn iteration_with_cleanup(&self, sc: &Scenario, n: u32, resume: Option<IterationState>) -> Result<(), HarnessError> {
        if self.cancel.load(Ordering::SeqCst) || self.is_detached() {
            return Ok(());
        }
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(HarnessError::Protocol(format!("{} #{n} not run: the target stopped answering", sc.name)));
        }
        let (members, result) = match resume {
            // Stopped while deploying: what exists of it goes, and it starts again.
            Some(saved) if saved.next_step == 0 => {
                for m in self.new_members(sc, n) {
                    self.client.delete_group(&m.g).await?;
                }
                let mut members = self.new_members(sc, n);
                self.checkpoint(Some(Self::iteration_state(sc, n, &members, 0, None, None)))?;
                let r = self.iteration(sc, n, &mut members, 0, None).await;
                (members, r)
            }
            Some(saved) => {
                let mut members = self.saved_members(&saved)?;
                let r = match saved.error {
                    Some(e) => Err(HarnessError::Protocol(e)),
                    None => self.iteration(sc, n, &mut members, saved.next_step, saved.soak).await,
                };
                (members, r)
            }
            None => {
                let mut members = self.new_members(sc, n);
                self.checkpoint(Some(Self::iteration_state(sc, n, &members, 0, None, None)))?;
                let r = self.iteration(sc, n, &mut members, 0, None).await;
                (members, r)
            }
        };
        if let Ok(Flow::Detached) = result {
            return Ok(());
        }
        if self.mode.keep_on_interrupt && self.cancel.load(Ordering::SeqCst) {
            // The state stays at the last consistent point: the next call picks it up there.
            self.detach("interrupted: the groups keep running, the next call goes on from the last saved point".into());
            return Ok(());
        }
        if let Err(HarnessError::Transport { .. }) = &result {
            // Retries are used up: the target is gone. Start nothing more.
            self.unreachable.store(true, Ordering::SeqCst);
        }
        if let Err(e) = &result {
            self.step_event(Phase::Fail, sc, n, &members[0].g, 0, "iteration", e.to_string())?;
            let after = sc.steps.len() as u32 + 1;
            self.checkpoint(Some(Self::iteration_state(sc, n, &members, after, None, Some(e.to_string()))))?;
        }
        let interrupted = self.cancel.load(Ordering::SeqCst);
        for m in members.iter().filter(|_| !self.unreachable.load(Ordering::SeqCst)) {
            match self.client.delete_group(&m.g).await {
                Ok(()) => {
                    self.live.lock().unwrap_or_else(|p| p.into_inner()).retain(|x| *x != m.g);
                    if interrupted {
                        self.progress.cleanup(&m.g.name, Ok(()));
                    }
                }
                Err(e) => {
                    tracing::warn!("could not delete {}: {e}", m.g.name);
                    if interrupted {
                        self.progress.cleanup(&m.g.name, Err(e.to_string()));
                    }
                }
            }
        }
        if !sc.expect.is_empty() {
            let ok = result.is_ok() && members.iter().all(|m| sc.expect.iter().all(|(c, v)| m.last.get(c) == Some(v)));
            let mut met = self.met.lock().unwrap_or_else(|p| p.into_inner());
            let e = met.entry(sc.name.clone()).or_insert((0, 0));
            e.0 += ok as usize;
            e.1 += 1;
        }
        if let Err(e) = &result {
            self.first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e.to_string());
        }
        // Cleaned up after an interrupt that cut it short: not done. Under keep-on-interrupt an
        // iteration only gets here once it ran to its end (an interrupt detaches earlier).
        if !self.cancel.load(Ordering::SeqCst) || self.mode.keep_on_interrupt {
            self.done.lock().unwrap_or_else(|p| p.into_inner()).push((sc.name.clone(), n));
        }
        self.checkpoint(None)?;
        result.map(|_| ())
    }

    #[allow(clippy::too_many_arguments)]
    fn step_event(
        &self,
        phase: Phase,
        sc: &Scenario,
        n: u32,
        g: &GroupRef,
        index: u32,
        step: &str,
        detail: String,
    ) -> Result<(), HarnessError> {
        self.recorder.record(
            phase,
            Record::Step(StepEvent { scenario: sc.name.clone(), iteration: n, group: g.name.clone(), index, step: step.into(), detail }),
        )
    }

    fn body(&self, sc: &Scenario, m: &Member, omit: &[Channel]) -> Result<Value, HarnessError> {
        if !m.secrets_known {
            // Sending the spec without them would fake a loss.
            return Err(HarnessError::Resume(format!("{}: the secret values are not known after a resume on Azure", m.g.name)));
        }
        let secrets: BTreeMap<Channel, Secret> =
            m.secrets.iter().filter(|(c, _)| !omit.contains(c)).map(|(c, s)| (*c, s.clone())).collect();
        Ok(m.template.body(&self.cfg.location, &self.cfg.run_id, &sc.name, &m.g.name, &secrets))
    }

    async fn deploy(&self, sc: &Scenario, m: &Member) -> Result<(), HarnessError> {
        if let (Some(s), Some(mock)) = (m.secrets.get(&Channel::Keyvault), &self.mock) {
            mock.put_vault_secret(&crate::template::keyvault_name(&self.cfg.run_id), &m.g.name, s).await?;
        }
        {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            if !live.contains(&m.g) {
                live.push(m.g.clone());
            }
        }
        self.client.put_group(&m.g, &self.body(sc, m, &[])?).await.map(|_| ())
    }

    /// Runs an iteration from step `start` (0: deploy first); `soak` is the saved state of a
    /// soak at `start`.
    async fn iteration(
        &self,
        sc: &Scenario,
        n: u32,
        members: &mut [Member],
        start: u32,
        mut soak: Option<SoakState>,
    ) -> Result<Flow, HarnessError> {
        if start == 0 {
            let deploy = At { index: 0, step: "deploy", hypothesis: BTreeMap::new() };
            for m in members.iter_mut() {
                self.step_event(Phase::Invoke, sc, n, &m.g, 0, "deploy", format!("PUT {} ({} channels)", m.g.name, m.expected.len()))?;
                match self.deploy(sc, m).await {
                    Ok(()) => self.step_event(Phase::Ok, sc, n, &m.g, 0, "deploy", "deployed".into())?,
                    Err(e) => {
                        self.step_event(Phase::Fail, sc, n, &m.g, 0, "deploy", e.to_string())?;
                        let before = Before { arm: ArmView::default(), placement: PlacementView::default() };
                        let obs = unobserved(&format!("deploy failed: {e}"));
                        self.record_checks(sc, n, m, &deploy, &before, &obs)?;
                        return Err(e);
                    }
                }
            }
            self.check_all(sc, n, members, &deploy, None).await?;
            self.checkpoint(Some(Self::iteration_state(sc, n, members, 1, None, None)))?;
        }

        if start > 0 && soak.is_none() && (start as usize) <= sc.steps.len() {
            // Picked up at a step the last process may have sent already: let the groups settle
            // first (ARM refuses an action while one is under way), and say the step is sent again.
            for m in members.iter().filter(|m| !m.deleted) {
                self.poll_settled(m, &self.client).await;
            }
            let step = &sc.steps[start as usize - 1];
            for m in members.iter().filter(|m| !m.deleted) {
                self.step_event(
                    Phase::Info,
                    sc,
                    n,
                    &m.g,
                    start,
                    step.name(),
                    "resumed here: the process that died may have sent this step already; it is sent again".into(),
                )?;
            }
        }
        for (i, step) in sc.steps.iter().enumerate().skip(start.saturating_sub(1) as usize) {
            let index = i as u32 + 1;
            if self.cancel.load(Ordering::SeqCst) {
                if self.mode.keep_on_interrupt {
                    return Ok(Flow::Detached);
                }
                self.step_event(Phase::Info, sc, n, &members[0].g, index, step.name(), "interrupted: remaining steps skipped".into())?;
                break;
            }
            if step.sends_secrets() && members.iter().any(|m| !m.secrets_known) {
                return Err(HarnessError::Resume(format!(
                    "{} #{n}: step `{}` sends the secrets again, and a resumed run on Azure does not have them \
                     (aci-chaos never writes secret values to disk); the iteration stops here and its groups are deleted. \
                     To resume soaks on Azure, make the soak a scenario's last step that sends secrets",
                    sc.name,
                    step.name()
                )));
            }
            let hypothesis: BTreeMap<Channel, String> =
                step.hypothesis().map(|h| h.iter().map(|(c, f)| (*c, f.describe())).collect()).unwrap_or_default();
            let at = At { index, step: step.name(), hypothesis };
            if let Step::Soak { duration, every } = step {
                let saved = soak.take();
                let befores: Vec<Before> = match &saved {
                    Some(st) => {
                        st.befores.iter().map(|(arm, placement)| Before { arm: arm.clone(), placement: placement.clone() }).collect()
                    }
                    None => {
                        let mut b = Vec::new();
                        for m in members.iter() {
                            b.push(self.before(m).await);
                        }
                        for m in members.iter().filter(|m| !m.deleted) {
                            self.step_event(Phase::Invoke, sc, n, &m.g, index, step.name(), describe(step))?;
                        }
                        b
                    }
                };
                if let Flow::Detached = self.soak(sc, n, members, &at, &befores, duration.0, every.0, saved).await? {
                    return Ok(Flow::Detached);
                }
                self.checkpoint(Some(Self::iteration_state(sc, n, members, index + 1, None, None)))?;
                continue;
            }
            let mut befores = Vec::new();
            for m in members.iter() {
                befores.push(self.before(m).await);
            }
            for m in members.iter().filter(|m| !m.deleted) {
                self.step_event(Phase::Invoke, sc, n, &m.g, index, step.name(), describe(step))?;
            }
            match self.perform(sc, step, members).await {
                Ok(detail) => {
                    for m in members.iter() {
                        self.step_event(Phase::Ok, sc, n, &m.g, index, step.name(), detail.clone())?;
                    }
                }
                Err(e) => {
                    for (m, b) in members.iter_mut().zip(&befores) {
                        self.step_event(Phase::Fail, sc, n, &m.g, index, step.name(), e.to_string())?;
                        self.record_checks(sc, n, m, &at, b, &unobserved(&format!("step failed: {e}")))?;
                    }
                    return Err(e);
                }
            }
            self.record_new_faults().await?;
            if !matches!(step, Step::Delete {}) {
                self.check_all(sc, n, members, &at, Some(&befores)).await?;
            } else {
                self.progress.step_done(&sc.name, n, step.name(), &[]);
            }
            self.checkpoint(Some(Self::iteration_state(sc, n, members, index + 1, None, None)))?;
        }
        Ok(Flow::Done)
    }

    async fn before(&self, m: &Member) -> Before {
        if m.deleted {
            return Before { arm: ArmView::default(), placement: PlacementView::default() };
        }
        match self.client.get_group(&m.g).await {
            Ok(body) => Before {
                arm: arm_view(&body, m.template.profile.container_name()),
                placement: PlacementView { ip: arm_ip(&body), ..m.placement.clone() },
            },
            Err(_) => Before { arm: ArmView::default(), placement: m.placement.clone() },
        }
    }

    /// Observes every live group and records a check per channel.
    async fn check_all(
        &self,
        sc: &Scenario,
        n: u32,
        members: &mut [Member],
        at: &At<'_>,
        befores: Option<&[Before]>,
    ) -> Result<(), HarnessError> {
        let mut verdicts = Vec::new();
        for (i, m) in members.iter_mut().enumerate() {
            if m.deleted {
                continue;
            }
            let obs = self.observe(m).await;
            if obs.arm.as_ref().is_some_and(|a| a.group_state == "Stopped") {
                // A stopped group has no container: there is nothing that could see a secret.
                self.step_event(Phase::Info, sc, n, &m.g, at.index, at.step, "group stopped: no container runs, so no check".into())?;
                continue;
            }
            let empty = Before { arm: ArmView::default(), placement: PlacementView::default() };
            let before = befores.and_then(|b| b.get(i)).unwrap_or(&empty);
            verdicts.extend(self.record_checks(sc, n, m, at, before, &obs)?);
            if !obs.placement.host.is_empty() {
                m.placement = obs.placement.clone();
            }
        }
        self.progress.step_done(&sc.name, n, at.step, &verdicts);
        Ok(())
    }

    /// A soak: a round of checks every `every` for `duration`, recording only changes (and the
    /// last round). Round `r` is due at `start + r × every`, so a soak picked up again (resume,
    /// `soak check`) keeps its timetable; rounds that passed with nobody checking are recorded
    /// as missed, never as observed.
    #[allow(clippy::too_many_arguments)]
    async fn soak(
        &self,
        sc: &Scenario,
        n: u32,
        members: &mut [Member],
        at: &At<'_>,
        befores: &[Before],
        duration: Duration,
        every: Duration,
        saved: Option<SoakState>,
    ) -> Result<Flow, HarnessError> {
        let rounds = (duration.as_secs_f64() / every.as_secs_f64()).floor() as u64;
        let clock = self.client.clock().clone();
        let mut st = saved.unwrap_or_else(|| SoakState {
            start: crate::rfc3339(clock.now()),
            rounds_done: 0,
            prev: vec![None; members.len()],
            checks: 0,
            recorded: 0,
            befores: befores.iter().map(|b| (b.arm.clone(), b.placement.clone())).collect(),
            captured: vec![None; members.len()],
            prev_arm: vec![None; members.len()],
        });
        let start = time::OffsetDateTime::parse(&st.start, &time::format_description::well_known::Rfc3339)
            .map_err(|e| HarnessError::Resume(format!("saved soak start `{}`: {e}", st.start)))?;
        let save = |st: &SoakState, members: &[Member]| {
            self.checkpoint(Some(Self::iteration_state(sc, n, members, at.index, Some(st.clone()), None)))
        };
        save(&st, members)?;
        let quiet = self.client.quiet();
        while st.rounds_done < rounds {
            if self.cancel.load(Ordering::SeqCst) {
                if self.mode.keep_on_interrupt {
                    return Ok(Flow::Detached);
                }
                break;
            }
            {
                let mut left = self.rounds_left.lock().unwrap_or_else(|p| p.into_inner());
                if *left == Some(0) {
                    let due = start + every * (st.rounds_done + 1) as u32;
                    self.detach(format!(
                        "soak `{}` #{n}: round {} of {rounds} is due at {}",
                        sc.name,
                        st.rounds_done + 1,
                        crate::rfc3339(due)
                    ));
                    return Ok(Flow::Detached);
                }
                if let Some(l) = left.as_mut() {
                    *l -= 1;
                }
            }
            let mut round = st.rounds_done + 1;
            let due = start + every * round as u32;
            let now = clock.now();
            if now < due {
                let wait: Duration = (due - now).try_into().unwrap_or_default();
                if let Some(max) = self.mode.max_wait
                    && !clock.is_virtual()
                    && wait > max
                {
                    self.detach(format!(
                        "soak `{}` #{n}: round {round} of {rounds} is not due until {} (in {}); nothing done",
                        sc.name,
                        crate::rfc3339(due),
                        humantime::format_duration(Duration::from_secs(wait.as_secs()))
                    ));
                    return Ok(Flow::Detached);
                }
                self.pause(wait).await?;
                if self.cancel.load(Ordering::SeqCst) {
                    continue;
                }
            } else {
                // Late by whole intervals (nobody ran the soak then): go to the current round.
                let behind = ((now - start).as_seconds_f64() / every.as_secs_f64()).floor() as u64;
                let current = behind.min(rounds);
                if current > round {
                    let detail = format!(
                        "rounds {round} to {} of {rounds} missed (nothing checked between {} and {}): no observation, no verdict",
                        current - 1,
                        crate::rfc3339(due),
                        crate::rfc3339(start + every * current as u32)
                    );
                    for m in members.iter().filter(|m| !m.deleted) {
                        self.step_event(Phase::Info, sc, n, &m.g, at.index, at.step, detail.clone())?;
                    }
                    round = current;
                }
            }
            for (i, m) in members.iter_mut().enumerate() {
                if m.deleted {
                    continue;
                }
                if self.cancel.load(Ordering::SeqCst) && self.mode.keep_on_interrupt {
                    // The round is cut: nothing of it is saved, the next call does it again.
                    return Ok(Flow::Detached);
                }
                let obs = self.observe_with(m, &quiet, false).await;
                if self.cancel.load(Ordering::SeqCst) && self.mode.keep_on_interrupt {
                    return Ok(Flow::Detached);
                }
                if obs.arm.as_ref().is_some_and(|a| a.group_state == "Stopped") {
                    // Nothing runs in a stopped group: its old logs say nothing about now.
                    continue;
                }
                st.checks += 1;
                let now: BTreeMap<Channel, Verdict> = m.expected.iter().map(|(c, fp)| (*c, judge(&obs, *c, fp).verdict)).collect();
                let sig = (now.clone(), obs.placement.boot.clone());
                let changed = st.prev[i].as_ref() != Some(&sig);
                let arm_now = obs.arm.as_ref().map(|a| (a.restart_count.unwrap_or(0), a.container_state.clone()));
                // A change worth capturing: a verdict, the boot id, or a running container restarted
                // (a crash loop's every back-off is not news).
                let mut why = Vec::new();
                if let Some((prev_v, prev_boot)) = &st.prev[i] {
                    for (c, v) in &now {
                        if let Some(p) = prev_v.get(c).filter(|p| *p != v) {
                            why.push(format!("{c} {p} → {v}"));
                        }
                    }
                    if *prev_boot != obs.placement.boot {
                        why.push(format!("boot {} → {}", or_unknown(prev_boot), or_unknown(&obs.placement.boot)));
                    }
                }
                if let (Some(Some((prev_restarts, prev_state))), Some((restarts, _))) = (st.prev_arm.get(i), &arm_now)
                    && restarts != prev_restarts
                    && prev_state.starts_with("Running")
                {
                    why.push(format!("restart count {prev_restarts} → {restarts}"));
                }
                if let Some(slot) = st.prev_arm.get_mut(i) {
                    *slot = arm_now;
                }
                if !why.is_empty() {
                    let from = st.captured.get(i).cloned().flatten().unwrap_or_else(|| st.start.clone());
                    let from = time::OffsetDateTime::parse(&from, &time::format_description::well_known::Rfc3339).unwrap_or(start);
                    self.capture(sc, n, m, why.join("; "), from).await?;
                    if let Some(slot) = st.captured.get_mut(i) {
                        *slot = Some(crate::rfc3339(clock.now()));
                    }
                }
                if changed || round == rounds {
                    self.record_new_faults().await?;
                    let before_placement = st.prev[i].as_ref().map(|_| m.placement.clone()).unwrap_or_else(|| befores[i].placement.clone());
                    let b = Before { arm: befores[i].arm.clone(), placement: before_placement };
                    self.record_checks(sc, n, m, at, &b, &obs)?;
                    st.recorded += 1;
                }
                if !obs.placement.host.is_empty() {
                    m.placement = obs.placement.clone();
                }
                st.prev[i] = Some(sig);
            }
            st.rounds_done = round;
            save(&st, members)?;
        }
        self.record_new_faults().await?;
        if !self.cancel.load(Ordering::SeqCst) {
            // Activity-log events can arrive minutes late on Azure: read the whole soak's window
            // again for every group that changed.
            for (i, m) in members.iter().enumerate() {
                if !m.deleted && st.captured.get(i).is_some_and(Option::is_some) {
                    self.capture(sc, n, m, "end of soak: the whole window again (activity-log events can arrive late)".into(), start)
                        .await?;
                }
            }
        }
        let detail = format!(
            "soaked {} with a check every {}: {} checks, {} recorded (changes and the last round)",
            humantime::format_duration(duration),
            humantime::format_duration(every),
            st.checks,
            st.recorded
        );
        for m in members.iter() {
            self.step_event(Phase::Ok, sc, n, &m.g, at.index, at.step, detail.clone())?;
        }
        self.progress.step_done(&sc.name, n, at.step, &[]);
        Ok(Flow::Done)
    }

    /// Captures everything at once about a group that changed: its instance views and events,
    /// its container's logs (any secret value masked), and its activity log from `from` to now.
    /// What cannot be read is said in the capture, never left out silently.
    async fn capture(&self, sc: &Scenario, n: u32, m: &Member, reason: String, from: time::OffsetDateTime) -> Result<(), HarnessError> {
        let now = self.client.clock().now();
        let container = m.template.profile.container_name();
        let instance_view = match self.client.get_group(&m.g).await {
            Ok(body) => {
                let containers: Vec<Value> = body
                    .pointer("/properties/containers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|c| json!({"name": c["name"], "instanceView": c.pointer("/properties/instanceView").cloned().unwrap_or(Value::Null)}))
                    .collect();
                json!({
                    "provisioningState": body.pointer("/properties/provisioningState").cloned().unwrap_or(Value::Null),
                    "group": body.pointer("/properties/instanceView").cloned().unwrap_or(Value::Null),
                    "containers": containers,
                })
            }
            Err(e) => json!({"error": e.to_string()}),
        };
        let (logs, logs_error) = match self.client.logs(&m.g, container, CAPTURE_LOG_LINES).await {
            Ok(text) => (self.mask_secrets(m, text), None),
            Err(e) => (String::new(), Some(e.to_string())),
        };
        let (activity_raw, activity_error) = match self.client.activity_log(&self.cfg.subscription, &m.g.id(), from, now).await {
            Ok(events) => (events.into_iter().map(|e| clean_activity_event(e, |t| self.mask_secrets(m, t))).collect::<Vec<_>>(), None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let activity = activity_raw.iter().map(crate::arm::activity::summarize).collect();
        self.recorder.record(
            Phase::Info,
            Record::Capture(Box::new(Capture {
                scenario: sc.name.clone(),
                iteration: n,
                group: m.g.name.clone(),
                reason,
                instance_view,
                logs,
                logs_error,
                window: (crate::rfc3339(from), crate::rfc3339(now)),
                activity,
                activity_raw,
                activity_error,
            })),
        )
    }

    /// Text with every secret value of the member (and its base64 form) masked. The probe never
    /// prints values; this keeps it so whatever a container prints.
    fn mask_secrets(&self, m: &Member, mut text: String) -> String {
        use base64::Engine;
        for s in m.secrets.values() {
            for form in [s.expose().to_string(), base64::engine::general_purpose::STANDARD.encode(s.expose())] {
                if !form.is_empty() && text.contains(&form) {
                    text = text.replace(&form, "***");
                }
            }
        }
        text
    }

    /// Waits `d` of target time. On a real clock the wait ends early when the run is
    /// interrupted (a CI job's grace period is short); on a virtual clock it costs nothing.
    async fn pause(&self, d: Duration) -> Result<(), HarnessError> {
        let clock = self.client.clock();
        if clock.is_virtual() {
            return clock.sleep(d).await;
        }
        let mut left = d;
        while !left.is_zero() && !self.cancel.load(Ordering::SeqCst) {
            let step = left.min(Duration::from_millis(250));
            clock.sleep(step).await?;
            left -= step;
        }
        Ok(())
    }

    async fn fault(&self, spec: Value) -> Result<Vec<FiredFault>, HarnessError> {
        let mock = self.mock.as_ref().ok_or_else(|| HarnessError::NeedsMock { scenario: String::new(), step: "fault".into() })?;
        mock.fault(&spec).await
    }

    /// Records the faults the mock fired since the last look (waves and recoveries fire later).
    async fn record_new_faults(&self) -> Result<(), HarnessError> {
        let Some(mock) = &self.mock else { return Ok(()) };
        let seen = *self.faults_seen.lock().unwrap_or_else(|p| p.into_inner());
        let all = mock.faults().await?;
        let prefix = format!("/subscriptions/{}/resourceGroups/{}/", self.cfg.subscription, self.cfg.resource_group);
        for f in all.iter().filter(|f| f.seq > seen) {
            if f.target.to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase()) {
                self.recorder.record(
                    Phase::Info,
                    Record::Fault(FaultEvent {
                        kind: f.kind.clone(),
                        target: f.target.clone(),
                        at: f.at.clone(),
                        hypothesis: f.hypothesis.clone(),
                        outcome: f.outcome.clone(),
                    }),
                )?;
            }
        }
        if let Some(last) = all.last() {
            *self.faults_seen.lock().unwrap_or_else(|p| p.into_inner()) = last.seq;
        }
        Ok(())
    }

    async fn perform(&self, sc: &Scenario, step: &Step, members: &mut [Member]) -> Result<String, HarnessError> {
        let hyp = |h: &BTreeMap<Channel, Fate>| -> Value {
            h.iter().map(|(c, f)| (c.as_str().to_string(), serde_json::to_value(f).unwrap_or_default())).collect()
        };
        let live: Vec<usize> = (0..members.len()).filter(|i| !members[*i].deleted).collect();
        let mut details = Vec::new();
        match step {
            Step::Deploy {} => {
                for m in members.iter_mut() {
                    self.deploy(sc, m).await?;
                    m.deleted = false;
                }
                details.push("PUT of the full spec".into());
            }
            Step::Restart {} | Step::Stop {} | Step::Start {} => {
                for &i in &live {
                    let r = self.client.group_action(&members[i].g, step.name()).await?;
                    details.push(format!("{} answered {}", step.name(), r.status));
                }
            }
            Step::Update { variant, image } => {
                for &i in &live {
                    let m = &mut members[i];
                    match variant {
                        UpdateVariant::Resend => {
                            let r = self.client.put_group(&m.g, &self.body(sc, m, &[])?).await?;
                            details.push(format!("PUT of the full spec answered {}", r.status));
                        }
                        UpdateVariant::Image => {
                            m.template.image = image.clone().unwrap_or_else(|| crate::template::ALTERNATE_IMAGE.to_string());
                            let r = self.client.put_group(&m.g, &self.body(sc, m, &[])?).await?;
                            details.push(format!("PUT with image {} answered {}", m.template.image, r.status));
                        }
                        UpdateVariant::Omit => {
                            let r = self.client.put_group(&m.g, &self.body(sc, m, &[Channel::SecureEnv])?).await?;
                            details.push(format!("PUT without {} answered {}", m.template.profile.secure_var(), r.status));
                        }
                        UpdateVariant::PatchTags => {
                            let mut tags = crate::template::tags(&self.cfg.run_id, &sc.name);
                            tags["aci-chaos-touched"] = json!("patch-tags");
                            let r = self.client.patch_tags(&m.g, &tags).await?;
                            details.push(format!("PATCH of the tags answered {}", r.status));
                        }
                        UpdateVariant::Roundtrip => {
                            let got = self.client.get_group(&m.g).await?;
                            match self.client.put_group(&m.g, &roundtrip_body(&got)).await {
                                Ok(r) => details.push(format!("ARM accepted the PUT of its own GET body ({})", r.status)),
                                Err(HarnessError::Arm { status, code, message, .. }) if (400..500).contains(&status) => {
                                    details.push(format!("ARM refused the PUT of its own GET body: {status} {code}: {message}"))
                                }
                                Err(e) => return Err(e),
                            }
                        }
                    }
                }
            }
            Step::ZoneChange { to } => {
                for &i in &live {
                    let m = &mut members[i];
                    let mut moved = m.template.clone();
                    moved.zones = vec![to.clone()];
                    if !m.secrets_known {
                        return Err(HarnessError::Resume(format!("{}: the secret values are not known after a resume on Azure", m.g.name)));
                    }
                    let secrets = m.secrets.clone();
                    let body = moved.body(&self.cfg.location, &self.cfg.run_id, &sc.name, &m.g.name, &secrets);
                    let refusal = match self.client.put_group(&m.g, &body).await {
                        Ok(r) => format!("ARM accepted the zone change ({})", r.status),
                        Err(HarnessError::Arm { status, code, message, .. }) if (400..500).contains(&status) => {
                            format!("ARM refused the zone change: {status} {code}: {message}")
                        }
                        Err(e) => return Err(e),
                    };
                    self.client.delete_group(&m.g).await?;
                    m.template = moved;
                    self.deploy(sc, m).await?;
                    details.push(format!("{refusal}; deleted and recreated in zone {to}"));
                }
            }
            Step::Recreate {} => {
                // Every group, deleted ones included: recreate after delete brings them back.
                for m in members.iter_mut() {
                    self.client.delete_group(&m.g).await?;
                    self.deploy(sc, m).await?;
                    m.deleted = false;
                }
                details.push("deleted and created again with the same spec and secrets".into());
            }
            Step::Delete {} => {
                for &i in &live {
                    self.client.delete_group(&members[i].g).await?;
                    members[i].deleted = true;
                    self.live.lock().unwrap_or_else(|p| p.into_inner()).retain(|x| *x != members[i].g);
                }
                details.push("deleted".into());
            }
            Step::Rehost { hypothesis } => {
                for &i in &live {
                    let fired = self.fault(json!({"kind": "rehost", "target": members[i].g.id(), "hypothesis": hyp(hypothesis)})).await?;
                    details.extend(fired.iter().map(fired_detail));
                }
            }
            Step::MaintenanceRestart {} => {
                for &i in &live {
                    let fired = self.fault(json!({"kind": "maintenance-restart", "target": members[i].g.id()})).await?;
                    details.extend(fired.iter().map(fired_detail));
                }
            }
            Step::HostFailure { recover_after, hypothesis } => {
                for &i in &live {
                    self.fault(json!({"kind": "host-failure", "target": members[i].g.id(), "hypothesis": hyp(hypothesis),
                                      "recover-after": humantime::format_duration(recover_after.0).to_string()}))
                        .await?;
                }
                self.pause(recover_after.0 + Duration::from_secs(1)).await?;
                details.push(format!("host failed; rescheduled after {}", humantime::format_duration(recover_after.0)));
            }
            Step::ZoneOutage { zone, duration, hypothesis } => {
                let mut spec = json!({"kind": "zone-outage", "hypothesis": hyp(hypothesis), "duration": humantime::format_duration(duration.0).to_string()});
                match zone {
                    Some(z) => spec["zone"] = json!(z),
                    None => spec["target"] = json!(members[live.first().copied().unwrap_or(0)].g.id()),
                }
                let fired = self.fault(spec).await?;
                self.pause(duration.0 + Duration::from_secs(1)).await?;
                details.push(format!("zone out for {}: {} groups went down", humantime::format_duration(duration.0), fired.len()));
            }
            Step::MaintenanceWave { window, hypothesis } => {
                self.fault(json!({"kind": "maintenance-wave", "hypothesis": hyp(hypothesis), "window": humantime::format_duration(window.0).to_string()}))
                    .await?;
                self.pause(window.0 + Duration::from_secs(1)).await?;
                details.push(format!("maintenance wave over {}", humantime::format_duration(window.0)));
            }
            Step::Wait { duration } => {
                self.pause(duration.0).await?;
                details.push(format!("waited {}", humantime::format_duration(duration.0)));
            }
            Step::Soak { .. } => unreachable!("soak is run by Runner::soak"),
        }
        details.dedup();
        Ok(details.join("; "))
    }

    /// Polls the group until it settles, the settle timeout passes, or the run is interrupted.
    /// Returns ARM's last view of it, its IP, and why it did not settle (`None` when it did).
    async fn poll_settled(&self, m: &Member, client: &ArmClient) -> (Option<ArmView>, String, Option<String>) {
        let container = m.template.profile.container_name();
        let clock = self.client.clock().clone();
        let start = clock.now();
        let mut wait = Duration::from_secs(1);
        let mut last_err = String::new();
        let mut arm = None;
        let mut ip = String::new();
        loop {
            match client.get_group(&m.g).await {
                Ok(body) => {
                    let v = arm_view(&body, container);
                    ip = arm_ip(&body);
                    let done = settled(&v);
                    arm = Some(v);
                    if done {
                        return (arm, ip, None);
                    }
                }
                Err(e) => last_err = e.to_string(),
            }
            let interrupted = self.cancel.load(Ordering::SeqCst);
            if interrupted || clock.now() - start > self.cfg.settle_timeout {
                let why = match &arm {
                    _ if interrupted => "interrupted while waiting for it to settle".to_string(),
                    Some(v) => format!(
                        "after {} it was {} / {}",
                        humantime::format_duration(self.cfg.settle_timeout),
                        v.provisioning_state,
                        v.container_state
                    ),
                    None => format!("no answer within {}: {last_err}", humantime::format_duration(self.cfg.settle_timeout)),
                };
                return (arm, ip, Some(why));
            }
            if clock.sleep(wait).await.is_err() {
                return (arm, ip, None);
            }
            wait = (wait * 2).min(Duration::from_secs(15));
        }
    }

    /// Polls the group until it settles (bounded), then reads its logs.
    async fn observe(&self, m: &Member) -> Observation {
        self.observe_with(m, &self.client, true).await
    }

    /// Settles, reads the logs, and (with `exec`, when the container runs) runs the probe's
    /// report through exec.
    async fn observe_with(&self, m: &Member, client: &ArmClient, exec: bool) -> Observation {
        let container = m.template.profile.container_name();
        let (arm, ip, unsettled) = self.poll_settled(m, client).await;
        if let Some(why) = unsettled {
            return Observation {
                arm,
                placement: PlacementView { ip, ..Default::default() },
                logs: Err("not read".into()),
                exec: None,
                unsettled: Some(why),
            };
        }
        let logs = client
            .logs(&m.g, container, self.cfg.log_tail)
            .await
            .map(|t| crate::probe::read_logs(&t))
            .map_err(|e| format!("the logs could not be read: {e}"));
        let (host, boot) = match &logs {
            Ok(LogReading::Probe(p)) => (p.host.clone(), p.boot.clone()),
            _ => (String::new(), String::new()),
        };
        let running = arm.as_ref().is_some_and(|a| a.container_state.starts_with("Running"));
        let exec = if exec && running {
            Some(
                crate::exec::exec(client, &m.g, container, crate::exec::REPORT_COMMAND, Duration::from_secs(60))
                    .await
                    .map(|out| crate::probe::read_logs(&out))
                    .map_err(|e| e.to_string()),
            )
        } else {
            None
        };
        Observation { arm, placement: PlacementView { host, boot, ip }, logs, exec, unsettled: None }
    }

    #[allow(clippy::too_many_arguments)]
    fn record_checks(
        &self,
        sc: &Scenario,
        n: u32,
        m: &mut Member,
        at: &At<'_>,
        before: &Before,
        obs: &Observation,
    ) -> Result<Vec<(Channel, Verdict)>, HarnessError> {
        let mut verdicts = Vec::new();
        for (ch, fp) in &m.expected {
            let v = judge(obs, *ch, fp);
            verdicts.push((*ch, v.verdict));
            let row = CheckRow {
                scenario: sc.name.clone(),
                iteration: n,
                group: m.g.name.clone(),
                step_index: at.index,
                step: at.step.to_string(),
                channel: ch.as_str().into(),
                verdict: v.verdict,
                reason: v.reason,
                method: v.method,
                expected_fp: fp.clone(),
                observed_fp: v.observed,
                time: crate::rfc3339(self.client.clock().now()),
                zone: m.template.zones.first().cloned().unwrap_or_else(|| "any".into()),
                profile: m.template.profile.as_str().into(),
                hypothesis: at.hypothesis.get(ch).cloned().unwrap_or_default(),
                arm_before: before.arm.clone(),
                arm_after: obs.arm.clone().unwrap_or_default(),
                placement_before: before.placement.clone(),
                placement_after: obs.placement.clone(),
            };
            self.recorder.record(Phase::Info, Record::Check(Box::new(row)))?;
        }
        // The verdicts each member ended with, for the scenario's expectation.
        m.last = verdicts.iter().copied().collect();
        Ok(verdicts)
    }
}

/// The body ARM's `GET` returned, as a client that round-trips it would `PUT` it back:
/// read-only fields dropped, everything else (secure variables without values) kept.
pub fn roundtrip_body(got: &Value) -> Value {
    let mut b = got.clone();
    if let Some(o) = b.as_object_mut() {
        for k in ["id", "name", "type"] {
            o.remove(k);
        }
    }
    if let Some(p) = b.get_mut("properties").and_then(Value::as_object_mut) {
        p.remove("provisioningState");
        p.remove("instanceView");
        if let Some(Value::Array(cs)) = p.get_mut("containers") {
            for c in cs {
                if let Some(cp) = c.get_mut("properties").and_then(Value::as_object_mut) {
                    cp.remove("instanceView");
                }
            }
        }
    }
    b
}

/// An activity-log event as a capture keeps it. Claims name the caller's identity and address:
/// not evidence, and not ours to publish. Azure also logs some writes' request and response
/// bodies, which hold the spec with its plain environment values (the plain-env control secret
/// among them): dropped too. Whatever else quotes a value is masked by `mask`, as logs are.
fn clean_activity_event(mut e: Value, mask: impl Fn(String) -> String) -> Value {
    if let Some(o) = e.as_object_mut() {
        o.remove("claims");
        o.remove("httpRequest");
    }
    if let Some(p) = e.get_mut("properties").and_then(Value::as_object_mut) {
        p.retain(|k, _| !matches!(k.to_ascii_lowercase().as_str(), "requestbody" | "responsebody"));
    }
    serde_json::from_str(&mask(e.to_string())).unwrap_or(e)
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "unknown" } else { s }
}

fn unobserved(why: &str) -> Observation {
    Observation { arm: None, placement: PlacementView::default(), logs: Err(why.to_string()), exec: None, unsettled: None }
}

fn fired_detail(f: &FiredFault) -> String {
    let o = f.outcome.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    if o.is_empty() { format!("{} fired at {}", f.kind, f.at) } else { format!("{} fired at {}: {o}", f.kind, f.at) }
}

fn describe(step: &Step) -> String {
    let h = step
        .hypothesis()
        .filter(|h| !h.is_empty())
        .map(|h| format!(" (hypothesis: {})", h.iter().map(|(c, f)| format!("{c} {}", Fate::describe(f))).collect::<Vec<_>>().join(", ")));
    match step {
        Step::Wait { duration } => format!("wait {}", humantime::format_duration(duration.0)),
        Step::Soak { duration, every } => {
            format!("soak {} every {}", humantime::format_duration(duration.0), humantime::format_duration(every.0))
        }
        Step::ZoneChange { to } => format!("zone-change to {to}"),
        other => format!("{}{}", other.name(), h.unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_activity_events_keep_no_caller_details_bodies_or_values() {
        let e = json!({
            "caller": "someone@example.com",
            "claims": {"ipaddr": "203.0.113.7", "name": "Someone"},
            "httpRequest": {"clientIpAddress": "203.0.113.7"},
            "properties": {"statusCode": "Created", "responseBody": "{\"value\":\"plain-secret\"}", "requestbody": "x",
                           "title": "moved", "note": "mentions plain-secret"},
        });
        let kept = clean_activity_event(e, |t| t.replace("plain-secret", "***"));
        assert!(kept.get("claims").is_none() && kept.get("httpRequest").is_none(), "{kept}");
        assert!(kept["properties"].get("responseBody").is_none() && kept["properties"].get("requestbody").is_none(), "{kept}");
        assert_eq!(kept["properties"]["note"], "mentions ***");
        assert_eq!(kept["properties"]["statusCode"], "Created");
        assert_eq!(kept["caller"], "someone@example.com", "the caller stays: who changed the group is evidence");
    }
}

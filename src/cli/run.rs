//! `aci-chaos run`: resolve the target, run the suites, write the evidence, print the summary.

/// Writes a line to stdout, ignoring a closed pipe (`aci-chaos run … | head`): by then the run
/// has cleaned up, and a panic on output would be the last thing a user sees.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

use super::Failure;
use super::args::{AuthArg, AzureArgs, DEFAULT_ARM_ENDPOINT, FailOn, RunArgs, SoakCheckArgs};
use super::progress::Bar;
use aci_chaos_harness::arm::retry::RetryPolicy;
use aci_chaos_harness::arm::{ArmClient, DEFAULT_API_VERSION, RunGuard};
use aci_chaos_harness::auth::StaticTokenCredential;
use aci_chaos_harness::clock::{Clock, MockClock, RealClock, ScaledClock};
use aci_chaos_harness::mock_admin::MockAdmin;
use aci_chaos_harness::plan::{Budget, PlanTarget, Prices};
use aci_chaos_harness::recorder::Recorder;
use aci_chaos_harness::runner::{DriveMode, RunConfig, Runner};
use aci_chaos_harness::secret::SecretSource;
use aci_chaos_harness::state::{RunLock, RunSetup, RunState, RunStatus, SavedAzure, SavedSuite, StateFile};
use aci_chaos_harness::suite::Step;
use aci_chaos_harness::suite::Suite;
use aci_chaos_reports::{Evidence, HistoryWriter, Phase, Record, RunEnd, RunMeta, StepEvent};
use anyhow::{Context, anyhow};
use clap::ValueEnum;
use mock_arm::{ClockMode, MockConfig, MockServer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The suite `run` uses when none is named.
pub const DEFAULT_SUITE: &str = "scenarios/default.toml";
const EMBEDDED_DEFAULT: &str = include_str!("../../scenarios/default.toml");

/// The run id of an embedded-mock run: derived from the seed, so the same seed gives the same
/// group names and the same evidence.
pub fn seeded_run_id(seed: u64) -> String {
    hex_prefix(&Sha256::digest(format!("aci-chaos run {seed}").as_bytes()), 6)
}

fn hex_prefix(bytes: &[u8], n: usize) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()[..n].to_string()
}

fn load_suites(paths: &[PathBuf]) -> Result<(Vec<Suite>, Vec<String>), Failure> {
    if paths.is_empty() {
        let p = Path::new(DEFAULT_SUITE);
        let suite =
            if p.exists() { Suite::load(p) } else { Suite::parse(Path::new("(built-in) scenarios/default.toml"), EMBEDDED_DEFAULT) };
        let suite = suite.map_err(Failure::usage)?;
        super::scenarios::check_mock_faults(&suite).map_err(Failure::usage)?;
        return Ok((vec![suite], vec![DEFAULT_SUITE.into()]));
    }
    let mut suites = Vec::new();
    for p in paths {
        let suite = Suite::load(p).map_err(Failure::usage)?;
        super::scenarios::check_mock_faults(&suite).map_err(Failure::usage)?;
        suites.push(suite);
    }
    Ok((suites, paths.iter().map(|p| p.display().to_string()).collect()))
}

/// Group names carry the scenario name, so two scenarios of one run may not share a name.
fn check_names(suites: &[Suite]) -> Result<(), Failure> {
    let mut seen: std::collections::BTreeMap<&str, &Path> = std::collections::BTreeMap::new();
    for s in suites {
        for sc in &s.scenarios {
            if let Some(first) = seen.insert(&sc.name, &s.file) {
                return Err(Failure::usage(anyhow!(
                    "scenario `{}` is in both {} and {}: scenario names must be unique within a run (they are part of group names)",
                    sc.name,
                    first.display(),
                    s.file.display()
                )));
            }
        }
    }
    Ok(())
}

/// Picks an output folder that does not exist yet, so nothing the user had is overwritten.
fn out_dir(requested: Option<&PathBuf>, run_id: &str) -> Result<PathBuf, Failure> {
    let base = requested.cloned().unwrap_or_else(|| PathBuf::from("out").join(run_id));
    if base.exists() && !base.is_dir() {
        return Err(Failure::usage(anyhow!(
            "--out {}: exists and is not a folder: expected a folder to write the evidence into",
            base.display()
        )));
    }
    let mut dir = base.clone();
    let mut n = 2;
    while dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        dir = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    if dir != base {
        eprintln!("note: {} is not empty; writing to {} instead (nothing is overwritten)", base.display(), dir.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    Ok(dir)
}

struct Target {
    label: String,
    endpoint: String,
    mock: Option<MockAdmin>,
    subscription: String,
    clock: Arc<dyn Clock>,
    _server: Option<MockServer>,
    /// Real subscription: the credential that worked, and the client to send with it.
    azure: Option<(aci_chaos_harness::auth::ResolvedCredential, reqwest::Client)>,
}

impl Target {
    /// The tenant: the mock's, or the one the credential's token names.
    async fn tenant(&self) -> Option<String> {
        match &self.mock {
            Some(admin) => admin.info().await.ok().flatten().map(|i| i.tenant),
            None => self.azure.as_ref().and_then(|(r, _)| r.tenant.clone()),
        }
    }
}

/// The subscription id of `--target azure` (flag or AZURE_SUBSCRIPTION_ID), checked.
pub fn azure_subscription(azure: &super::args::AzureArgs) -> Result<String, Failure> {
    let sub = azure.subscription.as_deref().map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
        Failure::usage(anyhow!("a real subscription needs --subscription ID (or AZURE_SUBSCRIPTION_ID); nothing was sent"))
    })?;
    if !sub.chars().all(|c| c.is_ascii_hexdigit() || c == '-') || sub.len() > 64 {
        return Err(Failure::usage(anyhow!("--subscription `{sub}`: expected a subscription id (a GUID)")));
    }
    Ok(sub.to_string())
}

/// The extra trusted roots (PEM) of --ca-cert and SSL_CERT_FILE, for the exec websocket.
pub fn azure_roots(azure: &super::args::AzureArgs) -> Result<Vec<u8>, Failure> {
    let files = aci_chaos_harness::arm::extra_roots(azure.ca_cert.as_deref()).map_err(Failure::usage)?;
    Ok(files
        .into_iter()
        .flat_map(|(_, mut pem)| {
            pem.push(b'\n');
            pem
        })
        .collect())
}

/// Connects to a real subscription: the HTTP client (trusting --ca-cert), the credential (which
/// method worked is printed), and the ARM endpoint.
pub async fn connect_azure(
    azure: &super::args::AzureArgs,
) -> Result<(aci_chaos_harness::auth::ResolvedCredential, reqwest::Client, url::Url), Failure> {
    let endpoint = url::Url::parse(&format!("{}/", azure.arm_endpoint.trim_end_matches('/')))
        .map_err(|e| Failure::usage(anyhow!("--arm-endpoint {}: {e}", azure.arm_endpoint)))?;
    if endpoint.scheme() != "https" {
        return Err(Failure::usage(anyhow!("--arm-endpoint {}: tokens are only sent over https", azure.arm_endpoint)));
    }
    if azure.auth == super::args::AuthArg::Env {
        let missing: Vec<&str> = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"]
            .into_iter()
            .filter(|v| std::env::var(v).map(|v| v.trim().is_empty()).unwrap_or(true))
            .collect();
        if !missing.is_empty() {
            return Err(Failure::usage(anyhow!("--auth env: {} not set (a service principal needs all three)", missing.join(", "))));
        }
    }
    let http = aci_chaos_harness::arm::http_client(azure.ca_cert.as_deref(), Duration::from_secs(120)).map_err(Failure::usage)?;
    let opts = aci_chaos_harness::auth::AuthOptions {
        method: azure.auth.method(),
        authority_host: azure.authority_host.clone(),
        http: http.clone(),
    };
    let resolved = aci_chaos_harness::auth::resolve(&opts, &aci_chaos_harness::auth::arm_scope(endpoint.as_str())).await?;
    eprintln!("auth: using {} credential (owner {})", resolved.method.as_str(), resolved.owner);
    Ok((resolved, http, endpoint))
}

/// The subscription and a history-less ARM client on the real clock, for the commands that look
/// after a subscription outside a run (`cleanup`, `inspect`).
pub async fn azure_client(azure: &super::args::AzureArgs) -> Result<(String, ArmClient), Failure> {
    let subscription = azure_subscription(azure)?;
    let (resolved, http, endpoint) = connect_azure(azure).await?;
    let clock: Arc<dyn Clock> = Arc::new(RealClock);
    let client = ArmClient::new(
        http,
        endpoint,
        resolved.credential,
        DEFAULT_API_VERSION,
        clock.clone(),
        Recorder::new(None, clock),
        RetryPolicy::default(),
    )
    .with_extra_roots(azure_roots(azure)?);
    Ok((subscription, client))
}

async fn resolve_target(target: &str, azure: &AzureArgs, seed: u64, http: &reqwest::Client) -> Result<Target, Failure> {
    match target {
        "azure" => {
            let subscription = azure_subscription(azure)?;
            let (resolved, azure_http, endpoint) = connect_azure(azure).await?;
            Ok(Target {
                label: format!("azure ({})", endpoint.host_str().unwrap_or("?")),
                endpoint: endpoint.as_str().trim_end_matches('/').to_string(),
                mock: None,
                subscription,
                clock: Arc::new(RealClock),
                _server: None,
                azure: Some((resolved, azure_http)),
            })
        }
        "mock" => {
            let server = MockServer::start(MockConfig { seed, clock: ClockMode::Virtual, ..MockConfig::default() })
                .await
                .context("cannot start the embedded mock")?;
            let endpoint = server.base_url();
            let admin = MockAdmin::new(http.clone(), &endpoint);
            let info = admin.info().await?.ok_or_else(|| anyhow!("the embedded mock did not answer its admin plane"))?;
            let clock: Arc<dyn Clock> = Arc::new(MockClock::new(admin.clone()).await?);
            Ok(Target {
                label: "mock (embedded, virtual clock)".into(),
                endpoint,
                mock: Some(admin),
                subscription: info.subscription,
                clock,
                _server: Some(server),
                azure: None,
            })
        }
        url => {
            let parsed = url::Url::parse(url)
                .map_err(|e| Failure::usage(anyhow!("--target {url}: expected mock, azure or an http(s) URL ({e})")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(Failure::usage(anyhow!("--target {url}: expected an http or https URL")));
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(Failure::usage(anyhow!(
                    "--target: credentials in the URL are not supported (they would end up in the reports); the mock needs none"
                )));
            }
            let endpoint = url.trim_end_matches('/').to_string();
            let admin = MockAdmin::new(http.clone(), &endpoint);
            let info = admin.info().await.with_context(|| format!("cannot reach {endpoint}"))?.ok_or_else(|| {
                Failure::usage(anyhow!(
                    "{endpoint} is not an aci-chaos mock (no {}/info); real ARM is --target azure",
                    aci_chaos_harness::mock_admin::ADMIN_PREFIX
                ))
            })?;
            let clock: Arc<dyn Clock> = match info.clock.as_str() {
                "virtual" => Arc::new(MockClock::new(admin.clone()).await?),
                scaled if scaled.starts_with("scaled=") => {
                    let factor: f64 =
                        scaled["scaled=".len()..].parse().map_err(|_| anyhow!("the mock reports an unknown clock `{scaled}`"))?;
                    Arc::new(ScaledClock::new(&admin, factor).await?)
                }
                _ => {
                    eprintln!(
                        "note: {endpoint} runs on the real clock, so waits take real time (start it with --clock virtual for quick runs)"
                    );
                    Arc::new(RealClock)
                }
            };
            Ok(Target {
                label: format!("mock at {endpoint} ({} clock)", info.clock),
                endpoint,
                mock: Some(admin),
                subscription: info.subscription,
                clock,
                _server: None,
                azure: None,
            })
        }
    }
}

/// Runs the suites (or, with `--resume`, what is left of a run); returns the exit code.
pub async fn run(args: RunArgs) -> Result<u8, Failure> {
    if let Some(dir) = &args.resume {
        return resume(dir, &args.azure, args.fail_on, DriveMode::default()).await;
    }
    let (suites, suite_names) = load_suites(&args.suites)?;
    check_names(&suites)?;
    let valid_location = !args.location.is_empty() && args.location.len() <= 40 && args.location.chars().all(|c| c.is_ascii_alphanumeric());
    if !valid_location {
        return Err(Failure::usage(anyhow!("--location `{}`: expected a region name such as eastus or westeurope", args.location)));
    }
    let seed = args.seed.unwrap_or_else(rand_seed);
    let embedded = args.target == "mock";
    if args.detach && embedded {
        return Err(Failure::usage(anyhow!(
            "--detach needs a target that outlives this process: --target azure, or the URL of `aci-chaos mock serve --clock virtual` \
             (the embedded mock's world ends with the run)"
        )));
    }
    if args.detach && args.parallel > 1 {
        return Err(Failure::usage(anyhow!("--detach runs one iteration at a time: drop --parallel {}", args.parallel)));
    }
    if args.detach && !suites.iter().flat_map(|s| &s.scenarios).any(|sc| sc.steps.iter().any(|st| matches!(st, Step::Soak { .. }))) {
        return Err(Failure::usage(anyhow!("--detach stops at the first soak step, and these suites have none")));
    }
    // On a shared target every run needs its own id (group names and tags carry it).
    let run_id =
        args.run_id.clone().unwrap_or_else(|| if embedded { seeded_run_id(seed) } else { aci_chaos_harness::secret::random_hex(3) });
    let resource_group = args.resource_group.clone().unwrap_or_else(|| format!("acc-{run_id}"));
    // Plan, budgets and mock-only steps are checked before any request or credential.
    preflight(&args, &suites, &run_id, &resource_group)?;
    if args.dry_run {
        return Ok(0);
    }
    // Listen for Ctrl-C/SIGTERM from before the first request: an interrupt that comes while
    // the run is starting is then seen by the watcher below (never the default "die now").
    let signals = Signals::new();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().context("cannot build the HTTP client")?;
    let target = resolve_target(&args.target, &args.azure, seed, &http).await?;
    let dir = out_dir(args.out.as_ref(), &run_id)?;
    let lock = if embedded { None } else { Some(RunLock::take(&dir)?) };
    let history = HistoryWriter::create(&dir.join("history.jsonl"))?;
    let recorder = Recorder::new(Some(history), target.clock.clone());

    let mut reproduce = format!("aci-chaos run {}", suite_names.join(" "));
    if !embedded {
        reproduce.push_str(&format!(" --target {} --run-id {run_id}", args.target));
    }
    if args.target == "azure" {
        // The subscription as a placeholder (reports are shared); the rest as given.
        reproduce.push_str(" --subscription <id>");
        if args.azure.arm_endpoint != DEFAULT_ARM_ENDPOINT {
            reproduce.push_str(&format!(" --arm-endpoint {}", args.azure.arm_endpoint));
        }
        if let Some(a) = &args.azure.authority_host {
            reproduce.push_str(&format!(" --authority-host {a}"));
        }
    }
    if let Some(rg) = &args.resource_group {
        reproduce.push_str(&format!(" -g {rg}"));
    }
    reproduce.push_str(&format!(" --seed {seed}"));
    // The region always: a merged report of a CI matrix must reproduce each leg where it ran.
    reproduce.push_str(&format!(" -l {}", args.location));
    let meta = RunMeta {
        run_id: run_id.clone(),
        target: target.label.clone(),
        endpoint: if embedded { "embedded".into() } else { target.endpoint.clone() },
        region: args.location.clone(),
        api_version: DEFAULT_API_VERSION.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: Some(env!("ACI_CHAOS_GIT_COMMIT")).filter(|c| !c.is_empty()).map(String::from),
        seed,
        suites: suites.iter().map(|s| s.name.clone()).collect(),
        started: aci_chaos_harness::wall_now(),
        reproduce,
        // Recorded so every file can mask them (history.jsonl included) unless --no-redact.
        subscription: Some(target.subscription.clone()),
        tenant: target.tenant().await,
        redact: !args.no_redact,
    };
    recorder.record(Phase::Info, Record::RunStarted(meta))?;
    eprintln!("aci-chaos run {run_id}: {} against {} (seed {seed})", suite_names.join(", "), target.label);

    let cfg = RunConfig {
        run_id: run_id.clone(),
        subscription: target.subscription.clone(),
        resource_group: resource_group.clone(),
        location: args.location.clone(),
        secrets: if target.mock.is_some() { SecretSource::Seeded(seed) } else { SecretSource::Os },
        parallel: parallel(&args, &target),
        settle_timeout: Duration::from_secs(600),
        log_tail: 10,
    };
    // What a later process needs to go on (resume, soak check). The embedded mock's world
    // ends with this process, so there is nothing to go on with; and with iterations side by
    // side there is no one point the history could be cut at.
    let state = if embedded {
        None
    } else if cfg.parallel > 1 {
        eprintln!("note: with --parallel {} this run cannot be resumed (state.json needs one iteration at a time)", cfg.parallel);
        None
    } else {
        let mut saved = Vec::new();
        for (s, name) in suites.iter().zip(&suite_names) {
            let text = if name == DEFAULT_SUITE && !Path::new(DEFAULT_SUITE).exists() {
                EMBEDDED_DEFAULT.to_string()
            } else {
                std::fs::read_to_string(&s.file).with_context(|| format!("cannot read {} again", s.file.display()))?
            };
            saved.push(SavedSuite { path: s.file.clone(), text });
        }
        let setup = RunSetup {
            run_id: run_id.clone(),
            seed,
            target: args.target.clone(),
            subscription: target.subscription.clone(),
            resource_group: resource_group.clone(),
            location: args.location.clone(),
            suites: saved,
            seeded_secrets: matches!(cfg.secrets, SecretSource::Seeded(_)),
            log_tail: cfg.log_tail,
            settle_timeout_secs: cfg.settle_timeout.as_secs(),
            no_redact: args.no_redact,
            azure: (args.target == "azure").then(|| SavedAzure {
                auth: args.azure.auth.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_else(|| "auto".into()),
                arm_endpoint: args.azure.arm_endpoint.clone(),
                authority_host: args.azure.authority_host.clone(),
                ca_cert: args.azure.ca_cert.as_ref().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            }),
        };
        let file = StateFile::new(
            &dir,
            RunState {
                format: aci_chaos_harness::state::FORMAT.into(),
                status: RunStatus::Running,
                setup,
                progress: Default::default(),
                history: recorder.mark(),
                checksum: String::new(),
            },
        );
        file.save(|_| {})?;
        Some(file)
    };
    let mode = DriveMode { soak_rounds: args.detach.then_some(0), ..DriveMode::default() };
    let client = arm_client(&target, &run_id, &http, recorder.clone(), &args.azure)?;
    drive(Drive {
        target,
        suites,
        dir,
        recorder,
        client,
        cfg,
        state,
        resuming: false,
        mode,
        fail_on: args.fail_on,
        no_redact: args.no_redact,
        max_duration: args.max_duration,
        signals,
        _lock: lock,
    })
    .await
}

/// The ARM client of a run: on Azure with the credential that worked and the run-tag guard; on
/// the mock with a static token.
fn arm_client(target: &Target, run_id: &str, http: &reqwest::Client, recorder: Recorder, azure: &AzureArgs) -> Result<ArmClient, Failure> {
    let base = url::Url::parse(&format!("{}/", target.endpoint)).context("bad target URL")?;
    Ok(match &target.azure {
        Some((resolved, azure_http)) => ArmClient::new(
            azure_http.clone(),
            base,
            resolved.credential.clone(),
            DEFAULT_API_VERSION,
            target.clock.clone(),
            recorder,
            RetryPolicy::default(),
        )
        .guarded(RunGuard { run_id: run_id.to_string(), owner: resolved.owner.clone() })
        .with_extra_roots(azure_roots(azure)?),
        None => {
            let credential = Arc::new(StaticTokenCredential::new("aci-chaos-mock-token"));
            ArmClient::new(http.clone(), base, credential, DEFAULT_API_VERSION, target.clock.clone(), recorder, RetryPolicy::default())
        }
    })
}

/// Goes on with a run from its folder's state.json: `run --resume` (everything left) and `soak
/// check` (one round).
pub async fn resume(dir: &Path, azure: &AzureArgs, fail_on: Option<FailOn>, mode: DriveMode) -> Result<u8, Failure> {
    if !dir.exists() {
        return Err(Failure::usage(anyhow!("{}: no such run folder", dir.display())));
    }
    if !dir.is_dir() {
        return Err(Failure::usage(anyhow!("{}: not a folder: expected a run's output folder (it holds state.json)", dir.display())));
    }
    // Read before locking (a folder that is no run gets no lock file); read again under the lock.
    let loaded = RunState::load(dir);
    let lock = if loaded.is_ok() { Some(RunLock::take(dir)?) } else { None };
    let reloaded = match loaded {
        Ok(_) => RunState::load(dir),
        Err(e) => Err(e),
    };
    let saved = match reloaded {
        Ok(s) => s,
        Err(e) => {
            let embedded = aci_chaos_reports::history::read_run_dir(dir)
                .ok()
                .and_then(|h| h.into_iter().find_map(|l| if let Record::RunStarted(m) = l.record { Some(m.endpoint) } else { None }))
                .is_some_and(|e| e == "embedded");
            if embedded {
                return Err(Failure::usage(anyhow!(
                    "{} is a run on the embedded mock, whose world ended with its process: it cannot be resumed \
                     (run the suite again with the same --seed for the same evidence, or use `aci-chaos mock serve` and --target URL)",
                    dir.display()
                )));
            }
            return Err(e.into());
        }
    };
    let setup = saved.setup.clone();
    if saved.status == RunStatus::Finished {
        // A process killed between saving `finished` and writing the reports left none.
        let missing = ["report.md", "evidence.csv", "junit.xml"].iter().any(|f| !dir.join(f).exists());
        if missing {
            write_reports(dir, setup.no_redact)?;
            out!("run {} in {} is finished; its reports were missing and are written again", setup.run_id, dir.display());
        } else {
            out!("run {} in {} is finished: nothing to do (its reports are final)", setup.run_id, dir.display());
        }
        return Ok(0);
    }
    let history_path = dir.join("history.jsonl");
    let on_disk = std::fs::metadata(&history_path).map(|m| m.len()).map_err(|_| {
        Failure::usage(anyhow!(
            "{}: missing: the run's evidence is gone, so it cannot be resumed (the groups of run {} may still run: `aci-chaos cleanup --run {}`)",
            history_path.display(),
            setup.run_id,
            setup.run_id
        ))
    })?;
    check_history(&history_path, &saved)?;
    if on_disk < saved.history.bytes {
        return Err(Failure::usage(anyhow!(
            "{}: {on_disk} bytes, shorter than the {} the saved point needs: it was cut or replaced, and going on would lose evidence \
             (restore it; `aci-chaos cleanup --run {}` ends the run instead)",
            history_path.display(),
            saved.history.bytes,
            setup.run_id
        )));
    }
    let mut suites = Vec::new();
    for s in &setup.suites {
        suites.push(Suite::parse(&s.path, &s.text).map_err(Failure::usage)?);
    }
    saved.check(&suites)?;
    let signals = Signals::new();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().context("cannot build the HTTP client")?;
    let azure = resumed_azure(&setup, azure)?;
    let target = resolve_target(&setup.target, &azure, setup.seed, &http).await?;
    if target.subscription != setup.subscription {
        return Err(Failure::usage(anyhow!(
            "the target's subscription is not the one run {} ran in: it cannot be the same world",
            setup.run_id
        )));
    }
    let gone = check_world(&saved, &target, &http, &azure).await?;
    // The file holds the ids masked: the writer must learn the real ones to go on masking.
    let mut redactor = aci_chaos_reports::Redactor::new(!setup.no_redact);
    redactor.know(&setup.subscription);
    if let Some(tenant) = target.tenant().await {
        redactor.know(&tenant);
    }
    let (history, moved) = HistoryWriter::resume(&history_path, saved.history.bytes, redactor)?;
    let recorder = Recorder::resume(Some(history), saved.history.seq, target.clock.clone());
    if let Some(group) = gone {
        // Its groups were deleted outside the run (cleanup --run, a restarted mock, a person):
        // the run is over. Say so once, in the evidence too; later calls find it finished.
        let why = format!(
            "container group {group} of run {} is gone from the target{}: the run cannot go on where it stopped",
            setup.run_id,
            if setup.azure.is_some() {
                " (deleted outside the run, e.g. by `aci-chaos cleanup`)"
            } else {
                " (the mock restarted, or the group was deleted)"
            }
        );
        recorder.record(
            Phase::Info,
            Record::RunFinished(RunEnd {
                finished: aci_chaos_harness::wall_now(),
                cleanup: "ended outside the run: its groups were already gone".into(),
                error: Some(why.clone()),
            }),
        )?;
        write_reports(dir, setup.no_redact)?;
        let state = StateFile::new(dir, saved);
        let mark = recorder.mark();
        state.save(|s| {
            s.status = RunStatus::Finished;
            s.history = mark;
        })?;
        eprintln!("error: {why}. The run is marked finished; its evidence is in {}/ (what is left: {})", dir.display(), end_early(&setup));
        return Ok(1);
    }
    let how = if mode.soak_rounds.is_some() { "soak check" } else { "run --resume" };
    if saved.status == RunStatus::Running || moved.is_some() {
        // The last process died without stopping on purpose: say so in the evidence.
        let detail = match &moved {
            Some(p) => format!(
                "{how}: going on from the last saved point; what was recorded after it is kept in {} and done again",
                p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
            ),
            None => format!("{how}: going on from the last saved point"),
        };
        recorder.record(Phase::Info, Record::Step(StepEvent::of_run(StepEvent::RESUME, detail)))?;
    }
    eprintln!("aci-chaos {how} {}: run {} against {}", dir.display(), setup.run_id, target.label);
    let cfg = RunConfig {
        run_id: setup.run_id.clone(),
        subscription: setup.subscription.clone(),
        resource_group: setup.resource_group.clone(),
        location: setup.location.clone(),
        secrets: if setup.seeded_secrets { SecretSource::Seeded(setup.seed) } else { SecretSource::Os },
        parallel: 1,
        settle_timeout: Duration::from_secs(setup.settle_timeout_secs),
        log_tail: setup.log_tail,
    };
    let client = arm_client(&target, &setup.run_id, &http, recorder.clone(), &azure)?;
    let state = StateFile::new(dir, saved);
    state.save(|s| s.status = RunStatus::Running)?;
    drive(Drive {
        target,
        suites,
        dir: dir.to_path_buf(),
        recorder,
        client,
        cfg,
        state: Some(state),
        resuming: true,
        mode,
        fail_on,
        no_redact: setup.no_redact,
        max_duration: None,
        signals,
        _lock: lock,
    })
    .await
}

/// Before a resume sends anything: the groups the saved point says are running must still be
/// there. Returns the first one that is gone.
async fn check_world(saved: &RunState, target: &Target, http: &reqwest::Client, azure: &AzureArgs) -> Result<Option<String>, Failure> {
    let Some(cur) = saved.progress.current.as_ref().filter(|c| c.next_step > 0 && c.error.is_none()) else { return Ok(None) };
    let recorder = Recorder::new(None, target.clock.clone());
    let client = arm_client(target, &saved.setup.run_id, http, recorder, azure)?;
    for m in cur.members.iter().filter(|m| !m.deleted) {
        let g = aci_chaos_harness::arm::group::GroupRef {
            subscription: saved.setup.subscription.clone(),
            resource_group: saved.setup.resource_group.clone(),
            name: m.name.clone(),
        };
        match client.get_group(&g).await {
            Ok(_) => {}
            Err(aci_chaos_harness::HarnessError::Arm { status: 404, .. }) => return Ok(Some(m.name.clone())),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// The history up to the saved point must be whole: every line a record, the last one the saved
/// point's (an edited or damaged file would otherwise be cut at the wrong place).
fn check_history(path: &Path, saved: &RunState) -> Result<(), Failure> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let keep = saved.history.bytes as usize;
    let bad = |what: String| {
        Failure::usage(anyhow!(
            "{}: {what}: it was edited or damaged, and going on would lose or garble evidence (restore it; `aci-chaos cleanup --run {}` ends the run instead)",
            path.display(),
            saved.setup.run_id
        ))
    };
    if keep > text.len() {
        return Ok(()); // said by the caller, with the sizes
    }
    if keep == 0 || text[keep - 1] != b'\n' {
        return Err(bad(format!("the saved point ({keep} bytes) is not at the end of a line")));
    }
    let mut last = 0;
    for (i, line) in text[..keep].split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        let l = aci_chaos_reports::history::parse_line(&String::from_utf8_lossy(line))
            .map_err(|e| bad(format!("line {} is not a history record ({e})", i + 1)))?;
        last = l.seq;
    }
    if last != saved.history.seq {
        return Err(bad(format!("its last saved line is seq {last}, the saved point says {}", saved.history.seq)));
    }
    Ok(())
}

/// The real-subscription settings of a resumed run: those it started with, unless given again.
fn resumed_azure(setup: &RunSetup, given: &AzureArgs) -> Result<AzureArgs, Failure> {
    let mut azure = given.clone();
    azure.subscription = Some(setup.subscription.clone());
    if let Some(saved) = &setup.azure {
        if given.auth == AuthArg::Auto {
            azure.auth =
                AuthArg::from_str(&saved.auth, true).map_err(|e| Failure::usage(anyhow!("state.json: auth `{}`: {e}", saved.auth)))?;
        }
        if given.arm_endpoint == DEFAULT_ARM_ENDPOINT {
            azure.arm_endpoint = saved.arm_endpoint.clone();
        }
        azure.authority_host = given.authority_host.clone().or_else(|| saved.authority_host.clone());
        azure.ca_cert = given.ca_cert.clone().or_else(|| saved.ca_cert.clone());
    }
    Ok(azure)
}

/// How to end a detached soak early, as a command that works as printed (the endpoint flags
/// the run used; the subscription and credential as the user gives them).
fn end_early(setup: &RunSetup) -> String {
    let Some(az) = &setup.azure else {
        return format!("delete its groups (tag aci-chaos-run={}) on the mock at {}, or restart that mock", setup.run_id, setup.target);
    };
    let mut cmd = format!("aci-chaos cleanup --run {} -g {} --subscription <id>", setup.run_id, setup.resource_group);
    if az.arm_endpoint != DEFAULT_ARM_ENDPOINT {
        cmd.push_str(&format!(" --arm-endpoint {}", az.arm_endpoint));
    }
    if let Some(a) = &az.authority_host {
        cmd.push_str(&format!(" --authority-host {a}"));
    }
    if let Some(ca) = &az.ca_cert {
        cmd.push_str(&format!(" --ca-cert {}", ca.display()));
    }
    if az.auth != "auto" {
        cmd.push_str(&format!(" --auth {}", az.auth));
    }
    cmd
}

/// `aci-chaos soak check DIR`.
pub async fn soak_check(args: SoakCheckArgs) -> Result<u8, Failure> {
    let mode = DriveMode { soak_rounds: Some(1), max_wait: Some(args.max_wait), keep_on_interrupt: true };
    resume(&args.dir, &args.azure, args.fail_on, mode).await
}

/// Everything a run needs once it is set up (fresh or resumed).
struct Drive {
    target: Target,
    suites: Vec<Suite>,
    dir: PathBuf,
    recorder: Recorder,
    client: ArmClient,
    cfg: RunConfig,
    state: Option<StateFile>,
    resuming: bool,
    mode: DriveMode,
    fail_on: Option<FailOn>,
    no_redact: bool,
    max_duration: Option<Duration>,
    signals: Signals,
    _lock: Option<RunLock>,
}

/// Runs the runner, watching for interrupts; writes the reports; prints the summary.
async fn drive(d: Drive) -> Result<u8, Failure> {
    let run_id = d.cfg.run_id.clone();
    let dir = d.dir.clone();
    let cancel = Arc::new(AtomicBool::new(false));
    let keep = d.mode.keep_on_interrupt;
    let watcher = {
        let cancel = cancel.clone();
        let run_tag = run_id.clone();
        let mut signals = d.signals;
        tokio::spawn(async move {
            if signals.next().await {
                if keep {
                    eprintln!(
                        "\ninterrupted: stopping after the current check; the soak's groups keep running and the next call goes on from the last saved round"
                    );
                } else {
                    eprintln!(
                        "\ninterrupted: finishing the current steps and deleting every group this run created (interrupt again to quit now)"
                    );
                }
                cancel.store(true, Ordering::SeqCst);
                if signals.next().await {
                    if keep {
                        eprintln!("quitting now: the soak's groups keep running; the next call goes on from the last saved round");
                    } else {
                        eprintln!(
                            "quitting without cleanup: groups tagged aci-chaos-run={run_tag} may be left behind; delete them with: aci-chaos cleanup --run {run_tag}"
                        );
                    }
                    std::process::exit(130);
                }
            }
        })
    };
    let deadline = d.max_duration.map(|max| {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(max).await;
            eprintln!(
                "\n--max-duration {} reached: starting no new step, deleting every group this run created",
                humantime::format_duration(max)
            );
            cancel.store(true, Ordering::SeqCst);
        })
    });
    let bar = Bar::new();
    let started = Instant::now();
    let mut runner = Runner::new(d.cfg, d.client, d.target.mock.clone(), d.recorder.clone(), &bar, &cancel).with_mode(d.mode);
    if let Some(state) = &d.state {
        runner = runner.with_state(state, d.resuming);
    }
    let result = runner.run(&d.suites).await;
    bar.finish();
    watcher.abort();
    if let Some(t) = deadline {
        t.abort();
    }
    let interrupted = cancel.load(Ordering::SeqCst);
    if let Ok(r) = &result
        && let Some(why) = &r.detached
    {
        if interrupted {
            // Cut mid-way: the history mark stays at the last saved point, so what was
            // recorded since is set aside and done again by the next call.
            if let Some(state) = &d.state {
                state.save(|s| s.status = RunStatus::Detached)?;
            }
        } else {
            // A clean stop comes right after a saved point: the detach line joins it.
            d.recorder.record(Phase::Info, Record::Step(StepEvent::of_run(StepEvent::DETACH, why.clone())))?;
            if let Some(state) = &d.state {
                let mark = d.recorder.mark();
                state.save(|s| {
                    s.status = RunStatus::Detached;
                    s.history = mark;
                })?;
            }
        }
        write_reports(&dir, d.no_redact)?;
        let soak = d.state.as_ref().and_then(|s| s.get().progress.current).and_then(|c| c.soak.map(|st| (c.scenario, st)));
        if let Some((scenario, st)) = soak {
            out!("{scenario}: {} soak rounds done, {} checks, {} recorded", st.rounds_done, st.checks, st.recorded);
        }
        out!("{why}");
        let end = d.state.as_ref().map(|s| end_early(&s.get().setup)).unwrap_or_default();
        out!(
            "the groups keep running (tagged aci-chaos-run={run_id}); evidence so far is in {}/\n  \
             next round:      aci-chaos soak check {}\n  \
             all the rest:    aci-chaos run --resume {}\n  \
             end it early:    {end}",
            dir.display(),
            dir.display(),
            dir.display()
        );
        return Ok(if interrupted { 130 } else { 0 });
    }
    let (cleanup, error) = match &result {
        Ok(r) if r.left_behind.is_empty() => ("every group deleted".to_string(), r.error.clone()),
        Ok(r) => (format!("left behind: {}", r.left_behind.join(", ")), r.error.clone()),
        Err(e) => ("unknown (the run stopped early)".to_string(), Some(e.to_string())),
    };
    let interrupted = result.as_ref().is_ok_and(|r| r.interrupted);
    let error = if interrupted {
        Some(format!(
            "interrupted: steps and iterations after the interrupt were not run{}",
            error.map(|e| format!("; {e}")).unwrap_or_default()
        ))
    } else {
        error
    };
    d.recorder
        .record(Phase::Info, Record::RunFinished(RunEnd { finished: aci_chaos_harness::wall_now(), cleanup, error: error.clone() }))?;
    // `finished` only once the reports are written: a process killed in between leaves a
    // state a resume finishes (it writes the reports).
    let finish = |state: &Option<StateFile>| -> Result<(), Failure> {
        if let Some(state) = state {
            let mark = d.recorder.mark();
            state.save(|s| {
                s.status = RunStatus::Finished;
                s.history = mark;
            })?;
        }
        Ok(())
    };
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            write_reports(&dir, d.no_redact)?;
            finish(&d.state)?;
            return Err(e.into());
        }
    };
    let ev = write_reports(&dir, d.no_redact)?;
    finish(&d.state)?;
    let summary = ev.summary();
    out!("{}", summary.to_text().trim_end());
    out!();
    if let Some(e) = &error {
        // Errors quote ARM paths: mask the ids there as in the files.
        eprintln!("warning: the run is incomplete: {}", ev.redactor(d.no_redact).apply(e));
    }
    for o in &result.outcomes {
        out!("{} {}: {} of {} iterations met the expectation", if o.passed { "pass" } else { "FAIL" }, o.scenario, o.met, o.total);
    }
    if !result.outcomes.is_empty() {
        out!();
    }
    out!(
        "evidence written to {}/ (report.md, evidence.csv, junit.xml, history.jsonl) in {:.1}s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    let total =
        |f: fn(&aci_chaos_reports::summary::Counts) -> usize| summary.channels.iter().map(|c| f(&summary.channel_total(c))).sum::<usize>();
    let (lost, unknown) = (total(|c| c.lost), total(|c| c.unknown));
    if interrupted {
        return Ok(130);
    }
    if error.is_some() {
        return Ok(1);
    }
    Ok(match d.fail_on {
        Some(FailOn::Lost) if lost > 0 => 1,
        Some(FailOn::Unknown) if lost + unknown > 0 => 1,
        Some(FailOn::Expect) if result.outcomes.iter().any(|o| !o.passed) => 1,
        _ => 0,
    })
}

/// Before any request: refuses steps the target cannot run, builds the plan and checks the
/// budgets (exit 2 when over), and prints the plan for `--dry-run`.
fn preflight(args: &RunArgs, suites: &[Suite], run_id: &str, resource_group: &str) -> Result<(), Failure> {
    let azure = args.target == "azure";
    let subscription = if azure {
        if args.dry_run {
            azure_subscription(&args.azure).unwrap_or_else(|_| "<subscription>".into())
        } else {
            azure_subscription(&args.azure)?
        }
    } else {
        "<mock subscription>".to_string()
    };
    if azure {
        // The runner's own check, on a runner that never sends anything.
        let clock: Arc<dyn Clock> = Arc::new(RealClock);
        let recorder = Recorder::new(None, clock.clone());
        let base = url::Url::parse("https://management.azure.com/").context("bad URL")?;
        let client = ArmClient::new(
            reqwest::Client::new(),
            base,
            Arc::new(StaticTokenCredential::new("unused")),
            DEFAULT_API_VERSION,
            clock,
            recorder.clone(),
            RetryPolicy::default(),
        );
        let cfg = RunConfig {
            run_id: run_id.into(),
            subscription: subscription.clone(),
            resource_group: resource_group.into(),
            location: args.location.clone(),
            secrets: SecretSource::Os,
            parallel: 1,
            settle_timeout: Duration::from_secs(600),
            log_tail: 10,
        };
        let never = AtomicBool::new(false);
        let progress = aci_chaos_harness::runner::NoProgress;
        Runner::new(cfg, client, None, recorder, &progress, &never).preflight(suites)?;
    }
    if !(args.price_vcpu_second.is_finite()
        && args.price_vcpu_second >= 0.0
        && args.price_gb_second.is_finite()
        && args.price_gb_second >= 0.0)
    {
        return Err(Failure::usage(anyhow!("--price-vcpu-second and --price-gb-second must be non-negative numbers")));
    }
    if args.max_cost.is_some_and(|c| !c.is_finite() || c < 0.0) {
        return Err(Failure::usage(anyhow!("--max-cost must be a non-negative number")));
    }
    let target = PlanTarget {
        run_id: run_id.into(),
        subscription,
        resource_group: resource_group.into(),
        location: args.location.clone(),
        parallel: args.parallel as usize,
    };
    let prices = Prices { vcpu_second: args.price_vcpu_second, gb_second: args.price_gb_second };
    let plan = aci_chaos_harness::plan::plan(suites, &target, prices, DEFAULT_API_VERSION);
    if args.dry_run {
        out!("dry run of run {run_id} against {} (nothing is sent, no credential is requested)\n", args.target);
        if azure {
            out!("every resource is tagged aci-chaos-run={run_id} and aci-chaos-owner=<the signed-in user or service principal>\n");
        }
        print!("{}", plan.to_text());
    }
    let budget = Budget { max_groups: args.max_groups, max_duration: args.max_duration, max_cost: args.max_cost };
    budget.check(&plan).map_err(|e| Failure::usage(anyhow!("{e}; nothing was sent")))?;
    Ok(())
}

/// Writes evidence.csv, report.md and junit.xml from history.jsonl as it is on disk (ids already
/// masked there), exactly as `aci-chaos report render` would, so the two give the same bytes.
fn write_reports(dir: &Path, keep_ids: bool) -> Result<Evidence, Failure> {
    Ok(aci_chaos_reports::output::render_dir(dir, keep_ids)?)
}

/// Ctrl-C (SIGINT) and SIGTERM, registered when created (so none is missed between creation and
/// the first wait).
struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self { streams: signal(SignalKind::interrupt()).ok().zip(signal(SignalKind::terminate()).ok()) }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Waits for the next interrupt.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.streams {
            return tokio::select! {
                r = int.recv() => r.is_some(),
                r = term.recv() => r.is_some(),
            };
        }
        interrupted().await
    }
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM (a CI job being cancelled, `timeout`).
async fn interrupted() -> bool {
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            return tokio::signal::ctrl_c().await.is_ok();
        };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            _ = term.recv() => true,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// Iterations at once. On a virtual clock they run one at a time: a shared clock that several
/// iterations advance would not keep time, and the evidence would depend on scheduling.
/// (Groups of one scenario still run side by side.)
fn parallel(args: &RunArgs, target: &Target) -> usize {
    let virtual_clock = target.label.contains("virtual");
    if virtual_clock && args.parallel > 1 {
        eprintln!(
            "note: --parallel {} ignored on a virtual clock: iterations run one at a time so time and evidence stay deterministic",
            args.parallel
        );
        return 1;
    }
    args.parallel as usize
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish() % 1_000_000
}

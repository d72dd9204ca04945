//! The command line. Flag names are a contract: scripts written against them keep working.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Evidence of whether secrets survive in Azure Container Instances.
#[derive(Debug, Parser)]
#[command(name = "aci-chaos", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug; or set ACI_CHAOS_LOG).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run suites and write evidence (history.jsonl, evidence.csv, report.md).
    Run(RunArgs),
    /// The mock ARM server.
    Mock {
        #[command(subcommand)]
        command: MockCommand,
    },
    /// Regenerate or combine reports from runs' history.jsonl.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Delete container groups a run left behind, found by their aci-chaos-run tag (never
    /// untagged ones).
    Cleanup(CleanupArgs),
    /// Read-only look at existing container groups: restarts, states, crash-loop signature,
    /// missing-secret log lines.
    Inspect(InspectArgs),
    /// Drive a detached soak (`run --detach`) from a scheduler, one round at a time.
    Soak {
        #[command(subcommand)]
        command: SoakCommand,
    },
    /// List, show and validate suite files.
    Scenarios {
        #[command(subcommand)]
        command: ScenariosCommand,
    },
}

/// `aci-chaos soak …`.
#[derive(Debug, Subcommand)]
pub enum SoakCommand {
    /// One round of checks of the soak a run folder holds: append the evidence, save the state,
    /// exit (its groups keep running). After the last round it finishes the run: the remaining
    /// steps, cleanup, final reports. For a GitHub Actions `schedule:` or a Kubernetes CronJob.
    Check(SoakCheckArgs),
}

/// `aci-chaos soak check`.
#[derive(Debug, Args)]
pub struct SoakCheckArgs {
    /// The run's output folder (it holds state.json).
    pub dir: PathBuf,
    /// On a real clock, the longest wait for a round that is not due yet; a round due later is
    /// left for the next call.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub max_wait: std::time::Duration,
    /// Make findings fail the call (exit 1), as for `run`.
    #[arg(long)]
    pub fail_on: Option<FailOn>,
    /// Real-subscription settings (default: those the run started with).
    #[command(flatten)]
    pub azure: AzureArgs,
}

/// `aci-chaos scenarios …`.
#[derive(Debug, Subcommand)]
pub enum ScenariosCommand {
    /// The suites in a folder and their scenarios.
    List {
        /// Folder of suite files.
        #[arg(long, default_value = "scenarios")]
        dir: PathBuf,
    },
    /// One suite or scenario in full (by suite name, scenario name, or file).
    Show {
        /// Suite name, scenario name, or a suite file.
        name: String,
        /// Folder of suite files.
        #[arg(long, default_value = "scenarios")]
        dir: PathBuf,
    },
    /// Check suite files; exit 2 if any is invalid.
    Validate {
        /// Suite files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// What `--fail-on` can make a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Exit 1 when any secret was lost.
    Lost,
    /// Exit 1 when any check was unknown (or lost).
    Unknown,
    /// Exit 1 when a scenario's `expect` did not hold under its pass policy.
    Expect,
}

/// `aci-chaos run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Suite files (default: scenarios/default.toml).
    pub suites: Vec<PathBuf>,
    /// Go on with the run in this folder (its state.json) where it stopped: after a crash, a
    /// closed laptop, a SIGKILL, or `--detach`. The run's own settings are used.
    #[arg(long, value_name = "DIR", conflicts_with_all = [
        "suites", "target", "seed", "out", "parallel", "location", "no_redact", "resource_group", "dry_run",
        "max_groups", "max_duration", "max_cost", "run_id", "detach",
    ])]
    pub resume: Option<PathBuf>,
    /// Stop when the first soak begins, leaving its groups running and the state in the output
    /// folder; `aci-chaos soak check DIR` then runs one round per call (from a scheduler), and
    /// `run --resume DIR` the rest at once. Needs a target that outlives this process.
    #[arg(long)]
    pub detach: bool,
    /// The run id (6 lowercase hex digits; default: random, or derived from the seed on the
    /// embedded mock). Group names and tags carry it.
    #[arg(long, value_parser = parse_run_id)]
    pub run_id: Option<String>,
    /// `mock` (an embedded mock, the default), `azure`, or the URL of a running mock.
    #[arg(long, default_value = "mock")]
    pub target: String,
    /// Seed of every random choice (default: a random one, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output folder (default: out/<run id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Scenario iterations run at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Location (region) to deploy to.
    #[arg(short = 'l', long, default_value = "eastus")]
    pub location: String,
    /// Make findings fail the run (exit 1): `lost`, or `unknown` (which includes lost).
    #[arg(long)]
    pub fail_on: Option<FailOn>,
    /// Keep subscription and tenant ids in the output files (they are masked by default).
    #[arg(long)]
    pub no_redact: bool,
    /// Resource group to deploy into (created if missing, and then deleted at the end; an
    /// existing one is kept). Default: acc-<run id>.
    #[arg(short = 'g', long)]
    pub resource_group: Option<String>,
    /// Print the plan (every ARM request, secrets masked; the groups; the cost estimate) and
    /// exit without sending anything or asking for a credential.
    #[arg(long)]
    pub dry_run: bool,
    /// Refuse to start when the run would create more container groups than this.
    #[arg(long)]
    pub max_groups: Option<usize>,
    /// Refuse to start when the run's estimated duration is longer (e.g. 2h); once running, no
    /// new step starts after it.
    #[arg(long, value_parser = parse_duration)]
    pub max_duration: Option<std::time::Duration>,
    /// Refuse to start when the estimated cost (vCPU-seconds and GB-seconds × the prices) is
    /// higher.
    #[arg(long)]
    pub max_cost: Option<f64>,
    /// Price of one vCPU-second for the estimate (default: ACI Linux pay-as-you-go, East US, USD).
    #[arg(long, default_value_t = aci_chaos_harness::plan::DEFAULT_PRICE_VCPU_SECOND)]
    pub price_vcpu_second: f64,
    /// Price of one GB-second of memory for the estimate.
    #[arg(long, default_value_t = aci_chaos_harness::plan::DEFAULT_PRICE_GB_SECOND)]
    pub price_gb_second: f64,
    /// Real-subscription settings (used with --target azure).
    #[command(flatten)]
    pub azure: AzureArgs,
}

/// How to reach a real subscription (`--target azure`, `cleanup`, `inspect`).
#[derive(Debug, Clone, Args)]
pub struct AzureArgs {
    /// Credential: auto (env, workload-identity, cli, managed-identity: the first that gives a
    /// token), cli, env, workload-identity or managed-identity.
    #[arg(long, value_enum, default_value = "auto")]
    pub auth: AuthArg,
    /// Subscription id.
    #[arg(long, env = "AZURE_SUBSCRIPTION_ID", hide_env_values = true)]
    pub subscription: Option<String>,
    /// Resource Manager endpoint (sovereign clouds; or a mock serving TLS, for tests).
    #[arg(long, default_value = DEFAULT_ARM_ENDPOINT)]
    pub arm_endpoint: String,
    /// Entra ID authority (default: AZURE_AUTHORITY_HOST, else https://login.microsoftonline.com).
    #[arg(long)]
    pub authority_host: Option<String>,
    /// Extra PEM certificate(s) to trust for HTTPS (e.g. what `mock serve --cert-out` wrote);
    /// SSL_CERT_FILE is also read.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
}

/// Azure public cloud's Resource Manager.
pub const DEFAULT_ARM_ENDPOINT: &str = "https://management.azure.com";

/// `--auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// Try env, workload-identity, cli, managed-identity in this order.
    Auto,
    /// Azure CLI / Azure Developer CLI login.
    Cli,
    /// AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET.
    Env,
    /// AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE.
    WorkloadIdentity,
    /// The machine's managed identity.
    ManagedIdentity,
}

impl AuthArg {
    /// The harness' method.
    pub fn method(self) -> aci_chaos_harness::auth::AuthMethod {
        use aci_chaos_harness::auth::AuthMethod as M;
        match self {
            Self::Auto => M::Auto,
            Self::Cli => M::Cli,
            Self::Env => M::Env,
            Self::WorkloadIdentity => M::WorkloadIdentity,
            Self::ManagedIdentity => M::ManagedIdentity,
        }
    }
}

fn parse_run_id(s: &str) -> Result<String, String> {
    if s.len() == 6 && s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
        Ok(s.to_string())
    } else {
        Err("expected 6 lowercase hex digits, e.g. 3fa9c1".into())
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. 90m, 2h, 1d)"))
}

/// `aci-chaos cleanup`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["run", "all_runs"])))]
pub struct CleanupArgs {
    /// Delete the groups of this run (its aci-chaos-run tag).
    #[arg(long)]
    pub run: Option<String>,
    /// Delete the groups of every aci-chaos run.
    #[arg(long)]
    pub all_runs: bool,
    /// Only groups created longer ago than this (e.g. 2h, 1d).
    #[arg(long, value_parser = parse_duration)]
    pub older_than: Option<std::time::Duration>,
    /// Only this resource group (default: the whole subscription).
    #[arg(short = 'g', long)]
    pub resource_group: Option<String>,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Subscription and credential.
    #[command(flatten)]
    pub azure: AzureArgs,
}

/// `aci-chaos inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Resource group of the container groups.
    #[arg(short = 'g', long)]
    pub resource_group: String,
    /// Only this container group.
    #[arg(short = 'n', long)]
    pub name: Option<String>,
    /// Extra log pattern (substring) that marks a missing secret; repeatable.
    #[arg(long)]
    pub pattern: Vec<String>,
    /// Ask each container through exec whether these variables are set (prints set/empty and a
    /// fingerprint, never a value).
    #[arg(long, num_args = 1..)]
    pub exec_check: Vec<String>,
    /// Print markdown instead of a text table.
    #[arg(long)]
    pub markdown: bool,
    /// Log lines read per container.
    #[arg(long, default_value_t = 200)]
    pub tail: usize,
    /// Subscription and credential.
    #[command(flatten)]
    pub azure: AzureArgs,
}

/// `aci-chaos mock …`.
#[derive(Debug, Subcommand)]
pub enum MockCommand {
    /// Serve the mock ARM until interrupted.
    Serve(ServeArgs),
    /// Reset a running mock: every part of its state back to its start.
    Reset(AdminArgs),
    /// Print a running mock's state snapshot (JSON; secrets absent).
    State(AdminArgs),
    /// Print a running mock's request log (JSON).
    Requests(AdminArgs),
    /// Make a running mock write its state to its --state-file.
    Save(AdminArgs),
    /// Make a running mock reload its state from its --state-file.
    Load(AdminArgs),
}

/// Where a running mock is, for the admin subcommands.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The mock's URL, as `mock serve` printed it.
    #[arg(long, env = "ACI_CHAOS_MOCK", default_value = "http://127.0.0.1:8443")]
    pub endpoint: String,
    /// PEM file to trust for an https endpoint (what `mock serve --cert-out` wrote).
    #[arg(long)]
    pub ca: Option<PathBuf>,
}

/// `aci-chaos mock serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `real`, `virtual` (moves only when advanced) or `scaled=N`.
    #[arg(long, default_value = "real")]
    pub clock: String,
    /// Also serve HTTPS on the same port, with a certificate generated at start (real Azure
    /// clients refuse bearer tokens over plain http).
    #[arg(long)]
    pub tls: bool,
    /// Write the PEM clients must trust for HTTPS here (e.g. for REQUESTS_CA_BUNDLE).
    #[arg(long, requires = "tls")]
    pub cert_out: Option<PathBuf>,
    /// Keep the state in this file: loaded at start when it exists, saved after every change.
    /// It holds the secrets sent to the mock (mode 0600).
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// The subscription `GET /subscriptions` lists.
    #[arg(long, default_value = "00000000-0000-0000-0000-00000000c0de")]
    pub subscription: String,
    /// The tenant the token issuer and the subscription belong to.
    #[arg(long, default_value = "00000000-0000-0000-0000-0000000000aa")]
    pub tenant: String,
    /// A fault file (TOML: planned runtime faults and control-plane rules; see the README)
    /// applied at start.
    #[arg(long)]
    pub faults: Option<PathBuf>,
}

/// `aci-chaos report …`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Regenerate report.md, junit.xml and evidence.csv in DIR from its history.jsonl.
    Render(RenderArgs),
    /// Combine runs (e.g. a CI matrix across regions) into one report that sums them.
    Merge(MergeArgs),
}

/// `aci-chaos report render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A run's output folder (it holds history.jsonl).
    pub dir: PathBuf,
    /// Keep subscription and tenant ids (they are masked by default).
    #[arg(long)]
    pub no_redact: bool,
}

/// `aci-chaos report merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Run output folders to combine.
    #[arg(required = true, num_args = 1..)]
    pub dirs: Vec<PathBuf>,
    /// New (or empty) folder for the combined history.jsonl and reports.
    #[arg(long)]
    pub out: PathBuf,
    /// Keep subscription and tenant ids (they are masked by default).
    #[arg(long)]
    pub no_redact: bool,
}

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
    /// List, show and validate suite files.
    Scenarios {
        #[command(subcommand)]
        command: ScenariosCommand,
    },
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
}

/// `aci-chaos run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Suite files (default: scenarios/default.toml).
    pub suites: Vec<PathBuf>,
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

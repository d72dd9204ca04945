//! The command line: argument parsing, the `run` and `mock` commands, progress and exit codes.

mod args;
mod cleanup;
mod inspect;
mod mock;
mod progress;
mod report;
mod run;
mod scenarios;

use clap::Parser;
use std::process::ExitCode;

/// A failure with the exit code it maps to: 2 for bad usage or input, 1 for anything else.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    /// Bad usage or bad input (exit code 2).
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self { code: 2, error: error.into() }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let error: anyhow::Error = e.into();
        let code = match error.downcast_ref::<aci_chaos_harness::HarnessError>() {
            Some(h) if h.is_usage() => 2,
            _ => 1,
        };
        Self { code, error }
    }
}

/// Runs the CLI and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let args = match args::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_tracing(args.verbose);
    // Commands that hold network connections ignore SIGPIPE (main restores its default so that
    // `… | head` dies quietly): hyper writes responses and requests with writev, which raises
    // SIGPIPE when the peer has reset the connection, and that killed `mock serve` whenever a
    // client was killed mid-request, and could kill a run mid-way, leaving its groups behind.
    #[cfg(unix)]
    if matches!(
        args.command,
        args::Command::Run(_)
            | args::Command::Soak { .. }
            | args::Command::Cleanup(_)
            | args::Command::Inspect(_)
            | args::Command::Mock { .. }
    ) {
        // SAFETY: setting a signal disposition before the runtime's threads start.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
    }
    // One thread: the harness and the embedded mock talk over loopback, and handing each request
    // between worker threads cost four times the wall time of a soak (18 s instead of 80 s for
    // the 20-group, 90-day benchmark). Nothing here is CPU-bound enough to want more.
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = rt.block_on(async {
        match args.command {
            args::Command::Run(r) => run::run(r).await,
            args::Command::Report { command } => report::command(command),
            args::Command::Scenarios { command } => scenarios::command(command),
            args::Command::Mock { command } => mock::command(command).await,
            args::Command::Cleanup(c) => cleanup::command(c).await,
            args::Command::Inspect(i) => inspect::command(i).await,
            args::Command::Soak { command: args::SoakCommand::Check(c) } => run::soak_check(c).await,
        }
    });
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ACI_CHAOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},hyper=warn,reqwest=warn")));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

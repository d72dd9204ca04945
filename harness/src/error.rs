//! Errors of the harness, each with a hint at what to do.

use std::path::PathBuf;

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// ARM answered with an error status.
    #[error("{method} {path}: ARM answered {status} {code}: {message}{}", request_id.as_deref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
    Arm {
        /// Method.
        method: String,
        /// Path (no host).
        path: String,
        /// HTTP status.
        status: u16,
        /// ARM error code.
        code: String,
        /// ARM message.
        message: String,
        /// `x-ms-request-id`.
        request_id: Option<String>,
    },
    /// The request never got an answer.
    #[error("{method} {path}: {message} (hint: is the target reachable? for the mock, check `aci-chaos mock serve` is running)")]
    Transport {
        /// Method.
        method: String,
        /// Path.
        path: String,
        /// What failed.
        message: String,
    },
    /// A long-running operation did not finish in time, or failed.
    #[error("long-running operation on {path} {outcome}")]
    Lro {
        /// The resource.
        path: String,
        /// What happened.
        outcome: String,
    },
    /// A token could not be had.
    #[error("could not get an access token: {0} (hint: check the credential settings)")]
    Auth(String),
    /// A suite file is invalid.
    #[error("{file}:{line}:{column}: {message}")]
    Suite {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        message: String,
    },
    /// A file could not be read.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (kept out of the error chain so it is printed once).
        cause: std::io::Error,
    },
    /// A step needs the mock (e.g. `rehost`) but the target is not one.
    #[error(
        "step `{step}` in scenario `{scenario}` needs the aci-chaos mock: platform events cannot be triggered on Azure (hint: run it with --target mock)"
    )]
    NeedsMock {
        /// Scenario.
        scenario: String,
        /// Step.
        step: String,
    },
    /// Writing history failed.
    #[error(transparent)]
    Report(#[from] aci_chaos_reports::ReportError),
    /// Anything else the target said that made no sense.
    #[error("{0}")]
    Protocol(String),
    /// Another process holds the run folder (not bad input: try again when it is done).
    #[error("{0}")]
    Busy(String),
    /// A run folder cannot be resumed or driven (no state, a state that does not fit, a step
    /// that needs what a resume does not have).
    #[error("{0}")]
    Resume(String),
}

impl HarnessError {
    /// Whether this is bad input from the user (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Suite { .. } | Self::NeedsMock { .. } | Self::Resume(_))
    }
}

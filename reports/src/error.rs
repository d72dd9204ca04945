//! Errors reading and writing evidence.

use std::path::PathBuf;

/// Errors of the reports crate.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A history line is not a valid record.
    #[error(
        "{path}:{line}: not a valid history record: {message} (hint: history.jsonl is written by `aci-chaos run`; was it edited or truncated?)"
    )]
    BadHistory {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// The history has no run-start record.
    #[error("{path}: no run_started record, so there is nothing to report (hint: pass the folder of a run that got past its start)")]
    NoRun {
        /// The file.
        path: PathBuf,
    },
    /// Writing the CSV failed.
    #[error("{path}: writing CSV failed: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The CSV error.
        source: csv::Error,
    },
}

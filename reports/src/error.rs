//! Errors reading and writing evidence. Each names the file (and line) and says what was
//! expected, with a hint.

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
    /// A folder given as a run folder is not one.
    #[error("{path}: not a run folder: {why} (expected the output folder of `aci-chaos run`, which holds history.jsonl)")]
    NotARunDir {
        /// The folder.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A history line is not a valid record.
    #[error(
        "{path}:{line}:{column}: not a valid history record: {message}; expected {expected} (hint: history.jsonl is written by `aci-chaos run`; was it edited or truncated?)",
        expected = crate::history::EXPECTED_LINE
    )]
    BadHistory {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column where parsing failed.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// The history has no run-start record.
    #[error(
        "{path}: no run_started record, so there is nothing to report (expected its first record to be `\"type\":\"run_started\"`; hint: pass the folder of a run that got past its start)"
    )]
    NoRun {
        /// The file.
        path: PathBuf,
    },
    /// An output folder that must be new is not.
    #[error("{path}: the output folder is not empty (hint: pick a new --out; nothing is overwritten)")]
    OutNotEmpty {
        /// The folder.
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
    /// Writing the JUnit XML failed.
    #[error("{path}: writing JUnit XML failed: {message}")]
    Junit {
        /// The file.
        path: PathBuf,
        /// The serializer's error.
        message: String,
    },
}

impl ReportError {
    /// Whether the error is bad input (a missing folder, a corrupt history): exit code 2.
    pub fn is_input(&self) -> bool {
        matches!(self, Self::NotARunDir { .. } | Self::BadHistory { .. } | Self::NoRun { .. } | Self::OutNotEmpty { .. })
    }
}

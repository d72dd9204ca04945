//! `history.jsonl`: append-only, one record per line, flushed as it goes so an interrupted run
//! keeps what it saw.

use crate::error::ReportError;
use crate::model::HistoryLine;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Appends history lines to a file.
#[derive(Debug)]
pub struct HistoryWriter {
    path: PathBuf,
    file: File,
}

impl HistoryWriter {
    /// Creates (or truncates) the history file.
    pub fn create(path: &Path) -> Result<Self, ReportError> {
        let file = File::create(path).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })?;
        Ok(Self { path: path.to_path_buf(), file })
    }

    /// Appends one line and flushes it.
    pub fn append(&mut self, line: &HistoryLine) -> Result<(), ReportError> {
        let mut s = serde_json::to_string(line).expect("history lines always serialize");
        s.push('\n');
        self.file
            .write_all(s.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|source| ReportError::Io { path: self.path.clone(), source })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a history file, naming the line of the first bad record.
pub fn read_history(path: &Path) -> Result<Vec<HistoryLine>, ReportError> {
    let f = File::open(path).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|source| ReportError::Io { path: path.to_path_buf(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: HistoryLine = serde_json::from_str(&line).map_err(|e| ReportError::BadHistory {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push(rec);
    }
    Ok(out)
}

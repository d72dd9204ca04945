//! `history.jsonl`: append-only, one record per line, flushed as it goes so an interrupted run
//! keeps what it saw. Subscription and tenant ids are masked as lines are written (see
//! [`crate::redact`]), unless the run's [`RunMeta::redact`](crate::RunMeta::redact) is off.

use crate::error::ReportError;
use crate::model::{HistoryLine, Record};
use crate::redact::Redactor;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The name of the history file in a run's folder.
pub const HISTORY_FILE: &str = "history.jsonl";

/// What a history line must look like, for error messages.
pub const EXPECTED_LINE: &str = "one JSON object per line with `seq`, `phase` (invoke|ok|fail|info), `time`, `wall` and `type` (run_started|arm|step|check|fault|run_finished) plus that type's fields";

/// Appends history lines to a file.
#[derive(Debug)]
pub struct HistoryWriter {
    path: PathBuf,
    file: File,
    redactor: Redactor,
    bytes: u64,
}

impl HistoryWriter {
    /// Creates (or truncates) the history file. Ids are masked from the first line on; a
    /// `run_started` record teaches the writer the run's subscription and tenant, or turns
    /// masking off when the run asked for `--no-redact`.
    pub fn create(path: &Path) -> Result<Self, ReportError> {
        let file = File::create(path).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })?;
        Ok(Self { path: path.to_path_buf(), file, redactor: Redactor::default(), bytes: 0 })
    }

    /// Opens an existing history file to append to (a resumed run), first cutting it to
    /// `keep` bytes. The cut tail (lines of work the resume does again) is not lost: it is
    /// moved to `history.interrupted-<n>.jsonl` beside it, whose path is returned. Lines are
    /// masked by `redactor`, which must know the run's real ids (the file holds them masked).
    pub fn resume(path: &Path, keep: u64, redactor: Redactor) -> Result<(Self, Option<PathBuf>), ReportError> {
        let io = |source| ReportError::Io { path: path.to_path_buf(), source };
        let text = std::fs::read(path).map_err(io)?;
        let keep = keep.min(text.len() as u64);
        let mut moved = None;
        if (keep as usize) < text.len() {
            let dir = path.parent().unwrap_or(Path::new("."));
            let mut n = 1;
            let aside = loop {
                let p = dir.join(format!("history.interrupted-{n}.jsonl"));
                if !p.exists() {
                    break p;
                }
                n += 1;
            };
            std::fs::write(&aside, &text[keep as usize..]).map_err(|source| ReportError::Io { path: aside.clone(), source })?;
            moved = Some(aside);
        }
        let file = std::fs::OpenOptions::new().write(true).open(path).map_err(io)?;
        file.set_len(keep).map_err(io)?;
        let mut file = std::fs::OpenOptions::new().append(true).open(path).map_err(io)?;
        file.flush().map_err(io)?;
        Ok((Self { path: path.to_path_buf(), file, redactor, bytes: keep }, moved))
    }

    /// Bytes in the file so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends one line and flushes it.
    pub fn append(&mut self, line: &HistoryLine) -> Result<(), ReportError> {
        if let Record::RunStarted(meta) = &line.record {
            self.redactor = Redactor::for_runs([meta]);
        }
        let s = serde_json::to_string(line).expect("history lines always serialize");
        let mut s = self.redactor.apply(&s).into_owned();
        s.push('\n');
        self.file
            .write_all(s.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|source| ReportError::Io { path: self.path.clone(), source })?;
        self.bytes += s.len() as u64;
        Ok(())
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a history file, naming the line of the first bad record and what was expected.
pub fn read_history(path: &Path) -> Result<Vec<HistoryLine>, ReportError> {
    Ok(read_history_text(path)?.into_iter().map(|(l, _)| l).collect())
}

/// Reads a history file, keeping each record's text as written (for `report merge`).
pub fn read_history_text(path: &Path) -> Result<Vec<(HistoryLine, String)>, ReportError> {
    let f = File::open(path).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|source| ReportError::Io { path: path.to_path_buf(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: HistoryLine = parse_line(&line).map_err(|e| ReportError::BadHistory {
            path: path.to_path_buf(),
            line: i + 1,
            column: e.column(),
            message: e.to_string(),
        })?;
        out.push((rec, line));
    }
    Ok(out)
}

/// Parses one history line. Histories written before checks recorded `check_time` hold two
/// `time` keys on check lines (the line's and the check's); they are read with the check's time
/// for both, which is the time the line was stamped within the same moment.
pub fn parse_line(line: &str) -> Result<HistoryLine, serde_json::Error> {
    serde_json::from_str(line).or_else(|e| {
        let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str::<serde_json::Value>(line) else {
            return Err(e);
        };
        if map.get("type").and_then(|t| t.as_str()) == Some("check") && !map.contains_key("check_time") {
            let t = map.get("time").cloned().unwrap_or_default();
            map.insert("check_time".into(), t);
            return serde_json::from_value(serde_json::Value::Object(map)).map_err(|_| e);
        }
        Err(e)
    })
}

/// Reads `DIR/history.jsonl` of a run folder.
pub fn read_run_dir(dir: &Path) -> Result<Vec<HistoryLine>, ReportError> {
    let path = history_path(dir)?;
    read_history(&path)
}

/// `DIR/history.jsonl`, or an error saying what a run folder must hold.
pub fn history_path(dir: &Path) -> Result<PathBuf, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::NotARunDir { path: dir.to_path_buf(), why: "no such folder".into() });
    }
    let path = dir.join(HISTORY_FILE);
    if !path.is_file() {
        return Err(ReportError::NotARunDir { path: dir.to_path_buf(), why: format!("it has no {HISTORY_FILE}") });
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Phase, RunMeta};

    fn meta(redact: bool) -> RunMeta {
        RunMeta {
            run_id: "r".into(),
            target: "mock".into(),
            endpoint: "embedded".into(),
            region: "eastus".into(),
            api_version: "2023-05-01".into(),
            tool_version: "0.1.0".into(),
            git_commit: None,
            seed: 1,
            suites: vec![],
            started: "2026-01-01T00:00:00Z".into(),
            reproduce: "aci-chaos run --seed 1".into(),
            subscription: Some("11111111-2222-3333-4444-555555555555".into()),
            tenant: Some("66666666-7777-8888-9999-000000000000".into()),
            redact,
        }
    }

    fn line(record: Record) -> HistoryLine {
        HistoryLine { seq: 1, phase: Phase::Info, time: "t".into(), wall: "w".into(), record }
    }

    #[test]
    fn the_writer_masks_ids_and_the_reader_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(HISTORY_FILE);
        let mut w = HistoryWriter::create(&p).unwrap();
        w.append(&line(Record::RunStarted(meta(true)))).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("11111111-2222-3333-4444-555555555555") && !text.contains("66666666-7777"), "{text}");
        let lines = read_history(&p).unwrap();
        assert_eq!(lines.len(), 1);

        std::fs::write(&p, format!("{text}{{\"seq\":2}}\n")).unwrap();
        let e = read_history(&p).unwrap_err().to_string();
        assert!(e.contains("history.jsonl:2:") && e.contains("expected one JSON object"), "{e}");
    }

    #[test]
    fn no_redact_keeps_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(HISTORY_FILE);
        let mut w = HistoryWriter::create(&p).unwrap();
        w.append(&line(Record::RunStarted(meta(false)))).unwrap();
        assert!(std::fs::read_to_string(&p).unwrap().contains("11111111-2222-3333-4444-555555555555"));
    }

    #[test]
    fn a_folder_without_history_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_run_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("has no history.jsonl"), "{e}");
        let e = read_run_dir(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(e.contains("no such folder"), "{e}");
    }
}

//! The files of a run folder, and the two ways to (re)write them: from a run's own history
//! (`aci-chaos run`, `aci-chaos report render`) and from several (`aci-chaos report merge`).
//!
//! Every report is derived from `history.jsonl` as it is on disk, so rendering a folder again
//! gives the same bytes.

use crate::error::ReportError;
use crate::history::{HISTORY_FILE, history_path, read_history, read_history_text};
use crate::redact::Redactor;
use crate::summary::Evidence;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `evidence.csv`.
pub const CSV_FILE: &str = "evidence.csv";
/// `report.md`.
pub const REPORT_FILE: &str = "report.md";
/// `junit.xml`.
pub const JUNIT_FILE: &str = "junit.xml";

fn write(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })
}

/// Writes `evidence.csv`, `report.md` and `junit.xml` for `ev` into `dir`.
pub fn write_reports(dir: &Path, ev: &Evidence, redactor: &Redactor) -> Result<(), ReportError> {
    crate::csv_out::write_csv(ev, redactor, &dir.join(CSV_FILE))?;
    write(&dir.join(REPORT_FILE), &crate::markdown::render(ev, redactor))?;
    let junit = dir.join(JUNIT_FILE);
    let xml = crate::junit::render(ev, redactor).map_err(|e| ReportError::Junit { path: junit.clone(), message: e.to_string() })?;
    write(&junit, &xml)
}

/// Reads `dir/history.jsonl` and (re)writes the reports beside it. `keep_ids` is `--no-redact`.
pub fn render_dir(dir: &Path, keep_ids: bool) -> Result<Evidence, ReportError> {
    let path = history_path(dir)?;
    let ev = Evidence::from_history(&read_history(&path)?, &path)?;
    write_reports(dir, &ev, &ev.redactor(keep_ids))?;
    Ok(ev)
}

/// Combines the runs in `dirs` into `out` (a new or empty folder): their histories one after
/// the other in `out/history.jsonl` (so `render_dir(out)` gives the same reports again), and
/// reports that sum them. Every input is read and checked before anything is written.
pub fn merge_dirs(dirs: &[PathBuf], out: &Path, keep_ids: bool) -> Result<Evidence, ReportError> {
    let mut lines = Vec::new();
    let mut texts = Vec::new();
    for d in dirs {
        let path = history_path(d)?;
        let read = read_history_text(&path)?;
        // Each history must start a run, or its records would be counted as the previous one's.
        if !matches!(read.first().map(|(l, _)| &l.record), Some(crate::Record::RunStarted(_))) {
            return Err(ReportError::NoRun { path });
        }
        for (l, t) in read {
            lines.push(l);
            texts.push(t);
        }
    }
    let merged_path = out.join(HISTORY_FILE);
    let ev = Evidence::from_history(&lines, &merged_path)?;
    if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(ReportError::OutNotEmpty { path: out.to_path_buf() });
    }
    std::fs::create_dir_all(out).map_err(|source| ReportError::Io { path: out.to_path_buf(), source })?;
    let redactor = ev.redactor(keep_ids);
    let mut f = std::fs::File::create(&merged_path).map_err(|source| ReportError::Io { path: merged_path.clone(), source })?;
    for t in texts {
        writeln!(f, "{}", redactor.apply(&t)).map_err(|source| ReportError::Io { path: merged_path.clone(), source })?;
    }
    drop(f);
    // Render from the file as written, exactly as `render_dir` will.
    render_dir(out, keep_ids)
}

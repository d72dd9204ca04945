//! `evidence.csv`: one row per (scenario, iteration, group, step, channel), columns in a stable,
//! documented order ([`COLUMNS`]).

use crate::error::ReportError;
use crate::model::CheckRow;
use std::path::Path;

/// The columns of `evidence.csv`, in order. Documented in the README; append only.
pub const COLUMNS: &[&str] = &[
    "scenario",
    "iteration",
    "group",
    "step_index",
    "step",
    "channel",
    "verdict",
    "reason",
    "method",
    "expected_fp",
    "observed_fp",
    "hypothesis",
    "time",
    "zone",
    "profile",
    "prov_before",
    "prov_after",
    "group_state_before",
    "group_state_after",
    "container_state_before",
    "container_state_after",
    "restart_count_before",
    "restart_count_after",
    "arm_view_changed",
    "host_before",
    "host_after",
    "boot_before",
    "boot_after",
    "ip_before",
    "ip_after",
];

fn fields(r: &CheckRow) -> Vec<String> {
    let rc = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    vec![
        r.scenario.clone(),
        r.iteration.to_string(),
        r.group.clone(),
        r.step_index.to_string(),
        r.step.clone(),
        r.channel.clone(),
        r.verdict.to_string(),
        r.reason.clone(),
        r.method.clone(),
        r.expected_fp.clone(),
        r.observed_fp.clone(),
        r.hypothesis.clone(),
        r.time.clone(),
        r.zone.clone(),
        r.profile.clone(),
        r.arm_before.provisioning_state.clone(),
        r.arm_after.provisioning_state.clone(),
        r.arm_before.group_state.clone(),
        r.arm_after.group_state.clone(),
        r.arm_before.container_state.clone(),
        r.arm_after.container_state.clone(),
        rc(r.arm_before.restart_count),
        rc(r.arm_after.restart_count),
        r.arm_view_changed().to_string(),
        r.placement_before.host.clone(),
        r.placement_after.host.clone(),
        r.placement_before.boot.clone(),
        r.placement_after.boot.clone(),
        r.placement_before.ip.clone(),
        r.placement_after.ip.clone(),
    ]
}

/// Renders the rows as CSV text.
pub fn to_csv(rows: &[CheckRow]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS)?;
    for r in rows {
        w.write_record(fields(r))?;
    }
    let bytes = w.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8(bytes).expect("csv of strings is utf-8"))
}

/// Writes `evidence.csv`.
pub fn write_csv(rows: &[CheckRow], path: &Path) -> Result<(), ReportError> {
    let text = to_csv(rows).map_err(|source| ReportError::Csv { path: path.to_path_buf(), source })?;
    std::fs::write(path, text).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_every_column() {
        let r = crate::markdown::tests::row("restart", "secure-env", crate::Verdict::Survived);
        assert_eq!(fields(&r).len(), COLUMNS.len());
        let text = to_csv(&[r]).unwrap();
        let mut rd = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(rd.headers().unwrap().len(), COLUMNS.len());
        assert_eq!(rd.records().count(), 1);
    }
}

//! `evidence.csv`: one row per (scenario, iteration, group, step, channel), columns in a stable,
//! documented order ([`COLUMNS`]).

use crate::error::ReportError;
use crate::model::{ArmView, CheckRow};
use crate::redact::Redactor;
use crate::summary::{Evidence, Row};
use std::path::Path;

/// `absent` when ARM's view holds no secure value (as it should), `RETURNED` when it does.
pub fn secure_values(v: &ArmView) -> &'static str {
    if v.env_entries.iter().any(|e| e.contains("secureValue returned")) { "RETURNED" } else { "absent" }
}

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
    // Appended with the evidence reports (issue 6); earlier columns keep their places.
    "run_id",
    "target",
    "region",
    "api_version",
    "step_time",
    "step_wall",
    "check_wall",
    "previous_state_before",
    "previous_state_after",
    "env_entries_unchanged",
    "arm_secure_values",
    "placement_changed",
    "request_ids",
];

fn fields(ev: &Evidence, row: &Row) -> Vec<String> {
    let meta = &ev.runs[row.run].meta;
    let r = &row.check;
    let mut f = check_fields(r);
    f.extend([
        meta.run_id.clone(),
        meta.target.clone(),
        meta.region.clone(),
        meta.api_version.clone(),
        row.step_time.clone(),
        row.step_wall.clone(),
        row.wall.clone(),
        r.arm_before.previous_state.clone(),
        r.arm_after.previous_state.clone(),
        (r.arm_before.env_entries == r.arm_after.env_entries).to_string(),
        format!("{}/{}", secure_values(&r.arm_before), secure_values(&r.arm_after)),
        r.placement_changed().to_string(),
        row.request_ids.join(" "),
    ]);
    f
}

fn check_fields(r: &CheckRow) -> Vec<String> {
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

/// Renders the evidence as CSV text, ids masked by `redactor`.
pub fn to_csv(ev: &Evidence, redactor: &Redactor) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS)?;
    for r in &ev.rows {
        w.write_record(fields(ev, r).iter().map(|f| redactor.apply(f)).collect::<Vec<_>>().iter().map(|f| f.as_ref()))?;
    }
    let bytes = w.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8(bytes).expect("csv of strings is utf-8"))
}

/// Writes `evidence.csv`.
pub fn write_csv(ev: &Evidence, redactor: &Redactor, path: &Path) -> Result<(), ReportError> {
    let text = to_csv(ev, redactor).map_err(|source| ReportError::Csv { path: path.to_path_buf(), source })?;
    std::fs::write(path, text).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_only_ever_appended() {
        // The columns of the first release, in order: scripts read them by position.
        const FIRST: &[&str] = &[
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
        assert_eq!(&COLUMNS[..FIRST.len()], FIRST);
        let mut seen = std::collections::BTreeSet::new();
        assert!(COLUMNS.iter().all(|c| seen.insert(*c)), "no column twice");
    }

    #[test]
    fn every_row_has_every_column() {
        let r = crate::markdown::tests::row("restart", "secure-env", crate::Verdict::Survived);
        let ev = crate::markdown::tests::evidence(vec![r]);
        assert_eq!(fields(&ev, &ev.rows[0]).len(), COLUMNS.len());
        let text = to_csv(&ev, &Redactor::default()).unwrap();
        let mut rd = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(rd.headers().unwrap().len(), COLUMNS.len());
        assert_eq!(rd.records().count(), 1);
    }
}

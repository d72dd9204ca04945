//! `aci-chaos inspect`: a read-only look at existing container groups (the user's real agents):
//! restart policy, restart count, current and previous state, the crash-loop signature, log
//! lines that name a missing secret, and optionally, through exec, whether named variables are
//! set (fingerprints only). It sends only `GET`s, plus the exec `POST` when asked.

use crate::arm::ArmClient;
use crate::arm::group::GroupRef;
use crate::error::HarnessError;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

/// Log lines that the field's agents print when their secret is gone.
pub const DEFAULT_PATTERNS: &[&str] =
    &["error: missing AZP_TOKEN environment variable", "error: missing GH_RUNNER_TOKEN environment variable"];

/// What exec saw of one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarStatus {
    /// Set and non-empty, with the fingerprint of its value.
    Set(String),
    /// Set to the empty string, or absent.
    Empty,
    /// Exec failed.
    Unknown(String),
}

impl std::fmt::Display for VarStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Set(fp) => write!(f, "set ({fp})"),
            Self::Empty => f.write_str("empty"),
            Self::Unknown(why) => write!(f, "unknown ({why})"),
        }
    }
}

/// One container of one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerFinding {
    /// Group name.
    pub group: String,
    /// Container name.
    pub container: String,
    /// The group's restart policy.
    pub restart_policy: String,
    /// The group's state (`Running`, `Stopped`, …).
    pub group_state: String,
    /// Restarts so far.
    pub restart_count: u64,
    /// Current state, with its detail.
    pub current: String,
    /// Previous state, with its exit code.
    pub previous: String,
    /// `CrashLoopBackOff`, or restarts ending in non-zero exits.
    pub crash_loop: bool,
    /// Log lines matching a missing-secret pattern (at most 3, each cut at 200 characters).
    pub missing_secret: Vec<String>,
    /// Exec answers per variable.
    pub exec: Vec<(String, VarStatus)>,
}

impl ContainerFinding {
    /// `healthy`, `crash-loop`, `missing-secret`, both, or the state when not running.
    pub fn verdict(&self) -> String {
        let empty = self.exec.iter().any(|(_, s)| *s == VarStatus::Empty);
        let mut v = Vec::new();
        if self.crash_loop {
            v.push("crash-loop");
        }
        if !self.missing_secret.is_empty() || empty {
            v.push("missing-secret");
        }
        if !v.is_empty() {
            return v.join(", ");
        }
        if self.current.starts_with("Running") { "healthy".into() } else { format!("not running ({})", self.current) }
    }
}

fn state_text(s: Option<&Value>) -> String {
    let Some(s) = s else { return "–".into() };
    let state = s.get("state").and_then(Value::as_str).unwrap_or("?");
    let mut out = state.to_string();
    if let Some(c) = s.get("exitCode").and_then(Value::as_i64) {
        out.push_str(&format!(" exit {c}"));
    }
    if let Some(d) = s.get("detailStatus").and_then(Value::as_str).filter(|d| !d.is_empty()) {
        out.push_str(&format!(" ({d})"));
    }
    out
}

/// Reads the findings of each container from a group `GET` (with instance view).
pub fn findings_of(group: &Value) -> Vec<ContainerFinding> {
    let name = group.get("name").and_then(Value::as_str).unwrap_or_default();
    let p = group.get("properties").cloned().unwrap_or_default();
    let policy = p.get("restartPolicy").and_then(Value::as_str).unwrap_or("Always");
    let gstate = p.pointer("/instanceView/state").and_then(Value::as_str).unwrap_or("?");
    let mut out = Vec::new();
    for c in p.get("containers").and_then(Value::as_array).cloned().unwrap_or_default() {
        let iv = c.pointer("/properties/instanceView").cloned().unwrap_or_default();
        let restarts = iv.get("restartCount").and_then(Value::as_u64).unwrap_or(0);
        let detail = iv.pointer("/currentState/detailStatus").and_then(Value::as_str).unwrap_or_default();
        let prev_exit = iv.pointer("/previousState/exitCode").and_then(Value::as_i64);
        out.push(ContainerFinding {
            group: name.into(),
            container: c.get("name").and_then(Value::as_str).unwrap_or_default().into(),
            restart_policy: policy.into(),
            group_state: gstate.into(),
            restart_count: restarts,
            current: state_text(iv.get("currentState")),
            previous: state_text(iv.get("previousState")),
            crash_loop: detail.contains("CrashLoopBackOff") || (restarts >= 3 && prev_exit.is_some_and(|c| c != 0)),
            missing_secret: Vec::new(),
            exec: Vec::new(),
        });
    }
    out
}

/// Log lines containing any of `patterns` (at most 3, cut at 200 characters).
pub fn matching_lines(logs: &str, patterns: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in logs.lines().filter(|l| patterns.iter().any(|p| !p.is_empty() && l.contains(p.as_str()))) {
        let line: String = line.trim().chars().take(200).collect();
        if !out.contains(&line) {
            out.push(line);
        }
        if out.len() == 3 {
            break;
        }
    }
    out
}

/// From `env` output, whether each variable is set (fingerprint) or empty. Values never leave.
pub fn var_status(env_output: &str, names: &[String]) -> Vec<(String, VarStatus)> {
    names
        .iter()
        .map(|n| {
            let value = env_output.lines().find_map(|l| l.strip_prefix(n.as_str()).and_then(|r| r.strip_prefix('=')));
            let status = match value.map(|v| v.trim_end_matches('\r')) {
                Some(v) if !v.is_empty() => VarStatus::Set(crate::secret::fingerprint(v.as_bytes())),
                _ => VarStatus::Empty,
            };
            (n.clone(), status)
        })
        .collect()
}

/// What to inspect.
#[derive(Debug, Clone, Default)]
pub struct InspectOptions {
    /// Only this group.
    pub name: Option<String>,
    /// Missing-secret patterns (the defaults plus the user's).
    pub patterns: Vec<String>,
    /// Variables to ask exec about.
    pub exec_check: Vec<String>,
    /// Log lines read.
    pub tail: usize,
}

/// Inspects the groups of `rg` (or one of them). Only reads.
pub async fn inspect(
    client: &ArmClient,
    subscription: &str,
    rg: &str,
    opts: &InspectOptions,
) -> Result<Vec<ContainerFinding>, HarnessError> {
    let names: Vec<String> = match &opts.name {
        Some(n) => vec![n.clone()],
        None => {
            let mut v: Vec<String> = client
                .list_groups(subscription, Some(rg))
                .await?
                .iter()
                .filter_map(|g| g.get("name").and_then(Value::as_str).map(String::from))
                .collect();
            v.sort();
            v
        }
    };
    let mut out = Vec::new();
    for name in names {
        let g = GroupRef { subscription: subscription.into(), resource_group: rg.into(), name };
        let body = client.get_group(&g).await?;
        for mut f in findings_of(&body) {
            match client.logs(&g, &f.container, opts.tail).await {
                Ok(logs) => f.missing_secret = matching_lines(&logs, &opts.patterns),
                Err(e) => tracing::warn!("logs of {}/{}: {e}", g.name, f.container),
            }
            if !opts.exec_check.is_empty() {
                f.exec = match crate::exec::exec(client, &g, &f.container, "env", Duration::from_secs(30)).await {
                    Ok(out) => var_status(&out, &opts.exec_check),
                    Err(e) => {
                        let why: String = match &e {
                            HarnessError::Arm { status, code, .. } => format!("exec refused: {status} {code}"),
                            e => e.to_string().chars().take(80).collect(),
                        };
                        opts.exec_check.iter().map(|n| (n.clone(), VarStatus::Unknown(why.clone()))).collect()
                    }
                };
            }
            out.push(f);
        }
    }
    Ok(out)
}

const HEADERS: [&str; 9] = ["group", "container", "verdict", "policy", "restarts", "current", "previous", "missing-secret log", "exec"];

fn row(f: &ContainerFinding) -> [String; 9] {
    [
        f.group.clone(),
        f.container.clone(),
        f.verdict(),
        f.restart_policy.clone(),
        f.restart_count.to_string(),
        f.current.clone(),
        f.previous.clone(),
        if f.missing_secret.is_empty() { "–".into() } else { f.missing_secret.join(" | ") },
        if f.exec.is_empty() { "–".into() } else { f.exec.iter().map(|(n, s)| format!("{n}: {s}")).collect::<Vec<_>>().join(", ") },
    ]
}

/// The findings as an aligned text table.
pub fn to_table(findings: &[ContainerFinding]) -> String {
    let rows: Vec<[String; 9]> = findings.iter().map(row).collect();
    let widths: Vec<usize> =
        (0..9).map(|i| rows.iter().map(|r| r[i].chars().count()).chain([HEADERS[i].len()]).max().unwrap_or(0)).collect();
    let mut s = String::new();
    let line = |cells: Vec<String>| cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect::<Vec<_>>().join("  ");
    let _ = writeln!(s, "{}", line(HEADERS.iter().map(|h| h.to_string()).collect()).trim_end());
    for r in rows {
        let _ = writeln!(s, "{}", line(r.to_vec()).trim_end());
    }
    s
}

/// The findings as a GitHub markdown table.
pub fn to_markdown(findings: &[ContainerFinding]) -> String {
    let esc = |c: &str| c.replace('|', "\\|");
    let mut s = format!("| {} |\n|{}\n", HEADERS.join(" | "), "---|".repeat(9));
    for r in findings.iter().map(row) {
        let _ = writeln!(s, "| {} |", r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group(detail: &str, restarts: u64, current: &str) -> Value {
        json!({"name": "agent-1", "properties": {"restartPolicy": "Always", "instanceView": {"state": "Running"}, "containers": [
            {"name": "azp-agent", "properties": {"instanceView": {"restartCount": restarts,
                "currentState": {"state": current, "detailStatus": detail},
                "previousState": {"state": "Terminated", "exitCode": 1, "detailStatus": "Error"}}}}]}})
    }

    #[test]
    fn crash_loop_and_missing_secret_are_recognised_and_healthy_is_healthy() {
        let mut f = findings_of(&group("CrashLoopBackOff: Back-off restarting failed", 4, "Waiting")).remove(0);
        assert!(f.crash_loop);
        let pats: Vec<String> = DEFAULT_PATTERNS.iter().map(|s| s.to_string()).collect();
        f.missing_secret =
            matching_lines("start\nerror: missing AZP_TOKEN environment variable\nerror: missing AZP_TOKEN environment variable\n", &pats);
        assert_eq!(f.missing_secret.len(), 1);
        assert_eq!(f.verdict(), "crash-loop, missing-secret");
        let ok = findings_of(&group("", 0, "Running")).remove(0);
        assert_eq!(ok.verdict(), "healthy");
        let t = to_table(&[f.clone(), ok.clone()]);
        assert!(t.lines().count() == 3 && t.contains("crash-loop"));
        assert!(to_markdown(&[f, ok]).starts_with("| group | container |"));
    }

    #[test]
    fn exec_answers_carry_fingerprints_never_values() {
        let out = "PATH=/bin\nAZP_TOKEN=very-secret\nEMPTY=\n";
        let st = var_status(out, &["AZP_TOKEN".into(), "EMPTY".into(), "ABSENT".into()]);
        assert_eq!(st[0].1, VarStatus::Set(crate::secret::fingerprint(b"very-secret")));
        assert_eq!((st[1].1.clone(), st[2].1.clone()), (VarStatus::Empty, VarStatus::Empty));
        assert!(!format!("{st:?}").contains("very-secret"));
    }
}

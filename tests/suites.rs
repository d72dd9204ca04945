//! End to end: every shipped suite against the embedded mock gives the verdicts the mock's
//! documented behaviour implies; every malformed suite gets its precise error and exit code 2.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aci-chaos")).current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().expect("the CLI runs")
}

#[derive(Debug, Deserialize)]
struct Row {
    scenario: String,
    group: String,
    step: String,
    channel: String,
    verdict: String,
    reason: String,
    arm_view_changed: bool,
    container_state_after: String,
    host_before: String,
    host_after: String,
}

struct Ran {
    rows: Vec<Row>,
    stdout: String,
    history: String,
    dir: tempfile::TempDir,
}

fn run_suite(file: &str, seed: &str) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let o = run(&["run", file, "--seed", seed, "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{file}: exit {:?}\n{stdout}\n{}", o.status, String::from_utf8_lossy(&o.stderr));
    let mut rd = csv::Reader::from_path(out.join("evidence.csv")).unwrap();
    let rows = rd.deserialize().collect::<Result<Vec<Row>, _>>().unwrap();
    let history = std::fs::read_to_string(out.join("history.jsonl")).unwrap();
    Ran { rows, stdout, history, dir }
}

impl Ran {
    fn rows(&self, scenario: &str, step: &str, channel: &str) -> Vec<&Row> {
        let r: Vec<&Row> = self.rows.iter().filter(|r| r.scenario == scenario && r.step == step && r.channel == channel).collect();
        assert!(!r.is_empty(), "no rows {scenario}/{step}/{channel}");
        r
    }

    fn all(&self, scenario: &str, step: &str, channel: &str, verdict: &str) {
        for r in self.rows(scenario, step, channel) {
            assert_eq!(r.verdict, verdict, "{r:?}");
        }
    }

    fn expectations_hold(&self) {
        assert!(self.stdout.contains("pass "), "{}", self.stdout);
        assert!(!self.stdout.contains("FAIL"), "{}", self.stdout);
    }
}

#[test]
fn restart_and_maintenance_restart_keep_every_channel() {
    let r = run_suite("scenarios/restart.toml", "11");
    r.expectations_hold();
    for ch in ["secure-env", "plain-env", "secret-volume"] {
        r.all("restart", "restart", ch, "survived");
        r.all("maintenance-restart", "maintenance-restart", ch, "survived");
    }
    for row in r.rows("restart", "restart", "secure-env") {
        assert_eq!(row.host_before, row.host_after, "restart is in place");
    }
}

#[test]
fn stop_start_brings_secrets_back_from_the_stored_spec() {
    let r = run_suite("scenarios/stop-start.toml", "12");
    r.expectations_hold();
    r.all("stop-start", "start", "secure-env", "survived");
    assert!(r.rows.iter().all(|x| x.step != "stop"), "no check after stop: nothing runs");
}

#[test]
fn update_variants_behave_as_arm_documents() {
    let r = run_suite("scenarios/update.toml", "13");
    r.expectations_hold();
    r.all("resend", "update-resend", "secure-env", "survived");
    r.all("roundtrip", "update-roundtrip", "secure-env", "survived");
    assert!(r.history.contains("ARM refused the PUT of its own GET body: 400 InvalidEnvironmentVariable"), "the refusal is recorded");
    r.all("omit", "update-omit", "secure-env", "lost");
    r.all("omit", "update-omit", "plain-env", "survived");
    r.all("patch-tags", "update-patch-tags", "secure-env", "survived");
    r.all("image", "update-image", "secure-env", "survived");
    r.all("omit-then-recreate", "recreate", "secure-env", "survived");
}

#[test]
fn zones_hold_and_outages_follow_the_hypothesis() {
    let r = run_suite("scenarios/zones.toml", "14");
    r.expectations_hold();
    assert!(r.history.contains("ARM refused the zone change: 409 InvalidContainerGroupUpdate"), "zone change refused");
    r.all("zone-change", "zone-change", "secure-env", "survived");
    for row in r.rows("zone-change", "zone-change", "secure-env") {
        assert!(row.host_after.starts_with("host-z2-"), "recreated in zone 2: {row:?}");
    }
    r.all("zone-outage-lost", "zone-outage", "secure-env", "lost");
    for row in r.rows("zone-outage-kept", "zone-outage", "secure-env") {
        assert_eq!(row.verdict, "survived");
        assert!(
            row.host_before.starts_with("host-z2-") && row.host_after.starts_with("host-z2-"),
            "a zonal group never leaves its zone: {row:?}"
        );
        assert_ne!(row.host_before, row.host_after);
    }
}

#[test]
fn rehost_loses_secure_values_under_the_hypothesis_while_arm_sees_nothing() {
    let r = run_suite("scenarios/rehost.toml", "15");
    r.expectations_hold();
    for row in r.rows("secure-lost", "rehost", "secure-env") {
        assert_eq!(row.verdict, "lost");
        assert!(!row.arm_view_changed, "the ARM view is unchanged: {row:?}");
        assert_ne!(row.host_before, row.host_after);
    }
    r.all("secure-lost", "rehost", "plain-env", "survived");
    r.all("secure-lost", "rehost", "secret-volume", "survived");
    r.all("all-kept", "rehost", "secure-env", "survived");
    r.all("host-failure", "host-failure", "secure-env", "lost");
    r.all("rehost-then-recreate", "recreate", "secure-env", "survived");
    let sometimes = r.rows("sometimes-lost", "rehost", "secure-env");
    assert!(sometimes.iter().any(|x| x.verdict == "lost") && sometimes.iter().any(|x| x.verdict == "survived"), "p=0.3 over 10");
}

#[test]
fn alz_agents_crash_loop_together_after_a_maintenance_wave() {
    let r = run_suite("scenarios/alz-agents.toml", "16");
    r.expectations_hold();
    let after_wait = r.rows("maintenance-wave", "wait", "secure-env");
    let groups: std::collections::BTreeSet<&str> = after_wait.iter().map(|x| x.group.as_str()).collect();
    assert_eq!(groups.len(), 2, "both agents");
    for row in after_wait {
        assert_eq!(row.verdict, "lost", "{row:?}");
        assert!(row.reason.contains("error: missing AZP_TOKEN environment variable"), "{row:?}");
        assert!(row.container_state_after.contains("CrashLoopBackOff"), "the ARM view shows the loop: {row:?}");
    }
    assert!(r.history.contains("\"kind\":\"maintenance-wave\""), "the wave's rehosts are recorded as faults");
    r.all("wave-then-recreate", "recreate", "secure-env", "survived");
    r.all("wave-kept", "wait", "secure-env", "survived");
}

#[test]
fn default_suite_expectations_hold() {
    let r = run_suite("scenarios/default.toml", "17");
    r.expectations_hold();
    r.all("rehost", "rehost", "secure-env", "lost");
    r.all("soak", "soak", "secure-env", "survived");
}

#[test]
fn a_soak_with_rate_faults_records_only_changes() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("soak.toml");
    std::fs::write(
        &suite,
        r#"[suite]
name = "soak-test"
[[mock-fault]]
kind = "rehost"
target = "each"
hypothesis = { secure-env = "lost" }
schedule = { every = "3d" }
[[scenario]]
name = "soak"
groups = [{ zones = ["1"] }, { zones = ["2"] }]
steps = [{ kind = "soak", duration = "7d", every = "1h" }]
"#,
    )
    .unwrap();
    let r = run_suite(suite.to_str().unwrap(), "18");
    let soak = r.rows("soak", "soak", "secure-env");
    // Per group: the first round, the change at day 3, and the last round.
    assert!(soak.len() >= 4 && soak.len() <= 8, "{}", soak.len());
    assert!(soak.iter().any(|x| x.verdict == "lost"));
    assert!(r.history.contains("336 checks"), "7 days of hourly checks, two groups");
    // Each change was captured at once, with the platform's own account from the activity log
    // the mock kept; and once more at the end of the soak for the whole window.
    let captures: Vec<serde_json::Value> =
        r.history.lines().filter(|l| l.contains("\"type\":\"capture\"")).map(|l| serde_json::from_str(l).unwrap()).collect();
    let on_change: Vec<_> = captures.iter().filter(|c| c["reason"].as_str().unwrap().contains("secure-env survived → lost")).collect();
    assert_eq!(on_change.len(), 2, "one capture per group at its loss: {captures:?}");
    for c in &on_change {
        let activity: Vec<&str> = c["activity"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        assert!(activity.iter().any(|a| a.contains("ResourceHealth") && a.contains("moved to another host")), "{activity:?}");
        assert!(c["instance_view"]["containers"][0]["instanceView"]["restartCount"].is_u64(), "{c}");
        assert!(c["logs"].as_str().unwrap().contains("secure-env=MISSING"), "{c}");
        assert!(c["activity_raw"].as_array().unwrap().iter().all(|e| e.get("claims").is_none()), "claims are dropped");
    }
    assert_eq!(captures.iter().filter(|c| c["reason"].as_str().unwrap().starts_with("end of soak")).count(), 2);
    let report = std::fs::read_to_string(r.dir.path().join("o/report.md")).unwrap();
    assert!(report.contains("## Captured on change"), "the report shows the captures");
    drop(r.dir);
}

#[test]
fn the_same_seed_gives_the_same_evidence_with_faults_and_groups() {
    let a = run_suite("scenarios/rehost.toml", "21");
    let b = run_suite("scenarios/rehost.toml", "21");
    // Every column but the wall-clock ones (`*_wall`) must match.
    let read = |r: &Ran| {
        let mut rd = csv::Reader::from_path(r.dir.path().join("o/evidence.csv")).unwrap();
        let keep: Vec<usize> = rd.headers().unwrap().iter().enumerate().filter(|(_, h)| !h.ends_with("_wall")).map(|(i, _)| i).collect();
        rd.records().map(|rec| keep.iter().map(|i| rec.as_ref().unwrap()[*i].to_string()).collect::<Vec<_>>().join(",")).collect::<Vec<_>>()
    };
    assert!(read(&a) == read(&b), "same seed, different evidence");
    let c = run_suite("scenarios/alz-agents.toml", "21");
    let d = run_suite("scenarios/alz-agents.toml", "21");
    assert!(read(&c) == read(&d), "same seed, different evidence (alz-agents)");
}

#[test]
fn mock_only_steps_are_refused_before_anything_is_deployed_elsewhere() {
    // A real-clock mock that is not reachable as a mock: point at a closed port and check the
    // refusal for azure comes first.
    let o = run(&["run", "scenarios/rehost.toml", "--target", "azure"]);
    assert_eq!(o.status.code(), Some(2));
}

fn expected_error(file: &Path) -> String {
    let text = std::fs::read(file).unwrap();
    match String::from_utf8(text) {
        Ok(t) => t
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no # expect: line", file.display()))
            .to_string(),
        Err(_) => "is not UTF-8 text".into(),
    }
}

#[test]
fn every_malformed_suite_gets_its_precise_error_and_exit_2() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 20, "a corpus of at least 20");
    for f in files {
        let want = expected_error(&f);
        for cmd in [vec!["scenarios", "validate"], vec!["run"]] {
            let mut args = cmd.clone();
            args.push(f.to_str().unwrap());
            let o = run(&args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{} ({cmd:?}): {err}", f.display());
            assert!(err.contains(&want), "{}: expected `{want}` in\n{err}", f.display());
            let name = f.file_name().unwrap().to_str().unwrap();
            let at = err.find(name).unwrap_or_else(|| panic!("{name} not named in {err}"));
            let rest = &err[at + name.len()..];
            let mut parts = rest.splitn(4, ':');
            assert_eq!(parts.next(), Some(""));
            assert!(
                parts.next().unwrap().parse::<usize>().is_ok() && parts.next().unwrap().parse::<usize>().is_ok(),
                "file:line:col in {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}

#[test]
fn recreate_after_delete_brings_the_group_back_and_a_stopped_soak_checks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("s.toml");
    std::fs::write(
        &suite,
        r#"[suite]
name = "t"
[[scenario]]
name = "delete-recreate"
expect = { secure-env = "survived" }
steps = [{ kind = "delete" }, { kind = "recreate" }]
[[scenario]]
name = "stopped-soak"
steps = [{ kind = "stop" }, { kind = "soak", duration = "3h", every = "1h" }, { kind = "start" }]
"#,
    )
    .unwrap();
    let r = run_suite(suite.to_str().unwrap(), "31");
    r.expectations_hold();
    r.all("delete-recreate", "recreate", "secure-env", "survived");
    assert!(r.rows.iter().all(|x| !(x.scenario == "stopped-soak" && x.step == "soak")), "no soak check on a stopped group");
    r.all("stopped-soak", "start", "secure-env", "survived");
}

#[test]
fn fail_on_expect_fails_the_job_when_an_expectation_does_not_hold() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("s.toml");
    std::fs::write(
        &suite,
        "[suite]\nname = \"t\"\n[[scenario]]\nname = \"wrong\"\nexpect = { secure-env = \"lost\" }\nsteps = [{ kind = \"restart\" }]\n",
    )
    .unwrap();
    let o = run(&["run", suite.to_str().unwrap(), "--fail-on", "expect", "--out", dir.path().join("o").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAIL wrong: 0 of 1"));
}

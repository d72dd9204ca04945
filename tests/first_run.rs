//! End to end: the CLI against the embedded mock, exactly as a user runs it.

use aci_chaos_harness::channel::Channel;
use aci_chaos_harness::secret::derive;
use base64::Engine;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aci-chaos"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the CLI runs")
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
    host_before: String,
    host_after: String,
    hypothesis: String,
}

fn rows(dir: &Path) -> Vec<Row> {
    let mut rd = csv::Reader::from_path(dir.join("evidence.csv")).expect("evidence.csv exists");
    rd.deserialize().collect::<Result<Vec<Row>, _>>().expect("evidence.csv parses")
}

fn find<'a>(rows: &'a [Row], scenario: &str, step: &str, channel: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.scenario == scenario && r.step == step && r.channel == channel)
        .unwrap_or_else(|| panic!("no row {scenario}/{step}/{channel}"))
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect()
}

#[test]
fn default_suite_on_the_embedded_mock_gives_the_expected_verdicts_and_leaks_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = run(&["run", "--seed", "4242", "--out", out.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string());
    assert!(o.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", o.status);
    for f in ["history.jsonl", "evidence.csv", "report.md"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let rows = rows(&out);

    // restart: in place, secrets kept.
    for ch in ["secure-env", "plain-env", "secret-volume"] {
        let r = find(&rows, "restart", "restart", ch);
        assert_eq!(r.verdict, "survived", "{r:?}");
        assert_eq!(r.host_before, r.host_after, "restart is in place");
    }
    // rehost with the hypothesis "secure-env lost": lost, the control survives, ARM sees nothing.
    let lost = find(&rows, "rehost", "rehost", "secure-env");
    assert_eq!(lost.verdict, "lost", "{lost:?}");
    assert_eq!(lost.hypothesis, "lost");
    assert!(!lost.arm_view_changed, "the ARM view must not change when the secret is lost: {lost:?}");
    assert_ne!(lost.host_before, lost.host_after, "a rehost moves the group");
    let control = find(&rows, "rehost", "rehost", "plain-env");
    assert_eq!(control.verdict, "survived", "{control:?}");
    assert!(!control.arm_view_changed);
    // The agent crash-loops with the field's message.
    let agent = find(&rows, "agent-rehost", "rehost", "secure-env");
    assert_eq!(agent.verdict, "lost");
    assert!(agent.reason.contains("error: missing AZP_TOKEN environment variable"), "{agent:?}");

    // The summary is printed.
    assert!(stdout.contains("rehost") && stdout.contains("lost 1"), "{stdout}");

    // No generated secret appears anywhere: files, stdout, stderr (raw or base64, as sent).
    let mut outputs = vec![("stdout".to_string(), stdout), ("stderr".to_string(), stderr)];
    for f in files_under(&out) {
        outputs.push((f.display().to_string(), std::fs::read_to_string(&f).unwrap()));
    }
    let groups: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    assert!(groups.len() >= 4);
    for g in groups {
        for ch in Channel::ALL {
            let s = derive(4242, g, ch);
            let b64 = base64::engine::general_purpose::STANDARD.encode(s.expose());
            for (name, text) in &outputs {
                assert!(!text.contains(s.expose()), "secret of {g}/{ch} leaked into {name}");
                assert!(!text.contains(&b64), "base64 secret of {g}/{ch} leaked into {name}");
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for d in [&a, &b] {
        let o = run(&["run", "--seed", "99", "--out", d.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let csv_a = without_wall_clock(&a.join("evidence.csv"));
    assert_eq!(csv_a, without_wall_clock(&b.join("evidence.csv")));
    let c = tmp.path().join("c");
    assert!(run(&["run", "--seed", "100", "--out", c.to_str().unwrap()]).status.success());
    assert_ne!(csv_a, without_wall_clock(&c.join("evidence.csv")), "another seed, other groups and secrets");
}

/// The CSV without its wall-clock columns (`*_wall`), the only ones a seed does not fix.
fn without_wall_clock(path: &Path) -> Vec<Vec<String>> {
    let mut rd = csv::Reader::from_path(path).expect("evidence.csv exists");
    let headers = rd.headers().unwrap().clone();
    let keep: Vec<usize> = (0..headers.len()).filter(|i| !headers[*i].ends_with("_wall")).collect();
    let mut out = vec![keep.iter().map(|i| headers[*i].to_string()).collect::<Vec<_>>()];
    for r in rd.records() {
        let r = r.unwrap();
        out.push(keep.iter().map(|i| r[*i].to_string()).collect());
    }
    out
}

#[test]
fn bad_input_exits_2_with_a_clear_error_and_nothing_is_run() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[suite]\nname = \"x\"\n\n[[scenario]]\nname = \"a\"\nsteps = [{ kind = \"restrat\" }]\n").unwrap();
    let o = run(&["run", bad.to_str().unwrap(), "--out", tmp.path().join("o").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.toml:6:") && err.contains("unknown variant `restrat`") && err.contains("did you mean `restart`?"), "{err}");
    assert!(!tmp.path().join("o").exists(), "nothing written for bad input");

    let o = run(&["run", tmp.path().join("missing.toml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["run", "--target", "ftp://x"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["run", "--frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn fail_on_lost_makes_findings_fail_the_job() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(&["run", "--seed", "1", "--fail-on", "lost", "--out", tmp.path().join("o").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "the default suite's rehost loses a secret");
    let o = run(&["run", "--seed", "1", "--out", tmp.path().join("p").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "findings alone do not fail a run");
}

#[test]
fn mock_serve_prints_its_address_and_serves_arm() {
    use std::io::{BufRead, BufReader};
    let mut child = bin().args(["mock", "serve", "--seed", "3"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    reader.read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    // A run against the already running mock, over its URL.
    let tmp = tempfile::tempdir().unwrap();
    let suite = tmp.path().join("s.toml");
    std::fs::write(
        &suite,
        "[suite]\nname = \"t\"\n[[scenario]]\nname = \"rehost\"\nsteps = [{ kind = \"rehost\", hypothesis = { secure-env = \"lost\" } }]\n",
    )
    .unwrap();
    let o = run(&["run", suite.to_str().unwrap(), "--target", &url, "--out", tmp.path().join("o").to_str().unwrap()]);
    let _ = child.kill();
    let _ = child.wait();
    drop(reader);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = rows(&tmp.path().join("o"));
    assert_eq!(find(&r, "rehost", "rehost", "secure-env").verdict, "lost");
    assert_eq!(find(&r, "rehost", "rehost", "plain-env").verdict, "survived");
}

//! A soak that outlives its process: `run --detach`, `soak check` (one round per call, as a
//! scheduler drives it), `run --resume` after a SIGKILL. Each against `mock serve --clock
//! virtual` in a child process, which plays the part Azure plays for real: the world goes on
//! while the run's process is gone. The evidence must be what one uninterrupted run with the same
//! seed gives.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A `mock serve --clock virtual` child on a free loopback port, killed when dropped.
struct Mock {
    child: Child,
    url: String,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Mock {
    fn start(seed: u64) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aci-chaos"))
            .args(["mock", "serve", "--clock", "virtual", "--listen", "127.0.0.1:0", "--seed"])
            .arg(seed.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("mock serve prints its address").unwrap();
            if let Some(u) = line.strip_prefix("mock ARM listening on ") {
                break u.split_whitespace().next().unwrap().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Mock { child, url }
    }
}

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aci-chaos"));
    c.current_dir(dir);
    c
}

fn text(o: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Two agents soak for 10 virtual days, a check every 15 minutes (960 rounds); rehosts that
/// lose secure values come every 3 days on average; a restart follows the soak.
const SOAK_10D: &str = r#"
[suite]
name = "soak-10d"
[[mock-fault]]
kind = "rehost"
target = "each"
hypothesis = { secure-env = "lost" }
schedule = { poisson = "3d" }
[[scenario]]
name = "agents"
groups = [
  { profile = "azp-agent", channels = ["secure-env", "plain-env"], zones = ["1"] },
  { profile = "probe", channels = ["secure-env", "plain-env", "secret-volume"] },
]
steps = [{ kind = "soak", duration = "10d", every = "15m" }, { kind = "restart" }]
"#;

/// A day in hourly rounds (24 calls of `soak check`), rehosts every 6 hours on average, and a
/// second iteration so a soak check also finishes one iteration and detaches at the next.
const SOAK_1D: &str = r#"
[suite]
name = "soak-1d"
[[mock-fault]]
kind = "rehost"
target = "each"
hypothesis = { secure-env = "lost" }
schedule = { poisson = "6h" }
[[scenario]]
name = "day"
iterations = 2
group = { profile = "probe", channels = ["secure-env", "plain-env", "secret-volume"] }
steps = [{ kind = "soak", duration = "12h", every = "1h" }, { kind = "restart" }]
"#;

const SEED: &str = "11";
const RUN_ID: &str = "5eed11";

fn suite(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("suite.toml");
    std::fs::write(&p, body).unwrap();
    p
}

/// One uninterrupted run of `body` against a fresh mock: the reference evidence.
fn uninterrupted(tmp: &Path, body: &str) -> PathBuf {
    let mock = Mock::start(11);
    let s = suite(tmp, body);
    let out = tmp.join("reference");
    let o =
        bin(tmp).arg("run").arg(&s).args(["--target", &mock.url, "--seed", SEED, "--run-id", RUN_ID, "--out"]).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    out
}

/// evidence.csv without what differs by nature between two processes: wall times, the mock's
/// address, and the request ids (the mock numbers every request, and a resumed run sends a
/// few more: the interrupted round's again, and its start-up reads).
fn evidence(dir: &Path) -> Vec<Vec<(String, String)>> {
    let mut r = csv::Reader::from_path(dir.join("evidence.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .filter(|(h, _)| !h.ends_with("_wall") && *h != "target" && *h != "request_ids")
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn assert_same_evidence(reference: &Path, other: &Path) {
    let (a, b) = (evidence(reference), evidence(other));
    assert!(a.len() > 4, "the reference has too few checks to compare: {}", a.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let diff: Vec<_> = x.iter().zip(y).filter(|(p, q)| p != q).collect();
        assert!(diff.is_empty(), "row {} differs: {diff:?}", i + 2);
    }
    assert_eq!(a.len(), b.len(), "row counts differ");
    let verdicts: std::collections::BTreeSet<&str> =
        a.iter().flat_map(|r| r.iter().filter(|(h, _)| h == "verdict").map(|(_, v)| v.as_str())).collect();
    assert!(verdicts.contains("lost"), "the reference soak should see a loss: {verdicts:?}");
}

/// The mock's subscription id appears in no evidence file, however many processes wrote them
/// (state.json keeps it: the run needs it to go on).
fn assert_ids_masked(dir: &Path) {
    for f in ["history.jsonl", "report.md", "evidence.csv", "junit.xml"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(!text.contains("00000000-0000-0000-0000-00000000c0de"), "{f} holds the subscription id unmasked");
        assert!(!text.contains("00000000-0000-0000-0000-0000000000aa"), "{f} holds the tenant id unmasked");
    }
}

/// `run SOAK_1D --detach` against `mock` into `dir/name`: a soak waiting for its first round.
fn detached(dir: &Path, mock: &Mock, name: &str) -> PathBuf {
    let s = suite(dir, SOAK_1D);
    let out = dir.join(name);
    let o = bin(dir).arg("run").arg(&s).args(["--target", &mock.url, "--detach", "--out"]).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    out
}

fn state(dir: &Path) -> serde_json::Value {
    std::fs::read_to_string(dir.join("state.json")).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

#[test]
fn a_soak_killed_and_resumed_gives_the_evidence_of_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = uninterrupted(tmp.path(), SOAK_10D);
    // A pseudo-random kill point from the clock: anywhere from the first rounds to late ones.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let kill_after_rounds = 20 + u64::from(nanos) % 800;
    let mock = Mock::start(11);
    let s = suite(tmp.path(), SOAK_10D);
    let out = tmp.path().join("killed");
    let mut child = bin(tmp.path())
        .arg("run")
        .arg(&s)
        .args(["--target", &mock.url, "--seed", SEED, "--run-id", RUN_ID, "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let rounds = state(&out).pointer("/progress/current/soak/rounds_done").and_then(|v| v.as_u64()).unwrap_or(0);
        if rounds >= kill_after_rounds {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before round {kill_after_rounds}");
        assert!(start.elapsed() < Duration::from_secs(120), "the soak did not reach round {kill_after_rounds}");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SIGKILL: no cleanup, no last write; whatever state.json and history.jsonl hold now.
    child.kill().unwrap();
    child.wait().unwrap();
    let st = state(&out);
    assert_eq!(st["status"], "running", "killed mid-soak: {st}");
    let o = bin(tmp.path()).arg("run").arg("--resume").arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(state(&out)["status"], "finished");
    assert_same_evidence(&reference, &out);
    assert_ids_masked(&out);
    let history = std::fs::read_to_string(out.join("history.jsonl")).unwrap();
    assert!(history.contains("\"step\":\"resume\""), "the resume is recorded in the history");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| resumed | 1 time after its process died"), "the report says so");
    // Nothing is left on the mock.
    let again = bin(tmp.path()).arg("run").arg("--resume").arg(&out).output().unwrap();
    assert!(again.status.success() && String::from_utf8_lossy(&again.stdout).contains("nothing to do"), "{}", text(&again));
}

#[test]
fn a_soak_driven_round_by_round_by_soak_check_gives_the_same_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = uninterrupted(tmp.path(), SOAK_1D);
    let mock = Mock::start(11);
    let s = suite(tmp.path(), SOAK_1D);
    let out = tmp.path().join("driven");
    let o = bin(tmp.path())
        .arg("run")
        .arg(&s)
        .args(["--target", &mock.url, "--seed", SEED, "--run-id", RUN_ID, "--detach", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("round 1 of 12 is due") && t.contains("aci-chaos soak check"), "{t}");
    assert_eq!(state(&out)["status"], "detached");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| finished | not yet: the soak goes on"), "a detached run's report says it goes on");
    let mut calls = 0;
    while state(&out)["status"] != "finished" {
        calls += 1;
        assert!(calls <= 30, "soak check never finished the run");
        let o = bin(tmp.path()).args(["soak", "check"]).arg(&out).output().unwrap();
        assert!(o.status.success(), "call {calls}: {}", text(&o));
    }
    // 12 rounds for each of two iterations; the last call of each soak also finishes it.
    assert_eq!(calls, 24);
    assert_same_evidence(&reference, &out);
    assert_ids_masked(&out);
    let o = bin(tmp.path()).args(["soak", "check"]).arg(&out).output().unwrap();
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("nothing to do"), "{}", text(&o));
}

#[test]
fn what_cannot_be_resumed_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let s = suite(tmp.path(), SOAK_1D);
    // The embedded mock's world ends with the process.
    let o = bin(tmp.path()).arg("run").arg(&s).arg("--detach").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--detach needs a target that outlives this process"), "{}", text(&o));
    let o = bin(tmp.path()).arg("run").arg(&s).args(["--seed", "3", "--out", "embedded"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = bin(tmp.path()).args(["run", "--resume", "embedded"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("embedded mock"), "{}", text(&o));
    // Not a run folder at all; a folder without state; a state file that is not one.
    let o = bin(tmp.path()).args(["soak", "check", "nowhere"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("nowhere: no such run folder"), "{}", text(&o));
    std::fs::create_dir(tmp.path().join("bad")).unwrap();
    std::fs::write(tmp.path().join("bad/state.json"), "{\n  \"format\": \"aci-chaos-run-state/1\",\n  \"status\": 7\n}").unwrap();
    let o = bin(tmp.path()).args(["soak", "check", "bad"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("state.json:3:"), "{}", text(&o));
    // --resume takes the run's own settings: a suite or a seed beside it is refused by clap.
    let o = bin(tmp.path()).args(["run", "--resume", "bad", "--seed", "4"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // A suite without a soak has nothing to detach at.
    let plain = tmp.path().join("plain.toml");
    std::fs::write(&plain, "[suite]\nname = \"p\"\n[[scenario]]\nname = \"r\"\nsteps = [{ kind = \"restart\" }]\n").unwrap();
    let mock = Mock::start(1);
    let o = bin(tmp.path()).arg("run").arg(&plain).args(["--target", &mock.url, "--detach"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("these suites have none"), "{}", text(&o));
}

#[test]
fn two_processes_never_drive_one_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let mock = Mock::start(11);
    let out = detached(tmp.path(), &mock, "locked");
    // The lock is the operating system's: hold it from this process, as a running check would.
    let f = std::fs::OpenOptions::new().write(true).open(out.join(".lock")).unwrap();
    f.lock().unwrap();
    let o = bin(tmp.path()).args(["soak", "check"]).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "busy is not bad input: {}", text(&o));
    assert!(text(&o).contains("being driven by another aci-chaos process"), "{}", text(&o));
    drop(f);
    let o = bin(tmp.path()).args(["soak", "check"]).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 soak rounds done"), "{}", text(&o));
}

fn text_of(o: &Output) -> String {
    text(o)
}

/// One request to the mock (any bearer token), the answer's text.
fn mock_call(url: &str, method: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

/// The mock's groups, by name (its admin plane's state).
fn mock_groups(url: &str) -> Vec<String> {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /_aci-chaos/state HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["groups"].as_array().into_iter().flatten().filter_map(|g| g["id"].as_str()?.rsplit('/').next().map(String::from)).collect()
}

#[test]
fn ctrl_c_during_soak_check_never_ends_the_soak() {
    let tmp = tempfile::tempdir().unwrap();
    let mock = Mock::start(11);
    let out = detached(tmp.path(), &mock, "soak");
    let groups = mock_groups(&mock.url);
    assert_eq!(groups.len(), 1, "{groups:?}");
    // From before the signal handler is set up to mid-round.
    for delay in [0u64, 20, 60, 120, 250] {
        let child = bin(tmp.path()).args(["soak", "check"]).arg(&out).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        // SAFETY: signals the child we started and have not waited for.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let o = child.wait_with_output().unwrap();
        let st = state(&out);
        assert_ne!(st["status"], "finished", "SIGINT after {delay} ms ended the soak: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(mock_groups(&mock.url), groups, "SIGINT after {delay} ms: the soak's group keeps running");
    }
    let o = bin(tmp.path()).args(["soak", "check"]).arg(&out).output().unwrap();
    assert!(o.status.success(), "the next call goes on: {}", text(&o));
    assert!(text(&o).contains("soak rounds done"), "{}", text(&o));
}

#[test]
fn damaged_folders_are_refused_and_a_gone_world_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mock = Mock::start(11);
    let out = detached(tmp.path(), &mock, "soak");
    // A history cut short would lose evidence: refused, nothing changed.
    let history = out.join("history.jsonl");
    let full = std::fs::read(&history).unwrap();
    std::fs::write(&history, &full[..full.len() / 2]).unwrap();
    let o = bin(tmp.path()).args(["soak", "check"]).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("shorter than the") && text(&o).contains("would lose evidence"), "{}", text(&o));
    std::fs::write(&history, &full).unwrap();
    // A file, not a folder.
    let o = bin(tmp.path()).args(["run", "--resume"]).arg(&history).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a folder"), "{}", text(&o));
    // An empty folder gets no lock file.
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let o = bin(tmp.path()).args(["run", "--resume", "empty"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(std::fs::read_dir(tmp.path().join("empty")).unwrap().count(), 0);
    // An edited state file is not trusted: it decides what gets deleted.
    let text = std::fs::read_to_string(out.join("state.json")).unwrap();
    std::fs::write(out.join("state.json"), text.replace("\"seed\": ", "\"seed\": 1")).unwrap();
    let o = bin(tmp.path()).args(["soak", "check"]).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text_of(&o));
    assert!(text_of(&o).contains("checksum does not match"), "{}", text_of(&o));
    std::fs::write(out.join("state.json"), &text).unwrap();
    // The world is gone (someone deleted the soak's group): said once, the run ends there.
    let st = state(&out);
    let path = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerInstance/containerGroups/{}?api-version=2023-05-01",
        st["setup"]["subscription"].as_str().unwrap(),
        st["setup"]["resource_group"].as_str().unwrap(),
        st["progress"]["current"]["members"][0]["name"].as_str().unwrap()
    );
    mock_call(&mock.url, "DELETE", &path);
    assert!(mock_groups(&mock.url).is_empty());
    let o = bin(tmp.path()).args(["soak", "check"]).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text_of(&o));
    assert!(text_of(&o).contains("is gone from the target") && text_of(&o).contains("marked finished"), "{}", text_of(&o));
    assert!(mock_groups(&mock.url).is_empty(), "nothing was deployed");
    assert_eq!(state(&out)["status"], "finished");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("ended outside the run"), "the report says how it ended");
    let o = bin(tmp.path()).args(["soak", "check"]).arg(&out).output().unwrap();
    assert!(o.status.success() && text_of(&o).contains("nothing to do"), "a scheduler's next call is quiet: {}", text_of(&o));
}

#[test]
fn a_run_killed_before_its_reports_gets_them_on_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let mock = Mock::start(11);
    let s = suite(tmp.path(), SOAK_1D);
    let out = tmp.path().join("done");
    let o = bin(tmp.path()).arg("run").arg(&s).args(["--target", &mock.url, "--out"]).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(state(&out)["status"], "finished");
    for f in ["report.md", "evidence.csv", "junit.xml"] {
        std::fs::remove_file(out.join(f)).unwrap();
    }
    let o = bin(tmp.path()).arg("run").arg("--resume").arg(&out).output().unwrap();
    assert!(o.status.success() && text(&o).contains("written again"), "{}", text(&o));
    assert!(out.join("report.md").exists() && out.join("evidence.csv").exists());
}

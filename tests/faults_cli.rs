//! End to end: `mock serve --faults FILE` with control-plane faults; a run against it retries
//! through throttling and server errors (honouring Retry-After) and still gets its verdicts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aci-chaos"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

struct Serve(Child, String);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(args: &[&str]) -> Serve {
    let mut child = bin().args(["mock", "serve"]).args(args).stdout(Stdio::piped()).spawn().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    std::thread::spawn(move || for _ in reader.lines() {});
    Serve(child, url)
}

#[test]
fn a_run_rides_out_throttling_and_server_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = tmp.path().join("faults.toml");
    std::fs::write(
        &faults,
        r#"
[[control]]
operation = "put"
rate = 0.5
effect = "throttle"
retry-after = "2s"

[[control]]
operation = "get"
rate = 0.2
effect = "error-503"
"#,
    )
    .unwrap();
    let mock = serve(&["--clock", "virtual", "--seed", "4", "--faults", faults.to_str().unwrap()]);
    let out = tmp.path().join("o");
    let o =
        bin().args(["run", "scenarios/restart.toml", "--target", &mock.1, "--seed", "4", "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(!stdout.contains("FAIL"), "{stdout}");
    let history = std::fs::read_to_string(out.join("history.jsonl")).unwrap();
    assert!(history.contains("\"status\":429"), "throttling was met");
    assert!(history.contains("\"status\":503"), "server errors were met");
    assert!(history.contains("\"attempt\":2"), "and retried");
}

#[test]
fn a_run_slows_down_on_low_rate_limit_headers_instead_of_running_into_429s() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = tmp.path().join("faults.toml");
    // ARM's quota nearly spent from the start: 30 reads and 8 writes left, refilled as ARM does
    // (12000 reads, 1200 writes an hour) on the mock's clock.
    std::fs::write(&faults, "[[control]]\neffect = \"ratelimit-budget\"\nreads = 30\nwrites = 8\n").unwrap();
    let mock = serve(&["--clock", "virtual", "--seed", "4", "--faults", faults.to_str().unwrap()]);
    let out = tmp.path().join("o");
    let o =
        bin().args(["run", "scenarios/restart.toml", "--target", &mock.1, "--seed", "4", "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let history = std::fs::read_to_string(out.join("history.jsonl")).unwrap();
    assert!(history.contains("\"slowed_ms\""), "the client paused on the low x-ms-ratelimit-remaining headers");
    assert!(!history.contains("\"status\":429"), "and so never ran into a 429");
}

#[test]
fn a_bad_fault_file_is_refused_with_its_place() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = tmp.path().join("faults.toml");
    std::fs::write(&faults, "[[fault]]\nkind = \"reboot\"\nschedule = { at = \"1h\" }\n").unwrap();
    let o = bin().args(["mock", "serve", "--faults", faults.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("faults.toml:2:8") && err.contains("reboot"), "{err}");
}

#[test]
fn an_interrupt_cuts_a_long_wait_short_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = tmp.path().join("wait.toml");
    std::fs::write(&suite, "[suite]\nname = \"w\"\n[[scenario]]\nname = \"w\"\nsteps = [{ kind = \"wait\", duration = \"10m\" }]\n")
        .unwrap();
    let mock = serve(&["--clock", "real"]);
    let mut run = bin()
        .args(["run", suite.to_str().unwrap(), "--target", &mock.1, "--out", tmp.path().join("o").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Deploying takes a few real seconds; then the run sits in its ten-minute wait.
    std::thread::sleep(std::time::Duration::from_secs(8));
    let sent = std::time::Instant::now();
    assert!(Command::new("kill").args(["-TERM", &run.id().to_string()]).status().unwrap().success());
    let status = run.wait().unwrap();
    assert!(sent.elapsed() < std::time::Duration::from_secs(30), "the wait was cut short: {:?}", sent.elapsed());
    assert_eq!(status.code(), Some(130));
    let state: serde_json::Value = reqwest_state(&mock.1);
    assert_eq!(state["groups"].as_array().map(Vec::len), Some(0), "no group left behind: {state}");
    let history = std::fs::read_to_string(tmp.path().join("o/history.jsonl")).unwrap();
    assert!(history.contains("interrupted"), "the history says the run was interrupted");
}

fn reqwest_state(url: &str) -> serde_json::Value {
    let out = Command::new("curl").args(["-s", &format!("{url}/_aci-chaos/state")]).output();
    match out {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).unwrap(),
        _ => {
            // No curl: ask over a raw socket.
            use std::io::{Read, Write};
            let addr = url.trim_start_matches("http://");
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            write!(s, "GET /_aci-chaos/state HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).unwrap();
            let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
            serde_json::from_str(body).unwrap_or_else(|_| serde_json::from_str(body.lines().nth(1).unwrap_or("{}")).unwrap())
        }
    }
}

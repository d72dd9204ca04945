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
fn a_bad_fault_file_is_refused_with_its_place() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = tmp.path().join("faults.toml");
    std::fs::write(&faults, "[[fault]]\nkind = \"reboot\"\nschedule = { at = \"1h\" }\n").unwrap();
    let o = bin().args(["mock", "serve", "--faults", faults.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("faults.toml:2:8") && err.contains("reboot"), "{err}");
}

//! `--target azure`, `cleanup` and `inspect` end to end: the real binary against `mock serve
//! --tls` (its AAD-like token issuer included) in a child process, exactly as against Azure,
//! with a service principal's secret in the environment.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SUB: &str = "00000000-0000-0000-0000-00000000c0de";
const TENANT: &str = "00000000-0000-0000-0000-0000000000aa";
const CLIENT_SECRET: &str = "sp-secret-never-printed-7f3a";

/// A `mock serve --tls` child on a free loopback port, killed when dropped.
struct Mock {
    child: std::sync::Mutex<Child>,
    http: String,
    https: String,
    ca: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Mock {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        // scaled=60: a deployment or a back-off of a minute takes a second.
        let mut child = Command::new(env!("CARGO_BIN_EXE_aci-chaos"))
            .args(["mock", "serve", "--tls", "--clock", "scaled=60", "--listen", "127.0.0.1:0", "--cert-out"])
            .arg(&ca)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("mock.log")).map(Stdio::from).unwrap_or(Stdio::null()))
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut http, mut https) = (String::new(), String::new());
        while https.is_empty() {
            let line = lines.next().expect("mock serve prints its addresses").unwrap();
            if let Some(u) = line.strip_prefix("mock ARM listening on ") {
                let u = u.split_whitespace().next().unwrap().to_string();
                if u.starts_with("https") { https = u } else { http = u }
            }
        }
        // Keep reading stdout so the mock never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Mock { child: std::sync::Mutex::new(child), http, https, ca, dir }
    }

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    /// A plain-http call to the mock (ARM calls need any bearer token).
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.http);
        Self::block(async {
            let mut rb = reqwest::Client::new().request(method, url).bearer_auth("test");
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            let r = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    let status = self.child.lock().unwrap_or_else(|p| p.into_inner()).try_wait();
                    let log = std::fs::read_to_string(self.dir.path().join("mock.log")).unwrap_or_default();
                    panic!("the mock did not answer: {e}; its process: {status:?}; its log:\n{log}");
                }
            };
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        })
    }

    /// The mock's request log (ARM and token calls; the admin plane is not logged).
    fn requests(&self) -> Vec<Value> {
        self.call(reqwest::Method::GET, "/_aci-chaos/requests", None).1["value"].as_array().cloned().unwrap_or_default()
    }

    fn groups(&self) -> Vec<Value> {
        let path = format!("/subscriptions/{SUB}/providers/Microsoft.ContainerInstance/containerGroups?api-version=2023-05-01");
        self.call(reqwest::Method::GET, &path, None).1["value"].as_array().cloned().unwrap_or_default()
    }

    fn put_rg(&self, rg: &str) {
        let (s, _) = self.call(
            reqwest::Method::PUT,
            &format!("/subscriptions/{SUB}/resourceGroups/{rg}?api-version=2021-04-01"),
            Some(json!({"location": "eastus"})),
        );
        assert!(s < 300, "PUT resource group: {s}");
    }

    /// Creates a group directly (as a user's own agent would be), with `tags` and profile.
    fn put_group(&self, rg: &str, name: &str, tags: Value, profile: &str) {
        let container = if profile == "azp-agent" { "azp-agent" } else { "probe" };
        let secure = if profile == "azp-agent" { "AZP_TOKEN" } else { "ACI_CHAOS_SECURE_ENV" };
        let body = json!({"location": "eastus", "tags": tags, "properties": {"osType": "Linux", "restartPolicy": "Always",
            "containers": [{"name": container, "properties": {"image": "mcr.microsoft.com/azurelinux/busybox:1.36",
                "command": ["/bin/sh", "-c", "sleep infinity"],
                "resources": {"requests": {"cpu": 1.0, "memoryInGB": 0.5}},
                "environmentVariables": [{"name": "ACI_CHAOS_PROFILE", "value": profile}, {"name": secure, "secureValue": "agent-token-xyz"}]}}]}});
        let path = format!(
            "/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}?api-version=2023-05-01"
        );
        let (s, v) = self.call(reqwest::Method::PUT, &path, Some(body));
        assert!(s < 300, "PUT group {name}: {s} {v}");
    }

    /// The azure-target flags that point the binary at this mock.
    fn azure_args(&self) -> Vec<String> {
        ["--subscription", SUB, "--auth", "env", "--arm-endpoint", &self.https, "--authority-host", &self.https, "--ca-cert"]
            .iter()
            .map(|s| s.to_string())
            .chain([self.ca.display().to_string()])
            .collect()
    }
}

fn hex_sha256(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aci-chaos"));
    c.current_dir(dir)
        .env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", "app-7")
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .env_remove("AZURE_SUBSCRIPTION_ID")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .env_remove("SSL_CERT_FILE");
    c
}

fn text(o: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn write_suite(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

const SMALL: &str = r#"
[suite]
name = "small"
[[scenario]]
name = "restart"
group = { profile = "probe", channels = ["secure-env", "plain-env", "secret-volume"] }
expect = { secure-env = "survived", plain-env = "survived", secret-volume = "survived" }
steps = [{ kind = "restart" }]
"#;

/// Two iterations side by side that wait long enough to be interrupted or killed mid-run.
const SLOW: &str = r#"
[suite]
name = "slow"
[[scenario]]
name = "waits"
iterations = 2
group = { profile = "probe", channels = ["secure-env", "plain-env"] }
steps = [{ kind = "restart" }, { kind = "wait", duration = "3m" }, { kind = "stop" }, { kind = "start" }]
"#;

fn assert_no_secret(what: &str, s: &str) {
    assert!(!s.contains(CLIENT_SECRET), "the client secret appears in {what}");
}

fn files_text(dir: &Path) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            all.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
        } else if p.is_dir() {
            all.push_str(&files_text(&p));
        }
    }
    all
}

#[test]
fn client_secret_credential_gets_a_token_from_the_mock_issuer_and_a_suite_runs() {
    let mock = Mock::start();
    let tmp = tempfile::tempdir().unwrap();
    let suite = write_suite(tmp.path(), "small.toml", SMALL);
    let o = bin(tmp.path()).arg("run").arg(&suite).args(["--target", "azure", "--out", "o"]).args(mock.azure_args()).output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("auth: using env credential (owner sp:app-7)"), "{t}");
    assert!(t.contains("survived"), "{t}");
    let reqs = mock.requests();
    let token_calls = reqs.iter().filter(|r| r["uri"].as_str().unwrap_or("").ends_with("/oauth2/v2.0/token")).count();
    assert_eq!(token_calls, 1, "one token for the whole run (cached): {reqs:?}");
    assert!(reqs.iter().any(|r| r["method"] == "PUT" && r["uri"].as_str().unwrap().contains("containerGroups/")));
    assert!(mock.groups().is_empty(), "every group deleted: {:?}", mock.groups());
    assert_no_secret("the output", &t);
    assert_no_secret("the run's files", &files_text(&tmp.path().join("o")));
    let history = std::fs::read_to_string(tmp.path().join("o/history.jsonl")).unwrap();
    assert!(history.contains("every group deleted"), "the report records the cleanup");
    let report = std::fs::read_to_string(tmp.path().join("o/report.md")).unwrap();
    assert!(report.contains("********-****-****-****-********00aa"), "the tenant (from the token) is in the report, masked");
    assert!(!report.contains(TENANT) && !report.contains(SUB), "ids are masked");
}

#[test]
fn dry_run_prints_the_plan_and_sends_nothing() {
    let mock = Mock::start();
    let tmp = tempfile::tempdir().unwrap();
    let suite = write_suite(tmp.path(), "slow.toml", SLOW);
    let o = bin(tmp.path())
        .arg("run")
        .arg(&suite)
        .args(["--target", "azure", "--dry-run", "-g", "sandbox-rg", "--price-vcpu-second", "0.001"])
        .args(mock.azure_args())
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!(
            "PUT /subscriptions/{SUB}/resourceGroups/sandbox-rg/providers/Microsoft.ContainerInstance/containerGroups/"
        ))
    );
    assert!(stdout.contains("/restart?api-version=") && stdout.contains("/stop?api-version=") && stdout.contains("DELETE"), "{stdout}");
    assert!(stdout.contains("\"secureValue\":\"***\""), "secrets are masked: {stdout}");
    assert!(stdout.contains("container groups (2)") && stdout.contains("zones any"), "{stdout}");
    assert!(stdout.contains("vCPU-seconds × 0.001"), "{stdout}");
    assert!(!t.contains("auth: using"), "no credential is requested: {t}");
    assert_eq!(mock.requests(), Vec::<Value>::new(), "a dry run sends nothing");
    assert!(!tmp.path().join("out").exists(), "and writes nothing");
    assert_no_secret("the plan", &t);
}

#[test]
fn over_budget_is_refused_before_any_request() {
    let mock = Mock::start();
    let tmp = tempfile::tempdir().unwrap();
    let suite = write_suite(tmp.path(), "slow.toml", SLOW);
    for limit in [&["--max-groups", "1"][..], &["--max-duration", "2m"], &["--max-cost", "0.0001"]] {
        let o = bin(tmp.path()).arg("run").arg(&suite).args(["--target", "azure"]).args(limit).args(mock.azure_args()).output().unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{limit:?}: {t}");
        assert!(t.contains("over --max-") && t.contains("nothing was sent"), "{t}");
    }
    // A suite with mock-only steps is refused the same way, before any credential.
    let rehost =
        write_suite(tmp.path(), "rehost.toml", "[suite]\nname = \"r\"\n[[scenario]]\nname = \"rehost\"\nsteps = [{ kind = \"rehost\" }]\n");
    let o = bin(tmp.path()).arg("run").arg(&rehost).args(["--target", "azure"]).args(mock.azure_args()).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // --auth env without its settings is bad usage, found before any request.
    let o = bin(tmp.path())
        .env_remove("AZURE_CLIENT_SECRET")
        .arg("run")
        .arg(&suite)
        .args(["--target", "azure"])
        .args(mock.azure_args())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("AZURE_CLIENT_SECRET not set"), "{}", text(&o));
    assert_eq!(mock.requests(), Vec::<Value>::new(), "no request, not even for a token");
}

/// Starts a run of `suite`, waits for its run id on stderr, and returns the child, the id and
/// the rest of its stderr.
fn start_run(mock: &Mock, dir: &Path, suite: &Path, extra: &[&str]) -> (Child, String, std::sync::mpsc::Receiver<String>) {
    let mut child = bin(dir)
        .arg("run")
        .arg(suite)
        .args(["--target", "azure", "--parallel", "2"])
        .args(extra)
        .args(mock.azure_args())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix("aci-chaos run ") {
                    let id = rest.split(':').next().unwrap_or_default().to_string();
                    return (child, id, rx);
                }
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the run did not print its id: {e}");
            }
        }
    }
}

fn run_groups(mock: &Mock, run: &str) -> Vec<String> {
    mock.groups().iter().filter(|g| g["tags"]["aci-chaos-run"] == run).map(|g| g["name"].as_str().unwrap_or_default().to_string()).collect()
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn after_a_sigkill_cleanup_run_removes_that_runs_groups_and_nothing_else() {
    let mock = Mock::start();
    let tmp = tempfile::tempdir().unwrap();
    let suite = write_suite(tmp.path(), "slow.toml", SLOW);
    mock.put_rg("shared-rg");
    mock.put_group("shared-rg", "users-own-agent", json!({"team": "ci"}), "probe");
    mock.put_group("shared-rg", "another-runs-group", json!({"aci-chaos-run": "0ther1"}), "probe");
    let (mut child, run, _rx) = start_run(&mock, tmp.path(), &suite, &["-g", "shared-rg"]);
    wait_for("both groups of the run", Duration::from_secs(20), || run_groups(&mock, &run).len() == 2);
    child.kill().unwrap();
    child.wait().unwrap();
    let groups = mock.groups();
    let ours: Vec<&Value> = groups.iter().filter(|g| g["tags"]["aci-chaos-run"] == run.as_str()).collect();
    assert_eq!(ours.len(), 2);
    for g in &ours {
        assert_eq!(g["tags"]["aci-chaos-owner"], "sp:app-7", "owner tag: {g}");
        assert!(g["tags"]["aci-chaos-created"].is_string(), "creation tag: {g}");
    }

    let o = bin(tmp.path()).args(["cleanup", "--run", &run]).args(mock.azure_args()).output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("2 deleted, 0 failed; 1 untagged groups left alone, 1 tagged groups not selected"), "{t}");
    assert!(run_groups(&mock, &run).is_empty(), "{t}");
    let left: Vec<String> = mock.groups().iter().map(|g| g["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(left, ["another-runs-group", "users-own-agent"], "nothing else was touched");
    assert_no_secret("cleanup's output", &t);

    // --older-than leaves young groups; --all-runs still never touches the untagged one.
    let o = bin(tmp.path()).args(["cleanup", "--all-runs", "--older-than", "1h"]).args(mock.azure_args()).output().unwrap();
    assert!(text(&o).contains("0 deleted"), "{}", text(&o));
    let o = bin(tmp.path()).args(["cleanup", "--all-runs", "-g", "shared-rg"]).args(mock.azure_args()).output().unwrap();
    assert!(text(&o).contains("1 deleted, 0 failed; 1 untagged"), "{}", text(&o));
    let left: Vec<String> = mock.groups().iter().map(|g| g["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(left, ["users-own-agent"]);
    // Bad input: exit 2.
    let o = bin(tmp.path()).args(["cleanup", "--run", "x;y"]).args(mock.azure_args()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn sigint_at_random_points_in_20_runs_leaves_no_group_behind() {
    let mock = Mock::start();
    let tmp = tempfile::tempdir().unwrap();
    let suite = write_suite(tmp.path(), "slow.toml", SLOW);
    let seed0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    // Four runs at a time against the one mock (each its own run id), 20 in all.
    let cleanup_lines = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for worker in 0..4u64 {
            let (mock, tmp, suite, cleanup_lines) = (&mock, tmp.path(), &suite, &cleanup_lines);
            s.spawn(move || {
                let mut seed = seed0.wrapping_mul(worker + 7) | 1;
                for i in 0..5 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Anywhere from just after the credential to mid-wait.
                    let delay = Duration::from_millis(seed % 2500);
                    let (mut child, run, rx) = start_run(mock, tmp, suite, &["--out", &format!("o{worker}-{i}")]);
                    std::thread::sleep(delay);
                    // SAFETY: signals the child we started and have not waited for (its pid is not reused).
                    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
                    let status = child.wait().unwrap();
                    let stderr: Vec<String> = rx.iter().collect();
                    let label = format!("run {worker}-{i} ({run}), SIGINT after {delay:?} (seed {seed0})");
                    assert!(matches!(status.code(), Some(0) | Some(130)), "{label}: {status:?}\n{}", stderr.join("\n"));
                    assert_eq!(run_groups(mock, &run), Vec::<String>::new(), "{label}");
                    let rg = format!("/subscriptions/{SUB}/resourceGroups/acc-{run}?api-version=2021-04-01");
                    assert_eq!(mock.call(reqwest::Method::GET, &rg, None).0, 404, "{label}: the run's own resource group is gone too");
                    // The cleanup after an interrupt is shown as it goes.
                    let deleted = stderr.iter().filter(|l| l.starts_with("cleanup: deleted acc-")).count();
                    cleanup_lines.fetch_add(deleted, std::sync::atomic::Ordering::SeqCst);
                    assert!(stderr.iter().all(|l| !l.starts_with("cleanup: could not")), "{label}: {stderr:?}");
                }
            });
        }
    });
    assert!(mock.groups().is_empty());
    assert!(cleanup_lines.into_inner() > 0, "no run showed its cleanup (every SIGINT came before any deploy?)");
}

#[test]
fn inspect_finds_the_crash_looping_azp_agent_and_reports_healthy_groups_as_healthy() {
    let mock = Mock::start();
    let tmp = tempfile::tempdir().unwrap();
    mock.put_rg("agents");
    mock.put_group("agents", "agent-a", json!({}), "azp-agent");
    mock.put_group("agents", "agent-b", json!({}), "azp-agent");
    let id = format!("/subscriptions/{SUB}/resourceGroups/agents/providers/Microsoft.ContainerInstance/containerGroups/agent-b");
    wait_for("both agents running", Duration::from_secs(20), || {
        let g = mock.groups();
        g.len() == 2 && g.iter().all(|g| g["properties"]["provisioningState"] == "Succeeded")
    });
    let (s, v) = mock.call(
        reqwest::Method::POST,
        "/_aci-chaos/faults",
        Some(json!({"kind": "rehost", "target": id, "hypothesis": {"secure-env": "lost"}})),
    );
    assert!(s < 300, "fault: {s} {v}");
    let before = mock.requests().len();
    let mut last = String::new();
    wait_for("inspect to see the crash loop", Duration::from_secs(30), || {
        let o = bin(tmp.path()).args(["inspect", "-g", "agents"]).args(mock.azure_args()).output().unwrap();
        last = text(&o);
        assert!(o.status.success(), "{last}");
        last.lines().any(|l| l.starts_with("agent-b") && l.contains("crash-loop, missing-secret"))
    });
    let a = last.lines().find(|l| l.starts_with("agent-a")).unwrap_or_default();
    assert!(a.contains("healthy"), "{last}");
    let b = last.lines().find(|l| l.starts_with("agent-b")).unwrap_or_default();
    assert!(b.contains("error: missing AZP_TOKEN environment variable") && b.contains("CrashLoopBackOff"), "{last}");
    assert!(!last.contains("agent-token-xyz"));
    // Read-only: only GETs (and the token).
    let writes: Vec<Value> = mock.requests()[before..]
        .iter()
        .filter(|r| r["method"] != "GET" && !r["uri"].as_str().unwrap_or("").ends_with("/token"))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "inspect sent {writes:?}");

    // Through exec (a wss websocket trusting --ca-cert): set with a fingerprint, or empty.
    let o = bin(tmp.path())
        .args(["inspect", "-g", "agents", "--exec-check", "AZP_TOKEN", "ACI_CHAOS_PROFILE"])
        .args(mock.azure_args())
        .output()
        .unwrap();
    let t = text(&o);
    let fp = &hex_sha256("agent-token-xyz")[..16];
    let a = t.lines().find(|l| l.starts_with("agent-a")).unwrap_or_default();
    assert!(a.contains(&format!("AZP_TOKEN: set ({fp})")), "{t}");
    let b = t.lines().find(|l| l.starts_with("agent-b")).unwrap_or_default();
    // A crash-looping container is not running, so exec cannot answer: unknown, never guessed.
    assert!(b.contains("AZP_TOKEN: unknown (exec refused: "), "{t}");
    assert!(!t.contains("agent-token-xyz"), "{t}");

    let o = bin(tmp.path()).args(["inspect", "-g", "agents", "-n", "agent-a", "--markdown"]).args(mock.azure_args()).output().unwrap();
    let md = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(md.starts_with("| group | container | verdict |") && md.contains("| agent-a | azp-agent | healthy |"), "{}", text(&o));
    assert!(!md.contains("agent-b"));
}

#[test]
fn workload_identity_and_auto_say_which_credential_they_used() {
    let mock = Mock::start();
    let tmp = tempfile::tempdir().unwrap();
    mock.put_rg("empty");
    let token_file = tmp.path().join("federated-token");
    std::fs::write(&token_file, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJyZXBvOmFjaS1jaGFvcyJ9.").unwrap();
    let args: Vec<String> = mock.azure_args().into_iter().filter(|a| a != "env").collect();
    let args: Vec<String> = args.into_iter().filter(|a| a != "--auth").collect();
    for auth in ["workload-identity", "auto"] {
        let o = bin(tmp.path())
            .env_remove("AZURE_CLIENT_SECRET")
            .env("AZURE_FEDERATED_TOKEN_FILE", &token_file)
            .args(["inspect", "-g", "empty", "--auth", auth])
            .args(&args)
            .output()
            .unwrap();
        let t = text(&o);
        assert!(o.status.success(), "{auth}: {t}");
        assert!(t.contains("auth: using workload-identity credential (owner sp:app-7)"), "{auth}: {t}");
        assert!(t.contains("no container groups in empty"), "{t}");
    }
    // auto with a client secret picks env first.
    let o = bin(tmp.path()).args(["inspect", "-g", "empty", "--auth", "auto"]).args(&args).output().unwrap();
    assert!(text(&o).contains("auth: using env credential"), "{}", text(&o));
}

/// Two scenarios that soak: one sends its secrets again after the soak, which a resumed run on
/// Azure cannot do (their values died with the process that made them).
const SOAKS: &str = r#"
[suite]
name = "soaks"
[[scenario]]
name = "soak-then-update"
group = { profile = "probe", channels = ["secure-env", "plain-env"] }
steps = [{ kind = "soak", duration = "6s", every = "2s" }, { kind = "update", variant = "resend" }]
[[scenario]]
name = "soak-only"
group = { profile = "azp-agent", channels = ["secure-env", "plain-env"] }
steps = [{ kind = "soak", duration = "6s", every = "2s" }]
"#;

/// Whether `s` holds an OS-generated secret (`acc-` and 48 hex digits).
fn has_os_secret(s: &str) -> bool {
    s.match_indices("acc-").any(|(i, _)| {
        let rest = &s.as_bytes()[i + 4..];
        rest.len() >= 48 && rest[..48].iter().all(u8::is_ascii_hexdigit)
    })
}

#[test]
fn a_detached_soak_on_azure_is_driven_by_soak_check_and_finished_by_resume() {
    let mock = Mock::start();
    let tmp = tempfile::tempdir().unwrap();
    let suite = write_suite(tmp.path(), "soaks.toml", SOAKS);
    let o = bin(tmp.path())
        .arg("run")
        .arg(&suite)
        .args(["--target", "azure", "--detach", "--out", "o"])
        .args(mock.azure_args())
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("soak `soak-then-update` #1: round 1 of 3 is due"), "{t}");
    let run = t.split("aci-chaos-run=").nth(1).unwrap().split(')').next().unwrap().to_string();
    assert_eq!(run_groups(&mock, &run).len(), 1, "the soak's group keeps running");
    // The saved settings reach the subscription again: no flags but the folder.
    for round in 1..=3 {
        let o = bin(tmp.path()).args(["soak", "check", "o"]).output().unwrap();
        assert!(o.status.success() || round == 3, "round {round}: {}", text(&o));
        if round < 3 {
            assert!(text(&o).contains(&format!("{round} soak rounds done")), "{}", text(&o));
        }
    }
    // The third call finished the first soak; the update after it needs the secret values,
    // which this process never had: refused, its group deleted; the next scenario's soak began.
    let history = std::fs::read_to_string(tmp.path().join("o/history.jsonl")).unwrap();
    assert!(history.contains("sends the secrets again, and a resumed run on Azure does not have them"), "{history}");
    assert!(!run_groups(&mock, &run).iter().any(|g| g.contains("soak-then-update")), "its group is deleted");
    assert!(run_groups(&mock, &run).iter().any(|g| g.contains("soak-only")), "the next soak runs");
    let o = bin(tmp.path()).args(["run", "--resume", "o"]).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "one iteration stopped early: {t}");
    assert!(t.contains("soak-only"), "{t}");
    assert_eq!(run_groups(&mock, &run), Vec::<String>::new(), "nothing left behind");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("o/state.json")).unwrap()).unwrap();
    assert_eq!(state["status"], "finished");
    let all = files_text(&tmp.path().join("o"));
    assert!(!has_os_secret(&all), "no secret value in the run folder");
    assert_no_secret("the run folder", &all);
}

#[test]
fn cleanup_run_also_removes_the_resource_group_a_killed_run_created() {
    let mock = Mock::start();
    let tmp = tempfile::tempdir().unwrap();
    let suite = write_suite(tmp.path(), "slow.toml", SLOW);
    let (mut child, run, _rx) = start_run(&mock, tmp.path(), &suite, &[]);
    wait_for("both groups of the run", Duration::from_secs(20), || run_groups(&mock, &run).len() == 2);
    child.kill().unwrap();
    child.wait().unwrap();
    let rg = format!("/subscriptions/{SUB}/resourceGroups/acc-{run}?api-version=2021-04-01");
    assert_eq!(mock.call(reqwest::Method::GET, &rg, None).0, 200, "the killed run left its resource group");
    let o = bin(tmp.path()).args(["cleanup", "--run", &run, "--dry-run"]).args(mock.azure_args()).output().unwrap();
    assert!(text(&o).contains(&format!("would delete resource group /subscriptions/{SUB}/resourceGroups/acc-{run}")), "{}", text(&o));
    assert_eq!(mock.call(reqwest::Method::GET, &rg, None).0, 200, "a dry run deletes nothing");
    let o = bin(tmp.path()).args(["cleanup", "--run", &run]).args(mock.azure_args()).output().unwrap();
    let t = text(&o);
    assert!(o.status.success() && t.contains("2 deleted") && t.contains("deleted resource group"), "{t}");
    assert_eq!(mock.call(reqwest::Method::GET, &rg, None).0, 404, "{t}");
}

#[test]
fn managed_identity_gets_its_token_from_an_identity_endpoint() {
    let mock = Mock::start();
    let tmp = tempfile::tempdir().unwrap();
    mock.put_rg("agents");
    mock.put_group("agents", "agent-1", json!({}), "azp-agent");
    // As on App Service or Functions: the platform's identity endpoint and its secret header.
    let args: Vec<String> = mock.azure_args().into_iter().map(|a| if a == "env" { "managed-identity".into() } else { a }).collect();
    let o = bin(tmp.path())
        .args(["inspect", "-g", "agents"])
        .args(&args)
        .env("IDENTITY_ENDPOINT", format!("{}/msi/token", mock.http))
        .env("IDENTITY_HEADER", "platform-secret")
        .env_remove("AZURE_CLIENT_SECRET")
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("auth: using managed-identity credential (owner sp:app-7)"), "the user-assigned id from AZURE_CLIENT_ID: {t}");
    assert!(t.contains("agent-1"), "{t}");
    // Without the platform's header the endpoint refuses, and the error says which credential failed.
    let o = bin(tmp.path())
        .args(["inspect", "-g", "agents"])
        .args(&args)
        .env("IDENTITY_ENDPOINT", format!("{}/msi/token", mock.http))
        .env("IDENTITY_HEADER", "")
        .output()
        .unwrap();
    assert!(!o.status.success() && text(&o).contains("managed-identity"), "{}", text(&o));
}

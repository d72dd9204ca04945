//! HTTPS beside HTTP on one port, the exec/attach websockets, the token issuer, the admin
//! reset registry and the state file, over real connections.

use futures_util::{SinkExt, StreamExt};
use mock_arm::{ClockMode, MockConfig, MockServer};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const SUB: &str = "00000000-0000-0000-0000-00000000c0de";
const V: &str = "api-version=2023-05-01";
const SECRET: &str = "SECURE-VALUE-TRANSPORT";

fn group_path(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.ContainerInstance/containerGroups/{name}")
}

fn body() -> Value {
    json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [{"name": "probe", "properties": {
        "image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 0.5}},
        "environmentVariables": [
            {"name": "ACI_CHAOS_PROFILE", "value": "probe"},
            {"name": "ACI_CHAOS_CHANNELS", "value": "secure-env,plain-env"},
            {"name": "ACI_CHAOS_PLAIN_ENV", "value": "plain-value"},
            {"name": "ACI_CHAOS_SECURE_ENV", "secureValue": SECRET}]}}]}})
}

async fn call(http: &Client, base: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut rb = http.request(method, format!("{base}{path}")).bearer_auth("t");
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let s = r.status();
    let text = r.text().await.unwrap();
    assert!(!text.contains(SECRET), "a response echoed the secret: {text}");
    (s, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A virtual-clock mock with rg1/g1 deployed and running.
async fn deployed(config: MockConfig) -> (MockServer, Client) {
    let server = MockServer::start(MockConfig { clock: ClockMode::Virtual, ..config }).await.unwrap();
    let http = Client::new();
    let base = server.base_url();
    let (s, _) = call(
        &http,
        &base,
        Method::PUT,
        &format!("/subscriptions/{SUB}/resourceGroups/rg1?api-version=2021-04-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    assert!(s.is_success());
    let (s, _) = call(&http, &base, Method::PUT, &format!("{}?{V}", group_path("g1")), Some(body())).await;
    assert_eq!(s, StatusCode::CREATED);
    http.post(format!("{base}/_aci-chaos/clock/advance")).json(&json!({"seconds": 10})).send().await.unwrap();
    (server, http)
}

#[tokio::test]
async fn https_and_http_share_one_port_and_lro_urls_keep_the_scheme() {
    let server = MockServer::start(MockConfig { tls: true, ..MockConfig::default() }).await.unwrap();
    let https = server.tls_base_url().unwrap();
    assert_eq!(https, format!("https://{}", server.addr()));
    let ca = reqwest::Certificate::from_pem(server.ca_pem().unwrap().as_bytes()).unwrap();
    let tls = Client::builder().add_root_certificate(ca).build().unwrap();
    let (s, subs) = call(&tls, &https, Method::GET, "/subscriptions?api-version=2022-12-01", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(subs["value"][0]["subscriptionId"], SUB);
    let (s, _) = call(&Client::new(), &server.base_url(), Method::GET, "/subscriptions?api-version=2022-12-01", None).await;
    assert_eq!(s, StatusCode::OK, "plain http stays available on the same port");
    // localhost is in the certificate too.
    let (s, _) =
        call(&tls, &format!("https://localhost:{}", server.addr().port()), Method::GET, "/subscriptions?api-version=2022-12-01", None)
            .await;
    assert_eq!(s, StatusCode::OK);

    call(
        &tls,
        &https,
        Method::PUT,
        &format!("/subscriptions/{SUB}/resourceGroups/rg1?api-version=2021-04-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let r = tls.put(format!("{https}{}?{V}", group_path("g1"))).bearer_auth("t").json(&body()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let op = r.headers()["azure-asyncoperation"].to_str().unwrap();
    assert!(
        op.starts_with(&format!("{https}/subscriptions/{SUB}/providers/Microsoft.ContainerInstance/locations/eastus/operations/")),
        "{op}"
    );
    for _ in 0..3 {
        let poll = tls.get(op).bearer_auth("t").send().await.unwrap();
        assert_eq!(poll.headers()["retry-after"], "1", "a running operation asks for a 1 s poll, every time");
    }
}

async fn open(http: &Client, base: &str, action: &str, body: Value) -> (StatusCode, Value) {
    call(http, base, Method::POST, &format!("{}/containers/probe/{action}?{V}", group_path("g1")), Some(body)).await
}

/// Connects, sends `password`, returns (text received, close code).
async fn session(uri: &str, password: &str, stdin: &[&str]) -> (String, Option<CloseCode>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(uri).await.unwrap();
    ws.send(Message::text(password)).await.unwrap();
    for line in stdin {
        ws.send(Message::binary(line.as_bytes().to_vec())).await.unwrap();
    }
    let mut out = String::new();
    while let Some(Ok(m)) = ws.next().await {
        match m {
            Message::Text(t) => out.push_str(&t),
            Message::Binary(b) => out.push_str(&String::from_utf8_lossy(&b)),
            Message::Close(f) => return (out, f.map(|f| f.code)),
            _ => {}
        }
    }
    (out, None)
}

#[tokio::test]
async fn exec_runs_against_the_runtime_environment_behind_a_password() {
    let (server, http) = deployed(MockConfig::default()).await;
    let base = server.base_url();
    let (s, e) =
        open(&http, &base, "exec", json!({"command": "printenv ACI_CHAOS_PLAIN_ENV", "terminalSize": {"rows": 24, "cols": 80}})).await;
    assert_eq!(s, StatusCode::OK);
    let uri = e["webSocketUri"].as_str().unwrap();
    assert!(uri.starts_with("ws://127.0.0.1:"), "{uri}");
    let (out, code) = session(uri, e["password"].as_str().unwrap(), &[]).await;
    assert_eq!((out.as_str(), code), ("plain-value\n", Some(CloseCode::Normal)));
    // A session serves one websocket.
    let (out, code) = session(uri, e["password"].as_str().unwrap(), &[]).await;
    assert_eq!((out.as_str(), code), ("", Some(CloseCode::Policy)));

    let (_, e) = open(&http, &base, "exec", json!({"command": "env"})).await;
    let (out, code) = session(e["webSocketUri"].as_str().unwrap(), "not-the-password", &[]).await;
    assert_eq!((out.as_str(), code), ("", Some(CloseCode::Policy)), "wrong password: closed, nothing run");

    // The probe's fingerprint command gets the probe line, from the runtime environment.
    let script = r#"/bin/sh -c 'echo "aci-chaos-probe v=1 boot=$(cat /proc/sys/kernel/random/boot_id) host=$(hostname)"'"#;
    let (_, e) = open(&http, &base, "exec", json!({"command": script})).await;
    let (out, _) = session(e["webSocketUri"].as_str().unwrap(), e["password"].as_str().unwrap(), &[]).await;
    assert!(out.starts_with("aci-chaos-probe v=1 boot="), "{out}");
    assert!(out.contains(&format!("secure-env={}", mock_arm::probe::fingerprint(SECRET.as_bytes()))), "{out}");

    // An interactive shell (what the Azure CLI opens) reads stdin lines until exit.
    let (_, e) = open(&http, &base, "exec", json!({"command": "/bin/sh"})).await;
    let (out, code) =
        session(e["webSocketUri"].as_str().unwrap(), e["password"].as_str().unwrap(), &["echo hi\n", "hostname\nexit\n"]).await;
    assert!(out.starts_with("hi\r\nhost-z"), "{out:?}");
    assert_eq!(code, Some(CloseCode::Normal));

    // attach streams the output.
    let (s, e) = open(&http, &base, "attach", Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    let (out, _) = session(e["webSocketUri"].as_str().unwrap(), e["password"].as_str().unwrap(), &[]).await;
    assert!(out.contains("aci-chaos-probe v=1"), "{out}");

    // Bad requests and stopped containers get ARM errors.
    let (s, err) = open(&http, &base, "exec", json!({"terminalSize": {"rows": 1, "cols": 1}})).await;
    assert_eq!((s, err["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("InvalidRequestContent")));
    let (s, err) =
        call(&http, &base, Method::POST, &format!("{}/containers/nope/exec?{V}", group_path("g1")), Some(json!({"command": "env"}))).await;
    assert_eq!((s, err["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("ContainerNotFound")));
    call(&http, &base, Method::POST, &format!("{}/stop?{V}", group_path("g1")), None).await;
    let (s, err) = open(&http, &base, "exec", json!({"command": "env"})).await;
    assert_eq!((s, err["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("ContainerNotRunning")));
}

#[tokio::test]
async fn the_token_issuer_serves_az_login() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let base = server.base_url();
    let http = Client::new();
    let tenant = "00000000-0000-0000-0000-0000000000aa";
    let oidc: Value =
        http.get(format!("{base}/{tenant}/v2.0/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    let token_url = oidc["token_endpoint"].as_str().unwrap();
    assert_eq!(token_url, format!("{base}/{tenant}/oauth2/v2.0/token"));
    let r = http
        .post(token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("client_id=app&grant_type=client_credentials&client_secret=s3cr3t&scope=https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.contains("s3cr3t"));
    let token: Value = serde_json::from_str(&text).unwrap();
    let bearer = token["access_token"].as_str().unwrap();
    assert_eq!(bearer.split('.').count(), 3);
    let subs: Value =
        http.get(format!("{base}/subscriptions?api-version=2022-12-01")).bearer_auth(bearer).send().await.unwrap().json().await.unwrap();
    assert_eq!(subs["value"].as_array().unwrap().len(), 1);
    let meta: Value = http.get(format!("{base}/metadata/endpoints?api-version=2022-09-01")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["resourceManager"], format!("{base}/"));
    assert_eq!(meta["authentication"]["loginEndpoint"], format!("{base}/"));
    // The request log never holds bodies, so never the client secret.
    let log = http.get(format!("{base}/_aci-chaos/requests")).send().await.unwrap().text().await.unwrap();
    assert!(log.contains("oauth2/v2.0/token") && !log.contains("s3cr3t"));
}

#[tokio::test]
async fn location_info_and_provider_operations_answer_like_the_spec() {
    let (server, http) = deployed(MockConfig::default()).await;
    let base = server.base_url();
    let loc = |what: &str| format!("/subscriptions/{SUB}/providers/Microsoft.ContainerInstance/locations/eastus/{what}?{V}");
    let (s, u) = call(&http, &base, Method::GET, &loc("usages"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((u["value"][0]["name"]["value"].as_str(), u["value"][0]["currentValue"].as_u64()), (Some("ContainerGroups"), Some(1)));
    let (_, c) = call(&http, &base, Method::GET, &loc("capabilities"), None).await;
    assert_eq!(c["value"][0]["location"], "East US");
    let (_, i) = call(&http, &base, Method::GET, &loc("cachedImages"), None).await;
    assert!(i["value"][0]["image"].is_string());
    let (s, o) = call(&http, &base, Method::GET, &format!("/providers/Microsoft.ContainerInstance/operations?{V}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(o["value"].as_array().unwrap().iter().any(|op| op["name"] == "Microsoft.ContainerInstance/containerGroups/read"));
    let (s, e) = call(&http, &base, Method::GET, &loc("nonsense"), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("InvalidResourceType")));
    let (s, e) = call(&http, &base, Method::DELETE, &loc("usages"), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("MethodNotAllowed")));
}

#[tokio::test]
async fn reset_clears_every_registered_part() {
    let (server, http) = deployed(MockConfig::default()).await;
    let base = server.base_url();
    let (_, e) = open(&http, &base, "exec", json!({"command": "env"})).await;
    let r: Value = http.post(format!("{base}/_aci-chaos/reset")).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["reset"], json!(["world", "requests", "exec-sessions", "read-cache"]));
    let (s, _) = call(&http, &base, Method::GET, &format!("{}?{V}", group_path("g1")), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, code) = session(e["webSocketUri"].as_str().unwrap(), e["password"].as_str().unwrap(), &[]).await;
    assert_eq!(code, Some(CloseCode::Policy), "sessions opened before the reset are gone");
    let log: Value = http.get(format!("{base}/_aci-chaos/requests")).send().await.unwrap().json().await.unwrap();
    assert_eq!(log["value"].as_array().unwrap().len(), 1, "only the GET after the reset: {log}");
}

#[tokio::test]
async fn a_restarted_mock_keeps_its_groups_and_their_secrets_from_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mock-state.json");
    let config = MockConfig { state_file: Some(file.clone()), ..MockConfig::default() };
    let (server, http) = deployed(config.clone()).await;
    call(&http, &server.base_url(), Method::GET, &format!("{}?{V}", group_path("g1")), None).await;
    server.stop().await;
    assert!(file.exists(), "saved after every change");

    let server = MockServer::start(MockConfig { clock: ClockMode::Virtual, ..config }).await.unwrap();
    let base = server.base_url();
    let (s, g) = call(&http, &base, Method::GET, &format!("{}?{V}", group_path("g1")), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(g["properties"]["provisioningState"], "Succeeded");
    let (_, logs) = call(&http, &base, Method::GET, &format!("{}/containers/probe/logs?{V}&tail=1", group_path("g1")), None).await;
    let fp = mock_arm::probe::fingerprint(SECRET.as_bytes());
    assert!(logs["content"].as_str().unwrap().contains(&format!("secure-env={fp}")), "the secret survived the restart: {logs}");
    let snapshot = http.get(format!("{base}/_aci-chaos/state")).send().await.unwrap().text().await.unwrap();
    assert!(!snapshot.contains(SECRET), "the admin snapshot never shows secrets");
    let r = http.post(format!("{base}/_aci-chaos/state/load")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let other = MockServer::start(MockConfig::default()).await.unwrap();
    let r = http.post(format!("{}/_aci-chaos/state/save", other.base_url())).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "no --state-file, nothing to save to");
}

#[tokio::test]
async fn cached_reads_never_go_stale() {
    // Real clock, short operations: the answer must change when the operation completes by
    // itself, with no write in between to clear the read cache.
    let timings = mock_arm::world::Timings {
        provision: std::time::Duration::from_millis(300),
        update: std::time::Duration::from_millis(300),
        restart: std::time::Duration::from_millis(300),
        start: std::time::Duration::from_millis(300),
    };
    let server = MockServer::start(MockConfig { timings, ..MockConfig::default() }).await.unwrap();
    let (http, base) = (Client::new(), server.base_url());
    call(
        &http,
        &base,
        Method::PUT,
        &format!("/subscriptions/{SUB}/resourceGroups/rg1?api-version=2021-04-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    call(&http, &base, Method::PUT, &format!("{}?{V}", group_path("g1")), Some(body())).await;
    let path = format!("{}?{V}", group_path("g1"));
    let get = || call(&http, &base, Method::GET, &path, None);
    assert_eq!(get().await.1["properties"]["provisioningState"], "Pending");
    assert_eq!(get().await.1["properties"]["provisioningState"], "Pending", "served from the cache");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(get().await.1["properties"]["provisioningState"], "Succeeded", "the due transition invalidates the cache");
    call(&http, &base, Method::PATCH, &format!("{}?{V}", group_path("g1")), Some(json!({"tags": {"k": "v"}}))).await;
    assert_eq!(get().await.1["tags"]["k"], "v", "a write invalidates the cache");
    let (s, _) = call(&Client::new(), &base, Method::GET, &format!("{}?{V}", group_path("g1")), None).await;
    assert_eq!(s, StatusCode::OK);
    let r = http.get(format!("{base}{}?{V}", group_path("g1"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a cached answer is never served without a token");
}

#[tokio::test]
async fn lists_page_with_next_link_and_carry_no_instance_view() {
    let server = MockServer::start(MockConfig { clock: ClockMode::Virtual, ..MockConfig::default() }).await.unwrap();
    let (http, base) = (Client::new(), server.base_url());
    call(
        &http,
        &base,
        Method::PUT,
        &format!("/subscriptions/{SUB}/resourceGroups/rg1?api-version=2021-04-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let n = mock_arm::api::groups::PAGE_SIZE + 3;
    for i in 0..n {
        let (s, _) = call(&http, &base, Method::PUT, &format!("{}?{V}", group_path(&format!("g{i:03}"))), Some(body())).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    for first in [
        format!("/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.ContainerInstance/containerGroups?{V}"),
        format!("/subscriptions/{SUB}/providers/Microsoft.ContainerInstance/containerGroups?{V}"),
    ] {
        let (_, page1) = call(&http, &base, Method::GET, &first, None).await;
        assert_eq!(page1["value"].as_array().unwrap().len(), mock_arm::api::groups::PAGE_SIZE);
        assert!(page1["value"].as_array().unwrap().iter().all(|g| g["properties"].get("instanceView").is_none()));
        let next = page1["nextLink"].as_str().unwrap();
        assert!(next.starts_with(&base) && next.contains("api-version=2023-05-01"), "{next}");
        let (_, page2) = call(&http, &base, Method::GET, &next[base.len()..], None).await;
        assert_eq!(page2["value"].as_array().unwrap().len(), 3);
        assert!(page2.get("nextLink").is_none());
    }
}

#[tokio::test]
async fn a_reset_empties_the_state_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.json");
    let (server, http) = deployed(MockConfig { state_file: Some(file.clone()), ..MockConfig::default() }).await;
    assert!(std::fs::read_to_string(&file).unwrap().contains("\"g1\""));
    http.post(format!("{}/_aci-chaos/reset", server.base_url())).send().await.unwrap();
    assert!(!std::fs::read_to_string(&file).unwrap().contains("\"g1\""), "a restarted mock must not bring reset groups back");
}

//! The mock over HTTP: ARM's status codes and shapes, and secret hygiene in every answer.

use mock_arm::{ClockMode, MockConfig, MockServer};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const SUB: &str = "00000000-0000-0000-0000-00000000c0de";
const V: &str = "api-version=2023-05-01";

struct Mock {
    server: MockServer,
    http: Client,
    seen: Vec<String>,
}

impl Mock {
    async fn new() -> Self {
        let server = MockServer::start(MockConfig { clock: ClockMode::Virtual, seed: 5, ..MockConfig::default() }).await.unwrap();
        Self { server, http: Client::new(), seen: Vec::new() }
    }

    async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut rb = self.http.request(method, format!("{}{path}", self.server.base_url())).bearer_auth("t");
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        let text = r.text().await.unwrap();
        self.seen.push(format!("{headers:?} {text}"));
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn advance(&mut self, seconds: u64) {
        self.call(Method::POST, "/_aci-chaos/clock/advance", Some(json!({"seconds": seconds}))).await;
    }
}

fn group_path(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.ContainerInstance/containerGroups/{name}")
}

fn body() -> Value {
    json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [{"name": "probe", "properties": {
        "image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 0.5}},
        "environmentVariables": [
            {"name": "ACI_CHAOS_PROFILE", "value": "probe"},
            {"name": "ACI_CHAOS_SECURE_ENV", "secureValue": "SECURE-VALUE-42"}],
        "volumeMounts": [{"name": "s", "mountPath": "/mnt/aci-chaos"}]}}],
        "volumes": [{"name": "s", "secret": {"secret": "U0VDUkVULVZPTFVNRS00Mg=="}}],
        "imageRegistryCredentials": [{"server": "r.io", "username": "u", "password": "REGISTRY-PASSWORD-42"}]}})
}

#[tokio::test]
async fn lifecycle_answers_like_arm_and_never_echoes_secrets() {
    let mut m = Mock::new().await;
    let (s, _, _) = m
        .call(Method::PUT, &format!("/subscriptions/{SUB}/resourcegroups/rg1?api-version=2021-04-01"), Some(json!({"location": "eastus"})))
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let (s, h, b) = m.call(Method::PUT, &format!("{}?{V}", group_path("g1")), Some(body())).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(b["properties"]["provisioningState"], "Pending");
    assert_eq!(h["retry-after"], "1");
    let op = h["azure-asyncoperation"].to_str().unwrap().to_string();
    assert!(
        op.contains("/providers/Microsoft.ContainerInstance/locations/eastus/operations/") && op.ends_with("?api-version=2018-06-01"),
        "{op}"
    );
    assert!(h.contains_key("location"));
    let op_path = op.split_once("127.0.0.1").unwrap().1.split_once('/').map(|(_, p)| format!("/{p}")).unwrap();
    let (_, _, st) = m.call(Method::GET, &op_path, None).await;
    assert_eq!(st["status"], "Pending");
    m.advance(5).await;
    let (_, _, st) = m.call(Method::GET, &op_path, None).await;
    assert_eq!(st["status"], "Succeeded");
    assert!(
        st["id"].as_str().unwrap().ends_with("/containerGroups/g1") && st["startTime"].is_string() && st["properties"]["events"].is_array()
    );

    // The SDK's and the CLI's casing reach the same group.
    let (s, _, g) = m
        .call(
            Method::GET,
            &format!("/subscriptions/{SUB}/resourcegroups/RG1/providers/microsoft.containerinstance/containergroups/g1?{V}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(g["properties"]["instanceView"]["state"], "Running");
    let env = &g["properties"]["containers"][0]["properties"]["environmentVariables"][1];
    assert_eq!(env, &json!({"name": "ACI_CHAOS_SECURE_ENV"}), "a secure variable comes back as its name only");
    assert_eq!(g["properties"]["volumes"][0]["secret"], json!({}));

    let (s, _, l) = m
        .call(
            Method::GET,
            &format!("/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.ContainerInstance/containerGroups?{V}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(l["value"][0]["properties"].get("instanceView").is_none(), "list items carry no instanceView");
    let (s, _, _) =
        m.call(Method::GET, &format!("/subscriptions/{SUB}/providers/Microsoft.ContainerInstance/containerGroups?{V}"), None).await;
    assert_eq!(s, StatusCode::OK);

    let (s, _, logs) = m.call(Method::GET, &format!("{}/containers/probe/logs?{V}&tail=5", group_path("g1")), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(logs["content"].as_str().unwrap().starts_with("aci-chaos-probe v=1"), "{logs}");

    let (s, h, _) = m.call(Method::POST, &format!("{}/restart?{V}", group_path("g1")), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(h.contains_key("azure-asyncoperation"));
    let (_, _, g) = m.call(Method::GET, &format!("{}?{V}", group_path("g1")), None).await;
    assert_eq!(g["properties"]["provisioningState"], "Updating");
    let (s, _, e) = m.call(Method::POST, &format!("{}/stop?{V}", group_path("g1")), None).await;
    assert_eq!(s, StatusCode::CONFLICT, "an operation is in progress: {e}");
    m.advance(5).await;
    let (s, _, _) = m.call(Method::POST, &format!("{}/stop?{V}", group_path("g1")), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, g) = m.call(Method::GET, &format!("{}?{V}", group_path("g1")), None).await;
    assert_eq!(g["properties"]["instanceView"]["state"], "Stopped");
    let cs = &g["properties"]["containers"][0]["properties"]["instanceView"];
    assert_eq!(cs["currentState"]["state"], "Terminated");
    assert_eq!(cs["currentState"]["detailStatus"], "Container stopped per client request");
    assert_eq!(cs["previousState"]["state"], "Running");
    let (s, h, _) = m.call(Method::POST, &format!("{}/start?{V}", group_path("g1")), None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert!(h.contains_key("azure-asyncoperation"));
    m.advance(5).await;
    let (s, _, _) = m.call(Method::POST, &format!("{}/start?{V}", group_path("g1")), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "start of a running group");

    let (s, _, admin) = m.call(Method::GET, "/_aci-chaos/state", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(admin["groups"].is_array());
    let (s, _, d) = m.call(Method::DELETE, &format!("{}?{V}", group_path("g1")), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["name"], "g1");
    let (s, _, _) = m.call(Method::DELETE, &format!("{}?{V}", group_path("g1")), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, e) = m.call(Method::GET, &format!("{}?{V}", group_path("g1")), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["code"], "ResourceNotFound");

    for text in &m.seen {
        for secret in ["SECURE-VALUE-42", "U0VDUkVULVZPTFVNRS00Mg==", "SECRET-VOLUME-42", "REGISTRY-PASSWORD-42"] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }
}

#[tokio::test]
async fn auth_api_version_and_bad_input_get_arm_errors() {
    let mut m = Mock::new().await;
    let url = format!("{}{}?{V}", m.server.base_url(), group_path("g1"));
    let r = m.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "AuthenticationFailed");
    let (s, _, e) = m.call(Method::GET, &group_path("g1"), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("MissingApiVersionParameter")));
    let (s, _, e) = m.call(Method::GET, &format!("{}?api-version=1999-01-01", group_path("g1")), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("InvalidApiVersionParameter")));
    let (s, _, e) = m.call(Method::GET, &format!("{}?{V}", group_path("g1")), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("ResourceGroupNotFound")));
    m.call(Method::PUT, &format!("/subscriptions/{SUB}/resourceGroups/rg1?api-version=2021-04-01"), Some(json!({"location": "eastus"})))
        .await;
    let mut b = body();
    b["properties"]["containers"][0]["properties"]["environmentVariables"][1] = json!({"name": "X"});
    let (s, _, e) = m.call(Method::PUT, &format!("{}?{V}", group_path("g1")), Some(b)).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("InvalidEnvironmentVariable")));
    let r = m.http.put(&url).bearer_auth("t").body("{not json").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "InvalidRequestContent");
}

//! Control-plane faults from a fault plan: throttling with Retry-After, 5xx, dropped
//! connections, latency and slow long-running operations.

use mock_arm::{ClockMode, MockConfig, MockServer};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SUB: &str = "00000000-0000-0000-0000-00000000c0de";

async fn mock(control: Value) -> (MockServer, Client) {
    let m = MockServer::start(MockConfig { clock: ClockMode::Virtual, seed: 9, ..MockConfig::default() }).await.unwrap();
    let http = Client::new();
    let r = http.post(format!("{}/_aci-chaos/faults/plan", m.base_url())).json(&json!({"control": [control]})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    (m, http)
}

fn rg_url(m: &MockServer) -> String {
    format!("{}/subscriptions/{SUB}/resourceGroups/rg?api-version=2021-04-01", m.base_url())
}

fn group_body() -> Value {
    json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [{"name": "c", "properties": {
        "image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 0.5}}}}]}})
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after_in_arm_shape() {
    let (m, http) = mock(json!({"operation": "put", "rate": 1.0, "effect": "throttle", "retry-after": "7s"})).await;
    let r = http.put(rg_url(&m)).bearer_auth("t").json(&json!({"location": "eastus"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "TooManyRequests");
    // Other operations are untouched.
    let r = http.get(rg_url(&m)).bearer_auth("t").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn server_errors_and_drops() {
    let (m, http) = mock(json!({"operation": "get", "rate": 1.0, "effect": "error-503"})).await;
    let r = http.get(rg_url(&m)).bearer_auth("t").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "ServiceUnavailable");
    let (m, http) = mock(json!({"operation": "any", "rate": 1.0, "effect": "drop"})).await;
    let r = http.get(rg_url(&m)).bearer_auth("t").send().await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "a dropped connection is an error to the client");
    // The admin plane is never touched by control faults.
    assert!(http.get(format!("{}/_aci-chaos/info", m.base_url())).send().await.unwrap().status().is_success());
}

#[tokio::test]
async fn latency_and_slow_operations() {
    let (m, http) = mock(json!({"operation": "get", "rate": 1.0, "effect": "latency", "latency": "300ms"})).await;
    let t = Instant::now();
    http.get(rg_url(&m)).bearer_auth("t").send().await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));

    let (m, http) = mock(json!({"operation": "any", "rate": 1.0, "effect": "slow-lro", "factor": 10.0})).await;
    http.put(rg_url(&m)).bearer_auth("t").json(&json!({"location": "eastus"})).send().await.unwrap();
    let g = format!(
        "{}/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/g1?api-version=2023-05-01",
        m.base_url()
    );
    http.put(&g).bearer_auth("t").json(&group_body()).send().await.unwrap();
    http.post(format!("{}/_aci-chaos/clock/advance", m.base_url())).json(&json!({"seconds": 10})).send().await.unwrap();
    let v: Value = http.get(&g).bearer_auth("t").send().await.unwrap().json().await.unwrap();
    assert_eq!(v["properties"]["provisioningState"], "Pending", "3 s of provisioning made 30 s");
    http.post(format!("{}/_aci-chaos/clock/advance", m.base_url())).json(&json!({"seconds": 25})).send().await.unwrap();
    let v: Value = http.get(&g).bearer_auth("t").send().await.unwrap().json().await.unwrap();
    assert_eq!(v["properties"]["provisioningState"], "Succeeded");
}

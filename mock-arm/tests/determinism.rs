//! The same seed and the same requests give byte-identical state snapshots, logs, fault logs
//! and activity logs.

use mock_arm::{ClockMode, MockConfig, MockServer};
use reqwest::{Client, Method};
use serde_json::{Value, json};

const SUB: &str = "00000000-0000-0000-0000-00000000c0de";
const V: &str = "api-version=2023-05-01";

struct M {
    server: MockServer,
    http: Client,
}

impl M {
    async fn new(seed: u64) -> Self {
        Self {
            server: MockServer::start(MockConfig { seed, clock: ClockMode::Virtual, ..MockConfig::default() }).await.unwrap(),
            http: Client::new(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, String) {
        let mut rb = self.http.request(method, format!("{}{path}", self.server.base_url())).bearer_auth("t");
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn advance(&self, seconds: u64) {
        let (s, b) = self.call(Method::POST, "/_aci-chaos/clock/advance", Some(json!({"seconds": seconds}))).await;
        assert_eq!(s, 200, "{b}");
    }
}

fn group(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/{name}")
}

fn body(profile: &str, secret_var: &str, zone: Option<&str>) -> Value {
    let mut b = json!({"location": "eastus", "properties": {"osType": "Linux", "restartPolicy": "Always", "containers": [{"name": "c", "properties": {
        "image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 0.5}},
        "environmentVariables": [
            {"name": "ACI_CHAOS_PROFILE", "value": profile},
            {"name": "ACI_CHAOS_CHANNELS", "value": "secure-env,plain-env"},
            {"name": "ACI_CHAOS_PLAIN_ENV", "value": "plain"},
            {"name": secret_var, "secureValue": "secure"}]}}]}});
    if let Some(z) = zone {
        b["zones"] = json!([z]);
    }
    b
}

/// A mixed scenario: groups in and out of zones, agents and probes, restarts, stops, updates,
/// every kind of fault (with chance in them), a rate plan, and months of virtual time.
async fn scenario(m: &M) -> Vec<String> {
    let mut out = Vec::new();
    m.call(Method::PUT, &format!("/subscriptions/{SUB}/resourceGroups/rg?api-version=2021-04-01"), Some(json!({"location": "eastus"})))
        .await;
    m.call(
        Method::POST,
        "/_aci-chaos/faults/plan",
        Some(json!({"fault": [
            {"kind": "rehost", "target": "each", "hypothesis": {"secure-env": 0.5}, "schedule": {"poisson": "10d"}},
            {"kind": "maintenance-wave", "window": "1h", "hypothesis": {"secure-env": "lost"}, "schedule": {"at": "20d"}}
        ]})),
    )
    .await;
    for (i, (p, var, z)) in [
        ("probe", "ACI_CHAOS_SECURE_ENV", None),
        ("azp-agent", "AZP_TOKEN", Some("1")),
        ("probe", "ACI_CHAOS_SECURE_ENV", Some("2")),
        ("azp-agent", "AZP_TOKEN", None),
    ]
    .into_iter()
    .enumerate()
    {
        let (s, _) = m.call(Method::PUT, &format!("{}?{V}", group(&format!("g{i}"))), Some(body(p, var, z))).await;
        assert_eq!(s, 201);
    }
    m.advance(10).await;
    m.call(Method::POST, &format!("{}/restart?{V}", group("g0")), None).await;
    m.call(Method::POST, &format!("{}/stop?{V}", group("g2")), None).await;
    m.advance(3600).await;
    m.call(Method::POST, &format!("{}/start?{V}", group("g2")), None).await;
    m.advance(60).await;
    for spec in [
        json!({"kind": "rehost", "target": group("g0"), "hypothesis": {"secure-env": 0.5, "plain-env": 0.5}}),
        json!({"kind": "host-failure", "target": group("g1"), "recover-after": "5m", "hypothesis": {"secure-env": "lost"}}),
        json!({"kind": "zone-outage", "zone": "2", "duration": "2h"}),
        json!({"kind": "maintenance-restart", "target": group("g3")}),
    ] {
        let (s, b) = m.call(Method::POST, "/_aci-chaos/faults", Some(spec)).await;
        assert_eq!(s, 200, "{b}");
    }
    for _ in 0..30 {
        m.advance(86_400).await;
        for i in 0..4 {
            out.push(
                m.call(Method::GET, &format!("{}/containers/c/logs?{V}&tail=3&timestamps=true", group(&format!("g{i}"))), None).await.1,
            );
        }
    }
    out.push(m.call(Method::GET, "/_aci-chaos/state", None).await.1);
    // The activity log of those 30 days: every write and every platform event, all pages.
    let filter = "eventTimestamp%20ge%20%272026-01-01T00:00:00Z%27%20and%20resourceGroupName%20eq%20%27rg%27";
    let mut next = Some(format!(
        "/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter={filter}"
    ));
    let mut events = 0;
    while let Some(path) = next.take() {
        let (s, page) = m.call(Method::GET, &path, None).await;
        assert_eq!(s, 200, "{page}");
        let v: Value = serde_json::from_str(&page).unwrap();
        events += v["value"].as_array().unwrap().len();
        next = v["nextLink"].as_str().map(|l| l.trim_start_matches(&m.server.base_url()).to_string());
        out.push(page);
    }
    assert!(events > 20, "the activity log holds the writes and faults: {events}");
    out.push(m.call(Method::GET, "/_aci-chaos/faults", None).await.1);
    out
}

#[tokio::test]
async fn the_same_seed_and_requests_give_byte_identical_state_logs_and_faults() {
    let a = scenario(&M::new(77).await).await;
    let b = scenario(&M::new(77).await).await;
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!(x == y, "outputs differ:\n{x}\n---\n{y}");
    }
    let faults: Value = serde_json::from_str(a.last().unwrap()).unwrap();
    let kinds: std::collections::BTreeSet<&str> = faults["value"].as_array().unwrap().iter().filter_map(|f| f["kind"].as_str()).collect();
    for k in ["rehost", "host-failure", "zone-outage", "maintenance-restart", "maintenance-wave"] {
        assert!(kinds.contains(k), "{k} fired: {kinds:?}");
    }
    let c = scenario(&M::new(78).await).await;
    assert_ne!(a.last(), c.last(), "another seed, another history");
}

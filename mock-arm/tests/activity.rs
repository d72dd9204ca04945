//! The activity log the mock serves from what it simulated, and the subscription rate-limit
//! headers (with the `ratelimit-budget` control fault), over HTTP as clients see them.

use mock_arm::{ClockMode, MockConfig, MockServer};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const SUB: &str = "00000000-0000-0000-0000-00000000c0de";
const V: &str = "api-version=2023-05-01";
const SECRET: &str = "activity-log-secret-value-42";

struct M {
    server: MockServer,
    http: Client,
}

impl M {
    async fn new() -> Self {
        let server = MockServer::start(MockConfig { seed: 5, clock: ClockMode::Virtual, ..MockConfig::default() }).await.unwrap();
        Self { server, http: Client::new() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut rb = self.http.request(method, self.url(path)).bearer_auth("t");
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().await.unwrap()
    }

    async fn admin(&self, path: &str, body: Value) {
        let r = self.http.post(self.url(path)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    async fn activity(&self, filter: &str) -> (StatusCode, Value) {
        let path = format!("/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values");
        let r = self
            .http
            .get(self.url(&path))
            .bearer_auth("t")
            .query(&[("api-version", "2015-04-01"), ("$filter", filter)])
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    async fn deploy(&self, name: &str) {
        let r = self
            .send(
                reqwest::Method::PUT,
                &format!("/subscriptions/{SUB}/resourceGroups/rg?api-version=2021-04-01"),
                Some(json!({"location": "eastus"})),
            )
            .await;
        assert!(r.status().is_success());
        let body = json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [{"name": "c", "properties": {
            "image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 0.5}},
            "environmentVariables": [{"name": "TOKEN", "secureValue": SECRET}]}}],
            "volumes": [{"name": "v", "secret": {"f": "c2VjcmV0LXZvbHVtZQ=="}}]}});
        let r = self.send(reqwest::Method::PUT, &format!("{}?{V}", group(name)), Some(body)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        self.admin("/_aci-chaos/clock/advance", json!({"seconds": 10})).await;
    }
}

fn group(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/{name}")
}

const SINCE: &str = "eventTimestamp ge '2026-01-01T00:00:00Z'";

#[tokio::test]
async fn writes_and_platform_events_are_in_the_activity_log_newest_first() {
    let m = M::new().await;
    m.deploy("g1").await;
    m.send(reqwest::Method::POST, &format!("{}/restart?{V}", group("g1")), None).await;
    m.admin("/_aci-chaos/clock/advance", json!({"seconds": 60})).await;
    m.admin("/_aci-chaos/faults", json!({"kind": "rehost", "target": group("g1"), "hypothesis": {"secure-env": "lost"}})).await;
    m.admin("/_aci-chaos/faults", json!({"kind": "host-failure", "target": group("g1"), "recover-after": "2m"})).await;
    m.admin("/_aci-chaos/clock/advance", json!({"seconds": 600})).await;
    // A refused write (restart policy change needs recreate) is there too, Failed.
    let bad = json!({"location": "eastus", "properties": {"osType": "Linux", "restartPolicy": "Never", "containers": [{"name": "c", "properties": {
        "image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 0.5}}}}]}});
    assert_eq!(m.send(reqwest::Method::PUT, &format!("{}?{V}", group("g1")), Some(bad)).await.status(), StatusCode::CONFLICT);

    let uri = group("g1").to_uppercase().replace("SUBSCRIPTIONS/", "subscriptions/").replace(&SUB.to_uppercase(), SUB);
    let (s, v) = m.activity(&format!("{SINCE} and eventTimestamp le '2026-01-02T00:00:00Z' and resourceUri eq '{uri}'")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let events = v["value"].as_array().unwrap();
    let line = |e: &Value| {
        format!(
            "{} {} {}",
            e["category"]["value"].as_str().unwrap(),
            e["operationName"]["value"].as_str().unwrap(),
            e["status"]["value"].as_str().unwrap()
        )
    };
    let lines: Vec<String> = events.iter().rev().map(line).collect();
    let expected = [
        "Administrative Microsoft.ContainerInstance/containerGroups/write Started",
        "Administrative Microsoft.ContainerInstance/containerGroups/write Succeeded",
        "Administrative Microsoft.ContainerInstance/containerGroups/restart/action Started",
        "Administrative Microsoft.ContainerInstance/containerGroups/restart/action Succeeded",
        "ResourceHealth Microsoft.Resourcehealth/healthevent/Activated/action Active",
        "ResourceHealth Microsoft.Resourcehealth/healthevent/Resolved/action Resolved",
        "ResourceHealth Microsoft.Resourcehealth/healthevent/Activated/action Active",
        "ResourceHealth Microsoft.Resourcehealth/healthevent/Resolved/action Resolved",
        "Administrative Microsoft.ContainerInstance/containerGroups/write Started",
        "Administrative Microsoft.ContainerInstance/containerGroups/write Failed",
    ];
    assert_eq!(lines, expected);
    let times: Vec<&str> = events.iter().map(|e| e["eventTimestamp"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let recovered = &events[2];
    assert_eq!(recovered["properties"]["cause"], "PlatformInitiated");
    assert_eq!(recovered["properties"]["currentHealthStatus"], "Available");
    assert_eq!(recovered["correlationId"], events[3]["correlationId"], "down and recovered share a correlation id");
    // The host failed at 00:01:10 and the group landed at 00:03:10 (virtual clock).
    assert_eq!(events[3]["eventTimestamp"], "2026-01-01T00:01:10Z");
    assert_eq!(recovered["eventTimestamp"], "2026-01-01T00:03:10Z");
    assert_eq!(events[3]["properties"]["title"], "Your container group is unavailable because of a host failure");
    assert_eq!(events[5]["properties"]["title"], "Your container group was moved to another host");
    assert_eq!(events[9]["caller"], "aci-chaos-mock-caller");
    assert_eq!(events[9]["resourceGroupName"], "rg");
    assert_eq!(events[0]["properties"]["statusCode"], "Conflict");

    // The other filters.
    let corr = events[2]["correlationId"].as_str().unwrap();
    let (_, by_corr) = m.activity(&format!("{SINCE} and correlationId eq '{corr}'")).await;
    assert_eq!(by_corr["value"].as_array().unwrap().len(), 2);
    let (_, by_rg) = m.activity(&format!("{SINCE} and resourceGroupName eq 'RG'")).await;
    assert_eq!(by_rg["value"], v["value"]);
    let (_, none) = m.activity(&format!("{SINCE} and resourceGroupName eq 'other'")).await;
    assert_eq!(none["value"], json!([]));
    let (_, later) = m.activity("eventTimestamp ge '2026-01-01T00:02:00Z' and eventTimestamp le '2026-01-01T00:05:00Z'").await;
    assert_eq!(later["value"].as_array().unwrap().len(), 1, "only the recovery: {later}");

    // Nothing of the secrets, in any page.
    let text = v.to_string();
    assert!(!text.contains(SECRET) && !text.contains("c2VjcmV0LXZvbHVtZQ=="), "secret in the activity log");

    // `$select` keeps only the fields asked for.
    let r = m
        .http
        .get(m.url(&format!("/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values")))
        .bearer_auth("t")
        .query(&[("api-version", "2015-04-01"), ("$filter", SINCE), ("$select", "eventTimestamp, status")])
        .send()
        .await
        .unwrap();
    let sel: Value = r.json().await.unwrap();
    let keys: Vec<&String> = sel["value"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["eventTimestamp", "status"]);

    // A reset clears it.
    m.admin("/_aci-chaos/reset", json!({})).await;
    let (_, after) = m.activity(SINCE).await;
    assert_eq!(after["value"], json!([]));
}

#[tokio::test]
async fn bad_filters_and_api_versions_get_azure_errors_and_pages_have_next_links() {
    let m = M::new().await;
    let base = format!("/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values");
    let r = m.send(reqwest::Method::GET, &format!("{base}?api-version=2015-04-01"), None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "BadRequest");
    assert!(e["error"]["message"].as_str().unwrap().contains("$filter"), "{e}");
    for (filter, says) in [
        ("resourceGroupName eq 'rg'", "eventTimestamp ge"),
        ("eventTimestamp ge '2025-06-01T00:00:00Z'", "90 days"),
        ("eventTimestamp ge 'soon'", "not a valid date"),
        ("eventTimestamp ge '2026-01-01T00:00:00Z' and level eq 'Error'", "'level'"),
    ] {
        let (s, e) = m.activity(filter).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{filter}");
        assert!(e["error"]["message"].as_str().unwrap().contains(says), "{filter}: {e}");
    }
    let r = m.send(reqwest::Method::GET, &format!("{base}?api-version=2023-05-01&$filter=x"), None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "InvalidApiVersionParameter");

    // 120 tag patches give 240 events: two pages.
    m.deploy("g").await;
    for i in 0..119 {
        let r = m.send(reqwest::Method::PATCH, &format!("{}?{V}", group("g")), Some(json!({"tags": {"n": i.to_string()}}))).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let (s, first) = m.activity(SINCE).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(first["value"].as_array().unwrap().len(), 200);
    let next = first["nextLink"].as_str().unwrap();
    let second: Value = m.http.get(next).bearer_auth("t").send().await.unwrap().json().await.unwrap();
    assert_eq!(second["value"].as_array().unwrap().len(), 40);
    assert!(second.get("nextLink").is_none());
    assert_eq!(second["value"][39]["eventName"]["value"], "BeginRequest", "the oldest event comes last");

    // 91 days on, the events are gone, as in Azure.
    m.admin("/_aci-chaos/clock/advance", json!({"seconds": 91 * 86_400})).await;
    let (_, gone) = m.activity("eventTimestamp ge '2026-01-01T00:00:00Z' and eventTimestamp le '2026-03-01T00:00:00Z'").await;
    assert_eq!(gone["value"], json!([]));
}

#[tokio::test]
async fn rate_limit_headers_count_down_and_a_budget_fault_makes_them_low_then_429() {
    let m = M::new().await;
    let rg = format!("/subscriptions/{SUB}/resourceGroups/rg?api-version=2021-04-01");
    let reads =
        |r: &reqwest::Response| r.headers()["x-ms-ratelimit-remaining-subscription-reads"].to_str().unwrap().parse::<u64>().unwrap();
    let writes =
        |r: &reqwest::Response| r.headers()["x-ms-ratelimit-remaining-subscription-writes"].to_str().unwrap().parse::<u64>().unwrap();
    let w = m.send(reqwest::Method::PUT, &rg, Some(json!({"location": "eastus"}))).await;
    assert_eq!(writes(&w), 1199);
    assert!(w.headers().get("x-ms-ratelimit-remaining-subscription-reads").is_none());
    let a = m.send(reqwest::Method::GET, &rg, None).await;
    let b = m.send(reqwest::Method::GET, &rg, None).await;
    assert_eq!((reads(&a), reads(&b)), (11_999, 11_998));
    assert!(b.headers().get("x-ms-ratelimit-remaining-subscription-writes").is_none());

    m.admin("/_aci-chaos/faults/plan", json!({"control": [{"effect": "ratelimit-budget", "reads": 3, "writes": 1}]})).await;
    let mut left = Vec::new();
    for _ in 0..3 {
        left.push(reads(&m.send(reqwest::Method::GET, &rg, None).await));
    }
    assert_eq!(left, [2, 1, 0]);
    let r = m.send(reqwest::Method::GET, &rg, None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=1).contains(&retry), "12000 reads an hour refill one in 0.3 s: {retry}");
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "SubscriptionRequestsThrottled");
    let w = m.send(reqwest::Method::PUT, &rg, Some(json!({"location": "eastus"}))).await;
    assert_eq!(writes(&w), 0);
    let w = m.send(reqwest::Method::PUT, &rg, Some(json!({"location": "eastus"}))).await;
    assert_eq!(w.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(w.headers()["retry-after"], "3");
    // The buckets refill on the mock's clock.
    m.admin("/_aci-chaos/clock/advance", json!({"seconds": 60})).await;
    let r = m.send(reqwest::Method::GET, &rg, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(reads(&r), 199);
    // The admin plane is not counted, and a bad budget is refused.
    let r = m.http.post(m.url("/_aci-chaos/faults/plan")).json(&json!({"control": [{"effect": "ratelimit-budget"}]})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

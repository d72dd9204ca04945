//! Property tests: malformed bodies, paths and queries never make the mock panic or answer 5xx,
//! and every error it gives has ARM's `{"error":{"code","message"}}` shape.

use mock_arm::{ClockMode, MockConfig, MockServer};
use proptest::prelude::*;
use reqwest::{Client, Method};
use serde_json::{Value, json};
use std::sync::OnceLock;

const SUB: &str = "00000000-0000-0000-0000-00000000c0de";

struct Fixture {
    rt: tokio::runtime::Runtime,
    base: String,
    http: Client,
    _server: MockServer,
}

/// One mock for all cases (a deployed group `g1` in `rg1`, so paths reach deep handlers).
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (server, http) = rt.block_on(async {
            let server = MockServer::start(MockConfig { clock: ClockMode::Virtual, ..MockConfig::default() }).await.unwrap();
            let http = Client::new();
            let base = server.base_url();
            http.put(format!("{base}/subscriptions/{SUB}/resourceGroups/rg1?api-version=2021-04-01"))
                .bearer_auth("t")
                .json(&json!({"location": "eastus"}))
                .send()
                .await
                .unwrap();
            let r = http
                .put(format!("{base}{}?api-version=2023-05-01", group("g1")))
                .bearer_auth("t")
                .json(&valid_body())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            http.post(format!("{base}/_aci-chaos/clock/advance")).json(&json!({"seconds": 10})).send().await.unwrap();
            (server, http)
        });
        Fixture { rt, base: server.base_url(), http, _server: server }
    })
}

fn group(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.ContainerInstance/containerGroups/{name}")
}

fn valid_body() -> Value {
    json!({"location": "eastus", "tags": {"a": "b"}, "properties": {"osType": "Linux", "restartPolicy": "Always",
        "containers": [{"name": "c1", "properties": {"image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}},
            "environmentVariables": [{"name": "A", "value": "1"}, {"name": "S", "secureValue": "s"}],
            "volumeMounts": [{"name": "v", "mountPath": "/mnt/v"}]}}],
        "volumes": [{"name": "v", "secret": {"f": "c2VjcmV0"}}]}})
}

/// Sends a request; asserts the answer is not a 5xx and that errors are ARM-shaped.
fn check(method: Method, path_and_query: &str, body: Option<Vec<u8>>, auth: bool) -> Result<(), TestCaseError> {
    let f = fixture();
    let (status, text) = f.rt.block_on(async {
        let mut rb = f.http.request(method.clone(), format!("{}{path_and_query}", f.base));
        if auth {
            rb = rb.bearer_auth("t");
        }
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b);
        }
        let r =
            rb.send().await.map_err(|e| TestCaseError::fail(format!("{method} {path_and_query}: connection failed (a panic?): {e}")))?;
        let status = r.status();
        Ok::<_, TestCaseError>((status, r.text().await.unwrap_or_default()))
    })?;
    prop_assert!(status.as_u16() < 500, "{method} {path_and_query} answered {status}: {text}");
    // HEAD answers carry no body.
    if status.as_u16() >= 400 && method != Method::HEAD && !path_and_query.starts_with("/_aci-chaos/ws") {
        let v: Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{status} body is not JSON ({e}): {text}")))?;
        let shaped = v["error"]["code"].is_string() && v["error"]["message"].is_string() || v["error"].is_string();
        prop_assert!(shaped, "{method} {path_and_query}: {status} without an ARM error body: {text}");
    }
    Ok(())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("Linux")),
        Just(json!("")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("properties".to_string()),
                    Just("containers".to_string()),
                    Just("name".to_string()),
                    Just("value".to_string()),
                    Just("secureValue".to_string()),
                    Just("location".to_string()),
                    "[a-zA-Z]{1,8}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON pointers into the valid body, to replace with junk.
const POINTERS: &[&str] = &[
    "",
    "/location",
    "/tags",
    "/tags/a",
    "/zones",
    "/properties",
    "/properties/osType",
    "/properties/restartPolicy",
    "/properties/containers",
    "/properties/containers/0",
    "/properties/containers/0/name",
    "/properties/containers/0/properties",
    "/properties/containers/0/properties/image",
    "/properties/containers/0/properties/resources",
    "/properties/containers/0/properties/resources/requests/cpu",
    "/properties/containers/0/properties/resources/requests/memoryInGB",
    "/properties/containers/0/properties/environmentVariables",
    "/properties/containers/0/properties/environmentVariables/0",
    "/properties/containers/0/properties/environmentVariables/1/secureValue",
    "/properties/containers/0/properties/volumeMounts/0",
    "/properties/volumes",
    "/properties/volumes/0/secret",
    "/properties/imageRegistryCredentials",
    "/properties/ipAddress",
];

fn replace_at(mut body: Value, pointer: &str, v: Value) -> Value {
    if pointer.is_empty() {
        return v;
    }
    if let Some(slot) = body.pointer_mut(pointer) {
        *slot = v;
    }
    body
}

const SEGMENTS: &[&str] = &[
    "subscriptions",
    SUB,
    "resourceGroups",
    "resourcegroups",
    "rg1",
    "providers",
    "Microsoft.ContainerInstance",
    "containerGroups",
    "g1",
    "containers",
    "c1",
    "logs",
    "exec",
    "attach",
    "restart",
    "stop",
    "start",
    "locations",
    "eastus",
    "operations",
    "operationResults",
    "usages",
    "capabilities",
    "cachedImages",
    "metadata",
    "endpoints",
    "oauth2",
    "v2.0",
    "token",
    ".well-known",
    "openid-configuration",
    "%",
    "%zz",
    "%2F",
    "..",
    "é",
    "_aci-chaos",
    "ws",
    "",
];

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![4 => prop::sample::select(SEGMENTS).prop_map(String::from), 1 => "[^/?#]{0,10}"], 0..10)
        .prop_map(|segs| format!("/{}", segs.join("/")))
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("api-version".to_string()),
        Just("tail".to_string()),
        Just("timestamps".to_string()),
        Just("$skiptoken".to_string()),
        "[a-z$%]{0,6}"
    ];
    let value = prop_oneof![
        Just("2023-05-01".to_string()),
        Just("2024-05-01-preview".to_string()),
        Just("2018-06-01".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("true".to_string()),
        "[^&#]{0,12}"
    ];
    prop::collection::vec((key, value), 0..4).prop_map(|kv| kv.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"))
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![Method::GET, Method::PUT, Method::POST, Method::PATCH, Method::DELETE, Method::HEAD, Method::OPTIONS])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn malformed_group_bodies_get_4xx_never_5xx(pointer in prop::sample::select(POINTERS), junk in json_value(), name in "[a-z0-9-]{1,10}") {
        let body = replace_at(valid_body(), pointer, junk);
        check(Method::PUT, &format!("{}?api-version=2023-05-01", group(&name)), Some(serde_json::to_vec(&body).unwrap()), true)?;
        check(Method::PATCH, &format!("{}?api-version=2023-05-01", group("g1")), Some(serde_json::to_vec(&body).unwrap()), true)?;
        check(Method::POST, &format!("{}/containers/c1/exec?api-version=2023-05-01", group("g1")), Some(serde_json::to_vec(&body).unwrap()), true)?;
    }

    #[test]
    fn arbitrary_bytes_as_bodies_get_4xx(bytes in prop::collection::vec(any::<u8>(), 0..200), m in method()) {
        check(m.clone(), &format!("{}?api-version=2023-05-01", group("g2")), Some(bytes.clone()), true)?;
        check(m, &format!("/subscriptions/{SUB}/resourceGroups/rg2?api-version=2021-04-01"), Some(bytes), true)?;
    }

    #[test]
    fn arbitrary_paths_queries_and_methods_never_5xx(p in path(), q in query(), m in method(), auth in any::<bool>()) {
        check(m, &format!("{p}?{q}"), None, auth)?;
    }
}

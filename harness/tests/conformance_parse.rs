//! The client side of the conformance material: every container-group body in Azure's spec
//! examples and in recorded real traffic parses into what the harness reads of it (the ARM view,
//! the IP, the round-trip body), and back, without losing a field.
//!
//! The harness keeps ARM bodies as JSON values rather than typed models, precisely so that no
//! field ARM adds (new api-versions add some) is dropped on the way through.

use aci_chaos_harness::check::{arm_ip, arm_view};
use aci_chaos_harness::runner::roundtrip_body;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn conformance() -> Option<PathBuf> {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let c = dir.join("shared/conformance");
        if c.is_dir() {
            return Some(c);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Every response body of the spec examples and the PowerShell recordings (JSON files).
fn bodies(root: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let name = p.display().to_string();
            if let Some(rs) = v.get("responses").and_then(Value::as_object) {
                for (code, r) in rs {
                    if let Some(b) = r.get("body") {
                        out.push((format!("{name} {code}"), b.clone()));
                    }
                }
            } else if let Some(entries) = v.as_object() {
                for (k, e) in entries {
                    if let Some(content) = e.pointer("/Response/Content").and_then(Value::as_str)
                        && let Ok(b) = serde_json::from_str::<Value>(content)
                    {
                        out.push((format!("{name} {k}"), b));
                    }
                }
            }
        }
    }
    out
}

fn groups(v: &Value) -> Vec<Value> {
    let is_group = |g: &Value| g.pointer("/properties/containers").is_some_and(Value::is_array);
    match v.get("value").and_then(Value::as_array) {
        Some(items) => items.iter().filter(|g| is_group(g)).cloned().collect(),
        None if is_group(v) => vec![v.clone()],
        None => Vec::new(),
    }
}

#[test]
fn every_recorded_group_body_is_read_and_round_tripped_without_loss() {
    let Some(root) = conformance() else {
        if std::env::var_os("ACI_CHAOS_REQUIRE_CONFORMANCE").is_some() {
            panic!("shared/conformance not found above {}", env!("CARGO_MANIFEST_DIR"));
        }
        eprintln!("SKIPPED: shared/conformance not found");
        return;
    };
    let all = bodies(&root);
    let mut seen = 0;
    for (name, body) in &all {
        // JSON in, JSON out: nothing is lost.
        let text = serde_json::to_string(body).unwrap();
        assert_eq!(&serde_json::from_str::<Value>(&text).unwrap(), body, "{name}");
        for g in groups(body) {
            seen += 1;
            let container = g.pointer("/properties/containers/0/name").and_then(Value::as_str).unwrap_or_default().to_string();
            let view = arm_view(&g, &container);
            assert_eq!(view.provisioning_state, g.pointer("/properties/provisioningState").and_then(Value::as_str).unwrap_or(""), "{name}");
            assert_eq!(arm_ip(&g), g.pointer("/properties/ipAddress/ip").and_then(Value::as_str).unwrap_or(""), "{name}");
            // The round-trip PUT body keeps everything but what ARM computes.
            let rt = roundtrip_body(&g);
            let mut expected = g.clone();
            for k in ["id", "name", "type"] {
                expected.as_object_mut().unwrap().remove(k);
            }
            let p = expected["properties"].as_object_mut().unwrap();
            p.remove("provisioningState");
            p.remove("instanceView");
            for c in p.get_mut("containers").and_then(Value::as_array_mut).into_iter().flatten() {
                c["properties"].as_object_mut().map(|cp| cp.remove("instanceView"));
            }
            assert_eq!(rt, expected, "{name}");
        }
    }
    assert!(seen >= 20, "container-group bodies read: {seen}");
}

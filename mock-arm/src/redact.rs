//! Secret hygiene: the one place that turns a stored container-group spec into what ARM shows.
//!
//! ARM accepts secrets and never returns them: a secure environment variable comes back as
//! `{"name":"X"}`, secret volumes as `"secret":{}`, and registry passwords, storage-account keys,
//! Log Analytics workspace keys and extension protected settings are left out.

use serde_json::{Map, Value};

/// Removes every secret value from a container group's `properties`, as ARM does on the wire.
pub fn redact_properties(properties: &Value) -> Value {
    let mut p = properties.clone();
    let Some(obj) = p.as_object_mut() else { return p };
    for key in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = obj.get_mut(key) {
            for c in cs {
                if let Some(Value::Array(envs)) = c.pointer_mut("/properties/environmentVariables") {
                    for e in envs {
                        redact_env(e);
                    }
                }
            }
        }
    }
    if let Some(Value::Array(vols)) = obj.get_mut("volumes") {
        for v in vols {
            if let Some(v) = v.as_object_mut() {
                if v.contains_key("secret") {
                    v.insert("secret".into(), Value::Object(Map::new()));
                }
                if let Some(Value::Object(af)) = v.get_mut("azureFile") {
                    af.remove("storageAccountKey");
                }
            }
        }
    }
    if let Some(Value::Array(creds)) = obj.get_mut("imageRegistryCredentials") {
        for c in creds {
            if let Some(c) = c.as_object_mut() {
                c.remove("password");
            }
        }
    }
    if let Some(Value::Object(la)) = obj.get_mut("diagnostics").and_then(|d| d.get_mut("logAnalytics")) {
        la.remove("workspaceKey");
    }
    if let Some(Value::Array(exts)) = obj.get_mut("extensions") {
        for x in exts {
            if let Some(Value::Object(xp)) = x.get_mut("properties") {
                xp.remove("protectedSettings");
            }
        }
    }
    p
}

fn redact_env(e: &mut Value) {
    if let Some(o) = e.as_object_mut()
        && o.contains_key("secureValue")
    {
        o.remove("secureValue");
        o.remove("value");
    }
}

/// Every secret value a stored spec holds, for hygiene checks (tests and the admin snapshot).
pub fn secret_values(properties: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |v: Option<&Value>| {
        if let Some(Value::String(s)) = v
            && !s.is_empty()
        {
            out.push(s.clone());
        }
    };
    for key in ["containers", "initContainers"] {
        for c in properties.get(key).and_then(Value::as_array).into_iter().flatten() {
            for e in c.pointer("/properties/environmentVariables").and_then(Value::as_array).into_iter().flatten() {
                push(e.get("secureValue"));
            }
        }
    }
    for v in properties.get("volumes").and_then(Value::as_array).into_iter().flatten() {
        for (_, s) in v.get("secret").and_then(Value::as_object).into_iter().flatten() {
            push(Some(s));
        }
        push(v.pointer("/azureFile/storageAccountKey"));
    }
    for c in properties.get("imageRegistryCredentials").and_then(Value::as_array).into_iter().flatten() {
        push(c.get("password"));
    }
    push(properties.pointer("/diagnostics/logAnalytics/workspaceKey"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Value {
        json!({
            "containers": [{"name": "c", "properties": {"image": "busybox", "environmentVariables": [
                {"name": "PLAIN", "value": "visible"},
                {"name": "TOKEN", "secureValue": "s3cr3t-token"}
            ]}}],
            "initContainers": [{"name": "i", "properties": {"environmentVariables": [{"name": "T2", "secureValue": "init-secret"}]}}],
            "volumes": [
                {"name": "s", "secret": {"k": "dm9sdW1lLXNlY3JldA=="}},
                {"name": "f", "azureFile": {"shareName": "x", "storageAccountName": "a", "storageAccountKey": "storage-key"}}
            ],
            "imageRegistryCredentials": [{"server": "r.io", "username": "u", "password": "registry-pass"}],
            "diagnostics": {"logAnalytics": {"workspaceId": "w", "workspaceKey": "workspace-key"}}
        })
    }

    #[test]
    fn no_secret_survives_redaction() {
        let s = spec();
        let secrets = secret_values(&s);
        assert_eq!(secrets.len(), 6);
        let wire = serde_json::to_string(&redact_properties(&s)).unwrap();
        for secret in &secrets {
            assert!(!wire.contains(secret.as_str()), "{secret} leaked in {wire}");
        }
        assert!(wire.contains(r#"{"name":"TOKEN"}"#), "secure env var must come back as name only: {wire}");
        assert!(wire.contains(r#""secret":{}"#));
        assert!(wire.contains("visible"), "plain values are not secret");
    }
}

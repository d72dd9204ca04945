//! Validation of container-group bodies, with ARM's error codes and messages naming the field.

use crate::error::ArmError;
use axum::http::StatusCode;
use serde_json::Value;

/// Restart policies ACI knows.
pub const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];

/// Parses a request body as a JSON object, with ARM's `InvalidRequestContent` on failure.
pub fn parse_body(body: &[u8]) -> Result<Value, ArmError> {
    if body.is_empty() {
        return Err(ArmError::invalid_content("The request content was invalid and could not be deserialized: the body is empty."));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ArmError::invalid_content(format!("The request content was invalid and could not be deserialized: '{e}'.")))?;
    if !v.is_object() {
        return Err(ArmError::invalid_content("The request content was invalid and could not be deserialized: expected a JSON object."));
    }
    Ok(v)
}

/// Checks a container group name the way ACI does.
pub fn group_name(name: &str) -> Result<(), ArmError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "ContainerGroupNameInvalid",
            format!(
                "The container group name '{name}' is invalid. The container group name must contain no more than 63 characters and must match the regex '[a-z0-9]([-a-z0-9]*[a-z0-9])?' (e.g. 'my-name')."
            ),
        ))
    }
}

fn missing(field: &str, expected: &str) -> ArmError {
    ArmError::invalid_content(format!("The request content was invalid: the property '{field}' is required: expected {expected}."))
}

fn wrong_type(field: &str, expected: &str) -> ArmError {
    ArmError::invalid_content(format!("The request content was invalid: the property '{field}' has the wrong type: expected {expected}."))
}

fn string_at<'a>(v: &'a Value, key: &str, field: &str) -> Result<&'a str, ArmError> {
    match v.get(key) {
        None | Some(Value::Null) => Err(missing(field, "a string")),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(wrong_type(field, "a string")),
    }
}

fn optional_array<'a>(v: &'a Value, key: &str, field: &str) -> Result<&'a [Value], ArmError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(wrong_type(field, "an array")),
    }
}

fn number_at(v: &Value, key: &str, field: &str) -> Result<f64, ArmError> {
    match v.get(key) {
        None | Some(Value::Null) => Err(missing(field, "a number")),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(|| wrong_type(field, "a number")),
        Some(_) => Err(wrong_type(field, "a number")),
    }
}

/// Validates a container group `PUT` body. `name` is the group name from the path.
pub fn container_group(name: &str, body: &Value) -> Result<(), ArmError> {
    let location = string_at(body, "location", "location").map_err(|_| {
        ArmError::new(StatusCode::BAD_REQUEST, "LocationRequired", "The location property is required for this definition.")
    })?;
    if location.trim().is_empty() {
        return Err(ArmError::new(StatusCode::BAD_REQUEST, "LocationRequired", "The location property is required for this definition."));
    }
    if let Some(tags) = body.get("tags") {
        match tags {
            Value::Null => {}
            Value::Object(m) => {
                if let Some((k, _)) = m.iter().find(|(_, v)| !v.is_string()) {
                    return Err(wrong_type(&format!("tags.{k}"), "a string"));
                }
            }
            _ => return Err(wrong_type("tags", "an object of strings")),
        }
    }
    for (i, z) in optional_array(body, "zones", "zones")?.iter().enumerate() {
        match z.as_str() {
            Some("1" | "2" | "3") => {}
            _ => {
                return Err(ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidAvailabilityZone",
                    format!("The availability zone 'zones[{i}]' = {z} is invalid: expected \"1\", \"2\" or \"3\"."),
                ));
            }
        }
    }
    let props = match body.get("properties") {
        Some(p @ Value::Object(_)) => p,
        None | Some(Value::Null) => return Err(missing("properties", "an object")),
        Some(_) => return Err(wrong_type("properties", "an object")),
    };
    let os = string_at(props, "osType", "properties.osType")?;
    if os != "Linux" && os != "Windows" {
        return Err(ArmError::invalid_parameter(format!(
            "The value '{os}' of 'properties.osType' is invalid: expected 'Linux' or 'Windows'."
        )));
    }
    if let Some(p) = props.get("restartPolicy").filter(|v| !v.is_null()) {
        match p.as_str() {
            Some(s) if RESTART_POLICIES.contains(&s) => {}
            _ => {
                return Err(ArmError::invalid_parameter(format!(
                    "The value {p} of 'properties.restartPolicy' is invalid: expected one of {}.",
                    RESTART_POLICIES.join(", ")
                )));
            }
        }
    }
    let volumes = optional_array(props, "volumes", "properties.volumes")?;
    let mut volume_names = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        volume_names.push(string_at(v, "name", &format!("properties.volumes[{i}].name"))?);
        if let Some(secret) = v.get("secret") {
            let Some(m) = secret.as_object() else {
                return Err(wrong_type(&format!("properties.volumes[{i}].secret"), "an object of base64 strings"));
            };
            for (k, val) in m {
                if !val.is_string() {
                    return Err(wrong_type(&format!("properties.volumes[{i}].secret.{k}"), "a base64 string"));
                }
            }
        }
    }
    let containers = optional_array(props, "containers", "properties.containers")?;
    if containers.is_empty() {
        return Err(missing("properties.containers", "at least one container"));
    }
    for (i, c) in containers.iter().enumerate() {
        let at = format!("properties.containers[{i}]");
        let cname = string_at(c, "name", &format!("{at}.name"))?;
        let cp = match c.get("properties") {
            Some(p @ Value::Object(_)) => p,
            _ => return Err(missing(&format!("{at}.properties"), "an object")),
        };
        string_at(cp, "image", &format!("{at}.properties.image"))?;
        let req = cp
            .pointer("/resources/requests")
            .filter(|r| r.is_object())
            .ok_or_else(|| missing(&format!("{at}.properties.resources.requests"), "an object with cpu and memoryInGB"))?;
        let cpu = number_at(req, "cpu", &format!("{at}.properties.resources.requests.cpu"))?;
        let mem = number_at(req, "memoryInGB", &format!("{at}.properties.resources.requests.memoryInGB"))?;
        if cpu <= 0.0 || mem <= 0.0 {
            return Err(ArmError::invalid_parameter(format!(
                "The resource requests of container '{cname}' are invalid: cpu and memoryInGB must be greater than 0."
            )));
        }
        for (j, e) in optional_array(cp, "environmentVariables", &format!("{at}.properties.environmentVariables"))?.iter().enumerate() {
            let ename = string_at(e, "name", &format!("{at}.properties.environmentVariables[{j}].name"))?;
            let has = |k: &str| e.get(k).is_some_and(|v| !v.is_null());
            // Newer api-versions also take a Key Vault reference (`secureValueReference`).
            let given = [has("value"), has("secureValue"), has("secureValueReference")].iter().filter(|b| **b).count();
            if given != 1 {
                return Err(ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidEnvironmentVariable",
                    format!(
                        "The environment variable '{ename}' in container '{cname}' of container group '{name}' is invalid. One and only one property of 'value' and 'secureValue' can be specified in an environment variable."
                    ),
                ));
            }
            for key in ["value", "secureValue"] {
                if e.get(key).is_some_and(|v| !v.is_null() && !v.is_string()) {
                    return Err(wrong_type(&format!("{at}.properties.environmentVariables[{j}].{key}"), "a string"));
                }
            }
        }
        for (j, m) in optional_array(cp, "volumeMounts", &format!("{at}.properties.volumeMounts"))?.iter().enumerate() {
            let vname = string_at(m, "name", &format!("{at}.properties.volumeMounts[{j}].name"))?;
            string_at(m, "mountPath", &format!("{at}.properties.volumeMounts[{j}].mountPath"))?;
            if !volume_names.contains(&vname) {
                return Err(ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidVolumeMount",
                    format!(
                        "The volume mount '{vname}' in container '{cname}' of container group '{name}' refers to a volume that is not defined in 'properties.volumes'."
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [
            {"name": "c1", "properties": {"image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}},
             "environmentVariables": [{"name": "A", "value": "1"}, {"name": "B", "secureValue": "2"}]}}]}})
    }

    #[test]
    fn a_good_body_passes() {
        container_group("g1", &good()).unwrap();
    }

    #[test]
    fn env_var_with_both_or_neither_value_is_refused_with_the_real_message() {
        for bad in [json!({"name": "B"}), json!({"name": "B", "value": "x", "secureValue": "y"})] {
            let mut b = good();
            b["properties"]["containers"][0]["properties"]["environmentVariables"][1] = bad;
            let e = container_group("g1", &b).unwrap_err();
            assert_eq!(e.code, "InvalidEnvironmentVariable");
            assert_eq!(
                e.message,
                "The environment variable 'B' in container 'c1' of container group 'g1' is invalid. One and only one property of 'value' and 'secureValue' can be specified in an environment variable."
            );
        }
    }

    #[test]
    fn schema_errors_name_the_field() {
        let mut b = good();
        b["properties"]["containers"][0]["properties"].as_object_mut().unwrap().remove("image");
        let e = container_group("g1", &b).unwrap_err();
        assert_eq!(e.code, "InvalidRequestContent");
        assert!(e.message.contains("properties.containers[0].properties.image"), "{}", e.message);
        let mut b = good();
        b["properties"]["restartPolicy"] = json!("Sometimes");
        assert!(container_group("g1", &b).unwrap_err().message.contains("restartPolicy"));
        assert_eq!(container_group("g1", &json!({"properties": {}})).unwrap_err().code, "LocationRequired");
        assert_eq!(parse_body(b"{not json").unwrap_err().code, "InvalidRequestContent");
        assert!(group_name("Bad_Name").is_err());
        assert!(group_name("acc-run-restart-1").is_ok());
    }
}

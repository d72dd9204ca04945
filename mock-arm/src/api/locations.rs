//! Location information (`usages`, `capabilities`, `cachedImages`) and the provider's
//! `operations` list, shaped like the REST spec's examples.

use super::{Req, json};
use crate::error::ArmError;
use crate::model::normalize_location;
use crate::world::World;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

/// The container-group quota per subscription and region that `usages` reports.
pub const CONTAINER_GROUP_LIMIT: u64 = 100;

/// Images the mock's regions report as cached.
pub const CACHED_IMAGES: &[(&str, &str)] = &[
    ("mcr.microsoft.com/azuredocs/aci-helloworld:latest", "Linux"),
    ("mcr.microsoft.com/cbl-mariner/busybox:2.0", "Linux"),
    ("ubuntu:22.04", "Linux"),
    ("alpine:3.19", "Linux"),
    ("mcr.microsoft.com/windows/nanoserver:ltsc2022", "Windows"),
];

fn display_location(loc: &str) -> String {
    // `westus2` → `West US 2`, good enough for the mock's regions.
    let mut out = String::new();
    for (prefix, name) in [("north", "North "), ("south", "South "), ("east", "East "), ("west", "West "), ("central", "Central ")] {
        if let Some(rest) = loc.strip_prefix(prefix) {
            out.push_str(name);
            return out + &display_location(rest);
        }
    }
    match loc {
        "" => out,
        "us" => "US".into(),
        "europe" => "Europe".into(),
        other if other.starts_with("us") => format!("US {}", &other[2..]),
        other => other.to_string(),
    }
    .trim()
    .to_string()
}

/// `GET …/locations/{loc}/{usages|capabilities|cachedImages}`.
pub fn info(world: &World, req: &Req, location: &str, what: &str) -> Result<Response, ArmError> {
    let loc = normalize_location(location);
    let sub = match &req.route {
        crate::route::Route::LocationInfo { .. } => req.path.split('/').nth(2).unwrap_or_default().to_string(),
        _ => String::new(),
    };
    let body = match what {
        "usages" => {
            let used = world.list_groups(&sub, None).map(|gs| gs.iter().filter(|g| g.location == loc).count()).unwrap_or(0);
            json!({"value": [{
                "id": format!("/subscriptions/{sub}/providers/Microsoft.ContainerInstance/locations/{loc}/usages/ContainerGroups"),
                "name": {"localizedValue": "Container Groups", "value": "ContainerGroups"},
                "currentValue": used, "limit": CONTAINER_GROUP_LIMIT, "unit": "Count"}]})
        }
        "capabilities" => {
            let display = display_location(&loc);
            let cap = |os: &str, gpu: &str, gpus: u32| {
                json!({"resourceType": "containerGroups", "osType": os, "location": display, "ipAddressType": "Public", "gpu": gpu,
                       "capabilities": {"maxMemoryInGB": 16, "maxCpu": 4, "maxGpuCount": gpus}})
            };
            json!({"value": [cap("Linux", "None", 0), cap("Windows", "None", 0)]})
        }
        "cachedimages" => {
            json!({"value": CACHED_IMAGES.iter().map(|(image, os)| json!({"image": image, "osType": os})).collect::<Vec<Value>>()})
        }
        other => {
            return Err(ArmError::new(
                StatusCode::NOT_FOUND,
                "InvalidResourceType",
                format!("The resource type 'locations/{other}' could not be found in the namespace 'Microsoft.ContainerInstance'."),
            ));
        }
    };
    Ok(json(StatusCode::OK, body))
}

/// `GET /providers/Microsoft.ContainerInstance/operations`.
pub fn provider_operations(_req: &Req) -> Result<Response, ArmError> {
    let op = |name: &str, operation: &str, resource: &str, description: &str| {
        json!({"name": format!("Microsoft.ContainerInstance/{name}"), "origin": "User",
               "display": {"provider": "Microsoft Container Instance", "resource": resource, "operation": operation, "description": description}})
    };
    let value = vec![
        op("containerGroups/read", "Get Container Groups", "Container Group", "Get all container groups."),
        op("containerGroups/write", "Create or Update Container Groups", "Container Group", "Create or update a specific container group."),
        op("containerGroups/delete", "Delete Container Groups", "Container Group", "Delete the specific container group."),
        op("containerGroups/restart/action", "Restart Container Groups", "Container Group", "Restarts a specific container group."),
        op("containerGroups/stop/action", "Stop Container Groups", "Container Group", "Stops a specific container group."),
        op("containerGroups/start/action", "Start Container Groups", "Container Group", "Starts a specific container group."),
        op("containerGroups/containers/logs/read", "Get container logs", "Container", "Get the logs for a specific container."),
        op("containerGroups/containers/exec/action", "Container Exec", "Container", "Exec into a specific container."),
        op("containerGroups/containers/attach/action", "Container Attach", "Container", "Attach to the output stream of a container."),
        op("locations/usages/read", "Get Usage", "Usage", "Get the usage for a specific location."),
        op("locations/capabilities/read", "Get Capabilities", "Capabilities", "Get the capabilities for a specific location."),
        op("locations/cachedImages/read", "Get Cached Images", "Cached Images", "Gets the cached images for the subscription in a region."),
        op("operations/read", "List Operations", "Operation", "List the operations for Azure Container Instance service."),
    ];
    Ok(json(StatusCode::OK, json!({"value": value})))
}

#[cfg(test)]
mod tests {
    use super::display_location;

    #[test]
    fn locations_display_like_arm() {
        assert_eq!(display_location("westus"), "West US");
        assert_eq!(display_location("westus2"), "West US 2");
        assert_eq!(display_location("northeurope"), "North Europe");
        assert_eq!(display_location("eastus"), "East US");
    }
}

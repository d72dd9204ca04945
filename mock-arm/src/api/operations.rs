//! Operation status documents and operation results.

use super::{empty, json};
use crate::error::ArmError;
use crate::world::World;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

fn not_found(id: &str) -> ArmError {
    ArmError::new(StatusCode::NOT_FOUND, "OperationNotFound", format!("The operation '{id}' could not be found."))
}

/// `GET …/locations/{loc}/operations/{id}`: the status document.
///
/// While the operation runs, the answer carries `Retry-After: 1`. Real ACI sends none here, so
/// clients fall back to their default poll interval (30 s for the Azure CLI and the Python SDK);
/// the mock's operations take seconds, and a 30 s poll would only slow every client down.
pub fn status(world: &World, id: &str) -> Result<Response, ArmError> {
    let doc = world.operation_status(id).ok_or_else(|| not_found(id))?;
    let running = !matches!(doc.get("status").and_then(serde_json::Value::as_str), Some("Succeeded" | "Failed" | "Canceled"));
    let mut r = json(StatusCode::OK, doc);
    if running {
        r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
    }
    Ok(r)
}

/// `GET …/locations/{loc}/operationResults/{id}`: `202` while running, `204` when done.
pub fn result(world: &World, id: &str) -> Result<Response, ArmError> {
    match world.operation_done(id) {
        None => Err(not_found(id)),
        Some(true) => Ok(empty(StatusCode::NO_CONTENT)),
        Some(false) => {
            let mut r = empty(StatusCode::ACCEPTED);
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            Ok(r)
        }
    }
}

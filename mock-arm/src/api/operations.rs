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
pub fn status(world: &World, id: &str) -> Result<Response, ArmError> {
    let doc = world.operation_status(id).ok_or_else(|| not_found(id))?;
    Ok(json(StatusCode::OK, doc))
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

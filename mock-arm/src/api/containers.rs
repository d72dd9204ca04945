//! Container handlers: logs.

use super::{Req, json};
use crate::error::ArmError;
use crate::route::GroupPath;
use crate::world::World;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;

/// ACI returns at most this much log content.
pub const MAX_LOG_BYTES: usize = 4 * 1024 * 1024;

/// `…/containers/{c}/{action}`.
pub fn action(world: &mut World, req: &Req, gp: &GroupPath, container: &str, action: &str) -> Result<Response, ArmError> {
    match (action, &req.method) {
        ("logs", &Method::GET) => logs(world, req, gp, container),
        _ => Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            format!("The resource type 'containerGroups/containers/{action}' could not be found for method {}.", req.method),
        )),
    }
}

fn logs(world: &World, req: &Req, gp: &GroupPath, container: &str) -> Result<Response, ArmError> {
    let tail = match req.query.get("tail") {
        None => None,
        Some(t) => Some(
            t.parse::<usize>()
                .map_err(|_| ArmError::invalid_parameter(format!("The value '{t}' of 'tail' is invalid: expected a whole number.")))?,
        ),
    };
    let timestamps = match req.query.get("timestamps").map(|s| s.to_ascii_lowercase()) {
        None => false,
        Some(t) if t == "true" => true,
        Some(t) if t == "false" => false,
        Some(t) => return Err(ArmError::invalid_parameter(format!("The value '{t}' of 'timestamps' is invalid: expected true or false."))),
    };
    let mut content = world.logs(&gp.subscription, &gp.resource_group, &gp.name, container, tail, timestamps)?;
    if content.len() > MAX_LOG_BYTES {
        let mut cut = content.len() - MAX_LOG_BYTES;
        while !content.is_char_boundary(cut) {
            cut += 1;
        }
        content = content.split_off(cut);
    }
    Ok(json(StatusCode::OK, json!({"content": content})))
}

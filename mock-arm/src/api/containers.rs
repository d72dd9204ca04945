//! Container handlers: logs, exec, attach.

use super::{Req, json};
use crate::error::ArmError;
use crate::exec::{SessionKind, Sessions};
use crate::route::GroupPath;
use crate::validate;
use crate::world::World;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;

/// ACI returns at most this much log content.
pub const MAX_LOG_BYTES: usize = 4 * 1024 * 1024;

/// `…/containers/{c}/{action}`.
pub fn action(
    world: &mut World,
    sessions: &mut Sessions,
    req: &Req,
    gp: &GroupPath,
    container: &str,
    action: &str,
) -> Result<Response, ArmError> {
    match (action, &req.method) {
        ("logs", &Method::GET) => logs(world, req, gp, container),
        ("exec", &Method::POST) => open_session(world, sessions, req, gp, container, SessionKind::Exec),
        ("attach", &Method::POST) => open_session(world, sessions, req, gp, container, SessionKind::Attach),
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

/// `POST …/exec` (body `{"command","terminalSize"}`) and `POST …/attach`: a websocket session.
fn open_session(
    world: &World,
    sessions: &mut Sessions,
    req: &Req,
    gp: &GroupPath,
    container: &str,
    kind: SessionKind,
) -> Result<Response, ArmError> {
    let command = if kind == SessionKind::Exec {
        let body = validate::parse_body(&req.body)?;
        let command = match body.get("command") {
            Some(serde_json::Value::String(c)) if !c.trim().is_empty() => c.clone(),
            Some(serde_json::Value::String(_)) | None | Some(serde_json::Value::Null) => {
                return Err(ArmError::invalid_content(
                    "The request content was invalid: the property 'command' is required: expected a non-empty string.",
                ));
            }
            Some(_) => {
                return Err(ArmError::invalid_content(
                    "The request content was invalid: the property 'command' has the wrong type: expected a string.",
                ));
            }
        };
        if let Some(ts) = body.get("terminalSize").filter(|t| !t.is_null()) {
            for k in ["rows", "cols"] {
                if ts.get(k).is_some_and(|v| !v.is_null() && !v.is_u64()) {
                    return Err(ArmError::invalid_content(format!(
                        "The request content was invalid: the property 'terminalSize.{k}' has the wrong type: expected a whole number."
                    )));
                }
            }
        }
        command
    } else {
        String::new()
    };
    let g = world.group(&gp.subscription, &gp.resource_group, &gp.name)?;
    let c = g.containers.iter().find(|c| c.name.eq_ignore_ascii_case(container));
    let declared = g.properties.get("containers").and_then(serde_json::Value::as_array).is_some_and(|cs| {
        cs.iter().any(|c| c.get("name").and_then(serde_json::Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(container)))
    });
    if !declared {
        return Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "ContainerNotFound",
            format!("The container '{container}' does not exist in container group '{}'.", gp.name),
        ));
    }
    if g.placement.is_none() || c.is_none_or(|c| c.current.state != "Running") {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "ContainerNotRunning",
            format!("The container '{container}' in container group '{}' is not running; start it and retry.", gp.name),
        ));
    }
    let (id, password) = sessions.open(kind, &gp.subscription, &gp.resource_group, &gp.name, container, &command);
    let ws_base = req.base.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    Ok(json(StatusCode::OK, json!({"webSocketUri": format!("{ws_base}{}/ws/{id}", crate::ADMIN_PREFIX), "password": password})))
}

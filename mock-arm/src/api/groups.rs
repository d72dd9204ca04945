//! Container group handlers: create/update, get, patch, delete, list, restart/stop/start.

use super::{Req, empty, json, with_lro_headers};
use crate::error::ArmError;
use crate::model::normalize_location;
use crate::route::GroupPath;
use crate::validate;
use crate::world::World;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

fn shown(world: &World, mut view: Value) -> Value {
    super::view::decorate(&mut view, &world.config.tenant);
    view
}

/// `PUT`: 201 for a new group, 200 for an existing one, with LRO headers.
pub fn put(world: &mut World, req: &Req, gp: &GroupPath) -> Result<Response, ArmError> {
    validate::group_name(&gp.name)?;
    let body = validate::parse_body(&req.body)?;
    validate::container_group(&gp.name, &body)?;
    let location = normalize_location(body["location"].as_str().unwrap_or_default());
    let (created, op) = world.put_group(&gp.subscription, &gp.resource_group, &gp.name, body)?;
    // Real ACI answers a PUT with the instance view too (`{"events":[],"state":"Pending"}`).
    let view = shown(world, world.group(&gp.subscription, &gp.resource_group, &gp.name)?.view(true));
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(with_lro_headers(json(status, view), &req.base, &gp.subscription, &location, &op))
}

/// `GET` a group, with its instance view.
pub fn get(world: &World, gp: &GroupPath) -> Result<Response, ArmError> {
    Ok(json(StatusCode::OK, shown(world, world.group(&gp.subscription, &gp.resource_group, &gp.name)?.view(true))))
}

/// `PATCH`: tags only, synchronous.
pub fn patch(world: &mut World, req: &Req, gp: &GroupPath) -> Result<Response, ArmError> {
    let body = validate::parse_body(&req.body)?;
    let view = world.patch_group(&gp.subscription, &gp.resource_group, &gp.name, &body)?;
    Ok(json(StatusCode::OK, shown(world, view)))
}

/// `DELETE`: 200 with the last body; 204 when absent.
pub fn delete(world: &mut World, gp: &GroupPath) -> Result<Response, ArmError> {
    Ok(match world.delete_group(&gp.subscription, &gp.resource_group, &gp.name)? {
        Some(view) => json(StatusCode::OK, shown(world, view)),
        None => empty(StatusCode::NO_CONTENT),
    })
}

/// Page size of list responses.
pub const PAGE_SIZE: usize = 100;

/// List by resource group or subscription: `{"value":[…],"nextLink"?}`, no instance views.
pub fn list(world: &World, req: &Req, sub: &str, rg: Option<&String>) -> Result<Response, ArmError> {
    let groups = world.list_groups(sub, rg.map(String::as_str))?;
    let skip: usize = match req.query.get("$skiptoken") {
        None => 0,
        Some(t) => t.parse().map_err(|_| ArmError::invalid_parameter(format!("The $skiptoken '{t}' is invalid.")))?,
    };
    let page: Vec<_> = groups.iter().skip(skip).take(PAGE_SIZE).map(|g| shown(world, g.view(false))).collect();
    let mut body = json!({"value": page});
    if skip + PAGE_SIZE < groups.len() {
        let path = match rg {
            Some(rg) => format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups"),
            None => format!("/subscriptions/{sub}/providers/Microsoft.ContainerInstance/containerGroups"),
        };
        let v = req.api_version().unwrap_or("2023-05-01");
        body["nextLink"] = json!(format!("{}{path}?api-version={v}&$skiptoken={}", req.base, skip + PAGE_SIZE));
    }
    Ok(json(StatusCode::OK, body))
}

/// `POST …/restart|stop|start`, with the status codes real ARM gives, and
/// `GET …/outboundNetworkDependenciesEndpoints`.
pub fn action(world: &mut World, req: &Req, gp: &GroupPath, action: &str) -> Result<Response, ArmError> {
    let (sub, rg, name) = (&gp.subscription, &gp.resource_group, &gp.name);
    let expected = if action == "outboundnetworkdependenciesendpoints" { axum::http::Method::GET } else { axum::http::Method::POST };
    if req.method != expected {
        return Err(ArmError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("The requested resource does not support http method '{}'.", req.method),
        ));
    }
    let location = world.group(sub, rg, name)?.location.clone();
    match action {
        "outboundnetworkdependenciesendpoints" => Ok(json(StatusCode::OK, json!([]))),
        "restart" => {
            let op = world.restart_group(sub, rg, name)?;
            Ok(with_lro_headers(empty(StatusCode::NO_CONTENT), &req.base, sub, &location, &op))
        }
        "stop" => {
            world.stop_group(sub, rg, name)?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        "start" => Ok(match world.start_group(sub, rg, name)? {
            Some(op) => with_lro_headers(empty(StatusCode::ACCEPTED), &req.base, sub, &location, &op),
            None => empty(StatusCode::NO_CONTENT),
        }),
        other => Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            format!("The resource type 'containerGroups/{other}' could not be found in the namespace 'Microsoft.ContainerInstance'."),
        )),
    }
}

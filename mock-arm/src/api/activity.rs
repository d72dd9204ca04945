//! The activity log endpoint (`…/providers/Microsoft.Insights/eventtypes/management/values`) and
//! the recording of user writes into the log.

use super::{Req, json};
use crate::activity::{Filter, Write, caller_of};
use crate::error::ArmError;
use crate::route::GroupPath;
use crate::world::World;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

/// Events per page (Azure Monitor pages the activity log too).
pub const PAGE_SIZE: usize = 200;

/// Records a user write on a group (`action`: restart/stop/start, else the method's write) with
/// how it was answered. Reads are not recorded; neither is anything of the request body.
pub fn record(world: &mut World, req: &Req, gp: &GroupPath, action: Option<&str>, answer: &Result<Response, ArmError>) {
    let Some(write) = Write::of(&req.method, action) else { return };
    let id = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerInstance/containerGroups/{}",
        gp.subscription, gp.resource_group, gp.name
    );
    let caller = caller_of(req.headers.get("authorization").and_then(|h| h.to_str().ok()));
    match answer {
        Ok(r) => world.record_write(&id, write, &caller, r.status().as_u16(), None),
        Err(e) => world.record_write(&id, write, &caller, e.status.as_u16(), Some(&e.code)),
    }
}

fn bad_request(message: String) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// `GET` the activity log: `$filter` (required), `$select`, paged with `nextLink`.
pub fn list(world: &World, req: &Req, subscription: &str) -> Result<Response, ArmError> {
    let now = world.now();
    let filter = Filter::parse(req.query.get("$filter").map(String::as_str), now).map_err(bad_request)?;
    let skip: usize = match req.query.get("$skiptoken") {
        None => 0,
        Some(t) => t.parse().map_err(|_| bad_request(format!("The $skiptoken '{t}' is invalid.")))?,
    };
    let select: Option<Vec<String>> =
        req.query.get("$select").map(|s| s.split(',').map(|f| f.trim().to_ascii_lowercase()).filter(|f| !f.is_empty()).collect());
    let (mut page, more) = world.activity().query(subscription, &filter, now, skip, PAGE_SIZE);
    if let Some(fields) = &select {
        for e in &mut page {
            if let Value::Object(m) = e {
                let kept: Map<String, Value> =
                    std::mem::take(m).into_iter().filter(|(k, _)| fields.contains(&k.to_ascii_lowercase())).collect();
                *m = kept;
            }
        }
    }
    let mut body = json!({"value": page});
    if more {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &req.query {
            if k != "$skiptoken" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("$skiptoken", &(skip + PAGE_SIZE).to_string());
        body["nextLink"] = json!(format!("{}{}?{}", req.base, req.path, q.finish()));
    }
    Ok(json(StatusCode::OK, body))
}

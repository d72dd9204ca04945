//! The ARM-facing API: request parsing, auth, api-version checks, and dispatch to handlers.

pub mod activity;
pub mod containers;
pub mod groups;
pub mod locations;
pub mod operations;
pub mod resources;
pub mod view;

use crate::api_version;
use crate::error::ArmError;
use crate::route::Route;
use crate::shared::Shared;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::BTreeMap;

/// A parsed request, as the handlers see it.
#[derive(Debug)]
pub struct Req {
    /// HTTP method.
    pub method: Method,
    /// The path as sent.
    pub path: String,
    /// The routed path.
    pub route: Route,
    /// Query parameters (last value wins).
    pub query: BTreeMap<String, String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub body: Bytes,
    /// `scheme://host[:port]` the client reached us at, for LRO URLs.
    pub base: String,
}

impl Req {
    /// The `api-version` query value.
    pub fn api_version(&self) -> Option<&str> {
        self.query.get("api-version").map(String::as_str)
    }
}

/// Parses a query string into a map (keys compared as sent, `api-version` included).
pub fn parse_query(q: Option<&str>) -> BTreeMap<String, String> {
    form_urlencoded::parse(q.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// A JSON body not serialized yet: the server serializes it after releasing the state lock, so
/// the (comparatively slow) serialization of large views runs in parallel across requests.
#[derive(Debug, Clone)]
pub struct DeferredJson(pub Value);

/// A JSON response with a status (serialized by [`finish`], or by the server on its way out).
pub fn json(status: StatusCode, body: Value) -> Response {
    let mut r = status.into_response();
    r.extensions_mut().insert(DeferredJson(body));
    r
}

/// Serializes a response's deferred JSON body, if it has one.
pub fn finish(mut resp: Response) -> Response {
    if let Some(DeferredJson(v)) = resp.extensions_mut().remove::<DeferredJson>() {
        set_json_body(&mut resp, Bytes::from(serde_json::to_vec(&v).unwrap_or_default()));
    }
    resp
}

/// Sets a serialized JSON body (and its content type) on a response.
pub fn set_json_body(resp: &mut Response, bytes: Bytes) {
    resp.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    *resp.body_mut() = axum::body::Body::from(bytes);
}

/// An empty response with a status.
pub fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// Adds the headers ARM gives a long-running operation: `Azure-AsyncOperation`, `Location`
/// and `Retry-After: 1` (the Python SDK reads `Retry-After: 0` as unset).
pub fn with_lro_headers(mut resp: Response, base: &str, subscription: &str, location: &str, op_id: &str) -> Response {
    let status = format!(
        "{base}/subscriptions/{subscription}/providers/Microsoft.ContainerInstance/locations/{location}/operations/{op_id}?api-version=2018-06-01"
    );
    let result = format!(
        "{base}/subscriptions/{subscription}/providers/Microsoft.ContainerInstance/locations/{location}/operationResults/{op_id}?api-version=2018-06-01"
    );
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&status) {
        h.insert("azure-asyncoperation", v);
    }
    if let Ok(v) = HeaderValue::from_str(&result) {
        h.insert("location", v);
    }
    h.insert("retry-after", HeaderValue::from_static("1"));
    resp
}

/// Checks the `Authorization: Bearer …` header (any token is accepted; its shape is checked).
pub fn check_bearer(headers: &HeaderMap) -> Result<(), ArmError> {
    let unauthorized = |msg: &str| ArmError::new(StatusCode::UNAUTHORIZED, "AuthenticationFailed", msg);
    let Some(v) = headers.get("authorization") else {
        return Err(unauthorized("Authentication failed. The 'Authorization' header is missing."));
    };
    let v = v.to_str().unwrap_or_default();
    match v.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(()),
        _ => Err(unauthorized("Authentication failed. The 'Authorization' header is provided in an invalid format.")),
    }
}

fn method_not_allowed(req: &Req) -> ArmError {
    ArmError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("The requested resource does not support http method '{}'.", req.method),
    )
}

fn not_found_uri(req: &Req) -> ArmError {
    ArmError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("No HTTP resource was found that matches the request URI '{}{}'.", req.base, req.path),
    )
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Handles one ARM request (or a token-issuer request) against the mock's state.
pub fn handle(shared: &mut Shared, req: &Req) -> Result<Response, ArmError> {
    use Route::*;
    // Unauthenticated discovery and token endpoints.
    match &req.route {
        MetadataEndpoints => return resources::metadata_endpoints(req),
        OpenIdConfiguration { tenant, v2 } => {
            return if req.method == Method::GET {
                Ok(crate::aad::openid_configuration(&req.base, tenant, *v2))
            } else {
                Err(method_not_allowed(req))
            };
        }
        InstanceDiscovery => return Ok(crate::aad::instance_discovery(&req.base)),
        ManagedIdentityToken => {
            return if req.method == Method::GET {
                Ok(crate::aad::managed_identity_token(&req.base, &req.query, &req.headers, unix_now()))
            } else {
                Err(method_not_allowed(req))
            };
        }
        Token { tenant } => {
            return if req.method == Method::POST {
                Ok(crate::aad::token(&req.base, tenant, &req.body, unix_now()))
            } else {
                Err(method_not_allowed(req))
            };
        }
        _ => {}
    }
    check_bearer(&req.headers)?;
    let aci = |req: &Req| api_version::check(req.api_version(), api_version::SUPPORTED, "containerGroups");
    let rm = |req: &Req| {
        let mut all: Vec<&str> = api_version::RESOURCE_MANAGER.to_vec();
        all.extend_from_slice(api_version::SUPPORTED);
        api_version::check(req.api_version(), &all, "resourceGroups")
    };
    let get_only = |req: &Req| if req.method == Method::GET { Ok(()) } else { Err(method_not_allowed(req)) };
    let Shared { world, sessions, .. } = shared;
    world.tick();
    match &req.route {
        Subscriptions => {
            rm(req)?;
            get_only(req)?;
            resources::list_subscriptions(world, req)
        }
        Subscription(sub) => {
            rm(req)?;
            get_only(req)?;
            resources::get_subscription(world, sub)
        }
        ResourceGroup { subscription, resource_group } => {
            rm(req)?;
            match req.method {
                Method::PUT => resources::put_resource_group(world, req, subscription, resource_group),
                Method::GET | Method::HEAD => resources::get_resource_group(world, subscription, resource_group),
                Method::DELETE => resources::delete_resource_group(world, subscription, resource_group),
                _ => Err(method_not_allowed(req)),
            }
        }
        GroupsInResourceGroup { subscription, resource_group } => {
            aci(req)?;
            get_only(req)?;
            groups::list(world, req, subscription, Some(resource_group))
        }
        GroupsInSubscription { subscription } => {
            aci(req)?;
            get_only(req)?;
            groups::list(world, req, subscription, None)
        }
        Group(gp) => {
            aci(req)?;
            let answer = match req.method {
                Method::PUT => groups::put(world, req, gp),
                Method::GET => groups::get(world, gp),
                Method::PATCH => groups::patch(world, req, gp),
                Method::DELETE => groups::delete(world, gp),
                _ => Err(method_not_allowed(req)),
            };
            activity::record(world, req, gp, None, &answer);
            answer
        }
        GroupAction(gp, action) => {
            aci(req)?;
            let answer = groups::action(world, req, gp, action);
            activity::record(world, req, gp, Some(action), &answer);
            answer
        }
        ActivityLog { subscription } => {
            api_version::check(req.api_version(), crate::activity::API_VERSIONS, "eventtypes")?;
            get_only(req)?;
            activity::list(world, req, subscription)
        }
        ContainerAction(gp, container, action) => {
            aci(req)?;
            containers::action(world, sessions, req, gp, container, action)
        }
        OperationStatus { id, .. } => {
            aci(req)?;
            get_only(req)?;
            operations::status(world, id)
        }
        OperationResult { id, .. } => {
            aci(req)?;
            get_only(req)?;
            operations::result(world, id)
        }
        LocationInfo { location, what } => {
            aci(req)?;
            get_only(req)?;
            locations::info(world, req, location, what)
        }
        ProviderOperations => {
            aci(req)?;
            get_only(req)?;
            locations::provider_operations(req)
        }
        MetadataEndpoints | OpenIdConfiguration { .. } | Token { .. } | InstanceDiscovery | ManagedIdentityToken | Unknown => {
            Err(not_found_uri(req))
        }
    }
}

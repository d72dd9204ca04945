//! The admin plane under [`crate::ADMIN_PREFIX`]: what the harness (and people) use to drive
//! the simulation. Not part of ARM; no auth (the mock listens on loopback).
//!
//! | call | does |
//! |---|---|
//! | `GET  /_aci-chaos/info` | mock name, version, seed, subscription, tenant, clock mode, now |
//! | `GET  /_aci-chaos/clock` | `{"mode","now"}` |
//! | `POST /_aci-chaos/clock/advance` `{"seconds":N}` | moves a virtual clock |
//! | `POST /_aci-chaos/clock/advance` `{"to":"next"}` | moves a virtual clock to the next planned event |
//! | `POST /_aci-chaos/faults` `{"kind":"rehost","target":ID,"hypothesis":{channel: "kept"\|"lost"\|p}}` | fires a fault now (any kind of [`crate::faults::FaultSpec`]) |
//! | `GET/POST /_aci-chaos/faults/plan` | the fault plan in force; POST adds rules ([`crate::faults::FaultPlan`] as JSON) |
//! | `GET  /_aci-chaos/faults` | every fault that fired |
//! | `PUT/DELETE /_aci-chaos/keyvault/{vault}/secrets/{name}` `{"value":…}` | the simulated Key Vault a container with a managed identity fetches `ACI_CHAOS_KEYVAULT_URI` from at start |
//! | `GET  /_aci-chaos/state` | snapshot, secrets absent |
//! | `POST /_aci-chaos/state/save` | writes the state to the `--state-file` (secrets kept there, mode 0600) |
//! | `POST /_aci-chaos/state/load` | replaces the state with the `--state-file`'s |
//! | `GET  /_aci-chaos/requests` | the request log (method, path and query, status; never bodies) |
//! | `POST /_aci-chaos/reset` | every registered part back to its start (`{"reset":[names]}`) |
//! | `GET  /_aci-chaos/ws/{id}` | the exec/attach websocket (see [`crate::exec`]) |

use crate::api::json;
use crate::clock::{ClockMode, rfc3339};
use crate::error::ArmError;
use crate::faults::{FaultPlan, FaultSpec};
use crate::route::segments;
use crate::shared::Shared;
use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

/// One logged request.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    /// Mock time.
    pub at: String,
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Status answered.
    pub status: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: Option<f64>,
    to: Option<String>,
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ArmError> {
    serde_json::from_slice(body).map_err(|e| ArmError::invalid_content(format!("admin request body is invalid: {e}")))
}

fn clock_mode_name(m: ClockMode) -> String {
    match m {
        ClockMode::Real => "real".into(),
        ClockMode::Virtual => "virtual".into(),
        ClockMode::Scaled(n) => format!("scaled={n}"),
    }
}

fn no_state_file() -> ArmError {
    ArmError::new(
        StatusCode::CONFLICT,
        "NoStateFile",
        "the mock was started without --state-file; restart it with `aci-chaos mock serve --state-file PATH`",
    )
}

/// Handles an admin request against the mock's state; `state_file` is `--state-file`.
pub fn handle(
    shared: &mut Shared,
    state_file: Option<&std::path::Path>,
    method: &Method,
    path: &str,
    body: &Bytes,
) -> Result<Response, ArmError> {
    let world = &mut shared.world;
    let segs = segments(path);
    let segs: Vec<&str> = segs.iter().map(String::as_str).skip(1).collect();
    world.tick();
    match (method, segs.as_slice()) {
        (&Method::GET, ["info"]) => Ok(json(
            StatusCode::OK,
            json!({"mock": "mock-arm", "version": env!("CARGO_PKG_VERSION"), "seed": world.config.seed,
                   "subscription": world.config.subscription, "tenant": world.config.tenant,
                   "clock": clock_mode_name(world.clock.mode()), "now": rfc3339(world.now())}),
        )),
        (&Method::GET, ["clock"]) => {
            Ok(json(StatusCode::OK, json!({"mode": clock_mode_name(world.clock.mode()), "now": rfc3339(world.now())})))
        }
        (&Method::POST, ["clock", "advance"]) => {
            let a: Advance = parse(body)?;
            let moved = match (a.seconds, a.to.as_deref()) {
                (None, Some("next")) => {
                    if world.clock.mode() != ClockMode::Real {
                        world.advance_to_next();
                    }
                    world.clock.mode() != ClockMode::Real
                }
                (Some(seconds), None) => {
                    let room = world.clock.room().as_secs_f64().min(crate::faults::MAX_SPAN.as_secs_f64());
                    if !(seconds.is_finite() && (0.0..=room).contains(&seconds)) {
                        return Err(ArmError::invalid_parameter(format!(
                            "seconds must be a number from 0 to {room:.0} (ten years at most, and not past {}), got {seconds}",
                            crate::clock::rfc3339(crate::clock::HORIZON)
                        )));
                    }
                    world.clock.advance(Duration::from_secs_f64(seconds))
                }
                _ => return Err(ArmError::invalid_parameter("advance takes {\"seconds\": N} or {\"to\": \"next\"}")),
            };
            if !moved {
                return Err(ArmError::new(
                    StatusCode::CONFLICT,
                    "RealClock",
                    "the mock runs on the real clock; start it with --clock virtual to advance time",
                ));
            }
            world.tick();
            Ok(json(StatusCode::OK, json!({"mode": clock_mode_name(world.clock.mode()), "now": rfc3339(world.now())})))
        }
        (&Method::GET, ["faults"]) => Ok(json(StatusCode::OK, json!({"value": world.faults()}))),
        (&Method::POST, ["faults"]) => {
            let f: FaultSpec = parse(body)?;
            let (fired, scheduled) = world.fire(&f)?;
            Ok(json(StatusCode::OK, json!({"value": fired, "scheduled": scheduled})))
        }
        (&Method::GET, ["faults", "plan"]) => Ok(json(StatusCode::OK, serde_json::to_value(world.plan()).unwrap_or_default())),
        (&Method::POST, ["faults", "plan"]) => {
            let plan: FaultPlan = parse(body)?;
            world.add_plan(plan)?;
            Ok(json(StatusCode::OK, serde_json::to_value(world.plan()).unwrap_or_default()))
        }
        (&Method::PUT, ["keyvault", vault, "secrets", name]) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Put {
                value: String,
            }
            let p: Put = parse(body)?;
            Ok(json(StatusCode::OK, world.put_vault_secret(vault, name, &p.value)?))
        }
        (&Method::DELETE, ["keyvault", vault, "secrets", name]) => {
            Ok(json(StatusCode::OK, json!({"deleted": world.delete_vault_secret(vault, name)})))
        }
        (&Method::GET, ["state"]) => Ok(json(StatusCode::OK, world.snapshot())),
        (&Method::POST, ["state", "save"]) => {
            let file = state_file.ok_or_else(no_state_file)?;
            crate::persist::save_file(world, file).map_err(|e| ArmError::new(StatusCode::CONFLICT, "StateFileError", e.to_string()))?;
            Ok(json(StatusCode::OK, json!({"saved": file.display().to_string()})))
        }
        (&Method::POST, ["state", "load"]) => {
            let file = state_file.ok_or_else(no_state_file)?;
            let n =
                crate::persist::load_file(world, file).map_err(|e| ArmError::new(StatusCode::CONFLICT, "StateFileError", e.to_string()))?;
            Ok(json(StatusCode::OK, json!({"loaded": file.display().to_string(), "groups": n})))
        }
        (&Method::GET, ["requests"]) => Ok(json(StatusCode::OK, json!({"value": shared.requests.entries().collect::<Vec<_>>()}))),
        (&Method::POST, ["reset"]) => Ok(json(StatusCode::OK, json!({"reset": shared.reset()}))),
        _ => Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no admin call {method} {path}; see the admin table in the mock-arm docs"),
        )),
    }
}

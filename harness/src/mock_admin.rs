//! The mock's admin plane, reached over HTTP like everything else.

use crate::error::HarnessError;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

/// The admin path prefix (`mock-arm`'s `ADMIN_PREFIX`).
pub const ADMIN_PREFIX: &str = "/_aci-chaos";

/// What `GET /_aci-chaos/info` says.
#[derive(Debug, Clone, Deserialize)]
pub struct MockInfo {
    /// `mock-arm`.
    pub mock: String,
    /// Its version.
    pub version: String,
    /// Its seed.
    pub seed: u64,
    /// The subscription it serves.
    pub subscription: String,
    /// Its tenant.
    pub tenant: String,
    /// `real`, `virtual` or `scaled=N`.
    pub clock: String,
}

/// A fault the mock fired.
#[derive(Debug, Clone, Deserialize)]
pub struct FiredFault {
    /// Order of firing.
    pub seq: u64,
    /// Kind.
    pub kind: String,
    /// Group id.
    pub target: String,
    /// Mock time.
    pub at: String,
    /// Hypothesis per channel.
    pub hypothesis: BTreeMap<String, Value>,
    /// Outcome per channel.
    pub outcome: BTreeMap<String, String>,
}

/// A client of the mock's admin plane.
#[derive(Debug, Clone)]
pub struct MockAdmin {
    http: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct ClockDoc {
    now: String,
}

fn parse_time(s: &str) -> Result<OffsetDateTime, HarnessError> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| HarnessError::Protocol(format!("mock clock time '{s}' is not RFC 3339: {e}")))
}

impl MockAdmin {
    /// An admin client for the mock at `base` (e.g. `http://127.0.0.1:4000`).
    pub fn new(http: reqwest::Client, base: &str) -> Self {
        Self { http, base: base.trim_end_matches('/').to_string() }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, HarnessError> {
        let url = format!("{}{ADMIN_PREFIX}{path}", self.base);
        let mut rb = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.map_err(|e| HarnessError::Transport {
            method: method.to_string(),
            path: format!("{ADMIN_PREFIX}{path}"),
            message: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if status >= 400 {
            return Err(HarnessError::Arm {
                method: method.to_string(),
                path: format!("{ADMIN_PREFIX}{path}"),
                status,
                code: v.pointer("/error/code").and_then(Value::as_str).unwrap_or("Unknown").to_string(),
                message: v.pointer("/error/message").and_then(Value::as_str).unwrap_or("").to_string(),
                request_id: None,
            });
        }
        Ok(v)
    }

    /// Asks whether the target is an aci-chaos mock: `Ok(None)` when it is not.
    pub async fn info(&self) -> Result<Option<MockInfo>, HarnessError> {
        match self.call(reqwest::Method::GET, "/info", None).await {
            Ok(v) => Ok(serde_json::from_value(v).ok()),
            Err(HarnessError::Arm { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The mock's current time.
    pub async fn clock_now(&self) -> Result<OffsetDateTime, HarnessError> {
        let d: ClockDoc = serde_json::from_value(self.call(reqwest::Method::GET, "/clock", None).await?)
            .map_err(|e| HarnessError::Protocol(e.to_string()))?;
        parse_time(&d.now)
    }

    /// Advances a virtual clock; returns the new time.
    pub async fn advance(&self, by: Duration) -> Result<OffsetDateTime, HarnessError> {
        let v = self.call(reqwest::Method::POST, "/clock/advance", Some(json!({"seconds": by.as_secs_f64()}))).await?;
        let d: ClockDoc = serde_json::from_value(v).map_err(|e| HarnessError::Protocol(e.to_string()))?;
        parse_time(&d.now)
    }

    /// Fires a fault now; returns what fired at once (a wave's members and recoveries fire
    /// later: read them with [`MockAdmin::faults`]).
    pub async fn fault(&self, spec: &Value) -> Result<Vec<FiredFault>, HarnessError> {
        let v = self.call(reqwest::Method::POST, "/faults", Some(spec.clone())).await?;
        serde_json::from_value(v.get("value").cloned().unwrap_or_default())
            .map_err(|e| HarnessError::Protocol(format!("mock fault answer: {e}")))
    }

    /// Adds a fault plan (the mock's fault-file format, as JSON).
    pub async fn plan(&self, plan: &Value) -> Result<(), HarnessError> {
        self.call(reqwest::Method::POST, "/faults/plan", Some(plan.clone())).await.map(|_| ())
    }

    /// Stores a secret in the mock's simulated Key Vault.
    pub async fn put_vault_secret(&self, vault: &str, name: &str, value: &crate::secret::Secret) -> Result<(), HarnessError> {
        self.call(reqwest::Method::PUT, &format!("/keyvault/{vault}/secrets/{name}"), Some(json!({"value": value.expose()})))
            .await
            .map(|_| ())
    }

    /// Every fault that fired so far, in order.
    pub async fn faults(&self) -> Result<Vec<FiredFault>, HarnessError> {
        let v = self.call(reqwest::Method::GET, "/faults", None).await?;
        serde_json::from_value(v.get("value").cloned().unwrap_or_default())
            .map_err(|e| HarnessError::Protocol(format!("mock fault log: {e}")))
    }
}

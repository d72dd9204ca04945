//! The one ARM client: bearer auth through `TokenCredential`, retries with jittered back-off
//! that honour `Retry-After`, long-running-operation polling, and a history line per call.

pub mod group;
pub mod lro;
pub mod retry;

use crate::auth::bearer;
use crate::clock::Clock;
use crate::error::HarnessError;
use crate::recorder::Recorder;
use aci_chaos_reports::{ArmCall, Phase, Record};
use azure_core::credentials::TokenCredential;
use reqwest::Method;
use reqwest::header::HeaderMap;
use retry::RetryPolicy;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use tracing::{Instrument, debug, info_span};
use url::Url;

/// The default ACI api-version: what the Python SDK 10.1 sends, and the spec's examples use.
pub const DEFAULT_API_VERSION: &str = "2023-05-01";

/// A response from ARM.
#[derive(Debug, Clone)]
pub struct ArmResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// JSON body (`Null` when empty or not JSON).
    pub body: Value,
    /// `x-ms-request-id`.
    pub request_id: Option<String>,
}

impl ArmResponse {
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An ARM client bound to one endpoint and credential.
#[derive(Clone)]
pub struct ArmClient {
    http: reqwest::Client,
    base: Url,
    credential: Arc<dyn TokenCredential>,
    scope: String,
    api_version: String,
    clock: Arc<dyn Clock>,
    recorder: Recorder,
    retry: RetryPolicy,
    quiet: bool,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient").field("base", &self.base.as_str()).field("api_version", &self.api_version).finish_non_exhaustive()
    }
}

impl ArmClient {
    /// A client for `base` (e.g. `https://management.azure.com`).
    pub fn new(
        http: reqwest::Client,
        base: Url,
        credential: Arc<dyn TokenCredential>,
        api_version: &str,
        clock: Arc<dyn Clock>,
        recorder: Recorder,
        retry: RetryPolicy,
    ) -> Self {
        let scope = crate::auth::arm_scope(base.as_str());
        Self { http, base, credential, scope, api_version: api_version.to_string(), clock, recorder, retry, quiet: false }
    }

    /// The same client, but calls that succeed at once are not written to the history (failures
    /// and retries still are): for the routine reads of a long soak.
    pub fn quiet(&self) -> Self {
        Self { quiet: true, ..self.clone() }
    }

    /// The api-version sent with ACI calls.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The endpoint.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The clock waits use.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Sends a request to a path (with query) on the endpoint, retrying what is retryable.
    /// Any status below 400 is returned; 4xx and 5xx become [`HarnessError::Arm`].
    pub async fn call(&self, method: Method, path_and_query: &str, body: Option<&Value>) -> Result<ArmResponse, HarnessError> {
        let url = self.base.join(path_and_query).map_err(|e| HarnessError::Protocol(format!("bad path {path_and_query}: {e}")))?;
        self.call_url(method, url, body).await
    }

    /// Sends a request to an absolute URL, which must be on the client's endpoint (tokens are
    /// never sent elsewhere).
    pub async fn call_url(&self, method: Method, url: Url, body: Option<&Value>) -> Result<ArmResponse, HarnessError> {
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        if url.origin() != self.base.origin() {
            return Err(HarnessError::Protocol(format!(
                "refusing to send a token to {} (not the ARM endpoint {})",
                url.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            )));
        }
        let span = info_span!("arm", method = %method, path = %url.path());
        async {
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                let note = |phase: Phase, status: Option<u16>, request_id: Option<String>, millis: Option<u64>, error: Option<String>| {
                    // A quiet client writes only what went wrong (and every retry).
                    if self.quiet && attempt == 1 && matches!(phase, Phase::Invoke | Phase::Ok) {
                        return Ok(());
                    }
                    let call = ArmCall { method: method.to_string(), path: path.clone(), status, request_id, attempt, millis, error };
                    self.recorder.record(phase, Record::Arm(call))
                };
                let token = bearer(&self.credential, &self.scope).await?;
                note(Phase::Invoke, None, None, None, None)?;
                let started = Instant::now();
                let mut rb = self.http.request(method.clone(), url.clone()).bearer_auth(token).header("accept", "application/json");
                if let Some(b) = body {
                    rb = rb.json(b);
                }
                let sent = rb.send().await;
                let millis = Some(started.elapsed().as_millis() as u64);
                let resp = match sent {
                    Ok(r) => r,
                    Err(e) => {
                        let message = e.to_string();
                        note(Phase::Fail, None, None, millis, Some(message.clone()))?;
                        if let Some(d) = self.retry.delay(attempt, None) {
                            debug!(attempt, ?d, "transport error, retrying: {message}");
                            self.clock.sleep(d).await?;
                            continue;
                        }
                        return Err(HarnessError::Transport { method: method.to_string(), path, message });
                    }
                };
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let request_id = headers.get("x-ms-request-id").and_then(|v| v.to_str().ok()).map(String::from);
                let bytes = match resp.bytes().await {
                    Ok(b) => b,
                    Err(e) => {
                        // The answer was cut off mid-body: a transport failure, retried like one.
                        let message = format!("answer {status} cut off: {e}");
                        note(Phase::Fail, Some(status), request_id.clone(), millis, Some(message.clone()))?;
                        if let Some(d) = self.retry.delay(attempt, None) {
                            self.clock.sleep(d).await?;
                            continue;
                        }
                        return Err(HarnessError::Transport { method: method.to_string(), path, message });
                    }
                };
                let body: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
                if status < 400 {
                    note(Phase::Ok, Some(status), request_id.clone(), millis, None)?;
                    return Ok(ArmResponse { status, headers, body, request_id });
                }
                let code = body.pointer("/error/code").and_then(Value::as_str).unwrap_or("").to_string();
                let message = body.pointer("/error/message").and_then(Value::as_str).unwrap_or("").to_string();
                note(Phase::Fail, Some(status), request_id.clone(), millis, Some(code.clone()))?;
                if RetryPolicy::retryable(status) {
                    let retry_after = headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(retry::parse_retry_after);
                    if let Some(d) = self.retry.delay(attempt, retry_after) {
                        debug!(attempt, status, ?d, "retrying");
                        self.clock.sleep(d).await?;
                        continue;
                    }
                }
                return Err(HarnessError::Arm { method: method.to_string(), path, status, code, message, request_id });
            }
        }
        .instrument(span)
        .await
    }
}

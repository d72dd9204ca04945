//! Long-running operations: poll `Azure-AsyncOperation` (or `Location`) until a final state.

use super::{ArmClient, ArmResponse};
use crate::error::HarnessError;
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// How long a long-running operation may take before the harness gives up on it.
pub const DEFAULT_LRO_TIMEOUT: Duration = Duration::from_secs(15 * 60);

impl ArmClient {
    /// Waits for the operation a response started, if it started one. Returns the final status.
    pub async fn wait_lro(&self, resp: &ArmResponse, what: &str, timeout: Duration) -> Result<String, HarnessError> {
        let (url, via_status) = match (resp.header("azure-asyncoperation"), resp.header("location")) {
            (Some(u), _) => (u, true),
            (None, Some(u)) => (u, false),
            (None, None) => return Ok("Succeeded".into()),
        };
        let url = Url::parse(url).map_err(|e| HarnessError::Protocol(format!("{what}: bad operation URL {url}: {e}")))?;
        let mut wait = resp.header("retry-after").and_then(super::retry::parse_retry_after).unwrap_or(Duration::from_secs(1));
        let start = self.clock().now();
        loop {
            self.clock().sleep(wait).await?;
            let r = self.call_url(Method::GET, url.clone(), None).await?;
            if let Some(d) = r.header("retry-after").and_then(super::retry::parse_retry_after) {
                wait = d.max(Duration::from_secs(1));
            }
            let status = if via_status {
                r.body.get("status").and_then(Value::as_str).unwrap_or("").to_string()
            } else if r.status == 202 {
                "InProgress".into()
            } else {
                "Succeeded".into()
            };
            match status.as_str() {
                "Succeeded" => return Ok(status),
                "Failed" | "Canceled" | "Cancelled" => {
                    let err = r.body.pointer("/error/message").and_then(Value::as_str).unwrap_or("");
                    return Err(HarnessError::Lro { path: what.to_string(), outcome: format!("ended {status} {err}") });
                }
                _ => {}
            }
            if self.clock().now() - start > timeout {
                return Err(HarnessError::Lro {
                    path: what.to_string(),
                    outcome: format!("still {status} after {}", humantime::format_duration(timeout)),
                });
            }
        }
    }
}

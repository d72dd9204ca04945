//! The exec check: run the probe's report inside the container through ARM's exec API.
//!
//! `POST …/containers/{c}/exec` answers `{"webSocketUri","password"}`; the client opens the
//! websocket, sends the password as the first text frame, and everything it then receives is
//! the command's output until the server closes the socket (the Azure CLI's protocol).

use crate::arm::ArmClient;
use crate::arm::group::GroupRef;
use crate::error::HarnessError;
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Where the probe installs its one-shot report, so exec can run it without arguments (ACI's
/// exec starts a single process and passes no arguments).
pub const REPORT_COMMAND: &str = "/tmp/aci-chaos-probe";

/// The most output an exec session may send.
pub const MAX_OUTPUT: usize = 1 << 20;

/// Runs `command` in a container and returns what it printed.
pub async fn exec(client: &ArmClient, g: &GroupRef, container: &str, command: &str, timeout: Duration) -> Result<String, HarnessError> {
    let path = format!("{}/containers/{container}/exec?api-version={}", g.id(), client.api_version());
    let r = client.call(Method::POST, &path, Some(&json!({"command": command, "terminalSize": {"rows": 24, "cols": 200}}))).await?;
    let uri = r
        .body
        .get("webSocketUri")
        .and_then(Value::as_str)
        .ok_or_else(|| HarnessError::Protocol("exec: no webSocketUri in the answer".into()))?;
    let password = r.body.get("password").and_then(Value::as_str).unwrap_or_default().to_string();
    let session = async {
        // The extra roots of --ca-cert (if any) are trusted here as for ARM calls.
        let connector = client.ws_connector()?;
        let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(uri, None, false, connector)
            .await
            .map_err(|e| HarnessError::Protocol(format!("exec websocket: {e}")))?;
        ws.send(Message::Text(password.into())).await.map_err(|e| HarnessError::Protocol(format!("exec websocket: {e}")))?;
        let mut out = Vec::new();
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Text(t)) => out.extend_from_slice(t.as_bytes()),
                Ok(Message::Binary(b)) => out.extend_from_slice(&b),
                Ok(Message::Close(frame)) => {
                    if let Some(f) = frame.filter(|f| f.code != tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal)
                    {
                        return Err(HarnessError::Protocol(format!("exec closed with {}: {}", f.code, f.reason)));
                    }
                    break;
                }
                Ok(_) => {}
                Err(e) => return Err(HarnessError::Protocol(format!("exec websocket: {e}"))),
            }
            if out.len() > MAX_OUTPUT {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    tokio::time::timeout(timeout, session)
        .await
        .map_err(|_| HarnessError::Protocol(format!("exec did not finish within {}", humantime::format_duration(timeout))))?
}

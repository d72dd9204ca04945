//! ARM-shaped errors (`{"error":{"code","message"}}`) and the mock's own start-up errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error as ARM returns it: an HTTP status, a code and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmError {
    /// HTTP status of the response.
    pub status: StatusCode,
    /// ARM error code, e.g. `ResourceNotFound`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

impl ArmError {
    /// Builds an error from its parts.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_string(), message: message.into() }
    }

    /// `400 InvalidRequestContent`, for bodies that are not the JSON ARM expects.
    pub fn invalid_content(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequestContent", message)
    }

    /// `400 InvalidParameter`, for a field with a value ARM does not accept.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameter", message)
    }

    /// `404 ResourceNotFound` for a container group.
    pub fn group_not_found(rg: &str, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!(
                "The Resource 'Microsoft.ContainerInstance/containerGroups/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }

    /// `404 ResourceGroupNotFound`.
    pub fn resource_group_not_found(rg: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceGroupNotFound", format!("Resource group '{rg}' could not be found."))
    }

    /// `409 Conflict` while another operation runs on the same group.
    pub fn conflict_in_progress(name: &str) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict", format!("The container group '{name}' is still transitioning, please retry later."))
    }

    /// The JSON body ARM sends with this error.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// Errors starting or running the mock server itself.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (hint: pick another port, or 127.0.0.1:0 for a free one)")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("mock server failed: {0}")]
    Serve(#[from] std::io::Error),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The state file could not be loaded.
    #[error(transparent)]
    State(#[from] crate::persist::PersistError),
}

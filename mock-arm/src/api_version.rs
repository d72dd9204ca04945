//! Which `api-version` values the mock accepts, and the errors ARM gives for the others.

use crate::error::ArmError;
use axum::http::StatusCode;

/// Every api-version the mock answers: those real clients send (Python SDK 10.1: `2023-05-01`,
/// Azure CLI 2.91: `2024-05-01-preview`, PowerShell: `2022-10-01-preview`), the newest stable
/// ones, the older ones seen in recorded traffic, and `2018-06-01` for operation status.
pub const SUPPORTED: &[&str] = &[
    "2018-06-01",
    "2021-03-01",
    "2021-09-01",
    "2021-10-01",
    "2022-09-01",
    "2022-10-01-preview",
    "2023-02-01-preview",
    "2023-05-01",
    "2024-05-01-preview",
    "2024-10-01-preview",
    "2024-11-01-preview",
    "2025-09-01",
    "2026-05-01",
];

/// Api-versions for the resource-manager calls the mock serves beside ACI (resource groups,
/// subscriptions, metadata).
pub const RESOURCE_MANAGER: &[&str] =
    &["2019-11-01", "2020-01-01", "2021-01-01", "2021-04-01", "2022-01-01", "2022-09-01", "2022-12-01", "2024-03-01", "2024-11-01"];

/// Checks the `api-version` query value of a request against a list of accepted versions.
pub fn check(value: Option<&str>, accepted: &[&str], resource_type: &str) -> Result<(), ArmError> {
    match value {
        None | Some("") => Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )),
        Some(v) if accepted.iter().any(|a| a.eq_ignore_ascii_case(v)) => Ok(()),
        Some(v) => Err(ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{v}' is invalid. The supported versions are '{}' for resource type '{resource_type}'.",
                accepted.join(",")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_invalid_versions_are_refused_with_arm_codes() {
        assert_eq!(check(None, SUPPORTED, "x").unwrap_err().code, "MissingApiVersionParameter");
        let e = check(Some("1999-01-01"), SUPPORTED, "containerGroups").unwrap_err();
        assert_eq!(e.code, "InvalidApiVersionParameter");
        assert!(e.message.contains("2023-05-01"));
        assert!(check(Some("2023-05-01"), SUPPORTED, "x").is_ok());
        assert!(check(Some("2024-05-01-PREVIEW"), SUPPORTED, "x").is_ok());
    }
}

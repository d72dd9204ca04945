//! The aci-chaos engine: deploys test agent groups, drives lifecycle steps at them, checks from
//! inside the container whether each secret survived, and records everything as history.
//!
//! Data flows one way: suite file → plan → [`runner`] → ARM (or the mock, over HTTP) →
//! observations → verdicts → history (the `aci-chaos-reports` crate renders it).

pub mod arm;
pub mod auth;
pub mod channel;
pub mod check;
pub mod cleanup;
pub mod clock;
pub mod error;
pub mod exec;
pub mod inspect;
pub mod mock_admin;
pub mod plan;
pub mod probe;
pub mod recorder;
pub mod runner;
pub mod secret;
pub mod state;
pub mod suite;
pub mod template;

pub use error::HarnessError;

/// Reads the system time (wall clock) as RFC 3339, for history lines.
pub fn wall_now() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// Formats a time as RFC 3339 (UTC).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

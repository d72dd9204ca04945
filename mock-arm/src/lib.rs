//! A mock Azure Resource Manager for Azure Container Instances.
//!
//! `mock-arm` answers the ACI control-plane calls the way ARM does (paths, api-version checks,
//! bearer auth, long-running operations, ARM error bodies, secrets never echoed) and, below the
//! API, simulates what clients cannot see: hosts and zones, containers running the aci-chaos
//! probe contract, and faults such as a rehost that loses secure values.
//!
//! It stands alone: it knows nothing of the harness, which reaches it only over HTTP.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mock_arm::MockError> {
//! let mock = mock_arm::MockServer::start(mock_arm::MockConfig::default()).await?;
//! println!("mock ARM at {}", mock.base_url());
//! # Ok(()) }
//! ```

pub mod aad;
pub mod activity;
pub mod admin;
pub mod api;
pub mod api_version;
pub mod clock;
pub mod error;
pub mod exec;
pub mod faults;
pub mod model;
pub mod persist;
pub mod probe;
pub mod ratelimit;
pub mod redact;
pub mod route;
pub mod server;
pub mod shared;
pub mod tls;
pub mod validate;
pub mod world;

pub use clock::ClockMode;
pub use error::{ArmError, MockError};
pub use server::{MockConfig, MockServer};

/// The reserved path prefix of the admin plane (reset, clock, faults, snapshots).
pub const ADMIN_PREFIX: &str = "/_aci-chaos";

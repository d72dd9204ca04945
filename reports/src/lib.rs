//! The evidence model of aci-chaos and its writers.
//!
//! The harness appends [`HistoryLine`]s to `history.jsonl` as it works; everything else
//! (`evidence.csv`, `report.md`, `junit.xml`) is derived from that history, so a report can
//! always be regenerated from it ([`output::render_dir`]) and several runs combined into one
//! ([`output::merge_dirs`]). Subscription and tenant ids are masked in every file unless asked
//! not to ([`redact`]); secrets never reach this crate, only their fingerprints. This crate
//! never talks to ARM.

pub mod csv_out;
pub mod error;
pub mod history;
pub mod junit;
pub mod markdown;
pub mod mermaid;
pub mod model;
pub mod output;
pub mod redact;
pub mod summary;
pub mod time_fmt;

pub use error::ReportError;
pub use history::{HistoryWriter, read_history};
pub use model::*;
pub use redact::Redactor;
pub use summary::{Evidence, Row, RunInfo, SeenFault, Summary};

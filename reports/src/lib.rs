//! The evidence model of aci-chaos and its writers.
//!
//! The harness appends [`HistoryLine`]s to `history.jsonl` as it works; everything else
//! (`evidence.csv`, `report.md`) is derived from that history, so a report can always be
//! regenerated from it. This crate never talks to ARM.

pub mod csv_out;
pub mod error;
pub mod history;
pub mod markdown;
pub mod model;
pub mod summary;

pub use error::ReportError;
pub use history::{HistoryWriter, read_history};
pub use model::*;
pub use summary::{Evidence, Summary};

//! The run's history: every ARM call, step, check and fault, stamped with target and wall time.

use crate::clock::Clock;
use crate::error::HarnessError;
use aci_chaos_reports::{HistoryLine, HistoryWriter, Phase, Record};
use std::sync::{Arc, Mutex};

struct Inner {
    writer: Option<HistoryWriter>,
    seq: u64,
    lines: Vec<HistoryLine>,
}

/// Appends to `history.jsonl` (and keeps the lines in memory for the reports).
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder writing to `writer` (or only to memory when `None`).
    pub fn new(writer: Option<HistoryWriter>, clock: Arc<dyn Clock>) -> Self {
        Self::resume(writer, 0, clock)
    }

    /// A recorder going on from line `seq` of an existing history (a resumed run).
    pub fn resume(writer: Option<HistoryWriter>, seq: u64, clock: Arc<dyn Clock>) -> Self {
        Self { inner: Arc::new(Mutex::new(Inner { writer, seq, lines: Vec::new() })), clock }
    }

    /// How much history is written: the last `seq` and the file's length.
    pub fn mark(&self) -> crate::state::HistoryMark {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        crate::state::HistoryMark { seq: g.seq, bytes: g.writer.as_ref().map(HistoryWriter::bytes).unwrap_or(0) }
    }

    /// Records one line.
    pub fn record(&self, phase: Phase, record: Record) -> Result<(), HarnessError> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.seq += 1;
        let line = HistoryLine { seq: g.seq, phase, time: crate::rfc3339(self.clock.now()), wall: crate::wall_now(), record };
        if let Some(w) = g.writer.as_mut() {
            w.append(&line)?;
        }
        g.lines.push(line);
        Ok(())
    }

    /// Every line recorded so far.
    pub fn lines(&self) -> Vec<HistoryLine> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).lines.clone()
    }

    /// The clock lines are stamped with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}

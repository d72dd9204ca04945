//! The mock's clock: real time, or a virtual time that moves only when told.
//!
//! Every time the mock reports (timestamps, LRO completion, container runs, heartbeats) comes
//! from here, so a virtual clock makes whole runs reproducible and free of wall time.

use std::time::{Duration, Instant};
use time::OffsetDateTime;
use time::macros::datetime;

/// The latest time a virtual clock may reach: far beyond any soak, far before the calendar ends.
pub const HORIZON: OffsetDateTime = datetime!(2226-01-01 00:00:00 UTC);

/// The instant a virtual clock starts at: fixed, so the same seed gives the same timestamps.
pub const VIRTUAL_EPOCH: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

/// The fastest a scaled clock may run (a million times: a year in about 30 seconds).
pub const MAX_SCALE: f64 = 1_000_000.0;

/// How the mock's clock runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockMode {
    /// Wall-clock time.
    Real,
    /// Time moves only when advanced through the admin API.
    Virtual,
    /// Wall-clock time sped up N times, starting at the virtual epoch.
    Scaled(f64),
}

impl std::str::FromStr for ClockMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "real" => Ok(Self::Real),
            "virtual" => Ok(Self::Virtual),
            other => match other.strip_prefix("scaled=").map(str::parse::<f64>) {
                Some(Ok(n)) if n > 0.0 && n <= MAX_SCALE => Ok(Self::Scaled(n)),
                _ => Err(format!("unknown clock mode '{other}': expected real, virtual or scaled=N (0 < N ≤ {MAX_SCALE})")),
            },
        }
    }
}

/// A clock in one of the [`ClockMode`]s.
#[derive(Debug)]
pub struct Clock {
    mode: ClockMode,
    origin: Instant,
    origin_time: OffsetDateTime,
    virtual_now: OffsetDateTime,
}

impl Clock {
    /// A new clock in the given mode.
    pub fn new(mode: ClockMode) -> Self {
        let origin_time = match mode {
            ClockMode::Real => OffsetDateTime::now_utc(),
            _ => VIRTUAL_EPOCH,
        };
        Self { mode, origin: Instant::now(), origin_time, virtual_now: VIRTUAL_EPOCH }
    }

    /// When the clock started (the virtual epoch, or the wall time the mock started at).
    pub fn start(&self) -> OffsetDateTime {
        self.origin_time
    }

    /// The clock's mode.
    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    /// The current time on this clock.
    pub fn now(&self) -> OffsetDateTime {
        match self.mode {
            ClockMode::Real => OffsetDateTime::now_utc(),
            ClockMode::Virtual => self.virtual_now,
            ClockMode::Scaled(n) => self.origin_time + self.origin.elapsed().mul_f64(n) + (self.virtual_now - VIRTUAL_EPOCH),
        }
    }

    /// Moves a virtual (or scaled) clock forward. A real clock cannot be moved: returns false.
    pub fn advance(&mut self, by: Duration) -> bool {
        match self.mode {
            ClockMode::Real => false,
            _ => {
                // Past the simulation's horizon the clock stays put (the admin plane refuses such
                // advances before they get here).
                if let Some(t) = self.virtual_now.checked_add(by.try_into().unwrap_or(time::Duration::MAX)).filter(|t| *t <= HORIZON) {
                    self.virtual_now = t;
                }
                true
            }
        }
    }

    /// How far a virtual clock may still move before it reaches [`HORIZON`].
    pub fn room(&self) -> Duration {
        (HORIZON - self.now()).try_into().unwrap_or_default()
    }
}

/// Formats a time the way ARM does (RFC 3339, UTC, `Z`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_moves_only_when_advanced() {
        let mut c = Clock::new(ClockMode::Virtual);
        assert_eq!(c.now(), VIRTUAL_EPOCH);
        assert!(c.advance(Duration::from_secs(90)));
        assert_eq!(rfc3339(c.now()), "2026-01-01T00:01:30Z");
        let mut r = Clock::new(ClockMode::Real);
        assert!(!r.advance(Duration::from_secs(1)));
    }

    #[test]
    fn clock_modes_parse_with_clear_errors() {
        assert_eq!("virtual".parse::<ClockMode>(), Ok(ClockMode::Virtual));
        assert_eq!("scaled=60".parse::<ClockMode>(), Ok(ClockMode::Scaled(60.0)));
        assert!("scaled=-1".parse::<ClockMode>().unwrap_err().contains("expected real"));
        assert!("fast".parse::<ClockMode>().is_err());
    }
}

//! Retry policy: which answers are retried, and how long to wait (ARM's `Retry-After` first,
//! else exponential back-off with jitter).

use std::time::Duration;

/// How many times and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first included).
    pub max_attempts: u32,
    /// First back-off.
    pub base: Duration,
    /// Longest back-off (and longest `Retry-After` honoured).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 6, base: Duration::from_secs(1), max: Duration::from_secs(60) }
    }
}

impl RetryPolicy {
    /// Throttling and server errors are retried; other 4xx are the caller's to fix.
    pub fn retryable(status: u16) -> bool {
        status == 429 || status == 408 || (500..600).contains(&status) && status != 501
    }

    /// The wait before attempt `attempt + 1`, or `None` when attempts are used up.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        if let Some(d) = retry_after {
            return Some(d.min(self.max));
        }
        let exp = self.base.saturating_mul(1u32 << (attempt - 1).min(16)).min(self.max);
        // Deterministic jitter (±20 %) from the attempt number, so the same seed replays alike.
        let jitter = 0.8 + 0.4 * (((attempt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f64 / (1u64 << 24) as f64);
        Some(exp.mul_f64(jitter).min(self.max))
    }
}

/// Parses `Retry-After` (seconds; HTTP dates are read as "retry soon").
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    match v.trim().parse::<u64>() {
        Ok(s) => Some(Duration::from_secs(s)),
        Err(_) if !v.trim().is_empty() => Some(Duration::from_secs(1)),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_wins_and_attempts_run_out() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, Some(Duration::from_secs(7))), Some(Duration::from_secs(7)));
        assert_eq!(p.delay(1, Some(Duration::from_secs(7000))), Some(Duration::from_secs(60)));
        assert!(p.delay(6, None).is_none());
        let d1 = p.delay(1, None).unwrap();
        let d3 = p.delay(3, None).unwrap();
        assert!(d1 >= Duration::from_millis(800) && d1 <= Duration::from_millis(1200), "{d1:?}");
        assert!(d3 > d1);
        assert!(RetryPolicy::retryable(429) && RetryPolicy::retryable(503) && !RetryPolicy::retryable(404));
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
    }
}

//! ARM's subscription rate limits: a token bucket of reads and one of writes per subscription,
//! refilled continuously on the mock's clock. Every ARM answer carries what is left
//! (`x-ms-ratelimit-remaining-subscription-reads` on reads, `-writes` on writes); an empty
//! bucket answers `429 SubscriptionRequestsThrottled` with `Retry-After`, as ARM does.
//!
//! The control-plane fault `effect = "ratelimit-budget"` (with `reads = N` and/or `writes = N`)
//! sets every subscription's buckets that low at once, so a client can be seen slowing down.

use crate::error::ArmError;
use axum::http::StatusCode;
use std::time::Duration;
use time::OffsetDateTime;

/// Reads per subscription per hour (the bucket's size).
pub const READS_PER_HOUR: f64 = 12_000.0;
/// Writes per subscription per hour (the bucket's size).
pub const WRITES_PER_HOUR: f64 = 1_200.0;

/// The response header with the reads left.
pub const READS_HEADER: &str = "x-ms-ratelimit-remaining-subscription-reads";
/// The response header with the writes left.
pub const WRITES_HEADER: &str = "x-ms-ratelimit-remaining-subscription-writes";

#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    tokens: f64,
    size: f64,
    at: OffsetDateTime,
}

impl Bucket {
    fn full(size: f64, at: OffsetDateTime) -> Self {
        Self { tokens: size, size, at }
    }

    fn refill(&mut self, now: OffsetDateTime) {
        if now > self.at {
            let secs = (now - self.at).as_seconds_f64();
            self.tokens = (self.tokens + secs * self.size / 3600.0).min(self.size);
            self.at = now;
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Subscription {
    id: String,
    reads: Bucket,
    writes: Bucket,
}

/// The buckets of every subscription that was called.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimits {
    subs: Vec<Subscription>,
    /// A budget fault in force: new subscriptions' buckets start this low too.
    budget: (Option<u64>, Option<u64>),
}

impl RateLimits {
    fn sub(&mut self, id: &str, now: OffsetDateTime) -> &mut Subscription {
        let i = match self.subs.iter().position(|s| s.id.eq_ignore_ascii_case(id)) {
            Some(i) => i,
            None => {
                let mut s = Subscription {
                    id: id.to_string(),
                    reads: Bucket::full(READS_PER_HOUR, now),
                    writes: Bucket::full(WRITES_PER_HOUR, now),
                };
                apply_budget(&mut s, self.budget);
                self.subs.push(s);
                self.subs.len() - 1
            }
        };
        &mut self.subs[i]
    }

    /// Takes one request from a subscription's read or write bucket: the header to answer with
    /// and what is left, or ARM's 429 with the `Retry-After` until a request is allowed.
    pub fn take(&mut self, subscription: &str, write: bool, now: OffsetDateTime) -> Result<(&'static str, u64), (ArmError, Duration)> {
        let s = self.sub(subscription, now);
        let (bucket, header, what) = if write { (&mut s.writes, WRITES_HEADER, "write") } else { (&mut s.reads, READS_HEADER, "read") };
        bucket.refill(now);
        if bucket.tokens < 1.0 {
            let wait = ((1.0 - bucket.tokens) * 3600.0 / bucket.size).ceil().max(1.0);
            let err = ArmError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "SubscriptionRequestsThrottled",
                format!(
                    "Number of '{what}' requests for subscription '{subscription}' exceeded. Please try again after '{wait}' seconds after the last request. See https://aka.ms/ARMThrottling for more details."
                ),
            );
            return Err((err, Duration::from_secs_f64(wait)));
        }
        bucket.tokens -= 1.0;
        Ok((header, bucket.tokens.floor() as u64))
    }

    /// A `ratelimit-budget` fault: every subscription's buckets (and those of subscriptions
    /// not called yet) are set to at most these many requests; they refill as usual after.
    pub fn set_budget(&mut self, reads: Option<u64>, writes: Option<u64>) {
        self.budget = (reads.or(self.budget.0), writes.or(self.budget.1));
        for s in &mut self.subs {
            apply_budget(s, (reads, writes));
        }
    }
}

fn apply_budget(s: &mut Subscription, (reads, writes): (Option<u64>, Option<u64>)) {
    if let Some(r) = reads {
        s.reads.tokens = s.reads.tokens.min(r as f64);
    }
    if let Some(w) = writes {
        s.writes.tokens = s.writes.tokens.min(w as f64);
    }
}

/// The subscription a request path is under (`/subscriptions/{id}/…`), without allocating.
pub fn subscription_of(path: &str) -> Option<&str> {
    let rest = path.trim_start_matches('/');
    let (first, rest) = rest.split_once('/')?;
    if !first.eq_ignore_ascii_case("subscriptions") {
        return None;
    }
    let id = rest.split('/').next().filter(|s| !s.is_empty())?;
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn buckets_count_down_refill_on_the_clock_and_throttle_when_empty() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let mut r = RateLimits::default();
        assert_eq!(r.take("s", false, t0).unwrap(), (READS_HEADER, 11_999));
        assert_eq!(r.take("S", false, t0).unwrap(), (READS_HEADER, 11_998));
        assert_eq!(r.take("s", true, t0).unwrap(), (WRITES_HEADER, 1_199));
        r.set_budget(None, Some(1));
        assert_eq!(r.take("s", true, t0).unwrap(), (WRITES_HEADER, 0));
        let (e, wait) = r.take("s", true, t0).unwrap_err();
        assert_eq!(e.code, "SubscriptionRequestsThrottled");
        assert_eq!(wait, Duration::from_secs(3));
        assert!(r.take("s", true, t0 + Duration::from_secs(3)).is_ok());
        assert_eq!(r.take("s", false, t0).unwrap().1, 11_997);
        assert_eq!(r.take("other", true, t0).unwrap().1, 0, "the budget holds for new subscriptions too");
    }

    #[test]
    fn the_subscription_comes_from_the_path() {
        assert_eq!(subscription_of("/subscriptions/abc/resourceGroups/rg"), Some("abc"));
        assert_eq!(subscription_of("/SUBSCRIPTIONS/abc"), Some("abc"));
        assert_eq!(subscription_of("/subscriptions"), None);
        assert_eq!(subscription_of("/providers/x"), None);
    }
}

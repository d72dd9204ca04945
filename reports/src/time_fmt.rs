//! Times in reports: RFC 3339 in, `t+1h02m` offsets out.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parses an RFC 3339 time.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// `t+5s`, `t+10m05s`, `t+2h03m`, `t+90d04h`: how long after `start` the time `t` is; `t?` when
/// either cannot be read.
pub fn since(t: &str, start: &str) -> String {
    match (parse(t), parse(start)) {
        (Some(t), Some(s)) => format!("t+{}", short((t - s).whole_seconds().max(0) as u64)),
        _ => "t?".into(),
    }
}

/// A duration in seconds, short: `5s`, `10m05s`, `2h03m`, `90d04h`.
pub fn short(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Seconds between two RFC 3339 times (fractional), if both parse and `b` is not before `a`.
pub fn seconds_between(a: &str, b: &str) -> Option<f64> {
    let d = parse(b)? - parse(a)?;
    (!d.is_negative()).then(|| d.as_seconds_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_well() {
        assert_eq!(since("2026-01-01T00:10:05Z", "2026-01-01T00:00:00Z"), "t+10m05s");
        assert_eq!(since("2026-04-01T04:00:00Z", "2026-01-01T00:00:00Z"), "t+90d04h");
        assert_eq!(since("x", "2026-01-01T00:00:00Z"), "t?");
        assert_eq!(short(3), "3s");
        assert_eq!(seconds_between("2026-01-01T00:00:00Z", "2026-01-01T00:00:01.5Z"), Some(1.5));
    }
}

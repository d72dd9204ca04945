//! Reading the probe contract: the probe's report line, and the agent's missing-token message.
//!
//! `aci-chaos-probe v=1 boot=<boot id> host=<host> <channel>=<fingerprint|MISSING> …`

use std::collections::BTreeMap;

/// The prefix of every probe line.
pub const PREFIX: &str = "aci-chaos-probe";

/// Messages the agents' start scripts print when their token is empty.
pub const MISSING_TOKEN_MESSAGES: &[&str] =
    &["error: missing AZP_TOKEN environment variable", "error: missing GH_RUNNER_TOKEN environment variable"];

/// What the probe says it sees on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The fingerprint of the value it sees.
    Fingerprint(String),
    /// No value (absent or empty).
    Missing,
}

/// A parsed probe line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeLine {
    /// Boot id of the placement.
    pub boot: String,
    /// Host name.
    pub host: String,
    /// What it sees, per channel name.
    pub channels: BTreeMap<String, Observed>,
}

/// Why a line that claims to be a probe line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeLineError {
    /// Not a probe line at all.
    #[error("not a probe line")]
    NotAProbeLine,
    /// A protocol version this harness does not know.
    #[error("probe protocol version `{0}` is not supported (expected v=1)")]
    Version(String),
    /// A field is malformed.
    #[error("garbled probe line: {0}")]
    Garbled(String),
}

fn is_fingerprint(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses one probe line.
pub fn parse_line(line: &str) -> Result<ProbeLine, ProbeLineError> {
    let mut words = line.split_whitespace();
    if words.next() != Some(PREFIX) {
        return Err(ProbeLineError::NotAProbeLine);
    }
    let mut version = None;
    let mut boot = None;
    let mut host = None;
    let mut channels = BTreeMap::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(ProbeLineError::Garbled(format!("`{w}` is not key=value")));
        };
        match k {
            "v" => version = Some(v.to_string()),
            "boot" => boot = Some(v.to_string()),
            "host" => host = Some(v.to_string()),
            ch => {
                let obs = if v == "MISSING" {
                    Observed::Missing
                } else if is_fingerprint(v) {
                    Observed::Fingerprint(v.to_string())
                } else {
                    return Err(ProbeLineError::Garbled(format!("`{ch}` has `{v}`, expected 16 hex digits or MISSING")));
                };
                if channels.insert(ch.to_string(), obs).is_some() {
                    return Err(ProbeLineError::Garbled(format!("`{ch}` appears twice")));
                }
            }
        }
    }
    match version.as_deref() {
        Some("1") => {}
        Some(v) => return Err(ProbeLineError::Version(v.to_string())),
        None => return Err(ProbeLineError::Garbled("no `v=` field".into())),
    }
    let boot = boot.filter(|b| !b.is_empty()).ok_or_else(|| ProbeLineError::Garbled("no `boot=` field".into()))?;
    let host = host.filter(|h| !h.is_empty()).ok_or_else(|| ProbeLineError::Garbled("no `host=` field".into()))?;
    Ok(ProbeLine { boot, host, channels })
}

/// What a container's logs say, read from the newest line back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogReading {
    /// The newest probe line.
    Probe(ProbeLine),
    /// The agent's start script reported its token missing (and exited).
    MissingToken(String),
    /// The newest probe line could not be read.
    Garbled(String),
    /// No probe line and no agent message.
    Nothing,
}

/// Reads the newest meaningful line of a container's logs.
pub fn read_logs(logs: &str) -> LogReading {
    for line in logs.lines().rev() {
        let line = line.trim();
        if let Some(m) = MISSING_TOKEN_MESSAGES.iter().find(|m| line.ends_with(*m)) {
            return LogReading::MissingToken(m.to_string());
        }
        match line.find(PREFIX).map(|i| parse_line(&line[i..])) {
            None | Some(Err(ProbeLineError::NotAProbeLine)) => continue,
            Some(Ok(p)) => return LogReading::Probe(p),
            Some(Err(e)) => return LogReading::Garbled(e.to_string()),
        }
    }
    LogReading::Nothing
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = "aci-chaos-probe v=1 boot=0a1b2c3d4e5f host=host-z1-0042 secure-env=0123456789abcdef plain-env=MISSING";

    #[test]
    fn parses_a_good_line() {
        let p = parse_line(GOOD).unwrap();
        assert_eq!(p.boot, "0a1b2c3d4e5f");
        assert_eq!(p.host, "host-z1-0042");
        assert_eq!(p.channels["secure-env"], Observed::Fingerprint("0123456789abcdef".into()));
        assert_eq!(p.channels["plain-env"], Observed::Missing);
    }

    #[test]
    fn garbled_lines_are_errors_not_guesses() {
        for bad in [
            "aci-chaos-probe v=1 boot=b host=h secure-env=0123",
            "aci-chaos-probe v=1 boot=b host=h secure-env",
            "aci-chaos-probe v=2 boot=b host=h",
            "aci-chaos-probe boot=b host=h",
            "aci-chaos-probe v=1 host=h",
            "aci-chaos-probe v=1 boot=b host=h secure-env=MISSING secure-env=MISSING",
            "aci-chaos-probe v=1 boot=b host=h secure-env=0123456789ABCDEF",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
            assert!(matches!(read_logs(bad), LogReading::Garbled(_)), "{bad}");
        }
    }

    #[test]
    fn newest_line_wins_and_agent_message_is_recognised() {
        let logs = format!("{GOOD}\nsome noise\n{}\n", GOOD.replace("plain-env=MISSING", "plain-env=fedcba9876543210"));
        let LogReading::Probe(p) = read_logs(&logs) else { panic!() };
        assert_eq!(p.channels["plain-env"], Observed::Fingerprint("fedcba9876543210".into()));
        assert_eq!(
            read_logs("error: missing AZP_TOKEN environment variable\n"),
            LogReading::MissingToken(MISSING_TOKEN_MESSAGES[0].into())
        );
        assert_eq!(read_logs("hello\n"), LogReading::Nothing);
        assert_eq!(read_logs(""), LogReading::Nothing);
        let stamped = format!("2026-01-01T00:00:00Z {GOOD}");
        assert!(matches!(read_logs(&stamped), LogReading::Probe(_)));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_logs(s in "\\PC*") {
            let _ = read_logs(&s);
            let _ = read_logs(&format!("aci-chaos-probe {s}"));
        }
    }
}

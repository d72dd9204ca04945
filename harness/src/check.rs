//! Checks: what ARM shows of a group, what the container says it sees, and the verdict per
//! channel. A check that could not observe says `unknown`, never `survived`.

use crate::channel::Channel;
use crate::probe::{LogReading, Observed};
use crate::secret::fingerprint;
use aci_chaos_reports::{ArmView, PlacementView, Verdict};
use serde_json::Value;

/// The ARM view of a group's probe container, from a `GET` body. Secret values never enter it:
/// plain values are shown as fingerprints, secure entries by name only.
pub fn arm_view(body: &Value, container: &str) -> ArmView {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let c = body
        .pointer("/properties/containers")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c.get("name").and_then(Value::as_str) == Some(container)));
    let state = |p: &str| {
        let st = c.and_then(|c| c.pointer(p));
        let name = s(st.and_then(|x| x.get("state")));
        let detail = s(st.and_then(|x| x.get("detailStatus")));
        let exit = st.and_then(|x| x.get("exitCode")).and_then(Value::as_i64);
        let mut out = name;
        if !detail.is_empty() {
            out = format!("{out} ({detail})");
        }
        if let Some(e) = exit {
            out = format!("{out} exit {e}");
        }
        out
    };
    let env_entries = c
        .and_then(|c| c.pointer("/properties/environmentVariables"))
        .and_then(Value::as_array)
        .map(|es| {
            es.iter()
                .map(|e| {
                    let name = s(e.get("name"));
                    match (e.get("value").and_then(Value::as_str), e.get("secureValue").and_then(Value::as_str)) {
                        (_, Some(sv)) => format!("{name}=secureValue returned! fp {}", fingerprint(sv.as_bytes())),
                        (Some(v), None) => format!("{name}=fp:{}", fingerprint(v.as_bytes())),
                        (None, None) => format!("{name} (no value returned)"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let events = c
        .and_then(|c| c.pointer("/properties/instanceView/events"))
        .and_then(Value::as_array)
        .map(|es| es.iter().map(|e| format!("{}x{}", s(e.get("name")), e.get("count").and_then(Value::as_u64).unwrap_or(1))).collect())
        .unwrap_or_default();
    ArmView {
        provisioning_state: s(body.pointer("/properties/provisioningState")),
        group_state: s(body.pointer("/properties/instanceView/state")),
        container_state: state("/properties/instanceView/currentState"),
        previous_state: state("/properties/instanceView/previousState"),
        restart_count: c.and_then(|c| c.pointer("/properties/instanceView/restartCount")).and_then(Value::as_u64),
        env_entries,
        events,
    }
}

/// The IP ARM reports for a group.
pub fn arm_ip(body: &Value) -> String {
    body.pointer("/properties/ipAddress/ip").and_then(Value::as_str).unwrap_or("").to_string()
}

/// Whether a group has settled after a step: the deployment is final and the container either
/// runs, crash-loops or has terminated.
pub fn settled(view: &ArmView) -> bool {
    let final_prov = matches!(view.provisioning_state.as_str(), "Succeeded" | "Failed" | "Canceled");
    let c = view.container_state.as_str();
    final_prov
        && (c.starts_with("Running")
            || c.starts_with("Waiting (CrashLoopBackOff")
            || c.starts_with("Terminated")
            || view.group_state == "Stopped")
}

/// Everything observed of a group after a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// ARM's view (none when the GET failed).
    pub arm: Option<ArmView>,
    /// Placement (probe's host and boot, ARM's IP).
    pub placement: PlacementView,
    /// What the logs say, or why they could not be read.
    pub logs: Result<LogReading, String>,
    /// Why the group did not settle, if it did not.
    pub unsettled: Option<String>,
}

/// A channel's verdict with the evidence that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelVerdict {
    /// The verdict.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
    /// What the container reported (`MISSING`, a fingerprint, or empty when not observed).
    pub observed: String,
}

/// Judges one channel from the logs: expected fingerprint vs. what the probe reports.
pub fn judge(obs: &Observation, channel: Channel, expected_fp: &str) -> ChannelVerdict {
    let unknown = |reason: String| ChannelVerdict { verdict: Verdict::Unknown, reason, observed: String::new() };
    if let Some(why) = &obs.unsettled {
        return unknown(format!("the group did not settle: {why}"));
    }
    match &obs.logs {
        Err(why) => unknown(format!("not observed: {why}")),
        Ok(LogReading::Nothing) => unknown("no probe line in the container's logs".into()),
        Ok(LogReading::Garbled(why)) => unknown(why.clone()),
        Ok(LogReading::MissingToken(msg)) => {
            if channel == Channel::SecureEnv {
                ChannelVerdict {
                    verdict: Verdict::Lost,
                    reason: format!("the agent's start script printed `{msg}` and exited"),
                    observed: "MISSING".into(),
                }
            } else {
                unknown("the agent exited before the probe reported this channel".into())
            }
        }
        Ok(LogReading::Probe(line)) => match line.channels.get(channel.as_str()) {
            None => unknown(format!("the probe line does not report `{channel}`")),
            Some(Observed::Missing) => ChannelVerdict {
                verdict: Verdict::Lost,
                reason: "the probe reports MISSING: the container sees no value".into(),
                observed: "MISSING".into(),
            },
            Some(Observed::Fingerprint(fp)) if fp == expected_fp => ChannelVerdict {
                verdict: Verdict::Survived,
                reason: "the probe reports the expected fingerprint".into(),
                observed: fp.clone(),
            },
            Some(Observed::Fingerprint(fp)) => ChannelVerdict {
                verdict: Verdict::Lost,
                reason: "the probe reports a different value's fingerprint".into(),
                observed: fp.clone(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::read_logs;
    use serde_json::json;

    fn obs(logs: &str) -> Observation {
        Observation { arm: None, placement: PlacementView::default(), logs: Ok(read_logs(logs)), unsettled: None }
    }

    #[test]
    fn verdicts_follow_the_probe() {
        let line = "aci-chaos-probe v=1 boot=b host=h secure-env=0123456789abcdef plain-env=MISSING";
        assert_eq!(judge(&obs(line), Channel::SecureEnv, "0123456789abcdef").verdict, Verdict::Survived);
        assert_eq!(judge(&obs(line), Channel::SecureEnv, "ffffffffffffffff").verdict, Verdict::Lost);
        assert_eq!(judge(&obs(line), Channel::PlainEnv, "0123456789abcdef").verdict, Verdict::Lost);
        assert_eq!(judge(&obs(line), Channel::SecretVolume, "0123456789abcdef").verdict, Verdict::Unknown);
    }

    #[test]
    fn what_cannot_be_observed_is_unknown() {
        assert_eq!(judge(&obs("aci-chaos-probe v=1 boot=b host=h secure-env=xyz"), Channel::SecureEnv, "x").verdict, Verdict::Unknown);
        assert_eq!(judge(&obs(""), Channel::SecureEnv, "x").verdict, Verdict::Unknown);
        let mut o = obs("aci-chaos-probe v=1 boot=b host=h secure-env=0123456789abcdef");
        o.unsettled = Some("timeout".into());
        assert_eq!(judge(&o, Channel::SecureEnv, "0123456789abcdef").verdict, Verdict::Unknown);
        o.unsettled = None;
        o.logs = Err("503".into());
        assert_eq!(judge(&o, Channel::SecureEnv, "0123456789abcdef").verdict, Verdict::Unknown);
    }

    #[test]
    fn arm_view_never_holds_values() {
        let body = json!({"properties": {"provisioningState": "Succeeded", "instanceView": {"state": "Running"}, "containers": [{"name": "probe", "properties": {
            "environmentVariables": [{"name": "A", "value": "plain-secret"}, {"name": "B"}],
            "instanceView": {"restartCount": 2, "currentState": {"state": "Waiting", "detailStatus": "CrashLoopBackOff: Back-off restarting failed"},
                             "previousState": {"state": "Terminated", "exitCode": 1, "detailStatus": "Error"}}}}]}});
        let v = arm_view(&body, "probe");
        assert_eq!(v.container_state, "Waiting (CrashLoopBackOff: Back-off restarting failed)");
        assert_eq!(v.previous_state, "Terminated (Error) exit 1");
        assert_eq!(v.restart_count, Some(2));
        assert_eq!(v.env_entries[1], "B (no value returned)");
        assert!(!format!("{v:?}").contains("plain-secret"));
        assert!(settled(&v));
    }
}

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
    /// What the probe's report said through exec, or why exec failed; `None` when exec was not
    /// tried (the container was not running, or the check is a soak round).
    pub exec: Option<Result<LogReading, String>>,
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
    /// The methods that observed it: `logs`, `exec`, or `logs+exec`.
    pub method: String,
}

fn judge_reading(reading: &Result<LogReading, String>, channel: Channel, expected_fp: &str) -> ChannelVerdict {
    let v = |verdict, reason: String, observed: &str| ChannelVerdict { verdict, reason, observed: observed.into(), method: String::new() };
    match reading {
        Err(why) => v(Verdict::Unknown, format!("not observed: {why}"), ""),
        Ok(LogReading::Nothing) => v(Verdict::Unknown, "no probe line in the output".into(), ""),
        Ok(LogReading::Garbled(why)) => v(Verdict::Unknown, why.clone(), ""),
        Ok(LogReading::MissingToken(msg)) => {
            if channel == Channel::SecureEnv {
                v(Verdict::Lost, format!("the agent's start script printed `{msg}` and exited"), "MISSING")
            } else {
                v(Verdict::Unknown, "the agent exited before the probe reported this channel".into(), "")
            }
        }
        Ok(LogReading::Probe(line)) => match line.channels.get(channel.as_str()) {
            None => v(Verdict::Unknown, format!("the probe line does not report `{channel}`"), ""),
            Some(Observed::Missing) => v(Verdict::Lost, "the probe reports MISSING: the container sees no value".into(), "MISSING"),
            Some(Observed::Fingerprint(fp)) if fp == expected_fp => {
                v(Verdict::Survived, "the probe reports the expected fingerprint".into(), fp)
            }
            Some(Observed::Fingerprint(fp)) => v(Verdict::Lost, "the probe reports a different value's fingerprint".into(), fp),
        },
    }
}

/// Judges one channel: expected fingerprint vs. what the probe reports through the logs and,
/// when tried, through exec. The two methods must agree; when they do not, the verdict is
/// `unknown` and both are recorded.
pub fn judge(obs: &Observation, channel: Channel, expected_fp: &str) -> ChannelVerdict {
    if let Some(why) = &obs.unsettled {
        return ChannelVerdict {
            verdict: Verdict::Unknown,
            reason: format!("the group did not settle: {why}"),
            observed: String::new(),
            method: "logs".into(),
        };
    }
    let logs = judge_reading(&obs.logs, channel, expected_fp);
    match &obs.exec {
        None => ChannelVerdict { method: "logs".into(), ..logs },
        Some(Err(why)) => ChannelVerdict { method: "logs".into(), reason: format!("{}; exec failed: {why}", logs.reason), ..logs },
        Some(exec_reading) => {
            let exec = judge_reading(exec_reading, channel, expected_fp);
            if exec.verdict == logs.verdict && exec.observed == logs.observed {
                ChannelVerdict { method: "logs+exec".into(), reason: format!("{} (logs and exec agree)", logs.reason), ..logs }
            } else {
                ChannelVerdict {
                    verdict: Verdict::Unknown,
                    reason: format!(
                        "logs and exec disagree: logs say {} ({}), exec says {} ({})",
                        logs.verdict, logs.reason, exec.verdict, exec.reason
                    ),
                    observed: format!("logs:{} exec:{}", logs.observed, exec.observed),
                    method: "logs+exec".into(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::read_logs;
    use serde_json::json;

    fn obs(logs: &str) -> Observation {
        Observation { arm: None, placement: PlacementView::default(), logs: Ok(read_logs(logs)), exec: None, unsettled: None }
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
    fn logs_and_exec_must_agree() {
        let good = "aci-chaos-probe v=1 boot=b host=h secure-env=0123456789abcdef";
        let mut o = obs(good);
        o.exec = Some(Ok(read_logs(good)));
        let v = judge(&o, Channel::SecureEnv, "0123456789abcdef");
        assert_eq!((v.verdict, v.method.as_str()), (Verdict::Survived, "logs+exec"));
        o.exec = Some(Ok(read_logs("aci-chaos-probe v=1 boot=b host=h secure-env=MISSING")));
        let v = judge(&o, Channel::SecureEnv, "0123456789abcdef");
        assert_eq!(v.verdict, Verdict::Unknown);
        assert!(v.reason.contains("disagree") && v.observed == "logs:0123456789abcdef exec:MISSING", "{v:?}");
        o.exec = Some(Err("closed".into()));
        let v = judge(&o, Channel::SecureEnv, "0123456789abcdef");
        assert_eq!((v.verdict, v.method.as_str()), (Verdict::Survived, "logs"));
        assert!(v.reason.contains("exec failed: closed"));
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

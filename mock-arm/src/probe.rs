//! The probe contract, as the simulated containers run it.
//!
//! A container's profile comes from its spec: the plain variable `ACI_CHAOS_PROFILE`
//! (`probe`, `azp-agent`, `gh-runner`); a container without it runs as an ordinary image that
//! prints nothing. The probe reports each secret channel as the first 16 hex digits of
//! `sha256(value)`, or `MISSING` when the value is absent or empty:
//!
//! `aci-chaos-probe v=1 boot=<boot id> host=<host> secure-env=<fp|MISSING> plain-env=<fp|MISSING> …`
//!
//! The channels reported are those listed in `ACI_CHAOS_CHANNELS` (comma separated), in order.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Plain variable naming the container's profile.
pub const PROFILE_VAR: &str = "ACI_CHAOS_PROFILE";
/// Plain variable listing the channels the probe reports.
pub const CHANNELS_VAR: &str = "ACI_CHAOS_CHANNELS";
/// Plain variable holding the plain-env (control) secret.
pub const PLAIN_VAR: &str = "ACI_CHAOS_PLAIN_ENV";
/// Secure variable holding the secure-env secret for the `probe` profile.
pub const SECURE_VAR: &str = "ACI_CHAOS_SECURE_ENV";
/// Plain variable naming the file the secret-volume channel is read from.
pub const SECRET_FILE_VAR: &str = "ACI_CHAOS_SECRET_FILE";
/// Default path of the secret-volume file.
pub const DEFAULT_SECRET_FILE: &str = "/mnt/aci-chaos/secret";
/// Plain variable naming the Key Vault secret a container fetches at start with its managed
/// identity (`https://<vault>.vault.azure.net/secrets/<name>`).
pub const KEYVAULT_URI_VAR: &str = "ACI_CHAOS_KEYVAULT_URI";
/// Where the probe keeps what it fetched from Key Vault (the keyvault channel).
pub const KEYVAULT_FILE: &str = "/tmp/aci-chaos-keyvault";
/// Plain variable with the heartbeat interval in seconds.
pub const HEARTBEAT_VAR: &str = "ACI_CHAOS_HEARTBEAT_SECONDS";
/// Default heartbeat interval.
pub const DEFAULT_HEARTBEAT_SECONDS: u64 = 300;
/// The line the Azure DevOps agent's start script prints when its token is empty.
pub const AZP_MISSING_TOKEN: &str = "error: missing AZP_TOKEN environment variable";
/// The line the GitHub runner's start script prints when its token is empty.
pub const GH_MISSING_TOKEN: &str = "error: missing GH_RUNNER_TOKEN environment variable";

/// What a simulated container runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Reports every channel and keeps running.
    Probe,
    /// Mirrors the Azure DevOps agent start script (secure `AZP_TOKEN`).
    AzpAgent,
    /// Mirrors the GitHub runner start script (secure `GH_RUNNER_TOKEN`).
    GhRunner,
    /// Any other image: runs quietly.
    Other,
}

impl Profile {
    /// The profile a container's spec environment selects.
    pub fn from_env(spec_env: &BTreeMap<String, String>) -> Self {
        match spec_env.get(PROFILE_VAR).map(String::as_str) {
            Some("probe") => Self::Probe,
            Some("azp-agent") => Self::AzpAgent,
            Some("gh-runner") => Self::GhRunner,
            _ => Self::Other,
        }
    }

    /// The variable that carries the secure-env channel for this profile.
    pub fn secure_var(self) -> &'static str {
        match self {
            Self::AzpAgent => "AZP_TOKEN",
            Self::GhRunner => "GH_RUNNER_TOKEN",
            _ => SECURE_VAR,
        }
    }
}

/// The fingerprint the probe reports: the first 16 hex digits of `sha256(value)`.
pub fn fingerprint(value: &[u8]) -> String {
    let d = Sha256::digest(value);
    hex::encode(&d[..8])
}

/// What a container sees when it starts: its environment and its files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeView<'a> {
    /// Environment variables.
    pub env: Option<&'a BTreeMap<String, String>>,
    /// Files (path → contents).
    pub files: Option<&'a BTreeMap<String, Vec<u8>>>,
}

fn env_value<'a>(env: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// The probe's report line for a container's runtime environment.
pub fn probe_line(profile: Profile, env: &BTreeMap<String, String>, files: &BTreeMap<String, Vec<u8>>, boot: &str, host: &str) -> String {
    let channels = env_value(env, CHANNELS_VAR).unwrap_or("secure-env,plain-env,secret-volume");
    let mut line = format!("aci-chaos-probe v=1 boot={boot} host={host}");
    for ch in channels.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let value: Option<Vec<u8>> = match ch {
            "secure-env" => env_value(env, profile.secure_var()).map(|v| v.as_bytes().to_vec()),
            "plain-env" => env_value(env, PLAIN_VAR).map(|v| v.as_bytes().to_vec()),
            "secret-volume" => {
                let path = env_value(env, SECRET_FILE_VAR).unwrap_or(DEFAULT_SECRET_FILE);
                files.get(path).filter(|c| !c.is_empty()).cloned()
            }
            "keyvault" => files.get(KEYVAULT_FILE).filter(|c| !c.is_empty()).cloned(),
            _ => None,
        };
        let fp = value.map(|v| fingerprint(&v)).unwrap_or_else(|| "MISSING".into());
        line.push_str(&format!(" {ch}={fp}"));
    }
    line
}

/// What a container prints when it starts, and the exit code if it exits at once.
pub fn start(
    profile: Profile,
    env: &BTreeMap<String, String>,
    files: &BTreeMap<String, Vec<u8>>,
    boot: &str,
    host: &str,
) -> (Vec<String>, Option<i32>) {
    match profile {
        Profile::Other => (Vec::new(), None),
        Profile::Probe => (vec![probe_line(profile, env, files, boot, host)], None),
        Profile::AzpAgent | Profile::GhRunner => {
            if env_value(env, profile.secure_var()).is_none() {
                let msg = if profile == Profile::AzpAgent { AZP_MISSING_TOKEN } else { GH_MISSING_TOKEN };
                return (vec![msg.to_string()], Some(1));
            }
            let agent = if profile == Profile::AzpAgent { "Azure Pipelines agent" } else { "GitHub runner" };
            (vec![probe_line(profile, env, files, boot, host), format!("{agent}: listening for jobs (--once)")], None)
        }
    }
}

/// The heartbeat interval a container's environment asks for.
pub fn heartbeat_seconds(env: &BTreeMap<String, String>) -> u64 {
    env_value(env, HEARTBEAT_VAR).and_then(|v| v.parse().ok()).filter(|s| *s > 0).unwrap_or(DEFAULT_HEARTBEAT_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn fingerprint_is_sha256_prefix() {
        // sha256("abc") = ba7816bf8f01cfea…
        assert_eq!(fingerprint(b"abc"), "ba7816bf8f01cfea");
    }

    #[test]
    fn probe_reports_fingerprints_never_values() {
        let e = env(&[(PROFILE_VAR, "probe"), (SECURE_VAR, "top-secret"), (PLAIN_VAR, ""), (CHANNELS_VAR, "secure-env,plain-env")]);
        let (lines, exit) = start(Profile::from_env(&e), &e, &BTreeMap::new(), "b1", "h1");
        assert_eq!(exit, None);
        assert_eq!(lines, vec![format!("aci-chaos-probe v=1 boot=b1 host=h1 secure-env={} plain-env=MISSING", fingerprint(b"top-secret"))]);
        assert!(!lines[0].contains("top-secret"));
    }

    #[test]
    fn agent_without_token_exits_with_the_field_message() {
        let e = env(&[(PROFILE_VAR, "azp-agent"), ("AZP_TOKEN", "")]);
        assert_eq!(start(Profile::AzpAgent, &e, &BTreeMap::new(), "b", "h"), (vec![AZP_MISSING_TOKEN.to_string()], Some(1)));
    }
}

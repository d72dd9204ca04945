//! The test agent group: the one place secrets are put into a request body.

use crate::channel::Channel;
use crate::secret::Secret;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The image the probe runs from on real Azure: busybox, public on MCR.
pub const DEFAULT_IMAGE: &str = "mcr.microsoft.com/azurelinux/busybox:1.36";

/// The image an `update` with `variant = "image"` switches to when the suite names none.
pub const ALTERNATE_IMAGE: &str = "mcr.microsoft.com/cbl-mariner/busybox:2.0";

/// Where the secret volume is mounted, and the file the probe reads.
pub const SECRET_MOUNT: &str = "/mnt/aci-chaos";
/// The file in the secret volume.
pub const SECRET_FILE_NAME: &str = "secret";

/// The probe as a busybox shell program: installs its one-shot report at
/// [`crate::exec::REPORT_COMMAND`] (so the exec check can run it: ACI's exec takes no arguments),
/// then prints the report at start and at every heartbeat. Fingerprints only, never values. The
/// mock runs the same contract without running this text.
pub const PROBE_SCRIPT: &str = r#"cat > /tmp/aci-chaos-probe <<'PROBE'
#!/bin/sh
fp() { if [ -n "$1" ]; then printf %s "$1" | sha256sum | cut -c1-16; else echo MISSING; fi; }
case "$ACI_CHAOS_PROFILE" in azp-agent) sv="$AZP_TOKEN";; gh-runner) sv="$GH_RUNNER_TOKEN";; *) sv="$ACI_CHAOS_SECURE_ENV";; esac
l="aci-chaos-probe v=1 boot=$(cut -c1-12 /proc/sys/kernel/random/boot_id) host=$(hostname)"
for ch in $(echo "${ACI_CHAOS_CHANNELS:-secure-env,plain-env,secret-volume}" | tr , ' '); do
  case "$ch" in
    secure-env) v="$sv";; plain-env) v="$ACI_CHAOS_PLAIN_ENV";;
    secret-volume) v="$(cat "${ACI_CHAOS_SECRET_FILE:-/mnt/aci-chaos/secret}" 2>/dev/null)";;
    keyvault) v="$(cat /tmp/aci-chaos-keyvault 2>/dev/null)";; *) v="";;
  esac
  l="$l $ch=$(fp "$v")"
done
echo "$l"
PROBE
chmod +x /tmp/aci-chaos-probe
if [ -n "$ACI_CHAOS_KEYVAULT_URI" ]; then
  tok=$(wget -qO- --header "Metadata: true" "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  wget -qO- --header "Authorization: Bearer $tok" "$ACI_CHAOS_KEYVAULT_URI?api-version=7.4" | sed -n 's/.*"value":"\([^"]*\)".*/\1/p' > /tmp/aci-chaos-keyvault
fi
case "$ACI_CHAOS_PROFILE" in
  azp-agent) [ -n "$AZP_TOKEN" ] || { echo "error: missing AZP_TOKEN environment variable" >&2; exit 1; };;
  gh-runner) [ -n "$GH_RUNNER_TOKEN" ] || { echo "error: missing GH_RUNNER_TOKEN environment variable" >&2; exit 1; };;
esac
while true; do /tmp/aci-chaos-probe; sleep "${ACI_CHAOS_HEARTBEAT_SECONDS:-300}"; done"#;

/// What runs in the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Reports every channel and keeps running.
    #[default]
    Probe,
    /// Mirrors the Azure DevOps agent start script (secure `AZP_TOKEN`).
    AzpAgent,
    /// Mirrors the GitHub runner start script (secure `GH_RUNNER_TOKEN`).
    GhRunner,
}

impl Profile {
    /// Suite/report name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Probe => "probe",
            Self::AzpAgent => "azp-agent",
            Self::GhRunner => "gh-runner",
        }
    }

    /// The secure variable carrying the `secure-env` channel.
    pub fn secure_var(self) -> &'static str {
        match self {
            Self::Probe => "ACI_CHAOS_SECURE_ENV",
            Self::AzpAgent => "AZP_TOKEN",
            Self::GhRunner => "GH_RUNNER_TOKEN",
        }
    }

    /// The container's name.
    pub fn container_name(self) -> &'static str {
        self.as_str()
    }
}

/// ACI restart policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum RestartPolicy {
    /// Always restart (ACI's default).
    #[default]
    Always,
    /// Restart on a non-zero exit.
    OnFailure,
    /// Never restart.
    Never,
}

impl RestartPolicy {
    /// ARM's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::OnFailure => "OnFailure",
            Self::Never => "Never",
        }
    }
}

/// Everything that shapes a test agent group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GroupTemplate {
    /// Probe profile.
    pub profile: Profile,
    /// Secret channels to give it.
    pub channels: Vec<Channel>,
    /// Restart policy.
    pub restart_policy: RestartPolicy,
    /// Zones to pin to (empty: any).
    pub zones: Vec<String>,
    /// vCPUs.
    pub cpu: f64,
    /// Memory in GB.
    pub memory_gb: f64,
    /// Image (real Azure).
    pub image: String,
}

impl Default for GroupTemplate {
    fn default() -> Self {
        Self {
            profile: Profile::Probe,
            channels: vec![Channel::SecureEnv, Channel::PlainEnv],
            restart_policy: RestartPolicy::Always,
            zones: Vec::new(),
            cpu: 1.0,
            memory_gb: 0.5,
            image: DEFAULT_IMAGE.into(),
        }
    }
}

/// The Key Vault a run's keyvault-channel secrets live in.
pub fn keyvault_name(run_id: &str) -> String {
    format!("acc-{run_id}")
}

/// The Key Vault secret URI a group's probe fetches at start (the keyvault channel).
pub fn keyvault_uri(run_id: &str, group: &str) -> String {
    format!("https://{}.vault.azure.net/secrets/{group}", keyvault_name(run_id))
}

/// Tags every group carries.
pub fn tags(run_id: &str, scenario: &str) -> Value {
    json!({"aci-chaos-run": run_id, "aci-chaos-scenario": scenario})
}

impl GroupTemplate {
    /// The `PUT` body for a group, secrets included (never log or record it).
    pub fn body(&self, location: &str, run_id: &str, scenario: &str, group: &str, secrets: &BTreeMap<Channel, Secret>) -> Value {
        let channels = self.channels.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",");
        let mut env = vec![
            json!({"name": "ACI_CHAOS_PROFILE", "value": self.profile.as_str()}),
            json!({"name": "ACI_CHAOS_CHANNELS", "value": channels}),
        ];
        if self.profile == Profile::AzpAgent {
            env.push(json!({"name": "AZP_URL", "value": "https://dev.azure.com/aci-chaos-example"}));
            env.push(json!({"name": "AZP_AGENT_NAME", "value": group}));
            env.push(json!({"name": "AZP_POOL", "value": "aci-chaos"}));
        }
        if self.profile == Profile::GhRunner {
            env.push(json!({"name": "GH_RUNNER_URL", "value": "https://github.com/aci-chaos-example"}));
            env.push(json!({"name": "GH_RUNNER_NAME", "value": group}));
            env.push(json!({"name": "GH_RUNNER_GROUP", "value": "aci-chaos"}));
        }
        if let Some(s) = secrets.get(&Channel::SecureEnv) {
            env.push(json!({"name": self.profile.secure_var(), "secureValue": s.expose()}));
        }
        if let Some(s) = secrets.get(&Channel::PlainEnv) {
            env.push(json!({"name": "ACI_CHAOS_PLAIN_ENV", "value": s.expose()}));
        }
        if secrets.contains_key(&Channel::Keyvault) {
            env.push(json!({"name": "ACI_CHAOS_KEYVAULT_URI", "value": keyvault_uri(run_id, group)}));
        }
        let mut container = json!({
            "name": self.profile.container_name(),
            "properties": {
                "image": self.image,
                "command": ["/bin/sh", "-c", PROBE_SCRIPT],
                "resources": {"requests": {"cpu": self.cpu, "memoryInGB": self.memory_gb}},
                "environmentVariables": env,
            }
        });
        let mut props = json!({"osType": "Linux", "restartPolicy": self.restart_policy.as_str(), "containers": []});
        if let Some(s) = secrets.get(&Channel::SecretVolume) {
            container["properties"]["volumeMounts"] = json!([{"name": "aci-chaos-secret", "mountPath": SECRET_MOUNT, "readOnly": true}]);
            props["volumes"] = json!([{"name": "aci-chaos-secret", "secret": {SECRET_FILE_NAME: base64::engine::general_purpose::STANDARD.encode(s.expose())}}]);
        }
        props["containers"] = json!([container]);
        let mut body = json!({"location": location, "tags": tags(run_id, scenario), "properties": props});
        if secrets.contains_key(&Channel::Keyvault) {
            body["identity"] = json!({"type": "SystemAssigned"});
        }
        if !self.zones.is_empty() {
            body["zones"] = json!(self.zones);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::derive;

    #[test]
    fn secrets_go_where_the_channel_says() {
        let t = GroupTemplate { channels: vec![Channel::SecureEnv, Channel::PlainEnv, Channel::SecretVolume], ..Default::default() };
        let secrets: BTreeMap<_, _> = t.channels.iter().map(|c| (*c, derive(1, "g", *c))).collect();
        let b = t.body("eastus", "r1", "s", "g", &secrets);
        let env = b.pointer("/properties/containers/0/properties/environmentVariables").unwrap().as_array().unwrap();
        assert!(env.iter().any(|e| e["name"] == "ACI_CHAOS_SECURE_ENV" && e["secureValue"] == secrets[&Channel::SecureEnv].expose()));
        assert!(env.iter().any(|e| e["name"] == "ACI_CHAOS_PLAIN_ENV" && e["value"] == secrets[&Channel::PlainEnv].expose()));
        assert_eq!(b["tags"]["aci-chaos-run"], "r1");
        assert!(b.pointer("/properties/volumes/0/secret/secret").is_some());
    }
}

//! Secret channels: the ways a secret reaches a container.

use serde::{Deserialize, Serialize};

/// A way a secret reaches the container; each is a column of the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// `environmentVariables[].secureValue`: the thing under test.
    SecureEnv,
    /// `environmentVariables[].value`: the control, should always survive.
    PlainEnv,
    /// A `secret` volume mounted read-only.
    SecretVolume,
    /// Fetched from Key Vault at start through a managed identity.
    Keyvault,
}

impl Channel {
    /// Every channel, in report order.
    pub const ALL: [Channel; 4] = [Channel::SecureEnv, Channel::PlainEnv, Channel::SecretVolume, Channel::Keyvault];

    /// The name used in suites, probe lines and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecureEnv => "secure-env",
            Self::PlainEnv => "plain-env",
            Self::SecretVolume => "secret-volume",
            Self::Keyvault => "keyvault",
        }
    }

    /// Parses a channel name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

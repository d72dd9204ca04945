//! Secrets: generated per group and channel, shown only as fingerprints.

use crate::channel::Channel;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A secret value. `Debug` and `Display` print `***`; only [`Secret::expose`] reveals it, and
/// only the group template calls that.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value. Call it only to send the secret to ARM.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The fingerprint the probe would report for this value.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.0.as_bytes())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The probe contract's fingerprint: the first 16 hex digits of `sha256(value)`.
pub fn fingerprint(value: &[u8]) -> String {
    hex::encode(&Sha256::digest(value)[..8])
}

/// Where secrets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    /// Derived from the run's seed (the mock: the same seed gives the same evidence).
    Seeded(u64),
    /// The operating system's random generator (real Azure).
    Os,
}

impl SecretSource {
    /// A fresh secret for one group and channel.
    pub fn secret(&self, group: &str, channel: Channel) -> Secret {
        match self {
            Self::Seeded(seed) => derive(*seed, group, channel),
            Self::Os => {
                let mut b = [0u8; 24];
                rand::rng().fill_bytes(&mut b);
                Secret(format!("acc-{}", hex::encode(b)))
            }
        }
    }
}

/// sha256 of `bytes`, as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `n` random bytes from the operating system, as hex (run ids on shared targets).
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The secret a seeded run gives a group's channel (so tests can look for it in every output).
pub fn derive(seed: u64, group: &str, channel: Channel) -> Secret {
    let d = Sha256::digest(format!("aci-chaos secret v1|{seed}|{group}|{}", channel.as_str()).as_bytes());
    Secret(format!("acc-{}", hex::encode(&d[..24])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = derive(1, "g", Channel::SecureEnv);
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert!(s.expose().starts_with("acc-"));
        assert_eq!(s.fingerprint().len(), 16);
    }

    #[test]
    fn seeded_secrets_differ_per_group_and_channel() {
        assert_eq!(derive(1, "g", Channel::SecureEnv), derive(1, "g", Channel::SecureEnv));
        assert_ne!(derive(1, "g", Channel::SecureEnv), derive(1, "g", Channel::PlainEnv));
        assert_ne!(derive(1, "g", Channel::SecureEnv), derive(2, "g", Channel::SecureEnv));
        assert_ne!(SecretSource::Os.secret("g", Channel::SecureEnv), SecretSource::Os.secret("g", Channel::SecureEnv));
    }
}

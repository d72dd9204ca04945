//! TLS for the mock: a certificate authority and a server certificate for `127.0.0.1`, `::1` and
//! `localhost`, generated at start, and the rustls configuration serving them.
//!
//! Real Azure SDKs refuse to send bearer tokens over plain `http`, so real clients need HTTPS.
//! Clients trust the mock by the CA's PEM ([`TlsIdentity::ca_pem`], written by
//! `mock serve --tls --cert-out PATH`): `REQUESTS_CA_BUNDLE=PATH` for the Azure CLI and the
//! Python SDK, `reqwest::Certificate::from_pem` in Rust. The CA is a separate certificate (not
//! the server's own) because strict X.509 verifiers refuse a leaf that doubles as its own anchor.

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Errors building the TLS identity.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("cannot generate the mock's TLS certificate: {0} (hint: this is a bug; run without --tls meanwhile)")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("cannot configure TLS: {0} (hint: this is a bug; run without --tls meanwhile)")]
    Rustls(#[from] rustls::Error),
}

/// The mock's TLS identity: a CA, a server certificate it signed, and the server's key.
pub struct TlsIdentity {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of debug output.
        f.debug_struct("TlsIdentity").field("chain_len", &self.chain.len()).field("key", &"***").finish()
    }
}

impl TlsIdentity {
    /// Generates a fresh CA and a server certificate for loopback names.
    pub fn generate() -> Result<Self, TlsError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "aci-chaos mock ARM local CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
        params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        params.subject_alt_names.push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
        params.distinguished_name.push(DnType::CommonName, "aci-chaos mock ARM");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &issuer)?;
        Ok(Self { ca_pem: ca_cert.pem(), chain: vec![cert.der().clone(), ca_cert.der().clone()], key_der: key.serialize_der() })
    }

    /// The CA certificate (PEM) that clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A rustls server configuration (aws-lc-rs; ALPN `h2`, `http/1.1`).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_builds_a_server_config_and_hides_its_key() {
        let id = TlsIdentity::generate().unwrap();
        assert!(id.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        id.server_config().unwrap();
        assert!(format!("{id:?}").contains("***"));
    }
}

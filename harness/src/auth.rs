//! Credentials. Everything goes through azure_core's `TokenCredential`, the trait the
//! azure_identity credentials implement; the mock accepts any bearer token, so a static one
//! serves there.

use crate::error::HarnessError;
use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use std::sync::Arc;
use time::OffsetDateTime;

/// A fixed token, for the mock (which checks only that a bearer token is present).
#[derive(Clone)]
pub struct StaticTokenCredential {
    token: String,
}

impl StaticTokenCredential {
    /// A credential that always returns `token`.
    pub fn new(token: impl Into<String>) -> Self {
        Self { token: token.into() }
    }
}

impl std::fmt::Debug for StaticTokenCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticTokenCredential(***)")
    }
}

#[async_trait]
impl TokenCredential for StaticTokenCredential {
    async fn get_token(&self, _scopes: &[&str], _options: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(self.token.clone(), OffsetDateTime::now_utc() + time::Duration::hours(1)))
    }
}

/// The ARM scope for a resource-manager endpoint.
pub fn arm_scope(endpoint: &str) -> String {
    format!("{}/.default", endpoint.trim_end_matches('/'))
}

/// Gets a bearer token for `scope`.
pub async fn bearer(credential: &Arc<dyn TokenCredential>, scope: &str) -> Result<String, HarnessError> {
    let t = credential.get_token(&[scope], None).await.map_err(|e| HarnessError::Auth(e.to_string()))?;
    Ok(t.token.secret().to_string())
}

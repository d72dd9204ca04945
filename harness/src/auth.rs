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

/// How `--target azure` gets its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// Try, in this order: `env` (when `AZURE_CLIENT_SECRET` is set), `workload-identity` (when
    /// `AZURE_FEDERATED_TOKEN_FILE` is set), `cli` (the Azure CLI or azd login), then
    /// `managed-identity`; the first that gives a token is used for the whole run.
    #[default]
    Auto,
    /// The developer tools login: Azure CLI (`az login`), then Azure Developer CLI.
    Cli,
    /// A service principal from `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET`.
    Env,
    /// Workload identity federation (e.g. GitHub Actions OIDC): `AZURE_TENANT_ID`,
    /// `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE`.
    WorkloadIdentity,
    /// The managed identity of the machine the tool runs on (`AZURE_CLIENT_ID` picks a
    /// user-assigned one).
    ManagedIdentity,
}

impl AuthMethod {
    /// The `--auth` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Cli => "cli",
            Self::Env => "env",
            Self::WorkloadIdentity => "workload-identity",
            Self::ManagedIdentity => "managed-identity",
        }
    }

    /// Every method, in `--auth` order.
    pub const ALL: [AuthMethod; 5] = [Self::Auto, Self::Cli, Self::Env, Self::WorkloadIdentity, Self::ManagedIdentity];

    /// Parses the `--auth` spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// How to build a credential.
#[derive(Clone)]
pub struct AuthOptions {
    /// Which credential.
    pub method: AuthMethod,
    /// The Entra ID authority (default: `AZURE_AUTHORITY_HOST`, else the public cloud).
    pub authority_host: Option<String>,
    /// The HTTP client token requests go through (it carries any extra trusted CA).
    pub http: reqwest::Client,
}

impl std::fmt::Debug for AuthOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthOptions").field("method", &self.method).field("authority_host", &self.authority_host).finish_non_exhaustive()
    }
}

/// A credential that worked, and which one it is.
#[derive(Clone)]
pub struct ResolvedCredential {
    /// The credential, caching its tokens until near expiry.
    pub credential: Arc<dyn TokenCredential>,
    /// Which method gave the token (`env`, `cli`, …).
    pub method: AuthMethod,
    /// Who the token is for (user principal name, or `sp:<app id>`), for the owner tag.
    pub owner: String,
    /// The tenant the token was issued by (its `tid` claim), for the report (masked there).
    pub tenant: Option<String>,
}

impl std::fmt::Debug for ResolvedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedCredential").field("method", &self.method).field("owner", &self.owner).finish_non_exhaustive()
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn client_options(opts: &AuthOptions) -> Result<azure_core::http::ClientOptions, HarnessError> {
    let mut co = azure_core::http::ClientOptions {
        transport: Some(azure_core::http::Transport::new(Arc::new(opts.http.clone()))),
        ..Default::default()
    };
    if let Some(host) = &opts.authority_host {
        let url = url::Url::parse(host).map_err(|e| HarnessError::Auth(format!("--authority-host {host}: {e}")))?;
        if url.scheme() != "https" {
            return Err(HarnessError::Auth(format!("--authority-host {host}: Entra ID is only reached over https")));
        }
        let mut custom = azure_core::cloud::CustomConfiguration::default();
        custom.authority_host = host.trim_end_matches('/').to_string();
        co.cloud = Some(Arc::new(custom.into()));
    }
    Ok(co)
}

/// Builds the credential of one method (no token is requested yet).
pub fn build(method: AuthMethod, opts: &AuthOptions) -> Result<Arc<dyn TokenCredential>, HarnessError> {
    let err = |what: &str, e: azure_core::Error| HarnessError::Auth(format!("{what}: {e}"));
    Ok(match method {
        AuthMethod::Auto => return Err(HarnessError::Auth("`auto` is resolved by trying each method".into())),
        AuthMethod::Cli => azure_identity::DeveloperToolsCredential::new(None).map_err(|e| err("cli", e))?,
        AuthMethod::Env => {
            let missing: Vec<&str> =
                ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"].into_iter().filter(|v| env_var(v).is_none()).collect();
            if !missing.is_empty() {
                return Err(HarnessError::Auth(format!("env: {} not set (a service principal needs all three)", missing.join(", "))));
            }
            let (tenant, client) = (env_var("AZURE_TENANT_ID").unwrap_or_default(), env_var("AZURE_CLIENT_ID").unwrap_or_default());
            let secret = azure_core::credentials::Secret::new(env_var("AZURE_CLIENT_SECRET").unwrap_or_default());
            let options = azure_identity::ClientSecretCredentialOptions { client_options: client_options(opts)? };
            azure_identity::ClientSecretCredential::new(&tenant, client, secret, Some(options)).map_err(|e| err("env", e))?
        }
        AuthMethod::WorkloadIdentity => {
            let options = azure_identity::WorkloadIdentityCredentialOptions {
                credential_options: azure_identity::ClientAssertionCredentialOptions { client_options: client_options(opts)? },
                ..Default::default()
            };
            azure_identity::WorkloadIdentityCredential::new(Some(options)).map_err(|e| err("workload-identity", e))?
        }
        AuthMethod::ManagedIdentity => {
            let options = azure_identity::ManagedIdentityCredentialOptions {
                user_assigned_id: env_var("AZURE_CLIENT_ID").map(azure_identity::UserAssignedId::ClientId),
                client_options: client_options(opts)?,
            };
            azure_identity::ManagedIdentityCredential::new(Some(options)).map_err(|e| err("managed-identity", e))?
        }
    })
}

/// The order `auto` tries methods in, given the environment: only methods whose settings are
/// present, then the CLI, then managed identity.
pub fn auto_order(has: impl Fn(&str) -> bool) -> Vec<AuthMethod> {
    let mut order = Vec::new();
    if has("AZURE_CLIENT_SECRET") {
        order.push(AuthMethod::Env);
    }
    if has("AZURE_FEDERATED_TOKEN_FILE") {
        order.push(AuthMethod::WorkloadIdentity);
    }
    order.push(AuthMethod::Cli);
    order.push(AuthMethod::ManagedIdentity);
    order
}

/// Builds the credential and gets a first token for `scope`: for `auto`, tries the methods of
/// [`auto_order`] and keeps the first that works. Errors name every method tried and why it
/// failed (never a secret).
pub async fn resolve(opts: &AuthOptions, scope: &str) -> Result<ResolvedCredential, HarnessError> {
    let methods = match opts.method {
        AuthMethod::Auto => auto_order(|v| env_var(v).is_some()),
        m => vec![m],
    };
    let mut failures = Vec::new();
    for method in methods {
        let credential = match build(method, opts) {
            Ok(c) => Arc::new(CachedCredential::new(c)) as Arc<dyn TokenCredential>,
            Err(e) => {
                failures.push(e.to_string());
                continue;
            }
        };
        match credential.get_token(&[scope], None).await {
            Ok(t) => {
                let owner = owner_from_token(t.token.secret()).unwrap_or_else(|| format!("unknown ({})", method.as_str()));
                let tenant = claim(t.token.secret(), "tid");
                return Ok(ResolvedCredential { credential, method, owner, tenant });
            }
            Err(e) => failures.push(format!("{}: {}", method.as_str(), first_line(&e.to_string()))),
        }
    }
    Err(HarnessError::Auth(format!(
        "no credential gave a token for {scope}: {} (hint: `az login`, or set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET with --auth env)",
        failures.join("; ")
    )))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// One string claim of a JWT (unverified; only for labels).
pub fn claim(token: &str, name: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get(name).and_then(serde_json::Value::as_str).filter(|v| !v.is_empty()).map(String::from)
}

/// Who a token was issued to, read from its (unverified) claims: the user principal name, else
/// `sp:<app id>` for a service principal, else the object id.
pub fn owner_from_token(token: &str) -> Option<String> {
    let s = |k: &str| claim(token, k);
    let owner = s("upn")
        .or_else(|| s("unique_name"))
        .or_else(|| s("email"))
        .or_else(|| s("appid").or_else(|| s("azp")).map(|a| format!("sp:{a}")))
        .or_else(|| s("oid"))?;
    // Tag values are at most 256 characters and must not carry `<>%&\?/`.
    Some(owner.chars().filter(|c| !"<>%&\\?/".contains(*c)).take(256).collect())
}

/// Caches tokens per scope until five minutes before they expire, so a long run asks the
/// identity provider (or spawns `az`) once an hour rather than once a call.
pub struct CachedCredential {
    inner: Arc<dyn TokenCredential>,
    cache: tokio::sync::Mutex<std::collections::HashMap<String, AccessToken>>,
    fetches: std::sync::atomic::AtomicUsize,
}

/// How long before expiry a cached token is replaced.
pub const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);

impl CachedCredential {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn TokenCredential>) -> Self {
        Self { inner, cache: tokio::sync::Mutex::new(std::collections::HashMap::new()), fetches: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// How many tokens were fetched from the inner credential.
    pub fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl std::fmt::Debug for CachedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CachedCredential(***)")
    }
}

#[async_trait]
impl TokenCredential for CachedCredential {
    async fn get_token(&self, scopes: &[&str], options: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        let key = scopes.join(" ");
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.get(&key)
            && t.expires_on > OffsetDateTime::now_utc() + REFRESH_MARGIN
        {
            return Ok(t.clone());
        }
        let t = self.inner.get_token(scopes, options).await?;
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        cache.insert(key, t.clone());
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Counting(std::sync::atomic::AtomicUsize, time::Duration);

    #[async_trait]
    impl TokenCredential for Counting {
        async fn get_token(&self, _: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(AccessToken::new(format!("t{n}"), OffsetDateTime::now_utc() + self.1))
        }
    }

    #[tokio::test]
    async fn tokens_are_cached_until_near_expiry() {
        let long = CachedCredential::new(Arc::new(Counting(0.into(), time::Duration::hours(1))));
        for _ in 0..3 {
            long.get_token(&["s/.default"], None).await.unwrap();
        }
        long.get_token(&["other/.default"], None).await.unwrap();
        assert_eq!(long.fetches(), 2);
        let short = CachedCredential::new(Arc::new(Counting(0.into(), time::Duration::minutes(4))));
        short.get_token(&["s"], None).await.unwrap();
        short.get_token(&["s"], None).await.unwrap();
        assert_eq!(short.fetches(), 2, "a token within the refresh margin is fetched again");
    }

    #[test]
    fn owner_comes_from_the_claims_and_auto_order_is_documented() {
        use base64::Engine;
        let enc = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let tok = |c: serde_json::Value| format!("{}.{}.sig", enc(serde_json::json!({"alg": "none"})), enc(c));
        assert_eq!(owner_from_token(&tok(serde_json::json!({"upn": "ada@example.com", "appid": "x"}))).as_deref(), Some("ada@example.com"));
        assert_eq!(owner_from_token(&tok(serde_json::json!({"appid": "app-1"}))).as_deref(), Some("sp:app-1"));
        assert_eq!(owner_from_token("not a jwt"), None);
        assert_eq!(auto_order(|_| false), vec![AuthMethod::Cli, AuthMethod::ManagedIdentity]);
        assert_eq!(auto_order(|_| true)[..2], [AuthMethod::Env, AuthMethod::WorkloadIdentity]);
        assert!(AuthMethod::ALL.iter().all(|m| AuthMethod::parse(m.as_str()) == Some(*m)));
    }
}

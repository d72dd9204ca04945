//! The one ARM client: bearer auth through `TokenCredential`, retries with jittered back-off
//! that honour `Retry-After`, long-running-operation polling, and a history line per call.

pub mod activity;
pub mod group;
pub mod lro;
pub mod retry;

use crate::auth::bearer;
use crate::clock::Clock;
use crate::error::HarnessError;
use crate::recorder::Recorder;
use aci_chaos_reports::{ArmCall, Phase, Record};
use azure_core::credentials::TokenCredential;
use reqwest::Method;
use reqwest::header::HeaderMap;
use retry::RetryPolicy;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use tracing::{Instrument, debug, info_span};
use url::Url;

/// The default ACI api-version: what the Python SDK 10.1 sends, and the spec's examples use.
pub const DEFAULT_API_VERSION: &str = "2023-05-01";

/// A response from ARM.
#[derive(Debug, Clone)]
pub struct ArmResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// JSON body (`Null` when empty or not JSON).
    pub body: Value,
    /// `x-ms-request-id`.
    pub request_id: Option<String>,
}

impl ArmResponse {
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An ARM client bound to one endpoint and credential.
#[derive(Clone)]
pub struct ArmClient {
    http: reqwest::Client,
    base: Url,
    credential: Arc<dyn TokenCredential>,
    scope: String,
    api_version: String,
    clock: Arc<dyn Clock>,
    recorder: Recorder,
    retry: RetryPolicy,
    quiet: bool,
    guard: Option<Arc<(RunGuard, String)>>,
    extra_roots: Option<Arc<Vec<u8>>>,
}

/// The safety rail of a real-subscription run: what every resource it creates is tagged with,
/// and the tag a group must carry before the client modifies or deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunGuard {
    /// `aci-chaos-run`: only groups with this tag are modified or deleted.
    pub run_id: String,
    /// `aci-chaos-owner`, added to the tags of every `PUT`/`PATCH` that carries tags.
    pub owner: String,
}

/// The tag naming the run that created a resource.
pub const RUN_TAG: &str = "aci-chaos-run";
/// The tag naming who ran it (user principal name or `sp:<app id>`).
pub const OWNER_TAG: &str = "aci-chaos-owner";
/// The tag with the creation time (RFC 3339), for `cleanup --older-than`.
pub const CREATED_TAG: &str = "aci-chaos-created";

/// Below this many remaining requests (any `x-ms-ratelimit-remaining-*` header) the client
/// slows down.
pub const RATE_LIMIT_LOW: u64 = 25;

/// How long to pause after a response whose `x-ms-ratelimit-remaining-*` headers say the quota
/// is nearly spent: nothing above [`RATE_LIMIT_LOW`], then up to 30 s as it nears zero.
pub fn throttle_delay(headers: &HeaderMap) -> Option<std::time::Duration> {
    let remaining = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-ms-ratelimit-remaining-"))
        .filter_map(|(_, v)| v.to_str().ok()?.trim().parse::<u64>().ok())
        .min()?;
    if remaining >= RATE_LIMIT_LOW {
        return None;
    }
    let step = (RATE_LIMIT_LOW - remaining) as u32;
    Some(std::time::Duration::from_millis(1200).saturating_mul(step).min(std::time::Duration::from_secs(30)))
}

/// The PEM files of `ca` and `SSL_CERT_FILE` (when set), read.
pub fn extra_roots(ca: Option<&std::path::Path>) -> Result<Vec<(std::path::PathBuf, Vec<u8>)>, HarnessError> {
    let env_file = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    ca.map(std::path::Path::to_path_buf)
        .into_iter()
        .chain(env_file)
        .map(|path| std::fs::read(&path).map(|pem| (path.clone(), pem)).map_err(|cause| HarnessError::Io { path, cause }))
        .collect()
}

/// An HTTP client for ARM and Entra ID that also trusts the PEM certificates in `ca` (e.g. what
/// `aci-chaos mock serve --tls --cert-out` wrote) and in `SSL_CERT_FILE` when set.
pub fn http_client(ca: Option<&std::path::Path>, timeout: std::time::Duration) -> Result<reqwest::Client, HarnessError> {
    let mut builder = reqwest::Client::builder().timeout(timeout);
    for (path, pem) in extra_roots(ca)? {
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| HarnessError::Protocol(format!("{}: not a PEM certificate bundle: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(HarnessError::Protocol(format!("{}: no certificate in the file (expected PEM)", path.display())));
        }
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    builder.build().map_err(|e| HarnessError::Protocol(format!("cannot build the HTTP client: {e}")))
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient").field("base", &self.base.as_str()).field("api_version", &self.api_version).finish_non_exhaustive()
    }
}

impl ArmClient {
    /// A client for `base` (e.g. `https://management.azure.com`).
    pub fn new(
        http: reqwest::Client,
        base: Url,
        credential: Arc<dyn TokenCredential>,
        api_version: &str,
        clock: Arc<dyn Clock>,
        recorder: Recorder,
        retry: RetryPolicy,
    ) -> Self {
        let scope = crate::auth::arm_scope(base.as_str());
        Self {
            http,
            base,
            credential,
            scope,
            api_version: api_version.to_string(),
            clock,
            recorder,
            retry,
            quiet: false,
            guard: None,
            extra_roots: None,
        }
    }

    /// The same client, but calls that succeed at once are not written to the history (failures
    /// and retries still are): for the routine reads of a long soak.
    pub fn quiet(&self) -> Self {
        Self { quiet: true, ..self.clone() }
    }

    /// The same client with the safety rail of a real-subscription run: owner and creation tags
    /// added to what it creates, and the run tag checked before it modifies or deletes a group.
    /// `aci-chaos-created` is the time of this call (the run's start), on every `PUT` and
    /// `PATCH`, so updates keep a group's age.
    pub fn guarded(&self, guard: RunGuard) -> Self {
        Self { guard: Some(Arc::new((guard, crate::wall_now()))), ..self.clone() }
    }

    /// The same client, with extra trusted roots (PEM) for the exec websocket too.
    pub fn with_extra_roots(&self, pem: Vec<u8>) -> Self {
        Self { extra_roots: (!pem.is_empty()).then(|| Arc::new(pem)), ..self.clone() }
    }

    /// A websocket TLS connector trusting the public roots and the extra ones, when there are
    /// extra ones (`None`: the default connector).
    pub fn ws_connector(&self) -> Result<Option<tokio_tungstenite::Connector>, HarnessError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let Some(pem) = &self.extra_roots else { return Ok(None) };
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| HarnessError::Protocol(format!("extra root certificate: {e}")))?;
            roots.add(cert).map_err(|e| HarnessError::Protocol(format!("extra root certificate: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HarnessError::Protocol(format!("TLS configuration: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(tokio_tungstenite::Connector::Rustls(Arc::new(cfg))))
    }

    /// The run guard, if any.
    pub fn guard(&self) -> Option<&RunGuard> {
        self.guard.as_deref().map(|(g, _)| g)
    }

    /// The api-version sent with ACI calls.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The endpoint.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The clock waits use.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Sends a request to a path (with query) on the endpoint, retrying what is retryable.
    /// Any status below 400 is returned; 4xx and 5xx become [`HarnessError::Arm`].
    pub async fn call(&self, method: Method, path_and_query: &str, body: Option<&Value>) -> Result<ArmResponse, HarnessError> {
        let url = self.base.join(path_and_query).map_err(|e| HarnessError::Protocol(format!("bad path {path_and_query}: {e}")))?;
        self.call_url(method, url, body).await
    }

    /// Sends a request to an absolute URL, which must be on the client's endpoint (tokens are
    /// never sent elsewhere).
    pub async fn call_url(&self, method: Method, url: Url, body: Option<&Value>) -> Result<ArmResponse, HarnessError> {
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        if url.origin() != self.base.origin() {
            return Err(HarnessError::Protocol(format!(
                "refusing to send a token to {} (not the ARM endpoint {})",
                url.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            )));
        }
        let span = info_span!("arm", method = %method, path = %url.path());
        async {
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                let note = |phase: Phase, status: Option<u16>, request_id: Option<String>, millis: Option<u64>, error: Option<String>| {
                    // A quiet client writes only what went wrong (and every retry).
                    if self.quiet && attempt == 1 && matches!(phase, Phase::Invoke | Phase::Ok) {
                        return Ok(());
                    }
                    let call = ArmCall {
                        method: method.to_string(),
                        path: path.clone(),
                        status,
                        request_id,
                        attempt,
                        millis,
                        error,
                        slowed_ms: None,
                    };
                    self.recorder.record(phase, Record::Arm(call))
                };
                let token = bearer(&self.credential, &self.scope).await?;
                note(Phase::Invoke, None, None, None, None)?;
                let started = Instant::now();
                let mut rb = self.http.request(method.clone(), url.clone()).bearer_auth(token).header("accept", "application/json");
                if let Some(b) = body {
                    match (&self.guard, b.get("tags")) {
                        (Some(g), Some(Value::Object(_))) if matches!(method, Method::PUT | Method::PATCH) => {
                            let (guard, created) = &**g;
                            let mut b = b.clone();
                            b["tags"][OWNER_TAG] = Value::String(guard.owner.clone());
                            b["tags"][CREATED_TAG] = Value::String(created.clone());
                            rb = rb.json(&b);
                        }
                        _ => rb = rb.json(b),
                    }
                }
                let sent = rb.send().await;
                let millis = Some(started.elapsed().as_millis() as u64);
                let resp = match sent {
                    Ok(r) => r,
                    Err(e) => {
                        let message = e.to_string();
                        note(Phase::Fail, None, None, millis, Some(message.clone()))?;
                        if let Some(d) = self.retry.delay(attempt, None) {
                            debug!(attempt, ?d, "transport error, retrying: {message}");
                            self.clock.sleep(d).await?;
                            continue;
                        }
                        return Err(HarnessError::Transport { method: method.to_string(), path, message });
                    }
                };
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let request_id = headers.get("x-ms-request-id").and_then(|v| v.to_str().ok()).map(String::from);
                let bytes = match resp.bytes().await {
                    Ok(b) => b,
                    Err(e) => {
                        // The answer was cut off mid-body: a transport failure, retried like one.
                        let message = format!("answer {status} cut off: {e}");
                        note(Phase::Fail, Some(status), request_id.clone(), millis, Some(message.clone()))?;
                        if let Some(d) = self.retry.delay(attempt, None) {
                            self.clock.sleep(d).await?;
                            continue;
                        }
                        return Err(HarnessError::Transport { method: method.to_string(), path, message });
                    }
                };
                let body: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
                if let Some(pause) = throttle_delay(&headers) {
                    // Worth a line even from a quiet client: the run went slower on purpose.
                    self.recorder.record(
                        Phase::Info,
                        Record::Arm(ArmCall {
                            method: method.to_string(),
                            path: path.clone(),
                            status: Some(status),
                            request_id: request_id.clone(),
                            attempt,
                            millis,
                            error: None,
                            slowed_ms: Some(pause.as_millis() as u64),
                        }),
                    )?;
                    tracing::info!(?pause, "ARM's rate-limit headers say the quota is nearly spent: slowing down");
                    self.clock.sleep(pause).await?;
                }
                if status < 400 {
                    note(Phase::Ok, Some(status), request_id.clone(), millis, None)?;
                    return Ok(ArmResponse { status, headers, body, request_id });
                }
                let code = body.pointer("/error/code").and_then(Value::as_str).unwrap_or("").to_string();
                let message = body.pointer("/error/message").and_then(Value::as_str).unwrap_or("").to_string();
                note(Phase::Fail, Some(status), request_id.clone(), millis, Some(code.clone()))?;
                if RetryPolicy::retryable(status) {
                    let retry_after = headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(retry::parse_retry_after);
                    if let Some(d) = self.retry.delay(attempt, retry_after) {
                        debug!(attempt, status, ?d, "retrying");
                        self.clock.sleep(d).await?;
                        continue;
                    }
                }
                return Err(HarnessError::Arm { method: method.to_string(), path, status, code, message, request_id });
            }
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::*;

    #[test]
    fn rate_limit_headers_slow_down_before_zero() {
        let mut h = HeaderMap::new();
        assert_eq!(throttle_delay(&h), None);
        h.insert("x-ms-ratelimit-remaining-subscription-reads", "11999".parse().unwrap());
        assert_eq!(throttle_delay(&h), None);
        h.insert("x-ms-ratelimit-remaining-subscription-writes", "20".parse().unwrap());
        let a = throttle_delay(&h).unwrap();
        h.insert("x-ms-ratelimit-remaining-subscription-writes", "1".parse().unwrap());
        let b = throttle_delay(&h).unwrap();
        assert!(a < b && b <= std::time::Duration::from_secs(30), "{a:?} {b:?}");
    }

    /// A clock that records the waits asked of it and returns at once.
    #[derive(Debug, Default)]
    struct Waits(std::sync::Mutex<Vec<std::time::Duration>>);

    #[async_trait::async_trait]
    impl Clock for Waits {
        fn now(&self) -> time::OffsetDateTime {
            time::OffsetDateTime::now_utc()
        }
        async fn sleep(&self, d: std::time::Duration) -> Result<(), HarnessError> {
            self.0.lock().unwrap().push(d);
            Ok(())
        }
    }

    /// Serves `answers` (remaining-quota header values) one connection each, then stops.
    async fn server(answers: Vec<u32>) -> Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for remaining in answers {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let body = "{}";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-ms-ratelimit-remaining-subscription-reads: {remaining}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        Url::parse(&format!("http://{addr}/")).unwrap()
    }

    #[tokio::test]
    async fn the_client_pauses_when_the_quota_runs_low_and_not_before() {
        let base = server(vec![11999, 30, 3]).await;
        let waits = Arc::new(Waits::default());
        let clock: Arc<dyn Clock> = waits.clone();
        let client = ArmClient::new(
            reqwest::Client::new(),
            base,
            Arc::new(crate::auth::StaticTokenCredential::new("t")),
            DEFAULT_API_VERSION,
            clock.clone(),
            Recorder::new(None, clock),
            RetryPolicy::default(),
        );
        for _ in 0..3 {
            client.call(Method::GET, "/subscriptions/s?api-version=1", None).await.unwrap();
        }
        let w = waits.0.lock().unwrap().clone();
        assert_eq!(w.len(), 1, "only the answer with 3 left slows down: {w:?}");
        assert_eq!(
            w[0],
            throttle_delay(&{
                let mut h = HeaderMap::new();
                h.insert("x-ms-ratelimit-remaining-subscription-reads", "3".parse().unwrap());
                h
            })
            .unwrap()
        );
    }

    #[test]
    fn a_missing_or_bad_ca_file_is_an_error_not_a_panic() {
        assert!(http_client(Some(std::path::Path::new("/nonexistent/ca.pem")), std::time::Duration::from_secs(1)).is_err());
        let f = tempfile_path("not a pem");
        assert!(http_client(Some(&f), std::time::Duration::from_secs(1)).is_err());
        let _ = std::fs::remove_file(f);
    }

    fn tempfile_path(content: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("aci-chaos-ca-{}.pem", std::process::id()));
        std::fs::write(&p, content).unwrap();
        p
    }
}

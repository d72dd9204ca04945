//! The HTTP server: one handler that routes every request, so paths match case-insensitively
//! and every answer, errors included, has ARM's shape; plus the exec/attach websocket.
//!
//! One listening port serves both plain HTTP and (with [`MockConfig::tls`]) HTTPS: the first
//! byte of each connection tells them apart (a TLS handshake starts with `0x16`). So
//! `http://127.0.0.1:PORT` and `https://127.0.0.1:PORT` are the same mock.

use crate::ADMIN_PREFIX;
use crate::admin::{self, LoggedRequest};
use crate::api::{self, Req};
use crate::clock::{ClockMode, rfc3339};
use crate::error::MockError;
use crate::exec::{self, ExecContext, SessionKind};
use crate::persist;
use crate::route::route;
use crate::shared::Shared;
use crate::tls::TlsIdentity;
use crate::world::{Timings, World, WorldConfig};
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as AxPath, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// How to start a mock.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Seed of every random choice.
    pub seed: u64,
    /// Clock mode.
    pub clock: ClockMode,
    /// The subscription the mock serves.
    pub subscription: String,
    /// The tenant of that subscription.
    pub tenant: String,
    /// How long simulated operations take.
    pub timings: Timings,
    /// Also serve HTTPS on the same port, with a certificate generated at start.
    pub tls: bool,
    /// Keep the state in this file: loaded at start when it exists, saved after every change.
    /// It holds secrets (so a restarted mock's containers still see them): written mode 0600.
    pub state_file: Option<PathBuf>,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 0,
            clock: ClockMode::Real,
            subscription: "00000000-0000-0000-0000-00000000c0de".into(),
            tenant: "00000000-0000-0000-0000-0000000000aa".into(),
            timings: Timings::default(),
            tls: false,
            state_file: None,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) shared: Arc<Mutex<Shared>>,
    pub(crate) scheme: &'static str,
    pub(crate) state_file: Option<Arc<PathBuf>>,
    /// The bound address, for URLs when a request names no host.
    pub(crate) local: SocketAddr,
    /// Whether the fault plan has control-plane rules (refreshed after every admin call, the
    /// only way a plan changes), so requests skip the fault check when there are none.
    pub(crate) control_rules: Arc<AtomicBool>,
}

impl AppState {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock must not take the whole mock down with it.
        match self.shared.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// A running mock server; dropping it stops the server.
pub struct MockServer {
    addr: SocketAddr,
    ca_pem: Option<String>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<Result<(), std::io::Error>>>,
}

pub use crate::shared::REQUEST_LOG_LIMIT;

/// Reads whose answers depend only on the world's state (not on the clock's reading) and carry
/// no headers of their own: a group, the lists, the subscriptions. Logs are not cached
/// (heartbeats follow the clock), nor operation status (its `Retry-After` is a header).
fn cacheable(req: &Req) -> bool {
    use crate::route::Route::*;
    req.method == Method::GET && matches!(req.route, Group(_) | GroupsInResourceGroup { .. } | GroupsInSubscription { .. } | Subscriptions)
}

fn is_mutation(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

async fn dispatch(State(app): State<AppState>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path();
    // HTTP/2 carries the host in the URI's authority, HTTP/1.1 in the Host header.
    let host = match uri.authority() {
        Some(a) => a.to_string(),
        None => headers.get("host").and_then(|h| h.to_str().ok()).map(str::to_string).unwrap_or_else(|| app.local.to_string()),
    };
    let base = format!("{}://{host}", app.scheme);
    let is_admin = path == ADMIN_PREFIX || path.starts_with(ADMIN_PREFIX) && path.as_bytes().get(ADMIN_PREFIX.len()) == Some(&b'/');
    // Control-plane faults from the fault plan (throttling, 5xx, drops, latency) come first.
    if !is_admin && app.control_rules.load(Ordering::Relaxed) {
        let action = crate::faults::control_for(&mut app.lock().world, &method, path);
        match action {
            Some(crate::faults::ControlAction::Fail(err, retry_after)) => return crate::faults::failed_response(err, retry_after),
            Some(crate::faults::ControlAction::Drop) => return crate::faults::dropped_response(),
            Some(crate::faults::ControlAction::Delay(d)) => tokio::time::sleep(d).await,
            None => {}
        }
    }
    let authed = !is_admin && api::check_bearer(&headers).is_ok();
    // The subscription's request budget (authenticated ARM requests only, as ARM counts them).
    let budget = if authed { crate::ratelimit::subscription_of(path) } else { None };
    // A GET that was answered before and cached (see `ReadCache`) is served without routing.
    let probe_key = (method == Method::GET && authed).then(|| format!("{base}{uri}"));
    let resp = {
        let mut guard = app.lock();
        let shared = &mut *guard;
        let now = shared.world.now();
        if probe_key.is_none() || shared.world.next_event().is_some_and(|t| t <= now) {
            shared.cache.clear();
        }
        let remaining = budget.map(|sub| shared.world.take_request_budget(sub, is_mutation(&method)));
        let hit = probe_key.as_deref().and_then(|k| shared.cache.get(k));
        let mut resp = if let Some(Err((err, retry_after))) = remaining.clone() {
            crate::faults::failed_response(err, Some(retry_after))
        } else if let Some((status, bytes)) = hit {
            let mut r = status.into_response();
            api::set_json_body(&mut r, bytes);
            r
        } else if is_admin {
            let r = admin::handle(shared, app.state_file.as_deref().map(PathBuf::as_path), &method, path, &body)
                .unwrap_or_else(IntoResponse::into_response);
            app.control_rules.store(!shared.world.plan().control.is_empty(), Ordering::Relaxed);
            r
        } else {
            let req = Req {
                method: method.clone(),
                path: path.to_string(),
                route: route(path),
                query: api::parse_query(uri.query()),
                headers,
                body,
                base,
            };
            let cache_key = probe_key.filter(|_| cacheable(&req));
            if cache_key.is_none() {
                shared.cache.clear();
            }
            let mut resp = api::handle(shared, &req).unwrap_or_else(IntoResponse::into_response);
            if let Some(key) = cache_key
                && resp.status() == axum::http::StatusCode::OK
                && let Some(api::DeferredJson(v)) = resp.extensions_mut().remove::<api::DeferredJson>()
            {
                let bytes = Bytes::from(serde_json::to_vec(&v).unwrap_or_default());
                shared.cache.put(key, resp.status(), bytes.clone());
                api::set_json_body(&mut resp, bytes);
            }
            resp
        };
        if let Some(Ok((header, left))) = remaining {
            resp.headers_mut().insert(header, HeaderValue::from(left));
        }
        let rid = shared.world.next_request_id();
        if let Ok(v) = HeaderValue::from_str(&rid) {
            resp.headers_mut().insert("x-ms-request-id", v.clone());
            resp.headers_mut().insert("x-ms-correlation-request-id", v);
        }
        // A reset empties the state file too, or a restarted mock would bring the old groups back.
        if is_admin
            && method == Method::POST
            && path.ends_with("/reset")
            && resp.status().is_success()
            && let Some(file) = &app.state_file
            && let Err(e) = persist::save_file(&shared.world, file)
        {
            tracing::warn!("could not save the mock state: {e}");
        }
        if !is_admin {
            let at = rfc3339(shared.world.now());
            shared.requests.push(LoggedRequest {
                at,
                method: method.to_string(),
                uri: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                status: resp.status().as_u16(),
            });
            if is_mutation(&method)
                && resp.status().is_success()
                && let Some(file) = &app.state_file
                && let Err(e) = persist::save_file(&shared.world, file)
            {
                tracing::warn!("could not save the mock state: {e}");
            }
        }
        resp
    };
    api::finish(resp)
}

/// `GET /_aci-chaos/ws/{id}`: the exec/attach websocket.
async fn websocket(State(app): State<AppState>, AxPath(id): AxPath<String>, ws: WebSocketUpgrade) -> Response {
    let session = app.lock().sessions.take(&id);
    ws.on_upgrade(move |socket| async move {
        if let Some(session) = session {
            serve_session(app, session, socket).await;
        } else {
            close(socket, 1008, "unknown or used session").await;
        }
    })
}

async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
}

/// How long a websocket waits for the password, and for stdin of an interactive shell.
const WS_IDLE: Duration = Duration::from_secs(60);

fn frame_text(m: Message) -> Option<String> {
    match m {
        Message::Text(t) => Some(t.to_string()),
        Message::Binary(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        _ => None,
    }
}

async fn serve_session(app: AppState, session: exec::Session, mut socket: WebSocket) {
    let first = match tokio::time::timeout(WS_IDLE, socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        _ => return close(socket, 1008, "authentication failed: the first frame must be the password").await,
    };
    if !session.password_matches(first.trim_end_matches(['\r', '\n'])) {
        return close(socket, 1008, "authentication failed").await;
    }
    let context = || -> Result<(ExecContext, String), String> {
        let mut guard = app.lock();
        let world = &mut guard.world;
        world.tick();
        let logs = if session.kind == SessionKind::Attach {
            world
                .logs(&session.subscription, &session.resource_group, &session.group, &session.container, None, false)
                .map_err(|e| e.message)?
        } else {
            String::new()
        };
        let g = world.group(&session.subscription, &session.resource_group, &session.group).map_err(|e| e.message)?;
        let c = g
            .containers
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(&session.container))
            .filter(|c| c.current.state == "Running" && g.placement.is_some())
            .ok_or_else(|| format!("container '{}' is not running", session.container))?;
        let pl = g.placement.as_ref().map(|p| (p.boot_id.clone(), p.host.clone())).unwrap_or_default();
        Ok((ExecContext { profile: Some(c.profile), env: c.env.clone(), files: c.files.clone(), boot: pl.0, host: pl.1 }, logs))
    };
    let (ctx, logs) = match context() {
        Ok(c) => c,
        Err(msg) => {
            let _ = socket.send(Message::Text(format!("error: {msg}\r\n").into())).await;
            return close(socket, 1011, "container not available").await;
        }
    };
    if session.kind == SessionKind::Attach {
        if !logs.is_empty() {
            let _ = socket.send(Message::Text(logs.into())).await;
        }
        return close(socket, 1000, "").await;
    }
    if !exec::is_interactive_shell(&session.command) {
        let out = exec::run(&session.command, &ctx);
        if !out.text.is_empty() {
            let _ = socket.send(Message::Text(String::from_utf8_lossy(&out.text).into_owned().into())).await;
        }
        return close(socket, 1000, "").await;
    }
    // An interactive shell: run each line of stdin.
    let mut pending = String::new();
    loop {
        let msg = match tokio::time::timeout(WS_IDLE, socket.recv()).await {
            Ok(Some(Ok(m))) => m,
            _ => break,
        };
        if matches!(msg, Message::Close(_)) {
            break;
        }
        let Some(text) = frame_text(msg) else { continue };
        pending.push_str(&text);
        while let Some(i) = pending.find(['\n', '\r']) {
            let line: String = pending.drain(..=i).collect();
            let out = exec::run(line.trim_end_matches(['\r', '\n']), &ctx);
            if !out.text.is_empty() {
                let t = String::from_utf8_lossy(&out.text).replace('\n', "\r\n");
                if socket.send(Message::Text(t.into())).await.is_err() {
                    return;
                }
            }
            if out.exit {
                return close(socket, 1000, "").await;
            }
        }
    }
    close(socket, 1000, "").await;
}

fn router(state: AppState) -> Router {
    Router::new().route(&format!("{ADMIN_PREFIX}/ws/{{id}}"), get(websocket)).fallback(dispatch).with_state(state)
}

/// Resolves once the server is told to stop (or its handle is gone).
async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn serve_io<I>(io: I, app: Router, shutdown: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(io, TowerToHyperService::new(app));
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped(shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

async fn serve_connection(stream: TcpStream, http: Router, https: Router, tls: Option<TlsAcceptor>, shutdown: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    if let Some(acceptor) = tls {
        let mut first = [0u8; 1];
        let is_tls = matches!(tokio::time::timeout(WS_IDLE, stream.peek(&mut first)).await, Ok(Ok(1))) && first[0] == 0x16;
        if is_tls {
            match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                Ok(Ok(s)) => serve_io(TokioIo::new(s), https, shutdown).await,
                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
            return;
        }
    }
    serve_io(TokioIo::new(stream), http, shutdown).await;
}

impl MockServer {
    /// Binds and starts serving in the background.
    pub async fn start(config: MockConfig) -> Result<Self, MockError> {
        let listener =
            TcpListener::bind(config.listen).await.map_err(|source| MockError::Bind { addr: config.listen.to_string(), source })?;
        let addr = listener.local_addr()?;
        let mut world = World::new(WorldConfig {
            seed: config.seed,
            clock: config.clock,
            subscription: config.subscription.clone(),
            tenant: config.tenant.clone(),
            timings: config.timings,
        });
        if let Some(file) = &config.state_file
            && file.exists()
        {
            persist::load_file(&mut world, file)?;
        }
        let shared = Arc::new(Mutex::new(Shared::new(world)));
        let state_file = config.state_file.clone().map(Arc::new);
        let control_rules = Arc::new(AtomicBool::new(false));
        let http = router(AppState {
            shared: shared.clone(),
            scheme: "http",
            state_file: state_file.clone(),
            local: addr,
            control_rules: control_rules.clone(),
        });
        let https = router(AppState { shared, scheme: "https", state_file, local: addr, control_rules });
        let (tls, ca_pem) = if config.tls {
            let id = TlsIdentity::generate()?;
            (Some(TlsAcceptor::from(id.server_config()?)), Some(id.ca_pem().to_string()))
        } else {
            (None, None)
        };
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let stop = stopped(rx.clone());
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    r = listener.accept() => match r {
                        Ok((stream, _)) => {
                            tokio::spawn(serve_connection(stream, http.clone(), https.clone(), tls.clone(), rx.clone()));
                        }
                        // Out of file descriptors and the like: back off, keep serving.
                        Err(e) => {
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    },
                    _ = &mut stop => return Ok(()),
                }
            }
        });
        Ok(Self { addr, ca_pem, shutdown: tx, task: Some(task) })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://127.0.0.1:PORT` when TLS is on (the same port as [`Self::base_url`]).
    pub fn tls_base_url(&self) -> Option<String> {
        self.ca_pem.as_ref().map(|_| format!("https://{}", self.addr))
    }

    /// The PEM of the CA clients must trust for HTTPS, when TLS is on.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Serves until the server fails (for `mock serve`).
    pub async fn wait(mut self) -> Result<(), MockError> {
        match self.task.take() {
            Some(t) => t.await.map_err(|e| MockError::Serve(std::io::Error::other(e)))?.map_err(MockError::Serve),
            None => Ok(()),
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

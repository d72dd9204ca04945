//! The HTTP server: one handler that routes every request, so paths match case-insensitively
//! and every answer, errors included, has ARM's shape.

use crate::ADMIN_PREFIX;
use crate::admin::{self, LoggedRequest};
use crate::api::{self, Req};
use crate::clock::{ClockMode, rfc3339};
use crate::error::MockError;
use crate::route::route;
use crate::world::{Timings, World, WorldConfig};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
        }
    }
}

struct Shared {
    world: World,
    requests: Vec<LoggedRequest>,
}

#[derive(Clone)]
struct AppState {
    shared: Arc<Mutex<Shared>>,
    scheme: &'static str,
}

/// A running mock server; dropping it stops the server.
pub struct MockServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), std::io::Error>>>,
}

/// The most requests the request log keeps (oldest dropped first).
pub const REQUEST_LOG_LIMIT: usize = 10_000;

async fn dispatch(State(app): State<AppState>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    let base = format!("{}://{host}", app.scheme);
    let mut guard = match app.shared.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let Shared { world, requests } = &mut *guard;
    let is_admin = path == ADMIN_PREFIX || path.starts_with(&format!("{ADMIN_PREFIX}/"));
    let result = if is_admin {
        admin::handle(world, requests, &method, &path, &body)
    } else {
        let req = Req { method: method.clone(), route: route(&path), query: api::parse_query(uri.query()), headers, body, base };
        api::handle(world, &req)
    };
    let mut resp = result.unwrap_or_else(IntoResponse::into_response);
    let rid = world.next_request_id();
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-ms-request-id", v.clone());
        resp.headers_mut().insert("x-ms-correlation-request-id", v);
    }
    if !is_admin {
        if requests.len() >= REQUEST_LOG_LIMIT {
            requests.remove(0);
        }
        requests.push(LoggedRequest {
            at: rfc3339(world.now()),
            method: method.to_string(),
            uri: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
            status: resp.status().as_u16(),
        });
    }
    resp
}

impl MockServer {
    /// Binds and starts serving in the background.
    pub async fn start(config: MockConfig) -> Result<Self, MockError> {
        let listener =
            TcpListener::bind(config.listen).await.map_err(|source| MockError::Bind { addr: config.listen.to_string(), source })?;
        let addr = listener.local_addr()?;
        let world = World::new(WorldConfig {
            seed: config.seed,
            clock: config.clock,
            subscription: config.subscription.clone(),
            tenant: config.tenant.clone(),
            timings: config.timings,
        });
        let state = AppState { shared: Arc::new(Mutex::new(Shared { world, requests: Vec::new() })), scheme: "http" };
        let app = Router::new().fallback(dispatch).with_state(state);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Self { addr, shutdown: Some(tx), task: Some(task) })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
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
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

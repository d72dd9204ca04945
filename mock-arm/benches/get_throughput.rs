//! GET throughput of the mock at 32 concurrent keep-alive connections, against a bare axum
//! "hello" server measured in the same run on the same machine (target: mock ≥ 0.5 × hello).
//!
//! `cargo bench -p mock-arm --bench get_throughput` (release build). Environment:
//! `BENCH_SECONDS` (default 5) per measurement, `BENCH_CONNECTIONS` (default 32). The servers
//! run on one runtime, the load on another, both on loopback; each is measured twice,
//! alternating, and the better run of each is reported.

use axum::Router;
use axum::routing::get;
use mock_arm::{ClockMode, MockConfig, MockServer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SUB: &str = "00000000-0000-0000-0000-00000000c0de";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Reads one HTTP/1.1 response (headers + Content-Length body); returns its status.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).map_err(std::io::Error::other)?;
            let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other("bad status line"))?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim().parse().unwrap_or(0))
                })
                .ok_or_else(|| std::io::Error::other("no content-length"))?;
            let total = end + 4 + len;
            while buf.len() < total {
                let mut chunk = [0u8; 16384];
                let n = s.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::Error::other("closed"));
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(status);
        }
        let mut chunk = [0u8; 16384];
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("closed"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Requests per second of `GET path` over `conns` keep-alive connections for `secs`.
async fn load(addr: SocketAddr, path: &str, conns: u64, secs: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer bench\r\nAccept: application/json\r\n\r\n").into_bytes();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (done, stop, request) = (done.clone(), stop.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).ok();
            let mut buf = Vec::with_capacity(32 * 1024);
            while !stop.load(Ordering::Relaxed) {
                s.write_all(&request).await.expect("write");
                let status = read_response(&mut s, &mut buf).await.expect("response");
                assert_eq!(status, 200, "GET {}", String::from_utf8_lossy(&request));
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for t in tasks {
        let _ = t.await;
    }
    n as f64 / elapsed
}

fn main() {
    let secs = env_or("BENCH_SECONDS", 5);
    let conns = env_or("BENCH_CONNECTIONS", 32);
    let server_threads = env_or("BENCH_SERVER_THREADS", 2) as usize;
    let servers = tokio::runtime::Builder::new_multi_thread().worker_threads(server_threads).enable_all().build().unwrap();
    let (hello, mock, _server) = servers.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hello = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, Router::new().route("/", get(|| async { "hello" }))).await });
        let server = MockServer::start(MockConfig { clock: ClockMode::Virtual, ..MockConfig::default() }).await.unwrap();
        let http = reqwest::Client::new();
        let base = server.base_url();
        http.put(format!("{base}/subscriptions/{SUB}/resourceGroups/rg1?api-version=2021-04-01"))
            .bearer_auth("t")
            .json(&serde_json::json!({"location": "eastus"}))
            .send()
            .await
            .unwrap();
        let body = serde_json::json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [{"name": "probe", "properties": {
            "image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}},
            "environmentVariables": [{"name": "ACI_CHAOS_PROFILE", "value": "probe"}, {"name": "ACI_CHAOS_SECURE_ENV", "secureValue": "s"}]}}]}});
        let r = http
            .put(format!("{base}/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.ContainerInstance/containerGroups/g1?api-version=2023-05-01"))
            .bearer_auth("t")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        http.post(format!("{base}/_aci-chaos/clock/advance")).json(&serde_json::json!({"seconds": 10})).send().await.unwrap();
        (hello, server.addr(), server)
    });
    let client = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let group =
        format!("/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.ContainerInstance/containerGroups/g1?api-version=2023-05-01");
    let (mut best_hello, mut best_mock) = (0f64, 0f64);
    client.block_on(async {
        // Warm-up.
        load(hello, "/", conns, 1).await;
        load(mock, &group, conns, 1).await;
        for _ in 0..2 {
            best_hello = best_hello.max(load(hello, "/", conns, secs).await);
            best_mock = best_mock.max(load(mock, &group, conns, secs).await);
        }
    });
    println!(
        "GET throughput, {conns} keep-alive connections, {secs} s per run, best of 2, {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("  bare axum hello:           {best_hello:>10.0} req/s");
    println!("  mock GET container group:  {best_mock:>10.0} req/s");
    println!("  ratio mock/hello:          {:>10.2} (target >= 0.50)", best_mock / best_hello);
}

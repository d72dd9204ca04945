//! `aci-chaos mock serve`, and the admin subcommands that drive a running mock
//! (`reset`, `state`, `requests`, `save`, `load`), mirroring its admin plane.

use super::Failure;
use super::args::{AdminArgs, MockCommand, ServeArgs};
use mock_arm::{ClockMode, MockConfig, MockServer};
use std::io::Write;

/// Runs one `mock` subcommand.
pub async fn command(cmd: MockCommand) -> Result<u8, Failure> {
    match cmd {
        MockCommand::Serve(s) => serve(s).await,
        MockCommand::Reset(a) => admin(a, reqwest::Method::POST, "reset").await,
        MockCommand::State(a) => admin(a, reqwest::Method::GET, "state").await,
        MockCommand::Requests(a) => admin(a, reqwest::Method::GET, "requests").await,
        MockCommand::Save(a) => admin(a, reqwest::Method::POST, "state/save").await,
        MockCommand::Load(a) => admin(a, reqwest::Method::POST, "state/load").await,
    }
}

/// Serves the mock until Ctrl-C.
pub async fn serve(args: ServeArgs) -> Result<u8, Failure> {
    let clock: ClockMode = args.clock.parse().map_err(|e: String| Failure::usage(anyhow::anyhow!("--clock: {e}")))?;
    let plan = match &args.faults {
        Some(f) => Some(mock_arm::faults::FaultPlan::load(f).map_err(Failure::usage)?),
        None => None,
    };
    if !args.listen.ip().is_loopback() {
        return Err(Failure::usage(anyhow::anyhow!("--listen {}: the mock serves loopback only (127.0.0.1 or [::1])", args.listen)));
    }
    let config = MockConfig {
        listen: args.listen,
        seed: args.seed,
        clock,
        tls: args.tls,
        state_file: args.state_file.clone(),
        subscription: args.subscription.clone(),
        tenant: args.tenant.clone(),
        ..MockConfig::default()
    };
    let server = MockServer::start(config).await?;
    if let Some(plan) = plan {
        // Through the admin plane, as any client would add a plan.
        let url = format!("{}{}/faults/plan", server.base_url(), mock_arm::ADMIN_PREFIX);
        let r = reqwest::Client::new().post(&url).json(&plan).send().await.map_err(|e| anyhow::anyhow!("applying --faults: {e}"))?;
        if !r.status().is_success() {
            let body = r.text().await.unwrap_or_default();
            return Err(Failure::usage(anyhow::anyhow!("--faults: the mock refused the plan: {body}")));
        }
    }
    if let (Some(path), Some(pem)) = (&args.cert_out, server.ca_pem()) {
        std::fs::write(path, pem)
            .map_err(|e| Failure::usage(anyhow::anyhow!("--cert-out {}: {e} (hint: does its folder exist?)", path.display())))?;
    }
    // stdout may be closed by whoever started us (a script that read the address): never panic.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "mock ARM listening on {}", server.base_url());
    if let Some(https) = server.tls_base_url() {
        let trust = args.cert_out.as_ref().map(|p| format!(" (trust {})", p.display())).unwrap_or_default();
        let _ = writeln!(out, "mock ARM listening on {https}{trust}");
    }
    if let Some(f) = &args.state_file {
        let _ = writeln!(out, "state kept in {}", f.display());
    }
    if let Some(f) = &args.faults {
        let _ = writeln!(out, "fault plan from {} in force (GET {}/faults/plan)", f.display(), mock_arm::ADMIN_PREFIX);
    }
    let _ = writeln!(out, "admin plane at {}{}/info; Ctrl-C stops it", server.base_url(), mock_arm::ADMIN_PREFIX);
    let _ = out.flush();
    tokio::select! {
        r = server.wait() => r?,
        _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
    }
    Ok(0)
}

/// Calls the admin plane of a running mock and prints its JSON answer.
async fn admin(args: AdminArgs, method: reqwest::Method, call: &str) -> Result<u8, Failure> {
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
    if let Some(ca) = &args.ca {
        let pem = std::fs::read(ca).map_err(|e| Failure::usage(anyhow::anyhow!("--ca {}: {e}", ca.display())))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| Failure::usage(anyhow::anyhow!("--ca {}: {e}", ca.display())))?;
        builder = builder.add_root_certificate(cert);
    }
    let client = builder.build()?;
    let url = format!("{}{}/{call}", args.endpoint.trim_end_matches('/'), mock_arm::ADMIN_PREFIX);
    let resp = client.request(method, &url).send().await.map_err(|e| {
        anyhow::anyhow!("cannot reach the mock at {}: {e} (hint: start one with `aci-chaos mock serve`, pass --endpoint)", args.endpoint)
    })?;
    let status = resp.status();
    let text = resp.text().await?;
    let pretty = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| serde_json::to_string_pretty(&v).ok()).unwrap_or(text);
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{pretty}");
    if status.is_success() { Ok(0) } else { Err(anyhow::anyhow!("the mock answered {status} to {call}").into()) }
}

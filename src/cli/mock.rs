//! `aci-chaos mock serve`.

use super::Failure;
use super::args::ServeArgs;
use mock_arm::{ClockMode, MockConfig, MockServer};
use std::io::Write;

/// Serves the mock until Ctrl-C.
pub async fn serve(args: ServeArgs) -> Result<u8, Failure> {
    let clock: ClockMode = args.clock.parse().map_err(|e: String| Failure::usage(anyhow::anyhow!("--clock: {e}")))?;
    if !args.listen.ip().is_loopback() {
        return Err(Failure::usage(anyhow::anyhow!("--listen {}: the mock serves loopback only (127.0.0.1 or [::1])", args.listen)));
    }
    let server = MockServer::start(MockConfig { listen: args.listen, seed: args.seed, clock, ..MockConfig::default() }).await?;
    // stdout may be closed by whoever started us (a script that read the address): never panic.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "mock ARM listening on {}", server.base_url());
    let _ = writeln!(out, "admin plane at {}{}/info; Ctrl-C stops it", server.base_url(), mock_arm::ADMIN_PREFIX);
    let _ = out.flush();
    tokio::select! {
        r = server.wait() => r?,
        _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
    }
    Ok(0)
}

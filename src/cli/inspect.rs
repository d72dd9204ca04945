//! `aci-chaos inspect`: a read-only look at existing container groups.

use super::Failure;
use super::args::InspectArgs;
use super::run::{azure_roots, azure_subscription, connect_azure};
use aci_chaos_harness::arm::retry::RetryPolicy;
use aci_chaos_harness::arm::{ArmClient, DEFAULT_API_VERSION};
use aci_chaos_harness::clock::{Clock, RealClock};
use aci_chaos_harness::inspect::{DEFAULT_PATTERNS, InspectOptions, inspect, to_markdown, to_table};
use aci_chaos_harness::recorder::Recorder;
use anyhow::anyhow;
use std::sync::Arc;

/// Prints the findings; exit 0 whatever they are.
pub async fn command(args: InspectArgs) -> Result<u8, Failure> {
    if let Some(bad) = args.exec_check.iter().find(|n| n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        return Err(Failure::usage(anyhow!("--exec-check `{bad}`: expected environment variable names")));
    }
    let subscription = azure_subscription(&args.azure)?;
    let (resolved, http, endpoint) = connect_azure(&args.azure).await?;
    let clock: Arc<dyn Clock> = Arc::new(RealClock);
    let client = ArmClient::new(
        http,
        endpoint,
        resolved.credential,
        DEFAULT_API_VERSION,
        clock.clone(),
        Recorder::new(None, clock),
        RetryPolicy::default(),
    )
    .with_extra_roots(azure_roots(&args.azure)?);
    let mut patterns: Vec<String> = DEFAULT_PATTERNS.iter().map(|s| s.to_string()).collect();
    patterns.extend(args.pattern.iter().cloned());
    let opts = InspectOptions { name: args.name.clone(), patterns, exec_check: args.exec_check.clone(), tail: args.tail };
    let findings = inspect(&client, &subscription, &args.resource_group, &opts).await?;
    if findings.is_empty() {
        println!("no container groups in {}", args.resource_group);
        return Ok(0);
    }
    print!("{}", if args.markdown { to_markdown(&findings) } else { to_table(&findings) });
    Ok(0)
}

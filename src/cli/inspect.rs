//! `aci-chaos inspect`: a read-only look at existing container groups.

use super::Failure;
use super::args::InspectArgs;
use super::run::azure_client;
use aci_chaos_harness::inspect::{DEFAULT_PATTERNS, InspectOptions, inspect, to_markdown, to_table};
use anyhow::anyhow;

/// Prints the findings; exit 0 whatever they are.
pub async fn command(args: InspectArgs) -> Result<u8, Failure> {
    if let Some(bad) = args.exec_check.iter().find(|n| n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        return Err(Failure::usage(anyhow!("--exec-check `{bad}`: expected environment variable names")));
    }
    let (subscription, client) = azure_client(&args.azure).await?;
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

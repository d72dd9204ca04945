//! `aci-chaos cleanup`: deletes the container groups a run left behind, by tag.

use super::Failure;
use super::args::CleanupArgs;
use super::run::azure_client;
use aci_chaos_harness::cleanup::{Selector, sweep};
use anyhow::anyhow;

/// Sweeps tagged groups; exit 0 when every selected group was deleted, 1 when some could not be.
pub async fn command(args: CleanupArgs) -> Result<u8, Failure> {
    if let Some(r) = &args.run
        && (r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(Failure::usage(anyhow!("--run `{r}`: expected a run id as a run prints it (e.g. 3fa2c1)")));
    }
    let (subscription, client) = azure_client(&args.azure).await?;
    let sel = Selector { run: args.run.clone(), older_than: args.older_than };
    let what = match &sel.run {
        Some(r) => format!("aci-chaos-run={r}"),
        None => "any aci-chaos-run tag".into(),
    };
    let scope = args.resource_group.as_deref().map(|g| format!("resource group {g}")).unwrap_or_else(|| "the subscription".into());
    eprintln!("sweeping container groups tagged {what} in {scope}{}", if args.dry_run { " (dry run: nothing is deleted)" } else { "" });
    let report =
        sweep(&client, &subscription, args.resource_group.as_deref(), &sel, args.dry_run, &|id| eprintln!("deleting {id}")).await?;
    let verb = if args.dry_run { "would delete" } else { "deleted" };
    for id in &report.deleted {
        println!("{verb} {id}");
    }
    for id in &report.resource_groups {
        println!("{verb} resource group {id} (the run created it; no container group is left in it)");
    }
    for (id, why) in &report.failed {
        println!("FAILED {id}: {why}");
    }
    println!(
        "{} {verb}, {} failed; {} untagged groups left alone, {} tagged groups not selected",
        report.deleted.len(),
        report.failed.len(),
        report.untagged,
        report.passed_over
    );
    Ok(if report.failed.is_empty() { 0 } else { 1 })
}

//! `aci-chaos cleanup`: finds container groups by their `aci-chaos-run` tag and deletes them.
//! Groups without the tag are never selected; every delete checks the tag again first.

use crate::arm::group::GroupRef;
use crate::arm::{ArmClient, CREATED_TAG, RUN_TAG, RunGuard};
use crate::error::HarnessError;
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;

/// Which tagged groups to sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// Only this run's groups; `None`: every aci-chaos run.
    pub run: Option<String>,
    /// Only groups created longer ago than this.
    pub older_than: Option<Duration>,
}

/// Why a group was passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// No `aci-chaos-run` tag: not ours, never touched.
    Untagged,
    /// Another run's tag.
    OtherRun,
    /// Younger than `--older-than`.
    TooYoung,
    /// `--older-than` was given and the creation time is unknown.
    AgeUnknown,
}

/// When a group was created: ARM's `systemData.createdAt`, else the `aci-chaos-created` tag.
pub fn created_at(group: &Value) -> Option<OffsetDateTime> {
    let parse = |s: &str| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok();
    group
        .pointer("/systemData/createdAt")
        .and_then(Value::as_str)
        .and_then(parse)
        .or_else(|| group.pointer(&format!("/tags/{CREATED_TAG}")).and_then(Value::as_str).and_then(parse))
}

impl Selector {
    /// Whether `group` (a listed container group) is swept, at `now`.
    pub fn select(&self, group: &Value, now: OffsetDateTime) -> Result<(), Skip> {
        let tag = group.pointer(&format!("/tags/{RUN_TAG}")).and_then(Value::as_str).filter(|t| !t.is_empty()).ok_or(Skip::Untagged)?;
        if self.run.as_deref().is_some_and(|r| r != tag) {
            return Err(Skip::OtherRun);
        }
        if let Some(age) = self.older_than {
            let created = created_at(group).ok_or(Skip::AgeUnknown)?;
            if now - created < age {
                return Err(Skip::TooYoung);
            }
        }
        Ok(())
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Ids deleted (or, in a dry run, that would be).
    pub deleted: Vec<String>,
    /// Ids that could not be deleted, with why.
    pub failed: Vec<(String, String)>,
    /// Groups without the run tag (left alone).
    pub untagged: usize,
    /// Tagged groups not selected (another run, too young, age unknown).
    pub passed_over: usize,
    /// The run's own resource group (`acc-<run id>`, tagged with it), deleted once empty (or,
    /// in a dry run, that would be).
    pub resource_groups: Vec<String>,
}

/// Parses a container group's resource id.
pub fn group_ref(id: &str) -> Option<GroupRef> {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["subscriptions", sub, rg_key, rg, "providers", provider, kind, name]
            if rg_key.eq_ignore_ascii_case("resourceGroups")
                && provider.eq_ignore_ascii_case("Microsoft.ContainerInstance")
                && kind.eq_ignore_ascii_case("containerGroups") =>
        {
            Some(GroupRef { subscription: sub.to_string(), resource_group: rg.to_string(), name: name.to_string() })
        }
        _ => None,
    }
}

/// Lists the groups of the subscription (or of `rg`), deletes those `sel` selects (unless
/// `dry_run`), and says what it did. `on_delete` is called before each delete (progress).
pub async fn sweep(
    client: &ArmClient,
    subscription: &str,
    rg: Option<&str>,
    sel: &Selector,
    dry_run: bool,
    on_delete: &(dyn Fn(&str) + Sync),
) -> Result<SweepReport, HarnessError> {
    let now = OffsetDateTime::now_utc();
    let mut report = SweepReport::default();
    for group in client.list_groups(subscription, rg).await? {
        let id = group.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        match sel.select(&group, now) {
            Err(Skip::Untagged) => {
                report.untagged += 1;
                continue;
            }
            Err(_) => {
                report.passed_over += 1;
                continue;
            }
            Ok(()) => {}
        }
        let Some(g) = group_ref(&id) else {
            report.failed.push((id, "not a container group id".into()));
            continue;
        };
        if dry_run {
            report.deleted.push(id);
            continue;
        }
        on_delete(&id);
        let tag = group.pointer(&format!("/tags/{RUN_TAG}")).and_then(Value::as_str).unwrap_or_default().to_string();
        // The guarded client reads the group again and checks its tag before the delete.
        let guarded = client.guarded(RunGuard { run_id: tag, owner: String::new() });
        match guarded.delete_group(&g).await {
            Ok(()) => report.deleted.push(id),
            Err(e) => report.failed.push((id, e.to_string())),
        }
    }
    if let Some(run) = &sel.run
        && sel.older_than.is_none()
        && report.failed.is_empty()
    {
        sweep_run_resource_group(client, subscription, run, dry_run, &mut report).await?;
    }
    Ok(report)
}

/// A run without `-g` creates `acc-<run id>`, tagged with its id, and deletes it at the end; a
/// killed run leaves it. It goes too, when it carries this run's tag and holds no container
/// group any more (a group someone else put there keeps it).
async fn sweep_run_resource_group(
    client: &ArmClient,
    subscription: &str,
    run: &str,
    dry_run: bool,
    report: &mut SweepReport,
) -> Result<(), HarnessError> {
    let rg = format!("acc-{run}");
    let path = format!("/subscriptions/{subscription}/resourceGroups/{rg}?api-version=2021-04-01");
    let found = match client.call(reqwest::Method::GET, &path, None).await {
        Ok(r) => r.body,
        Err(HarnessError::Arm { status: 404, .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    if found.pointer(&format!("/tags/{RUN_TAG}")).and_then(Value::as_str) != Some(run) {
        return Ok(());
    }
    let left = client.list_groups(subscription, Some(&rg)).await?;
    let would_go = left.iter().all(|g| report.deleted.iter().any(|d| Some(d.as_str()) == g.get("id").and_then(Value::as_str)));
    if !(left.is_empty() || dry_run && would_go) {
        return Ok(());
    }
    if !dry_run {
        client.delete_resource_group(subscription, &rg).await?;
    }
    report.resource_groups.push(format!("/subscriptions/{subscription}/resourceGroups/{rg}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_tagged_groups_of_the_run_and_age_are_selected() {
        let now = OffsetDateTime::now_utc();
        let old = crate::rfc3339(now - time::Duration::hours(3));
        let young = crate::rfc3339(now - time::Duration::minutes(5));
        let run = Selector { run: Some("r1".into()), older_than: None };
        assert_eq!(run.select(&json!({"tags": {}}), now), Err(Skip::Untagged));
        assert_eq!(run.select(&json!({}), now), Err(Skip::Untagged));
        assert_eq!(run.select(&json!({"tags": {"aci-chaos-run": "r2"}}), now), Err(Skip::OtherRun));
        assert_eq!(run.select(&json!({"tags": {"aci-chaos-run": "r1"}}), now), Ok(()));
        let aged = Selector { run: None, older_than: Some(Duration::from_secs(3600)) };
        assert_eq!(aged.select(&json!({"tags": {"aci-chaos-run": "x"}}), now), Err(Skip::AgeUnknown));
        assert_eq!(aged.select(&json!({"tags": {"aci-chaos-run": "x", "aci-chaos-created": young}}), now), Err(Skip::TooYoung));
        assert_eq!(aged.select(&json!({"tags": {"aci-chaos-run": "x"}, "systemData": {"createdAt": old}}), now), Ok(()));
    }

    #[test]
    fn group_ids_parse() {
        let g = group_ref("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/n").unwrap();
        assert_eq!((g.subscription.as_str(), g.resource_group.as_str(), g.name.as_str()), ("s", "rg", "n"));
        assert!(group_ref("/subscriptions/s/resourceGroups/rg").is_none());
    }
}

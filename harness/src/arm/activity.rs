//! The Azure activity log of a resource: what ARM recorded of the writes on it
//! (`Administrative`) and what the platform reported about it (`ResourceHealth`, e.g. a group
//! moved to another host), read from Azure Monitor's
//! `GET /subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values`
//! (api-version [`ACTIVITY_API_VERSION`]). The mock serves the same endpoint from what it
//! simulated, so a report can set the platform's own account beside the probe's evidence.

use super::ArmClient;
use crate::error::HarnessError;
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;
use url::Url;

/// The api-version of Azure Monitor's activity log endpoint.
pub const ACTIVITY_API_VERSION: &str = "2015-04-01";

/// The longest window Azure Monitor answers for (and how long it keeps events): 90 days.
pub const ACTIVITY_MAX_WINDOW: Duration = Duration::from_secs(90 * 86_400);

/// The most pages followed before giving up (Azure pages 200 events or fewer at a time).
const MAX_PAGES: usize = 1000;

fn rfc3339(t: OffsetDateTime) -> String {
    crate::rfc3339(t.to_offset(time::UtcOffset::UTC))
}

impl ArmClient {
    /// The activity log events of one resource (e.g. a container group's resource id) from
    /// `from` to `to`, newest first as ARM gives them, every page followed (`nextLink`).
    ///
    /// The window is clamped to the last 90 days before `to` (Azure refuses longer ones); a
    /// window that ends before it starts gives no events. Events are returned raw
    /// ([`summarize`] gives one line of each). Errors are ARM's (e.g. `403` without
    /// `Microsoft.Insights/eventtypes/values/read`) or transport failures, after the client's
    /// retries.
    pub async fn activity_log(
        &self,
        subscription: &str,
        resource_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<Value>, HarnessError> {
        if to < from {
            return Ok(Vec::new());
        }
        let from = from.max(to - ACTIVITY_MAX_WINDOW);
        let filter = format!(
            "eventTimestamp ge '{}' and eventTimestamp le '{}' and resourceUri eq '{}'",
            rfc3339(from),
            rfc3339(to),
            resource_id.replace('\'', "''")
        );
        let path = format!("/subscriptions/{subscription}/providers/Microsoft.Insights/eventtypes/management/values");
        let mut url = self.base().join(&path).map_err(|e| HarnessError::Protocol(format!("bad path {path}: {e}")))?;
        url.query_pairs_mut().append_pair("api-version", ACTIVITY_API_VERSION).append_pair("$filter", &filter);
        let mut next = Some(url);
        let mut out = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(HarnessError::Protocol(format!("more than {MAX_PAGES} pages of activity log events: stopping")));
            }
            let r = self.call_url(Method::GET, url, None).await?;
            out.extend(r.body.get("value").and_then(Value::as_array).cloned().unwrap_or_default());
            next = match r.body.get("nextLink").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                Some(link) => Some(Url::parse(link).map_err(|e| HarnessError::Protocol(format!("bad nextLink {link}: {e}")))?),
                None => None,
            };
        }
        Ok(out)
    }
}

/// One line for a report of an activity log event:
/// `<time>  <category>  <operation>  <status>  <caller>  <title>`, with `-` for what the event
/// lacks (platform events have no caller; writes have no title). `status` carries the
/// sub-status when there is one (`Succeeded (Created)`). Tabs and line breaks in values become
/// spaces, so the line stays one line.
pub fn summarize(event: &Value) -> String {
    let text = |p: &str| event.pointer(p).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let status = match (text("/status/value"), text("/subStatus/value")) {
        (Some(s), Some(sub)) if sub != s => format!("{s} ({sub})"),
        (Some(s), _) => s.to_string(),
        (None, _) => "-".to_string(),
    };
    let fields = [
        text("/eventTimestamp").unwrap_or("-").to_string(),
        text("/category/value").unwrap_or("-").to_string(),
        text("/operationName/value").unwrap_or("-").to_string(),
        status,
        text("/caller").unwrap_or("-").to_string(),
        text("/properties/title").unwrap_or("-").to_string(),
    ];
    fields.map(|f| f.replace(['\t', '\r', '\n'], " ")).join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::DEFAULT_API_VERSION;
    use crate::arm::retry::RetryPolicy;
    use crate::clock::Clock;
    use crate::recorder::Recorder;
    use serde_json::json;
    use std::sync::Arc;

    const SUB: &str = "00000000-0000-0000-0000-00000000c0de";

    #[test]
    fn a_summary_is_one_line_with_placeholders() {
        let health = json!({"eventTimestamp": "2026-01-01T00:01:10Z", "category": {"value": "ResourceHealth"},
            "operationName": {"value": "Microsoft.Resourcehealth/healthevent/Activated/action"},
            "status": {"value": "Active"}, "subStatus": {"value": ""},
            "properties": {"title": "Your container group is unavailable\nbecause of a host failure"}});
        assert_eq!(
            summarize(&health),
            "2026-01-01T00:01:10Z  ResourceHealth  Microsoft.Resourcehealth/healthevent/Activated/action  Active  -  Your container group is unavailable because of a host failure"
        );
        let write = json!({"eventTimestamp": "2026-01-01T00:00:00Z", "category": {"value": "Administrative"},
            "operationName": {"value": "Microsoft.ContainerInstance/containerGroups/write"},
            "status": {"value": "Succeeded"}, "subStatus": {"value": "Created"}, "caller": "app", "properties": {}});
        assert_eq!(
            summarize(&write),
            "2026-01-01T00:00:00Z  Administrative  Microsoft.ContainerInstance/containerGroups/write  Succeeded (Created)  app  -"
        );
        assert_eq!(summarize(&json!({})), "-  -  -  -  -  -");
    }

    async fn client(m: &mock_arm::MockServer) -> ArmClient {
        let http = reqwest::Client::new();
        let admin = crate::mock_admin::MockAdmin::new(http.clone(), &m.base_url());
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::MockClock::new(admin).await.unwrap());
        ArmClient::new(
            http,
            Url::parse(&m.base_url()).unwrap(),
            Arc::new(crate::auth::StaticTokenCredential::new("t")),
            DEFAULT_API_VERSION,
            clock.clone(),
            Recorder::new(None, clock),
            RetryPolicy::default(),
        )
    }

    #[tokio::test]
    async fn the_activity_log_of_a_group_against_the_mock_follows_pages_and_clamps_the_window() {
        let m = mock_arm::MockServer::start(mock_arm::MockConfig { clock: mock_arm::ClockMode::Virtual, seed: 3, ..Default::default() })
            .await
            .unwrap();
        let c = client(&m).await;
        let id = format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/g");
        c.call(
            Method::PUT,
            &format!("/subscriptions/{SUB}/resourceGroups/rg?api-version=2021-04-01"),
            Some(&json!({"location": "eastus"})),
        )
        .await
        .unwrap();
        let body = json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [{"name": "c", "properties": {
            "image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 0.5}}}}]}});
        c.call(Method::PUT, &format!("{id}?api-version={DEFAULT_API_VERSION}"), Some(&body)).await.unwrap();
        c.clock().sleep(Duration::from_secs(30)).await.unwrap();
        // 110 tag patches: 222 events with the create, two pages.
        for i in 0..110 {
            c.call(Method::PATCH, &format!("{id}?api-version={DEFAULT_API_VERSION}"), Some(&json!({"tags": {"n": i.to_string()}})))
                .await
                .unwrap();
        }
        let admin = crate::mock_admin::MockAdmin::new(reqwest::Client::new(), &m.base_url());
        admin.fault(&json!({"kind": "rehost", "target": id, "hypothesis": {"secure-env": "lost"}})).await.unwrap();
        let now = c.clock().now();
        // A year-long window is clamped to 90 days, not refused.
        let events = c
            .activity_log(
                SUB,
                &id.to_uppercase().replace("/SUBSCRIPTIONS/", "/subscriptions/").replace("C0DE", "c0de"),
                now - Duration::from_secs(365 * 86_400),
                now,
            )
            .await
            .unwrap();
        assert_eq!(events.len(), 224);
        let first = summarize(&events[0]);
        assert!(first.contains("ResourceHealth") && first.contains("Resolved") && first.contains("moved to another host"), "{first}");
        let last = summarize(&events[223]);
        assert!(last.contains("containerGroups/write  Started  aci-chaos-mock-caller"), "{last}");
        // A window before anything happened gives nothing; a reversed one asks nothing.
        let before = now - Duration::from_secs(86_400);
        assert!(c.activity_log(SUB, &id, before - Duration::from_secs(60), before).await.unwrap().is_empty());
        assert!(c.activity_log(SUB, &id, now, before).await.unwrap().is_empty());
    }
}

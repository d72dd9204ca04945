//! Container-group and resource-group calls.

use super::{ArmClient, ArmResponse, lro::DEFAULT_LRO_TIMEOUT};
use crate::error::HarnessError;
use reqwest::Method;
use serde_json::{Value, json};

/// The address of one container group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    /// Subscription id.
    pub subscription: String,
    /// Resource group.
    pub resource_group: String,
    /// Group name.
    pub name: String,
}

impl GroupRef {
    /// The ARM resource id.
    pub fn id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerInstance/containerGroups/{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

impl ArmClient {
    fn group_path(&self, g: &GroupRef, suffix: &str) -> String {
        format!("{}{suffix}?api-version={}", g.id(), self.api_version())
    }

    /// Creates the resource group if it is missing. Returns true when this call created it.
    pub async fn ensure_resource_group(&self, subscription: &str, rg: &str, location: &str, tags: &Value) -> Result<bool, HarnessError> {
        let path = format!("/subscriptions/{subscription}/resourceGroups/{rg}?api-version=2021-04-01");
        match self.call(Method::GET, &path, None).await {
            Ok(_) => Ok(false),
            Err(HarnessError::Arm { status: 404, .. }) => {
                self.call(Method::PUT, &path, Some(&json!({"location": location, "tags": tags}))).await?;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes a resource group (and everything in it).
    pub async fn delete_resource_group(&self, subscription: &str, rg: &str) -> Result<(), HarnessError> {
        let path = format!("/subscriptions/{subscription}/resourceGroups/{rg}?api-version=2021-04-01");
        let r = self.call(Method::DELETE, &path, None).await?;
        self.wait_lro(&r, &path, DEFAULT_LRO_TIMEOUT).await.map(|_| ())
    }

    /// With a [`super::RunGuard`]: refuses to touch a group that exists without this run's tag.
    /// A missing group is fine (a `PUT` then creates it, tagged).
    pub async fn check_owned(&self, g: &GroupRef) -> Result<(), HarnessError> {
        let Some(guard) = self.guard() else { return Ok(()) };
        match self.call(Method::GET, &self.group_path(g, ""), None).await {
            Ok(r) => {
                let tag = r.body.pointer(&format!("/tags/{}", super::RUN_TAG)).and_then(Value::as_str);
                if tag == Some(guard.run_id.as_str()) {
                    Ok(())
                } else {
                    Err(HarnessError::Protocol(format!(
                        "refusing to modify or delete {}: it is not tagged {}={} (it was not created by this run; aci-chaos never touches other resources)",
                        g.id(),
                        super::RUN_TAG,
                        guard.run_id
                    )))
                }
            }
            Err(HarnessError::Arm { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `PUT`s a group and waits for the deployment to finish.
    pub async fn put_group(&self, g: &GroupRef, body: &Value) -> Result<ArmResponse, HarnessError> {
        self.check_owned(g).await?;
        let r = self.call(Method::PUT, &self.group_path(g, ""), Some(body)).await?;
        self.wait_lro(&r, &g.id(), DEFAULT_LRO_TIMEOUT).await?;
        Ok(r)
    }

    /// `PATCH`es a group's tags (synchronous).
    pub async fn patch_tags(&self, g: &GroupRef, tags: &Value) -> Result<ArmResponse, HarnessError> {
        self.check_owned(g).await?;
        self.call(Method::PATCH, &self.group_path(g, ""), Some(&json!({"tags": tags}))).await
    }

    /// `GET`s a group with its instance view.
    pub async fn get_group(&self, g: &GroupRef) -> Result<Value, HarnessError> {
        Ok(self.call(Method::GET, &self.group_path(g, ""), None).await?.body)
    }

    /// Deletes a group (a missing group is fine).
    pub async fn delete_group(&self, g: &GroupRef) -> Result<(), HarnessError> {
        self.check_owned(g).await?;
        let r = self.call(Method::DELETE, &self.group_path(g, ""), None).await?;
        self.wait_lro(&r, &g.id(), DEFAULT_LRO_TIMEOUT).await.map(|_| ())
    }

    /// `restart`, `stop` or `start`, waiting for any operation it starts.
    pub async fn group_action(&self, g: &GroupRef, action: &str) -> Result<ArmResponse, HarnessError> {
        self.check_owned(g).await?;
        let r = self.call(Method::POST, &self.group_path(g, &format!("/{action}")), None).await?;
        self.wait_lro(&r, &format!("{} {action}", g.id()), DEFAULT_LRO_TIMEOUT).await?;
        Ok(r)
    }

    /// Lists container groups in a resource group, or in the whole subscription when `rg` is
    /// `None`, following `nextLink`.
    pub async fn list_groups(&self, subscription: &str, rg: Option<&str>) -> Result<Vec<Value>, HarnessError> {
        let scope = match rg {
            Some(rg) => format!("/subscriptions/{subscription}/resourceGroups/{rg}"),
            None => format!("/subscriptions/{subscription}"),
        };
        let mut next = Some(format!("{scope}/providers/Microsoft.ContainerInstance/containerGroups?api-version={}", self.api_version()));
        let mut out = Vec::new();
        let mut pages = 0;
        while let Some(path) = next.take() {
            let r = if path.starts_with("http") {
                let url = url::Url::parse(&path).map_err(|e| HarnessError::Protocol(format!("bad nextLink {path}: {e}")))?;
                self.call_url(Method::GET, url, None).await?
            } else {
                self.call(Method::GET, &path, None).await?
            };
            out.extend(r.body.get("value").and_then(Value::as_array).cloned().unwrap_or_default());
            next = r.body.get("nextLink").and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
            pages += 1;
            if pages > 1000 {
                return Err(HarnessError::Protocol("more than 1000 pages of container groups: stopping".into()));
            }
        }
        Ok(out)
    }

    /// A container's logs (`tail` newest lines).
    pub async fn logs(&self, g: &GroupRef, container: &str, tail: usize) -> Result<String, HarnessError> {
        let path = format!("{}/containers/{container}/logs?api-version={}&tail={tail}", g.id(), self.api_version());
        let r = self.call(Method::GET, &path, None).await?;
        r.body
            .get("content")
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| HarnessError::Protocol(format!("logs of {container}: no `content` in the answer")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::RunGuard;
    use crate::arm::retry::RetryPolicy;
    use crate::clock::{Clock, MockClock};
    use crate::mock_admin::MockAdmin;
    use crate::recorder::Recorder;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_guarded_client_never_modifies_or_deletes_a_group_without_its_run_tag() {
        let server =
            mock_arm::MockServer::start(mock_arm::MockConfig { clock: mock_arm::ClockMode::Virtual, ..Default::default() }).await.unwrap();
        let http = reqwest::Client::new();
        let admin = MockAdmin::new(http.clone(), &server.base_url());
        let sub = admin.info().await.unwrap().unwrap().subscription;
        let clock: Arc<dyn Clock> = Arc::new(MockClock::new(admin).await.unwrap());
        let base = url::Url::parse(&format!("{}/", server.base_url())).unwrap();
        let plain = ArmClient::new(
            http,
            base,
            Arc::new(crate::auth::StaticTokenCredential::new("t")),
            crate::arm::DEFAULT_API_VERSION,
            clock.clone(),
            Recorder::new(None, clock),
            RetryPolicy::default(),
        );
        let guarded = plain.guarded(RunGuard { run_id: "r1".into(), owner: "sp:test".into() });
        plain.ensure_resource_group(&sub, "rg", "eastus", &json!({})).await.unwrap();
        let body = |tags: Value| {
            let mut b = crate::template::GroupTemplate::default().body("eastus", "x", "s", "g", &Default::default());
            b["tags"] = tags;
            b
        };
        let foreign = GroupRef { subscription: sub.clone(), resource_group: "rg".into(), name: "someone-elses".into() };
        plain.put_group(&foreign, &body(json!({"team": "ci"}))).await.unwrap();
        for (what, r) in [
            ("delete", guarded.delete_group(&foreign).await.err()),
            ("restart", guarded.group_action(&foreign, "restart").await.err()),
            ("patch", guarded.patch_tags(&foreign, &json!({"aci-chaos-run": "r1"})).await.err()),
            ("put", guarded.put_group(&foreign, &body(json!({"aci-chaos-run": "r1"}))).await.err()),
        ] {
            let e = r.unwrap_or_else(|| panic!("{what} of an untagged group was allowed"));
            assert!(e.to_string().contains("refusing to modify or delete"), "{what}: {e}");
        }
        assert_eq!(plain.get_group(&foreign).await.unwrap()["tags"], json!({"team": "ci"}), "untouched");

        // Its own groups: created with owner and creation tags, and deleted.
        let own = GroupRef { subscription: sub, resource_group: "rg".into(), name: "own".into() };
        guarded.put_group(&own, &body(json!({"aci-chaos-run": "r1"}))).await.unwrap();
        let tags = plain.get_group(&own).await.unwrap()["tags"].clone();
        assert_eq!((tags["aci-chaos-owner"].as_str(), tags["aci-chaos-run"].as_str()), (Some("sp:test"), Some("r1")));
        assert!(tags["aci-chaos-created"].is_string());
        guarded.delete_group(&own).await.unwrap();
        assert!(matches!(plain.get_group(&own).await, Err(HarnessError::Arm { status: 404, .. })));
    }
}

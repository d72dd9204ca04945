//! Resource groups, subscriptions and cloud metadata.

use super::{Req, empty, json};
use crate::error::ArmError;
use crate::validate;
use crate::world::World;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

/// `PUT` a resource group.
pub fn put_resource_group(world: &mut World, req: &Req, sub: &str, rg: &str) -> Result<Response, ArmError> {
    let body = validate::parse_body(&req.body)?;
    let (status, view) = world.put_resource_group(sub, rg, &body)?;
    Ok(json(status, view))
}

/// `GET` a resource group.
pub fn get_resource_group(world: &World, sub: &str, rg: &str) -> Result<Response, ArmError> {
    Ok(json(StatusCode::OK, world.get_resource_group(sub, rg)?))
}

/// `DELETE` a resource group (cascades to its container groups): 200, or 204 when absent.
pub fn delete_resource_group(world: &mut World, sub: &str, rg: &str) -> Result<Response, ArmError> {
    Ok(if world.delete_resource_group(sub, rg) { empty(StatusCode::OK) } else { empty(StatusCode::NO_CONTENT) })
}

fn subscription_view(world: &World) -> serde_json::Value {
    let s = &world.config.subscription;
    json!({"id": format!("/subscriptions/{s}"), "subscriptionId": s, "tenantId": world.config.tenant,
           "displayName": "aci-chaos mock subscription", "state": "Enabled",
           "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
           "authorizationSource": "RoleBased"})
}

/// `GET /subscriptions`: the one configured subscription.
pub fn list_subscriptions(world: &World, _req: &Req) -> Result<Response, ArmError> {
    Ok(json(StatusCode::OK, json!({"value": [subscription_view(world)], "count": {"type": "Total", "value": 1}})))
}

/// `GET /subscriptions/{id}`.
pub fn get_subscription(world: &World, sub: &str) -> Result<Response, ArmError> {
    if sub.eq_ignore_ascii_case(&world.config.subscription) {
        Ok(json(StatusCode::OK, subscription_view(world)))
    } else {
        Err(ArmError::new(StatusCode::NOT_FOUND, "SubscriptionNotFound", format!("The subscription '{sub}' could not be found.")))
    }
}

/// `GET /metadata/endpoints`: what `az cloud register` reads.
pub fn metadata_endpoints(req: &Req) -> Result<Response, ArmError> {
    let b = &req.base;
    Ok(json(
        StatusCode::OK,
        json!({
            "galleryEndpoint": format!("{b}/"),
            "graphEndpoint": format!("{b}/"),
            "portalEndpoint": format!("{b}/"),
            "authentication": {"loginEndpoint": format!("{b}/"), "audiences": [format!("{b}/")], "tenant": "common", "identityProvider": "AAD"},
            "name": "AciChaosMock",
            "suffixes": {"storage": "core.windows.net", "keyVaultDns": "vault.azure.net", "acrLoginServer": "azurecr.io"},
            "resourceManager": format!("{b}/")
        }),
    ))
}

//! A token issuer shaped like Microsoft Entra ID (AAD), enough for `az login --service-principal`
//! against a custom cloud whose `loginEndpoint` is the mock:
//!
//! - `GET /{tenant}/v2.0/.well-known/openid-configuration` (and the v1 path): discovery;
//! - `POST /{tenant}/oauth2/v2.0/token` (and `/oauth2/token`): the client-credentials grant,
//!   answering an *unsigned* JWT-shaped token (`alg: none`); the mock accepts any bearer token,
//!   so nothing checks its signature;
//! - `GET /common/discovery/instance`: MSAL's instance discovery, answered for the mock's host.
//!
//! Errors use AAD's shape (`{"error","error_description","error_codes"}`), not ARM's. The client
//! secret is read only to check it is present: never stored, logged or echoed.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

fn b64url(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn aad_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": format!("AADSTS{code}: {description}"), "error_codes": [code]})))
        .into_response()
}

/// The OpenID configuration of a tenant, with every endpoint on the mock.
pub fn openid_configuration(base: &str, tenant: &str, v2: bool) -> Response {
    let (v, oauth) = if v2 { ("/v2.0", "oauth2/v2.0") } else { ("", "oauth2") };
    let body = json!({
        "token_endpoint": format!("{base}/{tenant}/{oauth}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tenant}/discovery{v}/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{tenant}{v}"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{tenant}/{oauth}/authorize"),
        "device_authorization_endpoint": format!("{base}/{tenant}/{oauth}/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{tenant}/{oauth}/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "appid"],
        "tenant_region_scope": "NA",
        "cloud_instance_name": "aci-chaos.mock",
        "cloud_graph_host_name": "graph.aci-chaos.mock",
        "msgraph_host": "graph.aci-chaos.mock",
        "rbac_url": base,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// MSAL's instance discovery answer: the mock's host is its own, only alias.
pub fn instance_discovery(base: &str) -> Response {
    let host = base.split_once("://").map(|(_, h)| h).unwrap_or(base);
    let body = json!({
        "tenant_discovery_endpoint": format!("{base}/common/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The token endpoint: the client-credentials grant.
pub fn token(base: &str, tenant: &str, body: &[u8], now_unix: i64) -> Response {
    let form: std::collections::BTreeMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let grant = form.get("grant_type").map(String::as_str).unwrap_or_default();
    if grant != "client_credentials" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant}'. The mock issues tokens for client_credentials only."),
        );
    }
    let Some(client_id) = form.get("client_id").filter(|c| !c.is_empty()) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let has_secret = form.get("client_secret").is_some_and(|s| !s.is_empty()) || form.contains_key("client_assertion");
    if !has_secret {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    }
    // `scope` is `<resource>/.default` (v2); `resource` (v1).
    let audience = form
        .get("scope")
        .and_then(|s| s.split_whitespace().find(|s| s.ends_with("/.default")))
        .map(|s| s.trim_end_matches(".default").trim_end_matches('/').to_string() + "/")
        .or_else(|| form.get("resource").cloned())
        .unwrap_or_else(|| format!("{base}/"));
    let lifetime = 3599;
    let header = json!({"alg": "none", "typ": "JWT"});
    let claims = json!({
        "aud": audience, "iss": format!("{base}/{tenant}/"), "tid": tenant,
        "oid": "11111111-1111-1111-1111-111111111111", "sub": "11111111-1111-1111-1111-111111111111",
        "appid": client_id, "azp": client_id, "idtyp": "app",
        "iat": now_unix, "nbf": now_unix, "exp": now_unix + lifetime,
    });
    let access_token = format!("{}.{}.sig", b64url(&header), b64url(&claims));
    let body = json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access_token});
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// A managed identity's token, as App Service's identity endpoint gives it
/// (`GET /msi/token?api-version=2019-08-01&resource=…` with `X-IDENTITY-HEADER`; `client_id`
/// picks a user-assigned identity). `expires_on` is a string of epoch seconds, as there.
pub fn managed_identity_token(
    base: &str,
    query: &std::collections::BTreeMap<String, String>,
    headers: &axum::http::HeaderMap,
    now_unix: i64,
) -> Response {
    if headers.get("x-identity-header").and_then(|v| v.to_str().ok()).is_none_or(|v| v.is_empty()) {
        return aad_error(StatusCode::UNAUTHORIZED, "invalid_request", 0, "The X-IDENTITY-HEADER header is missing or empty.");
    }
    let Some(resource) = query.get("resource").filter(|r| !r.is_empty()) else {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 0, "The query must contain the parameter 'resource'.");
    };
    let client_id = query.get("client_id").cloned().unwrap_or_else(|| "00000000-0000-0000-0000-0000000000a1".to_string());
    let lifetime = 3599;
    let header = json!({"alg": "none", "typ": "JWT"});
    let claims = json!({
        "aud": resource, "iss": format!("{base}/"), "appid": client_id, "azp": client_id, "idtyp": "app",
        "oid": "22222222-2222-2222-2222-222222222222", "sub": "22222222-2222-2222-2222-222222222222",
        "iat": now_unix, "nbf": now_unix, "exp": now_unix + lifetime,
    });
    let body = json!({
        "access_token": format!("{}.{}.sig", b64url(&header), b64url(&claims)),
        "expires_on": (now_unix + lifetime).to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": client_id,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn json_of(r: Response) -> (StatusCode, Value) {
        let s = r.status();
        (s, serde_json::from_slice(&to_bytes(r.into_body(), 1 << 20).await.unwrap()).unwrap())
    }

    #[tokio::test]
    async fn client_credentials_get_an_unsigned_jwt_and_never_echo_the_secret() {
        let body = b"client_id=app&grant_type=client_credentials&client_secret=very-secret&scope=https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default";
        let (s, v) = json_of(token("https://127.0.0.1:1", "t1", body, 1_000)).await;
        assert_eq!(s, StatusCode::OK);
        assert!(!v.to_string().contains("very-secret"));
        let tok = v["access_token"].as_str().unwrap();
        let claims: Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tok.split('.').nth(1).unwrap()).unwrap())
                .unwrap();
        assert_eq!(claims["aud"], "https://management.core.windows.net/");
        assert_eq!(claims["appid"], "app");
        assert_eq!(claims["exp"], 1_000 + 3599);
        let (s, v) = json_of(token("b", "t", b"client_id=a&grant_type=client_credentials", 0)).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
        let (s, _) = json_of(token("b", "t", b"grant_type=password", 0)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn discovery_points_at_the_mock() {
        let (_, v) = json_of(openid_configuration("https://127.0.0.1:9", "t1", true)).await;
        assert_eq!(v["token_endpoint"], "https://127.0.0.1:9/t1/oauth2/v2.0/token");
        assert_eq!(v["issuer"], "https://127.0.0.1:9/t1/v2.0");
    }
}

//! Request routing by path, matched the way ARM matches it: keyword segments are
//! case-insensitive (the Azure CLI sends `resourcegroups`, the SDKs `resourceGroups`).

/// A container group's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPath {
    /// Subscription id as sent.
    pub subscription: String,
    /// Resource group name as sent.
    pub resource_group: String,
    /// Container group name as sent.
    pub name: String,
}

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/subscriptions`
    Subscriptions,
    /// `/subscriptions/{sub}`
    Subscription(String),
    /// `/subscriptions/{sub}/resourceGroups/{rg}`
    ResourceGroup { subscription: String, resource_group: String },
    /// `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups`
    GroupsInResourceGroup { subscription: String, resource_group: String },
    /// `/subscriptions/{sub}/providers/Microsoft.ContainerInstance/containerGroups`
    GroupsInSubscription { subscription: String },
    /// `…/containerGroups/{g}`
    Group(GroupPath),
    /// `…/containerGroups/{g}/{restart|stop|start}`
    GroupAction(GroupPath, String),
    /// `…/containerGroups/{g}/containers/{c}/{logs|exec|attach}`
    ContainerAction(GroupPath, String, String),
    /// `/subscriptions/{sub}/providers/Microsoft.ContainerInstance/locations/{loc}/operations/{id}`
    OperationStatus { location: String, id: String },
    /// `/subscriptions/{sub}/providers/Microsoft.ContainerInstance/locations/{loc}/operationResults/{id}`
    OperationResult { location: String, id: String },
    /// `/subscriptions/{sub}/providers/Microsoft.ContainerInstance/locations/{loc}/{usages|capabilities|cachedImages}`
    LocationInfo { location: String, what: String },
    /// `/providers/Microsoft.ContainerInstance/operations`
    ProviderOperations,
    /// `/subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values`: the activity log
    ActivityLog {
        /// Subscription id as sent.
        subscription: String,
    },
    /// `/metadata/endpoints`
    MetadataEndpoints,
    /// `/{tenant}/v2.0/.well-known/openid-configuration` (`v2`) or `/{tenant}/.well-known/openid-configuration`
    OpenIdConfiguration {
        /// Tenant id or name.
        tenant: String,
        /// Whether the v2.0 endpoint was asked.
        v2: bool,
    },
    /// `/{tenant}/oauth2/v2.0/token` or `/{tenant}/oauth2/token`
    Token {
        /// Tenant id or name.
        tenant: String,
    },
    /// `/common/discovery/instance` (MSAL instance discovery)
    InstanceDiscovery,
    /// `/msi/token`: a managed identity's token endpoint, as App Service and Functions serve it
    /// (`IDENTITY_ENDPOINT`, header `X-IDENTITY-HEADER`).
    ManagedIdentityToken,
    /// Anything else.
    Unknown,
}

const PROVIDER: &str = "microsoft.containerinstance";

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Splits a path into its non-empty, percent-decoded segments.
pub fn segments(path: &str) -> Vec<String> {
    path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect()
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Names the resource a path addresses.
pub fn route(path: &str) -> Route {
    let s = segments(path);
    let s: Vec<&str> = s.iter().map(String::as_str).collect();
    match s.as_slice() {
        [m, e] if eq(m, "metadata") && eq(e, "endpoints") => Route::MetadataEndpoints,
        [t, v, w, o] if eq(v, "v2.0") && eq(w, ".well-known") && eq(o, "openid-configuration") => {
            Route::OpenIdConfiguration { tenant: t.to_string(), v2: true }
        }
        [t, w, o] if eq(w, ".well-known") && eq(o, "openid-configuration") => {
            Route::OpenIdConfiguration { tenant: t.to_string(), v2: false }
        }
        [t, o, v, tok] if eq(o, "oauth2") && eq(v, "v2.0") && eq(tok, "token") => Route::Token { tenant: t.to_string() },
        [t, o, tok] if eq(o, "oauth2") && eq(tok, "token") => Route::Token { tenant: t.to_string() },
        [c, d, i] if eq(c, "common") && eq(d, "discovery") && eq(i, "instance") => Route::InstanceDiscovery,
        [m, t] if eq(m, "msi") && eq(t, "token") => Route::ManagedIdentityToken,
        [p, ns, o] if eq(p, "providers") && eq(ns, PROVIDER) && eq(o, "operations") => Route::ProviderOperations,
        [subs] if eq(subs, "subscriptions") => Route::Subscriptions,
        [subs, sub] if eq(subs, "subscriptions") => Route::Subscription(sub.to_string()),
        [subs, sub, rgs, rg] if eq(subs, "subscriptions") && eq(rgs, "resourcegroups") => {
            Route::ResourceGroup { subscription: sub.to_string(), resource_group: rg.to_string() }
        }
        [subs, sub, p, ns, cgs] if eq(subs, "subscriptions") && eq(p, "providers") && eq(ns, PROVIDER) && eq(cgs, "containergroups") => {
            Route::GroupsInSubscription { subscription: sub.to_string() }
        }
        [subs, sub, p, ns, et, m, v]
            if eq(subs, "subscriptions")
                && eq(p, "providers")
                && eq(ns, "microsoft.insights")
                && eq(et, "eventtypes")
                && eq(m, "management")
                && eq(v, "values") =>
        {
            Route::ActivityLog { subscription: sub.to_string() }
        }
        [subs, _sub, p, ns, locs, loc, kind, id]
            if eq(subs, "subscriptions") && eq(p, "providers") && eq(ns, PROVIDER) && eq(locs, "locations") =>
        {
            if eq(kind, "operations") {
                Route::OperationStatus { location: loc.to_string(), id: id.to_string() }
            } else if eq(kind, "operationresults") {
                Route::OperationResult { location: loc.to_string(), id: id.to_string() }
            } else {
                Route::Unknown
            }
        }
        [subs, _sub, p, ns, locs, loc, what]
            if eq(subs, "subscriptions") && eq(p, "providers") && eq(ns, PROVIDER) && eq(locs, "locations") =>
        {
            Route::LocationInfo { location: loc.to_string(), what: what.to_ascii_lowercase() }
        }
        [subs, sub, rgs, rg, p, ns, cgs, rest @ ..]
            if eq(subs, "subscriptions")
                && eq(rgs, "resourcegroups")
                && eq(p, "providers")
                && eq(ns, PROVIDER)
                && eq(cgs, "containergroups") =>
        {
            let gp = |name: &str| GroupPath { subscription: sub.to_string(), resource_group: rg.to_string(), name: name.to_string() };
            match rest {
                [] => Route::GroupsInResourceGroup { subscription: sub.to_string(), resource_group: rg.to_string() },
                [g] => Route::Group(gp(g)),
                [g, action] => Route::GroupAction(gp(g), action.to_ascii_lowercase()),
                [g, cs, c, action] if eq(cs, "containers") => Route::ContainerAction(gp(g), c.to_string(), action.to_ascii_lowercase()),
                _ => Route::Unknown,
            }
        }
        _ => Route::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_segments_match_case_insensitively() {
        let cli = route("/subscriptions/s/resourcegroups/rg1/providers/Microsoft.ContainerInstance/containerGroups/g1");
        let sdk = route("/subscriptions/s/resourceGroups/rg1/providers/microsoft.containerinstance/CONTAINERGROUPS/g1");
        assert_eq!(cli, sdk);
        assert!(matches!(cli, Route::Group(ref g) if g.name == "g1" && g.resource_group == "rg1"));
    }

    #[test]
    fn actions_operations_and_containers_are_routed() {
        assert_eq!(
            route("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/g/restart"),
            Route::GroupAction(GroupPath { subscription: "s".into(), resource_group: "rg".into(), name: "g".into() }, "restart".into())
        );
        assert!(matches!(
            route("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/g/containers/c/logs"),
            Route::ContainerAction(_, ref c, ref a) if c == "c" && a == "logs"
        ));
        assert_eq!(
            route("/subscriptions/s/providers/Microsoft.ContainerInstance/locations/eastus/operations/abc"),
            Route::OperationStatus { location: "eastus".into(), id: "abc".into() }
        );
        assert_eq!(route("/nothing/here"), Route::Unknown);
        assert_eq!(route("/t1/v2.0/.well-known/openid-configuration"), Route::OpenIdConfiguration { tenant: "t1".into(), v2: true });
        assert_eq!(route("/t1/oauth2/v2.0/token"), Route::Token { tenant: "t1".into() });
        assert_eq!(route("/providers/Microsoft.ContainerInstance/operations"), Route::ProviderOperations);
        assert_eq!(
            route("/subscriptions/s/providers/microsoft.insights/eventTypes/management/values"),
            Route::ActivityLog { subscription: "s".into() }
        );
        assert_eq!(
            route("/subscriptions/s/resourceGroups/my%20rg"),
            Route::ResourceGroup { subscription: "s".into(), resource_group: "my rg".into() }
        );
    }

    #[test]
    fn percent_decoding_survives_truncated_escapes() {
        assert_eq!(segments("/a%2"), vec!["a%2"]);
        assert_eq!(segments("/a%"), vec!["a%"]);
        assert_eq!(segments("/%zz"), vec!["%zz"]);
    }
}

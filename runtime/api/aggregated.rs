//! Aggregated discovery (`apidiscovery.k8s.io/v2`), which kubectl 1.26+
//! asks `/api` and `/apis` for first: every group, version and resource in
//! one `APIGroupDiscoveryList` per path, instead of a request per
//! group-version. Made from the legacy documents the server also serves
//! (`APIResourceList`s), so both say the same.

use serde_json::{Value, json};

/// The media type of an aggregated answer.
pub(super) const CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether `Accept` asks for the aggregated form (v2; kubectl also offers
/// v2beta1 and the legacy form after it).
pub(super) fn wanted(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|t| {
            let params: Vec<&str> = t.split(';').map(str::trim).collect();
            params.contains(&"g=apidiscovery.k8s.io") && params.contains(&"v=v2") && params.contains(&"as=APIGroupDiscoveryList")
        })
    })
}

/// One group's `APIGroupDiscovery` from its v1 `APIResourceList`.
pub(super) fn group(name: &str, resources: &Value) -> Value {
    let list = resources.get("resources").and_then(Value::as_array).cloned().unwrap_or_default();
    let sub_of = |parent: &str| -> Vec<Value> {
        list.iter()
            .filter_map(|r| {
                let n = r.get("name").and_then(Value::as_str)?;
                let (p, sub) = n.split_once('/')?;
                (p == parent).then(|| {
                    let group = r.get("group").cloned().unwrap_or_else(|| name.into());
                    let version = r.get("version").cloned().unwrap_or_else(|| "v1".into());
                    json!({"subresource": sub, "responseKind": {"group": group, "version": version, "kind": r.get("kind").cloned().unwrap_or_default()},
                        "verbs": r.get("verbs").cloned().unwrap_or_else(|| json!([]))})
                })
            })
            .collect()
    };
    let top: Vec<Value> = list
        .iter()
        .filter(|r| r.get("name").and_then(Value::as_str).is_some_and(|n| !n.contains('/')))
        .map(|r| {
            let n = r["name"].as_str().unwrap_or_default();
            let mut d = json!({
                "resource": n,
                "responseKind": {"group": name, "version": "v1", "kind": r.get("kind").cloned().unwrap_or_default()},
                "scope": if r.get("namespaced").and_then(Value::as_bool) == Some(false) { "Cluster" } else { "Namespaced" },
                "singularResource": r.get("singularName").cloned().unwrap_or_default(),
                "verbs": r.get("verbs").cloned().unwrap_or_else(|| json!([])),
            });
            for key in ["shortNames", "categories"] {
                if let Some(v) = r.get(key) {
                    d[key] = v.clone();
                }
            }
            let subs = sub_of(n);
            if !subs.is_empty() {
                d["subresources"] = subs.into();
            }
            d
        })
        .collect();
    json!({"metadata": {"name": name, "creationTimestamp": null}, "versions": [{"version": "v1", "resources": top, "freshness": "Current"}]})
}

/// The list of `groups`.
pub(super) fn list(groups: Vec<Value>) -> Value {
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": groups})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectls_accept_header_asks_for_v2() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wanted(Some(kubectl)));
        assert!(!wanted(Some("application/json")));
        assert!(!wanted(None));
    }

    #[test]
    fn subresources_go_under_their_resource() {
        let legacy = json!({"resources": [
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod", "verbs": ["get"], "shortNames": ["po"]},
            {"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
            {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace", "verbs": ["list"]},
        ]});
        let g = group("", &legacy);
        let rs = g["versions"][0]["resources"].as_array().unwrap();
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0]["subresources"][0]["subresource"], "log");
        assert_eq!(rs[0]["shortNames"], json!(["po"]));
        assert_eq!(rs[1]["scope"], "Cluster");
    }
}

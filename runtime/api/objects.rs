//! Services, NetworkPolicies, EndpointSlices and Endpoints over the
//! control API, in Kubernetes' paths and shapes:
//!
//! | method | path | answer |
//! |--------|------|--------|
//! | GET | `/api/v1/[namespaces/{ns}/]services` | ServiceList |
//! | POST | `/api/v1/namespaces/{ns}/services` | create: 201 (a `serve` daemon) |
//! | GET, PUT, DELETE | `/api/v1/namespaces/{ns}/services/{name}` | the Service; replace; delete |
//! | GET | `/api/v1/[namespaces/{ns}/]endpoints[/{name}]` | Endpoints (read only) |
//! | GET, POST, PUT, DELETE | `/apis/networking.k8s.io/v1/[namespaces/{ns}/]networkpolicies[/{name}]` | as for Services |
//! | GET | `/apis/discovery.k8s.io/v1/[namespaces/{ns}/]endpointslices[/{name}]` | EndpointSlices (read only) |
//!
//! EndpointSlices and Endpoints are computed at each request from the
//! pods behind each Service (`runtime/endpoints.rs`): controllers write
//! them in Kubernetes, so clients cannot.

use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::Status;
use super::body::{Body, json_response};
use super::discovery::Role;
use super::request::{Query, ServerContext, field_manager, field_validation, object_from_body, with_warnings};
use super::selectors::{FieldSelector, Fields, LabelSelector};
use crate::Error;
use crate::manifest::Validation;

/// A resource served besides pods and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resource {
    /// `services` (core/v1).
    Services,
    /// `endpoints` (core/v1), read only.
    Endpoints,
    /// `networkpolicies` (networking.k8s.io/v1).
    NetworkPolicies,
    /// `endpointslices` (discovery.k8s.io/v1), read only.
    EndpointSlices,
    /// `namespaces` (core/v1, cluster-scoped), read only: the namespaces
    /// that exist implicitly (Kubernetes' four, and every one an object
    /// is in).
    Namespaces,
    /// `configmaps` (core/v1).
    ConfigMaps,
    /// `secrets` (core/v1).
    Secrets,
    /// `serviceaccounts` (core/v1), read only: each namespace's `default`.
    ServiceAccounts,
}

impl Resource {
    /// The resource `res` of API group `group` ("" for core).
    pub(crate) fn of(group: &str, res: &str) -> Option<Resource> {
        Some(match (group, res) {
            ("", "services") => Resource::Services,
            ("", "endpoints") => Resource::Endpoints,
            ("networking.k8s.io", "networkpolicies") => Resource::NetworkPolicies,
            ("discovery.k8s.io", "endpointslices") => Resource::EndpointSlices,
            ("", "namespaces") => Resource::Namespaces,
            ("", "configmaps") => Resource::ConfigMaps,
            ("", "secrets") => Resource::Secrets,
            ("", "serviceaccounts") => Resource::ServiceAccounts,
            _ => return None,
        })
    }

    /// The path of `name` in `namespace`, or of the collection (of every
    /// namespace when `namespace` is `None`).
    pub fn path(self, namespace: Option<&str>, name: Option<&str>) -> String {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let (prefix, plural) = match self {
            Resource::Services => ("/api/v1", "services"),
            Resource::Endpoints => ("/api/v1", "endpoints"),
            Resource::NetworkPolicies => ("/apis/networking.k8s.io/v1", "networkpolicies"),
            Resource::EndpointSlices => ("/apis/discovery.k8s.io/v1", "endpointslices"),
            Resource::Namespaces => ("/api/v1", "namespaces"),
            Resource::ConfigMaps => ("/api/v1", "configmaps"),
            Resource::Secrets => ("/api/v1", "secrets"),
            Resource::ServiceAccounts => ("/api/v1", "serviceaccounts"),
        };
        // Namespaces are not in one.
        let namespace = namespace.filter(|_| self != Resource::Namespaces);
        let mut path = match namespace {
            Some(ns) => format!("{prefix}/namespaces/{}/{plural}", enc(ns)),
            None => format!("{prefix}/{plural}"),
        };
        if let Some(n) = name {
            path.push('/');
            path.push_str(&enc(n));
        }
        path
    }

    /// As the API server names it in messages and kubectl in its output:
    /// `services`, `networkpolicies.networking.k8s.io`.
    pub fn resource(self) -> &'static str {
        match self {
            Resource::Services => "services",
            Resource::Endpoints => "endpoints",
            Resource::NetworkPolicies => "networkpolicies.networking.k8s.io",
            Resource::EndpointSlices => "endpointslices.discovery.k8s.io",
            Resource::Namespaces => "namespaces",
            Resource::ConfigMaps => "configmaps",
            Resource::Secrets => "secrets",
            Resource::ServiceAccounts => "serviceaccounts",
        }
    }

    /// The API group and kind of its objects.
    pub(crate) fn group_kind(self) -> (&'static str, &'static str) {
        match self {
            Resource::Services => ("", "Service"),
            Resource::Endpoints => ("", "Endpoints"),
            Resource::NetworkPolicies => ("networking.k8s.io", "NetworkPolicy"),
            Resource::EndpointSlices => ("discovery.k8s.io", "EndpointSlice"),
            Resource::Namespaces => ("", "Namespace"),
            Resource::ConfigMaps => ("", "ConfigMap"),
            Resource::Secrets => ("", "Secret"),
            Resource::ServiceAccounts => ("", "ServiceAccount"),
        }
    }

    pub(crate) fn list_kind(self) -> (&'static str, &'static str) {
        match self {
            Resource::Services => ("ServiceList", "v1"),
            Resource::Endpoints => ("EndpointsList", "v1"),
            Resource::NetworkPolicies => ("NetworkPolicyList", "networking.k8s.io/v1"),
            Resource::EndpointSlices => ("EndpointSliceList", "discovery.k8s.io/v1"),
            Resource::Namespaces => ("NamespaceList", "v1"),
            Resource::ConfigMaps => ("ConfigMapList", "v1"),
            Resource::Secrets => ("SecretList", "v1"),
            Resource::ServiceAccounts => ("ServiceAccountList", "v1"),
        }
    }

    /// Written by controllers in Kubernetes: read only here.
    fn read_only(self) -> bool {
        matches!(self, Resource::Endpoints | Resource::EndpointSlices | Resource::Namespaces | Resource::ServiceAccounts)
    }
}

/// The API groups besides core (`/apis`).
pub(crate) fn groups() -> Value {
    let groups: Vec<Value> = ["networking.k8s.io", "discovery.k8s.io"].iter().map(|g| group_of(g)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn group_of(name: &str) -> Value {
    let version = json!({"groupVersion": format!("{name}/v1"), "version": "v1"});
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": [version], "preferredVersion": version})
}

/// `/apis/{group}`.
pub(crate) fn group(name: &str) -> Option<Value> {
    matches!(name, "networking.k8s.io" | "discovery.k8s.io").then(|| group_of(name))
}

/// `/apis/{group}/v1`: the group's APIResourceList.
pub(crate) fn group_resources(name: &str) -> Option<Value> {
    let resource = match name {
        "networking.k8s.io" => json!({"name": "networkpolicies", "singularName": "networkpolicy", "namespaced": true, "kind": "NetworkPolicy",
            "verbs": ["create", "delete", "get", "list", "patch", "update"], "shortNames": ["netpol"]}),
        "discovery.k8s.io" => json!({"name": "endpointslices", "singularName": "endpointslice", "namespaced": true, "kind": "EndpointSlice",
            "verbs": ["get", "list"]}),
        _ => return None,
    };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{name}/v1"), "resources": [resource]}))
}

/// The objects of `kind` in `namespace` (all: none), as JSON values.
fn items(ctx: &ServerContext, kind: Resource, namespace: Option<&str>) -> Vec<Value> {
    let rt = &ctx.runtime;
    fn values<T: serde::Serialize>(v: Vec<T>) -> Vec<Value> {
        v.iter().map(|o| serde_json::to_value(o).expect("API objects serialize")).collect()
    }
    match kind {
        Resource::Services => values(rt.services(namespace)),
        Resource::NetworkPolicies => values(rt.network_policies(namespace)),
        Resource::EndpointSlices => values(rt.endpoint_slices(namespace)),
        Resource::Endpoints => values(rt.endpoints(namespace)),
        Resource::Namespaces => namespaces(ctx).into_iter().filter(|n| namespace.is_none_or(|want| name_of(n) == Some(want))).collect(),
        Resource::ConfigMaps => values(rt.config_maps(namespace)),
        Resource::Secrets => values(rt.secrets(namespace)),
        Resource::ServiceAccounts => {
            let names: Vec<String> = match namespace {
                Some(ns) => vec![ns.to_owned()],
                None => namespaces(ctx).iter().filter_map(name_of).map(str::to_owned).collect(),
            };
            values(rt.service_accounts(&names))
        }
    }
}

/// The namespaces that exist (`runtime/namespaces.rs`).
fn namespaces(ctx: &ServerContext) -> Vec<Value> {
    ctx.runtime.namespaces().into_iter().map(|n| serde_json::to_value(n).expect("API objects serialize")).collect()
}

fn name_of(v: &Value) -> Option<&str> {
    v.pointer("/metadata/name").and_then(Value::as_str)
}

/// The objects a list request asks for.
pub(crate) fn list_values(ctx: &ServerContext, kind: Resource, namespace: Option<&str>, q: &Query) -> Result<Vec<Value>, Error> {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    selected(ctx, kind, namespace, get("labelSelector"), get("fieldSelector"))
}

/// The objects of `kind` in `namespace` (all: `None`) that the label
/// and field selectors (`selectors.rs`; empty: all) select.
pub(crate) fn selected(ctx: &ServerContext, kind: Resource, namespace: Option<&str>, labels: &str, fields: &str) -> Result<Vec<Value>, Error> {
    let labels = LabelSelector::parse(labels)?;
    let fields = FieldSelector::parse(fields, Fields::Objects)?;
    let mut items = items(ctx, kind, namespace);
    items.retain(|o| labels.selects_value(o) && fields.selects(o, Fields::Objects));
    Ok(items)
}

pub(crate) fn get(ctx: &ServerContext, kind: Resource, namespace: &str, name: &str) -> Result<Response<Body>, Error> {
    get_value(ctx, kind, namespace, name).map(|v| json_response(StatusCode::OK, &v))
}

/// Object `namespace/name` of `kind`.
pub(crate) fn get_value(ctx: &ServerContext, kind: Resource, namespace: &str, name: &str) -> Result<Value, Error> {
    let found = match kind {
        Resource::Services => serde_json::to_value(ctx.runtime.service(namespace, name)?).ok(),
        Resource::NetworkPolicies => serde_json::to_value(ctx.runtime.network_policy(namespace, name)?).ok(),
        Resource::EndpointSlices | Resource::Endpoints => items(ctx, kind, Some(namespace)).into_iter().find(|o| name_of(o) == Some(name)),
        Resource::Namespaces => namespaces(ctx).into_iter().find(|o| name_of(o) == Some(name)),
        Resource::ConfigMaps => serde_json::to_value(ctx.runtime.config_map(namespace, name)?).ok(),
        Resource::Secrets => serde_json::to_value(ctx.runtime.secret(namespace, name)?).ok(),
        Resource::ServiceAccounts => items(ctx, kind, Some(namespace)).into_iter().find(|o| name_of(o) == Some(name)),
    };
    found.ok_or_else(|| Error::ObjectNotFound { resource: kind.resource().into(), namespace: namespace.into(), name: name.into() })
}

/// The one object of `kind` in a request body.
fn one(kind: Resource, bytes: &[u8], namespace: &str, validation: Validation) -> Result<crate::manifest::Manifests, Error> {
    let (list_kind, api_version) = kind.list_kind();
    let m = object_from_body(bytes, namespace, (api_version, list_kind.trim_end_matches("List")), validation)?;
    let count = m.pods.len() + m.config_maps.len() + m.secrets.len() + m.services.len() + m.network_policies.len();
    let matching = match kind {
        Resource::Services => m.services.len(),
        Resource::NetworkPolicies => m.network_policies.len(),
        Resource::ConfigMaps => m.config_maps.len(),
        Resource::Secrets => m.secrets.len(),
        _ => 0,
    };
    if count != 1 || matching != 1 {
        let (list_kind, _) = kind.list_kind();
        return Err(Error::BadRequest(format!("the request body must be one {}", list_kind.trim_end_matches("List"))));
    }
    Ok(m)
}

fn writable(ctx: &ServerContext, kind: Resource) -> Result<(), Error> {
    if kind.read_only() {
        let why = match kind {
            Resource::Namespaces => "are created and deleted here, not changed",
            Resource::ServiceAccounts => "are each namespace's `default` here, and cannot be written",
            _ => "are computed from the pods behind each Service and cannot be written",
        };
        return Err(Error::NotAllowed(format!("{} {why}", kind.resource())));
    }
    served_here(ctx, kind)
}

/// Writes go to a `serve` daemon, not a `run` process.
fn served_here(ctx: &ServerContext, kind: Resource) -> Result<(), Error> {
    if ctx.role == Role::Run {
        return Err(Error::NotAllowed(format!(
            "this is a `wasmpod run` process (pid {}), which serves only its own objects: start `wasmpod serve` to create {}",
            std::process::id(),
            kind.resource()
        )));
    }
    Ok(())
}

/// Puts the one object of `m` (created: must be new).
fn put(ctx: &ServerContext, m: &crate::manifest::Manifests, create: bool) -> Result<Value, Error> {
    let rt = &ctx.runtime;
    fn v<T: serde::Serialize>(r: Result<T, Error>) -> Result<Value, Error> {
        r.map(|o| serde_json::to_value(o).expect("API objects serialize"))
    }
    if let Some(svc) = m.services.first() {
        return v(if create { rt.create_service(svc) } else { rt.apply_service(svc) });
    }
    if let Some(p) = m.network_policies.first() {
        return v(if create { rt.create_network_policy(p) } else { rt.apply_network_policy(p) });
    }
    if let Some(cm) = m.config_maps.first() {
        return v(if create { rt.create_config_map(cm) } else { rt.apply_config_map(cm) });
    }
    let secret = &m.secrets[0];
    v(if create { rt.create_secret(secret) } else { rt.apply_secret(secret) })
}

/// Records the write of the one object of `m` by `manager` in its
/// managedFields (`apply.rs`): what it set or changed from `old`.
fn own(m: &mut crate::manifest::Manifests, kind: Resource, old: Option<&Value>, manager: &str) {
    let (group, kind_name) = kind.group_kind();
    let Some(schema) = super::openapi::schema_of(group, kind_name) else { return };
    use super::request::owned;
    if let Some(o) = m.services.first_mut() {
        *o = owned(o, old, manager, schema);
    } else if let Some(o) = m.network_policies.first_mut() {
        *o = owned(o, old, manager, schema);
    } else if let Some(o) = m.config_maps.first_mut() {
        *o = owned(o, old, manager, schema);
    } else if let Some(o) = m.secrets.first_mut() {
        *o = owned(o, old, manager, schema);
    }
}

/// The name the one object of `m` has.
fn name_in(m: &crate::manifest::Manifests) -> String {
    let meta = m.services.first().map(|s| &s.metadata).or(m.network_policies.first().map(|p| &p.metadata));
    let meta = meta.or(m.config_maps.first().map(|c| &c.metadata)).or(m.secrets.first().map(|s| &s.metadata));
    meta.and_then(|m| m.name.clone()).unwrap_or_default()
}

pub(crate) fn create(ctx: &ServerContext, kind: Resource, namespace: &str, bytes: &[u8], q: &Query) -> Result<Response<Body>, Error> {
    if kind == Resource::Namespaces {
        served_here(ctx, kind)?;
        return Ok(json_response(StatusCode::CREATED, &ctx.runtime.create_namespace(&namespace_from(bytes)?)?));
    }
    writable(ctx, kind)?;
    let mut m = one(kind, bytes, namespace, field_validation(q)?)?;
    if field_manager(q) != super::request::APPLIED {
        own(&mut m, kind, None, field_manager(q));
    }
    Ok(with_warnings(json_response(StatusCode::CREATED, &put(ctx, &m, true)?), &m.warnings))
}

/// A Namespace request body.
fn namespace_from(bytes: &[u8]) -> Result<k8s_openapi::api::core::v1::Namespace, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::BadRequest("the request body is not UTF-8".into()))?;
    serde_saphyr::from_str(text).map_err(|e| Error::BadRequest(format!("Namespace in version \"v1\" cannot be handled as a Namespace: {e}")))
}

pub(crate) fn replace(ctx: &ServerContext, kind: Resource, namespace: &str, name: &str, bytes: &[u8], q: &Query) -> Result<Response<Body>, Error> {
    if kind == Resource::Namespaces {
        served_here(ctx, kind)?;
        let ns = namespace_from(bytes)?;
        if ns.metadata.name.as_deref() != Some(name) {
            return Err(Error::BadRequest(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                ns.metadata.name.unwrap_or_default()
            )));
        }
        let old = ctx.runtime.namespace(name)?;
        precondition("namespaces", name, &serde_json::to_value(&ns).expect("API objects serialize"), old.metadata.resource_version.as_deref())?;
        return Ok(json_response(StatusCode::OK, &ctx.runtime.replace_namespace(&ns)?));
    }
    writable(ctx, kind)?;
    let mut m = one(kind, bytes, namespace, field_validation(q)?)?;
    let named = name_in(&m);
    if named != name {
        return Err(Error::BadRequest(format!("the name of the object ({named}) does not match the name on the URL ({name})")));
    }
    let Ok(old) = get_value(ctx, kind, namespace, name) else {
        return Err(Error::ObjectNotFound { resource: kind.resource().into(), namespace: namespace.into(), name: name.into() });
    };
    if let Ok(sent) = serde_saphyr::from_str::<Value>(std::str::from_utf8(bytes).unwrap_or_default()) {
        precondition(kind.resource(), name, &sent, old["metadata"]["resourceVersion"].as_str())?;
    }
    if field_manager(q) != super::request::APPLIED {
        own(&mut m, kind, Some(&old), field_manager(q));
    }
    Ok(with_warnings(json_response(StatusCode::OK, &put(ctx, &m, false)?), &m.warnings))
}

/// An update's optimistic-concurrency check: a body that names a
/// `resourceVersion` applies only to the object at that version (409
/// Conflict, in kube-apiserver's words, otherwise).
pub(crate) fn precondition(resource: &str, name: &str, sent: &Value, current: Option<&str>) -> Result<(), Error> {
    match sent["metadata"]["resourceVersion"].as_str().filter(|v| !v.is_empty()) {
        Some(v) if Some(v) != current => Err(Error::Conflict {
            resource: resource.into(),
            name: name.into(),
            message: "the object has been modified; please apply your changes to the latest version and try again".into(),
        }),
        _ => Ok(()),
    }
}

pub(crate) fn delete(ctx: &ServerContext, kind: Resource, namespace: &str, name: &str) -> Result<Response<Body>, Error> {
    if kind == Resource::Namespaces {
        served_here(ctx, kind)?;
        return Ok(json_response(StatusCode::OK, &ctx.runtime.delete_namespace(name)?));
    }
    writable(ctx, kind)?;
    match kind {
        // The API server answers a Service's deletion with the Service,
        // a NetworkPolicy's with a Success Status.
        Resource::Services => Ok(json_response(StatusCode::OK, &ctx.runtime.delete_service(namespace, name)?)),
        Resource::ConfigMaps => Ok(json_response(StatusCode::OK, &ctx.runtime.delete_config_map(namespace, name)?)),
        Resource::Secrets => Ok(json_response(StatusCode::OK, &ctx.runtime.delete_secret(namespace, name)?)),
        _ => {
            ctx.runtime.delete_network_policy(namespace, name)?;
            let details = super::StatusDetails { name: Some(name.into()), kind: Some("networkpolicies".into()), causes: Vec::new() };
            Ok(json_response(StatusCode::OK, &Status::success(Some(details))))
        }
    }
}

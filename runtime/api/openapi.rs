//! The OpenAPI documents of the served kinds, as kube-apiserver publishes
//! them:
//!
//! | path | answer |
//! |------|--------|
//! | `/openapi/v3` | the index: each group-version's document, by a hash of it |
//! | `/openapi/v3/api/v1`, `/openapi/v3/apis/{group}/v1` | OpenAPI 3.0: paths and `components.schemas` |
//! | `/openapi/v2` | Swagger 2.0 (JSON only; client-go asks for protobuf, which gets 406) |
//!
//! The schemas are k8s-openapi's (its `schemars` feature: every type with
//! its fields' descriptions, under Kubernetes' own names such as
//! `io.k8s.api.core.v1.Pod`), plus what kube-apiserver adds and clients
//! read: `x-kubernetes-group-version-kind` on each kind and each operation,
//! and `x-kubernetes-patch-merge-key` / `-patch-strategy` on the lists a
//! strategic merge patch merges by key ([`PATCH_STRATEGIES`]).
//!
//! kubectl uses them so: `apply` and `create` look up whether the kind's
//! PATCH operation takes `fieldValidation`; it does, so kubectl sends
//! `fieldValidation=Strict` and leaves validation to the server (which
//! refuses unknown fields). `kubectl explain` renders the v3 schemas.
//! The server's strategic merge patch (`patch.rs`) reads the same
//! extensions.

use std::sync::OnceLock;

use k8s_openapi::api::core::v1 as core;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

/// A served kind, for its paths and schema.
struct Kind {
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    /// Created, replaced, patched and deleted through the API (else only
    /// read: controllers write them in Kubernetes).
    writable: bool,
    /// Adds the kind's schema (and those it refers to); returns its name.
    schema: fn(&mut SchemaGenerator) -> String,
}

fn add<T: JsonSchema>(g: &mut SchemaGenerator) -> String {
    g.subschema_for::<T>();
    T::schema_name().into_owned()
}

const KINDS: &[Kind] = &[
    Kind { group: "", kind: "Pod", plural: "pods", namespaced: true, writable: true, schema: add::<core::Pod> },
    Kind { group: "", kind: "Service", plural: "services", namespaced: true, writable: true, schema: add::<core::Service> },
    Kind { group: "", kind: "Endpoints", plural: "endpoints", namespaced: true, writable: false, schema: add::<core::Endpoints> },
    Kind { group: "", kind: "Event", plural: "events", namespaced: true, writable: false, schema: add::<core::Event> },
    Kind { group: "", kind: "Namespace", plural: "namespaces", namespaced: false, writable: true, schema: add::<core::Namespace> },
    Kind { group: "", kind: "ConfigMap", plural: "configmaps", namespaced: true, writable: true, schema: add::<core::ConfigMap> },
    Kind { group: "", kind: "Secret", plural: "secrets", namespaced: true, writable: true, schema: add::<core::Secret> },
    Kind { group: "", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true, writable: false, schema: add::<core::ServiceAccount> },
    Kind {
        group: "networking.k8s.io",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        namespaced: true,
        writable: true,
        schema: add::<k8s_openapi::api::networking::v1::NetworkPolicy>,
    },
    Kind {
        group: "discovery.k8s.io",
        kind: "EndpointSlice",
        plural: "endpointslices",
        namespaced: true,
        writable: false,
        schema: add::<k8s_openapi::api::discovery::v1::EndpointSlice>,
    },
];

/// The group-versions with documents, as `/openapi/v3` names them.
const GROUP_VERSIONS: &[(&str, &str)] = &[("api/v1", ""), ("apis/networking.k8s.io/v1", "networking.k8s.io"), ("apis/discovery.k8s.io/v1", "discovery.k8s.io")];

/// The lists a strategic merge patch merges element by element, and the
/// key it matches them by: (schema, field, merge key, strategy), from the
/// `patchMergeKey` and `patchStrategy` tags of Kubernetes' Go types. A
/// list without an entry is replaced whole; `merge` without a key merges
/// a list of scalars as a set.
pub(crate) const PATCH_STRATEGIES: &[(&str, &str, Option<&str>, &str)] = &[
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers", None, "merge"),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", Some("uid"), "merge"),
    ("io.k8s.api.core.v1.PodSpec", "containers", Some("name"), "merge"),
    ("io.k8s.api.core.v1.PodSpec", "initContainers", Some("name"), "merge"),
    ("io.k8s.api.core.v1.PodSpec", "ephemeralContainers", Some("name"), "merge"),
    ("io.k8s.api.core.v1.PodSpec", "volumes", Some("name"), "merge,retainKeys"),
    ("io.k8s.api.core.v1.PodSpec", "imagePullSecrets", Some("name"), "merge"),
    ("io.k8s.api.core.v1.PodSpec", "hostAliases", Some("ip"), "merge"),
    ("io.k8s.api.core.v1.PodSpec", "topologySpreadConstraints", Some("topologyKey"), "merge"),
    ("io.k8s.api.core.v1.PodSpec", "resourceClaims", Some("name"), "merge,retainKeys"),
    ("io.k8s.api.core.v1.PodSpec", "schedulingGates", Some("name"), "merge"),
    ("io.k8s.api.core.v1.Container", "ports", Some("containerPort"), "merge"),
    ("io.k8s.api.core.v1.Container", "env", Some("name"), "merge"),
    ("io.k8s.api.core.v1.Container", "volumeMounts", Some("mountPath"), "merge"),
    ("io.k8s.api.core.v1.Container", "volumeDevices", Some("devicePath"), "merge"),
    ("io.k8s.api.core.v1.EphemeralContainer", "ports", Some("containerPort"), "merge"),
    ("io.k8s.api.core.v1.EphemeralContainer", "env", Some("name"), "merge"),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeMounts", Some("mountPath"), "merge"),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeDevices", Some("devicePath"), "merge"),
    ("io.k8s.api.core.v1.PodStatus", "conditions", Some("type"), "merge"),
    ("io.k8s.api.core.v1.PodStatus", "podIPs", Some("ip"), "merge"),
    ("io.k8s.api.core.v1.PodStatus", "hostIPs", Some("ip"), "merge"),
    ("io.k8s.api.core.v1.ServiceSpec", "ports", Some("port"), "merge"),
];

/// The patch types the server takes (`patch.rs`), as `Content-Type`s.
pub(crate) const PATCH_TYPES: &[&str] =
    &["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"];

/// One generation of every document.
struct Documents {
    /// `components.schemas` of the v3 documents (refs `#/components/schemas/`).
    schemas: Map<String, Value>,
    /// `/openapi/v3/<gv>` bodies and their hashes, by group-version path.
    v3: Vec<(&'static str, String, Vec<u8>)>,
    v2: Vec<u8>,
    /// Each of [`KINDS`]' schema names.
    names: Vec<String>,
}

fn documents() -> &'static Documents {
    static DOCS: OnceLock<Documents> = OnceLock::new();
    DOCS.get_or_init(build)
}

/// The v3 schemas by name, with the extensions above: what the strategic
/// merge patch walks.
pub(crate) fn schemas() -> &'static Map<String, Value> {
    &documents().schemas
}

/// The schema name of the kind `group`/`kind` (v1), if served.
pub(crate) fn schema_of(group: &str, kind: &str) -> Option<&'static str> {
    let i = KINDS.iter().position(|k| k.group == group && k.kind == kind)?;
    Some(documents().names[i].as_str())
}

/// How a list field merges in a strategic merge patch or an apply: by a
/// key, as a set of values, or whole.
pub(crate) enum ListMerge {
    Keyed(&'static str),
    Set,
    Atomic,
}

/// The v3 schema of field `key` of the type named `ty`.
pub(crate) fn property(ty: Option<&str>, key: &str) -> Option<&'static Value> {
    schemas().get(ty?)?.get("properties")?.get(key)
}

/// The type name a property schema refers to (directly, or through
/// `allOf` as a ref with a description is written).
pub(crate) fn ref_name(prop: &Value) -> Option<&str> {
    fn direct(v: &Value) -> Option<&str> {
        v.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix(REFS_V3))
    }
    direct(prop).or_else(|| prop.get("allOf")?.as_array()?.iter().find_map(direct))
}

/// The type name of a list property's items.
pub(crate) fn item_type(prop: Option<&'static Value>) -> Option<&'static str> {
    prop?.get("items").and_then(ref_name)
}

/// How the list field `prop` merges, by its patch strategy and merge key.
pub(crate) fn list_merge(prop: Option<&'static Value>) -> ListMerge {
    let strategy = prop.and_then(|p| p.get("x-kubernetes-patch-strategy")).and_then(Value::as_str).unwrap_or_default();
    if !strategy.split(',').any(|s| s == "merge") {
        return ListMerge::Atomic;
    }
    match prop.and_then(|p| p.get("x-kubernetes-patch-merge-key")).and_then(Value::as_str) {
        Some(k) => ListMerge::Keyed(k),
        None => ListMerge::Set,
    }
}

/// `/openapi/v3`: `{"paths": {"api/v1": {"serverRelativeURL": ...}}}`.
pub(crate) fn v3_index() -> Value {
    let paths: Map<String, Value> =
        documents().v3.iter().map(|(gv, hash, _)| ((*gv).to_owned(), json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={hash}")}))).collect();
    json!({ "paths": paths })
}

/// `/openapi/v3/<gv>`'s body, or `None` for a group-version not served.
pub(crate) fn v3_document(gv: &str) -> Option<&'static [u8]> {
    documents().v3.iter().find(|(g, ..)| *g == gv).map(|(_, _, body)| body.as_slice())
}

/// `/openapi/v2`'s body (JSON).
pub(crate) fn v2_document() -> &'static [u8] {
    &documents().v2
}

fn build() -> Documents {
    let mut v3 = SchemaSettings::openapi3().with(|s| s.meta_schema = None).into_generator();
    let mut v2 = SchemaSettings::draft07().with(|s| s.meta_schema = None).into_generator();
    let names: Vec<String> = KINDS.iter().map(|k| (k.schema)(&mut v3)).collect();
    for k in KINDS {
        (k.schema)(&mut v2);
    }
    // The lists made in `decorate` refer to ListMeta.
    for g in [&mut v3, &mut v2] {
        g.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta>();
    }
    let mut schemas = v3.take_definitions(true);
    let mut definitions = v2.take_definitions(true);
    decorate(&mut schemas, &names, REFS_V3);
    decorate(&mut definitions, &names, REFS_V2);
    let docs = GROUP_VERSIONS
        .iter()
        .map(|(gv, group)| {
            let doc = serde_json::to_vec(&v3_doc(group, &schemas, &names)).expect("a document serializes");
            (*gv, hash(&doc), doc)
        })
        .collect();
    let v2 = serde_json::to_vec(&v2_doc(&definitions, &names)).expect("a document serializes");
    Documents { schemas, v3: docs, v2, names }
}

/// Adds the GVK of each kind (and its list, made here: k8s-openapi's
/// `List<T>` has no schema) and the patch strategies.
fn decorate(defs: &mut Map<String, Value>, names: &[String], ref_prefix: &str) {
    for (k, name) in KINDS.iter().zip(names) {
        let gvk = json!([{"group": k.group, "version": "v1", "kind": k.kind}]);
        if let Some(Value::Object(s)) = defs.get_mut(name) {
            s.insert("x-kubernetes-group-version-kind".into(), gvk);
        }
        let list = format!("{name}List");
        defs.insert(
            list,
            json!({
                "description": format!("{}List is a list of {}s.", k.kind, k.kind),
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
                    "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
                    "metadata": {"$ref": format!("{ref_prefix}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")},
                    "items": {"type": "array", "items": {"$ref": format!("{ref_prefix}{name}")}},
                },
                "x-kubernetes-group-version-kind": [{"group": k.group, "version": "v1", "kind": format!("{}List", k.kind)}],
            }),
        );
    }
    for (schema, field, key, strategy) in PATCH_STRATEGIES {
        if let Some(Value::Object(prop)) = defs.get_mut(*schema).and_then(|s| s.get_mut("properties")).and_then(|p| p.get_mut(*field)) {
            if let Some(key) = key {
                prop.insert("x-kubernetes-patch-merge-key".into(), (*key).into());
            }
            prop.insert("x-kubernetes-patch-strategy".into(), (*strategy).into());
        }
    }
}

fn gvk(k: &Kind) -> Value {
    json!({"group": k.group, "version": "v1", "kind": k.kind})
}

fn prefix(group: &str) -> String {
    if group.is_empty() { "/api/v1".into() } else { format!("/apis/{group}/v1") }
}

/// The operation id kube-apiserver gives, e.g. `readCoreV1NamespacedPod`.
fn operation_id(verb: &str, k: &Kind, namespaced: bool, list: bool) -> String {
    let group = match k.group {
        "" => "Core".to_owned(),
        g => g.split('.').next().unwrap_or(g).chars().enumerate().map(|(i, c)| if i == 0 { c.to_ascii_uppercase() } else { c }).collect(),
    };
    let ns = if namespaced { "Namespaced" } else { "" };
    let any = if list && !namespaced && k.namespaced { "ForAllNamespaces" } else { "" };
    format!("{verb}{group}V1{ns}{}{any}", k.kind)
}

/// The query parameters of writes: what kubectl looks for.
fn write_params(patch: bool) -> Vec<Value> {
    let mut p = vec![
        json!({"name": "dryRun", "in": "query", "description": "When present, indicates that modifications should not be persisted.", "schema": {"type": "string"}, "type": "string"}),
        json!({"name": "fieldManager", "in": "query", "description": "fieldManager is a name associated with the actor or entity that is making these changes.", "schema": {"type": "string"}, "type": "string"}),
        json!({"name": "fieldValidation", "in": "query", "description": "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict (the default).", "schema": {"type": "string"}, "type": "string"}),
    ];
    if patch {
        p.push(json!({"name": "force", "in": "query", "description": "Force is going to \"force\" Apply requests.", "schema": {"type": "boolean"}, "type": "boolean"}));
    }
    p
}

/// An operation of `k`: (path, method, operation).
fn operations(k: &Kind, schema: &str, refs: &str, v3: bool) -> Vec<(String, &'static str, Value)> {
    let base = prefix(k.group);
    let one = |name: &str| json!({"$ref": format!("{refs}{name}")});
    let reply = |code: &str, name: &str| -> Value {
        if v3 {
            json!({ code: {"description": "OK", "content": {"application/json": {"schema": one(name)}, "application/yaml": {"schema": one(name)}}} })
        } else {
            json!({ code: {"description": "OK", "schema": one(name)} })
        }
    };
    let body = |content_types: &[&str]| -> Value {
        let content: Map<String, Value> = content_types.iter().map(|t| ((*t).to_owned(), json!({"schema": one(schema)}))).collect();
        json!({"required": true, "content": content})
    };
    let op = |verb: &str, action: &str, namespaced: bool, list: bool, responses: Value, params: Vec<Value>, request: Option<Value>| -> Value {
        let mut o = json!({
            "operationId": operation_id(verb, k, namespaced, list),
            "tags": [if k.group.is_empty() { "core_v1".to_owned() } else { format!("{}_v1", k.group.split('.').next().unwrap_or_default()) }],
            "responses": responses,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk(k),
        });
        let mut params = params;
        if let Some(b) = request {
            if v3 {
                o["requestBody"] = b;
            } else {
                params.push(json!({"name": "body", "in": "body", "required": true, "schema": one(schema)}));
            }
        }
        // A parameter's type: v3 in its `schema`, v2 beside it (a
        // body parameter has only its schema).
        for p in params.iter_mut().filter_map(Value::as_object_mut) {
            if v3 {
                p.remove("type");
            } else if p.get("in").and_then(Value::as_str) != Some("body") {
                p.remove("schema");
            }
        }
        if !params.is_empty() {
            o["parameters"] = Value::Array(params);
        }
        o
    };
    let path_param = |name: &str, what: &str| -> Value {
        if v3 {
            json!({"name": name, "in": "path", "required": true, "description": what, "schema": {"type": "string", "uniqueItems": true}})
        } else {
            json!({"name": name, "in": "path", "required": true, "description": what, "type": "string", "uniqueItems": true})
        }
    };
    let list_name = format!("{schema}List");
    let mut out = Vec::new();
    let (collection, item, ns_params) = if k.namespaced {
        (
            format!("{base}/namespaces/{{namespace}}/{}", k.plural),
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", k.plural),
            vec![path_param("namespace", "object name and auth scope, such as for teams and projects")],
        )
    } else {
        (format!("{base}/{}", k.plural), format!("{base}/{}/{{name}}", k.plural), Vec::new())
    };
    let ns = k.namespaced;
    out.push((collection.clone(), "get", op("list", "list", ns, true, reply("200", &list_name), ns_params.clone(), None)));
    let mut item_params = ns_params.clone();
    item_params.insert(0, path_param("name", &format!("name of the {}", k.kind)));
    out.push((item.clone(), "get", op("read", "get", ns, false, reply("200", schema), item_params.clone(), None)));
    if k.writable {
        let params = |patch: bool, base: &Vec<Value>| -> Vec<Value> { base.iter().cloned().chain(write_params(patch)).collect() };
        let json_body = body(&["application/json", "application/yaml"]);
        out.push((collection.clone(), "post", op("create", "post", ns, false, reply("201", schema), params(false, &ns_params), Some(json_body.clone()))));
        out.push((item.clone(), "put", op("replace", "put", ns, false, reply("200", schema), params(false, &item_params), Some(json_body))));
        let patch_body = body(PATCH_TYPES);
        out.push((item.clone(), "patch", op("patch", "patch", ns, false, reply("200", schema), params(true, &item_params), Some(patch_body))));
        out.push((item, "delete", op("delete", "delete", ns, false, reply("200", schema), item_params, None)));
    }
    if k.namespaced {
        out.push((format!("{base}/{}", k.plural), "get", op("list", "list", false, true, reply("200", &list_name), Vec::new(), None)));
    }
    out
}

fn paths(group: &str, names: &[String], refs: &str, v3: bool) -> Map<String, Value> {
    let mut paths = Map::new();
    for (k, name) in KINDS.iter().zip(names).filter(|(k, _)| k.group == group || group == "*") {
        for (path, method, op) in operations(k, name, refs, v3) {
            let entry = paths.entry(path).or_insert_with(|| json!({}));
            entry[method] = op;
        }
    }
    paths
}

/// The names `root` refers to, transitively, `root` among them.
fn closure(defs: &Map<String, Value>, roots: impl IntoIterator<Item = String>, refs: &str) -> std::collections::BTreeSet<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(n) = todo.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        if let Some(s) = defs.get(&n) {
            collect_refs(s, refs, &mut todo);
        }
    }
    seen
}

fn collect_refs(v: &Value, refs: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix(refs)) {
                out.push(r.to_owned());
            }
            o.values().for_each(|v| collect_refs(v, refs, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, refs, out)),
        _ => {}
    }
}

const REFS_V3: &str = "#/components/schemas/";
const REFS_V2: &str = "#/definitions/";

fn v3_doc(group: &str, schemas: &Map<String, Value>, names: &[String]) -> Value {
    let roots = KINDS.iter().zip(names).filter(|(k, _)| k.group == group).flat_map(|(_, n)| [n.clone(), format!("{n}List")]);
    let used: Map<String, Value> = closure(schemas, roots, REFS_V3).into_iter().filter_map(|n| schemas.get(&n).map(|s| (n, s.clone()))).collect();
    let title = if group.is_empty() { "Kubernetes" } else { group };
    json!({
        "openapi": "3.0.0",
        "info": {"title": title, "version": "v1 (wasmpod)"},
        "paths": paths(group, names, REFS_V3, true),
        "components": {"schemas": used},
    })
}

fn v2_doc(definitions: &Map<String, Value>, names: &[String]) -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1 (wasmpod)"},
        "paths": paths("*", names, REFS_V2, false),
        "definitions": definitions,
    })
}

fn hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode_upper(&sha2::Sha256::digest(bytes)[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(gv: &str) -> Value {
        serde_json::from_slice(v3_document(gv).expect("served")).unwrap()
    }

    #[test]
    fn the_index_names_each_group_version_by_its_hash() {
        let index = v3_index();
        for (gv, _) in GROUP_VERSIONS {
            let url = index["paths"][gv]["serverRelativeURL"].as_str().unwrap();
            let hash = url.strip_prefix(&format!("/openapi/v3/{gv}?hash=")).unwrap();
            assert_eq!(hash.len(), 64, "{url}");
        }
        assert!(v3_document("apis/apps/v1").is_none());
    }

    #[test]
    fn pod_schema_has_its_kind_descriptions_and_merge_keys() {
        let d = doc("api/v1");
        let schemas = &d["components"]["schemas"];
        let pod = &schemas["io.k8s.api.core.v1.Pod"];
        assert_eq!(pod["x-kubernetes-group-version-kind"][0], json!({"group": "", "version": "v1", "kind": "Pod"}));
        assert!(pod["description"].as_str().unwrap().starts_with("Pod is a collection of containers"));
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(schemas["io.k8s.api.core.v1.PodList"]["x-kubernetes-group-version-kind"][0]["kind"], "PodList");
        // Every reference resolves within the document.
        let mut refs = Vec::new();
        collect_refs(&d, REFS_V3, &mut refs);
        for r in refs {
            assert!(schemas.get(&r).is_some(), "dangling {r}");
        }
        // A group's document holds only what its kinds need.
        assert!(doc("apis/networking.k8s.io/v1")["components"]["schemas"].get("io.k8s.api.core.v1.Pod").is_none());
    }

    #[test]
    fn writable_kinds_take_field_validation_on_patch() {
        let d = doc("api/v1");
        let patch = &d["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
        assert!(patch["requestBody"]["content"].get("application/strategic-merge-patch+json").is_some());
        // Read-only kinds have no writes.
        assert!(d["paths"]["/api/v1/namespaces/{namespace}/endpoints/{name}"].get("patch").is_none());
    }

    #[test]
    fn v2_is_swagger_with_definitions() {
        let d: Value = serde_json::from_slice(v2_document()).unwrap();
        assert_eq!(d["swagger"], "2.0");
        assert_eq!(d["definitions"]["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
        assert!(d.to_string().contains("#/definitions/io.k8s.api.core.v1.PodSpec"));
        assert!(!d.to_string().contains("#/components/"));
    }
}

//! What every route handler shares: the server's context, the query, and
//! reading a request's body into a validated object.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;

use super::discovery::Role;
use crate::Error;
use crate::manifest::{MAX_MANIFEST_BYTES, Validation};

/// A request's query parameters.
pub(super) type Query = HashMap<String, String>;

/// What the routes see of the server.
#[derive(Clone)]
pub(crate) struct ServerContext {
    pub runtime: Arc<crate::runtime::Runtime>,
    pub role: Role,
}

/// A request's body and content type; a protobuf body (kubectl's typed
/// clients) is turned into JSON here (`protobuf.rs`).
pub(super) async fn read_body(req: Request<Incoming>) -> Result<(Option<String>, Bytes), Error> {
    let ctype = req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let limited = http_body_util::Limited::new(req.into_body(), MAX_MANIFEST_BYTES);
    let bytes = limited.collect().await.map_err(|e| Error::BadRequest(format!("cannot read the request body: {e}")))?.to_bytes();
    if super::protobuf::is_protobuf(ctype.as_deref()) {
        return Ok((Some("application/json".into()), Bytes::from(super::protobuf::to_json(&bytes)?)));
    }
    Ok((ctype, bytes))
}

/// The `fieldValidation` query parameter: what an unknown field in the
/// body does. Absent: `Warn`, as kube-apiserver defaults it (kubectl
/// sends `Strict`, and `Ignore` with `--validate=false`).
pub(super) fn field_validation(q: &Query) -> Result<Validation, Error> {
    match q.get("fieldValidation").map(String::as_str) {
        None | Some("" | "Warn") => Ok(Validation::Warn),
        Some("Strict") => Ok(Validation::Strict),
        Some("Ignore") => Ok(Validation::Ignore),
        Some(other) => Err(Error::BadRequest(format!("fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""))),
    }
}

/// The field manager of a write: `fieldManager`, which
/// the route handler defaults from the user agent as kube-apiserver does
/// (`kubectl/v1.32.4 (linux/amd64) ...` -> `kubectl`).
pub(super) fn field_manager(q: &Query) -> &str {
    q.get("fieldManager").map(String::as_str).unwrap_or("unknown")
}

/// The field manager name that marks a write whose managedFields an
/// apply already set (`Update` recording skips it).
pub(super) const APPLIED: &str = "\0applied";

/// Marks a query whose `fieldManager` the server defaulted (an apply must
/// name its own).
pub(super) const DEFAULTED_MANAGER: &str = "\0defaulted-fieldManager";

/// The default field manager of a request from `user_agent`.
pub(super) fn manager_from_user_agent(user_agent: Option<&str>) -> String {
    let ua = user_agent.unwrap_or_default();
    let prefix: String = ua.split('/').next().unwrap_or_default().chars().take(128).collect();
    if prefix.is_empty() { "unknown".into() } else { prefix }
}

/// The object `v` of schema `schema` with the fields this write by
/// `manager` set or changed (from `old`) recorded as its own
/// (`apply.rs`), through JSON.
pub(super) fn owned<T: serde::Serialize + serde::de::DeserializeOwned>(v: &T, old: Option<&serde_json::Value>, manager: &str, schema: &str) -> T {
    let mut value = serde_json::to_value(v).expect("API objects serialize");
    super::apply::record_update(old, &mut value, manager, schema);
    serde_json::from_value(value).expect("an object with its managedFields deserializes")
}

/// `resp` with a `Warning` header for each warning (kubectl prints them
/// as `Warning: ...`).
pub(super) fn with_warnings(mut resp: hyper::Response<super::body::Body>, warnings: &[String]) -> hyper::Response<super::body::Body> {
    for w in warnings {
        let value = format!("299 - {}", crate::manifest::go_quote(w));
        if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
            resp.headers_mut().append(hyper::header::WARNING, v);
        }
    }
    resp
}

/// A Pod from a request body ([`object_from_body`]).
pub(super) fn pod_from_body(bytes: &[u8], namespace: &str, validation: Validation) -> Result<crate::manifest::Manifests, Error> {
    let m = object_from_body(bytes, namespace, ("v1", "Pod"), validation)?;
    if m.pods.len() != 1 || !m.config_maps.is_empty() || !m.secrets.is_empty() || !m.services.is_empty() || !m.network_policies.is_empty() {
        return Err(Error::BadRequest("the request body must be one Pod".into()));
    }
    Ok(m)
}

/// The object of a request body (JSON, or YAML with `application/yaml`),
/// in `namespace` unless it names its own, through the same loading and
/// validation as a manifest file.
/// `kind` (apiVersion, kind) is what the path names: a body without its
/// own is taken as that (the API server infers it from the path, and the
/// Python client leaves it out).
pub(super) fn object_from_body(bytes: &[u8], namespace: &str, kind: (&str, &str), validation: Validation) -> Result<crate::manifest::Manifests, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::BadRequest("the request body is not UTF-8".into()))?;
    // YAML is a superset of JSON, so one parser reads both.
    let mut value: serde_json::Value =
        serde_saphyr::from_str(text).map_err(|e| Error::BadRequest(format!("the request body is not a JSON or YAML object: {e}")))?;
    if let Some(o) = value.as_object_mut() {
        o.entry("apiVersion").or_insert_with(|| kind.0.into());
        o.entry("kind").or_insert_with(|| kind.1.into());
    }
    let meta = value.as_object_mut().and_then(|o| o.get_mut("metadata")).and_then(|m| m.as_object_mut());
    let name = meta.as_ref().and_then(|m| m.get("name")).and_then(|n| n.as_str()).unwrap_or_default().to_owned();
    if let Some(meta) = meta {
        match meta.get("namespace").and_then(|n| n.as_str()) {
            None => {
                meta.insert("namespace".into(), namespace.into());
            }
            Some(ns) if ns != namespace => {
                return Err(Error::BadRequest("the namespace of the provided object does not match the namespace sent on the request".into()));
            }
            Some(_) => {}
        }
    }
    let json = serde_json::to_string(&value).expect("a JSON value serializes");
    crate::manifest::load_str(&json, "request body", validation).map_err(|e| Error::from_manifest(&name, e))
}

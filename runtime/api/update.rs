//! Updates over the API: PUT (replace) and PATCH of pods and of the other
//! writable objects, and handing a request about a pod another process
//! runs to that process.
//!
//! A PATCH is applied to the object as a GET returns it (`patch.rs`), and
//! the result goes the way of a PUT body: decoded and validated as a
//! manifest, then [`crate::Runtime::replace`] (a pod: Kubernetes' update
//! rules, applied to the running pod) or the object's replace.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use super::body::{Body, json_response};
use super::discovery::endpoints;
use super::objects::{self, Resource};
use super::patch::{PatchError, PatchType};
use super::request::{APPLIED, DEFAULTED_MANAGER, Query, ServerContext, field_manager, field_validation, owned, pod_from_body, read_body, with_warnings};
use crate::Error;

/// A request taken apart, to be sent again to another process.
pub(super) struct Held {
    method: hyper::Method,
    uri: hyper::Uri,
    headers: hyper::HeaderMap,
}

impl Held {
    pub(super) fn of<B>(req: &Request<B>) -> Held {
        Held { method: req.method().clone(), uri: req.uri().clone(), headers: req.headers().clone() }
    }

    /// The same request to `path` (one pod of a collection).
    pub(super) fn single(held: &Held, path: &str) -> Held {
        let uri = match held.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        Held { method: held.method.clone(), uri: uri.parse().unwrap_or_else(|_| held.uri.clone()), headers: held.headers.clone() }
    }
}

/// Sends the request to the process that runs the pod (`elsewhere` is
/// its [`Error::RunningElsewhere`]) and answers with its response.
pub(super) async fn forward(ctx: &ServerContext, elsewhere: Error, held: Held, bytes: Bytes) -> Result<Response<Body>, Error> {
    let Error::RunningElsewhere { pid: Some(pid), .. } = &elsewhere else { return Err(elsewhere) };
    let Some(owner) = endpoints(ctx.runtime.state().path()).into_iter().find(|e| e.pid == *pid) else { return Err(elsewhere) };
    let mut fwd = Request::builder().method(held.method).uri(held.uri);
    for (k, v) in &held.headers {
        fwd = fwd.header(k, v);
    }
    let fwd = fwd.body(http_body_util::Full::new(bytes)).expect("a copied request is valid");
    match super::client::send(&owner.path, fwd).await {
        Ok(resp) => Ok(resp.map(|b| b.boxed())),
        Err(_) => Err(elsewhere),
    }
}

/// `PUT .../pods/{name}`.
pub(super) async fn replace_pod(ctx: &ServerContext, namespace: &str, name: &str, q: &Query, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let held = Held::of(&req);
    let (_, bytes) = read_body(req).await?;
    match update_pod(ctx, namespace, name, &bytes, q).await {
        Err(e @ Error::RunningElsewhere { .. }) => forward(ctx, e, held, bytes).await,
        other => other,
    }
}

/// `PATCH .../pods/{name}`.
pub(super) async fn patch_pod(ctx: &ServerContext, namespace: &str, name: &str, q: &Query, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let held = Held::of(&req);
    let (ctype, bytes) = read_body(req).await?;
    let result = if is_apply(ctype.as_deref()) {
        apply_pod(ctx, namespace, name, q, &bytes).await
    } else {
        let kind = patch_type(ctype.as_deref())?;
        let current = serde_json::to_value(ctx.runtime.get(namespace, name)?).expect("a Pod serializes");
        let patched = patched(kind, current, &bytes, POD)?;
        update_pod(ctx, namespace, name, &patched, q).await
    };
    match result {
        Err(e @ Error::RunningElsewhere { .. }) => forward(ctx, e, held, bytes).await,
        other => other,
    }
}

/// `PATCH` of a Service or NetworkPolicy.
pub(super) async fn patch_object(
    ctx: &ServerContext,
    kind: Resource,
    namespace: &str,
    name: &str,
    q: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, Error> {
    let (ctype, bytes) = read_body(req).await?;
    let (group, kind_name) = kind.group_kind();
    let schema = super::openapi::schema_of(group, kind_name)
        .ok_or_else(|| Error::NotAllowed(format!("the server does not allow this method on the requested resource ({})", kind.resource())))?;
    if is_apply(ctype.as_deref()) {
        let live = match objects::get_value(ctx, kind, namespace, name) {
            Ok(v) => Some(v),
            Err(Error::ObjectNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let (list_kind, api_version) = kind.list_kind();
        let out = applied(live.as_ref(), &bytes, namespace, name, (api_version, list_kind.trim_end_matches("List")), q, schema)?;
        // The apply's own managedFields stand: no Update entry on top.
        let mut q = q.clone();
        q.insert("fieldManager".into(), APPLIED.into());
        return match live {
            None => objects::create(ctx, kind, namespace, &out, &q).map(created),
            Some(_) => objects::replace(ctx, kind, namespace, name, &out, &q),
        };
    }
    let patch = patch_type(ctype.as_deref())?;
    let current = objects::get_value(ctx, kind, namespace, name)?;
    let patched = patched(patch, current, &bytes, schema)?;
    objects::replace(ctx, kind, namespace, name, &patched, q)
}

fn patch_type(content_type: Option<&str>) -> Result<PatchType, Error> {
    content_type.and_then(PatchType::of).ok_or_else(|| Error::UnsupportedMediaType {
        message: format!("the body of the request was in an unknown format - accepted media types include: {}", super::openapi::PATCH_TYPES.join(", ")),
    })
}

/// The patched object as a request body, without what the server fills
/// in (status; the PUT path keeps the rest).
fn patched(kind: PatchType, current: Value, patch: &[u8], schema: &str) -> Result<Bytes, Error> {
    let mut out = super::patch::apply(kind, current, patch, schema).map_err(|e| match e {
        PatchError::Malformed(m) => Error::BadRequest(m),
        // Not about a field of the object: kubectl prints `The request is invalid: ...`.
        PatchError::Invalid(message) => Error::Invalid { name: String::new(), message },
    })?;
    if let Some(o) = out.as_object_mut() {
        o.remove("status");
    }
    Ok(Bytes::from(serde_json::to_vec(&out).expect("a JSON value serializes")))
}

const POD: &str = "io.k8s.api.core.v1.Pod";

/// Whether a PATCH is a server-side apply.
fn is_apply(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| t.split(';').next().unwrap_or_default().trim() == "application/apply-patch+yaml")
}

/// A create answers 201.
fn created(mut resp: Response<Body>) -> Response<Body> {
    if resp.status() == StatusCode::OK {
        *resp.status_mut() = StatusCode::CREATED;
    }
    resp
}

/// The object a server-side apply of `body` (YAML or JSON) makes of
/// `live` (absent: a new one), as a request body: `apply.rs`, with the
/// API server's checks of the request.
fn applied(live: Option<&Value>, body: &[u8], namespace: &str, name: &str, kind: (&str, &str), q: &Query, schema: &str) -> Result<Vec<u8>, Error> {
    // kube-apiserver requires the manager to be named for an apply.
    if q.contains_key(DEFAULTED_MANAGER) {
        return Err(Error::Invalid {
            name: String::new(),
            message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
        });
    }
    let manager = field_manager(q);
    let text = std::str::from_utf8(body).map_err(|_| Error::BadRequest("the request body is not UTF-8".into()))?;
    let mut config: Value = serde_saphyr::from_str(text).map_err(|e| Error::BadRequest(format!("error decoding YAML: {e}")))?;
    let Some(o) = config.as_object_mut() else { return Err(Error::BadRequest("an apply configuration must be an object".into())) };
    o.entry("apiVersion").or_insert_with(|| kind.0.into());
    o.entry("kind").or_insert_with(|| kind.1.into());
    let meta = o.entry("metadata").or_insert_with(|| serde_json::json!({}));
    if let Some(other) = meta.get("name").and_then(Value::as_str).filter(|n| *n != name) {
        return Err(Error::BadRequest(format!("the name of the object ({other}) does not match the name on the URL ({name})")));
    }
    meta["name"] = name.into();
    if let Some(m) = meta.as_object_mut() {
        m.entry("namespace").or_insert_with(|| namespace.into());
    }
    let force = q.get("force").is_some_and(|f| f == "true" || f == "1");
    let out = super::apply::apply(live, &config, manager, force, schema).map_err(|c| Error::ApplyConflict {
        resource: format!("{}s", kind.1.to_ascii_lowercase()),
        name: name.into(),
        message: c.message(),
    })?;
    Ok(serde_json::to_vec(&out).expect("a JSON value serializes"))
}

/// A server-side apply to a pod: created when missing, else updated by
/// Kubernetes' rules.
async fn apply_pod(ctx: &ServerContext, namespace: &str, name: &str, q: &Query, body: &[u8]) -> Result<Response<Body>, Error> {
    let live = match ctx.runtime.get(namespace, name) {
        Ok(p) => Some(serde_json::to_value(p).expect("a Pod serializes")),
        Err(Error::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let out = applied(live.as_ref(), body, namespace, name, ("v1", "Pod"), q, POD)?;
    let mut q = q.clone();
    q.insert("fieldManager".into(), APPLIED.into());
    match live {
        None => {
            let m = pod_from_body(&out, namespace, field_validation(&q)?)?;
            let base = std::env::current_dir().unwrap_or_default();
            let mut pods = ctx.runtime.create(&m, &base).await?;
            Ok(with_warnings(json_response(StatusCode::CREATED, &pods.remove(0)), &m.warnings))
        }
        Some(_) => update_pod(ctx, namespace, name, &out, &q).await,
    }
}

/// A pod's new object, from a PUT body or a patched one.
async fn update_pod(ctx: &ServerContext, namespace: &str, name: &str, bytes: &[u8], q: &Query) -> Result<Response<Body>, Error> {
    let body = strip_server_fields(bytes)?;
    let mut m = pod_from_body(&body, namespace, field_validation(q)?)?;
    let current = ctx.runtime.get(namespace, name)?;
    let sent: Value = serde_json::from_slice(&body).expect("a stripped body is JSON");
    objects::precondition("pods", name, &sent, current.metadata.resource_version.as_deref())?;
    if field_manager(q) != APPLIED {
        let old = serde_json::to_value(&current).expect("a Pod serializes");
        m.pods[0] = owned(&m.pods[0], Some(&old), field_manager(q), POD);
    }
    let pod = &m.pods[0];
    if pod.metadata.name.as_deref() != Some(name) {
        return Err(Error::BadRequest(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            pod.metadata.name.as_deref().unwrap_or_default()
        )));
    }
    if let (Some(sent), Some(uid)) = (pod.metadata.uid.as_deref(), current.metadata.uid.as_deref())
        && sent != uid
    {
        return Err(Error::Conflict {
            resource: "pods".into(),
            name: name.into(),
            message: format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {sent}"),
        });
    }
    Ok(with_warnings(json_response(StatusCode::OK, &ctx.runtime.replace(pod).await?), &m.warnings))
}

/// A pod body without `status` (the server's; an update does not set
/// it).
fn strip_server_fields(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::BadRequest("the request body is not UTF-8".into()))?;
    let mut v: Value = serde_saphyr::from_str(text).map_err(|e| Error::BadRequest(format!("the request body is not a JSON or YAML object: {e}")))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    Ok(serde_json::to_vec(&v).expect("a JSON value serializes"))
}

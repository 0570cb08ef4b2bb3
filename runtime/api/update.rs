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
use super::request::{Query, ServerContext, field_validation, pod_from_body, read_body, with_warnings};
use crate::Error;
use crate::manifest::Validation;

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
    let validation = field_validation(q)?;
    let (_, bytes) = read_body(req).await?;
    match update_pod(ctx, namespace, name, &bytes, validation).await {
        Err(e @ Error::RunningElsewhere { .. }) => forward(ctx, e, held, bytes).await,
        other => other,
    }
}

/// `PATCH .../pods/{name}`.
pub(super) async fn patch_pod(ctx: &ServerContext, namespace: &str, name: &str, q: &Query, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let held = Held::of(&req);
    let validation = field_validation(q)?;
    let (ctype, bytes) = read_body(req).await?;
    let kind = patch_type(ctype.as_deref())?;
    let current = serde_json::to_value(ctx.runtime.get(namespace, name)?).expect("a Pod serializes");
    let patched = patched(kind, current, &bytes, "io.k8s.api.core.v1.Pod")?;
    match update_pod(ctx, namespace, name, &patched, validation).await {
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
    let validation = field_validation(q)?;
    let (ctype, bytes) = read_body(req).await?;
    let patch = patch_type(ctype.as_deref())?;
    let current = objects::get_value(ctx, kind, namespace, name)?;
    let (group, kind_name) = kind.group_kind();
    let schema = super::openapi::schema_of(group, kind_name)
        .ok_or_else(|| Error::NotAllowed(format!("the server does not allow this method on the requested resource ({})", kind.resource())))?;
    let patched = patched(patch, current, &bytes, schema)?;
    objects::replace(ctx, kind, namespace, name, &patched, validation)
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

/// A pod's new object, from a PUT body or a patched one.
async fn update_pod(ctx: &ServerContext, namespace: &str, name: &str, bytes: &[u8], validation: Validation) -> Result<Response<Body>, Error> {
    let m = pod_from_body(&strip_server_fields(bytes)?, namespace, validation)?;
    let pod = &m.pods[0];
    if pod.metadata.name.as_deref() != Some(name) {
        return Err(Error::BadRequest(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            pod.metadata.name.as_deref().unwrap_or_default()
        )));
    }
    let current = ctx.runtime.get(namespace, name)?;
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

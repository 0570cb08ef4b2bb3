//! The route table of the control API: Kubernetes' paths for pods, and
//! the discovery documents clients read first.
//!
//! | method | path | answer |
//! |--------|------|--------|
//! | GET | `/healthz`, `/livez`, `/readyz` | `ok` |
//! | GET | `/version` | version.Info |
//! | GET | `/api`, `/api/v1` | APIVersions, APIResourceList |
//! | GET | `/api/v1/pods`, `/api/v1/namespaces/{ns}/pods` | PodList, or a watch with `watch=true` |
//! | POST | `/api/v1/namespaces/{ns}/pods` | create (JSON or YAML): 201 |
//! | GET, PUT, DELETE | `/api/v1/namespaces/{ns}/pods/{name}` | the pod; replace (apply); delete |
//! | GET | `.../pods/{name}/status`, `.../pods/{name}/log` | the pod; its log |
//! | GET | `/api/v1/namespaces/{ns}/events` | EventList (`fieldSelector=involvedObject.name=...`) |
//!
//! Pod subresources that need the process running the pod (exec,
//! port-forward) are added as `PodSub` arms in [`handle`], using
//! `upgrade::upgrade` for their byte streams.

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::Status;
use super::body::{Body, channel, full, json_response};
use super::discovery::Role;
use super::objects::{self, Resource};
use super::remotecommand::{Session, Wanted};
use super::request::{Query, ServerContext, field_validation, pod_from_body, read_body, with_warnings};
use super::selectors::{FieldSelector, Fields, LabelSelector};
use crate::Error;
use crate::runtime::LogOptions;

/// A parsed request path.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Health,
    Version,
    ApiVersions,
    Resources,
    Pods {
        namespace: Option<String>,
    },
    Pod {
        namespace: String,
        name: String,
    },
    PodSub {
        namespace: String,
        name: String,
        sub: String,
    },
    Events {
        namespace: Option<String>,
    },
    /// `/apis`, `/apis/{group}`, `/apis/{group}/v1`.
    Groups,
    Group {
        group: String,
    },
    GroupResources {
        group: String,
    },
    /// `/openapi/v2`, `/openapi/v3`, `/openapi/v3/{group-version path}`.
    OpenApiV2,
    OpenApiV3Index,
    OpenApiV3 {
        group_version: String,
    },
    /// Services, NetworkPolicies, EndpointSlices, Endpoints (`objects.rs`).
    Objects {
        kind: Resource,
        namespace: Option<String>,
    },
    Object {
        kind: Resource,
        namespace: String,
        name: String,
    },
}

/// The paths kube-apiserver answers without credentials (the
/// `system:public-info-viewer` role): health and version.
pub(super) fn is_public(path: &str) -> bool {
    matches!(path.trim_end_matches('/'), "/healthz" | "/livez" | "/readyz" | "/version")
}

fn route(path: &str) -> Option<Route> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let s = |x: &str| x.to_owned();
    Some(match parts.as_slice() {
        ["healthz" | "livez" | "readyz"] => Route::Health,
        ["version"] => Route::Version,
        ["api"] => Route::ApiVersions,
        ["api", "v1"] => Route::Resources,
        ["api", "v1", "pods"] => Route::Pods { namespace: None },
        ["api", "v1", "events"] => Route::Events { namespace: None },
        ["api", "v1", "namespaces", ns, "pods"] => Route::Pods { namespace: Some(s(ns)) },
        ["api", "v1", "namespaces", ns, "events"] => Route::Events { namespace: Some(s(ns)) },
        ["api", "v1", "namespaces", ns, "pods", name] => Route::Pod { namespace: s(ns), name: s(name) },
        ["api", "v1", "namespaces", ns, "pods", name, sub] => Route::PodSub { namespace: s(ns), name: s(name), sub: s(sub) },
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Index,
        ["openapi", "v3", gv @ ..] => Route::OpenApiV3 { group_version: gv.join("/") },
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group { group: s(group) },
        ["apis", group, "v1"] => Route::GroupResources { group: s(group) },
        ["api", "v1", "namespaces", name] => Route::Object { kind: Resource::Namespaces, namespace: String::new(), name: s(name) },
        ["api", "v1", res] => Route::Objects { kind: Resource::of("", res)?, namespace: None },
        ["api", "v1", "namespaces", ns, res] => Route::Objects { kind: Resource::of("", res)?, namespace: Some(s(ns)) },
        ["api", "v1", "namespaces", ns, res, name] => Route::Object { kind: Resource::of("", res)?, namespace: s(ns), name: s(name) },
        ["apis", group, "v1", res] => Route::Objects { kind: Resource::of(group, res)?, namespace: None },
        ["apis", group, "v1", "namespaces", ns, res] => Route::Objects { kind: Resource::of(group, res)?, namespace: Some(s(ns)) },
        ["apis", group, "v1", "namespaces", ns, res, name] => Route::Object { kind: Resource::of(group, res)?, namespace: s(ns), name: s(name) },
        _ => return None,
    })
}

fn flag(q: &Query, key: &str) -> bool {
    q.get(key).is_some_and(|v| v == "true" || v == "1")
}

fn error_response(e: &Error) -> Response<Body> {
    let status = Status::of(e);
    json_response(StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &status)
}

fn status_response(code: u16, reason: &str, message: String) -> Response<Body> {
    json_response(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &Status::failure(code, reason, message, None))
}

pub(crate) async fn handle(ctx: Arc<ServerContext>, req: Request<Incoming>) -> Response<Body> {
    let mut query: Query = req.uri().query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    if !query.contains_key("fieldManager") {
        let ua = req.headers().get(hyper::header::USER_AGENT).and_then(|v| v.to_str().ok());
        query.insert("fieldManager".into(), super::request::manager_from_user_agent(ua));
        query.insert(super::request::DEFAULTED_MANAGER.into(), String::new());
    }
    let Some(r) = route(req.uri().path()) else {
        return status_response(404, "NotFound", "the server could not find the requested resource".into());
    };
    let method = req.method().clone();
    // kubectl's `get` asks for a Table (server-side printing).
    let accept = req.headers().get(hyper::header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if method == Method::GET && super::tables::wants_table(accept.as_deref()) && !flag(&query, "watch") {
        let include = query.get("includeObject").map(String::as_str);
        // Taken before the objects are read, as for a list: `get -w`
        // watches from it.
        let version = ctx.runtime.resource_version().to_string();
        let table = |of, items: Result<Vec<serde_json::Value>, Error>| {
            items.map(|items| {
                let mut t = super::tables::table(of, &items, include, jiff::Timestamp::now());
                t["metadata"]["resourceVersion"] = version.clone().into();
                json_response(StatusCode::OK, &t)
            })
        };
        let values = |pods: Vec<k8s_openapi::api::core::v1::Pod>| pods.iter().map(|p| serde_json::to_value(p).expect("a Pod serializes")).collect::<Vec<_>>();
        let printed = match &r {
            Route::Pods { namespace } => Some(table(super::tables::Printed::Pods, pods_of(&ctx, namespace.as_deref(), &query).map(values))),
            Route::Pod { namespace, name } => Some(table(super::tables::Printed::Pods, ctx.runtime.get(namespace, name).map(|p| values(vec![p])))),
            Route::Objects { kind, namespace } => {
                Some(table(super::tables::Printed::Other(*kind), objects::list_values(&ctx, *kind, namespace.as_deref(), &query)))
            }
            Route::Object { kind, namespace, name } => {
                Some(table(super::tables::Printed::Other(*kind), objects::get_value(&ctx, *kind, namespace, name).map(|v| vec![v])))
            }
            Route::Events { namespace } => {
                let events = event_list(&ctx, namespace.as_deref(), &query);
                Some(table(
                    super::tables::Printed::Events,
                    events.map(|evs| evs.iter().map(|e| serde_json::to_value(e).expect("an Event serializes")).collect()),
                ))
            }
            _ => None,
        };
        if let Some(result) = printed {
            return result.unwrap_or_else(|e| error_response(&e));
        }
    }
    let result = match (&method, r) {
        (&Method::GET, Route::Health) => return Response::new(full("ok")),
        (&Method::GET, Route::Version) => Ok(json_response(StatusCode::OK, &version())),
        (&Method::GET, Route::ApiVersions) if super::aggregated::wanted(accept.as_deref()) => {
            Ok(aggregated(super::aggregated::list(vec![super::aggregated::group("", &resources())])))
        }
        (&Method::GET, Route::Groups) if super::aggregated::wanted(accept.as_deref()) => {
            let groups =
                ["networking.k8s.io", "discovery.k8s.io"].iter().filter_map(|g| objects::group_resources(g).map(|r| super::aggregated::group(g, &r))).collect();
            Ok(aggregated(super::aggregated::list(groups)))
        }
        (&Method::GET, Route::ApiVersions) => Ok(json_response(
            StatusCode::OK,
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "localhost"}]}),
        )),
        (&Method::GET, Route::Resources) => Ok(json_response(StatusCode::OK, &resources())),
        (&Method::GET, Route::Groups) => Ok(json_response(StatusCode::OK, &objects::groups())),
        (&Method::GET, Route::Group { group }) => match objects::group(&group) {
            Some(g) => Ok(json_response(StatusCode::OK, &g)),
            None => return status_response(404, "NotFound", "the server could not find the requested resource".into()),
        },
        (&Method::GET, Route::GroupResources { group }) => match objects::group_resources(&group) {
            Some(g) => Ok(json_response(StatusCode::OK, &g)),
            None => return status_response(404, "NotFound", "the server could not find the requested resource".into()),
        },
        (&Method::GET, Route::OpenApiV3Index) => Ok(json_response(StatusCode::OK, &super::openapi::v3_index())),
        (&Method::GET, Route::OpenApiV3 { group_version }) => match super::openapi::v3_document(&group_version) {
            Some(doc) => Ok(document(doc, "application/json")),
            None => return status_response(404, "NotFound", "the server could not find the requested resource".into()),
        },
        // client-go asks for v2 in protobuf only; this server has it in JSON.
        (&Method::GET, Route::OpenApiV2) if accepts_json(accept.as_deref()) => Ok(document(super::openapi::v2_document(), "application/json")),
        (&Method::GET, Route::OpenApiV2) => {
            return status_response(406, "NotAcceptable", "only application/json is served for /openapi/v2 (use /openapi/v3)".into());
        }
        (&Method::PATCH, Route::Object { kind, namespace, name }) => super::update::patch_object(&ctx, kind, &namespace, &name, &query, req).await,
        (&Method::PATCH, Route::Pod { namespace, name }) => super::update::patch_pod(&ctx, &namespace, &name, &query, req).await,
        (&Method::GET, Route::Objects { kind, namespace }) if flag(&query, "watch") => {
            super::lists::watch(&ctx, kind, namespace, &query, super::tables::wants_table(accept.as_deref()))
        }
        (&Method::GET, Route::Objects { kind, namespace }) => super::lists::list(&ctx, kind, namespace.as_deref(), &query),
        (&Method::POST, Route::Objects { kind, namespace: Some(ns) }) => match read_body(req).await {
            Ok((_, bytes)) => objects::create(&ctx, kind, &ns, &bytes, &query),
            Err(e) => Err(e),
        },
        (&Method::GET, Route::Object { kind, namespace, name }) => objects::get(&ctx, kind, &namespace, &name),
        (&Method::PUT, Route::Object { kind, namespace, name }) => match read_body(req).await {
            Ok((_, bytes)) => objects::replace(&ctx, kind, &namespace, &name, &bytes, &query),
            Err(e) => Err(e),
        },
        (&Method::DELETE, Route::Object { kind, namespace, name }) => objects::delete(&ctx, kind, &namespace, &name),
        (&Method::GET, Route::Pods { namespace }) => list_pods(&ctx, namespace, &query, super::tables::wants_table(accept.as_deref())),
        (&Method::POST, Route::Pods { namespace: Some(ns) }) => create(&ctx, &ns, &query, req).await,
        (&Method::GET, Route::Pod { namespace, name }) => ctx.runtime.get(&namespace, &name).map(|p| json_response(StatusCode::OK, &p)),
        (&Method::GET, Route::PodSub { namespace, name, sub }) if sub == "status" => {
            ctx.runtime.get(&namespace, &name).map(|p| json_response(StatusCode::OK, &p))
        }
        (&Method::PUT, Route::Pod { namespace, name }) => super::update::replace_pod(&ctx, &namespace, &name, &query, req).await,
        (&Method::DELETE, Route::Pod { namespace, name }) => delete(&ctx, &namespace, &name, &query, req).await,
        (&Method::DELETE, Route::Pods { namespace: Some(ns) }) => delete_pods(&ctx, &ns, &query, req).await,
        (&Method::POST, Route::PodSub { namespace, name, sub }) if sub == "eviction" => evict(&ctx, &namespace, &name, req).await,
        (&Method::GET, Route::PodSub { namespace, name, sub }) if sub == "log" => logs(&ctx, &namespace, &name, &query),
        (&Method::GET, Route::Events { namespace }) => events(&ctx, namespace.as_deref(), &query),
        // Not a Kubernetes subresource: the pod IPC namespace wasmpod adds.
        (&Method::GET, Route::PodSub { namespace, name, sub }) if sub == "ipc" => ctx
            .runtime
            .ipc_objects(&namespace, &name)
            .map(|items| json_response(StatusCode::OK, &json!({"kind": "IpcObjectList", "apiVersion": "wasmpod/v1", "items": items}))),
        (&Method::POST | &Method::GET, Route::PodSub { namespace, name, sub }) if sub == "exec" => exec(&ctx, &namespace, &name, req),
        (&Method::POST | &Method::GET, Route::PodSub { namespace, name, sub }) if sub == "attach" => attach(&ctx, &namespace, &name, req),
        (&Method::POST | &Method::GET, Route::PodSub { namespace, name, sub }) if sub == "portforward" => port_forward(&ctx, &namespace, &name, &query, req),
        (&Method::POST, Route::Objects { kind: kind @ Resource::Namespaces, namespace: None }) => match read_body(req).await {
            Ok((_, bytes)) => objects::create(&ctx, kind, "", &bytes, &query),
            Err(e) => Err(e),
        },
        _ => Err(Error::NotAllowed("the server does not allow this method on the requested resource".into())),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// An aggregated discovery answer, in its media type.
fn aggregated(list: serde_json::Value) -> Response<Body> {
    let mut resp = json_response(StatusCode::OK, &list);
    resp.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(super::aggregated::CONTENT_TYPE));
    resp
}

/// A static document.
fn document(body: &'static [u8], content_type: &str) -> Response<Body> {
    Response::builder().status(StatusCode::OK).header(hyper::header::CONTENT_TYPE, content_type).body(full(body)).expect("a valid response")
}

/// Whether an `Accept` header takes JSON (no header takes anything).
fn accepts_json(accept: Option<&str>) -> bool {
    accept.is_none_or(|a| a.split(',').any(|t| matches!(t.split(';').next().unwrap_or_default().trim(), "application/json" | "*/*" | "application/*")))
}

fn version() -> serde_json::Value {
    let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
    json!({
        // The Kubernetes API version whose shapes this server follows.
        "major": "1",
        "minor": "35",
        "gitVersion": format!("v1.35.0+wasmpod-{}", env!("CARGO_PKG_VERSION")),
        "platform": format!("{os}/{arch}"),
        "compiler": "rustc",
        "wasmtime": crate::WASMTIME_VERSION,
    })
}

fn resources() -> serde_json::Value {
    let verbs = json!(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]);
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod", "verbs": verbs, "shortNames": ["po"], "categories": ["all"]},
            {"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
            {"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
            {"name": "pods/eviction", "singularName": "", "namespaced": true, "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]},
            {"name": "pods/exec", "singularName": "", "namespaced": true, "kind": "PodExecOptions", "verbs": ["create", "get"]},
            {"name": "pods/attach", "singularName": "", "namespaced": true, "kind": "PodAttachOptions", "verbs": ["create", "get"]},
            {"name": "pods/portforward", "singularName": "", "namespaced": true, "kind": "PodPortForwardOptions", "verbs": ["create", "get"]},
            {"name": "events", "singularName": "event", "namespaced": true, "kind": "Event", "verbs": ["list"], "shortNames": ["ev"]},
            {"name": "services", "singularName": "service", "namespaced": true, "kind": "Service", "verbs": ["create", "delete", "get", "list", "patch", "update"], "shortNames": ["svc"], "categories": ["all"]},
            {"name": "endpoints", "singularName": "endpoints", "namespaced": true, "kind": "Endpoints", "verbs": ["get", "list"], "shortNames": ["ep"]},
            {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace", "verbs": ["create", "delete", "get", "list", "watch"], "shortNames": ["ns"]},
            {"name": "configmaps", "singularName": "configmap", "namespaced": true, "kind": "ConfigMap", "verbs": ["create", "delete", "get", "list", "patch", "update"], "shortNames": ["cm"]},
            {"name": "secrets", "singularName": "secret", "namespaced": true, "kind": "Secret", "verbs": ["create", "delete", "get", "list", "patch", "update"]},
            {"name": "serviceaccounts", "singularName": "serviceaccount", "namespaced": true, "kind": "ServiceAccount", "verbs": ["get", "list"], "shortNames": ["sa"]},
        ],
    })
}

/// A pod list, or with `watch` a stream of watch events; `as_table`:
/// each event's object is a one-row Table (kubectl's `get -w`), the first
/// with the column definitions.
fn list_pods(ctx: &ServerContext, namespace: Option<String>, q: &Query, as_table: bool) -> Result<Response<Body>, Error> {
    let fields = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or_default(), Fields::Pods)?;
    let name = fields.name().map(str::to_owned);
    if flag(q, "watch") {
        let since = q.get("resourceVersion").and_then(|v| v.parse::<u64>().ok()).filter(|v| *v > 0);
        let mut watch = match since {
            Some(rv) => ctx.runtime.watch_since(namespace.as_deref(), name.as_deref(), rv),
            None => ctx.runtime.watch(namespace.as_deref(), name.as_deref()),
        };
        let (tx, body) = channel();
        let include = q.get("includeObject").cloned();
        let selector = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or_default())?;
        let options = super::lists::WatchOptions::of(q);
        let runtime = ctx.runtime.clone();
        tokio::spawn(async move {
            let mut first = true;
            let mut bookmark = options.bookmarks();
            let ends = options.ends();
            loop {
                let ev = tokio::select! {
                    ev = watch.next_or_synced() => ev,
                    _ = bookmark.tick(), if options.bookmarks => {
                        let _ = tx.send(super::lists::bookmark("Pod", "v1", runtime.resource_version(), false)).await;
                        continue;
                    }
                    _ = async { match ends { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => return,
                };
                let ev = match ev {
                    None => return,
                    Some(None) => {
                        if options.initial_end && tx.send(super::lists::bookmark("Pod", "v1", runtime.resource_version(), true)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Some(Some(ev)) => ev,
                };
                let mut value = serde_json::to_value(&ev).expect("watch events serialize");
                if !selector.selects_pod(&ev.object) || !fields.selects(&value["object"], Fields::Pods) {
                    continue;
                }
                if as_table {
                    let pod = value["object"].take();
                    let mut table = super::tables::table(super::tables::Printed::Pods, &[pod], include.as_deref(), jiff::Timestamp::now());
                    if !first && let Some(t) = table.as_object_mut() {
                        t.remove("columnDefinitions");
                    }
                    first = false;
                    value["object"] = table;
                }
                let mut line = serde_json::to_vec(&value).expect("watch events serialize");
                line.push(b'\n');
                if tx.send(Bytes::from(line)).await.is_err() {
                    return;
                }
            }
        });
        return Ok(Response::builder().header(hyper::header::CONTENT_TYPE, "application/json").body(body).expect("a valid response"));
    }
    // The version is taken before the list, so a deletion between the two
    // is replayed by a watch from it rather than lost.
    let version = ctx.runtime.resource_version();
    let pods = pods_of(ctx, namespace.as_deref(), q)?;
    let key = |p: &k8s_openapi::api::core::v1::Pod| (p.metadata.namespace.clone().unwrap_or_default(), p.metadata.name.clone().unwrap_or_default());
    let page = super::lists::page(pods, key, q, version)?;
    Ok(json_response(StatusCode::OK, &json!({"kind": "PodList", "apiVersion": "v1", "metadata": page.meta(version), "items": page.items})))
}

/// The pods a list request asks for (`fieldSelector=metadata.name=`).
fn pods_of(ctx: &ServerContext, namespace: Option<&str>, q: &Query) -> Result<Vec<k8s_openapi::api::core::v1::Pod>, Error> {
    let fields = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or_default(), Fields::Pods)?;
    let labels = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or_default())?;
    let mut pods = ctx.runtime.list(namespace)?;
    pods.retain(|p| labels.selects_pod(p) && fields.selects(&serde_json::to_value(p).expect("a Pod serializes"), Fields::Pods));
    Ok(pods)
}

async fn create(ctx: &ServerContext, namespace: &str, q: &Query, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    if ctx.role == Role::Run {
        return Err(Error::NotAllowed(format!(
            "this is a `wasmpod run` process (pid {}), which runs only its own pods: start `wasmpod serve` to create pods",
            std::process::id()
        )));
    }
    let (_, bytes) = read_body(req).await?;
    let mut m = pod_from_body(&bytes, namespace, field_validation(q)?)?;
    m.pods[0] = super::request::owned(&m.pods[0], None, super::request::field_manager(q), "io.k8s.api.core.v1.Pod");
    // Relative image paths are the client's business (`apply` makes
    // them absolute); what is left resolves against the server's cwd.
    let base = std::env::current_dir().unwrap_or_default();
    let mut pods = ctx.runtime.create(&m, &base).await?;
    Ok(with_warnings(json_response(StatusCode::CREATED, &pods.remove(0)), &m.warnings))
}

/// `DELETE .../namespaces/{ns}/pods` (deletecollection): every pod the
/// `labelSelector` (`k=v`) and `fieldSelector` (`metadata.name=`) select,
/// each stopped as `delete` stops it (a pod another process runs, there);
/// answered with the list of them as deletion began.
async fn delete_pods(ctx: &ServerContext, namespace: &str, q: &Query, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let held = super::update::Held::of(&req);
    let (_, bytes) = read_body(req).await?;
    let grace = grace_period(q, &bytes)?;
    let pods = pods_of(ctx, Some(namespace), q)?;
    let mut deleted = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        match ctx.runtime.delete(namespace, &name, grace) {
            Ok(p) => deleted.push(serde_json::to_value(p).expect("a Pod serializes")),
            Err(e @ Error::RunningElsewhere { .. }) => {
                let one = super::update::Held::single(
                    &held,
                    &format!("/api/v1/namespaces/{namespace}/pods/{}", form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()),
                );
                super::update::forward(ctx, e, one, bytes.clone()).await?;
                deleted.push(serde_json::to_value(pod).expect("a Pod serializes"));
            }
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": ctx.runtime.resource_version().to_string()}, "items": deleted}),
    ))
}

/// `POST .../pods/{name}/eviction` (an Eviction, policy/v1): the pod is
/// deleted with the eviction's grace period; there are no
/// PodDisruptionBudgets to refuse it. Answered as kube-apiserver does: a
/// Success Status, 201.
async fn evict(ctx: &ServerContext, namespace: &str, name: &str, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let held = super::update::Held::of(&req);
    let (_, bytes) = read_body(req).await?;
    let eviction: serde_json::Value = if bytes.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&bytes).map_err(|e| Error::BadRequest(format!("the request body is not an Eviction: {e}")))?
    };
    let grace = eviction.pointer("/deleteOptions/gracePeriodSeconds").and_then(serde_json::Value::as_i64);
    match ctx.runtime.delete(namespace, name, grace) {
        Ok(_) => {
            let mut status = Status::success(None);
            status.code = 201;
            Ok(json_response(StatusCode::CREATED, &status))
        }
        Err(e @ Error::RunningElsewhere { .. }) => super::update::forward(ctx, e, held, bytes).await,
        Err(e) => Err(e),
    }
}

/// The grace period of a delete: the query's, or the DeleteOptions body's.
fn grace_period(q: &Query, bytes: &[u8]) -> Result<Option<i64>, Error> {
    let mut grace = match q.get("gracePeriodSeconds") {
        Some(g) => Some(g.parse::<i64>().map_err(|_| Error::BadRequest(format!("gracePeriodSeconds: Invalid value: {g:?}: must be an integer")))?),
        None => None,
    };
    if !bytes.is_empty() {
        // DeleteOptions
        let opts: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::BadRequest(format!("the request body is not DeleteOptions: {e}")))?;
        if let Some(g) = opts.get("gracePeriodSeconds").and_then(|g| g.as_i64()) {
            grace = Some(g);
        }
    }
    Ok(grace)
}

async fn delete(ctx: &ServerContext, namespace: &str, name: &str, q: &Query, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let held = super::update::Held::of(&req);
    let (_, bytes) = read_body(req).await?;
    let grace = grace_period(q, &bytes)?;
    match ctx.runtime.delete(namespace, name, grace) {
        Ok(pod) => Ok(json_response(StatusCode::OK, &pod)),
        // The process that runs the pod deletes it.
        Err(e @ Error::RunningElsewhere { .. }) => super::update::forward(ctx, e, held, bytes).await,
        Err(e) => Err(e),
    }
}

/// `exec?container=c&command=sh&command=-c&command=...&stdin=true`,
/// upgraded to the exec stream (see `stream.rs`). A pod run by another
/// process answers 503 with that process's pid; clients connect there.
fn exec(ctx: &ServerContext, namespace: &str, name: &str, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let mut container = None;
    let mut command = Vec::new();
    let mut stdin = false;
    let mut tty = false;
    let mut stderr = true;
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()) {
        match &*k {
            "stderr" => stderr = v == "true" || v == "1",
            "container" if !v.is_empty() => container = Some(v.into_owned()),
            "command" => command.push(v.into_owned()),
            "stdin" => stdin = v == "true" || v == "1",
            "tty" => tty = v == "true" || v == "1",
            _ => {}
        }
    }
    let access = ctx.runtime.access(namespace, name)?;
    let wanted = Wanted { stdin, tty, stderr };
    // kubectl's WebSocket (v5/v4.channel.k8s.io) or SPDY, or wasmpod's
    // own framing.
    if super::websocket::is_websocket(&req) {
        return Ok(super::websocket::session(req, Session::Exec { access, container, command }, wanted));
    }
    if super::spdy_exec::is_spdy(&req) {
        return super::spdy_exec::session(req, Session::Exec { access, container, command }, wanted);
    }
    Ok(super::upgrade::upgrade(req, super::stream::EXEC_PROTOCOL, move |io| super::stream::serve_exec(io, access, container, command, stdin)))
}

/// `attach?container=c&stdin=true&stdout=true&tty=true`: the container's
/// own output from now on, and its stdin (`stdin: true`), over kubectl's
/// WebSocket or SPDY.
fn attach(ctx: &ServerContext, namespace: &str, name: &str, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let q: Query = form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
    let on = |k: &str| q.get(k).is_some_and(|v| v == "true" || v == "1");
    let container = q.get("container").filter(|c| !c.is_empty()).map(String::as_str);
    let wanted = Wanted { stdin: on("stdin"), tty: on("tty"), stderr: q.get("stderr").is_none_or(|_| on("stderr")) };
    let session = Session::Attach(ctx.runtime.attach(namespace, name, container, wanted.stdin)?);
    if super::websocket::is_websocket(&req) {
        return Ok(super::websocket::session(req, session, wanted));
    }
    if super::spdy_exec::is_spdy(&req) {
        return super::spdy_exec::session(req, session, wanted);
    }
    Err(Error::BadRequest("attach needs a WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1 upgrade".into()))
}

/// kubectl's port-forward (SPDY, or SPDY tunnelled in a WebSocket:
/// `portforward.rs`), or wasmpod's own `portforward?ports=80`, which
/// connects into the pod first (a refusal is an error response), then
/// upgrades and splices the bytes.
fn port_forward(ctx: &ServerContext, namespace: &str, name: &str, q: &Query, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    use super::portforward::{CHANNEL_PROTOCOL, Dial, STREAM_PROTOCOL, TUNNEL_PROTOCOL, serve, serve_channels, untunnel};
    let tunnel = super::websocket::is_websocket(&req) && super::websocket::offers(&req, TUNNEL_PROTOCOL);
    let channels = !tunnel && super::websocket::is_websocket(&req) && super::websocket::offers(&req, CHANNEL_PROTOCOL);
    let header = |h: &str| req.headers().get(h).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let spdy = header("upgrade").eq_ignore_ascii_case("SPDY/3.1") && header("x-stream-protocol-version").split(',').any(|p| p.trim() == STREAM_PROTOCOL);
    if tunnel || spdy || channels {
        let access = ctx.runtime.access(namespace, name)?;
        let uid = ctx.runtime.get(namespace, name)?.metadata.uid.unwrap_or_default();
        let pod = name.to_owned();
        // The kubelet's words for a port that cannot be reached.
        let dial: Dial = Box::new(move |port| access.connect(port).map_err(|e| format!("error forwarding port {port} to pod {pod}, uid {uid}: {e}")));
        if tunnel {
            return Ok(super::websocket::accept(req, &[TUNNEL_PROTOCOL], move |ws, _| serve(untunnel(ws), dial)));
        }
        if channels {
            let mut ports = Vec::new();
            for p in q.get("ports").map(String::as_str).unwrap_or_default().split(',').filter(|p| !p.is_empty()) {
                match p.trim().parse::<u16>() {
                    Ok(n) if n > 0 => ports.push(n),
                    _ => return Err(Error::BadRequest(format!("ports: Invalid value: {p:?}: must be a port number between 1 and 65535"))),
                }
            }
            if ports.is_empty() {
                return Err(Error::BadRequest("ports: Required value: at least one port to forward".into()));
            }
            return Ok(super::websocket::accept(req, &[CHANNEL_PROTOCOL], move |ws, _| serve_channels(ws, ports, dial)));
        }
        let mut resp = super::upgrade::upgrade(req, "SPDY/3.1", move |io| serve(io, dial));
        resp.headers_mut().insert("x-stream-protocol-version", hyper::header::HeaderValue::from_static(STREAM_PROTOCOL));
        return Ok(resp);
    }
    let ports = q.get("ports").ok_or_else(|| Error::BadRequest("ports: Required value: a port to forward to".into()))?;
    let port: u16 = ports
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::BadRequest(format!("ports: Invalid value: {ports:?}: must be one port number between 1 and 65535")))?;
    let conn = ctx.runtime.connect(namespace, name, port)?;
    Ok(super::upgrade::upgrade(req, super::stream::PORT_FORWARD_PROTOCOL, move |io| super::stream::serve_port_forward(io, conn)))
}

fn logs(ctx: &ServerContext, namespace: &str, name: &str, q: &Query) -> Result<Response<Body>, Error> {
    let tail_lines = match q.get("tailLines") {
        Some(t) => Some(t.parse::<i64>().map_err(|_| Error::BadRequest(format!("tailLines: Invalid value: {t:?}: must be an integer")))?),
        None => None,
    };
    let options = LogOptions {
        container: q.get("container").filter(|c| !c.is_empty()).cloned(),
        previous: flag(q, "previous"),
        follow: flag(q, "follow"),
        timestamps: flag(q, "timestamps"),
        tail_lines,
    };
    let mut stream = ctx.runtime.logs(namespace, name, &options)?;
    let (tx, body) = channel();
    tokio::spawn(async move {
        while let Some(line) = stream.next_line().await {
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
    });
    Ok(Response::builder().header(hyper::header::CONTENT_TYPE, "text/plain").body(body).expect("a valid response"))
}

/// The Events of the pods of `namespace` (all: none), narrowed by a
/// fieldSelector on `involvedObject.{name,namespace,uid,kind}` (what
/// `kubectl describe` sends).
fn event_list(ctx: &ServerContext, namespace: Option<&str>, q: &Query) -> Result<Vec<k8s_openapi::api::core::v1::Event>, Error> {
    let fields = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or_default(), Fields::Events)?;
    let name = fields.involved_name().map(str::to_owned);
    let mut items = Vec::new();
    for pod in ctx.runtime.list(namespace)? {
        let (ns, n) = (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default());
        if name.as_ref().is_none_or(|want| *want == n) {
            match ctx.runtime.events(&ns, &n) {
                Ok(evs) => items.extend(evs.into_iter().filter(|e| fields.selects(&serde_json::to_value(e).expect("an Event serializes"), Fields::Events))),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(items)
}

fn events(ctx: &ServerContext, namespace: Option<&str>, q: &Query) -> Result<Response<Body>, Error> {
    let items = event_list(ctx, namespace, q)?;
    Ok(json_response(StatusCode::OK, &json!({"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": ""}, "items": items})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        assert_eq!(route("/api/v1/namespaces/ns/pods/p/log"), Some(Route::PodSub { namespace: "ns".into(), name: "p".into(), sub: "log".into() }));
        assert_eq!(route("/api/v1/pods/"), Some(Route::Pods { namespace: None }));
        assert_eq!(route("/api/v2"), None);
        assert_eq!(route("/api/v1/namespaces/ns/services/web"), Some(Route::Object { kind: Resource::Services, namespace: "ns".into(), name: "web".into() }));
        assert_eq!(route("/apis/networking.k8s.io/v1/networkpolicies"), Some(Route::Objects { kind: Resource::NetworkPolicies, namespace: None }));
        assert_eq!(
            route("/apis/discovery.k8s.io/v1/namespaces/a/endpointslices"),
            Some(Route::Objects { kind: Resource::EndpointSlices, namespace: Some("a".into()) })
        );
        assert_eq!(route("/apis/discovery.k8s.io/v1/namespaces/a/services"), None, "services are core");
        assert_eq!(route("/api/v1/namespaces/a/networkpolicies"), None);
        assert_eq!(route("/api/v1/namespaces"), Some(Route::Objects { kind: Resource::Namespaces, namespace: None }));
        assert_eq!(route("/api/v1/namespaces/shop"), Some(Route::Object { kind: Resource::Namespaces, namespace: String::new(), name: "shop".into() }));
    }
}

//! The kubelet API of a wasmpod node, which kube-apiserver calls for
//! `kubectl logs`, `exec`, `attach` and `port-forward`: HTTPS on the
//! node's kubelet port, clients authenticated by a certificate of the
//! cluster's CA (the API server's kubelet-client certificate).
//!
//! Each kubelet path is the pod subresource of the control API under
//! another name, so a request is rewritten and served by the same routes
//! (`routes.rs`): the same log streams, remotecommand sessions over
//! WebSocket or SPDY, and port-forward streams.
//!
//! | kubelet | served as |
//! |---|---|
//! | `GET /healthz` | `ok` |
//! | `GET /pods` | the node's pods (a PodList) |
//! | `GET /containerLogs/{ns}/{pod}/{container}` | `.../pods/{pod}/log?container=` |
//! | `/exec/{ns}/{pod}[/{uid}]/{container}?command=&input=&output=&error=&tty=` | `.../pods/{pod}/exec` |
//! | `/attach/{ns}/{pod}[/{uid}]/{container}` | `.../pods/{pod}/attach` |
//! | `/portForward/{ns}/{pod}[/{uid}]` | `.../pods/{pod}/portforward` |
//! | `GET /stats/summary` | the Summary API (`kubelet_stats.rs`) |
//! | `GET /metrics/resource` | the resource metrics (`kubelet_stats.rs`) |
//!
//! Each request is authorized as the kubelet authorizes it: the client
//! certificate's CN is the user and its O the groups, the HTTP method the
//! verb (`get`, `create`, ...), and the path a subresource of the node
//! (`proxy` for all of these paths), decided by an [`Authorizer`] (the
//! node agent asks the API server with a SubjectAccessReview). Without
//! one, every client the cluster's CA signed may use every path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::body::{Body, full, json_response};
use super::discovery::Role;
use super::https::HttpsError;
use super::request::ServerContext;
use crate::runtime::Runtime;

/// Who a client of the kubelet API is: its certificate's CN and O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletUser {
    /// The user name (CN).
    pub name: String,
    /// Its groups (O).
    pub groups: Vec<String>,
}

/// What a kubelet API request asks, in the terms of a SubjectAccessReview
/// on the node: `verb` on `nodes/<subresource>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletAccess {
    /// `get`, `create`, `update`, `patch` or `delete`.
    pub verb: String,
    /// `proxy`, `log`, `stats`, `metrics` or `spec`.
    pub subresource: String,
}

/// Decides whether a user may make a request (`Ok(false)`: 403).
pub type Authorizer = Arc<dyn Fn(KubeletUser, KubeletAccess) -> futures_util::future::BoxFuture<'static, Result<bool, String>> + Send + Sync>;

/// The user a DER client certificate names.
fn user_of(der: &[u8]) -> Option<KubeletUser> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject.iter_common_name().next()?.as_str().ok()?.to_owned();
    let groups = subject.iter_organization().filter_map(|o| o.as_str().ok().map(str::to_owned)).collect();
    Some(KubeletUser { name, groups })
}

/// The access a request asks for, as the kubelet names it.
fn access_of(method: &hyper::Method, path: &str) -> KubeletAccess {
    let verb = match *method {
        hyper::Method::POST => "create",
        hyper::Method::PUT => "update",
        hyper::Method::PATCH => "patch",
        hyper::Method::DELETE => "delete",
        _ => "get",
    };
    let under = |p: &str| path == p || path.starts_with(&format!("{p}/"));
    let subresource = if under("/stats") {
        "stats"
    } else if under("/metrics") {
        "metrics"
    } else if under("/logs") {
        "log"
    } else if under("/spec") {
        "spec"
    } else {
        "proxy"
    };
    KubeletAccess { verb: verb.into(), subresource: subresource.into() }
}

/// The kubelet API of one node. Dropping it stops accepting connections.
pub struct KubeletServer {
    addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

/// The kubelet API's TLS credentials: its serving certificate and key,
/// and the CA whose client certificates it accepts (PEM).
pub struct KubeletTls {
    /// The serving certificate chain.
    pub cert_pem: String,
    /// Its key.
    pub key_pem: String,
    /// The cluster's CA.
    pub client_ca_pem: String,
}

impl KubeletServer {
    /// Listens on `addr` (port 0: a free one). Must be called within a
    /// tokio runtime.
    pub fn start(runtime: Arc<Runtime>, addr: SocketAddr, tls: &KubeletTls, authorizer: Option<Authorizer>) -> Result<Self, HttpsError> {
        let config = server_config(tls).map_err(HttpsError::Tls)?;
        let (listener, local) = super::https::listen(addr)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let ctx = Arc::new(ServerContext { runtime, role: Role::Serve });
        let stats = Arc::new((super::kubelet_stats::Rates::default(), jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (acceptor, ctx, authorizer, stats) = (acceptor.clone(), ctx.clone(), authorizer.clone(), stats.clone());
                tokio::spawn(async move {
                    // The handshake requires a client certificate of the CA.
                    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await else { return };
                    let user = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(|c| user_of(c));
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (ctx, authorizer, user, stats) = (ctx.clone(), authorizer.clone(), user.clone(), stats.clone());
                        async move {
                            if let Some(authorize) = authorizer.filter(|_| req.uri().path() != "/healthz") {
                                let access = access_of(req.method(), req.uri().path());
                                let Some(user) = user else { return Ok(forbidden("unknown", &access)) };
                                match authorize(user.clone(), access.clone()).await {
                                    Ok(true) => {}
                                    Ok(false) => return Ok(forbidden(&user.name, &access)),
                                    Err(why) => {
                                        let status = super::Status::failure(
                                            500,
                                            "InternalError",
                                            format!(
                                                "Authorization error (user={}, verb={}, resource=nodes, subresource={}): {why}",
                                                user.name, access.verb, access.subresource
                                            ),
                                            None,
                                        );
                                        return Ok::<_, std::convert::Infallible>(json_response(StatusCode::INTERNAL_SERVER_ERROR, &status));
                                    }
                                }
                            }
                            Ok::<_, std::convert::Infallible>(handle(ctx, &stats, req).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).with_upgrades().await;
                });
            }
        });
        Ok(Self { addr: local, accept })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for KubeletServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The kubelet's refusal.
fn forbidden(user: &str, access: &KubeletAccess) -> Response<Body> {
    let text = format!("Forbidden (user={user}, verb={}, resource=nodes, subresource={})", access.verb, access.subresource);
    Response::builder().status(StatusCode::FORBIDDEN).header(hyper::header::CONTENT_TYPE, "text/plain").body(full(text)).expect("a valid response")
}

fn server_config(tls: &KubeletTls) -> Result<rustls::ServerConfig, String> {
    let names = super::pki::ServedNames { ca: "the cluster CA", cert: "the kubelet API's certificate", key: "its key" };
    super::pki::tls_server_config(&tls.client_ca_pem, &tls.cert_pem, &tls.key_pem, false, names)
}

/// The control API path and query a kubelet path stands for; `None` for
/// a path the kubelet API does not have.
fn rewrite(path: &str, query: &str) -> Option<String> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let mut q: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let pod = |ns: &str, pod: &str, sub: &str| format!("/api/v1/namespaces/{ns}/pods/{pod}/{sub}");
    let (target, container) = match parts.as_slice() {
        ["containerLogs", ns, p, c] => (pod(ns, p, "log"), Some(*c)),
        [kind @ ("exec" | "attach"), ns, p, c] | [kind @ ("exec" | "attach"), ns, p, _, c] => {
            // The kubelet's names of the streams.
            for (k, _) in q.iter_mut() {
                let renamed = match k.as_str() {
                    "input" => "stdin",
                    "output" => "stdout",
                    "error" => "stderr",
                    _ => continue,
                };
                *k = renamed.into();
            }
            for (k, v) in q.iter_mut() {
                if ["stdin", "stdout", "stderr", "tty"].contains(&k.as_str()) && v == "1" {
                    *v = "true".into();
                }
            }
            (pod(ns, p, kind), Some(*c))
        }
        ["portForward", ns, p] | ["portForward", ns, p, _] => (pod(ns, p, "portforward"), None),
        _ => return None,
    };
    if let Some(c) = container {
        q.push(("container".into(), c.to_owned()));
    }
    let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(q).finish();
    Some(format!("{target}?{query}"))
}

/// CPU rates between scrapes, and when the server started (the node's
/// `startTime`).
type Stats = (super::kubelet_stats::Rates, String);

async fn handle(ctx: Arc<ServerContext>, stats: &Stats, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    match path.trim_end_matches('/') {
        "/stats/summary" => {
            let usage = ctx.runtime.usage();
            return json_response(StatusCode::OK, &super::kubelet_stats::summary(ctx.runtime.node_name(), &stats.1, &usage, &stats.0));
        }
        "/metrics/resource" => {
            let text = super::kubelet_stats::resource_metrics(&ctx.runtime.usage());
            return Response::builder().header(hyper::header::CONTENT_TYPE, "text/plain; version=0.0.4").body(full(text)).expect("a valid response");
        }
        "/healthz" => return Response::builder().header(hyper::header::CONTENT_TYPE, "text/plain").body(full("ok")).expect("a valid response"),
        "/pods" => {
            let pods = ctx.runtime.list(None).unwrap_or_default();
            return json_response(StatusCode::OK, &serde_json::json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods}));
        }
        _ => {}
    }
    let Some(target) = rewrite(&path, req.uri().query().unwrap_or_default()) else {
        let status = super::Status::failure(404, "NotFound", format!("the kubelet API has no {path}"), None);
        return json_response(StatusCode::NOT_FOUND, &status);
    };
    let (mut parts, body) = req.into_parts();
    parts.uri = target.parse().expect("a rewritten path is a URI");
    super::routes::handle(ctx, Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_paths_are_the_pod_subresources() {
        assert_eq!(rewrite("/containerLogs/default/web/c", "follow=true").as_deref(), Some("/api/v1/namespaces/default/pods/web/log?follow=true&container=c"));
        assert_eq!(
            rewrite("/exec/default/web/c", "command=ls&command=-l&input=1&output=1&tty=1").as_deref(),
            Some("/api/v1/namespaces/default/pods/web/exec?command=ls&command=-l&stdin=true&stdout=true&tty=true&container=c")
        );
        assert_eq!(rewrite("/attach/ns/p/uid-1/c", "output=1").as_deref(), Some("/api/v1/namespaces/ns/pods/p/attach?stdout=true&container=c"));
        assert_eq!(rewrite("/portForward/ns/p", "").as_deref(), Some("/api/v1/namespaces/ns/pods/p/portforward?"));
        assert_eq!(rewrite("/configz", ""), None);
    }

    #[test]
    fn requests_are_authorized_as_the_kubelet_names_them() {
        let a = access_of(&hyper::Method::POST, "/exec/default/web/c");
        assert_eq!((a.verb.as_str(), a.subresource.as_str()), ("create", "proxy"));
        let a = access_of(&hyper::Method::GET, "/stats/summary");
        assert_eq!((a.verb.as_str(), a.subresource.as_str()), ("get", "stats"));
        assert_eq!(access_of(&hyper::Method::GET, "/containerLogs/ns/p/c").subresource, "proxy");
        assert_eq!(access_of(&hyper::Method::GET, "/statsx").subresource, "proxy");
    }
}

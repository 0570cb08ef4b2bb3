//! The control API client: finds a live runtime process of a state
//! directory and speaks the Kubernetes REST shapes to it.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Event, Pod};

use super::discovery::{Endpoint, Role, endpoints};
use super::transport;
use super::{Resource, Status, Upgraded};
use crate::runtime::LogOptions;
use crate::runtime::WatchEvent;

/// Which runtime process a client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Any live one (a `serve` daemon preferred). Every process answers
    /// for the whole state directory.
    Any,
    /// A `serve` daemon: the processes that take new pods.
    Serve,
    /// The process with this pid.
    Pid(u32),
}

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No live process serves the state directory.
    #[error("{}", unreachable_message(state_dir, *target))]
    Unreachable {
        /// The state directory.
        state_dir: PathBuf,
        /// What was looked for.
        target: Target,
    },
    /// The connection failed mid-way.
    #[error("control API at {}", endpoint.display())]
    Transport {
        /// The endpoint file.
        endpoint: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server answered with an error `Status`.
    #[error("{}", .0.message)]
    Api(Status),
    /// The server's answer was not what the API promises.
    #[error("unexpected answer from the control API: {0}")]
    Decode(String),
}

fn unreachable_message(state_dir: &Path, target: Target) -> String {
    let dir = state_dir.display();
    match target {
        Target::Serve => format!("no `wasmpod serve` process is running for state directory {dir}: start one with `wasmpod serve`"),
        Target::Pid(pid) => format!("process {pid} serves no control API for state directory {dir}"),
        Target::Any => format!("no wasmpod process is running for state directory {dir}: start one with `wasmpod serve`, or run pods with `wasmpod run`"),
    }
}

impl ClientError {
    /// The `Status` the server answered, if that is what failed.
    pub fn status(&self) -> Option<&Status> {
        match self {
            ClientError::Api(s) => Some(s),
            _ => None,
        }
    }
}

/// Sends one request on a new connection to `endpoint`.
pub(crate) async fn send(endpoint: &Path, req: Request<Full<Bytes>>) -> Result<Response<Incoming>, ClientError> {
    let transport_err = |e: Box<dyn std::error::Error + Send + Sync>| ClientError::Transport { endpoint: endpoint.to_owned(), source: e };
    let stream = transport::connect(endpoint).await.map_err(|e| transport_err(e.into()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| transport_err(e.into()))?;
    // The connection task ends with the response (or the upgraded stream).
    tokio::spawn(conn.with_upgrades());
    sender.send_request(req).await.map_err(|e| transport_err(e.into()))
}

/// A client of one runtime process.
#[derive(Debug, Clone)]
pub struct Client {
    state_dir: PathBuf,
    endpoint: Endpoint,
}

/// No request body.
const NO_BODY: Option<&()> = None;

fn pod_path(namespace: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{}/pods/{}", enc(namespace), enc(name))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Client {
    /// Connects to a live process of `state_dir` matching `target`,
    /// removing the endpoint files of processes that died.
    pub async fn connect(state_dir: &Path, target: Target) -> Result<Client, ClientError> {
        for endpoint in endpoints(state_dir) {
            let wanted = match target {
                Target::Any => true,
                Target::Serve => endpoint.role == Role::Serve,
                Target::Pid(p) => endpoint.pid == p,
            };
            if !wanted {
                continue;
            }
            match transport::connect(&endpoint.path).await {
                Ok(_) => return Ok(Client { state_dir: state_dir.to_owned(), endpoint }),
                Err(e) if transport::is_stale(&e) => {
                    let _ = std::fs::remove_file(&endpoint.path);
                }
                // Alive but refusing (e.g. permissions): try the others.
                Err(_) => {}
            }
        }
        Err(ClientError::Unreachable { state_dir: state_dir.to_owned(), target })
    }

    /// The process this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Sends a request; an error status becomes [`ClientError::Api`].
    pub async fn request(&self, method: Method, path: &str, content_type: Option<&str>, body: Bytes) -> Result<Response<Incoming>, ClientError> {
        let mut req = Request::builder().method(method).uri(path).header(hyper::header::HOST, "localhost");
        if let Some(ct) = content_type {
            req = req.header(hyper::header::CONTENT_TYPE, ct);
        }
        let req = req.body(Full::new(body)).map_err(|e| ClientError::Decode(e.to_string()))?;
        let resp = send(&self.endpoint.path, req).await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let code = resp.status().as_u16();
        let bytes = self.collect(resp).await?;
        let status = serde_json::from_slice::<Status>(&bytes)
            .unwrap_or_else(|_| Status::failure(code, "Unknown", String::from_utf8_lossy(&bytes).trim().to_owned(), None));
        Err(ClientError::Api(status))
    }

    async fn collect(&self, resp: Response<Incoming>) -> Result<Bytes, ClientError> {
        resp.into_body().collect().await.map(|c| c.to_bytes()).map_err(|e| ClientError::Transport { endpoint: self.endpoint.path.clone(), source: e.into() })
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, method: Method, path: &str, body: Option<&impl serde::Serialize>) -> Result<T, ClientError> {
        let (ct, bytes) = match body {
            Some(p) => (Some("application/json"), Bytes::from(serde_json::to_vec(p).expect("API objects serialize"))),
            None => (None, Bytes::new()),
        };
        let resp = self.request(method, path, ct, bytes).await?;
        let bytes = self.collect(resp).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Sends an upgrade request for a streaming subresource and returns
    /// the upgraded connection.
    async fn upgrade(&self, path: &str, protocol: &str) -> Result<Upgraded, ClientError> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::CONNECTION, "Upgrade")
            .header(hyper::header::UPGRADE, protocol)
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let resp = send(&self.endpoint.path, req).await?;
        if resp.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
            let code = resp.status().as_u16();
            let bytes = self.collect(resp).await?;
            let status = serde_json::from_slice::<Status>(&bytes)
                .unwrap_or_else(|_| Status::failure(code, "Unknown", String::from_utf8_lossy(&bytes).trim().to_owned(), None));
            return Err(ClientError::Api(status));
        }
        let upgraded = hyper::upgrade::on(resp).await.map_err(|e| ClientError::Transport { endpoint: self.endpoint.path.clone(), source: e.into() })?;
        Ok(TokioIo::new(upgraded))
    }

    /// Opens an exec stream into `container` (the default one when `None`)
    /// of the pod, running `command`; drive it with [`super::client_exec`].
    pub async fn exec(&self, namespace: &str, name: &str, container: Option<&str>, command: &[String], stdin: bool) -> Result<Upgraded, ClientError> {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(c) = container {
            q.append_pair("container", c);
        }
        for arg in command {
            q.append_pair("command", arg);
        }
        q.append_pair("stdin", if stdin { "true" } else { "false" });
        q.append_pair("stdout", "true");
        q.append_pair("stderr", "true");
        self.upgrade(&format!("{}/exec?{}", pod_path(namespace, name), q.finish()), super::stream::EXEC_PROTOCOL).await
    }

    /// The IPC objects of a pod this process runs (`GET .../pods/{name}/ipc`).
    pub async fn ipc_objects(&self, namespace: &str, name: &str) -> Result<Vec<crate::ipc::IpcObject>, ClientError> {
        #[derive(serde::Deserialize)]
        struct List {
            items: Vec<crate::ipc::IpcObject>,
        }
        let list: List = self.json(Method::GET, &format!("{}/ipc", pod_path(namespace, name)), NO_BODY).await?;
        Ok(list.items)
    }

    /// Opens one forwarded connection to `port` on the pod's loopback.
    pub async fn port_forward(&self, namespace: &str, name: &str, port: u16) -> Result<Upgraded, ClientError> {
        self.upgrade(&format!("{}/portforward?ports={port}", pod_path(namespace, name)), super::stream::PORT_FORWARD_PROTOCOL).await
    }

    /// The objects of `resource` in `namespace` (all: `None`).
    pub async fn list_objects<T: serde::de::DeserializeOwned>(&self, resource: Resource, namespace: Option<&str>) -> Result<Vec<T>, ClientError> {
        #[derive(serde::Deserialize)]
        struct List<T> {
            items: Vec<T>,
        }
        Ok(self.json::<List<T>>(Method::GET, &resource.path(namespace, None), NO_BODY).await?.items)
    }

    /// Object `namespace/name` of `resource`.
    pub async fn get_object<T: serde::de::DeserializeOwned>(&self, resource: Resource, namespace: &str, name: &str) -> Result<T, ClientError> {
        self.json(Method::GET, &resource.path(Some(namespace), Some(name)), NO_BODY).await
    }

    /// Creates `object` (of `resource`) in `namespace`; what the server made of it.
    pub async fn create_object<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        resource: Resource,
        namespace: &str,
        object: &T,
    ) -> Result<T, ClientError> {
        self.json(Method::POST, &resource.path(Some(namespace), None), Some(object)).await
    }

    /// Replaces object `namespace/name` of `resource` with `object`.
    pub async fn replace_object<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        object: &T,
    ) -> Result<T, ClientError> {
        self.json(Method::PUT, &resource.path(Some(namespace), Some(name)), Some(object)).await
    }

    /// Deletes object `namespace/name` of `resource`.
    pub async fn delete_object(&self, resource: Resource, namespace: &str, name: &str) -> Result<(), ClientError> {
        self.json::<serde_json::Value>(Method::DELETE, &resource.path(Some(namespace), Some(name)), NO_BODY).await.map(drop)
    }

    /// `GET /api/v1/[namespaces/{ns}/]pods`.
    pub async fn list(&self, namespace: Option<&str>) -> Result<Vec<Pod>, ClientError> {
        #[derive(serde::Deserialize)]
        struct PodList {
            items: Vec<Pod>,
        }
        let path = match namespace {
            Some(ns) => format!("/api/v1/namespaces/{}/pods", enc(ns)),
            None => "/api/v1/pods".to_owned(),
        };
        Ok(self.json::<PodList>(Method::GET, &path, NO_BODY).await?.items)
    }

    /// `GET .../pods/{name}`.
    pub async fn get(&self, namespace: &str, name: &str) -> Result<Pod, ClientError> {
        self.json(Method::GET, &pod_path(namespace, name), NO_BODY).await
    }

    /// `POST .../pods`: creates the pod (its namespace, or `default`).
    pub async fn create(&self, pod: &Pod) -> Result<Pod, ClientError> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        self.json(Method::POST, &format!("/api/v1/namespaces/{}/pods", enc(ns)), Some(pod)).await
    }

    /// `PUT .../pods/{name}`: the existing pod when `pod` changes nothing.
    pub async fn replace(&self, pod: &Pod) -> Result<Pod, ClientError> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        self.json(Method::PUT, &pod_path(ns, pod.metadata.name.as_deref().unwrap_or_default()), Some(pod)).await
    }

    /// `DELETE .../pods/{name}[?gracePeriodSeconds=N]`.
    pub async fn delete(&self, namespace: &str, name: &str, grace_period_seconds: Option<i64>) -> Result<Pod, ClientError> {
        let mut path = pod_path(namespace, name);
        if let Some(g) = grace_period_seconds {
            path.push_str(&format!("?gracePeriodSeconds={g}"));
        }
        self.json(Method::DELETE, &path, NO_BODY).await
    }

    /// `GET /api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name={name}`.
    pub async fn events(&self, namespace: &str, name: &str) -> Result<Vec<Event>, ClientError> {
        #[derive(serde::Deserialize)]
        struct EventList {
            items: Vec<Event>,
        }
        let path = format!("/api/v1/namespaces/{}/events?fieldSelector={}", enc(namespace), enc(&format!("involvedObject.name={name}")));
        Ok(self.json::<EventList>(Method::GET, &path, NO_BODY).await?.items)
    }

    /// `GET .../pods/{name}/log`.
    pub async fn logs(&self, namespace: &str, name: &str, options: &LogOptions) -> Result<LogLines, ClientError> {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(c) = &options.container {
            q.append_pair("container", c);
        }
        for (k, on) in [("previous", options.previous), ("follow", options.follow), ("timestamps", options.timestamps)] {
            if on {
                q.append_pair(k, "true");
            }
        }
        if let Some(n) = options.tail_lines {
            q.append_pair("tailLines", &n.to_string());
        }
        let path = format!("{}/log?{}", pod_path(namespace, name), q.finish());
        let resp = self.request(Method::GET, &path, None, Bytes::new()).await?;
        Ok(LogLines { body: resp.into_body(), endpoint: self.endpoint.path.clone() })
    }

    /// `GET .../pods?watch=true[&fieldSelector=metadata.name=N]`.
    pub async fn watch(&self, namespace: Option<&str>, name: Option<&str>) -> Result<PodEvents, ClientError> {
        let mut path = match namespace {
            Some(ns) => format!("/api/v1/namespaces/{}/pods?watch=true", enc(ns)),
            None => "/api/v1/pods?watch=true".to_owned(),
        };
        if let Some(n) = name {
            path.push_str(&format!("&fieldSelector={}", enc(&format!("metadata.name={n}"))));
        }
        let resp = self.request(Method::GET, &path, None, Bytes::new()).await?;
        Ok(PodEvents { body: resp.into_body(), buf: Vec::new(), endpoint: self.endpoint.path.clone() })
    }
}

/// A streamed log body.
pub struct LogLines {
    body: Incoming,
    endpoint: PathBuf,
}

impl LogLines {
    /// The next chunk of log text; `None` at the end.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, ClientError>> {
        loop {
            match self.body.frame().await? {
                Ok(f) => {
                    if let Ok(data) = f.into_data() {
                        return Some(Ok(data));
                    }
                }
                Err(e) => return Some(Err(ClientError::Transport { endpoint: self.endpoint.clone(), source: e.into() })),
            }
        }
    }
}

/// A stream of watch events.
pub struct PodEvents {
    body: Incoming,
    buf: Vec<u8>,
    endpoint: PathBuf,
}

impl PodEvents {
    /// The next event; `None` when the server ended the watch.
    pub async fn next(&mut self) -> Option<Result<WatchEvent, ClientError>> {
        loop {
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=nl).collect();
                return Some(serde_json::from_slice(&line).map_err(|e| ClientError::Decode(e.to_string())));
            }
            match self.body.frame().await? {
                Ok(f) => {
                    if let Ok(data) = f.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Err(e) => return Some(Err(ClientError::Transport { endpoint: self.endpoint.clone(), source: e.into() })),
            }
        }
    }
}

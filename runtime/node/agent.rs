//! The node agent: registers the Node, keeps its Lease and Ready condition
//! fresh, runs the pods the scheduler binds to it through the `Runtime`,
//! tells the cluster their status, and ends their graceful deletion.
//!
//! ```text
//! kube-apiserver --watch pods spec.nodeName=N--> reconcile --> Runtime::create / delete
//! Runtime::watch --each change--> PATCH pods/{name}/status
//! every 10 s --> PUT Lease kube-node-lease/N, PATCH nodes/N/status (conditions)
//! a deleted pod's local end --> DELETE pods/{name} (grace 0, uid precondition)
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::{Method, StatusCode};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::client::{ApiClient, ClientError, is};
use super::object::{self, LEASE_SECONDS, NodeFacts};
use crate::Runtime;

/// How a node presents itself.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The Node's name.
    pub name: String,
    /// The address the cluster reaches it at (InternalIP, pods' hostIP).
    pub address: String,
    /// The port of its kubelet API (`daemonEndpoints`).
    pub kubelet_port: u16,
    /// Pods it takes (`capacity.pods`).
    pub pods: u32,
    /// Routed mode: the node's podCIDR is made the host's own, so other
    /// nodes reach its pods at their IPs (`net/routed.rs`; Linux).
    pub routed: bool,
    /// Host-gw routes: a host route to each other node's podCIDR through
    /// its InternalIP (nodes on one segment; Linux).
    pub host_gw_routes: bool,
    /// The CA whose client certificates the kubelet API accepts (PEM; the
    /// kubelet's `--client-ca-file`); none: the kubeconfig's cluster CA.
    pub client_ca: Option<String>,
    /// When a projected service-account token is renewed, in percent of
    /// its lifetime (the kubelet's 80; at the latest after 24 h).
    pub token_refresh_percent: u8,
}

/// A projected service-account token a pod holds, to renew in time.
#[derive(Debug, Clone)]
struct Token {
    /// Its volume and its file's path there.
    volume: String,
    path: String,
    /// The TokenRequest's path and body.
    request_path: String,
    request: Value,
    /// When it was issued and when it expires.
    issued: jiff::Timestamp,
    expires: jiff::Timestamp,
}

/// The pods bound to this node: their cluster uid, by namespace and name,
/// and those this process started.
#[derive(Default)]
struct Bound {
    uids: HashMap<(String, String), String>,
    started: HashSet<(String, String)>,
    deleting: HashSet<(String, String)>,
    /// The service-account tokens of the pods it started.
    tokens: HashMap<(String, String), Vec<Token>>,
}

/// A wasmpod node of a Kubernetes cluster.
pub struct NodeAgent {
    api: ApiClient,
    runtime: Arc<Runtime>,
    config: NodeConfig,
    bound: Arc<Mutex<Bound>>,
}

fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn now_micro() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

fn key_of(pod: &Value) -> (String, String) {
    let s = |p: &str| pod.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
    (s("/metadata/namespace"), s("/metadata/name"))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl NodeAgent {
    /// A node named `config.name` of the cluster `api` reaches, running
    /// its pods in `runtime`.
    pub fn new(api: ApiClient, runtime: Arc<Runtime>, config: NodeConfig) -> Self {
        Self { api, runtime, config, bound: Arc::default() }
    }

    /// Serves the node's kubelet API (logs, exec, attach, port-forward
    /// for the API server) on its address's port `kubelet_port` of all
    /// interfaces (0: a free one, which the Node then announces), with a
    /// serving certificate of the state directory's CA.
    pub fn serve_kubelet_api(&mut self) -> Result<crate::api::KubeletServer, crate::api::HttpsError> {
        let ip: std::net::IpAddr = self.config.address.parse().unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        let pki = crate::api::Pki::load_or_create(self.runtime.state().path(), ip)?;
        let client_ca_pem = self.config.client_ca.clone().unwrap_or_else(|| self.api.ca_pem().to_owned());
        let tls = crate::api::KubeletTls { cert_pem: pki.server_pem, key_pem: pki.server_key_pem, client_ca_pem };
        let any = std::net::SocketAddr::new(std::net::IpAddr::from([0, 0, 0, 0]), self.config.kubelet_port);
        // Each request as the kubelet authorizes it: a SubjectAccessReview.
        let (api, node) = (self.api.clone(), self.config.name.clone());
        let authorizer: crate::api::Authorizer = Arc::new(move |user, access| {
            let (api, node) = (api.clone(), node.clone());
            Box::pin(async move {
                let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
                    "user": user.name, "groups": user.groups,
                    "resourceAttributes": {"verb": access.verb, "resource": "nodes", "subresource": access.subresource, "name": node}}});
                let answer = api
                    .request(Method::POST, "/apis/authorization.k8s.io/v1/subjectaccessreviews", Some(&review), "application/json")
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(answer["status"]["allowed"].as_bool() == Some(true))
            })
        });
        let server = crate::api::KubeletServer::start(self.runtime.clone(), any, &tls, Some(authorizer))?;
        self.config.kubelet_port = server.local_addr().port();
        Ok(server)
    }

    fn facts(&self) -> NodeFacts {
        let memory = u64::try_from(crate::pod::Allocatable::here(self.runtime.state().path()).memory_bytes).unwrap_or(0);
        NodeFacts {
            name: self.config.name.clone(),
            address: self.config.address.clone(),
            kubelet_port: self.config.kubelet_port,
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory,
            pods: self.config.pods,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// Creates the Node, or brings an existing one's labels, taint and
    /// status up to date; its uid.
    pub async fn register(&self) -> Result<String, ClientError> {
        let node = object::node(&self.facts(), &now());
        let created = self.api.request(Method::POST, "/api/v1/nodes", Some(&node), "application/json").await;
        let found = match created {
            Ok(n) => n,
            Err(e) if is(&e, StatusCode::CONFLICT) => {
                // Its labels; the taint stays as registered (a node may not
                // change its taints: NodeRestriction).
                let path = format!("/api/v1/nodes/{}", enc(&self.config.name));
                let meta = json!({"metadata": {"labels": node["metadata"]["labels"]}});
                self.api.request(Method::PATCH, &path, Some(&meta), "application/merge-patch+json").await?;
                let status = json!({"status": node["status"]});
                self.api.request(Method::PATCH, &format!("{path}/status"), Some(&status), "application/merge-patch+json").await?
            }
            Err(e) => return Err(e),
        };
        Ok(found["metadata"]["uid"].as_str().unwrap_or_default().to_owned())
    }

    /// Renews the Lease (created when missing) and the Ready condition.
    async fn heartbeat(&self, node_uid: &str) -> Result<(), ClientError> {
        let name = enc(&self.config.name);
        let path = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}");
        let lease = object::lease(&self.config.name, Some(node_uid), &now_micro());
        let renewal = json!({"spec": lease["spec"]});
        match self.api.request(Method::PATCH, &path, Some(&renewal), "application/merge-patch+json").await {
            Err(e) if is(&e, StatusCode::NOT_FOUND) => {
                self.api.request(Method::POST, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", Some(&lease), "application/json").await?;
            }
            other => {
                other?;
            }
        }
        let status = json!({"status": {"conditions": object::conditions(&now())}});
        self.api.request(Method::PATCH, &format!("/api/v1/nodes/{name}/status"), Some(&status), "application/strategic-merge-patch+json").await?;
        Ok(())
    }

    /// Runs the node registered as `node_uid` ([`NodeAgent::register`])
    /// until `stop` resolves: the heartbeat, the status reports and the
    /// pods. The pods keep running on the way out only as far as the
    /// caller's runtime shutdown lets them.
    /// `events` (from [`super::event_tap`]) are posted about the cluster's
    /// pods.
    pub async fn run(self, node_uid: String, events: Option<super::NodeEvents>, stop: impl std::future::Future<Output = ()>) {
        let me = Arc::new(self);
        let poster = events.map(|e| tokio::spawn(me.clone().post_events(e)));
        let beat = {
            let me = me.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(LEASE_SECONDS / 4));
                loop {
                    tick.tick().await;
                    if let Err(e) = me.heartbeat(&node_uid).await {
                        eprintln!("wasmpod node: heartbeat: {e}");
                    }
                }
            })
        };
        let reports = tokio::spawn(me.clone().report_status());
        let tokens = tokio::spawn(me.clone().renew_tokens());
        let pods = tokio::spawn(me.clone().pods_and_network());
        stop.await;
        if let Some(p) = poster {
            p.abort();
        }
        beat.abort();
        reports.abort();
        tokens.abort();
        pods.abort();
    }

    /// Takes the node's pod CIDR, then follows the cluster's network (its
    /// Services, the other nodes' pods) and runs the node's pods.
    async fn pods_and_network(self: Arc<Self>) {
        let cidr = self.take_pod_cidr().await;
        if self.config.routed {
            match cidr.as_deref() {
                Some(cidr) => match super::routes::own_pod_cidr(cidr).await {
                    Ok(()) => self.runtime.set_routed(true),
                    Err(e) => eprintln!("wasmpod node: routed mode is off: {e}"),
                },
                None => eprintln!("wasmpod node: routed mode is off: the node has no podCIDR"),
            }
        }
        let routes = self.config.host_gw_routes.then(super::routes::HostRoutes::default);
        let proxy = tokio::spawn(super::network::proxy(self.api.clone(), self.runtime.clone()));
        let nodes = tokio::spawn(super::network::follow_nodes(self.api.clone(), self.runtime.clone(), self.config.name.clone(), routes));
        let policies = tokio::spawn(super::network::enforce_policies(self.api.clone(), self.runtime.clone(), self.config.name.clone()));
        let _network = super::network::AbortOnDrop(vec![proxy, nodes, policies]);
        self.sync_pods().await;
    }

    /// Waits (a minute at most) for the cluster to give the node a pod
    /// CIDR (kube-controller-manager's `--allocate-node-cidrs`), and takes
    /// pod IPs from it; clusters that give none keep wasmpod's range.
    async fn take_pod_cidr(&self) -> Option<String> {
        let path = format!("/api/v1/nodes/{}", enc(&self.config.name));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            if let Ok(node) = self.api.get(&path).await
                && let Some(cidr) = node["spec"]["podCIDR"].as_str()
            {
                if let Err(e) = self.runtime.set_pod_cidr(cidr) {
                    eprintln!("wasmpod node: {e}; pod IPs stay in 10.88.0.0/16");
                    return None;
                }
                return Some(cidr.to_owned());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        eprintln!("wasmpod node: the cluster gave node {} no podCIDR; pod IPs come from 10.88.0.0/16", self.config.name);
        None
    }

    /// Lists and watches the pods bound to the node, again whenever the
    /// watch ends.
    async fn sync_pods(&self) {
        let path = format!("/api/v1/pods?fieldSelector={}", enc(&format!("spec.nodeName={}", self.config.name)));
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let _reflect = super::network::AbortOnDrop(vec![tokio::spawn(super::network::reflect(self.api.clone(), path, (), tx))]);
        while let Some(((), change)) = rx.recv().await {
            match change {
                super::network::Change::Listed(items) => {
                    let listed: HashSet<(String, String)> = items.iter().map(key_of).collect();
                    for pod in items {
                        self.reconcile(pod).await;
                    }
                    // Pods deleted from the cluster while the node was away.
                    for local in self.runtime.list(None).unwrap_or_default() {
                        let key = (local.metadata.namespace.clone().unwrap_or_default(), local.metadata.name.clone().unwrap_or_default());
                        if !listed.contains(&key) {
                            let _ = self.runtime.delete(&key.0, &key.1, Some(0));
                        }
                    }
                }
                super::network::Change::Applied(pod) => self.reconcile(pod).await,
                super::network::Change::Deleted(pod) => {
                    let key = key_of(&pod);
                    self.bound.lock().unwrap_or_else(|p| p.into_inner()).uids.remove(&key);
                    let _ = self.runtime.delete(&key.0, &key.1, Some(0));
                }
            }
        }
    }

    /// Brings the local pod in line with the cluster's `pod`.
    async fn reconcile(&self, pod: Value) {
        let key = key_of(&pod);
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
        let (started, deleting) = {
            let mut b = self.bound.lock().unwrap_or_else(|p| p.into_inner());
            b.uids.insert(key.clone(), uid.clone());
            (b.started.contains(&key), b.deleting.contains(&key))
        };
        if pod["metadata"]["deletionTimestamp"].is_string() {
            if !deleting {
                self.bound.lock().unwrap_or_else(|p| p.into_inner()).deleting.insert(key.clone());
                let grace = pod["metadata"]["deletionGracePeriodSeconds"].as_i64();
                let _ = self.runtime.delete(&key.0, &key.1, grace);
                self.finish_deletion(key, uid);
            }
            return;
        }
        if started {
            return;
        }
        // A pod that ended for good (Succeeded or Failed) is not run again,
        // as a kubelet that comes back leaves it be.
        if matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed")) {
            self.bound.lock().unwrap_or_else(|p| p.into_inner()).started.insert(key);
            return;
        }
        // A record from an earlier process of this node: its pod went with
        // that process; it runs again here, where it was (create_resumed).
        if self.runtime.get(&key.0, &key.1).is_ok() {
            if let Err(e) = self.runtime.delete(&key.0, &key.1, Some(0)) {
                eprintln!("wasmpod node: pod {}/{}: its earlier record: {}", key.0, key.1, crate::error_text::full_message(&e));
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while self.runtime.get(&key.0, &key.1).is_ok() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.bound.lock().unwrap_or_else(|p| p.into_inner()).started.insert(key.clone());
        if let Err(why) = self.start(&pod).await {
            eprintln!("wasmpod node: pod {}/{}: {why}", key.0, key.1);
            // Never half-run: the pod ends Failed with the reason.
            let status = json!({"status": {"phase": "Failed", "reason": "UnsupportedByWasmpod", "message": why, "hostIP": self.config.address}});
            let path = format!("/api/v1/namespaces/{}/pods/{}/status", enc(&key.0), enc(&key.1));
            if let Err(e) = self.api.request(Method::PATCH, &path, Some(&status), "application/merge-patch+json").await {
                eprintln!("wasmpod node: pod {}/{}: cannot report its failure: {e}", key.0, key.1);
            }
        }
    }

    /// Starts the cluster's `pod` here, after the ConfigMaps and Secrets
    /// it names are fetched; why it cannot run.
    async fn start(&self, pod: &Value) -> Result<(), String> {
        let (ns, _) = key_of(pod);
        let typed: Pod = serde_json::from_value(pod.clone()).map_err(|e| format!("the pod cannot be read: {e}"))?;
        let (maps, secrets) = referenced(&typed);
        for name in maps {
            if let Ok(cm) = self.api.get(&format!("/api/v1/namespaces/{}/configmaps/{}", enc(&ns), enc(&name))).await
                && let Ok(cm) = serde_json::from_value(cm)
            {
                let _ = self.runtime.apply_config_map(&cm);
            }
        }
        for name in secrets {
            if let Ok(s) = self.api.get(&format!("/api/v1/namespaces/{}/secrets/{}", enc(&ns), enc(&name))).await
                && let Ok(s) = serde_json::from_value(s)
            {
                let _ = self.runtime.apply_secret(&s);
            }
        }
        // What the API server filled in stays the cluster's; the manifest
        // is the pod's spec and metadata.
        let mut manifest = pod.clone();
        // A list's items carry no kind (a watch's objects do).
        manifest["apiVersion"] = json!("v1");
        manifest["kind"] = json!("Pod");
        self.project_volumes(&mut manifest).await?;
        if let Some(o) = manifest.as_object_mut() {
            o.remove("status");
        }
        if let Some(m) = manifest["metadata"].as_object_mut() {
            for k in ["managedFields", "resourceVersion", "creationTimestamp", "generation", "ownerReferences"] {
                m.remove(k);
            }
        }
        let text = serde_json::to_string(&manifest).expect("JSON serializes");
        let m = crate::manifest::load_str(&text, "the cluster", crate::Validation::Ignore).map_err(|e| crate::error_text::full_message(&e))?;
        let base = std::env::current_dir().unwrap_or_default();
        // A pod that ran here before (an earlier process of this node)
        // goes on where it was: its IP, start time and restart counts.
        let earlier = typed.status.as_ref().filter(|s| s.pod_ip.is_some() && s.container_statuses.is_some());
        self.runtime.create_resumed(&m, &base, earlier).await.map(drop).map_err(|e| crate::error_text::full_message(&e))
    }

    /// Makes each projected volume of `pod` (the service-account token
    /// volume the cluster adds to nearly every pod, among others) a
    /// Secret of this process holding its files (a token from the
    /// TokenRequest API bound to the pod, ConfigMap and Secret keys,
    /// downward API fields), and the volume that Secret's.
    async fn project_volumes(&self, pod: &mut Value) -> Result<(), String> {
        let (ns, name) = key_of(pod);
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
        let account = pod["spec"]["serviceAccountName"].as_str().unwrap_or("default").to_owned();
        let volumes = pod["spec"]["volumes"].as_array().cloned().unwrap_or_default();
        let mut out = Vec::new();
        let mut tokens = Vec::new();
        for mut v in volumes {
            let Some(projected) = v.get("projected").cloned() else {
                out.push(v);
                continue;
            };
            let vol = v["name"].as_str().unwrap_or_default().to_owned();
            let mut files: Vec<(String, String)> = Vec::new();
            for source in projected["sources"].as_array().into_iter().flatten() {
                if let Some(t) = source.get("serviceAccountToken") {
                    let mut spec = json!({"expirationSeconds": t["expirationSeconds"].as_i64().unwrap_or(3600),
                        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}});
                    if let Some(aud) = t["audience"].as_str() {
                        spec["audiences"] = json!([aud]);
                    }
                    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec});
                    let path = format!("/api/v1/namespaces/{}/serviceaccounts/{}/token", enc(&ns), enc(&account));
                    let issued = jiff::Timestamp::now();
                    let answer = self
                        .api
                        .request(Method::POST, &path, Some(&request), "application/json")
                        .await
                        .map_err(|e| format!("volume {vol}: a service-account token: {e}"))?;
                    let token = answer["status"]["token"].as_str().ok_or_else(|| format!("volume {vol}: the TokenRequest gave no token"))?;
                    let file = t["path"].as_str().unwrap_or("token").to_owned();
                    files.push((file.clone(), token.to_owned()));
                    let expires = answer["status"]["expirationTimestamp"].as_str().and_then(|e| e.parse().ok()).unwrap_or(issued);
                    tokens.push(Token { volume: vol.clone(), path: file, request_path: path, request, issued, expires });
                }
                for (kind, resource) in [("configMap", "configmaps"), ("secret", "secrets")] {
                    let Some(s) = source.get(kind) else { continue };
                    let object_name = s["name"].as_str().unwrap_or_default();
                    let optional = s["optional"].as_bool() == Some(true);
                    let object = match self.api.get(&format!("/api/v1/namespaces/{}/{resource}/{}", enc(&ns), enc(object_name))).await {
                        Ok(o) => o,
                        Err(_) if optional => continue,
                        Err(e) => return Err(format!("volume {vol}: {e}")),
                    };
                    let value = |key: &str| -> Option<String> {
                        if kind == "secret" {
                            use base64::Engine;
                            let raw = object["data"][key].as_str()?;
                            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(raw).ok()?).ok()
                        } else {
                            object["data"][key].as_str().map(str::to_owned)
                        }
                    };
                    match s["items"].as_array() {
                        Some(items) => {
                            for i in items {
                                let key = i["key"].as_str().unwrap_or_default();
                                let v = value(key).ok_or_else(|| format!("volume {vol}: {kind} {object_name} has no key {key}"))?;
                                files.push((i["path"].as_str().unwrap_or(key).to_owned(), v));
                            }
                        }
                        None => {
                            for key in object["data"].as_object().map(|d| d.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
                                if let Some(v) = value(&key) {
                                    files.push((key, v));
                                }
                            }
                        }
                    }
                }
                if let Some(d) = source.get("downwardAPI") {
                    for i in d["items"].as_array().into_iter().flatten() {
                        let field = i["fieldRef"]["fieldPath"].as_str().unwrap_or_default();
                        let v = match field {
                            "metadata.namespace" => ns.clone(),
                            "metadata.name" => name.clone(),
                            "metadata.uid" => uid.clone(),
                            other => return Err(format!("volume {vol}: the projected downward API field {other} is not supported")),
                        };
                        files.push((i["path"].as_str().unwrap_or_default().to_owned(), v));
                    }
                }
            }
            // The Secret's keys cannot hold `/`: each file is an item.
            let secret_name = format!("wasmpod-projected-{name}-{vol}");
            let mut data = serde_json::Map::new();
            let mut items = Vec::new();
            for (i, (path, value)) in files.iter().enumerate() {
                use base64::Engine;
                let key = format!("f{i}");
                data.insert(key.clone(), json!(base64::engine::general_purpose::STANDARD.encode(value)));
                items.push(json!({"key": key, "path": path}));
            }
            let secret: k8s_openapi::api::core::v1::Secret =
                serde_json::from_value(json!({"metadata": {"name": secret_name, "namespace": ns}, "data": data})).map_err(|e| e.to_string())?;
            self.runtime.apply_secret(&secret).map_err(|e| format!("volume {vol}: {}", crate::error_text::full_message(&e)))?;
            let mut secret_volume = json!({"secretName": secret_name, "items": items});
            if let Some(mode) = projected.get("defaultMode") {
                secret_volume["defaultMode"] = mode.clone();
            }
            v = json!({"name": vol, "secret": secret_volume});
            out.push(v);
        }
        if pod["spec"]["volumes"].is_array() {
            pod["spec"]["volumes"] = Value::Array(out);
        }
        self.bound.lock().unwrap_or_else(|p| p.into_inner()).tokens.insert((ns, name), tokens);
        Ok(())
    }

    /// Renews each pod's projected service-account tokens as the kubelet
    /// does: once the configured share of a token's lifetime has passed
    /// (80 %, at the latest after 24 h), a new TokenRequest, written over
    /// the volume's file.
    async fn renew_tokens(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let now = jiff::Timestamp::now();
            let percent = i64::from(self.config.token_refresh_percent.clamp(1, 100));
            let due: Vec<((String, String), usize, Token)> = {
                let mut b = self.bound.lock().unwrap_or_else(|p| p.into_inner());
                let live = b.uids.clone();
                b.tokens.retain(|k, _| live.contains_key(k));
                b.tokens
                    .iter()
                    .flat_map(|(k, ts)| ts.iter().enumerate().map(move |(i, t)| (k.clone(), i, t.clone())))
                    .filter(|(_, _, t)| {
                        let life = t.expires.as_second() - t.issued.as_second();
                        let after = (life * percent / 100).min(24 * 3600);
                        now.as_second() >= t.issued.as_second() + after
                    })
                    .collect()
            };
            for (key, i, mut t) in due {
                let issued = jiff::Timestamp::now();
                let renewed = match self.api.request(Method::POST, &t.request_path, Some(&t.request), "application/json").await {
                    Ok(answer) => answer["status"]["token"].as_str().map(|tok| (tok.to_owned(), answer["status"]["expirationTimestamp"].clone())),
                    Err(e) => {
                        eprintln!("wasmpod node: pod {}/{}: renewing its token in volume {}: {e}", key.0, key.1, t.volume);
                        None
                    }
                };
                let Some((token, expires)) = renewed else { continue };
                match self.runtime.rewrite_volume_file(&key.0, &key.1, &t.volume, &t.path, token.as_bytes()) {
                    Ok(()) => {
                        t.issued = issued;
                        t.expires = expires.as_str().and_then(|e| e.parse().ok()).unwrap_or(issued);
                        if let Some(ts) = self.bound.lock().unwrap_or_else(|p| p.into_inner()).tokens.get_mut(&key)
                            && let Some(slot) = ts.get_mut(i)
                        {
                            *slot = t;
                        }
                    }
                    Err(e) => {
                        // Not running (any more): nothing to renew.
                        eprintln!("wasmpod node: pod {}/{}: {}", key.0, key.1, crate::error_text::full_message(&e));
                        self.bound.lock().unwrap_or_else(|p| p.into_inner()).tokens.remove(&key);
                    }
                }
            }
        }
    }

    /// Once the local pod is gone, deletes the cluster's pod for good
    /// (grace 0, only if it is still the same pod), so nothing is left
    /// Terminating.
    fn finish_deletion(&self, key: (String, String), uid: String) {
        let (api, runtime, bound) = (self.api.clone(), self.runtime.clone(), self.bound.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
            while runtime.get(&key.0, &key.1).is_ok() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let path = format!("/api/v1/namespaces/{}/pods/{}", enc(&key.0), enc(&key.1));
            let options = json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}});
            if let Err(e) = api.request(Method::DELETE, &path, Some(&options), "application/json").await
                && !is(&e, StatusCode::NOT_FOUND)
                && !is(&e, StatusCode::CONFLICT)
            {
                eprintln!("wasmpod node: pod {}/{}: cannot finish its deletion: {e}", key.0, key.1);
            }
            let mut b = bound.lock().unwrap_or_else(|p| p.into_inner());
            b.started.remove(&key);
            b.deleting.remove(&key);
        });
    }

    /// Posts the runtime's events about pods bound here (a repeat
    /// updates the event's count), as the kubelet does.
    async fn post_events(self: Arc<Self>, mut events: super::NodeEvents) {
        while let Some(e) = events.0.recv().await {
            let o = &e.involved_object;
            let key = (o.namespace.clone().unwrap_or_default(), o.name.clone().unwrap_or_default());
            let uid = self.bound.lock().unwrap_or_else(|p| p.into_inner()).uids.get(&key).cloned();
            let Some(uid) = uid else { continue };
            let body = super::events::cluster_event(&e, &uid, &self.config.name);
            let path = format!("/api/v1/namespaces/{}/events", enc(&key.0));
            match self.api.request(Method::POST, &path, Some(&body), "application/json").await {
                Err(err) if is(&err, StatusCode::CONFLICT) => {
                    let name = e.metadata.name.clone().unwrap_or_default();
                    let repeat = json!({"count": body["count"], "lastTimestamp": body["lastTimestamp"], "message": body["message"]});
                    let _ = self.api.request(Method::PATCH, &format!("{path}/{}", enc(&name)), Some(&repeat), "application/merge-patch+json").await;
                }
                Err(err) => eprintln!("wasmpod node: event about {}/{}: {err}", key.0, key.1),
                Ok(_) => {}
            }
        }
    }

    /// Tells the cluster each status change of a pod bound here.
    async fn report_status(self: Arc<Self>) {
        let mut watch = self.runtime.watch(None, None);
        while let Some(ev) = watch.next().await {
            if ev.kind == crate::WatchEventType::Deleted {
                continue;
            }
            let pod = ev.object;
            let key = (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default());
            let uid = self.bound.lock().unwrap_or_else(|p| p.into_inner()).uids.get(&key).cloned();
            let Some(uid) = uid else { continue };
            let status = serde_json::to_value(pod.status.unwrap_or_default()).expect("a PodStatus serializes");
            let patch = json!({"metadata": {"uid": uid}, "status": object::pod_status(&status, &self.config.address)});
            let path = format!("/api/v1/namespaces/{}/pods/{}/status", enc(&key.0), enc(&key.1));
            if let Err(e) = self.api.request(Method::PATCH, &path, Some(&patch), "application/merge-patch+json").await
                && !is(&e, StatusCode::NOT_FOUND)
            {
                eprintln!("wasmpod node: pod {}/{}: status: {e}", key.0, key.1);
            }
        }
    }
}

/// The ConfigMaps and Secrets `pod` names (env, envFrom, volumes).
fn referenced(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let (mut maps, mut secrets) = (Vec::new(), Vec::new());
    let Some(spec) = &pod.spec else { return (maps, secrets) };
    for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        for e in c.env.iter().flatten().filter_map(|e| e.value_from.as_ref()) {
            if let Some(r) = &e.config_map_key_ref {
                maps.push(r.name.clone());
            }
            if let Some(r) = &e.secret_key_ref {
                secrets.push(r.name.clone());
            }
        }
        for f in c.env_from.iter().flatten() {
            if let Some(r) = &f.config_map_ref {
                maps.push(r.name.clone());
            }
            if let Some(r) = &f.secret_ref {
                secrets.push(r.name.clone());
            }
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(c) = &v.config_map {
            maps.push(c.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.push(s);
        }
    }
    maps.sort();
    maps.dedup();
    secrets.sort();
    secrets.dedup();
    (maps, secrets)
}

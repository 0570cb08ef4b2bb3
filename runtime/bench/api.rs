//! The Kubernetes API: the latency of a pod list with 1,000 and 10,000
//! pods, over HTTPS as kubectl reaches it (TLS with the client
//! certificate of the state directory's kubeconfig) and over the CLI's
//! Unix socket; how long a change takes to reach 100 watchers; an exec's
//! round trip. With `--kube-apiserver KUBECONFIG` the same lists (of
//! pods that stay Pending: the cluster needs no node for them) and the
//! same fan-out are measured on a real kube-apiserver, with the same
//! client; an exec there needs a node, so it has no figure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

use super::start::is_ready;
use super::{BenchReport, Lab, percentile, stop_all};
use crate::api::{ApiServer, Client, HttpsServer, Pki, Role, Target};

const READY_WITHIN: Duration = Duration::from_secs(120);
/// Lists timed at each size.
const LISTS: usize = 10;
/// Watchers of the fan-out.
const WATCHERS: usize = 100;

fn sleeping_pod(name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: builtin:toolbox\n    command: [\"sleep\", \"86400\"]\n"
    )
}

/// A TLS client with the kubeconfig's credentials, one connection per
/// request as a fresh kubectl makes.
struct Https {
    connector: tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
}

impl Https {
    fn new(pki: &Pki, addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let connector = crate::node::connector(&pki.ca_pem, &pki.client_pem, &pki.client_key_pem).map_err(|e| anyhow::anyhow!("TLS: {e}"))?;
        Ok(Self { connector, addr })
    }

    /// GETs `path`; the body's length.
    async fn get(&self, path: &str) -> anyhow::Result<usize> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await?;
        let tls = self.connector.connect(rustls::pki_types::ServerName::try_from("localhost")?, tcp).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let req = hyper::Request::get(path).header(hyper::header::HOST, "localhost").body(http_body_util::Empty::<Bytes>::new())?;
        let resp = sender.send_request(req).await?;
        anyhow::ensure!(resp.status().is_success(), "GET {path}: {}", resp.status());
        Ok(resp.into_body().collect().await?.to_bytes().len())
    }
}

/// A pod for the real API server (it stays Pending without a node).
fn pod_json(name: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "86400"]}]}})
}

/// The same lists and fan-out against a real kube-apiserver, through
/// the node agent's client of it.
pub(super) async fn run_kube_apiserver(kubeconfig: &std::path::Path, report: &mut BenchReport, progress: &(dyn Fn(&str) + Sync)) -> anyhow::Result<()> {
    use crate::node::ApiClient;
    use hyper::Method;
    let api = Arc::new(ApiClient::from_kubeconfig(kubeconfig)?);
    let post = |api: Arc<ApiClient>, path: &'static str, body: serde_json::Value| async move {
        api.request(Method::POST, path, Some(&body), "application/json").await
    };
    for ns in ["wasmpod-bench", "wasmpod-fanout"] {
        let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match post(api.clone(), "/api/v1/namespaces", namespace).await {
            Err(e) if e.code() != Some(409) => return Err(e.into()),
            _ => {}
        }
    }
    // Pods can be made once the namespace's default ServiceAccount is.
    let deadline = Instant::now() + READY_WITHIN;
    while api.get("/api/v1/namespaces/wasmpod-bench/serviceaccounts/default").await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the namespace wasmpod-bench never got its default ServiceAccount");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut made = 0;
    let keys = [(1000, "kube_apiserver_list_1000_pods_https_ms"), (10_000, "kube_apiserver_list_10000_pods_https_ms")];
    for (size, key) in keys {
        progress(&format!("  kube-apiserver: creating pods until {size}"));
        while made < size {
            // Eight at a time, as a controller's workers would.
            let mut batch = tokio::task::JoinSet::new();
            for i in made..(made + 8).min(size) {
                batch.spawn(post(api.clone(), "/api/v1/namespaces/wasmpod-bench/pods", pod_json(&format!("api-{i}"))));
            }
            while let Some(r) = batch.join_next().await {
                r??;
            }
            made = (made + 8).min(size);
        }
        let mut lists = Vec::new();
        let mut bytes = 0;
        for _ in 0..LISTS {
            let t = Instant::now();
            bytes = api.get_bytes("/api/v1/namespaces/wasmpod-bench/pods").await?.len();
            lists.push(t.elapsed());
        }
        report.push(key, ms(percentile(&mut lists, 50.0)), "ms");
        report.notes.push(format!("kube-apiserver: a list of {size} Pending pods is {} KiB of JSON", bytes >> 10));
    }
    progress(&format!("  kube-apiserver: {WATCHERS} watchers"));
    let mut watches = Vec::new();
    for _ in 0..WATCHERS {
        watches.push(api.watch("/api/v1/namespaces/wasmpod-fanout/pods?watch=1").await?);
    }
    let started = Instant::now();
    post(api.clone(), "/api/v1/namespaces/wasmpod-fanout/pods", pod_json("watched")).await?;
    let mut arrivals = Vec::new();
    for w in &mut watches {
        let seen = tokio::time::timeout(READY_WITHIN, async {
            while let Some(ev) = w.recv().await {
                if ev["object"]["metadata"]["name"] == "watched" {
                    return true;
                }
            }
            false
        })
        .await;
        anyhow::ensure!(matches!(seen, Ok(true)), "a watcher of kube-apiserver never saw the pod");
        arrivals.push(started.elapsed());
    }
    report.push("kube_apiserver_watch_fanout_100_p50_ms", ms(percentile(&mut arrivals.clone(), 50.0)), "ms");
    report.push("kube_apiserver_watch_fanout_100_max_ms", ms(percentile(&mut arrivals, 100.0)), "ms");
    for ns in ["wasmpod-bench", "wasmpod-fanout"] {
        api.request(Method::DELETE, &format!("/api/v1/namespaces/{ns}"), None, "application/json").await?;
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

pub(super) async fn run(lab: &Lab, report: &mut BenchReport, progress: &(dyn Fn(&str) + Sync)) -> anyhow::Result<()> {
    let https = HttpsServer::start(lab.rt.clone(), Role::Serve, "127.0.0.1:0".parse()?)?;
    let _socket = ApiServer::start(lab.rt.clone(), Role::Serve)?;
    let pki = Pki::load_or_create(lab.rt.state().path(), "127.0.0.1".parse()?)?;
    let tls = Https::new(&pki, https.local_addr())?;
    let client = Client::connect(lab.rt.state().path(), Target::Serve).await?;
    let mut pods = Vec::new();
    let keys =
        [(1000, "api_list_1000_pods_https_ms", "api_list_1000_pods_socket_ms"), (10_000, "api_list_10000_pods_https_ms", "api_list_10000_pods_socket_ms")];
    for (size, https_key, socket_key) in keys {
        progress(&format!("  starting pods until {size}"));
        while pods.len() < size {
            let batch: Vec<_> = (pods.len()..(pods.len() + 250).min(size)).collect();
            for i in &batch {
                pods.push(lab.start(&sleeping_pod(&format!("api-{i}"), "default")).await?);
            }
            for p in &pods[batch[0]..] {
                let mut status = p.watch();
                tokio::time::timeout(READY_WITHIN, status.wait_for(is_ready)).await.map_err(|_| anyhow::anyhow!("pod {} not Ready", p.name()))??;
            }
        }
        let mut over_https = Vec::new();
        let mut bytes = 0;
        for _ in 0..LISTS {
            let t = Instant::now();
            bytes = tls.get("/api/v1/namespaces/default/pods").await?;
            over_https.push(t.elapsed());
        }
        let mut over_socket = Vec::new();
        for _ in 0..LISTS {
            let t = Instant::now();
            let listed = client.list(Some("default")).await?;
            over_socket.push(t.elapsed());
            anyhow::ensure!(listed.len() == size, "listed {} pods of {size}", listed.len());
        }
        report.push(https_key, ms(percentile(&mut over_https, 50.0)), "ms");
        report.push(socket_key, ms(percentile(&mut over_socket, 50.0)), "ms");
        report.notes.push(format!("api: a list of {size} pods is {} KiB of JSON; p50 of {LISTS} lists each way", bytes >> 10));
    }

    // Fan-out: 100 watchers of a namespace of their own; the time from a
    // pod's start to its ADDED event at each watcher.
    progress(&format!("  {WATCHERS} watchers"));
    let mut watches = Vec::new();
    for _ in 0..WATCHERS {
        watches.push(client.watch(Some("fanout"), None).await?);
    }
    let started = Instant::now();
    let pod = lab.start(&sleeping_pod("watched", "fanout")).await?;
    let mut arrivals = Vec::new();
    for w in &mut watches {
        let seen = tokio::time::timeout(READY_WITHIN, async {
            while let Some(ev) = w.next().await {
                if ev.is_ok_and(|e| e.object.metadata.name.as_deref() == Some("watched")) {
                    return true;
                }
            }
            false
        })
        .await;
        anyhow::ensure!(matches!(seen, Ok(true)), "a watcher never saw the pod");
        arrivals.push(started.elapsed());
    }
    report.push("api_watch_fanout_100_p50_ms", ms(percentile(&mut arrivals.clone(), 50.0)), "ms");
    report.push("api_watch_fanout_100_max_ms", ms(percentile(&mut arrivals, 100.0)), "ms");
    drop(watches);

    // exec: a fresh instance running `true`, its exit code back.
    let mut rounds = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let stream = client.exec("default", "api-0", None, &["true".to_owned()], false).await?;
        let end = crate::api::client_exec(stream, None::<tokio::io::Empty>, tokio::io::sink(), tokio::io::sink()).await?;
        anyhow::ensure!(matches!(end, Ok(0)), "exec true: {end:?}");
        rounds.push(t.elapsed());
    }
    report.push("api_exec_round_trip_p50_ms", ms(percentile(&mut rounds, 50.0)), "ms");
    pods.push(pod);
    stop_all(pods).await;
    Ok(())
}

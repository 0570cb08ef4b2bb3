//! The Kubernetes API: the latency of a pod list with 1,000 and 10,000
//! pods, over HTTPS as kubectl reaches it (TLS with the client
//! certificate of the state directory's kubeconfig) and over the CLI's
//! Unix socket; how long a change takes to reach 100 watchers; an exec's
//! round trip. No real API server is measured beside it yet (the node
//! issue's control plane will give one).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
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
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pki.client_pem.as_bytes()).collect::<Result<_, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(pki.client_key_pem.as_bytes())?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        Ok(Self { connector: tokio_rustls::TlsConnector::from(Arc::new(config)), addr })
    }

    /// GETs `path`; the body's length.
    async fn get(&self, path: &str) -> anyhow::Result<usize> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await?;
        let tls = self.connector.connect(rustls::pki_types::ServerName::try_from("localhost")?, tcp).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let req = hyper::Request::get(path).header(hyper::header::HOST, "localhost").body(Empty::<Bytes>::new())?;
        let resp = sender.send_request(req).await?;
        anyhow::ensure!(resp.status().is_success(), "GET {path}: {}", resp.status());
        Ok(resp.into_body().collect().await?.to_bytes().len())
    }
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

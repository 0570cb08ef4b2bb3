//! The control API over HTTPS on a TCP address (`127.0.0.1:6443` by
//! default), for kubectl and Kubernetes client libraries: the same routes
//! as the Unix socket, behind TLS with the credentials of `pki.rs`, and a
//! kubeconfig for them written to `<state>/kubeconfig`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::discovery::Role;
use super::pki::Pki;
use super::request::ServerContext;
use crate::runtime::Runtime;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the HTTPS endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpsError {
    /// The address could not be listened on.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The credentials could not be made or read.
    #[error(transparent)]
    Pki(#[from] super::pki::PkiError),
    /// The TLS configuration was refused.
    #[error("TLS: {0}")]
    Tls(String),
    /// The kubeconfig could not be written.
    #[error("cannot write {}", path.display())]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The HTTPS endpoint of one runtime process. Dropping it stops
/// accepting connections.
pub struct HttpsServer {
    addr: SocketAddr,
    kubeconfig: PathBuf,
    accept: tokio::task::JoinHandle<()>,
}

/// `<state>/kubeconfig`.
pub fn kubeconfig_path(state: &Path) -> PathBuf {
    state.join("kubeconfig")
}

impl HttpsServer {
    /// Listens on `addr` (port 0: a free one) with the state directory's
    /// credentials (made on first start), and writes the kubeconfig for
    /// the address it got. Must be called within a tokio runtime.
    pub fn start(runtime: Arc<Runtime>, role: Role, addr: SocketAddr) -> Result<Self, HttpsError> {
        let state = runtime.state().path().to_owned();
        let pki = Pki::load_or_create(&state, addr.ip())?;
        let config = pki.server_config().map_err(HttpsError::Tls)?;
        let (listener, local) = listen(addr)?;
        // A wildcard address is reached through loopback.
        let host = if local.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { local.ip() };
        let server = format!("https://{}", SocketAddr::new(host, local.port()));
        let kubeconfig = kubeconfig_path(&state);
        crate::store::write_atomic(&kubeconfig, pki.kubeconfig(&server).as_bytes())
            .map_err(|source| HttpsError::Kubeconfig { path: kubeconfig.clone(), source })?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let ctx = Arc::new(ServerContext { runtime, role });
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    // Out of descriptors: that connection is lost, not the server.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, ctx) = (acceptor.clone(), ctx.clone());
                tokio::spawn(async move {
                    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else { return };
                    let authenticated = tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                    super::server::serve_connection(ctx, tls, authenticated).await;
                });
            }
        });
        Ok(Self { addr: local, kubeconfig, accept })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The kubeconfig written for it.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }
}

/// A listener on `addr` (port 0: a free one), and the address it got.
pub(super) fn listen(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), HttpsError> {
    let failed = |source| HttpsError::Listen { addr, source };
    let std_listener = std::net::TcpListener::bind(addr).map_err(failed)?;
    std_listener.set_nonblocking(true).map_err(failed)?;
    let listener = tokio::net::TcpListener::from_std(std_listener).map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    Ok((listener, local))
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

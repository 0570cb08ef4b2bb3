//! The HTTP/1.1 server of the control API: accepting connections on the
//! transport, one hyper connection task each (upgrades enabled, so a
//! route can turn its connection into a raw byte stream: `upgrade.rs`).

use std::sync::Arc;

use hyper_util::rt::TokioIo;

use super::discovery::{Role, own_endpoint};
use super::request::ServerContext;
use super::transport::Listener;
use crate::runtime::Runtime;

/// The control API of one runtime process. Dropping it stops accepting
/// connections and removes its endpoint; running requests finish on
/// their own tasks.
pub struct ApiServer {
    endpoint: std::path::PathBuf,
    accept: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// Listens on this process's endpoint in the runtime's state
    /// directory (see the `api` module). A `Role::Run` server refuses to
    /// create pods. Must be called within a tokio runtime.
    pub fn start(runtime: Arc<Runtime>, role: Role) -> std::io::Result<Self> {
        let endpoint = own_endpoint(runtime.state().path(), role)?;
        let mut listener = Listener::bind(&endpoint).map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", endpoint.display())))?;
        let ctx = Arc::new(ServerContext { runtime, role });
        let accept = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok(stream) => {
                        // The endpoint is its owner's alone: whoever reaches it is trusted.
                        tokio::spawn(serve_connection(ctx.clone(), stream, true));
                    }
                    // A failed accept (out of descriptors) concerns that
                    // one connection; keep serving the others.
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                }
            }
        });
        Ok(Self { endpoint, accept })
    }

    /// The endpoint file clients connect through.
    pub fn endpoint(&self) -> &std::path::Path {
        &self.endpoint
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        // Aborting drops the listener, which removes the endpoint file.
        self.accept.abort();
        let _ = std::fs::remove_file(&self.endpoint);
    }
}

/// Serves one connection; `authenticated` says whether its client proved
/// who it is (the Unix socket's permissions, or a client certificate the
/// CA signed): without, only the public paths are answered, the others
/// 401 as kube-apiserver answers an anonymous request it does not allow.
pub(super) async fn serve_connection<S>(ctx: Arc<ServerContext>, stream: S, authenticated: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let ctx = ctx.clone();
        async move {
            if !authenticated && !super::routes::is_public(req.uri().path()) {
                let status = super::Status::failure(401, "Unauthorized", "Unauthorized".into(), None);
                return Ok::<_, std::convert::Infallible>(super::body::json_response(hyper::StatusCode::UNAUTHORIZED, &status));
            }
            Ok::<_, std::convert::Infallible>(super::routes::handle(ctx, req).await)
        }
    });
    // A client that goes away mid-request is no error of ours.
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades().await;
}

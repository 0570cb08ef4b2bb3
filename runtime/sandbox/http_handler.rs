//! wasi:http handler containers: a component that exports
//! `wasi:http/incoming-handler` (and no `wasi:cli/run`) is served on its
//! container's ports in the pod network, as Spin and `wasmtime serve` do:
//! the component is pre-instantiated once per image (engine/), and every
//! request gets a fresh Store with the container's WASI context (env,
//! mounts, network, log), so requests share files but never memory.
//!
//! ```text
//! pod network listener (port) --accept--> hyper (HTTP/1.1 or h2c) per connection
//!   --request--> dispatch: new Store + instance -> incoming-handler.handle
//!   <--response-outparam-- the guest task keeps streaming the body
//! ```
//!
//! Probes reach the same `dispatch` directly, without a connection.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::{oneshot, watch};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::Engine;
use super::{ComponentState, GuestExit, SandboxError, SandboxSpec, component_store};
use crate::net::SocketPolicy;

/// Pending connections per served port before new ones are refused, as a
/// listen(2) backlog: enough for bursts of probes and port-forwards.
const BACKLOG: usize = 128;

/// Why a request could not be handed to the component or answered by it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// The instance could not be set up.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The request could not be turned into a wasi:http resource.
    #[error("cannot pass the request to the component: {0:#}")]
    Request(wasmtime::Error),
    /// The component answered with an error code instead of a response.
    #[error("the component answered with an error: {0:?}")]
    Guest(ErrorCode),
    /// The component returned, trapped or was killed without answering.
    #[error("the component did not answer: {0}")]
    NoResponse(String),
}

/// Serves `proxy` on every port of `spec.http_ports` until the returned
/// future is dropped (the container is killed), which also ends every
/// connection and every request still running.
pub(super) async fn serve(engine: &Engine, proxy: &ProxyPre<ComponentState>, spec: SandboxSpec) -> Result<GuestExit, SandboxError> {
    let SocketPolicy::Pod(net) = &spec.network else {
        return Err(SandboxError::Serve("wasi:http handler containers are served on the pod network; hostNetwork pods cannot run them".into()));
    };
    if spec.http_ports.is_empty() {
        return Err(SandboxError::Serve("the container declares no TCP containerPort to serve on".into()));
    }
    let mut listeners = Vec::new();
    for &port in &spec.http_ports {
        let binding = net.bind(port).map_err(|e| SandboxError::Serve(format!("cannot listen on port {port}: {e}")))?;
        let mut listener = binding.listen(BACKLOG, false);
        listener.expose();
        listeners.push(listener);
    }
    // Every task below ends when this sender is dropped with the future;
    // they hold receivers only, which do not keep it open.
    let (alive, alive_rx) = watch::channel(());
    let shared = Arc::new(Shared { engine: engine.engine().clone(), proxy: proxy.clone(), spec });
    for mut listener in listeners {
        let (shared, rx) = (shared.clone(), alive_rx.clone());
        tokio::spawn(until_dropped(alive_rx.clone(), async move {
            while let Some(incoming) = listener.accept().await {
                let (shared, rx) = (shared.clone(), rx.clone());
                tokio::spawn(until_dropped(rx.clone(), async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (shared, rx) = (shared.clone(), rx.clone());
                        async move { Ok::<_, std::convert::Infallible>(answer(&shared, req, rx).await) }
                    });
                    // A peer that goes away mid-request needs no report.
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(incoming.stream), service).await;
                }));
            }
        }));
    }
    let _alive = alive;
    // The handler container "runs" until it is killed.
    std::future::pending::<()>().await;
    unreachable!("pending() never resolves")
}

/// What every request of one served container needs.
struct Shared {
    engine: wasmtime::Engine,
    proxy: ProxyPre<ComponentState>,
    spec: SandboxSpec,
}

/// The component's response, or a 500/502 saying why there is none (what
/// `wasmtime serve` answers too).
async fn answer(shared: &Shared, req: hyper::Request<hyper::body::Incoming>, alive: watch::Receiver<()>) -> hyper::Response<HyperOutgoingBody> {
    match dispatch_with(&shared.engine, &shared.proxy, &shared.spec, req, alive).await {
        Ok(resp) => resp,
        Err(e) => {
            let status = if matches!(e, HandlerError::Guest(_)) { 502 } else { 500 };
            let body = http_body_util::Full::new(Bytes::from(format!("{e}\n"))).map_err(|never| match never {}).boxed_unsync();
            hyper::Response::builder().status(status).body(body).expect("a static response is valid")
        }
    }
}

/// Hands `req` to a fresh instance of the handler with the container's
/// context `spec`, and returns its response. The instance keeps running
/// (streaming the body) until it returns or `alive`'s sender is dropped.
pub async fn dispatch<B>(
    engine: &Engine,
    program: &super::Program,
    spec: &SandboxSpec,
    req: hyper::Request<B>,
    alive: watch::Receiver<()>,
) -> Result<hyper::Response<HyperOutgoingBody>, HandlerError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let super::Program::Component(c) = program else { return Err(HandlerError::NoResponse("not a component".into())) };
    let Some(proxy) = &c.proxy else { return Err(HandlerError::NoResponse("the component does not export wasi:http/incoming-handler".into())) };
    dispatch_with(engine.engine(), proxy, spec, req, alive).await
}

async fn dispatch_with<B>(
    engine: &wasmtime::Engine,
    proxy: &ProxyPre<ComponentState>,
    spec: &SandboxSpec,
    req: hyper::Request<B>,
    alive: watch::Receiver<()>,
) -> Result<hyper::Response<HyperOutgoingBody>, HandlerError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let mut store = component_store(engine, spec)?;
    let (tx, rx) = oneshot::channel();
    let request = store.data_mut().http().new_incoming_request(Scheme::Http, req).map_err(HandlerError::Request)?;
    let outparam = store.data_mut().http().new_response_outparam(tx).map_err(HandlerError::Request)?;
    let proxy = proxy.clone();
    // Its own task: after the response head is sent the guest keeps
    // writing the body, which hyper reads from the other end.
    let guest = tokio::spawn(until_dropped(alive, async move {
        let instance = proxy.instantiate_async(&mut store).await.map_err(|e| format!("cannot instantiate the handler: {e:#}"))?;
        instance.wasi_http_incoming_handler().call_handle(&mut store, request, outparam).await.map_err(|e| format!("the handler trapped: {e:#}"))
    }));
    match rx.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => Err(HandlerError::Guest(code)),
        // The outparam was dropped unset: the guest ended (or was killed)
        // without answering; its task says how.
        Err(_) => Err(HandlerError::NoResponse(match guest.await {
            Ok(Some(Err(e))) => e,
            Ok(Some(Ok(()))) => "the handler returned without setting a response".into(),
            Ok(None) => "the container was stopped".into(),
            Err(e) => format!("the handler task failed: {e}"),
        })),
    }
}

/// Runs `work` until it ends or `alive`'s sender is dropped; `None` then.
async fn until_dropped<T>(mut alive: watch::Receiver<()>, work: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        r = work => Some(r),
        // Only ever resolves with an error: nothing is sent on `alive`.
        _ = alive.changed() => None,
    }
}

//! `httpGet` probes: success when the status is 200-399. The request goes
//! through the pod network like a kubelet's, or, when the port is served by
//! the container's own wasi:http handler, straight to the handler (a fresh
//! instance, no connection). Also the transport of `grpc` probes.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::{Outcome, ProbeContext, USER_AGENT, tcp};
use crate::net::SocketPolicy;
use crate::sandbox::Program;

pub(super) async fn check(
    ctx: &ProbeContext,
    scheme: &str,
    host: Option<&str>,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> Outcome {
    let shown_host = host.map(str::to_owned).unwrap_or_else(|| ctx.pod_ip().to_string());
    let url = format!("{}://{}{path}", scheme.to_ascii_lowercase(), join_host_port(&shown_host, port));
    if !scheme.eq_ignore_ascii_case("HTTP") {
        return Outcome::Failure(format!("Get \"{url}\": HTTPS probes are not supported: wasmpod links no TLS stack"));
    }
    let mut req = http::Request::get(path);
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    // The kubelet's defaults, each replaced by an httpHeaders entry of the
    // same name (a `Host` entry sets the request's host).
    if !has("host") {
        req = req.header(http::header::HOST, join_host_port(&shown_host, port));
    }
    if !has("user-agent") {
        req = req.header(http::header::USER_AGENT, USER_AGENT);
    }
    if !has("accept") {
        req = req.header(http::header::ACCEPT, "*/*");
    }
    for (name, value) in headers {
        req = req.header(name.as_str(), value.as_str());
    }
    let req = match req.body(Full::new(Bytes::new())) {
        Ok(r) => r,
        Err(e) => return Outcome::Failure(format!("Get \"{url}\": {e}")),
    };
    let exchange = async {
        let response = send(ctx, host, port, req, false).await?;
        Ok::<_, String>(response.status)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(status)) if (200..400).contains(&status.as_u16()) => Outcome::Success,
        Ok(Ok(status)) => Outcome::Failure(format!("HTTP probe failed with statuscode: {}", status.as_u16())),
        Ok(Err(e)) => Outcome::Failure(format!("Get \"{url}\": {e}")),
        Err(_) => Outcome::Failure(format!("Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)")),
    }
}

/// Go's `net.JoinHostPort`: IPv6 literals in brackets.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// A response with its body and trailers read.
pub(super) struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub trailers: Option<http::HeaderMap>,
}

/// Sends `req` (origin-form URI, `Host` header set) to `host:port`: to the
/// container's own wasi:http handler directly when it serves that port,
/// else over a pod-network connection (HTTP/1.1, or h2c for gRPC).
pub(super) async fn send(ctx: &ProbeContext, host: Option<&str>, port: u16, req: http::Request<Full<Bytes>>, h2: bool) -> Result<Answer, String> {
    let addr = tcp::target(ctx, host, port)?;
    if serves_directly(ctx, addr) {
        return direct(ctx, addr, req).await;
    }
    let io = TokioIo::new(tcp::connect(ctx, host, port, Duration::from_secs(3600)).await?);
    let response = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.map_err(|e| e.to_string())?;
        let conn = tokio::spawn(conn);
        let r = sender.send_request(req).await.map_err(|e| e.to_string());
        let r = match r {
            Ok(resp) => collect(resp).await,
            Err(e) => Err(e),
        };
        conn.abort();
        r?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
        let conn = tokio::spawn(conn);
        let resp = sender.send_request(req).await.map_err(|e| e.to_string());
        // An HTTP probe looks at the status only; the body is not read, as
        // the connection is closed right after.
        conn.abort();
        let resp = resp?;
        Answer { status: resp.status(), headers: resp.headers().clone(), body: Bytes::new(), trailers: None }
    };
    Ok(response)
}

/// Whether `addr` is a port the container itself serves as a wasi:http
/// handler: then the probe calls the handler without a connection.
fn serves_directly(ctx: &ProbeContext, addr: SocketAddr) -> bool {
    let Program::Component(c) = &*ctx.program else { return false };
    let SocketPolicy::Pod(net) = &ctx.spec.network else { return false };
    c.is_http_handler() && net.is_self(addr.ip()) && ctx.spec.http_ports.contains(&addr.port())
}

async fn direct(ctx: &ProbeContext, addr: SocketAddr, req: http::Request<Full<Bytes>>) -> Result<Answer, String> {
    let (mut parts, body) = req.into_parts();
    // wasi:http's incoming request carries an absolute URI.
    let authority = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned).unwrap_or_else(|| addr.to_string());
    let path = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    parts.uri = format!("http://{authority}{path}").parse().map_err(|e| format!("invalid probe URL: {e}"))?;
    let body = body.map_err(|never| -> wasmtime_wasi_http::Error { match never {} });
    // The handler's instance lives until this probe is done with it.
    let (_alive, alive_rx) = tokio::sync::watch::channel(());
    let resp =
        crate::sandbox::dispatch(&ctx.engine, &ctx.program, &ctx.spec, http::Request::from_parts(parts, body), alive_rx).await.map_err(|e| e.to_string())?;
    collect(resp).await
}

async fn collect<B>(resp: http::Response<B>) -> Result<Answer, String>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let (parts, body) = resp.into_parts();
    let collected = body.collect().await.map_err(|e| e.to_string())?;
    let trailers = collected.trailers().cloned();
    Ok(Answer { status: parts.status, headers: parts.headers, body: collected.to_bytes(), trailers })
}

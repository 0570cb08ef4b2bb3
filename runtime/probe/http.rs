//! `httpGet` probes (HTTP, or HTTPS without verifying the certificate, as
//! the kubelet's): success when the status is 200-299, success with a
//! `ProbeWarning` for a 3xx the probe did not follow (redirects are
//! followed to the same host name only, as the kubelet's client does). The
//! request goes
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
    let first = Target { scheme: scheme.to_ascii_lowercase(), authority: join_host_port(&shown_host, port), host: shown_host, port, path: path.to_owned() };
    let url = first.url();
    match tokio::time::timeout(timeout, exchange(ctx, host, first, headers)).await {
        Ok(Ok(answer)) => match answer.status.as_u16() {
            200..300 => Outcome::Success,
            // A redirect that was not followed (to another host, or not a
            // redirect Go's client follows): healthy, with a warning.
            300..400 => {
                let body = &answer.body[..answer.body.len().min(super::MAX_OUTPUT)];
                Outcome::Warning(format!("Probe terminated redirects, Response body: {}", String::from_utf8_lossy(body)))
            }
            status => Outcome::Failure(format!("HTTP probe failed with statuscode: {status}")),
        },
        Ok(Err((url, e))) => Outcome::Failure(format!("Get \"{url}\": {e}")),
        Err(_) => Outcome::Failure(format!("Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)")),
    }
}

/// The requests a kubelet's probe makes at most (Go's client stops at ten;
/// the kubelet's redirect checker keeps that).
const MAX_REQUESTS: usize = 10;

/// Sends the probe's request and follows redirects as the kubelet's
/// client does: to the same host name only (another host ends the chain
/// with the redirect as the answer), at most [`MAX_REQUESTS`] requests.
/// An error comes with the URL Go would name.
async fn exchange(ctx: &ProbeContext, host: Option<&str>, first: Target, headers: &[(String, String)]) -> Result<Answer, (String, String)> {
    let mut target = first.clone();
    let mut referer: Option<String> = None;
    // A custom Host header survives a redirect only to a relative location.
    let mut custom_host = true;
    for requests in 1.. {
        let req = request(&target, headers, custom_host, referer.as_deref()).map_err(|e| (target.url(), e))?;
        let answer = send(ctx, host, target.port, req, false, target.scheme == "https").await.map_err(|e| (target.url(), e))?;
        let location = answer.headers.get(http::header::LOCATION).and_then(|l| l.to_str().ok()).filter(|l| !l.is_empty());
        let (true, Some(location)) = (matches!(answer.status.as_u16(), 301 | 302 | 303 | 307 | 308), location) else { return Ok(answer) };
        let next = target.resolve(location).ok_or_else(|| (target.url(), format!("failed to parse Location header {location:?}")))?;
        if next.host != first.host {
            return Ok(answer);
        }
        if requests >= MAX_REQUESTS {
            return Err((location.to_owned(), "stopped after 10 redirects".to_owned()));
        }
        if next.scheme != "http" && next.scheme != "https" {
            return Err((next.url(), format!("unsupported protocol scheme {:?}", next.scheme)));
        }
        custom_host &= !location.contains("://") && !location.starts_with("//");
        referer = Some(target.url());
        target = next;
    }
    unreachable!("the loop returns")
}

/// One probe request to `target`: the kubelet's default headers, each
/// replaced by an httpHeaders entry of the same name (a `Host` entry sets
/// the request's host while `custom_host`).
fn request(target: &Target, headers: &[(String, String)], custom_host: bool, referer: Option<&str>) -> Result<http::Request<Full<Bytes>>, String> {
    let mut req = http::Request::get(target.path.as_str());
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !(custom_host && has("host")) {
        req = req.header(http::header::HOST, target.authority.as_str());
    }
    if !has("user-agent") {
        req = req.header(http::header::USER_AGENT, USER_AGENT);
    }
    if !has("accept") {
        req = req.header(http::header::ACCEPT, "*/*");
    }
    if let Some(r) = referer {
        req = req.header(http::header::REFERER, r);
    }
    for (name, value) in headers.iter().filter(|(n, _)| custom_host || !n.eq_ignore_ascii_case("host")) {
        req = req.header(name.as_str(), value.as_str());
    }
    req.body(Full::new(Bytes::new())).map_err(|e| e.to_string())
}

/// Where a probe request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// `http` or `https`, lower case.
    scheme: String,
    /// The host name (no brackets, no port).
    host: String,
    port: u16,
    /// `host:port` as the URL has it (the port only when given).
    authority: String,
    /// Path and query.
    path: String,
}

impl Target {
    fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.path)
    }

    /// `location` resolved against this URL, as Go's `URL.Parse` does for
    /// absolute, scheme-relative, absolute-path and relative references
    /// (the fragment dropped); `None` when it names no usable host or port.
    fn resolve(&self, location: &str) -> Option<Target> {
        let location = location.split('#').next().unwrap_or_default();
        let (scheme, rest) = match location.split_once("://") {
            Some((scheme, rest)) if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => {
                (scheme.to_ascii_lowercase(), Some(rest))
            }
            _ => (self.scheme.clone(), location.strip_prefix("//")),
        };
        let Some(rest) = rest else {
            let path = if location.starts_with('/') {
                location.to_owned()
            } else {
                let dir = &self.path[..self.path.split('?').next().unwrap_or_default().rfind('/').map_or(0, |i| i + 1)];
                format!("{}{location}", if dir.is_empty() { "/" } else { dir })
            };
            return Some(Target { path, ..self.clone() });
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match (h.starts_with('[') || !h.contains(':'), p.parse::<u16>()) {
                (true, Ok(p)) => (h, Some(p)),
                _ => (authority, None),
            },
            _ => (authority, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
        (!host.is_empty()).then(|| Target { scheme, host: host.to_owned(), port, authority: authority.to_owned(), path })
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
/// container's own wasi:http handler directly when it serves that port
/// (plain HTTP), else over a pod-network connection (HTTP/1.1, or h2c for
/// gRPC), in TLS for `tls` without verifying the certificate, as the
/// kubelet's probes do.
pub(super) async fn send(ctx: &ProbeContext, host: Option<&str>, port: u16, req: http::Request<Full<Bytes>>, h2: bool, tls: bool) -> Result<Answer, String> {
    let addr = tcp::target(ctx, host, port)?;
    if !tls && serves_directly(ctx, addr) {
        return direct(ctx, addr, req).await;
    }
    let conn = tcp::connect(ctx, host, port, Duration::from_secs(3600)).await?;
    let conn: Box<dyn tcp::Io> = if tls {
        let name = host.map(str::to_owned).unwrap_or_else(|| addr.ip().to_string());
        Box::new(crate::net::tls::connect(conn, &name, false).await.map_err(|e| format!("remote error: tls: {e}"))?)
    } else {
        conn
    };
    let io = TokioIo::new(conn);
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
        // An HTTP probe looks at the status; only a redirect's body is read
        // (up to the kubelet's limit), for its warning.
        let answer = match resp {
            Ok(resp) if resp.status().is_redirection() => {
                let (parts, mut body) = resp.into_parts();
                let mut read = Vec::new();
                while read.len() < super::MAX_OUTPUT {
                    match body.frame().await {
                        Some(Ok(frame)) => read.extend_from_slice(frame.data_ref().map(|d| &d[..]).unwrap_or_default()),
                        Some(Err(e)) => {
                            conn.abort();
                            return Err(e.to_string());
                        }
                        None => break,
                    }
                }
                read.truncate(super::MAX_OUTPUT);
                Ok(Answer { status: parts.status, headers: parts.headers, body: read.into(), trailers: None })
            }
            Ok(resp) => Ok(Answer { status: resp.status(), headers: resp.headers().clone(), body: Bytes::new(), trailers: None }),
            Err(e) => Err(e),
        };
        conn.abort();
        answer?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_request_url_as_gos_url_parse_does() {
        let here = Target { scheme: "http".into(), host: "10.88.0.5".into(), port: 8080, authority: "10.88.0.5:8080".into(), path: "/app/health?x=1".into() };
        let url = |l: &str| here.resolve(l).map(|t| (t.url(), t.host, t.port));
        assert_eq!(url("/ok"), Some(("http://10.88.0.5:8080/ok".into(), "10.88.0.5".into(), 8080)));
        assert_eq!(url("ready"), Some(("http://10.88.0.5:8080/app/ready".into(), "10.88.0.5".into(), 8080)));
        assert_eq!(url("http://10.88.0.5:9090/x#frag"), Some(("http://10.88.0.5:9090/x".into(), "10.88.0.5".into(), 9090)));
        assert_eq!(url("http://example.com"), Some(("http://example.com/".into(), "example.com".into(), 80)));
        assert_eq!(url("HTTPS://example.com?q"), Some(("https://example.com/?q".into(), "example.com".into(), 443)));
        assert_eq!(url("//other:81/p"), Some(("http://other:81/p".into(), "other".into(), 81)));
        assert_eq!(url("http://[fd00::1]:8080/"), Some(("http://[fd00::1]:8080/".into(), "fd00::1".into(), 8080)));
        assert_eq!(url("http:///nohost"), None);
    }
}

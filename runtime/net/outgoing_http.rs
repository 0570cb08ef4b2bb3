//! Outgoing wasi:http requests of a component, sent through the pod
//! network: the request's authority is resolved by the pod's resolver and
//! connected like any socket of the pod, so wasi:http reaches exactly what
//! wasi:sockets reaches (the pod network, and egress). `https` requests
//! are TLS (rustls) verified against the system's roots (`tls.rs`).
//!
//! Each request's connection takes a slot of the pod's open-file cap (see
//! `limits/handles.rs`) from before it connects until the response body is
//! consumed or dropped; past the cap the request fails with
//! `connection-limit-reached`.

use std::net::SocketAddr;

use http::uri::Scheme;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::SocketPolicy;
use crate::limits::{HandleAccount, Slot};

/// The hooks a component's wasi:http uses.
pub struct PodHttpHooks {
    policy: SocketPolicy,
    handles: std::sync::Arc<HandleAccount>,
}

impl PodHttpHooks {
    /// Requests go where `policy`'s sockets go, each connection counted
    /// in the pod's `handles`.
    pub fn new(policy: SocketPolicy, handles: std::sync::Arc<HandleAccount>) -> Self {
        Self { policy, handles }
    }
}

type SendResult = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), HttpError>> + Send>), HttpError>;

impl WasiHttpHooks for PodHttpHooks {
    fn is_supported_scheme(&mut self, scheme: &Scheme) -> bool {
        *scheme == Scheme::HTTP || *scheme == Scheme::HTTPS
    }

    fn default_scheme(&mut self) -> Option<Scheme> {
        Some(Scheme::HTTP)
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        // Request-body errors reach the guest through the request's own
        // future; nothing here needs to observe them.
        drop(fut);
        let policy = self.policy.clone();
        let slot = self.handles.reserve();
        Box::new(async move {
            let slot = slot.ok_or(HttpError::ConnectionLimitReached)?;
            send(policy, request, options, slot).await
        })
    }
}

async fn send(policy: SocketPolicy, mut request: http::Request<WasiBody>, options: Option<RequestOptions>, slot: Slot) -> SendResult {
    let tls = match request.uri().scheme() {
        Some(s) if *s == Scheme::HTTP => false,
        Some(s) if *s == Scheme::HTTPS => true,
        _ => return Err(HttpError::HttpProtocolError),
    };
    let authority = request.uri().authority().cloned().ok_or(HttpError::HttpRequestUriInvalid)?;
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let connect_timeout = options.as_ref().and_then(|o| o.connect_timeout).unwrap_or(std::time::Duration::from_secs(600));
    let connect = async {
        match &policy {
            SocketPolicy::Pod(net) => {
                let nxdomain = || HttpError::DnsError { rcode: Some("NXDOMAIN".into()), info_code: None };
                let ips = match super::names::resolve(net, authority.host()) {
                    Ok(ips) => ips,
                    Err(e) => {
                        let (name, range) = net.outside_lookup(authority.host(), &e).ok_or_else(nxdomain)?;
                        let found = super::egress::resolve_outside(name, range).await;
                        if found.is_empty() {
                            return Err(nxdomain());
                        }
                        found
                    }
                };
                let mut last = HttpError::DestinationNotFound;
                for ip in ips {
                    match net.connect_any(SocketAddr::new(ip, port)).await {
                        Ok((conn, binding)) => return Ok(Stream::Pod(conn.holding(binding))),
                        Err(super::NetError::ConnectionRefused) => last = HttpError::ConnectionRefused,
                        Err(super::NetError::Unreachable) => last = HttpError::DestinationUnavailable,
                        Err(super::NetError::TimedOut) => last = HttpError::ConnectionTimeout,
                        Err(_) => last = HttpError::ConnectionLimitReached,
                    }
                }
                Err(last)
            }
            SocketPolicy::Host => tokio::net::TcpStream::connect((authority.host(), port)).await.map(Stream::Host).map_err(HttpError::Connect),
            SocketPolicy::None => Err(HttpError::HttpRequestDenied),
        }
    };
    let stream = tokio::time::timeout(connect_timeout, connect).await.map_err(|_| HttpError::ConnectionTimeout)??;
    // Origin-form on the wire: the authority travels in the Host header.
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;
    // https: TLS verified against the system's roots, SNI the host name.
    let tls_error = |e: std::io::Error| {
        if super::tls::is_certificate_error(&e) { HttpError::TlsCertificateError } else { HttpError::TlsProtocolError }
    };
    let host = authority.host().to_owned();
    let response = match (stream, tls) {
        (Stream::Pod(conn), false) => exchange(TokioIo::new(conn), request, slot).await?,
        (Stream::Host(tcp), false) => exchange(TokioIo::new(tcp), request, slot).await?,
        (Stream::Pod(conn), true) => exchange(TokioIo::new(super::tls::connect(conn, &host, true).await.map_err(tls_error)?), request, slot).await?,
        (Stream::Host(tcp), true) => exchange(TokioIo::new(super::tls::connect(tcp, &host, true).await.map_err(tls_error)?), request, slot).await?,
    };
    Ok((response, Box::new(async { Ok(()) })))
}

enum Stream {
    Pod(super::Connection),
    Host(tokio::net::TcpStream),
}

async fn exchange<IO>(io: IO, request: http::Request<WasiBody>, slot: Slot) -> Result<http::Response<WasiBody>, HttpError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(HttpError::from)?;
    // The connection task ends when the response body is consumed or
    // dropped; the connection's slot is given back then.
    tokio::spawn(async move {
        let _ = conn.await;
        drop(slot);
    });
    let response = sender.send_request(request).await.map_err(HttpError::from)?;
    Ok(response.map(|body| body.map_err(HttpError::from).boxed_unsync()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn get() -> http::Request<WasiBody> {
        let body = http_body_util::Empty::<bytes::Bytes>::new().map_err(|never| match never {}).boxed_unsync();
        http::Request::get("http://127.0.0.1:80/").body(body).unwrap()
    }

    fn send(hooks: &mut PodHttpHooks) -> std::pin::Pin<Box<dyn Future<Output = SendResult> + Send>> {
        Box::into_pin(hooks.send_request(get(), None, Box::new(async { Ok(()) })))
    }

    #[tokio::test]
    async fn each_connection_holds_a_slot_of_the_pods_cap_until_its_response_is_done() {
        let cluster = crate::net::ClusterNetwork::new();
        let pod = cluster.attach("p", "default");
        let mut listener = pod.bind(80).unwrap().listen(8, false);
        let account = crate::limits::HandleAccount::new(1);
        let mut hooks = PodHttpHooks::new(SocketPolicy::Pod(pod.clone()), account.clone());
        // The server accepts the first request's connection and does not answer yet.
        let first = tokio::spawn(send(&mut hooks));
        let mut conn = listener.accept().await.unwrap();
        // At the cap of one: the second request fails at once.
        assert!(matches!(send(&mut hooks).await, Err(HttpError::ConnectionLimitReached)));
        conn.stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
        let (response, _) = first.await.unwrap().unwrap();
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "ok");
        // The body is done: the connection closes and its slot comes back.
        drop(conn);
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while account.reserve().is_none() {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the finished request's slot came back");
    }
}

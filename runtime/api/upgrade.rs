//! HTTP/1.1 upgrades: a route turns its connection into a raw byte stream
//! (exec and port-forward).

use std::future::Future;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::body::{Body, full, json_response};

/// A connection after an HTTP/1.1 Upgrade: a bidirectional byte stream
/// (`tokio::io::AsyncRead + AsyncWrite`), for exec and port-forward.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// Answers `req` with `101 Switching Protocols` to `protocol` and hands
/// the upgraded connection to `handler` on its own task. A request
/// without `Connection: Upgrade` gets 400. This is where exec and
/// port-forward plug in: their routes call it with a handler that speaks
/// the stream protocol.
pub(crate) fn upgrade<F, Fut>(req: Request<Incoming>, protocol: &str, handler: F) -> Response<Body>
where
    F: FnOnce(Upgraded) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let asks = req
        .headers()
        .get(hyper::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")));
    if !asks || !req.headers().contains_key(hyper::header::UPGRADE) {
        let status = super::Status::failure(400, "BadRequest", "Upgrade request required".into(), None);
        return json_response(StatusCode::BAD_REQUEST, &status);
    }
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            handler(TokioIo::new(upgraded)).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, protocol)
        .body(full(""))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The upgrade helper hands over a stream that carries bytes both
    /// ways: an echo route over an in-memory connection.
    #[tokio::test]
    async fn upgrade_hands_the_connection_to_the_handler() {
        let (client_io, server_io) = tokio::io::duplex(1024);
        let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
            Ok::<_, std::convert::Infallible>(upgrade(req, "echo", |mut io| async move {
                let mut buf = [0u8; 5];
                io.read_exact(&mut buf).await.unwrap();
                io.write_all(&buf).await.unwrap();
                io.flush().await.unwrap();
            }))
        });
        tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(server_io), service).with_upgrades());
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<bytes::Bytes>>(TokioIo::new(client_io)).await.unwrap();
        tokio::spawn(conn.with_upgrades());

        let plain = Request::post("/x").body(Empty::new()).unwrap();
        assert_eq!(sender.send_request(plain).await.unwrap().status(), StatusCode::BAD_REQUEST);

        let req = Request::post("/x").header("connection", "Upgrade").header("upgrade", "echo").body(Empty::new()).unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(resp.headers()["upgrade"], "echo");
        let mut io = TokioIo::new(hyper::upgrade::on(resp).await.unwrap());
        io.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        io.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");
    }
}

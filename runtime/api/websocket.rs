//! kubectl's exec and attach streams: a WebSocket with the channel
//! protocols of Kubernetes' remotecommand (`v5.channel.k8s.io`,
//! `v4.channel.k8s.io`), as kubectl 1.30+ speaks it to the API server. Every binary message
//! starts with its channel byte: 0 stdin (client to server), 1 stdout,
//! 2 stderr, 3 the error channel (one Status when the command ended:
//! Success, or `NonZeroExitCode` with the code as its cause), 4 terminal
//! resize (accepted and ignored: WASI has no terminal), and in v5 255, the
//! client's "close this channel" (`[255, 0]` ends stdin).

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::body::{Body, full, json_response};
use super::remotecommand::{Input, Output, STDIN, Session, Wanted};

/// The channel protocols served, best first.
const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const CLOSE: u8 = 255;

/// Whether `req` asks for a WebSocket.
pub(crate) fn is_websocket(req: &Request<Incoming>) -> bool {
    req.headers().get(hyper::header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The protocol to speak: the first of `ours` the client offers.
fn negotiate(req: &Request<Incoming>, ours: &[&'static str]) -> Option<&'static str> {
    let offered: Vec<String> = req
        .headers()
        .get_all(hyper::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .collect();
    ours.iter().copied().find(|p| offered.iter().any(|o| o == p))
}

/// Whether the client offers `protocol`.
pub(crate) fn offers(req: &Request<Incoming>, protocol: &'static str) -> bool {
    negotiate(req, &[protocol]).is_some()
}

/// The WebSocket of an upgraded connection.
pub(crate) type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Answers the WebSocket handshake with the first of `protocols` the
/// client offers and runs `serve` on the upgraded connection; a request
/// without one of them gets 400.
pub(crate) fn accept<F, Fut>(req: Request<Incoming>, protocols: &[&'static str], serve: F) -> Response<Body>
where
    F: FnOnce(Socket, &'static str) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let refuse = |message: String| {
        let status = super::Status::failure(400, "BadRequest", message, None);
        json_response(StatusCode::BAD_REQUEST, &status)
    };
    let Some(protocol) = negotiate(&req, protocols) else {
        return refuse(format!("unable to upgrade: none of the requested protocols is served ({})", protocols.join(", ")));
    };
    let Some(key) = req.headers().get(hyper::header::SEC_WEBSOCKET_KEY).map(|k| k.as_bytes().to_vec()) else {
        return refuse("unable to upgrade: missing Sec-WebSocket-Key".into());
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            serve(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await, protocol).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, "websocket")
        .header(hyper::header::SEC_WEBSOCKET_ACCEPT, accept)
        .header(hyper::header::SEC_WEBSOCKET_PROTOCOL, protocol)
        .body(full(Bytes::new()))
        .expect("a valid response")
}

/// Answers the WebSocket handshake and runs the exec or attach on the
/// upgraded connection; a request without a protocol of ours gets 400.
pub(crate) fn session(req: Request<Incoming>, session: Session, wanted: Wanted) -> Response<Body> {
    accept(req, &PROTOCOLS, move |ws, protocol| serve_session(ws, session, wanted, protocol == PROTOCOLS[0]))
}

/// Runs a remotecommand session (`remotecommand.rs`) on a WebSocket:
/// binary messages carry a channel byte, then data.
pub(crate) async fn serve_session<S>(ws: WebSocketStream<S>, session: Session, wanted: Wanted, v5: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    // One task writes, so messages of the channels never interleave; the
    // bounded queue slows a chatty command down to the client's pace.
    let (out, mut queue) = mpsc::channel::<Output>(16);
    let writer = tokio::spawn(async move {
        while let Some((channel, data)) = queue.recv().await {
            let mut m = Vec::with_capacity(data.len() + 1);
            m.push(channel);
            m.extend_from_slice(&data);
            if sink.send(Message::Binary(m.into())).await.is_err() {
                return;
            }
        }
        // A normal closure with its code: clients treat a close without a
        // status (1005) as an error.
        let normal = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        let _ = sink.send(Message::Close(Some(normal))).await;
        let _ = sink.close().await;
    });
    // The client's messages: stdin, its close (v5), resizes (accepted and
    // ignored); the stream's end (or a close frame) ends stdin too.
    let (input, from_client) = mpsc::channel(16);
    let reader = tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            let data = match m {
                Message::Binary(b) => b,
                Message::Text(t) => Bytes::copy_from_slice(t.as_bytes()),
                Message::Close(_) => break,
                _ => continue,
            };
            let sent = match data.first() {
                Some(&STDIN) => input.send(Input::Stdin(data.slice(1..))).await,
                Some(&CLOSE) if v5 && data.get(1) == Some(&STDIN) => input.send(Input::StdinEnd).await,
                _ => Ok(()),
            };
            if sent.is_err() {
                break;
            }
        }
        let _ = input.send(Input::StdinEnd).await;
    });
    super::remotecommand::run(session, wanted, from_client, out).await;
    reader.abort();
    let _ = reader.await;
    let _ = writer.await;
}

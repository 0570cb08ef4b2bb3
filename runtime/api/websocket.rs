//! kubectl's exec stream: a WebSocket with the channel protocols of
//! Kubernetes' remotecommand (`v5.channel.k8s.io`, `v4.channel.k8s.io`),
//! as kubectl 1.30+ speaks it to the API server. Every binary message
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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::body::{Body, full, json_response};
use crate::pod::PodAccess;
use crate::{Error, ExecOutcome, ExecRequest};

/// The channel protocols served, best first.
const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
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

/// What an exec asks for.
pub(crate) struct ExecParams {
    pub container: Option<String>,
    pub command: Vec<String>,
    pub stdin: bool,
    /// `-t`: the client's terminal is raw; `tty.rs` stands in for a PTY
    /// (echo, line editing, ONLCR), and stderr joins stdout, as with a PTY.
    pub tty: bool,
}

/// Answers the WebSocket handshake and runs the exec on the upgraded
/// connection; a request without a protocol of ours gets 400.
pub(crate) fn exec(req: Request<Incoming>, access: PodAccess, params: ExecParams) -> Response<Body> {
    accept(req, &PROTOCOLS, move |ws, protocol| serve_exec(ws, access, params, protocol == PROTOCOLS[0]))
}

/// The Status the error channel carries at the end.
fn end_status(end: Result<i32, Error>) -> serde_json::Value {
    match end {
        Ok(0) => serde_json::json!({"metadata": {}, "status": "Success"}),
        Ok(code) => serde_json::json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Err(e) => serde_json::to_value(super::Status::of(&e)).expect("a Status serializes"),
    }
}

async fn serve_exec<S>(ws: WebSocketStream<S>, access: PodAccess, params: ExecParams, v5: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    // One task writes, so messages of the channels never interleave; the
    // bounded queue slows a chatty command down to the client's pace.
    let (frames, mut queue) = mpsc::channel::<Message>(16);
    let writer = tokio::spawn(async move {
        while let Some(m) = queue.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        // A normal closure with its code: clients treat a close without a
        // status (1005) as an error.
        let normal = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        let _ = sink.send(Message::Close(Some(normal))).await;
        let _ = sink.close().await;
    });
    let tty = params.tty;
    let pump = |mut from: tokio::io::DuplexStream, channel: u8, frames: mpsc::Sender<Message>| {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            while let Ok(n) = from.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut m = Vec::with_capacity(n + 1);
                // With a terminal there is one stream, and newlines end lines.
                m.push(if tty { STDOUT } else { channel });
                if tty {
                    m.extend_from_slice(&super::tty::onlcr(&buf[..n]));
                } else {
                    m.extend_from_slice(&buf[..n]);
                }
                if frames.send(Message::Binary(m.into())).await.is_err() {
                    break;
                }
            }
        })
    };
    let (stdout, stdout_pipe) = tokio::io::duplex(64 * 1024);
    let (stderr, stderr_pipe) = tokio::io::duplex(64 * 1024);
    let pumps = [pump(stdout_pipe, STDOUT, frames.clone()), pump(stderr_pipe, STDERR, frames.clone())];
    let (mut to_guest, from_client) = tokio::io::duplex(64 * 1024);
    let want_stdin = params.stdin;
    let echo = frames.clone();
    // The client's messages: stdin, its close (v5), resizes; the stream's
    // end (or a close frame) ends stdin too.
    let reader = tokio::spawn(async move {
        let mut open = want_stdin;
        let mut discipline = super::tty::LineDiscipline::default();
        while let Some(Ok(m)) = stream.next().await {
            let data = match m {
                Message::Binary(b) => b,
                Message::Text(t) => Bytes::copy_from_slice(t.as_bytes()),
                Message::Close(_) => break,
                _ => continue,
            };
            match data.first() {
                Some(&STDIN) if open && tty => {
                    let typed = discipline.typed(&data[1..]);
                    if !typed.echo.is_empty() {
                        let _ = echo.send(Message::Binary([&[STDOUT][..], &typed.echo].concat().into())).await;
                    }
                    if to_guest.write_all(&typed.input).await.is_err() {
                        open = false;
                    }
                    if typed.end {
                        open = false;
                        let _ = to_guest.shutdown().await;
                    }
                }
                Some(&STDIN) if open && to_guest.write_all(&data[1..]).await.is_err() => open = false,
                Some(&CLOSE) if v5 && data.get(1) == Some(&STDIN) => {
                    open = false;
                    let _ = to_guest.shutdown().await;
                }
                Some(&RESIZE) => {}
                _ => {}
            }
        }
        let _ = to_guest.shutdown().await;
    });
    let request = ExecRequest {
        container: params.container,
        command: params.command,
        stdin: want_stdin.then(|| Box::new(from_client) as Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>),
        stdout: Box::new(stdout),
        stderr: Box::new(stderr),
    };
    let end = access.exec(request).await.map(|ExecOutcome { exit_code, .. }| exit_code).map_err(Error::from);
    for p in pumps {
        let _ = p.await;
    }
    let mut status = vec![ERROR];
    status.extend_from_slice(&serde_json::to_vec(&end_status(end)).expect("JSON serializes"));
    let _ = frames.send(Message::Binary(status.into())).await;
    // The reader holds a sender (its echo): it goes first, or the writer
    // would wait for it.
    reader.abort();
    let _ = reader.await;
    drop(frames);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_channel_says_how_the_command_ended() {
        assert_eq!(end_status(Ok(0))["status"], "Success");
        let failed = end_status(Ok(3));
        assert_eq!((failed["reason"].as_str(), failed["details"]["causes"][0]["message"].as_str()), (Some("NonZeroExitCode"), Some("3")));
        let refused = end_status(Err(Error::BadRequest("container \"x\" not found".into())));
        assert_eq!((refused["status"].as_str(), refused["code"].as_i64()), (Some("Failure"), Some(400)));
    }
}

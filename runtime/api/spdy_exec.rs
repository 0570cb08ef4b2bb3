//! exec and attach over SPDY/3.1 (`spdy.rs`), as kubectl before 1.30
//! speaks them (and later ones with `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`),
//! and as the API server relays them to a kubelet.
//!
//! The client offers channel protocol versions in
//! `X-Stream-Protocol-Version`; the answer names the one chosen. It then
//! opens one stream per standard stream, each with a `streamType` header
//! (`error`, `stdin`, `stdout`, `stderr`, `resize`). The session starts
//! once the streams the request asked for are open; stdin's FIN ends the
//! input; at the end the error stream carries a Status (v4 and v5: JSON;
//! earlier: the failure's text) and every stream is closed.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;

use super::body::Body;
use super::remotecommand::{ERROR, Input, Output, STDERR, STDOUT, Session, Wanted};
use super::spdy::{Decoder, Frame};
use crate::Error;

/// The channel protocols served over SPDY, best first; v5 adds nothing
/// here (stdin's end is its stream's FIN).
const PROTOCOLS: [&str; 4] = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io"];

/// Whether `req` asks for a SPDY/3.1 upgrade.
pub(crate) fn is_spdy(req: &Request<Incoming>) -> bool {
    req.headers().get(hyper::header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("SPDY/3.1"))
}

/// Answers the upgrade with the best protocol the client offers and runs
/// `session` on the connection.
pub(crate) fn session(req: Request<Incoming>, session: Session, wanted: Wanted) -> Result<Response<Body>, Error> {
    let offered: Vec<String> = req
        .headers()
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .collect();
    let Some(protocol) = PROTOCOLS.iter().copied().find(|p| offered.iter().any(|o| o == p)) else {
        return Err(Error::BadRequest(format!(
            "unable to upgrade: none of the requested protocols ({}) is supported: {}",
            offered.join(", "),
            PROTOCOLS.join(", ")
        )));
    };
    let json = matches!(protocol, "v5.channel.k8s.io" | "v4.channel.k8s.io");
    let mut resp = super::upgrade::upgrade(req, "SPDY/3.1", move |io| serve(io, session, wanted, json));
    resp.headers_mut().insert("x-stream-protocol-version", hyper::header::HeaderValue::from_static(protocol));
    Ok(resp)
}

/// The streams a session waits for before it starts.
fn expected(wanted: Wanted) -> Vec<&'static str> {
    let mut kinds = vec!["error", "stdout"];
    if wanted.stdin {
        kinds.push("stdin");
    }
    if wanted.stderr && !wanted.tty {
        kinds.push("stderr");
    }
    kinds
}

/// What the error stream says at the end: v4/v5 the Status as JSON,
/// earlier versions the failure's message (nothing for success).
fn error_payload(status: &[u8], json: bool) -> Bytes {
    if json {
        return Bytes::copy_from_slice(status);
    }
    let v: serde_json::Value = serde_json::from_slice(status).unwrap_or_default();
    match v["status"].as_str() {
        Some("Success") | None => Bytes::new(),
        Some(_) => Bytes::from(v["message"].as_str().unwrap_or_default().to_owned()),
    }
}

/// Serves one SPDY connection: collects the streams, runs the session,
/// and closes every stream when it ended.
async fn serve<S>(io: S, session: Session, wanted: Wanted, json: bool)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, writer) = tokio::io::split(io);
    let (frames, write) = super::spdy::spawn_writer(writer);
    let mut dec = Decoder::default();
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut streams: HashMap<&'static str, u32> = HashMap::new();
    let mut pending = Some(session);
    let (input, from_client) = mpsc::channel::<Input>(16);
    let mut from_client = Some(from_client);
    let (out, mut output) = mpsc::channel::<Output>(16);
    let mut out = Some(out);
    let mut stdin_open = true;
    let mut running: Option<tokio::task::JoinHandle<()>> = None;
    let mut ended = false;
    loop {
        // Frames already read.
        loop {
            let frame = match dec.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => {
                    ended = true;
                    break;
                }
            };
            match frame {
                Frame::SynStream { stream, headers, .. } => {
                    let _ = frames.send(Frame::SynReply { stream, fin: false, headers: Vec::new() }).await;
                    let kind = headers.iter().find(|(n, _)| n == "streamtype").map(|(_, v)| v.as_str()).unwrap_or_default();
                    if let Some(k) = ["error", "stdin", "stdout", "stderr", "resize"].into_iter().find(|k| *k == kind) {
                        streams.insert(k, stream);
                    }
                }
                Frame::Data { stream, fin, data } if Some(&stream) == streams.get("stdin") && stdin_open => {
                    if !data.is_empty() {
                        let _ = input.send(Input::Stdin(data)).await;
                    }
                    if fin {
                        stdin_open = false;
                        let _ = input.send(Input::StdinEnd).await;
                    }
                }
                Frame::RstStream { stream, .. } if Some(&stream) == streams.get("stdin") && stdin_open => {
                    stdin_open = false;
                    let _ = input.send(Input::StdinEnd).await;
                }
                Frame::Ping { id } => {
                    let _ = frames.send(Frame::Ping { id }).await;
                }
                Frame::GoAway { .. } => ended = true,
                _ => {}
            }
        }
        if ended {
            break;
        }
        // Every stream asked for is open: the session starts.
        if pending.is_some() && expected(wanted).iter().all(|k| streams.contains_key(k)) {
            let (session, rx, tx) = (pending.take().expect("checked"), from_client.take().expect("once"), out.take().expect("once"));
            running = Some(tokio::spawn(super::remotecommand::run(session, wanted, rx, tx)));
        }
        tokio::select! {
            read = reader.read_buf(&mut buf) => {
                if !matches!(read, Ok(n) if n > 0) {
                    break;
                }
            }
            chunk = output.recv() => {
                let Some((channel, data)) = chunk else { break };
                let (kind, data) = match channel {
                    ERROR => ("error", error_payload(&data, json)),
                    STDERR => ("stderr", data),
                    STDOUT => ("stdout", data),
                    _ => continue,
                };
                if let Some(&stream) = streams.get(kind)
                    && !data.is_empty()
                {
                    let _ = frames.send(Frame::Data { stream, fin: false, data }).await;
                }
                if channel == ERROR {
                    break;
                }
            }
        }
    }
    // The client left, or the session ended: every stream is closed, the
    // error stream last (the client returns when it ends).
    if let Some(r) = running {
        r.abort();
    }
    for kind in ["stdout", "stderr", "resize", "stdin", "error"] {
        if let Some(&stream) = streams.get(kind) {
            let _ = frames.send(Frame::Data { stream, fin: true, data: Bytes::new() }).await;
        }
    }
    drop(frames);
    let _ = write.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_stream_speaks_the_negotiated_version() {
        let failed = br#"{"status":"Failure","message":"command terminated with non-zero exit code: exit status 3"}"#;
        assert_eq!(error_payload(failed, true), Bytes::from_static(failed));
        assert_eq!(&error_payload(failed, false)[..], b"command terminated with non-zero exit code: exit status 3");
        assert!(error_payload(br#"{"status":"Success"}"#, false).is_empty());
    }

    #[test]
    fn a_session_waits_for_the_streams_it_asked_for() {
        let w = |stdin, tty, stderr| Wanted { stdin, tty, stderr };
        assert_eq!(expected(w(true, false, true)), ["error", "stdout", "stdin", "stderr"]);
        assert_eq!(expected(w(true, true, false)), ["error", "stdout", "stdin"], "a terminal joins stderr to stdout");
    }
}

//! kubectl's port-forward: the `portforward.k8s.io` protocol over SPDY/3.1
//! (`spdy.rs`), on a connection upgraded to `SPDY/3.1`, or tunnelled in a
//! WebSocket (`SPDY/3.1+portforward.k8s.io`, each binary message a run of
//! the SPDY connection's bytes), which kubectl 1.31+ tries first.
//!
//! For every local connection the client opens two streams with the same
//! `requestid` and `port` headers: `streamtype: error` (the server writes
//! why the port could not be reached, then closes it) and `streamtype:
//! data` (the connection's bytes, both ways). Each data stream gets its own
//! connection into the pod's network, as the kubelet dials the pod's port.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::spdy::{Decoder, Frame, PROTOCOL_ERROR};

/// The WebSocket subprotocol of the tunnelled form.
pub(crate) const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The `X-Stream-Protocol-Version` of the SPDY form.
pub(crate) const STREAM_PROTOCOL: &str = "portforward.k8s.io";

/// Dials a port of the pod: a connection, or why not.
pub(crate) type Dial = Box<dyn Fn(u16) -> Result<crate::Connection, String> + Send + Sync>;

/// Serves one SPDY connection until the client goes.
pub(crate) async fn serve<S>(io: S, dial: Dial)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, writer) = tokio::io::split(io);
    let (out, write) = super::spdy::spawn_writer(writer);
    let mut dec = Decoder::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // Data streams' inbound halves, and each request's error stream.
    let mut streams: HashMap<u32, mpsc::Sender<Option<Bytes>>> = HashMap::new();
    let mut errors: HashMap<String, u32> = HashMap::new();
    let mut pumps = tokio::task::JoinSet::new();
    'conn: loop {
        loop {
            let frame = match dec.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => break 'conn,
            };
            match frame {
                Frame::SynStream { stream, headers, .. } => {
                    if out.send(Frame::SynReply { stream, fin: false, headers: Vec::new() }).await.is_err() {
                        break 'conn;
                    }
                    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
                    let (kind, port, request) = (header("streamtype"), header("port"), header("requestid"));
                    match kind.as_str() {
                        "error" => {
                            errors.insert(request, stream);
                        }
                        "data" => {
                            let fail = |why: String| {
                                let errs = errors.get(&request).copied();
                                let out = out.clone();
                                async move {
                                    if let Some(e) = errs {
                                        let _ = out.send(Frame::Data { stream: e, fin: false, data: Bytes::from(why) }).await;
                                        let _ = out.send(Frame::Data { stream: e, fin: true, data: Bytes::new() }).await;
                                    }
                                    let _ = out.send(Frame::Data { stream, fin: true, data: Bytes::new() }).await;
                                }
                            };
                            let Some(p) = port.parse::<u16>().ok().filter(|p| *p > 0) else {
                                fail(format!("invalid port {port:?}")).await;
                                continue;
                            };
                            match dial(p) {
                                Err(why) => fail(why).await,
                                Ok(conn) => {
                                    let (tx, rx) = mpsc::channel(16);
                                    streams.insert(stream, tx);
                                    let err_stream = errors.get(&request).copied();
                                    pumps.spawn(pump(conn, stream, err_stream, rx, out.clone()));
                                }
                            }
                        }
                        _ => {
                            let _ = out.send(Frame::RstStream { stream, status: PROTOCOL_ERROR }).await;
                        }
                    }
                }
                Frame::Data { stream, fin, data } => {
                    if let Some(tx) = streams.get(&stream) {
                        if !data.is_empty() && tx.send(Some(data)).await.is_err() {
                            streams.remove(&stream);
                        } else if fin {
                            let _ = tx.send(None).await;
                            streams.remove(&stream);
                        }
                    }
                }
                Frame::RstStream { stream, .. } => {
                    streams.remove(&stream);
                }
                Frame::Ping { id } => {
                    if out.send(Frame::Ping { id }).await.is_err() {
                        break 'conn;
                    }
                }
                Frame::GoAway { .. } => break 'conn,
                Frame::SynReply { .. } | Frame::Settings | Frame::Headers { .. } | Frame::WindowUpdate { .. } => {}
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    // The client went: every forwarded connection ends with it.
    drop(streams);
    pumps.abort_all();
    drop(out);
    let _ = write.await;
}

/// Carries one data stream's bytes to and from its connection, then
/// closes the stream (and its error stream) with FIN.
async fn pump(conn: crate::Connection, stream: u32, err_stream: Option<u32>, mut inbound: mpsc::Receiver<Option<Bytes>>, out: mpsc::Sender<Frame>) {
    let (mut from_pod, mut to_pod) = tokio::io::split(conn);
    let upstream = async move {
        while let Some(Some(data)) = inbound.recv().await {
            if to_pod.write_all(&data).await.is_err() {
                return;
            }
        }
        let _ = to_pod.shutdown().await;
    };
    let out_down = out.clone();
    let downstream = async move {
        let mut chunk = vec![0u8; 32 * 1024];
        loop {
            match from_pod.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out_down.send(Frame::Data { stream, fin: false, data: Bytes::copy_from_slice(&chunk[..n]) }).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = out_down.send(Frame::Data { stream, fin: true, data: Bytes::new() }).await;
    };
    tokio::join!(upstream, downstream);
    if let Some(e) = err_stream {
        let _ = out.send(Frame::Data { stream: e, fin: true, data: Bytes::new() }).await;
    }
}

/// The WebSocket channel protocol of port-forward (the kubelet's older
/// form, which the Python client speaks): for the i-th port of `ports=`,
/// channel 2i carries its bytes and 2i+1 its errors; each channel's first
/// message from the server is the port number (two bytes, little-endian).
pub(crate) const CHANNEL_PROTOCOL: &str = "v4.channel.k8s.io";

/// Serves the channel protocol for `ports`: one connection into the pod
/// per port, for as long as the WebSocket lasts.
pub(crate) async fn serve_channels<S>(ws: tokio_tungstenite::WebSocketStream<S>, ports: Vec<u16>, dial: Dial)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut source) = ws.split();
    let (out, mut queue) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = queue.recv().await {
            if sink.send(Message::Binary(m.into())).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let mut to_pod = Vec::new();
    let mut pumps = tokio::task::JoinSet::new();
    for (i, port) in ports.iter().enumerate() {
        let (data, error) = ((2 * i) as u8, (2 * i + 1) as u8);
        let announce = |channel: u8| [&[channel][..], &port.to_le_bytes()].concat();
        if out.send(announce(data)).await.is_err() || out.send(announce(error)).await.is_err() {
            break;
        }
        match dial(*port) {
            Err(why) => {
                let _ = out.send([&[error][..], why.as_bytes()].concat()).await;
                to_pod.push(None);
            }
            Ok(conn) => {
                let (mut from, to) = tokio::io::split(conn);
                to_pod.push(Some(to));
                let out = out.clone();
                pumps.spawn(async move {
                    let mut chunk = vec![0u8; 32 * 1024];
                    loop {
                        match from.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if out.send([&[data][..], &chunk[..n]].concat()).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                });
            }
        }
    }
    // The client's messages: a channel byte, then bytes for that port;
    // the session ends when every port's connection has ended (the
    // protocol cannot close one channel), or the client goes.
    loop {
        let msg = tokio::select! {
            m = source.next() => m,
            done = pumps.join_next() => match done {
                Some(_) => continue,
                None => break,
            },
        };
        let b = match msg {
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => continue,
        };
        let Some((&channel, rest)) = b.split_first() else { continue };
        if channel % 2 == 0
            && let Some(Some(w)) = to_pod.get_mut(usize::from(channel / 2))
            && w.write_all(rest).await.is_err()
        {
            to_pod[usize::from(channel / 2)] = None;
        }
    }
    for w in to_pod.iter_mut().flatten() {
        let _ = w.shutdown().await;
    }
    pumps.abort_all();
    drop(out);
    let _ = writer.await;
}

/// The byte stream inside a tunnelling WebSocket: each binary message in
/// is written to the returned stream's reader side, what is written to
/// it goes out as binary messages.
pub(crate) fn untunnel<S>(ws: tokio_tungstenite::WebSocketStream<S>) -> tokio::io::DuplexStream
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let (mut read_half, mut write_half) = tokio::io::split(theirs);
    let (mut sink, mut source) = ws.split();
    tokio::spawn(async move {
        let inbound = async {
            while let Some(Ok(msg)) = source.next().await {
                match msg {
                    Message::Binary(b) if write_half.write_all(&b).await.is_err() => break,
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            let _ = write_half.shutdown().await;
        };
        let outbound = async {
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match read_half.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if sink.send(Message::Binary(Bytes::copy_from_slice(&chunk[..n]))).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = sink.close().await;
        };
        // Either side ending ends the tunnel.
        tokio::select! {
            _ = inbound => {}
            _ = outbound => {}
        }
    });
    ours
}

#[cfg(test)]
mod tests {
    use super::super::spdy::Encoder;
    use super::*;

    fn syn(stream: u32, kind: &str, port: &str) -> Frame {
        let h = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        Frame::SynStream { stream, associated: 0, priority: 0, fin: false, headers: vec![h("streamtype", kind), h("port", port), h("requestid", "0")] }
    }

    /// A client's side of the protocol against a pod port served by the
    /// pod network: the bytes go through, an unknown port is reported
    /// on the error stream, pings are answered.
    #[tokio::test]
    async fn data_streams_reach_the_pods_port_and_errors_are_reported() {
        let cluster = crate::net::ClusterNetwork::new();
        let pod = cluster.attach("p", "default");
        let mut listener = pod.bind(8080).unwrap().listen(8, false);
        tokio::spawn(async move {
            let mut c = listener.accept().await.unwrap().stream;
            let mut b = [0u8; 5];
            c.read_exact(&mut b).await.unwrap();
            c.write_all(&[&b"echo "[..], &b].concat()).await.unwrap();
            c.shutdown().await.unwrap();
        });
        let target = pod.clone();
        let dial: Dial = Box::new(move |port| crate::net::connect_loopback(&target, port).map_err(|e| format!("error forwarding port {port}: {e}")));
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(serve(server, dial));
        let (mut rd, mut wr) = tokio::io::split(client);
        let (mut enc, mut dec) = (Encoder::default(), Decoder::default());
        let mut send = BytesMut::new();
        for f in [
            syn(1, "error", "8080"),
            syn(3, "data", "8080"),
            Frame::Data { stream: 3, fin: true, data: Bytes::from_static(b"hello") },
            Frame::Ping { id: 9 },
            syn(5, "error", "81"),
            syn(7, "data", "81"),
        ] {
            enc.encode(&f, &mut send);
        }
        wr.write_all(&send).await.unwrap();
        let mut got = Vec::new();
        let mut buf = BytesMut::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let want_done = |got: &Vec<Frame>| {
            got.iter().any(|f| matches!(f, Frame::Data { stream: 3, fin: true, .. }))
                && got.iter().any(|f| matches!(f, Frame::Data { stream: 7, fin: true, .. }))
        };
        while !want_done(&got) {
            tokio::time::timeout_at(deadline, rd.read_buf(&mut buf)).await.expect("the server answered in time").unwrap();
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        let replies: Vec<u32> = got.iter().filter_map(|f| if let Frame::SynReply { stream, .. } = f { Some(*stream) } else { None }).collect();
        assert_eq!(replies, [1, 3, 5, 7]);
        let data: Vec<u8> = got.iter().filter_map(|f| if let Frame::Data { stream: 3, data, .. } = f { Some(data.to_vec()) } else { None }).flatten().collect();
        assert_eq!(data, b"echo hello");
        assert!(got.contains(&Frame::Ping { id: 9 }));
        // Port 81: nothing listens; said on the error stream of request 0
        // (the last error stream opened for it), then both close.
        let said: Vec<u8> = got.iter().filter_map(|f| if let Frame::Data { stream: 5, data, .. } = f { Some(data.to_vec()) } else { None }).flatten().collect();
        assert!(String::from_utf8_lossy(&said).starts_with("error forwarding port 81"), "{}", String::from_utf8_lossy(&said));
        assert!(got.iter().any(|f| matches!(f, Frame::Data { stream: 5, fin: true, .. })));
    }
}

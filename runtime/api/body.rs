//! Response bodies: whole, or streamed from a channel (watch, log follow).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use tokio::sync::mpsc;

/// Every response body of the server.
pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// A body fed chunk by chunk; it ends when the sender is dropped, and
/// the sender sees a closed channel when the client went away.
pub(crate) fn channel() -> (mpsc::Sender<Bytes>, Body) {
    // A few chunks of slack; a slow client then holds the producer back.
    let (tx, rx) = mpsc::channel(16);
    (tx, ChannelBody(rx).boxed())
}

struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// `value` as a JSON response with `code`.
pub(crate) fn json_response(code: hyper::StatusCode, value: &impl serde::Serialize) -> hyper::Response<Body> {
    let mut bytes = serde_json::to_vec(value).expect("API objects serialize");
    bytes.push(b'\n');
    hyper::Response::builder().status(code).header(hyper::header::CONTENT_TYPE, "application/json").body(full(bytes)).expect("a valid response")
}

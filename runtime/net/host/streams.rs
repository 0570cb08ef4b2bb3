//! A pod-network connection's pipes as the wasi:io streams a socket hands
//! out.

use std::sync::Arc;

use bytes::Bytes;
use wasmtime_wasi::p2::{InputStream, OutputStream, Pollable, StreamError, StreamResult};

use crate::net::{PipeReader, PipeWriter, ReadOutcome};

/// The guest's reading half of a connection.
pub(super) struct SocketInput(pub Arc<PipeReader>);

#[async_trait::async_trait]
impl Pollable for SocketInput {
    async fn ready(&mut self) {
        self.0.ready().await
    }
}

impl InputStream for SocketInput {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        match self.0.try_read(size) {
            ReadOutcome::Data(b) => Ok(b),
            ReadOutcome::Empty => Ok(Bytes::new()),
            ReadOutcome::Closed => Err(StreamError::Closed),
        }
    }
}

/// The guest's writing half of a connection.
pub(super) struct SocketOutput(pub Arc<PipeWriter>);

#[async_trait::async_trait]
impl Pollable for SocketOutput {
    async fn ready(&mut self) {
        self.0.ready().await
    }
}

fn stream_error(e: std::io::Error) -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::from(e))
}

impl OutputStream for SocketOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let room = self.0.capacity().map_err(stream_error)?;
        if bytes.len() > room {
            return Err(StreamError::trap("write beyond the permit given by check-write"));
        }
        self.0.write(bytes).map_err(stream_error)
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Written bytes are already visible to the peer.
        self.0.capacity().map(|_| ()).map_err(stream_error)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.0.capacity().map_err(stream_error)
    }
}

//! The streaming subresources: `exec` and `portforward`.
//!
//! Both are HTTP/1.1 upgrades on the control API's connection (the API
//! server uses SPDY or WebSockets for these; an upgrade to a small framed
//! protocol carries the same channels with no extra dependency).
//!
//! `exec` (`Upgrade: wasmpod-exec.v1`) frames every message as one byte of
//! channel, a 4-byte big-endian length, then the payload:
//! - client -> server: channel 0, stdin bytes; an empty frame ends stdin;
//! - server -> client: channel 1 stdout, 2 stderr, then exactly one frame
//!   on channel 3: `{"exitCode": N}` or a `Status` when the command could
//!   not run. The server closes after it.
//!
//! `portforward` (`Upgrade: wasmpod-portforward.v1`, `?ports=80`) carries
//! one forwarded connection's bytes as they are: the server connects into
//! the pod before upgrading, so a refused connection is an ordinary error
//! response, and the client opens one upgrade per local connection.

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::error::Status;
use crate::Error;
use crate::pod::PodAccess;
use crate::{ExecOutcome, ExecRequest};

/// The exec protocol's upgrade token.
pub const EXEC_PROTOCOL: &str = "wasmpod-exec.v1";
/// The port-forward protocol's upgrade token.
pub const PORT_FORWARD_PROTOCOL: &str = "wasmpod-portforward.v1";

/// Stream channels of the exec protocol.
pub mod channel {
    /// Client to server: the command's stdin.
    pub const STDIN: u8 = 0;
    /// Server to client: the command's stdout.
    pub const STDOUT: u8 = 1;
    /// Server to client: the command's stderr.
    pub const STDERR: u8 = 2;
    /// Server to client: how the command ended, as JSON.
    pub const EXIT: u8 = 3;
}

/// The last frame of an exec stream.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum ExecEnd {
    /// The command ran and exited.
    Exited {
        /// Its exit code.
        #[serde(rename = "exitCode")]
        exit_code: i32,
    },
    /// The command could not run.
    Refused(Box<Status>),
}

/// Largest frame accepted; larger writes are split.
const MAX_FRAME: usize = 1 << 20;

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, channel: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut header = [0u8; 5];
    header[0] = channel;
    header[1..].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    w.write_all(&header).await?;
    w.write_all(payload).await?;
    w.flush().await
}

/// Reads one frame; `None` at a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(header[1..].try_into().expect("4 bytes")) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("frame of {len} bytes exceeds {MAX_FRAME}")));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some((header[0], payload)))
}

/// Copies what the command writes to one of its output pipes into frames
/// on `channel`; ends when the command's end of the pipe is dropped.
fn pump_output(mut from: tokio::io::DuplexStream, channel: u8, frames: mpsc::Sender<(u8, Bytes)>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0 || frames.send((channel, Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                break;
            }
        }
    })
}

/// Serves one exec stream: runs `command` in `container` of the pod with
/// the stream as its stdio, then sends how it ended.
pub(crate) async fn serve_exec<S>(stream: S, access: PodAccess, container: Option<String>, command: Vec<String>, stdin: bool)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    // One writer task owns the stream, so stdout and stderr frames never
    // interleave mid-frame; the bounded queue makes a slow client slow the
    // command down instead of buffering without limit.
    let (frames, mut queue) = mpsc::channel::<(u8, Bytes)>(16);
    let (stdout, stdout_pipe) = tokio::io::duplex(64 * 1024);
    let (stderr, stderr_pipe) = tokio::io::duplex(64 * 1024);
    let pumps = [pump_output(stdout_pipe, channel::STDOUT, frames.clone()), pump_output(stderr_pipe, channel::STDERR, frames)];
    let writer_task = tokio::spawn(async move {
        while let Some((ch, data)) = queue.recv().await {
            if write_frame(&mut writer, ch, &data).await.is_err() {
                return None;
            }
        }
        Some(writer)
    });
    // stdin: frames on channel 0 until an empty one (or the client leaves).
    let stdin = if stdin {
        let (mut to_guest, from_client) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            while let Ok(Some((ch, data))) = read_frame(&mut reader).await {
                if ch != channel::STDIN {
                    continue;
                }
                if data.is_empty() || to_guest.write_all(&data).await.is_err() {
                    break;
                }
            }
            let _ = to_guest.shutdown().await;
        });
        Some(Box::new(from_client) as Box<dyn AsyncRead + Send + Sync + Unpin>)
    } else {
        None
    };
    let request = ExecRequest { container, command, stdin, stdout: Box::new(stdout), stderr: Box::new(stderr) };
    let end = match access.exec(request).await {
        Ok(ExecOutcome { exit_code, .. }) => ExecEnd::Exited { exit_code },
        Err(e) => ExecEnd::Refused(Box::new(Status::of(&Error::from(e)))),
    };
    // The request (and the command's ends of its pipes) is gone: the pumps
    // drain the pipes, then the writer task what is queued.
    for p in pumps {
        let _ = p.await;
    }
    let Ok(Some(mut writer)) = writer_task.await else { return };
    let json = serde_json::to_vec(&end).expect("ExecEnd serializes");
    let _ = write_frame(&mut writer, channel::EXIT, &json).await;
    let _ = writer.shutdown().await;
}

/// Splices one forwarded connection.
pub(crate) async fn serve_port_forward<S>(mut stream: S, mut conn: crate::Connection)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _ = tokio::io::copy_bidirectional(&mut stream, &mut conn).await;
}

/// Client side of exec: pumps `stdin` (if any) into the stream and the
/// stream's stdout/stderr frames into `stdout`/`stderr` until the end
/// frame. Returns the exit code, or the Status the server refused with.
pub async fn client_exec<S, I, O, E>(stream: S, stdin: Option<I>, mut stdout: O, mut stderr: E) -> std::io::Result<Result<i32, Status>>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let pump = stdin.map(|mut input| {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match input.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if write_frame(&mut writer, channel::STDIN, &buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = write_frame(&mut writer, channel::STDIN, &[]).await;
        })
    });
    let result = loop {
        let Some((ch, data)) = read_frame(&mut reader).await? else {
            break Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the exec stream ended without an exit status"));
        };
        match ch {
            channel::STDOUT => {
                stdout.write_all(&data).await?;
                stdout.flush().await?;
            }
            channel::STDERR => {
                stderr.write_all(&data).await?;
                stderr.flush().await?;
            }
            channel::EXIT => {
                let end: ExecEnd = serde_json::from_slice(&data).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                break Ok(match end {
                    ExecEnd::Exited { exit_code } => Ok(exit_code),
                    ExecEnd::Refused(status) => Err(*status),
                });
            }
            _ => {}
        }
    };
    if let Some(p) = pump {
        p.abort();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_an_oversized_frame_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        write_frame(&mut a, channel::STDOUT, b"hello").await.unwrap();
        write_frame(&mut a, channel::STDIN, b"").await.unwrap();
        assert_eq!(read_frame(&mut b).await.unwrap(), Some((1, b"hello".to_vec())));
        assert_eq!(read_frame(&mut b).await.unwrap(), Some((0, Vec::new())));
        drop(a);
        assert_eq!(read_frame(&mut b).await.unwrap(), None);
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[1, 0xff, 0xff, 0xff, 0xff]).await.unwrap();
        assert!(read_frame(&mut b).await.is_err());
    }

    #[test]
    fn the_end_frame_is_an_exit_code_or_a_status() {
        let exited: ExecEnd = serde_json::from_str(r#"{"exitCode": 3}"#).unwrap();
        assert!(matches!(exited, ExecEnd::Exited { exit_code: 3 }));
        let status = Status::failure(400, "BadRequest", "container x is not valid for pod p".into(), None);
        let refused: ExecEnd = serde_json::from_slice(&serde_json::to_vec(&ExecEnd::Refused(Box::new(status))).unwrap()).unwrap();
        assert!(matches!(refused, ExecEnd::Refused(s) if s.message == "container x is not valid for pod p"));
    }
}

//! Kubernetes' remotecommand sessions (exec and attach), whatever carries
//! them: the WebSocket channel protocols (`websocket.rs`) and SPDY/3.1
//! streams (`spdy_exec.rs`) turn their frames into [`Input`]s and send
//! what comes out on the numbered channels of the v4/v5 protocols.
//!
//! With a terminal (`tty`), `tty.rs` stands in for the PTY: it echoes and
//! edits what is typed, and the guest's output goes to stdout as a PTY
//! joins it, with `\n` turned into `\r\n`.

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::tty::{LineDiscipline, onlcr};
use crate::pod::PodAccess;
use crate::{Error, ExecOutcome, ExecRequest, Stream};

/// The channels, numbered as in the v4/v5 channel protocols.
pub(crate) const STDIN: u8 = 0;
pub(crate) const STDOUT: u8 = 1;
pub(crate) const STDERR: u8 = 2;
pub(crate) const ERROR: u8 = 3;

/// What the client sends.
pub(crate) enum Input {
    /// Typed bytes, for stdin.
    Stdin(Bytes),
    /// The client closed stdin.
    StdinEnd,
}

/// One chunk for the client: its channel and bytes.
pub(crate) type Output = (u8, Bytes);

/// What a session does.
pub(crate) enum Session {
    /// Runs a command (`exec`).
    Exec { access: PodAccess, container: Option<String>, command: Vec<String> },
    /// Joins the container's own streams (`attach`).
    Attach(crate::Attach),
}

/// What the client asked for.
#[derive(Clone, Copy)]
pub(crate) struct Wanted {
    pub stdin: bool,
    pub tty: bool,
    /// `stderr=false`: the client has no stream for it (its output is
    /// dropped, unless a terminal joins it to stdout).
    pub stderr: bool,
}

/// Runs `session`, reading the client's input from `input` and sending
/// output to `out`; the last output is the error channel's Status.
pub(crate) async fn run(session: Session, wanted: Wanted, input: mpsc::Receiver<Input>, out: mpsc::Sender<Output>) {
    let end = match session {
        Session::Exec { access, container, command } => exec(access, container, command, wanted, input, out.clone()).await,
        Session::Attach(attach) => self::attach(attach, wanted, input, out.clone()).await,
    };
    let status = serde_json::to_vec(&end_status(end)).expect("JSON serializes");
    let _ = out.send((ERROR, status.into())).await;
}

/// Output of `channel`, as the client sees it with or without a terminal.
fn shown(tty: bool, channel: u8, bytes: &[u8]) -> Output {
    if tty { (STDOUT, onlcr(bytes).into()) } else { (channel, Bytes::copy_from_slice(bytes)) }
}

/// Whether the client takes output of `channel`.
fn taken(wanted: Wanted, tty: bool, channel: u8) -> bool {
    tty || channel != STDERR || wanted.stderr
}

/// Feeds the client's input to `write` (through the line discipline with
/// a terminal, echoing to `out`) until the client ends it.
async fn typed<W, F>(mut input: mpsc::Receiver<Input>, tty: bool, out: mpsc::Sender<Output>, mut write: W)
where
    W: FnMut(Option<Bytes>) -> F,
    F: std::future::Future<Output = bool>,
{
    let mut discipline = LineDiscipline::default();
    while let Some(i) = input.recv().await {
        match i {
            Input::Stdin(data) if tty => {
                let t = discipline.typed(&data);
                if !t.echo.is_empty() {
                    let _ = out.send((STDOUT, t.echo.into())).await;
                }
                if !t.input.is_empty() && !write(Some(t.input.into())).await {
                    break;
                }
                if t.end {
                    break;
                }
            }
            Input::Stdin(data) => {
                if !write(Some(data)).await {
                    break;
                }
            }
            Input::StdinEnd => break,
        }
    }
    write(None).await;
}

async fn exec(
    access: PodAccess,
    container: Option<String>,
    command: Vec<String>,
    wanted: Wanted,
    input: mpsc::Receiver<Input>,
    out: mpsc::Sender<Output>,
) -> Result<i32, Error> {
    let pump = |mut from: tokio::io::DuplexStream, channel: u8, out: mpsc::Sender<Output>| {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            while let Ok(n) = from.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if taken(wanted, wanted.tty, channel) && out.send(shown(wanted.tty, channel, &buf[..n])).await.is_err() {
                    break;
                }
            }
        })
    };
    let (stdout, stdout_pipe) = tokio::io::duplex(64 * 1024);
    let (stderr, stderr_pipe) = tokio::io::duplex(64 * 1024);
    let pumps = [pump(stdout_pipe, STDOUT, out.clone()), pump(stderr_pipe, STDERR, out.clone())];
    let (to_guest, from_client) = tokio::io::duplex(64 * 1024);
    let to_guest = std::sync::Arc::new(tokio::sync::Mutex::new(to_guest));
    let reader = tokio::spawn(typed(input, wanted.tty, out, move |data| {
        let to_guest = to_guest.clone();
        async move {
            // Input the command did not ask for is dropped.
            if !wanted.stdin {
                return true;
            }
            let mut g = to_guest.lock().await;
            match data {
                Some(d) => g.write_all(&d).await.is_ok(),
                None => g.shutdown().await.is_ok(),
            }
        }
    }));
    let request = ExecRequest {
        container,
        command,
        stdin: wanted.stdin.then(|| Box::new(from_client) as Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>),
        stdout: Box::new(stdout),
        stderr: Box::new(stderr),
    };
    let end = access.exec(request).await.map(|ExecOutcome { exit_code, .. }| exit_code).map_err(Error::from);
    for p in pumps {
        let _ = p.await;
    }
    reader.abort();
    let _ = reader.await;
    end
}

async fn attach(attach: crate::Attach, wanted: Wanted, input: mpsc::Receiver<Input>, out: mpsc::Sender<Output>) -> Result<i32, Error> {
    let crate::Attach { mut output, stdin, tty, .. } = attach;
    let tty = tty && wanted.tty;
    let stdin = std::sync::Arc::new(tokio::sync::Mutex::new(stdin.filter(|_| wanted.stdin)));
    let reader = tokio::spawn(typed(input, tty, out.clone(), move |data| {
        let stdin = stdin.clone();
        async move {
            let mut s = stdin.lock().await;
            match (data, s.as_mut()) {
                (Some(d), Some(w)) => w.write(d).await,
                // Typing into a container without stdin goes nowhere.
                (Some(_), None) => true,
                (None, w) => {
                    if let Some(w) = w {
                        w.close();
                    }
                    true
                }
            }
        }
    }));
    // The container's output until its instance ends, or the client
    // leaves.
    loop {
        tokio::select! {
            entry = output.next_entry() => {
                let Some((stream, line)) = entry else { break };
                let channel = if stream == Stream::Stderr { STDERR } else { STDOUT };
                if taken(wanted, tty, channel) && out.send(shown(tty, channel, &line)).await.is_err() {
                    break;
                }
            }
            _ = out.closed() => break,
        }
    }
    reader.abort();
    let _ = reader.await;
    Ok(0)
}

/// The Status the error channel carries at the end.
pub(crate) fn end_status(end: Result<i32, Error>) -> serde_json::Value {
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

    #[tokio::test]
    async fn typed_input_goes_through_the_line_discipline_with_a_terminal() {
        let (tx, rx) = mpsc::channel(4);
        let (out, mut shown) = mpsc::channel(8);
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = got.clone();
        tx.send(Input::Stdin(Bytes::from_static(b"ab\x7fc\r"))).await.unwrap();
        tx.send(Input::Stdin(Bytes::from_static(b"\x04"))).await.unwrap();
        typed(rx, true, out, move |d| {
            sink.lock().unwrap().push(d);
            async { true }
        })
        .await;
        assert_eq!(*got.lock().unwrap(), vec![Some(Bytes::from_static(b"ac\n")), None], "a line, then the end");
        let (channel, echo) = shown.recv().await.unwrap();
        assert_eq!((channel, &echo[..]), (STDOUT, &b"ab\x08 \x08c\r\n"[..]));
    }
}

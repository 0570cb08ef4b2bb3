//! One relay between two endpoints.
//!
//! A [`Session`] owns two [`Side`]s and two [`Flow`]s, `flows[0]` carrying
//! what side 0 reads to side 1 and `flows[1]` the reverse. Each flow goes
//! through three states: open; source at end of stream (`eof`, what is
//! still buffered keeps draining); and shut (everything delivered and the
//! destination's write side shut down, so its peer sees the end too). How
//! a session ends is its [`End`] policy: socat waits for both flows (or
//! gives up `linger` after the first one closed), nc only for the one that
//! reaches stdout.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

// std::os::fd covers Unix and WASI alike.
use std::os::fd::{AsRawFd, RawFd};

use crate::http::poll::{self, Interest};
use crate::io::{Input, Output};

/// Bytes a flow buffers before it stops reading its source: enough for a
/// few socket reads in flight, small enough that a slow reader on one end
/// holds back a fast writer on the other instead of growing memory.
const FLOW_CAP: usize = 64 * 1024;

/// How much one read takes. socat's default buffer is 8192 bytes; larger
/// reads mean fewer turns of the loop for bulk transfers.
const READ_CHUNK: usize = 16 * 1024;

/// One endpoint of a relay.
pub enum Side {
    Tcp(TcpStream),
    /// A connected UDP socket: every read is one datagram, every write
    /// sends one. UDP has no end of stream, so only the other side or a
    /// timeout ends its flows.
    Udp(UdpSocket),
    /// The command's stdin and stdout: not pollable (see the module docs
    /// of [`crate::relay`]), written with blocking writes.
    Stdio {
        input: Input,
        output: Output,
    },
}

/// The outcome of one non-blocking read.
enum Got {
    Data(usize),
    Eof,
    Blocked,
}

impl Side {
    /// The descriptors socat names in its logs: `[read,write]`.
    pub fn fds(&self) -> (RawFd, RawFd) {
        match self {
            Side::Tcp(s) => (s.as_raw_fd(), s.as_raw_fd()),
            Side::Udp(s) => (s.as_raw_fd(), s.as_raw_fd()),
            Side::Stdio { .. } => (0, 1),
        }
    }

    fn pollable(&self) -> Option<RawFd> {
        match self {
            Side::Tcp(s) => Some(s.as_raw_fd()),
            Side::Udp(s) => Some(s.as_raw_fd()),
            Side::Stdio { .. } => None,
        }
    }

    fn is_stdio(&self) -> bool {
        matches!(self, Side::Stdio { .. })
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<Got> {
        let r = match self {
            Side::Tcp(s) => s.read(buf).map(|n| if n == 0 { Got::Eof } else { Got::Data(n) }),
            // An empty datagram is data, not the end of anything.
            Side::Udp(s) => s.recv(buf).map(Got::Data),
            Side::Stdio { input, .. } => input.read(buf).map(|n| if n == 0 { Got::Eof } else { Got::Data(n) }),
        };
        match r {
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => Ok(Got::Blocked),
            r => r,
        }
    }

    /// Writes some of `data`; `Ok(None)` when the socket cannot take more now.
    fn write(&mut self, data: &[u8]) -> io::Result<Option<usize>> {
        let r = match self {
            Side::Tcp(s) => s.write(data),
            Side::Udp(s) => s.send(data),
            Side::Stdio { output, .. } => output.write_all(data).and_then(|_| output.flush()).map(|_| data.len()),
        };
        match r {
            Ok(0) if !data.is_empty() && !matches!(self, Side::Udp(_)) => Err(io::Error::from(ErrorKind::WriteZero)),
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Passes an end of stream on. Only TCP can: a UDP peer is never told,
    /// and the process's stdout stays open for whatever the command prints
    /// next.
    fn shutdown_write(&mut self) {
        if let Side::Tcp(s) = self {
            // The peer may be gone already; then there is nobody to tell.
            let _ = s.shutdown(Shutdown::Write);
        }
    }
}

/// Bytes on their way from one side to the other.
#[derive(Default)]
struct Flow {
    /// Chunks as read, so each datagram stays one datagram when the
    /// destination is UDP.
    chunks: VecDeque<Vec<u8>>,
    /// How much of the front chunk is already written.
    pos: usize,
    queued: usize,
    /// The source reached end of stream.
    eof: bool,
    /// Everything is delivered and the destination was told the end.
    shut: bool,
    /// Bytes read so far (socat's `-v` counts offsets with it).
    total: u64,
}

impl Flow {
    fn has_room(&self) -> bool {
        self.queued < FLOW_CAP
    }
    fn pending(&self) -> bool {
        self.queued > 0
    }
    fn done(&self) -> bool {
        self.shut
    }
}

/// When a session is over.
#[derive(Clone, Copy, Debug)]
pub enum End {
    /// socat: when both flows are done, or `linger` after the last
    /// activity once one of them is (`-t`, 0.5 s by default).
    Both { linger: Duration },
    /// nc: when the flow read from side `side` is done (the peer closed
    /// and everything reached stdout). Once the other flow is done,
    /// `linger` (nc's `-w`) bounds the wait for the peer.
    Flow { side: usize, linger: Option<Duration> },
}

/// What happened during [`Session::pump`], for the caller to log.
#[derive(Debug)]
pub enum Event {
    /// Side `0` or `1` reached end of stream.
    Eof(usize),
    /// Bytes read from side `side` at offset `from` of that flow (only
    /// recorded when [`Session::trace`] is set, for socat's `-v`).
    Data { side: usize, from: u64, bytes: Vec<u8> },
}

/// An I/O error: the call (read or write) and the descriptor it was on.
#[derive(Debug)]
pub struct Fault {
    pub write: bool,
    pub fd: RawFd,
    pub error: io::Error,
}

/// Two sides and the bytes between them.
pub struct Session {
    pub sides: [Side; 2],
    flows: [Flow; 2],
    pub end: End,
    /// socat's `-T`: the session ends after this long without any transfer.
    pub idle: Option<Duration>,
    /// Record the bytes of every read as [`Event::Data`].
    pub trace: bool,
    pub events: Vec<Event>,
    last_active: Instant,
}

impl Session {
    pub fn new(a: Side, b: Side, end: End) -> Session {
        Session { sides: [a, b], flows: Default::default(), end, idle: None, trace: false, events: Vec::new(), last_active: Instant::now() }
    }

    /// Queues bytes already read from side `side` (UDP-LISTEN's first
    /// datagram, which is how its peer becomes known).
    pub fn seed(&mut self, side: usize, bytes: Vec<u8>) {
        self.record(side, &bytes);
        let f = &mut self.flows[side];
        f.queued += bytes.len();
        f.chunks.push_back(bytes);
    }

    fn record(&mut self, side: usize, bytes: &[u8]) {
        let f = &mut self.flows[side];
        if self.trace {
            self.events.push(Event::Data { side, from: f.total, bytes: bytes.to_vec() });
        }
        f.total += bytes.len() as u64;
    }

    /// The descriptors to wait on and why: a side is read while its flow
    /// has room, and written while the other flow has bytes for it.
    pub fn interests(&self) -> Vec<(RawFd, Interest)> {
        let mut v = Vec::new();
        for i in 0..2 {
            let Some(fd) = self.sides[i].pollable() else { continue };
            if !self.flows[i].eof && self.flows[i].has_room() {
                v.push((fd, Interest::Read));
            }
            if self.flows[1 - i].pending() {
                v.push((fd, Interest::Write));
            }
        }
        v
    }

    /// Whether stdin should be read this turn (it cannot be polled).
    pub fn wants_stdin(&self) -> bool {
        (0..2).any(|i| self.sides[i].is_stdio() && !self.flows[i].eof && self.flows[i].has_room())
    }

    /// Moves bytes as far as possible without waiting on a socket. stdin is
    /// read (once) only when `stdin` is set, since that read may block.
    /// Returns whether anything moved.
    pub fn pump(&mut self, stdin: bool) -> Result<bool, Fault> {
        let mut any = false;
        let mut stdin_left = stdin;
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let mut progress = false;
            for src in 0..2 {
                let dst = 1 - src;
                while !self.flows[src].eof && self.flows[src].has_room() {
                    if self.sides[src].is_stdio() {
                        if !stdin_left {
                            break;
                        }
                        stdin_left = false;
                    }
                    let got = self.sides[src].read(&mut buf).map_err(|error| self.fault(src, false, error))?;
                    match got {
                        Got::Data(n) => {
                            self.record(src, &buf[..n]);
                            let f = &mut self.flows[src];
                            f.chunks.push_back(buf[..n].to_vec());
                            f.queued += n;
                            progress = true;
                        }
                        Got::Eof => {
                            self.flows[src].eof = true;
                            self.events.push(Event::Eof(src));
                            progress = true;
                        }
                        Got::Blocked => break,
                    }
                }
                while let Some(front) = self.flows[src].chunks.front() {
                    let pos = self.flows[src].pos;
                    let wrote = self.sides[dst].write(&front[pos..]).map_err(|error| self.fault(dst, true, error))?;
                    let Some(n) = wrote else { break };
                    // A datagram goes whole or not at all.
                    let n = if matches!(self.sides[dst], Side::Udp(_)) { front.len() - pos } else { n };
                    let f = &mut self.flows[src];
                    f.pos += n;
                    f.queued -= n;
                    if f.pos == f.chunks[0].len() {
                        f.chunks.pop_front();
                        f.pos = 0;
                    }
                    progress = true;
                }
                let f = &mut self.flows[src];
                if f.eof && !f.pending() && !f.shut {
                    f.shut = true;
                    self.sides[dst].shutdown_write();
                    progress = true;
                }
            }
            if !progress {
                break;
            }
            any = true;
        }
        if any {
            self.last_active = Instant::now();
        }
        Ok(any)
    }

    fn fault(&self, side: usize, write: bool, error: io::Error) -> Fault {
        let (r, w) = self.sides[side].fds();
        Fault { write, fd: if write { w } else { r }, error }
    }

    /// Whether the session is over at `now`.
    pub fn finished(&self, now: Instant) -> bool {
        let done = match self.end {
            End::Both { .. } => self.flows[0].done() && self.flows[1].done(),
            End::Flow { side, .. } => self.flows[side].done(),
        };
        done || self.deadline().is_some_and(|d| now >= d)
    }

    /// When the session ends by itself if nothing moves before then.
    pub fn deadline(&self) -> Option<Instant> {
        let linger = match self.end {
            End::Both { linger } if self.flows[0].done() || self.flows[1].done() => Some(linger),
            End::Flow { side, linger: Some(l) } if self.flows[1 - side].done() => Some(l),
            _ => None,
        };
        let idle = self.idle;
        [linger, idle].into_iter().flatten().min().map(|d| self.last_active + d)
    }
}

/// Drives one session to its end, handing its events to `on_event` as they
/// happen. Sockets are served first; stdin is read after them, one chunk
/// per turn.
pub fn run(s: &mut Session, on_event: &mut dyn FnMut(Event)) -> Result<(), Fault> {
    loop {
        let now = Instant::now();
        if s.finished(now) {
            return Ok(());
        }
        let fds = s.interests();
        let stdin = s.wants_stdin();
        let timeout = if stdin { Some(Duration::ZERO) } else { s.deadline().map(|d| d.saturating_duration_since(now)) };
        if !fds.is_empty() {
            if let Err(error) = poll::wait(&fds, timeout) {
                return Err(Fault { write: false, fd: fds[0].0, error });
            }
        } else if !stdin {
            match timeout {
                Some(t) => std::thread::sleep(t),
                // Nothing to wait on and no deadline: nothing can change.
                None => return Ok(()),
            }
        }
        let r = s.pump(stdin);
        for e in s.events.drain(..) {
            on_event(e);
        }
        r?;
    }
}

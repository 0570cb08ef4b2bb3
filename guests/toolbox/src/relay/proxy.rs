//! The `fork` server: where socat forks a child per accepted connection,
//! this keeps every connection as a [`Session`] in one event loop, so one
//! idle client never holds up another.
//!
//! What a new connection is relayed to is the [`Handler`]'s business (it
//! opens socat's second address and does the logging); this file only
//! accepts, polls and pumps.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

// std::os::fd covers Unix and WASI alike.
use std::os::fd::AsRawFd;

use super::session::{Event, Fault, Session};
use crate::http::poll::{self, Interest};

/// Sessions held at once unless `max-children` says otherwise. Each holds
/// two descriptors; like nginx's `worker_connections` (1024), the limit
/// keeps a flood from exhausting them, and while it is reached new clients
/// wait in the listen backlog instead of being accepted and starved.
pub const DEFAULT_MAX_SESSIONS: usize = 1024;

/// What the server asks of its user.
pub trait Handler {
    /// A client was accepted: open what it is relayed to, or `None` to
    /// close it (the handler has said why).
    fn accepted(&mut self, client: TcpStream, peer: SocketAddr, local: SocketAddr) -> Option<Session>;
    /// Something happened in a session (an end of stream, traced bytes).
    fn event(&mut self, session: &Session, event: Event);
    /// A session is over, normally or by an I/O error.
    fn ended(&mut self, session: Session, result: Result<(), Fault>);
}

/// A listener and the sessions it has accepted.
pub struct Proxy {
    listener: TcpListener,
    sessions: Vec<Session>,
    max: usize,
}

impl Proxy {
    pub fn new(listener: TcpListener, max: usize) -> io::Result<Proxy> {
        listener.set_nonblocking(true)?;
        Ok(Proxy { listener, sessions: Vec::new(), max: max.max(1) })
    }

    /// Serves until polling itself fails.
    pub fn run(&mut self, h: &mut dyn Handler) -> io::Result<()> {
        loop {
            self.turn(h)?;
        }
    }

    /// Waits for something to do and does it: accept, relay, end sessions.
    pub fn turn(&mut self, h: &mut dyn Handler) -> io::Result<()> {
        let now = Instant::now();
        let listening = self.sessions.len() < self.max;
        let mut fds = Vec::new();
        // Which session each polled descriptor belongs to (None: listener).
        let mut owner = Vec::new();
        if listening {
            fds.push((self.listener.as_raw_fd(), Interest::Read));
            owner.push(None);
        }
        let mut timeout: Option<Duration> = None;
        for (i, s) in self.sessions.iter().enumerate() {
            for fd in s.interests() {
                fds.push(fd);
                owner.push(Some(i));
            }
            if let Some(d) = s.deadline() {
                let left = d.saturating_duration_since(now);
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
        }
        let ready = poll::wait(&fds, timeout)?;
        let mut due = vec![false; self.sessions.len()];
        let mut accept = false;
        for (r, o) in ready.iter().zip(&owner) {
            match (r, o) {
                (true, None) => accept = true,
                (true, Some(i)) => due[*i] = true,
                _ => {}
            }
        }
        if accept {
            self.accept_all(h);
        }
        // Sessions accepted just now were not polled; a non-blocking try
        // costs nothing and may find the client's first bytes already there.
        due.resize(self.sessions.len(), true);
        let now = Instant::now();
        let mut i = self.sessions.len();
        while i > 0 {
            i -= 1;
            let s = &mut self.sessions[i];
            let result = if due[i] { s.pump(false).map(|_| ()) } else { Ok(()) };
            for e in std::mem::take(&mut s.events) {
                h.event(s, e);
            }
            if result.is_err() || s.finished(now) {
                let s = self.sessions.swap_remove(i);
                h.ended(s, result);
            }
        }
        Ok(())
    }

    fn accept_all(&mut self, h: &mut dyn Handler) {
        while self.sessions.len() < self.max {
            match self.listener.accept() {
                Ok((client, peer)) => {
                    let local = client.local_addr().unwrap_or(peer);
                    if let Some(s) = h.accepted(client, peer, local) {
                        self.sessions.push(s);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::ConnectionAborted => continue,
                // Out of descriptors and the like: try again next turn
                // rather than stop serving everyone else.
                Err(_) => return,
            }
        }
    }
}

//! One HTTP/1.1 exchange for `curl` and `wget`: resolve, connect, send,
//! read the response with its body (Content-Length, chunked, or up to
//! close), all against one deadline. Redirects and output are the
//! commands' business.
//!
//! The socket is made non-blocking after connecting and every wait goes
//! through [`poll::wait_one`] with the time left, so `--max-time` is
//! honoured at any point of the transfer without socket timeouts.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

// std::os::fd covers Unix and WASI alike.
use std::os::fd::AsRawFd;

use super::poll::{self, Interest};
use super::{Headers, MAX_HEAD, head_end, parse_head};

/// curl's default connect timeout (`CURL_TIMEOUT_CONNECT`, 300 s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(300);

/// Why an exchange failed, worded as curl words it. [`FetchError::code`]
/// is curl's exit status for it.
#[derive(Debug)]
pub enum FetchError {
    UnsupportedProtocol(String),
    MalformedUrl,
    Resolve(String),
    Connect { host: String, port: u16, ms: u128, reason: String },
    ConnectTimeout { host: String, port: u16, ms: u128 },
    Timeout { ms: u128, received: usize },
    Send(String),
    Recv(String),
    EmptyReply,
    WeirdReply,
    Partial(String),
}

impl FetchError {
    pub fn code(&self) -> i32 {
        match self {
            FetchError::UnsupportedProtocol(_) => 1,
            FetchError::MalformedUrl => 3,
            FetchError::Resolve(_) => 6,
            FetchError::Connect { .. } => 7,
            FetchError::WeirdReply => 8,
            FetchError::Partial(_) => 18,
            FetchError::ConnectTimeout { .. } | FetchError::Timeout { .. } => 28,
            FetchError::EmptyReply => 52,
            FetchError::Send(_) => 55,
            FetchError::Recv(_) => 56,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::UnsupportedProtocol(p) => write!(f, "Protocol \"{p}\" not supported"),
            FetchError::MalformedUrl => write!(f, "URL rejected: Malformed input to a URL function"),
            FetchError::Resolve(h) => write!(f, "Could not resolve host: {h}"),
            FetchError::Connect { host, port, ms, reason } => write!(f, "Failed to connect to {host} port {port} after {ms} ms: {reason}"),
            FetchError::ConnectTimeout { host, port, ms } => write!(f, "Failed to connect to {host} port {port} after {ms} ms: Timeout was reached"),
            FetchError::Timeout { ms, received } => write!(f, "Operation timed out after {ms} milliseconds with {received} bytes received"),
            FetchError::Send(e) => write!(f, "Failed sending data to the peer: {e}"),
            FetchError::Recv(e) => write!(f, "Recv failure: {e}"),
            FetchError::EmptyReply => write!(f, "Empty reply from server"),
            FetchError::WeirdReply => write!(f, "Weird server reply"),
            FetchError::Partial(e) => write!(f, "{e}"),
        }
    }
}

/// An `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses a URL as curl does: no scheme means http, a fragment is
    /// dropped, an IPv6 host is bracketed.
    pub fn parse(s: &str) -> Result<Url, FetchError> {
        let rest = match s.split_once("://") {
            Some((scheme, rest)) => {
                if !scheme.eq_ignore_ascii_case("http") {
                    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
                        return Err(FetchError::MalformedUrl);
                    }
                    return Err(FetchError::UnsupportedProtocol(scheme.to_ascii_lowercase()));
                }
                rest
            }
            None => s,
        };
        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        };
        // user:pass@ is curl-legal but the toolbox takes credentials via -u.
        let hostport = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(FetchError::MalformedUrl)?;
            (h.to_owned(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (hostport.to_owned(), None),
            }
        };
        let port = match port {
            None | Some("") => 80,
            Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or(FetchError::MalformedUrl)?,
        };
        if host.is_empty() || host.contains([' ', '/', '\\']) || path.contains(' ') {
            return Err(FetchError::MalformedUrl);
        }
        Ok(Url { host, port, path })
    }

    /// `Host:` value: the port only when it is not 80.
    pub fn authority(&self) -> String {
        let h = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == 80 { h } else { format!("{h}:{}", self.port) }
    }

    /// Resolves a `Location` against this URL.
    pub fn join(&self, location: &str) -> Result<Url, FetchError> {
        if location.contains("://") {
            return Url::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Url::parse(rest);
        }
        let path = if location.starts_with('/') {
            location.to_owned()
        } else if location.starts_with('?') {
            format!("{}{location}", self.path.split('?').next().unwrap_or("/"))
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            format!("{}{location}", &base[..base.rfind('/').map(|i| i + 1).unwrap_or(0)])
        };
        Ok(Url { host: self.host.clone(), port: self.port, path: fold_dots(&path) })
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.path)
    }
}

/// Removes `.` and `..` segments from a joined path (RFC 3986 5.2.4).
fn fold_dots(path: &str) -> String {
    let (p, q) = match path.find('?') {
        Some(i) => (&path[..i], &path[i..]),
        None => (path, ""),
    };
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = p.split('/').skip(1).collect();
    for (i, s) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *s {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}{q}", out.join("/"))
}

/// What to send.
pub struct Request {
    pub method: String,
    pub url: Url,
    /// Fields after `Host`, in order.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    pub fn head_bytes(&self) -> Vec<u8> {
        let mut h = format!("{} {} HTTP/1.1\r\n", self.method, self.url.path);
        for (k, v) in &self.headers {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
        h.push_str("\r\n");
        h.into_bytes()
    }
}

/// What came back.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// The status line, e.g. `HTTP/1.1 404 Not Found`.
    pub status_line: String,
    /// The head as received, up to and including its blank line.
    pub raw_head: Vec<u8>,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub remote: SocketAddr,
}

/// How long things may take, measured from `start`.
#[derive(Clone, Copy)]
pub struct Limits {
    pub start: Instant,
    pub connect_timeout: Duration,
    /// `--max-time`: the whole operation, redirects included.
    pub max_time: Option<Duration>,
}

impl Limits {
    fn left(&self) -> Option<Duration> {
        self.max_time.map(|m| m.saturating_sub(self.start.elapsed()))
    }
    fn elapsed_ms(&self) -> u128 {
        self.start.elapsed().as_millis()
    }
}

/// Writes curl's `-v` lines: `* ` notes, `> ` request, `< ` response.
pub type Trace<'a> = Option<&'a mut dyn Write>;

fn note(trace: &mut Trace, prefix: &str, text: &str) {
    if let Some(t) = trace.as_mut() {
        for line in text.split("\r\n") {
            let _ = writeln!(t, "{prefix}{line}");
        }
    }
}

/// Performs one request.
pub fn exchange(req: &Request, limits: &Limits, mut trace: Trace) -> Result<Response, FetchError> {
    let url = &req.url;
    let mut stream = connect(url, limits, &mut trace)?;
    let remote = stream.peer_addr().map_err(|e| FetchError::Recv(crate::io::errmsg(&e)))?;
    stream.set_nonblocking(true).map_err(|e| FetchError::Send(crate::io::errmsg(&e)))?;
    let head = req.head_bytes();
    let shown = String::from_utf8_lossy(&head[..head.len() - 2]).into_owned();
    note(&mut trace, "> ", shown.trim_end_matches("\r\n"));
    note(&mut trace, "> ", "");
    let mut out = head;
    if let Some(b) = &req.body {
        out.extend_from_slice(b);
    }
    send_all(&mut stream, &out, limits)?;
    let mut conn = Reader { stream: &mut stream, buf: Vec::new(), limits, received: 0 };
    // Skip interim 1xx responses (100 Continue) up to the final one.
    let (status_line, status, raw_head, headers) = loop {
        let end = loop {
            if let Some(e) = head_end(&conn.buf) {
                break e;
            }
            if conn.buf.len() > MAX_HEAD {
                return Err(FetchError::WeirdReply);
            }
            if conn.fill()? == 0 {
                return Err(if conn.buf.is_empty() { FetchError::EmptyReply } else { FetchError::WeirdReply });
            }
        };
        let raw: Vec<u8> = conn.buf.drain(..end).collect();
        let (line, headers) = parse_head(&raw).ok_or(FetchError::WeirdReply)?;
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or(FetchError::WeirdReply)?;
        if !version.starts_with("HTTP/1.") || !(100..=999).contains(&status) {
            return Err(FetchError::WeirdReply);
        }
        note(&mut trace, "< ", String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']));
        note(&mut trace, "< ", "");
        if status >= 200 || status == 101 {
            break (line, status, raw, headers);
        }
    };
    let no_body = req.method == "HEAD" || status == 204 || status == 304 || status < 200;
    let body = if no_body {
        Vec::new()
    } else if headers.has_token("Transfer-Encoding", "chunked") {
        loop {
            match parse_chunked(&conn.buf, false) {
                Ok(Some(_)) => break parse_chunked(&conn.buf, true).ok().flatten().unwrap_or_default(),
                Ok(None) => {
                    if conn.fill()? == 0 {
                        return Err(FetchError::Partial("transfer closed with outstanding read data remaining".into()));
                    }
                }
                Err(()) => return Err(FetchError::Recv("Illegal or missing hexadecimal sequence in chunked-encoding".into())),
            }
        }
    } else if let Some(len) = headers.get("Content-Length") {
        let len: usize = len.trim().parse().map_err(|_| FetchError::WeirdReply)?;
        while conn.buf.len() < len {
            if conn.fill()? == 0 {
                return Err(FetchError::Partial(format!("transfer closed with {} bytes remaining to read", len - conn.buf.len())));
            }
        }
        conn.buf.truncate(len);
        std::mem::take(&mut conn.buf)
    } else {
        while conn.fill()? > 0 {}
        std::mem::take(&mut conn.buf)
    };
    note(&mut trace, "* ", &format!("Connection #0 to host {} left intact", url.host));
    Ok(Response { status, status_line, raw_head, headers, body, remote })
}

/// Decodes a chunked body. `Ok(None)`: not complete yet; `Err`: malformed.
/// Returns the decoded bytes when `decode`, else an empty vector as a mark
/// of completeness (so waiting for the end does not copy the body).
pub fn parse_chunked(data: &[u8], decode: bool) -> Result<Option<Vec<u8>>, ()> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let Some(nl) = data[i..].iter().position(|&b| b == b'\n') else { return Ok(None) };
        let line = std::str::from_utf8(&data[i..i + nl]).map_err(|_| ())?.trim_end_matches('\r');
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| ())?;
        i += nl + 1;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let Some(nl) = data[i..].iter().position(|&b| b == b'\n') else { return Ok(None) };
                let empty = data[i..i + nl].iter().all(|&b| b == b'\r');
                i += nl + 1;
                if empty {
                    return Ok(Some(out));
                }
            }
        }
        if data.len() < i + size + 1 {
            return Ok(None);
        }
        if decode {
            out.extend_from_slice(&data[i..i + size]);
        }
        i += size;
        match &data[i..] {
            [b'\r', b'\n', ..] => i += 2,
            [b'\n', ..] => i += 1,
            [b'\r'] => return Ok(None),
            _ => return Err(()),
        }
    }
}

fn connect(url: &Url, limits: &Limits, trace: &mut Trace) -> Result<TcpStream, FetchError> {
    let addrs: Vec<SocketAddr> = match (url.host.as_str(), url.port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(_) => return Err(FetchError::Resolve(url.host.clone())),
    };
    if addrs.is_empty() {
        return Err(FetchError::Resolve(url.host.clone()));
    }
    let mut last_reason = String::from("Couldn't connect to server");
    for addr in &addrs {
        note(trace, "*   ", &format!("Trying {addr}..."));
        let mut t = limits.connect_timeout;
        let by_max_time = limits.left().is_some_and(|left| left < t);
        if let Some(left) = limits.left() {
            t = t.min(left);
        }
        if t.is_zero() {
            return Err(FetchError::Timeout { ms: limits.elapsed_ms(), received: 0 });
        }
        match TcpStream::connect_timeout(addr, t) {
            Ok(s) => {
                note(trace, "* ", &format!("Connected to {} ({}) port {}", url.host, addr.ip(), url.port));
                return Ok(s);
            }
            Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => {
                if by_max_time {
                    return Err(FetchError::Timeout { ms: limits.elapsed_ms(), received: 0 });
                }
                return Err(FetchError::ConnectTimeout { host: url.host.clone(), port: url.port, ms: limits.elapsed_ms() });
            }
            Err(e) => {
                note(trace, "* ", &format!("connect to {} port {} failed: {}", addr.ip(), url.port, crate::io::errmsg(&e)));
                if e.kind() != ErrorKind::ConnectionRefused {
                    last_reason = crate::io::errmsg(&e);
                }
            }
        }
    }
    Err(FetchError::Connect { host: url.host.clone(), port: url.port, ms: limits.elapsed_ms(), reason: last_reason })
}

fn send_all(stream: &mut TcpStream, mut data: &[u8], limits: &Limits) -> Result<(), FetchError> {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => return Err(FetchError::Send("Connection closed".into())),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if !poll::wait_one(stream.as_raw_fd(), Interest::Write, limits.left()).map_err(|e| FetchError::Send(crate::io::errmsg(&e)))? {
                    return Err(FetchError::Timeout { ms: limits.elapsed_ms(), received: 0 });
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(FetchError::Send(crate::io::errmsg(&e))),
        }
    }
    Ok(())
}

/// The receiving side: a buffer filled from the socket within the deadline.
struct Reader<'a> {
    stream: &'a mut TcpStream,
    buf: Vec<u8>,
    limits: &'a Limits,
    received: usize,
}

impl Reader<'_> {
    /// Reads more into `buf`; `Ok(0)` at end of stream.
    fn fill(&mut self) -> Result<usize, FetchError> {
        let mut tmp = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    self.received += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let ready =
                        poll::wait_one(self.stream.as_raw_fd(), Interest::Read, self.limits.left()).map_err(|e| FetchError::Recv(crate::io::errmsg(&e)))?;
                    if !ready {
                        return Err(FetchError::Timeout { ms: self.limits.elapsed_ms(), received: self.received });
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(FetchError::Recv(recv_text(&e))),
            }
        }
    }
}

fn recv_text(e: &io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionReset => "Connection reset by peer".into(),
        _ => crate::io::errmsg(e),
    }
}

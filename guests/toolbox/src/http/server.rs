//! The static file server behind `nginx`, `httpd` and `python -m
//! http.server`.
//!
//! One thread, one event loop: the listener and every connection are
//! non-blocking and [`poll::wait`] says which can make progress, so a
//! browser holding a keep-alive connection open never blocks another
//! client. Each connection is a small state machine: it reads until a
//! whole request head is buffered, turns it into a [`Reply`] (a pure
//! function of the request and the files under the root), then writes the
//! reply, pulling file bodies in chunks so a large file never sits in
//! memory, and goes back to reading (keep-alive) or closes.
//!
//! The three commands differ only in what [`Flavor`] decides: headers,
//! error pages, log lines, directory listings and keep-alive.

use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// std::os::fd covers Unix and WASI alike.
use std::os::fd::AsRawFd;

use super::poll::{self, Interest};
use super::{
    MAX_HEAD, RequestHead, error_log_time, html_escape, http_date, log_time, parse_http_date, percent_decode, percent_encode_path, python_log_time, reason,
};

/// The nginx version the toolbox's `nginx` reports.
pub const NGINX_VERSION: &str = "1.27.3";

/// nginx's default `keepalive_timeout`: an idle connection is closed after
/// 75 s, which also bounds how long a silent client holds a slot.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);

/// nginx's default `worker_connections`: past this many open connections
/// the listener is left unpolled (new clients wait in the backlog) rather
/// than accepted and starved.
const MAX_CONNS: usize = 1024;

/// File bodies are read and sent in pieces of this size: large enough for
/// few wakeups, small enough that a big file never sits in memory.
const CHUNK: usize = 64 * 1024;

/// Request bodies are never used (only GET and HEAD serve files) but are
/// read and dropped to keep the connection usable; nginx's default
/// `client_max_body_size 1m` caps what is worth waiting for.
const MAX_DISCARD: u64 = 1024 * 1024;

/// Which program the server is imitating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Nginx,
    /// busybox `httpd`: HTTP/1.1, one request per connection.
    Busybox,
    /// Python's `http.server`: HTTP/1.0, directory listings, logs on stderr.
    Python,
}

impl Flavor {
    fn server(self) -> String {
        match self {
            Flavor::Nginx => format!("nginx/{NGINX_VERSION} (wasmpod toolbox)"),
            Flavor::Busybox => "busybox httpd (wasmpod toolbox)".into(),
            Flavor::Python => "SimpleHTTP/0.6 Python/3 (wasmpod toolbox)".into(),
        }
    }
    fn version(self) -> &'static str {
        if self == Flavor::Python { "HTTP/1.0" } else { "HTTP/1.1" }
    }
    fn index_names(self) -> &'static [&'static str] {
        match self {
            Flavor::Busybox => &["index.html"],
            _ => &["index.html", "index.htm"],
        }
    }
    fn reason(self, status: u16) -> &'static str {
        match (self, status) {
            (Flavor::Nginx, 405) => "Not Allowed",
            (Flavor::Python, 404) => "File not found",
            _ => reason(status),
        }
    }
}

/// What the server serves and how it logs.
#[derive(Clone, Debug)]
pub struct Config {
    pub flavor: Flavor,
    /// The document root, as it appears in error messages.
    pub root: PathBuf,
    /// Whether to write a line per request (to stdout for nginx, to
    /// stderr for Python and busybox, as they do).
    pub access_log: bool,
}

/// A reply body.
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// The next `len` bytes of a file (already positioned).
    File {
        file: File,
        len: u64,
    },
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }
}

/// A response before it is framed: status, fields, body, and what to log.
pub struct Reply {
    pub status: u16,
    /// Fields besides Server, Date, Content-Length and Connection.
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Whether `Content-Length` is sent (not for 304).
    pub has_length: bool,
    /// An error-log message (nginx's `open() ... failed`), or Python's
    /// `code 404, message ...`.
    pub note: Option<String>,
    /// Close the connection after this reply whatever the request said.
    pub close: bool,
    /// A reason phrase other than the flavor's usual one (Python names
    /// the refused method in it).
    pub reason: Option<String>,
}

impl Reply {
    fn new(status: u16, headers: Vec<(String, String)>, body: Body) -> Reply {
        Reply { status, headers, body, has_length: true, note: None, close: false, reason: None }
    }
}

/// Content types by file extension (nginx's `mime.types`, in part).
pub fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" | "shtml" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "application/javascript",
        "json" => "application/json",
        "txt" | "log" | "md" => "text/plain",
        "xml" => "text/xml",
        "csv" => "text/csv",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" | "svgz" => "image/svg+xml",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// A request target reduced to path segments under the root.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub segments: Vec<String>,
    pub trailing_slash: bool,
    /// The query string with its `?`, kept for redirects.
    pub query: String,
}

/// Resolves a request target: drops the query, accepts the absolute form
/// (`http://host/path`), percent-decodes, and folds `.` and `..`. A `..`
/// that would climb above the root is refused (`None`, a 400) as nginx
/// does; with `clamp` it stays at the root instead, as Python's
/// `translate_path` does. Decoded NULs and non-UTF-8 paths are refused.
pub fn resolve_target(target: &str, clamp: bool) -> Option<Target> {
    let (path, query) = match target.find('?') {
        Some(i) => (&target[..i], target[i..].to_owned()),
        None => (target, String::new()),
    };
    let path = match path.strip_prefix("http://") {
        Some(rest) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => path,
    };
    if !path.starts_with('/') {
        return None;
    }
    let decoded = String::from_utf8(percent_decode(path)?).ok()?;
    if decoded.contains('\0') {
        return None;
    }
    let mut segments: Vec<String> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() && !clamp {
                    return None;
                }
            }
            s => segments.push(s.to_owned()),
        }
    }
    let trailing_slash = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    Some(Target { segments, trailing_slash, query })
}

/// The outcome of a `Range` header against a body of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeReq {
    /// No usable range: send everything (also for multiple ranges, which
    /// would need multipart/byteranges).
    Full,
    /// First and last byte, inclusive.
    Part(u64, u64),
    Unsatisfiable,
}

pub fn parse_range(header: &str, len: u64) -> RangeReq {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return RangeReq::Full };
    if spec.contains(',') {
        return RangeReq::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return RangeReq::Full };
    let num = |s: &str| if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) { None } else { s.parse::<u64>().ok() };
    match (a.trim(), b.trim()) {
        ("", n) => match num(n) {
            Some(0) => RangeReq::Unsatisfiable,
            Some(_) if len == 0 => RangeReq::Unsatisfiable,
            Some(n) => RangeReq::Part(len.saturating_sub(n), len - 1),
            None => RangeReq::Full,
        },
        (a, "") => match num(a) {
            Some(a) if a >= len => RangeReq::Unsatisfiable,
            Some(a) => RangeReq::Part(a, len - 1),
            None => RangeReq::Full,
        },
        (a, b) => match (num(a), num(b)) {
            (Some(a), Some(b)) if a > b => RangeReq::Full,
            (Some(a), Some(_)) if a >= len => RangeReq::Unsatisfiable,
            (Some(a), Some(b)) => RangeReq::Part(a, b.min(len - 1)),
            _ => RangeReq::Full,
        },
    }
}

fn epoch(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(_) => 0,
    }
}

/// `errno` numbers for error-log lines, as nginx prints them
/// (`(2: No such file or directory)`), the same on every platform.
fn errno_text(e: &io::Error) -> String {
    let (n, text) = match e.kind() {
        ErrorKind::NotFound => (2, "No such file or directory"),
        ErrorKind::PermissionDenied => (13, "Permission denied"),
        ErrorKind::NotADirectory => (20, "Not a directory"),
        ErrorKind::IsADirectory => (21, "Is a directory"),
        _ => return format!("{}: {}", e.raw_os_error().unwrap_or(5), crate::io::errmsg(e)),
    };
    format!("{n}: {text}")
}

impl Config {
    /// The body of an error page in this flavor's words.
    fn error_page(&self, status: u16, reason: &str, explanation: &str) -> Vec<u8> {
        let r = reason;
        match self.flavor {
            Flavor::Nginx => format!(
                "<html>\r\n<head><title>{status} {r}</title></head>\r\n<body>\r\n<center><h1>{status} {r}</h1></center>\r\n<hr><center>nginx/{NGINX_VERSION} (wasmpod toolbox)</center>\r\n</body>\r\n</html>\r\n"
            ),
            Flavor::Busybox => format!("<HTML><HEAD><TITLE>{status} {r}</TITLE></HEAD>\n<BODY><H1>{status} {r}</H1>\n{explanation}\n</BODY></HTML>\n"),
            Flavor::Python => format!(
                "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n        <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n        <p>Error code: {status}</p>\n        <p>Message: {}.</p>\n        <p>Error code explanation: {status} - {}.</p>\n    </body>\n</html>\n",
                html_escape(r),
                html_escape(explanation)
            ),
        }
        .into_bytes()
    }

    fn error(&self, status: u16, explanation: &str) -> Reply {
        self.error_with_reason(status, self.flavor.reason(status), explanation)
    }

    fn error_with_reason(&self, status: u16, reason: &str, explanation: &str) -> Reply {
        let ct = if self.flavor == Flavor::Python { "text/html;charset=utf-8" } else { "text/html" };
        let mut r = Reply::new(status, vec![("Content-Type".into(), ct.into())], Body::Bytes(self.error_page(status, reason, explanation)));
        if self.flavor == Flavor::Python {
            r.note = Some(format!("code {status}, message {reason}"));
        }
        if reason != self.flavor.reason(status) {
            r.reason = Some(reason.to_owned());
        }
        r
    }

    fn fs_path(&self, segments: &[String]) -> PathBuf {
        let mut p = self.root.clone();
        for s in segments {
            p.push(s);
        }
        p
    }

    /// Answers one request from the files under the root.
    pub fn respond(&self, req: &RequestHead) -> Reply {
        let head = req.method == "HEAD";
        if req.method != "GET" && !head {
            let mut r = match self.flavor {
                Flavor::Python => self.error_with_reason(501, &format!("Unsupported method ('{}')", req.method), "Server does not support this operation"),
                Flavor::Busybox => self.error(501, "The requested method is not recognized"),
                Flavor::Nginx => self.error(405, ""),
            };
            r.close = self.flavor != Flavor::Nginx;
            return r;
        }
        let Some(target) = resolve_target(&req.target, self.flavor == Flavor::Python) else {
            let mut r = self.error(400, "Bad request syntax");
            r.close = true;
            return r;
        };
        let path = self.fs_path(&target.segments);
        let shown = format!("{}{}", path.display(), if target.trailing_slash && !target.segments.is_empty() { "/" } else { "" });
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => return self.open_failed(&shown, &e),
        };
        if meta.is_dir() {
            if !target.trailing_slash && !target.segments.is_empty() {
                return self.redirect_to_slash(req, &target);
            }
            for name in self.flavor.index_names() {
                let index = path.join(name);
                if let Ok(m) = fs::metadata(&index)
                    && m.is_file()
                {
                    return self.file(req, &index, &m);
                }
            }
            return match self.flavor {
                Flavor::Python => self.listing(&target, &path),
                Flavor::Nginx => {
                    let mut r = self.error(403, "");
                    r.note = Some(format!("directory index of \"{}/\" is forbidden", path.display().to_string().trim_end_matches('/')));
                    r
                }
                Flavor::Busybox => self.error(404, "The requested URL was not found"),
            };
        }
        if target.trailing_slash {
            let e = io::Error::from(ErrorKind::NotADirectory);
            return self.open_failed(&shown, &e);
        }
        self.file(req, &path, &meta)
    }

    fn open_failed(&self, shown: &str, e: &io::Error) -> Reply {
        let (status, explanation) = match e.kind() {
            ErrorKind::NotFound | ErrorKind::NotADirectory => (404, "Nothing matches the given URI"),
            ErrorKind::PermissionDenied => (403, "Request forbidden -- authorization will not help"),
            _ => (500, "Server got itself in trouble"),
        };
        let explanation = if self.flavor == Flavor::Busybox && status == 404 { "The requested URL was not found" } else { explanation };
        let mut r = self.error(status, explanation);
        if self.flavor == Flavor::Nginx {
            r.note = Some(format!("open() \"{shown}\" failed ({})", errno_text(e)));
        }
        r
    }

    fn redirect_to_slash(&self, req: &RequestHead, target: &Target) -> Reply {
        let path = format!("/{}/{}", target.segments.iter().map(|s| percent_encode_path(s)).collect::<Vec<_>>().join("/"), target.query);
        // nginx's `absolute_redirect on` builds the Location from the Host
        // the client used; Python and busybox send the path alone.
        let location = match (self.flavor, req.headers.get("Host")) {
            (Flavor::Nginx, Some(host)) if !host.is_empty() => format!("http://{host}{path}"),
            _ => path,
        };
        let mut r = self.error(301, "Object moved permanently -- see URI list");
        r.headers.push(("Location".into(), location));
        r.note = None;
        r
    }

    fn file(&self, req: &RequestHead, path: &Path, meta: &fs::Metadata) -> Reply {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) => return self.open_failed(&path.display().to_string(), &e),
        };
        let len = meta.len();
        let mtime = meta.modified().map(epoch).unwrap_or(0);
        let etag = format!("\"{mtime:x}-{len:x}\"");
        let mut headers = vec![("Content-Type".to_owned(), content_type(path).to_owned()), ("Last-Modified".to_owned(), http_date(mtime))];
        if self.flavor != Flavor::Python {
            headers.push(("ETag".into(), etag.clone()));
        }
        // RFC 9110: If-None-Match wins over If-Modified-Since. A date at or
        // after the file's mtime means the client's copy is current.
        let not_modified = match (req.headers.get("If-None-Match"), req.headers.get("If-Modified-Since")) {
            (Some(inm), _) if self.flavor != Flavor::Python => inm.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
            (_, Some(ims)) => parse_http_date(ims).is_some_and(|t| mtime <= t),
            _ => false,
        };
        if not_modified {
            headers.retain(|(k, _)| k != "Content-Type");
            let mut r = Reply::new(304, headers, Body::Empty);
            r.has_length = false;
            return r;
        }
        if self.flavor == Flavor::Python {
            return Reply::new(200, headers, Body::File { file, len });
        }
        headers.push(("Accept-Ranges".into(), "bytes".into()));
        match req.headers.get("Range").map(|h| parse_range(h, len)).unwrap_or(RangeReq::Full) {
            RangeReq::Full => Reply::new(200, headers, Body::File { file, len }),
            RangeReq::Part(a, b) => {
                headers.push(("Content-Range".into(), format!("bytes {a}-{b}/{len}")));
                if file.seek(SeekFrom::Start(a)).is_err() {
                    return self.error(500, "Server got itself in trouble");
                }
                Reply::new(206, headers, Body::File { file, len: b - a + 1 })
            }
            RangeReq::Unsatisfiable => {
                let mut r = self.error(416, "");
                r.headers.push(("Content-Range".into(), format!("bytes */{len}")));
                r
            }
        }
    }

    /// Python's directory listing: links to each entry, directories with a
    /// trailing slash, sorted case-insensitively.
    fn listing(&self, target: &Target, dir: &Path) -> Reply {
        let entries = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(_) => return self.error(404, "No permission to list directory"),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| {
                let mut n = e.file_name().to_string_lossy().into_owned();
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    n.push('/');
                }
                n
            })
            .collect();
        names.sort_by_key(|n| n.to_lowercase());
        let shown = html_escape(&format!("/{}{}", target.segments.join("/"), if target.segments.is_empty() { "" } else { "/" }));
        let mut html = format!(
            "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Directory listing for {shown}</title>\n</head>\n<body>\n<h1>Directory listing for {shown}</h1>\n<hr>\n<ul>\n"
        );
        for n in &names {
            html.push_str(&format!("<li><a href=\"{}\">{}</a></li>\n", percent_encode_path(n), html_escape(n)));
        }
        html.push_str("</ul>\n<hr>\n</body>\n</html>\n");
        Reply::new(200, vec![("Content-Type".into(), "text/html; charset=utf-8".into())], Body::Bytes(html.into_bytes()))
    }
}

/// One client connection.
struct Conn {
    id: u64,
    stream: TcpStream,
    peer: SocketAddr,
    inbuf: Vec<u8>,
    /// Framed bytes waiting to be written, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    /// The rest of a file body, pulled into `out` as it drains.
    file: Option<(File, u64)>,
    /// Request-body bytes still to read and drop.
    discard: u64,
    close_after: bool,
    /// The peer has closed its side: finish what is buffered, then close.
    eof: bool,
    last_active: Instant,
}

impl Conn {
    fn sending(&self) -> bool {
        self.out_pos < self.out.len() || self.file.is_some()
    }
}

/// What a connection's turn decided.
#[derive(PartialEq)]
enum Next {
    Keep,
    Close,
}

/// The listening server: a socket and its connections.
pub struct Server {
    cfg: Config,
    listener: TcpListener,
    conns: Vec<Conn>,
    next_id: u64,
}

impl Server {
    /// Binds `addr` (errors are the caller's to word: each program says it
    /// differently).
    pub fn bind(cfg: Config, addr: SocketAddr) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Server { cfg, listener, conns: Vec::new(), next_id: 1 })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves forever.
    pub fn run(&mut self, access: &mut dyn Write, errors: &mut dyn Write) -> io::Result<()> {
        loop {
            self.turn(access, errors)?;
        }
    }

    /// Waits for something to do and does it: accept new clients, read
    /// requests, write replies, expire idle connections.
    fn turn(&mut self, access: &mut dyn Write, errors: &mut dyn Write) -> io::Result<()> {
        let now = Instant::now();
        let listening = self.conns.len() < MAX_CONNS;
        let mut fds = Vec::with_capacity(self.conns.len() + 1);
        if listening {
            fds.push((self.listener.as_raw_fd(), Interest::Read));
        }
        let mut timeout: Option<Duration> = None;
        for c in &self.conns {
            fds.push((c.stream.as_raw_fd(), if c.sending() { Interest::Write } else { Interest::Read }));
            let left = (c.last_active + KEEPALIVE_TIMEOUT).saturating_duration_since(now);
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        let ready = poll::wait(&fds, timeout)?;
        let first_conn = listening as usize;
        if listening && ready[0] {
            self.accept_all(errors);
        }
        let mut closed = Vec::new();
        for (i, c) in self.conns.iter_mut().enumerate() {
            // Connections accepted just now were not polled; try them anyway,
            // a non-blocking read costs nothing when there is no data.
            let is_ready = ready.get(i + first_conn).copied().unwrap_or(true);
            let next = if is_ready { serve(&self.cfg, c, access, errors) } else { Next::Keep };
            // Idle too long, whether waiting for a request or for a client
            // that stopped reading its reply (nginx's send_timeout).
            if next == Next::Close || c.last_active.elapsed() >= KEEPALIVE_TIMEOUT {
                closed.push(i);
            }
        }
        for i in closed.into_iter().rev() {
            let c = self.conns.remove(i);
            let _ = c.stream.shutdown(Shutdown::Both);
        }
        Ok(())
    }

    fn accept_all(&mut self, errors: &mut dyn Write) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    self.conns.push(Conn {
                        id: self.next_id,
                        stream,
                        peer,
                        inbuf: Vec::new(),
                        out: Vec::new(),
                        out_pos: 0,
                        file: None,
                        discard: 0,
                        close_after: false,
                        eof: false,
                        last_active: Instant::now(),
                    });
                    self.next_id += 1;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // Out of descriptors and the like: report and try later,
                    // as nginx does, rather than stop serving.
                    if self.cfg.flavor == Flavor::Nginx {
                        let _ = writeln!(errors, "{} [alert] 1#1: accept() failed ({})", error_log_time(now_epoch()), errno_text(&e));
                    }
                    return;
                }
            }
        }
    }
}

fn now_epoch() -> i64 {
    epoch(SystemTime::now())
}

/// Gives one connection its turn: write what is pending, or read and
/// answer what arrived, for as long as it can proceed without blocking.
fn serve(cfg: &Config, c: &mut Conn, access: &mut dyn Write, errors: &mut dyn Write) -> Next {
    loop {
        if c.sending() {
            match flush(c) {
                Ok(true) => {
                    c.last_active = Instant::now();
                    if c.close_after {
                        return Next::Close;
                    }
                }
                Ok(false) => return Next::Keep,
                Err(_) => return Next::Close,
            }
        }
        // Drop the body of the last request before looking for the next.
        if c.discard > 0 {
            let n = (c.discard as usize).min(c.inbuf.len());
            c.inbuf.drain(..n);
            c.discard -= n as u64;
        }
        if c.discard == 0 {
            if let Some(end) = super::head_end(&c.inbuf) {
                let head: Vec<u8> = c.inbuf.drain(..end).collect();
                answer(cfg, c, &head, access, errors);
                continue;
            }
            if c.inbuf.len() > MAX_HEAD {
                queue_bad_request(cfg, c, access, 400);
                continue;
            }
        }
        if c.eof {
            return Next::Close;
        }
        match read_some(c) {
            Ok(0) => return Next::Keep,
            Ok(_) => continue,
            Err(_) => return Next::Close,
        }
    }
}

/// Reads what is available; `Ok(0)` when nothing is (yet). End of stream
/// sets `eof`.
fn read_some(c: &mut Conn) -> io::Result<usize> {
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0;
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) => {
                c.eof = true;
                return Ok(total.max(1));
            }
            Ok(n) => {
                c.inbuf.extend_from_slice(&buf[..n]);
                total += n;
                c.last_active = Instant::now();
                if c.inbuf.len() > MAX_HEAD + CHUNK {
                    return Ok(total);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(total),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Writes pending bytes; `Ok(true)` once the whole reply is out.
fn flush(c: &mut Conn) -> io::Result<bool> {
    loop {
        if c.out_pos == c.out.len() {
            c.out.clear();
            c.out_pos = 0;
            let Some((file, left)) = c.file.as_mut() else { return Ok(true) };
            let mut chunk = vec![0u8; (*left).min(CHUNK as u64) as usize];
            let n = file.read(&mut chunk)?;
            if n == 0 {
                // The file shrank after its length was sent: the framing is
                // broken, so the connection must end.
                return Err(io::Error::from(ErrorKind::UnexpectedEof));
            }
            chunk.truncate(n);
            *left -= n as u64;
            if *left == 0 {
                c.file = None;
            }
            c.out = chunk;
        }
        match c.stream.write(&c.out[c.out_pos..]) {
            Ok(0) => return Err(io::Error::from(ErrorKind::WriteZero)),
            Ok(n) => {
                c.out_pos += n;
                c.last_active = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn queue_bad_request(cfg: &Config, c: &mut Conn, access: &mut dyn Write, status: u16) {
    c.inbuf.clear();
    let mut r = cfg.error(status, "Bad request syntax");
    r.close = true;
    queue(cfg, c, None, r, access);
}

/// Parses one request head and queues its reply.
fn answer(cfg: &Config, c: &mut Conn, head: &[u8], access: &mut dyn Write, errors: &mut dyn Write) {
    let Some(req) = RequestHead::parse(head) else {
        queue_bad_request(cfg, c, access, 400);
        return;
    };
    let mut reply = cfg.respond(&req);
    if let Some(note) = reply.note.take() {
        log_error(cfg, c, &req, &note, errors);
    }
    // Bodies are dropped unread; a chunked one would have to be decoded
    // to find its end, so that connection ends after the reply instead.
    if req.headers.has_token("Transfer-Encoding", "chunked") {
        reply.close = true;
    } else if let Some(n) = req.headers.get("Content-Length").and_then(|v| v.parse::<u64>().ok()) {
        if n > MAX_DISCARD {
            reply.close = true;
        } else {
            c.discard = n;
        }
    }
    if !req.keep_alive() || cfg.flavor != Flavor::Nginx {
        reply.close = true;
    }
    queue(cfg, c, Some(&req), reply, access);
}

fn log_error(cfg: &Config, c: &Conn, req: &RequestHead, note: &str, errors: &mut dyn Write) {
    let now = now_epoch();
    let _ = match cfg.flavor {
        Flavor::Nginx => {
            let host = req.headers.get("Host").map(|h| format!(", host: \"{h}\"")).unwrap_or_default();
            writeln!(
                errors,
                "{} [error] 1#1: *{} {note}, client: {}, server: localhost, request: \"{}\"{host}",
                error_log_time(now),
                c.id,
                c.peer.ip(),
                req.line
            )
        }
        Flavor::Python => writeln!(errors, "{} - - [{}] {note}", c.peer.ip(), python_log_time(now)),
        Flavor::Busybox => Ok(()),
    };
}

/// Frames a reply into the connection's output and logs the request.
fn queue(cfg: &Config, c: &mut Conn, req: Option<&RequestHead>, reply: Reply, access: &mut dyn Write) {
    let head_only = req.is_some_and(|r| r.method == "HEAD");
    let len = reply.body.len();
    let mut h = format!(
        "{} {} {}\r\nServer: {}\r\nDate: {}\r\n",
        cfg.flavor.version(),
        reply.status,
        reply.reason.as_deref().unwrap_or(cfg.flavor.reason(reply.status)),
        cfg.flavor.server(),
        http_date(now_epoch())
    );
    let mut fields = reply.headers.iter();
    let mut rest = Vec::new();
    // Content-Type, then Content-Length, then the rest: nginx's order.
    for (k, v) in fields.by_ref() {
        if k == "Content-Type" {
            let k = if cfg.flavor == Flavor::Python { "Content-type" } else { k };
            h.push_str(&format!("{k}: {v}\r\n"));
        } else {
            rest.push((k, v));
        }
    }
    if reply.has_length {
        h.push_str(&format!("Content-Length: {len}\r\n"));
    }
    for (k, v) in rest {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    if cfg.flavor != Flavor::Python {
        h.push_str(if reply.close { "Connection: close\r\n" } else { "Connection: keep-alive\r\n" });
    }
    h.push_str("\r\n");
    c.out.extend_from_slice(h.as_bytes());
    let sent = if head_only { 0 } else { len };
    if !head_only {
        match reply.body {
            Body::Empty => {}
            Body::Bytes(b) => c.out.extend_from_slice(&b),
            Body::File { file, len, .. } => {
                if len > 0 {
                    c.file = Some((file, len));
                }
            }
        }
    }
    c.close_after = reply.close;
    if cfg.access_log {
        let line = req.map(|r| r.line.as_str()).unwrap_or("-");
        let now = now_epoch();
        let _ = match cfg.flavor {
            Flavor::Python => writeln!(access, "{} - - [{}] \"{line}\" {} -", c.peer.ip(), python_log_time(now), reply.status),
            _ => {
                let referer = req.and_then(|r| r.headers.get("Referer")).unwrap_or("-");
                let agent = req.and_then(|r| r.headers.get("User-Agent")).unwrap_or("-");
                writeln!(access, "{} - - [{}] \"{line}\" {} {sent} \"{referer}\" \"{agent}\"", c.peer.ip(), log_time(now), reply.status)
            }
        };
        let _ = access.flush();
    }
}

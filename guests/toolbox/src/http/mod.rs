//! HTTP/1.x for the toolbox's servers (`nginx`, `httpd`, `python -m
//! http.server`) and clients (`curl`, `wget`).
//!
//! Everything here works on bytes, `std::net` sockets and plain
//! `Read`/`Write`, so the same code runs natively under `cargo test` (on
//! host loopback) and as wasm over wasi:sockets. Start with [`server`] (one
//! event loop over non-blocking sockets, see [`poll`]) and [`client`]
//! (one request/response exchange with deadlines); this file holds what
//! both share: head parsing, dates, percent-decoding, status texts.

pub mod client;
pub mod poll;
pub mod server;
#[cfg(test)]
mod tests;

use crate::cmd::date::{days_from_civil, tm_from_epoch};

/// The largest request or response head accepted. nginx's default
/// `large_client_header_buffers 4 8k` refuses heads of a few tens of KiB;
/// 32 KiB is as generous and bounds a slow client's memory.
pub const MAX_HEAD: usize = 32 * 1024;

/// Header fields in the order received; names compare case-insensitively.
#[derive(Debug, Default, Clone)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// Whether a comma-separated header (`Connection`, `Transfer-Encoding`)
    /// lists `token`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.0.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// Where a head ends: the index just past its blank line (`\r\n\r\n`, or a
/// bare `\n\n`, which servers and clients alike tolerate).
pub fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        let rest = &buf[nl + 1..];
        if rest.starts_with(b"\n") {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

/// Splits a head into its first line and its header fields. `None` when a
/// field line has no colon or the head is not UTF-8 (a 400 for servers, a
/// weird reply for clients).
pub fn parse_head(head: &[u8]) -> Option<(String, Headers)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next()?.to_owned();
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        if k.is_empty() || k.contains([' ', '\t']) {
            return None;
        }
        headers.push((k.to_owned(), v.trim().to_owned()));
    }
    Some((first, Headers(headers)))
}

/// A parsed request line plus its fields.
#[derive(Debug)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    /// `(major, minor)`: 1.0 and 1.1 differ in keep-alive defaults.
    pub version: (u8, u8),
    /// The request line as received, for access logs.
    pub line: String,
    pub headers: Headers,
}

impl RequestHead {
    pub fn parse(head: &[u8]) -> Option<RequestHead> {
        let (line, headers) = parse_head(head)?;
        let mut parts = line.split(' ');
        let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || method.is_empty() || target.is_empty() {
            return None;
        }
        let version = match version {
            "HTTP/1.1" => (1, 1),
            "HTTP/1.0" => (1, 0),
            _ => return None,
        };
        Some(RequestHead { method: method.to_owned(), target: target.to_owned(), version, line: line.clone(), headers })
    }

    /// Whether the connection stays open after this request: HTTP/1.1
    /// unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        if self.version == (1, 1) { !self.headers.has_token("Connection", "close") } else { self.headers.has_token("Connection", "keep-alive") }
    }
}

/// The reason phrase for a status. nginx says "Not Allowed" for 405;
/// callers that want that override it.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Time-out",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        416 => "Requested Range Not Satisfiable",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

const WDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// An IMF-fixdate (`Tue, 24 Nov 2026 17:40:01 GMT`), the only date format
/// HTTP/1.1 senders may generate.
pub fn http_date(epoch: i64) -> String {
    let t = tm_from_epoch(epoch, 0);
    format!("{}, {:02} {} {} {:02}:{:02}:{:02} GMT", WDAYS[t.wday as usize], t.day, MONTHS[t.mon as usize - 1], t.year, t.hour, t.min, t.sec)
}

/// Parses an IMF-fixdate; the obsolete RFC 850 and asctime forms are not
/// accepted (a date that does not parse is ignored, as the RFC allows).
pub fn parse_http_date(s: &str) -> Option<i64> {
    let rest = s.trim().split_once(", ")?.1;
    let mut it = rest.split(' ');
    let day: u32 = it.next()?.parse().ok()?;
    let name = it.next()?;
    let mon = MONTHS.iter().position(|m| *m == name)? as u32 + 1;
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if it.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, mon, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// nginx's `$time_local` in UTC: `24/Nov/2026:17:40:01 +0000`.
pub fn log_time(epoch: i64) -> String {
    let t = tm_from_epoch(epoch, 0);
    format!("{:02}/{}/{}:{:02}:{:02}:{:02} +0000", t.day, MONTHS[t.mon as usize - 1], t.year, t.hour, t.min, t.sec)
}

/// Python's `log_date_time_string`: `24/Nov/2026 17:40:01`.
pub fn python_log_time(epoch: i64) -> String {
    let t = tm_from_epoch(epoch, 0);
    format!("{:02}/{}/{} {:02}:{:02}:{:02}", t.day, MONTHS[t.mon as usize - 1], t.year, t.hour, t.min, t.sec)
}

/// nginx's error-log timestamp: `2026/11/24 17:40:01`.
pub fn error_log_time(epoch: i64) -> String {
    let t = tm_from_epoch(epoch, 0);
    format!("{}/{:02}/{:02} {:02}:{:02}:{:02}", t.year, t.mon, t.day, t.hour, t.min, t.sec)
}

/// Decodes `%XX` escapes. `None` for a truncated or non-hex escape, which
/// servers answer with 400 (nginx does the same).
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Escapes a path for use in a URL or an `href`: everything but unreserved
/// characters and `/` becomes `%XX`.
pub fn percent_encode_path(s: &str) -> String {
    let mut out = String::new();
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~/".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Escapes text for HTML bodies (directory listings, error pages).
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 with padding (for `curl -u`).
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

//! `curl` and busybox-style `wget`, both over `crate::http::client`:
//! options, redirects, output and exit statuses are here, the exchange
//! itself is there. Only `http://` exists; there is no TLS in the toolbox.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::http::base64;
use crate::http::client::{DEFAULT_CONNECT_TIMEOUT, FetchError, Limits, Request, Response, Url, exchange};
use crate::io::{Io, Output, errmsg};

/// The curl version the toolbox's `curl` reports (and sends as its agent).
pub const CURL_VERSION: &str = "8.11.1";

/// curl's default `--max-redirs` with `-L`.
const MAX_REDIRS: u32 = 50;

/// Everything a curl command line can say that the toolbox acts on.
#[derive(Default)]
struct CurlOpts {
    urls: Vec<String>,
    silent: bool,
    show_error: bool,
    fail: bool,
    fail_with_body: bool,
    output: Option<String>,
    remote_name: bool,
    head: bool,
    include: bool,
    method: Option<String>,
    headers: Vec<String>,
    data: Vec<Vec<u8>>,
    write_out: Option<String>,
    location: bool,
    max_redirs: Option<u32>,
    verbose: bool,
    max_time: Option<Duration>,
    connect_timeout: Option<Duration>,
    user_agent: Option<String>,
    user: Option<String>,
    referer: Option<String>,
    retry: u32,
    retry_delay: Option<Duration>,
    retry_connrefused: bool,
}

/// A usage error (exit 2) in curl's words.
struct UsageError(String);

fn seconds(opt: &str, v: &str) -> Result<Duration, UsageError> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| UsageError(format!("option {opt}: expected a proper numerical parameter")))
}

/// Reads `-d @file` data: `-` is stdin. curl warns and sends nothing when
/// the file cannot be read.
fn data_arg(v: &str, binary: bool, raw: bool, io: &mut Io) -> Vec<u8> {
    let Some(path) = v.strip_prefix('@').filter(|_| !raw) else { return v.as_bytes().to_vec() };
    match io.read_path(path) {
        Ok(mut d) => {
            if !binary {
                // -d/--data strips newlines from files, --data-binary does not.
                d.retain(|&b| b != b'\n' && b != b'\r');
            }
            d
        }
        Err(_) => {
            let _ = writeln!(io.stderr, "Warning: Couldn't read data from file \"{path}\", this makes an empty POST.");
            Vec::new()
        }
    }
}

fn urlencode(s: &[u8]) -> String {
    let mut out = String::new();
    for &c in s {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Which long options take a value; short ones are in `SHORT_WITH_VALUE`.
const LONG_WITH_VALUE: &[&str] = &[
    "output",
    "request",
    "header",
    "data",
    "data-ascii",
    "data-binary",
    "data-raw",
    "data-urlencode",
    "write-out",
    "max-time",
    "connect-timeout",
    "user-agent",
    "user",
    "referer",
    "url",
    "max-redirs",
    "retry",
    "retry-delay",
    "retry-max-time",
    "cookie",
    "range",
    "resolve",
    "proxy",
    "noproxy",
    "cacert",
    "cert",
    "key",
    "limit-rate",
];
const SHORT_WITH_VALUE: &str = "oXHdwmAuebr";

fn parse_curl(args: &[String], io: &mut Io) -> Result<CurlOpts, UsageError> {
    let mut o = CurlOpts::default();
    let mut i = 0;
    let mut only_urls = false;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if only_urls || !a.starts_with('-') || a == "-" {
            o.urls.push(a.clone());
            continue;
        }
        if a == "--" {
            only_urls = true;
            continue;
        }
        // Normalise to (name, value) pairs: long names, or one-letter names.
        let mut opts: Vec<(String, Option<String>)> = Vec::new();
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) if LONG_WITH_VALUE.contains(&n) => (n, Some(v.to_owned())),
                _ => (long, None),
            };
            let value = if LONG_WITH_VALUE.contains(&name) {
                match inline {
                    Some(v) => Some(v),
                    None if i < args.len() => {
                        i += 1;
                        Some(args[i - 1].clone())
                    }
                    None => return Err(UsageError(format!("option --{name}: requires parameter"))),
                }
            } else {
                None
            };
            opts.push((name.to_owned(), value));
        } else {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                if SHORT_WITH_VALUE.contains(c) {
                    let v = if j < chars.len() {
                        chars[j..].iter().collect()
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return Err(UsageError(format!("option -{c}: requires parameter")));
                    };
                    opts.push((c.to_string(), Some(v)));
                    break;
                }
                opts.push((c.to_string(), None));
            }
        }
        for (name, v) in opts {
            let v = v.unwrap_or_default();
            let shown = if name.len() == 1 { format!("-{name}") } else { format!("--{name}") };
            match name.as_str() {
                "s" | "silent" => o.silent = true,
                "S" | "show-error" => o.show_error = true,
                "f" | "fail" => o.fail = true,
                "fail-with-body" => o.fail_with_body = true,
                "o" | "output" => o.output = Some(v),
                "O" | "remote-name" => o.remote_name = true,
                "I" | "head" => o.head = true,
                "i" | "include" => o.include = true,
                "X" | "request" => o.method = Some(v),
                "H" | "header" => o.headers.push(v),
                "r" | "range" => o.headers.push(format!("Range: bytes={v}")),
                "d" | "data" | "data-ascii" => o.data.push(data_arg(&v, false, false, io)),
                "data-binary" => o.data.push(data_arg(&v, true, false, io)),
                "data-raw" => o.data.push(v.into_bytes()),
                "data-urlencode" => {
                    let enc = match v.split_once('=') {
                        Some((n, val)) if !n.is_empty() => format!("{n}={}", urlencode(val.as_bytes())),
                        Some((_, val)) => urlencode(val.as_bytes()),
                        None => urlencode(v.as_bytes()),
                    };
                    o.data.push(enc.into_bytes());
                }
                "w" | "write-out" => o.write_out = Some(v),
                "L" | "location" => o.location = true,
                "max-redirs" => o.max_redirs = Some(v.parse().map_err(|_| UsageError(format!("option {shown}: expected a proper numerical parameter")))?),
                "v" | "verbose" => o.verbose = true,
                "m" | "max-time" => o.max_time = Some(seconds(&shown, &v)?),
                "connect-timeout" => o.connect_timeout = Some(seconds(&shown, &v)?),
                "A" | "user-agent" => o.user_agent = Some(v),
                "u" | "user" => o.user = Some(v),
                "e" | "referer" => o.referer = Some(v),
                "url" => o.urls.push(v),
                "retry" => o.retry = v.parse().map_err(|_| UsageError(format!("option {shown}: expected a proper numerical parameter")))?,
                "retry-delay" => o.retry_delay = Some(seconds(&shown, &v)?),
                "retry-connrefused" => o.retry_connrefused = true,
                // Accepted and meaningless here: no TLS, no compression
                // negotiated (identity is always fine), no proxies, HTTP/1.1 only.
                "k" | "insecure" | "compressed" | "http1.1" | "http1.0" | "4" | "ipv4" | "6" | "ipv6" | "#" | "progress-bar" | "no-progress-meter"
                | "no-buffer" | "N" | "noproxy" | "retry-max-time" | "limit-rate" | "b" | "cookie" | "tcp-nodelay" | "no-keepalive" => {}
                "h" | "help" => return Err(UsageError(String::new())),
                "V" | "version" => return Err(UsageError("--version".into())),
                "resolve" | "proxy" | "cacert" | "cert" | "key" => {
                    return Err(UsageError(format!("option {shown}: is not supported by the wasmpod toolbox's curl (http:// only, no proxies)")));
                }
                _ => return Err(UsageError(format!("option {shown}: is unknown"))),
            }
        }
    }
    Ok(o)
}

/// What `-w` can report about the last transfer.
struct Outcome<'a> {
    response: Option<&'a Response>,
    /// The last URL, or what was given when it did not parse.
    url: Result<&'a Url, &'a str>,
    method: &'a str,
    redirects: u32,
    started: Instant,
    exit: i32,
    error: String,
}

/// Expands a `-w` format: `%{var}`, `%%`, and `\n`, `\t`, `\r`, `\\`.
fn write_out(fmt: &str, o: &Outcome, io: &mut Io) -> String {
    let mut out = String::new();
    let mut rest = fmt;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("%{")
            && let Some(end) = r.find('}')
        {
            let var = &r[..end];
            rest = &r[end + 1..];
            let resp = o.response;
            let header_len = resp.map(|r| r.raw_head.len()).unwrap_or(0);
            let val = match var {
                "http_code" | "response_code" => format!("{:03}", resp.map(|r| r.status).unwrap_or(0)),
                "size_download" => resp.map(|r| r.body.len()).unwrap_or(0).to_string(),
                "size_header" => header_len.to_string(),
                "url_effective" | "url" => o.url.map(|u| u.to_string()).unwrap_or_else(|raw| raw.to_owned()),
                "content_type" => resp.and_then(|r| r.headers.get("Content-Type")).unwrap_or("").to_owned(),
                "num_redirects" => o.redirects.to_string(),
                "redirect_url" => match resp.filter(|r| (300..400).contains(&r.status)).and_then(|r| r.headers.get("Location")) {
                    Some(l) => o.url.ok().and_then(|u| u.join(l).ok()).map(|u| u.to_string()).unwrap_or_default(),
                    None => String::new(),
                },
                "time_total" => format!("{:.6}", o.started.elapsed().as_secs_f64()),
                "remote_ip" => resp.map(|r| r.remote.ip().to_string()).unwrap_or_default(),
                "remote_port" => resp.map(|r| r.remote.port().to_string()).unwrap_or_default(),
                "method" => o.method.to_owned(),
                "http_version" => {
                    resp.map(|r| r.status_line.split(' ').next().unwrap_or("").trim_start_matches("HTTP/").to_owned()).unwrap_or_else(|| "0".into())
                }
                "exitcode" => o.exit.to_string(),
                "errormsg" => o.error.clone(),
                "scheme" => "http".into(),
                other => {
                    let _ = writeln!(io.stderr, "curl: unknown --write-out variable: '{other}'");
                    String::new()
                }
            };
            out.push_str(&val);
            continue;
        }
        if let Some(r) = rest.strip_prefix("%%") {
            out.push('%');
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix('\\') {
            let (s, n) = match r.chars().next() {
                Some('n') => ("\n", 1),
                Some('t') => ("\t", 1),
                Some('r') => ("\r", 1),
                Some('\\') => ("\\", 1),
                _ => ("\\", 0),
            };
            out.push_str(s);
            rest = &r[n..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// `curl [options] URL...`.
pub fn curl(argv: &[String], io: &mut Io) -> i32 {
    let o = match parse_curl(&argv[1..], io) {
        Ok(o) => o,
        Err(UsageError(msg)) if msg.is_empty() => {
            let _ = write!(
                io.stdout,
                "Usage: curl [options...] <url>\n -A, --user-agent <name>     Send User-Agent <name> to server\n -d, --data <data>           HTTP POST data (also --data-binary, --data-raw, --data-urlencode)\n -f, --fail                  Fail fast with no output on HTTP errors (also --fail-with-body)\n -H, --header <header>       Pass custom header(s) to server\n -I, --head                  Show document info only\n -i, --include               Include response headers in output\n -L, --location              Follow redirects (--max-redirs N)\n -m, --max-time <seconds>    Maximum time allowed for the transfer (also --connect-timeout)\n -o, --output <file>         Write to file instead of stdout (-O: use the remote name)\n -s, --silent                Silent mode (-S: show errors anyway)\n -u, --user <user:password>  Server user and password\n -v, --verbose               Make the operation more talkative\n -w, --write-out <format>    Output FORMAT after completion\n -X, --request <method>      Specify request method to use\n     --retry <num>           Retry request if transient problems occur\nThis is the wasmpod toolbox's curl: http:// only.\n"
            );
            return 0;
        }
        Err(UsageError(msg)) if msg == "--version" => {
            let _ = writeln!(io.stdout, "curl {CURL_VERSION} (wasm32-wasip2) wasmpod-toolbox\nProtocols: http\nFeatures: IPv6");
            return 0;
        }
        Err(UsageError(msg)) => {
            let _ = writeln!(io.stderr, "curl: {msg}\ncurl: try 'curl --help' for more information");
            return 2;
        }
    };
    if o.urls.is_empty() {
        let _ = writeln!(io.stderr, "curl: no URL specified\ncurl: try 'curl --help' for more information");
        return 2;
    }
    let mut status = 0;
    for url in &o.urls {
        status = curl_one(&o, url, io);
    }
    status
}

fn show_error(o: &CurlOpts, io: &mut Io, code: i32, msg: &str) {
    if !o.silent || o.show_error {
        let _ = writeln!(io.stderr, "curl: ({code}) {msg}");
    }
}

fn curl_one(o: &CurlOpts, raw_url: &str, io: &mut Io) -> i32 {
    let started = Instant::now();
    let mut url = match Url::parse(raw_url) {
        Ok(u) => u,
        Err(e) => {
            // As after any failed transfer, -w still reports (http_code 000).
            if let Some(fmt) = &o.write_out {
                let s = write_out(
                    fmt,
                    &Outcome { response: None, url: Err(raw_url), method: "GET", redirects: 0, started, exit: e.code(), error: e.to_string() },
                    io,
                );
                io.outs(&s);
            }
            show_error(o, io, e.code(), &e.to_string());
            return e.code();
        }
    };
    let mut body = if o.data.is_empty() { None } else { Some(o.data.join(&b'&')) };
    let mut method = match (&o.method, o.head, &body) {
        (Some(m), _, _) => m.clone(),
        (None, true, _) => "HEAD".to_owned(),
        (None, false, Some(_)) => "POST".to_owned(),
        _ => "GET".to_owned(),
    };
    let limits = Limits { start: started, connect_timeout: o.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT), max_time: o.max_time };
    let max_redirs = o.max_redirs.unwrap_or(MAX_REDIRS);
    let mut redirects = 0;
    let mut heads: Vec<u8> = Vec::new();
    let mut stderr = io.stderr.clone();
    let result: Result<Response, FetchError> = loop {
        let req = Request { method: method.clone(), headers: request_headers(o, &url, body.as_deref()), url: url.clone(), body: body.clone() };
        let mut attempt = 0;
        let r = loop {
            let trace: Option<&mut dyn Write> = if o.verbose { Some(&mut stderr) } else { None };
            let r = exchange(&req, &limits, trace);
            let transient = match &r {
                Ok(resp) => matches!(resp.status, 408 | 429 | 500 | 502 | 503 | 504),
                Err(FetchError::ConnectTimeout { .. }) | Err(FetchError::Timeout { .. }) => true,
                Err(FetchError::Connect { .. }) => o.retry_connrefused,
                Err(_) => false,
            };
            if !transient || attempt >= o.retry || o.max_time.is_some_and(|m| started.elapsed() >= m) {
                break r;
            }
            // curl's back-off: 1 s doubling up to 10 min, or --retry-delay.
            let delay = o.retry_delay.unwrap_or(Duration::from_secs(1u64 << attempt.min(9)));
            if !o.silent {
                let _ = writeln!(
                    io.stderr,
                    "Warning: Problem : {}. Will retry in {} seconds. {} retries left.",
                    if r.is_ok() { "HTTP error" } else { "timeout" },
                    delay.as_secs(),
                    o.retry - attempt
                );
            }
            std::thread::sleep(delay);
            attempt += 1;
        };
        let resp = match r {
            Ok(resp) => resp,
            Err(e) => break Err(e),
        };
        if o.include || o.head {
            heads.extend_from_slice(&resp.raw_head);
        }
        let location = resp.headers.get("Location").map(str::to_owned);
        match location {
            Some(loc) if o.location && matches!(resp.status, 301 | 302 | 303 | 307 | 308) => {
                if redirects >= max_redirs {
                    let exit = 47;
                    if let Some(fmt) = &o.write_out {
                        let s = write_out(
                            fmt,
                            &Outcome { response: Some(&resp), url: Ok(&url), method: &method, redirects, started, exit, error: String::new() },
                            io,
                        );
                        io.outs(&s);
                    }
                    show_error(o, io, exit, &format!("Maximum ({max_redirs}) redirects followed"));
                    return exit;
                }
                url = match url.join(&loc) {
                    Ok(u) => u,
                    Err(e) => break Err(e),
                };
                redirects += 1;
                // As curl: 303 turns anything but HEAD into GET; 301/302
                // turn POST into GET; 307/308 repeat the request as it was.
                if (resp.status == 303 && method != "HEAD") || (matches!(resp.status, 301 | 302) && method == "POST") {
                    if o.method.is_none() {
                        method = "GET".to_owned();
                    }
                    body = None;
                }
                if o.verbose {
                    let _ = writeln!(io.stderr, "* Issue another request to this URL: '{url}'");
                }
            }
            _ => break Ok(resp),
        }
    };
    let (exit, error) = match &result {
        Ok(resp) if resp.status >= 400 && (o.fail || o.fail_with_body) => (22, format!("The requested URL returned error: {}", resp.status)),
        Ok(_) => (0, String::new()),
        Err(e) => (e.code(), e.to_string()),
    };
    if let Ok(resp) = &result {
        let suppress_body = exit == 22 && !o.fail_with_body;
        let mut data = Vec::new();
        if !suppress_body || o.include || o.head {
            data.extend_from_slice(&heads);
        }
        if !suppress_body && !o.head {
            data.extend_from_slice(&resp.body);
        }
        if let Err(code) = write_output(o, &url, &data, io) {
            return code;
        }
    }
    if let Some(fmt) = &o.write_out {
        let s = write_out(fmt, &Outcome { response: result.as_ref().ok(), url: Ok(&url), method: &method, redirects, started, exit, error: error.clone() }, io);
        io.outs(&s);
    }
    if exit != 0 {
        show_error(o, io, exit, &error);
    }
    exit
}

/// `Host`, `Authorization`, `User-Agent`, `Accept`, then `-H` fields;
/// `-H 'Name:'` removes a default, `-H 'Name;'` sends it empty.
fn request_headers(o: &CurlOpts, url: &Url, body: Option<&[u8]>) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = vec![("Host".into(), url.authority())];
    if let Some(u) = &o.user {
        h.push(("Authorization".into(), format!("Basic {}", base64(u.as_bytes()))));
    }
    h.push(("User-Agent".into(), o.user_agent.clone().unwrap_or_else(|| format!("curl/{CURL_VERSION}"))));
    h.push(("Accept".into(), "*/*".into()));
    if let Some(r) = &o.referer {
        h.push(("Referer".into(), r.clone()));
    }
    if let Some(b) = body {
        h.push(("Content-Length".into(), b.len().to_string()));
        h.push(("Content-Type".into(), "application/x-www-form-urlencoded".into()));
    }
    for raw in &o.headers {
        if let Some(name) = raw.strip_suffix(';').filter(|n| !n.contains(':')) {
            h.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            h.push((name.to_owned(), String::new()));
            continue;
        }
        let Some((name, value)) = raw.split_once(':') else { continue };
        let (name, value) = (name.trim(), value.trim());
        let pos = h.iter().position(|(k, _)| k.eq_ignore_ascii_case(name));
        match (pos, value.is_empty()) {
            (Some(i), true) => {
                h.remove(i);
            }
            (Some(i), false) => h[i] = (name.to_owned(), value.to_owned()),
            (None, true) => {}
            (None, false) => h.push((name.to_owned(), value.to_owned())),
        }
    }
    h
}

/// Writes the transfer to stdout, `-o FILE` or `-O`; `Err(exit)` if it
/// cannot (curl's 23).
fn write_output(o: &CurlOpts, url: &Url, data: &[u8], io: &mut Io) -> Result<(), i32> {
    let target = match (&o.output, o.remote_name) {
        (Some(f), _) => Some(f.clone()),
        (None, true) => {
            let path = url.path.split('?').next().unwrap_or("");
            let name = path.rsplit('/').next().unwrap_or("");
            if name.is_empty() {
                show_error(o, io, 23, "Remote file name has no length");
                return Err(23);
            }
            Some(name.to_owned())
        }
        (None, false) => None,
    };
    let mut out: Output = match target.as_deref() {
        None | Some("-") => io.stdout.clone(),
        Some(path) => match io.open_out(path, false) {
            Ok(f) => f,
            Err(e) => {
                if !o.silent || o.show_error {
                    let _ = writeln!(io.stderr, "Warning: Failed to open the file {path}: {}", errmsg(&e));
                }
                show_error(o, io, 23, &format!("client returned ERROR on write of {} bytes", data.len()));
                return Err(23);
            }
        },
    };
    if out.write_all(data).and_then(|_| out.flush()).is_err() {
        show_error(o, io, 23, "Failure writing output to destination");
        return Err(23);
    }
    Ok(())
}

/// busybox `wget [-q] [-O FILE|-] [-S] [-T SEC] [--spider] [-U AGENT]
/// [--header 'K: V'] [--post-data DATA] URL`.
pub fn wget(argv: &[String], io: &mut Io) -> i32 {
    let mut quiet = false;
    let mut server_response = false;
    let mut spider = false;
    let mut output: Option<String> = None;
    let mut timeout = Duration::from_secs(900);
    let mut agent = "Wget".to_owned();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut post: Option<Vec<u8>> = None;
    let mut urls = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].clone();
        i += 1;
        let mut value = |name: &str, io: &mut Io| -> Option<String> {
            if let Some((_, v)) = a.split_once('=').filter(|_| a.starts_with("--")) {
                return Some(v.to_owned());
            }
            if let Some(v) = a.strip_prefix(name).filter(|v| !v.is_empty() && !a.starts_with("--")) {
                return Some(v.to_owned());
            }
            if i < argv.len() {
                i += 1;
                return Some(argv[i - 1].clone());
            }
            io.err("wget", format_args!("option requires an argument: {}", name.trim_start_matches('-')));
            None
        };
        let name = a.split('=').next().unwrap_or("");
        match name {
            "-q" | "--quiet" => quiet = true,
            "-S" | "--server-response" => server_response = true,
            "--spider" => spider = true,
            "-c" | "--continue" | "--no-check-certificate" | "-nv" | "--no-verbose" => {}
            n if n == "--output-document" || a.starts_with("-O") => {
                let Some(v) = value("-O", io) else { return 1 };
                output = Some(v);
            }
            n if n == "--timeout" || a.starts_with("-T") => {
                let Some(v) = value("-T", io) else { return 1 };
                match v.parse::<f64>() {
                    Ok(s) if s.is_finite() && s > 0.0 => timeout = Duration::from_secs_f64(s),
                    _ => {
                        io.err("wget", format_args!("invalid number '{v}'"));
                        return 1;
                    }
                }
            }
            n if n == "--user-agent" || a.starts_with("-U") => {
                let Some(v) = value("-U", io) else { return 1 };
                agent = v;
            }
            "--header" => {
                let Some(v) = value("--header", io) else { return 1 };
                if let Some((k, val)) = v.split_once(':') {
                    headers.push((k.trim().to_owned(), val.trim().to_owned()));
                }
            }
            "--post-data" => {
                let Some(v) = value("--post-data", io) else { return 1 };
                post = Some(v.into_bytes());
            }
            "-h" | "--help" => {
                let _ = writeln!(io.stderr, "Usage: wget [-cqS] [--spider] [-O FILE] [--header STR] [--post-data STR] [-T SEC] [-U AGENT] URL...");
                return 1;
            }
            _ if a.starts_with('-') && a != "-" => {
                io.err("wget", format_args!("unrecognized option '{a}'"));
                let _ = writeln!(io.stderr, "Usage: wget [-cqS] [--spider] [-O FILE] [--header STR] [--post-data STR] [-T SEC] [-U AGENT] URL...");
                return 1;
            }
            _ => urls.push(a.clone()),
        }
    }
    if urls.is_empty() {
        let _ = writeln!(io.stderr, "Usage: wget [-cqS] [--spider] [-O FILE] [--header STR] [--post-data STR] [-T SEC] [-U AGENT] URL...");
        return 1;
    }
    for u in &urls {
        let code = wget_one(u, quiet, server_response, spider, output.as_deref(), timeout, &agent, &headers, post.as_deref(), io);
        if code != 0 {
            return code;
        }
    }
    0
}

/// busybox wget's limit on redirects.
const WGET_MAX_REDIRS: u32 = 20;

#[allow(clippy::too_many_arguments)]
fn wget_one(
    raw: &str,
    quiet: bool,
    server_response: bool,
    spider: bool,
    output: Option<&str>,
    timeout: Duration,
    agent: &str,
    extra: &[(String, String)],
    post: Option<&[u8]>,
    io: &mut Io,
) -> i32 {
    let mut url = match Url::parse(raw) {
        Ok(u) => u,
        Err(FetchError::UnsupportedProtocol(p)) => {
            io.err("wget", format_args!("unsupported protocol: {p}:// (the wasmpod toolbox speaks http:// only)"));
            return 1;
        }
        Err(_) => {
            io.err("wget", format_args!("bad address '{raw}'"));
            return 1;
        }
    };
    let mut method = if spider {
        "HEAD"
    } else if post.is_some() {
        "POST"
    } else {
        "GET"
    }
    .to_owned();
    let mut body = post.map(<[u8]>::to_vec);
    let mut redirects = 0;
    let resp = loop {
        let mut headers: Vec<(String, String)> = vec![("Host".into(), url.authority()), ("User-Agent".into(), agent.to_owned())];
        if let Some(b) = &body {
            headers.push(("Content-Type".into(), "application/x-www-form-urlencoded".into()));
            headers.push(("Content-Length".into(), b.len().to_string()));
        }
        headers.push(("Connection".into(), "close".into()));
        for (k, v) in extra {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.clone()));
        }
        if !quiet {
            let _ = writeln!(io.stderr, "Connecting to {}", url.authority());
        }
        // busybox applies -T to each network operation; the toolbox applies
        // it to each request as a whole, which bounds the same hangs.
        let limits = Limits { start: Instant::now(), connect_timeout: timeout, max_time: Some(timeout) };
        let req = Request { method: method.clone(), url: url.clone(), headers, body: body.clone() };
        let resp = match exchange(&req, &limits, None) {
            Ok(r) => r,
            Err(FetchError::Resolve(h)) => {
                io.err("wget", format_args!("bad address '{h}'"));
                return 1;
            }
            Err(FetchError::Connect { reason, .. }) => {
                let why = if reason == "Couldn't connect to server" { "Connection refused".to_owned() } else { reason };
                io.err("wget", format_args!("can't connect to remote host: {why}"));
                return 1;
            }
            Err(FetchError::Timeout { .. }) | Err(FetchError::ConnectTimeout { .. }) => {
                io.err("wget", "download timed out");
                return 1;
            }
            Err(e) => {
                io.err("wget", format_args!("error getting response: {e}"));
                return 1;
            }
        };
        if server_response {
            for line in String::from_utf8_lossy(&resp.raw_head).lines() {
                if !line.is_empty() {
                    let _ = writeln!(io.stderr, "  {line}");
                }
            }
        }
        match resp.headers.get("Location") {
            Some(loc) if matches!(resp.status, 301 | 302 | 303 | 307 | 308) => {
                redirects += 1;
                if redirects > WGET_MAX_REDIRS {
                    io.err("wget", "too many redirections");
                    return 1;
                }
                url = match url.join(loc) {
                    Ok(u) => u,
                    Err(_) => {
                        io.err("wget", format_args!("bad address '{loc}'"));
                        return 1;
                    }
                };
                if resp.status == 303 && method != "HEAD" {
                    method = "GET".into();
                    body = None;
                }
            }
            _ => break resp,
        }
    };
    if resp.status >= 300 {
        io.err("wget", format_args!("server returned error: {}", resp.status_line));
        return 1;
    }
    if spider {
        if !quiet {
            let _ = writeln!(io.stderr, "remote file exists");
        }
        return 0;
    }
    let (mut out, shown) = match output {
        Some("-") => (io.stdout.clone(), None),
        Some(path) => match io.open_out(path, false) {
            Ok(f) => (f, Some(path.to_owned())),
            Err(e) => {
                io.err("wget", format_args!("can't open '{path}': {}", errmsg(&e)));
                return 1;
            }
        },
        None => {
            let path = url.path.split('?').next().unwrap_or("");
            let name = match path.rsplit('/').next() {
                Some(n) if !n.is_empty() => n.to_owned(),
                _ => "index.html".to_owned(),
            };
            // busybox opens with O_EXCL: it never overwrites without -O.
            match std::fs::File::options().write(true).create_new(true).open(&name) {
                Ok(f) => (Output::new(f), Some(name)),
                Err(e) => {
                    io.err("wget", format_args!("can't open '{name}': {}", errmsg(&e)));
                    return 1;
                }
            }
        }
    };
    if !quiet {
        let _ = match &shown {
            Some(n) => writeln!(io.stderr, "saving to '{n}'"),
            None => writeln!(io.stderr, "writing to stdout"),
        };
    }
    if out.write_all(&resp.body).and_then(|_| out.flush()).is_err() {
        io.err("wget", "write error");
        return 1;
    }
    if !quiet {
        let _ = match &shown {
            Some(n) => writeln!(io.stderr, "'{n}' saved"),
            None => writeln!(io.stderr, "written to stdout"),
        };
    }
    0
}

//! The real server and the real `curl`/`wget` code on host loopback.
//!
//! Each test starts its own [`Server`] on `127.0.0.1:0` in a thread (the
//! server itself is single-threaded; the thread only stands in for the
//! separate container that would run it) over a fresh document root, and
//! talks to it with raw sockets (to see exact bytes) or through the
//! `curl` and `wget` applets with captured streams. Servers run until the
//! test process ends. Paths given to applets are absolute: another test
//! (the case file) changes the process's current directory.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{Url, parse_chunked};
use super::server::{Config, Flavor, RangeReq, Server, parse_range, resolve_target};
use super::{head_end, http_date, parse_head, parse_http_date};
use crate::io::{Input, Io, Output};

/// A log sink the test can read while the server thread writes it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

static FIXTURES: AtomicUsize = AtomicUsize::new(0);

/// A document root `<tmp>/root` with a few files, and `<tmp>/secret.txt`
/// beside it that no request may reach.
fn fixture() -> PathBuf {
    let n = FIXTURES.fetch_add(1, Ordering::SeqCst);
    let base = std::env::temp_dir().join(format!("toolbox-http-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>home</h1>\n").unwrap();
    std::fs::write(root.join("a.txt"), "hello world\n").unwrap();
    std::fs::write(root.join("style.css"), "body{}\n").unwrap();
    std::fs::write(root.join("sub/index.html"), "<p>sub</p>\n").unwrap();
    std::fs::write(base.join("secret.txt"), "TOP SECRET\n").unwrap();
    root
}

struct Running {
    addr: SocketAddr,
    access: Shared,
    errors: Shared,
    root: PathBuf,
}

fn start(flavor: Flavor) -> Running {
    let root = fixture();
    let cfg = Config { flavor, root: root.clone(), access_log: true };
    let mut server = Server::bind(cfg, "127.0.0.1:0".parse().unwrap()).expect("bind loopback");
    let addr = server.local_addr().unwrap();
    let (access, errors) = (Shared::default(), Shared::default());
    let (mut a, mut e) = (access.clone(), errors.clone());
    std::thread::spawn(move || server.run(&mut a, &mut e));
    Running { addr, access, errors, root }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// One response read off a connection: head text and body, framed by
/// Content-Length (`head_only` for HEAD). Reads the head a byte at a time
/// so that a pipelined next response stays in the socket for the next call.
fn read_response(s: &mut TcpStream, head_only: bool) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while head_end(&buf).is_none() {
        let n = s.read(&mut byte).expect("response head in time");
        assert!(n > 0, "connection closed before a full head: {:?}", String::from_utf8_lossy(&buf));
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let (_, fields) = parse_head(head.as_bytes()).unwrap();
    let len: usize = if head_only { 0 } else { fields.get("Content-Length").map(|v| v.parse().unwrap()).unwrap_or(0) };
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("whole body in time");
    (head, body)
}

fn get(addr: SocketAddr, path: &str, extra: &str) -> (String, Vec<u8>) {
    let mut s = connect(addr);
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\n\r\n").unwrap();
    read_response(&mut s, false)
}

fn field<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.split_once(": ").filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim_end()))
}

fn status(head: &str) -> u16 {
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Runs an applet in-process: (status, stdout, stderr).
fn run(argv: &[&str]) -> (i32, String, String) {
    let (out, ob) = Output::buffer();
    let (err, eb) = Output::buffer();
    let mut io = Io { stdin: Input::empty(), stdout: out, stderr: err, env: Rc::new(Vec::new()) };
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let code = crate::toolbox_main(&argv, &mut io);
    drop(io);
    let (o, e) = (String::from_utf8_lossy(&ob.borrow()).into_owned(), String::from_utf8_lossy(&eb.borrow()).into_owned());
    (code, o, e)
}

/// A one-shot fixture server for what the static server never sends
/// (chunked bodies, custom redirects, silence): answers each accepted
/// connection with `reply(request_text)`, and hands the request text out.
fn scripted(reply: impl Fn(&str) -> Option<Vec<u8>> + Send + 'static) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            // Head, then as many body bytes as Content-Length says.
            let req = loop {
                if let Some(e) = head_end(&buf) {
                    let (_, f) = parse_head(&buf[..e]).unwrap();
                    let len: usize = f.get("Content-Length").map(|v| v.parse().unwrap()).unwrap_or(0);
                    if buf.len() >= e + len {
                        break String::from_utf8_lossy(&buf).into_owned();
                    }
                }
                match s.read(&mut tmp) {
                    Ok(0) | Err(_) => break String::from_utf8_lossy(&buf).into_owned(),
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            };
            seen2.lock().unwrap().push(req.clone());
            match reply(&req) {
                Some(bytes) => {
                    let _ = s.write_all(&bytes);
                }
                // Say nothing and hold the connection open (for timeouts).
                None => std::thread::sleep(Duration::from_secs(30)),
            }
        }
    });
    (addr, seen)
}

// ---- pure parts ----

#[test]
fn targets_are_decoded_and_never_leave_the_root() {
    let t = resolve_target("/a/./b/../c.txt?x=1", false).unwrap();
    assert_eq!(t.segments, ["a", "c.txt"]);
    assert!(!t.trailing_slash);
    assert_eq!(t.query, "?x=1");
    assert_eq!(resolve_target("/sp%20ace/", false).unwrap().segments, ["sp ace"]);
    assert!(resolve_target("/sub/", false).unwrap().trailing_slash);
    assert!(resolve_target("/..", false).is_none());
    assert!(resolve_target("/%2e%2e/secret", false).is_none());
    assert!(resolve_target("/a/%2E%2E/%2e%2e/x", false).is_none());
    assert!(resolve_target("/a%00b", false).is_none());
    assert!(resolve_target("/bad%zz", false).is_none());
    assert!(resolve_target("relative", false).is_none());
    // Python's clamp: `..` at the root stays at the root.
    assert_eq!(resolve_target("/../../a.txt", true).unwrap().segments, ["a.txt"]);
    assert_eq!(resolve_target("http://h:8/x/y", false).unwrap().segments, ["x", "y"]);
}

#[test]
fn ranges_follow_rfc_9110() {
    assert_eq!(parse_range("bytes=0-4", 12), RangeReq::Part(0, 4));
    assert_eq!(parse_range("bytes=6-", 12), RangeReq::Part(6, 11));
    assert_eq!(parse_range("bytes=-5", 12), RangeReq::Part(7, 11));
    assert_eq!(parse_range("bytes=-50", 12), RangeReq::Part(0, 11));
    assert_eq!(parse_range("bytes=3-100", 12), RangeReq::Part(3, 11));
    assert_eq!(parse_range("bytes=12-", 12), RangeReq::Unsatisfiable);
    assert_eq!(parse_range("bytes=-0", 12), RangeReq::Unsatisfiable);
    assert_eq!(parse_range("bytes=5-2", 12), RangeReq::Full);
    assert_eq!(parse_range("bytes=0-1,4-5", 12), RangeReq::Full);
    assert_eq!(parse_range("items=0-1", 12), RangeReq::Full);
    assert_eq!(parse_range("bytes=x-1", 12), RangeReq::Full);
}

#[test]
fn http_dates_round_trip() {
    assert_eq!(http_date(1_795_542_001), "Tue, 24 Nov 2026 17:40:01 GMT");
    assert_eq!(parse_http_date("Tue, 24 Nov 2026 17:40:01 GMT"), Some(1_795_542_001));
    assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(parse_http_date("yesterday"), None);
    assert_eq!(super::log_time(1_795_542_001), "24/Nov/2026:17:40:01 +0000");
    assert_eq!(super::python_log_time(1_795_542_001), "24/Nov/2026 17:40:01");
}

#[test]
fn chunked_bodies_decode_and_report_incomplete_or_bad() {
    let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: y\r\n\r\n";
    assert_eq!(parse_chunked(body, true), Ok(Some(b"hello, world".to_vec())));
    assert_eq!(parse_chunked(&body[..body.len() - 2], true), Ok(None));
    assert_eq!(parse_chunked(b"5\r\nhel", true), Ok(None));
    assert_eq!(parse_chunked(b"zz\r\n", true), Err(()));
    assert_eq!(parse_chunked(b"3\r\nabcX\r\n", true), Err(()));
}

#[test]
fn urls_parse_and_join_like_curl() {
    let u = Url::parse("localhost:8080/a/b?q=1#frag").unwrap();
    assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("localhost", 8080, "/a/b?q=1"));
    assert_eq!(u.to_string(), "http://localhost:8080/a/b?q=1");
    assert_eq!(Url::parse("http://[::1]/").unwrap().authority(), "[::1]");
    assert_eq!(Url::parse("http://h").unwrap().path, "/");
    assert_eq!(u.join("c").unwrap().path, "/a/c");
    assert_eq!(u.join("../x/").unwrap().path, "/x/");
    assert_eq!(u.join("/root").unwrap().path, "/root");
    assert_eq!(u.join("http://other:81/z").unwrap().to_string(), "http://other:81/z");
    assert_eq!(Url::parse("https://x/").unwrap_err().code(), 1);
    assert_eq!(Url::parse("http://h:99999/").unwrap_err().code(), 3);
    assert_eq!(Url::parse("http:///x").unwrap_err().code(), 3);
}

// ---- the server over sockets ----

#[test]
fn serves_index_html_with_headers() {
    let srv = start(Flavor::Nginx);
    let (head, body) = get(srv.addr, "/", "");
    assert_eq!(status(&head), 200, "{head}");
    assert_eq!(body, b"<h1>home</h1>\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(field(&head, "Server"), Some("nginx/1.27.3 (wasmpod toolbox)"));
    assert_eq!(field(&head, "Content-Type"), Some("text/html"));
    assert_eq!(field(&head, "Content-Length"), Some("14"));
    assert_eq!(field(&head, "Connection"), Some("close"));
    assert!(parse_http_date(field(&head, "Date").unwrap()).is_some());
    assert!(parse_http_date(field(&head, "Last-Modified").unwrap()).is_some());
    let (head, _) = get(srv.addr, "/style.css", "");
    assert_eq!(field(&head, "Content-Type"), Some("text/css"));
}

#[test]
fn missing_file_is_404_with_nginx_page_and_error_log() {
    let srv = start(Flavor::Nginx);
    let (head, body) = get(srv.addr, "/nope.html", "");
    assert_eq!(status(&head), 404);
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("<center><h1>404 Not Found</h1></center>"), "{body}");
    let log = srv.errors.text();
    let want = format!(
        "open() \"{}/nope.html\" failed (2: No such file or directory), client: 127.0.0.1, server: localhost, request: \"GET /nope.html HTTP/1.1\", host: \"test\"",
        srv.root.display()
    );
    assert!(log.contains(&want), "error log: {log}");
    assert!(log.contains(" [error] 1#1: *1 "), "{log}");
}

#[test]
fn directory_without_slash_redirects_and_without_index_is_forbidden() {
    let srv = start(Flavor::Nginx);
    let (head, _) = get(srv.addr, "/sub?x=1", "");
    assert_eq!(status(&head), 301);
    assert_eq!(field(&head, "Location"), Some("http://test/sub/?x=1"));
    let (head, body) = get(srv.addr, "/sub/", "");
    assert_eq!((status(&head), body), (200, b"<p>sub</p>\n".to_vec()));
    let (head, _) = get(srv.addr, "/empty/", "");
    assert_eq!(status(&head), 403);
    assert!(srv.errors.text().contains("/empty/\" is forbidden"), "{}", srv.errors.text());
}

#[test]
fn head_sends_length_but_no_body_and_keeps_the_connection() {
    let srv = start(Flavor::Nginx);
    let mut s = connect(srv.addr);
    write!(s, "HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (head, body) = read_response(&mut s, true);
    assert_eq!(status(&head), 200);
    assert_eq!(field(&head, "Content-Length"), Some("12"));
    assert!(body.is_empty(), "HEAD response carried a body: {body:?}");
    // Had a body been sent, it would be read here as the next response.
    write!(s, "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (head, body) = read_response(&mut s, false);
    assert_eq!((status(&head), body), (200, b"hello world\n".to_vec()));
}

#[test]
fn range_requests_give_206_and_416() {
    let srv = start(Flavor::Nginx);
    let (head, body) = get(srv.addr, "/a.txt", "Range: bytes=0-4\r\n");
    assert_eq!((status(&head), body), (206, b"hello".to_vec()));
    assert_eq!(field(&head, "Content-Range"), Some("bytes 0-4/12"));
    let (head, body) = get(srv.addr, "/a.txt", "Range: bytes=-6\r\n");
    assert_eq!((status(&head), body), (206, b"world\n".to_vec()));
    let (head, body) = get(srv.addr, "/a.txt", "Range: bytes=6-\r\n");
    assert_eq!((status(&head), body), (206, b"world\n".to_vec()));
    let (head, _) = get(srv.addr, "/a.txt", "Range: bytes=50-\r\n");
    assert_eq!(status(&head), 416);
    assert_eq!(field(&head, "Content-Range"), Some("bytes */12"));
}

#[test]
fn if_modified_since_gives_304() {
    let srv = start(Flavor::Nginx);
    let (head, _) = get(srv.addr, "/a.txt", "");
    let lm = field(&head, "Last-Modified").unwrap().to_owned();
    let (head, body) = get(srv.addr, "/a.txt", &format!("If-Modified-Since: {lm}\r\n"));
    assert_eq!(status(&head), 304);
    assert!(body.is_empty());
    let (head, _) = get(srv.addr, "/a.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
    assert_eq!(status(&head), 200);
    let etag = field(&get(srv.addr, "/a.txt", "").0, "ETag").unwrap().to_owned();
    assert_eq!(status(&get(srv.addr, "/a.txt", &format!("If-None-Match: {etag}\r\n")).0), 304);
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let srv = start(Flavor::Nginx);
    let mut s = connect(srv.addr);
    write!(s, "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (head, body) = read_response(&mut s, false);
    assert_eq!(field(&head, "Connection"), Some("keep-alive"));
    assert_eq!(body, b"hello world\n");
    // The second one pipelined together with a third, which closes.
    write!(s, "GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /style.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, false).1, b"<h1>home</h1>\n");
    let (head, body) = read_response(&mut s, false);
    assert_eq!((field(&head, "Connection"), body), (Some("close"), b"body{}\n".to_vec()));
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0, "server should close after Connection: close");
    // HTTP/1.0 closes by default.
    let mut s = connect(srv.addr);
    write!(s, "GET /a.txt HTTP/1.0\r\n\r\n").unwrap();
    let (head, _) = read_response(&mut s, false);
    assert_eq!(field(&head, "Connection"), Some("close"));
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn idle_and_half_sent_clients_do_not_block_others() {
    let srv = start(Flavor::Nginx);
    // An idle keep-alive connection, and one stuck mid-head.
    let mut idle = connect(srv.addr);
    write!(idle, "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    read_response(&mut idle, false);
    let mut slow = connect(srv.addr);
    write!(slow, "GET /a.txt HTTP/1.1\r\nHo").unwrap();
    let t = Instant::now();
    for _ in 0..3 {
        let (head, body) = get(srv.addr, "/a.txt", "");
        assert_eq!((status(&head), body), (200, b"hello world\n".to_vec()));
    }
    assert!(t.elapsed() < Duration::from_secs(2), "other clients waited {:?}", t.elapsed());
    // The held connections still work afterwards.
    write!(slow, "st: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut slow, false).1, b"hello world\n");
    write!(idle, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut idle, false).1, b"<h1>home</h1>\n");
}

#[test]
fn traversal_is_refused() {
    let srv = start(Flavor::Nginx);
    for path in ["/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt", "/sub/%2E%2E/%2e%2e/secret.txt", "/..%2fsecret.txt"] {
        let (head, body) = get(srv.addr, path, "");
        assert_eq!(status(&head), 400, "{path}: {head}");
        assert!(!String::from_utf8_lossy(&body).contains("SECRET"), "{path} leaked the file");
    }
    // `..` that stays inside is fine.
    let (head, body) = get(srv.addr, "/sub/%2e%2e/a.txt", "");
    assert_eq!((status(&head), body), (200, b"hello world\n".to_vec()));
    // Python clamps at the root instead: the root's own file, never the secret.
    let py = start(Flavor::Python);
    let (head, body) = get(py.addr, "/../secret.txt", "");
    assert_eq!(status(&head), 404);
    assert!(!String::from_utf8_lossy(&body).contains("SECRET"));
    assert_eq!(get(py.addr, "/../../a.txt", "").1, b"hello world\n");
}

#[test]
fn other_methods_get_405_and_the_body_is_skipped() {
    let srv = start(Flavor::Nginx);
    let mut s = connect(srv.addr);
    write!(s, "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde").unwrap();
    let (head, body) = read_response(&mut s, false);
    assert!(head.starts_with("HTTP/1.1 405 Not Allowed\r\n"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("405 Not Allowed"));
    write!(s, "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, false).1, b"hello world\n");
}

#[test]
fn access_log_is_nginx_combined_format() {
    let srv = start(Flavor::Nginx);
    get(srv.addr, "/a.txt", "User-Agent: probe/1\r\nReferer: http://r/\r\n");
    let missing_len = get(srv.addr, "/nope", "").1.len();
    let log = srv.access.text();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    // 127.0.0.1 - - [24/Nov/2026:17:40:01 +0000] "GET /a.txt HTTP/1.1" 200 12 "http://r/" "probe/1"
    let (prefix, rest) = lines[0].split_once('[').unwrap();
    assert_eq!(prefix, "127.0.0.1 - - ");
    let (time, rest) = rest.split_once("] ").unwrap();
    assert_eq!(time.len(), "24/Nov/2026:17:40:01 +0000".len(), "{time}");
    assert!(time.ends_with(" +0000") && time.as_bytes()[2] == b'/' && time.as_bytes()[11] == b':', "{time}");
    assert_eq!(rest, "\"GET /a.txt HTTP/1.1\" 200 12 \"http://r/\" \"probe/1\"");
    assert!(lines[1].ends_with(&format!("\"GET /nope HTTP/1.1\" 404 {missing_len} \"-\" \"-\"")), "{}", lines[1]);
}

#[test]
fn python_flavor_lists_directories_and_logs_on_stderr() {
    let srv = start(Flavor::Python);
    let (head, body) = get(srv.addr, "/empty/", "");
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("<title>Directory listing for /empty/</title>"));
    std::fs::write(srv.root.join("empty/x y.txt"), "x").unwrap();
    let body = String::from_utf8(get(srv.addr, "/empty/", "").1).unwrap();
    assert!(body.contains("<li><a href=\"x%20y.txt\">x y.txt</a></li>"), "{body}");
    assert_eq!(get(srv.addr, "/", "").1, b"<h1>home</h1>\n", "index.html wins over a listing");
    let (head, _) = get(srv.addr, "/nope", "");
    assert!(head.starts_with("HTTP/1.0 404 File not found\r\n"), "{head}");
    let mut s = connect(srv.addr);
    write!(s, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n").unwrap();
    let (head, body) = read_response(&mut s, false);
    assert!(head.starts_with("HTTP/1.0 501 Unsupported method ('POST')\r\n"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("<p>Message: Unsupported method (&#x27;POST&#x27;).</p>"));
    get(srv.addr, "/nope", "");
    // The applet gives both logs the same stream (stderr); here they are apart.
    let errors = srv.errors.text();
    let note = errors.lines().last().unwrap();
    assert!(note.starts_with("127.0.0.1 - - [") && note.ends_with("] code 404, message File not found"), "{errors}");
    let access = srv.access.text();
    let line = access.lines().last().unwrap();
    assert!(line.starts_with("127.0.0.1 - - [") && line.ends_with("] \"GET /nope HTTP/1.1\" 404 -"), "{access}");
    let time = &line[15..35];
    assert!(time.as_bytes()[2] == b'/' && time.as_bytes()[11] == b' ' && line.as_bytes()[35] == b']', "{time}");
}

// ---- curl and wget against it ----

#[test]
fn curl_fetches_and_writes_out() {
    let srv = start(Flavor::Nginx);
    let url = format!("http://127.0.0.1:{}/a.txt", srv.addr.port());
    let (code, out, err) = run(&["curl", "-s", "-w", "\\n%{http_code} %{size_download} %{content_type} %{url_effective}\\n", &url]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, format!("hello world\n\n200 12 text/plain {url}\n"));
    let (_, out, _) = run(&["curl", "-sI", &url]);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.contains("Content-Length: 12\r\n") && out.ends_with("\r\n\r\n"), "{out}");
    let (_, out, _) = run(&["curl", "-si", &url]);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("\r\n\r\nhello world\n"), "{out}");
    let file = srv.root.join("../saved.txt");
    let (code, out, _) = run(&["curl", "-so", file.to_str().unwrap(), "-w", "%{http_code}", &url]);
    assert_eq!((code, out.as_str()), (0, "200"));
    assert_eq!(std::fs::read(&file).unwrap(), b"hello world\n");
    let (code, out, _) = run(&["curl", "-s", "-r", "0-4", &url]);
    assert_eq!((code, out.as_str()), (0, "hello"));
    let (code, _, err) = run(&["curl", "-s", "--bogus", &url]);
    assert_eq!((code, err.as_str()), (2, "curl: option --bogus: is unknown\ncurl: try 'curl --help' for more information\n"));
}

#[test]
fn curl_fail_gives_22() {
    let srv = start(Flavor::Nginx);
    let url = format!("http://127.0.0.1:{}/missing", srv.addr.port());
    let (code, out, err) = run(&["curl", "-f", &url]);
    assert_eq!((code, out.as_str()), (22, ""));
    assert_eq!(err, "curl: (22) The requested URL returned error: 404\n");
    let (code, _, err) = run(&["curl", "-sf", &url]);
    assert_eq!((code, err.as_str()), (22, ""));
    let (code, out, _) = run(&["curl", "-s", "-w", "%{http_code}", "-o", "/dev/null", &url]);
    assert_eq!((code, out.as_str()), (0, "404"));
    let (code, out, _) = run(&["curl", "-s", "--fail-with-body", &url]);
    assert!(code == 22 && out.contains("404 Not Found"), "{code} {out}");
}

#[test]
fn curl_follows_redirects_with_location() {
    let srv = start(Flavor::Nginx);
    let url = format!("http://127.0.0.1:{}/sub", srv.addr.port());
    let (code, out, _) = run(&["curl", "-s", "-w", "%{http_code}", &url]);
    assert_eq!(code, 0);
    assert!(out.ends_with("301"), "{out}");
    let (code, out, _) = run(&["curl", "-sL", "-w", "|%{http_code} %{num_redirects} %{url_effective}", &url]);
    assert_eq!((code, out), (0, format!("<p>sub</p>\n|200 1 {url}/")));
    // A redirect loop ends at --max-redirs with 47.
    let (addr, _) = scripted(|_| Some(b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n".to_vec()));
    let (code, _, err) = run(&["curl", "-sSL", "--max-redirs", "3", &format!("http://{addr}/")]);
    assert_eq!((code, err.as_str()), (47, "curl: (47) Maximum (3) redirects followed\n"));
}

#[test]
fn curl_decodes_chunked_and_close_delimited_bodies() {
    let (addr, _) = scripted(|req| {
        Some(if req.starts_with("GET /chunked") {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n6\r\nworld\n\r\n0\r\n\r\n".to_vec()
        } else {
            b"HTTP/1.0 200 OK\r\n\r\nuntil close\n".to_vec()
        })
    });
    let (code, out, _) = run(&["curl", "-s", "-w", "%{size_download}", &format!("http://{addr}/chunked")]);
    assert_eq!((code, out.as_str()), (0, "hello world\n12"));
    let (code, out, _) = run(&["curl", "-s", &format!("http://{addr}/close")]);
    assert_eq!((code, out.as_str()), (0, "until close\n"));
}

#[test]
fn curl_sends_data_headers_and_credentials() {
    let (addr, seen) = scripted(|_| Some(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()));
    let (code, _, _) = run(&[
        "curl",
        "-s",
        "-d",
        "a=1",
        "--data",
        "b=2",
        "-H",
        "X-Test: yes",
        "-H",
        "Accept:",
        "-u",
        "user:pass",
        "-A",
        "agent/2",
        &format!("http://{addr}/p"),
    ]);
    assert_eq!(code, 0);
    let req = seen.lock().unwrap()[0].clone();
    assert!(req.starts_with("POST /p HTTP/1.1\r\n"), "{req}");
    for want in [
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "Content-Length: 7\r\n",
        "X-Test: yes\r\n",
        "Authorization: Basic dXNlcjpwYXNz\r\n",
        "User-Agent: agent/2\r\n",
        &format!("Host: {addr}\r\n"),
    ] {
        assert!(req.contains(want), "missing {want:?} in {req}");
    }
    assert!(!req.contains("Accept:"), "-H 'Accept:' should remove it: {req}");
    assert!(req.ends_with("\r\n\r\na=1&b=2"), "{req}");
    let (_, _, err) = run(&["curl", "-s", "-X", "PUT", "-v", &format!("http://{addr}/v")]);
    assert!(seen.lock().unwrap()[1].starts_with("PUT /v HTTP/1.1\r\n"));
    assert!(err.contains("> PUT /v HTTP/1.1\n") && err.contains("< HTTP/1.1 200 OK\n"), "{err}");
}

#[test]
fn curl_connection_and_url_errors_have_curls_codes() {
    // A port nobody listens on: bind, learn it, close.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, out, err) = run(&["curl", "-sS", "-w", "%{http_code}", &format!("http://127.0.0.1:{port}/")]);
    assert_eq!((code, out.as_str()), (7, "000"));
    assert!(
        err.starts_with(&format!("curl: (7) Failed to connect to 127.0.0.1 port {port} after ")) && err.ends_with(" ms: Couldn't connect to server\n"),
        "{err}"
    );
    assert_eq!(run(&["curl", "https://example.com/"]), (1, String::new(), "curl: (1) Protocol \"https\" not supported\n".into()));
    assert_eq!(run(&["curl", "http://"]).0, 3);
    assert_eq!(run(&["curl"]).0, 2);
}

#[test]
fn curl_max_time_gives_28() {
    let (addr, _) = scripted(|_| None);
    let t = Instant::now();
    let (code, _, err) = run(&["curl", "-sS", "-m", "0.3", &format!("http://{addr}/")]);
    assert_eq!(code, 28, "{err}");
    assert!(err.starts_with("curl: (28) Operation timed out after ") && err.ends_with(" milliseconds with 0 bytes received\n"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn wget_saves_to_stdout_and_reports_http_errors() {
    let srv = start(Flavor::Busybox);
    let base = format!("http://127.0.0.1:{}", srv.addr.port());
    assert_eq!(run(&["wget", "-q", "-O", "-", &format!("{base}/a.txt")]), (0, "hello world\n".into(), String::new()));
    let (code, _, err) = run(&["wget", "-q", "-O", "-", &format!("{base}/nope")]);
    assert_eq!((code, err.as_str()), (1, "wget: server returned error: HTTP/1.1 404 Not Found\n"));
    let (_, _, err) = run(&["wget", "-S", "--spider", &format!("{base}/a.txt")]);
    assert!(err.contains("  HTTP/1.1 200 OK\n") && err.contains("remote file exists\n"), "{err}");
}

#[test]
fn nginx_reports_a_taken_port_like_nginx() {
    let srv = start(Flavor::Nginx);
    let (code, _, err) = run(&["nginx", "-g", &format!("daemon off; listen 127.0.0.1:{};", srv.addr.port())]);
    assert_eq!(code, 1);
    assert_eq!(err, format!("nginx: [emerg] bind() to 127.0.0.1:{} failed (98: Address already in use)\n", srv.addr.port()));
    assert_eq!(run(&["nginx", "-g", "bogus on;"]), (1, String::new(), "nginx: [emerg] unknown directive \"bogus\" in command line\n".into()));
    let (code, _, err) = run(&["nginx", "-t", "-g", "daemon off; listen 8080; root /srv;"]);
    assert!(code == 0 && err.contains("syntax is ok") && err.contains("0.0.0.0:8080") && err.contains("/srv"), "{err}");
}

#[test]
fn python_accepts_only_the_http_server_module() {
    let (code, _, err) = run(&["python3", "script.py"]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "python3: this image alias is the wasmpod toolbox; it provides only 'python -m http.server [PORT]' and 'python -m SimpleHTTPServer [PORT]'\n"
    );
    assert_eq!(run(&["python", "-c", "print(1)"]).0, 2);
    assert_eq!(run(&["python"]).0, 2);
    let (code, _, err) = run(&["python", "-m", "http.server", "notaport"]);
    assert_eq!(code, 2);
    assert!(err.ends_with("server.py: error: argument port: invalid int value: 'notaport'\n"), "{err}");
}

//! `socat` and `nc` over real sockets on host loopback.
//!
//! Each test runs the applet in-process in its own thread (standing in for
//! the container that would run it) with captured streams, and plays both
//! the client and the upstream server with plain std sockets. socat binds
//! port 0 and the test reads the port from its `-d -d` log line, which is
//! also how the log format gets checked. Fork-mode servers run until the
//! test process ends, as the HTTP servers in `http/tests.rs` do.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::io::{Input, Io, Output};

/// A stream the test reads while the applet's thread writes it.
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

struct Running {
    handle: JoinHandle<i32>,
    stdout: Shared,
    stderr: Shared,
}

impl Running {
    /// Waits for the applet to exit, failing the test if it does not.
    fn status(self) -> (i32, String, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.handle.is_finished() {
            assert!(Instant::now() < deadline, "applet still running; stderr: {}", self.stderr.text());
            std::thread::sleep(Duration::from_millis(10));
        }
        (self.handle.join().unwrap(), self.stdout.text(), self.stderr.text())
    }
}

/// Starts an applet in a thread with `stdin` as its standard input.
fn spawn(argv: &[&str], stdin: &[u8]) -> Running {
    let (stdout, stderr) = (Shared::default(), Shared::default());
    let (o, e) = (stdout.clone(), stderr.clone());
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.to_vec();
    let handle = std::thread::spawn(move || {
        let mut io = Io { stdin: Input::bytes(stdin), stdout: Output::new(o), stderr: Output::new(e), env: Rc::new(Vec::new()) };
        crate::toolbox_main(&argv, &mut io)
    });
    Running { handle, stdout, stderr }
}

/// Waits until `log` contains `needle`; returns the log.
fn wait_for(log: &Shared, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let t = log.text();
        if t.contains(needle) {
            return t;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in log: {t}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The address socat says it listens on (`N listening on AF=2 IP:PORT`).
fn socat_listening(r: &Running) -> SocketAddr {
    let log = wait_for(&r.stderr, "N listening on AF=2 ");
    let rest = log.split("N listening on AF=2 ").nth(1).unwrap();
    rest.lines().next().unwrap().parse().unwrap()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn read_to_end(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("peer closed in time");
    String::from_utf8(out).unwrap()
}

/// Reads exactly `n` bytes.
fn read_n(s: &mut TcpStream, n: usize) -> String {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).expect("reply in time");
    String::from_utf8(buf).unwrap()
}

/// An upstream that serves every connection in its own thread with `f`.
fn upstream(f: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let f = Arc::new(f);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let f = f.clone();
            std::thread::spawn(move || f(s));
        }
    });
    addr
}

/// Echoes each line back as soon as it arrives, until EOF.
fn line_echo() -> SocketAddr {
    upstream(|mut s| {
        let mut buf = [0u8; 1024];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 || s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    })
}

/// Reads until EOF (so it needs the half-close to arrive), then answers
/// with the upper-cased request and closes.
fn upper_after_eof() -> SocketAddr {
    upstream(|mut s| {
        let mut req = Vec::new();
        if s.read_to_end(&mut req).is_ok() {
            let _ = s.write_all(&req.to_ascii_uppercase());
        }
    })
}

/// A loopback port with nothing listening on it.
fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

fn socat_fork_to(up: SocketAddr) -> Running {
    let target = format!("TCP:{up}");
    spawn(&["socat", "-d", "-d", "TCP-LISTEN:0,bind=127.0.0.1,fork,reuseaddr", &target], b"")
}

// ---- socat ----

#[test]
fn socat_relays_request_and_response_and_logs_like_socat() {
    let up = upstream(|mut s| {
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"pong:").unwrap();
        s.write_all(&buf).unwrap();
    });
    let r = socat_fork_to(up);
    let at = socat_listening(&r);
    let mut c = connect(at);
    c.write_all(b"ping\n").unwrap();
    assert_eq!(read_to_end(&mut c), "pong:ping\n");
    let peer = c.local_addr().unwrap();
    let log = wait_for(&r.stderr, "(fd ");
    assert!(log.contains(&format!(" socat[1] N accepting connection from AF=2 {peer} on AF=2 {at}\n")), "{log}");
    assert!(log.contains(&format!(" socat[1] N opening connection to AF=2 {up}\n")), "{log}");
    assert!(log.contains(" N successfully connected from local address AF=2 127.0.0.1:"), "{log}");
    assert!(log.contains(" N starting data transfer loop with FDs ["), "{log}");
    assert!(log.contains(" N socket 2 (fd "), "the upstream's close is logged: {log}");
    // Every line starts with socat's timestamp: `2026/11/24 17:40:01 socat[1]`.
    for line in log.lines() {
        let (date, rest) = line.split_at(19);
        assert!(date.as_bytes()[4] == b'/' && date.as_bytes()[13] == b':', "{line}");
        assert!(rest.starts_with(" socat[1] "), "{line}");
    }
}

#[test]
fn socat_without_fork_exits_after_the_first_connection() {
    let up = line_echo();
    let r = spawn(&["socat", "-d", "-d", "TCP-LISTEN:0,bind=127.0.0.1", &format!("TCP4:{up}")], b"");
    let at = socat_listening(&r);
    let mut c = connect(at);
    c.write_all(b"once\n").unwrap();
    assert_eq!(read_n(&mut c, 5), "once\n");
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut c), "");
    let (status, _, log) = r.status();
    assert_eq!(status, 0, "{log}");
    assert!(log.contains(" N exiting with status 0\n"), "{log}");
    // The listener went away with the connection.
    assert!(TcpStream::connect(at).is_err());
}

#[test]
fn socat_fork_serves_a_second_client_while_the_first_is_idle() {
    let up = line_echo();
    let r = socat_fork_to(up);
    let at = socat_listening(&r);
    let mut idle = connect(at);
    wait_for(&r.stderr, "starting data transfer loop");
    let mut busy = connect(at);
    busy.write_all(b"second\n").unwrap();
    assert_eq!(read_n(&mut busy, 7), "second\n");
    busy.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut busy), "");
    // The first one was kept all along and still works.
    idle.write_all(b"first\n").unwrap();
    assert_eq!(read_n(&mut idle, 6), "first\n");
}

#[test]
fn socat_passes_a_half_close_on_and_the_reply_back() {
    let up = upper_after_eof();
    let r = socat_fork_to(up);
    let at = socat_listening(&r);
    let mut c = connect(at);
    c.write_all(b"hello").unwrap();
    // Without the shutdown reaching upstream it would never answer.
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut c), "HELLO");
    let log = wait_for(&r.stderr, "N socket 2 (fd ");
    assert!(log.contains("N socket 1 (fd "), "{log}");
}

#[test]
fn socat_closes_the_client_when_upstream_refuses_and_keeps_serving() {
    let dead = closed_port();
    let r = socat_fork_to(dead);
    let at = socat_listening(&r);
    for _ in 0..2 {
        let mut c = connect(at);
        let mut buf = [0u8; 16];
        // Closed without a byte: EOF, or a reset if our write raced it.
        match c.read(&mut buf) {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
    }
    let log = r.stderr.text();
    let want = format!(" socat[1] E connect(AF=2 {dead}, 16): Connection refused\n");
    assert_eq!(log.matches(&want).count(), 2, "{log}");
}

#[test]
fn socat_stdio_to_tcp_sends_stdin_and_prints_the_reply() {
    let up = upper_after_eof();
    let r = spawn(&["socat", "-", &format!("TCP:{up}")], b"over stdio\n");
    let (status, out, err) = r.status();
    assert_eq!((status, out.as_str(), err.as_str()), (0, "OVER STDIO\n", ""));
}

#[test]
fn socat_verbose_dumps_traffic_in_both_directions() {
    let up = upper_after_eof();
    let r = spawn(&["socat", "-v", "STDIO", &format!("TCP:{up}")], b"a\r\n");
    let (status, out, err) = r.status();
    assert_eq!((status, out.as_str()), (0, "A\r\n"));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(lines[0].starts_with("> 20") && lines[0].ends_with("  length=3 from=0 to=2"), "{err}");
    assert_eq!(lines[1], "a\\r");
    assert!(lines[2].starts_with("< 20") && lines[2].ends_with("  length=3 from=0 to=2"), "{err}");
    assert_eq!(lines[3], "A\\r");
}

#[test]
fn socat_udp_client_sends_a_datagram_and_prints_the_answer() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let (n, peer) = sock.recv_from(&mut buf).unwrap();
        sock.send_to(&buf[..n].to_ascii_uppercase(), peer).unwrap();
    });
    // stdin's end leaves socat waiting -t for the answer, then it exits.
    let r = spawn(&["socat", "-t", "2", "-", &format!("UDP:{at}")], b"dgram");
    let (status, out, err) = r.status();
    assert_eq!((status, out.as_str(), err.as_str()), (0, "DGRAM", ""));
}

#[test]
fn socat_refuses_bad_usage_in_its_own_words() {
    let cases: &[(&[&str], &str)] = &[
        (&["socat", "FOO:1", "-"], " socat[1] E unknown device/address \"FOO\"\n"),
        (&["socat", "TCP-LISTEN:80,bogus", "-"], " socat[1] E parseopts(): unknown option \"bogus\"\n"),
        (&["socat", "-"], " socat[1] E exactly 2 addresses required (there are 1); use option \"-h\" for help\n"),
        (&["socat", "-z", "-", "-"], " socat[1] E unknown option \"-z\"; use option \"-h\" for help\n"),
        (&["socat", "TCP-LISTEN:80", "EXEC:/bin/sh"], " socat[1] E EXEC: cannot start a program"),
        (&["socat", "TCP-LISTEN:80,fork", "STDIO"], " socat[1] E fork: the second address must be"),
    ];
    for (argv, want) in cases {
        let (status, _, err) = spawn(argv, b"").status();
        assert_eq!(status, 1, "{argv:?}: {err}");
        assert!(err.contains(want), "{argv:?}: {err}");
    }
}

// ---- nc ----

#[test]
fn nc_z_reports_open_and_closed_ports() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = l.local_addr().unwrap();
    let (status, _, err) = spawn(&["nc", "-z", "-v", "127.0.0.1", &open.port().to_string()], b"").status();
    assert_eq!((status, err), (0, format!("127.0.0.1 ({open}) open\n")));
    let closed = closed_port();
    let port = closed.port().to_string();
    let (status, _, err) = spawn(&["nc", "-z", "127.0.0.1", &port], b"").status();
    assert_eq!((status, err.as_str()), (1, ""));
    let (status, _, err) = spawn(&["nc", "-zv", "127.0.0.1", &port], b"").status();
    assert_eq!((status, err.as_str()), (1, "nc: can't connect to remote host (127.0.0.1): Connection refused\n"));
}

#[test]
fn nc_client_sends_stdin_then_half_closes_and_prints_the_reply() {
    let up = upper_after_eof();
    let (status, out, err) = spawn(&["nc", "127.0.0.1", &up.port().to_string()], b"hello\n").status();
    assert_eq!((status, out.as_str(), err.as_str()), (0, "HELLO\n", ""));
}

#[test]
fn nc_client_reports_a_refused_connection_like_busybox() {
    let port = closed_port().port().to_string();
    let (status, _, err) = spawn(&["nc", "127.0.0.1", &port], b"x").status();
    assert_eq!((status, err.as_str()), (1, "nc: can't connect to remote host (127.0.0.1): Connection refused\n"));
    let (status, _, err) = spawn(&["nc", "127.0.0.1", "http"], b"").status();
    assert_eq!((status, err.as_str()), (1, "nc: bad port spec 'http'\n"));
}

#[test]
fn nc_listener_exchanges_data_with_one_client() {
    let r = spawn(&["nc", "-l", "-v", "-s", "127.0.0.1", "-p", "0"], b"from listener\n");
    let log = wait_for(&r.stderr, " ...\n");
    let at: SocketAddr = log.trim_start_matches("listening on ").split(' ').next().unwrap().parse().unwrap();
    let mut c = connect(at);
    c.write_all(b"from client\n").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    // nc sends its stdin and then its end of stream.
    assert_eq!(read_to_end(&mut c), "from listener\n");
    drop(c);
    let (status, out, err) = r.status();
    assert_eq!((status, out.as_str()), (0, "from client\n"), "{err}");
    assert!(err.contains(&format!("connect to {at} from 127.0.0.1:")), "{err}");
}

#[test]
fn nc_listen_timeout_gives_up() {
    let (status, _, err) = spawn(&["nc", "-l", "-s", "127.0.0.1", "-w", "1"], b"").status();
    assert_eq!((status, err.as_str()), (1, "nc: timeout\n"));
}

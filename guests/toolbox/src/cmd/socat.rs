//! `socat`, the subset ambassador and sidecar containers use:
//! `socat [-d]... [-v] [-t SEC] [-T SEC] ADDRESS1 ADDRESS2` with TCP and
//! UDP listeners and clients and stdio.
//!
//! Where socat forks a child per connection (`TCP-LISTEN:...,fork`), this
//! one keeps every connection in one event loop ([`crate::relay::proxy`]):
//! WASI has no processes. For the same reason `EXEC:` and `SYSTEM:` are
//! refused. Log lines keep socat's shape (`2026/11/24 17:40:01 socat[1] N
//! ...`); the pid is 1, which is what socat as a container's command has.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http::error_log_time;
use crate::io::{Io, Output};
use crate::relay::proxy::{DEFAULT_MAX_SESSIONS, Handler, Proxy};
use crate::relay::session::{self, End, Event, Fault, Session};
use crate::relay::{Side, af_addr, strerror};

/// socat's `-t` default: after one direction ends, how long to wait for
/// the other before giving up.
const DEFAULT_LINGER: Duration = Duration::from_millis(500);

/// socat leaves connects to the kernel (minutes). Here an outbound connect
/// blocks the one loop every other connection shares, so it is bounded by
/// default; `connect-timeout=SEC` sets it.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which address families a name may resolve to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Any,
    V4,
    V6,
}

impl Family {
    fn admits(self, a: &SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => a.is_ipv4(),
            Family::V6 => a.is_ipv6(),
        }
    }
    fn unspecified(self) -> IpAddr {
        if self == Family::V6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) }
    }
}

/// A parsed address.
#[derive(Clone, Debug, PartialEq)]
enum Addr {
    TcpListen { port: u16, bind: IpAddr, fork: bool, max_children: Option<usize> },
    TcpConnect { host: String, port: u16, family: Family, timeout: Duration },
    UdpListen { port: u16, bind: IpAddr },
    UdpConnect { host: String, port: u16, family: Family },
    Stdio,
}

/// Options every supported address type accepts, for telling an
/// inapplicable option from an unknown one.
const KNOWN_OPTIONS: &[&str] = &["fork", "reuseaddr", "so-reuseaddr", "bind", "max-children", "connect-timeout"];

/// Splits `[::1]:80` style parameters on colons outside brackets.
fn split_params(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().unwrap().push(c);
    }
    out
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.parse::<u16>().map_err(|_| format!("getaddrinfo(\"NULL\", \"{s}\"): Servname not supported for ai_socktype"))
}

fn parse_secs(s: &str) -> Option<Duration> {
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).map(Duration::from_secs_f64)
}

/// Parses one address: `KEYWORD:PARAM[:PARAM],OPTION[=VALUE],...`.
fn parse_addr(spec: &str) -> Result<Addr, String> {
    let (head, opts) = match spec.split_once(',') {
        Some((h, o)) => (h, o.split(',').filter(|o| !o.is_empty()).collect::<Vec<_>>()),
        None => (spec, Vec::new()),
    };
    let mut params = split_params(head);
    let keyword = params.remove(0).to_ascii_uppercase();
    let want = |n: usize, params: &[String]| {
        if params.len() != n {
            return Err(format!("{keyword}: wrong number of parameters ({} instead of {n})", params.len()));
        }
        Ok(())
    };
    let strip = |h: &str| h.trim_start_matches('[').trim_end_matches(']').to_owned();
    let mut addr = match keyword.as_str() {
        "-" | "STDIO" | "STDIN" | "STDOUT" => {
            want(0, &params)?;
            Addr::Stdio
        }
        "TCP-LISTEN" | "TCP-L" | "TCP4-LISTEN" | "TCP4-L" | "TCP6-LISTEN" | "TCP6-L" => {
            want(1, &params)?;
            let family = if keyword.starts_with("TCP6") { Family::V6 } else { Family::V4 };
            Addr::TcpListen { port: parse_port(&params[0])?, bind: family.unspecified(), fork: false, max_children: None }
        }
        "TCP" | "TCP-CONNECT" | "TCP4" | "TCP4-CONNECT" | "TCP6" | "TCP6-CONNECT" => {
            want(2, &params)?;
            let family = if keyword.starts_with("TCP4") {
                Family::V4
            } else if keyword.starts_with("TCP6") {
                Family::V6
            } else {
                Family::Any
            };
            Addr::TcpConnect { host: strip(&params[0]), port: parse_port(&params[1])?, family, timeout: DEFAULT_CONNECT_TIMEOUT }
        }
        "UDP-LISTEN" | "UDP-L" | "UDP4-LISTEN" | "UDP4-L" | "UDP6-LISTEN" | "UDP6-L" => {
            want(1, &params)?;
            let family = if keyword.starts_with("UDP6") { Family::V6 } else { Family::V4 };
            Addr::UdpListen { port: parse_port(&params[0])?, bind: family.unspecified() }
        }
        "UDP" | "UDP-CONNECT" | "UDP4" | "UDP4-CONNECT" | "UDP6" | "UDP6-CONNECT" => {
            want(2, &params)?;
            let family = if keyword.starts_with("UDP4") {
                Family::V4
            } else if keyword.starts_with("UDP6") {
                Family::V6
            } else {
                Family::Any
            };
            Addr::UdpConnect { host: strip(&params[0]), port: parse_port(&params[1])?, family }
        }
        "EXEC" | "SYSTEM" => {
            return Err(format!("{keyword}: cannot start a program: the wasmpod toolbox runs as a WASI program, which has no processes (fork/exec)"));
        }
        _ => return Err(format!("unknown device/address \"{}\"", head.split(':').next().unwrap_or(head))),
    };
    for opt in opts {
        let (name, value) = match opt.split_once('=') {
            Some((n, v)) => (n.to_ascii_lowercase(), Some(v)),
            None => (opt.to_ascii_lowercase(), None),
        };
        let bad_value = || format!("parseopts(): invalid value \"{}\" for option \"{name}\"", value.unwrap_or(""));
        match (&mut addr, name.as_str()) {
            (Addr::TcpListen { fork, .. }, "fork") => *fork = true,
            // std's listeners already set SO_REUSEADDR (on Unix, and
            // wasi:sockets implementations do the equivalent), so a
            // restarted socat can rebind at once as with the option.
            (Addr::TcpListen { .. } | Addr::UdpListen { .. }, "reuseaddr" | "so-reuseaddr") => {}
            (Addr::TcpListen { bind, .. } | Addr::UdpListen { bind, .. }, "bind") => {
                *bind = value.map(strip_brackets).and_then(|v| v.parse().ok()).ok_or_else(bad_value)?;
            }
            (Addr::TcpListen { max_children, .. }, "max-children") => {
                *max_children = Some(value.and_then(|v| v.parse().ok()).filter(|&n: &usize| n > 0).ok_or_else(bad_value)?);
            }
            (Addr::TcpConnect { timeout, .. }, "connect-timeout") => {
                *timeout = value.and_then(parse_secs).filter(|d| !d.is_zero()).ok_or_else(bad_value)?;
            }
            (_, n) if KNOWN_OPTIONS.contains(&n) => return Err(format!("{keyword}: option \"{n}\" not applicable to this address type")),
            (_, n) => return Err(format!("parseopts(): unknown option \"{n}\"")),
        }
    }
    Ok(addr)
}

fn strip_brackets(s: &str) -> &str {
    s.trim_start_matches('[').trim_end_matches(']')
}

/// Where log lines go and which are shown: errors always, warnings with
/// `-d`, notices with `-d -d`, info with three.
struct Log {
    level: u32,
    out: Output,
}

impl Log {
    fn line(&mut self, severity: char, msg: impl std::fmt::Display) {
        let need = match severity {
            'F' | 'E' => 0,
            'W' => 1,
            'N' => 2,
            'I' => 3,
            _ => 4,
        };
        if self.level >= need {
            let _ = writeln!(self.out, "{} socat[1] {severity} {msg}", error_log_time(now_secs()));
            let _ = self.out.flush();
        }
    }

    /// socat's `-v`: each transfer as a header line and the bytes as text,
    /// carriage returns shown as `\r`. `>` is data from the first address,
    /// `<` from the second.
    fn dump(&mut self, side: usize, from: u64, bytes: &[u8]) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut text = format!(
            "{} {}.{:06}  length={} from={} to={}\n",
            if side == 0 { '>' } else { '<' },
            error_log_time(now.as_secs() as i64),
            now.subsec_micros(),
            bytes.len(),
            from,
            (from + bytes.len() as u64).saturating_sub(1)
        )
        .into_bytes();
        for &b in bytes {
            if b == b'\r' {
                text.extend_from_slice(b"\\r");
            } else {
                text.push(b);
            }
        }
        if !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        let _ = self.out.write_all(&text);
        let _ = self.out.flush();
    }

    /// Logs a session event; `fds` are the read descriptors of its sides.
    fn event(&mut self, fds: [i32; 2], e: Event) {
        match e {
            Event::Eof(i) => {
                let fd = fds[i];
                self.line('N', format_args!("socket {} (fd {fd}) is at EOF", i + 1));
            }
            Event::Data { side, from, bytes } => self.dump(side, from, &bytes),
        }
    }

    fn fault(&mut self, f: &Fault) {
        let call = if f.write { "write" } else { "read" };
        self.line('E', format_args!("{call}({}): {}", f.fd, strerror(&f.error)));
    }

    fn transfer_loop(&mut self, s: &Session) {
        let (a, b) = (s.sides[0].fds(), s.sides[1].fds());
        self.line('N', format_args!("starting data transfer loop with FDs [{},{}] and [{},{}]", a.0, a.1, b.0, b.1));
    }
}

fn read_fds(s: &Session) -> [i32; 2] {
    [s.sides[0].fds().0, s.sides[1].fds().0]
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The length socat prints after a socket address: `sizeof(struct
/// sockaddr_in)` or `sockaddr_in6`.
fn sockaddr_len(a: &SocketAddr) -> u32 {
    if a.is_ipv4() { 16 } else { 28 }
}

fn resolve(log: &mut Log, host: &str, port: u16, family: Family) -> Option<Vec<SocketAddr>> {
    let found: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(a) => a.filter(|a| family.admits(a)).collect(),
        Err(_) => Vec::new(),
    };
    if found.is_empty() {
        log.line('E', format_args!("getaddrinfo(\"{host}\", \"{port}\"): Name or service not known"));
        return None;
    }
    Some(found)
}

/// Connects a TCP client, logging as socat does; `None` once the error is
/// logged.
fn connect_tcp(log: &mut Log, host: &str, port: u16, family: Family, timeout: Duration) -> Option<TcpStream> {
    let addrs = resolve(log, host, port, family)?;
    let mut failure = None;
    for a in &addrs {
        log.line('N', format_args!("opening connection to {}", af_addr(a)));
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => {
                if let Ok(local) = s.local_addr() {
                    log.line('N', format_args!("successfully connected from local address {}", af_addr(&local)));
                }
                if s.set_nonblocking(true).is_err() {
                    return None;
                }
                let _ = s.set_nodelay(true);
                return Some(s);
            }
            Err(e) => failure = Some((*a, e)),
        }
    }
    if let Some((a, e)) = failure {
        log.line('E', format_args!("connect({}, {}): {}", af_addr(&a), sockaddr_len(&a), strerror(&e)));
    }
    None
}

fn connect_udp(log: &mut Log, host: &str, port: u16, family: Family) -> Option<UdpSocket> {
    let addrs = resolve(log, host, port, family)?;
    let a = addrs[0];
    log.line('N', format_args!("opening connection to {}", af_addr(&a)));
    let local = SocketAddr::new(if a.is_ipv6() { Family::V6.unspecified() } else { Family::V4.unspecified() }, 0);
    let sock = UdpSocket::bind(local).and_then(|s| s.connect(a).map(|_| s)).and_then(|s| s.set_nonblocking(true).map(|_| s));
    match sock {
        Ok(s) => {
            if let Ok(l) = s.local_addr() {
                log.line('N', format_args!("successfully connected from local address {}", af_addr(&l)));
            }
            Some(s)
        }
        Err(e) => {
            log.line('E', format_args!("connect({}, {}): {}", af_addr(&a), sockaddr_len(&a), strerror(&e)));
            None
        }
    }
}

fn listen_tcp(log: &mut Log, port: u16, bind: IpAddr) -> Option<TcpListener> {
    let at = SocketAddr::new(bind, port);
    match TcpListener::bind(at) {
        Ok(l) => {
            log.line('N', format_args!("listening on {}", af_addr(&l.local_addr().unwrap_or(at))));
            Some(l)
        }
        Err(e) => {
            log.line('E', format_args!("bind({}, {}): {}", af_addr(&at), sockaddr_len(&at), strerror(&e)));
            None
        }
    }
}

/// Opens an address for the single-connection mode: listeners wait for
/// their one peer here.
fn open(log: &mut Log, addr: &Addr, io: &Io) -> Option<(Side, Option<Vec<u8>>)> {
    match addr {
        Addr::Stdio => {
            log.line('N', "reading from and writing to stdio");
            Some((Side::Stdio { input: io.stdin.clone(), output: io.stdout.clone() }, None))
        }
        Addr::TcpConnect { host, port, family, timeout } => connect_tcp(log, host, *port, *family, *timeout).map(|s| (Side::Tcp(s), None)),
        Addr::UdpConnect { host, port, family } => connect_udp(log, host, *port, *family).map(|s| (Side::Udp(s), None)),
        Addr::TcpListen { port, bind, .. } => {
            let listener = listen_tcp(log, *port, *bind)?;
            let (s, peer) = match listener.accept() {
                Ok(c) => c,
                Err(e) => {
                    log.line('E', format_args!("accept(): {}", strerror(&e)));
                    return None;
                }
            };
            let local = s.local_addr().unwrap_or(peer);
            log.line('N', format_args!("accepting connection from {} on {}", af_addr(&peer), af_addr(&local)));
            // Without fork socat stops listening once it has its peer.
            drop(listener);
            s.set_nonblocking(true).ok()?;
            let _ = s.set_nodelay(true);
            Some((Side::Tcp(s), None))
        }
        Addr::UdpListen { port, bind } => {
            let at = SocketAddr::new(*bind, *port);
            let sock = match UdpSocket::bind(at) {
                Ok(s) => s,
                Err(e) => {
                    log.line('E', format_args!("bind({}, {}): {}", af_addr(&at), sockaddr_len(&at), strerror(&e)));
                    return None;
                }
            };
            log.line('N', format_args!("listening on UDP {}", af_addr(&sock.local_addr().unwrap_or(at))));
            // The first datagram names the peer; it is relayed like the rest.
            let mut buf = vec![0u8; 64 * 1024];
            let (n, peer) = match sock.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) => {
                    log.line('E', format_args!("recvfrom(): {}", strerror(&e)));
                    return None;
                }
            };
            log.line('N', format_args!("accepting UDP connection from {}", af_addr(&peer)));
            sock.connect(peer).ok()?;
            sock.set_nonblocking(true).ok()?;
            buf.truncate(n);
            Some((Side::Udp(sock), Some(buf)))
        }
    }
}

/// The fork server's per-connection work: open the second address for
/// each client.
struct Forker {
    log: Log,
    target: Addr,
    end: End,
    idle: Option<Duration>,
    trace: bool,
}

impl Handler for Forker {
    fn accepted(&mut self, client: TcpStream, peer: SocketAddr, local: SocketAddr) -> Option<Session> {
        self.log.line('N', format_args!("accepting connection from {} on {}", af_addr(&peer), af_addr(&local)));
        if client.set_nonblocking(true).is_err() {
            return None;
        }
        let _ = client.set_nodelay(true);
        let other = match &self.target {
            Addr::TcpConnect { host, port, family, timeout } => Side::Tcp(connect_tcp(&mut self.log, host, *port, *family, *timeout)?),
            Addr::UdpConnect { host, port, family } => Side::Udp(connect_udp(&mut self.log, host, *port, *family)?),
            // Ruled out before serving (see `socat`).
            _ => return None,
        };
        let mut s = Session::new(Side::Tcp(client), other, self.end);
        s.idle = self.idle;
        s.trace = self.trace;
        self.log.transfer_loop(&s);
        Some(s)
    }

    fn event(&mut self, session: &Session, event: Event) {
        self.log.event(read_fds(session), event);
    }

    fn ended(&mut self, _session: Session, result: Result<(), Fault>) {
        if let Err(f) = result {
            self.log.fault(&f);
        }
    }
}

const USAGE: &str = "Usage:
socat [options] <bi-address> <bi-address>
   options (the wasmpod toolbox's subset):
      -V     print version information to stdout, and exit
      -h     print a help text describing command line options and addresses
      -d[ddd]      increase verbosity (use up to 4 times; 2 are recommended)
      -v     verbose text dump of data traffic
      -t<timeout>  wait seconds before closing second channel (default 0.5)
      -T<timeout>  total inactivity timeout in seconds
   bi-address:
      TCP-LISTEN:<port>[,fork][,reuseaddr][,bind=<ip>][,max-children=<n>]
            (also TCP4-LISTEN, TCP6-LISTEN)
      TCP:<host>:<port>[,connect-timeout=<sec>]   (also TCP4, TCP6, TCP-CONNECT)
      UDP:<host>:<port>   UDP-LISTEN:<port>[,bind=<ip>]
      STDIO, -, STDIN, STDOUT
";

/// `socat [options] ADDRESS1 ADDRESS2`.
pub fn socat(argv: &[String], io: &mut Io) -> i32 {
    let mut log = Log { level: 0, out: io.stderr.clone() };
    let mut trace = false;
    let mut linger = DEFAULT_LINGER;
    let mut idle = None;
    let mut addrs = Vec::new();
    let mut args = argv[1..].iter();
    while let Some(a) = args.next() {
        if !addrs.is_empty() || !a.starts_with('-') || a == "-" {
            addrs.push(a.clone());
            continue;
        }
        match a.as_str() {
            "-h" | "-?" | "--help" => {
                io.outs(USAGE);
                return 0;
            }
            "-V" => {
                io.outs(concat!(
                    "socat by Gerhard Rieger and contributors - see www.dest-unreach.org\nsocat version 1.8.0.0 subset in the wasmpod toolbox ",
                    env!("CARGO_PKG_VERSION"),
                    "\n"
                ));
                return 0;
            }
            "-v" => trace = true,
            d if d.len() > 1 && d[1..].bytes().all(|c| c == b'd') => log.level += d.len() as u32 - 1,
            t if t.starts_with("-t") || t.starts_with("-T") => {
                let value = if t.len() > 2 { Some(t[2..].to_owned()) } else { args.next().cloned() };
                let Some(d) = value.as_deref().and_then(parse_secs) else {
                    log.line('E', format_args!("option \"{}\": invalid timeout \"{}\"", &t[..2], value.unwrap_or_default()));
                    return 1;
                };
                if t.starts_with("-t") {
                    linger = d;
                } else {
                    idle = Some(d).filter(|d| !d.is_zero());
                }
            }
            _ => {
                log.line('E', format_args!("unknown option \"{a}\"; use option \"-h\" for help"));
                return 1;
            }
        }
    }
    if addrs.len() != 2 {
        log.line('E', format_args!("exactly 2 addresses required (there are {}); use option \"-h\" for help", addrs.len()));
        return 1;
    }
    let parsed: Result<Vec<Addr>, String> = addrs.iter().map(|a| parse_addr(a)).collect();
    let (a1, a2) = match parsed {
        Ok(mut v) => {
            let b = v.pop().unwrap();
            (v.pop().unwrap(), b)
        }
        Err(e) => {
            log.line('E', e);
            return 1;
        }
    };
    let end = End::Both { linger };
    if let Addr::TcpListen { port, bind, fork: true, max_children } = a1 {
        if !matches!(a2, Addr::TcpConnect { .. } | Addr::UdpConnect { .. }) {
            log.line('E', "fork: the second address must be TCP:<host>:<port> or UDP:<host>:<port> (every connection gets its own)");
            return 1;
        }
        let Some(listener) = listen_tcp(&mut log, port, bind) else { return 1 };
        let mut proxy = match Proxy::new(listener, max_children.unwrap_or(DEFAULT_MAX_SESSIONS)) {
            Ok(p) => p,
            Err(e) => {
                log.line('E', format_args!("fcntl(): {}", strerror(&e)));
                return 1;
            }
        };
        let mut h = Forker { log, target: a2, end, idle, trace };
        let r = proxy.run(&mut h);
        if let Err(e) = r {
            h.log.line('E', format_args!("poll(): {}", strerror(&e)));
        }
        return 1;
    }
    if matches!(a2, Addr::TcpListen { fork: true, .. }) {
        log.line('E', "TCP-LISTEN: option \"fork\" applies only to the first address");
        return 1;
    }
    let Some((s1, seed1)) = open(&mut log, &a1, io) else {
        log.line('N', "exit(1)");
        return 1;
    };
    let Some((s2, seed2)) = open(&mut log, &a2, io) else {
        log.line('N', "exit(1)");
        return 1;
    };
    let mut s = Session::new(s1, s2, end);
    s.idle = idle;
    s.trace = trace;
    for (i, seed) in [seed1, seed2].into_iter().enumerate() {
        if let Some(b) = seed {
            s.seed(i, b);
        }
    }
    log.transfer_loop(&s);
    let fds = read_fds(&s);
    for e in std::mem::take(&mut s.events) {
        log.event(fds, e);
    }
    let result = session::run(&mut s, &mut |e| log.event(fds, e));
    let _ = io.stdout.flush();
    let status = match result {
        Ok(()) => 0,
        Err(f) => {
            log.fault(&f);
            1
        }
    };
    log.line('N', format_args!("exiting with status {status}"));
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_options_and_families() {
        assert_eq!(
            parse_addr("TCP-LISTEN:8080,fork,reuseaddr,bind=127.0.0.1").unwrap(),
            Addr::TcpListen { port: 8080, bind: "127.0.0.1".parse().unwrap(), fork: true, max_children: None }
        );
        assert_eq!(parse_addr("tcp6-listen:80").unwrap(), Addr::TcpListen { port: 80, bind: "::".parse().unwrap(), fork: false, max_children: None });
        assert_eq!(
            parse_addr("TCP:[::1]:81,connect-timeout=2.5").unwrap(),
            Addr::TcpConnect { host: "::1".into(), port: 81, family: Family::Any, timeout: Duration::from_millis(2500) }
        );
        assert_eq!(
            parse_addr("TCP4:db.backend:5432").unwrap(),
            Addr::TcpConnect { host: "db.backend".into(), port: 5432, family: Family::V4, timeout: DEFAULT_CONNECT_TIMEOUT }
        );
        assert_eq!(parse_addr("-").unwrap(), Addr::Stdio);
        assert_eq!(parse_addr("STDIO").unwrap(), Addr::Stdio);
        assert_eq!(parse_addr("UDP:10.0.0.1:53").unwrap(), Addr::UdpConnect { host: "10.0.0.1".into(), port: 53, family: Family::Any });
        assert_eq!(
            parse_addr("TCP-LISTEN:80,max-children=3").unwrap(),
            Addr::TcpListen { port: 80, bind: "0.0.0.0".parse().unwrap(), fork: false, max_children: Some(3) }
        );
    }

    #[test]
    fn bad_addresses_are_refused_in_socats_words() {
        assert_eq!(parse_addr("FOO:1").unwrap_err(), "unknown device/address \"FOO\"");
        assert_eq!(parse_addr("TCP:host").unwrap_err(), "TCP: wrong number of parameters (1 instead of 2)");
        assert_eq!(parse_addr("TCP-LISTEN:80,bogus").unwrap_err(), "parseopts(): unknown option \"bogus\"");
        assert_eq!(parse_addr("TCP:h:80,fork").unwrap_err(), "TCP: option \"fork\" not applicable to this address type");
        assert_eq!(parse_addr("TCP-LISTEN:80,max-children=0").unwrap_err(), "parseopts(): invalid value \"0\" for option \"max-children\"");
        assert!(parse_addr("EXEC:/bin/sh").unwrap_err().starts_with("EXEC: cannot start a program"));
        assert!(parse_addr("SYSTEM:ls").unwrap_err().starts_with("SYSTEM: cannot start a program"));
        assert!(parse_addr("OPENSSL:h:443").unwrap_err().starts_with("unknown device/address"));
    }
}

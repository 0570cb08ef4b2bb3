//! A test guest for the pod network, written against plain `std::net` the
//! way ordinary programs are. Each step prints one line the tests match:
//!
//! ```text
//! nettest listen PORT [COUNT [HOLD]] echo server: "echo <line> from <peer>"
//!                                    (on [::] when NETTEST_V6 is set)
//! nettest connect ADDR MSG [RETRY]   send a line, print the reply
//! nettest bind PORT [HOLD_SECS]      bind only: "bound PORT" or "error: <kind>"
//! nettest resolve NAME               print each address, or "error: ..."
//! nettest sink PORT                  accept one connection, count its bytes
//! nettest send ADDR BYTES [RETRY]    write BYTES bytes, half-close, wait for the count
//! nettest udp-echo PORT [COUNT]     UDP echo: "udp <msg> from <peer>"
//! nettest udp-send ADDR MSG [RETRY]  send a datagram until a reply comes
//! nettest http-get AUTHORITY PATH    a wasi:http request: "<status> <body>"
//!                                    (https when AUTHORITY starts https://)
//! nettest rate-sink PORT             accept one connection, read to EOF:
//!                                    "rate-sink bytes=N ns=T" (T from the first byte)
//! nettest pong PORT                  accept one connection, echo every byte back
//! nettest ping ADDR ROUNDS [RETRY]   one byte there and back ROUNDS times:
//!                                    "ping rounds=N ns=T"
//! nettest accept-loop PORT           accept connections for ever: read a byte,
//!                                    write it back, close
//! nettest connect-rate ADDR N [RETRY] N connections, each a byte there and
//!                                    back: "connect-rate conns=N ns=T"
//! ```
//! Steps separated by `--` run in order; the first failure ends the
//! program with exit code 1. ADDR is host:port with any name the pod can resolve. RETRY is seconds
//! to keep retrying a refused connect (the peer may not listen yet).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let all: Vec<String> = std::env::args().skip(1).collect();
    for step in all.split(|a| a == "--") {
        if let Err(code) = run(step) {
            return code;
        }
    }
    ExitCode::SUCCESS
}

fn run(args: &[String]) -> Result<(), ExitCode> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    let num = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let result = match arg(0) {
        "listen" => listen(num(1, 0) as u16, num(2, u64::MAX), num(3, 0)),
        "connect" => connect(arg(1), arg(2), num(3, 0)),
        "bind" => bind(num(1, 0) as u16, num(2, 0)),
        "resolve" => resolve(arg(1)),
        "sink" => sink(num(1, 0) as u16),
        "send" => send(arg(1), num(2, 0) as usize, num(3, 0)),
        "udp-echo" => udp_echo(num(1, 0) as u16, num(2, 1)),
        "udp-send" => udp_send(arg(1), arg(2), num(3, 0)),
        "http-get" => http_get(arg(1), arg(2)),
        "rate-sink" => rate_sink(num(1, 0) as u16),
        "pong" => pong(num(1, 0) as u16),
        "ping" => ping(arg(1), num(2, 1), num(3, 0)),
        "accept-loop" => accept_loop(num(1, 0) as u16),
        "connect-rate" => connect_rate(arg(1), num(2, 1), num(3, 0)),
        other => Err(format!("unknown step {other:?}")),
    };
    result.map_err(|e| {
        println!("error: {e}");
        ExitCode::FAILURE
    })
}

fn kind(e: std::io::Error) -> String {
    format!("{:?}", e.kind())
}

fn listen(port: u16, count: u64, hold: u64) -> Result<(), String> {
    let any = if std::env::var_os("NETTEST_V6").is_some() { "::" } else { "0.0.0.0" };
    let listener = TcpListener::bind((any, port)).map_err(kind)?;
    println!("listening on {}", listener.local_addr().map_err(kind)?.port());
    for _ in 0..count {
        let (stream, peer) = listener.accept().map_err(kind)?;
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).map_err(kind)?;
        let line = line.trim_end();
        println!("got {line} from {}", peer.ip());
        writeln!(&stream, "echo {line} from {}", peer.ip()).map_err(kind)?;
    }
    // Keep the port a while after serving, for tests of a taken port.
    std::thread::sleep(Duration::from_secs(hold));
    Ok(())
}

fn dial(addr: &str, retry_secs: u64) -> Result<TcpStream, String> {
    let deadline = Instant::now() + Duration::from_secs(retry_secs);
    loop {
        let addrs: Vec<_> = addr.to_socket_addrs().map_err(|e| format!("resolve {addr}: {}", kind(e)))?.collect();
        match TcpStream::connect(&addrs[..]) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(kind(e)),
        }
    }
}

fn connect(addr: &str, msg: &str, retry: u64) -> Result<(), String> {
    let stream = dial(addr, retry)?;
    writeln!(&stream, "{msg}").map_err(kind)?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).map_err(kind)?;
    println!("{}", reply.trim_end());
    Ok(())
}

fn bind(port: u16, hold: u64) -> Result<(), String> {
    let l = TcpListener::bind(("127.0.0.1", port)).map_err(kind)?;
    println!("bound {}", l.local_addr().map_err(kind)?.port());
    std::thread::sleep(Duration::from_secs(hold));
    Ok(())
}

fn resolve(name: &str) -> Result<(), String> {
    let addrs = (name, 0).to_socket_addrs().map_err(|e| format!("{:?} ({e})", e.kind()))?;
    for a in addrs {
        println!("{}", a.ip());
    }
    Ok(())
}

fn sink(port: u16) -> Result<(), String> {
    let listener = TcpListener::bind(("0.0.0.0", port)).map_err(kind)?;
    println!("listening on {port}");
    let (mut stream, _) = listener.accept().map_err(kind)?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut total, mut sum) = (0u64, 0u64);
    loop {
        let n = stream.read(&mut buf).map_err(kind)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        sum = buf[..n].iter().fold(sum, |s, b| s.wrapping_add(*b as u64));
    }
    println!("received {total} bytes, sum {sum}");
    writeln!(stream, "{total}").map_err(kind)?;
    Ok(())
}

fn send(addr: &str, bytes: usize, retry: u64) -> Result<(), String> {
    let mut stream = dial(addr, retry)?;
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let (mut left, mut sum) = (bytes, 0u64);
    while left > 0 {
        let n = left.min(chunk.len());
        stream.write_all(&chunk[..n]).map_err(kind)?;
        sum = chunk[..n].iter().fold(sum, |s, b| s.wrapping_add(*b as u64));
        left -= n;
    }
    stream.shutdown(Shutdown::Write).map_err(kind)?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).map_err(kind)?;
    println!("sent {bytes} bytes, sum {sum}, peer counted {}", reply.trim_end());
    Ok(())
}

/// Throughput as the receiver sees it: the clock starts at the first
/// byte, so the sender's start-up is not counted.
fn rate_sink(port: u16) -> Result<(), String> {
    let listener = TcpListener::bind(("0.0.0.0", port)).map_err(kind)?;
    println!("listening on {port}");
    let (mut stream, _) = listener.accept().map_err(kind)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = stream.read(&mut buf).map_err(kind)? as u64;
    let started = Instant::now();
    loop {
        let n = stream.read(&mut buf).map_err(kind)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    println!("rate-sink bytes={total} ns={}", started.elapsed().as_nanos());
    Ok(())
}

fn pong(port: u16) -> Result<(), String> {
    let listener = TcpListener::bind(("0.0.0.0", port)).map_err(kind)?;
    println!("listening on {port}");
    let (mut stream, _) = listener.accept().map_err(kind)?;
    let mut byte = [0u8; 1];
    while stream.read(&mut byte).map_err(kind)? == 1 {
        stream.write_all(&byte).map_err(kind)?;
    }
    Ok(())
}

fn accept_loop(port: u16) -> Result<(), String> {
    let listener = TcpListener::bind(("0.0.0.0", port)).map_err(kind)?;
    println!("listening on {port}");
    loop {
        let (mut stream, _) = listener.accept().map_err(kind)?;
        let mut byte = [0u8; 1];
        if stream.read_exact(&mut byte).is_ok() {
            let _ = stream.write_all(&byte);
        }
    }
}

fn connect_rate(addr: &str, conns: u64, retry: u64) -> Result<(), String> {
    // The first connection waits for the server (and is not timed).
    let mut first = dial(addr, retry)?;
    let mut byte = [7u8; 1];
    first.write_all(&byte).map_err(kind)?;
    first.read_exact(&mut byte).map_err(kind)?;
    let started = Instant::now();
    for _ in 0..conns {
        let mut stream = dial(addr, 0)?;
        stream.write_all(&byte).map_err(kind)?;
        stream.read_exact(&mut byte).map_err(kind)?;
    }
    println!("connect-rate conns={conns} ns={}", started.elapsed().as_nanos());
    Ok(())
}

fn ping(addr: &str, rounds: u64, retry: u64) -> Result<(), String> {
    let mut stream = dial(addr, retry)?;
    let _ = stream.set_nodelay(true);
    let mut byte = [7u8; 1];
    let started = Instant::now();
    for _ in 0..rounds {
        stream.write_all(&byte).map_err(kind)?;
        stream.read_exact(&mut byte).map_err(kind)?;
    }
    println!("ping rounds={rounds} ns={}", started.elapsed().as_nanos());
    Ok(())
}

fn udp_echo(port: u16, count: u64) -> Result<(), String> {
    let socket = std::net::UdpSocket::bind(("0.0.0.0", port)).map_err(kind)?;
    println!("udp listening on {port}");
    let mut buf = [0u8; 2048];
    for _ in 0..count {
        let (n, peer) = socket.recv_from(&mut buf).map_err(kind)?;
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        println!("udp got {msg} from {}", peer.ip());
        socket.send_to(format!("udp {msg} from {}", peer.ip()).as_bytes(), peer).map_err(kind)?;
    }
    Ok(())
}

/// UDP has no connection to wait for: resend until the echo answers.
fn udp_send(addr: &str, msg: &str, retry_secs: u64) -> Result<(), String> {
    let to = addr.to_socket_addrs().map_err(kind)?.next().ok_or("no address")?;
    let socket = std::net::UdpSocket::bind(("0.0.0.0", 0)).map_err(kind)?;
    socket.set_nonblocking(true).map_err(kind)?;
    let deadline = Instant::now() + Duration::from_secs(retry_secs);
    let mut buf = [0u8; 2048];
    loop {
        socket.send_to(msg.as_bytes(), to).map_err(kind)?;
        let wait = Instant::now() + Duration::from_millis(100);
        while Instant::now() < wait {
            match socket.recv_from(&mut buf) {
                Ok((n, _)) => {
                    println!("{}", String::from_utf8_lossy(&buf[..n]));
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(kind(e)),
            }
        }
        if Instant::now() >= deadline {
            return Err("no reply".into());
        }
    }
}

/// An outgoing request through wasi:http (not sockets), as components that
/// use an HTTP client library make it.
fn http_get(authority: &str, path: &str) -> Result<(), String> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};
    let request = OutgoingRequest::new(Fields::new());
    let (scheme, authority) = match authority.strip_prefix("https://") {
        Some(rest) => (Scheme::Https, rest),
        None => (Scheme::Http, authority),
    };
    request.set_scheme(Some(&scheme)).map_err(|_| "scheme")?;
    request.set_authority(Some(authority)).map_err(|_| "authority")?;
    request.set_path_with_query(Some(path)).map_err(|_| "path")?;
    let body = request.body().map_err(|_| "body")?;
    let response = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    response.subscribe().block();
    let response = response.get().ok_or("no response")?.map_err(|_| "taken twice")?.map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|_| "consume")?;
    let stream = body.stream().map_err(|_| "stream")?;
    let mut text = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => text.extend_from_slice(&chunk),
            Err(wasi::io::streams::StreamError::Closed) => break,
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    println!("{status} {}", String::from_utf8_lossy(&text).trim_end());
    Ok(())
}

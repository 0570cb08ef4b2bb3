//! busybox `nc`: `nc [-l] [-p PORT] [-s ADDR] [-w SECS] [-z] [-v] [-n]
//! [HOST PORT]`. A client relays stdin to the connection and the
//! connection to stdout; stdin's end shuts down the write side (the peer
//! sees EOF) and the peer closing ends the command. `-l` waits for one
//! client and does the same with it.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

// std::os::fd covers Unix and WASI alike.
use std::os::fd::AsRawFd;

use crate::cmd::{parse_or_usage, prog};
use crate::http::poll::{self, Interest};
use crate::io::Io;
use crate::relay::session::{self, End, Session};
use crate::relay::{Side, strerror};

const USAGE: &str = "Usage: nc [-lzvn] [-w SEC] [-p PORT] [-s ADDR] [IPADDR PORT]

Open a pipe to IP:PORT

\t-l\tListen mode, for inbound connects
\t-p PORT\tLocal port (with -l)
\t-s ADDR\tBind address (with -l)
\t-w SEC\tTimeout for connects and final net reads
\t-z\tZero-I/O mode (scanning)
\t-v\tVerbose
\t-n\tDon't do DNS resolution
";

/// `nc`.
pub fn nc(argv: &[String], io: &mut Io) -> i32 {
    let name = prog(argv);
    let Some(o) = parse_or_usage(argv, "lp:s:w:zvne:h", true, io) else { return 1 };
    if o.has('h') {
        let _ = io.stderr.write_all(USAGE.as_bytes());
        return 1;
    }
    if let Some(p) = o.val('e') {
        io.err(&name, format_args!("can't execute '{p}': WASI has no processes"));
        return 1;
    }
    let wait = match o.val('w') {
        None => None,
        Some(w) => match w.parse::<u32>() {
            Ok(0) => None,
            Ok(n) => Some(Duration::from_secs(n.into())),
            Err(_) => {
                io.err(&name, format_args!("invalid number '{w}'"));
                return 1;
            }
        },
    };
    let port = match o.val('p').map(|p| p.parse::<u16>()) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => {
            io.err(&name, format_args!("bad port spec '{}'", o.val('p').unwrap_or("")));
            return 1;
        }
    };
    let verbose = o.has('v');
    let stream = if o.has('l') {
        if !o.operands.is_empty() {
            let _ = io.stderr.write_all(USAGE.as_bytes());
            return 1;
        }
        match listen(io, &name, o.val('s'), port.unwrap_or(0), wait, verbose) {
            Some(s) => s,
            None => return 1,
        }
    } else {
        let [host, port_arg] = o.operands.as_slice() else {
            let _ = io.stderr.write_all(USAGE.as_bytes());
            return 1;
        };
        if port.is_some() || o.val('s').is_some() {
            io.err(&name, "choosing the local address of an outgoing connection (-p, -s) is not supported");
            return 1;
        }
        let Ok(rport) = port_arg.parse::<u16>() else {
            io.err(&name, format_args!("bad port spec '{port_arg}'"));
            return 1;
        };
        let addr = if o.has('n') {
            host.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, rport))
        } else {
            (host.as_str(), rport).to_socket_addrs().ok().and_then(|mut a| a.next())
        };
        let Some(addr) = addr else {
            io.err(&name, format_args!("bad address '{host}'"));
            return 1;
        };
        let connected = match wait {
            Some(t) => TcpStream::connect_timeout(&addr, t),
            None => TcpStream::connect(addr),
        };
        match connected {
            Ok(s) => {
                if o.has('z') {
                    if verbose {
                        let _ = writeln!(io.stderr, "{host} ({addr}) open");
                    }
                    return 0;
                }
                s
            }
            Err(e) => {
                // A scan says nothing about closed ports unless asked.
                if !o.has('z') || verbose {
                    io.err(&name, format_args!("can't connect to remote host ({}): {}", addr.ip(), strerror(&e)));
                }
                return 1;
            }
        }
    };
    if stream.set_nonblocking(true).is_err() {
        return 1;
    }
    let mut s = Session::new(Side::Stdio { input: io.stdin.clone(), output: io.stdout.clone() }, Side::Tcp(stream), End::Flow { side: 1, linger: wait });
    let result = session::run(&mut s, &mut |_| {});
    let _ = io.stdout.flush();
    match result {
        Ok(()) => 0,
        Err(f) => {
            io.err(&name, format_args!("{} error: {}", if f.write { "write" } else { "read" }, strerror(&f.error)));
            1
        }
    }
}

/// `-l`: binds, waits (up to `-w`) for one client and returns it.
fn listen(io: &mut Io, name: &str, bind: Option<&str>, port: u16, wait: Option<Duration>, verbose: bool) -> Option<TcpStream> {
    let ip = match bind {
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(b) => match b.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                io.err(name, format_args!("bad address '{b}'"));
                return None;
            }
        },
    };
    let listener = match TcpListener::bind(SocketAddr::new(ip, port)) {
        Ok(l) => l,
        Err(e) => {
            io.err(name, format_args!("bind: {}", strerror(&e)));
            return None;
        }
    };
    if verbose {
        if let Ok(a) = listener.local_addr() {
            let _ = writeln!(io.stderr, "listening on {a} ...");
            let _ = io.stderr.flush();
        }
    }
    if let Some(t) = wait {
        // Wait for the listener rather than block in accept, so -w bounds it.
        match poll::wait_one(listener.as_raw_fd(), Interest::Read, Some(t)) {
            Ok(true) => {}
            Ok(false) => {
                io.err(name, "timeout");
                return None;
            }
            Err(e) => {
                io.err(name, format_args!("poll: {}", strerror(&e)));
                return None;
            }
        }
    }
    match listener.accept() {
        Ok((s, peer)) => {
            if verbose {
                let local = s.local_addr().map(|a| a.to_string()).unwrap_or_default();
                let _ = writeln!(io.stderr, "connect to {local} from {peer}");
            }
            Some(s)
        }
        Err(e) => {
            io.err(name, format_args!("accept: {}", strerror(&e)));
            None
        }
    }
}

//! The static file servers: `nginx` (the nginx image alias runs `nginx -g
//! 'daemon off;'`), busybox's `httpd`, and `python -m http.server` (the
//! python image alias). They parse their own command lines and hand one
//! [`Server`] a [`Flavor`]; all serving is in `crate::http::server`.
//!
//! None of them can put itself in the background (WASI has no fork and the
//! toolbox no threads), so `httpd` without `-f` and nginx's `daemon on`
//! serve in the foreground: a script that starts one never gets past it.

use std::io::{self, ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cmd::{parse_or_usage, prog};
use crate::http::error_log_time;
use crate::http::server::{Config, Flavor, NGINX_VERSION, Server};
use crate::io::Io;

/// The nginx image's document root.
const NGINX_ROOT: &str = "/usr/share/nginx/html";

/// The page the nginx image ships, so a bare `nginx` pod answers `/` the
/// way the real image does until files are mounted over it.
const WELCOME: &str = "<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>This is the default page of wasmpod's nginx image alias: the toolbox's
builtin static file server is up and running.</p>
<p>Mount your files at /usr/share/nginx/html to serve them instead.</p>
</body>
</html>
";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The errno pair nginx and Python print for bind failures, Linux numbers
/// on every platform so messages match what users search for.
fn errno(e: &io::Error) -> (i32, String) {
    match e.kind() {
        ErrorKind::AddrInUse => (98, "Address already in use".into()),
        ErrorKind::AddrNotAvailable => (99, "Cannot assign requested address".into()),
        ErrorKind::PermissionDenied => (13, "Permission denied".into()),
        _ => (e.raw_os_error().unwrap_or(5), crate::io::errmsg(e)),
    }
}

/// Parses a listen address: `PORT`, `IP:PORT`, `[V6]:PORT`, `*:PORT`,
/// `HOST:PORT`. `None` when it is not one.
fn listen_addr(s: &str, default_ip: IpAddr) -> Option<SocketAddr> {
    if let Ok(p) = s.parse::<u16>() {
        return Some(SocketAddr::new(default_ip, p));
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    if host == "*" {
        return Some(SocketAddr::new(default_ip, port));
    }
    (host, port).to_socket_addrs().ok()?.next()
}

/// `nginx`: `-g` directives, `-t`, `-v`, `-V`; serves until killed.
pub fn nginx(argv: &[String], io: &mut Io) -> i32 {
    let mut directives = String::new();
    let mut test = false;
    let mut quiet = false;
    let mut args = argv[1..].iter();
    while let Some(a) = args.next() {
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            io.err("nginx", format_args!("invalid option: \"{a}\""));
            return 1;
        };
        for (i, c) in flags.char_indices() {
            match c {
                'v' | 'V' => {
                    let _ = writeln!(io.stderr, "nginx version: nginx/{NGINX_VERSION} (wasmpod toolbox)");
                    if c == 'V' {
                        let _ = writeln!(io.stderr, "built into the wasmpod toolbox (a WASI program; static files only)");
                        let _ = writeln!(io.stderr, "configure arguments: builtin configuration; -g accepts: daemon, listen, root");
                    }
                    return 0;
                }
                '?' | 'h' => {
                    let _ = write!(
                        io.stderr,
                        "nginx version: nginx/{NGINX_VERSION} (wasmpod toolbox)\nUsage: nginx [-?hvVtq] [-g directives]\n\nOptions:\n  -?,-h         : this help\n  -v            : show version and exit\n  -V            : show version and configure options then exit\n  -t            : test configuration and exit\n  -q            : suppress non-error messages during configuration testing\n  -g directives : set global directives out of configuration file\n                  (daemon off; listen PORT; root DIR;)\n"
                    );
                    return 0;
                }
                't' | 'T' => test = true,
                'q' => quiet = true,
                'g' | 'c' | 's' | 'p' | 'e' => {
                    let rest = &flags[i + 1..];
                    let value = if !rest.is_empty() {
                        rest.to_owned()
                    } else if let Some(v) = args.next() {
                        v.clone()
                    } else {
                        io.err(
                            "nginx",
                            format_args!(
                                "option \"-{c}\" requires {}",
                                match c {
                                    'g' => "directives",
                                    's' => "signal",
                                    'c' | 'e' => "file name",
                                    _ => "directory name",
                                }
                            ),
                        );
                        return 1;
                    };
                    match c {
                        'g' => {
                            directives.push_str(&value);
                            directives.push(';');
                        }
                        'c' => {
                            io.err("nginx", format_args!("[emerg] the wasmpod toolbox's nginx has a builtin configuration and cannot read \"{value}\"; use -g 'listen PORT; root DIR;'"));
                            return 1;
                        }
                        's' => {
                            io.err("nginx", format_args!("[error] cannot send signal \"{value}\": WASI has no signals (restart the container instead)"));
                            return 1;
                        }
                        _ => {} // -p/-e: prefix and error log paths do not apply.
                    }
                    break;
                }
                _ => {
                    io.err("nginx", format_args!("invalid option: \"{}\"", &flags[i..]));
                    return 1;
                }
            }
        }
    }
    let mut addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 80);
    let mut root = PathBuf::from(NGINX_ROOT);
    for d in directives.split(';') {
        let words: Vec<&str> = d.split_whitespace().collect();
        let Some((&name, params)) = words.split_first() else { continue };
        match name {
            "daemon" | "master_process" => {
                if params.len() != 1 || !matches!(params[0], "on" | "off") {
                    io.err(
                        "nginx",
                        format_args!("[emerg] invalid value \"{}\" in \"{name}\" directive, it must be \"on\" or \"off\" in command line", params.join(" ")),
                    );
                    return 1;
                }
            }
            "worker_processes" | "pid" | "error_log" | "user" | "worker_rlimit_nofile" | "pcre_jit" => {}
            "listen" => match params.first().and_then(|p| listen_addr(p, IpAddr::V4(Ipv4Addr::UNSPECIFIED))) {
                Some(a) => addr = a,
                None => {
                    let shown = params.first().copied().unwrap_or("");
                    io.err("nginx", format_args!("[emerg] invalid parameter \"{shown}\" in \"listen\" directive in command line"));
                    return 1;
                }
            },
            "root" => match params {
                [dir] => root = PathBuf::from(dir),
                _ => {
                    io.err("nginx", "[emerg] invalid number of arguments in \"root\" directive in command line");
                    return 1;
                }
            },
            other => {
                io.err("nginx", format_args!("[emerg] unknown directive \"{other}\" in command line"));
                return 1;
            }
        }
    }
    if test {
        if !quiet {
            let _ = writeln!(io.stderr, "nginx: the configuration (builtin, listen {addr}, root {}) syntax is ok", root.display());
            let _ = writeln!(io.stderr, "nginx: configuration test is successful");
        }
        return 0;
    }
    // The real image ships a welcome page; give the container's writable
    // layer the same, unless something is already there (a mounted volume).
    if root == std::path::Path::new(NGINX_ROOT) && !root.exists() {
        let _ = std::fs::create_dir_all(&root).and_then(|_| std::fs::write(root.join("index.html"), WELCOME));
    }
    let cfg = Config { flavor: Flavor::Nginx, root, access_log: true };
    let mut server = match Server::bind(cfg, addr) {
        Ok(s) => s,
        Err(e) => {
            let (n, text) = errno(&e);
            io.err("nginx", format_args!("[emerg] bind() to {addr} failed ({n}: {text})"));
            return 1;
        }
    };
    let t = error_log_time(now());
    let _ = writeln!(io.stderr, "{t} [notice] 1#1: using the \"poll\" event method");
    let _ = writeln!(io.stderr, "{t} [notice] 1#1: nginx/{NGINX_VERSION} (wasmpod toolbox)");
    let _ = writeln!(io.stderr, "{t} [notice] 1#1: serving on {addr}, one process, no workers");
    let (mut out, mut err) = (io.stdout.clone(), io.stderr.clone());
    match server.run(&mut out, &mut err) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(io.stderr, "{} [emerg] 1#1: poll() failed ({})", error_log_time(now()), crate::io::errmsg(&e));
            1
        }
    }
}

/// busybox `httpd -f -p [IP:]PORT -h DIR [-v]`.
pub fn httpd(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "ifvp:h:c:u:r:", true, io) else {
        let _ = writeln!(io.stderr, "Usage: httpd [-ifv[v]] [-c CONFFILE] [-p [IP:]PORT] [-u USER[:GRP]] [-r REALM] [-h HOME]");
        return 1;
    };
    if o.has('i') {
        io.err("httpd", "-i: inetd mode is not available in WASI (no inetd); use -f -p PORT");
        return 1;
    }
    if let Some(extra) = o.operands.first() {
        io.err("httpd", format_args!("unexpected argument '{extra}'"));
        return 1;
    }
    let port = o.val('p').unwrap_or("80");
    let Some(addr) = listen_addr(port, IpAddr::V4(Ipv4Addr::UNSPECIFIED)) else {
        io.err("httpd", format_args!("invalid port '{port}'"));
        return 1;
    };
    let root = PathBuf::from(o.val('h').unwrap_or("."));
    if let Err(e) = std::fs::read_dir(&root) {
        io.err("httpd", format_args!("can't change directory to '{}': {}", root.display(), crate::io::errmsg(&e)));
        return 1;
    }
    let cfg = Config { flavor: Flavor::Busybox, root, access_log: o.has('v') };
    let mut server = match Server::bind(cfg, addr) {
        Ok(s) => s,
        Err(e) => {
            io.err("httpd", format_args!("bind: {}", errno(&e).1));
            return 1;
        }
    };
    let (mut a, mut e) = (io.stderr.clone(), io.stderr.clone());
    match server.run(&mut a, &mut e) {
        Ok(()) => 0,
        Err(err) => {
            io.err("httpd", format_args!("poll: {}", crate::io::errmsg(&err)));
            1
        }
    }
}

const PYTHON_ONLY: &str = "this image alias is the wasmpod toolbox; it provides only 'python -m http.server [PORT]' and 'python -m SimpleHTTPServer [PORT]'";

/// `python -m http.server [PORT] [-b ADDR] [-d DIR]` and Python 2's
/// `python -m SimpleHTTPServer [PORT]`; nothing else.
pub fn python(argv: &[String], io: &mut Io) -> i32 {
    let me = prog(argv);
    let mut args = argv[1..].iter().peekable();
    // Interpreter flags that make no difference to a file server.
    while args.peek().is_some_and(|a| matches!(a.as_str(), "-u" | "-B" | "-O" | "-OO" | "-E" | "-s" | "-S" | "-I" | "-q")) {
        args.next();
    }
    let module = match args.next().map(String::as_str) {
        Some("-m") => args.next().cloned(),
        Some(m) if m.starts_with("-m") => Some(m[2..].to_owned()),
        Some("-V") | Some("--version") => {
            io.err(&me, PYTHON_ONLY);
            return 2;
        }
        _ => None,
    };
    let py2 = match module.as_deref() {
        Some("http.server") => false,
        Some("SimpleHTTPServer") => true,
        Some(other) => {
            io.err(&me, format_args!("No module named {other}: {PYTHON_ONLY}"));
            return 1;
        }
        None => {
            io.err(&me, PYTHON_ONLY);
            return 2;
        }
    };
    let usage = "usage: server.py [-h] [-b ADDRESS] [-d DIRECTORY] [port]";
    let mut port: u16 = 8000;
    let mut bind = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let mut dir: Option<String> = None;
    let rest: Vec<&String> = args.collect();
    let mut i = 0;
    let mut have_port = false;
    while i < rest.len() {
        let a = rest[i].as_str();
        i += 1;
        let mut value = |name: &str, io: &mut Io| -> Option<String> {
            if i < rest.len() {
                i += 1;
                Some(rest[i - 1].clone())
            } else {
                let _ = writeln!(io.stderr, "{usage}\nserver.py: error: argument {name}: expected one argument");
                None
            }
        };
        match a {
            "-h" | "--help" if !py2 => {
                let _ = writeln!(
                    io.stdout,
                    "{usage}\n\npositional arguments:\n  port                  bind to this port (default: 8000)\n\noptions:\n  -h, --help            show this help message and exit\n  -b, --bind ADDRESS    bind to this address (default: all interfaces)\n  -d, --directory DIRECTORY\n                        serve this directory (default: current directory)"
                );
                return 0;
            }
            "-b" | "--bind" if !py2 => {
                let Some(v) = value("-b/--bind", io) else { return 2 };
                match (v.as_str(), 0).to_socket_addrs().ok().and_then(|mut a| a.next()) {
                    Some(a) => bind = a.ip(),
                    None => {
                        let _ = writeln!(io.stderr, "socket.gaierror: [Errno -2] Name or service not known");
                        return 1;
                    }
                }
            }
            "-d" | "--directory" if !py2 => {
                let Some(v) = value("-d/--directory", io) else { return 2 };
                dir = Some(v);
            }
            "--cgi" if !py2 => {
                io.err(&me, "--cgi: CGI scripts cannot run in the wasmpod toolbox");
                return 2;
            }
            p if !have_port && !p.starts_with('-') => {
                have_port = true;
                match p.parse::<u16>() {
                    Ok(n) => port = n,
                    Err(_) => {
                        if py2 {
                            let _ = writeln!(io.stderr, "ValueError: invalid literal for int() with base 10: '{p}'");
                            return 1;
                        }
                        let _ = writeln!(io.stderr, "{usage}\nserver.py: error: argument port: invalid int value: '{p}'");
                        return 2;
                    }
                }
            }
            other => {
                if py2 {
                    continue; // Python 2's module ignores extra arguments.
                }
                let _ = writeln!(io.stderr, "{usage}\nserver.py: error: unrecognized arguments: {other}");
                return 2;
            }
        }
    }
    let root = match dir {
        Some(d) => PathBuf::from(d),
        None => match crate::io::current_dir() {
            Ok(d) => PathBuf::from(d),
            Err(_) => PathBuf::from("."),
        },
    };
    let addr = SocketAddr::new(bind, port);
    let cfg = Config { flavor: Flavor::Python, root, access_log: true };
    let mut server = match Server::bind(cfg, addr) {
        Ok(s) => s,
        Err(e) => {
            let (n, text) = errno(&e);
            let _ = writeln!(io.stderr, "Traceback (most recent call last):\n  ...\nOSError: [Errno {n}] {text}");
            return 1;
        }
    };
    let shown_port = server.local_addr().map(|a| a.port()).unwrap_or(port);
    let host = match bind {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let _ = if py2 {
        writeln!(io.stdout, "Serving HTTP on {bind} port {shown_port} ...")
    } else {
        writeln!(io.stdout, "Serving HTTP on {bind} port {shown_port} (http://{host}:{shown_port}/) ...")
    };
    let _ = io.stdout.flush();
    let (mut a, mut e) = (io.stderr.clone(), io.stderr.clone());
    match server.run(&mut a, &mut e) {
        Ok(()) => 0,
        Err(err) => {
            let _ = writeln!(io.stderr, "OSError: {}", crate::io::errmsg(&err));
            1
        }
    }
}

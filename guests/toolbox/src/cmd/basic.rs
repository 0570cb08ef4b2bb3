//! Small commands: echo, true/false, sleep, pwd, basename/dirname, seq,
//! hostname, id, whoami, uname, env, printenv, which, kill, apk.

use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use super::{parse_or_usage, prog};
use crate::io::Io;

pub fn true_(_: &[String], _: &mut Io) -> i32 {
    0
}

pub fn false_(_: &[String], _: &mut Io) -> i32 {
    1
}

/// Interprets echo -e / printf %b escapes. Returns the text and whether
/// `\c` asked to stop all further output.
pub fn backslash_escapes(s: &str) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 >= b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let c = b[i];
        i += 1;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'e' => out.push(27),
            b'\\' => out.push(b'\\'),
            b'c' => return (out, true),
            b'0'..=b'7' => {
                // \0NNN (echo) or \NNN: up to three octal digits after an optional 0.
                let mut v: u32 = 0;
                let mut n = 0;
                let mut j = i - 1;
                if c == b'0' {
                    j = i;
                }
                while n < 3 && j < b.len() && (b'0'..=b'7').contains(&b[j]) {
                    v = v * 8 + (b[j] - b'0') as u32;
                    j += 1;
                    n += 1;
                }
                out.push(v as u8);
                i = j;
            }
            b'x' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 2 && i < b.len() && b[i].is_ascii_hexdigit() {
                    v = v * 16 + (b[i] as char).to_digit(16).unwrap();
                    i += 1;
                    n += 1;
                }
                if n == 0 {
                    out.extend_from_slice(b"\\x");
                } else {
                    out.push(v as u8);
                }
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    (out, false)
}

pub fn echo(argv: &[String], io: &mut Io) -> i32 {
    let mut nl = true;
    let mut esc = false;
    let mut i = 1;
    // Like bash and busybox: only leading words made purely of n/e/E flags are options.
    while let Some(a) = argv.get(i) {
        if a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| matches!(c, 'n' | 'e' | 'E')) {
            for c in a[1..].chars() {
                match c {
                    'n' => nl = false,
                    'e' => esc = true,
                    _ => esc = false,
                }
            }
            i += 1;
        } else {
            break;
        }
    }
    let mut out = Vec::new();
    for (k, a) in argv[i..].iter().enumerate() {
        if k > 0 {
            out.push(b' ');
        }
        if esc {
            let (b, stop) = backslash_escapes(a);
            out.extend(b);
            if stop {
                io.out(&out);
                return 0;
            }
        } else {
            out.extend_from_slice(a.as_bytes());
        }
    }
    if nl {
        out.push(b'\n');
    }
    io.out(&out);
    0
}

/// Parses `1.5`, `2m`, `1h`, `inf`... into seconds.
fn parse_duration(s: &str) -> Option<f64> {
    let (num, mult) = match s.chars().last()? {
        's' => (&s[..s.len() - 1], 1.0),
        'm' => (&s[..s.len() - 1], 60.0),
        'h' => (&s[..s.len() - 1], 3600.0),
        'd' => (&s[..s.len() - 1], 86400.0),
        _ => (s, 1.0),
    };
    if matches!(s, "inf" | "infinity") {
        return Some(f64::INFINITY);
    }
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    num.parse::<f64>().ok().map(|v| v * mult)
}

pub fn sleep(argv: &[String], io: &mut Io) -> i32 {
    if argv.len() < 2 {
        io.err("sleep", "missing operand");
        return 1;
    }
    let mut total = 0.0;
    for a in &argv[1..] {
        match parse_duration(a) {
            Some(v) => total += v,
            None => {
                io.err("sleep", format_args!("invalid number '{a}'"));
                return 1;
            }
        }
    }
    // Whatever was printed so far must be visible while we wait.
    let _ = io.stdout.flush();
    // A stop request ends the sleep, as SIGTERM ends sleep(1): 128 + 15.
    if total.is_infinite() {
        loop {
            if crate::stop::sleep(Duration::from_secs(3600)) {
                return 143;
            }
        }
    }
    if crate::stop::sleep(Duration::from_secs_f64(total)) {
        return 143;
    }
    0
}

pub fn pwd(_: &[String], io: &mut Io) -> i32 {
    match crate::io::current_dir() {
        Ok(p) => {
            let _ = writeln!(io.stdout, "{p}");
            0
        }
        Err(e) => {
            io.err("pwd", crate::io::errmsg(&e));
            1
        }
    }
}

pub fn basename(argv: &[String], io: &mut Io) -> i32 {
    let Some(path) = argv.get(1) else {
        io.err("basename", "missing operand");
        return 1;
    };
    let trimmed = path.trim_end_matches('/');
    let mut base = if trimmed.is_empty() && !path.is_empty() { "/" } else { trimmed.rsplit('/').next().unwrap_or("") }.to_owned();
    if let Some(suf) = argv.get(2) {
        if base.len() > suf.len() && base.ends_with(suf.as_str()) {
            base.truncate(base.len() - suf.len());
        }
    }
    let _ = writeln!(io.stdout, "{base}");
    0
}

pub fn dirname(argv: &[String], io: &mut Io) -> i32 {
    let Some(path) = argv.get(1) else {
        io.err("dirname", "missing operand");
        return 1;
    };
    let t = path.trim_end_matches('/');
    let d = match t.rfind('/') {
        None if path.starts_with('/') => "/",
        None => ".",
        Some(i) => {
            let d = t[..i].trim_end_matches('/');
            if d.is_empty() { "/" } else { d }
        }
    };
    let _ = writeln!(io.stdout, "{d}");
    0
}

pub fn seq(argv: &[String], io: &mut Io) -> i32 {
    let mut sep = "\n".to_owned();
    let mut width = false;
    let mut nums = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let a = &argv[i];
        i += 1;
        match a.as_str() {
            "-s" => {
                sep = argv.get(i).cloned().unwrap_or_default();
                i += 1;
            }
            "-w" => width = true,
            _ if a.starts_with("-s") => sep = a[2..].to_owned(),
            _ => nums.push(a.clone()),
        }
    }
    if nums.is_empty() || nums.len() > 3 {
        io.err("seq", "usage: seq [-w] [-s SEP] [FIRST [INC]] LAST");
        return 1;
    }
    let mut vals = Vec::new();
    for n in &nums {
        match n.parse::<f64>() {
            Ok(v) => vals.push(v),
            Err(_) => {
                io.err("seq", format_args!("invalid number '{n}'"));
                return 1;
            }
        }
    }
    let decimals = nums.iter().map(|n| n.split_once('.').map_or(0, |(_, f)| f.len())).max().unwrap_or(0);
    let (first, inc, last) = match vals.len() {
        1 => (1.0, 1.0, vals[0]),
        2 => (vals[0], 1.0, vals[1]),
        _ => (vals[0], vals[1], vals[2]),
    };
    if inc == 0.0 {
        io.err("seq", "increment must not be 0");
        return 1;
    }
    let fmt = |v: f64| format!("{v:.decimals$}");
    let w = if width { fmt(first).len().max(fmt(last).len()) } else { 0 };
    let mut out = String::new();
    let mut k = 0u64;
    loop {
        let v = first + inc * k as f64;
        if (inc > 0.0 && v > last + 1e-9) || (inc < 0.0 && v < last - 1e-9) {
            break;
        }
        if k > 0 {
            out.push_str(&sep);
        }
        let s = fmt(v);
        if width && s.len() < w {
            out.push_str(&"0".repeat(w - s.len()));
        }
        out.push_str(&s);
        k += 1;
        if out.len() > 1 << 16 {
            io.outs(&out);
            out.clear();
        }
    }
    if k > 0 {
        out.push('\n');
    }
    io.outs(&out);
    0
}

fn host(io: &Io) -> String {
    io.getenv("HOSTNAME").filter(|h| !h.is_empty()).unwrap_or("localhost").to_owned()
}

pub fn hostname(argv: &[String], io: &mut Io) -> i32 {
    if argv.len() > 1 && !argv[1].starts_with('-') {
        io.err("hostname", "can't set hostname: not supported in WASI");
        return 1;
    }
    let h = host(io);
    let h = if argv.get(1).is_some_and(|a| a == "-s") { h.split('.').next().unwrap_or("").to_owned() } else { h };
    let _ = writeln!(io.stdout, "{h}");
    0
}

pub fn id(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "ugGnr", true, io) else { return 1 };
    // The image knows only root by name; without an operand, the ids
    // wasmpod gives this container (its securityContext).
    let ids = match o.operands.first() {
        Some(u) if u == "root" || u == "0" => crate::identity::root(),
        Some(u) => {
            io.err("id", format_args!("unknown user {u}"));
            return 1;
        }
        None => crate::identity::current(),
    };
    let show = |id: u32| if o.has('n') { crate::identity::name_or_number(id) } else { id.to_string() };
    let s = if o.has('u') {
        show(ids.uid)
    } else if o.has('g') {
        show(ids.gid)
    } else if o.has('G') {
        ids.groups.iter().map(|g| show(*g)).collect::<Vec<_>>().join(" ")
    } else {
        let groups: Vec<String> = ids.groups.iter().map(|g| crate::identity::labeled(*g)).collect();
        format!("uid={} gid={} groups={}", crate::identity::labeled(ids.uid), crate::identity::labeled(ids.gid), groups.join(","))
    };
    let _ = writeln!(io.stdout, "{s}");
    0
}

pub fn whoami(_: &[String], io: &mut Io) -> i32 {
    let uid = crate::identity::current().uid;
    match crate::identity::name(uid) {
        Some(n) => {
            let _ = writeln!(io.stdout, "{n}");
            0
        }
        // What busybox says for a uid without a passwd entry.
        None => {
            io.err("whoami", format_args!("unknown uid {uid}"));
            1
        }
    }
}

pub fn uname(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "asnrvmpio", true, io) else { return 1 };
    let all = o.has('a');
    let h = host(io);
    let fields = [
        ('s', "wasi".to_owned()),
        ('n', h),
        ('r', env!("CARGO_PKG_VERSION").to_owned()),
        ('v', "wasmpod-toolbox".to_owned()),
        ('m', "wasm32".to_owned()),
        ('o', "WASI".to_owned()),
    ];
    let any = o.flags.iter().any(|(c, _)| "snrvmo".contains(*c));
    let chosen: Vec<&str> = fields.iter().filter(|(c, _)| all || o.has(*c) || (!any && !all && *c == 's')).map(|(_, v)| v.as_str()).collect();
    let _ = writeln!(io.stdout, "{}", chosen.join(" "));
    0
}

pub fn env(argv: &[String], io: &mut Io) -> i32 {
    let mut env: Vec<(String, String)> = io.env.as_ref().clone();
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        match a.as_str() {
            "-i" | "-" => env.clear(),
            "-u" => {
                i += 1;
                if let Some(n) = argv.get(i) {
                    env.retain(|(k, _)| k != n);
                }
            }
            "--" => {
                i += 1;
                break;
            }
            _ if a.starts_with("-u") && a.len() > 2 => env.retain(|(k, _)| k != &a[2..]),
            _ if a.starts_with('-') => {
                io.err("env", format_args!("unrecognized option: {}", &a[1..]));
                return 1;
            }
            _ => break,
        }
        i += 1;
    }
    while let Some((k, v)) = argv.get(i).and_then(|a| a.split_once('=')) {
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_owned(), v.to_owned()));
        i += 1;
    }
    if i >= argv.len() {
        let mut out = String::new();
        for (k, v) in &env {
            out.push_str(&format!("{k}={v}\n"));
        }
        io.outs(&out);
        return 0;
    }
    let name = &argv[i];
    match crate::find_applet(name) {
        Some(f) => {
            let mut sub = io.clone();
            sub.env = Rc::new(env);
            f(&argv[i..], &mut sub)
        }
        None => {
            io.err("env", format_args!("can't execute '{name}': No such file or directory"));
            127
        }
    }
}

pub fn printenv(argv: &[String], io: &mut Io) -> i32 {
    if argv.len() < 2 {
        let mut out = String::new();
        for (k, v) in io.env.iter() {
            out.push_str(&format!("{k}={v}\n"));
        }
        io.outs(&out);
        return 0;
    }
    let mut st = 0;
    for n in &argv[1..] {
        match io.getenv(n).map(str::to_owned) {
            Some(v) => {
                let _ = writeln!(io.stdout, "{v}");
            }
            None => st = 1,
        }
    }
    st
}

pub fn which(argv: &[String], io: &mut Io) -> i32 {
    let mut st = 0;
    for n in argv.iter().skip(1).filter(|a| !a.starts_with('-')) {
        if crate::find_applet(n).is_some() {
            let p = if n.contains('/') { n.clone() } else { format!("/bin/{n}") };
            let _ = writeln!(io.stdout, "{p}");
        } else if n.contains('/') && std::path::Path::new(n).is_file() {
            let _ = writeln!(io.stdout, "{n}");
        } else {
            st = 1;
        }
    }
    st
}

pub fn kill(argv: &[String], io: &mut Io) -> i32 {
    io.err(&prog(argv), "not supported in WASI");
    1
}

/// Images cannot install packages; `apk add` succeeds only for commands
/// the toolbox already provides, so scripts that install what they use
/// keep working.
pub fn apk(argv: &[String], io: &mut Io) -> i32 {
    let args: Vec<&String> = argv.iter().skip(1).filter(|a| !a.starts_with('-')).collect();
    match args.first().map(|s| s.as_str()) {
        Some("add") => {
            let mut missing = Vec::new();
            for p in &args[1..] {
                // `curl=8.5.0-r0` and `curl>8` name the package `curl`.
                let name = p.split(['=', '<', '>', '~']).next().unwrap_or(p);
                if crate::find_applet(name).is_some() && !name.contains('/') {
                    let _ = writeln!(io.stdout, "OK: {name} is built into the wasmpod toolbox (nothing to install)");
                } else {
                    missing.push(name.to_owned());
                }
            }
            if missing.is_empty() {
                return 0;
            }
            // apk's own layout: one line per package, then why.
            let _ = writeln!(io.stderr, "ERROR: unable to select packages:");
            for m in &missing {
                let _ = writeln!(io.stderr, "  {m} (no such package):");
                let _ = writeln!(io.stderr, "    the wasmpod toolbox has no package manager; its commands are built in");
            }
            1
        }
        Some("update") | Some("upgrade") => {
            let _ = writeln!(io.stdout, "OK: wasmpod images have no package index; nothing to {}", args[0]);
            0
        }
        Some(other) => {
            io.err("apk", format_args!("{other}: not supported in wasmpod images"));
            1
        }
        None => {
            io.err("apk", "usage: apk add PACKAGE...");
            1
        }
    }
}

/// The nginx image's Entrypoint, `/docker-entrypoint.sh`, as that script
/// behaves: when it starts nginx (`$1` is `nginx` or `nginx-debug`) it
/// first runs the `*.sh` files of /docker-entrypoint.d in order (WASI has
/// no execute bit to check; `*.envsh` files are not sourced), logging to
/// stderr unless NGINX_ENTRYPOINT_QUIET_LOGS is set; then it execs its
/// arguments.
pub fn docker_entrypoint(argv: &[String], io: &mut Io) -> i32 {
    const DIR: &str = "/docker-entrypoint.d/";
    let me = "/docker-entrypoint.sh";
    let quiet = io.getenv("NGINX_ENTRYPOINT_QUIET_LOGS").is_some_and(|v| !v.is_empty());
    let log = |io: &mut Io, msg: &str| {
        if !quiet {
            let _ = writeln!(io.stderr, "{me}: {msg}");
        }
    };
    if matches!(argv.get(1).map(String::as_str), Some("nginx" | "nginx-debug")) {
        let mut scripts: Vec<String> = std::fs::read_dir(DIR)
            .map(|d| d.flatten().filter(|e| e.path().is_file()).map(|e| format!("{DIR}{}", e.file_name().to_string_lossy())).collect())
            .unwrap_or_default();
        scripts.sort();
        if scripts.is_empty() {
            log(io, &format!("No files found in {DIR}, skipping configuration"));
        } else {
            log(io, &format!("{DIR} is not empty, will attempt to perform configuration"));
            log(io, &format!("Looking for shell scripts in {DIR}"));
            for script in scripts.iter().filter(|s| s.ends_with(".sh")) {
                log(io, &format!("Launching {script}"));
                let code = crate::shell::sh_main(&["sh".to_owned(), script.clone()], io);
                if code != 0 {
                    return code;
                }
            }
            log(io, "Configuration complete; ready for start up");
        }
    }
    let Some(name) = argv.get(1) else { return 0 };
    match crate::find_applet(name) {
        Some(f) => f(&argv[1..], io),
        None => {
            io.err(me, format_args!("exec: {name}: not found"));
            127
        }
    }
}

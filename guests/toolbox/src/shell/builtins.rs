//! Commands that need the shell's own state: cd, export, set, read, trap,
//! eval, `.`, exit, return... (Stateless ones such as echo and test are
//! toolbox commands, shared with the rest of the toolbox.)

use std::io::Write;

use super::exec::{Ctl, R};
use super::parser::is_name;
use super::{Shell, Var, quote};
use crate::io::{Io, errmsg};

const BUILTINS: &[&str] = &[
    ":", ".", "break", "cd", "command", "continue", "eval", "exec", "exit", "export", "getopts", "local", "read", "readonly", "return", "set", "shift",
    "source", "trap", "type", "umask", "unset", "wait",
];

/// Toolbox commands a real `sh` has built in (for `type`/`command -v`).
const BUILTIN_APPLETS: &[&str] = &["echo", "printf", "test", "[", "true", "false", "pwd", "kill"];

const KEYWORDS: &[&str] = &["if", "then", "else", "elif", "fi", "case", "esac", "for", "while", "until", "do", "done", "in", "{", "}", "!"];

const SIGNALS: &[(&str, u32)] = &[
    ("EXIT", 0),
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

pub fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

/// Canonical signal name (`TERM`) for `sigterm`, `SIGTERM`, `15`...
fn signal_name(s: &str) -> Option<&'static str> {
    if let Ok(n) = s.parse::<u32>() {
        return SIGNALS.iter().find(|(_, k)| *k == n).map(|(name, _)| *name);
    }
    let up = s.to_ascii_uppercase();
    let up = up.strip_prefix("SIG").unwrap_or(&up);
    SIGNALS.iter().find(|(name, _)| *name == up).map(|(name, _)| *name)
}

fn num_arg(io: &mut Io, cmd: &str, s: &str) -> Result<i32, Ctl> {
    s.parse::<i64>().map(|n| n as i32).map_err(|_| {
        io.err("sh", format_args!("{cmd}: Illegal number: {s}"));
        Ctl::Exit(2)
    })
}

impl Shell {
    pub(super) fn builtin(&mut self, argv: &[String], io: &mut Io) -> R {
        let args = &argv[1..];
        match argv[0].as_str() {
            ":" => Ok(0),
            "wait" => Ok(0),
            "cd" => Ok(self.cd(args, io)),
            "export" | "readonly" => Ok(self.export(argv[0] == "export", args, io)),
            "unset" => Ok(self.unset(args, io)),
            "set" => Ok(self.set(args, io)),
            "shift" => {
                let n = match args.first() {
                    Some(a) => num_arg(io, "shift", a)?,
                    None => 1,
                };
                if n < 0 || n as usize > self.params.len() {
                    io.err("sh", "shift: can't shift that many");
                    return Ok(1);
                }
                self.params.drain(..n as usize);
                Ok(0)
            }
            "read" => Ok(self.read(args, io)),
            "exit" => {
                let n = match args.first() {
                    Some(a) => num_arg(io, "exit", a)?,
                    None => self.status,
                };
                Err(Ctl::Exit(n & 255))
            }
            "return" => {
                let n = match args.first() {
                    Some(a) => num_arg(io, "return", a)?,
                    None => self.status,
                };
                if self.func_depth == 0 && self.source_depth == 0 {
                    io.err("sh", "return: not in a function");
                    return Ok(1);
                }
                Err(Ctl::Return(n & 255))
            }
            "break" | "continue" => {
                let n = match args.first() {
                    Some(a) => num_arg(io, &argv[0], a)?,
                    None => 1,
                };
                if n < 1 {
                    io.err("sh", format_args!("{}: Illegal number: {n}", argv[0]));
                    return Ok(1);
                }
                if self.loop_depth == 0 {
                    return Ok(0);
                }
                let n = (n as u32).min(self.loop_depth);
                Err(if argv[0] == "break" { Ctl::Break(n) } else { Ctl::Continue(n) })
            }
            "local" => {
                if self.locals.is_empty() {
                    io.err("sh", "local: not in a function");
                    return Ok(1);
                }
                for a in args {
                    let (name, val) = match a.split_once('=') {
                        Some((n, v)) => (n, Some(v.to_owned())),
                        None => (a.as_str(), None),
                    };
                    if !is_name(name) {
                        io.err("sh", format_args!("local: {name}: bad variable name"));
                        return Ok(1);
                    }
                    let old = self.vars.get(name).cloned();
                    let frame = self.locals.last_mut().unwrap();
                    if !frame.iter().any(|(n, _)| n == name) {
                        frame.push((name.to_owned(), old.clone()));
                    }
                    let value = val.unwrap_or_else(|| old.map(|v| v.value).unwrap_or_default());
                    self.vars.insert(name.to_owned(), Var { value, exported: false, readonly: false });
                }
                Ok(0)
            }
            "eval" => self.eval_str(&args.join(" "), io),
            "." | "source" => {
                let Some(file) = args.first() else {
                    io.err("sh", ".: filename argument required");
                    return Ok(2);
                };
                let src = match std::fs::read(file) {
                    Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                    Err(e) => {
                        io.err("sh", format_args!(".: can't open '{file}': {}", errmsg(&e)));
                        return Err(Ctl::Exit(2));
                    }
                };
                let saved = (args.len() > 1).then(|| std::mem::replace(&mut self.params, args[1..].to_vec()));
                self.source_depth += 1;
                let r = self.eval_str(&src, io);
                self.source_depth -= 1;
                if let Some(p) = saved {
                    self.params = p;
                }
                match r {
                    Err(Ctl::Return(s)) => Ok(s),
                    r => r,
                }
            }
            "trap" => Ok(self.trap(args, io)),
            "exec" => {
                if args.is_empty() {
                    return Ok(0);
                }
                let st = self.run_command(args, &[], io, true)?;
                Err(Ctl::Exit(st))
            }
            "command" => {
                let (mut v, mut i) = (false, 0);
                while let Some(a) = args.get(i) {
                    match a.as_str() {
                        "-v" | "-V" => v = true,
                        "-p" => {}
                        "--" => {
                            i += 1;
                            break;
                        }
                        _ => break,
                    }
                    i += 1;
                }
                if i >= args.len() {
                    return Ok(0);
                }
                if v {
                    let mut st = 0;
                    for n in &args[i..] {
                        match self.describe(n) {
                            Some((_, short)) => {
                                let _ = writeln!(io.stdout, "{short}");
                            }
                            None => st = 1,
                        }
                    }
                    return Ok(st);
                }
                self.run_command(&args[i..], &[], io, false)
            }
            "type" => {
                let mut st = 0;
                for n in args {
                    match self.describe(n) {
                        Some((long, _)) => {
                            let _ = writeln!(io.stdout, "{long}");
                        }
                        None => {
                            let _ = writeln!(io.stdout, "{n}: not found");
                            st = 1;
                        }
                    }
                }
                Ok(st)
            }
            "umask" => {
                // WASI has no file mode creation mask to report or change.
                io.err("sh", "umask: not supported in WASI");
                Ok(1)
            }
            "getopts" => Ok(self.getopts(args, io)),
            _ => Ok(127),
        }
    }

    /// What a name means: (`type` text, `command -v` text).
    fn describe(&self, name: &str) -> Option<(String, String)> {
        if KEYWORDS.contains(&name) {
            return Some((format!("{name} is a shell keyword"), name.to_owned()));
        }
        if self.funcs.contains_key(name) {
            return Some((format!("{name} is a function"), name.to_owned()));
        }
        if is_builtin(name) || BUILTIN_APPLETS.contains(&name) {
            let kind = if is_builtin(name) && !matches!(name, "command" | "type" | "read" | "wait" | "umask" | "getopts" | "cd") {
                "special shell builtin"
            } else {
                "shell builtin"
            };
            return Some((format!("{name} is a {kind}"), name.to_owned()));
        }
        if crate::find_applet(name).is_some() {
            let path = if name.contains('/') { name.to_owned() } else { format!("/bin/{name}") };
            return Some((format!("{name} is {path}"), path));
        }
        if name.contains('/') && std::path::Path::new(name).is_file() {
            return Some((format!("{name} is {name}"), name.to_owned()));
        }
        None
    }

    fn cd(&mut self, args: &[String], io: &mut Io) -> i32 {
        let args: Vec<&String> = args.iter().filter(|a| !matches!(a.as_str(), "-L" | "-P" | "--")).collect();
        let (dir, print) = match args.first().map(|s| s.as_str()) {
            None => (self.getvar("HOME").unwrap_or("/").to_owned(), false),
            Some("-") => match self.getvar("OLDPWD") {
                Some(d) => (d.to_owned(), true),
                None => {
                    io.err("sh", "cd: OLDPWD not set");
                    return 1;
                }
            },
            Some(d) => (d.to_owned(), false),
        };
        if let Err(e) = std::env::set_current_dir(&dir) {
            io.err("sh", format_args!("cd: can't cd to {dir}: {}", errmsg(&e)));
            return 2;
        }
        let old = self.getvar("PWD").unwrap_or("").to_owned();
        let new = crate::io::current_dir().unwrap_or(dir);
        // Keep WASI's textual cwd from accumulating `..` parts.
        let _ = std::env::set_current_dir(&new);
        let _ = self.setvar("OLDPWD", old);
        let _ = self.setvar("PWD", new.clone());
        for n in ["OLDPWD", "PWD"] {
            if let Some(v) = self.vars.get_mut(n) {
                v.exported = true;
            }
        }
        if print {
            let _ = writeln!(io.stdout, "{new}");
        }
        0
    }

    fn export(&mut self, export: bool, args: &[String], io: &mut Io) -> i32 {
        let word = if export { "export" } else { "readonly" };
        let names: Vec<&String> = args.iter().filter(|a| a.as_str() != "-p").collect();
        if names.is_empty() {
            for (k, v) in &self.vars {
                if (export && v.exported) || (!export && v.readonly) {
                    let _ = writeln!(io.stdout, "{word} {k}={}", quote(&v.value));
                }
            }
            return 0;
        }
        let mut st = 0;
        for a in names {
            let (name, val) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (a.as_str(), None),
            };
            if !is_name(name) {
                io.err("sh", format_args!("{word}: {name}: bad variable name"));
                st = 1;
                continue;
            }
            if let Some(v) = val {
                if let Err(e) = self.setvar(name, v) {
                    io.err("sh", e);
                    st = 1;
                    continue;
                }
            }
            if let Some(v) = self.vars.get_mut(name) {
                if export {
                    v.exported = true;
                } else {
                    v.readonly = true;
                }
            } else if !export {
                self.vars.insert(name.to_owned(), Var { value: String::new(), exported: false, readonly: true });
            }
        }
        st
    }

    fn unset(&mut self, args: &[String], io: &mut Io) -> i32 {
        let mut funcs = false;
        let mut st = 0;
        for a in args {
            match a.as_str() {
                "-f" => funcs = true,
                "-v" => funcs = false,
                n if funcs => {
                    self.funcs.remove(n);
                }
                n => {
                    if self.vars.get(n).is_some_and(|v| v.readonly) {
                        io.err("sh", format_args!("unset: {n}: is read only"));
                        st = 1;
                    } else if self.vars.remove(n).is_none() {
                        self.funcs.remove(n);
                    }
                }
            }
        }
        st
    }

    fn set(&mut self, args: &[String], io: &mut Io) -> i32 {
        if args.is_empty() {
            for (k, v) in &self.vars {
                let _ = writeln!(io.stdout, "{k}={}", quote(&v.value));
            }
            return 0;
        }
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_str();
            if a == "--" {
                self.params = args[i + 1..].to_vec();
                return 0;
            }
            if a == "-" || a == "+" {
                i += 1;
                break;
            }
            let on = a.starts_with('-');
            if !(on || a.starts_with('+')) {
                break;
            }
            i += 1;
            for c in a[1..].chars() {
                if c == 'o' {
                    match args.get(i) {
                        Some(name) => {
                            i += 1;
                            if !self.set_option(name, on) {
                                io.err("sh", format_args!("set: illegal option -o {name}"));
                                return 1;
                            }
                        }
                        None => {
                            let f = self.flags.clone();
                            for (n, v) in [("errexit", f.errexit), ("noglob", f.noglob), ("nounset", f.nounset), ("pipefail", f.pipefail), ("xtrace", f.xtrace)]
                            {
                                let _ = writeln!(io.stdout, "{n:<16}{}", if v { "on" } else { "off" });
                            }
                        }
                    }
                } else if !self.set_flag(c, on) {
                    io.err("sh", format_args!("set: illegal option -{c}"));
                    return 1;
                }
            }
        }
        if i < args.len() {
            self.params = args[i..].to_vec();
        }
        0
    }

    fn read(&mut self, args: &[String], io: &mut Io) -> i32 {
        let mut raw = false;
        let mut names = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_str();
            i += 1;
            match a {
                "-r" => raw = true,
                "-s" => {}
                "-p" | "-t" => {
                    if a == "-p" {
                        if let Some(p) = args.get(i) {
                            let _ = write!(io.stderr, "{p}");
                        }
                    }
                    i += 1;
                }
                "--" => {
                    names.extend(args[i..].iter().cloned());
                    break;
                }
                _ if a.starts_with('-') && a.len() > 1 && names.is_empty() => {
                    if a[1..].chars().all(|c| c == 'r' || c == 's') {
                        raw |= a.contains('r');
                    } else {
                        io.err("sh", format_args!("read: illegal option {a}"));
                        return 2;
                    }
                }
                _ => names.push(a.to_owned()),
            }
        }
        if names.is_empty() {
            names.push("REPLY".into());
        }
        if let Some(bad) = names.iter().find(|n| !is_name(n)) {
            io.err("sh", format_args!("read: '{bad}': not a valid identifier"));
            return 2;
        }
        let mut line: Vec<u8> = Vec::new();
        let mut eof = false;
        loop {
            let mut chunk = Vec::new();
            match io.stdin.read_until(b'\n', &mut chunk) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    io.err("sh", format_args!("read: {}", errmsg(&e)));
                    return 1;
                }
            }
            let nl = chunk.ends_with(b"\n");
            if nl {
                chunk.pop();
            } else {
                eof = true;
            }
            let trailing = chunk.iter().rev().take_while(|&&b| b == b'\\').count();
            if !raw && nl && trailing % 2 == 1 {
                chunk.pop();
                line.extend(chunk);
                continue;
            }
            line.extend(chunk);
            break;
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        // (char, escaped) pairs: escaped characters never split fields.
        let mut chars: Vec<(char, bool)> = Vec::new();
        let mut it = text.chars();
        while let Some(c) = it.next() {
            if c == '\\' && !raw {
                if let Some(n) = it.next() {
                    chars.push((n, true));
                }
            } else {
                chars.push((c, false));
            }
        }
        let ifs = self.ifs();
        let is_ifs = |&(c, esc): &(char, bool)| !esc && ifs.contains(c);
        let is_ws = |p: &(char, bool)| is_ifs(p) && matches!(p.0, ' ' | '\t' | '\n');
        let mut i = 0;
        while i < chars.len() && is_ws(&chars[i]) {
            i += 1;
        }
        for (k, name) in names.iter().enumerate() {
            let value: String = if k + 1 == names.len() {
                let mut end = chars.len();
                while end > i && is_ws(&chars[end - 1]) {
                    end -= 1;
                }
                chars[i.min(end)..end].iter().map(|p| p.0).collect()
            } else {
                let st = i;
                while i < chars.len() && !is_ifs(&chars[i]) {
                    i += 1;
                }
                let v = chars[st..i].iter().map(|p| p.0).collect();
                while i < chars.len() && is_ws(&chars[i]) {
                    i += 1;
                }
                if i < chars.len() && is_ifs(&chars[i]) {
                    i += 1;
                    while i < chars.len() && is_ws(&chars[i]) {
                        i += 1;
                    }
                }
                v
            };
            if let Err(e) = self.setvar(name, value) {
                io.err("sh", e);
                return 1;
            }
        }
        if eof { 1 } else { 0 }
    }

    fn trap(&mut self, args: &[String], io: &mut Io) -> i32 {
        let args = if args.first().is_some_and(|a| a == "--") { &args[1..] } else { args };
        if args.is_empty() || args[0] == "-p" {
            for (sig, action) in &self.traps {
                let _ = writeln!(io.stdout, "trap -- {} {sig}", quote(action));
            }
            return 0;
        }
        if args[0] == "-l" {
            for (name, n) in SIGNALS.iter().skip(1) {
                let _ = writeln!(io.stdout, "{n:2}) SIG{name}");
            }
            return 0;
        }
        // `trap N...` with a number first resets those conditions.
        let (action, sigs) = if args[0].parse::<u32>().is_ok() { ("-", args) } else { (args[0].as_str(), &args[1..]) };
        if sigs.is_empty() {
            io.err("sh", "trap: usage: trap [ACTION SIGNAL...]");
            return 1;
        }
        let mut st = 0;
        for s in sigs {
            match signal_name(s) {
                Some(name) => {
                    if action == "-" {
                        self.traps.remove(name);
                    } else {
                        if name == "TERM" {
                            // The container's stop request is this
                            // shell's SIGTERM (see stop.rs).
                            crate::stop::handle_requests();
                        }
                        self.traps.insert(name.to_owned(), action.to_owned());
                    }
                }
                None => {
                    io.err("sh", format_args!("trap: {s}: bad trap"));
                    st = 1;
                }
            }
        }
        st
    }

    /// `getopts OPTSTRING NAME [ARGS...]`, using OPTIND like POSIX.
    fn getopts(&mut self, args: &[String], io: &mut Io) -> i32 {
        if args.len() < 2 {
            io.err("sh", "getopts: usage: getopts optstring name [arg...]");
            return 2;
        }
        let (spec, name) = (args[0].clone(), args[1].clone());
        let list: Vec<String> = if args.len() > 2 { args[2..].to_vec() } else { self.params.clone() };
        let optind: usize = self.getvar("OPTIND").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
        // Position inside a group like -abc, kept in a private variable.
        let sub: usize = self.getvar("_GETOPTS_SUB").and_then(|v| v.parse().ok()).unwrap_or(0);
        let silent = spec.starts_with(':');
        let spec = spec.trim_start_matches(':');
        let done = |sh: &mut Shell, ind: usize| {
            let _ = sh.setvar(&name, "?".into());
            let _ = sh.setvar("OPTIND", ind.to_string());
            sh.vars.remove("_GETOPTS_SUB");
            1
        };
        let Some(arg) = list.get(optind - 1) else { return done(self, optind) };
        if sub == 0 && (arg == "--") {
            return done(self, optind + 1);
        }
        if sub == 0 && (!arg.starts_with('-') || arg == "-") {
            return done(self, optind);
        }
        let chars: Vec<char> = arg.chars().collect();
        let pos = if sub == 0 { 1 } else { sub };
        let c = chars[pos];
        let mut next_ind = optind;
        let mut next_sub = pos + 1;
        if next_sub >= chars.len() {
            next_ind += 1;
            next_sub = 0;
        }
        self.vars.remove("OPTARG");
        let st = match spec.find(c).filter(|_| c != ':') {
            None => {
                if silent {
                    let _ = self.setvar("OPTARG", c.to_string());
                } else {
                    io.err("sh", format_args!("illegal option -- {c}"));
                }
                let _ = self.setvar(&name, "?".into());
                0
            }
            Some(k) if spec[k + 1..].starts_with(':') => {
                let val = if next_sub != 0 {
                    let v: String = chars[next_sub..].iter().collect();
                    next_ind += 1;
                    next_sub = 0;
                    Some(v)
                } else {
                    let v = list.get(next_ind - 1).cloned();
                    if v.is_some() {
                        next_ind += 1;
                    }
                    v
                };
                match val {
                    Some(v) => {
                        let _ = self.setvar("OPTARG", v);
                        let _ = self.setvar(&name, c.to_string());
                    }
                    None if silent => {
                        let _ = self.setvar("OPTARG", c.to_string());
                        let _ = self.setvar(&name, ":".into());
                    }
                    None => {
                        io.err("sh", format_args!("option requires an argument -- {c}"));
                        let _ = self.setvar(&name, "?".into());
                    }
                }
                0
            }
            Some(_) => {
                let _ = self.setvar(&name, c.to_string());
                0
            }
        };
        let _ = self.setvar("OPTIND", next_ind.to_string());
        if next_sub == 0 {
            self.vars.remove("_GETOPTS_SUB");
        } else {
            let _ = self.setvar("_GETOPTS_SUB", next_sub.to_string());
        }
        st
    }
}

//! `sh`: a POSIX shell that runs every command in-process.
//!
//! WASI has no fork/exec, so commands are the toolbox's own functions (see
//! `crate::cmd`) called with an [`Io`] that the shell plumbs: pipelines run
//! their stages one after another, each stage's output buffered and fed to
//! the next stage as stdin (so an endless producer such as `yes | head`
//! cannot work; the pipeline only continues when a stage finishes).
//! Subshells, `$(...)` and pipeline stages run on a copy of the shell's
//! state. `cmd &` runs synchronously (there is nothing to run it beside).

mod arith;
mod builtins;
mod exec;
mod expand;
mod lexer;
mod parser;

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::io::{Io, errmsg};
pub use exec::Ctl;
use parser::{Node, Parser};

#[derive(Clone, Debug)]
pub struct Var {
    pub value: String,
    pub exported: bool,
    pub readonly: bool,
}

#[derive(Clone, Default)]
pub struct Flags {
    pub errexit: bool,
    pub nounset: bool,
    pub xtrace: bool,
    pub noglob: bool,
    pub pipefail: bool,
}

#[derive(Clone)]
pub struct Shell {
    pub vars: BTreeMap<String, Var>,
    /// Environment entries whose names are not shell names (`data-1` from
    /// a Kubernetes envFrom prefix): no variable can name them, but they
    /// are passed on to commands, as busybox ash passes them.
    pub foreign_env: Vec<(String, String)>,
    pub funcs: BTreeMap<String, Rc<Node>>,
    pub arg0: String,
    pub params: Vec<String>,
    /// `$?`.
    pub status: i32,
    pub flags: Flags,
    /// Trap actions by signal name (`EXIT`, `TERM`...); "" means ignore.
    pub traps: BTreeMap<String, String>,
    /// > 0 while running a condition (if/while test, left of && ||, after
    /// `!`), where `set -e` does not apply.
    cond: u32,
    loop_depth: u32,
    func_depth: u32,
    source_depth: u32,
    /// Saved variables to restore when each running function returns.
    locals: Vec<Vec<(String, Option<Var>)>>,
    /// Status of the last `$(...)` in the current simple command.
    cmdsub_status: Option<i32>,
}

impl Shell {
    pub fn new(env: &[(String, String)]) -> Self {
        let mut vars = BTreeMap::new();
        let mut foreign_env = Vec::new();
        for (k, v) in env {
            if parser::is_name(k) {
                vars.insert(k.clone(), Var { value: v.clone(), exported: true, readonly: false });
            } else {
                foreign_env.push((k.clone(), v.clone()));
            }
        }
        let mut sh = Shell {
            vars,
            foreign_env,
            funcs: BTreeMap::new(),
            arg0: "sh".into(),
            params: Vec::new(),
            status: 0,
            flags: Flags::default(),
            traps: BTreeMap::new(),
            cond: 0,
            loop_depth: 0,
            func_depth: 0,
            source_depth: 0,
            locals: Vec::new(),
            cmdsub_status: None,
        };
        if let Ok(cwd) = crate::io::current_dir() {
            sh.set_exported("PWD", cwd);
        }
        if !sh.vars.contains_key("PATH") {
            sh.set_exported("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        }
        if !sh.vars.contains_key("HOME") {
            sh.set_exported("HOME", "/".into());
        }
        sh
    }

    fn set_exported(&mut self, name: &str, value: String) {
        self.vars.insert(name.to_owned(), Var { value, exported: true, readonly: false });
    }

    pub fn getvar(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.value.as_str())
    }

    /// Assigns a variable, keeping its export flag.
    pub fn setvar(&mut self, name: &str, value: String) -> Result<(), String> {
        match self.vars.get_mut(name) {
            Some(v) if v.readonly => Err(format!("{name}: is read only")),
            Some(v) => {
                v.value = value;
                Ok(())
            }
            None => {
                self.vars.insert(name.to_owned(), Var { value, exported: false, readonly: false });
                Ok(())
            }
        }
    }

    pub fn ifs(&self) -> String {
        self.getvar("IFS").unwrap_or(" \t\n").to_owned()
    }

    /// The environment given to commands: the exported variables, then
    /// the inherited entries that are not shell names.
    pub fn export_env(&self) -> Vec<(String, String)> {
        let exported = self.vars.iter().filter(|(_, v)| v.exported).map(|(k, v)| (k.clone(), v.value.clone()));
        exported.chain(self.foreign_env.iter().cloned()).collect()
    }

    /// Sets a single-letter option (`set -e`); false if unknown.
    pub fn set_flag(&mut self, c: char, on: bool) -> bool {
        match c {
            'e' => self.flags.errexit = on,
            'u' => self.flags.nounset = on,
            'x' => self.flags.xtrace = on,
            'f' => self.flags.noglob = on,
            _ => return false,
        }
        true
    }

    pub fn set_option(&mut self, name: &str, on: bool) -> bool {
        match name {
            "errexit" => self.flags.errexit = on,
            "nounset" => self.flags.nounset = on,
            "xtrace" => self.flags.xtrace = on,
            "noglob" => self.flags.noglob = on,
            "pipefail" => self.flags.pipefail = on,
            _ => return false,
        }
        true
    }

    /// `$-`.
    pub fn flag_string(&self) -> String {
        let f = &self.flags;
        [(f.errexit, 'e'), (f.noglob, 'f'), (f.nounset, 'u'), (f.xtrace, 'x')].iter().filter(|(on, _)| *on).map(|(_, c)| *c).collect()
    }

    /// Runs a script as the main program of this shell, one complete
    /// command at a time; returns the exit status.
    pub fn run_script(&mut self, src: &str, io: &mut Io) -> i32 {
        self.run_source(src, io).unwrap_or(self.status)
    }

    /// Runs the commands of `src`; `Some(status)` when the shell is to
    /// stop (`exit`, a syntax error).
    fn run_source(&mut self, src: &str, io: &mut Io) -> Option<i32> {
        let mut p = Parser::new(src);
        loop {
            match p.next_command() {
                Ok(None) => return None,
                Ok(Some(node)) => match self.exec(&node, io) {
                    Ok(s) => self.status = s,
                    Err(Ctl::Exit(s)) => {
                        self.status = s;
                        return Some(s);
                    }
                    Err(Ctl::Return(s)) => self.status = s,
                    Err(_) => {}
                },
                Err(e) => {
                    io.err("sh", format_args!("syntax error: {e}"));
                    self.status = 2;
                    return Some(2);
                }
            }
        }
    }

    /// Runs the commands on stdin as sh does: each complete command as
    /// soon as its lines are read, so an interactive user (`kubectl exec
    /// -it`) sees each answer at once, and a command that reads stdin
    /// gets the lines after it.
    pub fn run_stdin(&mut self, io: &mut Io) -> i32 {
        let mut pending = String::new();
        loop {
            let mut line = Vec::new();
            let n = match io.stdin.read_until(b'\n', &mut line) {
                Ok(n) => n,
                Err(e) => {
                    io.err("sh", errmsg(&e));
                    return 2;
                }
            };
            pending.push_str(&String::from_utf8_lossy(&line));
            if n > 0 && incomplete(&pending) {
                continue;
            }
            let chunk = std::mem::take(&mut pending);
            if let Some(stop) = self.run_source(&chunk, io) {
                return stop;
            }
            if n == 0 {
                return self.status;
            }
        }
    }

    /// Runs the EXIT trap, if any, when the shell is about to exit.
    pub fn finish(&mut self, status: i32, io: &mut Io) -> i32 {
        match self.traps.remove("EXIT") {
            Some(action) if !action.is_empty() => {
                self.status = status;
                match self.eval_str(&action, io) {
                    Err(Ctl::Exit(s)) => s,
                    _ => status,
                }
            }
            _ => status,
        }
    }
}

/// Single-quotes a string for re-input to the shell (`set`, `export -p`).
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The `sh` command: `sh -c SCRIPT [ARG0 [ARGS...]]`, `sh FILE [ARGS...]`,
/// or a script on stdin.
pub fn sh_main(argv: &[String], io: &mut Io) -> i32 {
    let mut sh = Shell::new(&io.env);
    let mut i = 1;
    let mut cmd = false;
    let mut from_stdin = false;
    while i < argv.len() {
        let a = argv[i].as_str();
        if a == "--" || a == "-" {
            i += 1;
            break;
        }
        if !(a.len() > 1 && (a.starts_with('-') || a.starts_with('+'))) {
            break;
        }
        let on = a.starts_with('-');
        i += 1;
        for c in a[1..].chars() {
            match c {
                'c' => cmd = true,
                's' => from_stdin = true,
                'i' | 'l' => {}
                'o' => {
                    let name = argv.get(i).cloned().unwrap_or_default();
                    i += 1;
                    if !sh.set_option(&name, on) {
                        io.err("sh", format_args!("illegal option -o {name}"));
                        return 2;
                    }
                }
                c if sh.set_flag(c, on) => {}
                c => {
                    io.err("sh", format_args!("illegal option -{c}"));
                    return 2;
                }
            }
        }
    }
    let rest = &argv[i.min(argv.len())..];
    let base = argv.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_owned()).unwrap_or_else(|| "sh".into());
    let script = if cmd {
        let Some(s) = rest.first() else {
            io.err("sh", "-c requires an argument");
            return 2;
        };
        sh.arg0 = rest.get(1).cloned().unwrap_or(base);
        sh.params = rest.iter().skip(2).cloned().collect();
        s.clone()
    } else if !from_stdin && !rest.is_empty() {
        sh.arg0 = rest[0].clone();
        sh.params = rest[1..].to_vec();
        match std::fs::read(&rest[0]) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                io.err("sh", format_args!("can't open '{}': {}", rest[0], errmsg(&e)));
                return 2;
            }
        }
    } else {
        sh.arg0 = base;
        sh.params = rest.to_vec();
        let st = sh.run_stdin(io);
        return sh.finish(st, io);
    };
    let st = sh.run_script(&script, io);
    sh.finish(st, io)
}

/// Whether `src` ends inside a command (an open quote, `if` without
/// `fi`, ...): more lines must be read before it can run.
fn incomplete(src: &str) -> bool {
    let mut p = Parser::new(src);
    loop {
        match p.next_command() {
            Ok(None) => return false,
            Ok(Some(_)) => {}
            Err(e) => return e.contains("unexpected end of file") || e.contains("unterminated"),
        }
    }
}

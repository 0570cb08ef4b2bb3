//! Running the syntax tree: control flow, pipelines, redirections, and
//! finding what a command name means (builtin, function, toolbox command,
//! script file).

use std::io::{Read, Write};
use std::path::Path;
use std::rc::Rc;

use super::parser::{Node, Redir, RedirOp, Simple};
use super::{Shell, quote};
use crate::io::{Input, Io, Output, errmsg};
use crate::pattern::fnmatch;

/// Non-local control flow, carried up the Rust stack as an `Err`.
#[derive(Debug)]
pub enum Ctl {
    Break(u32),
    Continue(u32),
    Return(i32),
    Exit(i32),
}

pub type R = Result<i32, Ctl>;

enum Step {
    Next(i32),
    Break,
}

impl Shell {
    /// Runs `f` as a condition, where `set -e` does not apply.
    pub(super) fn in_cond(&mut self, f: impl FnOnce(&mut Shell) -> R) -> R {
        self.cond += 1;
        let r = f(self);
        self.cond -= 1;
        r
    }

    fn errexit(&self, st: i32) -> Result<(), Ctl> {
        if self.flags.errexit && self.cond == 0 && st != 0 { Err(Ctl::Exit(st)) } else { Ok(()) }
    }

    /// Runs `f` on a copy of the shell (a subshell); changes to variables,
    /// functions and the current directory do not leak back.
    pub(super) fn subshell(&mut self, f: impl FnOnce(&mut Shell) -> R) -> i32 {
        let mut sub = self.clone();
        sub.traps.retain(|_, v| v.is_empty());
        let cwd = std::env::current_dir().ok();
        let st = match f(&mut sub) {
            Ok(s) | Err(Ctl::Exit(s)) | Err(Ctl::Return(s)) => s,
            Err(_) => sub.status,
        };
        if let Some(c) = cwd {
            if std::env::current_dir().ok().as_ref() != Some(&c) {
                let _ = std::env::set_current_dir(&c);
            }
        }
        st
    }

    pub fn exec(&mut self, node: &Node, io: &mut Io) -> R {
        match node {
            Node::Simple(s) => {
                let st = self.exec_simple(s, io)?;
                self.status = st;
                self.errexit(st)?;
                Ok(st)
            }
            Node::Pipeline { bang, cmds } => {
                let st = if *bang { (self.in_cond(|sh| sh.pipeline(cmds, io))? == 0) as i32 } else { self.pipeline(cmds, io)? };
                self.status = st;
                if !*bang {
                    self.errexit(st)?;
                }
                Ok(st)
            }
            Node::AndOr { first, rest } => {
                let mut st = self.in_cond(|sh| sh.exec(first, io))?;
                for (i, (and, n)) in rest.iter().enumerate() {
                    if *and == (st == 0) {
                        st = if i + 1 < rest.len() { self.in_cond(|sh| sh.exec(n, io))? } else { self.exec(n, io)? };
                    }
                }
                self.status = st;
                Ok(st)
            }
            Node::List(items) => {
                let mut st = 0;
                for n in items {
                    st = self.exec(n, io)?;
                }
                Ok(st)
            }
            Node::Group(b) => self.exec(b, io),
            Node::Subshell(b) => {
                let st = self.subshell(|sh| sh.exec(b, io));
                self.status = st;
                self.errexit(st)?;
                Ok(st)
            }
            Node::If { arms, else_ } => {
                for (c, b) in arms {
                    if self.in_cond(|sh| sh.exec(c, io))? == 0 {
                        return self.exec(b, io);
                    }
                }
                match else_ {
                    Some(e) => self.exec(e, io),
                    None => {
                        self.status = 0;
                        Ok(0)
                    }
                }
            }
            Node::Loop { until, cond, body } => {
                self.loop_depth += 1;
                let r = self.run_while(*until, cond, body, io);
                self.loop_depth -= 1;
                let st = r?;
                self.status = st;
                Ok(st)
            }
            Node::For { var, words, body } => {
                let items = match words {
                    Some(ws) => {
                        let mut f = Vec::new();
                        for w in ws {
                            self.expand_fields(w, io, &mut f)?;
                        }
                        f
                    }
                    None => self.params.clone(),
                };
                self.loop_depth += 1;
                let r = self.run_for(var, items, body, io);
                self.loop_depth -= 1;
                let st = r?;
                self.status = st;
                Ok(st)
            }
            Node::Case { word, arms } => {
                let w = self.expand_str(&word.parts, io)?;
                for arm in arms {
                    for p in &arm.pats {
                        let pat = self.expand_pattern(&p.parts, io)?;
                        if fnmatch(&pat, &w) {
                            return self.exec(&arm.body, io);
                        }
                    }
                }
                self.status = 0;
                Ok(0)
            }
            Node::FuncDef { name, body } => {
                self.funcs.insert(name.clone(), body.clone());
                Ok(0)
            }
            Node::Redirected(inner, redirs) => match self.redirect(redirs, io)? {
                Ok(mut io2) => self.exec(inner, &mut io2),
                Err(st) => {
                    self.status = st;
                    Ok(st)
                }
            },
        }
    }

    fn loop_body(&mut self, body: &Node, io: &mut Io) -> Result<Step, Ctl> {
        match self.exec(body, io) {
            Ok(st) => Ok(Step::Next(st)),
            Err(Ctl::Break(n)) if n > 1 => Err(Ctl::Break(n - 1)),
            Err(Ctl::Break(_)) => Ok(Step::Break),
            Err(Ctl::Continue(n)) if n > 1 => Err(Ctl::Continue(n - 1)),
            Err(Ctl::Continue(_)) => Ok(Step::Next(0)),
            Err(e) => Err(e),
        }
    }

    fn run_while(&mut self, until: bool, cond: &Node, body: &Node, io: &mut Io) -> R {
        let mut st = 0;
        loop {
            let c = self.in_cond(|sh| sh.exec(cond, io))?;
            if (c == 0) == until {
                break;
            }
            match self.loop_body(body, io)? {
                Step::Next(s) => st = s,
                Step::Break => break,
            }
        }
        Ok(st)
    }

    fn run_for(&mut self, var: &str, items: Vec<String>, body: &Node, io: &mut Io) -> R {
        let mut st = 0;
        for item in items {
            if let Err(e) = self.setvar(var, item) {
                io.err("sh", e);
                return Ok(1);
            }
            match self.loop_body(body, io)? {
                Step::Next(s) => st = s,
                Step::Break => break,
            }
        }
        Ok(st)
    }

    /// Runs pipeline stages in order, each on a copy of the shell, feeding
    /// each stage's buffered output to the next. Status is the last
    /// stage's (with `set -o pipefail`, the last failing stage's).
    fn pipeline(&mut self, cmds: &[Node], io: &mut Io) -> R {
        if cmds.len() == 1 {
            return self.exec(&cmds[0], io);
        }
        let mut input = io.stdin.clone();
        let (mut st, mut failed) = (0, 0);
        for (i, c) in cmds.iter().enumerate() {
            let last = i + 1 == cmds.len();
            let (out, buf) = if last {
                (io.stdout.clone(), None)
            } else {
                let (o, b) = Output::buffer();
                (o, Some(b))
            };
            let mut sio = Io { stdin: input.clone(), stdout: out, stderr: io.stderr.clone(), env: io.env.clone() };
            st = self.subshell(|sh| sh.exec(c, &mut sio));
            if st != 0 {
                failed = st;
            }
            if let Some(b) = buf {
                input = Input::bytes(std::mem::take(&mut *b.borrow_mut()));
            }
        }
        if self.flags.pipefail && st == 0 {
            st = failed;
        }
        Ok(st)
    }

    /// Applies redirections to a copy of `io`. `Ok(Err(status))` when a
    /// file cannot be opened (the command is then not run).
    pub(super) fn redirect(&mut self, redirs: &[Redir], io: &Io) -> Result<Result<Io, i32>, Ctl> {
        let mut n = io.clone();
        for r in redirs {
            if r.op == RedirOp::HereDoc {
                let text = self.expand_str(&r.body, io)?;
                if r.fd == 0 {
                    n.stdin = Input::bytes(text.into_bytes());
                }
                continue;
            }
            let target = self.expand_str(&r.target.parts, io)?;
            match r.op {
                RedirOp::In | RedirOp::ReadWrite => {
                    let opened = if r.op == RedirOp::ReadWrite && !Path::new(&target).exists() {
                        std::fs::File::create(&target).map(|_| Input::empty())
                    } else {
                        n.open_in(&target)
                    };
                    match opened {
                        Ok(i) if r.fd == 0 => n.stdin = i,
                        Ok(_) => {}
                        Err(e) => {
                            io.clone().err("sh", format_args!("can't open '{target}': {}", errmsg(&e)));
                            return Ok(Err(1));
                        }
                    }
                }
                RedirOp::Out | RedirOp::Append => match n.open_out(&target, r.op == RedirOp::Append) {
                    Ok(o) => set_out(&mut n, r.fd, o),
                    Err(e) => {
                        io.clone().err("sh", format_args!("can't create '{target}': {}", errmsg(&e)));
                        return Ok(Err(1));
                    }
                },
                RedirOp::DupOut | RedirOp::DupIn => match target.as_str() {
                    "-" => match r.fd {
                        0 => n.stdin = Input::empty(),
                        fd => set_out(&mut n, fd, Output::null()),
                    },
                    "0" if r.fd == 0 => {}
                    "1" => {
                        let o = n.stdout.clone();
                        set_out(&mut n, r.fd, o);
                    }
                    "2" => {
                        let o = n.stderr.clone();
                        set_out(&mut n, r.fd, o);
                    }
                    _ => {
                        io.clone().err("sh", format_args!("{target}: bad file descriptor"));
                        return Ok(Err(1));
                    }
                },
                RedirOp::HereDoc => unreachable!(),
            }
        }
        Ok(Ok(n))
    }

    fn exec_simple(&mut self, s: &Simple, io: &mut Io) -> R {
        self.cmdsub_status = None;
        let mut fields = Vec::new();
        for w in &s.words {
            self.expand_fields(w, io, &mut fields)?;
        }
        let mut assigns = Vec::new();
        for (name, parts) in &s.assigns {
            let v = self.expand_str(parts, io)?;
            assigns.push((name.clone(), v));
        }
        if self.flags.xtrace && (!fields.is_empty() || !assigns.is_empty()) {
            let mut line = String::from("+");
            for (k, v) in &assigns {
                line.push_str(&format!(" {k}={}", trace_quote(v)));
            }
            for f in &fields {
                line.push(' ');
                line.push_str(&trace_quote(f));
            }
            let _ = writeln!(io.stderr, "{line}");
        }
        if fields.is_empty() {
            for (name, v) in assigns {
                if let Err(e) = self.setvar(&name, v) {
                    io.err("sh", e);
                    return Ok(1);
                }
            }
            if !s.redirs.is_empty() {
                if let Err(st) = self.redirect(&s.redirs, io)? {
                    return Ok(st);
                }
            }
            return Ok(self.cmdsub_status.unwrap_or(0));
        }
        if fields[0] == "exec" && fields.len() == 1 {
            // `exec >file` redirects the rest of this shell's commands.
            return match self.redirect(&s.redirs, io)? {
                Ok(n) => {
                    *io = n;
                    Ok(0)
                }
                Err(st) => Ok(st),
            };
        }
        let mut cio = if s.redirs.is_empty() {
            io.clone()
        } else {
            match self.redirect(&s.redirs, io)? {
                Ok(n) => n,
                Err(st) => return Ok(st),
            }
        };
        let status = self.run_command(&fields, &assigns, &mut cio, true)?;
        self.deliver_stop(io)?;
        Ok(status)
    }

    /// Runs the TERM trap once the container's stop request arrived (the
    /// shell only asks for requests when a TERM trap is set); with the
    /// trap reset since, the shell ends as SIGTERM would end it.
    fn deliver_stop(&mut self, io: &mut Io) -> Result<(), Ctl> {
        if !crate::stop::take() {
            return Ok(());
        }
        match self.traps.get("TERM").cloned() {
            Some(action) if !action.is_empty() => {
                let saved = self.status;
                self.eval_str(&action, io)?;
                self.status = saved;
                Ok(())
            }
            // `trap '' TERM` ignores it.
            Some(_) => Ok(()),
            None => Err(Ctl::Exit(143)),
        }
    }

    /// Runs a command by name: shell builtin, function (unless `funcs` is
    /// false, as for `command`), toolbox command, or script file.
    pub(super) fn run_command(&mut self, argv: &[String], assigns: &[(String, String)], io: &mut Io, funcs: bool) -> R {
        let name = argv[0].as_str();
        if super::builtins::is_builtin(name) {
            return self.with_assigns(assigns, |sh| sh.builtin(argv, io));
        }
        if funcs {
            if let Some(body) = self.funcs.get(name).cloned() {
                return self.with_assigns(assigns, |sh| sh.call_function(&body, argv, io));
            }
        }
        let mut env = self.export_env();
        for (k, v) in assigns {
            env.retain(|(ek, _)| ek != k);
            env.push((k.clone(), v.clone()));
        }
        if let Some(f) = crate::find_applet(name) {
            io.env = Rc::new(env);
            return Ok(f(argv, io));
        }
        if name.contains('/') && Path::new(name).is_file() {
            let mut magic = [0u8; 4];
            let is_wasm = std::fs::File::open(name).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"\0asm";
            if is_wasm {
                io.err("sh", format_args!("{name}: cannot execute binary file"));
                return Ok(126);
            }
            // A script: run it with a new shell, as the kernel would via #!.
            io.env = Rc::new(env);
            let mut sargv = vec!["sh".to_owned()];
            sargv.extend(argv.iter().cloned());
            return Ok(super::sh_main(&sargv, io));
        }
        io.err("sh", format_args!("{name}: not found"));
        Ok(127)
    }

    /// Runs `f` with `NAME=value` prefix assignments in effect, then
    /// restores the previous values.
    fn with_assigns(&mut self, assigns: &[(String, String)], f: impl FnOnce(&mut Shell) -> R) -> R {
        if assigns.is_empty() {
            return f(self);
        }
        let saved: Vec<_> = assigns.iter().map(|(k, _)| (k.clone(), self.vars.get(k).cloned())).collect();
        for (k, v) in assigns {
            let _ = self.setvar(k, v.clone());
        }
        let r = f(self);
        for (k, old) in saved.into_iter().rev() {
            match old {
                Some(v) => self.vars.insert(k, v),
                None => self.vars.remove(&k),
            };
        }
        r
    }

    fn call_function(&mut self, body: &Node, argv: &[String], io: &mut Io) -> R {
        let saved = std::mem::replace(&mut self.params, argv[1..].to_vec());
        self.locals.push(Vec::new());
        self.func_depth += 1;
        let r = self.exec(body, io);
        self.func_depth -= 1;
        for (name, old) in self.locals.pop().unwrap_or_default().into_iter().rev() {
            match old {
                Some(v) => self.vars.insert(name, v),
                None => self.vars.remove(&name),
            };
        }
        self.params = saved;
        match r {
            Err(Ctl::Return(s)) => Ok(s),
            r => r,
        }
    }

    /// Parses and runs a string in this shell (`eval`, traps).
    pub fn eval_str(&mut self, src: &str, io: &mut Io) -> R {
        let node = match super::parser::Parser::new(src).program() {
            Ok(n) => n,
            Err(e) => {
                io.err("sh", format_args!("syntax error: {e}"));
                return Ok(2);
            }
        };
        self.exec(&node, io)
    }
}

fn set_out(io: &mut Io, fd: u32, o: Output) {
    match fd {
        1 => io.stdout = o,
        2 => io.stderr = o,
        _ => {}
    }
}

/// `set -x` quoting: only words that need it are quoted.
fn trace_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) { s.to_owned() } else { quote(s) }
}

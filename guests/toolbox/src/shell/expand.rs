//! Word expansion: parameters, command and arithmetic substitution, field
//! splitting on IFS and pathname expansion. Fields are built with two
//! views: the literal text and a pattern in which quoted characters are
//! backslash-escaped, so globbing and `case` only treat unquoted
//! `* ? [` as special.

use std::io::Write;

use super::Shell;
use super::exec::Ctl;
use super::parser::{Param, Part, Word};
use crate::io::{Io, Output};
use crate::pattern::{escape, fnmatch, glob};

#[derive(Default)]
struct Field {
    lit: String,
    pat: String,
    glob: bool,
    /// Something (even an empty quoted string) makes this a field.
    real: bool,
}

struct Builder {
    fields: Vec<Field>,
    cur: Field,
    ifs: String,
    split: bool,
}

impl Builder {
    fn new(ifs: String, split: bool) -> Self {
        Builder { fields: Vec::new(), cur: Field::default(), ifs, split }
    }
    fn quoted(&mut self, s: &str) {
        self.cur.lit.push_str(s);
        self.cur.pat.push_str(&escape(s));
        self.cur.real = true;
    }
    fn active_char(&mut self, c: char) {
        self.cur.lit.push(c);
        if c == '\\' {
            self.cur.pat.push('\\');
        }
        self.cur.pat.push(c);
        if matches!(c, '*' | '?' | '[') {
            self.cur.glob = true;
        }
        self.cur.real = true;
    }
    fn active(&mut self, s: &str) {
        s.chars().for_each(|c| self.active_char(c));
    }
    /// The result of an expansion: split on IFS unless quoted.
    fn expanded(&mut self, s: &str, quoted: bool) {
        if quoted {
            return self.quoted(s);
        }
        if !self.split {
            return self.active(s);
        }
        for c in s.chars() {
            if self.ifs.contains(c) {
                if matches!(c, ' ' | '\t' | '\n') {
                    if self.cur.real {
                        self.end();
                    }
                } else {
                    self.end();
                }
            } else {
                self.active_char(c);
            }
        }
    }
    fn end(&mut self) {
        let f = std::mem::take(&mut self.cur);
        self.fields.push(f);
    }
    fn finish(mut self) -> Vec<Field> {
        if self.cur.real {
            self.end();
        }
        self.fields
    }
}

fn err(io: &Io, msg: impl std::fmt::Display) -> Ctl {
    let _ = writeln!(io.stderr.clone(), "sh: {msg}");
    Ctl::Exit(2)
}

impl Shell {
    /// Expands a word into fields (split and globbed), appending to `out`.
    pub(super) fn expand_fields(&mut self, w: &Word, io: &Io, out: &mut Vec<String>) -> Result<(), Ctl> {
        let mut b = Builder::new(self.ifs(), true);
        self.expand_into(&w.parts, &mut b, io)?;
        for f in b.finish() {
            if f.glob && !self.flags.noglob {
                let m = glob(&f.pat);
                if !m.is_empty() {
                    out.extend(m);
                    continue;
                }
            }
            out.push(f.lit);
        }
        Ok(())
    }

    fn expand_one(&mut self, parts: &[Part], io: &Io) -> Result<Vec<Field>, Ctl> {
        let mut b = Builder::new(self.ifs(), false);
        self.expand_into(parts, &mut b, io)?;
        Ok(b.finish())
    }

    /// Expands without splitting or globbing (assignments, redirection
    /// targets, here-docs, `case` words).
    pub(super) fn expand_str(&mut self, parts: &[Part], io: &Io) -> Result<String, Ctl> {
        Ok(self.expand_one(parts, io)?.into_iter().map(|f| f.lit).collect::<Vec<_>>().join(" "))
    }

    /// Expands into a shell pattern: quoted parts match literally.
    pub(super) fn expand_pattern(&mut self, parts: &[Part], io: &Io) -> Result<String, Ctl> {
        Ok(self.expand_one(parts, io)?.into_iter().map(|f| f.pat).collect::<Vec<_>>().join(" "))
    }

    fn expand_into(&mut self, parts: &[Part], b: &mut Builder, io: &Io) -> Result<(), Ctl> {
        for p in parts {
            match p {
                Part::Lit(s) => b.active(s),
                Part::Quoted(s) => b.quoted(s),
                Part::Tilde(user) => {
                    if user.is_empty() {
                        let home = self.getvar("HOME").unwrap_or("/").to_owned();
                        b.quoted(&home);
                    } else if user == "root" {
                        b.quoted("/root");
                    } else {
                        b.active(&format!("~{user}"));
                    }
                }
                Part::Param(p, q) => self.expand_param(p, *q, b, io)?,
                Part::Cmd(node, q) => {
                    let s = self.command_subst(node, io);
                    b.expanded(&s, *q);
                }
                Part::Arith(inner, q) => {
                    let s = self.expand_str(inner, io)?;
                    let v = self.arith(&s).map_err(|e| err(io, e))?;
                    b.expanded(&v.to_string(), *q);
                }
            }
        }
        Ok(())
    }

    fn command_subst(&mut self, node: &super::parser::Node, io: &Io) -> String {
        let (out, buf) = Output::buffer();
        let mut sio = Io { stdin: io.stdin.clone(), stdout: out, stderr: io.stderr.clone(), env: io.env.clone() };
        let st = self.subshell(|sh| sh.exec(node, &mut sio));
        self.cmdsub_status = Some(st);
        self.status = st;
        let data = std::mem::take(&mut *buf.borrow_mut());
        let mut s = String::from_utf8_lossy(&data).into_owned();
        while s.ends_with('\n') {
            s.pop();
        }
        s
    }

    /// The value of a parameter, None when unset.
    pub(super) fn param_value(&self, name: &str) -> Option<String> {
        Some(match name {
            "?" => self.status.to_string(),
            "$" => "1".into(),
            "#" => self.params.len().to_string(),
            "0" => self.arg0.clone(),
            "-" => self.flag_string(),
            "!" => return None,
            "@" | "*" => self.params.join(" "),
            _ if name.bytes().all(|c| c.is_ascii_digit()) => {
                let n: usize = name.parse().ok()?;
                return if n == 0 { Some(self.arg0.clone()) } else { self.params.get(n - 1).cloned() };
            }
            _ => return self.getvar(name).map(str::to_owned),
        })
    }

    fn expand_param(&mut self, p: &Param, q: bool, b: &mut Builder, io: &Io) -> Result<(), Ctl> {
        let name = p.name.as_str();
        if (name == "@" || name == "*") && p.op.is_empty() {
            let params = self.params.clone();
            if q && name == "@" && b.split {
                for (i, v) in params.iter().enumerate() {
                    if i > 0 {
                        b.end();
                    }
                    b.quoted(v);
                }
            } else if q {
                let sep: String = self.ifs().chars().take(1).collect();
                b.quoted(&params.join(&sep));
            } else {
                for (i, v) in params.iter().enumerate() {
                    if i > 0 {
                        if b.split {
                            if b.cur.real {
                                b.end();
                            }
                        } else {
                            b.active(" ");
                        }
                    }
                    b.expanded(v, false);
                }
            }
            return Ok(());
        }
        let val = self.param_value(name);
        let colon = p.op.starts_with(':');
        let missing = val.is_none() || (colon && val.as_deref() == Some(""));
        let special = !super::parser::is_name(name) || name == "@";
        match p.op.as_str() {
            "" | "#len" | "%" | "%%" | "#" | "##" | "/" | "//" | ":" if val.is_none() && self.flags.nounset && !special => {
                Err(err(io, format_args!("{name}: parameter not set")))
            }
            "" => {
                b.expanded(&val.unwrap_or_default(), q);
                Ok(())
            }
            "#len" => {
                let n = if name == "@" || name == "*" { self.params.len() } else { val.unwrap_or_default().chars().count() };
                b.expanded(&n.to_string(), q);
                Ok(())
            }
            "-" | ":-" | "+" | ":+" => {
                let use_word = if p.op.ends_with('-') { missing } else { !missing };
                if use_word {
                    if q {
                        let s = self.expand_str(&p.word, io)?;
                        b.quoted(&s);
                    } else {
                        self.expand_into(&p.word, b, io)?;
                    }
                } else if p.op.ends_with('-') {
                    b.expanded(&val.unwrap_or_default(), q);
                }
                Ok(())
            }
            "=" | ":=" => {
                let v = if missing {
                    let s = self.expand_str(&p.word, io)?;
                    if special {
                        return Err(err(io, format_args!("{name}: bad variable name")));
                    }
                    self.setvar(name, s.clone()).map_err(|e| err(io, e))?;
                    s
                } else {
                    val.unwrap_or_default()
                };
                b.expanded(&v, q);
                Ok(())
            }
            "?" | ":?" => {
                if missing {
                    let mut msg = self.expand_str(&p.word, io)?;
                    if msg.is_empty() {
                        msg = if colon { "parameter null or not set".into() } else { "parameter not set".into() };
                    }
                    return Err(err(io, format_args!("{name}: {msg}")));
                }
                b.expanded(&val.unwrap_or_default(), q);
                Ok(())
            }
            "%" | "%%" | "#" | "##" => {
                let v = val.unwrap_or_default();
                let pat = self.expand_pattern(&p.word, io)?;
                let chars: Vec<char> = v.chars().collect();
                let s = |a: usize, z: usize| chars[a..z].iter().collect::<String>();
                let n = chars.len();
                let r = match p.op.as_str() {
                    "%" => (0..=n).rev().find(|&i| fnmatch(&pat, &s(i, n))).map(|i| s(0, i)),
                    "%%" => (0..=n).find(|&i| fnmatch(&pat, &s(i, n))).map(|i| s(0, i)),
                    "#" => (0..=n).find(|&i| fnmatch(&pat, &s(0, i))).map(|i| s(i, n)),
                    _ => (0..=n).rev().find(|&i| fnmatch(&pat, &s(0, i))).map(|i| s(i, n)),
                };
                b.expanded(&r.unwrap_or(v), q);
                Ok(())
            }
            "/" | "//" => {
                let v = val.unwrap_or_default();
                let mut pat = self.expand_pattern(&p.word, io)?;
                let rep = self.expand_str(p.word2.as_deref().unwrap_or(&[]), io)?;
                let (anchor_start, anchor_end) = if let Some(r) = pat.strip_prefix('#') {
                    pat = r.to_owned();
                    (true, false)
                } else if let Some(r) = pat.strip_prefix('%') {
                    pat = r.to_owned();
                    (false, true)
                } else {
                    (false, false)
                };
                let chars: Vec<char> = v.chars().collect();
                let n = chars.len();
                let mut out = String::new();
                let mut i = 0;
                let mut done = false;
                while i <= n {
                    let found = if done || (anchor_start && i > 0) || pat.is_empty() {
                        None
                    } else if anchor_end {
                        (fnmatch(&pat, &chars[i..].iter().collect::<String>())).then_some(n)
                    } else {
                        (i..=n).rev().find(|&j| fnmatch(&pat, &chars[i..j].iter().collect::<String>()))
                    };
                    match found {
                        Some(j) if j > i || anchor_end => {
                            out.push_str(&rep);
                            i = j;
                            done = p.op == "/";
                            if i == n {
                                break;
                            }
                        }
                        _ => {
                            if i < n {
                                out.push(chars[i]);
                            }
                            i += 1;
                        }
                    }
                }
                b.expanded(&out, q);
                Ok(())
            }
            ":" => {
                let v = val.unwrap_or_default();
                let chars: Vec<char> = v.chars().collect();
                let n = chars.len() as i64;
                let off_s = self.expand_str(&p.word, io)?;
                let mut off = self.arith(&off_s).map_err(|e| err(io, e))?;
                if off < 0 {
                    off = (n + off).max(0);
                }
                let off = off.min(n);
                let mut end = n;
                if let Some(w2) = &p.word2 {
                    let len_s = self.expand_str(w2, io)?;
                    let len = self.arith(&len_s).map_err(|e| err(io, e))?;
                    end = if len < 0 { (n + len).max(off) } else { (off + len).min(n) };
                }
                let s: String = chars[off as usize..end as usize].iter().collect();
                b.expanded(&s, q);
                Ok(())
            }
            _ => Err(err(io, "bad substitution")),
        }
    }
}

//! sed: the commands s (flags g p N I), d, p, q, Q, =, a, i, c, y, n, and
//! `{ ... }` blocks, with addresses N, $, /re/ and ranges A,B (and `!`);
//! options -n, -e, -f, -i, -E/-r, -s.

use std::io::Write;

use super::getopt;
use crate::io::{Io, errmsg, split_lines};
use crate::regex::Regex;

enum Addr {
    Line(usize),
    Last,
    Re(Regex),
}

enum Rep {
    Lit(String),
    Group(usize),
}

enum Kind {
    Subst {
        re: Regex,
        rep: Vec<Rep>,
        global: bool,
        nth: usize,
        print: bool,
    },
    Delete,
    Print,
    LineNo,
    Quit(i32, bool),
    Append(String),
    Insert(String),
    Change(String),
    Translit(Vec<char>, Vec<char>),
    Next,
    /// `{`: index of the matching `}`.
    Block(usize),
    EndBlock,
}

struct Cmd {
    a1: Option<Addr>,
    a2: Option<Addr>,
    neg: bool,
    kind: Kind,
    in_range: bool,
}

struct P<'a> {
    s: Vec<char>,
    i: usize,
    ere: bool,
    err: &'a mut String,
}

impl P<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c == ' ' || c == '\t') {
            self.i += 1;
        }
    }
    /// Reads up to an unescaped `delim`; `\delim` becomes `delim`.
    fn delimited(&mut self, delim: char, keep_escapes: bool) -> Option<String> {
        let mut out = String::new();
        let mut in_bracket = false;
        loop {
            let c = self.peek()?;
            self.i += 1;
            if c == '\\' {
                let n = self.peek()?;
                self.i += 1;
                if n == delim {
                    out.push(n);
                } else if n == 'n' && !keep_escapes {
                    out.push('\n');
                } else {
                    out.push('\\');
                    out.push(n);
                }
                continue;
            }
            if keep_escapes {
                if c == '[' && !in_bracket {
                    in_bracket = true;
                    out.push(c);
                    if self.peek() == Some('^') {
                        out.push('^');
                        self.i += 1;
                    }
                    if self.peek() == Some(']') {
                        out.push(']');
                        self.i += 1;
                    }
                    continue;
                }
                if c == ']' && in_bracket {
                    in_bracket = false;
                }
            }
            if c == delim && !in_bracket {
                return Some(out);
            }
            out.push(c);
        }
    }
    fn regex(&mut self, pat: &str, icase: bool) -> Option<Regex> {
        match Regex::new(pat, self.ere, icase) {
            Ok(r) => Some(r),
            Err(e) => {
                *self.err = format!("bad regex '{pat}': {e}");
                None
            }
        }
    }
    fn addr(&mut self) -> Option<Option<Addr>> {
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                let st = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
                let n: String = self.s[st..self.i].iter().collect();
                Some(Some(Addr::Line(n.parse().ok()?)))
            }
            Some('$') => {
                self.i += 1;
                Some(Some(Addr::Last))
            }
            Some('/') | Some('\\') => {
                let delim = if self.peek() == Some('\\') {
                    self.i += 1;
                    self.peek()?
                } else {
                    '/'
                };
                self.i += 1;
                let pat = self.delimited(delim, true)?;
                let icase = self.peek() == Some('I');
                if icase {
                    self.i += 1;
                }
                Some(Some(Addr::Re(self.regex(&pat, icase)?)))
            }
            _ => Some(None),
        }
    }
    /// Text argument of a, i, c: `a text`, `a\` + newline + text.
    fn text(&mut self) -> String {
        self.skip_ws();
        if self.peek() == Some('\\') {
            self.i += 1;
            if self.peek() == Some('\n') {
                self.i += 1;
            }
        }
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == '\\' {
                match self.peek() {
                    Some('\n') => {
                        out.push('\n');
                        self.i += 1;
                    }
                    Some(n) => {
                        out.push(if n == 't' { '\t' } else { n });
                        self.i += 1;
                    }
                    None => {}
                }
                continue;
            }
            if c == '\n' {
                break;
            }
            out.push(c);
        }
        out
    }
    fn parse(&mut self) -> Option<Vec<Cmd>> {
        let mut cmds: Vec<Cmd> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        loop {
            while self.peek().is_some_and(|c| c.is_whitespace() || c == ';') {
                self.i += 1;
            }
            if self.peek() == Some('#') {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.i += 1;
                }
                continue;
            }
            let Some(_) = self.peek() else { break };
            let a1 = self.addr()?;
            let mut a2 = None;
            if a1.is_some() && self.peek() == Some(',') {
                self.i += 1;
                a2 = self.addr()?;
                if a2.is_none() {
                    *self.err = "unexpected ','".into();
                    return None;
                }
            }
            self.skip_ws();
            let mut neg = false;
            while self.peek() == Some('!') {
                neg = true;
                self.i += 1;
                self.skip_ws();
            }
            let Some(c) = self.peek() else {
                *self.err = "missing command".into();
                return None;
            };
            self.i += 1;
            let kind = match c {
                's' => {
                    let Some(delim) = self.peek() else {
                        *self.err = "unterminated `s' command".into();
                        return None;
                    };
                    self.i += 1;
                    let (Some(pat), Some(rep)) = (self.delimited(delim, true), self.delimited(delim, true)) else {
                        *self.err = "unterminated `s' command".into();
                        return None;
                    };
                    let (mut global, mut nth, mut print, mut icase) = (false, 1, false, false);
                    while let Some(f) = self.peek() {
                        match f {
                            'g' => global = true,
                            'p' => print = true,
                            'I' | 'i' => icase = true,
                            d if d.is_ascii_digit() => nth = d.to_digit(10).unwrap() as usize,
                            _ => break,
                        }
                        self.i += 1;
                    }
                    let re = self.regex(&pat, icase)?;
                    Kind::Subst { re, rep: parse_rep(&rep), global, nth: nth.max(1), print }
                }
                'd' => Kind::Delete,
                'p' => Kind::Print,
                '=' => Kind::LineNo,
                'n' => Kind::Next,
                'q' | 'Q' => {
                    self.skip_ws();
                    let st = self.i;
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.i += 1;
                    }
                    let code: String = self.s[st..self.i].iter().collect();
                    Kind::Quit(code.parse().unwrap_or(0), c == 'q')
                }
                'a' => Kind::Append(self.text()),
                'i' => Kind::Insert(self.text()),
                'c' => Kind::Change(self.text()),
                'y' => {
                    let Some(delim) = self.peek() else { return None };
                    self.i += 1;
                    let (Some(a), Some(b)) = (self.delimited(delim, false), self.delimited(delim, false)) else {
                        *self.err = "unterminated `y' command".into();
                        return None;
                    };
                    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                    if a.len() != b.len() {
                        *self.err = "strings for `y' command are different lengths".into();
                        return None;
                    }
                    Kind::Translit(a, b)
                }
                '{' => {
                    open.push(cmds.len());
                    Kind::Block(0)
                }
                '}' => {
                    let Some(start) = open.pop() else {
                        *self.err = "unexpected '}'".into();
                        return None;
                    };
                    let end = cmds.len();
                    cmds[start].kind = Kind::Block(end);
                    Kind::EndBlock
                }
                other => {
                    *self.err = format!("unsupported command {other}");
                    return None;
                }
            };
            cmds.push(Cmd { a1, a2, neg, kind, in_range: false });
        }
        if !open.is_empty() {
            *self.err = "unmatched '{'".into();
            return None;
        }
        Some(cmds)
    }
}

fn parse_rep(s: &str) -> Vec<Rep> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            '&' => {
                out.push(Rep::Lit(std::mem::take(&mut lit)));
                out.push(Rep::Group(0));
            }
            '\\' => match it.next() {
                Some(d @ '0'..='9') => {
                    out.push(Rep::Lit(std::mem::take(&mut lit)));
                    out.push(Rep::Group(d.to_digit(10).unwrap() as usize));
                }
                Some('n') => lit.push('\n'),
                Some('t') => lit.push('\t'),
                Some(o) => lit.push(o),
                None => lit.push('\\'),
            },
            _ => lit.push(c),
        }
    }
    out.push(Rep::Lit(lit));
    out
}

fn substitute(re: &Regex, rep: &[Rep], global: bool, nth: usize, ps: &str) -> Option<String> {
    let chars: Vec<char> = ps.chars().collect();
    let mut out = String::new();
    let mut pos = 0;
    let mut count = 0;
    let mut did = false;
    let mut prev_end: Option<usize> = None;
    while pos <= chars.len() {
        let Some(caps) = re.find_at(&chars, pos) else { break };
        let (s, e) = (caps[0].unwrap(), caps[1].unwrap());
        // An empty match right after the previous match does not count.
        if s == e && prev_end == Some(s) {
            if s < chars.len() {
                out.push(chars[s]);
            }
            pos = s + 1;
            prev_end = None;
            continue;
        }
        out.extend(&chars[pos..s]);
        count += 1;
        if count >= nth {
            for r in rep {
                match r {
                    Rep::Lit(l) => out.push_str(l),
                    Rep::Group(g) => {
                        if let (Some(Some(a)), Some(Some(b))) = (caps.get(2 * g), caps.get(2 * g + 1)) {
                            out.extend(&chars[*a..*b]);
                        }
                    }
                }
            }
            did = true;
        } else {
            out.extend(&chars[s..e]);
        }
        prev_end = Some(e);
        if e == s {
            if s < chars.len() {
                out.push(chars[s]);
            }
            pos = s + 1;
        } else {
            pos = e;
        }
        if did && !global {
            break;
        }
    }
    if !did {
        return None;
    }
    if pos < chars.len() {
        out.extend(&chars[pos..]);
    }
    Some(out)
}

fn addr_match(a: &Addr, n: usize, last: bool, ps: &str) -> bool {
    match a {
        Addr::Line(k) => *k == n,
        Addr::Last => last,
        Addr::Re(r) => r.is_match(ps),
    }
}

fn selected(c: &mut Cmd, n: usize, last: bool, ps: &str) -> bool {
    let m = match (&c.a1, &c.a2) {
        (None, _) => true,
        (Some(a), None) => addr_match(a, n, last, ps),
        (Some(a), Some(b)) => {
            if !c.in_range {
                if addr_match(a, n, last, ps) {
                    c.in_range = match b {
                        Addr::Line(k) => *k > n,
                        Addr::Last => !last,
                        Addr::Re(_) => true,
                    };
                    true
                } else {
                    false
                }
            } else {
                let end = match b {
                    Addr::Line(k) => n >= *k,
                    Addr::Last => last,
                    Addr::Re(r) => r.is_match(ps),
                };
                if end {
                    c.in_range = false;
                }
                true
            }
        }
    };
    m != c.neg
}

/// Runs the script over `lines`; returns (output, quit status if `q`).
fn run(cmds: &mut [Cmd], lines: &[String], final_nl: bool, quiet: bool) -> (String, Option<i32>) {
    let mut out = String::new();
    let mut idx = 0;
    while idx < lines.len() {
        let mut ps = lines[idx].clone();
        let mut n = idx + 1;
        let mut append: Vec<String> = Vec::new();
        let mut deleted = false;
        let mut quit: Option<(i32, bool)> = None;
        let mut pc = 0;
        while pc < cmds.len() {
            let last = n == lines.len();
            let c = &mut cmds[pc];
            if matches!(c.kind, Kind::EndBlock) {
                pc += 1;
                continue;
            }
            if !selected(c, n, last, &ps) {
                pc = match c.kind {
                    Kind::Block(end) => end + 1,
                    _ => pc + 1,
                };
                continue;
            }
            match &c.kind {
                Kind::Subst { re, rep, global, nth, print } => {
                    if let Some(new) = substitute(re, rep, *global, *nth, &ps) {
                        ps = new;
                        if *print {
                            out.push_str(&ps);
                            out.push('\n');
                        }
                    }
                }
                Kind::Delete => {
                    deleted = true;
                    break;
                }
                Kind::Print => {
                    out.push_str(&ps);
                    out.push('\n');
                }
                Kind::LineNo => out.push_str(&format!("{n}\n")),
                Kind::Quit(code, print) => {
                    quit = Some((*code, *print));
                    break;
                }
                Kind::Append(t) => append.push(t.clone()),
                Kind::Insert(t) => {
                    out.push_str(t);
                    out.push('\n');
                }
                Kind::Change(t) => {
                    if !c.in_range {
                        out.push_str(t);
                        out.push('\n');
                    }
                    deleted = true;
                    break;
                }
                Kind::Translit(a, b) => {
                    ps = ps.chars().map(|ch| a.iter().position(|&x| x == ch).map_or(ch, |i| b[i])).collect();
                }
                Kind::Next => {
                    if idx + 1 >= lines.len() {
                        break;
                    }
                    if !quiet {
                        out.push_str(&ps);
                        out.push('\n');
                    }
                    for t in append.drain(..) {
                        out.push_str(&t);
                        out.push('\n');
                    }
                    idx += 1;
                    n = idx + 1;
                    ps = lines[idx].clone();
                }
                Kind::Block(_) | Kind::EndBlock => {}
            }
            pc += 1;
        }
        let is_final = idx + 1 == lines.len();
        if !deleted && !quiet && quit.is_none_or(|(_, p)| p) {
            out.push_str(&ps);
            if !is_final || final_nl {
                out.push('\n');
            }
        }
        for t in append {
            out.push_str(&t);
            out.push('\n');
        }
        if let Some((code, _)) = quit {
            return (out, Some(code));
        }
        idx += 1;
    }
    (out, None)
}

pub fn main(argv: &[String], io: &mut Io) -> i32 {
    // -i takes an optional attached suffix (`-i.bak`, ignored: no backups
    // are kept), which getopt cannot express, so it is picked out first.
    let mut in_place = false;
    let mut args = Vec::new();
    for a in &argv[1..] {
        if a.starts_with('-') && !a.starts_with("--") && a.len() > 1 {
            if let Some(p) = a.find('i') {
                if a[1..p].chars().all(|c| "nErsu".contains(c)) {
                    in_place = true;
                    if p > 1 {
                        args.push(a[..p].to_owned());
                    }
                    continue;
                }
            }
        }
        args.push(a.clone());
    }
    let o = match getopt(&args, "ne:f:Ersu", true) {
        Ok(o) => o,
        Err(e) => {
            io.err("sed", e);
            return 1;
        }
    };
    let mut operands = o.operands.clone();
    let mut script = o.vals('e').join("\n");
    for f in o.vals('f') {
        match io.read_path(f) {
            Ok(d) => {
                if !script.is_empty() {
                    script.push('\n');
                }
                script.push_str(&String::from_utf8_lossy(&d));
            }
            Err(e) => {
                io.err("sed", format_args!("can't read {f}: {}", errmsg(&e)));
                return 1;
            }
        }
    }
    if o.vals('e').is_empty() && o.vals('f').is_empty() {
        if operands.is_empty() {
            io.err("sed", "usage: sed [-n] [-i] [-E] SCRIPT [FILE]...");
            return 1;
        }
        script = operands.remove(0);
    }
    let mut err = String::new();
    let parsed = P { s: script.chars().collect(), i: 0, ere: o.has('E') || o.has('r'), err: &mut err }.parse();
    let Some(mut cmds) = parsed else {
        io.err("sed", format_args!("-e expression #1: {err}"));
        return 1;
    };
    let quiet = o.has('n');
    let mut st = 0;
    let read = |f: &str, io: &mut Io| -> Option<Vec<u8>> {
        match io.read_path(f) {
            Ok(d) => Some(d),
            Err(e) => {
                io.err("sed", format_args!("can't read {f}: {}", errmsg(&e)));
                None
            }
        }
    };
    if in_place {
        if operands.is_empty() {
            io.err("sed", "no input files");
            return 1;
        }
        for f in &operands {
            let Some(d) = read(f, io) else {
                st = 2;
                continue;
            };
            let (lines, nl) = split_lines(&d);
            let lines: Vec<String> = lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
            cmds.iter_mut().for_each(|c| c.in_range = false);
            let (out, _) = run(&mut cmds, &lines, nl, quiet);
            if let Err(e) = std::fs::write(f, out) {
                io.err("sed", format_args!("can't write {f}: {}", errmsg(&e)));
                st = 4;
            }
        }
        return st;
    }
    // Without -i (or -s) all inputs form one stream.
    let files = if operands.is_empty() { vec!["-".to_owned()] } else { operands };
    let mut all = Vec::new();
    for f in &files {
        match read(f, io) {
            Some(d) => {
                if !all.is_empty() && !all.ends_with(b"\n") {
                    all.push(b'\n');
                }
                all.extend(d);
            }
            None => st = 2,
        }
    }
    let (lines, nl) = split_lines(&all);
    let lines: Vec<String> = lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
    let (out, quit) = run(&mut cmds, &lines, nl, quiet);
    io.outs(&out);
    let _ = io.stdout.flush();
    quit.unwrap_or(st)
}

//! Turning shell source into tokens and words. Words keep their structure
//! (quoted and unquoted text, parameter expansions, command and arithmetic
//! substitutions) so the executor knows what to split and glob. Here-doc
//! bodies are cut out of the source as soon as their `<<WORD` is read.

use std::rc::Rc;

use super::parser::{PResult, Param, Parser, Part, Tok, Word, WordTok, describe};

/// Where a run of word text ends and which quoting rules apply.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Mode {
    /// An ordinary word: ends at a blank or an operator character.
    Word,
    /// Inside "...": ends at the closing quote (consumed).
    Dq,
    /// A here-document body: the whole input, `"` is ordinary.
    Heredoc,
    /// The operand of `${x...}`: ends (unconsumed) at one of `stops`.
    Brace { dq: bool, stops: &'static str },
    /// Inside `$((...))`: ends at the matching `))` (consumed).
    Arith,
}

impl Parser {
    fn cur(&self) -> Option<char> {
        self.src.get(self.pos).copied()
    }
    fn at(&self, k: usize) -> Option<char> {
        self.src.get(self.pos + k).copied()
    }

    pub(super) fn lex(&mut self) -> PResult<Tok> {
        loop {
            match self.cur() {
                Some(' ') | Some('\t') | Some('\r') => self.pos += 1,
                Some('\\') if self.at(1) == Some('\n') => self.pos += 2,
                Some('#') => {
                    while self.cur().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let Some(c) = self.cur() else { return Ok(Tok::Eof) };
        let next = self.at(1);
        let op = match (c, next) {
            ('\n', _) => "\n",
            ('&', Some('&')) => "&&",
            ('&', _) => "&",
            ('|', Some('|')) => "||",
            ('|', _) => "|",
            (';', Some(';')) => ";;",
            (';', _) => ";",
            ('(', _) => "(",
            (')', _) => ")",
            ('<', _) | ('>', _) => return Ok(self.redir_op(None)),
            (d, _) if d.is_ascii_digit() => {
                let mut j = self.pos;
                while self.src.get(j).is_some_and(|c| c.is_ascii_digit()) {
                    j += 1;
                }
                if matches!(self.src.get(j), Some('<') | Some('>')) {
                    let fd: String = self.src[self.pos..j].iter().collect();
                    self.pos = j;
                    return Ok(self.redir_op(fd.parse().ok()));
                }
                ""
            }
            _ => "",
        };
        if !op.is_empty() {
            self.pos += op.len();
            return Ok(Tok::Op(op));
        }
        let start = self.pos;
        let parts = self.parts(Mode::Word)?;
        let raw: String = self.src[start..self.pos].iter().collect();
        Ok(Tok::Word(WordTok(Word { parts, raw })))
    }

    fn redir_op(&mut self, fd: Option<u32>) -> Tok {
        const OPS: [&str; 9] = ["<<-", "<<", "<&", "<>", "<", ">>", ">&", ">|", ">"];
        for op in OPS {
            if op.chars().enumerate().all(|(i, c)| self.at(i) == Some(c)) {
                self.pos += op.len();
                return Tok::Redir(fd, op);
            }
        }
        unreachable!("redir_op called at a non-redirection character")
    }

    /// Reads word parts according to `mode`.
    pub(super) fn parts(&mut self, mode: Mode) -> PResult<Vec<Part>> {
        let quoted_ctx = matches!(mode, Mode::Dq | Mode::Heredoc | Mode::Brace { dq: true, .. });
        let mut parts = Vec::new();
        let mut lit = String::new();
        let flush = |lit: &mut String, parts: &mut Vec<Part>| {
            if !lit.is_empty() {
                let s = std::mem::take(lit);
                parts.push(if quoted_ctx { Part::Quoted(s) } else { Part::Lit(s) });
            }
        };
        let mut depth = 0usize;
        loop {
            let Some(c) = self.cur() else {
                match mode {
                    Mode::Dq => return Err("unterminated quoted string".into()),
                    Mode::Brace { .. } => return Err("missing '}'".into()),
                    Mode::Arith => return Err("missing '))'".into()),
                    _ => break,
                }
            };
            match mode {
                Mode::Word if matches!(c, ' ' | '\t' | '\n' | '\r' | '|' | '&' | ';' | '<' | '>' | '(' | ')') => break,
                Mode::Dq if c == '"' => {
                    self.pos += 1;
                    break;
                }
                Mode::Brace { stops, .. } => {
                    if depth == 0 && stops.contains(c) {
                        break;
                    }
                    if c == '{' {
                        depth += 1;
                    } else if c == '}' {
                        depth -= 1;
                    }
                }
                Mode::Arith => {
                    if c == '(' {
                        depth += 1;
                    } else if c == ')' {
                        if depth == 0 && self.at(1) == Some(')') {
                            self.pos += 2;
                            break;
                        }
                        depth = depth.saturating_sub(1);
                    }
                }
                _ => {}
            }
            match c {
                '\\' => {
                    let n = self.at(1);
                    if n == Some('\n') {
                        self.pos += 2;
                        continue;
                    }
                    let special = match mode {
                        Mode::Word | Mode::Brace { dq: false, .. } => None,
                        Mode::Dq | Mode::Brace { dq: true, .. } => Some("$`\"\\}"),
                        Mode::Heredoc | Mode::Arith => Some("$`\\"),
                    };
                    match n {
                        Some(n) if special.is_none_or(|s| s.contains(n)) => {
                            flush(&mut lit, &mut parts);
                            parts.push(Part::Quoted(n.to_string()));
                            self.pos += 2;
                        }
                        _ => {
                            lit.push('\\');
                            self.pos += 1;
                        }
                    }
                }
                '\'' if matches!(mode, Mode::Word | Mode::Brace { dq: false, .. }) => {
                    flush(&mut lit, &mut parts);
                    self.pos += 1;
                    let mut s = String::new();
                    loop {
                        match self.cur() {
                            None => return Err("unterminated quoted string".into()),
                            Some('\'') => break,
                            Some(c) => s.push(c),
                        }
                        self.pos += 1;
                    }
                    self.pos += 1;
                    parts.push(Part::Quoted(s));
                }
                '"' if matches!(mode, Mode::Word | Mode::Brace { .. }) => {
                    flush(&mut lit, &mut parts);
                    self.pos += 1;
                    let inner = self.parts(Mode::Dq)?;
                    if inner.is_empty() {
                        parts.push(Part::Quoted(String::new()));
                    }
                    parts.extend(inner);
                }
                '$' => match self.dollar(quoted_ctx)? {
                    Some(p) => {
                        flush(&mut lit, &mut parts);
                        parts.push(p);
                    }
                    None => {
                        lit.push('$');
                        self.pos += 1;
                    }
                },
                '`' => {
                    flush(&mut lit, &mut parts);
                    let p = self.backquote(quoted_ctx)?;
                    parts.push(p);
                }
                '~' if mode == Mode::Word && parts.is_empty() && lit.is_empty() => {
                    let mut j = self.pos + 1;
                    while self.src.get(j).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
                        j += 1;
                    }
                    let end_ok = match self.src.get(j) {
                        None => true,
                        Some(c) => matches!(c, '/' | ' ' | '\t' | '\n' | '|' | '&' | ';' | '<' | '>' | '(' | ')'),
                    };
                    if end_ok {
                        parts.push(Part::Tilde(self.src[self.pos + 1..j].iter().collect()));
                        self.pos = j;
                    } else {
                        lit.push('~');
                        self.pos += 1;
                    }
                }
                _ => {
                    lit.push(c);
                    self.pos += 1;
                }
            }
        }
        flush(&mut lit, &mut parts);
        Ok(parts)
    }

    fn dollar(&mut self, q: bool) -> PResult<Option<Part>> {
        match self.at(1) {
            Some('(') if self.at(2) == Some('(') => {
                self.pos += 3;
                let inner = self.parts(Mode::Arith)?;
                Ok(Some(Part::Arith(inner, q)))
            }
            Some('(') => {
                self.pos += 2;
                let saved = self.peeked.take();
                let body = self.compound_list()?;
                match self.next()? {
                    Tok::Op(")") => {}
                    t => return Err(describe(&t)),
                }
                self.peeked = saved;
                Ok(Some(Part::Cmd(Rc::new(body), q)))
            }
            Some('{') => {
                self.pos += 2;
                self.brace_param(q).map(Some)
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                self.pos += 1;
                let name = self.read_name();
                Ok(Some(param(name, "", q)))
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                self.pos += 2;
                Ok(Some(param(c.to_string(), "", q)))
            }
            _ => Ok(None),
        }
    }

    fn read_name(&mut self) -> String {
        let st = self.pos;
        while self.cur().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        self.src[st..self.pos].iter().collect()
    }

    fn expect_close_brace(&mut self) -> PResult<()> {
        if self.cur() == Some('}') {
            self.pos += 1;
            Ok(())
        } else {
            Err("bad substitution".into())
        }
    }

    fn brace_param(&mut self, q: bool) -> PResult<Part> {
        let brace = |stops| Mode::Brace { dq: q, stops };
        if self.cur() == Some('#') && self.at(1).is_some_and(|c| c != '}') {
            self.pos += 1;
            let name = self.brace_name();
            if name.is_empty() {
                return Err("bad substitution".into());
            }
            self.expect_close_brace()?;
            return Ok(param(name, "#len", q));
        }
        let name = self.brace_name();
        if name.is_empty() {
            return Err("bad substitution".into());
        }
        let c = self.cur();
        let n = self.at(1);
        let op: &str = match (c, n) {
            (Some('}'), _) => {
                self.pos += 1;
                return Ok(param(name, "", q));
            }
            (Some(':'), Some('-')) => ":-",
            (Some(':'), Some('=')) => ":=",
            (Some(':'), Some('+')) => ":+",
            (Some(':'), Some('?')) => ":?",
            (Some(':'), _) => ":",
            (Some('-'), _) => "-",
            (Some('='), _) => "=",
            (Some('+'), _) => "+",
            (Some('?'), _) => "?",
            (Some('%'), Some('%')) => "%%",
            (Some('%'), _) => "%",
            (Some('#'), Some('#')) => "##",
            (Some('#'), _) => "#",
            (Some('/'), Some('/')) => "//",
            (Some('/'), _) => "/",
            _ => return Err("bad substitution".into()),
        };
        self.pos += op.len();
        let (word, word2) = match op {
            ":" => {
                let off = self.parts(brace(":}"))?;
                let len = if self.cur() == Some(':') {
                    self.pos += 1;
                    Some(self.parts(brace("}"))?)
                } else {
                    None
                };
                (off, len)
            }
            "/" | "//" => {
                let pat = self.parts(brace("/}"))?;
                let rep = if self.cur() == Some('/') {
                    self.pos += 1;
                    self.parts(brace("}"))?
                } else {
                    Vec::new()
                };
                (pat, Some(rep))
            }
            _ => (self.parts(brace("}"))?, None),
        };
        self.expect_close_brace()?;
        Ok(Part::Param(Box::new(Param { name, op: op.to_owned(), word, word2 }), q))
    }

    fn brace_name(&mut self) -> String {
        match self.cur() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' => self.read_name(),
            Some(c) if c.is_ascii_digit() => {
                let st = self.pos;
                while self.cur().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                self.src[st..self.pos].iter().collect()
            }
            Some(c) if "@*#?$!-".contains(c) => {
                self.pos += 1;
                c.to_string()
            }
            _ => String::new(),
        }
    }

    fn backquote(&mut self, q: bool) -> PResult<Part> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.cur() {
                None => return Err("unterminated quoted string".into()),
                Some('`') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => match self.at(1) {
                    Some(n) if "$`\\".contains(n) || (q && n == '"') => {
                        s.push(n);
                        self.pos += 2;
                    }
                    _ => {
                        s.push('\\');
                        self.pos += 1;
                    }
                },
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
        let node = Parser::new(&s).program()?;
        Ok(Part::Cmd(Rc::new(node), q))
    }

    /// Cuts the here-doc body (the lines after the current one, up to the
    /// delimiter line) out of the source and returns it as word parts.
    pub(super) fn read_heredoc(&mut self, target: &Word, dash: bool) -> PResult<Vec<Part>> {
        let mut delim = String::new();
        let mut quoted = false;
        for p in &target.parts {
            match p {
                Part::Lit(s) => delim.push_str(s),
                Part::Quoted(s) => {
                    delim.push_str(s);
                    quoted = true;
                }
                _ => delim.push_str(&target.raw),
            }
        }
        let Some(nl) = self.src[self.pos..].iter().position(|&c| c == '\n').map(|i| self.pos + i) else {
            return Ok(Vec::new());
        };
        let len = self.src.len();
        let mut i = nl + 1;
        let mut body = String::new();
        let end = loop {
            if i >= len {
                break len;
            }
            let line_end = self.src[i..].iter().position(|&c| c == '\n').map_or(len, |k| i + k);
            let mut line: String = self.src[i..line_end].iter().collect();
            if dash {
                line = line.trim_start_matches('\t').to_owned();
            }
            let next = (line_end + 1).min(len);
            if line == delim {
                break next;
            }
            body.push_str(&line);
            body.push('\n');
            i = next;
        };
        self.src.drain(nl + 1..end);
        if quoted { Ok(vec![Part::Quoted(body)]) } else { Parser::new(&body).parts(Mode::Heredoc) }
    }
}

fn param(name: String, op: &str, q: bool) -> Part {
    Part::Param(Box::new(Param { name, op: op.to_owned(), word: Vec::new(), word2: None }), q)
}

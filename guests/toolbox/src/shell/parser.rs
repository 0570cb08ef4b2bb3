//! The shell's syntax tree and its recursive-descent parser (POSIX
//! grammar: lists, and-or lists, pipelines, compound commands, functions,
//! redirections). Tokens come from the lexer (lexer.rs) on demand, because
//! `$(...)` inside a word is parsed by recursing into this parser.

use std::rc::Rc;

/// One piece of a word, as written.
#[derive(Debug, Clone)]
pub enum Part {
    /// Unquoted literal text: subject to pathname expansion.
    Lit(String),
    /// Quoted or backslash-escaped text: taken literally.
    Quoted(String),
    /// `$x`, `${x...}`; the bool says whether it was inside double quotes.
    Param(Box<Param>, bool),
    /// `$(...)` or backquotes.
    Cmd(Rc<Node>, bool),
    /// `$((...))`: the expression text, itself expanded before evaluation.
    Arith(Vec<Part>, bool),
    /// `~` at the start of an unquoted word (the user name, if any).
    Tilde(String),
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    /// "" (plain), "#" (length), or one of - := + ? with or without the
    /// colon, % %% # ##; or "/" "//" for replacement, ":" for substrings.
    pub op: String,
    pub word: Vec<Part>,
    /// Second operand of `${x/pat/rep}` and `${x:off:len}`.
    pub word2: Option<Vec<Part>>,
}

#[derive(Debug, Clone)]
pub struct Word {
    pub parts: Vec<Part>,
    /// The source text, used to recognise reserved words and assignments.
    pub raw: String,
}

impl Word {
    /// The word is an unquoted plain literal equal to `s` (reserved words).
    pub fn is_plain(&self, s: &str) -> bool {
        self.raw == s && matches!(self.parts.as_slice(), [Part::Lit(l)] if l == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RedirOp {
    In,
    Out,
    Append,
    DupOut,
    DupIn,
    ReadWrite,
    HereDoc,
}

#[derive(Debug, Clone)]
pub struct Redir {
    pub fd: u32,
    pub op: RedirOp,
    pub target: Word,
    /// Here-document body (already split into parts; one Quoted part when
    /// the delimiter was quoted).
    pub body: Vec<Part>,
}

#[derive(Debug, Clone)]
pub struct Simple {
    pub assigns: Vec<(String, Vec<Part>)>,
    pub words: Vec<Word>,
    pub redirs: Vec<Redir>,
}

#[derive(Debug, Clone)]
pub struct CaseArm {
    pub pats: Vec<Word>,
    pub body: Node,
}

#[derive(Debug, Clone)]
pub enum Node {
    Simple(Simple),
    Pipeline {
        bang: bool,
        cmds: Vec<Node>,
    },
    /// `a && b || c`: the bool is true for `&&`.
    AndOr {
        first: Box<Node>,
        rest: Vec<(bool, Node)>,
    },
    /// Commands separated by `;`, `&` or newlines (`&` runs synchronously:
    /// there are no background processes in WASI).
    List(Vec<Node>),
    Group(Box<Node>),
    Subshell(Box<Node>),
    If {
        arms: Vec<(Node, Node)>,
        else_: Option<Box<Node>>,
    },
    Loop {
        until: bool,
        cond: Box<Node>,
        body: Box<Node>,
    },
    For {
        var: String,
        words: Option<Vec<Word>>,
        body: Box<Node>,
    },
    Case {
        word: Word,
        arms: Vec<CaseArm>,
    },
    FuncDef {
        name: String,
        body: Rc<Node>,
    },
    Redirected(Box<Node>, Vec<Redir>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Word(WordTok),
    Op(&'static str),
    Redir(Option<u32>, &'static str),
    Eof,
}

/// Words compared by source text only (tokens are compared in tests).
#[derive(Debug, Clone)]
pub struct WordTok(pub Word);
impl PartialEq for WordTok {
    fn eq(&self, o: &Self) -> bool {
        self.0.raw == o.0.raw
    }
}

pub type PResult<T> = Result<T, String>;

pub struct Parser {
    pub(super) src: Vec<char>,
    pub(super) pos: usize,
    pub(super) peeked: Option<Tok>,
}

const TERMINATORS: &[&str] = &["then", "else", "elif", "fi", "do", "done", "esac", "}"];

pub fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

pub(super) fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("unexpected \"{}\"", w.0.raw),
        Tok::Op("\n") => "unexpected newline".into(),
        Tok::Op(o) => format!("unexpected \"{o}\""),
        Tok::Redir(_, o) => format!("unexpected \"{o}\""),
        Tok::Eof => "unexpected end of file".into(),
    }
}

impl Parser {
    pub fn new(src: &str) -> Self {
        Parser { src: src.chars().collect(), pos: 0, peeked: None }
    }

    pub(super) fn peek(&mut self) -> PResult<&Tok> {
        if self.peeked.is_none() {
            let t = self.lex()?;
            self.peeked = Some(t);
        }
        Ok(self.peeked.as_ref().unwrap())
    }

    pub(super) fn next(&mut self) -> PResult<Tok> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex(),
        }
    }

    fn peek_op(&mut self, op: &str) -> PResult<bool> {
        Ok(matches!(self.peek()?, Tok::Op(o) if *o == op))
    }

    fn peek_kw(&mut self, kw: &str) -> PResult<bool> {
        Ok(matches!(self.peek()?, Tok::Word(w) if w.0.is_plain(kw)))
    }

    fn expect_kw(&mut self, kw: &str) -> PResult<()> {
        if self.peek_kw(kw)? {
            self.next()?;
            Ok(())
        } else {
            let t = self.next()?;
            Err(describe(&t))
        }
    }

    fn expect_op(&mut self, op: &str) -> PResult<()> {
        if self.peek_op(op)? {
            self.next()?;
            Ok(())
        } else {
            let t = self.next()?;
            Err(describe(&t))
        }
    }

    fn skip_newlines(&mut self) -> PResult<()> {
        while self.peek_op("\n")? {
            self.next()?;
        }
        Ok(())
    }

    /// The next top-level command (up to a newline), or None at the end.
    /// Scripts are run one complete command at a time, like real shells,
    /// so a syntax error late in a script does not stop earlier commands.
    pub fn next_command(&mut self) -> PResult<Option<Node>> {
        self.skip_newlines()?;
        if matches!(self.peek()?, Tok::Eof) {
            return Ok(None);
        }
        let mut items = Vec::new();
        loop {
            items.push(self.and_or()?);
            match self.peek()? {
                Tok::Op(";") | Tok::Op("&") => {
                    self.next()?;
                    if matches!(self.peek()?, Tok::Op("\n") | Tok::Eof) {
                        break;
                    }
                }
                Tok::Op("\n") | Tok::Eof => break,
                t => return Err(describe(&t.clone())),
            }
        }
        if self.peek_op("\n")? {
            self.next()?;
        }
        Ok(Some(if items.len() == 1 { items.pop().unwrap() } else { Node::List(items) }))
    }

    /// Parses a whole program.
    pub fn program(&mut self) -> PResult<Node> {
        let mut items = Vec::new();
        while let Some(n) = self.next_command()? {
            items.push(n);
        }
        Ok(Node::List(items))
    }

    fn at_list_end(&mut self) -> PResult<bool> {
        Ok(match self.peek()? {
            Tok::Eof | Tok::Op(")") | Tok::Op(";;") => true,
            Tok::Word(w) => TERMINATORS.iter().any(|k| w.0.is_plain(k)),
            _ => false,
        })
    }

    /// A sequence of commands ended by a reserved word, `)`, `;;` or EOF.
    pub(super) fn compound_list(&mut self) -> PResult<Node> {
        self.skip_newlines()?;
        let mut items = Vec::new();
        while !self.at_list_end()? {
            items.push(self.and_or()?);
            match self.peek()? {
                Tok::Op(";") | Tok::Op("&") | Tok::Op("\n") => {
                    self.next()?;
                    self.skip_newlines()?;
                }
                _ => break,
            }
        }
        Ok(Node::List(items))
    }

    fn and_or(&mut self) -> PResult<Node> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let and = match self.peek()? {
                Tok::Op("&&") => true,
                Tok::Op("||") => false,
                _ => break,
            };
            self.next()?;
            self.skip_newlines()?;
            rest.push((and, self.pipeline()?));
        }
        Ok(if rest.is_empty() { first } else { Node::AndOr { first: Box::new(first), rest } })
    }

    fn pipeline(&mut self) -> PResult<Node> {
        let bang = self.peek_kw("!")?;
        if bang {
            self.next()?;
        }
        let mut cmds = vec![self.command()?];
        while self.peek_op("|")? {
            self.next()?;
            self.skip_newlines()?;
            cmds.push(self.command()?);
        }
        Ok(if !bang && cmds.len() == 1 { cmds.pop().unwrap() } else { Node::Pipeline { bang, cmds } })
    }

    fn command(&mut self) -> PResult<Node> {
        let node = match self.peek()?.clone() {
            Tok::Op("(") => {
                self.next()?;
                let body = self.compound_list()?;
                self.expect_op(")")?;
                Node::Subshell(Box::new(body))
            }
            Tok::Word(w) if w.0.is_plain("{") => {
                self.next()?;
                let body = self.compound_list()?;
                self.expect_kw("}")?;
                Node::Group(Box::new(body))
            }
            Tok::Word(w) if w.0.is_plain("if") => self.if_clause()?,
            Tok::Word(w) if w.0.is_plain("while") || w.0.is_plain("until") => {
                self.next()?;
                let cond = self.compound_list()?;
                self.expect_kw("do")?;
                let body = self.compound_list()?;
                self.expect_kw("done")?;
                Node::Loop { until: w.0.raw == "until", cond: Box::new(cond), body: Box::new(body) }
            }
            Tok::Word(w) if w.0.is_plain("for") => self.for_clause()?,
            Tok::Word(w) if w.0.is_plain("case") => self.case_clause()?,
            Tok::Word(w) if TERMINATORS.iter().any(|k| w.0.is_plain(k)) => return Err(describe(&Tok::Word(w))),
            Tok::Word(_) | Tok::Redir(..) => return self.simple(),
            t => return Err(describe(&t)),
        };
        let mut redirs = Vec::new();
        while matches!(self.peek()?, Tok::Redir(..)) {
            redirs.push(self.redir()?);
        }
        Ok(if redirs.is_empty() { node } else { Node::Redirected(Box::new(node), redirs) })
    }

    fn if_clause(&mut self) -> PResult<Node> {
        self.next()?;
        let mut arms = Vec::new();
        let mut else_ = None;
        loop {
            let cond = self.compound_list()?;
            self.expect_kw("then")?;
            let body = self.compound_list()?;
            arms.push((cond, body));
            if self.peek_kw("elif")? {
                self.next()?;
                continue;
            }
            if self.peek_kw("else")? {
                self.next()?;
                else_ = Some(Box::new(self.compound_list()?));
            }
            self.expect_kw("fi")?;
            break;
        }
        Ok(Node::If { arms, else_ })
    }

    fn for_clause(&mut self) -> PResult<Node> {
        self.next()?;
        let var = match self.next()? {
            Tok::Word(w) if is_name(&w.0.raw) => w.0.raw,
            t => return Err(describe(&t)),
        };
        let mut words = None;
        self.skip_newlines()?;
        if self.peek_kw("in")? {
            self.next()?;
            let mut list = Vec::new();
            while let Tok::Word(_) = self.peek()? {
                if let Tok::Word(w) = self.next()? {
                    list.push(w.0);
                }
            }
            words = Some(list);
            match self.peek()? {
                Tok::Op(";") | Tok::Op("\n") => {
                    self.next()?;
                }
                t => return Err(describe(&t.clone())),
            }
        } else if self.peek_op(";")? {
            self.next()?;
        }
        self.skip_newlines()?;
        self.expect_kw("do")?;
        let body = self.compound_list()?;
        self.expect_kw("done")?;
        Ok(Node::For { var, words, body: Box::new(body) })
    }

    fn case_clause(&mut self) -> PResult<Node> {
        self.next()?;
        let word = match self.next()? {
            Tok::Word(w) => w.0,
            t => return Err(describe(&t)),
        };
        self.skip_newlines()?;
        self.expect_kw("in")?;
        self.skip_newlines()?;
        let mut arms = Vec::new();
        while !self.peek_kw("esac")? {
            if self.peek_op("(")? {
                self.next()?;
            }
            let mut pats = Vec::new();
            loop {
                match self.next()? {
                    Tok::Word(w) => pats.push(w.0),
                    t => return Err(describe(&t)),
                }
                if self.peek_op("|")? {
                    self.next()?;
                    continue;
                }
                break;
            }
            self.expect_op(")")?;
            let body = self.compound_list()?;
            arms.push(CaseArm { pats, body });
            if self.peek_op(";;")? {
                self.next()?;
                self.skip_newlines()?;
            } else if !self.peek_kw("esac")? {
                let t = self.next()?;
                return Err(describe(&t));
            }
        }
        self.next()?;
        Ok(Node::Case { word, arms })
    }

    fn simple(&mut self) -> PResult<Node> {
        let mut s = Simple { assigns: Vec::new(), words: Vec::new(), redirs: Vec::new() };
        loop {
            match self.peek()? {
                Tok::Redir(..) => {
                    let r = self.redir()?;
                    s.redirs.push(r);
                }
                Tok::Word(_) => {
                    let Tok::Word(w) = self.next()? else { unreachable!() };
                    let w = w.0;
                    if s.words.is_empty() {
                        if let Some(a) = as_assignment(&w) {
                            s.assigns.push(a);
                            continue;
                        }
                    }
                    s.words.push(w);
                    if s.words.len() == 1 && s.assigns.is_empty() && s.redirs.is_empty() && self.peek_op("(")? {
                        return self.funcdef(s.words.pop().unwrap());
                    }
                }
                _ => break,
            }
        }
        if s.assigns.is_empty() && s.words.is_empty() && s.redirs.is_empty() {
            let t = self.next()?;
            return Err(describe(&t));
        }
        Ok(Node::Simple(s))
    }

    fn funcdef(&mut self, name: Word) -> PResult<Node> {
        self.next()?;
        self.expect_op(")")?;
        if !is_name(&name.raw) {
            return Err(format!("bad function name \"{}\"", name.raw));
        }
        self.skip_newlines()?;
        let body = self.command()?;
        Ok(Node::FuncDef { name: name.raw, body: Rc::new(body) })
    }

    fn redir(&mut self) -> PResult<Redir> {
        let Tok::Redir(fd, op) = self.next()? else { unreachable!() };
        let target = match self.next()? {
            Tok::Word(w) => w.0,
            t => return Err(describe(&t)),
        };
        let dash = op == "<<-";
        let (op, dfd) = match op {
            "<" => (RedirOp::In, 0),
            ">" | ">|" => (RedirOp::Out, 1),
            ">>" => (RedirOp::Append, 1),
            ">&" => (RedirOp::DupOut, 1),
            "<&" => (RedirOp::DupIn, 0),
            "<>" => (RedirOp::ReadWrite, 0),
            _ => (RedirOp::HereDoc, 0),
        };
        let mut body = Vec::new();
        if op == RedirOp::HereDoc {
            body = self.read_heredoc(&target, dash)?;
        }
        Ok(Redir { fd: fd.unwrap_or(dfd), op, target, body })
    }
}

/// `NAME=value` words before the command name.
fn as_assignment(w: &Word) -> Option<(String, Vec<Part>)> {
    let eq = w.raw.find('=')?;
    let name = &w.raw[..eq];
    if !is_name(name) {
        return None;
    }
    let Some(Part::Lit(first)) = w.parts.first() else { return None };
    let rest = first.strip_prefix(name)?.strip_prefix('=')?;
    let mut parts = w.parts.clone();
    if rest.is_empty() {
        parts.remove(0);
    } else {
        parts[0] = Part::Lit(rest.to_owned());
    }
    Some((name.to_owned(), parts))
}

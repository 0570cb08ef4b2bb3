//! A small regular-expression engine for grep and sed: POSIX basic (BRE)
//! and extended (ERE) syntax, plus the common GNU escapes (`\+ \? \|` in
//! BRE, `\w \s \b \< \>`). Patterns compile to a little instruction list
//! run by a backtracking matcher that remembers which (instruction,
//! position) pairs already failed, so matching stays linear in
//! (pattern size x line length) instead of exponential. Matches are
//! leftmost with greedy, first-alternative-wins preference (Perl-like),
//! not POSIX leftmost-longest; back-references in patterns are not
//! supported and are reported as an error.

use crate::pattern::class_contains;

#[derive(Clone, Debug)]
pub enum Node {
    Char(char),
    Any,
    Class(Class),
    Bol,
    Eol,
    WordB,
    NotWordB,
    WordStart,
    WordEnd,
    /// Used by `grep -w`: no word character before/after this point.
    NoWordBefore,
    NoWordAfter,
    Group(Box<Node>, usize),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Node>, u32, Option<u32>),
}

#[derive(Clone, Debug)]
pub struct Class {
    neg: bool,
    items: Vec<Item>,
}

#[derive(Clone, Debug)]
enum Item {
    Ch(char),
    Range(char, char),
    Named(&'static str, bool),
}

impl Class {
    fn named(name: &'static str, neg: bool) -> Self {
        Class { neg: false, items: vec![Item::Named(name, neg)] }
    }
    fn matches(&self, c: char, icase: bool) -> bool {
        let test = |c: char| {
            self.items.iter().any(|it| match it {
                Item::Ch(x) => *x == c,
                Item::Range(a, b) => *a <= c && c <= *b,
                Item::Named(n, neg) => {
                    let m = if *n == "word" { c.is_alphanumeric() || c == '_' } else { class_contains(n, c).unwrap_or(false) };
                    m != *neg
                }
            })
        };
        let mut m = test(c);
        if icase && !m {
            m = c.to_lowercase().any(test) || c.to_uppercase().any(test);
        }
        m != self.neg
    }
}

struct Parser {
    s: Vec<char>,
    i: usize,
    ere: bool,
    ngroups: usize,
}

impl Parser {
    fn peek(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }
    fn at_alt(&self) -> bool {
        if self.ere { self.peek(0) == Some('|') } else { self.peek(0) == Some('\\') && self.peek(1) == Some('|') }
    }
    fn at_close(&self, depth: usize) -> bool {
        depth > 0 && if self.ere { self.peek(0) == Some(')') } else { self.peek(0) == Some('\\') && self.peek(1) == Some(')') }
    }
    fn alt(&mut self, depth: usize) -> Result<Node, String> {
        let mut alts = vec![self.concat(depth)?];
        while self.at_alt() {
            self.i += if self.ere { 1 } else { 2 };
            alts.push(self.concat(depth)?);
        }
        Ok(if alts.len() == 1 { alts.pop().unwrap() } else { Node::Alt(alts) })
    }
    fn concat(&mut self, depth: usize) -> Result<Node, String> {
        let mut items = Vec::new();
        while self.i < self.s.len() && !self.at_alt() && !self.at_close(depth) {
            let start = items.is_empty();
            let mut atom = self.atom(start, depth)?;
            while let Some((min, max)) = self.quantifier()? {
                atom = Node::Repeat(Box::new(atom), min, max);
            }
            items.push(atom);
        }
        Ok(Node::Concat(items))
    }
    fn number(&mut self) -> Option<u32> {
        let st = self.i;
        while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if st == self.i { None } else { self.s[st..self.i].iter().collect::<String>().parse().ok() }
    }
    fn quantifier(&mut self) -> Result<Option<(u32, Option<u32>)>, String> {
        let (c0, c1) = (self.peek(0), self.peek(1));
        let q = match (self.ere, c0, c1) {
            (_, Some('*'), _) => {
                self.i += 1;
                (0, None)
            }
            (true, Some('+'), _) | (false, Some('\\'), Some('+')) => {
                self.i += if self.ere { 1 } else { 2 };
                (1, None)
            }
            (true, Some('?'), _) | (false, Some('\\'), Some('?')) => {
                self.i += if self.ere { 1 } else { 2 };
                (0, Some(1))
            }
            (true, Some('{'), Some(d)) | (false, Some('\\'), Some(d)) if (self.ere && d.is_ascii_digit()) || (!self.ere && d == '{') => {
                let save = self.i;
                self.i += if self.ere { 1 } else { 2 };
                let min = self.number().unwrap_or(0);
                let max = if self.peek(0) == Some(',') {
                    self.i += 1;
                    self.number()
                } else {
                    Some(min)
                };
                let close_ok = if self.ere { self.peek(0) == Some('}') } else { self.peek(0) == Some('\\') && self.peek(1) == Some('}') };
                if !close_ok {
                    if self.ere {
                        self.i = save;
                        return Ok(None);
                    }
                    return Err("unmatched \\{".into());
                }
                self.i += if self.ere { 1 } else { 2 };
                if max.is_some_and(|m| m < min) {
                    return Err("invalid content of \\{\\}".into());
                }
                (min, max)
            }
            _ => return Ok(None),
        };
        Ok(Some(q))
    }
    fn atom(&mut self, start: bool, depth: usize) -> Result<Node, String> {
        let c = self.s[self.i];
        self.i += 1;
        if self.ere {
            match c {
                '(' => return self.group(depth),
                '^' => return Ok(Node::Bol),
                '$' => return Ok(Node::Eol),
                '*' | '+' | '?' if start => return Ok(Node::Char(c)),
                _ => {}
            }
        } else {
            match c {
                '^' if start => return Ok(Node::Bol),
                '$' if self.i == self.s.len() || self.at_close(depth) || self.at_alt() => return Ok(Node::Eol),
                '*' if start => return Ok(Node::Char('*')),
                '\\' if self.peek(0) == Some('(') => {
                    self.i += 1;
                    return self.group(depth);
                }
                _ => {}
            }
        }
        match c {
            '.' => Ok(Node::Any),
            '[' => self.class(),
            '\\' => {
                let Some(e) = self.peek(0) else { return Err("trailing backslash (\\)".into()) };
                self.i += 1;
                Ok(match e {
                    'w' => Node::Class(Class::named("word", false)),
                    'W' => Node::Class(Class::named("word", true)),
                    's' => Node::Class(Class::named("space", false)),
                    'S' => Node::Class(Class::named("space", true)),
                    'b' => Node::WordB,
                    'B' => Node::NotWordB,
                    '<' => Node::WordStart,
                    '>' => Node::WordEnd,
                    'n' => Node::Char('\n'),
                    't' => Node::Char('\t'),
                    '1'..='9' => return Err("back-references are not supported".into()),
                    _ => Node::Char(e),
                })
            }
            _ => Ok(Node::Char(c)),
        }
    }
    fn group(&mut self, depth: usize) -> Result<Node, String> {
        self.ngroups += 1;
        let idx = self.ngroups;
        let inner = self.alt(depth + 1)?;
        if !self.at_close(depth + 1) {
            return Err(if self.ere { "missing )".into() } else { "unmatched \\(".into() });
        }
        self.i += if self.ere { 1 } else { 2 };
        Ok(Node::Group(Box::new(inner), idx))
    }
    fn class(&mut self) -> Result<Node, String> {
        let mut cl = Class { neg: false, items: Vec::new() };
        if self.peek(0) == Some('^') {
            cl.neg = true;
            self.i += 1;
        }
        let mut first = true;
        loop {
            let Some(c) = self.peek(0) else { return Err("unmatched [".into()) };
            if c == ']' && !first {
                self.i += 1;
                break;
            }
            first = false;
            if c == '[' && self.peek(1) == Some(':') {
                let rest: String = self.s[self.i + 2..].iter().collect();
                if let Some(end) = rest.find(":]") {
                    let name = &rest[..end];
                    const NAMES: [&str; 12] = ["alpha", "digit", "alnum", "upper", "lower", "space", "blank", "punct", "xdigit", "cntrl", "print", "graph"];
                    let Some(n) = NAMES.iter().find(|n| **n == name) else { return Err("invalid character class".into()) };
                    cl.items.push(Item::Named(n, false));
                    self.i += 2 + name.chars().count() + 2;
                    continue;
                }
            }
            self.i += 1;
            if self.peek(0) == Some('-') && self.peek(1).is_some_and(|h| h != ']') {
                let hi = self.s[self.i + 1];
                self.i += 2;
                cl.items.push(Item::Range(c, hi));
            } else {
                cl.items.push(Item::Ch(c));
            }
        }
        Ok(Node::Class(cl))
    }
}

/// Parses one pattern (BRE, or ERE when `ere`).
pub fn parse(pat: &str, ere: bool) -> Result<Node, String> {
    let mut p = Parser { s: pat.chars().collect(), i: 0, ere, ngroups: 0 };
    let n = p.alt(0)?;
    if p.i < p.s.len() {
        return Err(if ere { "unmatched )".into() } else { "unmatched \\)".into() });
    }
    Ok(n)
}

/// A pattern that matches `s` literally (`grep -F`).
pub fn literal(s: &str) -> Node {
    Node::Concat(s.chars().map(Node::Char).collect())
}

#[derive(Debug)]
enum Inst {
    Char(char),
    Any,
    Class(usize),
    Bol,
    Eol,
    WordB,
    NotWordB,
    WordStart,
    WordEnd,
    NoWordBefore,
    NoWordAfter,
    Split(usize, usize),
    Jmp(usize),
    Save(usize),
    Match,
}

pub struct Regex {
    prog: Vec<Inst>,
    classes: Vec<Class>,
    nslots: usize,
    icase: bool,
}

/// Capture positions (in chars): `[start0, end0, start1, end1, ...]`.
pub type Caps = Vec<Option<usize>>;

fn max_group(n: &Node) -> usize {
    match n {
        Node::Group(i, k) => (*k).max(max_group(i)),
        Node::Concat(v) | Node::Alt(v) => v.iter().map(max_group).max().unwrap_or(0),
        Node::Repeat(i, _, _) => max_group(i),
        _ => 0,
    }
}

fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Regex {
    pub fn new(pat: &str, ere: bool, icase: bool) -> Result<Regex, String> {
        Ok(Self::build(parse(pat, ere)?, icase))
    }

    pub fn build(node: Node, icase: bool) -> Regex {
        let mut r = Regex { prog: Vec::new(), classes: Vec::new(), nslots: 2 * (max_group(&node) + 1), icase };
        r.emit(&node);
        r.prog.push(Inst::Match);
        r
    }

    /// Patterns combined as alternatives, optionally forced to match whole
    /// lines (`-x`) or whole words (`-w`).
    pub fn combine(nodes: Vec<Node>, line: bool, word: bool, icase: bool) -> Regex {
        let mut n = if nodes.len() == 1 { nodes.into_iter().next().unwrap() } else { Node::Alt(nodes) };
        if word {
            n = Node::Concat(vec![Node::NoWordBefore, n, Node::NoWordAfter]);
        }
        if line {
            n = Node::Concat(vec![Node::Bol, n, Node::Eol]);
        }
        Self::build(n, icase)
    }

    fn push(&mut self, i: Inst) -> usize {
        self.prog.push(i);
        self.prog.len() - 1
    }

    fn emit(&mut self, n: &Node) {
        match n {
            Node::Char(c) => {
                let c = if self.icase { fold(*c) } else { *c };
                self.push(Inst::Char(c));
            }
            Node::Any => {
                self.push(Inst::Any);
            }
            Node::Class(c) => {
                self.classes.push(c.clone());
                self.push(Inst::Class(self.classes.len() - 1));
            }
            Node::Bol => {
                self.push(Inst::Bol);
            }
            Node::Eol => {
                self.push(Inst::Eol);
            }
            Node::WordB => {
                self.push(Inst::WordB);
            }
            Node::NotWordB => {
                self.push(Inst::NotWordB);
            }
            Node::WordStart => {
                self.push(Inst::WordStart);
            }
            Node::WordEnd => {
                self.push(Inst::WordEnd);
            }
            Node::NoWordBefore => {
                self.push(Inst::NoWordBefore);
            }
            Node::NoWordAfter => {
                self.push(Inst::NoWordAfter);
            }
            Node::Group(inner, k) => {
                self.push(Inst::Save(2 * k));
                self.emit(inner);
                self.push(Inst::Save(2 * k + 1));
            }
            Node::Concat(v) => v.iter().for_each(|x| self.emit(x)),
            Node::Alt(v) => {
                let mut jumps = Vec::new();
                for (i, a) in v.iter().enumerate() {
                    if i + 1 < v.len() {
                        let split = self.push(Inst::Split(0, 0));
                        self.emit(a);
                        jumps.push(self.push(Inst::Jmp(0)));
                        let next = self.prog.len();
                        self.prog[split] = Inst::Split(split + 1, next);
                    } else {
                        self.emit(a);
                    }
                }
                let end = self.prog.len();
                for j in jumps {
                    self.prog[j] = Inst::Jmp(end);
                }
            }
            Node::Repeat(x, min, max) => {
                for _ in 0..*min {
                    self.emit(x);
                }
                match max {
                    None => {
                        let l = self.push(Inst::Split(0, 0));
                        self.emit(x);
                        self.push(Inst::Jmp(l));
                        let end = self.prog.len();
                        self.prog[l] = Inst::Split(l + 1, end);
                    }
                    Some(m) => {
                        let mut splits = Vec::new();
                        for _ in *min..*m {
                            splits.push(self.push(Inst::Split(0, 0)));
                            self.emit(x);
                        }
                        let end = self.prog.len();
                        for s in splits {
                            self.prog[s] = Inst::Split(s + 1, end);
                        }
                    }
                }
            }
        }
    }

    /// Leftmost match starting at or after `start`.
    pub fn find_at(&self, text: &[char], start: usize) -> Option<Caps> {
        let n = text.len();
        let width = n + 1;
        let mut visited = vec![0u64; (self.prog.len() * width).div_ceil(64)];
        enum Job {
            Try(usize, usize),
            Restore(usize, Option<usize>),
        }
        for s in start..=n {
            let mut caps: Caps = vec![None; self.nslots];
            let mut stack = vec![Job::Try(0, s)];
            while let Some(job) = stack.pop() {
                let (mut pc, mut pos) = match job {
                    Job::Restore(slot, v) => {
                        caps[slot] = v;
                        continue;
                    }
                    Job::Try(pc, pos) => (pc, pos),
                };
                loop {
                    // A (pc, pos) pair that was reached before either
                    // matched (we would have returned) or failed.
                    let bit = pc * width + pos;
                    if visited[bit / 64] & (1 << (bit % 64)) != 0 {
                        break;
                    }
                    visited[bit / 64] |= 1 << (bit % 64);
                    let before = if pos > 0 { Some(text[pos - 1]) } else { None };
                    let after = text.get(pos).copied();
                    let wb = before.is_some_and(is_word);
                    let wa = after.is_some_and(is_word);
                    let ok = match &self.prog[pc] {
                        Inst::Char(c) => {
                            let hit = after.is_some_and(|t| if self.icase { fold(t) == *c } else { t == *c });
                            if hit {
                                pos += 1;
                            }
                            hit
                        }
                        Inst::Any => {
                            let hit = after.is_some();
                            pos += hit as usize;
                            hit
                        }
                        Inst::Class(k) => {
                            let hit = after.is_some_and(|t| self.classes[*k].matches(t, self.icase));
                            pos += hit as usize;
                            hit
                        }
                        Inst::Bol => pos == 0,
                        Inst::Eol => pos == n,
                        Inst::WordB => wb != wa,
                        Inst::NotWordB => wb == wa,
                        Inst::WordStart => !wb && wa,
                        Inst::WordEnd => wb && !wa,
                        Inst::NoWordBefore => !wb,
                        Inst::NoWordAfter => !wa,
                        Inst::Split(a, b) => {
                            stack.push(Job::Try(*b, pos));
                            pc = *a;
                            continue;
                        }
                        Inst::Jmp(a) => {
                            pc = *a;
                            continue;
                        }
                        Inst::Save(k) => {
                            stack.push(Job::Restore(*k, caps[*k]));
                            caps[*k] = Some(pos);
                            true
                        }
                        Inst::Match => {
                            caps[0] = Some(s);
                            caps[1] = Some(pos);
                            return Some(caps);
                        }
                    };
                    if !ok {
                        break;
                    }
                    pc += 1;
                }
            }
        }
        None
    }

    pub fn is_match(&self, text: &str) -> bool {
        let t: Vec<char> = text.chars().collect();
        self.find_at(&t, 0).is_some()
    }
}

#[cfg(test)]
mod t {
    use super::*;
    fn m(p: &str, ere: bool, s: &str) -> Option<(usize, usize)> {
        let r = Regex::new(p, ere, false).unwrap();
        let t: Vec<char> = s.chars().collect();
        r.find_at(&t, 0).map(|c| (c[0].unwrap(), c[1].unwrap()))
    }
    #[test]
    fn basics() {
        assert_eq!(m("b+", true, "abbbc"), Some((1, 4)));
        assert_eq!(m("b\\+", false, "abbbc"), Some((1, 4)));
        assert_eq!(m("^a.c$", false, "abc"), Some((0, 3)));
        assert_eq!(m("x*", false, "abc"), Some((0, 0)));
        assert_eq!(m("(ab|cd)+e", true, "xxabcde"), Some((2, 7)));
        assert_eq!(m("[0-9]\\{2,3\\}", false, "a12345"), Some((1, 4)));
        assert_eq!(m("[^a-z]", false, "abC"), Some((2, 3)));
        assert_eq!(m("(a*)*b", true, "aaab"), Some((0, 4)));
        assert_eq!(m("a|b", false, "a|b"), Some((0, 3)));
        assert!(Regex::new("\\(a", false, false).is_err());
        assert!(Regex::new("HeLLo", false, true).unwrap().is_match("say hello"));
    }
}

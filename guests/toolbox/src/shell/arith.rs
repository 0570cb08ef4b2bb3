//! `$((...))`: integer arithmetic with C operators, evaluated on i64 with
//! wrapping. Variables are referred to by name (`$((i + 1))`) and may be
//! assigned (`$((i += 1))`, `i++`).

use super::Shell;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(i64),
    Ident(String),
    Op(&'static str),
}

enum E {
    Num(i64),
    Var(String),
    Un(&'static str, Box<E>),
    Bin(&'static str, Box<E>, Box<E>),
    Assign(String, &'static str, Box<E>),
    Cond(Box<E>, Box<E>, Box<E>),
    /// `++x` / `x--`: name, delta, prefix?
    Inc(String, i64, bool),
}

const OPS: &[&str] = &[
    "<<=", ">>=", "**", "&&", "||", "==", "!=", "<=", ">=", "<<", ">>", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "++", "--", "+", "-", "*", "/", "%",
    "<", ">", "=", "!", "~", "&", "|", "^", "?", ":", "(", ")", ",",
];

fn parse_num(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8).ok()?
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<i64>().ok()?
    } else {
        return None;
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        if c[i].is_whitespace() {
            i += 1;
            continue;
        }
        if c[i].is_ascii_digit() {
            let st = i;
            while i < c.len() && c[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let t: String = c[st..i].iter().collect();
            out.push(Tok::Num(parse_num(&t).ok_or_else(|| format!("arithmetic syntax error: bad number \"{t}\""))?));
            continue;
        }
        if c[i].is_ascii_alphabetic() || c[i] == '_' {
            let st = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[st..i].iter().collect()));
            continue;
        }
        let op = OPS.iter().find(|op| op.chars().enumerate().all(|(k, oc)| c.get(i + k) == Some(&oc)));
        match op {
            Some(op) => {
                out.push(Tok::Op(op));
                i += op.len();
            }
            None => return Err("arithmetic syntax error".into()),
        }
    }
    Ok(out)
}

struct P {
    t: Vec<Tok>,
    i: usize,
}

fn prec(op: &str) -> Option<u8> {
    Some(match op {
        "||" => 1,
        "&&" => 2,
        "|" => 3,
        "^" => 4,
        "&" => 5,
        "==" | "!=" => 6,
        "<" | "<=" | ">" | ">=" => 7,
        "<<" | ">>" => 8,
        "+" | "-" => 9,
        "*" | "/" | "%" => 10,
        "**" => 11,
        _ => return None,
    })
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn op(&self) -> Option<&'static str> {
        match self.peek() {
            Some(Tok::Op(o)) => Some(o),
            _ => None,
        }
    }
    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.op() == Some(op) {
            self.i += 1;
            Ok(())
        } else {
            Err("arithmetic syntax error".into())
        }
    }
    fn expr(&mut self) -> Result<E, String> {
        let mut e = self.assign()?;
        while self.op() == Some(",") {
            self.i += 1;
            let r = self.assign()?;
            e = E::Bin(",", Box::new(e), Box::new(r));
        }
        Ok(e)
    }
    fn assign(&mut self) -> Result<E, String> {
        if let (Some(Tok::Ident(name)), Some(Tok::Op(op))) = (self.t.get(self.i), self.t.get(self.i + 1)) {
            if op.ends_with('=') && !matches!(*op, "==" | "!=" | "<=" | ">=") {
                let (name, op) = (name.clone(), *op);
                self.i += 2;
                let v = self.assign()?;
                return Ok(E::Assign(name, op, Box::new(v)));
            }
        }
        self.ternary()
    }
    fn ternary(&mut self) -> Result<E, String> {
        let c = self.binary(1)?;
        if self.op() == Some("?") {
            self.i += 1;
            let a = self.assign()?;
            self.expect(":")?;
            let b = self.ternary()?;
            return Ok(E::Cond(Box::new(c), Box::new(a), Box::new(b)));
        }
        Ok(c)
    }
    fn binary(&mut self, min: u8) -> Result<E, String> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.op() {
            let Some(p) = prec(op) else { break };
            if p < min {
                break;
            }
            self.i += 1;
            let rhs = self.binary(if op == "**" { p } else { p + 1 })?;
            lhs = E::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }
    fn unary(&mut self) -> Result<E, String> {
        match self.op() {
            Some(op @ ("+" | "-" | "!" | "~")) => {
                self.i += 1;
                Ok(E::Un(op, Box::new(self.unary()?)))
            }
            Some(op @ ("++" | "--")) => {
                self.i += 1;
                match self.peek().cloned() {
                    Some(Tok::Ident(n)) => {
                        self.i += 1;
                        Ok(E::Inc(n, if op == "++" { 1 } else { -1 }, true))
                    }
                    _ => Err("arithmetic syntax error".into()),
                }
            }
            _ => self.primary(),
        }
    }
    fn primary(&mut self) -> Result<E, String> {
        match self.peek().cloned() {
            Some(Tok::Num(n)) => {
                self.i += 1;
                Ok(E::Num(n))
            }
            Some(Tok::Ident(n)) => {
                self.i += 1;
                if let Some(op @ ("++" | "--")) = self.op() {
                    self.i += 1;
                    return Ok(E::Inc(n, if op == "++" { 1 } else { -1 }, false));
                }
                Ok(E::Var(n))
            }
            Some(Tok::Op("(")) => {
                self.i += 1;
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            _ => Err("arithmetic syntax error".into()),
        }
    }
}

fn binop(op: &str, a: i64, b: i64) -> Result<i64, String> {
    Ok(match op {
        "+" => a.wrapping_add(b),
        "-" => a.wrapping_sub(b),
        "*" => a.wrapping_mul(b),
        "/" | "%" if b == 0 => return Err("divide by zero".into()),
        "/" => a.wrapping_div(b),
        "%" => a.wrapping_rem(b),
        "**" => a.wrapping_pow(b.clamp(0, u32::MAX as i64) as u32),
        "<<" => a.wrapping_shl(b as u32),
        ">>" => a.wrapping_shr(b as u32),
        "<" => (a < b) as i64,
        "<=" => (a <= b) as i64,
        ">" => (a > b) as i64,
        ">=" => (a >= b) as i64,
        "==" => (a == b) as i64,
        "!=" => (a != b) as i64,
        "&" => a & b,
        "|" => a | b,
        "^" => a ^ b,
        "," => b,
        _ => return Err("arithmetic syntax error".into()),
    })
}

impl Shell {
    /// Evaluates an arithmetic expression (already parameter-expanded).
    pub(super) fn arith(&mut self, s: &str) -> Result<i64, String> {
        self.arith_depth(s, 0)
    }

    fn arith_depth(&mut self, s: &str, depth: u32) -> Result<i64, String> {
        if s.trim().is_empty() {
            return Ok(0);
        }
        let t = lex(s)?;
        let mut p = P { t, i: 0 };
        let e = p.expr()?;
        if p.i != p.t.len() {
            return Err("arithmetic syntax error".into());
        }
        self.eval(&e, depth)
    }

    fn var_num(&mut self, name: &str, depth: u32) -> Result<i64, String> {
        let v = self.getvar(name).unwrap_or("").to_owned();
        if v.trim().is_empty() {
            return Ok(0);
        }
        if let Some(n) = parse_num(&v) {
            return Ok(n);
        }
        if depth > 16 {
            return Err(format!("{name}: expression recursion level exceeded"));
        }
        self.arith_depth(&v, depth + 1)
    }

    fn eval(&mut self, e: &E, depth: u32) -> Result<i64, String> {
        Ok(match e {
            E::Num(n) => *n,
            E::Var(n) => self.var_num(n, depth)?,
            E::Un(op, x) => {
                let v = self.eval(x, depth)?;
                match *op {
                    "-" => v.wrapping_neg(),
                    "!" => (v == 0) as i64,
                    "~" => !v,
                    _ => v,
                }
            }
            E::Bin("&&", a, b) => (self.eval(a, depth)? != 0 && self.eval(b, depth)? != 0) as i64,
            E::Bin("||", a, b) => (self.eval(a, depth)? != 0 || self.eval(b, depth)? != 0) as i64,
            E::Bin(op, a, b) => {
                let x = self.eval(a, depth)?;
                let y = self.eval(b, depth)?;
                binop(op, x, y)?
            }
            E::Cond(c, a, b) => {
                if self.eval(c, depth)? != 0 {
                    self.eval(a, depth)?
                } else {
                    self.eval(b, depth)?
                }
            }
            E::Assign(name, op, x) => {
                let rhs = self.eval(x, depth)?;
                let v = if *op == "=" {
                    rhs
                } else {
                    let cur = self.var_num(name, depth)?;
                    binop(&op[..op.len() - 1], cur, rhs)?
                };
                self.setvar(name, v.to_string())?;
                v
            }
            E::Inc(name, d, prefix) => {
                let cur = self.var_num(name, depth)?;
                let new = cur.wrapping_add(*d);
                self.setvar(name, new.to_string())?;
                if *prefix { new } else { cur }
            }
        })
    }
}

//! test / [: file, string and integer tests with ! -a -o and parentheses,
//! using the POSIX rules for 1-4 arguments and a recursive-descent parser
//! beyond that.

use std::path::Path;

use crate::io::Io;

type Res = Result<bool, String>;

fn int(s: &str) -> Result<i64, String> {
    s.trim().parse::<i64>().map_err(|_| format!("{s}: bad number"))
}

fn is_unary(op: &str) -> bool {
    matches!(
        op,
        "-e" | "-f" | "-d" | "-s" | "-r" | "-w" | "-x" | "-L" | "-h" | "-b" | "-c" | "-p" | "-S" | "-t" | "-n" | "-z" | "-g" | "-u" | "-k" | "-O" | "-G"
    )
}

fn is_binary(op: &str) -> bool {
    matches!(op, "=" | "==" | "!=" | "<" | ">" | "-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge" | "-nt" | "-ot" | "-ef")
}

#[cfg(unix)]
fn mode_bits(m: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(m.permissions().mode())
}

#[cfg(not(unix))]
fn mode_bits(_: &std::fs::Metadata) -> Option<u32> {
    None
}

fn unary(op: &str, a: &str) -> Res {
    let p = Path::new(a);
    Ok(match op {
        "-n" => !a.is_empty(),
        "-z" => a.is_empty(),
        "-e" => p.exists() || a == "/dev/null",
        "-f" => p.is_file(),
        "-d" => p.is_dir(),
        "-s" => p.metadata().map(|m| m.len() > 0).unwrap_or(false),
        "-L" | "-h" => p.symlink_metadata().map(|m| m.file_type().is_symlink()).unwrap_or(false),
        "-r" => p.is_dir() && std::fs::read_dir(p).is_ok() || std::fs::File::open(p).is_ok(),
        // Asking the filesystem is the only reliable answer on WASI.
        "-w" => match p.metadata() {
            Ok(m) if m.is_dir() => !m.permissions().readonly() || cfg!(not(unix)),
            Ok(_) => std::fs::OpenOptions::new().append(true).open(p).is_ok(),
            Err(_) => a == "/dev/null",
        },
        "-x" => match p.metadata() {
            Ok(m) if m.is_dir() => true,
            // WASI has no execute permission bits; nothing there is executable.
            Ok(m) => mode_bits(&m).is_some_and(|b| b & 0o111 != 0),
            Err(_) => false,
        },
        "-c" => a == "/dev/null",
        // No terminals, devices, FIFOs, sockets or set-id bits in WASI guests.
        _ => false,
    })
}

fn mtime(a: &str) -> Option<std::time::SystemTime> {
    std::fs::metadata(a).and_then(|m| m.modified()).ok()
}

fn binary(a: &str, op: &str, b: &str) -> Res {
    Ok(match op {
        "=" | "==" => a == b,
        "!=" => a != b,
        "<" => a < b,
        ">" => a > b,
        "-eq" => int(a)? == int(b)?,
        "-ne" => int(a)? != int(b)?,
        "-lt" => int(a)? < int(b)?,
        "-le" => int(a)? <= int(b)?,
        "-gt" => int(a)? > int(b)?,
        "-ge" => int(a)? >= int(b)?,
        "-nt" => match (mtime(a), mtime(b)) {
            (Some(x), Some(y)) => x > y,
            (Some(_), None) => true,
            _ => false,
        },
        "-ot" => match (mtime(a), mtime(b)) {
            (Some(x), Some(y)) => x < y,
            (None, Some(_)) => true,
            _ => false,
        },
        "-ef" => match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        },
        _ => return Err(format!("{op}: unknown operand")),
    })
}

struct P<'a> {
    a: &'a [String],
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<&str> {
        self.a.get(self.i).map(|s| s.as_str())
    }
    fn or(&mut self) -> Res {
        let mut v = self.and()?;
        while self.peek() == Some("-o") {
            self.i += 1;
            let r = self.and()?;
            v = v || r;
        }
        Ok(v)
    }
    fn and(&mut self) -> Res {
        let mut v = self.not()?;
        while self.peek() == Some("-a") {
            self.i += 1;
            let r = self.not()?;
            v = v && r;
        }
        Ok(v)
    }
    fn not(&mut self) -> Res {
        if self.peek() == Some("!") {
            self.i += 1;
            return Ok(!self.not()?);
        }
        self.prim()
    }
    fn prim(&mut self) -> Res {
        let Some(t) = self.peek().map(str::to_owned) else { return Err("argument expected".into()) };
        let t = t.as_str();
        if t == "(" {
            self.i += 1;
            let v = self.or()?;
            if self.peek() != Some(")") {
                return Err("closing paren expected".into());
            }
            self.i += 1;
            return Ok(v);
        }
        if let Some(op) = self.a.get(self.i + 1).map(|s| s.as_str()) {
            if is_binary(op) && self.i + 2 < self.a.len() {
                let (x, y) = (self.a[self.i].clone(), self.a[self.i + 2].clone());
                self.i += 3;
                return binary(&x, op, &y);
            }
        }
        if is_unary(t) && self.i + 1 < self.a.len() {
            let x = self.a[self.i + 1].clone();
            self.i += 2;
            return unary(t, &x);
        }
        self.i += 1;
        Ok(!t.is_empty())
    }
}

/// Evaluates a test expression (POSIX argument-count rules first).
pub fn eval(a: &[String]) -> Res {
    let s = |i: usize| a[i].as_str();
    match a.len() {
        0 => Ok(false),
        1 => Ok(!a[0].is_empty()),
        2 if s(0) == "!" => Ok(a[1].is_empty()),
        2 if is_unary(s(0)) => unary(s(0), s(1)),
        2 => Err(format!("{}: unknown operand", s(0))),
        3 if is_binary(s(1)) => binary(s(0), s(1), s(2)),
        3 if s(0) == "!" => Ok(!eval(&a[1..])?),
        3 if s(0) == "(" && s(2) == ")" => Ok(!a[1].is_empty()),
        4 if s(0) == "!" => Ok(!eval(&a[1..])?),
        _ => {
            let mut p = P { a, i: 0 };
            let v = p.or()?;
            if p.i != a.len() {
                return Err(format!("{}: unexpected operator", a[p.i]));
            }
            Ok(v)
        }
    }
}

pub fn main(argv: &[String], io: &mut Io) -> i32 {
    let name = super::prog(argv);
    let mut args = &argv[1..];
    if name == "[" {
        if args.last().map(|s| s.as_str()) != Some("]") {
            io.err("[", "missing ]");
            return 2;
        }
        args = &args[..args.len() - 1];
    }
    match eval(args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            io.err(&name, e);
            2
        }
    }
}

//! The toolbox's commands (applets). Every command has the signature
//! `fn(argv: &[String], io: &mut Io) -> i32`, where `argv[0]` is the name it
//! was called by, so the shell, `env`, `xargs` and the multi-call entry
//! point can all run any of them in-process.

pub mod basic;
pub mod curl;
pub mod date;
pub mod fs;
pub mod grep;
pub mod ipc;
pub mod nc;
pub mod nslookup;
pub mod printf;
pub mod sed;
pub mod serve;
pub mod socat;
pub mod test;
pub mod text;

use crate::io::Io;

/// Parsed command-line options.
pub struct Opts {
    pub flags: Vec<(char, Option<String>)>,
    pub operands: Vec<String>,
}

impl Opts {
    pub fn has(&self, c: char) -> bool {
        self.flags.iter().any(|(f, _)| *f == c)
    }
    /// The last value given for an option that takes one.
    pub fn val(&self, c: char) -> Option<&str> {
        self.flags.iter().rev().find(|(f, _)| *f == c).and_then(|(_, v)| v.as_deref())
    }
    pub fn vals(&self, c: char) -> Vec<&str> {
        self.flags.iter().filter(|(f, _)| *f == c).filter_map(|(_, v)| v.as_deref()).collect()
    }
}

/// A small getopt: `spec` lists option letters, a letter followed by `:`
/// takes a value (`-n5` or `-n 5`). Options may be grouped (`-rf`). With
/// `permute`, options may follow operands, as GNU tools allow; `--` ends
/// the options and a lone `-` is an operand.
pub fn getopt(args: &[String], spec: &str, permute: bool) -> Result<Opts, String> {
    let mut flags = Vec::new();
    let mut operands = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            operands.extend(args[i..].iter().cloned());
            break;
        }
        if !a.starts_with('-') || a == "-" {
            operands.push(a.clone());
            if !permute {
                operands.extend(args[i..].iter().cloned());
                break;
            }
            continue;
        }
        let chars: Vec<char> = a.chars().skip(1).collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            let Some(pos) = spec.find(c) else {
                if c == '-' {
                    return Err(format!("unrecognized option '{a}'"));
                }
                return Err(format!("unrecognized option: {c}"));
            };
            if spec[pos + c.len_utf8()..].starts_with(':') {
                let v: String = if j < chars.len() {
                    chars[j..].iter().collect()
                } else if i < args.len() {
                    i += 1;
                    args[i - 1].clone()
                } else {
                    return Err(format!("option requires an argument: {c}"));
                };
                flags.push((c, Some(v)));
                break;
            }
            flags.push((c, None));
        }
    }
    Ok(Opts { flags, operands })
}

/// Parses options or reports the error busybox-style (status 1).
pub fn parse_or_usage(argv: &[String], spec: &str, permute: bool, io: &mut Io) -> Option<Opts> {
    match getopt(&argv[1..], spec, permute) {
        Ok(o) => Some(o),
        Err(e) => {
            io.err(&argv[0], e);
            None
        }
    }
}

/// The name a command reports errors under (`/bin/cat` -> `cat`).
pub fn prog(argv: &[String]) -> String {
    let a = argv.first().map(String::as_str).unwrap_or("toolbox");
    a.rsplit('/').next().unwrap_or(a).to_owned()
}

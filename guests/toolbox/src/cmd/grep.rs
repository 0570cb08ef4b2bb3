//! grep (and egrep/fgrep): BRE by default, -E extended, -F fixed strings,
//! with -v -i -c -n -q -o -l -L -r -h -H -w -x -s -e -f.

use std::io::Write;
use std::path::Path;

use super::parse_or_usage;
use crate::io::{Io, errmsg, split_lines};
use crate::regex::{self, Regex};

fn walk(path: &Path, out: &mut Vec<String>) {
    if path.is_dir() {
        let Ok(rd) = std::fs::read_dir(path) else { return };
        let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            walk(&p, out);
        }
    } else {
        out.push(path.to_string_lossy().into_owned());
    }
}

pub fn main(argv: &[String], io: &mut Io) -> i32 {
    let name = super::prog(argv);
    let Some(o) = parse_or_usage(argv, "vicnqEFGolLrRhHwxse:f:Aa", true, io) else { return 2 };
    let ere = o.has('E') || name == "egrep";
    let fixed = o.has('F') || name == "fgrep";
    let mut operands = o.operands.clone();
    let mut pats: Vec<String> = o.vals('e').iter().map(|s| s.to_string()).collect();
    for f in o.vals('f') {
        match io.read_path(f) {
            Ok(d) => pats.extend(String::from_utf8_lossy(&d).lines().map(str::to_owned)),
            Err(e) => {
                io.err("grep", format_args!("{f}: {}", errmsg(&e)));
                return 2;
            }
        }
    }
    if pats.is_empty() && o.vals('f').is_empty() {
        if operands.is_empty() {
            io.err("grep", "usage: grep [OPTIONS] PATTERN [FILE]...");
            return 2;
        }
        pats.push(operands.remove(0));
    }
    let pats: Vec<String> = pats.iter().flat_map(|p| p.split('\n').map(str::to_owned).collect::<Vec<_>>()).collect();
    let mut nodes = Vec::new();
    for p in &pats {
        if fixed {
            nodes.push(regex::literal(p));
        } else {
            match regex::parse(p, ere) {
                Ok(n) => nodes.push(n),
                Err(e) => {
                    io.err("grep", e);
                    return 2;
                }
            }
        }
    }
    let re = if nodes.is_empty() { None } else { Some(Regex::combine(nodes, o.has('x'), o.has('w'), o.has('i'))) };
    let recursive = o.has('r') || o.has('R');
    let mut files = Vec::new();
    if operands.is_empty() {
        files.push(if recursive { ".".to_owned() } else { "-".to_owned() });
    }
    for op in &operands {
        if recursive && Path::new(op).is_dir() {
            walk(Path::new(op), &mut files);
        } else {
            files.push(op.clone());
        }
    }
    let show_names = (files.len() > 1 || recursive) && !o.has('h') || o.has('H');
    let (invert, quiet) = (o.has('v'), o.has('q'));
    let mut matched_any = false;
    let mut error = false;
    let mut out = Vec::new();
    for f in &files {
        let data = match io.read_path(f) {
            Ok(d) => d,
            Err(e) => {
                if !o.has('s') {
                    io.err("grep", format_args!("{f}: {}", errmsg(&e)));
                }
                error = true;
                continue;
            }
        };
        let label = if f == "-" { "(standard input)" } else { f.as_str() };
        let (lines, _) = split_lines(&data);
        let mut count = 0usize;
        for (n, line) in lines.iter().enumerate() {
            let text = String::from_utf8_lossy(line);
            let chars: Vec<char> = text.chars().collect();
            let first = re.as_ref().and_then(|r| r.find_at(&chars, 0));
            if first.is_some() == invert {
                continue;
            }
            count += 1;
            matched_any = true;
            if quiet {
                return 0;
            }
            if o.has('l') || o.has('L') || o.has('c') {
                continue;
            }
            let prefix = {
                let mut p = String::new();
                if show_names {
                    p.push_str(label);
                    p.push(':');
                }
                if o.has('n') {
                    p.push_str(&format!("{}:", n + 1));
                }
                p
            };
            if o.has('o') && !invert {
                let r = re.as_ref().unwrap();
                let mut caps = first;
                while let Some(c) = caps {
                    let (s, e) = (c[0].unwrap(), c[1].unwrap());
                    if e > s {
                        out.extend(prefix.as_bytes());
                        out.extend(chars[s..e].iter().collect::<String>().into_bytes());
                        out.push(b'\n');
                    }
                    let next = if e > s { e } else { e + 1 };
                    caps = if next <= chars.len() { r.find_at(&chars, next) } else { None };
                }
                continue;
            }
            out.extend(prefix.into_bytes());
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        if o.has('c') {
            if show_names {
                out.extend(format!("{label}:").into_bytes());
            }
            out.extend(format!("{count}\n").into_bytes());
        }
        if o.has('l') && count > 0 {
            out.extend(format!("{label}\n").into_bytes());
        }
        if o.has('L') && count == 0 {
            out.extend(format!("{label}\n").into_bytes());
        }
        if out.len() > 1 << 16 {
            io.out(&out);
            out.clear();
        }
    }
    io.out(&out);
    let _ = io.stdout.flush();
    if error && !(quiet && matched_any) {
        2
    } else if matched_any {
        0
    } else {
        1
    }
}

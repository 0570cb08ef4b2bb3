//! Text filters: wc, head, tail, sort, uniq, tr, cut, tee, xargs.
//! They read their whole input before writing (see the shell's note on
//! pipelines), except `tail -f`, which keeps following a file.

use std::cmp::Ordering;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use super::{Opts, getopt, parse_or_usage};
use crate::io::{Io, errmsg, split_lines};

/// Reads each operand (or stdin when none), reporting unreadable ones as
/// `cmd: can't open 'f': ...`. Returns (name, data) pairs and a status.
fn inputs(cmd: &str, files: &[String], io: &mut Io) -> (Vec<(String, Vec<u8>)>, i32) {
    let files = if files.is_empty() { vec!["-".to_owned()] } else { files.to_vec() };
    let mut out = Vec::new();
    let mut st = 0;
    for f in files {
        match io.read_path(&f) {
            Ok(d) => out.push((f, d)),
            Err(e) => {
                io.err(cmd, format_args!("can't open '{f}': {}", errmsg(&e)));
                st = 1;
            }
        }
    }
    (out, st)
}

pub fn wc(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "lwcmL", true, io) else { return 1 };
    let (mut l, mut w, mut c) = (o.has('l'), o.has('w'), o.has('c') || o.has('m'));
    if !l && !w && !c {
        (l, w, c) = (true, true, true);
    }
    let chars = o.has('m');
    let (data, st) = inputs("wc", &o.operands, io);
    let mut totals = [0usize; 3];
    let ncols = [l, w, c].iter().filter(|x| **x).count();
    let mut out = String::new();
    let mut line = |counts: [usize; 3], name: Option<&str>| {
        let cols: Vec<usize> = [(l, counts[0]), (w, counts[1]), (c, counts[2])].iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
        let text: Vec<String> = if ncols == 1 { cols.iter().map(|n| n.to_string()).collect() } else { cols.iter().map(|n| format!("{n:>9}")).collect() };
        out.push_str(&text.join(" "));
        if let Some(n) = name {
            out.push(' ');
            out.push_str(n);
        }
        out.push('\n');
    };
    for (name, d) in &data {
        let counts = [
            d.iter().filter(|&&b| b == b'\n').count(),
            String::from_utf8_lossy(d).split_whitespace().count(),
            if chars { String::from_utf8_lossy(d).chars().count() } else { d.len() },
        ];
        for k in 0..3 {
            totals[k] += counts[k];
        }
        line(counts, if o.operands.is_empty() { None } else { Some(name) });
    }
    if data.len() > 1 {
        line(totals, Some("total"));
    }
    io.outs(&out);
    st
}

/// Turns `-5` into `-n 5` (the historical head/tail syntax).
fn legacy_count(argv: &[String]) -> Vec<String> {
    let mut v = vec![argv[0].clone()];
    for (i, a) in argv.iter().enumerate().skip(1) {
        if i == 1 && a.len() > 1 && a.starts_with('-') && a[1..].bytes().all(|b| b.is_ascii_digit()) {
            v.push("-n".into());
            v.push(a[1..].to_owned());
        } else if i == 1 && a.len() > 1 && a.starts_with('+') && a[1..].bytes().all(|b| b.is_ascii_digit()) && argv[0].ends_with("tail") {
            v.push("-n".into());
            v.push(a.clone());
        } else {
            v.push(a.clone());
        }
    }
    v
}

fn count_arg(cmd: &str, s: &str, io: &mut Io) -> Option<(bool, bool, usize)> {
    // (from the start "+N", all-but "-N", count)
    let (plus, minus, digits) = if let Some(d) = s.strip_prefix('+') {
        (true, false, d)
    } else if let Some(d) = s.strip_prefix('-') {
        (false, true, d)
    } else {
        (false, false, s)
    };
    let (digits, mult) = match digits.chars().last() {
        Some('k') => (&digits[..digits.len() - 1], 1024),
        Some('m') => (&digits[..digits.len() - 1], 1024 * 1024),
        Some('b') => (&digits[..digits.len() - 1], 512),
        _ => (digits, 1),
    };
    match digits.parse::<usize>() {
        Ok(n) => Some((plus, minus, n * mult)),
        Err(_) => {
            io.err(cmd, format_args!("invalid number '{s}'"));
            None
        }
    }
}

/// head/tail's count: `-c N` (bytes: true) wins over `-n N`; default 10 lines.
fn count_option(o: &Opts) -> (bool, String) {
    match (o.val('c'), o.val('n')) {
        (Some(c), _) => (true, c.to_owned()),
        (None, Some(n)) => (false, n.to_owned()),
        _ => (false, "10".to_owned()),
    }
}

/// The `==> name <==` line head and tail print before each of several files.
fn file_header(index: usize, name: &str) -> String {
    let gap = if index > 0 { "\n" } else { "" };
    let shown = if name == "-" { "standard input" } else { name };
    format!("{gap}==> {shown} <==\n")
}

pub fn head(argv: &[String], io: &mut Io) -> i32 {
    let argv = legacy_count(argv);
    let Some(o) = parse_or_usage(&argv, "n:c:qv", true, io) else { return 1 };
    let (bytes, spec) = count_option(&o);
    let Some((_, all_but, n)) = count_arg("head", &spec, io) else { return 1 };
    let (data, st) = inputs("head", &o.operands, io);
    let headers = (data.len() > 1 || o.has('v')) && !o.has('q');
    let mut out = Vec::new();
    for (k, (name, d)) in data.iter().enumerate() {
        if headers {
            out.extend(file_header(k, name).into_bytes());
        }
        if bytes {
            let end = if all_but { d.len().saturating_sub(n) } else { n.min(d.len()) };
            out.extend_from_slice(&d[..end]);
            continue;
        }
        let lines: Vec<&[u8]> = d.split_inclusive(|&b| b == b'\n').collect();
        let end = if all_but { lines.len().saturating_sub(n) } else { n.min(lines.len()) };
        for l in &lines[..end] {
            out.extend_from_slice(l);
        }
    }
    io.out(&out);
    st
}

pub fn tail(argv: &[String], io: &mut Io) -> i32 {
    let argv = legacy_count(&argv.to_vec());
    let Some(o) = parse_or_usage(&argv, "n:c:qvfFs:", true, io) else { return 1 };
    let (bytes, spec) = count_option(&o);
    let Some((from_start, _, n)) = count_arg("tail", &spec, io) else { return 1 };
    let (data, st) = inputs("tail", &o.operands, io);
    let headers = (data.len() > 1 || o.has('v')) && !o.has('q');
    let mut out = Vec::new();
    for (k, (name, d)) in data.iter().enumerate() {
        if headers {
            out.extend(file_header(k, name).into_bytes());
        }
        if bytes {
            let start = if from_start { n.saturating_sub(1).min(d.len()) } else { d.len().saturating_sub(n) };
            out.extend_from_slice(&d[start..]);
            continue;
        }
        let lines: Vec<&[u8]> = d.split_inclusive(|&b| b == b'\n').collect();
        let start = if from_start { n.saturating_sub(1).min(lines.len()) } else { lines.len().saturating_sub(n) };
        for l in &lines[start..] {
            out.extend_from_slice(l);
        }
    }
    io.out(&out);
    let _ = io.stdout.flush();
    if o.has('f') || o.has('F') {
        return follow(&data, io);
    }
    st
}

/// `tail -f`: poll the files for growth once a second, forever (the
/// classic `tail -f /dev/null` keeps a container alive this way).
fn follow(data: &[(String, Vec<u8>)], io: &mut Io) -> i32 {
    let mut sizes: Vec<(String, u64)> = data.iter().filter(|(n, _)| n != "-" && n != "/dev/null").map(|(n, d)| (n.clone(), d.len() as u64)).collect();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        for (name, size) in sizes.iter_mut() {
            let Ok(d) = std::fs::read(&*name) else { continue };
            let len = d.len() as u64;
            if len > *size {
                io.out(&d[*size as usize..]);
                let _ = io.stdout.flush();
            }
            *size = len;
        }
    }
}

/// Leading numeric value of a sort key (like strtod; junk sorts as 0).
fn num_prefix(s: &str) -> f64 {
    let t = s.trim_start();
    let mut end = 0;
    let b = t.as_bytes();
    if end < b.len() && (b[end] == b'-' || b[end] == b'+') {
        end += 1;
    }
    while end < b.len() && (b[end].is_ascii_digit() || b[end] == b'.') {
        end += 1;
    }
    t[..end].parse().unwrap_or(0.0)
}

struct Key {
    start: usize,
    end: Option<usize>,
    numeric: bool,
    reverse: bool,
}

fn key_text<'a>(line: &'a str, k: &Key, sep: Option<char>) -> String {
    let fields: Vec<&'a str> = match sep {
        Some(c) => line.split(c).collect(),
        None => line.split_whitespace().collect(),
    };
    let from = k.start.saturating_sub(1);
    let to = k.end.unwrap_or(fields.len()).min(fields.len());
    if from >= to {
        return String::new();
    }
    fields[from..to].join(&sep.map(|c| c.to_string()).unwrap_or_else(|| " ".into()))
}

pub fn sort(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "nrufbsk:t:o:gVhcz", true, io) else { return 1 };
    let numeric = o.has('n') || o.has('g') || o.has('h');
    let sep = o.val('t').and_then(|s| s.chars().next());
    let mut keys = Vec::new();
    for k in o.vals('k') {
        let (a, b) = match k.split_once(',') {
            Some((a, b)) => (a, Some(b)),
            None => (k, None),
        };
        let parse = |s: &str| -> (Option<usize>, String) {
            let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
            let field = digits.parse().ok();
            let opts: String = s.chars().skip_while(|c| c.is_ascii_digit() || *c == '.').collect();
            (field, opts)
        };
        let (Some(start), mut opts) = parse(a) else {
            io.err("sort", format_args!("invalid key '{k}'"));
            return 1;
        };
        let end = b.map(parse).and_then(|(f, o2)| {
            opts.push_str(&o2);
            f
        });
        keys.push(Key { start, end, numeric: numeric || opts.contains('n') || opts.contains('g'), reverse: opts.contains('r') });
    }
    let (data, st) = inputs("sort", &o.operands, io);
    let mut lines: Vec<String> = Vec::new();
    for (_, d) in &data {
        let (ls, _) = split_lines(d);
        lines.extend(ls.iter().map(|l| String::from_utf8_lossy(l).into_owned()));
    }
    let fold = o.has('f');
    let cmp_text = |a: &str, b: &str, num: bool| -> Ordering {
        if num {
            num_prefix(a).partial_cmp(&num_prefix(b)).unwrap_or(Ordering::Equal)
        } else if fold {
            a.to_uppercase().cmp(&b.to_uppercase())
        } else {
            a.cmp(b)
        }
    };
    let key_cmp = |a: &String, b: &String| -> Ordering {
        if keys.is_empty() {
            return cmp_text(a, b, numeric);
        }
        for k in &keys {
            let (x, y) = (key_text(a, k, sep), key_text(b, k, sep));
            let mut c = cmp_text(&x, &y, k.numeric);
            if k.reverse {
                c = c.reverse();
            }
            if c != Ordering::Equal {
                return c;
            }
        }
        Ordering::Equal
    };
    let stable = o.has('s') || o.has('u');
    lines.sort_by(|a, b| {
        let c = key_cmp(a, b);
        let c = if c == Ordering::Equal && !stable { a.cmp(b) } else { c };
        if o.has('r') { c.reverse() } else { c }
    });
    if o.has('u') {
        lines.dedup_by(|a, b| key_cmp(a, b) == Ordering::Equal);
    }
    let mut out = String::new();
    for l in &lines {
        out.push_str(l);
        out.push('\n');
    }
    if let Some(f) = o.val('o') {
        if let Err(e) = std::fs::write(f, out) {
            io.err("sort", format_args!("can't open '{f}': {}", errmsg(&e)));
            return 2;
        }
        return st;
    }
    io.outs(&out);
    st
}

pub fn uniq(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "cdui", true, io) else { return 1 };
    let input: Vec<String> = o.operands.iter().take(1).cloned().collect();
    let (data, st) = inputs("uniq", &input, io);
    if st != 0 {
        return st;
    }
    let d = data.into_iter().next().map(|x| x.1).unwrap_or_default();
    let (lines, _) = split_lines(&d);
    let eq = |a: &[u8], b: &[u8]| if o.has('i') { a.eq_ignore_ascii_case(b) } else { a == b };
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let mut j = i + 1;
        while j < lines.len() && eq(lines[i], lines[j]) {
            j += 1;
        }
        let n = j - i;
        if (!o.has('d') || n > 1) && (!o.has('u') || n == 1) {
            if o.has('c') {
                out.extend(format!("{n:7} ").into_bytes());
            }
            out.extend_from_slice(lines[i]);
            out.push(b'\n');
        }
        i = j;
    }
    if let Some(f) = o.operands.get(1) {
        if let Err(e) = std::fs::write(f, &out) {
            io.err("uniq", format_args!("can't open '{f}': {}", errmsg(&e)));
            return 1;
        }
        return 0;
    }
    io.out(&out);
    0
}

/// Expands a tr set: escapes, ranges `a-z`, classes `[:upper:]`.
fn tr_set(s: &str) -> Vec<char> {
    let raw: Vec<char> = s.chars().collect();
    let mut items: Vec<char> = Vec::new();
    let mut i = 0;
    // First pass: decode escapes and classes into a list of chars, marking
    // range dashes by position so that escaped dashes stay literal.
    let mut is_range_dash = Vec::new();
    while i < raw.len() {
        let c = raw[i];
        if c == '[' && raw.get(i + 1) == Some(&':') {
            let rest: String = raw[i + 2..].iter().collect();
            if let Some(end) = rest.find(":]") {
                let name = &rest[..end];
                let all: Vec<char> = (0u8..=127).map(|b| b as char).filter(|&c| crate::pattern::class_contains(name, c).unwrap_or(false)).collect();
                is_range_dash.extend(std::iter::repeat_n(false, all.len()));
                items.extend(all);
                i += 2 + name.chars().count() + 2;
                continue;
            }
        }
        if c == '\\' && i + 1 < raw.len() {
            let e = raw[i + 1];
            i += 2;
            let ch = match e {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '\\' => '\\',
                'a' => '\x07',
                'b' => '\x08',
                'f' => '\x0c',
                'v' => '\x0b',
                '0'..='7' => {
                    let mut v = e.to_digit(8).unwrap();
                    let mut n = 1;
                    while n < 3 && i < raw.len() && raw[i].is_digit(8) {
                        v = v * 8 + raw[i].to_digit(8).unwrap();
                        i += 1;
                        n += 1;
                    }
                    char::from_u32(v).unwrap_or('\0')
                }
                other => other,
            };
            items.push(ch);
            is_range_dash.push(false);
            continue;
        }
        items.push(c);
        is_range_dash.push(c == '-');
        i += 1;
    }
    let mut out = Vec::new();
    let mut k = 0;
    while k < items.len() {
        if k + 2 < items.len() && is_range_dash[k + 1] {
            let (a, b) = (items[k], items[k + 2]);
            if a <= b {
                out.extend((a as u32..=b as u32).filter_map(char::from_u32));
            }
            k += 3;
            continue;
        }
        out.push(items[k]);
        k += 1;
    }
    out
}

pub fn tr(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "dscC", true, io) else { return 1 };
    let (del, squeeze, comp) = (o.has('d'), o.has('s'), o.has('c') || o.has('C'));
    let Some(s1) = o.operands.first() else {
        io.err("tr", "missing operand");
        return 1;
    };
    let set1 = tr_set(s1);
    let set2 = o.operands.get(1).map(|s| tr_set(s)).unwrap_or_default();
    if !del && !squeeze && set2.is_empty() {
        io.err("tr", "missing operand after SET1");
        return 1;
    }
    let data = match io.stdin.read_all() {
        Ok(d) => d,
        Err(e) => {
            io.err("tr", errmsg(&e));
            return 1;
        }
    };
    let text = String::from_utf8_lossy(&data);
    let in1 = |c: char| set1.contains(&c) != comp;
    let squeeze_set: &Vec<char> = if del || set2.is_empty() { &set1 } else { &set2 };
    let in_squeeze = |c: char| if del || set2.is_empty() { squeeze_set.contains(&c) != comp } else { squeeze_set.contains(&c) };
    let mut out = String::with_capacity(text.len());
    let mut last: Option<char> = None;
    for c in text.chars() {
        let mapped = if del {
            if in1(c) {
                continue;
            }
            c
        } else if !set2.is_empty() && in1(c) {
            if comp {
                *set2.last().unwrap()
            } else {
                let idx = set1.iter().position(|&x| x == c).unwrap();
                *set2.get(idx).unwrap_or_else(|| set2.last().unwrap())
            }
        } else {
            c
        };
        if squeeze && last == Some(mapped) && in_squeeze(mapped) {
            continue;
        }
        last = Some(mapped);
        out.push(mapped);
    }
    io.outs(&out);
    0
}

/// Parses a cut list (`1,3-5,7-`) into inclusive 1-based ranges.
fn cut_list(s: &str) -> Option<Vec<(usize, usize)>> {
    let mut v = Vec::new();
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (if a.is_empty() { 1 } else { a.parse().ok()? }, if b.is_empty() { usize::MAX } else { b.parse().ok()? }),
            None => {
                let n = part.parse().ok()?;
                (n, n)
            }
        };
        if a == 0 || b < a {
            return None;
        }
        v.push((a, b));
    }
    Some(v)
}

pub fn cut(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "d:f:c:b:sn", true, io) else { return 1 };
    let (list, mode) = match (o.val('f'), o.val('c').or(o.val('b'))) {
        (Some(f), _) => (f, 'f'),
        (None, Some(c)) => (c, 'c'),
        _ => {
            io.err("cut", "expected a list of bytes, characters, or fields");
            return 1;
        }
    };
    let Some(ranges) = cut_list(list) else {
        io.err("cut", format_args!("invalid list '{list}'"));
        return 1;
    };
    let sel = |i: usize| ranges.iter().any(|&(a, b)| a <= i && i <= b);
    let delim = o.val('d').map(|d| d.chars().next().unwrap_or('\t')).unwrap_or('\t');
    let (data, st) = inputs("cut", &o.operands, io);
    let mut out = String::new();
    for (_, d) in &data {
        let (lines, _) = split_lines(d);
        for l in lines {
            let l = String::from_utf8_lossy(l);
            if mode == 'c' {
                out.extend(l.chars().enumerate().filter(|(i, _)| sel(i + 1)).map(|(_, c)| c));
            } else if !l.contains(delim) {
                if o.has('s') {
                    continue;
                }
                out.push_str(&l);
            } else {
                let fields: Vec<&str> = l.split(delim).enumerate().filter(|(i, _)| sel(i + 1)).map(|(_, f)| f).collect();
                out.push_str(&fields.join(&delim.to_string()));
            }
            out.push('\n');
        }
    }
    io.outs(&out);
    st
}

pub fn tee(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "ai", true, io) else { return 1 };
    let mut st = 0;
    let mut outs = Vec::new();
    for f in &o.operands {
        match io.open_out(f, o.has('a')) {
            Ok(w) => outs.push(w),
            Err(e) => {
                io.err("tee", format_args!("{f}: {}", errmsg(&e)));
                st = 1;
            }
        }
    }
    // Copy in chunks so a slow producer's output appears as it arrives.
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match std::io::Read::read(&mut io.stdin, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                io.err("tee", errmsg(&e));
                return 1;
            }
        };
        io.out(&buf[..n]);
        for w in &mut outs {
            let _ = w.write_all(&buf[..n]);
        }
    }
    for w in &mut outs {
        let _ = w.flush();
    }
    st
}

/// Splits xargs input into items: blanks separate, quotes and backslash
/// protect.
fn xargs_items(s: &str) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if have {
                    items.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            '\'' | '"' => {
                have = true;
                loop {
                    match it.next() {
                        Some(q) if q == c => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unmatched {} quote", if c == '\'' { "single" } else { "double" })),
                    }
                }
            }
            '\\' => {
                have = true;
                if let Some(n) = it.next() {
                    cur.push(n);
                }
            }
            _ => {
                have = true;
                cur.push(c);
            }
        }
    }
    if have {
        items.push(cur);
    }
    Ok(items)
}

pub fn xargs(argv: &[String], io: &mut Io) -> i32 {
    let o = match getopt(&argv[1..], "n:I:0d:trs:L:P:", false) {
        Ok(o) => o,
        Err(e) => {
            io.err("xargs", e);
            return 1;
        }
    };
    let data = match io.stdin.read_all() {
        Ok(d) => d,
        Err(e) => {
            io.err("xargs", errmsg(&e));
            return 1;
        }
    };
    let text = String::from_utf8_lossy(&data).into_owned();
    let repl = o.val('I').map(str::to_owned);
    let items: Vec<String> = if o.has('0') {
        text.split('\0').filter(|s| !s.is_empty()).map(str::to_owned).collect()
    } else if let Some(d) = o.val('d') {
        let d = super::basic::backslash_escapes(d).0.first().copied().unwrap_or(b'\n') as char;
        text.split(d).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    } else if repl.is_some() || o.has('L') {
        text.lines().map(|l| l.trim_start().to_owned()).filter(|l| !l.is_empty()).collect()
    } else {
        match xargs_items(&text) {
            Ok(v) => v,
            Err(e) => {
                io.err("xargs", e);
                return 1;
            }
        }
    };
    let cmd: Vec<String> = if o.operands.is_empty() { vec!["echo".into()] } else { o.operands.clone() };
    let Some(f) = crate::find_applet(&cmd[0]) else {
        io.err("xargs", format_args!("{}: No such file or directory", cmd[0]));
        return 127;
    };
    let per = if repl.is_some() { 1 } else { o.val('n').or(o.val('L')).and_then(|n| n.parse::<usize>().ok()).unwrap_or(usize::MAX).max(1) };
    let mut batches: Vec<Vec<String>> = items.chunks(per).map(|c| c.to_vec()).collect();
    if batches.is_empty() && !o.has('r') && repl.is_none() {
        batches.push(Vec::new());
    }
    let mut st = 0;
    for b in batches {
        let args: Vec<String> = match &repl {
            Some(r) => cmd.iter().map(|a| a.replace(r.as_str(), &b[0])).collect(),
            None => cmd.iter().cloned().chain(b).collect(),
        };
        if o.has('t') {
            let _ = writeln!(io.stderr, "{}", args.join(" "));
        }
        let mut sub = io.clone();
        sub.stdin = crate::io::Input::empty();
        sub.env = Rc::clone(&io.env);
        let r = f(&args, &mut sub);
        if r == 255 {
            return 124;
        }
        if r != 0 {
            st = 123;
        }
    }
    st
}

//! printf: %s %b %c %d %i %u %x %X %o %e %f %g %%, with flags, width and
//! precision (`*` too). The format is reused while arguments remain.

use super::basic::backslash_escapes;
use crate::io::Io;

/// Parses a numeric argument like the shell's printf: decimal, 0x hex,
/// 0 octal, or 'c (the character's code).
fn int_arg(s: &str, err: &mut Vec<String>) -> i64 {
    let t = s.trim();
    if let Some(c) = t.strip_prefix('\'').or_else(|| t.strip_prefix('"')) {
        return c.chars().next().map_or(0, |c| c as i64);
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()
    } else if body.is_empty() && t.is_empty() {
        Some(0)
    } else {
        body.parse::<i64>().ok()
    };
    match v {
        Some(v) => {
            if neg {
                -v
            } else {
                v
            }
        }
        None => {
            err.push(format!("invalid number '{s}'"));
            // Like coreutils: use the leading numeric prefix if any.
            let digits: String = body.chars().take_while(|c| c.is_ascii_digit()).collect();
            let v = digits.parse::<i64>().unwrap_or(0);
            if neg { -v } else { v }
        }
    }
}

fn float_arg(s: &str, err: &mut Vec<String>) -> f64 {
    let t = s.trim();
    if t.is_empty() {
        return 0.0;
    }
    if let Some(c) = t.strip_prefix('\'') {
        return c.chars().next().map_or(0.0, |c| c as u32 as f64);
    }
    match t.parse::<f64>() {
        Ok(v) => v,
        Err(_) => {
            err.push(format!("invalid number '{s}'"));
            0.0
        }
    }
}

/// C-like `%e` formatting.
fn fmt_exp(v: f64, prec: usize, upper: bool) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let s = format!("{v:.prec$e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    let e = if upper { 'E' } else { 'e' };
    format!("{mant}{e}{sign}{:02}", exp.abs())
}

/// C-like `%g` formatting.
fn fmt_g(v: f64, prec: usize, alt: bool, upper: bool) -> String {
    let p = if prec == 0 { 1 } else { prec };
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    let mut s = if exp < -4 || exp >= p as i32 {
        fmt_exp(v, p - 1, upper)
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        format!("{v:.decimals$}")
    };
    if !alt {
        if let Some(epos) = s.find(['e', 'E']) {
            let (m, e) = s.split_at(epos);
            let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
            s = format!("{m}{e}");
        } else if s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
        }
    }
    s
}

struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    alt: bool,
    width: usize,
    prec: Option<usize>,
}

fn pad(spec: &Spec, body: String, numeric: bool) -> String {
    if body.len() >= spec.width {
        return body;
    }
    let fill = spec.width - body.chars().count();
    if spec.left {
        format!("{body}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        // Zeros go after the sign / 0x prefix.
        let split = if body.starts_with(['-', '+', ' ']) {
            1
        } else if body.starts_with("0x") || body.starts_with("0X") {
            2
        } else {
            0
        };
        format!("{}{}{}", &body[..split], "0".repeat(fill), &body[split..])
    } else {
        format!("{}{body}", " ".repeat(fill))
    }
}

/// Formats once through `fmt`, consuming arguments from `args[*ai..]`.
/// Returns true if `\c` stopped output.
fn format_once(fmt: &[u8], args: &[String], ai: &mut usize, out: &mut Vec<u8>, err: &mut Vec<String>) -> bool {
    let next = |ai: &mut usize| -> Option<&String> {
        let a = args.get(*ai);
        *ai += 1;
        a
    };
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        if c == b'\\' {
            // Find the extent of this escape and reuse the echo decoder.
            let mut j = i + 1;
            if j < fmt.len() {
                let e = fmt[j];
                j += 1;
                if (b'0'..=b'7').contains(&e) {
                    let mut n = 1;
                    while n < 3 && j < fmt.len() && (b'0'..=b'7').contains(&fmt[j]) {
                        j += 1;
                        n += 1;
                    }
                } else if e == b'x' {
                    let mut n = 0;
                    while n < 2 && j < fmt.len() && fmt[j].is_ascii_hexdigit() {
                        j += 1;
                        n += 1;
                    }
                }
            }
            let (b, stop) = backslash_escapes(&String::from_utf8_lossy(&fmt[i..j]));
            out.extend(b);
            if stop {
                return true;
            }
            i = j;
            continue;
        }
        if c != b'%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        if fmt.get(i) == Some(&b'%') {
            out.push(b'%');
            i += 1;
            continue;
        }
        let mut spec = Spec { left: false, zero: false, plus: false, space: false, alt: false, width: 0, prec: None };
        while let Some(&f) = fmt.get(i) {
            match f {
                b'-' => spec.left = true,
                b'0' => spec.zero = true,
                b'+' => spec.plus = true,
                b' ' => spec.space = true,
                b'#' => spec.alt = true,
                _ => break,
            }
            i += 1;
        }
        if fmt.get(i) == Some(&b'*') {
            i += 1;
            let w = next(ai).map_or(0, |a| int_arg(a, err));
            if w < 0 {
                spec.left = true;
            }
            spec.width = w.unsigned_abs() as usize;
        } else {
            while let Some(d) = fmt.get(i).filter(|d| d.is_ascii_digit()) {
                spec.width = spec.width * 10 + (d - b'0') as usize;
                i += 1;
            }
        }
        if fmt.get(i) == Some(&b'.') {
            i += 1;
            let mut p = 0;
            if fmt.get(i) == Some(&b'*') {
                i += 1;
                p = next(ai).map_or(0, |a| int_arg(a, err)).max(0) as usize;
            } else {
                while let Some(d) = fmt.get(i).filter(|d| d.is_ascii_digit()) {
                    p = p * 10 + (d - b'0') as usize;
                    i += 1;
                }
            }
            spec.prec = Some(p);
        }
        // Length modifiers mean nothing here.
        while matches!(fmt.get(i), Some(b'l' | b'h' | b'j' | b'z' | b't' | b'L' | b'q')) {
            i += 1;
        }
        let Some(&conv) = fmt.get(i) else {
            err.push("%: invalid directive".into());
            return false;
        };
        i += 1;
        let sign = |neg: bool, s: &Spec| {
            if neg {
                "-"
            } else if s.plus {
                "+"
            } else if s.space {
                " "
            } else {
                ""
            }
        };
        match conv {
            b's' => {
                let a = next(ai).cloned().unwrap_or_default();
                let a: String = match spec.prec {
                    Some(p) => a.chars().take(p).collect(),
                    None => a,
                };
                out.extend(pad(&spec, a, false).into_bytes());
            }
            b'b' => {
                let a = next(ai).cloned().unwrap_or_default();
                let (b, stop) = backslash_escapes(&a);
                let s = String::from_utf8_lossy(&b).into_owned();
                out.extend(pad(&spec, s, false).into_bytes());
                if stop {
                    return true;
                }
            }
            b'c' => {
                let a = next(ai).cloned().unwrap_or_default();
                let s: String = a.chars().take(1).collect();
                out.extend(pad(&spec, s, false).into_bytes());
            }
            b'd' | b'i' => {
                let v = next(ai).map_or(0, |a| int_arg(a, err));
                let mut digits = v.unsigned_abs().to_string();
                if let Some(p) = spec.prec {
                    if digits.len() < p {
                        digits = format!("{}{digits}", "0".repeat(p - digits.len()));
                    }
                }
                let body = format!("{}{digits}", sign(v < 0, &spec));
                out.extend(pad(&spec, body, spec.prec.is_none()).into_bytes());
            }
            b'u' | b'x' | b'X' | b'o' => {
                let v = next(ai).map_or(0, |a| int_arg(a, err)) as u64;
                let mut digits = match conv {
                    b'u' => v.to_string(),
                    b'x' => format!("{v:x}"),
                    b'X' => format!("{v:X}"),
                    _ => format!("{v:o}"),
                };
                if let Some(p) = spec.prec {
                    if digits.len() < p {
                        digits = format!("{}{digits}", "0".repeat(p - digits.len()));
                    }
                }
                if spec.alt && v != 0 {
                    digits = match conv {
                        b'x' => format!("0x{digits}"),
                        b'X' => format!("0X{digits}"),
                        b'o' if !digits.starts_with('0') => format!("0{digits}"),
                        _ => digits,
                    };
                }
                out.extend(pad(&spec, digits, spec.prec.is_none()).into_bytes());
            }
            b'f' | b'F' | b'e' | b'E' | b'g' | b'G' => {
                let v = next(ai).map_or(0.0, |a| float_arg(a, err));
                let p = spec.prec.unwrap_or(6);
                let mag = match conv {
                    b'f' | b'F' => format!("{:.p$}", v.abs()),
                    b'e' | b'E' => fmt_exp(v.abs(), p, conv == b'E'),
                    _ => fmt_g(v.abs(), p, spec.alt, conv == b'G'),
                };
                let body = format!("{}{mag}", sign(v.is_sign_negative() && v != 0.0, &spec));
                out.extend(pad(&spec, body, true).into_bytes());
            }
            other => {
                err.push(format!("%{}: invalid directive", other as char));
                return false;
            }
        }
    }
    false
}

pub fn main(argv: &[String], io: &mut Io) -> i32 {
    let mut args = &argv[1..];
    if args.first().is_some_and(|a| a == "--") {
        args = &args[1..];
    }
    let Some(fmt) = args.first() else {
        io.err("printf", "usage: printf FORMAT [ARGUMENT...]");
        return 2;
    };
    let rest = &args[1..];
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut ai = 0;
    loop {
        let before = ai;
        if format_once(fmt.as_bytes(), rest, &mut ai, &mut out, &mut err) {
            break;
        }
        // Reuse the format only while it consumes arguments.
        if ai >= rest.len() || ai == before {
            break;
        }
    }
    io.out(&out);
    for e in &err {
        io.err("printf", e);
    }
    if err.is_empty() { 0 } else { 1 }
}

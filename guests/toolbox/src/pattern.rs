//! Shell pattern matching (`case`, `${x%pat}`, `[[`-less globbing) and
//! pathname expansion. A backslash in a pattern quotes the next character;
//! the shell uses that to keep quoted parts of a word literal.

use std::path::Path;

/// Does the character class name (`alpha` in `[[:alpha:]]`) contain `c`?
pub fn class_contains(name: &str, c: char) -> Option<bool> {
    Some(match name {
        "alpha" => c.is_alphabetic(),
        "digit" => c.is_ascii_digit(),
        "alnum" => c.is_alphanumeric(),
        "upper" => c.is_uppercase(),
        "lower" => c.is_lowercase(),
        "space" => c.is_whitespace(),
        "blank" => c == ' ' || c == '\t',
        "punct" => c.is_ascii_punctuation(),
        "xdigit" => c.is_ascii_hexdigit(),
        "cntrl" => c.is_control(),
        "print" => !c.is_control(),
        "graph" => !c.is_control() && c != ' ',
        _ => return None,
    })
}

/// Matches a bracket expression starting at `pat[i] == '['`. Returns
/// whether `c` matched and the index after the closing `]`, or None when
/// the bracket is not terminated (then `[` is an ordinary character).
fn bracket(pat: &[char], i: usize, c: char) -> Option<(bool, usize)> {
    let mut j = i + 1;
    let neg = matches!(pat.get(j), Some('!') | Some('^'));
    if neg {
        j += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &p = pat.get(j)?;
        if p == ']' && !first {
            return Some((matched != neg, j + 1));
        }
        first = false;
        if p == '[' && pat.get(j + 1) == Some(&':') {
            let rest: String = pat[j + 2..].iter().collect();
            if let Some(end) = rest.find(":]") {
                if let Some(m) = class_contains(&rest[..end], c) {
                    matched |= m;
                    j += 2 + rest[..end].chars().count() + 2;
                    continue;
                }
            }
        }
        let (lo, next) = if p == '\\' && j + 1 < pat.len() { (pat[j + 1], j + 2) } else { (p, j + 1) };
        if pat.get(next) == Some(&'-') && pat.get(next + 1).is_some_and(|&h| h != ']') {
            let (hi, after) = if pat[next + 1] == '\\' && next + 2 < pat.len() { (pat[next + 2], next + 3) } else { (pat[next + 1], next + 2) };
            matched |= lo <= c && c <= hi;
            j = after;
        } else {
            matched |= lo == c;
            j = next;
        }
    }
}

/// Matches the whole of `s` against the shell pattern `pat`.
pub fn fnmatch(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    match_chars(&p, &t)
}

pub fn match_chars(p: &[char], t: &[char]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, text index).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            let step = match p[pi] {
                '*' => {
                    star = Some((pi + 1, ti));
                    pi += 1;
                    continue;
                }
                '?' => (ti < t.len()).then_some(pi + 1),
                '[' => match (ti < t.len()).then(|| bracket(p, pi, t[ti])) {
                    Some(Some((true, next))) => Some(next),
                    Some(Some((false, _))) => None,
                    Some(None) => (t[ti] == '[').then_some(pi + 1),
                    None => None,
                },
                '\\' if pi + 1 < p.len() => (ti < t.len() && t[ti] == p[pi + 1]).then_some(pi + 2),
                c => (ti < t.len() && t[ti] == c).then_some(pi + 1),
            };
            if let Some(next) = step {
                pi = next;
                ti += 1;
                continue;
            }
        } else if ti == t.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                star = Some((sp, st + 1));
                pi = sp;
                ti = st + 1;
            }
            _ => return false,
        }
    }
}

/// Does the pattern contain an unquoted `*`, `?` or `[`?
pub fn has_glob(pat: &str) -> bool {
    let mut esc = false;
    for c in pat.chars() {
        if esc {
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if matches!(c, '*' | '?' | '[') {
            return true;
        }
    }
    false
}

/// Removes pattern quoting.
pub fn unescape(pat: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in pat.chars() {
        if !esc && c == '\\' {
            esc = true;
            continue;
        }
        esc = false;
        out.push(c);
    }
    out
}

/// Quotes every pattern-special character of `s`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Pathname expansion: the sorted existing paths matching `pat`, empty if
/// none (the caller then keeps the word as it was).
pub fn glob(pat: &str) -> Vec<String> {
    let absolute = pat.starts_with('/');
    let comps: Vec<&str> = pat.split('/').filter(|c| !c.is_empty()).collect();
    let mut found: Vec<String> = vec![if absolute { "/".to_owned() } else { String::new() }];
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        for base in &found {
            let join = |name: &str| if base.is_empty() || base.ends_with('/') { format!("{base}{name}") } else { format!("{base}/{name}") };
            if !has_glob(comp) {
                let p = join(&unescape(comp));
                let ok = if last { Path::new(&p).symlink_metadata().is_ok() } else { Path::new(&p).is_dir() };
                if ok {
                    next.push(p);
                }
                continue;
            }
            let dir = if base.is_empty() { "." } else { base.as_str() };
            let Ok(rd) = std::fs::read_dir(dir) else { continue };
            let mut names: Vec<String> = rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            for name in names {
                // Dot files only match a pattern that starts with a dot.
                if name.starts_with('.') && !comp.starts_with('.') && !comp.starts_with("\\.") {
                    continue;
                }
                if fnmatch(comp, &name) {
                    let p = join(&name);
                    if last || Path::new(&p).is_dir() {
                        next.push(p);
                    }
                }
            }
        }
        found = next;
        if found.is_empty() {
            break;
        }
    }
    if pat.ends_with('/') {
        for f in &mut found {
            f.push('/');
        }
    }
    if comps.is_empty() { Vec::new() } else { found }
}

#[cfg(test)]
mod t {
    use super::*;
    #[test]
    fn patterns() {
        assert!(fnmatch("*.txt", "a.txt"));
        assert!(!fnmatch("*.txt", "a.txd"));
        assert!(fnmatch("a?c", "abc"));
        assert!(fnmatch("[a-c]x", "bx"));
        assert!(fnmatch("[!a-c]x", "dx"));
        assert!(fnmatch("\\*", "*"));
        assert!(!fnmatch("\\*", "a"));
        assert!(fnmatch("*a*b*", "xxaybzz"));
        assert!(fnmatch("[[:digit:]]*", "1abc"));
        assert!(fnmatch("", ""));
        assert!(fnmatch("*", ""));
    }
}

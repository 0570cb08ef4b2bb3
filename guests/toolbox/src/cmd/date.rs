//! date: prints the time in UTC (guests have no time zone database; TZ is
//! ignored), with `+FORMAT`, `-I`, `-R`, `-d @EPOCH` / `-d 'YYYY-MM-DD
//! [HH:MM[:SS]]'` and `-r FILE`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::io::{Io, errmsg};

const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/// A broken-down UTC time.
pub struct Tm {
    pub year: i64,
    pub mon: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub wday: u32,
    pub yday: u32,
    pub nanos: u32,
    pub epoch: i64,
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic
/// Gregorian calendar (era-based arithmetic, 400-year cycles).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// The inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn tm_from_epoch(secs: i64, nanos: u32) -> Tm {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, mon, day) = civil_from_days(days);
    let yday = (days - days_from_civil(year, 1, 1)) as u32;
    Tm {
        year,
        mon,
        day,
        hour: (rem / 3600) as u32,
        min: (rem % 3600 / 60) as u32,
        sec: (rem % 60) as u32,
        wday: (days + 4).rem_euclid(7) as u32,
        yday,
        nanos,
        epoch: secs,
    }
}

pub fn now() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => (-(e.duration().as_secs() as i64), 0),
    }
}

pub fn system_time_epoch(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// strftime for the UTC zone.
pub fn strftime(fmt: &str, t: &Tm) -> String {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // GNU padding flags: `-` no padding, `_` space padding, `0` zeros.
        let mut flag = None;
        if let Some(&f) = it.peek() {
            if matches!(f, '-' | '_' | '0') {
                flag = Some(f);
                it.next();
            }
        }
        let Some(conv) = it.next() else {
            out.push('%');
            break;
        };
        let num = |v: i64, w: usize, default_pad: char| -> String {
            match flag {
                Some('-') => v.to_string(),
                Some('_') => format!("{v:>w$}"),
                Some('0') => format!("{v:0w$}"),
                _ if default_pad == ' ' => format!("{v:>w$}"),
                _ => format!("{v:0w$}"),
            }
        };
        let hour12 = if t.hour % 12 == 0 { 12 } else { t.hour % 12 } as i64;
        let s = match conv {
            'Y' => t.year.to_string(),
            'C' => num(t.year.div_euclid(100), 2, '0'),
            'y' => num(t.year.rem_euclid(100), 2, '0'),
            'm' => num(t.mon as i64, 2, '0'),
            'd' => num(t.day as i64, 2, '0'),
            'e' => num(t.day as i64, 2, ' '),
            'H' => num(t.hour as i64, 2, '0'),
            'k' => num(t.hour as i64, 2, ' '),
            'I' => num(hour12, 2, '0'),
            'l' => num(hour12, 2, ' '),
            'M' => num(t.min as i64, 2, '0'),
            'S' => num(t.sec as i64, 2, '0'),
            'N' => format!("{:09}", t.nanos),
            'j' => num(t.yday as i64 + 1, 3, '0'),
            'p' => (if t.hour < 12 { "AM" } else { "PM" }).into(),
            'P' => (if t.hour < 12 { "am" } else { "pm" }).into(),
            'a' => DAYS[t.wday as usize][..3].into(),
            'A' => DAYS[t.wday as usize].into(),
            'b' | 'h' => MONTHS[t.mon as usize - 1][..3].into(),
            'B' => MONTHS[t.mon as usize - 1].into(),
            'u' => (if t.wday == 0 { 7 } else { t.wday }).to_string(),
            'w' => t.wday.to_string(),
            's' => t.epoch.to_string(),
            'Z' => "UTC".into(),
            'z' => "+0000".into(),
            'F' => format!("{}-{:02}-{:02}", t.year, t.mon, t.day),
            'T' => format!("{:02}:{:02}:{:02}", t.hour, t.min, t.sec),
            'R' => format!("{:02}:{:02}", t.hour, t.min),
            'D' => format!("{:02}/{:02}/{:02}", t.mon, t.day, t.year.rem_euclid(100)),
            'c' => strftime("%a %b %e %H:%M:%S %Y", t),
            'x' => strftime("%m/%d/%y", t),
            'X' => strftime("%H:%M:%S", t),
            'r' => strftime("%I:%M:%S %p", t),
            'n' => "\n".into(),
            't' => "\t".into(),
            '%' => "%".into(),
            other => format!("%{other}"),
        };
        out.push_str(&s);
    }
    out
}

/// Parses `-d` values: `@EPOCH`, `now`, `YYYY-MM-DD`, with optional
/// ` HH:MM[:SS]` or `THH:MM[:SS][Z]`.
fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "now" || s.is_empty() {
        return Some(now().0);
    }
    if let Some(e) = s.strip_prefix('@') {
        return e.parse::<f64>().ok().map(|v| v.floor() as i64);
    }
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix(" UTC")).unwrap_or(s);
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    if dp.next().is_some() || !(1..=12).contains(&m) {
        return None;
    }
    let mdays = [31, if is_leap(y) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if d < 1 || d > mdays[m as usize - 1] {
        return None;
    }
    let (mut hh, mut mm, mut ss) = (0i64, 0i64, 0i64);
    if let Some(t) = time {
        let mut tp = t.split(':');
        hh = tp.next()?.parse().ok()?;
        mm = tp.next()?.parse().ok()?;
        if let Some(x) = tp.next() {
            ss = x.split('.').next()?.parse().ok()?;
        }
        if hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

pub fn main(argv: &[String], io: &mut Io) -> i32 {
    let mut fmt: Option<String> = None;
    let (mut secs, mut nanos) = now();
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        i += 1;
        if let Some(f) = a.strip_prefix('+') {
            fmt = Some(f.to_owned());
            continue;
        }
        let mut take = |name: &str| -> Option<String> {
            if a.len() > 2 && a.starts_with(name) {
                Some(a[2..].trim_start_matches('=').to_owned())
            } else {
                i += 1;
                argv.get(i - 1).cloned()
            }
        };
        match a {
            "-u" | "--utc" | "--universal" => {}
            "-R" | "--rfc-2822" | "--rfc-email" => fmt = Some("%a, %d %b %Y %H:%M:%S +0000".into()),
            "-I" | "-Idate" | "--iso-8601" | "--iso-8601=date" => fmt = Some("%Y-%m-%d".into()),
            "-Ihours" | "--iso-8601=hours" => fmt = Some("%Y-%m-%dT%H+00:00".into()),
            "-Iminutes" | "--iso-8601=minutes" => fmt = Some("%Y-%m-%dT%H:%M+00:00".into()),
            "-Iseconds" | "--iso-8601=seconds" => fmt = Some("%Y-%m-%dT%H:%M:%S+00:00".into()),
            "-Ins" | "--iso-8601=ns" => fmt = Some("%Y-%m-%dT%H:%M:%S,%N+00:00".into()),
            _ if a.starts_with("-d") || a.starts_with("--date") => {
                let v = if a.starts_with("--date") {
                    match a.strip_prefix("--date=") {
                        Some(v) => Some(v.to_owned()),
                        None => {
                            i += 1;
                            argv.get(i - 1).cloned()
                        }
                    }
                } else {
                    take("-d")
                };
                let Some(v) = v else {
                    io.err("date", "option requires an argument: d");
                    return 1;
                };
                match parse_date(&v) {
                    Some(s) => {
                        secs = s;
                        nanos = 0;
                    }
                    None => {
                        io.err("date", format_args!("invalid date '{v}'"));
                        return 1;
                    }
                }
            }
            _ if a.starts_with("-r") => {
                let Some(f) = take("-r") else {
                    io.err("date", "option requires an argument: r");
                    return 1;
                };
                match std::fs::metadata(&f).and_then(|m| m.modified()) {
                    Ok(t) => {
                        secs = system_time_epoch(t);
                        nanos = 0;
                    }
                    Err(e) => {
                        io.err("date", format_args!("{f}: {}", errmsg(&e)));
                        return 1;
                    }
                }
            }
            "-s" | "--set" => {
                io.err("date", "can't set date: not supported in WASI");
                return 1;
            }
            _ => {
                io.err("date", format_args!("invalid date '{a}'"));
                return 1;
            }
        }
    }
    let t = tm_from_epoch(secs, nanos);
    let f = fmt.unwrap_or_else(|| "%a %b %e %H:%M:%S %Z %Y".into());
    let mut s = strftime(&f, &t);
    s.push('\n');
    io.outs(&s);
    0
}

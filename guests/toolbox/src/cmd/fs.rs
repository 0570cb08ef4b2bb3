//! File commands: cat, ls, mkdir, rm, rmdir, touch, cp, mv, ln.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::date::{strftime, system_time_epoch, tm_from_epoch};
use super::parse_or_usage;
use crate::io::{Io, errmsg};

pub fn cat(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "nbuvetAs", true, io) else { return 1 };
    let files = if o.operands.is_empty() { vec!["-".to_owned()] } else { o.operands.clone() };
    let number = o.has('n') || o.has('b');
    let mut line_no = 0u64;
    let mut st = 0;
    for f in &files {
        let mut input = match io.open_in(f) {
            Ok(i) => i,
            Err(e) => {
                io.err("cat", format_args!("can't open '{f}': {}", errmsg(&e)));
                st = 1;
                continue;
            }
        };
        if !number {
            if let Err(e) = std::io::copy(&mut input, &mut io.stdout) {
                io.err("cat", format_args!("read error: {}", errmsg(&e)));
                st = 1;
            }
            continue;
        }
        let data = match input.read_all() {
            Ok(d) => d,
            Err(e) => {
                io.err("cat", format_args!("read error: {}", errmsg(&e)));
                st = 1;
                continue;
            }
        };
        let mut out = Vec::new();
        for line in data.split_inclusive(|&b| b == b'\n') {
            let blank = line == b"\n";
            if o.has('b') && blank {
                out.extend_from_slice(line);
                continue;
            }
            line_no += 1;
            out.extend(format!("{line_no:6}\t").into_bytes());
            out.extend_from_slice(line);
        }
        io.out(&out);
    }
    st
}

#[cfg(unix)]
fn mode_and_links(_path: &Path, m: &fs::Metadata) -> (u32, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.mode(), m.nlink())
}

/// WASI reports neither permission bits nor link counts (and its
/// read-only flag is not reliable): the permission bits come from the
/// runtime (`wasmpod:identity`'s `mode`: as the pod set them), else the
/// usual defaults for the type; one link.
#[cfg(not(unix))]
fn mode_and_links(path: &Path, m: &fs::Metadata) -> (u32, u64) {
    let ft = m.file_type();
    let (kind, usual) = if ft.is_dir() {
        (0o040000, 0o755)
    } else if ft.is_symlink() {
        (0o120000, 0o777)
    } else {
        (0o100000, 0o644)
    };
    (kind | crate::identity::mode(path).unwrap_or(usual), 1)
}

fn mode_string(mode: u32) -> String {
    let t = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let mut s = String::from(t);
    // setuid, setgid and sticky show in the execute column: s/t over x,
    // S/T without it.
    for (shift, special, set) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => set,
            (false, true) => set.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

fn human(n: u64) -> String {
    if n < 1024 {
        return n.to_string();
    }
    let mut v = n as f64;
    for unit in ["K", "M", "G", "T", "P"] {
        v /= 1024.0;
        if v < 1024.0 {
            return if v < 10.0 { format!("{v:.1}{unit}") } else { format!("{v:.0}{unit}") };
        }
    }
    format!("{v:.0}E")
}

struct LsOpts {
    long: bool,
    all: bool,
    almost_all: bool,
    dir_itself: bool,
    recursive: bool,
    reverse: bool,
    by_time: bool,
    human: bool,
    classify: bool,
}

struct Entry {
    name: String,
    path: PathBuf,
    meta: Option<fs::Metadata>,
}

fn ls_line(e: &Entry, o: &LsOpts, now: i64) -> String {
    let mut name = e.name.clone();
    let Some(m) = &e.meta else { return name };
    if o.classify {
        if m.is_dir() {
            name.push('/');
        } else if m.file_type().is_symlink() {
            name.push('@');
        }
    }
    if !o.long {
        return name;
    }
    let (mode, links) = mode_and_links(&e.path, m);
    let size = if o.human { human(m.len()) } else { m.len().to_string() };
    let mtime = m.modified().map(system_time_epoch).unwrap_or(0);
    let tm = tm_from_epoch(mtime, 0);
    // Like ls: the year instead of the time for files older than ~6 months.
    let when = if (now - mtime).abs() < 183 * 86_400 { strftime("%b %e %H:%M", &tm) } else { strftime("%b %e  %Y", &tm) };
    let (uid, gid) = crate::identity::owner(&e.path);
    let (user, group) = (crate::identity::name_or_number(uid), crate::identity::name_or_number(gid));
    let mut line = format!("{} {links:>4} {user:<8} {group:<8} {size:>9} {when} {name}", mode_string(mode));
    if m.file_type().is_symlink() {
        if let Ok(t) = fs::read_link(&e.path) {
            line.push_str(&format!(" -> {}", t.display()));
        }
    }
    line
}

fn sort_entries(v: &mut [Entry], o: &LsOpts) {
    if o.by_time {
        let t = |e: &Entry| e.meta.as_ref().and_then(|m| m.modified().ok()).unwrap_or(SystemTime::UNIX_EPOCH);
        v.sort_by(|a, b| t(b).cmp(&t(a)).then_with(|| a.name.cmp(&b.name)));
    } else {
        v.sort_by(|a, b| a.name.cmp(&b.name));
    }
    if o.reverse {
        v.reverse();
    }
}

fn list_dir(dir: &Path, o: &LsOpts, now: i64, out: &mut String, io: &mut Io) -> i32 {
    let rd = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) => {
            io.err("ls", format_args!("can't open '{}': {}", dir.display(), errmsg(&e)));
            return 2;
        }
    };
    let mut entries = Vec::new();
    if o.all {
        for n in [".", ".."] {
            let p = dir.join(n);
            entries.push(Entry { name: n.into(), meta: fs::symlink_metadata(&p).ok(), path: p });
        }
    }
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && !o.all && !o.almost_all {
            continue;
        }
        let p = e.path();
        entries.push(Entry { name, meta: fs::symlink_metadata(&p).ok(), path: p });
    }
    sort_entries(&mut entries, o);
    if o.long {
        let total: u64 = entries.iter().filter_map(|e| e.meta.as_ref()).map(|m| m.len().div_ceil(1024)).sum();
        out.push_str(&format!("total {total}\n"));
    }
    for e in &entries {
        out.push_str(&ls_line(e, o, now));
        out.push('\n');
    }
    let mut st = 0;
    if o.recursive {
        for e in &entries {
            if e.name == "." || e.name == ".." || !e.meta.as_ref().is_some_and(|m| m.is_dir()) {
                continue;
            }
            out.push_str(&format!("\n{}:\n", e.path.display()));
            st = st.max(list_dir(&e.path, o, now, out, io));
        }
    }
    st
}

pub fn ls(argv: &[String], io: &mut Io) -> i32 {
    let Some(f) = parse_or_usage(argv, "laA1dRrthFCxsSnogG", true, io) else { return 1 };
    let o = LsOpts {
        long: f.has('l') || f.has('n') || f.has('o') || f.has('g'),
        all: f.has('a'),
        almost_all: f.has('A'),
        dir_itself: f.has('d'),
        recursive: f.has('R'),
        reverse: f.has('r'),
        by_time: f.has('t'),
        human: f.has('h'),
        classify: f.has('F'),
    };
    let now = super::date::now().0;
    let operands = if f.operands.is_empty() { vec![".".to_owned()] } else { f.operands.clone() };
    let mut st = 0;
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for op in &operands {
        match fs::symlink_metadata(op) {
            Ok(m) => {
                let is_dir = m.is_dir() || (m.file_type().is_symlink() && !o.long && Path::new(op).is_dir());
                let e = Entry { name: op.clone(), path: PathBuf::from(op), meta: Some(m) };
                if is_dir && !o.dir_itself { dirs.push(e) } else { files.push(e) }
            }
            Err(e) => {
                io.err("ls", format_args!("{op}: {}", errmsg(&e)));
                st = 2;
            }
        }
    }
    sort_entries(&mut files, &o);
    sort_entries(&mut dirs, &o);
    let mut out = String::new();
    for e in &files {
        out.push_str(&ls_line(e, &o, now));
        out.push('\n');
    }
    let headers = operands.len() > 1 || o.recursive;
    for (k, d) in dirs.iter().enumerate() {
        if headers {
            if k > 0 || !files.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("{}:\n", d.name));
        }
        st = st.max(list_dir(&d.path, &o, now, &mut out, io));
    }
    io.outs(&out);
    st
}

pub fn mkdir(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "pm:v", true, io) else { return 1 };
    if o.operands.is_empty() {
        io.err("mkdir", "missing operand");
        return 1;
    }
    let mut st = 0;
    for d in &o.operands {
        let r = if o.has('p') { fs::create_dir_all(d) } else { fs::create_dir(d) };
        if let Err(e) = r {
            io.err("mkdir", format_args!("can't create directory '{d}': {}", errmsg(&e)));
            st = 1;
        } else if o.has('v') {
            let _ = writeln!(io.stdout, "mkdir: created directory '{d}'");
        }
    }
    st
}

pub fn rm(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "rRfiv", true, io) else { return 1 };
    let force = o.has('f');
    let recursive = o.has('r') || o.has('R');
    if o.operands.is_empty() && !force {
        io.err("rm", "missing operand");
        return 1;
    }
    let mut st = 0;
    for p in &o.operands {
        let meta = match fs::symlink_metadata(p) {
            Ok(m) => m,
            Err(e) => {
                if !force {
                    io.err("rm", format_args!("can't remove '{p}': {}", errmsg(&e)));
                    st = 1;
                }
                continue;
            }
        };
        let r = if meta.is_dir() {
            if !recursive {
                io.err("rm", format_args!("'{p}' is a directory"));
                st = 1;
                continue;
            }
            fs::remove_dir_all(p)
        } else {
            fs::remove_file(p)
        };
        match r {
            Ok(()) if o.has('v') => {
                let _ = writeln!(io.stdout, "removed '{p}'");
            }
            Ok(()) => {}
            Err(e) => {
                io.err("rm", format_args!("can't remove '{p}': {}", errmsg(&e)));
                st = 1;
            }
        }
    }
    st
}

pub fn rmdir(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "pv", true, io) else { return 1 };
    if o.operands.is_empty() {
        io.err("rmdir", "missing operand");
        return 1;
    }
    let mut st = 0;
    for d in &o.operands {
        let mut cur = PathBuf::from(d.trim_end_matches('/'));
        loop {
            if let Err(e) = fs::remove_dir(&cur) {
                io.err("rmdir", format_args!("'{}': {}", cur.display(), errmsg(&e)));
                st = 1;
                break;
            }
            if !o.has('p') {
                break;
            }
            match cur.parent() {
                Some(p) if !p.as_os_str().is_empty() && p != Path::new("/") => cur = p.to_path_buf(),
                _ => break,
            }
        }
    }
    st
}

pub fn touch(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "cam", true, io) else { return 1 };
    if o.operands.is_empty() {
        io.err("touch", "missing operand");
        return 1;
    }
    let mut st = 0;
    for f in &o.operands {
        let p = Path::new(f);
        let r = if p.is_dir() {
            fs::File::open(p)
        } else if p.exists() || o.has('c') {
            if !p.exists() {
                continue;
            }
            fs::File::options().write(true).open(p)
        } else {
            fs::File::options().write(true).create(true).truncate(false).open(p)
        };
        let r = r.and_then(|file| file.set_modified(SystemTime::now()));
        if let Err(e) = r {
            io.err("touch", format_args!("{f}: {}", errmsg(&e)));
            st = 1;
        }
    }
    st
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let m = fs::symlink_metadata(src)?;
    if m.is_dir() {
        if !dst.is_dir() {
            fs::create_dir(dst)?;
        }
        for e in fs::read_dir(src)? {
            let e = e?;
            copy_tree(&e.path(), &dst.join(e.file_name()))?;
        }
        Ok(())
    } else {
        fs::copy(src, dst).map(|_| ())
    }
}

/// Resolves `cp/mv SRC... DEST`: the target path for each source.
fn targets(cmd: &str, ops: &[String], io: &mut Io) -> Option<Vec<(String, PathBuf)>> {
    if ops.len() < 2 {
        io.err(cmd, "missing file operand");
        return None;
    }
    let (srcs, dest) = ops.split_at(ops.len() - 1);
    let dest = Path::new(&dest[0]);
    let into_dir = dest.is_dir();
    if srcs.len() > 1 && !into_dir {
        io.err(cmd, format_args!("'{}' is not a directory", dest.display()));
        return None;
    }
    Some(
        srcs.iter()
            .map(|s| {
                let t = if into_dir {
                    let base = Path::new(s.trim_end_matches('/')).file_name().map(|b| b.to_os_string()).unwrap_or_default();
                    dest.join(base)
                } else {
                    dest.to_path_buf()
                };
                (s.clone(), t)
            })
            .collect(),
    )
}

pub fn cp(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "rRapfivdPLnT", true, io) else { return 1 };
    let recursive = o.has('r') || o.has('R') || o.has('a');
    let Some(list) = targets("cp", &o.operands, io) else { return 1 };
    let mut st = 0;
    for (src, dst) in list {
        let m = match fs::metadata(&src) {
            Ok(m) => m,
            Err(e) => {
                io.err("cp", format_args!("can't stat '{src}': {}", errmsg(&e)));
                st = 1;
                continue;
            }
        };
        if o.has('n') && dst.exists() {
            continue;
        }
        let r = if m.is_dir() {
            if !recursive {
                io.err("cp", format_args!("omitting directory '{src}'"));
                st = 1;
                continue;
            }
            copy_tree(Path::new(&src), &dst)
        } else if dst == Path::new("/dev/null") {
            Ok(())
        } else {
            fs::copy(&src, &dst).map(|_| ())
        };
        if let Err(e) = r {
            io.err("cp", format_args!("can't create '{}': {}", dst.display(), errmsg(&e)));
            st = 1;
        } else if o.has('v') {
            let _ = writeln!(io.stdout, "'{src}' -> '{}'", dst.display());
        }
    }
    st
}

pub fn mv(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "fivnT", true, io) else { return 1 };
    let Some(list) = targets("mv", &o.operands, io) else { return 1 };
    let mut st = 0;
    for (src, dst) in list {
        if fs::symlink_metadata(&src).is_err() {
            io.err("mv", format_args!("can't rename '{src}': No such file or directory"));
            st = 1;
            continue;
        }
        if o.has('n') && dst.exists() {
            continue;
        }
        let r = fs::rename(&src, &dst).or_else(|e| {
            // Across mounts (volumes), rename fails: copy, then remove.
            if e.kind() == std::io::ErrorKind::CrossesDevices {
                copy_tree(Path::new(&src), &dst)?;
                if Path::new(&src).is_dir() { fs::remove_dir_all(&src) } else { fs::remove_file(&src) }
            } else {
                Err(e)
            }
        });
        if let Err(e) = r {
            io.err("mv", format_args!("can't rename '{src}': {}", errmsg(&e)));
            st = 1;
        }
    }
    st
}

/// Creates a symbolic link. Rust's `std::os::wasi::fs::symlink_path` is
/// unstable, so on WASI this calls wasi-libc's `symlink`, which std links
/// anyway and which resolves `link` against the preopens as every other
/// path call does.
#[cfg(target_os = "wasi")]
fn symlink(target: &str, link: &Path) -> std::io::Result<()> {
    use std::ffi::{CString, c_char, c_int};
    unsafe extern "C" {
        fn symlink(target: *const c_char, link: *const c_char) -> c_int;
    }
    let nul = |_| std::io::Error::from(std::io::ErrorKind::InvalidInput);
    let t = CString::new(target).map_err(nul)?;
    let l = CString::new(link.to_string_lossy().into_owned()).map_err(nul)?;
    // SAFETY: both pointers are NUL-terminated strings that outlive the call.
    if unsafe { symlink(t.as_ptr(), l.as_ptr()) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(unix)]
fn symlink(target: &str, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(any(unix, target_os = "wasi")))]
fn symlink(_target: &str, _link: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// `ln [-sf] TARGET [LINK]`, `ln [-sf] TARGET... DIR`: hard links, or
/// symbolic links with `-s` (the target text is stored as written).
pub fn ln(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "sfnv", true, io) else { return 1 };
    let list = match o.operands.len() {
        0 => {
            io.err("ln", "missing file operand");
            return 1;
        }
        // `ln TARGET` links into the current directory under the same name.
        1 => {
            let base = Path::new(o.operands[0].trim_end_matches('/')).file_name().map(PathBuf::from).unwrap_or_default();
            vec![(o.operands[0].clone(), base)]
        }
        _ => match targets("ln", &o.operands, io) {
            Some(l) => l,
            None => return 1,
        },
    };
    let mut st = 0;
    for (target, link) in list {
        if o.has('f') && fs::symlink_metadata(&link).is_ok_and(|m| !m.is_dir()) {
            let _ = fs::remove_file(&link);
        }
        let r = if o.has('s') { symlink(&target, &link) } else { fs::hard_link(&target, &link) };
        match r {
            Ok(()) if o.has('v') => {
                let _ = writeln!(io.stdout, "'{}' -> '{target}'", link.display());
            }
            Ok(()) => {}
            Err(e) => {
                io.err("ln", format_args!("{}: {}", link.display(), errmsg(&e)));
                st = 1;
            }
        }
    }
    st
}

/// `stat [-L] [-c FORMAT] FILE...`: busybox's default layout, or FORMAT
/// with %n %N %s %F %a %A %u %U %g %G %Y %y %h %%. WASI shows no inode,
/// device or modes: modes and owners come from wasmpod (see
/// `identity.rs`), the rest are the defaults `ls -l` shows too.
pub fn stat(argv: &[String], io: &mut Io) -> i32 {
    let Some(o) = parse_or_usage(argv, "Lc:", true, io) else { return 1 };
    if o.operands.is_empty() {
        io.err("stat", "missing operand");
        return 1;
    }
    let mut st = 0;
    for f in &o.operands {
        let meta = if o.has('L') { fs::metadata(f) } else { fs::symlink_metadata(f) };
        let m = match meta {
            Ok(m) => m,
            Err(e) => {
                io.err("stat", format_args!("can't stat '{f}': {}", errmsg(&e)));
                st = 1;
                continue;
            }
        };
        let (mode, links) = mode_and_links(Path::new(f), &m);
        let (uid, gid) = crate::identity::owner(Path::new(f));
        let kind = if m.is_dir() {
            "directory"
        } else if m.file_type().is_symlink() {
            "symbolic link"
        } else if m.len() == 0 {
            "regular empty file"
        } else {
            "regular file"
        };
        let mtime = m.modified().map(system_time_epoch).unwrap_or(0);
        let when = strftime("%Y-%m-%d %H:%M:%S.000000000 +0000", &tm_from_epoch(mtime, 0));
        let user = crate::identity::name(uid).unwrap_or("UNKNOWN");
        let group = crate::identity::name(gid).unwrap_or("UNKNOWN");
        let out = match o.val('c') {
            Some(fmt) => {
                let mut s = String::new();
                let mut chars = fmt.chars();
                while let Some(c) = chars.next() {
                    if c != '%' {
                        s.push(c);
                        continue;
                    }
                    match chars.next() {
                        Some('n') => s.push_str(f),
                        Some('N') => s.push_str(&format!("'{f}'")),
                        Some('s') => s.push_str(&m.len().to_string()),
                        Some('F') => s.push_str(kind),
                        Some('a') => s.push_str(&format!("{:o}", mode & 0o7777)),
                        Some('A') => s.push_str(&mode_string(mode)),
                        Some('u') => s.push_str(&uid.to_string()),
                        Some('U') => s.push_str(user),
                        Some('g') => s.push_str(&gid.to_string()),
                        Some('G') => s.push_str(group),
                        Some('h') => s.push_str(&links.to_string()),
                        Some('Y') => s.push_str(&mtime.to_string()),
                        Some('y') => s.push_str(&when),
                        Some('%') => s.push('%'),
                        Some(other) => {
                            s.push('?');
                            s.push(other);
                        }
                        None => s.push('%'),
                    }
                }
                s
            }
            None => format!(
                "  File: {f}\n  Size: {:<10}\tBlocks: {:<10} IO Block: 4096   {kind}\nLinks: {links}\nAccess: ({:04o}/{})  Uid: ({uid:>5}/{user:>8})   Gid: ({gid:>5}/{group:>8})\nModify: {when}",
                m.len(),
                m.len().div_ceil(512),
                mode & 0o7777,
                mode_string(mode)
            ),
        };
        let _ = writeln!(io.stdout, "{out}");
    }
    st
}

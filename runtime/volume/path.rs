//! Host paths inside a volume or a container's root, resolved so that
//! nothing a guest wrote can send the host outside them.
//!
//! Guests can create symbolic links inside writable volumes (and inside
//! their own root). wasmtime's preopens already confine the guest itself,
//! but the *host* follows links when it opens a preopen's directory or
//! creates a mount point, so every host-side walk here goes one component
//! at a time and checks each link it meets.

use std::io;
use std::path::{Component, Path, PathBuf};

/// What is at the end of a subPath.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// A directory (after following links that stay inside the root).
    Dir(PathBuf),
    /// A regular file (or anything else that is not a directory).
    File(PathBuf),
}

/// Why a subPath cannot be used.
#[derive(Debug)]
pub(super) enum Refusal {
    /// A component, or a link it follows, leads outside the root.
    Outside,
    /// A component in the middle of the path is not a directory.
    NotADirectory,
    /// The path does not exist and `create` was false.
    Missing,
    /// The host failed.
    Io(io::Error),
}

impl From<io::Error> for Refusal {
    fn from(e: io::Error) -> Self {
        Refusal::Io(e)
    }
}

/// Resolves `sub` (relative, already checked for `..` and absolute forms)
/// beneath `root`, following symbolic links only while they stay inside
/// `root`; with `create`, missing components are created as directories,
/// as the kubelet creates a missing subPath.
///
/// Not closed: a guest of the same pod running at that moment could swap a
/// checked directory for a link before the preopen opens it by path
/// (wasmtime-wasi 48's `preopened_dir` takes no handle). This protects the
/// host from what a guest left behind, not from that race.
pub(super) fn resolve_beneath(root: &Path, sub: &str, create: bool) -> Result<Found, Refusal> {
    let root = root.canonicalize()?;
    let parts: Vec<&str> = sub.split(['/', '\\']).filter(|p| !p.is_empty() && *p != ".").collect();
    let mut cur = root.clone();
    for (i, part) in parts.iter().enumerate() {
        if *part == ".." || Path::new(part).components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(Refusal::Outside);
        }
        let last = i + 1 == parts.len();
        let next = cur.join(part);
        match std::fs::symlink_metadata(&next) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !create {
                    return Err(Refusal::Missing);
                }
                std::fs::create_dir(&next)?;
                cur = next;
            }
            Err(e) => return Err(e.into()),
            Ok(m) if m.file_type().is_symlink() => {
                // A dangling link resolves nowhere: refuse rather than create
                // whatever it names.
                let target = next.canonicalize().map_err(|_| Refusal::Outside)?;
                if !target.starts_with(&root) {
                    return Err(Refusal::Outside);
                }
                if !target.is_dir() {
                    return if last { Ok(Found::File(target)) } else { Err(Refusal::NotADirectory) };
                }
                cur = target;
            }
            Ok(m) if m.is_dir() => cur = next,
            Ok(_) if last => return Ok(Found::File(next)),
            Ok(_) => return Err(Refusal::NotADirectory),
        }
    }
    Ok(Found::Dir(cur))
}

/// Where a guest path lands under `root`, creating the directories on the
/// way (`dirs` components; the rest is the file name, if any). Stops at the
/// first component that is a link or not a directory: a mount point or
/// copy destination is never created through a link a guest planted.
/// Returns the host path when every directory exists.
pub(crate) fn create_beneath(root: &Path, guest: &str, with_file_name: bool) -> Option<PathBuf> {
    let mut parts: Vec<&str> = Vec::new();
    // Lexical normalization, as the guest sees its own paths: `..` stops at `/`.
    for part in guest.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p if p.contains(':') => {} // a Windows drive or stream prefix
            p => parts.push(p),
        }
    }
    let file = if with_file_name { parts.pop() } else { None };
    let mut cur = root.to_path_buf();
    for part in parts {
        cur.push(part);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return None,
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir(&cur).ok()?,
            Err(_) => return None,
        }
    }
    if let Some(f) = file {
        cur.push(f);
    }
    Some(cur)
}

/// Writes `contents` as the file at guest path `guest` beneath `root`
/// (its directories created as [`create_beneath`] creates them), replacing
/// whatever is there, and never through a link a guest planted at that
/// path. Returns the host path.
pub(crate) fn write_file_beneath(root: &Path, guest: &str, contents: &[u8]) -> io::Result<PathBuf> {
    use std::io::Write as _;
    let host = create_beneath(root, guest, true).ok_or_else(|| io::Error::other(format!("{guest}: a link or a file where a directory should be")))?;
    if let Ok(meta) = std::fs::symlink_metadata(&host)
        && !meta.is_file()
    {
        if meta.is_dir() {
            std::fs::remove_dir_all(&host)?;
        } else {
            std::fs::remove_file(&host)?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    open_no_follow(&host, &mut options)?.write_all(contents)?;
    Ok(host)
}

/// Opens `path` with `options`, refusing a link at its last component.
pub(crate) fn open_no_follow(path: &Path, options: &mut std::fs::OpenOptions) -> io::Result<std::fs::File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a link"));
    }
    options.open(path)
}

/// Copies the tree at `src` into the directory `dst` (created if missing):
/// directories, files with their permissions, and, on Unix, symbolic
/// links as links; what an earlier, interrupted copy left is replaced.
/// For a container root no instance has run in yet: `dst` holds nothing a
/// guest made, so no link there can lead the copy elsewhere.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let kind = entry.file_type()?;
        let there = std::fs::symlink_metadata(&to).ok();
        if kind.is_dir() {
            if there.as_ref().is_some_and(|m| !m.is_dir()) {
                std::fs::remove_file(&to)?;
            }
            copy_tree(&from, &to)?;
            continue;
        }
        match there {
            Some(m) if m.is_dir() => std::fs::remove_dir_all(&to)?,
            Some(_) => std::fs::remove_file(&to)?,
            None => {}
        }
        if kind.is_symlink() {
            #[cfg(unix)]
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else {
            std::fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_paths_are_created_and_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("vol");
        std::fs::create_dir(&root).unwrap();
        let canon = root.canonicalize().unwrap();
        assert_eq!(resolve_beneath(&root, "a/b", true).unwrap(), Found::Dir(canon.join("a").join("b")));
        assert!(matches!(resolve_beneath(&root, "missing", false), Err(Refusal::Missing)));
        std::fs::write(root.join("a/f"), "x").unwrap();
        assert_eq!(resolve_beneath(&root, "a/f", false).unwrap(), Found::File(canon.join("a").join("f")));
        assert!(matches!(resolve_beneath(&root, "a/f/g", true), Err(Refusal::NotADirectory)));
    }

    #[test]
    fn guest_paths_are_normalized_and_never_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(create_beneath(root, "/srv/app", false), Some(root.join("srv").join("app")));
        assert_eq!(create_beneath(root, "/../../../../home/u/x", false), Some(root.join("home").join("u").join("x")));
        assert_eq!(create_beneath(root, "a/./b/../c", false), Some(root.join("a").join("c")));
        assert_eq!(create_beneath(root, "C:\\Windows", false), Some(root.join("Windows")));
        assert_eq!(create_beneath(root, "/", false), Some(root.to_path_buf()));
        assert!(root.join("home/u/x").is_dir());
    }

    #[cfg(unix)]
    #[test]
    fn links_that_leave_the_root_are_refused_and_inner_links_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("vol");
        std::fs::create_dir_all(root.join("inner")).unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../outside", root.join("rel")).unwrap();
        std::os::unix::fs::symlink("inner", root.join("ok")).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join("dangling")).unwrap();
        for sub in ["abs", "rel", "rel/x", "dangling"] {
            assert!(matches!(resolve_beneath(&root, sub, true), Err(Refusal::Outside)), "{sub}");
        }
        assert!(!dir.path().join("outside/x").exists());
        assert!(!root.join("nowhere").exists());
        let canon = root.canonicalize().unwrap();
        assert_eq!(resolve_beneath(&root, "ok/d", true).unwrap(), Found::Dir(canon.join("inner").join("d")));
        // A planted link is never a mount point's parent.
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("etc")).unwrap();
        assert_eq!(create_beneath(&root, "/etc/app/x", false), None);
        assert!(!dir.path().join("outside/app").exists());
        assert_eq!(create_beneath(&root, "/srv/../data/f", true), Some(root.join("data").join("f")));
        assert!(root.join("data").is_dir() && !root.join("data/f").exists());
    }

    #[test]
    fn a_written_file_replaces_what_was_there_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_file_beneath(dir.path(), "/dev/termination-log", b"first").unwrap();
        assert_eq!(file, dir.path().join("dev/termination-log"));
        write_file_beneath(dir.path(), "/dev/termination-log", b"").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "", "replaced empty");
        #[cfg(unix)]
        {
            let secret = dir.path().join("host-secret");
            std::fs::write(&secret, "host").unwrap();
            std::fs::remove_file(&file).unwrap();
            std::os::unix::fs::symlink(&secret, &file).unwrap();
            assert!(open_no_follow(&file, std::fs::OpenOptions::new().read(true)).is_err(), "a link is not followed");
            write_file_beneath(dir.path(), "/dev/termination-log", b"mine").unwrap();
            assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host", "the link's target is untouched");
            assert!(std::fs::symlink_metadata(&file).unwrap().is_file(), "the link was replaced by a file");
        }
    }
}

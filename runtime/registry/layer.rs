//! Filesystem layers: a wasm image built as a classic OCI or Docker image
//! (`docker buildx build --platform wasi/wasm`, a `FROM scratch` with
//! `COPY app.wasm /` and `ENTRYPOINT ["/app.wasm"]`) carries its `.wasm`
//! inside a tar (or tar+gzip) layer. The program is the file the config's
//! Entrypoint (else Cmd) names, as the layers stack it: a later layer's
//! file wins, its whiteouts (`.wh.NAME`) delete and its opaque markers
//! (`.wh..wh..opq`) hide what lower layers hold; symbolic and hard links
//! are followed. Without an Entrypoint or Cmd, the image's one `.wasm`
//! file is taken.
//!
//! Layers are untrusted: every byte read through the decompressor counts
//! against `max_unpacked` (a gzip bomb stops there), the number of
//! entries against `max_entries`, and the program itself against
//! `max_file`. Nothing is written to disk but the program, by the caller.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Media types of filesystem layers (tar, optionally gzip-compressed).
pub(super) const FILESYSTEM_LAYERS: [&str; 4] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
];

/// How much unpacking one image may do.
#[derive(Debug, Clone, Copy)]
pub(super) struct UnpackLimits {
    /// The largest program taken, in bytes.
    pub max_file: u64,
    /// The most bytes read out of all layers' decompressors together.
    pub max_unpacked: u64,
    /// The most tar entries in all layers together.
    pub max_entries: u64,
}

/// Symbolic links followed before giving up (Linux's own limit is 40).
const MAX_LINK_HOPS: usize = 16;

/// The path of the program an image's config names: Entrypoint's first
/// word, else Cmd's, taken from WorkingDir when relative. None: the
/// config names none.
pub(super) fn program_path(entrypoint: &[String], cmd: &[String], working_dir: Option<&str>) -> Option<String> {
    let first = entrypoint.first().or(cmd.first())?;
    let path = if first.starts_with('/') { first.clone() } else { format!("{}/{first}", working_dir.unwrap_or("/")) };
    normalize(&path)
}

/// `path` as an archive path: no leading `/` or `./`, no `.` or empty
/// parts, `..` applied (never above the root). None: the root itself.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() { None } else { Some(parts.join("/")) }
}

/// A running count of what the layers of one image cost to read.
struct Budget {
    limits: UnpackLimits,
    unpacked: u64,
    entries: u64,
}

/// Reads through `inner`, charging every byte to the budget's unpacked
/// total; past the limit, reads fail.
struct Counted<'a, R> {
    inner: R,
    budget: &'a mut Budget,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.budget.unpacked += n as u64;
        if self.budget.unpacked > self.budget.limits.max_unpacked {
            return Err(std::io::Error::other(format!("its layers unpack to more than {} bytes", self.budget.limits.max_unpacked)));
        }
        Ok(n)
    }
}

/// The path a whiteout entry `dir/.wh.NAME` deletes; none for a name that
/// is no file (`.wh.`, `.wh..`, `.wh...`).
fn whiteout_target(dir: &str, base: &str) -> Option<String> {
    let gone = base.strip_prefix(".wh.")?;
    if gone.is_empty() || gone == "." || gone == ".." || gone.contains('/') {
        return None;
    }
    Some(if dir.is_empty() { gone.to_owned() } else { format!("{dir}/{gone}") })
}

/// What one layer says about a path.
enum Found {
    /// A regular file with these bytes.
    File(Vec<u8>),
    /// A link to this (normalized) path.
    Link(String),
    /// Something that is not a file (a directory, a device).
    Other(&'static str),
    /// Deleted (a whiteout, or an opaque directory above it): lower layers
    /// do not count.
    Deleted,
    /// Not in this layer.
    Absent,
}

/// Opens a stored layer for reading its tar stream, decompressing gzip
/// (by its magic bytes, whatever the media type says).
fn open_layer<'a>(path: &Path, budget: &'a mut Budget) -> Result<tar::Archive<Counted<'a, Box<dyn Read>>>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let inner: Box<dyn Read> = match head {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => return Err("it is zstd-compressed, which wasmpod does not unpack: publish it with gzip layers".into()),
        _ => Box::new(reader),
    };
    Ok(tar::Archive::new(Counted { inner, budget }))
}

/// Iterates a layer's entries within the budget, calling `each` with the
/// entry's normalized path; `each` returns true to stop.
fn scan(
    path: &Path,
    budget: &mut Budget,
    mut each: impl FnMut(&str, &mut tar::Entry<'_, Counted<'_, Box<dyn Read>>>) -> Result<bool, String>,
) -> Result<(), String> {
    let max_entries = budget.limits.max_entries;
    // Entries count over all the image's layers (and each scan again).
    let mut count = budget.entries;
    let result = (|| {
        let mut archive = open_layer(path, budget)?;
        let entries = archive.entries().map_err(|e| format!("it is not a tar archive: {e}"))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| format!("it is not a readable tar archive: {e}"))?;
            count += 1;
            if count > max_entries {
                return Err(format!("its layers hold more than {max_entries} files"));
            }
            let raw = entry.path().map_err(|e| format!("a file's name is not readable: {e}"))?.to_string_lossy().into_owned();
            let Some(name) = normalize(&raw) else { continue };
            if each(&name, &mut entry)? {
                break;
            }
        }
        Ok(())
    })();
    budget.entries = count;
    result
}

/// Reads a regular file's bytes, at most `max` of them.
fn read_file<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str, max: u64) -> Result<Vec<u8>, String> {
    let size = entry.header().size().map_err(|e| format!("{name}: bad size: {e}"))?;
    if size > max {
        return Err(format!("/{name} is {size} bytes, more than the limit of {max}"));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    entry.take(max + 1).read_to_end(&mut bytes).map_err(|e| format!("reading /{name}: {e}"))?;
    Ok(bytes)
}

/// What layer `path` says about `wanted`.
fn look_up(path: &Path, wanted: &str, budget: &mut Budget) -> Result<Found, String> {
    let max_file = budget.limits.max_file;
    let mut found = Found::Absent;
    let mut deleted = false;
    scan(path, budget, |name, entry| {
        let (dir, base) = name.rsplit_once('/').map_or(("", name), |(d, b)| (d, b));
        let under = |d: &str| d.is_empty() || wanted.starts_with(&format!("{d}/"));
        if base == ".wh..wh..opq" && under(dir) {
            deleted = true;
            return Ok(false);
        }
        if base.starts_with(".wh.") {
            if let Some(gone) = whiteout_target(dir, base)
                && (wanted == gone || wanted.starts_with(&format!("{gone}/")))
            {
                deleted = true;
            }
            return Ok(false);
        }
        let kind = entry.header().entry_type();
        if wanted.starts_with(&format!("{name}/")) && !kind.is_dir() {
            // A file or link where a directory of the path should be: the
            // lower layers' directory is gone (links to directories are
            // not followed on the way).
            deleted = true;
            return Ok(false);
        }
        if name != wanted {
            return Ok(false);
        }
        // The last entry of a path in a layer is the one extraction keeps.
        found = if kind.is_file() || kind == tar::EntryType::Continuous {
            Found::File(read_file(entry, name, max_file)?)
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name().map_err(|e| format!("/{name}: bad link: {e}"))?.map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
            // A symbolic link is relative to its directory; a hard link
            // names an archive path.
            let joined = if kind.is_symlink() && !target.starts_with('/') { format!("{dir}/{target}") } else { target };
            Found::Link(normalize(&joined).unwrap_or_default())
        } else if kind.is_dir() {
            Found::Other("a directory")
        } else {
            Found::Other("not a regular file")
        };
        Ok(false)
    })?;
    Ok(match found {
        Found::Absent if deleted => Found::Deleted,
        other => other,
    })
}

/// The program at `wanted` in `layers` (stored layer files, lowest first),
/// as the layers stack it: the file's path once links are followed, and
/// its bytes. Errors say what is wrong, for "image X: ...".
pub(super) fn program_at(layers: &[&Path], wanted: &str, limits: UnpackLimits) -> Result<(String, Vec<u8>), String> {
    let mut budget = Budget { limits, unpacked: 0, entries: 0 };
    let mut wanted = wanted.to_owned();
    let mut hops = 0;
    'next: loop {
        for layer in layers.iter().rev() {
            match look_up(layer, &wanted, &mut budget)? {
                Found::File(bytes) => return Ok((format!("/{wanted}"), bytes)),
                Found::Link(target) => {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err(format!("/{wanted}: too many levels of symbolic links"));
                    }
                    wanted = target;
                    continue 'next;
                }
                Found::Other(what) => return Err(format!("/{wanted} is {what}")),
                Found::Deleted => break,
                Found::Absent => {}
            }
        }
        return Err(format!("its layers have no file /{wanted}"));
    }
}

/// The one `.wasm` file in `layers` (lowest first), for an image whose
/// config names no program; an error lists them when there are several.
pub(super) fn only_wasm(layers: &[&Path], limits: UnpackLimits) -> Result<(String, Vec<u8>), String> {
    let mut budget = Budget { limits, unpacked: 0, entries: 0 };
    // Each `.wasm` regular file the stack shows, with the layer holding it.
    let mut files: BTreeMap<String, usize> = BTreeMap::new();
    for (i, layer) in layers.iter().enumerate() {
        let mut added = Vec::new();
        let mut hidden: Vec<String> = Vec::new();
        scan(layer, &mut budget, |name, entry| {
            let (dir, base) = name.rsplit_once('/').map_or(("", name), |(d, b)| (d, b));
            if base == ".wh..wh..opq" {
                hidden.push(dir.to_owned());
            } else if base.starts_with(".wh.") {
                hidden.extend(whiteout_target(dir, base));
            } else if name.ends_with(".wasm") && entry.header().entry_type().is_file() {
                added.push(name.to_owned());
            }
            Ok(false)
        })?;
        // Whiteouts and opaque markers act on lower layers only.
        files.retain(|f, _| !hidden.iter().any(|h| h.is_empty() || f == h || f.starts_with(&format!("{h}/"))));
        files.extend(added.into_iter().map(|f| (f, i)));
    }
    match files.len() {
        0 => Err("its layers hold no .wasm file, and its config names no Entrypoint or Cmd".into()),
        1 => {
            let (name, _) = files.into_iter().next().expect("one");
            program_at(layers, &name, budget.limits)
        }
        _ => Err(format!(
            "its layers hold several .wasm files ({}) and its config names no Entrypoint or Cmd to choose one",
            files.keys().map(|f| format!("/{f}")).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Unpacks the filesystem `layers` (lowest first) stack into `dest` (a
/// new, empty directory): directories, regular files (with their mode's
/// execute bits), hard links (as copies) and, on Unix, symbolic links, as
/// they are; whiteouts and opaque markers remove what lower layers put
/// there. Devices, fifos and the like are skipped. An entry that would be
/// written through a symbolic link an earlier entry made fails the
/// unpacking, so nothing is ever written outside `dest`. Same limits as
/// finding the program.
pub(super) fn unpack_files(layers: &[&Path], dest: &Path, limits: UnpackLimits) -> Result<(), String> {
    let mut budget = Budget { limits, unpacked: 0, entries: 0 };
    for layer in layers {
        // Whiteouts and opaque markers act on lower layers: applied first,
        // from a read of their own (so only the second read counts).
        let mut gone = Vec::new();
        let mut first = Budget { limits, unpacked: 0, entries: 0 };
        scan(layer, &mut first, |name, _| {
            let (dir, base) = name.rsplit_once('/').map_or(("", name), |(d, b)| (d, b));
            if base == ".wh..wh..opq" {
                gone.push((dir.to_owned(), true));
            } else if base.starts_with(".wh.") {
                gone.extend(whiteout_target(dir, base).map(|g| (g, false)));
            }
            Ok(false)
        })?;
        for (path, opaque) in gone {
            let target = if path.is_empty() { dest.to_path_buf() } else { beneath(dest, &path)? };
            let link_or_file = std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir());
            if opaque && !link_or_file {
                for e in std::fs::read_dir(&target).into_iter().flatten().flatten() {
                    remove(&e.path())?;
                }
            } else {
                // A link is removed itself, never what it points to.
                remove(&target)?;
            }
        }
        scan(layer, &mut budget, |name, entry| {
            let base = name.rsplit('/').next().unwrap_or(name);
            if base.starts_with(".wh.") {
                return Ok(false);
            }
            let target = beneath(dest, name)?;
            let kind = entry.header().entry_type();
            let io = |e: std::io::Error| format!("unpacking /{name}: {e}");
            if kind.is_dir() {
                if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
                    remove(&target)?;
                }
                return std::fs::create_dir_all(&target).map(|_| false).map_err(io);
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            if kind.is_file() || kind == tar::EntryType::Continuous {
                remove(&target)?;
                let mut file = std::fs::File::create(&target).map_err(io)?;
                std::io::copy(entry, &mut file).map_err(io)?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let exec = entry.header().mode().unwrap_or(0o644) & 0o111;
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644 | exec)).map_err(io)?;
                }
            } else if kind.is_hard_link() {
                let link = entry.link_name().map_err(io)?.map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
                let source = beneath(dest, &normalize(&link).unwrap_or_default())?;
                // Only to a regular file unpacked here: never through a
                // link to something outside.
                if !std::fs::symlink_metadata(&source).is_ok_and(|m| m.is_file()) {
                    return Err(format!("its layers hard-link /{name} to /{link}, which is not a regular file in the image"));
                }
                remove(&target)?;
                std::fs::hard_link(&source, &target).map_err(io)?;
            } else if kind.is_symlink() {
                #[cfg(unix)]
                {
                    let link = entry.link_name().map_err(io)?.map(|l| l.into_owned()).unwrap_or_default();
                    remove(&target)?;
                    std::os::unix::fs::symlink(link, &target).map_err(io)?;
                }
            }
            Ok(false)
        })?;
    }
    Ok(())
}

/// `dest` joined with the archive path `name`, refused when a directory
/// on the way is a symbolic link (an earlier entry's).
pub(super) fn beneath(dest: &Path, name: &str) -> Result<std::path::PathBuf, String> {
    let mut path = dest.to_path_buf();
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() || parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(format!("its layers name the path {name:?}, which is not a file in the image"));
    }
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let last = i + 1 == parts.len();
        if !last && std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!("its layers write /{name} through the symbolic link /{}", parts[..=i].join("/")));
        }
    }
    Ok(path)
}

/// Removes a file, link or directory tree; nothing there is fine.
fn remove(path: &Path) -> Result<(), String> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    };
    result.map_err(|e| format!("unpacking: cannot remove {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: UnpackLimits = UnpackLimits { max_file: 1 << 20, max_unpacked: 8 << 20, max_entries: 1000 };

    enum E<'a> {
        File(&'a str, &'a [u8]),
        Link(&'a str, &'a str),
        Dir(&'a str),
    }

    fn layer(dir: &Path, name: &str, entries: &[E<'_>], gzip: bool) -> std::path::PathBuf {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o755);
            match e {
                E::File(p, bytes) => {
                    h.set_size(bytes.len() as u64);
                    b.append_data(&mut h, p, *bytes).unwrap();
                }
                E::Link(p, target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, p, target).unwrap();
                }
                E::Dir(p) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, p, std::io::empty()).unwrap();
                }
            }
        }
        let tar = b.into_inner().unwrap();
        let bytes = if gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut gz, &tar).unwrap();
            gz.finish().unwrap()
        } else {
            tar
        };
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn the_named_program_is_found_as_the_layers_stack_it() {
        let d = tempfile::tempdir().unwrap();
        let low = layer(d.path(), "low", &[E::Dir("app/"), E::File("app/app.wasm", b"old"), E::File("./lib/x.wasm", b"x")], true);
        let high = layer(d.path(), "high", &[E::File("app/app.wasm", b"new"), E::Link("bin/run", "../app/app.wasm")], false);
        let layers = [low.as_path(), high.as_path()];
        assert_eq!(program_at(&layers, "app/app.wasm", LIMITS).unwrap(), ("/app/app.wasm".to_owned(), b"new".to_vec()));
        assert_eq!(program_at(&layers, "bin/run", LIMITS).unwrap(), ("/app/app.wasm".to_owned(), b"new".to_vec()));
        assert_eq!(program_at(&layers, "lib/x.wasm", LIMITS).unwrap().1, b"x");
        assert_eq!(program_at(&layers, "app", LIMITS).unwrap_err(), "/app is a directory");
        assert_eq!(program_at(&layers, "nope.wasm", LIMITS).unwrap_err(), "its layers have no file /nope.wasm");
        // A whiteout deletes the lower file; an opaque directory hides it.
        let wh = layer(d.path(), "wh", &[E::File("lib/.wh.x.wasm", b"")], true);
        assert_eq!(program_at(&[low.as_path(), wh.as_path()], "lib/x.wasm", LIMITS).unwrap_err(), "its layers have no file /lib/x.wasm");
        let opq = layer(d.path(), "opq", &[E::File("app/.wh..wh..opq", b"")], true);
        assert!(program_at(&[low.as_path(), opq.as_path()], "app/app.wasm", LIMITS).is_err());
        let loop_ = layer(d.path(), "loop", &[E::Link("a", "b"), E::Link("b", "a")], false);
        assert!(program_at(&[loop_.as_path()], "a", LIMITS).unwrap_err().contains("too many levels of symbolic links"));
    }

    #[test]
    fn entrypoint_or_cmd_names_the_program_else_the_one_wasm_file() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(program_path(&s(&["/app.wasm", "-v"]), &s(&["x"]), None).as_deref(), Some("app.wasm"));
        assert_eq!(program_path(&[], &s(&["run.wasm"]), Some("/srv/./app")).as_deref(), Some("srv/app/run.wasm"));
        assert_eq!(program_path(&[], &[], Some("/srv")), None);
        let d = tempfile::tempdir().unwrap();
        let one = layer(d.path(), "one", &[E::File("a/only.wasm", b"\0asm"), E::File("a/readme", b"hi")], true);
        assert_eq!(only_wasm(&[one.as_path()], LIMITS).unwrap(), ("/a/only.wasm".to_owned(), b"\0asm".to_vec()));
        let two = layer(d.path(), "two", &[E::File("b.wasm", b"b")], true);
        assert_eq!(
            only_wasm(&[one.as_path(), two.as_path()], LIMITS).unwrap_err(),
            "its layers hold several .wasm files (/a/only.wasm, /b.wasm) and its config names no Entrypoint or Cmd to choose one"
        );
        let gone = layer(d.path(), "gone", &[E::File(".wh.a", b"")], true);
        assert_eq!(only_wasm(&[one.as_path(), two.as_path(), gone.as_path()], LIMITS).unwrap().0, "/b.wasm");
    }

    #[test]
    fn the_files_unpack_as_the_layers_stack_them_and_never_outside() {
        let d = tempfile::tempdir().unwrap();
        let low = layer(d.path(), "low", &[E::Dir("srv/"), E::File("srv/index.html", b"old"), E::File("srv/gone.txt", b"x"), E::File("opt/a", b"a")], true);
        let high = layer(
            d.path(),
            "high",
            &[
                E::File("srv/index.html", b"new"),
                E::File("srv/.wh.gone.txt", b""),
                E::File("opt/.wh..wh..opq", b""),
                E::File("opt/b", b"b"),
                E::Link("www", "srv"),
            ],
            false,
        );
        let root = d.path().join("root");
        std::fs::create_dir(&root).unwrap();
        unpack_files(&[low.as_path(), high.as_path()], &root, LIMITS).unwrap();
        assert_eq!(std::fs::read(root.join("srv/index.html")).unwrap(), b"new");
        assert!(!root.join("srv/gone.txt").exists());
        assert!(!root.join("opt/a").exists() && root.join("opt/b").exists());
        #[cfg(unix)]
        assert_eq!(std::fs::read_link(root.join("www")).unwrap(), Path::new("srv"));
        // A later entry through a link an earlier one made: refused.
        let out = d.path().join("outside");
        std::fs::create_dir(&out).unwrap();
        let evil = layer(d.path(), "evil", &[E::Link("x", out.to_str().unwrap()), E::File("x/owned", b"!")], true);
        let root2 = d.path().join("root2");
        std::fs::create_dir(&root2).unwrap();
        #[cfg(unix)]
        assert_eq!(unpack_files(&[evil.as_path()], &root2, LIMITS).unwrap_err(), "its layers write /x/owned through the symbolic link /x");
        assert!(!out.join("owned").exists());
        // An opaque marker under a link clears the link, not its target; a
        // whiteout of `..` is no file; a hard link to a link is refused.
        std::fs::write(out.join("keep"), b"k").unwrap();
        let link = layer(d.path(), "link", &[E::Link("y", out.to_str().unwrap())], true);
        let opq = layer(d.path(), "opq2", &[E::File("y/.wh..wh..opq", b""), E::File(".wh...", b""), E::File("a/.wh..", b"")], true);
        let root3 = d.path().join("root3");
        std::fs::create_dir(&root3).unwrap();
        unpack_files(&[link.as_path(), opq.as_path()], &root3, LIMITS).unwrap();
        assert!(out.join("keep").exists() && root3.exists());
        #[cfg(unix)]
        {
            let hard = {
                let mut b = tar::Builder::new(Vec::new());
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, "s", out.join("keep")).unwrap();
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, "h", "s").unwrap();
                let path = d.path().join("hard");
                std::fs::write(&path, b.into_inner().unwrap()).unwrap();
                path
            };
            let root4 = d.path().join("root4");
            std::fs::create_dir(&root4).unwrap();
            let e = unpack_files(&[hard.as_path()], &root4, LIMITS).unwrap_err();
            assert!(e.contains("which is not a regular file in the image"), "{e}");
        }
        // The program behind a link that replaced its directory is gone.
        let low = layer(d.path(), "low2", &[E::File("x/app.wasm", b"\0asm")], true);
        let high = layer(d.path(), "high2", &[E::Link("x", "/etc")], true);
        assert!(program_at(&[low.as_path(), high.as_path()], "x/app.wasm", LIMITS).is_err());
    }

    #[test]
    fn bombs_big_files_and_many_entries_stop_at_their_limits() {
        let d = tempfile::tempdir().unwrap();
        // 16 MiB of zeros: a gzip stream of a few KiB.
        let zeros = vec![0u8; 16 << 20];
        let bomb = layer(d.path(), "bomb", &[E::File("pad", &zeros), E::File("app.wasm", b"\0asm")], true);
        assert!(std::fs::metadata(&bomb).unwrap().len() < 64 << 10);
        let e = program_at(&[bomb.as_path()], "app.wasm", LIMITS).unwrap_err();
        assert!(e.contains("its layers unpack to more than 8388608 bytes"), "{e}");
        let big = layer(d.path(), "big", &[E::File("app.wasm", &zeros[..(2 << 20)])], true);
        let e = program_at(&[big.as_path()], "app.wasm", LIMITS).unwrap_err();
        assert_eq!(e, "/app.wasm is 2097152 bytes, more than the limit of 1048576");
        let names: Vec<String> = (0..1001).map(|i| format!("f{i}")).collect();
        let many: Vec<E<'_>> = names.iter().map(|n| E::File(n, b"")).collect();
        let many = layer(d.path(), "many", &many, true);
        assert_eq!(program_at(&[many.as_path()], "app.wasm", LIMITS).unwrap_err(), "its layers hold more than 1000 files");
        let zstd = d.path().join("zstd");
        std::fs::write(&zstd, [0x28, 0xb5, 0x2f, 0xfd, 0, 0]).unwrap();
        assert!(program_at(&[zstd.as_path()], "app.wasm", LIMITS).unwrap_err().contains("zstd"));
    }
}

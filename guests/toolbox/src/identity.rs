//! Who this program runs as and who owns files, from wasmpod's
//! `wasmpod:identity` (`wit/identity/identity.wit`): WASI
//! has no users, so `id`, `whoami`, `ls -l` and `stat` ask the runtime,
//! which answers from the pod's securityContext and its ownership record.
//! Native builds (the toolbox's own tests) report root, as the sandbox
//! does for a pod without a securityContext.

use std::path::Path;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod bindings {
    wit_bindgen::generate!({ path: "../../wit/identity", world: "identity-user" });
    pub use wasmpod::identity::identity::*;
}

/// A user and its groups.
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    /// The primary group first.
    pub groups: Vec<u32>,
}

/// Root's ids: what `id root` prints.
pub fn root() -> Ids {
    Ids { uid: 0, gid: 0, groups: vec![0] }
}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub fn current() -> Ids {
    let i = bindings::current();
    Ids { uid: i.uid, gid: i.gid, groups: i.groups }
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
pub fn current() -> Ids {
    root()
}

/// Owner (uid, gid) of `path`; root when the runtime does not know it.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub fn owner(path: &Path) -> (u32, u32) {
    bindings::owner(&absolute(path).to_string_lossy()).unwrap_or((0, 0))
}

/// `path` made absolute against the working directory.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn absolute(path: &Path) -> std::path::PathBuf {
    if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| Path::new("/").join(path)) }
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
pub fn owner(_path: &Path) -> (u32, u32) {
    (0, 0)
}

/// Permission bits of `path` (not following a final link) as the runtime
/// set them; none when it does not know.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub fn mode(path: &Path) -> Option<u32> {
    bindings::mode(&absolute(path).to_string_lossy())
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
#[allow(dead_code)] // Unix builds read modes themselves.
pub fn mode(_path: &Path) -> Option<u32> {
    None
}

/// The name of a user or group id: the image has no /etc/passwd beyond
/// root, so other ids print as numbers, as busybox prints unknown ids.
pub fn name(id: u32) -> Option<&'static str> {
    (id == 0).then_some("root")
}

/// `42` or `0(root)`, as `id` prints an id.
pub fn labeled(id: u32) -> String {
    match name(id) {
        Some(n) => format!("{id}({n})"),
        None => id.to_string(),
    }
}

/// The name, else the number, as `ls -l` prints an owner.
pub fn name_or_number(id: u32) -> String {
    name(id).map(str::to_owned).unwrap_or_else(|| id.to_string())
}

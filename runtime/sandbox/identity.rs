//! `wasmpod:identity` (see `wit/identity/identity.wit`): a container's
//! uid and groups, and the owners of its files, for guests.
//!
//! The answers come from `security`: the identity computed from the
//! securityContext, and the [`OwnerBook`] of the mount a path lies in.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::HasData;
use wasmtime::{Caller, Linker};

use super::{ComponentState, ModuleState};
use crate::security::Identity;
use crate::volume::{Mount, OwnerBook};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/identity/identity.wit",
        world: "identity-user",
    });
}

use bindings::wasmpod::identity::identity as wit;

/// What an instance's identity calls read: cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct IdentityView {
    pub identity: Arc<Identity>,
    pub mounts: Arc<Vec<Mount>>,
}

impl IdentityView {
    /// The pod's record of file creators, when one of its volumes is
    /// written by containers of different identities (else nothing needs
    /// noting).
    pub(crate) fn creators(&self) -> Option<&Arc<crate::volume::Creators>> {
        self.mounts.iter().find_map(|m| m.owners.as_ref()?.creators()).filter(|c| c.needed())
    }

    /// The owner of the guest path `path` (absolute; `.` and `..` are
    /// resolved lexically, and `..` never leaves a preopen, as in WASI).
    pub(crate) fn owner(&self, path: &str) -> Option<(u32, u32)> {
        let (host, book) = self.locate(path)?;
        book.owner(&host)
    }

    /// The permission bits of the file at guest path `path`, looked up
    /// beneath its mount by the rules wasmtime-wasi applies to the guest (no
    /// link leads out), not following a final link.
    pub(crate) fn mode(&self, path: &str) -> Option<u32> {
        let parts = normalize(path)?;
        let (len, m) = self
            .mounts
            .iter()
            .filter_map(|m| Some((normalize(&m.guest_path)?, m)))
            .filter(|(p, _)| parts.starts_with(p))
            .map(|(p, m)| (p.len(), m))
            .max_by_key(|(len, _)| *len)?;
        let root = cap_primitives::fs::open_ambient_dir(&m.host_path, cap_primitives::ambient_authority()).ok()?;
        let rel: PathBuf = if parts.len() == len { PathBuf::from(".") } else { parts[len..].iter().collect() };
        let meta = cap_primitives::fs::stat(&root, &rel, cap_primitives::fs::FollowSymlinks::No).ok()?;
        Some(mode_bits(&meta))
    }

    fn locate(&self, path: &str) -> Option<(PathBuf, &OwnerBook)> {
        let parts = normalize(path)?;
        // The longest mount path that is a prefix, component-wise.
        let mount = self
            .mounts
            .iter()
            .filter_map(|m| {
                let prefix = normalize(&m.guest_path)?;
                parts.starts_with(&prefix).then_some((prefix.len(), m))
            })
            .max_by_key(|(len, _)| *len)?;
        let (len, m) = mount;
        let book = m.owners.as_deref()?;
        let mut host = m.host_path.clone();
        host.extend(&parts[len..]);
        Some((host, book))
    }
}

/// The host's permission bits.
#[cfg(unix)]
fn mode_bits(meta: &cap_primitives::fs::Metadata) -> u32 {
    use cap_primitives::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o7777
}

/// Windows has no permission bits: the usual defaults for the type, less
/// the write bits of a read-only file (a configMap mode without write bits
/// sets that attribute).
#[cfg(not(unix))]
fn mode_bits(meta: &cap_primitives::fs::Metadata) -> u32 {
    let base = if meta.is_dir() {
        0o755
    } else if meta.file_type().is_symlink() {
        0o777
    } else {
        0o644
    };
    if meta.permissions().readonly() { base & !0o222 } else { base }
}

/// The components of an absolute path, or None for a relative one.
fn normalize(path: &str) -> Option<Vec<String>> {
    let p = Path::new(path);
    if !path.starts_with('/') {
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    Some(out)
}

struct IdentityData;

impl HasData for IdentityData {
    type Data<'a> = &'a IdentityView;
}

impl wit::Host for &IdentityView {
    fn current(&mut self) -> wit::Ids {
        wit::Ids { uid: self.identity.uid, gid: self.identity.gid, groups: self.identity.groups.clone() }
    }

    fn owner(&mut self, path: String) -> Option<(u32, u32)> {
        IdentityView::owner(self, &path)
    }

    fn mode(&mut self, path: String) -> Option<u32> {
        IdentityView::mode(self, &path)
    }
}

/// Adds `wasmpod:identity/identity` for components.
pub(crate) fn add_to_component_linker(linker: &mut wasmtime::component::Linker<ComponentState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<ComponentState, IdentityData>(linker, |s| &s.identity)
}

/// For wasip1 modules, the import module `wasmpod_identity`: `uid() -> i32`
/// and `gid() -> i32` (the groups and owners need lists and strings, which
/// wasip1 modules reach through the component interface only).
pub(crate) fn add_to_module_linker(linker: &mut Linker<ModuleState>) -> wasmtime::Result<()> {
    linker.func_wrap("wasmpod_identity", "uid", |caller: Caller<'_, ModuleState>| caller.data().identity.identity.uid as i32)?;
    linker.func_wrap("wasmpod_identity", "gid", |caller: Caller<'_, ModuleState>| caller.data().identity.identity.gid as i32)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_in_the_longest_mount_and_never_leave_it() {
        let root = tempfile::tempdir().unwrap();
        let vol = tempfile::tempdir().unwrap();
        std::fs::write(vol.path().join("file.txt"), b"x").unwrap();
        std::fs::write(root.path().join("a"), b"x").unwrap();
        let root_book = Arc::new(OwnerBook::new(root.path().to_owned(), (0, 0)));
        root_book.add_writer((42, 0));
        let vol_book = Arc::new(OwnerBook::new(vol.path().to_owned(), (0, 231)));
        vol_book.add_writer((42, 231));
        let mounts = vec![
            Mount { host_path: root.path().to_owned(), guest_path: "/".into(), writable: true, owners: Some(root_book), memory_files: None },
            Mount { host_path: vol.path().to_owned(), guest_path: "/etc/directory".into(), writable: true, owners: Some(vol_book), memory_files: None },
        ];
        let view = IdentityView { identity: Arc::new(Identity::default()), mounts: Arc::new(mounts) };
        assert_eq!(view.owner("/etc/directory/file.txt"), Some((42, 231)));
        assert_eq!(view.owner("/etc/directory"), Some((0, 231)));
        assert_eq!(view.owner("/a"), Some((42, 0)));
        assert_eq!(view.owner("/../../a"), Some((42, 0)));
        assert_eq!(view.owner("relative"), None);
    }
}

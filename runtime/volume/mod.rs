//! Pod volumes: emptyDir, configMap, secret, downwardAPI and (when the
//! runtime allows it) hostPath, materialized as host directories and
//! preopened into the containers that mount them.
//!
//! ```text
//! Runtime::plan   admit(): unsupported sources, hostPath without permission,
//!                 socket/device hostPath types -> refused before anything runs
//! pod task        PodVolumes::materialize(): one host directory per volume
//!                 (a volume that cannot be made, e.g. a missing ConfigMap,
//!                 blocks only the containers that mount it)
//!                 PodVolumes::plan_mounts(): a container's mounts, subPathExpr
//!                 expanded against its env
//! each instance   resolve(): subPaths walked on the host (links a guest left
//!                 in the volume may not lead out), mount points created
//!                 -> Mount preopens
//! supervisor      StorageWatch: emptyDir sizeLimit, ephemeral-storage limits
//!                 -> eviction; MemoryWatch: files in memory-backed
//!                 volumes -> their writers' memory accounts
//! pod end         PodVolumes::remove(): every volume directory removed
//! ```
//!
//! A container sees exactly its own mounts: each is a separate preopen,
//! and the host never opens anything a guest could point elsewhere.

mod memory_files;
mod ownership;
mod path;
mod source;
mod usage;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Pod, Volume};

use crate::manifest::{self, EnvError, EnvSources, PodFacts};
pub(crate) use memory_files::{MEMORY_FILES_INTERVAL, MemoryFiles, MemoryWatch, file_id};
pub(crate) use ownership::{Creators, OwnerBook};
pub(crate) use path::{copy_tree, create_beneath, open_no_follow, write_file_beneath};
pub use source::DEFAULT_FILE_MODE;
pub use usage::DEFAULT_USAGE_INTERVAL;
pub(crate) use usage::{StorageLimit, StorageWatch, for_each_entry};

/// A directory the guest sees at `guest_path`.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Host directory backing it.
    pub host_path: PathBuf,
    /// Absolute path inside the guest.
    pub guest_path: String,
    /// Whether the guest may write.
    pub writable: bool,
    /// Who owns the files beneath it, as `wasmpod:identity` reports them;
    /// none: owners are not tracked (reported as unknown).
    pub owners: Option<Arc<OwnerBook>>,
    /// The pod's record of who wrote which memory-backed file, when this
    /// is a writable mount of a `medium: Memory` emptyDir.
    pub memory_files: Option<Arc<MemoryFiles>>,
}

/// Why a volume or a mount cannot be provided. The messages are the
/// kubelet's where it has one; they end up in a container's Waiting
/// message (`CreateContainerConfigError`) and in events.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeError {
    /// A configMap volume names a ConfigMap that is not in the input.
    #[error("configmap \"{name}\" not found")]
    ConfigMapNotFound {
        /// ConfigMap name.
        name: String,
    },
    /// A secret volume names a Secret that is not in the input.
    #[error("secret \"{name}\" not found")]
    SecretNotFound {
        /// Secret name.
        name: String,
    },
    /// `items` lists a key the ConfigMap lacks.
    #[error("configmap references non-existent config key: {key}")]
    ConfigMapKeyNotFound {
        /// The key.
        key: String,
    },
    /// `items` lists a key the Secret lacks.
    #[error("secret references non-existent secret key: {key}")]
    SecretKeyNotFound {
        /// The key.
        key: String,
    },
    /// A downwardAPI item cannot be resolved.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// A hostPath does not have the declared `type`.
    #[error("hostPath type check failed: {detail}")]
    HostPathType {
        /// `/x is not a directory`.
        detail: String,
    },
    /// A mount would need a single file preopened.
    #[error(
        "{what} is a file: WASI preopens only directories, so a file can be mounted alone only from a configMap, secret or downwardAPI volume (as a read-only copy)"
    )]
    FileMount {
        /// `subPath "x" of volume "v"` or `hostPath "/x"`.
        what: String,
    },
    /// An expanded subPath is absolute.
    #[error("error SubPath `{sub_path}` must not be an absolute path")]
    SubPathAbsolute {
        /// The expanded subPath.
        sub_path: String,
    },
    /// An expanded subPath contains `..`.
    #[error("unable to provision SubPath `{sub_path}`: must not contain '..'")]
    SubPathBacksteps {
        /// The expanded subPath.
        sub_path: String,
    },
    /// A subPath leads (through links) outside its volume.
    #[error("subPath \"{sub_path}\" of volume \"{volume}\" is not within the volume: it or a link in it leads outside")]
    SubPathOutside {
        /// Volume name.
        volume: String,
        /// The subPath.
        sub_path: String,
    },
    /// A subPath into a read-only source that does not exist.
    #[error("subPath \"{sub_path}\" of volume \"{volume}\" does not exist")]
    SubPathMissing {
        /// Volume name.
        volume: String,
        /// The subPath.
        sub_path: String,
    },
    /// A subPath goes through a file.
    #[error("subPath \"{sub_path}\" of volume \"{volume}\": not a directory")]
    SubPathNotADirectory {
        /// Volume name.
        volume: String,
        /// The subPath.
        sub_path: String,
    },
    /// The volume could not be set up; `message` says why in the
    /// kubelet's words (`configmap "x" not found`), and the pod's
    /// `FailedMount` event names the volume.
    #[error("{message}")]
    Unavailable {
        /// Volume name.
        volume: String,
        /// Why.
        message: String,
    },
    /// A value accepted by validation cannot be used (a bug).
    #[error("invalid volume: {detail}")]
    Invalid {
        /// What.
        detail: String,
    },
    /// The host failed.
    #[error("{action} {}", path.display())]
    Io {
        /// `cannot create`.
        action: &'static str,
        /// Host path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A volume source this runtime does not run, or may not run: the field
/// path (`spec.volumes[1].nfs`) and why. Checked before a pod starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Field path.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// The sources wasmpod provides.
const SUPPORTED: &str = "emptyDir, configMap, secret, downwardAPI, hostPath";

/// Checks the pod's volumes before anything runs: only supported sources;
/// hostPath only with `allow_host_path`, and never a socket or device
/// (WASI can open neither).
pub(crate) fn admit(pod: &Pod, allow_host_path: bool) -> Result<(), Refused> {
    for (i, v) in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()).enumerate() {
        let at = format!("spec.volumes[{i}]");
        if let Some(h) = &v.host_path {
            if !allow_host_path {
                return Err(Refused {
                    field: format!("{at}.hostPath"),
                    reason: format!(
                        "hostPath volume {:?} would give the pod the host's {:?}; hostPath volumes are refused unless allowed (`wasmpod run --allow-host-path`, `RuntimeConfig::allow_host_path`)",
                        v.name, h.path
                    ),
                });
            }
            if let Some(t @ ("Socket" | "CharDevice" | "BlockDevice")) = h.type_.as_deref() {
                return Err(Refused {
                    field: format!("{at}.hostPath.type"),
                    reason: format!("type {t} is not supported: WASI guests can open only files and directories"),
                });
            }
            continue;
        }
        if v.empty_dir.is_some() || v.config_map.is_some() || v.secret.is_some() || v.downward_api.is_some() {
            continue;
        }
        let source = source_name(v);
        return Err(Refused {
            field: format!("{at}.{source}"),
            reason: format!("{source} volumes are not supported by this wasmpod version (supported: {SUPPORTED})"),
        });
    }
    Ok(())
}

/// The field name of a volume's (first) source.
fn source_name(v: &Volume) -> &'static str {
    let value = serde_json::to_value(v).unwrap_or_default();
    let fields = value.as_object().into_iter().flat_map(|m| m.keys()).filter(|k| *k != "name");
    SOURCE_FIELDS.iter().find(|f| fields.clone().any(|k| k == **f)).copied().unwrap_or("(unknown source)")
}

const SOURCE_FIELDS: &[&str] = &[
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "ephemeral",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "gitRepo",
    "glusterfs",
    "image",
    "iscsi",
    "nfs",
    "persistentVolumeClaim",
    "photonPersistentDisk",
    "portworxVolume",
    "projected",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
];

/// What kind of content a volume holds, for mount rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// emptyDir or hostPath: shared, writable unless the mount is readOnly.
    Writable,
    /// configMap, secret, downwardAPI: always mounted read-only; single
    /// files may be mounted as copies.
    Projected,
}

#[derive(Debug)]
struct Ready {
    root: PathBuf,
    kind: Kind,
    /// A hostPath naming a file.
    is_file: bool,
}

/// The pod's volumes, materialized.
#[derive(Debug, Default)]
pub(crate) struct PodVolumes {
    volumes: HashMap<String, Result<Ready, String>>,
    /// emptyDir `sizeLimit`s.
    limits: Vec<StorageLimit>,
    /// Directories of the volumes that count as the pod's local ephemeral
    /// storage, as the kubelet counts them (`IsLocalEphemeralVolume`):
    /// emptyDir volumes without `medium: Memory`, and configMap volumes.
    local: Vec<PathBuf>,
    /// Directories of the emptyDir volumes with `medium: Memory`.
    memory: Vec<PathBuf>,
    /// Who wrote what in them (none: the pod has no such volume).
    memory_files: Option<Arc<MemoryFiles>>,
    /// Directories this runtime created and removes at the pod's end
    /// (hostPaths are the user's and stay).
    owned: Vec<PathBuf>,
    /// The ownership record of each volume wasmpod made (not hostPaths:
    /// their files belong to the host, and Kubernetes applies no fsGroup
    /// to them either).
    books: HashMap<String, Arc<OwnerBook>>,
}

/// A mount of one container, resolved on the host at each (re)start.
#[derive(Debug, Clone)]
pub(crate) struct PlannedMount {
    volume: String,
    root: PathBuf,
    kind: Kind,
    sub_path: Option<String>,
    guest_path: String,
    writable: bool,
    owners: Option<Arc<OwnerBook>>,
    memory_files: Option<Arc<MemoryFiles>>,
}

impl PodVolumes {
    /// Creates every volume's directory under `volumes_dir`
    /// (`<pod>/volumes/<name>`). A volume that fails is remembered with its
    /// message; `failed` lists them for the pod's `FailedMount` events.
    pub fn materialize(pod: &Pod, objects: &EnvSources<'_>, facts: &PodFacts, volumes_dir: &Path) -> (Self, Vec<(String, String)>) {
        let mut out = Self::default();
        let mut failed = Vec::new();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        // The kubelet makes volumes root-owned with group fsGroup.
        let fs_group = pod.spec.as_ref().and_then(|s| s.security_context.as_ref()).and_then(|s| s.fs_group).and_then(|g| u32::try_from(g).ok());
        // One record of file creators for all the pod's volumes.
        let creators = Arc::new(Creators::default());
        for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            let disk = volumes_dir.join(&v.name);
            let result = out.one(v, &disk, &uid, pod, objects, facts).and_then(|ready| match fs_group {
                Some(_) if v.host_path.is_none() => source::fs_group_modes(&ready.root, ready.kind == Kind::Projected).map(|()| ready),
                _ => Ok(ready),
            });
            if let Ok(ready) = &result
                && v.host_path.is_none()
            {
                out.books.insert(v.name.clone(), Arc::new(OwnerBook::with_creators(ready.root.clone(), (0, fs_group.unwrap_or(0)), creators.clone())));
            }
            if let Err(e) = &result {
                failed.push((v.name.clone(), crate::error_text::full_message(e)));
            }
            out.volumes.insert(v.name.clone(), result.map_err(|e| crate::error_text::full_message(&e)));
        }
        out.memory_files = MemoryFiles::new(out.memory.clone());
        (out, failed)
    }

    fn one(&mut self, v: &Volume, disk: &Path, uid: &str, pod: &Pod, objects: &EnvSources<'_>, facts: &PodFacts) -> Result<Ready, VolumeError> {
        let projected = |root: &Path| Ready { root: root.to_owned(), kind: Kind::Projected, is_file: false };
        if let Some(ed) = &v.empty_dir {
            let (dir, limit) = source::empty_dir(&v.name, ed, disk, uid)?;
            self.owned.push(dir.clone());
            self.limits.extend(limit);
            if ed.medium.as_deref() == Some("Memory") {
                self.memory.push(dir.clone());
            } else {
                self.local.push(dir.clone());
            }
            return Ok(Ready { root: dir, kind: Kind::Writable, is_file: false });
        }
        if let Some(h) = &v.host_path {
            let is_dir = source::host_path(h)?;
            return Ok(Ready { root: PathBuf::from(&h.path), kind: Kind::Writable, is_file: !is_dir });
        }
        self.owned.push(disk.to_owned());
        if let Some(cm) = &v.config_map {
            self.local.push(disk.to_owned());
            source::config_map(disk, cm, pod, objects)?;
        } else if let Some(s) = &v.secret {
            source::secret(disk, s, pod, objects)?;
        } else if let Some(d) = &v.downward_api {
            source::downward_api(disk, d, pod, facts)?;
        } else {
            // admit() refused every other source before the pod started.
            return Err(VolumeError::Invalid { detail: format!("volume {:?} has no supported source", v.name) });
        }
        Ok(projected(disk))
    }

    /// Who wrote what in the `medium: Memory` emptyDir volumes, for the
    /// writers' memory limits (none: the pod has no such volume).
    pub fn memory_files(&self) -> Option<&Arc<MemoryFiles>> {
        self.memory_files.as_ref()
    }

    /// The memory-backed volumes among `mounts` that they may write.
    pub fn writable_memory_roots<'a>(&'a self, mounts: &'a [PlannedMount]) -> impl Iterator<Item = &'a Path> + 'a {
        mounts.iter().filter(|m| m.writable && self.memory.contains(&m.root)).map(|m| m.root.as_path())
    }

    /// Every local storage limit of the pod, in the order the kubelet checks
    /// them: emptyDir `sizeLimit`s, the pod's total of its containers'
    /// `limits.ephemeral-storage`, each app container's own.
    /// `container_dirs` names a container's writable root and log directory.
    pub fn storage_limits(&self, pod: &Pod, container_dirs: impl Fn(&str) -> [PathBuf; 2]) -> Vec<StorageLimit> {
        let mut out = self.limits.clone();
        let Some(spec) = pod.spec.as_ref() else { return out };
        let limit = |c: &Container| {
            let q = c.resources.as_ref()?.limits.as_ref()?.get("ephemeral-storage")?;
            manifest::parse_quantity(&q.0).ok()
        };
        // The pod's limit, as `PodLimits` computes it: app containers and
        // every sidecar summed, at least what runs while each init container
        // does (itself and the sidecars declared before it). A sum keeps the
        // format of its first quantity, as `Quantity.Add` does.
        type Q = Option<manifest::Quantity>;
        let add = |a: Q, b: Q| match (a, b) {
            (Some(a), Some(b)) => Some(manifest::Quantity::from_value(a.value().saturating_add(b.value()), a.format())),
            (a, b) => a.or(b),
        };
        let larger = |a: Q, b: Q| match (a, b) {
            (Some(a), Some(b)) => Some(if b.value() > a.value() { b } else { a }),
            (a, b) => a.or(b),
        };
        let (mut sidecars, mut during_init): (Q, Q) = (None, None);
        for c in spec.init_containers.iter().flatten() {
            if c.restart_policy.as_deref() == Some("Always") {
                sidecars = add(sidecars, limit(c));
                during_init = larger(during_init, sidecars);
            } else {
                during_init = larger(during_init, add(limit(c), sidecars));
            }
        }
        let app = spec.containers.iter().map(limit).fold(None, add);
        let total = larger(add(app, sidecars), during_init);
        let all = spec.containers.iter().chain(spec.init_containers.iter().flatten());
        if let Some(total) = total {
            let mut dirs: Vec<PathBuf> = all.flat_map(|c| container_dirs(&c.name)).collect();
            dirs.extend(self.local.iter().cloned());
            out.push(StorageLimit::pod(dirs, total.value().max(0) as u64, total.to_string()));
        }
        // Only app containers, and a zero limit means none, as in
        // `containerEphemeralStorageLimitEviction`.
        for c in &spec.containers {
            if let Some(q) = limit(c).filter(|q| !q.is_zero()) {
                out.push(StorageLimit::container(&c.name, container_dirs(&c.name).into(), q.value().max(0) as u64, q.to_string()));
            }
        }
        out
    }

    /// The mounts of `c`. `env` looks up the container's variables for
    /// `subPathExpr`; `writer` is who owns the files `c` creates in a
    /// volume (recorded in each volume it mounts writable).
    pub fn plan_mounts(&self, c: &Container, env: impl Fn(&str) -> Option<String>, writer: (u32, u32)) -> Result<Vec<PlannedMount>, VolumeError> {
        let mut out = Vec::new();
        for m in c.volume_mounts.iter().flatten() {
            let ready = match self.volumes.get(&m.name) {
                Some(Ok(r)) => r,
                Some(Err(message)) => return Err(VolumeError::Unavailable { volume: m.name.clone(), message: message.clone() }),
                // Validation matched every mount to a volume.
                None => return Err(VolumeError::Invalid { detail: format!("volumeMount {:?} names no volume", m.name) }),
            };
            let sub_path = match (m.sub_path.as_deref(), m.sub_path_expr.as_deref()) {
                (Some(s), _) if !s.is_empty() => Some(s.to_owned()),
                (_, Some(expr)) if !expr.is_empty() => {
                    let s = manifest::expand(expr, &env);
                    check_expanded(&s)?;
                    Some(s).filter(|s| !s.is_empty())
                }
                _ => None,
            };
            if ready.is_file {
                return Err(VolumeError::FileMount { what: format!("hostPath {:?}", ready.root.display().to_string()) });
            }
            // Kubernetes mounts configMap, secret and downwardAPI
            // volumes read-only whatever the mount says.
            let writable = ready.kind == Kind::Writable && !m.read_only.unwrap_or(false);
            let owners = self.books.get(&m.name).cloned();
            if writable && let Some(book) = &owners {
                book.add_writer(writer);
            }
            out.push(PlannedMount {
                volume: m.name.clone(),
                root: ready.root.clone(),
                kind: ready.kind,
                sub_path,
                guest_path: m.mount_path.clone(),
                writable,
                owners,
                memory_files: self.memory_files.clone().filter(|_| writable && self.memory.contains(&ready.root)),
            });
        }
        Ok(out)
    }

    /// Removes the directories the runtime created for the pod's volumes:
    /// the pod has ended, and secrets or RAM-backed data must not outlive it.
    pub fn remove(&self) -> Vec<crate::store::StoreError> {
        let mut errors = Vec::new();
        for dir in &self.owned {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => errors.push(crate::store::StoreError::Io { action: "cannot remove", path: dir.clone(), source }),
            }
            // The per-pod directory of memory-backed volumes, once empty.
            if let Some(parent) = dir.parent().filter(|p| p.parent().is_some_and(|g| g.ends_with("wasmpod"))) {
                let _ = std::fs::remove_dir(parent);
            }
        }
        errors
    }
}

/// The kubelet's checks of an expanded `subPathExpr` (`makeMounts`).
fn check_expanded(s: &str) -> Result<(), VolumeError> {
    if s.starts_with('/') || s.starts_with('\\') || Path::new(s).has_root() {
        return Err(VolumeError::SubPathAbsolute { sub_path: s.to_owned() });
    }
    if s.split(['/', '\\']).any(|p| p == "..") {
        return Err(VolumeError::SubPathBacksteps { sub_path: s.to_owned() });
    }
    Ok(())
}

/// Turns a container's planned mounts into preopens, at each start of the
/// container: subPaths are walked on the host now, because a guest may have
/// changed the volume since the last start. A single file from a projected
/// volume is copied into the container's root at its mount path (a
/// read-only copy: WASI preopens only directories).
pub(crate) fn resolve(mounts: &[PlannedMount], rootfs: &Path) -> Result<Vec<Mount>, VolumeError> {
    let mut out = Vec::new();
    for m in mounts {
        let host = match &m.sub_path {
            None => m.root.clone(),
            Some(sub) => {
                let create = m.kind == Kind::Writable;
                let err = |f: fn(String, String) -> VolumeError| f(m.volume.clone(), sub.clone());
                match path::resolve_beneath(&m.root, sub, create) {
                    Ok(path::Found::Dir(d)) => d,
                    Ok(path::Found::File(f)) if m.kind == Kind::Projected => {
                        copy_file(&f, rootfs, &m.guest_path)?;
                        continue;
                    }
                    Ok(path::Found::File(_)) => {
                        return Err(VolumeError::FileMount { what: format!("subPath {sub:?} of volume {:?}", m.volume) });
                    }
                    Err(path::Refusal::Outside) => return Err(err(|volume, sub_path| VolumeError::SubPathOutside { volume, sub_path })),
                    Err(path::Refusal::Missing) => return Err(err(|volume, sub_path| VolumeError::SubPathMissing { volume, sub_path })),
                    Err(path::Refusal::NotADirectory) => {
                        return Err(err(|volume, sub_path| VolumeError::SubPathNotADirectory { volume, sub_path }));
                    }
                    Err(path::Refusal::Io(source)) => return Err(VolumeError::Io { action: "cannot open", path: m.root.join(sub), source }),
                }
            }
        };
        // The mount point, so `ls` of its parent shows it; wasi-libc finds
        // the preopen by path prefix whether or not it exists.
        let _ = create_beneath(rootfs, &m.guest_path, false);
        out.push(Mount {
            host_path: host,
            guest_path: m.guest_path.clone(),
            writable: m.writable,
            owners: m.owners.clone(),
            memory_files: m.memory_files.clone(),
        });
    }
    Ok(out)
}

/// Copies a projected file to `guest` in the container's root, read-only.
/// The copy is the container's own: Kubernetes does not update subPath
/// mounts of configMaps either, and nothing else reads it.
fn copy_file(from: &Path, rootfs: &Path, guest: &str) -> Result<(), VolumeError> {
    let Some(dest) = create_beneath(rootfs, guest, true) else {
        return Err(VolumeError::Io {
            action: "cannot create the mount point",
            path: PathBuf::from(guest),
            source: std::io::Error::other("a component of the path is a link or a file in the container's root"),
        });
    };
    // Whatever the guest left there (a link, a previous copy) goes; a
    // removed link never touches its target.
    if let Ok(m) = std::fs::symlink_metadata(&dest) {
        let r = if m.is_dir() { std::fs::remove_dir_all(&dest) } else { make_writable_and_remove(&dest) };
        r.map_err(|source| VolumeError::Io { action: "cannot replace", path: dest.clone(), source })?;
    }
    let data = std::fs::read(from).map_err(|source| VolumeError::Io { action: "cannot read", path: from.to_owned(), source })?;
    std::fs::write(&dest, data).map_err(|source| VolumeError::Io { action: "cannot write", path: dest.clone(), source })?;
    let mode = file_mode(from);
    source::set_mode(&dest, mode & !0o222)
}

fn make_writable_and_remove(p: &Path) -> std::io::Result<()> {
    // Windows refuses to delete a read-only file.
    #[cfg(windows)]
    if let Ok(m) = std::fs::metadata(p) {
        let mut perms = m.permissions();
        perms.set_readonly(false);
        let _ = std::fs::set_permissions(p, perms);
    }
    std::fs::remove_file(p)
}

#[cfg(unix)]
fn file_mode(p: &Path) -> i32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| (m.permissions().mode() & 0o777) as i32).unwrap_or(DEFAULT_FILE_MODE)
}

#[cfg(not(unix))]
fn file_mode(_p: &Path) -> i32 {
    DEFAULT_FILE_MODE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(volumes: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"volumes": volumes, "containers": [{"name": "c", "image": "alpine"}]}
        }))
        .unwrap()
    }

    #[test]
    fn admission_refuses_host_paths_devices_and_unsupported_sources() {
        let host = pod(serde_json::json!([{"name": "a", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/srv"}}]));
        let r = admit(&host, false).unwrap_err();
        assert_eq!(r.field, "spec.volumes[1].hostPath");
        assert!(r.reason.contains("--allow-host-path"), "{}", r.reason);
        assert_eq!(admit(&host, true), Ok(()));
        let sock = pod(serde_json::json!([{"name": "h", "hostPath": {"path": "/run/x.sock", "type": "Socket"}}]));
        assert_eq!(admit(&sock, true).unwrap_err().field, "spec.volumes[0].hostPath.type");
        let nfs = pod(serde_json::json!([{"name": "n", "nfs": {"server": "s", "path": "/"}}]));
        let r = admit(&nfs, true).unwrap_err();
        assert_eq!(r.field, "spec.volumes[0].nfs");
        assert_eq!(r.reason, format!("nfs volumes are not supported by this wasmpod version (supported: {SUPPORTED})"));
    }

    #[test]
    fn expanded_sub_paths_are_checked_as_the_kubelet_does() {
        assert_eq!(check_expanded("/etc").unwrap_err().to_string(), "error SubPath `/etc` must not be an absolute path");
        assert_eq!(check_expanded("a/../..").unwrap_err().to_string(), "unable to provision SubPath `a/../..`: must not contain '..'");
        assert!(check_expanded("logs/p").is_ok());
    }

    #[test]
    fn storage_limits_sum_the_containers_as_pod_limits_does() {
        let spec = |init_limit: &str| -> Pod {
            let res = |l: &str| serde_json::json!({"limits": {"ephemeral-storage": l}});
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "p"},
                "spec": {
                    "initContainers": [
                        {"name": "i", "image": "x", "resources": res(init_limit)},
                        {"name": "s", "image": "x", "restartPolicy": "Always", "resources": res("512Mi")},
                    ],
                    "containers": [
                        {"name": "a", "image": "x", "resources": res("1Gi")},
                        {"name": "b", "image": "x"},
                        {"name": "z", "image": "x", "resources": res("0")},
                    ],
                }
            }))
            .unwrap()
        };
        let volumes = PodVolumes { local: vec![PathBuf::from("/v/cache")], ..Default::default() };
        let dirs = |c: &str| [PathBuf::from(format!("/root/{c}")), PathBuf::from(format!("/logs/{c}"))];
        let messages = |pod: &Pod| volumes.storage_limits(pod, dirs).iter().map(StorageLimit::eviction_message).collect::<Vec<_>>();
        // App containers and the sidecar add up (1Gi + 0 + 512Mi); the init
        // container runs alone and is smaller. Only app containers with a
        // non-zero limit are checked alone.
        assert_eq!(
            messages(&spec("1Gi")),
            [
                "Pod ephemeral local storage usage exceeds the total limit of containers 1536Mi. ",
                "Container a exceeded its local ephemeral storage limit \"1Gi\". ",
            ]
        );
        // A larger init container sets the pod's limit.
        assert_eq!(messages(&spec("2Gi"))[0], "Pod ephemeral local storage usage exceeds the total limit of containers 2Gi. ");
        // An init container runs beside the sidecars declared before it.
        let mut sidecar_first = spec("2Gi");
        sidecar_first.spec.as_mut().unwrap().init_containers.as_mut().unwrap().reverse();
        assert_eq!(messages(&sidecar_first)[0], "Pod ephemeral local storage usage exceeds the total limit of containers 2560Mi. ");
        let limits = volumes.storage_limits(&spec("1Gi"), dirs);
        assert_eq!(limits[0].bytes, 1536 << 20);
        assert_eq!(limits[0].dirs.len(), 2 * 5 + 1, "every container's root and logs, and the local volume");
        assert_eq!(limits[1].dirs, dirs("a"));
        // No limit anywhere: nothing to watch.
        assert!(volumes.storage_limits(&pod(serde_json::json!([])), dirs).is_empty());
    }
}

//! Materializing each volume source as a host directory.
//!
//! configMap, secret and downwardAPI volumes are written once, when the pod
//! starts: with `run` the objects cannot change while the pod runs, so the
//! kubelet's `..data` link swapping (atomic updates) has nothing to do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, DownwardAPIVolumeSource, EmptyDirVolumeSource, HostPathVolumeSource, KeyToPath, Pod, SecretVolumeSource,
};

use super::VolumeError;
use super::usage::StorageLimit;
use crate::manifest::{self, EnvSources, PodFacts, Quantity};

/// Default mode of projected files (`defaultMode`), as the API server defaults it.
pub const DEFAULT_FILE_MODE: i32 = 0o644;

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> VolumeError + 'a {
    move |source| VolumeError::Io { action, path: path.to_owned(), source }
}

/// A fresh, empty directory at `dir` (a previous run's is removed).
pub(super) fn fresh_dir(dir: &Path) -> Result<(), VolumeError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot remove", dir)(e)),
    }
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))
}

/// Where a `medium: Memory` emptyDir lives: a RAM-backed directory where
/// the platform has one at a well-known place (Linux: `/dev/shm`, a tmpfs
/// on every common distribution), else `None` and the volume stays on disk.
#[cfg(target_os = "linux")]
fn memory_root() -> Option<PathBuf> {
    let shm = Path::new("/dev/shm");
    shm.is_dir().then(|| shm.join("wasmpod"))
}

/// macOS and Windows have no RAM file system at a fixed path (macOS needs a
/// RAM disk created with `hdiutil`, Windows a driver); `medium: Memory` is
/// disk-backed there.
#[cfg(not(target_os = "linux"))]
fn memory_root() -> Option<PathBuf> {
    None
}

/// An emptyDir: `<pod>/volumes/<name>`, or for `medium: Memory`
/// `/dev/shm/wasmpod/<pod uid>/<name>` where available. Returns the
/// directory and its size limit, if any.
pub(super) fn empty_dir(name: &str, ed: &EmptyDirVolumeSource, disk: &Path, uid: &str) -> Result<(PathBuf, Option<StorageLimit>), VolumeError> {
    let dir = match (ed.medium.as_deref(), memory_root()) {
        (Some("Memory"), Some(root)) => root.join(uid).join(name),
        _ => disk.to_path_buf(),
    };
    fresh_dir(&dir)?;
    // The kubelet makes emptyDir directories 0777 (drwxrwxrwx).
    set_mode(&dir, 0o777)?;
    let limit = match &ed.size_limit {
        Some(q) => {
            // Validation accepted it; a parse failure here is a bug, not input.
            let parsed: Quantity = q.0.parse().map_err(|_| VolumeError::Invalid { detail: format!("sizeLimit {:?}", q.0) })?;
            Some(StorageLimit::empty_dir(name, dir.clone(), parsed.value().max(0) as u64, parsed.to_string()))
        }
        None => None,
    };
    Ok((dir, limit))
}

/// Writes one projected file with its mode. Parent directories are created
/// (item paths may have several components).
fn write_file(root: &Path, rel: &str, data: &[u8], mode: i32) -> Result<(), VolumeError> {
    let path = rel.split('/').filter(|p| !p.is_empty()).fold(root.to_path_buf(), |p, c| p.join(c));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    }
    std::fs::write(&path, data).map_err(io("cannot write", &path))?;
    set_mode(&path, mode)
}

/// File modes are Unix permissions, applied as given.
#[cfg(unix)]
pub(super) fn set_mode(path: &Path, mode: i32) -> Result<(), VolumeError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode((mode & 0o777) as u32)).map_err(io("cannot set the mode of", path))
}

/// With an fsGroup, the kubelet makes every file of a volume group-readable
/// (and group-writable unless the volume is read-only: configMap, secret,
/// downwardAPI) and every directory setgid and group-searchable
/// (`SetVolumeOwnership`); links are left alone.
#[cfg(unix)]
pub(super) fn fs_group_modes(root: &Path, read_only: bool) -> Result<(), VolumeError> {
    use std::os::unix::fs::PermissionsExt;
    let mask = if read_only { 0o440 } else { 0o660 };
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = path.symlink_metadata().map_err(io("cannot read", &path))?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let extra = if meta.is_dir() { mask | 0o2000 | 0o110 } else { mask };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode((meta.permissions().mode() & 0o7777) | extra))
            .map_err(io("cannot set the mode of", &path))?;
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).map_err(io("cannot read", &path))?.flatten().map(|e| e.path()));
        }
    }
    Ok(())
}

/// Windows has no permission bits to widen.
#[cfg(not(unix))]
pub(super) fn fs_group_modes(_root: &Path, _read_only: bool) -> Result<(), VolumeError> {
    Ok(())
}

/// Windows has no permission bits. A mode without any write bit makes the
/// file read-only (its one permission attribute); other bits have no
/// equivalent. Guests see no modes either way: WASI does not expose them.
#[cfg(not(unix))]
pub(super) fn set_mode(path: &Path, mode: i32) -> Result<(), VolumeError> {
    let mut perms = std::fs::metadata(path).map_err(io("cannot read", path))?.permissions();
    perms.set_readonly(mode & 0o222 == 0);
    std::fs::set_permissions(path, perms).map_err(io("cannot set the mode of", path))
}

/// The files of a key-value object: every key, or the listed `items`
/// (`MakePayload` in K:pkg/volume/configmap and secret). A listed key that
/// is missing is an error unless the volume is optional.
fn project(
    dir: &Path,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: i32,
    optional: bool,
    missing_key: impl Fn(&str) -> VolumeError,
) -> Result<(), VolumeError> {
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, v) in data {
                write_file(dir, k, v, default_mode)?;
            }
        }
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(v) => write_file(dir, &item.path, v, item.mode.unwrap_or(default_mode))?,
                    None if optional => {}
                    None => return Err(missing_key(&item.key)),
                }
            }
        }
    }
    Ok(())
}

fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().filter(|s| !s.is_empty()).unwrap_or("default")
}

pub(super) fn config_map(dir: &Path, src: &ConfigMapVolumeSource, pod: &Pod, objects: &EnvSources<'_>) -> Result<(), VolumeError> {
    fresh_dir(dir)?;
    let optional = src.optional.unwrap_or(false);
    let Some(cm) = objects.config_map(namespace(pod), &src.name) else {
        return if optional { Ok(()) } else { Err(VolumeError::ConfigMapNotFound { name: src.name.clone() }) };
    };
    let mut data: BTreeMap<String, Vec<u8>> = cm.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    data.extend(cm.binary_data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())));
    let mode = src.default_mode.unwrap_or(DEFAULT_FILE_MODE);
    project(dir, &data, src.items.as_ref(), mode, optional, |k| VolumeError::ConfigMapKeyNotFound { key: k.to_owned() })
}

pub(super) fn secret(dir: &Path, src: &SecretVolumeSource, pod: &Pod, objects: &EnvSources<'_>) -> Result<(), VolumeError> {
    fresh_dir(dir)?;
    let optional = src.optional.unwrap_or(false);
    let name = src.secret_name.clone().unwrap_or_default();
    let Some(s) = objects.secret(namespace(pod), &name) else {
        return if optional { Ok(()) } else { Err(VolumeError::SecretNotFound { name }) };
    };
    let data: BTreeMap<String, Vec<u8>> = s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    let mode = src.default_mode.unwrap_or(DEFAULT_FILE_MODE);
    project(dir, &data, src.items.as_ref(), mode, optional, |k| VolumeError::SecretKeyNotFound { key: k.to_owned() })
}

/// downwardAPI files: `fieldRef` values as the env var of the same field
/// would hold them (labels and annotations as `key="value"` lines), and
/// `resourceFieldRef` values of the named container, `ceil(value/divisor)`.
pub(super) fn downward_api(dir: &Path, src: &DownwardAPIVolumeSource, pod: &Pod, facts: &PodFacts) -> Result<(), VolumeError> {
    fresh_dir(dir)?;
    let default_mode = src.default_mode.unwrap_or(DEFAULT_FILE_MODE);
    for item in src.items.iter().flatten() {
        let value = if let Some(fr) = &item.field_ref {
            manifest::field_value(pod, &fr.field_path, facts)?
        } else if let Some(rr) = &item.resource_field_ref {
            let wanted = rr.container_name.as_deref().unwrap_or_default();
            let spec = pod.spec.as_ref();
            let container = spec
                .into_iter()
                .flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
                .find(|c| c.name == wanted)
                .ok_or_else(|| VolumeError::Env(manifest::EnvError::ContainerNotFound { container: wanted.to_owned() }))?;
            manifest::resource_value(pod, container, rr, facts)?
        } else {
            continue;
        };
        write_file(dir, &item.path, value.as_bytes(), item.mode.unwrap_or(default_mode))?;
    }
    Ok(())
}

/// hostPath `type` checks (`checkType` in K:pkg/volume/hostpath), creating
/// what the `...OrCreate` types ask for. Returns whether the path is a
/// directory. Socket and device types were refused before the pod started.
pub(super) fn host_path(src: &HostPathVolumeSource) -> Result<bool, VolumeError> {
    let path = Path::new(&src.path);
    let fail = |what: &str| VolumeError::HostPathType { detail: format!("{} is not a {what}", src.path) };
    match src.type_.as_deref().unwrap_or_default() {
        "DirectoryOrCreate" => {
            if !path.exists() {
                std::fs::create_dir_all(path).map_err(io("cannot create", path))?;
            }
            if !path.is_dir() {
                return Err(fail("directory"));
            }
        }
        "Directory" if !path.is_dir() => return Err(fail("directory")),
        "FileOrCreate" => {
            if !path.exists() {
                // As the kubelet: the file, not its parent directories.
                std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(io("cannot create", path))?;
                set_mode(path, DEFAULT_FILE_MODE)?;
            }
            if !path.is_file() {
                return Err(fail("file"));
            }
        }
        "File" if !path.is_file() => return Err(fail("file")),
        _ => {
            if !path.exists() {
                return Err(VolumeError::HostPathType { detail: format!("{} does not exist", src.path) });
            }
        }
    }
    Ok(path.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_empty_dirs_use_the_ram_root_where_there_is_one_and_disk_otherwise() {
        let disk = tempfile::tempdir().unwrap();
        let uid = uuid::Uuid::new_v4().to_string();
        let ed = EmptyDirVolumeSource { medium: Some("Memory".into()), size_limit: None };
        let (dir, limit) = empty_dir("cache", &ed, &disk.path().join("cache"), &uid).unwrap();
        assert!(limit.is_none());
        match memory_root() {
            Some(root) => assert_eq!(dir, root.join(&uid).join("cache")),
            None => assert_eq!(dir, disk.path().join("cache")),
        }
        assert!(dir.is_dir());
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
        let ed = EmptyDirVolumeSource { medium: None, size_limit: Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity("1Gi".into())) };
        let (dir, limit) = empty_dir("v", &ed, &disk.path().join("v"), &uid).unwrap();
        assert_eq!(dir, disk.path().join("v"));
        let limit = limit.unwrap();
        assert_eq!((limit.bytes, limit.eviction_message()), (1 << 30, "Usage of EmptyDir volume \"v\" exceeds the limit \"1Gi\". ".to_owned()));
    }
}

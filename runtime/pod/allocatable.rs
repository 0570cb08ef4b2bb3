//! What this machine offers pods: the node's allocatable, which the
//! downward API reports for `limits.cpu`, `limits.memory` and
//! `limits.ephemeral-storage` of a container without that limit, as the
//! kubelet reports its node's allocatable (wasmpod reserves nothing for
//! the system, so allocatable is capacity).

use std::path::Path;

/// The node's allocatable resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Allocatable {
    /// CPUs, in millicores.
    pub cpu_millis: i64,
    /// Memory, in bytes (0 where the platform's reading is not known).
    pub memory_bytes: i64,
    /// The state directory's file system, in bytes (0 where unknown).
    pub ephemeral_storage_bytes: i64,
}

impl Allocatable {
    /// This machine's, with pods' files under `state_dir`.
    pub(crate) fn here(state_dir: &Path) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            cpu_millis: i64::try_from(cpus).unwrap_or(i64::MAX).saturating_mul(1000),
            memory_bytes: memory_bytes().unwrap_or(0),
            ephemeral_storage_bytes: storage_bytes(state_dir).unwrap_or(0),
        }
    }
}

/// Total memory: `MemTotal` of /proc/meminfo.
#[cfg(target_os = "linux")]
fn memory_bytes() -> Option<i64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: i64 = info.lines().find_map(|l| l.strip_prefix("MemTotal:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Total memory: the `hw.memsize` sysctl.
#[cfg(target_os = "macos")]
fn memory_bytes() -> Option<i64> {
    let mut size: u64 = 0;
    let mut len = std::mem::size_of::<u64>();
    // SAFETY: the name is NUL-terminated and `size` is a u64 of `len` bytes.
    let rc = unsafe { libc::sysctlbyname(c"hw.memsize".as_ptr(), (&mut size as *mut u64).cast(), &mut len, std::ptr::null_mut(), 0) };
    (rc == 0).then(|| i64::try_from(size).unwrap_or(i64::MAX))
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn memory_bytes() -> Option<i64> {
    None
}

/// The size of the file system holding `path` (macOS: `statfs`, whose
/// block count is 64-bit where `statvfs`'s is 32-bit, which would cap
/// the answer at 16 TiB of 4 KiB blocks).
#[cfg(target_os = "macos")]
fn storage_bytes(path: &Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs writes only the struct given; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let bytes = st.f_blocks.saturating_mul(u64::from(st.f_bsize));
    Some(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// The size of the file system holding `path`.
#[cfg(all(unix, not(target_os = "macos")))]
fn storage_bytes(path: &Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes only the struct given; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    // Field widths differ between platforms.
    #[allow(clippy::unnecessary_cast)]
    let bytes = (st.f_blocks as u64).saturating_mul(st.f_frsize as u64);
    Some(i64::try_from(bytes).unwrap_or(i64::MAX))
}

#[cfg(not(unix))]
fn storage_bytes(_path: &Path) -> Option<i64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_offers_its_cpus_memory_and_disk() {
        let dir = tempfile::tempdir().unwrap();
        let a = Allocatable::here(dir.path());
        let cpus = std::thread::available_parallelism().unwrap().get() as i64;
        assert_eq!(a.cpu_millis, cpus * 1000);
        #[cfg(target_os = "linux")]
        {
            assert!(a.memory_bytes > 64 << 20, "{a:?}");
            assert!(a.ephemeral_storage_bytes > 0, "{a:?}");
        }
    }
}

//! Unix domain sockets.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub(crate) const ENDPOINT_EXT: &str = "sock";

/// A listening socket; its file is removed on drop.
pub(crate) struct Listener {
    inner: tokio::net::UnixListener,
    path: PathBuf,
}

impl Listener {
    /// Listens at `endpoint` (inside the 0700 `api` directory), owner-only.
    pub fn bind(endpoint: &Path) -> io::Result<Self> {
        fits_in_sockaddr(endpoint)?;
        // A file left by a dead process of the same pid (pids are reused).
        let _ = std::fs::remove_file(endpoint);
        let inner = tokio::net::UnixListener::bind(endpoint)?;
        std::fs::set_permissions(endpoint, std::fs::Permissions::from_mode(0o600))?;
        Ok(Self { inner, path: endpoint.to_owned() })
    }

    pub async fn accept(&mut self) -> io::Result<tokio::net::UnixStream> {
        Ok(self.inner.accept().await?.0)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(crate) async fn connect(endpoint: &Path) -> io::Result<tokio::net::UnixStream> {
    fits_in_sockaddr(endpoint)?;
    tokio::net::UnixStream::connect(endpoint).await
}

/// A socket's path must fit `sockaddr_un.sun_path` with its NUL: 107
/// bytes on Linux, 103 on macOS and the BSDs. The socket lives in the
/// state directory, so the error says to choose a shorter one.
fn fits_in_sockaddr(endpoint: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    let addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let max = addr.sun_path.len() - 1;
    let len = endpoint.as_os_str().as_bytes().len();
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the socket path is {len} bytes long, and this system allows at most {max}: use a state directory with a shorter path (--state-dir or WASMPOD_STATE_DIR)"
            ),
        ));
    }
    Ok(())
}

/// Makes the `api` directory private to the user.
pub(crate) fn restrict_dir(dir: &Path) -> io::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_socket_path_too_long_for_the_system_is_refused_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let long = dir.path().join("d".repeat(120)).join("api/serve-1.sock");
        let err = Listener::bind(&long).err().expect("refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("use a state directory with a shorter path"), "{err}");
        let short = dir.path().join("s.sock");
        assert!(Listener::bind(&short).is_ok());
    }
}

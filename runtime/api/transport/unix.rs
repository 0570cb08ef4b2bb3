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
    tokio::net::UnixStream::connect(endpoint).await
}

/// Makes the `api` directory private to the user.
pub(crate) fn restrict_dir(dir: &Path) -> io::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

//! Named pipes. The pipe's name derives from the state directory and the
//! pid (`\\.\pipe\wasmpod-<hash>-<pid>`); the endpoint file holds it,
//! since pipes cannot be listed per directory.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::Digest;
use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions};

pub(crate) const ENDPOINT_EXT: &str = "pipe";

/// `ERROR_PIPE_BUSY`: every instance is connected; wait and retry.
const ERROR_PIPE_BUSY: i32 = 231;

/// A pipe accepting connections; its endpoint file is removed on drop.
pub(crate) struct Listener {
    name: String,
    next: NamedPipeServer,
    path: PathBuf,
}

impl Listener {
    pub fn bind(endpoint: &Path) -> io::Result<Self> {
        let dir = endpoint.parent().and_then(Path::parent).unwrap_or(endpoint);
        let hash = hex::encode(&sha2::Sha256::digest(dir.to_string_lossy().as_bytes())[..8]);
        let name = format!(r"\\.\pipe\wasmpod-{hash}-{}", std::process::id());
        // Default security: the creator, SYSTEM and administrators; remote
        // clients are refused.
        let next = ServerOptions::new().first_pipe_instance(true).reject_remote_clients(true).create(&name)?;
        std::fs::write(endpoint, &name)?;
        Ok(Self { name, next, path: endpoint.to_owned() })
    }

    pub async fn accept(&mut self) -> io::Result<NamedPipeServer> {
        self.next.connect().await?;
        let fresh = ServerOptions::new().reject_remote_clients(true).create(&self.name)?;
        Ok(std::mem::replace(&mut self.next, fresh))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(crate) async fn connect(endpoint: &Path) -> io::Result<NamedPipeClient> {
    let name = std::fs::read_to_string(endpoint)?;
    loop {
        match ClientOptions::new().open(name.trim()) {
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) => tokio::time::sleep(Duration::from_millis(20)).await,
            other => return other,
        }
    }
}

/// The directory's ACL is inherited from the user's profile directory.
pub(crate) fn restrict_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

//! Finding the runtime processes of a state directory.
//!
//! Several processes may share one state directory (each pod is locked
//! by the one that runs it). Each listens on its own endpoint,
//! `<state>/api/<role>-<pid>.sock` (`.pipe` on Windows), where role is
//! `serve` (a daemon that takes new pods) or `run` (a foreground run that
//! only serves its own). A client lists the directory and connects to a
//! live one, removing the files of processes that died.

use std::path::{Path, PathBuf};

use super::transport;

/// What kind of process serves an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// `wasmpod serve`, or an embedder's server that takes new pods.
    Serve,
    /// `wasmpod run`: serves while its own pods run; creates no pods.
    Run,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Serve => "serve",
            Role::Run => "run",
        }
    }
}

/// One process's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its role.
    pub role: Role,
    /// Its process id.
    pub pid: u32,
    /// The endpoint file.
    pub path: PathBuf,
}

/// `<state>/api`.
pub(crate) fn api_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("api")
}

/// The endpoint file this process listens on, with its directory made.
pub(crate) fn own_endpoint(state_dir: &Path, role: Role) -> std::io::Result<PathBuf> {
    let dir = api_dir(state_dir);
    std::fs::create_dir_all(&dir)?;
    transport::restrict_dir(&dir)?;
    Ok(dir.join(format!("{}-{}.{}", role.as_str(), std::process::id(), transport::ENDPOINT_EXT)))
}

/// Every endpoint file of the state directory, `serve` daemons first,
/// then by pid. Live or not: connecting tells.
pub(crate) fn endpoints(state_dir: &Path) -> Vec<Endpoint> {
    let Ok(entries) = std::fs::read_dir(api_dir(state_dir)) else { return Vec::new() };
    let mut out: Vec<Endpoint> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix(&format!(".{}", transport::ENDPOINT_EXT))?;
            let (role, pid) = stem.split_once('-')?;
            let role = match role {
                "serve" => Role::Serve,
                "run" => Role::Run,
                _ => return None,
            };
            Some(Endpoint { role, pid: pid.parse().ok()?, path: e.path() })
        })
        .collect();
    out.sort_by_key(|e| (e.role, e.pid));
    out
}

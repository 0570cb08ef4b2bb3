//! Registry credentials: a Docker `config.json` (`auths`), as Docker,
//! containerd's CRI plugin and the kubelet's `imagePullSecrets`
//! (`.dockerconfigjson`) write them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// User name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Credentials by registry host, from one or more Docker config files.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    by_host: BTreeMap<String, Credentials>,
}

/// Docker Hub's names in config files.
const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// The host a config key names: `https://index.docker.io/v1/` and
/// `docker.io` are both Docker Hub; scheme and path are dropped.
fn host_of(key: &str) -> String {
    let rest = key.split_once("://").map_or(key, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or_default().to_ascii_lowercase();
    if DOCKER_HUB.contains(&host.as_str()) { "docker.io".into() } else { host }
}

impl Keyring {
    /// The user's Docker config: `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`; empty when there is none.
    pub fn from_user() -> Result<Self, String> {
        let path = match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir).join("config.json"),
            None => match directories::BaseDirs::new() {
                Some(b) => b.home_dir().join(".docker").join("config.json"),
                None => return Ok(Self::default()),
            },
        };
        match std::fs::read(&path) {
            Ok(bytes) => Self::from_docker_config(&bytes).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// The file `path` (a Docker config.json).
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_docker_config(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A Docker config.json's `auths` (also a `kubernetes.io/dockerconfigjson`
    /// Secret's `.dockerconfigjson`).
    pub fn from_docker_config(bytes: &[u8]) -> Result<Self, String> {
        let config: DockerConfig = serde_json::from_slice(bytes).map_err(|e| format!("not a Docker config: {e}"))?;
        Self::from_entries(config.auths)
    }

    /// The legacy `~/.dockercfg` (a `kubernetes.io/dockercfg` Secret's
    /// `.dockercfg`): the `auths` map on its own.
    pub fn from_dockercfg(bytes: &[u8]) -> Result<Self, String> {
        let auths: BTreeMap<String, AuthEntry> = serde_json::from_slice(bytes).map_err(|e| format!("not a .dockercfg: {e}"))?;
        Self::from_entries(auths)
    }

    fn from_entries(auths: BTreeMap<String, AuthEntry>) -> Result<Self, String> {
        let mut by_host = BTreeMap::new();
        for (key, entry) in auths {
            let creds = match (entry.username, entry.password, entry.auth) {
                (Some(username), Some(password), _) => Credentials { username, password },
                (_, _, Some(auth)) => {
                    let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|e| format!("auths.{key}.auth: {e}"))?;
                    let text = String::from_utf8(decoded).map_err(|_| format!("auths.{key}.auth: not UTF-8"))?;
                    let (u, p) = text.split_once(':').ok_or_else(|| format!("auths.{key}.auth: expected base64 of user:password"))?;
                    Credentials { username: u.to_owned(), password: p.to_owned() }
                }
                _ => continue,
            };
            by_host.insert(host_of(&key), creds);
        }
        Ok(Self { by_host })
    }

    /// Whether it holds no credentials.
    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }

    /// Adds `other`'s entries; entries already here win (the kubelet tries
    /// a pod's own secrets before the node's).
    pub fn extend(&mut self, other: Keyring) {
        for (k, v) in other.by_host {
            self.by_host.entry(k).or_insert(v);
        }
    }

    /// The credentials for `registry` (host and port), if any.
    pub fn get(&self, registry: &str) -> Option<&Credentials> {
        self.by_host.get(&host_of(registry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_entries_by_host() {
        let json = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
            "127.0.0.1:5000": {"username": "alice", "password": "pw:with:colons"},
            "ghcr.io": {"auth": "Z2g6dG9rZW46eA=="},
            "empty.example": {}
        }}"#;
        let k = Keyring::from_docker_config(json).unwrap();
        assert_eq!(k.get("docker.io").unwrap().username, "hub");
        assert_eq!(k.get("index.docker.io").unwrap().password, "secret");
        assert_eq!(k.get("127.0.0.1:5000").unwrap().password, "pw:with:colons");
        assert_eq!(k.get("ghcr.io").unwrap().password, "token:x", "only the first colon splits");
        assert!(k.get("empty.example").is_none());
        assert!(!format!("{:?}", k.get("ghcr.io").unwrap()).contains("token"), "Debug redacts");
        assert!(Keyring::from_docker_config(br#"{"auths": {"x": {"auth": "!!"}}}"#).unwrap_err().contains("auths.x.auth"));
        let legacy = Keyring::from_dockercfg(br#"{"registry.example:5000": {"auth": "YTpi", "email": "a@example.com"}}"#).unwrap();
        assert_eq!(legacy.get("registry.example:5000").unwrap().username, "a");
        assert!(Keyring::from_dockercfg(b"[]").unwrap_err().contains(".dockercfg"));
    }
}

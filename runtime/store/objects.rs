//! Records of API objects other than pods (Services, NetworkPolicies) a
//! `serve` daemon was given: `objects/<resource>/<namespace>/<name>.json`,
//! each replaced atomically, so a daemon restarted after a crash serves
//! them again.

use std::path::PathBuf;

use super::{StateDir, StoreError, io_err, read_dir_names};

impl StateDir {
    fn object_path(&self, resource: &str, namespace: &str, name: &str) -> PathBuf {
        self.root.join("objects").join(resource).join(namespace).join(format!("{name}.json"))
    }

    /// Records `object` (a validated object, so its namespace and name
    /// are DNS labels or subdomains, safe as file names), replacing the
    /// record before it durably.
    pub fn record_object(&self, resource: &str, namespace: &str, name: &str, object: &serde_json::Value) -> Result<(), StoreError> {
        let path = self.object_path(resource, namespace, name);
        let bytes = serde_json::to_vec_pretty(object).expect("a JSON value serializes");
        super::atomic::write_atomic(&path, &bytes).map_err(io_err("cannot write", &path))
    }

    /// Removes the record of `namespace/name`, if there is one.
    pub fn remove_object(&self, resource: &str, namespace: &str, name: &str) -> Result<(), StoreError> {
        let path = self.object_path(resource, namespace, name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("cannot remove", &path)(e)),
            _ => Ok(()),
        }
    }

    /// Every recorded object of `resource`, by namespace and name: the
    /// file and what it holds (or why it cannot be read).
    pub fn objects(&self, resource: &str) -> Vec<(PathBuf, Result<serde_json::Value, StoreError>)> {
        let dir = self.root.join("objects").join(resource);
        let mut out = Vec::new();
        let mut namespaces = read_dir_names(&dir).unwrap_or_default();
        namespaces.sort();
        for ns in namespaces {
            let Ok(entries) = std::fs::read_dir(dir.join(&ns)) else { continue };
            let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
            files.sort();
            for path in files {
                let value = std::fs::read(&path).map_err(io_err("cannot read", &path)).and_then(|bytes| {
                    serde_json::from_slice(&bytes).map_err(|e| io_err("cannot parse", &path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
                });
                out.push((path, value));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_recorded_listed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        state.record_object("services", "default", "web", &serde_json::json!({"kind": "Service"})).unwrap();
        state.record_object("services", "other", "db", &serde_json::json!({"kind": "Service", "n": 1})).unwrap();
        let found: Vec<serde_json::Value> = state.objects("services").into_iter().map(|(_, v)| v.unwrap()).collect();
        assert_eq!(found.len(), 2);
        assert!(state.objects("networkpolicies").is_empty());
        state.remove_object("services", "default", "web").unwrap();
        state.remove_object("services", "default", "web").unwrap();
        assert_eq!(state.objects("services").len(), 1);
        std::fs::write(dir.path().join("objects/services/other/bad.json"), b"{").unwrap();
        assert_eq!(state.objects("services").iter().filter(|(_, v)| v.is_err()).count(), 1);
    }
}

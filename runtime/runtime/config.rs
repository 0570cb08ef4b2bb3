//! ConfigMaps, Secrets and ServiceAccounts given through the API. A
//! `serve` daemon keeps them (recorded in the state directory, like
//! Services, when [`RuntimeConfig::record_objects`](super::RuntimeConfig)),
//! and pods it creates later read them for env, envFrom and volumes, after
//! the objects of their own input. Every namespace has the `default`
//! ServiceAccount, as the ServiceAccount controller makes it.
//!
//! A running pod keeps what it read at start: the kubelet refreshes
//! configMap and secret volumes of running pods, wasmpod does not yet.

use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::{Error, Runtime};

/// How an object is put: applied (created or replaced), created (must be
/// new), or restored from its record (keeping its uid and creation time).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Put {
    Apply,
    Create,
    Restore,
}

/// Objects of one kind by namespace and name.
pub(super) type ObjectMap<T> = Mutex<BTreeMap<(String, String), T>>;

/// How many object deletions a watch can replay.
const KEPT_DELETIONS: usize = 1024;

/// Recent creations and deletions of objects other than pods, for
/// watches that start from an earlier `resourceVersion`: (its version,
/// resource, whether a deletion, the object (created: its key; deleted:
/// its last state)), and the newest version no longer kept.
#[derive(Default)]
pub(super) struct DeletionLog {
    entries: std::collections::VecDeque<(u64, String, bool, serde_json::Value)>,
    floor: u64,
}

impl DeletionLog {
    /// Keeps an entry, forgetting the oldest past [`KEPT_DELETIONS`].
    fn push(&mut self, version: u64, resource: &str, deleted: bool, object: serde_json::Value) {
        self.entries.push_back((version, resource.to_owned(), deleted, object));
        while self.entries.len() > KEPT_DELETIONS {
            if let Some((v, ..)) = self.entries.pop_front() {
                self.floor = v;
            }
        }
    }
}

/// What a watch from a `resourceVersion` replays: the creations and
/// deletions since then, or why it cannot.
pub enum Replay {
    /// The objects of the resource created after the version (namespace
    /// and name), and those deleted after it (their last state), oldest
    /// first.
    Since {
        /// Created since: `(namespace, name)`.
        created: Vec<(String, String)>,
        /// Deleted since.
        deleted: Vec<serde_json::Value>,
    },
    /// Older than the deletions kept: 410 Expired, the client lists again.
    Expired {
        /// The oldest version a watch can start from.
        oldest: u64,
    },
    /// Newer than this process has reached (e.g. from before a restart).
    TooLarge {
        /// The version now.
        current: u64,
    },
}

/// The resources as the API server names them in its messages and
/// `objects/` names its folders.
pub(super) const CONFIG_MAPS: &str = "configmaps";
pub(super) const SECRETS: &str = "secrets";

pub(super) fn not_found(resource: &str, namespace: &str, name: &str) -> Error {
    Error::ObjectNotFound { resource: resource.into(), namespace: namespace.into(), name: name.into() }
}

/// The key of an object: its namespace (default `default`) and name.
fn key_of(meta: &ObjectMeta) -> (String, String) {
    (meta.namespace.clone().unwrap_or_else(|| "default".into()), meta.name.clone().unwrap_or_default())
}

/// `obj` as the API server returns it after a write: in its namespace,
/// with the uid and creation time of the object it replaces (`old`) or
/// new ones, and resourceVersion `version` (`None`: the one it has).
pub(super) fn stamped<T: k8s_openapi::Metadata<Ty = ObjectMeta> + Clone>(obj: &T, old: Option<&T>, version: Option<u64>) -> T {
    let mut out = obj.clone();
    let key = key_of(obj.metadata());
    let old = old.map(|o| o.metadata());
    let meta = out.metadata_mut();
    meta.namespace = Some(key.0);
    if let Some(v) = version {
        meta.resource_version = Some(v.to_string());
    }
    meta.uid = old.and_then(|o| o.uid.clone()).or_else(|| Some(uuid::Uuid::new_v4().to_string()));
    meta.creation_timestamp = old.and_then(|o| o.creation_timestamp.clone()).or_else(|| Some(Time(jiff::Timestamp::now())));
    out
}

impl Runtime {
    /// Puts `obj` of `resource` into `map`: stamped, recorded when objects
    /// are recorded (nothing changes when the record cannot be written),
    /// `AlreadyExists` for a creation of a name in use, decided under the
    /// map's lock. `check` may refuse the change (given the old object).
    fn put_object<T>(&self, map: &ObjectMap<T>, resource: &str, obj: &T, how: Put, check: impl FnOnce(Option<&T>, &T) -> Result<(), Error>) -> Result<T, Error>
    where
        T: k8s_openapi::Metadata<Ty = ObjectMeta> + Clone + serde::Serialize,
    {
        let key = key_of(obj.metadata());
        if how != Put::Restore {
            self.open_namespace(&key.0)?;
        }
        let mut objects = map.lock().unwrap_or_else(|p| p.into_inner());
        if how == Put::Create && objects.contains_key(&key) {
            return Err(Error::ObjectExists { resource: resource.into(), namespace: key.0, name: key.1 });
        }
        let old = if how == Put::Restore { Some(obj) } else { objects.get(&key) };
        if how != Put::Restore {
            check(old, obj)?;
        }
        let out = stamped(obj, old, self.version_for(how, obj.metadata()));
        if old.is_none() {
            self.log_creation(resource, &key);
        }
        if self.record_objects {
            self.state.record_object(resource, &key.0, &key.1, &serde_json::to_value(&out).expect("API objects serialize"))?;
        }
        objects.insert(key, out.clone());
        Ok(out)
    }

    fn object<T: Clone>(map: &ObjectMap<T>, resource: &str, namespace: &str, name: &str) -> Result<T, Error> {
        let objects = map.lock().unwrap_or_else(|p| p.into_inner());
        objects.get(&(namespace.to_owned(), name.to_owned())).cloned().ok_or_else(|| not_found(resource, namespace, name))
    }

    fn objects_in<T: Clone>(map: &ObjectMap<T>, namespace: Option<&str>) -> Vec<T> {
        let objects = map.lock().unwrap_or_else(|p| p.into_inner());
        objects.iter().filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns)).map(|(_, o)| o.clone()).collect()
    }

    /// Removes `namespace/name` from `map` and its record.
    pub(super) fn delete_object<T: serde::Serialize>(&self, map: &ObjectMap<T>, resource: &str, namespace: &str, name: &str) -> Result<T, Error> {
        let key = (namespace.to_owned(), name.to_owned());
        let mut objects = map.lock().unwrap_or_else(|p| p.into_inner());
        if !objects.contains_key(&key) {
            return Err(not_found(resource, namespace, name));
        }
        if self.record_objects {
            self.state.remove_object(resource, namespace, name)?;
        }
        let gone = objects.remove(&key).expect("looked up above");
        self.log_deletion(resource, serde_json::to_value(&gone).expect("API objects serialize"));
        Ok(gone)
    }

    /// The resourceVersion an object put `how` gets: the next one, or a
    /// restored object's own (the counter moves past it).
    pub(super) fn version_for(&self, how: Put, meta: &ObjectMeta) -> Option<u64> {
        if how == Put::Restore {
            let kept = meta.resource_version.as_deref().and_then(|v| v.parse().ok());
            if let Some(v) = kept {
                self.registry().advance_to(v);
                return None;
            }
        }
        Some(self.registry().next_version())
    }

    /// Keeps the deletion of an object of `resource` for watches.
    pub(super) fn log_deletion(&self, resource: &str, last: serde_json::Value) {
        let version = self.registry().next_version();
        self.deletions.lock().unwrap_or_else(|p| p.into_inner()).push(version, resource, true, last);
    }

    /// Keeps the creation of object `key` of `resource` for watches (at
    /// the version the creation just took).
    pub(super) fn log_creation(&self, resource: &str, key: &(String, String)) {
        let version = self.registry().generation();
        let object = serde_json::json!({"metadata": {"namespace": key.0, "name": key.1}});
        self.deletions.lock().unwrap_or_else(|p| p.into_inner()).push(version, resource, false, object);
    }

    /// What a watch of `resource` (as `objects/` names it: `services`,
    /// `networkpolicies.networking.k8s.io`, ...) from version `since`
    /// replays.
    pub fn replay_since(&self, resource: &str, since: u64) -> Replay {
        let current = self.registry().generation();
        if since > current {
            return Replay::TooLarge { current };
        }
        let log = self.deletions.lock().unwrap_or_else(|p| p.into_inner());
        if since < log.floor {
            return Replay::Expired { oldest: log.floor };
        }
        let mut created = Vec::new();
        let mut deleted = Vec::new();
        for (_, _, gone, o) in log.entries.iter().filter(|(v, r, ..)| *v > since && r == resource) {
            if *gone {
                deleted.push(o.clone());
            } else {
                let s = |p: &str| o.pointer(p).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
                created.push((s("/metadata/namespace"), s("/metadata/name")));
            }
        }
        Replay::Since { created, deleted }
    }

    /// Creates or replaces a ConfigMap (validated as `manifest::load_*`
    /// leave it); one marked `immutable` cannot change its data, as the API
    /// server refuses it. Returns it as the API server would.
    pub fn apply_config_map(&self, cm: &ConfigMap) -> Result<ConfigMap, Error> {
        self.put_object(&self.config_maps, CONFIG_MAPS, cm, Put::Apply, immutable_config_map)
    }

    /// [`Runtime::apply_config_map`] for a ConfigMap that must be new.
    pub fn create_config_map(&self, cm: &ConfigMap) -> Result<ConfigMap, Error> {
        self.put_object(&self.config_maps, CONFIG_MAPS, cm, Put::Create, immutable_config_map)
    }

    /// ConfigMap `namespace/name`.
    pub fn config_map(&self, namespace: &str, name: &str) -> Result<ConfigMap, Error> {
        Self::object(&self.config_maps, CONFIG_MAPS, namespace, name)
    }

    /// The ConfigMaps of `namespace` (all: `None`), by namespace and name.
    pub fn config_maps(&self, namespace: Option<&str>) -> Vec<ConfigMap> {
        Self::objects_in(&self.config_maps, namespace)
    }

    /// Deletes ConfigMap `namespace/name`; what it was.
    pub fn delete_config_map(&self, namespace: &str, name: &str) -> Result<ConfigMap, Error> {
        self.delete_object(&self.config_maps, CONFIG_MAPS, namespace, name)
    }

    /// Creates or replaces a Secret (`stringData` already merged into
    /// `data` by the manifest defaults); `immutable` as for ConfigMaps.
    pub fn apply_secret(&self, secret: &Secret) -> Result<Secret, Error> {
        self.put_object(&self.secrets, SECRETS, secret, Put::Apply, immutable_secret)
    }

    /// [`Runtime::apply_secret`] for a Secret that must be new.
    pub fn create_secret(&self, secret: &Secret) -> Result<Secret, Error> {
        self.put_object(&self.secrets, SECRETS, secret, Put::Create, immutable_secret)
    }

    /// Secret `namespace/name`.
    pub fn secret(&self, namespace: &str, name: &str) -> Result<Secret, Error> {
        Self::object(&self.secrets, SECRETS, namespace, name)
    }

    /// The Secrets of `namespace` (all: `None`), by namespace and name.
    pub fn secrets(&self, namespace: Option<&str>) -> Vec<Secret> {
        Self::objects_in(&self.secrets, namespace)
    }

    /// Deletes Secret `namespace/name`; what it was.
    pub fn delete_secret(&self, namespace: &str, name: &str) -> Result<Secret, Error> {
        self.delete_object(&self.secrets, SECRETS, namespace, name)
    }

    /// The ServiceAccounts of `namespaces`: each one's `default`, with a
    /// uid derived from the namespace (stable across restarts, as the
    /// controller's object is).
    pub fn service_accounts(&self, namespaces: &[String]) -> Vec<ServiceAccount> {
        namespaces
            .iter()
            .map(|ns| ServiceAccount {
                metadata: ObjectMeta {
                    name: Some("default".into()),
                    namespace: Some(ns.clone()),
                    uid: Some(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("wasmpod/serviceaccount/{ns}/default").as_bytes()).to_string()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .collect()
    }

    /// The ConfigMaps and Secrets given through the API, for pods this
    /// process creates (after those of their own input).
    pub(super) fn stored_env_objects(&self) -> (Vec<ConfigMap>, Vec<Secret>) {
        (self.config_maps(None), self.secrets(None))
    }

    /// Serves again the recorded ConfigMaps and Secrets (each record's
    /// file and what it loaded to); what could not be put.
    pub(super) fn restore_config(&self, maps: Records, secrets: Records) -> Vec<String> {
        let mut failed = Vec::new();
        for (path, m) in maps {
            for cm in &m.config_maps {
                if let Err(e) = self.put_object(&self.config_maps, CONFIG_MAPS, cm, Put::Restore, |_, _| Ok(())) {
                    failed.push(format!("{}: {}", path.display(), crate::error_text::full_message(&e)));
                }
            }
        }
        for (path, m) in secrets {
            for s in &m.secrets {
                if let Err(e) = self.put_object(&self.secrets, SECRETS, s, Put::Restore, |_, _| Ok(())) {
                    failed.push(format!("{}: {}", path.display(), crate::error_text::full_message(&e)));
                }
            }
        }
        failed
    }
}

/// Recorded objects: each file and what it loaded to.
type Records = Vec<(std::path::PathBuf, crate::manifest::Manifests)>;

/// The API server's refusal of a change to an immutable object's data.
fn immutable(kind: &str, name: &str, was: bool, data_changed: bool, now: bool) -> Result<(), Error> {
    if was && (data_changed || !now) {
        let field = if now {
            "data: Forbidden: field is immutable when `immutable` is set"
        } else {
            "immutable: Forbidden: field is immutable when `immutable` is set"
        };
        return Err(Error::Invalid { name: name.into(), message: format!("{kind} \"{name}\" is invalid: {field}") });
    }
    Ok(())
}

fn immutable_config_map(old: Option<&ConfigMap>, new: &ConfigMap) -> Result<(), Error> {
    let Some(old) = old else { return Ok(()) };
    let changed = old.data != new.data || old.binary_data != new.binary_data;
    immutable("ConfigMap", new.metadata.name.as_deref().unwrap_or_default(), old.immutable == Some(true), changed, new.immutable == Some(true))
}

fn immutable_secret(old: Option<&Secret>, new: &Secret) -> Result<(), Error> {
    let Some(old) = old else { return Ok(()) };
    let changed = old.data != new.data || old.type_ != new.type_;
    immutable("Secret", new.metadata.name.as_deref().unwrap_or_default(), old.immutable == Some(true), changed, new.immutable == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(data: &str, immutable: bool) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta { name: Some("c".into()), ..Default::default() },
            data: Some([("k".to_owned(), data.to_owned())].into()),
            immutable: immutable.then_some(true),
            ..Default::default()
        }
    }

    #[test]
    fn an_immutable_config_map_keeps_its_data() {
        immutable_config_map(None, &cm("a", true)).unwrap();
        immutable_config_map(Some(&cm("a", false)), &cm("b", false)).unwrap();
        immutable_config_map(Some(&cm("a", false)), &cm("a", true)).unwrap();
        let e = immutable_config_map(Some(&cm("a", true)), &cm("b", true)).unwrap_err().to_string();
        assert_eq!(e, "ConfigMap \"c\" is invalid: data: Forbidden: field is immutable when `immutable` is set");
        let e = immutable_config_map(Some(&cm("a", true)), &cm("a", false)).unwrap_err().to_string();
        assert!(e.contains("immutable: Forbidden"), "{e}");
    }

    #[test]
    fn a_replacement_keeps_uid_and_creation_time() {
        let first = stamped(&cm("a", false), None, Some(7));
        assert_eq!(first.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(first.metadata.namespace.as_deref(), Some("default"));
        let second = stamped(&cm("b", false), Some(&first), None);
        assert_eq!((second.metadata.uid, second.metadata.creation_timestamp), (first.metadata.uid, first.metadata.creation_timestamp));
    }
}

//! Namespaces: Kubernetes' own four, those created through the API, and
//! those any object is in (wasmpod creates a namespace implicitly with its
//! first object, where kube-apiserver refuses an object in a namespace
//! that does not exist).
//!
//! Deleting a namespace works as the namespace controller does it: the
//! namespace turns `Terminating` (new content is refused, 403), every pod
//! in it is deleted gracefully and every other object at once, and the
//! namespace goes when its last pod has. A created namespace is recorded
//! in the state directory like the other objects; a terminating one is
//! finished again after a restart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::{Error, Runtime};

/// The resource as `objects/` names its folder.
pub(super) const NAMESPACES: &str = "namespaces";

/// Namespaces every cluster has; the first three cannot be deleted.
const BUILT_IN: [&str; 4] = ["default", "kube-node-lease", "kube-public", "kube-system"];
const IMMORTAL: [&str; 3] = ["default", "kube-public", "kube-system"];

/// The namespaces created or being deleted here, by name.
pub(super) type NamespaceMap = Arc<Mutex<BTreeMap<String, Namespace>>>;

/// A namespace as the API server shows it: labelled with its name, with
/// the `kubernetes` finalizer and its phase.
fn shaped(name: &str, mut ns: Namespace) -> Namespace {
    ns.metadata.name = Some(name.to_owned());
    ns.metadata.namespace = None;
    ns.metadata.labels.get_or_insert_with(Default::default).insert("kubernetes.io/metadata.name".into(), name.to_owned());
    ns.spec.get_or_insert_with(|| NamespaceSpec { finalizers: Some(vec!["kubernetes".into()]) });
    let phase = if ns.metadata.deletion_timestamp.is_some() { "Terminating" } else { "Active" };
    ns.status = Some(NamespaceStatus { phase: Some(phase.into()), ..ns.status.unwrap_or_default() });
    ns
}

impl Runtime {
    /// Every namespace: the built-in ones, those created, and those an
    /// object is in, by name.
    pub fn namespaces(&self) -> Vec<Namespace> {
        let mut names: std::collections::BTreeSet<String> = BUILT_IN.iter().map(|s| (*s).to_owned()).collect();
        names.extend(self.list(None).unwrap_or_default().into_iter().filter_map(|p| p.metadata.namespace));
        names.extend(self.services(None).into_iter().filter_map(|s| s.metadata.namespace));
        names.extend(self.network_policies(None).into_iter().filter_map(|p| p.metadata.namespace));
        names.extend(self.config_maps(None).into_iter().filter_map(|c| c.metadata.namespace));
        names.extend(self.secrets(None).into_iter().filter_map(|s| s.metadata.namespace));
        let known = self.namespace_map.lock().unwrap_or_else(|p| p.into_inner()).clone();
        names.extend(known.keys().cloned());
        names
            .into_iter()
            .map(|name| {
                let ns = known.get(&name).cloned().unwrap_or_else(|| Namespace {
                    metadata: ObjectMeta { creation_timestamp: Some(Time(self.started)), ..Default::default() },
                    ..Default::default()
                });
                shaped(&name, ns)
            })
            .collect()
    }

    /// Namespace `name`.
    pub fn namespace(&self, name: &str) -> Result<Namespace, Error> {
        self.namespaces().into_iter().find(|n| n.metadata.name.as_deref() == Some(name)).ok_or_else(|| super::config::not_found(NAMESPACES, "", name))
    }

    /// Creates namespace `ns` (AlreadyExists when it exists, implicitly
    /// too).
    pub fn create_namespace(&self, ns: &Namespace) -> Result<Namespace, Error> {
        let name = ns.metadata.name.clone().unwrap_or_default();
        if name.is_empty() {
            return Err(Error::Invalid { name, message: "Namespace \"\" is invalid: metadata.name: Required value: name or generateName is required".into() });
        }
        if let Some(why) = crate::manifest::dns_label_problem(&name) {
            return Err(Error::Invalid {
                name: name.clone(),
                message: format!("Namespace \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": {why}"),
            });
        }
        if self.namespace(&name).is_ok() {
            return Err(Error::ObjectExists { resource: NAMESPACES.into(), namespace: String::new(), name });
        }
        let mut out = ns.clone();
        out.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
        out.metadata.creation_timestamp = Some(Time(jiff::Timestamp::now()));
        out.metadata.resource_version = Some(self.registry().next_version().to_string());
        out.metadata.deletion_timestamp = None;
        out.status = None;
        let out = shaped(&name, out);
        self.put_namespace(&out)?;
        self.log_creation(NAMESPACES, &(String::new(), name));
        Ok(out)
    }

    /// Replaces the labels and annotations of namespace `ns` (what an
    /// update may change here; the phase is the server's).
    pub fn replace_namespace(&self, ns: &Namespace) -> Result<Namespace, Error> {
        let name = ns.metadata.name.clone().unwrap_or_default();
        let mut out = self.namespace(&name)?;
        out.metadata.labels = ns.metadata.labels.clone();
        out.metadata.annotations = ns.metadata.annotations.clone();
        if out.metadata.uid.is_none() {
            // An implicit namespace becomes a recorded one.
            out.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
        }
        out.metadata.resource_version = Some(self.registry().next_version().to_string());
        let out = shaped(&name, out);
        self.put_namespace(&out)?;
        Ok(out)
    }

    fn put_namespace(&self, ns: &Namespace) -> Result<(), Error> {
        let name = ns.metadata.name.clone().unwrap_or_default();
        if self.record_objects {
            self.state.record_object(NAMESPACES, "", &name, &serde_json::to_value(ns).expect("API objects serialize"))?;
        }
        self.namespace_map.lock().unwrap_or_else(|p| p.into_inner()).insert(name, ns.clone());
        Ok(())
    }

    /// Refuses new content in a namespace being deleted, as the API
    /// server's admission does.
    pub(super) fn open_namespace(&self, namespace: &str) -> Result<(), Error> {
        let terminating = self.namespace_map.lock().unwrap_or_else(|p| p.into_inner()).get(namespace).is_some_and(|n| n.metadata.deletion_timestamp.is_some());
        if terminating {
            return Err(Error::Forbidden(format!("unable to create new content in namespace {namespace} because it is being terminated")));
        }
        Ok(())
    }

    /// Deletes namespace `name` and everything in it: the namespace,
    /// `Terminating`, until its pods are gone.
    pub fn delete_namespace(&self, name: &str) -> Result<Namespace, Error> {
        let mut ns = self.namespace(name)?;
        if IMMORTAL.contains(&name) || name == "kube-node-lease" {
            return Err(Error::Forbidden(format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted")));
        }
        if ns.metadata.deletion_timestamp.is_none() {
            ns.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
            ns.metadata.resource_version = Some(self.registry().next_version().to_string());
            ns = shaped(name, ns);
            self.put_namespace(&ns)?;
        }
        self.empty_namespace(name);
        Ok(ns)
    }

    /// Deletes the content of namespace `name` and, once its pods are
    /// gone, the namespace.
    fn empty_namespace(&self, name: &str) {
        let some = Some(name);
        for p in self.list(some).unwrap_or_default() {
            let pod = p.metadata.name.unwrap_or_default();
            // A pod another process runs is stopped by that process's
            // own deletion; this one waits for its record to go.
            let _ = self.delete(name, &pod, None);
        }
        for s in self.services(some) {
            let _ = self.delete_service(name, s.metadata.name.as_deref().unwrap_or_default());
        }
        for p in self.network_policies(some) {
            let _ = self.delete_network_policy(name, p.metadata.name.as_deref().unwrap_or_default());
        }
        for c in self.config_maps(some) {
            let _ = self.delete_config_map(name, c.metadata.name.as_deref().unwrap_or_default());
        }
        for s in self.secrets(some) {
            let _ = self.delete_secret(name, s.metadata.name.as_deref().unwrap_or_default());
        }
        let view = self.view();
        let map = self.namespace_map.clone();
        let state = self.record_objects.then(|| self.state.clone());
        let registry = self.registry().clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            let mut pause = std::time::Duration::from_millis(50);
            while view.list(Some(&name)).is_ok_and(|pods| !pods.is_empty()) {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(1));
            }
            let gone = map.lock().unwrap_or_else(|p| p.into_inner()).remove(&name);
            if let Some(state) = state {
                let _ = state.remove_object(NAMESPACES, "", &name);
            }
            if gone.is_some() {
                registry.bump();
            }
        });
    }

    /// Serves again the recorded namespaces, finishing the deletion of
    /// those that were terminating; what could not be read.
    pub(super) fn restore_namespaces(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for (path, value) in self.state.objects(NAMESPACES) {
            let ns = value
                .map_err(|e| crate::error_text::full_message(&e))
                .and_then(|v| serde_json::from_value::<Namespace>(v).map_err(|e| format!("{}: cannot parse a Namespace: {e}", path.display())));
            match ns {
                Ok(ns) => {
                    let name = ns.metadata.name.clone().unwrap_or_default();
                    if let Some(v) = ns.metadata.resource_version.as_deref().and_then(|v| v.parse().ok()) {
                        self.registry().advance_to(v);
                    }
                    let terminating = ns.metadata.deletion_timestamp.is_some();
                    self.namespace_map.lock().unwrap_or_else(|p| p.into_inner()).insert(name.clone(), ns);
                    if terminating {
                        self.empty_namespace(&name);
                    }
                }
                Err(e) => failed.push(e),
            }
        }
        failed
    }
}

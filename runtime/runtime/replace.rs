//! Updating a pod (`PUT`, `PATCH`, `apply` of an existing one): what may
//! change, by Kubernetes' rules (ValidatePodUpdate in
//! pkg/apis/core/validation/validation.go), and applying it. A running
//! pod takes new labels (Services and NetworkPolicies select it by them at
//! once), annotations, ownerReferences, a shorter `activeDeadlineSeconds`,
//! added tolerations and a `terminationGracePeriodSeconds` raised from a
//! negative value to 1, as the kubelet does; an ended pod's record takes
//! them too. A new container image is resolved (and compiled, or pulled
//! when its container starts again) here, and the container is restarted
//! with it, as the kubelet restarts a container whose definition changed.

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::{Error, Runtime};

impl Runtime {
    /// Updates the pod of `pod`'s name to `pod` (defaulted and
    /// validated): the pod as it is afterwards (unchanged when nothing
    /// changes), [`Error::Invalid`] with Kubernetes' message for a change
    /// an update may not make, [`Error::RunningElsewhere`] when another
    /// process runs the pod.
    pub async fn replace(&self, pod: &Pod) -> Result<Pod, Error> {
        let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let current = self.get(&ns, &name)?;
        let registered = self.registry().get(&ns, &name);
        let old = registered.as_ref().map(|r| r.submitted.clone()).unwrap_or_else(|| current.clone());
        if !check_update(&old, pod)? {
            return Ok(current);
        }
        if let Some(r) = registered.filter(|r| r.running()) {
            // New images are resolved (compiled) before anything changes:
            // one that cannot be is the update's error.
            let mut images = Vec::new();
            let base = std::env::current_dir().unwrap_or_default();
            let spec = pod.spec.clone().unwrap_or_default();
            for (container, written) in changed_images(&old, pod) {
                let lists = [("initContainers", spec.init_containers.clone().unwrap_or_default()), ("containers", spec.containers.clone())];
                let found = lists.iter().find_map(|(list, cs)| cs.iter().position(|c| c.name == container).map(|i| (format!("{list}[{i}]"), cs[i].clone())));
                let Some((field, c)) = found else { continue };
                let planned = self.plan_image(&name, &c, &field, &base).await?;
                images.push(crate::pod::NewImage { container, written, planned });
            }
            // The supervisor applies it; the pod may end meanwhile.
            let before = r.version();
            if let Some(mut updated) = r.access.update(pod.clone(), images).await {
                self.registry().set_submitted(&ns, &name, pod.clone());
                // The supervisor published the change; the registry gives
                // it a resourceVersion as it sees it, which the answer
                // carries (a client sends it back with its next update).
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
                while r.version() == before && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                updated.metadata.resource_version = Some(r.version().to_string());
                return Ok(updated);
            }
        }
        self.view().update_record(&ns, &name, |record| crate::pod::take_updatable(record, pod))
    }
}

/// The fields Kubernetes lets an update change, in its wording and order.
const UPDATABLE: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Whether `new` changes anything an update may change in `old`
/// (`Ok(false)`: nothing changes); the 422 error Kubernetes (or wasmpod,
/// for a new image) answers for a change it may not make.
pub(crate) fn check_update(old: &Pod, new: &Pod) -> Result<bool, Error> {
    let name = new.metadata.name.clone().unwrap_or_default();
    let invalid = |body: String| Error::Invalid { name: name.clone(), message: format!("The Pod \"{name}\" is invalid: {body}") };
    let mut old_spec = spec_value(old);
    let new_spec = spec_value(new);
    let spec_changed = old_spec != new_spec;
    if spec_changed {
        let changed = changed_keys(&old_spec, &new_spec);
        let forbidden = || {
            let fields: Vec<String> = changed.iter().map(|k| format!("spec.{k}")).collect();
            invalid(format!("spec: Forbidden: pod updates may not change fields other than {UPDATABLE}\nchanged: {}", fields.join(", ")))
        };
        // Carry the updatable fields over; what still differs is forbidden.
        for list in ["containers", "initContainers"] {
            let (Some(Value::Array(o)), Some(Value::Array(n))) = (old_spec.get_mut(list), new_spec.get(list)) else { continue };
            if o.len() == n.len() {
                for (oc, nc) in o.iter_mut().zip(n) {
                    if let (Value::Object(oc), Some(image)) = (oc, nc.get("image")) {
                        oc.insert("image".into(), image.clone());
                    }
                }
            }
        }
        for key in ["activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"] {
            let obj = old_spec.as_object_mut().expect("a spec is an object");
            match new_spec.get(key) {
                Some(v) => obj.insert(key.into(), v.clone()),
                None => obj.remove(key),
            };
        }
        if old_spec != new_spec {
            return Err(forbidden());
        }
        let (o, n) = (old.spec.clone().unwrap_or_default(), new.spec.clone().unwrap_or_default());
        match (o.active_deadline_seconds, n.active_deadline_seconds) {
            (Some(_), None) => {
                return Err(invalid("spec.activeDeadlineSeconds: Invalid value: \"null\": must not update from a positive integer to nil value".into()));
            }
            (Some(a), Some(b)) if b > a => {
                return Err(invalid(format!("spec.activeDeadlineSeconds: Invalid value: {b}: must be less than or equal to previous value")));
            }
            _ => {}
        }
        let old_tolerations = o.tolerations.unwrap_or_default();
        let new_tolerations = n.tolerations.unwrap_or_default();
        if let Some(gone) = old_tolerations.iter().find(|t| !new_tolerations.contains(t)) {
            let key = gone.key.clone().unwrap_or_default();
            return Err(invalid(format!("spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds (key {key:?})")));
        }
        if o.termination_grace_period_seconds != n.termination_grace_period_seconds
            && !(o.termination_grace_period_seconds.is_some_and(|g| g < 0) && n.termination_grace_period_seconds == Some(1))
        {
            return Err(forbidden());
        }
    }
    let empty = Default::default();
    let meta_changed = [(&old.metadata.labels, &new.metadata.labels), (&old.metadata.annotations, &new.metadata.annotations)]
        .iter()
        .any(|(o, n)| o.as_ref().unwrap_or(&empty) != n.as_ref().unwrap_or(&empty))
        || old.metadata.owner_references.as_deref().unwrap_or_default() != new.metadata.owner_references.as_deref().unwrap_or_default()
        || old.metadata.managed_fields != new.metadata.managed_fields;
    if old.metadata.finalizers.as_deref().unwrap_or_default() != new.metadata.finalizers.as_deref().unwrap_or_default() {
        return Err(invalid("metadata.finalizers: Forbidden: wasmpod does not hold pods for finalizers; a pod cannot be given any".into()));
    }
    Ok(spec_changed || meta_changed)
}

/// The containers (init and app) whose image `new` changes: each name
/// and its new image.
pub(crate) fn changed_images(old: &Pod, new: &Pod) -> Vec<(String, String)> {
    let containers = |p: &Pod| -> Vec<(String, String)> {
        let spec = p.spec.clone().unwrap_or_default();
        spec.init_containers.unwrap_or_default().into_iter().chain(spec.containers).map(|c| (c.name, c.image.unwrap_or_default())).collect()
    };
    let before = containers(old);
    containers(new).into_iter().filter(|(name, image)| before.iter().any(|(n, i)| n == name && i != image)).collect()
}

/// The spec as JSON without what the runtime fills in (nodeName).
fn spec_value(pod: &Pod) -> Value {
    let mut v = serde_json::to_value(pod.spec.clone().unwrap_or_default()).expect("a PodSpec serializes");
    if let Some(o) = v.as_object_mut() {
        o.remove("nodeName");
    }
    v
}

fn changed_keys(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return Vec::new() };
    let mut keys: Vec<String> = a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).cloned().collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> Pod {
        crate::manifest::load_str(yaml, "t", crate::Validation::Strict).unwrap().pods.remove(0)
    }

    const BASE: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: c, image: alpine}\n";

    #[test]
    fn unchanged_passes_and_changes_are_refused_with_kubernetes_words() {
        let old = pod(BASE);
        let mut recorded = old.clone();
        recorded.spec.as_mut().unwrap().node_name = Some("host".into());
        assert!(!check_update(&recorded, &old).unwrap());

        let e = check_update(&old, &pod(&BASE.replace("Never", "Always"))).unwrap_err().to_string();
        assert!(e.starts_with("The Pod \"x\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"), "{e}");
        assert!(e.ends_with("changed: spec.restartPolicy"), "{e}");

        let new = pod(&BASE.replace("image: alpine", "image: busybox"));
        assert!(check_update(&old, &new).unwrap(), "a new image is an update");
        assert_eq!(changed_images(&old, &new), [("c".to_owned(), "busybox".to_owned())]);
        assert!(changed_images(&old, &old).is_empty());
    }

    #[test]
    fn labels_annotations_and_a_shorter_deadline_are_updates() {
        let old = pod(BASE);
        assert!(check_update(&old, &pod(&BASE.replace("{name: x}", "{name: x, labels: {a: b}}"))).unwrap());
        assert!(check_update(&old, &pod(&BASE.replace("{name: x}", "{name: x, annotations: {a: b}}"))).unwrap());
        let with = |secs: u32| pod(&BASE.replace("restartPolicy: Never", &format!("restartPolicy: Never\n  activeDeadlineSeconds: {secs}")));
        assert!(check_update(&old, &with(60)).unwrap());
        assert!(check_update(&with(60), &with(30)).unwrap());
        let e = check_update(&with(30), &with(60)).unwrap_err().to_string();
        assert!(e.ends_with("spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"), "{e}");
        let e = check_update(&with(30), &old).unwrap_err().to_string();
        assert!(e.contains("must not update from a positive integer to nil value"), "{e}");
        let e = check_update(&old, &pod(&BASE.replace("{name: x}", "{name: x, finalizers: [f]}"))).unwrap_err().to_string();
        assert!(e.contains("metadata.finalizers: Forbidden"), "{e}");
    }

    #[test]
    fn tolerations_may_only_be_added() {
        let t1 = "  tolerations:\n  - {key: a, operator: Exists}\n";
        let t2 = "  tolerations:\n  - {key: a, operator: Exists}\n  - {key: b, operator: Exists}\n";
        let with = |t: &str| pod(&format!("{BASE}{t}"));
        assert!(check_update(&with(t1), &with(t2)).unwrap());
        let e = check_update(&with(t2), &with(t1)).unwrap_err().to_string();
        assert!(e.contains("spec.tolerations: Forbidden: existing toleration can not be modified"), "{e}");
    }

    #[test]
    fn an_update_takes_only_the_updatable_fields() {
        let mut record = pod(BASE);
        let new = pod(&BASE.replace("{name: x}", "{name: x, labels: {a: b}}").replace("image: alpine", "image: other").replace("Never", "Always"));
        crate::pod::take_updatable(&mut record, &new);
        assert_eq!(record.metadata.labels.unwrap()["a"], "b");
        let spec = record.spec.unwrap();
        assert_eq!(spec.containers[0].image.as_deref(), Some("other"), "the image is updatable");
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"), "the restart policy is not");
    }
}

//! Replacing a pod (`apply` of an existing one): what may change. Kubernetes allows only a
//! few spec fields to change (ValidatePodUpdate in
//! pkg/apis/core/validation/validation.go); wasmpod applies none of them
//! to a running pod yet, so any change is refused, with Kubernetes' own
//! message where Kubernetes refuses it too.

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::{Error, Runtime};

impl Runtime {
    /// Compares `pod` (defaulted and validated) with the existing pod of
    /// its name, as `apply` does: the existing pod when nothing changes,
    /// [`Error::Invalid`] with Kubernetes' message when something does.
    pub fn replace(&self, pod: &Pod) -> Result<Pod, Error> {
        let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let current = self.get(&ns, &name)?;
        let old = self.registry().get(&ns, &name).map(|r| r.submitted).unwrap_or_else(|| current.clone());
        check_update(&old, pod)?;
        Ok(current)
    }
}

/// The fields Kubernetes lets an update change, in its wording and order.
const UPDATABLE: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// `Ok` when `new` asks for nothing `old` does not already have;
/// otherwise the 422 error Kubernetes (or wasmpod, for updates
/// Kubernetes would allow) answers.
pub(crate) fn check_update(old: &Pod, new: &Pod) -> Result<(), Error> {
    let name = new.metadata.name.clone().unwrap_or_default();
    let invalid = |body: String| Error::Invalid { name: name.clone(), message: format!("The Pod \"{name}\" is invalid: {body}") };
    let mut old_spec = spec_value(old);
    let new_spec = spec_value(new);
    if old_spec != new_spec {
        let changed = changed_keys(&old_spec, &new_spec);
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
            let fields: Vec<String> = changed.iter().map(|k| format!("spec.{k}")).collect();
            return Err(invalid(format!("spec: Forbidden: pod updates may not change fields other than {UPDATABLE}\nchanged: {}", fields.join(", "))));
        }
        let fields: Vec<String> = changed.iter().map(|k| format!("spec.{k}")).collect();
        return Err(invalid(format!("{}: Forbidden: wasmpod does not update a pod in place yet; delete the pod and apply it again", fields.join(", "))));
    }
    for (field, o, n) in
        [("metadata.labels", &old.metadata.labels, &new.metadata.labels), ("metadata.annotations", &old.metadata.annotations, &new.metadata.annotations)]
    {
        let empty = Default::default();
        if o.as_ref().unwrap_or(&empty) != n.as_ref().unwrap_or(&empty) {
            return Err(invalid(format!("{field}: Forbidden: wasmpod does not update a pod in place yet; delete the pod and apply it again")));
        }
    }
    Ok(())
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
        check_update(&recorded, &old).unwrap();

        let e = check_update(&old, &pod(&BASE.replace("Never", "Always"))).unwrap_err().to_string();
        assert!(e.starts_with("The Pod \"x\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"), "{e}");
        assert!(e.ends_with("changed: spec.restartPolicy"), "{e}");

        let e = check_update(&old, &pod(&BASE.replace("image: alpine", "image: busybox"))).unwrap_err().to_string();
        assert!(e.starts_with("The Pod \"x\" is invalid: spec.containers: Forbidden: wasmpod does not update"), "{e}");

        let e = check_update(&old, &pod(&BASE.replace("{name: x}", "{name: x, labels: {a: b}}"))).unwrap_err().to_string();
        assert!(e.contains("metadata.labels: Forbidden"), "{e}");
    }
}

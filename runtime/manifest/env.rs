//! A container's environment, built the way the kubelet does it
//! (`makeEnvironmentVariables` in K:pkg/kubelet/kubelet_pods.go):
//!
//! 1. `envFrom` entries in order (ConfigMap `data` / Secret `data`, keys with
//!    the entry's `prefix`), later entries overriding earlier ones;
//! 2. then `env` in order: a `value` is `$(VAR)`-expanded against the entries
//!    resolved so far (forward references stay literal), a `valueFrom` is
//!    read from the downward API, the container's resources, a ConfigMap or a
//!    Secret. Missing objects or keys fail unless the reference is `optional`.
//!
//! A variable keeps the position where it first appeared; a later definition
//! replaces its value in place. Keys that are not valid variable names are
//! skipped, as the kubelet does. HOSTNAME is left to the caller.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, ResourceFieldSelector, Secret};

use super::error::EnvError;
use super::expand::expand;
use super::quantity::Quantity;
use super::validate::format::{env_var_name, go_quote};

/// Facts about the running pod that are not in its manifest.
#[derive(Clone, Debug, Default)]
pub struct PodFacts {
    /// The pod's IP (`status.podIP`, also `status.podIPs`).
    pub pod_ip: String,
    /// The host's IP (`status.hostIP`, also `status.hostIPs`).
    pub host_ip: String,
    /// The node name, used for `spec.nodeName` when the spec leaves it empty.
    pub node_name: String,
    /// CPU the node offers, in millicores: what `limits.cpu` reports when the
    /// container sets no cpu limit.
    pub node_allocatable_cpu_millis: i64,
    /// Memory the node offers, in bytes: what `limits.memory` reports when the
    /// container sets no memory limit.
    pub node_allocatable_memory_bytes: i64,
    /// Ephemeral storage the node offers, in bytes: what
    /// `limits.ephemeral-storage` reports when no limit is set.
    pub node_allocatable_ephemeral_storage_bytes: i64,
    /// The kubelet's service variables for the pod (`enableServiceLinks`):
    /// `$(VAR)` in env values sees them after the container's own, and the
    /// ones the container does not declare are added after its env.
    pub service_env: Vec<(String, String)>,
}

/// The ConfigMaps and Secrets that `envFrom` and `valueFrom` may refer to.
/// Objects are matched by namespace (the pod's) and name.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnvSources<'a> {
    /// Loaded ConfigMaps.
    pub config_maps: &'a [ConfigMap],
    /// Loaded Secrets (`stringData` already merged into `data`).
    pub secrets: &'a [Secret],
}

impl<'a> EnvSources<'a> {
    pub(crate) fn config_map(&self, namespace: &str, name: &str) -> Option<&'a ConfigMap> {
        self.config_maps.iter().find(|c| c.metadata.name.as_deref() == Some(name) && c.metadata.namespace.as_deref().unwrap_or("default") == namespace)
    }

    pub(crate) fn secret(&self, namespace: &str, name: &str) -> Option<&'a Secret> {
        self.secrets.iter().find(|s| s.metadata.name.as_deref() == Some(name) && s.metadata.namespace.as_deref().unwrap_or("default") == namespace)
    }
}

/// Ordered variables: first position wins, last value wins.
#[derive(Default)]
struct EnvList {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl EnvList {
    fn set(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.clone(), self.vars.len());
                self.vars.push((name, value));
            }
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.index.get(name).map(|&i| self.vars[i].1.clone())
    }
}

fn secret_string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Builds the environment of `container` in `pod`, as ordered `(name, value)` pairs.
///
/// # Errors
///
/// [`EnvError`] when a non-optional ConfigMap, Secret or key is missing, or a
/// `fieldRef`/`resourceFieldRef` asks for something the downward API lacks;
/// the kubelet reports these as `CreateContainerConfigError`.
pub fn resolve_env(pod: &Pod, container: &Container, objects: &EnvSources<'_>, facts: &PodFacts) -> Result<Vec<(String, String)>, EnvError> {
    let namespace = pod.metadata.namespace.as_deref().filter(|s| !s.is_empty()).unwrap_or("default");
    let mut env = EnvList::default();

    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.as_deref().unwrap_or_default();
        if let Some(r) = &source.config_map_ref {
            match objects.config_map(namespace, &r.name) {
                Some(cm) => {
                    for (k, v) in cm.data.iter().flatten() {
                        let key = format!("{prefix}{k}");
                        if env_var_name(&key).is_empty() {
                            env.set(key, v.clone());
                        }
                    }
                }
                None if r.optional.unwrap_or(false) => {}
                None => return Err(EnvError::ConfigMapNotFound { namespace: namespace.to_owned(), name: r.name.clone() }),
            }
        }
        if let Some(r) = &source.secret_ref {
            match objects.secret(namespace, &r.name) {
                Some(s) => {
                    for (k, v) in s.data.iter().flatten() {
                        let key = format!("{prefix}{k}");
                        if env_var_name(&key).is_empty() {
                            env.set(key, secret_string(&v.0));
                        }
                    }
                }
                None if r.optional.unwrap_or(false) => {}
                None => return Err(EnvError::SecretNotFound { namespace: namespace.to_owned(), name: r.name.clone() }),
            }
        }
    }

    for var in container.env.iter().flatten() {
        let Some(from) = &var.value_from else {
            let value = expand(var.value.as_deref().unwrap_or_default(), |name| {
                env.get(name).or_else(|| facts.service_env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            });
            env.set(var.name.clone(), value);
            continue;
        };
        let value = if let Some(fr) = &from.field_ref {
            field_value(pod, &fr.field_path, facts)?
        } else if let Some(rr) = &from.resource_field_ref {
            resource_value(pod, container, rr, facts)?
        } else if let Some(r) = &from.config_map_key_ref {
            let optional = r.optional.unwrap_or(false);
            let Some(cm) = objects.config_map(namespace, &r.name) else {
                if optional {
                    continue;
                }
                return Err(EnvError::ConfigMapNotFound { namespace: namespace.to_owned(), name: r.name.clone() });
            };
            match cm.data.as_ref().and_then(|d| d.get(&r.key)) {
                Some(v) => v.clone(),
                None if optional => continue,
                None => {
                    return Err(EnvError::ConfigMapKeyNotFound { key: r.key.clone(), namespace: namespace.to_owned(), name: r.name.clone() });
                }
            }
        } else if let Some(r) = &from.secret_key_ref {
            let optional = r.optional.unwrap_or(false);
            let Some(s) = objects.secret(namespace, &r.name) else {
                if optional {
                    continue;
                }
                return Err(EnvError::SecretNotFound { namespace: namespace.to_owned(), name: r.name.clone() });
            };
            match s.data.as_ref().and_then(|d| d.get(&r.key)) {
                Some(v) => secret_string(&v.0),
                None if optional => continue,
                None => {
                    return Err(EnvError::SecretKeyNotFound { key: r.key.clone(), namespace: namespace.to_owned(), name: r.name.clone() });
                }
            }
        } else {
            // fileKeyRef and future sources are not supported by this runtime.
            continue;
        };
        env.set(var.name.clone(), value);
    }
    Ok(env.vars)
}

/// `key="value"` lines, sorted, as Kubernetes' `FormatMap`.
fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter().flatten().map(|(k, v)| format!("{k}={}", go_quote(v))).collect::<Vec<_>>().join("\n")
}

/// Downward API field value (`podFieldSelectorRuntimeValue`).
pub(crate) fn field_value(pod: &Pod, path: &str, facts: &PodFacts) -> Result<String, EnvError> {
    let spec = pod.spec.as_ref();
    let meta = &pod.metadata;
    let value = match path {
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).filter(|s| !s.is_empty()).unwrap_or_else(|| facts.node_name.clone()),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.clone(),
        "status.podIP" | "status.podIPs" => facts.pod_ip.clone(),
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        _ => match crate::manifest::validate::split_subscript(path) {
            Some(("metadata.labels", key)) => meta.labels.as_ref().and_then(|m| m.get(key)).cloned().unwrap_or_default(),
            Some(("metadata.annotations", key)) => meta.annotations.as_ref().and_then(|m| m.get(key)).cloned().unwrap_or_default(),
            _ => return Err(EnvError::UnsupportedFieldPath { field_path: path.to_owned() }),
        },
    };
    Ok(value)
}

fn parse(text: &str) -> Result<Quantity, EnvError> {
    text.parse().map_err(|source| EnvError::Quantity { value: text.to_owned(), source })
}

fn ceil_div(a: i64, b: i64) -> i64 {
    let (a, b) = (i128::from(a), i128::from(b.max(1)));
    let q = a / b + i128::from(a % b != 0 && (a > 0) == (b > 0));
    q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// `resourceFieldRef` value: `ceil(value / divisor)`, with node allocatable
/// standing in for an unset limit.
pub(crate) fn resource_value(pod: &Pod, current: &Container, sel: &ResourceFieldSelector, facts: &PodFacts) -> Result<String, EnvError> {
    let container = match sel.container_name.as_deref().filter(|n| !n.is_empty()) {
        None => current,
        Some(name) if name == current.name => current,
        Some(name) => pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
            .find(|c| c.name == name)
            .ok_or_else(|| EnvError::ContainerNotFound { container: name.to_owned() })?,
    };
    let divisor = match sel.divisor.as_ref().map(|d| parse(&d.0)).transpose()? {
        Some(d) if !d.is_zero() => d,
        _ => Quantity::ZERO,
    };
    let (kind, resource) = sel.resource.split_once('.').ok_or_else(|| EnvError::UnsupportedResource { resource: sel.resource.clone() })?;
    let res = container.resources.as_ref();
    let list = match kind {
        "limits" => res.and_then(|r| r.limits.as_ref()),
        "requests" => res.and_then(|r| r.requests.as_ref()),
        _ => return Err(EnvError::UnsupportedResource { resource: sel.resource.clone() }),
    };
    let quantity = list.and_then(|l| l.get(resource)).map(|q| parse(&q.0)).transpose()?;
    let value = match resource {
        "cpu" => {
            let millis = match quantity {
                Some(q) => q.milli_value(),
                None if kind == "limits" => facts.node_allocatable_cpu_millis,
                None => 0,
            };
            let div = if divisor.is_zero() { 1000 } else { divisor.milli_value() };
            ceil_div(millis, div)
        }
        "memory" | "ephemeral-storage" => {
            let bytes = match quantity {
                Some(q) => q.value(),
                None if kind == "limits" && resource == "memory" => facts.node_allocatable_memory_bytes,
                None if kind == "limits" => facts.node_allocatable_ephemeral_storage_bytes,
                None => 0,
            };
            let div = if divisor.is_zero() { 1 } else { divisor.value() };
            ceil_div(bytes, div)
        }
        r if r.starts_with("hugepages-") => {
            let bytes = quantity.map_or(0, |q| q.value());
            let div = if divisor.is_zero() { 1 } else { divisor.value() };
            ceil_div(bytes, div)
        }
        _ => return Err(EnvError::UnsupportedResource { resource: sel.resource.clone() }),
    };
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Validation, load_str};

    const OBJECTS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {A: from-cm, B: cm-b, LOG_LEVEL: debug}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
data: {PASSWORD: aHVudGVyMg==}
stringData: {USER: admin, B: secret-b}
"#;

    fn run(pod_yaml: &str) -> Result<Vec<(String, String)>, EnvError> {
        let objects = load_str(OBJECTS, "objects.yaml", Validation::Strict).expect("objects load");
        let loaded = load_str(pod_yaml, "pod.yaml", Validation::Strict).expect("pod loads");
        let pod = &loaded.pods[0];
        let container = &pod.spec.as_ref().expect("spec").containers[0];
        let sources = EnvSources { config_maps: &objects.config_maps, secrets: &objects.secrets };
        let facts = PodFacts {
            pod_ip: "10.0.0.7".into(),
            host_ip: "192.168.1.2".into(),
            node_name: "node-1".into(),
            node_allocatable_cpu_millis: 4000,
            node_allocatable_memory_bytes: 8 << 30,
            node_allocatable_ephemeral_storage_bytes: 100 << 30,
            service_env: vec![("DB_SERVICE_HOST".into(), "10.96.0.5".into())],
        };
        resolve_env(pod, container, &sources, &facts)
    }

    fn pod_with(container_extra: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  uid: u-1\n  labels: {{app: web}}\n  annotations: {{note: hi}}\nspec:\n  containers:\n  - name: c\n    image: alpine\n{container_extra}"
        )
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    }

    #[test]
    fn values_see_the_service_variables_after_the_containers_own() {
        let got = run(&pod_with("    env:\n    - {name: DB, value: \"$(DB_SERVICE_HOST):5432\"}\n    - {name: OWN, value: \"$(DB)\"}\n")).unwrap();
        assert_eq!(got, pairs(&[("DB", "10.96.0.5:5432"), ("OWN", "10.96.0.5:5432")]));
    }

    #[test]
    fn order_overrides_and_forward_references() {
        let got = run(&pod_with(
            "    envFrom:\n    - configMapRef: {name: cfg}\n    - secretRef: {name: creds}\n    env:\n    - {name: FIRST, value: \"$(A)-$(LATER)-$$(A)\"}\n    - {name: A, value: override}\n    - {name: LATER, value: x}\n    - {name: SECOND, value: \"$(A)/$(LATER)\"}\n",
        ))
        .expect("env");
        assert_eq!(
            got,
            pairs(&[
                ("A", "override"),
                ("B", "secret-b"),
                ("LOG_LEVEL", "debug"),
                ("PASSWORD", "hunter2"),
                ("USER", "admin"),
                ("FIRST", "from-cm-$(LATER)-$(A)"),
                ("LATER", "x"),
                ("SECOND", "override/x"),
            ])
        );
    }

    #[test]
    fn env_from_prefix_and_optional() {
        let got = run(&pod_with("    envFrom:\n    - {prefix: CFG_, configMapRef: {name: cfg}}\n    - configMapRef: {name: missing, optional: true}\n"))
            .expect("env");
        assert_eq!(got, pairs(&[("CFG_A", "from-cm"), ("CFG_B", "cm-b"), ("CFG_LOG_LEVEL", "debug")]));
    }

    #[test]
    fn missing_key_and_object_messages() {
        let err = run(&pod_with("    env:\n    - name: X\n      valueFrom: {configMapKeyRef: {name: cfg, key: NOPE}}\n")).expect_err("missing key");
        assert_eq!(err.to_string(), "couldn't find key NOPE in ConfigMap default/cfg");
        let err = run(&pod_with("    env:\n    - name: X\n      valueFrom: {secretKeyRef: {name: creds, key: NOPE}}\n")).expect_err("missing key");
        assert_eq!(err.to_string(), "couldn't find key NOPE in Secret default/creds");
        let err = run(&pod_with("    envFrom:\n    - secretRef: {name: nothere}\n")).expect_err("missing secret");
        assert_eq!(err.to_string(), "secret \"nothere\" not found");
        let err = run(&pod_with("    env:\n    - name: X\n      valueFrom: {configMapKeyRef: {name: gone, key: K}}\n")).expect_err("missing configmap");
        assert_eq!(err.to_string(), "configmap \"gone\" not found");
        let got = run(&pod_with("    env:\n    - name: X\n      valueFrom: {configMapKeyRef: {name: cfg, key: NOPE, optional: true}}\n")).expect("optional");
        assert!(got.is_empty());
    }

    #[test]
    fn field_refs() {
        let got = run(&pod_with(
            "    env:\n    - {name: NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n    - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}\n    - {name: UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}\n    - {name: APP, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}\n    - {name: NOTE, valueFrom: {fieldRef: {fieldPath: \"metadata.annotations['note']\"}}}\n    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}\n    - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}\n    - {name: HOST, valueFrom: {fieldRef: {fieldPath: status.hostIPs}}}\n    - {name: SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}\n",
        ))
        .expect("env");
        assert_eq!(
            got,
            pairs(&[
                ("NAME", "p"),
                ("NS", "default"),
                ("UID", "u-1"),
                ("APP", "web"),
                ("NOTE", "hi"),
                ("NODE", "node-1"),
                ("IP", "10.0.0.7"),
                ("HOST", "192.168.1.2"),
                ("SA", ""),
            ])
        );
    }

    #[test]
    fn resource_field_refs_with_divisors() {
        let got = run(&pod_with(
            "    resources:\n      limits: {cpu: 500m, memory: 128Mi}\n    env:\n    - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}\n    - {name: CPU_M, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}\n    - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory}}}\n    - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}\n    - {name: REQ_CPU_M, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}\n    - {name: EPH, valueFrom: {resourceFieldRef: {resource: limits.ephemeral-storage, divisor: 1Gi}}}\n    - {name: REQ_EPH, valueFrom: {resourceFieldRef: {resource: requests.ephemeral-storage}}}\n",
        ))
        .expect("env");
        assert_eq!(
            got,
            pairs(&[("CPU", "1"), ("CPU_M", "500"), ("MEM", "134217728"), ("MEM_MI", "128"), ("REQ_CPU_M", "500"), ("EPH", "100"), ("REQ_EPH", "0"),])
        );
        // No limit: node allocatable.
        let got = run(&pod_with("    env:\n    - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}\n")).expect("env");
        assert_eq!(got, pairs(&[("CPU", "4000")]));
    }
}

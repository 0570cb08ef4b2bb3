//! Validation with the API server's rules and messages
//! (K:pkg/apis/core/validation/validation.go), for every field the runtime reads.
//!
//! Each function returns all errors of one object, in the order the API server
//! finds them (maps are walked in key order where Go walks them randomly).

mod container;
pub(crate) mod format;
mod network_policy;
mod service;
#[cfg(test)]
mod tests;
mod volume;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodSecurityContext, PodSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::error::{BadValue, FieldError};
pub(crate) use container::split_subscript;
use format::{dns1123_label, dns1123_subdomain, inclusive_range_error, label_value, qualified_name};
pub(crate) use network_policy::network_policy;
pub(crate) use service::service;

/// Largest total size of an object's annotations (keys plus values), 256 KiB.
pub const TOTAL_ANNOTATION_SIZE_LIMIT_BYTES: usize = 256 * 1024;
/// Largest total size of a ConfigMap's or Secret's data, 1 MiB (`core.MaxSecretSize`).
pub const MAX_SECRET_SIZE_BYTES: usize = 1024 * 1024;

type Errors = Vec<FieldError>;

/// `NameIsDNSSubdomain(name, prefix)`: with `prefix`, a trailing dash is allowed.
fn subdomain_name(name: &str, prefix: bool) -> Vec<String> {
    if prefix && name.len() > 1 && name.ends_with('-') {
        let masked = format!("{}a", &name[..name.len() - 1]);
        return dns1123_subdomain(&masked);
    }
    dns1123_subdomain(name)
}

/// `ValidateObjectMeta` for a namespaced object whose name is a DNS subdomain.
fn object_meta(meta: &ObjectMeta, errs: &mut Errors) {
    object_meta_with(meta, |name| subdomain_name(name, false), errs);
}

/// `ValidateObjectMeta` with the kind's own name rule.
fn object_meta_with(meta: &ObjectMeta, name_rule: impl Fn(&str) -> Vec<String>, errs: &mut Errors) {
    match meta.name.as_deref() {
        None | Some("") => errs.push(FieldError::required("metadata.name", "name or generateName is required")),
        Some(name) => {
            for msg in name_rule(name) {
                errs.push(FieldError::invalid("metadata.name", name, msg));
            }
        }
    }
    match meta.namespace.as_deref() {
        None | Some("") => errs.push(FieldError::required("metadata.namespace", "")),
        Some(ns) => {
            for msg in dns1123_label(ns) {
                errs.push(FieldError::invalid("metadata.namespace", ns, msg));
            }
        }
    }
    labels(meta.labels.iter().flatten(), "metadata.labels", errs);
    if let Some(annotations) = &meta.annotations {
        let mut total = 0usize;
        for (k, v) in annotations {
            for msg in qualified_name(&k.to_lowercase()) {
                errs.push(FieldError::invalid("metadata.annotations", k, msg));
            }
            total += k.len() + v.len();
        }
        if total > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES {
            errs.push(FieldError::too_long("metadata.annotations", TOTAL_ANNOTATION_SIZE_LIMIT_BYTES));
        }
    }
}

/// `ValidateLabels`: keys are qualified names, values label values; both
/// reported at the map's own path.
fn labels<'a>(map: impl Iterator<Item = (&'a String, &'a String)>, path: &str, errs: &mut Errors) {
    for (k, v) in map {
        for msg in qualified_name(k) {
            errs.push(FieldError::invalid(path, k, msg));
        }
        for msg in label_value(v) {
            errs.push(FieldError::invalid(path, v, msg));
        }
    }
}

/// Validates a defaulted Pod.
pub(crate) fn pod(pod: &Pod) -> Errors {
    let mut errs = Vec::new();
    object_meta(&pod.metadata, &mut errs);
    match &pod.spec {
        Some(spec) => {
            pod_spec(spec, &mut errs);
            container::only_for_pod(spec, &mut errs);
        }
        None => errs.push(FieldError::required("spec", "")),
    }
    errs
}

fn pod_spec(spec: &PodSpec, errs: &mut Errors) {
    let grace = spec.termination_grace_period_seconds;
    if grace.is_none() {
        errs.push(FieldError::required("spec.terminationGracePeriodSeconds", ""));
    }
    let volumes = volume::volumes(spec.volumes.as_deref().unwrap_or_default(), errs);
    container::containers(&spec.containers, &volumes, grace, errs);
    container::init_containers(spec.init_containers.as_deref().unwrap_or_default(), &spec.containers, &volumes, grace, errs);
    if spec.host_network.unwrap_or(false) {
        for (ci, c) in spec.containers.iter().enumerate() {
            for (pi, p) in c.ports.iter().flatten().enumerate() {
                let host_port = p.host_port.unwrap_or(0);
                if host_port != p.container_port {
                    errs.push(FieldError::invalid(
                        format!("spec.containers[{ci}].ports[{pi}].hostPort"),
                        host_port,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    one_of(spec.restart_policy.as_deref(), "spec.restartPolicy", &["Always", "OnFailure", "Never"], errs);
    one_of(spec.dns_policy.as_deref(), "spec.dnsPolicy", &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"], errs);
    if spec.dns_policy.as_deref() == Some("None") && spec.dns_config.is_none() {
        errs.push(FieldError::required("spec.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"));
    }
    labels(spec.node_selector.iter().flatten(), "spec.nodeSelector", errs);
    if let Some(sc) = &spec.security_context {
        pod_security_context(sc, spec, errs);
    }
    if let Some(sa) = spec.service_account_name.as_deref().filter(|s| !s.is_empty()) {
        for msg in dns1123_subdomain(sa) {
            errs.push(FieldError::invalid("spec.serviceAccountName", sa, msg));
        }
    }
    if let Some(node) = spec.node_name.as_deref().filter(|s| !s.is_empty()) {
        for msg in dns1123_subdomain(node) {
            errs.push(FieldError::invalid("spec.nodeName", node, msg));
        }
    }
    if let Some(deadline) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&deadline)
    {
        errs.push(FieldError::invalid("spec.activeDeadlineSeconds", deadline, inclusive_range_error(1, i64::from(i32::MAX))));
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(v) = value.as_deref().filter(|s| !s.is_empty()) {
            for msg in dns1123_label(v) {
                errs.push(FieldError::invalid(format!("spec.{field}"), v, msg));
            }
        }
    }
}

/// Required when empty, `Unsupported value` when not one of `supported`.
fn one_of(value: Option<&str>, path: &str, supported: &[&str], errs: &mut Errors) {
    match value {
        None | Some("") => errs.push(FieldError::required(path, "")),
        Some(v) if !supported.contains(&v) => errs.push(FieldError::not_supported(path, v, supported)),
        Some(_) => {}
    }
}

/// apimachinery's `maxUserID` and `maxGroupID`: `math.MaxInt32`, the
/// limit libcontainer sets, though Linux ids go up to 2^32 - 2.
const USER_ID_MAX: i64 = i32::MAX as i64;

/// `IsValidUserID` / `IsValidGroupID` as field errors.
fn id_range(value: Option<i64>, path: &str, errs: &mut Errors) {
    if let Some(v) = value
        && !(0..=USER_ID_MAX).contains(&v)
    {
        errs.push(FieldError::invalid(path, v, inclusive_range_error(0, USER_ID_MAX)));
    }
}

fn pod_security_context(sc: &PodSecurityContext, spec: &PodSpec, errs: &mut Errors) {
    id_range(sc.fs_group, "spec.securityContext.fsGroup", errs);
    id_range(sc.run_as_user, "spec.securityContext.runAsUser", errs);
    id_range(sc.run_as_group, "spec.securityContext.runAsGroup", errs);
    for (i, gid) in sc.supplemental_groups.iter().flatten().enumerate() {
        id_range(Some(*gid), &format!("spec.securityContext.supplementalGroups[{i}]"), errs);
    }
    if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
        errs.push(FieldError::invalid(
            "spec.securityContext.shareProcessNamespace",
            BadValue::Raw("true".to_owned()),
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    if let Some(policy) = sc.fs_group_change_policy.as_deref() {
        const SUPPORTED: [&str; 2] = ["Always", "OnRootMismatch"];
        if !SUPPORTED.contains(&policy) {
            errs.push(FieldError::not_supported("spec.securityContext.fsGroupChangePolicy", policy, &SUPPORTED));
        }
    }
}

/// Validates a defaulted ConfigMap.
pub(crate) fn config_map(cm: &ConfigMap) -> Errors {
    let mut errs = Vec::new();
    object_meta(&cm.metadata, &mut errs);
    let mut total = 0usize;
    for (key, value) in cm.data.iter().flatten() {
        for msg in format::config_map_key(key) {
            errs.push(FieldError::invalid(format!("data[{key}]"), key, msg));
        }
        if cm.binary_data.as_ref().is_some_and(|b| b.contains_key(key)) {
            errs.push(FieldError::invalid(format!("data[{key}]"), key, "duplicate of key present in binaryData"));
        }
        total += value.len();
    }
    for (key, value) in cm.binary_data.iter().flatten() {
        for msg in format::config_map_key(key) {
            errs.push(FieldError::invalid(format!("binaryData[{key}]"), key, msg));
        }
        if cm.data.as_ref().is_some_and(|d| d.contains_key(key)) {
            errs.push(FieldError::invalid(format!("binaryData[{key}]"), key, "duplicate of key present in data"));
        }
        total += value.0.len();
    }
    if total > MAX_SECRET_SIZE_BYTES {
        errs.push(FieldError::too_long("", MAX_SECRET_SIZE_BYTES));
    }
    errs
}

/// Validates a defaulted Secret (`stringData` already merged into `data`).
pub(crate) fn secret(secret: &Secret) -> Errors {
    let mut errs = Vec::new();
    object_meta(&secret.metadata, &mut errs);
    let mut total = 0usize;
    for (key, value) in secret.data.iter().flatten() {
        for msg in format::config_map_key(key) {
            errs.push(FieldError::invalid(format!("data[{key}]"), key, msg));
        }
        total += value.0.len();
    }
    if total > MAX_SECRET_SIZE_BYTES {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE_BYTES));
    }
    errs
}

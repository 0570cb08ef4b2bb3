//! Container validation: names, images, ports, env, volume mounts, probes,
//! lifecycle hooks, resources and security context
//! (`validateContainers`, `validateInitContainers`, `validateContainerCommon`).

use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::api::core::v1::{
    Container, EnvFromSource, EnvVar, HTTPGetAction, Lifecycle, LifecycleHandler, Probe, ResourceRequirements, SecurityContext, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::format::{config_map_key, dns1123_label, env_var_name, port_name, port_num, qualified_name};
use super::volume::Volumes;
use super::{Errors, id_range, subdomain_name};
use crate::manifest::error::{BadValue, FieldError};
use crate::manifest::quantity::Quantity;

const INIT_ONLY_WITH_ALWAYS: &str = "may not be set for init containers without restartPolicy=Always";
const NEGATIVE: &str = "must be greater than or equal to 0";

/// `validateContainers`: the regular containers.
pub(super) fn containers(list: &[Container], volumes: &Volumes, grace: Option<i64>, errs: &mut Errors) {
    if list.is_empty() {
        errs.push(FieldError::required("spec.containers", ""));
        return;
    }
    let mut names = HashSet::new();
    for (i, c) in list.iter().enumerate() {
        let path = format!("spec.containers[{i}]");
        common(c, volumes, &path, errs);
        if !names.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(format!("{path}.name"), &c.name));
        }
        if let Some(lc) = &c.lifecycle {
            lifecycle(lc, grace, &format!("{path}.lifecycle"), errs);
        }
        probes(c, grace, &path, errs);
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(format!("{path}.restartPolicy"), "may not be set for non-init containers"));
        }
    }
    host_port_conflicts(list.iter().enumerate(), "spec.containers", errs);
}

/// `validateInitContainers`, including native sidecars (`restartPolicy: Always`).
pub(super) fn init_containers(list: &[Container], regular: &[Container], volumes: &Volumes, grace: Option<i64>, errs: &mut Errors) {
    let mut names: HashSet<&str> = regular.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in list.iter().enumerate() {
        let path = format!("spec.initContainers[{i}]");
        common(c, volumes, &path, errs);
        let mut restart_always = false;
        if let Some(policy) = c.restart_policy.as_deref() {
            if policy == "Always" {
                restart_always = true;
            } else {
                errs.push(FieldError::not_supported(format!("{path}.restartPolicy"), policy, &["Always"]));
            }
        }
        if names.contains(c.name.as_str()) {
            errs.push(FieldError::duplicate(format!("{path}.name"), &c.name));
        } else if !c.name.is_empty() {
            names.insert(c.name.as_str());
        }
        host_port_conflicts(std::iter::once((i, c)), "spec.initContainers", errs);
        if restart_always {
            if let Some(lc) = &c.lifecycle {
                lifecycle(lc, grace, &format!("{path}.lifecycle"), errs);
            }
            probes(c, grace, &path, errs);
        } else {
            for (set, field) in [
                (c.lifecycle.is_some(), "lifecycle"),
                (c.liveness_probe.is_some(), "livenessProbe"),
                (c.readiness_probe.is_some(), "readinessProbe"),
                (c.startup_probe.is_some(), "startupProbe"),
            ] {
                if set {
                    errs.push(FieldError::forbidden(format!("{path}.{field}"), INIT_ONLY_WITH_ALWAYS));
                }
            }
        }
    }
}

/// `validateContainersOnlyForPod`: image whitespace.
pub(super) fn only_for_pod(spec: &k8s_openapi::api::core::v1::PodSpec, errs: &mut Errors) {
    let groups = [("spec.containers", spec.containers.as_slice()), ("spec.initContainers", spec.init_containers.as_deref().unwrap_or_default())];
    for (base, list) in groups {
        for (i, c) in list.iter().enumerate() {
            if let Some(image) = c.image.as_deref()
                && image.len() != image.trim().len()
            {
                errs.push(FieldError::invalid(format!("{base}[{i}].image"), image, "must not have leading or trailing whitespace"));
            }
        }
    }
}

/// `validateContainerCommon`.
fn common(c: &Container, volumes: &Volumes, path: &str, errs: &mut Errors) {
    if c.name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else {
        for msg in dns1123_label(&c.name) {
            errs.push(FieldError::invalid(format!("{path}.name"), &c.name, msg));
        }
    }
    if c.image.as_deref().unwrap_or_default().is_empty() {
        errs.push(FieldError::required(format!("{path}.image"), ""));
    }
    match c.termination_message_policy.as_deref() {
        Some("File") | Some("FallbackToLogsOnError") => {}
        None | Some("") => errs.push(FieldError::required(format!("{path}.terminationMessagePolicy"), "")),
        Some(other) => errs.push(FieldError::not_supported(format!("{path}.terminationMessagePolicy"), other, &["File", "FallbackToLogsOnError"])),
    }
    ports(c, path, errs);
    env(c.env.as_deref().unwrap_or_default(), &format!("{path}.env"), errs);
    env_from(c.env_from.as_deref().unwrap_or_default(), &format!("{path}.envFrom"), errs);
    volume_mounts(c.volume_mounts.as_deref().unwrap_or_default(), volumes, &format!("{path}.volumeMounts"), errs);
    match c.image_pull_policy.as_deref() {
        Some("Always") | Some("IfNotPresent") | Some("Never") => {}
        None | Some("") => errs.push(FieldError::required(format!("{path}.imagePullPolicy"), "")),
        Some(other) => errs.push(FieldError::not_supported(format!("{path}.imagePullPolicy"), other, &["Always", "IfNotPresent", "Never"])),
    }
    if let Some(res) = &c.resources {
        resources(res, &format!("{path}.resources"), errs);
    }
    if let Some(sc) = &c.security_context {
        security_context(sc, &format!("{path}.securityContext"), errs);
    }
}

/// `validateContainerPorts`.
fn ports(c: &Container, path: &str, errs: &mut Errors) {
    let mut names = HashSet::new();
    for (i, p) in c.ports.iter().flatten().enumerate() {
        let idx = format!("{path}.ports[{i}]");
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            let msgs = port_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    errs.push(FieldError::invalid(format!("{idx}.name"), name, msg));
                }
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(format!("{idx}.name"), name));
            }
        }
        if p.container_port == 0 {
            errs.push(FieldError::required(format!("{idx}.containerPort"), ""));
        } else {
            for msg in port_num(i64::from(p.container_port)) {
                errs.push(FieldError::invalid(format!("{idx}.containerPort"), p.container_port, msg));
            }
        }
        let host_port = p.host_port.unwrap_or(0);
        if host_port != 0 {
            for msg in port_num(i64::from(host_port)) {
                errs.push(FieldError::invalid(format!("{idx}.hostPort"), host_port, msg));
            }
        }
        match p.protocol.as_deref() {
            None | Some("") => errs.push(FieldError::required(format!("{idx}.protocol"), "")),
            Some("TCP") | Some("UDP") | Some("SCTP") => {}
            Some(other) => errs.push(FieldError::not_supported(format!("{idx}.protocol"), other, &["SCTP", "TCP", "UDP"])),
        }
    }
}

/// `AccumulateUniqueHostPorts`: a host port may be used once per protocol and host IP.
fn host_port_conflicts<'a>(list: impl Iterator<Item = (usize, &'a Container)>, base: &str, errs: &mut Errors) {
    let mut seen = HashSet::new();
    for (ci, c) in list {
        for (pi, p) in c.ports.iter().flatten().enumerate() {
            let port = p.host_port.unwrap_or(0);
            if port == 0 {
                continue;
            }
            let key = format!("{}/{}/{}", p.protocol.as_deref().unwrap_or_default(), p.host_ip.as_deref().unwrap_or_default(), port);
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(format!("{base}[{ci}].ports[{pi}].hostPort"), key));
            }
        }
    }
}

const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// Field paths `ConvertDownwardAPIFieldLabel` knows for pods in v1.
const CONVERTIBLE_FIELD_PATHS: [&str; 14] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

const RESOURCE_FIELD_PATHS: [&str; 6] =
    ["limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu", "requests.ephemeral-storage", "requests.memory"];

/// Splits `metadata.labels['key']` into (`metadata.labels`, `key`).
pub(crate) fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    let (base, key) = inner.split_once("['")?;
    Some((base, key))
}

/// `ValidateEnv`.
fn env(vars: &[EnvVar], path: &str, errs: &mut Errors) {
    for (i, ev) in vars.iter().enumerate() {
        let idx = format!("{path}[{i}]");
        if ev.name.is_empty() {
            errs.push(FieldError::required(format!("{idx}.name"), ""));
        } else {
            for msg in env_var_name(&ev.name) {
                errs.push(FieldError::invalid(format!("{idx}.name"), &ev.name, msg));
            }
        }
        let Some(vf) = &ev.value_from else { continue };
        let vpath = format!("{idx}.valueFrom");
        let mut sources = 0;
        if let Some(fr) = &vf.field_ref {
            sources += 1;
            let fpath = format!("{vpath}.fieldRef");
            match fr.api_version.as_deref() {
                None | Some("") => errs.push(FieldError::required(format!("{fpath}.apiVersion"), "")),
                _ if fr.field_path.is_empty() => errs.push(FieldError::required(format!("{fpath}.fieldPath"), "")),
                Some(version) => field_selector(version, &fr.field_path, &fpath, &ENV_FIELD_PATHS, errs),
            }
        }
        if let Some(rr) = &vf.resource_field_ref {
            sources += 1;
            resource_selector(rr, &format!("{vpath}.resourceFieldRef"), errs);
        }
        if let Some(cm) = &vf.config_map_key_ref {
            sources += 1;
            key_selector(&cm.name, &cm.key, &format!("{vpath}.configMapKeyRef"), errs);
        }
        if let Some(s) = &vf.secret_key_ref {
            sources += 1;
            key_selector(&s.name, &s.key, &format!("{vpath}.secretKeyRef"), errs);
        }
        if vf.file_key_ref.is_some() {
            sources += 1;
        }
        let has_value = ev.value.as_deref().is_some_and(|v| !v.is_empty());
        if sources == 0 {
            errs.push(FieldError::invalid(&vpath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"));
        } else if has_value {
            errs.push(FieldError::invalid(&vpath, "", "may not be specified when `value` is not empty"));
        } else if sources > 1 {
            errs.push(FieldError::invalid(&vpath, "", "may not have more than one field specified at a time"));
        }
    }
}

/// `validateObjectFieldSelector`: `supported` lists the plain (not
/// subscripted) paths allowed where the selector is used.
pub(super) fn field_selector(version: &str, field_path: &str, fpath: &str, supported: &[&str], errs: &mut Errors) {
    if version != "v1" {
        errs.push(FieldError::invalid(format!("{fpath}.fieldPath"), field_path, format!("error converting fieldPath: unsupported pod version: {version}")));
        return;
    }
    let (base, subscript) = match split_subscript(field_path) {
        Some((b, s)) => (b, Some(s)),
        None => (field_path, None),
    };
    if !CONVERTIBLE_FIELD_PATHS.contains(&base) {
        errs.push(FieldError::invalid(
            format!("{fpath}.fieldPath"),
            field_path,
            format!("error converting fieldPath: field label not supported: {field_path}"),
        ));
        return;
    }
    match (base, subscript) {
        ("metadata.annotations", Some(key)) => {
            for msg in qualified_name(&key.to_lowercase()) {
                errs.push(FieldError::invalid(fpath, key.to_lowercase(), msg));
            }
        }
        ("metadata.labels", Some(key)) => {
            for msg in qualified_name(key) {
                errs.push(FieldError::invalid(fpath, key, msg));
            }
        }
        (_, Some(_)) => errs.push(FieldError::invalid(fpath, base, "does not support subscript")),
        (_, None) if !supported.contains(&base) => {
            errs.push(FieldError::not_supported(format!("{fpath}.fieldPath"), base, supported));
        }
        _ => {}
    }
}

/// `validateContainerResourceFieldSelector` (resource and divisor; the
/// volume form's containerName check is the caller's).
pub(super) fn resource_selector(rr: &k8s_openapi::api::core::v1::ResourceFieldSelector, rpath: &str, errs: &mut Errors) {
    if rr.resource.is_empty() {
        errs.push(FieldError::required(format!("{rpath}.resource"), ""));
    } else if !RESOURCE_FIELD_PATHS.contains(&rr.resource.as_str())
        && !rr.resource.starts_with("limits.hugepages-")
        && !rr.resource.starts_with("requests.hugepages-")
    {
        errs.push(FieldError::not_supported(format!("{rpath}.resource"), &rr.resource, &RESOURCE_FIELD_PATHS));
    }
    if let Some(divisor) = &rr.divisor {
        divisor_check(&rr.resource, divisor, rpath, errs);
    }
}

/// `validateContainerResourceDivisor`.
fn divisor_check(resource: &str, divisor: &K8sQuantity, rpath: &str, errs: &mut Errors) {
    let q = match divisor.0.parse::<Quantity>() {
        Ok(q) => q,
        Err(e) => {
            errs.push(FieldError::invalid(format!("{rpath}.divisor"), &divisor.0, e.to_string()));
            return;
        }
    };
    if q.is_zero() {
        return;
    }
    let canonical = q.to_string();
    const BYTES: [&str; 13] = ["1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"];
    const BYTES_LIST: &str = "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei";
    let detail = match resource {
        "limits.cpu" | "requests.cpu" if !["1m", "1"].contains(&canonical.as_str()) => {
            Some("only divisor's values 1m and 1 are supported with the cpu resource".to_owned())
        }
        "limits.memory" | "requests.memory" if !BYTES.contains(&canonical.as_str()) => {
            Some(format!("only divisor's values {BYTES_LIST} are supported with the memory resource"))
        }
        "limits.ephemeral-storage" | "requests.ephemeral-storage" if !BYTES.contains(&canonical.as_str()) => {
            Some(format!("only divisor's values {BYTES_LIST} are supported with the local ephemeral storage resource"))
        }
        _ => None,
    };
    if let Some(detail) = detail {
        errs.push(FieldError::invalid(format!("{rpath}.divisor"), resource, detail));
    }
}

/// `validateConfigMapKeySelector` / `validateSecretKeySelector`.
fn key_selector(name: &str, key: &str, path: &str, errs: &mut Errors) {
    for msg in subdomain_name(name, false) {
        errs.push(FieldError::invalid(format!("{path}.name"), name, msg));
    }
    if key.is_empty() {
        errs.push(FieldError::required(format!("{path}.key"), ""));
    } else {
        for msg in config_map_key(key) {
            errs.push(FieldError::invalid(format!("{path}.key"), key, msg));
        }
    }
}

/// `ValidateEnvFrom`.
fn env_from(list: &[EnvFromSource], path: &str, errs: &mut Errors) {
    for (i, ef) in list.iter().enumerate() {
        let idx = format!("{path}[{i}]");
        if let Some(prefix) = ef.prefix.as_deref().filter(|p| !p.is_empty()) {
            for msg in env_var_name(prefix) {
                errs.push(FieldError::invalid(format!("{idx}.prefix"), prefix, msg));
            }
        }
        let mut sources = 0;
        for (name, field) in
            [(ef.config_map_ref.as_ref().map(|r| r.name.as_str()), "configMapRef"), (ef.secret_ref.as_ref().map(|r| r.name.as_str()), "secretRef")]
        {
            let Some(name) = name else { continue };
            sources += 1;
            if name.is_empty() {
                errs.push(FieldError::required(format!("{idx}.{field}.name"), ""));
            } else {
                for msg in subdomain_name(name, true) {
                    errs.push(FieldError::invalid(format!("{idx}.{field}.name"), name, msg));
                }
            }
        }
        if sources == 0 {
            errs.push(FieldError::invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"));
        } else if sources > 1 {
            errs.push(FieldError::invalid(path, "", "may not have more than one field specified at a time"));
        }
    }
}

/// `ValidateVolumeMounts`.
fn volume_mounts(mounts: &[VolumeMount], volumes: &Volumes, path: &str, errs: &mut Errors) {
    let mut mount_points = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let idx = format!("{path}[{i}]");
        if m.name.is_empty() {
            errs.push(FieldError::required(format!("{idx}.name"), ""));
        }
        if !volumes.contains_key(&m.name) {
            errs.push(FieldError::not_found(format!("{idx}.name"), &m.name));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(format!("{idx}.mountPath"), ""));
        }
        if !mount_points.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(format!("{idx}.mountPath"), &m.mount_path, "must be unique"));
        }
        if volumes.get(&m.name).is_some_and(|v| v.is_image) {
            if let Some(sp) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                errs.push(FieldError::invalid(format!("{idx}.subPath"), sp, "not allowed in image volume sources"));
            }
            if let Some(sp) = m.sub_path_expr.as_deref().filter(|s| !s.is_empty()) {
                errs.push(FieldError::invalid(format!("{idx}.subPathExpr"), sp, "not allowed in image volume sources"));
            }
        }
        let sub_path = m.sub_path.as_deref().unwrap_or_default();
        // Kubernetes reports these two at `volumeMounts.subPath`, without the index.
        if !sub_path.is_empty() {
            local_descending_path(sub_path, &format!("{path}.subPath"), errs);
        }
        if let Some(expr) = m.sub_path_expr.as_deref().filter(|s| !s.is_empty()) {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(format!("{idx}.subPathExpr"), expr, "subPathExpr and subPath are mutually exclusive"));
            }
            local_descending_path(expr, &format!("{path}.subPathExpr"), errs);
        }
        if let Some(prop) = m.mount_propagation.as_deref() {
            const SUPPORTED: [&str; 3] = ["Bidirectional", "HostToContainer", "None"];
            if !SUPPORTED.contains(&prop) {
                errs.push(FieldError::not_supported(format!("{path}.mountPropagation"), prop, &SUPPORTED));
            }
        }
    }
}

/// `validateLocalDescendingPath`: relative, no `..` element.
pub(super) fn local_descending_path(target: &str, path: &str, errs: &mut Errors) {
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, target, "must be a relative path"));
    }
    if target.split(['/', '\\']).any(|part| part == "..") {
        errs.push(FieldError::invalid(path, target, "must not contain '..'"));
    }
}

/// Probes of a container that may have them.
fn probes(c: &Container, grace: Option<i64>, path: &str, errs: &mut Errors) {
    if let Some(p) = &c.liveness_probe {
        let ppath = format!("{path}.livenessProbe");
        probe(p, grace, &ppath, errs);
        success_threshold_one(p, &ppath, errs);
    }
    if let Some(p) = &c.readiness_probe {
        let ppath = format!("{path}.readinessProbe");
        probe(p, grace, &ppath, errs);
        if let Some(t) = p.termination_grace_period_seconds {
            errs.push(FieldError::invalid(format!("{ppath}.terminationGracePeriodSeconds"), t, "must not be set for readinessProbes"));
        }
    }
    if let Some(p) = &c.startup_probe {
        let ppath = format!("{path}.startupProbe");
        probe(p, grace, &ppath, errs);
        success_threshold_one(p, &ppath, errs);
    }
}

fn success_threshold_one(p: &Probe, path: &str, errs: &mut Errors) {
    let st = p.success_threshold.unwrap_or(1);
    if st != 1 {
        errs.push(FieldError::invalid(format!("{path}.successThreshold"), st, "must be 1"));
    }
}

/// `validateProbe`.
fn probe(p: &Probe, grace: Option<i64>, path: &str, errs: &mut Errors) {
    let handler = Handler {
        exec: p.exec.as_ref().map(|e| e.command.as_deref().unwrap_or_default().is_empty()),
        http_get: p.http_get.as_ref(),
        tcp_port: p.tcp_socket.as_ref().map(|t| &t.port),
        grpc_port: p.grpc.as_ref().map(|g| g.port),
        sleep: None,
    };
    handler.validate(grace, path, errs);
    for (field, value) in [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ] {
        if let Some(v) = value
            && v < 0
        {
            errs.push(FieldError::invalid(format!("{path}.{field}"), v, NEGATIVE));
        }
    }
    if let Some(t) = p.termination_grace_period_seconds
        && t <= 0
    {
        errs.push(FieldError::invalid(format!("{path}.terminationGracePeriodSeconds"), t, "must be greater than 0"));
    }
}

/// `validateLifecycle`.
fn lifecycle(lc: &Lifecycle, grace: Option<i64>, path: &str, errs: &mut Errors) {
    for (h, field) in [(&lc.post_start, "postStart"), (&lc.pre_stop, "preStop")] {
        if let Some(h) = h {
            lifecycle_handler(h).validate(grace, &format!("{path}.{field}"), errs);
        }
    }
}

fn lifecycle_handler(h: &LifecycleHandler) -> Handler<'_> {
    Handler {
        exec: h.exec.as_ref().map(|e| e.command.as_deref().unwrap_or_default().is_empty()),
        http_get: h.http_get.as_ref(),
        tcp_port: h.tcp_socket.as_ref().map(|t| &t.port),
        grpc_port: None,
        sleep: h.sleep.as_ref().map(|s| s.seconds),
    }
}

/// The handler fields common to probes and hooks (`commonHandler`).
struct Handler<'a> {
    /// `Some(command_is_empty)` when `exec` is set.
    exec: Option<bool>,
    http_get: Option<&'a HTTPGetAction>,
    tcp_port: Option<&'a IntOrString>,
    grpc_port: Option<i32>,
    sleep: Option<i64>,
}

impl Handler<'_> {
    /// `validateHandler`: exactly one handler type, each well formed.
    fn validate(&self, grace: Option<i64>, path: &str, errs: &mut Errors) {
        let mut count = 0;
        let mut take = |field: &str, errs: &mut Errors| -> bool {
            if count > 0 {
                errs.push(FieldError::forbidden(format!("{path}.{field}"), "may not specify more than 1 handler type"));
                false
            } else {
                count += 1;
                true
            }
        };
        if let Some(empty_command) = self.exec
            && take("exec", errs)
            && empty_command
        {
            errs.push(FieldError::required(format!("{path}.exec.command"), ""));
        }
        if let Some(h) = self.http_get
            && take("httpGet", errs)
        {
            let hpath = format!("{path}.httpGet");
            if h.path.as_deref().unwrap_or_default().is_empty() {
                errs.push(FieldError::required(format!("{hpath}.path"), ""));
            }
            port_num_or_name(&h.port, &format!("{hpath}.port"), errs);
            let scheme = h.scheme.as_deref().unwrap_or_default();
            if scheme != "HTTP" && scheme != "HTTPS" {
                errs.push(FieldError::not_supported(format!("{hpath}.scheme"), scheme, &["HTTP", "HTTPS"]));
            }
            for header in h.http_headers.iter().flatten() {
                let ok = !header.name.is_empty() && header.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                if !ok {
                    errs.push(FieldError::invalid(
                        format!("{hpath}.httpHeaders"),
                        &header.name,
                        "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')",
                    ));
                }
            }
        }
        if let Some(port) = self.tcp_port
            && take("tcpSocket", errs)
        {
            port_num_or_name(port, &format!("{path}.tcpSocket.port"), errs);
        }
        if let Some(port) = self.grpc_port
            && take("grpc", errs)
        {
            for msg in port_num(i64::from(port)) {
                errs.push(FieldError::invalid(format!("{path}.grpc.port"), port, msg));
            }
        }
        if let Some(seconds) = self.sleep
            && take("sleep", errs)
            && let Some(g) = grace
            && (seconds < 0 || seconds > g)
        {
            errs.push(FieldError::invalid(format!("{path}.sleep"), seconds, format!("must be non-negative and less than terminationGracePeriodSeconds ({g})")));
        }
        if count == 0 {
            errs.push(FieldError::required(path, "must specify a handler type"));
        }
    }
}

/// `ValidatePortNumOrName`.
fn port_num_or_name(port: &IntOrString, path: &str, errs: &mut Errors) {
    match port {
        IntOrString::Int(n) => {
            for msg in port_num(i64::from(*n)) {
                errs.push(FieldError::invalid(path, *n, msg));
            }
        }
        IntOrString::String(s) => {
            for msg in port_name(s) {
                errs.push(FieldError::invalid(path, s, msg));
            }
        }
    }
}

fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")
}

/// Resource names accepted by `IsStandardResourceName` (quota and container names).
fn is_standard_resource(name: &str) -> bool {
    is_standard_container_resource(name)
        || matches!(
            name,
            "pods"
                | "services"
                | "replicationcontrollers"
                | "resourcequotas"
                | "secrets"
                | "configmaps"
                | "persistentvolumeclaims"
                | "storage"
                | "requests.cpu"
                | "requests.memory"
                | "requests.storage"
                | "requests.ephemeral-storage"
                | "limits.cpu"
                | "limits.memory"
                | "limits.ephemeral-storage"
                | "services.nodeports"
                | "services.loadbalancers"
        )
        || name.starts_with("requests.hugepages-")
}

/// Hugepages and extended resources cannot be overcommitted: request must equal limit.
fn overcommit_allowed(name: &str) -> bool {
    let native = !name.contains('/') || name.starts_with("kubernetes.io/");
    native && !name.starts_with("hugepages-")
}

/// `validateContainerResourceName`.
fn resource_name(name: &str, path: &str, errs: &mut Errors) {
    let before = errs.len();
    for msg in qualified_name(name) {
        errs.push(FieldError::invalid(path, name, msg));
    }
    if errs.len() > before {
        return;
    }
    if !name.contains('/') {
        if !is_standard_resource(name) {
            errs.push(FieldError::invalid(path, name, "must be a standard resource type or fully qualified"));
        }
        if !is_standard_container_resource(name) {
            errs.push(FieldError::invalid(path, name, "must be a standard resource for containers"));
        }
    }
}

/// Parses every quantity of a resource list, reporting the ones that do not parse.
fn quantities<'a>(list: Option<&'a BTreeMap<String, K8sQuantity>>, path: &str, errs: &mut Errors) -> HashMap<&'a str, Quantity> {
    let mut out = HashMap::new();
    for (name, q) in list.into_iter().flatten() {
        let qpath = format!("{path}[{name}]");
        resource_name(name, &qpath, errs);
        match q.0.parse::<Quantity>() {
            Ok(parsed) => {
                if parsed.is_negative() {
                    errs.push(FieldError::invalid(&qpath, parsed.to_string(), NEGATIVE));
                }
                out.insert(name.as_str(), parsed);
            }
            Err(e) => errs.push(FieldError::invalid(&qpath, &q.0, e.to_string())),
        }
    }
    out
}

/// `ValidateContainerResourceRequirements`.
fn resources(res: &ResourceRequirements, path: &str, errs: &mut Errors) {
    let limits_path = format!("{path}.limits");
    let requests_path = format!("{path}.requests");
    let limits = quantities(res.limits.as_ref(), &limits_path, errs);
    let mut has_cpu_or_memory = limits.keys().any(|k| matches!(*k, "cpu" | "memory"));
    let mut has_hugepages = limits.keys().any(|k| k.starts_with("hugepages-"));
    let requests = quantities(res.requests.as_ref(), &requests_path, errs);
    for (name, _) in res.requests.iter().flatten() {
        let Some(request) = requests.get(name.as_str()) else { continue };
        has_cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
        has_hugepages |= name.starts_with("hugepages-");
        match limits.get(name.as_str()) {
            Some(limit) => {
                if request != limit && !overcommit_allowed(name) {
                    errs.push(FieldError::invalid(&requests_path, request.to_string(), format!("must be equal to {name} limit of {limit}")));
                } else if request > limit {
                    errs.push(FieldError::invalid(&requests_path, request.to_string(), format!("must be less than or equal to {name} limit of {limit}")));
                }
            }
            None if !overcommit_allowed(name) => {
                errs.push(FieldError::required(&limits_path, "Limit must be set for non overcommitable resources"));
            }
            None => {}
        }
    }
    if has_hugepages && !has_cpu_or_memory {
        errs.push(FieldError::forbidden(path, "HugePages require cpu or memory"));
    }
}

/// `ValidateSecurityContext` (container level).
fn security_context(sc: &SecurityContext, path: &str, errs: &mut Errors) {
    id_range(sc.run_as_user, &format!("{path}.runAsUser"), errs);
    id_range(sc.run_as_group, &format!("{path}.runAsGroup"), errs);
    if let Some(pm) = sc.proc_mount.as_deref()
        && pm != "Default"
        && pm != "Unmasked"
    {
        errs.push(FieldError::not_supported(format!("{path}.procMount"), pm, &["Default", "Unmasked"]));
    }
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            errs.push(FieldError::invalid(
                path,
                BadValue::Raw("securityContext".to_owned()),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds_sys_admin = sc.capabilities.as_ref().and_then(|c| c.add.as_ref()).is_some_and(|add| add.iter().any(|c| c == "CAP_SYS_ADMIN"));
        if adds_sys_admin {
            errs.push(FieldError::invalid(
                path,
                BadValue::Raw("securityContext".to_owned()),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
}

//! API defaults applied in place, as the API server does on create
//! (K:pkg/apis/core/v1/defaults.go and the pod registry strategy), for the
//! fields the runtime reads. A `metadata.uid` is not generated here.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Container, HTTPGetAction, Lifecycle, Pod, PodSpec, Probe, Secret, Volume};

/// Default `terminationGracePeriodSeconds`.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// Default file mode of configMap/secret/downwardAPI/projected volumes (0644).
pub const DEFAULT_VOLUME_MODE: i32 = 0o644;
/// Default `terminationMessagePath`.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

fn set<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

fn set_str(slot: &mut Option<String>, value: &str) {
    if slot.as_deref().is_none_or(str::is_empty) {
        *slot = Some(value.to_owned());
    }
}

/// Applies Pod defaults.
pub(crate) fn pod(pod: &mut Pod) {
    set_str(&mut pod.metadata.namespace, "default");
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    set_str(&mut spec.restart_policy, "Always");
    set_str(&mut spec.dns_policy, "ClusterFirst");
    set_str(&mut spec.scheduler_name, "default-scheduler");
    set(&mut spec.termination_grace_period_seconds, DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    // The pod strategy turns a negative grace period into 1 second.
    if let Some(g) = spec.termination_grace_period_seconds.as_mut()
        && *g < 0
    {
        *g = 1;
    }
    set(&mut spec.enable_service_links, true);
    set(&mut spec.security_context, Default::default());
    // A deprecated `serviceAccount` fills `serviceAccountName`.
    if spec.service_account_name.as_deref().is_none_or(str::is_empty)
        && let Some(sa) = spec.service_account.clone().filter(|s| !s.is_empty())
    {
        spec.service_account_name = Some(sa);
    }
    let host_network = spec.host_network.unwrap_or(false);
    for c in spec.init_containers.iter_mut().flatten() {
        container(c, host_network);
    }
    for c in &mut spec.containers {
        container(c, host_network);
    }
    for v in spec.volumes.iter_mut().flatten() {
        volume(v);
    }
}

fn image_tag_is_latest(image: &str) -> bool {
    // The kubelet's image-name parser: no tag and no digest means `latest`;
    // a tag beside a digest still counts (`app:latest@sha256:...`).
    let last = image.rsplit('/').next().unwrap_or(image);
    let (name, digest) = match last.split_once('@') {
        Some((name, _)) => (name, true),
        None => (last, false),
    };
    match name.rsplit_once(':') {
        Some((_, tag)) => tag == "latest",
        None => !digest,
    }
}

fn container(c: &mut Container, host_network: bool) {
    set_str(&mut c.termination_message_path, DEFAULT_TERMINATION_MESSAGE_PATH);
    set_str(&mut c.termination_message_policy, "File");
    if c.image_pull_policy.as_deref().is_none_or(str::is_empty) {
        let latest = image_tag_is_latest(c.image.as_deref().unwrap_or_default());
        c.image_pull_policy = Some(if latest { "Always" } else { "IfNotPresent" }.to_owned());
    }
    for p in c.ports.iter_mut().flatten() {
        set_str(&mut p.protocol, "TCP");
        if host_network && p.host_port.unwrap_or(0) == 0 {
            p.host_port = Some(p.container_port);
        }
    }
    for p in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        probe(p);
    }
    if let Some(lc) = c.lifecycle.as_mut() {
        lifecycle(lc);
    }
    for e in c.env.iter_mut().flatten() {
        if let Some(fr) = e.value_from.as_mut().and_then(|vf| vf.field_ref.as_mut()) {
            set_str(&mut fr.api_version, "v1");
        }
    }
    // Requests default to limits, resource by resource.
    if let Some(res) = c.resources.as_mut()
        && let Some(limits) = res.limits.clone()
        && !limits.is_empty()
    {
        let requests = res.requests.get_or_insert_with(Default::default);
        for (name, q) in limits {
            requests.entry(name).or_insert(q);
        }
    }
}

fn http_get(h: &mut HTTPGetAction) {
    set_str(&mut h.path, "/");
    set_str(&mut h.scheme, "HTTP");
}

fn probe(p: &mut Probe) {
    set(&mut p.timeout_seconds, 1);
    set(&mut p.period_seconds, 10);
    set(&mut p.success_threshold, 1);
    set(&mut p.failure_threshold, 3);
    set(&mut p.initial_delay_seconds, 0);
    if let Some(h) = p.http_get.as_mut() {
        http_get(h);
    }
}

fn lifecycle(lc: &mut Lifecycle) {
    for h in [lc.post_start.as_mut(), lc.pre_stop.as_mut()].into_iter().flatten() {
        if let Some(g) = h.http_get.as_mut() {
            http_get(g);
        }
    }
}

fn has_source(v: &Volume) -> bool {
    v.aws_elastic_block_store.is_some()
        || v.azure_disk.is_some()
        || v.azure_file.is_some()
        || v.cephfs.is_some()
        || v.cinder.is_some()
        || v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.fc.is_some()
        || v.flex_volume.is_some()
        || v.flocker.is_some()
        || v.gce_persistent_disk.is_some()
        || v.git_repo.is_some()
        || v.glusterfs.is_some()
        || v.host_path.is_some()
        || v.image.is_some()
        || v.iscsi.is_some()
        || v.nfs.is_some()
        || v.persistent_volume_claim.is_some()
        || v.photon_persistent_disk.is_some()
        || v.portworx_volume.is_some()
        || v.projected.is_some()
        || v.quobyte.is_some()
        || v.rbd.is_some()
        || v.scale_io.is_some()
        || v.secret.is_some()
        || v.storageos.is_some()
        || v.vsphere_volume.is_some()
}

fn volume(v: &mut Volume) {
    if !has_source(v) {
        v.empty_dir = Some(Default::default());
    }
    if let Some(s) = v.secret.as_mut() {
        set(&mut s.default_mode, DEFAULT_VOLUME_MODE);
    }
    if let Some(s) = v.config_map.as_mut() {
        set(&mut s.default_mode, DEFAULT_VOLUME_MODE);
    }
    if let Some(s) = v.downward_api.as_mut() {
        set(&mut s.default_mode, DEFAULT_VOLUME_MODE);
        for item in s.items.iter_mut().flatten() {
            if let Some(fr) = item.field_ref.as_mut() {
                set_str(&mut fr.api_version, "v1");
            }
        }
    }
    if let Some(s) = v.projected.as_mut() {
        set(&mut s.default_mode, DEFAULT_VOLUME_MODE);
    }
    if let Some(h) = v.host_path.as_mut() {
        set(&mut h.type_, String::new());
    }
}

/// Applies ConfigMap defaults.
pub(crate) fn config_map(cm: &mut ConfigMap) {
    set_str(&mut cm.metadata.namespace, "default");
}

/// Applies Service defaults (`SetDefaults_Service`): namespace, `type:
/// ClusterIP`, `sessionAffinity: None` (ClientIP's timeout 10800 s), each
/// port's protocol TCP and targetPort its port.
pub(crate) fn service(s: &mut k8s_openapi::api::core::v1::Service) {
    set_str(&mut s.metadata.namespace, "default");
    let spec = s.spec.get_or_insert_with(Default::default);
    set_str(&mut spec.type_, "ClusterIP");
    set_str(&mut spec.session_affinity, "None");
    if spec.session_affinity.as_deref() == Some("ClientIP") {
        let config = spec.session_affinity_config.get_or_insert_with(Default::default);
        let client = config.client_ip.get_or_insert_with(Default::default);
        client.timeout_seconds.get_or_insert(10800);
    }
    set_str(&mut spec.internal_traffic_policy, "Cluster");
    for p in spec.ports.iter_mut().flatten() {
        set_str(&mut p.protocol, "TCP");
        let unset = match &p.target_port {
            None => true,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(0)) => true,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset {
            p.target_port = Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p.port));
        }
    }
}

/// Applies NetworkPolicy defaults: namespace, and `policyTypes` as the API
/// server sets it (Ingress, plus Egress when there are egress rules).
pub(crate) fn network_policy(np: &mut k8s_openapi::api::networking::v1::NetworkPolicy) {
    set_str(&mut np.metadata.namespace, "default");
    let spec = np.spec.get_or_insert_with(Default::default);
    if spec.policy_types.as_ref().is_none_or(Vec::is_empty) {
        let mut types = vec!["Ingress".to_owned()];
        if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
            types.push("Egress".to_owned());
        }
        spec.policy_types = Some(types);
    }
    for p in spec
        .ingress
        .iter_mut()
        .flatten()
        .flat_map(|r| r.ports.iter_mut().flatten())
        .chain(spec.egress.iter_mut().flatten().flat_map(|r| r.ports.iter_mut().flatten()))
    {
        set_str(&mut p.protocol, "TCP");
    }
}

/// Applies Secret defaults: namespace, `type: Opaque`, and `stringData` merged
/// over `data` (the API server does this on write and never returns stringData).
pub(crate) fn secret(s: &mut Secret) {
    set_str(&mut s.metadata.namespace, "default");
    set_str(&mut s.type_, "Opaque");
    if let Some(string_data) = s.string_data.take() {
        let data = s.data.get_or_insert_with(Default::default);
        for (k, v) in string_data {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pull_policy_follows_the_tag() {
        assert!(image_tag_is_latest("alpine"));
        assert!(image_tag_is_latest("alpine:latest"));
        assert!(image_tag_is_latest("localhost:5000/alpine"));
        assert!(!image_tag_is_latest("localhost:5000/alpine:3"));
        assert!(!image_tag_is_latest("nginx:1.7.9"));
        assert!(!image_tag_is_latest("nginx@sha256:abc"));
        assert!(image_tag_is_latest("nginx:latest@sha256:abc"));
        assert!(!image_tag_is_latest("localhost:5000/a/b:v1@sha256:abc"));
    }
}

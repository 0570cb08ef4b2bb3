//! securityContext: who a container runs as, and who owns its files.
//!
//! WASI has no users. wasmpod computes each container's [`Identity`] from
//! the pod's and the container's securityContext with Kubernetes'
//! inheritance, refuses `runAsNonRoot` with uid 0 as the kubelet does, and
//! shows the identity to guests through `wasmpod:identity`
//! (`wit/identity/identity.wit`; the toolbox's `id`, `ls -l`
//! and `stat` read it). File ownership is kept by the volumes (one
//! `OwnerBook` per volume and per container root, `volume/ownership.rs`);
//! when wasmpod runs as root on Unix the owners are applied to the host
//! files too. None of this confines a guest: its preopens do.

use k8s_openapi::api::core::v1::{Container, PodSpec};

/// A container's user and groups, as `id` would print them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// runAsUser (container, else pod); 0 when neither sets it (wasm
    /// images carry no USER, so root, as an image without USER runs).
    pub uid: u32,
    /// runAsGroup (container, else pod); 0 when omitted, as in Kubernetes.
    pub gid: u32,
    /// Supplementary groups: the primary group, fsGroup, then
    /// supplementalGroups, without repeats.
    pub groups: Vec<u32>,
    /// The pod's fsGroup: the group of volume files.
    pub fs_group: Option<u32>,
}

impl Identity {
    /// The owner of files this container creates in a volume: its uid,
    /// and the fsGroup when set (the kubelet makes volume directories
    /// setgid fsGroup), else its primary group.
    pub fn volume_writer(&self) -> (u32, u32) {
        (self.uid, self.fs_group.unwrap_or(self.gid))
    }
}

/// Why a container cannot be created under its securityContext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// runAsNonRoot with an effective uid of 0: the kubelet's message.
    #[error("container has runAsNonRoot and image will run as root (pod {pod:?}, container {container:?})")]
    RunsAsRoot {
        /// Pod name.
        pod: String,
        /// Container name.
        container: String,
    },
}

impl SecurityError {
    /// The text the kubelet puts in the container's Waiting message (the
    /// pod and container are already named by the status it sits in).
    pub fn kubelet_message(&self) -> &'static str {
        match self {
            SecurityError::RunsAsRoot { .. } => "container has runAsNonRoot and image will run as root",
        }
    }
}

/// Ids are validated to 0..=2147483647 (apimachinery's MaxInt32) before a pod starts.
fn id(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

/// The identity of `c` in a pod with `spec`, or the kubelet's refusal.
pub fn identity(pod: &str, spec: &PodSpec, c: &Container) -> Result<Identity, SecurityError> {
    let psc = spec.security_context.as_ref();
    let csc = c.security_context.as_ref();
    // A container field overrides the pod's (Kubernetes' inheritance).
    let uid = id(csc.and_then(|s| s.run_as_user)).or(id(psc.and_then(|s| s.run_as_user))).unwrap_or(0);
    let gid = id(csc.and_then(|s| s.run_as_group)).or(id(psc.and_then(|s| s.run_as_group))).unwrap_or(0);
    let non_root = csc.and_then(|s| s.run_as_non_root).or(psc.and_then(|s| s.run_as_non_root)).unwrap_or(false);
    if non_root && uid == 0 {
        return Err(SecurityError::RunsAsRoot { pod: pod.to_owned(), container: c.name.clone() });
    }
    let fs_group = id(psc.and_then(|s| s.fs_group));
    let mut groups = vec![gid];
    let supplemental = psc.and_then(|s| s.supplemental_groups.clone()).unwrap_or_default();
    for g in fs_group.into_iter().chain(supplemental.into_iter().filter_map(|g| id(Some(g)))) {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    Ok(Identity { uid, gid, groups, fs_group })
}

/// Whether the container's root filesystem is read-only
/// (`readOnlyRootFilesystem`, container-level only).
pub fn read_only_root(c: &Container) -> bool {
    c.security_context.as_ref().and_then(|s| s.read_only_root_filesystem).unwrap_or(false)
}

/// Warnings for securityContext fields that a wasm sandbox cannot honor
/// as Linux would, with their field paths: every one of them asks for
/// kernel privileges, and a WASI guest gets none whatever the manifest says.
pub fn privilege_warnings(pod: &str, spec: &PodSpec) -> Vec<String> {
    let mut out = Vec::new();
    let lists = [("initContainers", spec.init_containers.as_deref().unwrap_or_default()), ("containers", &spec.containers[..])];
    for (list, containers) in lists {
        for (i, c) in containers.iter().enumerate() {
            let Some(sc) = &c.security_context else { continue };
            let at = format!("spec.{list}[{i}].securityContext");
            if sc.privileged == Some(true) {
                out.push(format!("pod {pod:?}: {at}.privileged: a wasm sandbox grants no Linux privileges; the container runs with only its preopened directories and pod network"));
            }
            if let Some(add) = sc.capabilities.as_ref().and_then(|c| c.add.as_ref()).filter(|a| !a.is_empty()) {
                out.push(format!("pod {pod:?}: {at}.capabilities.add [{}]: a wasm sandbox grants no Linux capability", add.join(", ")));
            }
            if sc.allow_privilege_escalation == Some(true) {
                out.push(format!("pod {pod:?}: {at}.allowPrivilegeEscalation: a wasm guest cannot gain privileges (no setuid, no exec); nothing to allow"));
            }
            if sc.se_linux_options.is_some()
                || sc.app_armor_profile.is_some()
                || sc.seccomp_profile.is_some()
                || sc.windows_options.is_some()
                || sc.proc_mount.is_some()
            {
                out.push(format!("pod {pod:?}: {at}: seLinuxOptions, appArmorProfile, seccompProfile, windowsOptions and procMount have no meaning for a wasm guest (it makes no syscalls) and are ignored"));
            }
        }
    }
    if let Some(sc) = &spec.security_context {
        if sc.sysctls.as_ref().is_some_and(|s| !s.is_empty()) {
            out.push(format!("pod {pod:?}: spec.securityContext.sysctls: a wasm guest has no kernel to tune; ignored"));
        }
        if sc.se_linux_options.is_some() || sc.seccomp_profile.is_some() || sc.app_armor_profile.is_some() || sc.windows_options.is_some() {
            out.push(format!("pod {pod:?}: spec.securityContext: seLinuxOptions, seccompProfile, appArmorProfile and windowsOptions have no meaning for a wasm guest and are ignored"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> PodSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn container_fields_override_the_pods_and_groups_collect_fs_group() {
        let s = spec(
            "securityContext: {runAsUser: 42, runAsGroup: 7, fsGroup: 231, supplementalGroups: [5, 231]}\ncontainers:\n- {name: a, image: x}\n- {name: b, image: x, securityContext: {runAsUser: 1000}}\n",
        );
        let a = identity("p", &s, &s.containers[0]).unwrap();
        assert_eq!(a, Identity { uid: 42, gid: 7, groups: vec![7, 231, 5], fs_group: Some(231) });
        assert_eq!(a.volume_writer(), (42, 231));
        let b = identity("p", &s, &s.containers[1]).unwrap();
        assert_eq!((b.uid, b.gid), (1000, 7));
    }

    #[test]
    fn run_as_group_omitted_is_root_group() {
        let s = spec("securityContext: {runAsUser: 42, fsGroup: 231}\ncontainers: [{name: c, image: x}]\n");
        let i = identity("p", &s, &s.containers[0]).unwrap();
        assert_eq!((i.uid, i.gid, i.groups.clone()), (42, 0, vec![0, 231]));
        assert_eq!(i.volume_writer(), (42, 231));
    }

    #[test]
    fn run_as_non_root_refuses_uid_zero_from_either_level() {
        let s = spec("securityContext: {runAsNonRoot: true}\ncontainers:\n- {name: c, image: x}\n- {name: d, image: x, securityContext: {runAsUser: 9}}\n");
        let e = identity("p", &s, &s.containers[0]).unwrap_err();
        assert!(e.to_string().starts_with("container has runAsNonRoot and image will run as root"), "{e}");
        assert!(identity("p", &s, &s.containers[1]).is_ok());
    }

    #[test]
    fn privileges_are_reported_with_field_paths() {
        let s =
            spec("containers:\n- {name: c, image: x, securityContext: {privileged: true, capabilities: {add: [NET_ADMIN]}, allowPrivilegeEscalation: true}}\n");
        let w = privilege_warnings("p", &s);
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(w[0].contains("spec.containers[0].securityContext.privileged"));
        assert!(w[1].contains("capabilities.add [NET_ADMIN]"));
    }
}

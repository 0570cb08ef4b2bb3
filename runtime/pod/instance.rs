//! The one template every instance of a container is made from: its main
//! instance (each restart), exec'd commands, lifecycle hooks' exec, and
//! exec probes (which take the main instance's spec) all share the
//! container's program, env, files, network, IPC namespace, identity and
//! limits; only argv, stdio, the stop request and served ports differ.

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime_wasi::cli::{StdinStream, StdoutStream};

use crate::ipc::IpcNamespace;
use crate::limits::{CpuAccount, HandleAccount, MemoryAccount};
use crate::net::SocketPolicy;
use crate::sandbox::{Program, SandboxSpec, StopSignal};
use crate::security::Identity;
use crate::volume::{Mount, OwnerBook, PlannedMount, VolumeError};

/// What every instance of one container shares besides its image: its
/// root, volumes, network, IPC namespace, identity and accounts. Made
/// once when the pod starts; each template (one per load of the image)
/// holds it.
pub(crate) struct ContainerSandbox {
    /// Its writable root (`/`), kept across restarts.
    pub rootfs: PathBuf,
    /// readOnlyRootFilesystem: the root preopen is read-only.
    pub read_only_root: bool,
    /// Owners of the files in its root.
    pub root_owners: Arc<OwnerBook>,
    /// Its volume mounts, resolved on the host at each instance's start.
    pub mounts: Vec<PlannedMount>,
    /// What its sockets reach.
    pub network: SocketPolicy,
    /// The pod's IPC namespace: objects outlive the instances.
    pub ipc: Arc<IpcNamespace>,
    /// Who it runs as (securityContext).
    pub identity: Arc<Identity>,
    /// Its memory account (`resources.limits.memory`): every instance
    /// counts against it, as every process of a container's cgroup does.
    pub memory: Option<Arc<MemoryAccount>>,
    /// Its CPU account (`resources.limits.cpu`), shared likewise.
    pub cpu: Option<Arc<CpuAccount>>,
    /// The pod's cap on open files and sockets.
    pub handles: Arc<HandleAccount>,
    /// `/etc/hosts` and `/etc/hostname` (none: the host's network).
    pub etc: Option<Arc<super::etc_files::EtcFiles>>,
}

/// What every instance of one container is made from: its image, linked,
/// with the environment and working directory the image and the manifest
/// give together, and the container's sandbox.
pub(crate) struct InstanceTemplate {
    /// The container's image, linked.
    pub program: Arc<Program>,
    /// Its resolved environment, in order.
    pub env: Vec<(String, String)>,
    /// `workingDir`.
    pub working_dir: Option<String>,
    /// The container's sandbox.
    pub sandbox: Arc<ContainerSandbox>,
    /// `enableServiceLinks`: the pod's network, whose Services' variables
    /// each instance gets as they are when it starts.
    pub service_links: Option<Arc<crate::net::PodNetwork>>,
}

/// What a container's template is made of besides its image: made once
/// when the pod starts; the template itself once the image is loaded
/// (then, for a registry image, again after each pull).
#[derive(Clone)]
pub(crate) struct InstanceSetup {
    /// The environment the manifest gives, resolved.
    pub env: Vec<(String, String)>,
    /// `command`, with `$(VAR)` expanded.
    pub command: Vec<String>,
    /// `args`, likewise.
    pub args: Vec<String>,
    /// The container's `workingDir`.
    pub working_dir: Option<String>,
    /// The pod's hostname (`HOSTNAME`).
    pub hostname: String,
    /// The container's sandbox.
    pub sandbox: Arc<ContainerSandbox>,
    /// See [`InstanceTemplate::service_links`].
    pub service_links: Option<Arc<crate::net::PodNetwork>>,
}

impl InstanceSetup {
    /// The template with the image of `config` (loaded as `program`), and
    /// the main instance's argv: the image's config applied with
    /// Kubernetes' command/args rules, its Env and WorkingDir under the
    /// manifest's.
    pub(crate) fn build(&self, config: &crate::image::ImageConfig, program: Arc<Program>) -> (InstanceTemplate, Vec<String>) {
        // The container's workingDir, else the image's WorkingDir.
        let working_dir = self.working_dir.clone().or_else(|| config.working_dir.clone());
        // Container runtimes set HOSTNAME to the pod name; the image's
        // config provides PATH. The manifest wins.
        let mut env = vec![("HOSTNAME".to_owned(), self.hostname.clone())];
        env.extend(config.env.iter().cloned());
        if let Some(wd) = &working_dir {
            env.push(("PWD".to_owned(), wd.clone()));
        }
        env.retain(|(k, _)| !self.env.iter().any(|(e, _)| e == k));
        env.extend(self.env.iter().cloned());
        let argv = config.argv(self.command.clone(), self.args.clone());
        (InstanceTemplate { program, env, working_dir, sandbox: self.sandbox.clone(), service_links: self.service_links.clone() }, argv)
    }
}

/// An instance's standard streams.
pub(crate) struct Stdio {
    /// Where stdin comes from; none: empty.
    pub stdin: Option<Arc<dyn StdinStream + Send + Sync>>,
    /// Where stdout goes.
    pub stdout: Arc<dyn StdoutStream + Send + Sync>,
    /// Where stderr goes.
    pub stderr: Arc<dyn StdoutStream + Send + Sync>,
}

impl Stdio {
    /// No input, output discarded (a hook's command).
    pub(crate) fn none() -> Self {
        Self { stdin: None, stdout: Arc::new(tokio::io::empty()), stderr: Arc::new(tokio::io::empty()) }
    }
}

impl InstanceTemplate {
    /// The preopens of an instance starting now: the container's root,
    /// then its volumes (subPaths walked on the host now, since a guest
    /// may have changed the volume since the last start).
    pub(crate) fn mounts(&self) -> Result<Vec<Mount>, VolumeError> {
        let sb = &self.sandbox;
        let root = Mount {
            host_path: sb.rootfs.clone(),
            guest_path: "/".into(),
            writable: !sb.read_only_root,
            owners: Some(sb.root_owners.clone()),
            memory_files: None,
        };
        let volumes = crate::volume::resolve(&sb.mounts, &sb.rootfs)?;
        Ok(std::iter::once(root).chain(volumes).collect())
    }

    /// The grant of one instance running `args` with `mounts` and
    /// `stdio`, asked to stop through `stop`; `http_ports` are the ports a
    /// wasi:http handler is served on (the main instance's only).
    pub(crate) fn spec(&self, args: Vec<String>, mounts: Vec<Mount>, stdio: Stdio, stop: StopSignal, http_ports: Vec<u16>) -> SandboxSpec {
        let sb = &self.sandbox;
        // The Services' variables as they are now (the kubelet computes
        // them at each container start), after the container's own, which
        // win.
        let mut env = self.env.clone();
        if let Some(net) = &self.service_links {
            let services = super::service_env::service_env(&net.services());
            env.extend(services.into_iter().filter(|(k, _)| !self.env.iter().any(|(e, _)| e == k)));
        }
        SandboxSpec {
            args,
            env,
            mounts,
            working_dir: self.working_dir.clone(),
            stdin: stdio.stdin,
            stdout: stdio.stdout,
            stderr: stdio.stderr,
            network: sb.network.clone(),
            stop,
            ipc: sb.ipc.clone(),
            http_ports,
            identity: sb.identity.clone(),
            memory: sb.memory.clone(),
            cpu: sb.cpu.clone(),
            handles: sb.handles.clone(),
        }
    }
}

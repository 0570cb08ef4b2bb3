//! `exec`: a command run inside a running container.
//!
//! A Linux container runtime starts a new process in the container's
//! namespaces. The wasm equivalent is a fresh instance of the container's
//! image (the same compiled program, pre-instantiated, so this is cheap)
//! with the container's environment, filesystem (its root and mounts) and
//! pod network, and the caller's argv and standard streams. The exec'd
//! instance is not the container's main instance: it shares the
//! container's files and network, not its memory, as a second process
//! would.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use wasmtime_wasi::cli::{AsyncStdinStream, AsyncStdoutStream};

use super::instance::{InstanceTemplate, Stdio};
use crate::sandbox::{self, Engine as WasmEngine};

/// What an exec into one container needs, recorded when the pod prepares
/// its containers: the container's instance template (an exec'd command
/// shares its files, network and limits, as a process in its cgroup does).
#[derive(Clone)]
pub(crate) struct ExecTarget {
    pub name: String,
    pub instance: Arc<InstanceTemplate>,
}

/// The exec targets of one pod, shared by its supervisor and handle,
/// and the stdins of its containers with `stdin: true` (attach).
#[derive(Clone, Default)]
pub(crate) struct ExecTargets {
    targets: Arc<Mutex<Vec<ExecTarget>>>,
    stdins: Arc<Mutex<Vec<NamedStdin>>>,
}

/// A container's name and its stdin.
type NamedStdin = (String, Arc<super::attach::StdinHub>);

impl ExecTargets {
    /// Adds the container, or replaces its template (a registry image
    /// pulled again).
    pub(crate) fn add(&self, target: ExecTarget) {
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        targets.retain(|t| t.name != target.name);
        targets.push(target);
    }

    fn get(&self, name: &str) -> Option<ExecTarget> {
        self.targets.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|t| t.name == name).cloned()
    }

    /// Makes the stdin of container `name` (`stdin: true`).
    pub(crate) fn add_stdin(&self, name: &str, once: bool) -> Arc<super::attach::StdinHub> {
        let hub = super::attach::StdinHub::new(once);
        self.stdins.lock().unwrap_or_else(|e| e.into_inner()).push((name.to_owned(), hub.clone()));
        hub
    }

    /// What each container that has started used so far.
    pub(crate) fn usage(&self) -> Vec<ContainerUsage> {
        let targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        targets
            .iter()
            .map(|t| {
                let sb = &t.instance.sandbox;
                ContainerUsage {
                    name: t.name.clone(),
                    cpu: sb.cpu.as_ref().map(|a| a.used()).unwrap_or_default(),
                    memory_bytes: sb.memory.as_ref().map(|a| a.used()).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The stdin of container `name`, if it has one.
    pub(crate) fn stdin(&self, name: &str) -> Option<Arc<super::attach::StdinHub>> {
        self.stdins.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|(n, _)| n == name).map(|(_, h)| h.clone())
    }
}

/// What one container's instances used (the kubelet's stats): CPU time
/// since it started (exact with a CPU limit, else counted at the 10 ms
/// epoch ticks), and memory now (linear memory of its live instances and
/// its files in memory-backed volumes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUsage {
    /// The container's name.
    pub name: String,
    /// CPU time used.
    pub cpu: std::time::Duration,
    /// Bytes in use now.
    pub memory_bytes: u64,
}

/// Standard output and error of an exec'd command.
pub type ExecOutput = Box<dyn AsyncWrite + Send + Sync + Unpin>;

/// A command to run in a pod's container.
#[non_exhaustive]
pub struct ExecRequest {
    /// The container; `None`: the pod's default container (the
    /// `kubectl.kubernetes.io/default-container` annotation, else the first).
    pub container: Option<String>,
    /// argv, argv\[0\] first (the toolbox dispatches on it).
    pub command: Vec<String>,
    /// The command's stdin; `None`: empty.
    pub stdin: Option<Box<dyn AsyncRead + Send + Sync + Unpin>>,
    /// Where its stdout goes.
    pub stdout: ExecOutput,
    /// Where its stderr goes.
    pub stderr: ExecOutput,
}

impl ExecRequest {
    /// `command` in the pod's default container, with an empty stdin.
    pub fn new(command: Vec<String>, stdout: ExecOutput, stderr: ExecOutput) -> Self {
        Self { container: None, command, stdin: None, stdout, stderr }
    }

    /// In `container` (none: the pod's default container).
    pub fn in_container(mut self, container: Option<String>) -> Self {
        self.container = container;
        self
    }

    /// With `stdin`.
    pub fn with_stdin(mut self, stdin: Box<dyn AsyncRead + Send + Sync + Unpin>) -> Self {
        self.stdin = Some(stdin);
        self
    }
}

/// Why an exec could not run. Messages follow the API server's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// No command given.
    #[error("you must specify at least one command for the container")]
    NoCommand,
    /// The pod has no such container.
    #[error("container {container} is not valid for pod {pod}")]
    NoSuchContainer {
        /// Pod name.
        pod: String,
        /// Container name.
        container: String,
    },
    /// The pod ended.
    #[error("cannot exec into a container in a completed pod; current phase is {phase}")]
    PodCompleted {
        /// Its phase.
        phase: String,
    },
    /// The container exists but is not running.
    #[error("unable to upgrade connection: container not found (\"{container}\")")]
    NotRunning {
        /// Container name.
        container: String,
    },
    /// The container's volumes could not be opened.
    #[error("container {container}: {message}")]
    Mounts {
        /// Container name.
        container: String,
        /// Why.
        message: String,
    },
    /// The instance could not be set up.
    #[error("container {container}: cannot start the command")]
    Sandbox {
        /// Container name.
        container: String,
        /// Why.
        #[source]
        source: sandbox::SandboxError,
    },
}

/// How an exec'd command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecOutcome {
    /// The container it ran in (useful when defaulted).
    pub container: String,
    /// Its exit code: the guest's, 134 for a trap, 137 when the pod was
    /// stopped under it.
    pub exit_code: i32,
}

/// The container an exec without `-c` goes to, as kubectl picks it.
pub(crate) fn default_container(pod: &k8s_openapi::api::core::v1::Pod) -> Option<String> {
    let annotated = pod.metadata.annotations.as_ref().and_then(|a| a.get("kubectl.kubernetes.io/default-container")).cloned();
    annotated.or_else(|| pod.spec.as_ref()?.containers.first().map(|c| c.name.clone()))
}

pub(crate) async fn exec(
    engine: &WasmEngine,
    pod: &k8s_openapi::api::core::v1::Pod,
    targets: &ExecTargets,
    mut stop: watch::Receiver<bool>,
    req: ExecRequest,
) -> Result<ExecOutcome, ExecError> {
    if req.command.is_empty() {
        return Err(ExecError::NoCommand);
    }
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let container = match req.container {
        Some(c) => c,
        None => default_container(pod).unwrap_or_default(),
    };
    let status = pod.status.clone().unwrap_or_default();
    let all = status.container_statuses.iter().flatten().chain(status.init_container_statuses.iter().flatten());
    let Some(cs) = all.clone().find(|c| c.name == container) else {
        return Err(ExecError::NoSuchContainer { pod: pod_name, container });
    };
    if let Some(phase) = status.phase.as_deref().filter(|p| matches!(*p, "Succeeded" | "Failed")) {
        return Err(ExecError::PodCompleted { phase: phase.to_owned() });
    }
    let running = cs.state.as_ref().is_some_and(|s| s.running.is_some());
    let Some(target) = targets.get(&container).filter(|_| running) else {
        return Err(ExecError::NotRunning { container });
    };
    let t = &target.instance;
    let mounts = t.mounts().map_err(|e| ExecError::Mounts { container: container.clone(), message: crate::error_text::full_message(&e) })?;
    let stdio = Stdio {
        stdin: req.stdin.map(|s| Arc::new(AsyncStdinStream::new(s)) as _),
        stdout: Arc::new(AsyncStdoutStream::new(STREAM_BUDGET, req.stdout)),
        stderr: Arc::new(AsyncStdoutStream::new(STREAM_BUDGET, req.stderr)),
    };
    // An exec'd command is not asked to stop (it ends with the pod) and
    // serves nothing.
    let spec = t.spec(req.command, mounts, stdio, crate::sandbox::StopSignal::new(), Vec::new());
    let exit = tokio::select! {
        r = sandbox::run(engine, &t.program, spec) => r.map_err(|source| ExecError::Sandbox { container: container.clone(), source })?,
        // The pod is being stopped: the command dies with it.
        _ = super::stop_requested(&mut stop) => return Ok(ExecOutcome { container, exit_code: super::EXIT_KILLED }),
    };
    // An OOM kill ends the command alone; the container keeps running.
    Ok(ExecOutcome { container, exit_code: exit.code() })
}

/// Bytes an exec'd command may have in flight to its caller per stream.
const STREAM_BUDGET: usize = 64 * 1024;

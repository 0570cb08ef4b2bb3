//! The WASI sandbox of one container instance: its arguments, environment,
//! standard streams and preopened directories, and running it to its exit.
//!
//! Deny by default: a sandbox gets exactly what its [`SandboxSpec`] lists.
//! Sockets reach only the pod network (see `net`), no inherited environment,
//! no host directory but the container's own root and its mounts.

mod check;
mod exit;
mod filesystem;
mod http_handler;
mod identity;
mod program;
mod stdio;
mod stop;

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::{Linker as ComponentLinker, ResourceTable};
use wasmtime_wasi::cli::{StdinStream, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::sockets::{ip_name_lookup, tcp, tcp_create_socket, udp, udp_create_socket};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::ipc::{ComponentIpc, IpcNamespace, ModuleIpc};
use crate::limits::{CpuAccount, HandleAccount, Handles, MemoryAccount, MemoryLimiter};
use crate::net::{PodSockets, PodSocketsView, SocketPolicy};
use crate::volume::{MemoryFiles, Mount};
pub use check::CheckOutcome;
pub(crate) use check::run_check;
pub use exit::{EXIT_KILLED, EXIT_TERMINATED, EXIT_TRAPPED, GuestExit};
pub use http_handler::dispatch;
pub(crate) use program::CheckPre;
pub use program::{Engine, Loaded, Program};
pub use stdio::{CaptureStream, LogStream};
pub use stop::StopSignal;

/// Store state of a component container.
pub struct ComponentState {
    ctx: WasiCtx,
    table: ResourceTable,
    network: SocketPolicy,
    http: wasmtime_wasi_http::WasiHttpCtx,
    http_hooks: crate::net::PodHttpHooks,
    stop: StopSignal,
    ipc: ComponentIpc,
    identity: identity::IdentityView,
    limiter: MemoryLimiter,
    /// The pod's record of who wrote which file in its memory-backed
    /// volumes, when the container mounts one writable.
    memory_files: Option<Arc<MemoryFiles>>,
    /// The files and sockets this instance holds, counted against its pod.
    handles: Handles,
}

impl wasmtime_wasi_http::WasiHttpView for ComponentState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.http_hooks }
    }
}

impl ComponentState {
    pub(crate) fn ipc(&mut self) -> crate::ipc::IpcView<'_> {
        crate::ipc::IpcView { namespace: &self.ipc.namespace, table: &mut self.table }
    }

    fn pod_sockets(&mut self) -> PodSocketsView<'_> {
        PodSocketsView { policy: &self.network, table: &mut self.table, host: self.ctx.sockets(), handles: &mut self.handles }
    }
}

/// Replaces wasmtime-wasi's host-socket implementations of wasi:sockets
/// TCP, UDP and name lookup with the pod network's (the `network` and
/// `instance-network` interfaces stay wasmtime's: they only hand out the
/// capability handle), and UDP likewise.
fn add_pod_sockets_to_linker(linker: &mut ComponentLinker<ComponentState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    tcp::add_to_linker::<ComponentState, PodSockets>(linker, ComponentState::pod_sockets)?;
    tcp_create_socket::add_to_linker::<ComponentState, PodSockets>(linker, ComponentState::pod_sockets)?;
    ip_name_lookup::add_to_linker::<ComponentState, PodSockets>(linker, ComponentState::pod_sockets)?;
    udp::add_to_linker::<ComponentState, PodSockets>(linker, ComponentState::pod_sockets)?;
    udp_create_socket::add_to_linker::<ComponentState, PodSockets>(linker, ComponentState::pod_sockets)?;
    linker.allow_shadowing(false);
    Ok(())
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

/// Store state of a wasip1 core-module container.
pub struct ModuleState {
    pub(crate) wasi: WasiP1Ctx,
    stop: StopSignal,
    /// The pod's IPC namespace and this instance's open handles.
    pub(crate) ipc: ModuleIpc,
    identity: identity::IdentityView,
    limiter: MemoryLimiter,
    /// The files this instance holds open, counted against its pod.
    handles: Handles,
}

/// Everything one container instance is granted. Cloned for each request
/// of a wasi:http handler and each exec probe: they share the container's
/// env, files, network and log.
#[derive(Clone)]
pub struct SandboxSpec {
    /// argv, argv\[0\] first.
    pub args: Vec<String>,
    /// The environment, in order.
    pub env: Vec<(String, String)>,
    /// Preopened directories; the container's root (`/`) first.
    pub mounts: Vec<Mount>,
    /// The initial working directory (`workingDir`), absolute.
    pub working_dir: Option<String>,
    /// Where stdin comes from; none: an empty stdin.
    pub stdin: Option<Arc<dyn StdinStream + Send + Sync>>,
    /// Where stdout goes.
    pub stdout: Arc<dyn StdoutStream + Send + Sync>,
    /// Where stderr goes.
    pub stderr: Arc<dyn StdoutStream + Send + Sync>,
    /// What the container's sockets reach (components only: wasmtime 48
    /// gives wasip1 modules no sockets).
    pub network: SocketPolicy,
    /// The instance's stop request.
    pub stop: StopSignal,
    /// The pod's IPC namespace (queues and segments shared by its containers).
    pub ipc: Arc<IpcNamespace>,
    /// The pod-network ports a wasi:http handler component is served on
    /// (the container's TCP `containerPort`s); unused for commands.
    pub http_ports: Vec<u16>,
    /// Who the container runs as (securityContext), for `wasmpod:identity`.
    pub identity: Arc<crate::security::Identity>,
    /// The container's memory account (`resources.limits.memory`), shared
    /// by all its instances; none: unlimited.
    pub memory: Option<Arc<MemoryAccount>>,
    /// The container's CPU account (`resources.limits.cpu`), shared by all
    /// its instances; none: unlimited.
    pub cpu: Option<Arc<CpuAccount>>,
    /// The pod's cap on open files and sockets, shared by every instance
    /// of its containers.
    pub handles: Arc<HandleAccount>,
}

/// A failure to set the sandbox up, before any guest code ran.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// A preopen could not be opened.
    #[error("cannot open {host} for {guest}")]
    Preopen {
        /// Host path.
        host: PathBuf,
        /// Guest path.
        guest: String,
        /// What wasmtime reported.
        #[source]
        source: wasmtime::Error,
    },
    /// Instantiation failed (e.g. a start function trapped, or limits).
    #[error("cannot instantiate the program")]
    Instantiate(#[source] wasmtime::Error),
    /// A wasi:http handler component cannot be run as a command (exec).
    #[error("the image is a wasi:http handler component without wasi:cli/run: it serves requests on its containerPorts and runs no commands")]
    NotACommand,
    /// A wasi:http handler component cannot be served.
    #[error("cannot serve the wasi:http handler: {0}")]
    Serve(String),
}

impl SandboxSpec {
    /// The pod's memory-backed files ledger, when a mount of the
    /// container's writes to a memory-backed volume.
    fn memory_files(&self) -> Option<Arc<MemoryFiles>> {
        self.mounts.iter().find_map(|m| m.memory_files.clone())
    }

    fn identity_view(&self) -> identity::IdentityView {
        identity::IdentityView { identity: self.identity.clone(), mounts: Arc::new(self.mounts.clone()) }
    }

    fn builder(&self) -> Result<WasiCtxBuilder, SandboxError> {
        let mut b = WasiCtxBuilder::new();
        b.args(&self.args).envs(&self.env);
        // File operations on local disk take microseconds: running them on
        // the guest's own thread beats a hop to tokio's blocking pool (which
        // grows a thread per concurrent operation when thousands of
        // containers start at once).
        b.allow_blocking_current_thread(true);
        b.stdout(self.stdout.clone()).stderr(self.stderr.clone());
        if matches!(self.network, SocketPolicy::Host) {
            // hostNetwork: true: the explicit opt-in to the host's network.
            b.inherit_network().allow_tcp(true).allow_udp(true).allow_ip_name_lookup(true);
        }
        if let Some(stdin) = &self.stdin {
            b.stdin(stdin.clone());
        }
        if let Some(dir) = &self.working_dir {
            b.initial_cwd(dir);
        }
        for m in &self.mounts {
            let perms = if m.writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
            b.preopened_dir(&m.host_path, &m.guest_path, perms).map_err(|source| SandboxError::Preopen {
                host: m.host_path.clone(),
                guest: m.guest_path.clone(),
                source,
            })?;
        }
        Ok(b)
    }
}

/// A fresh store for one component instance granted `spec`, yielding at
/// every epoch tick (and held to the container's CPU limit).
fn component_store(engine: &wasmtime::Engine, spec: &SandboxSpec) -> Result<Store<ComponentState>, SandboxError> {
    let state = ComponentState {
        ctx: spec.builder()?.build(),
        table: ResourceTable::new(),
        network: spec.network.clone(),
        http: wasmtime_wasi_http::WasiHttpCtx::new(),
        http_hooks: crate::net::PodHttpHooks::new(spec.network.clone(), spec.handles.clone()),
        stop: spec.stop.clone(),
        ipc: ComponentIpc { namespace: spec.ipc.clone() },
        identity: spec.identity_view(),
        limiter: MemoryLimiter::new(spec.memory.clone()),
        memory_files: spec.memory_files(),
        handles: Handles::new(spec.handles.clone()),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    crate::limits::schedule(&mut store, spec.cpu.as_ref(), crate::engine::EPOCH_TICK);
    Ok(store)
}

/// Runs `program` in a fresh store until the guest ends.
///
/// The store yields to tokio at every epoch tick, so a spinning guest never
/// starves other containers. Dropping the returned future kills the guest
/// at its next yield point: that is how a container is killed.
pub async fn run(engine: &Engine, program: &Program, spec: SandboxSpec) -> Result<GuestExit, SandboxError> {
    let result = match program {
        Program::Component(c) => {
            let Some(pre) = &c.command else {
                // Served only as a container (with ports); exec'd
                // instances of a handler image have nothing to run.
                return match &c.proxy {
                    Some(proxy) if !spec.http_ports.is_empty() => http_handler::serve(engine, proxy, spec).await,
                    _ => Err(SandboxError::NotACommand),
                };
            };
            let mut store = component_store(engine.engine(), &spec)?;
            let command = match pre.instantiate_async(&mut store).await {
                Ok(c) => c,
                // The initial memories alone are over the limit.
                Err(e) if crate::limits::is_out_of_memory(&e) => return Ok(GuestExit::OomKilled(format!("{e:#}"))),
                Err(e) => return Err(SandboxError::Instantiate(e)),
            };
            match command.wasi_cli_run().call_run(&mut store).await {
                Ok(Ok(())) => Ok(()),
                // `run` returning error is how Rust's `main` reports Err: exit 1.
                Ok(Err(())) => return Ok(GuestExit::Exited(1)),
                Err(e) => Err(e),
            }
        }
        Program::Module(pre) => {
            let mut builder = spec.builder()?;
            let state = ModuleState {
                wasi: builder.build_p1(),
                stop: spec.stop.clone(),
                ipc: ModuleIpc::new(spec.ipc.clone()),
                identity: spec.identity_view(),
                limiter: MemoryLimiter::new(spec.memory.clone()),
                handles: Handles::new(spec.handles.clone()),
            };
            let mut store = Store::new(engine.engine(), state);
            store.limiter(|s| &mut s.limiter);
            crate::limits::schedule(&mut store, spec.cpu.as_ref(), crate::engine::EPOCH_TICK);
            let instance = match pre.instantiate_async(&mut store).await {
                Ok(i) => i,
                Err(e) if crate::limits::is_out_of_memory(&e) => return Ok(GuestExit::OomKilled(format!("{e:#}"))),
                Err(e) => return Err(SandboxError::Instantiate(e)),
            };
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start").map_err(SandboxError::Instantiate)?;
            start.call_async(&mut store, ()).await
        }
    };
    Ok(match result {
        Ok(()) => GuestExit::Exited(0),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(code)) => GuestExit::Exited(*code),
            None if crate::limits::is_out_of_memory(&e) => GuestExit::OomKilled(format!("{e:#}")),
            None => GuestExit::Trapped(format!("{e:#}")),
        },
    })
}

//! wasmpod runs Kubernetes Pod YAML on one machine with no cluster, no
//! container engine and no root: every container is a WASI program (a
//! wasm32-wasip2 component or a wasip1 module) executed by wasmtime inside
//! this process.
//!
//! # The data path
//!
//! ```text
//! pod.yaml --manifest::load_file--> Manifests (defaulted, validated Pods, ConfigMaps, Secrets)
//!   --Runtime::plan--> PodPlan (every image resolved: paths, builtins, aliases; and loaded:
//!                               compile cache, pre-instantiation)
//!   --Runtime::start--> PodHandle
//!        pod task: lock + record -> volumes (volume/) -> resolve env, argv, mounts -> supervisor
//!        supervisor: init containers in order -> app containers -> restarts/back-off
//!                    -> phase (kubelet getPhase) + conditions -> record, events, watchers
//!        container worker: sandbox (WASI ctx: args, env, stdio -> CRI log, preopens) -> exit
//!   Runtime::get / list / create / delete / watch / logs   (api/: the pods of the state directory)
//!   api::ApiServer: the same over HTTP in Kubernetes' shapes; api::Client talks to it
//!        every container instance: the pod network (`net`) and the pod IPC namespace (`ipc`:
//!        message queues, shared segments; `wasmpod:ipc` WIT and `wasmpod_ipc` core imports)
//! ```
//!
//! # Where to start reading
//!
//! [`Runtime`] is the entry point; `pod::supervisor` owns a pod's status;
//! `pod::container` runs one container's lifecycle; `sandbox` is the WASI
//! boundary; `store` is everything on disk.
//!
//! # Embedding
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use wasmpod::{Runtime, RuntimeConfig, Validation, manifest};
//!
//! let manifests = manifest::load_file("pod.yaml".as_ref(), Validation::Strict)?;
//! let runtime = Runtime::new(RuntimeConfig::new("/tmp/wasmpod-state"))?;
//! for plan in runtime.plan(&manifests, ".".as_ref()).await? {
//!     let pod = runtime.start(plan)?;
//!     let outcome = pod.wait().await;
//!     let name = outcome.pod.metadata.name.as_deref().unwrap_or_default();
//!     println!("{name}: {}", outcome.phase());
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

// The Kubernetes version is the application's choice (k8s-openapi's
// `v1_*` features); the library needs the API types of 1.35 or later.
k8s_openapi::k8s_if_le_1_34! {
    compile_error!("wasmpod needs the Kubernetes 1.35 API types or later: enable k8s-openapi's `v1_35` (or a later) feature");
}

pub mod api;
pub mod bench;
mod engine;
mod error_text;
mod image;
mod ipc;
mod limits;
pub mod manifest;
mod net;
pub mod node;
mod pod;
mod probe;
pub mod registry;
mod runtime;
mod sandbox;
mod security;
mod store;
mod volume;

pub use engine::{AllocationPlan, EngineError, HOST_TRIPLE, InstanceAllocation};
pub use image::{Alias, AliasTarget, ImageConfig, ImageError, parse_alias_file, parse_alias_flag};
pub use ipc::{IpcObject, IpcObjectKind, PodIpc};
pub use limits::DEFAULT_MAX_OPEN_FILES;
pub use manifest::Validation;
pub use net::{Connection, Egress, ForwardEvent, NetError, PipeReader, PipeWriter, ReadOutcome, RemotePod};
pub use pod::backoff::BackoffConfig;
pub use pod::phase::PodPhase;
pub use pod::{
    ContainerUsage, EXIT_KILLED, EXIT_TERMINATED, EXIT_TRAPPED, ExecError, ExecOutcome, ExecOutput, ExecRequest, PodHandle, PodOutcome, PodPlan, PodStopper,
    StdinWriter, unimplemented_fields,
};
pub use runtime::{
    Attach, Error, FAILED_DELETE, ImageGcTask, LogOptions, LogStream, PodUsage, PodWatch, Replay, Runtime, RuntimeConfig, StateView, WatchEvent,
    WatchEventType, absolute_image_paths,
};
#[cfg(feature = "compiler")]
pub use runtime::{CompiledImage, ImageCompiler};
pub use store::{LogRotation, LogTap, STATE_DIR_ENV, StateDir, StoreError, Stream, write_atomic};
pub use volume::{DEFAULT_USAGE_INTERVAL, VolumeError};

/// The wasmtime version this build runs on.
pub const WASMTIME_VERSION: &str = env!("WASMPOD_WASMTIME_VERSION");

/// Exposed for the integration tests and benchmarks: the path of built
/// guests, and nothing they do not use. The pure pod functions are tested
/// beside their code, not through here:
///
/// ```compile_fail,E0432
/// use wasmpod::testing::phase;
/// ```
///
/// ```compile_fail,E0432
/// use wasmpod::testing::conditions;
/// ```
///
/// ```compile_fail,E0432
/// use wasmpod::testing::backoff;
/// ```
pub mod testing {
    /// Directory holding the guest programs built from `guests/`.
    pub const GUESTS_DIR: &str = env!("WASMPOD_GUESTS_DIR");
}

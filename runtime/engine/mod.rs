//! The wasmtime engine shared by every pod: configuration, compiled-image
//! cache and pre-instantiated programs.
//!
//! One [`WasmEngine`] serves the whole process. Loading an image goes
//! memory cache -> disk cache -> compile, so the second start of an image
//! neither recompiles nor re-links: it reuses the same linked program ([`Link::Program`]) and only
//! pays for instantiation.

mod cache;
#[cfg(feature = "compiler")]
mod cross;
mod pool;
mod ticker;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use wasmtime::component::Component;
use wasmtime::{Config, Engine, Module};

use cache::{Cached, CompileCache};
#[cfg(feature = "compiler")]
pub use cross::CrossCompiler;
pub use pool::{AllocationPlan, InstanceAllocation};
use ticker::EpochTicker;

/// How often the epoch advances. Every store yields to the async scheduler
/// at each tick, so this bounds how long a spinning guest can hold a worker
/// thread: 10 ms keeps other containers responsive at negligible overhead.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Errors of loading or compiling an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The wasmtime engine could not be configured.
    #[error("cannot configure the wasmtime engine")]
    Config(#[source] wasmtime::Error),
    /// The bytes are neither a WebAssembly component nor a core module.
    #[error("image {image:?} is not a WebAssembly module or component")]
    NotWasm {
        /// The image reference as written in the manifest.
        image: String,
    },
    /// Compilation failed.
    #[error("image {image:?} failed to compile")]
    Compile {
        /// The image reference.
        image: String,
        /// What wasmtime reported.
        #[source]
        source: wasmtime::Error,
    },
    /// The program lacks the entry point or imports something this runtime
    /// does not provide.
    #[error(
        "image {image:?} is not a runnable WASI program here: it must be a wasm32-wasip2 command \
         (exporting wasi:cli/run), a wasi:http handler component (exporting wasi:http/incoming-handler) \
         or a wasip1 module (exporting _start), importing only what wasmpod provides"
    )]
    Link {
        /// The image reference.
        image: String,
        /// What wasmtime reported (names the missing import).
        #[source]
        source: wasmtime::Error,
    },
    /// A build without a compiler found no precompiled code for the image.
    #[error(
        "image {image:?} has no precompiled code for this wasmpod (built without a compiler; code for {target}): \
         on a machine with a full build run `wasmpod compile --target {triple} {image}` and copy the files it writes into {cache}{reason}"
    )]
    NotPrecompiled {
        /// The image reference.
        image: String,
        /// The wasmtime target this build runs (a triple, or `pulley32`).
        target: String,
        /// This build's target triple, for `wasmpod compile --target`.
        triple: String,
        /// The compiled-image cache directory it looked in.
        cache: PathBuf,
        /// Why an entry that was there was refused (empty when none was).
        reason: String,
    },
    /// `wasmpod compile` was given a target it cannot compile for.
    #[error("cannot compile for {target:?}: {reason}")]
    Target {
        /// The target triple as given.
        target: String,
        /// Why.
        reason: String,
    },
    /// The compiled-image cache directory could not be used.
    #[error("compiled-image cache at {path} is unusable")]
    Cache {
        /// The cache directory or file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The cache directory or an entry is group- or world-writable: another
    /// user could put native code there for this process to run.
    #[error("compiled-image cache at {path} is writable by other users (mode {mode:04o}): refusing to load native code from it (chmod go-w, or remove it)")]
    CacheWritableByOthers {
        /// The cache directory or file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The cache directory or an entry belongs to another user, who could
    /// put native code there for this process to run.
    #[error("compiled-image cache at {path} is owned by uid {owner}, not by this process's uid {euid}: refusing to load native code from it")]
    CacheNotOwned {
        /// The cache directory or file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// This process's effective uid.
        euid: u32,
    },
}

/// A compiled image, before linking.
pub enum Compiled {
    /// A wasm32-wasip2 component.
    Component(Component),
    /// A wasip1 core module.
    Module(Module),
}

/// Links compiled images into programs ready to instantiate. The sandbox
/// implements it with its linkers (it alone knows the store's state and
/// the host functions a guest may import); the engine only compiles,
/// caches and keeps each image's linked program for reuse.
pub trait Link: Send + Sync + Sized + 'static {
    /// What a linked image is.
    type Program: Send + Sync + 'static;
    /// The linkers for programs of `engine`.
    fn new(engine: &Engine) -> wasmtime::Result<Self>;
    /// Links `compiled`; the error names what the image imports that is
    /// not provided, or the entry point it lacks.
    fn link(&self, compiled: Compiled) -> wasmtime::Result<Self::Program>;
}

/// How a load of an image was satisfied, for events and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Already loaded in this process.
    Memory,
    /// Deserialized from the on-disk compiled-image cache.
    DiskCache,
    /// Compiled from wasm now (and written to the disk cache).
    Compiled,
}

/// The result of loading an image.
pub struct Loaded<P> {
    /// The program, shared by every container running this image.
    pub program: Arc<P>,
    /// Where it came from.
    pub source: LoadSource,
    /// Wall time the load took.
    pub elapsed: Duration,
}

/// One image's linked program, filled by the first load.
type ProgramCell<P> = Arc<OnceCell<Arc<P>>>;

/// The process-wide wasmtime engine with its linkers and caches.
pub struct WasmEngine<L: Link> {
    engine: Engine,
    linker: L,
    disk: CompileCache,
    /// One cell per image digest: concurrent loads of one image (a thousand
    /// pods starting at once) wait for a single compile.
    loaded: Mutex<HashMap<[u8; 32], ProgramCell<L::Program>>>,
    allocation: AllocationPlan,
    /// The wasmtime target of this engine's code (a triple, or `pulley32`
    /// where wasmtime interprets Pulley bytecode): named when a build
    /// without a compiler lacks an image's code.
    #[cfg_attr(feature = "compiler", allow(dead_code))]
    target: String,
    _ticker: EpochTicker,
}

/// This build's target triple (what `wasmpod compile --target` takes to
/// make code this build loads).
pub const HOST_TRIPLE: &str = env!("WASMPOD_HOST_TRIPLE");

/// Creates a compiled-image cache directory (owner-only), or checks that
/// an existing one is this user's alone.
#[cfg(feature = "compiler")]
pub fn create_cache_dir(dir: &Path) -> Result<(), EngineError> {
    cache::prepare_dir(dir)
}

/// The wasmtime configuration every engine of wasmpod uses: the runtime's,
/// and `wasmpod compile`'s for another machine (`target`), so the code one
/// makes is code the other loads. Everything wasmtime checks when it loads
/// code and that could differ between two builds is set here explicitly.
fn engine_config(plan: &AllocationPlan, target: Option<&str>) -> wasmtime::Result<Config> {
    let mut config = Config::new();
    if let Some(target) = target {
        config.target(target)?;
    }
    config.wasm_component_model(true);
    // Preemption: every store yields at each epoch tick (see EPOCH_TICK).
    config.epoch_interruption(true);
    // Not from WASMTIME_BACKTRACE_DETAILS: it changes the code's tunables.
    config.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable);
    config.collector(wasmtime::Collector::DeferredReferenceCounting);
    config.concurrency_support(false);
    pool::apply(&mut config, plan);
    Ok(config)
}

/// The wasmtime target of `engine`'s code, as [`cache::engine_tag`] names it.
fn running_target(engine: &Engine) -> String {
    if engine.is_pulley() { pulley_target(usize::BITS, cfg!(target_endian = "big")) } else { HOST_TRIPLE.to_owned() }
}

fn pulley_target(bits: u32, big_endian: bool) -> String {
    format!("pulley{bits}{}", if big_endian { "be" } else { "" })
}

impl<L: Link> WasmEngine<L> {
    /// Builds the engine, instances allocated as `choice` says; compiled
    /// images are cached under `cache_dir`.
    pub fn with_choice(cache_dir: &Path, choice: InstanceAllocation) -> Result<Self, EngineError> {
        Self::with_allocation(cache_dir, pool::plan_for(choice))
    }

    /// An engine for one instance at a time (a process per container, as
    /// `wasmpod bench` measures it): instances mapped on demand, no pool.
    pub(crate) fn for_one_instance(cache_dir: &Path) -> Result<Self, EngineError> {
        Self::with_allocation(cache_dir, AllocationPlan { slots: 0, copy_on_write: true, reason: "on-demand allocation (one instance per process)".into() })
    }

    fn with_allocation(cache_dir: &Path, mut allocation: AllocationPlan) -> Result<Self, EngineError> {
        let configure = |plan: &AllocationPlan| engine_config(plan, None).map_err(EngineError::Config);
        let engine = match Engine::new(&configure(&allocation)?) {
            Ok(e) => e,
            Err(e) if allocation.slots > 0 => {
                // The pool's reservation failed: map each instance on demand.
                // Copy-on-write stays as planned: it names the compiled
                // code's cache entries, so another engine of this process
                // (whose pool was reserved) shares them.
                allocation = AllocationPlan {
                    slots: 0,
                    copy_on_write: allocation.copy_on_write,
                    reason: format!("on-demand allocation (the pool could not be reserved: {e})"),
                };
                Engine::new(&configure(&allocation)?).map_err(EngineError::Config)?
            }
            Err(e) => return Err(EngineError::Config(e)),
        };

        let linker = L::new(&engine).map_err(EngineError::Config)?;
        let target = running_target(&engine);
        let disk = CompileCache::open(cache_dir, cache::engine_tag(&target, allocation.copy_on_write))?;
        let ticker = EpochTicker::start(engine.clone(), EPOCH_TICK);
        Ok(Self { engine, linker, disk, loaded: Mutex::new(HashMap::new()), allocation, target, _ticker: ticker })
    }

    /// How instances are allocated (pool size and why).
    pub fn allocation(&self) -> &AllocationPlan {
        &self.allocation
    }

    /// The underlying wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads `bytes` (named `image` in messages, with SHA-256 `digest`):
    /// from memory, the disk cache, or by compiling. Compilation runs on a
    /// blocking thread.
    pub async fn load(self: &Arc<Self>, image: &str, bytes: Arc<[u8]>, digest: [u8; 32]) -> Result<Loaded<L::Program>, EngineError> {
        let started = Instant::now();
        let cell = self.loaded.lock().expect("program cache poisoned").entry(digest).or_default().clone();
        let mut source = LoadSource::Memory;
        let program = cell
            .get_or_try_init(|| async {
                let this = self.clone();
                let image_owned = image.to_owned();
                let (program, from) =
                    tokio::task::spawn_blocking(move || this.load_blocking(&image_owned, &bytes, &digest)).await.expect("compile task panicked")?;
                source = from;
                Ok::<_, EngineError>(Arc::new(program))
            })
            .await?
            .clone();
        Ok(Loaded { program, source, elapsed: started.elapsed() })
    }

    /// The program this process already loaded for `digest`, if any: a
    /// caller that finds it needs not read the image's bytes again.
    pub fn loaded(&self, digest: &[u8; 32]) -> Option<Loaded<L::Program>> {
        let cell = self.loaded.lock().expect("program cache poisoned").get(digest)?.clone();
        let program = cell.get()?.clone();
        Some(Loaded { program, source: LoadSource::Memory, elapsed: Duration::ZERO })
    }

    fn load_blocking(&self, image: &str, bytes: &[u8], digest: &[u8; 32]) -> Result<(L::Program, LoadSource), EngineError> {
        let is_component = wasmparser::Parser::is_component(bytes);
        let is_module = wasmparser::Parser::is_core_wasm(bytes) || looks_like_wat(bytes);
        if !is_component && !is_module {
            return Err(EngineError::NotWasm { image: image.to_owned() });
        }
        let link_err = |source| EngineError::Link { image: image.to_owned(), source };
        let compiled = if is_component {
            match self.disk.get_component(&self.engine, digest)? {
                Cached::Hit(c) => (Compiled::Component(c), LoadSource::DiskCache),
                missed => (self.compile(image, bytes, digest, true, missed.refusal())?, LoadSource::Compiled),
            }
        } else {
            match self.disk.get_module(&self.engine, digest)? {
                Cached::Hit(m) => (Compiled::Module(m), LoadSource::DiskCache),
                missed => (self.compile(image, bytes, digest, false, missed.refusal())?, LoadSource::Compiled),
            }
        };
        Ok((self.linker.link(compiled.0).map_err(link_err)?, compiled.1))
    }

    /// Compiles an image the cache lacked (or held in a form wasmtime
    /// refused: `refused`), and caches it.
    #[cfg(feature = "compiler")]
    fn compile(&self, image: &str, bytes: &[u8], digest: &[u8; 32], component: bool, _refused: Option<wasmtime::Error>) -> Result<Compiled, EngineError> {
        let compile_err = |source| EngineError::Compile { image: image.to_owned(), source };
        let artifact = if component { self.engine.precompile_component(bytes) } else { self.engine.precompile_module(bytes) }.map_err(compile_err)?;
        // The cache only saves time: a read-only or full cache directory
        // must not refuse the image.
        let _ = self.disk.put(digest, &artifact);
        // SAFETY: the artifact was produced by this engine just now.
        Ok(if component {
            Compiled::Component(unsafe { Component::deserialize(&self.engine, &artifact) }.map_err(compile_err)?)
        } else {
            Compiled::Module(unsafe { Module::deserialize(&self.engine, &artifact) }.map_err(compile_err)?)
        })
    }

    /// Without a compiler, an image runs only from code `wasmpod compile`
    /// made for this build.
    #[cfg(not(feature = "compiler"))]
    fn compile(&self, image: &str, _bytes: &[u8], _digest: &[u8; 32], _component: bool, refused: Option<wasmtime::Error>) -> Result<Compiled, EngineError> {
        Err(EngineError::NotPrecompiled {
            image: image.to_owned(),
            target: self.target.clone(),
            triple: HOST_TRIPLE.to_owned(),
            cache: self.disk.dir().to_owned(),
            reason: refused.map(|e| format!(" (the entry there was refused: {e:#})")).unwrap_or_default(),
        })
    }
}

impl<T> Cached<T> {
    /// Why wasmtime refused the entry, if it did.
    fn refusal(self) -> Option<wasmtime::Error> {
        match self {
            Cached::Unusable(e) => Some(e),
            _ => None,
        }
    }
}

/// The text format is accepted for core modules (handy for tests and tiny
/// guests); wasmtime parses it when the `wat` feature is on.
fn looks_like_wat(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]);
    let trimmed = text.trim_start();
    trimmed.starts_with("(module") || trimmed.starts_with(";;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Links modules without imports: enough to test compiling and caching.
    pub(super) struct Bare(wasmtime::Linker<()>);

    impl Link for Bare {
        type Program = wasmtime::InstancePre<()>;
        fn new(engine: &Engine) -> wasmtime::Result<Self> {
            Ok(Self(wasmtime::Linker::new(engine)))
        }
        fn link(&self, compiled: Compiled) -> wasmtime::Result<Self::Program> {
            match compiled {
                Compiled::Module(m) => self.0.instantiate_pre(&m),
                Compiled::Component(_) => Err(wasmtime::Error::msg("components are not linked here")),
            }
        }
    }

    pub(super) const MODULE: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_loads_of_one_image_compile_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(WasmEngine::<Bare>::with_choice(dir.path(), InstanceAllocation::Auto).unwrap());
        let bytes: Arc<[u8]> = Arc::from(MODULE.as_bytes());
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (engine, bytes) = (engine.clone(), bytes.clone());
            set.spawn(async move { engine.load("m.wat", bytes, crate::image::digest_of(MODULE.as_bytes())).await.unwrap().source });
        }
        let mut sources = Vec::new();
        while let Some(s) = set.join_next().await {
            sources.push(s.unwrap());
        }
        assert_eq!(sources.iter().filter(|s| **s == LoadSource::Compiled).count(), 1, "{sources:?}");
        assert_eq!(sources.iter().filter(|s| **s == LoadSource::Memory).count(), 7);
        // A second engine (a new process) finds it on disk.
        let again = Arc::new(WasmEngine::<Bare>::with_choice(dir.path(), InstanceAllocation::Auto).unwrap());
        assert_eq!(again.load("m.wat", bytes, crate::image::digest_of(MODULE.as_bytes())).await.unwrap().source, LoadSource::DiskCache);
    }

    #[tokio::test]
    async fn bytes_that_are_not_wasm_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(WasmEngine::<Bare>::with_choice(dir.path(), InstanceAllocation::Auto).unwrap());
        let err = engine.load("x.wasm", Arc::from(&b"#!/bin/sh\necho hi"[..]), [0; 32]).await.err().unwrap();
        assert!(matches!(err, EngineError::NotWasm { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_pooled_and_an_on_demand_engine_share_compiled_images() {
        // A second engine in a process often cannot reserve a pool and
        // falls back to on-demand allocation; its compiled images must
        // still be the first one's cache entries.
        let dir = tempfile::tempdir().unwrap();
        let plan = |slots| AllocationPlan { slots, copy_on_write: false, reason: "test".into() };
        let digest = crate::image::digest_of(MODULE.as_bytes());
        let pooled = Arc::new(WasmEngine::<Bare>::with_allocation(dir.path(), plan(4)).unwrap());
        assert_eq!(pooled.load("m.wat", Arc::from(MODULE.as_bytes()), digest).await.unwrap().source, LoadSource::Compiled);
        let on_demand = Arc::new(WasmEngine::<Bare>::with_allocation(dir.path(), plan(0)).unwrap());
        assert_eq!(on_demand.load("m.wat", Arc::from(MODULE.as_bytes()), digest).await.unwrap().source, LoadSource::DiskCache);
    }
}

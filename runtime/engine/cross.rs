//! Compiling images for another machine's build of wasmpod (`wasmpod
//! compile --target`): a build without a compiler (for small devices) runs
//! only what this writes into its compiled-image cache.

use wasmtime::Engine;

use super::{AllocationPlan, EngineError, cache, engine_config, pulley_target};

/// A compiler of images for one target.
pub struct CrossCompiler {
    engine: Engine,
    target: String,
    tag: String,
}

/// One compiled image.
#[derive(Debug)]
#[non_exhaustive]
pub struct CrossCompiled {
    /// The file name the target's compiled-image cache knows it by.
    pub file_name: String,
    /// The code (wasmtime's serialized form).
    pub artifact: Vec<u8>,
}

impl CrossCompiler {
    /// A compiler for the machine with target triple `triple` (as rustc
    /// names it, e.g. `armv7-unknown-linux-gnueabihf`), or for a Pulley
    /// target by wasmtime's name (`pulley32`, `pulley64`...).
    pub fn new(triple: &str) -> Result<Self, EngineError> {
        let refused = |reason: String| EngineError::Target { target: triple.to_owned(), reason };
        let target = wasmtime_target(triple).map_err(refused)?;
        // Images copy-on-write, as every plan of a build without a compiler
        // has them; allocation itself is not part of the code.
        let plan = AllocationPlan { slots: 0, copy_on_write: true, reason: String::new() };
        let config = engine_config(&plan, Some(&target)).map_err(|e| refused(format!("{e:#}")))?;
        let engine = Engine::new(&config).map_err(|e| {
            let host_arch = super::HOST_TRIPLE.split('-').next().unwrap_or_default();
            let hint = if target.starts_with("pulley") || target.split('-').next() == Some(host_arch) {
                String::new()
            } else {
                format!(" (this build makes native code for {host_arch} only, Pulley bytecode for any target: build wasmpod with --features all-arch for native code of other architectures)")
            };
            refused(format!("{e:#}{hint}"))
        })?;
        let tag = cache::engine_tag(&target, plan.copy_on_write);
        Ok(Self { engine, target, tag })
    }

    /// The wasmtime target the code is for: the triple itself where
    /// Cranelift generates native code for it, else the Pulley target
    /// (bytecode for wasmtime's interpreter) of its pointer width.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Compiles the image `bytes` (named `image` in messages).
    pub fn compile(&self, image: &str, bytes: &[u8]) -> Result<CrossCompiled, EngineError> {
        let compile_err = |source| EngineError::Compile { image: image.to_owned(), source };
        let artifact = if wasmparser::Parser::is_component(bytes) {
            self.engine.precompile_component(bytes)
        } else if wasmparser::Parser::is_core_wasm(bytes) || super::looks_like_wat(bytes) {
            self.engine.precompile_module(bytes)
        } else {
            return Err(EngineError::NotWasm { image: image.to_owned() });
        }
        .map_err(compile_err)?;
        Ok(CrossCompiled { file_name: self.file_name(bytes), artifact })
    }

    /// The name the target's cache knows the code of `bytes` by.
    pub fn file_name(&self, bytes: &[u8]) -> String {
        cache::entry_name(&crate::image::digest_of(bytes), &self.tag)
    }
}

/// The wasmtime target for rustc's triple: native where Cranelift has a
/// backend for the architecture (x86_64, aarch64, riscv64, s390x), else
/// Pulley of the architecture's pointer width and byte order.
fn wasmtime_target(triple: &str) -> Result<String, String> {
    let arch = triple.split('-').next().unwrap_or_default();
    if triple.split('-').count() < 2 && !arch.starts_with("pulley") {
        return Err("expected a target triple such as armv7-unknown-linux-gnueabihf or aarch64-unknown-linux-gnu".into());
    }
    let native = ["x86_64", "aarch64", "riscv64", "riscv64gc", "s390x"];
    let pulley = |bits, be| Ok(pulley_target(bits, be));
    match arch {
        a if native.contains(&a) => Ok(triple.to_owned()),
        "pulley32" | "pulley64" | "pulley32be" | "pulley64be" => Ok(arch.to_owned()),
        "i386" | "i486" | "i586" | "i686" | "mipsel" | "wasm32" => pulley(32, false),
        a if a.starts_with("arm") || a.starts_with("thumb") || a.starts_with("riscv32") => pulley(32, false),
        "loongarch64" | "mips64el" | "powerpc64le" => pulley(64, false),
        "mips" | "powerpc" | "sparc" => pulley(32, true),
        "mips64" | "powerpc64" | "sparc64" => pulley(64, true),
        _ => Err(format!("unknown architecture {arch:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triples_map_to_native_code_or_pulley() {
        assert_eq!(wasmtime_target("armv7-unknown-linux-gnueabihf").unwrap(), "pulley32");
        assert_eq!(wasmtime_target("arm-unknown-linux-gnueabi").unwrap(), "pulley32");
        assert_eq!(wasmtime_target("i686-pc-windows-gnu").unwrap(), "pulley32");
        assert_eq!(wasmtime_target("powerpc64le-unknown-linux-gnu").unwrap(), "pulley64");
        assert_eq!(wasmtime_target("mips-unknown-linux-gnu").unwrap(), "pulley32be");
        assert_eq!(wasmtime_target("aarch64-unknown-linux-gnu").unwrap(), "aarch64-unknown-linux-gnu");
        assert_eq!(wasmtime_target("pulley64").unwrap(), "pulley64");
        assert!(wasmtime_target("armv7").unwrap_err().contains("target triple"));
        assert!(wasmtime_target("vax-dec-ultrix").unwrap_err().contains("\"vax\""));
    }

    /// What `wasmpod compile --target` writes for this machine is what this
    /// machine's engine finds in its cache, and runs.
    #[tokio::test]
    async fn code_compiled_for_this_host_loads_from_the_cache() {
        use super::super::tests::{Bare, MODULE};
        use super::super::{InstanceAllocation, LoadSource, WasmEngine};
        let dir = tempfile::tempdir().unwrap();
        let compiled = CrossCompiler::new(super::super::HOST_TRIPLE).unwrap().compile("m.wat", MODULE.as_bytes()).unwrap();
        std::fs::create_dir_all(dir.path()).unwrap();
        let engine = std::sync::Arc::new(WasmEngine::<Bare>::with_choice(dir.path(), InstanceAllocation::OnDemand).unwrap());
        crate::store::write_atomic(&dir.path().join(&compiled.file_name), &compiled.artifact).unwrap();
        let digest = crate::image::digest_of(MODULE.as_bytes());
        assert_eq!(engine.load("m.wat", std::sync::Arc::from(MODULE.as_bytes()), digest).await.unwrap().source, LoadSource::DiskCache);
        // Pulley code is refused by a native engine: a cache entry for
        // another target is never loaded.
        let pulley = CrossCompiler::new("armv7-unknown-linux-gnueabihf").unwrap();
        assert_eq!(pulley.target(), "pulley32");
        assert_ne!(pulley.compile("m.wat", MODULE.as_bytes()).unwrap().file_name, compiled.file_name);
    }
}

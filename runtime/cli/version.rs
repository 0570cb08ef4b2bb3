//! `wasmpod version`.

use super::{Exit, Failure};

pub(crate) fn run() -> Result<Exit, Failure> {
    println!("wasmpod {}", env!("CARGO_PKG_VERSION"));
    println!("target: {}", wasmpod::HOST_TRIPLE);
    println!("engine: wasmtime {} (components: wasm32-wasip2; core modules: wasip1)", wasmpod::WASMTIME_VERSION);
    if cfg!(feature = "compiler") {
        println!("compiler: Cranelift (images are compiled on first use and cached)");
    } else {
        println!("compiler: none (runs images precompiled by `wasmpod compile --target {}`)", wasmpod::HOST_TRIPLE);
    }
    Ok(Exit::Success)
}

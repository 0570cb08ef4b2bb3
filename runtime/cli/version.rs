//! `wasmpod version`.

use super::{Exit, Failure};

pub(crate) fn run() -> Result<Exit, Failure> {
    println!("wasmpod {}", env!("CARGO_PKG_VERSION"));
    println!("engine: wasmtime {} (components: wasm32-wasip2; core modules: wasip1)", wasmpod::WASMTIME_VERSION);
    Ok(Exit::Success)
}

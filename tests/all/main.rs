//! Integration tests: real guests through the real runtime.
//! One test binary (linking wasmtime once), one module per area.

mod cli;
mod env;
mod harness;
mod lifecycle;
mod logs;
mod preemption;
mod toolbox;
mod volumes;

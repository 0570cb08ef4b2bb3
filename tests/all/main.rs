//! Integration tests: real guests through the real runtime.
//! One test binary (linking wasmtime once), one module per area.

mod api;
mod apiserver;
mod cli;
mod env;
mod escape;
mod examples;
mod harness;
mod images;
mod ipc;
mod kubectl;
mod layers;
mod lifecycle;
mod logs;
mod network;
mod node;
mod preemption;
mod probes;
mod registry;
mod security;
mod services;
mod stopping;
mod toolbox;
mod volumes;

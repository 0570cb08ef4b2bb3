//! wasmpod: run Kubernetes Pod YAML as WebAssembly-sandboxed pods.
//! (overview written once the modules settle)

pub mod manifest;
pub mod pod;

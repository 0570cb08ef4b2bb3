//! Pod manifests: YAML loading, the Kubernetes object model, defaults, validation and `$(VAR)` expansion.

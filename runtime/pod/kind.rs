//! Which list of the pod spec a container is in.

/// Which list a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// `spec.initContainers[i]` (regular: runs to completion, in order).
    Init,
    /// `spec.containers[i]`.
    App,
}

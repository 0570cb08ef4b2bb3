//! Joining a real Kubernetes cluster as a node (the virtual-kubelet
//! pattern): `wasmpod node` registers a Node, renews its Lease, runs the
//! pods the cluster binds to it through the same [`crate::Runtime`] and
//! reports their status (`agent.rs`), over a small client of the API
//! server (`client.rs`), writing objects built by pure functions
//! (`object.rs`).

mod agent;
mod bootstrap;
mod client;
mod events;
mod network;
mod object;
mod routes;

pub use agent::{NodeAgent, NodeConfig};
pub use bootstrap::{BootstrapError, bootstrap};
pub(crate) use client::connector;
pub use client::{ApiClient, ClientError};
pub use events::{NodeEvents, event_tap};
pub use object::{RUNTIME_LABEL, arch};

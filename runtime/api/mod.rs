//! The control API: every runtime process serves the pods of its state
//! directory over HTTP/1.1 in Kubernetes' REST shapes, and [`Client`]
//! talks to it.
//!
//! ```text
//! Runtime (registry of its pods: status watch, stopper, submitted object)
//!   --runtime/ (one file per operation)--> create / get / list / delete / watch / logs / events
//!   --server.rs + routes.rs--> /api/v1/namespaces/{ns}/pods/...          (HTTP, Status errors)
//!   --transport/--> <state>/api/<role>-<pid>.sock (Unix) or a named pipe (Windows)
//! Client (client.rs) --discovery.rs--> the live endpoints of a state directory
//! ```
//!
//! Every server answers for the whole state directory: its own pods live,
//! the others from their records. An operation that needs the process that
//! runs a pod (delete; later exec and port-forward) is forwarded to that
//! process's endpoint.

mod aggregated;
mod apply;
mod body;
mod client;
mod discovery;
mod error;
mod https;
mod kubelet;
mod kubelet_stats;
mod lists;
mod objects;
mod openapi;
mod patch;
mod pki;
mod portforward;
mod protobuf;
mod remotecommand;
mod request;
mod routes;
mod selectors;
mod server;
mod spdy;
mod spdy_exec;
mod stream;
mod table;
mod tables;
mod transport;
mod tty;
mod update;
mod upgrade;
mod websocket;

pub use client::{Client, ClientError, LogLines, PodEvents, Target};
pub use discovery::{Endpoint, Role};
pub use error::{Status, StatusCause, StatusDetails};
pub use https::{HttpsError, HttpsServer, kubeconfig_path};
pub use kubelet::{Authorizer, KubeletAccess, KubeletServer, KubeletTls, KubeletUser};
pub use objects::Resource;
pub use pki::{Pki, PkiError};
pub use server::ApiServer;
pub use stream::{ExecEnd, client_exec};
pub use table::{
    PodRow, config_map_row, endpoint_slice_row, endpoints_row, event_age, human_duration, network_policy_row, pod_row, secret_row, service_account_row,
    service_row,
};
pub use upgrade::Upgraded;

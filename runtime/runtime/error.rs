//! The crate's error: why an operation of the runtime failed.

use crate::error_text::full_message;
use crate::manifest::ManifestError;
use crate::store::StoreError;

use crate::engine::EngineError;
use crate::image::ImageError;

/// Why a pod operation failed. Each has the HTTP code and `reason`
/// the Kubernetes API server uses for the same failure (`api::Status`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No such pod (404 NotFound).
    #[error("pods \"{name}\" not found")]
    NotFound {
        /// Pod namespace.
        namespace: String,
        /// Pod name.
        name: String,
    },
    /// A pod of that name exists (409 AlreadyExists).
    #[error("pods \"{name}\" already exists")]
    AlreadyExists {
        /// Pod namespace.
        namespace: String,
        /// Pod name.
        name: String,
    },
    /// No such object of another resource (404 NotFound), as the API
    /// server words it: `services "x" not found`.
    #[error("{resource} \"{name}\" not found")]
    ObjectNotFound {
        /// The resource: `services`, `networkpolicies.networking.k8s.io`, ...
        resource: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// An object of that resource and name exists (409 AlreadyExists).
    #[error("{resource} \"{name}\" already exists")]
    ObjectExists {
        /// The resource: `services`, `networkpolicies.networking.k8s.io`, ...
        resource: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The object was refused by validation, or an update changes what
    /// may not change (422 Invalid). `message` is the whole
    /// `The Pod "x" is invalid: ...` text.
    #[error("{message}")]
    Invalid {
        /// Pod name.
        name: String,
        /// Kubernetes' message.
        message: String,
    },
    /// The update conflicts with the object as it is (409 Conflict), e.g.
    /// a body whose uid is another object's.
    #[error("Operation cannot be fulfilled on {resource} \"{name}\": {message}")]
    Conflict {
        /// The resource: `pods`, `services`, ...
        resource: String,
        /// Name.
        name: String,
        /// Why.
        message: String,
    },
    /// A server-side apply would change fields other managers own (409
    /// Conflict); `message` is kube-apiserver's `Apply failed with 1
    /// conflict: conflict with "m": .spec.x`.
    #[error("{message}")]
    ApplyConflict {
        /// The resource: `pods`, `services`, ...
        resource: String,
        /// Name.
        name: String,
        /// The conflicts.
        message: String,
    },
    /// The request body's media type is not one the server takes for it
    /// (415 UnsupportedMediaType), e.g. a PATCH of an unknown patch type.
    #[error("{message}")]
    UnsupportedMediaType {
        /// The API server's message, naming the types it takes.
        message: String,
    },
    /// The request itself is wrong: body, query parameter, container (400 BadRequest).
    #[error("{0}")]
    BadRequest(String),
    /// The request is refused (403 Forbidden), e.g. new content in a
    /// namespace being deleted.
    #[error("{0}")]
    Forbidden(String),
    /// This process does not take the request (405 MethodNotAllowed), e.g.
    /// a `run` process asked to create a pod.
    #[error("{0}")]
    NotAllowed(String),
    /// The pod runs in another process of the same state directory; the
    /// server forwards the request there.
    #[error("pods \"{name}\" is running in process {}, which serves no API", pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()))]
    RunningElsewhere {
        /// Pod namespace.
        namespace: String,
        /// Pod name.
        name: String,
        /// The process holding the pod's lock, when known.
        pid: Option<u32>,
    },
    /// exec refused (no such container, not running, no command).
    #[error(transparent)]
    Exec(#[from] crate::ExecError),
    /// port-forward could not connect inside the pod.
    #[error("error forwarding port {port} to pod {name}: failed to connect to localhost:{port} inside the pod's network: {source}")]
    Forward {
        /// Pod name.
        name: String,
        /// The pod's port.
        port: u16,
        /// Why.
        #[source]
        source: crate::NetError,
    },
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A container's image could not be compiled or linked.
    #[error("pod \"{pod}\", container \"{container}\" (spec.{field}.image)")]
    Compile {
        /// Pod name.
        pod: String,
        /// Container name.
        container: String,
        /// `containers[0]` or `initContainers[0]`.
        field: String,
        /// Why.
        #[source]
        source: Box<EngineError>,
    },
    /// A container's image could not be resolved.
    #[error("pod \"{pod}\", container \"{container}\" (spec.{field}.image)")]
    Image {
        /// Pod name.
        pod: String,
        /// Container name.
        container: String,
        /// `containers[0]` or `initContainers[0]`.
        field: String,
        /// Why.
        #[source]
        source: Box<ImageError>,
    },
    /// A `hostPort` could not be opened on the host.
    #[error("pod \"{pod}\": {field}: cannot listen on 127.0.0.1:{port}")]
    HostPort {
        /// Pod name.
        pod: String,
        /// Field path.
        field: String,
        /// The host port.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The pod uses something this version refuses to run.
    #[error("pod \"{pod}\": {field}: {reason}")]
    Unsupported {
        /// Pod name.
        pod: String,
        /// Field path.
        field: String,
        /// Why.
        reason: String,
    },
    /// A Service uses something this version does not serve.
    #[error("service \"{service}\": {field}: {reason}")]
    ServiceUnsupported {
        /// Service name.
        service: String,
        /// Field path.
        field: String,
        /// Why.
        reason: String,
    },
    /// The state directory failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The image store could not be opened.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
}

impl Error {
    /// A validation failure of a manifest.
    pub(crate) fn from_manifest(name: &str, e: ManifestError) -> Self {
        match e {
            ManifestError::Invalid { .. } => Error::Invalid { name: name.to_owned(), message: full_message(&e) },
            // As kube-apiserver's decoder words it.
            ManifestError::UnknownFields { kind, fields, .. } => {
                let list: Vec<String> = fields.iter().map(|f| format!("unknown field {}", crate::manifest::go_quote(f))).collect();
                Error::BadRequest(format!("{kind} in version \"v1\" cannot be handled as a {kind}: strict decoding error: {}", list.join(", ")))
            }
            other => Error::BadRequest(full_message(&other)),
        }
    }
}

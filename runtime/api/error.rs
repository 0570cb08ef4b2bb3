//! Errors of the pod operations, and their Kubernetes `Status` form.

use serde::{Deserialize, Serialize};

use crate::manifest::ManifestError;
use crate::runtime::RuntimeError;
use crate::store::StoreError;

/// Why a pod operation failed. Each maps to the HTTP code and `reason`
/// the Kubernetes API server uses for the same failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
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
    /// The request itself is wrong: body, query parameter, container (400 BadRequest).
    #[error("{0}")]
    BadRequest(String),
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
    /// Planning or starting the pod failed (images, the state directory).
    /// Boxed: a `RuntimeError` is large and this error is returned often.
    #[error(transparent)]
    Runtime(Box<RuntimeError>),
    /// The state directory failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        ApiError::Runtime(Box::new(e))
    }
}

impl ApiError {
    /// HTTP status code and Kubernetes reason.
    pub fn code_reason(&self) -> (u16, &'static str) {
        match self {
            ApiError::NotFound { .. } => (404, "NotFound"),
            ApiError::AlreadyExists { .. } => (409, "AlreadyExists"),
            ApiError::Invalid { .. } => (422, "Invalid"),
            ApiError::BadRequest(_) => (400, "BadRequest"),
            ApiError::NotAllowed(_) => (405, "MethodNotAllowed"),
            ApiError::RunningElsewhere { .. } => (503, "ServiceUnavailable"),
            ApiError::Exec(crate::ExecError::Sandbox { .. }) => (500, "InternalError"),
            ApiError::Exec(_) => (400, "BadRequest"),
            ApiError::Forward { .. } => (500, "InternalError"),
            // An image that cannot be resolved or compiled is bad input.
            ApiError::Runtime(e) => match **e {
                RuntimeError::Image { .. } | RuntimeError::Compile { .. } | RuntimeError::Unsupported { .. } => (422, "Invalid"),
                RuntimeError::Store(StoreError::AlreadyRunning { .. }) => (409, "AlreadyExists"),
                _ => (500, "InternalError"),
            },
            ApiError::Store(_) => (500, "InternalError"),
        }
    }

    /// The error as a Kubernetes `Status` object.
    pub fn status(&self) -> Status {
        let (code, reason) = self.code_reason();
        let details = match self {
            ApiError::NotFound { name, .. } | ApiError::AlreadyExists { name, .. } | ApiError::Invalid { name, .. } => {
                Some(StatusDetails { name: Some(name.clone()), kind: Some("pods".into()) })
            }
            _ => None,
        };
        Status::failure(code, reason, full_message(self), details)
    }

    /// A validation failure of a manifest.
    pub(crate) fn from_manifest(name: &str, e: ManifestError) -> Self {
        match e {
            ManifestError::Invalid { .. } => ApiError::Invalid { name: name.to_owned(), message: full_message(&e) },
            other => ApiError::BadRequest(full_message(&other)),
        }
    }
}

/// `error: cause: cause`, as `{:#}` would print it with anyhow.
pub(crate) fn full_message(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.ends_with(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// Kubernetes' `Status` object (meta/v1), as API errors are returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Always `Status`.
    pub kind: String,
    /// Always `v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Empty.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// `Success` or `Failure`.
    pub status: String,
    /// Human-readable description.
    #[serde(default)]
    pub message: String,
    /// CamelCase reason (`NotFound`, `AlreadyExists`, `Invalid`, ...).
    #[serde(default)]
    pub reason: String,
    /// The object the error is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// The HTTP status code.
    pub code: u16,
}

/// The object a [`Status`] is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusDetails {
    /// The object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The resource (`pods`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl Status {
    /// A failure `Status` with an HTTP code, Kubernetes reason and message.
    pub fn failure(code: u16, reason: &str, message: String, details: Option<StatusDetails>) -> Self {
        Self {
            kind: "Status".into(),
            api_version: "v1".into(),
            metadata: Default::default(),
            status: "Failure".into(),
            message,
            reason: reason.into(),
            details,
            code,
        }
    }
}

//! Errors of the pod operations in their Kubernetes `Status` form.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::error_text::full_message;
use crate::store::StoreError;

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
    /// A `Success` Status (code 200), as a deletion some resources answer.
    pub fn success(details: Option<StatusDetails>) -> Self {
        Self { status: "Success".into(), reason: String::new(), ..Self::failure(200, "", String::new(), details) }
    }

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

impl Status {
    /// HTTP status code and Kubernetes reason.
    pub fn code_reason(e: &Error) -> (u16, &'static str) {
        match e {
            Error::NotFound { .. } | Error::ObjectNotFound { .. } => (404, "NotFound"),
            Error::AlreadyExists { .. } | Error::ObjectExists { .. } => (409, "AlreadyExists"),
            Error::Invalid { .. } => (422, "Invalid"),
            Error::BadRequest(_) => (400, "BadRequest"),
            Error::NotAllowed(_) => (405, "MethodNotAllowed"),
            Error::RunningElsewhere { .. } => (503, "ServiceUnavailable"),
            Error::Exec(crate::ExecError::Sandbox { .. }) => (500, "InternalError"),
            Error::Exec(_) => (400, "BadRequest"),
            Error::Forward { .. } => (500, "InternalError"),
            // An image that cannot be resolved or compiled is bad input.
            Error::Image { .. } | Error::Compile { .. } | Error::Unsupported { .. } | Error::ServiceUnsupported { .. } => (422, "Invalid"),
            Error::Store(StoreError::AlreadyRunning { .. }) => (409, "AlreadyExists"),
            Error::Store(_) | Error::Engine(_) | Error::HostPort { .. } | Error::Registry(_) => (500, "InternalError"),
        }
    }

    /// The error as a Kubernetes `Status` object.
    pub fn of(e: &Error) -> Status {
        let (code, reason) = Self::code_reason(e);
        let details = match e {
            Error::NotFound { name, .. } | Error::AlreadyExists { name, .. } | Error::Invalid { name, .. } => {
                Some(StatusDetails { name: Some(name.clone()), kind: Some("pods".into()) })
            }
            Error::ObjectNotFound { resource, name, .. } | Error::ObjectExists { resource, name, .. } => {
                // The API server's details name the resource without its group.
                Some(StatusDetails { name: Some(name.clone()), kind: Some(resource.split('.').next().unwrap_or_default().to_owned()) })
            }
            _ => None,
        };
        Status::failure(code, reason, full_message(e), details)
    }
}

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
    /// The resource (`pods`); the kind (`Pod`) for an Invalid object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Each field error of an Invalid object (kubectl prints them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
}

/// One field error of an Invalid object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusCause {
    /// `FieldValueForbidden`, `FieldValueInvalid`, `FieldValueRequired`, ...
    #[serde(default)]
    pub reason: String,
    /// `Forbidden: pod updates may not change ...`
    #[serde(default)]
    pub message: String,
    /// `spec.containers[0].image`
    #[serde(default)]
    pub field: String,
}

impl StatusCause {
    /// The causes of an Invalid message (`The Pod "x" is invalid: a: Required value`,
    /// several errors as `\n* a: ...` lines) and the kind it names.
    fn parse(message: &str) -> (Option<String>, Vec<StatusCause>) {
        let Some((head, body)) = message.split_once(" is invalid: ") else { return (None, Vec::new()) };
        let kind = head.trim_start_matches("The ").split(' ').next().filter(|k| !k.is_empty()).map(str::to_owned);
        let causes = body
            .split("\n* ")
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (field, rest) = e.split_once(": ").unwrap_or(("", e));
                let reason = match rest.split(':').next().unwrap_or_default() {
                    "Forbidden" => "FieldValueForbidden",
                    "Invalid value" => "FieldValueInvalid",
                    "Required value" => "FieldValueRequired",
                    "Unsupported value" => "FieldValueNotSupported",
                    "Duplicate value" => "FieldValueDuplicate",
                    "Too long" | "Too many" => "FieldValueTooLong",
                    "Not found" => "FieldValueNotFound",
                    _ => "FieldValueInvalid",
                };
                StatusCause { reason: reason.into(), message: rest.into(), field: field.into() }
            })
            .collect();
        (kind, causes)
    }
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
            Error::Conflict { .. } | Error::ApplyConflict { .. } => (409, "Conflict"),
            Error::UnsupportedMediaType { .. } => (415, "UnsupportedMediaType"),
            Error::NotAllowed(_) => (405, "MethodNotAllowed"),
            Error::Forbidden(_) => (403, "Forbidden"),
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
            Error::Invalid { name, message } => {
                // kubectl prints `The <kind> "<name>" is invalid: ` and each cause.
                // A message of no object (a JSON patch's failed test) is the
                // one cause: kubectl prints `The request is invalid: ...`.
                let (kind, mut causes) = StatusCause::parse(message);
                if kind.is_none() {
                    causes = vec![StatusCause { reason: "UnexpectedServerResponse".into(), message: message.clone(), field: String::new() }];
                }
                Some(StatusDetails { name: Some(name.clone()).filter(|n| !n.is_empty() && kind.is_some()), kind, causes })
            }
            Error::NotFound { name, .. } | Error::AlreadyExists { name, .. } => {
                Some(StatusDetails { name: Some(name.clone()), kind: Some("pods".into()), causes: Vec::new() })
            }
            Error::Conflict { resource, name, .. } | Error::ApplyConflict { resource, name, .. } => {
                Some(StatusDetails { name: Some(name.clone()), kind: Some(resource.clone()), causes: Vec::new() })
            }
            Error::ObjectNotFound { resource, name, .. } | Error::ObjectExists { resource, name, .. } => {
                // The API server's details name the resource without its group.
                Some(StatusDetails { name: Some(name.clone()), kind: Some(resource.split('.').next().unwrap_or_default().to_owned()), causes: Vec::new() })
            }
            _ => None,
        };
        Status::failure(code, reason, full_message(e), details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(e: Error) -> StatusDetails {
        Status::of(&e).details.expect("details")
    }

    #[test]
    fn an_invalid_object_has_its_kind_and_one_cause_per_field_error() {
        let d = details(Error::Invalid { name: "x".into(), message: "The Pod \"x\" is invalid: spec: Forbidden: no".into() });
        assert_eq!((d.kind.as_deref(), d.name.as_deref()), (Some("Pod"), Some("x")));
        assert_eq!(d.causes, vec![StatusCause { reason: "FieldValueForbidden".into(), message: "Forbidden: no".into(), field: "spec".into() }]);
        let d = details(Error::Invalid {
            name: "s".into(),
            message: "Service \"s\" is invalid: \n* spec.ports[0].port: Required value\n* metadata.name: Invalid value: \"S\": bad".into(),
        });
        assert_eq!(d.kind.as_deref(), Some("Service"));
        let fields: Vec<(&str, &str)> = d.causes.iter().map(|c| (c.field.as_str(), c.reason.as_str())).collect();
        assert_eq!(fields, [("spec.ports[0].port", "FieldValueRequired"), ("metadata.name", "FieldValueInvalid")]);
    }

    #[test]
    fn an_invalid_request_names_no_object() {
        let d = details(Error::Invalid { name: String::new(), message: "testing value /a failed".into() });
        assert_eq!((d.kind, d.name), (None, None));
        assert_eq!(d.causes[0].message, "testing value /a failed");
    }
}

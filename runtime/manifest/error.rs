//! Error types of the manifest module.
//!
//! [`FieldError`] mirrors Kubernetes' `field.Error` (K:staging/src/k8s.io/apimachinery/pkg/util/validation/field/errors.go):
//! a field path plus a typed body that renders exactly like the API server's
//! (`Required value`, `Invalid value: "x": detail`, ...). [`ManifestError`]
//! wraps everything that can go wrong while loading a manifest file, and
//! renders an invalid object the way kubectl does
//! (`The Pod "x" is invalid: ...`).

use std::fmt;
use std::path::PathBuf;

use super::go_quote::go_quote;
use super::quantity::QuantityError;

/// The offending value of a [`FieldError`], formatted like Go's `field.Error`:
/// strings quoted as with `%q`, numbers bare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadValue {
    /// A string, printed quoted (`"abc"`).
    Str(String),
    /// An integer, printed bare (`42`).
    Int(i64),
    /// Printed as is: booleans, and objects apimachinery renders without
    /// quotes. Never a string value: `field.Error` quotes every string,
    /// including named string types such as resource names (it renders
    /// those through `json.Marshal`, which quotes them too).
    Raw(String),
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadValue::Str(s) => f.write_str(&go_quote(s)),
            BadValue::Int(n) => write!(f, "{n}"),
            BadValue::Raw(s) => f.write_str(s),
        }
    }
}

impl From<&str> for BadValue {
    fn from(s: &str) -> Self {
        BadValue::Str(s.to_owned())
    }
}

impl From<&String> for BadValue {
    fn from(s: &String) -> Self {
        BadValue::Str(s.clone())
    }
}

impl From<String> for BadValue {
    fn from(s: String) -> Self {
        BadValue::Str(s)
    }
}

impl From<i64> for BadValue {
    fn from(n: i64) -> Self {
        BadValue::Int(n)
    }
}

impl From<i32> for BadValue {
    fn from(n: i32) -> Self {
        BadValue::Int(i64::from(n))
    }
}

/// What is wrong with a field; each variant renders as Kubernetes' error body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldErrorKind {
    /// `Required value` (with `: detail` when the detail is not empty).
    Required {
        /// Optional explanation; empty for none.
        detail: String,
    },
    /// `Invalid value: <value>: <detail>`.
    Invalid {
        /// The rejected value.
        value: BadValue,
        /// Why it was rejected.
        detail: String,
    },
    /// `Unsupported value: "x": supported values: "A", "B"`.
    NotSupported {
        /// The rejected value.
        value: BadValue,
        /// The values that would have been accepted, in Kubernetes' order.
        supported: Vec<String>,
    },
    /// `Duplicate value: "x"`.
    Duplicate {
        /// The repeated value.
        value: BadValue,
    },
    /// `Not found: "x"`.
    NotFound {
        /// The value that refers to nothing.
        value: BadValue,
    },
    /// `Forbidden: <detail>`.
    Forbidden {
        /// Why the field may not be set.
        detail: String,
    },
    /// `Too long: may not be more than N bytes`.
    TooLong {
        /// The limit in bytes.
        max_bytes: usize,
    },
}

/// One validation error: a Kubernetes-style field path and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path such as `spec.containers[0].name`.
    pub path: String,
    /// The error body.
    pub kind: FieldErrorKind,
}

impl FieldError {
    /// `Required value`, with an optional detail (pass `""` for none).
    pub fn required(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { path: path.into(), kind: FieldErrorKind::Required { detail: detail.into() } }
    }

    /// `Invalid value: <value>: <detail>`.
    pub fn invalid(path: impl Into<String>, value: impl Into<BadValue>, detail: impl Into<String>) -> Self {
        Self { path: path.into(), kind: FieldErrorKind::Invalid { value: value.into(), detail: detail.into() } }
    }

    /// `Unsupported value: <value>: supported values: ...`.
    pub fn not_supported(path: impl Into<String>, value: impl Into<BadValue>, supported: &[&str]) -> Self {
        Self { path: path.into(), kind: FieldErrorKind::NotSupported { value: value.into(), supported: supported.iter().map(|s| (*s).to_owned()).collect() } }
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(path: impl Into<String>, value: impl Into<BadValue>) -> Self {
        Self { path: path.into(), kind: FieldErrorKind::Duplicate { value: value.into() } }
    }

    /// `Not found: <value>`.
    pub fn not_found(path: impl Into<String>, value: impl Into<BadValue>) -> Self {
        Self { path: path.into(), kind: FieldErrorKind::NotFound { value: value.into() } }
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { path: path.into(), kind: FieldErrorKind::Forbidden { detail: detail.into() } }
    }

    /// `Too long: may not be more than <max_bytes> bytes`.
    pub fn too_long(path: impl Into<String>, max_bytes: usize) -> Self {
        Self { path: path.into(), kind: FieldErrorKind::TooLong { max_bytes } }
    }
}

impl fmt::Display for FieldErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldErrorKind::Required { detail } if detail.is_empty() => f.write_str("Required value"),
            FieldErrorKind::Required { detail } => write!(f, "Required value: {detail}"),
            FieldErrorKind::Invalid { value, detail } if detail.is_empty() => write!(f, "Invalid value: {value}"),
            FieldErrorKind::Invalid { value, detail } => write!(f, "Invalid value: {value}: {detail}"),
            FieldErrorKind::NotSupported { value, supported } => {
                write!(f, "Unsupported value: {value}")?;
                if !supported.is_empty() {
                    let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
                    write!(f, ": supported values: {}", quoted.join(", "))?;
                }
                Ok(())
            }
            FieldErrorKind::Duplicate { value } => write!(f, "Duplicate value: {value}"),
            FieldErrorKind::NotFound { value } => write!(f, "Not found: {value}"),
            FieldErrorKind::Forbidden { detail } if detail.is_empty() => f.write_str("Forbidden"),
            FieldErrorKind::Forbidden { detail } => write!(f, "Forbidden: {detail}"),
            FieldErrorKind::TooLong { max_bytes } => write!(f, "Too long: may not be more than {max_bytes} bytes"),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)
    }
}

impl std::error::Error for FieldError {}

/// Renders a list of field errors the way kubectl prints an `Invalid` status:
/// one error inline, several as a `* ` list on their own lines.
struct InvalidList<'a>(&'a [FieldError]);

impl fmt::Display for InvalidList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => Ok(()),
            [one] => write!(f, "{one}"),
            many => {
                for e in many {
                    write!(f, "\n* {e}")?;
                }
                Ok(())
            }
        }
    }
}

/// Quoted, comma-separated list of unknown fields, as in
/// `unknown field "a", unknown field "b"`.
struct UnknownList<'a>(&'a [String]);

impl fmt::Display for UnknownList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "unknown field {}", go_quote(field))?;
        }
        Ok(())
    }
}

/// Everything that can go wrong while loading a manifest.
///
/// `document` fields are 1-based and count the non-empty YAML documents of the
/// input (empty documents between `---` separators are skipped and not counted).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{file}: cannot read manifest", file = file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input is larger than [`MAX_MANIFEST_BYTES`](super::MAX_MANIFEST_BYTES).
    #[error("{file}: manifest is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// The file name.
        file: String,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The YAML could not be parsed, or it broke a parsing budget (alias bomb,
    /// nesting too deep, too many nodes).
    #[error("{file}: invalid YAML: {source}")]
    Yaml {
        /// The file name.
        file: String,
        /// The parser's error (it names the line and column).
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// A document is not a mapping (for example a bare list or string).
    #[error("{file}: document {document}: expected a Kubernetes object (a mapping with apiVersion and kind)")]
    NotAnObject {
        /// The file name.
        file: String,
        /// 1-based document index.
        document: usize,
    },
    /// `kind` is missing.
    #[error("{file}: document {document}: Object 'Kind' is missing")]
    MissingKind {
        /// The file name.
        file: String,
        /// 1-based document index.
        document: usize,
    },
    /// A kind other than Pod, ConfigMap, Secret, Service or NetworkPolicy.
    #[error("{file}: document {document}: kind {kind} is not supported: wasmpod runs Pod, ConfigMap, Secret, Service and NetworkPolicy objects", kind = go_quote(kind))]
    UnsupportedKind {
        /// The file name.
        file: String,
        /// 1-based document index.
        document: usize,
        /// The kind found.
        kind: String,
    },
    /// `apiVersion` is not the kind's (`v1`; `networking.k8s.io/v1` for
    /// NetworkPolicy).
    #[error("{file}: document {document}: apiVersion {api_version} is not supported for kind {kind}: expected {expected}", api_version = go_quote(api_version), kind = go_quote(kind), expected = go_quote(if *kind == "NetworkPolicy" { "networking.k8s.io/v1" } else { "v1" }))]
    UnsupportedApiVersion {
        /// The file name.
        file: String,
        /// 1-based document index.
        document: usize,
        /// The kind found.
        kind: &'static str,
        /// The apiVersion found (empty when missing).
        api_version: String,
    },
    /// A field has the wrong type (for example a number where a string is needed).
    #[error("{file}: document {document}: {kind} {name}: {path}: {message}", name = go_quote(name))]
    Decode {
        /// The file name.
        file: String,
        /// 1-based document index.
        document: usize,
        /// The object's kind: Pod, ConfigMap or Secret.
        kind: &'static str,
        /// The object's name (may be empty).
        name: String,
        /// Kubernetes-style path of the bad field.
        path: String,
        /// What the decoder expected.
        message: String,
    },
    /// Strict validation found fields the object schema does not know.
    #[error("{kind} {name} in {file}: strict decoding error: {list}", name = go_quote(name), list = UnknownList(fields))]
    UnknownFields {
        /// The file name.
        file: String,
        /// 1-based document index.
        document: usize,
        /// The object's kind: Pod, ConfigMap or Secret.
        kind: &'static str,
        /// The object's name.
        name: String,
        /// Kubernetes-style paths of the unknown fields, in document order.
        fields: Vec<String>,
    },
    /// The object failed validation; renders exactly like kubectl.
    #[error("The {kind} {name} is invalid: {list}", name = go_quote(name), list = InvalidList(errors))]
    Invalid {
        /// The file name.
        file: String,
        /// 1-based document index.
        document: usize,
        /// The object's kind: Pod, ConfigMap or Secret.
        kind: &'static str,
        /// The object's name.
        name: String,
        /// Every error found in the object.
        errors: Vec<FieldError>,
    },
    /// Two objects with the same kind, namespace and name.
    #[error("{file}: document {document}: {kind} \"{namespace}/{name}\" is defined twice (first in document {first_document})")]
    Duplicate {
        /// The file name.
        file: String,
        /// 1-based index of the second definition.
        document: usize,
        /// 1-based index of the first definition.
        first_document: usize,
        /// The kind: Pod, ConfigMap or Secret.
        kind: &'static str,
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
    },
}

/// Why a container's environment could not be built (the kubelet reports these
/// as `CreateContainerConfigError`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A referenced ConfigMap does not exist and the reference is not optional.
    #[error("configmap {name} not found", name = go_quote(name))]
    ConfigMapNotFound {
        /// Namespace searched.
        namespace: String,
        /// ConfigMap name.
        name: String,
    },
    /// A referenced Secret does not exist and the reference is not optional.
    #[error("secret {name} not found", name = go_quote(name))]
    SecretNotFound {
        /// Namespace searched.
        namespace: String,
        /// Secret name.
        name: String,
    },
    /// A `configMapKeyRef` names a key the ConfigMap lacks.
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound {
        /// The key.
        key: String,
        /// Namespace.
        namespace: String,
        /// ConfigMap name.
        name: String,
    },
    /// A `secretKeyRef` names a key the Secret lacks.
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound {
        /// The key.
        key: String,
        /// Namespace.
        namespace: String,
        /// Secret name.
        name: String,
    },
    /// A `fieldRef` path the downward API does not offer.
    #[error("unsupported fieldPath: {field_path}")]
    UnsupportedFieldPath {
        /// The path asked for.
        field_path: String,
    },
    /// A `resourceFieldRef` resource the downward API does not offer.
    #[error("unsupported container resource : {resource}")]
    UnsupportedResource {
        /// The resource asked for.
        resource: String,
    },
    /// A `resourceFieldRef` names a container the pod does not have.
    #[error("container {name} not found", name = go_quote(container))]
    ContainerNotFound {
        /// The container name.
        container: String,
    },
    /// A quantity (resource value or divisor) that does not parse.
    #[error("invalid quantity {value}: {source}", value = go_quote(value))]
    Quantity {
        /// The quantity text.
        value: String,
        /// The parse error.
        #[source]
        source: QuantityError,
    },
}

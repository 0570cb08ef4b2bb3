//! Pod manifests: YAML loading, the Kubernetes object model, defaults, validation and `$(VAR)` expansion.
//!
//! The data path for one input file:
//!
//! 1. [`load_file`] / [`load_str`] refuse inputs over [`MAX_MANIFEST_BYTES`],
//!    then parse every YAML document with `serde-saphyr` under budgets
//!    (aliases, nesting, node count) so alias bombs fail fast.
//! 2. Each document must be `apiVersion: v1` with kind Pod, ConfigMap,
//!    Secret or Service, or `networking.k8s.io/v1` NetworkPolicy. It is decoded into the k8s-openapi type; fields the schema does
//!    not know are an error, a warning or ignored, per [`Validation`].
//! 3. Kubernetes' API defaults are applied in place (`restartPolicy: Always`,
//!    probe timings, `imagePullPolicy`, ...), then the object is validated with
//!    the API server's rules and exact messages; all errors of an object are
//!    reported together, as kubectl shows them.
//! 4. At run time, `resolve_env` builds a container's environment the way the
//!    kubelet does, with `expand` for `$(VAR)` references and [`Quantity`]
//!    for `resourceFieldRef` arithmetic.

mod defaults;
mod env;
mod error;
mod expand;
mod go_quote;
pub(crate) use go_quote::go_quote;
mod load;
mod port;
mod quantity;
mod strict;
mod validate;

/// Why `name` is not a DNS-1123 label (a namespace's name), in the API
/// server's words; `None` when it is one.
pub(crate) fn dns_label_problem(name: &str) -> Option<String> {
    validate::format::dns1123_label(name).into_iter().next()
}

use std::path::Path;
use std::str::FromStr;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};

pub(crate) use env::{EnvSources, PodFacts, resolve_env};
pub(crate) use env::{field_value, resource_value};
pub use error::{BadValue, EnvError, FieldError, FieldErrorKind, ManifestError};
pub(crate) use expand::expand;
pub use load::{MAX_YAML_ALIASES, MAX_YAML_DEPTH, MAX_YAML_DOCUMENTS, MAX_YAML_NODES, MAX_YAML_REPLAYED_EVENTS};
pub(crate) use port::resolve_port;
pub use quantity::{MAX_SIGNIFICANT_DIGITS, Quantity, QuantityError, QuantityFormat, parse_quantity};

/// Largest manifest accepted, in bytes (4 MiB). The API server caps a request
/// body at 3 MiB and an object in etcd at 1.5 MiB, so no real Pod manifest
/// comes near this; the cap bounds memory and parse time for hostile input.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// What to do with fields the object schema does not know, like kubectl's
/// `--validate=strict|warn|false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Validation {
    /// Unknown fields are an error (`--validate=strict`, also `true`). The default.
    #[default]
    Strict,
    /// Unknown fields become entries of [`Manifests::warnings`] (`--validate=warn`).
    Warn,
    /// Unknown fields are dropped silently (`--validate=false`, also `ignore`).
    Ignore,
}

impl FromStr for Validation {
    type Err = String;

    /// Accepts `strict`/`true`, `warn`, `false`/`ignore` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "strict" | "true" => Ok(Validation::Strict),
            "warn" => Ok(Validation::Warn),
            "false" | "ignore" => Ok(Validation::Ignore),
            _ => Err(format!("invalid validation mode {s:?}: expected strict, warn or false")),
        }
    }
}

/// The objects of one input, defaulted and validated.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    /// Pods, in document order.
    pub pods: Vec<Pod>,
    /// ConfigMaps, in document order (`data` and `binaryData` as written).
    pub config_maps: Vec<ConfigMap>,
    /// Secrets, in document order, with `stringData` merged into `data`.
    pub secrets: Vec<Secret>,
    /// Services, in document order, defaulted.
    pub services: Vec<k8s_openapi::api::core::v1::Service>,
    /// NetworkPolicies (networking.k8s.io/v1), in document order, defaulted.
    pub network_policies: Vec<k8s_openapi::api::networking::v1::NetworkPolicy>,
    /// Unknown-field warnings under [`Validation::Warn`], each as the API
    /// server words it (`unknown field "spec.containers[0].httpGet"`); the
    /// printer adds kubectl's `Warning: ` prefix.
    pub warnings: Vec<String>,
}

/// Reads and loads a manifest file. The file name appears in error messages.
///
/// # Errors
///
/// [`ManifestError::Read`] when the file cannot be read, otherwise as [`load_str`].
pub fn load_file(path: &Path, mode: Validation) -> Result<Manifests, ManifestError> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| ManifestError::Read { file: path.to_owned(), source })?;
    if meta.len() > MAX_MANIFEST_BYTES as u64 {
        return Err(ManifestError::TooLarge { file, size: meta.len(), limit: MAX_MANIFEST_BYTES as u64 });
    }
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read { file: path.to_owned(), source })?;
    load_str(&text, &file, mode)
}

/// Loads a manifest from text; `source` names it in messages (usually the file name).
///
/// Documents are separated by `---`; empty documents are skipped.
///
/// # Errors
///
/// The first problem found: input over [`MAX_MANIFEST_BYTES`], YAML that does
/// not parse or breaks a budget, an unsupported kind or apiVersion, a field of
/// the wrong type, unknown fields under [`Validation::Strict`], an object that
/// fails validation (all of its errors), or an object defined twice.
pub fn load_str(text: &str, source: &str, mode: Validation) -> Result<Manifests, ManifestError> {
    load::load(text, source, mode)
}

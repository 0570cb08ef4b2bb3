//! Reading a manifest: size cap, YAML parsing with budgets, kind dispatch,
//! typed decoding, defaults, validation and the duplicate-object check.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ManifestError;
use super::{MAX_MANIFEST_BYTES, Manifests, Validation, defaults, strict, validate};

/// Largest number of YAML aliases (`*ref`) accepted. Pod manifests rarely use
/// anchors at all; a few hundred covers shared env blocks, while an alias bomb
/// ("billion laughs") needs far more.
pub const MAX_YAML_ALIASES: usize = 1_000;

/// Largest number of events replayed from aliases in total: bounds the memory
/// an alias bomb can make the parser build, whatever its shape.
pub const MAX_YAML_REPLAYED_EVENTS: usize = 100_000;

/// Deepest nesting of mappings and sequences. A Pod is about 10 levels deep;
/// 64 leaves room and protects the recursive decoder's stack.
pub const MAX_YAML_DEPTH: usize = 64;

/// Most YAML nodes in one input: 4 MiB of YAML cannot meaningfully hold more.
pub const MAX_YAML_NODES: usize = 500_000;

/// Most documents in one input.
pub const MAX_YAML_DOCUMENTS: usize = 1_000;

fn parse_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_aliases = MAX_YAML_ALIASES;
    budget.max_depth = MAX_YAML_DEPTH;
    budget.max_nodes = MAX_YAML_NODES;
    budget.max_documents = MAX_YAML_DOCUMENTS;
    budget.max_reader_input_bytes = Some(MAX_MANIFEST_BYTES);
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_YAML_REPLAYED_EVENTS;
    options.alias_limits.max_replay_stack_depth = 16;
    // `defaultMode: 0644` is octal in the YAML 1.1 dialect Kubernetes reads.
    options.legacy_octal_numbers = true;
    // Kubernetes' YAML decoder rejects repeated keys.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options
}

/// Loads every object of `text`; see [`super::load_str`].
pub(crate) fn load(text: &str, file: &str, mode: Validation) -> Result<Manifests, ManifestError> {
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge { file: file.to_owned(), size: text.len() as u64, limit: MAX_MANIFEST_BYTES as u64 });
    }
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, parse_options()).map_err(|e| ManifestError::Yaml { file: file.to_owned(), source: Box::new(e) })?;

    let mut out = Manifests::default();
    let mut seen: HashMap<(&'static str, String, String), usize> = HashMap::new();
    for (i, doc) in docs.into_iter().enumerate() {
        let document = i + 1;
        if doc.is_null() {
            continue;
        }
        let Some(obj) = doc.as_object() else {
            return Err(ManifestError::NotAnObject { file: file.to_owned(), document });
        };
        let kind = match obj.get("kind") {
            None | Some(Value::Null) => {
                return Err(ManifestError::MissingKind { file: file.to_owned(), document });
            }
            Some(Value::String(s)) if s.is_empty() => {
                return Err(ManifestError::MissingKind { file: file.to_owned(), document });
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let kind: &'static str = match kind.as_str() {
            "Pod" => "Pod",
            "ConfigMap" => "ConfigMap",
            "Secret" => "Secret",
            "Service" => "Service",
            "NetworkPolicy" => "NetworkPolicy",
            _ => return Err(ManifestError::UnsupportedKind { file: file.to_owned(), document, kind }),
        };
        let api_version = match obj.get("apiVersion") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(other) => other.to_string(),
        };
        let expected = if kind == "NetworkPolicy" { "networking.k8s.io/v1" } else { "v1" };
        if api_version != expected {
            return Err(ManifestError::UnsupportedApiVersion { file: file.to_owned(), document, kind, api_version });
        }
        let name = obj.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default().to_owned();
        let ctx = DocContext { file, document, kind, name: &name, mode };

        let (namespace, obj_name) = match kind {
            "Pod" => {
                let mut pod: Pod = ctx.decode(doc, &mut out.warnings)?;
                defaults::pod(&mut pod);
                ctx.check(validate::pod(&pod))?;
                let key = meta_key(&pod.metadata);
                out.pods.push(pod);
                key
            }
            "ConfigMap" => {
                let mut cm: ConfigMap = ctx.decode(doc, &mut out.warnings)?;
                defaults::config_map(&mut cm);
                ctx.check(validate::config_map(&cm))?;
                let key = meta_key(&cm.metadata);
                out.config_maps.push(cm);
                key
            }
            "NetworkPolicy" => {
                let mut np: k8s_openapi::api::networking::v1::NetworkPolicy = ctx.decode(doc, &mut out.warnings)?;
                defaults::network_policy(&mut np);
                ctx.check(validate::network_policy(&np))?;
                let key = meta_key(&np.metadata);
                out.network_policies.push(np);
                key
            }
            "Service" => {
                let mut svc: k8s_openapi::api::core::v1::Service = ctx.decode(doc, &mut out.warnings)?;
                defaults::service(&mut svc);
                ctx.check(validate::service(&svc))?;
                let key = meta_key(&svc.metadata);
                out.services.push(svc);
                key
            }
            _ => {
                let mut secret: Secret = ctx.decode(doc, &mut out.warnings)?;
                defaults::secret(&mut secret);
                ctx.check(validate::secret(&secret))?;
                let key = meta_key(&secret.metadata);
                out.secrets.push(secret);
                key
            }
        };
        if let Some(first) = seen.insert((kind, namespace.clone(), obj_name.clone()), document) {
            return Err(ManifestError::Duplicate { file: file.to_owned(), document, first_document: first, kind, namespace, name: obj_name });
        }
    }
    Ok(out)
}

fn meta_key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

/// Where a document came from, for error messages.
struct DocContext<'a> {
    file: &'a str,
    document: usize,
    kind: &'static str,
    name: &'a str,
    mode: Validation,
}

impl DocContext<'_> {
    fn decode<T: DeserializeOwned>(&self, doc: Value, warnings: &mut Vec<String>) -> Result<T, ManifestError> {
        let decoded = strict::decode::<T>(doc).map_err(|f| ManifestError::Decode {
            file: self.file.to_owned(),
            document: self.document,
            kind: self.kind,
            name: self.name.to_owned(),
            path: f.path,
            message: f.message,
        })?;
        if !decoded.unknown.is_empty() {
            match self.mode {
                Validation::Strict => {
                    return Err(ManifestError::UnknownFields {
                        file: self.file.to_owned(),
                        document: self.document,
                        kind: self.kind,
                        name: self.name.to_owned(),
                        fields: decoded.unknown,
                    });
                }
                Validation::Warn => {
                    warnings.extend(decoded.unknown.iter().map(|f| format!("unknown field {}", super::validate::format::go_quote(f))));
                }
                Validation::Ignore => {}
            }
        }
        Ok(decoded.value)
    }

    fn check(&self, errors: Vec<super::FieldError>) -> Result<(), ManifestError> {
        if errors.is_empty() {
            return Ok(());
        }
        Err(ManifestError::Invalid { file: self.file.to_owned(), document: self.document, kind: self.kind, name: self.name.to_owned(), errors })
    }
}

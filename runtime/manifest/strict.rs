//! Typed decoding of one parsed document into a k8s-openapi object, collecting
//! unknown fields (for `--validate=strict|warn`) and locating type errors.
//!
//! The document arrives as a `serde_json::Value`; it is deserialized through
//! `serde_ignored` (which reports every field the target type skipped) wrapped
//! in `serde_path_to_error` (which remembers where a type error happened).
//! Both paths are rendered Kubernetes-style: `spec.containers[0].httpGet`.
//!
//! Unknown fields come out in key order within each object (the parsed
//! document is a `serde_json::Map`, which sorts its keys).

use serde::de::DeserializeOwned;

/// A successfully decoded object plus the paths of the fields it ignored.
pub(crate) struct Decoded<T> {
    pub value: T,
    pub unknown: Vec<String>,
}

/// A type error: where and what.
pub(crate) struct DecodeFailure {
    pub path: String,
    pub message: String,
}

/// Decodes `value` into `T`, reporting unknown fields and typed failures.
pub(crate) fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<Decoded<T>, DecodeFailure> {
    let mut unknown = Vec::new();
    let result = {
        let mut record = |path: serde_ignored::Path<'_>| unknown.push(ignored_path(&path));
        let ignored = serde_ignored::Deserializer::new(value, &mut record);
        serde_path_to_error::deserialize::<_, T>(ignored)
    };
    match result {
        Ok(value) => Ok(Decoded { value, unknown }),
        Err(err) => {
            let path = tracked_path(err.path());
            Err(DecodeFailure { path, message: err.into_inner().to_string() })
        }
    }
}

/// Renders a `serde_ignored` path as `a.b[0].c`.
fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    let mut segments = Vec::new();
    let mut cur = path;
    loop {
        match cur {
            serde_ignored::Path::Root => break,
            serde_ignored::Path::Seq { parent, index } => {
                segments.push(Segment::Index(*index));
                cur = parent;
            }
            serde_ignored::Path::Map { parent, key } => {
                segments.push(Segment::Key(key.clone()));
                cur = parent;
            }
            serde_ignored::Path::Some { parent } | serde_ignored::Path::NewtypeStruct { parent } | serde_ignored::Path::NewtypeVariant { parent } => {
                cur = parent
            }
        }
    }
    segments.reverse();
    render(&segments)
}

/// Renders a `serde_path_to_error` path as `a.b[0].c`.
fn tracked_path(path: &serde_path_to_error::Path) -> String {
    let segments: Vec<Segment> = path
        .iter()
        .filter_map(|s| match s {
            serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
            serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
            serde_path_to_error::Segment::Enum { variant } => Some(Segment::Key(variant.clone())),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect();
    render(&segments)
}

enum Segment {
    Key(String),
    Index(usize),
}

fn render(segments: &[Segment]) -> String {
    let mut out = String::new();
    for seg in segments {
        match seg {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn unknown_fields_and_type_errors_have_kubernetes_paths() {
        let doc = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i", "httpGet": {"path": "/"}, "bogus": 1}]}
        });
        let decoded = decode::<Pod>(doc).ok().expect("decodes");
        assert_eq!(decoded.unknown, vec!["spec.containers[0].bogus", "spec.containers[0].httpGet"]);

        let doc = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": 45}]}]}
        });
        let failure = decode::<Pod>(doc).err().expect("type error");
        assert_eq!(failure.path, "spec.containers[0].env[0].value");
        assert_eq!(failure.message, "invalid type: integer `45`, expected a string");
    }
}

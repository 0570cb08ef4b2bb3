//! PATCH bodies, applied to an object's JSON as kube-apiserver applies
//! them (pure functions; the routes decode and validate the result as a
//! PUT body):
//!
//! - `application/json-patch+json`: RFC 6902 operations on JSON pointers;
//! - `application/merge-patch+json`: RFC 7386, objects merged and `null`
//!   removing, lists replaced whole;
//! - `application/strategic-merge-patch+json`: a merge patch whose lists
//!   of objects merge element by element, matched by the key the type's
//!   schema names (`x-kubernetes-patch-merge-key`, `openapi.rs`), with
//!   the directives kubectl sends: `$patch: replace|delete|merge`,
//!   `$retainKeys`, `$setElementOrder/<list>` and
//!   `$deleteFromPrimitiveList/<list>`. This is what `kubectl apply` (of
//!   an existing object), `edit`, `label` and `annotate` send.

use serde_json::{Map, Value};

use super::openapi::{ListMerge, item_type, list_merge, property, ref_name};

/// A patch's kind, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    Json,
    Merge,
    Strategic,
}

impl PatchType {
    pub(crate) fn of(content_type: &str) -> Option<PatchType> {
        Some(match content_type.split(';').next().unwrap_or_default().trim() {
            "application/json-patch+json" => PatchType::Json,
            "application/merge-patch+json" => PatchType::Merge,
            "application/strategic-merge-patch+json" => PatchType::Strategic,
            _ => return None,
        })
    }
}

/// Why a patch was not applied, in kube-apiserver's words.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PatchError {
    /// The body is not a patch of its type (400).
    Malformed(String),
    /// It does not apply to this object (422: a failed `test`, a path
    /// that is not there).
    Invalid(String),
}

/// `target` with `patch` of type `kind` applied. `schema` names the
/// object's type in [`super::openapi::schemas`] (a strategic merge patch
/// follows it to find each list's merge key).
pub(crate) fn apply(kind: PatchType, target: Value, patch: &[u8], schema: &str) -> Result<Value, PatchError> {
    let patch: Value = serde_json::from_slice(patch).map_err(|e| PatchError::Malformed(format!("error decoding patch: {e}")))?;
    match kind {
        PatchType::Json => json_patch(target, &patch),
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(PatchError::Malformed("a merge patch must be a JSON object".into()));
            }
            let mut target = target;
            merge(&mut target, &patch);
            Ok(target)
        }
        PatchType::Strategic => {
            let Value::Object(p) = &patch else { return Err(PatchError::Malformed("a strategic merge patch must be a JSON object".into())) };
            let mut target = target;
            if !target.is_object() {
                target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("made an object");
            match strategic_object(t, p, Some(schema))? {
                Outcome::Keep => Ok(target),
                Outcome::Delete => Err(PatchError::Invalid("a strategic merge patch cannot delete the object itself".into())),
            }
        }
    }
}

/// RFC 7386.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// RFC 6902.
fn json_patch(mut target: Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(ops) = patch else { return Err(PatchError::Malformed("a JSON patch must be a list of operations".into())) };
    for op in ops {
        let field = |name: &str| op.get(name).ok_or_else(|| PatchError::Malformed(format!("operation {op} has no {name:?}")));
        let path = field("path")?.as_str().ok_or_else(|| PatchError::Malformed(format!("operation {op}: \"path\" is not a string")))?;
        let from = || -> Result<&str, PatchError> {
            field("from")?.as_str().ok_or_else(|| PatchError::Malformed(format!("operation {op}: \"from\" is not a string")))
        };
        match field("op")?.as_str().unwrap_or_default() {
            "add" => add(&mut target, path, field("value")?.clone())?,
            "remove" => {
                remove(&mut target, path)?;
            }
            "replace" => {
                remove(&mut target, path)?;
                add(&mut target, path, field("value")?.clone())?;
            }
            "move" => {
                let v = remove(&mut target, from()?)?;
                add(&mut target, path, v)?;
            }
            "copy" => {
                let v = target.pointer(from()?).cloned().ok_or_else(|| missing(from().unwrap_or_default()))?;
                add(&mut target, path, v)?;
            }
            "test" => {
                if target.pointer(path) != Some(field("value")?) {
                    return Err(PatchError::Invalid(format!("testing value {path} failed: test failed")));
                }
            }
            other => return Err(PatchError::Malformed(format!("unexpected kind: {other:?}"))),
        }
    }
    Ok(target)
}

fn missing(path: &str) -> PatchError {
    PatchError::Invalid(format!("the server rejected our request due to an error in our request: doc is missing path: {path:?}"))
}

/// A JSON pointer's parent and last token, unescaped.
fn split_pointer(path: &str) -> Result<(&str, String), PatchError> {
    let (parent, last) = path.rsplit_once('/').ok_or_else(|| PatchError::Malformed(format!("invalid JSON pointer {path:?}")))?;
    Ok((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, key) = split_pointer(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(o)) => {
            o.insert(key, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let i = if key == "-" { a.len() } else { key.parse::<usize>().map_err(|_| missing(path))? };
            if i > a.len() {
                return Err(missing(path));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(missing(path)),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, PatchError> {
    let (parent, key) = split_pointer(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(o)) => o.remove(&key).ok_or_else(|| missing(path)),
        Some(Value::Array(a)) => match key.parse::<usize>() {
            Ok(i) if i < a.len() => Ok(a.remove(i)),
            _ => Err(missing(path)),
        },
        _ => Err(missing(path)),
    }
}

/// What a patched map asks of its parent.
enum Outcome {
    Keep,
    Delete,
}

fn strategic_object(target: &mut Map<String, Value>, patch: &Map<String, Value>, ty: Option<&str>) -> Result<Outcome, PatchError> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("delete") => return Ok(Outcome::Delete),
        Some("replace") => {
            *target = patch.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), v.clone())).collect();
            return Ok(Outcome::Keep);
        }
        Some("merge") | None => {}
        Some(other) => return Err(PatchError::Malformed(format!("unknown patch type: {other:?}"))),
    }
    for (key, value) in patch {
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(have)), Value::Array(gone)) = (target.get_mut(list), value) {
                have.retain(|v| !gone.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target.remove(key);
            continue;
        }
        let prop = property(ty, key);
        match value {
            Value::Object(p) => {
                // A typed object, or a map (labels): both merge by key.
                let child_ty = prop.and_then(ref_name);
                let slot = target.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Outcome::Delete = strategic_object(slot.as_object_mut().expect("made an object"), p, child_ty)? {
                    target.remove(key);
                }
            }
            Value::Array(items) => {
                let mut have = || match target.remove(key) {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                let merged = match list_merge(prop) {
                    ListMerge::Keyed(mk) => merge_by_key(have(), items, mk, item_type(prop))?,
                    ListMerge::Set => merge_primitives(have(), items),
                    ListMerge::Atomic => items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect(),
                };
                target.insert(key.clone(), Value::Array(merged));
            }
            v => {
                target.insert(key.clone(), v.clone());
            }
        }
    }
    for (key, order) in patch {
        if let (Some(list), Value::Array(order)) = (key.strip_prefix("$setElementOrder/"), order) {
            let mk = match list_merge(property(ty, list)) {
                ListMerge::Keyed(k) => Some(k),
                _ => None,
            };
            if let Some(Value::Array(have)) = target.get_mut(list) {
                set_order(have, order, mk);
            }
        }
    }
    if let Some(Value::Array(keep)) = patch.get("$retainKeys") {
        target.retain(|k, _| keep.iter().any(|v| v.as_str() == Some(k)));
    }
    Ok(Outcome::Keep)
}

fn merge_by_key(mut have: Vec<Value>, items: &[Value], key: &str, ty: Option<&str>) -> Result<Vec<Value>, PatchError> {
    // `{"$patch": "replace"}` among the items: the others are the list.
    if items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace") && i.get(key).is_none()) {
        return Ok(items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect());
    }
    for item in items {
        let Value::Object(p) = item else { return Err(PatchError::Malformed(format!("a list merged by {key:?} holds objects, not {item}"))) };
        let Some(id) = p.get(key) else { return Err(PatchError::Malformed(format!("map: {item} does not contain declared merge key: {key}"))) };
        match have.iter().position(|h| h.get(key) == Some(id)) {
            Some(i) => {
                let slot = have[i].as_object_mut();
                let outcome = match slot {
                    Some(o) => strategic_object(o, p, ty)?,
                    None => Outcome::Keep,
                };
                if let Outcome::Delete = outcome {
                    have.remove(i);
                }
            }
            None if p.get("$patch").and_then(Value::as_str) == Some("delete") => {}
            None => {
                let mut fresh = Map::new();
                strategic_object(&mut fresh, p, ty)?;
                have.push(Value::Object(fresh));
            }
        }
    }
    Ok(have)
}

fn merge_primitives(mut have: Vec<Value>, items: &[Value]) -> Vec<Value> {
    for item in items {
        if !have.contains(item) {
            have.push(item.clone());
        }
    }
    have
}

/// Orders `have` as `order` lists its elements (by merge key, or by
/// value); elements `order` does not name keep their place after them.
fn set_order(have: &mut [Value], order: &[Value], key: Option<&str>) {
    let rank = |v: &Value| -> usize {
        let id = match key {
            Some(k) => v.get(k),
            None => Some(v),
        };
        order
            .iter()
            .position(|o| match key {
                Some(k) => o.get(k) == id,
                None => Some(o) == id,
            })
            .unwrap_or(usize::MAX)
    };
    have.sort_by_key(rank);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const POD: &str = "io.k8s.api.core.v1.Pod";

    fn pod() -> Value {
        json!({
            "metadata": {"name": "p", "labels": {"app": "web", "tier": "front"}},
            "spec": {"containers": [
                {"name": "a", "image": "one", "env": [{"name": "X", "value": "1"}]},
                {"name": "b", "image": "two"},
            ]},
        })
    }

    fn smp(target: Value, patch: Value) -> Value {
        apply(PatchType::Strategic, target, patch.to_string().as_bytes(), POD).unwrap()
    }

    #[test]
    fn strategic_merges_containers_by_name_and_maps_by_key() {
        let out = smp(pod(), json!({"metadata": {"labels": {"tier": null, "new": "yes"}}, "spec": {"containers": [{"name": "b", "image": "three"}]}}));
        assert_eq!(out["metadata"]["labels"], json!({"app": "web", "new": "yes"}));
        assert_eq!(out["spec"]["containers"][0]["image"], "one");
        assert_eq!(out["spec"]["containers"][1], json!({"name": "b", "image": "three"}));
        // A new element is appended; env merges by name within a container.
        let out = smp(pod(), json!({"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}, {"name": "c", "image": "four"}]}}));
        assert_eq!(out["spec"]["containers"][0]["env"], json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]));
        assert_eq!(out["spec"]["containers"][2]["name"], "c");
    }

    #[test]
    fn strategic_directives() {
        let out = smp(pod(), json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}));
        assert_eq!(out["spec"]["containers"].as_array().unwrap().len(), 1);
        let out = smp(pod(), json!({"spec": {"containers": [{"name": "z", "image": "i"}, {"$patch": "replace"}]}}));
        assert_eq!(out["spec"]["containers"], json!([{"name": "z", "image": "i"}]));
        let out = smp(pod(), json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}}));
        assert_eq!(out["metadata"]["labels"], json!({"only": "this"}));
        let out = smp(pod(), json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}], "containers": [{"name": "a", "image": "x"}]}}));
        assert_eq!(out["spec"]["containers"][0]["name"], "b");
        assert_eq!(out["spec"]["containers"][1]["image"], "x");
        let with_finalizers = json!({"metadata": {"finalizers": ["a", "b"]}});
        let out = smp(with_finalizers.clone(), json!({"metadata": {"finalizers": ["c"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
        let out = smp(with_finalizers, json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        // A list without a merge key (args) is replaced whole.
        let out = smp(json!({"spec": {"containers": [{"name": "a", "args": ["1", "2"]}]}}), json!({"spec": {"containers": [{"name": "a", "args": ["3"]}]}}));
        assert_eq!(out["spec"]["containers"][0]["args"], json!(["3"]));
        let e = apply(PatchType::Strategic, pod(), br#"{"spec": {"containers": [{"image": "x"}]}}"#, POD).unwrap_err();
        assert!(matches!(e, PatchError::Malformed(m) if m.contains("does not contain declared merge key: name")));
    }

    #[test]
    fn every_advertised_type_is_taken() {
        // Server-side apply is `apply.rs`'s.
        for t in super::super::openapi::PATCH_TYPES.iter().filter(|t| **t != "application/apply-patch+yaml") {
            assert!(PatchType::of(t).is_some(), "{t}");
        }
        assert_eq!(PatchType::of("application/merge-patch+json; charset=utf-8"), Some(PatchType::Merge));
        assert_eq!(PatchType::of("application/json"), None);
    }

    #[test]
    fn merge_patch_replaces_lists_and_removes_nulls() {
        let out = apply(PatchType::Merge, pod(), br#"{"metadata": {"labels": {"app": null}}, "spec": {"containers": [{"name": "c"}]}}"#, POD).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"tier": "front"}));
        assert_eq!(out["spec"]["containers"], json!([{"name": "c"}]));
        assert!(matches!(apply(PatchType::Merge, pod(), b"[1]", POD), Err(PatchError::Malformed(_))));
    }

    #[test]
    fn json_patch_operations() {
        let ops = json!([
            {"op": "add", "path": "/metadata/labels/x~1y", "value": "1"},
            {"op": "replace", "path": "/spec/containers/0/image", "value": "new"},
            {"op": "remove", "path": "/metadata/labels/tier"},
            {"op": "copy", "from": "/spec/containers/0", "path": "/spec/containers/-"},
            {"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/moved"},
            {"op": "test", "path": "/spec/containers/2/image", "value": "new"},
        ]);
        let out = apply(PatchType::Json, pod(), ops.to_string().as_bytes(), POD).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"x/y": "1", "moved": "web"}));
        assert_eq!(out["spec"]["containers"].as_array().unwrap().len(), 3);
        let failed = json!([{"op": "test", "path": "/metadata/name", "value": "q"}]);
        assert!(matches!(apply(PatchType::Json, pod(), failed.to_string().as_bytes(), POD), Err(PatchError::Invalid(_))));
        let gone = json!([{"op": "remove", "path": "/metadata/nothing"}]);
        assert!(matches!(apply(PatchType::Json, pod(), gone.to_string().as_bytes(), POD), Err(PatchError::Invalid(_))));
        assert!(matches!(apply(PatchType::Json, pod(), b"{}", POD), Err(PatchError::Malformed(_))));
    }
}

//! Server-side apply and field ownership (`managedFields`), as
//! kube-apiserver keeps them, pure over JSON objects:
//!
//! - every write names a field manager (`fieldManager`, else the client's
//!   user agent) and owns the leaf fields it set or changed: an `Update`
//!   entry for creates, replaces and patches, an `Apply` entry for
//!   server-side apply (`application/apply-patch+yaml`);
//! - an apply sets the fields of its configuration, removes those the
//!   same manager applied before and no longer does (unless another
//!   manager owns them too), and conflicts (409) where another manager owns
//!   a field the configuration gives another value, unless `force=true`
//!   takes the field over;
//! - fields are paths `f:<field>`, list items merged by key `k:<key as
//!   JSON>`, set members `v:<value>`, as FieldsV1 writes them, with the
//!   merge keys of the schemas (`openapi.rs`), as the strategic merge patch
//!   uses them (`patch.rs`).
//!
//! Differences from kube-apiserver: fields of atomic lists and maps
//! (those without a merge key) are owned whole, as there; structured
//! merge's defaulting and unions are not modelled; `status` is not owned.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::openapi::{ListMerge, item_type, list_merge, property, ref_name};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    /// `f:<name>`: a field of an object or a key of a map.
    Field(String),
    /// `k:<json>`: a list item by its merge key (compact JSON object).
    Key(String),
    /// `v:<json>`: a member of a set-like list.
    Value(String),
}

/// Leaf field paths.
pub(crate) type Fields = BTreeSet<Vec<Step>>;

/// Fields that belong to the system, never to a manager.
fn ignored(path: &[Step]) -> bool {
    match path {
        [Step::Field(f)] => matches!(f.as_str(), "apiVersion" | "kind" | "status"),
        [Step::Field(m), Step::Field(f), ..] if m == "metadata" => {
            matches!(
                f.as_str(),
                "name" | "namespace" | "uid" | "resourceVersion" | "creationTimestamp" | "generation" | "managedFields" | "deletionTimestamp" | "selfLink"
            )
        }
        [Step::Field(f), ..] => f == "status",
        _ => false,
    }
}

/// The key step of list item `item` merged by `key`.
fn key_step(item: &Value, key: &str) -> Option<Step> {
    let k = item.get(key)?;
    Some(Step::Key(json!({ key: k }).to_string()))
}

/// The leaf fields `v` (of schema type `ty`) sets.
pub(crate) fn fields_of(v: &Value, ty: &str) -> Fields {
    let mut out = Fields::new();
    walk(v, Some(ty), &mut Vec::new(), &mut out);
    out.retain(|p| !ignored(p));
    out
}

fn walk(v: &Value, ty: Option<&str>, path: &mut Vec<Step>, out: &mut Fields) {
    let Value::Object(o) = v else {
        out.insert(path.clone());
        return;
    };
    if o.is_empty() && !path.is_empty() {
        out.insert(path.clone());
    }
    for (k, child) in o {
        let prop = property(ty, k);
        path.push(Step::Field(k.clone()));
        match child {
            Value::Object(_) => walk(child, prop.and_then(ref_name), path, out),
            Value::Array(items) => match list_merge(prop) {
                ListMerge::Keyed(key) => {
                    let item_ty = item_type(prop);
                    for item in items {
                        match key_step(item, key) {
                            Some(step) => {
                                path.push(step);
                                // The item itself, so its removal is noticed.
                                out.insert([path.clone(), vec![Step::Field(".".into())]].concat());
                                walk(item, item_ty, path, out);
                                path.pop();
                            }
                            None => {
                                out.insert(path.clone());
                            }
                        }
                    }
                }
                ListMerge::Set => {
                    for item in items {
                        path.push(Step::Value(item.to_string()));
                        out.insert(path.clone());
                        path.pop();
                    }
                }
                ListMerge::Atomic => {
                    out.insert(path.clone());
                }
            },
            _ => {
                out.insert(path.clone());
            }
        }
        path.pop();
    }
}

/// FieldsV1 of a set of paths.
pub(crate) fn to_fields_v1(fields: &Fields) -> Value {
    let mut root = Map::new();
    for path in fields {
        let mut node = &mut root;
        for step in path {
            let name = match step {
                Step::Field(f) if f == "." => ".".to_owned(),
                Step::Field(f) => format!("f:{f}"),
                Step::Key(k) => format!("k:{k}"),
                Step::Value(v) => format!("v:{v}"),
            };
            node = node.entry(name).or_insert_with(|| json!({})).as_object_mut().expect("made an object");
        }
    }
    Value::Object(root)
}

/// The paths of a FieldsV1 value.
pub(crate) fn from_fields_v1(v: &Value) -> Fields {
    fn go(v: &Value, path: &mut Vec<Step>, out: &mut Fields) {
        let Some(o) = v.as_object() else { return };
        if o.is_empty() && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, child) in o {
            let step = if k == "." {
                Step::Field(".".into())
            } else if let Some(f) = k.strip_prefix("f:") {
                Step::Field(f.into())
            } else if let Some(key) = k.strip_prefix("k:") {
                Step::Key(key.into())
            } else if let Some(val) = k.strip_prefix("v:") {
                Step::Value(val.into())
            } else {
                continue;
            };
            path.push(step);
            go(child, path, out);
            path.pop();
        }
    }
    let mut out = Fields::new();
    go(v, &mut Vec::new(), &mut out);
    out
}

/// The value at `path` in `v` (a `.` step: the item itself).
fn value_at<'a>(v: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let mut cur = v;
    for step in path {
        cur = match step {
            Step::Field(f) if f == "." => cur,
            Step::Field(f) => cur.get(f)?,
            Step::Key(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).ok()?;
                cur.as_array()?.iter().find(|i| key.iter().all(|(kk, kv)| i.get(kk) == Some(kv)))?
            }
            Step::Value(val) => {
                let want: Value = serde_json::from_str(val).ok()?;
                cur.as_array()?.iter().find(|i| **i == want)?
            }
        };
    }
    Some(cur)
}

/// Removes what `path` names from `v` (a `.` step: the whole item).
fn remove_at(v: &mut Value, path: &[Step]) {
    let Some((last, parent)) = path.split_last() else { return };
    if let Step::Field(f) = last
        && f == "."
    {
        return remove_at(v, parent);
    }
    let mut cur = v;
    for step in parent {
        let next = match step {
            Step::Field(f) => cur.get_mut(f),
            Step::Key(k) => {
                let Ok(key) = serde_json::from_str::<Map<String, Value>>(k) else { return };
                cur.as_array_mut().and_then(|a| a.iter_mut().find(|i| key.iter().all(|(kk, kv)| i.get(kk) == Some(kv))))
            }
            Step::Value(_) => None,
        };
        let Some(n) = next else { return };
        cur = n;
    }
    match last {
        Step::Field(f) => {
            if let Some(o) = cur.as_object_mut() {
                o.remove(f);
            }
        }
        Step::Key(k) => {
            if let (Ok(key), Some(a)) = (serde_json::from_str::<Map<String, Value>>(k), cur.as_array_mut()) {
                a.retain(|i| !key.iter().all(|(kk, kv)| i.get(kk) == Some(kv)));
            }
        }
        Step::Value(val) => {
            if let (Ok(want), Some(a)) = (serde_json::from_str::<Value>(val), cur.as_array_mut()) {
                a.retain(|i| *i != want);
            }
        }
    }
}

/// A path as kube-apiserver prints it in a conflict:
/// `.spec.containers[name="c"].image`.
pub(crate) fn display(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Field(f) if f == "." => {}
            Step::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Step::Key(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let inner: Vec<String> = key.iter().map(|(kk, kv)| format!("{kk}={kv}")).collect();
                s.push_str(&format!("[{}]", inner.join(",")));
            }
            Step::Value(v) => s.push_str(&format!("[={v}]")),
        }
    }
    s
}

/// A managedFields entry.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Value,
    fields: Fields,
}

fn entries(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj.pointer("/metadata/managedFields").and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .map(|e| Entry {
            manager: e.get("manager").and_then(Value::as_str).unwrap_or_default().to_owned(),
            operation: e.get("operation").and_then(Value::as_str).unwrap_or_default().to_owned(),
            api_version: e.get("apiVersion").and_then(Value::as_str).unwrap_or("v1").to_owned(),
            time: e.get("time").cloned().unwrap_or(Value::Null),
            fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
        })
        .collect()
}

fn set_entries(obj: &mut Value, list: Vec<Entry>) {
    let values: Vec<Value> = list
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            json!({"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version, "time": e.time,
                "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&e.fields)})
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if values.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(values));
        }
    }
}

fn now() -> Value {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string().into()
}

/// Records an `Update` by `manager` that took `old` (absent: a create) to
/// `new`: the leaf fields it set or changed become its own, and leave
/// every other manager.
pub(crate) fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, schema: &str) {
    let mut list = old.map(entries).unwrap_or_default();
    let now_fields = fields_of(new, schema);
    let changed: Fields = match old {
        None => now_fields.clone(),
        // A list item itself changes hands only when it is new.
        Some(o) => now_fields.iter().filter(|p| if is_item(p) { value_at(o, p).is_none() } else { value_at(o, p) != value_at(new, p) }).cloned().collect(),
    };
    // Fields gone from the object leave their owners.
    for e in &mut list {
        e.fields.retain(|p| now_fields.contains(p));
    }
    if !changed.is_empty() {
        for e in &mut list {
            e.fields.retain(|p| !changed.contains(p));
        }
        let api_version = new.get("apiVersion").and_then(Value::as_str).unwrap_or("v1").to_owned();
        match list.iter_mut().find(|e| e.manager == manager && e.operation == "Update") {
            Some(e) => {
                e.fields.extend(changed);
                e.time = now();
            }
            None => list.push(Entry { manager: manager.into(), operation: "Update".into(), api_version, time: now(), fields: changed }),
        }
    }
    set_entries(new, list);
}

/// Whether `path` names a list item itself (its `.`).
fn is_item(path: &[Step]) -> bool {
    matches!(path.last(), Some(Step::Field(f)) if f == ".")
}

/// Fields an apply would take from other managers: each with the
/// managers that own it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Conflicts(pub Vec<(Vec<Step>, Vec<String>)>);

impl Conflicts {
    /// kube-apiserver's message: `Apply failed with 1 conflict: conflict
    /// with "m": .spec.x`.
    pub(crate) fn message(&self) -> String {
        let n = self.0.len();
        let lines: Vec<String> = self
            .0
            .iter()
            .map(|(p, m)| format!("conflict with {}: {}", m.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", "), display(p)))
            .collect();
        if n == 1 { format!("Apply failed with 1 conflict: {}", lines[0]) } else { format!("Apply failed with {n} conflicts: {}", lines.join("\n")) }
    }
}

/// Server-side apply of `config` by `manager` to `live` (absent: the
/// object is created): the object to store, with its managedFields.
pub(crate) fn apply(live: Option<&Value>, config: &Value, manager: &str, force: bool, schema: &str) -> Result<Value, Conflicts> {
    let applied = fields_of(config, schema);
    let api_version = config.get("apiVersion").and_then(Value::as_str).unwrap_or("v1").to_owned();
    let Some(live) = live else {
        let mut out = config.clone();
        set_entries(&mut out, vec![Entry { manager: manager.into(), operation: "Apply".into(), api_version, time: now(), fields: applied }]);
        return Ok(out);
    };
    let mut list = entries(live);
    let mine = |e: &Entry| e.manager == manager && e.operation == "Apply";
    let before = list.iter().find(|e| mine(e)).map(|e| e.fields.clone()).unwrap_or_default();
    // Conflicts: another manager owns a field this one sets to another value.
    let mut conflicts: Vec<(Vec<Step>, Vec<String>)> = Vec::new();
    for p in &applied {
        if is_item(p) || value_at(live, p) == value_at(config, p) {
            continue;
        }
        let owners: Vec<String> = list.iter().filter(|e| !mine(e) && e.fields.contains(p)).map(|e| e.manager.clone()).collect();
        if !owners.is_empty() {
            conflicts.push((p.clone(), owners));
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(Conflicts(conflicts));
    }
    // The configuration merged into the object, lists by their keys.
    let mut out = live.clone();
    merge(&mut out, config, Some(schema));
    // What this manager applied before and no longer does goes, unless
    // another manager owns it.
    for p in before.difference(&applied) {
        if !list.iter().any(|e| !mine(e) && e.fields.contains(p)) {
            remove_at(&mut out, p);
        }
    }
    for e in list.iter_mut().filter(|e| !mine(e)) {
        // Forced: the fields are taken over; otherwise shared (same value).
        if force {
            e.fields.retain(|p| !applied.contains(p) || is_item(p) || value_at(live, p) == value_at(config, p));
        }
    }
    list.retain(|e| !mine(e));
    list.push(Entry { manager: manager.into(), operation: "Apply".into(), api_version, time: now(), fields: applied });
    set_entries(&mut out, list);
    Ok(out)
}

/// `config` merged into `target`: objects field by field, keyed lists item
/// by item, set lists as sets, other lists replaced.
fn merge(target: &mut Value, config: &Value, ty: Option<&str>) {
    let (Some(t), Some(c)) = (target.as_object_mut(), config.as_object()) else {
        *target = config.clone();
        return;
    };
    for (k, v) in c {
        let prop = property(ty, k);
        match v {
            Value::Object(_) => {
                let slot = t.entry(k.clone()).or_insert_with(|| json!({}));
                merge(slot, v, prop.and_then(ref_name));
            }
            Value::Array(items) => match list_merge(prop) {
                ListMerge::Keyed(key) => {
                    let item_ty = item_type(prop);
                    let slot = t.entry(k.clone()).or_insert_with(|| json!([]));
                    if !slot.is_array() {
                        *slot = json!([]);
                    }
                    let have = slot.as_array_mut().expect("made a list");
                    for item in items {
                        match have.iter_mut().find(|h| item.get(key).is_some() && h.get(key) == item.get(key)) {
                            Some(h) => merge(h, item, item_ty),
                            None => have.push(item.clone()),
                        }
                    }
                }
                ListMerge::Set => {
                    let slot = t.entry(k.clone()).or_insert_with(|| json!([]));
                    if let Some(have) = slot.as_array_mut() {
                        for item in items {
                            if !have.contains(item) {
                                have.push(item.clone());
                            }
                        }
                    }
                }
                ListMerge::Atomic => {
                    t.insert(k.clone(), v.clone());
                }
            },
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = "io.k8s.api.core.v1.Pod";

    fn pod(image: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": labels},
            "spec": {"containers": [{"name": "c", "image": image}]}})
    }

    #[test]
    fn fields_are_paths_with_merge_keys_and_round_trip_through_fields_v1() {
        let f = fields_of(&pod("one", json!({"app": "a"})), POD);
        let shown: Vec<String> = f.iter().map(|p| display(p)).collect();
        assert_eq!(shown, [".metadata.labels.app", ".spec.containers[name=\"c\"]", ".spec.containers[name=\"c\"].image", ".spec.containers[name=\"c\"].name"]);
        let v1 = to_fields_v1(&f);
        assert_eq!(v1["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["f:image"], json!({}));
        assert_eq!(from_fields_v1(&v1), f);
    }

    #[test]
    fn an_apply_creates_takes_over_when_forced_and_conflicts_otherwise() {
        let created = apply(None, &pod("one", json!({"app": "a"})), "alice", false, POD).unwrap();
        assert_eq!(created["metadata"]["managedFields"][0]["manager"], "alice");
        assert_eq!(created["metadata"]["managedFields"][0]["operation"], "Apply");
        // Bob sets the image to another value: a conflict naming alice.
        let e = apply(Some(&created), &pod("two", json!({"app": "a"})), "bob", false, POD).unwrap_err();
        assert_eq!(e.message(), "Apply failed with 1 conflict: conflict with \"alice\": .spec.containers[name=\"c\"].image");
        // The same value is shared, no conflict.
        let shared = apply(Some(&created), &pod("one", json!({"app": "a"})), "bob", false, POD).unwrap();
        assert_eq!(shared["metadata"]["managedFields"].as_array().unwrap().len(), 2);
        // Forced: bob takes the image; alice keeps the rest.
        let forced = apply(Some(&created), &pod("two", json!({"app": "a"})), "bob", true, POD).unwrap();
        assert_eq!(forced["spec"]["containers"][0]["image"], "two");
        let alice = from_fields_v1(&forced["metadata"]["managedFields"][0]["fieldsV1"]);
        assert!(!alice.iter().any(|p| display(p).ends_with(".image")));
    }

    #[test]
    fn a_field_no_longer_applied_goes_unless_another_manager_owns_it() {
        let created = apply(None, &pod("one", json!({"app": "a", "tier": "x"})), "alice", false, POD).unwrap();
        let next = apply(Some(&created), &pod("one", json!({"app": "a"})), "alice", false, POD).unwrap();
        assert_eq!(next["metadata"]["labels"], json!({"app": "a"}));
        // An update by someone else makes them an owner: it stays.
        let mut updated = created.clone();
        updated["metadata"]["labels"]["tier"] = "y".into();
        record_update(Some(&created), &mut updated, "kubectl-label", POD);
        let next = apply(Some(&updated), &pod("one", json!({"app": "a"})), "alice", false, POD).unwrap();
        assert_eq!(next["metadata"]["labels"], json!({"app": "a", "tier": "y"}));
    }

    #[test]
    fn an_update_owns_what_it_changed() {
        let mut created = pod("one", json!({"app": "a"}));
        record_update(None, &mut created, "kubectl-create", POD);
        assert_eq!(created["metadata"]["managedFields"][0]["operation"], "Update");
        let mut changed = created.clone();
        changed["spec"]["containers"][0]["image"] = "two".into();
        record_update(Some(&created), &mut changed, "editor", POD);
        let mf = changed["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(mf.len(), 2);
        let editor = from_fields_v1(&mf[1]["fieldsV1"]);
        assert_eq!(editor.iter().map(|p| display(p)).collect::<Vec<_>>(), [".spec.containers[name=\"c\"].image"]);
        // A conflict with an Update manager, as after client-side apply.
        let e = apply(Some(&changed), &pod("three", json!({"app": "a"})), "kubectl", false, POD).unwrap_err();
        assert!(e.message().contains("conflict with \"editor\""), "{}", e.message());
    }
}

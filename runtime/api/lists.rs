//! Lists in pages (`limit`, `continue`) and watches of the objects other
//! than pods, as kube-apiserver serves them.
//!
//! A page ends at `limit` items, sorted by namespace and name; its
//! `metadata.continue` token names the last one, and the next request
//! starts after it. The pages are read from the objects as they are when
//! each is asked for, where kube-apiserver serves every page from the
//! first one's snapshot (and answers 410 once that is compacted).
//!
//! A watch diffs the objects each time anything changes (objects and
//! pods share one resourceVersion counter, `runtime/registry.rs`) and at
//! least every second: ADDED, MODIFIED and DELETED (with the last state),
//! as kube-apiserver sends them. From a `resourceVersion` it first sends
//! the objects written after it (MODIFIED) and the deletions after it
//! (DELETED, from the runtime's log); a version older than that log is an
//! ERROR event with 410 Expired, one this process has not reached a 504,
//! as kube-apiserver answers them, and the client lists again.
//! `sendInitialEvents=true` ends the initial ADDED events with a BOOKMARK
//! annotated `k8s.io/initial-events-end`; `allowWatchBookmarks=true` adds a
//! BOOKMARK every [`BOOKMARK_EVERY`]; `timeoutSeconds` ends the watch.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::body::{Body, channel, json_response};
use super::objects::{self, Resource};
use super::request::{Query, ServerContext};
use crate::Error;

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

/// How often a watch re-reads the objects when nothing was signalled.
const RESCAN: Duration = Duration::from_secs(1);

fn key(v: &Value) -> (String, String) {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
    (s("/metadata/namespace"), s("/metadata/name"))
}

/// One page of a list.
pub(super) struct Page<T> {
    pub items: Vec<T>,
    /// The next page's `continue` token, if there is one.
    pub next: Option<String>,
    /// How many items are after this page.
    pub remaining: Option<usize>,
}

impl<T> Page<T> {
    /// The list's `metadata` for this page, at `version`.
    pub(super) fn meta(&self, version: u64) -> Value {
        let mut meta = json!({"resourceVersion": version.to_string()});
        if let Some(c) = &self.next {
            meta["continue"] = c.clone().into();
            meta["remainingItemCount"] = self.remaining.into();
        }
        meta
    }
}

/// A page of `items` (sorted here) as `limit` and `continue` ask.
pub(super) fn page<T>(mut items: Vec<T>, key_of: impl Fn(&T) -> (String, String), q: &Query, version: u64) -> Result<Page<T>, Error> {
    items.sort_by_key(&key_of);
    if let Some(token) = q.get("continue").filter(|t| !t.is_empty()) {
        let bad = |why: &str| Error::BadRequest(format!("continue key is not valid: {why}"));
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad("not base64"))?;
        let v: Value = serde_json::from_slice(&raw).map_err(|_| bad("not a continue key of this server"))?;
        let after = (
            v.get("ns").and_then(Value::as_str).ok_or_else(|| bad("no namespace"))?.to_owned(),
            v.get("name").and_then(Value::as_str).ok_or_else(|| bad("no name"))?.to_owned(),
        );
        items.retain(|i| key_of(i) > after);
    }
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => l.parse::<usize>().map_err(|_| Error::BadRequest(format!("limit: Invalid value: {l:?}: must be a non-negative integer")))?,
        None => 0,
    };
    if limit == 0 || items.len() <= limit {
        return Ok(Page { items, next: None, remaining: None });
    }
    let rest = items.split_off(limit);
    let (ns, name) = key_of(items.last().expect("limit > 0"));
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"rv": version, "ns": ns, "name": name}).to_string());
    Ok(Page { items, next: Some(token), remaining: Some(rest.len()) })
}

/// A list of `kind` (a page of it with `limit`).
pub(super) fn list(ctx: &ServerContext, kind: Resource, namespace: Option<&str>, q: &Query) -> Result<Response<Body>, Error> {
    // The version is taken before the list, so a change between the two
    // is sent again by a watch from it rather than lost.
    let version = ctx.runtime.resource_version();
    let items = objects::list_values(ctx, kind, namespace, q)?;
    let page = page(items, key, q, version)?;
    let (list_kind, api_version) = kind.list_kind();
    Ok(json_response(StatusCode::OK, &json!({"kind": list_kind, "apiVersion": api_version, "metadata": page.meta(version), "items": page.items})))
}

fn flag(q: &Query, name: &str) -> bool {
    q.get(name).is_some_and(|v| v == "true" || v == "1")
}

/// One watch event line.
fn line(kind: &str, object: Value) -> Bytes {
    let mut l = serde_json::to_vec(&json!({"type": kind, "object": object})).expect("watch events serialize");
    l.push(b'\n');
    Bytes::from(l)
}

/// A watch's options beyond its start: `sendInitialEvents`'s end marker,
/// `allowWatchBookmarks`, `timeoutSeconds`.
pub(super) struct WatchOptions {
    pub initial_end: bool,
    pub bookmarks: bool,
    pub timeout: Option<Duration>,
}

impl WatchOptions {
    pub(super) fn of(q: &Query) -> Self {
        Self {
            initial_end: flag(q, "sendInitialEvents"),
            bookmarks: flag(q, "allowWatchBookmarks"),
            timeout: q.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).filter(|t| *t > 0).map(Duration::from_secs),
        }
    }

    /// When the watch ends (`timeoutSeconds`).
    pub(super) fn ends(&self) -> Option<tokio::time::Instant> {
        self.timeout.map(|t| tokio::time::Instant::now() + t)
    }

    /// The bookmarks' clock, first after [`BOOKMARK_EVERY`].
    pub(super) fn bookmarks(&self) -> tokio::time::Interval {
        tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY)
    }
}

/// A BOOKMARK event at `version`; `initial_end`: the one that ends the
/// initial events of `sendInitialEvents`.
pub(super) fn bookmark(kind: &str, api_version: &str, version: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": version.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line("BOOKMARK", json!({"kind": kind, "apiVersion": api_version, "metadata": meta}))
}

/// A watch of `kind` in `namespace` (all: `None`).
pub(super) fn watch(ctx: &ServerContext, kind: Resource, namespace: Option<String>, q: &Query, as_table: bool) -> Result<Response<Body>, Error> {
    let since = q.get("resourceVersion").and_then(|v| v.parse::<u64>().ok()).filter(|v| *v > 0);
    let options = WatchOptions::of(q);
    let initial = options.initial_end || since.is_none();
    let (end_marker, bookmarks) = (options.initial_end, options.bookmarks);
    let include = q.get("includeObject").cloned();
    // Checked now: a bad selector is the request's error, not the stream's.
    let selector = q.get("labelSelector").cloned().unwrap_or_default();
    let fields = q.get("fieldSelector").cloned().unwrap_or_default();
    objects::selected(ctx, kind, None, &selector, &fields)?;
    let ctx = ctx.clone();
    let (list_kind, api_version) = kind.list_kind();
    let object_kind = list_kind.trim_end_matches("List").to_owned();
    let api_version = api_version.to_owned();
    let (tx, body) = channel();
    tokio::spawn(async move {
        let mut first_table = true;
        let mut wrap = |object: Value| -> Value {
            if !as_table {
                return object;
            }
            let mut t = super::tables::table(super::tables::Printed::Other(kind), &[object], include.as_deref(), jiff::Timestamp::now());
            if !first_table && let Some(o) = t.as_object_mut() {
                o.remove("columnDefinitions");
            }
            first_table = false;
            t
        };
        let mut changes = ctx.runtime.changes();
        let current = |ctx: &ServerContext| -> BTreeMap<(String, String), Value> {
            objects::selected(ctx, kind, namespace.as_deref(), &selector, &fields).unwrap_or_default().into_iter().map(|o| (key(&o), o)).collect()
        };
        let mut seen = current(&ctx);
        let mut out: Vec<Bytes> = Vec::new();
        if initial {
            out.extend(seen.values().map(|o| line("ADDED", wrap(o.clone()))));
            if end_marker {
                out.push(bookmark(&object_kind, &api_version, ctx.runtime.resource_version(), true));
            }
        } else if let Some(since) = since {
            match ctx.runtime.replay_since(kind.resource(), since) {
                crate::Replay::Expired { oldest } => {
                    let status = super::Status::failure(410, "Expired", format!("too old resource version: {since} ({oldest})"), None);
                    let _ = tx.send(line("ERROR", serde_json::to_value(status).expect("a Status serializes"))).await;
                    return;
                }
                crate::Replay::TooLarge { current } => {
                    let status = super::Status::failure(504, "Timeout", format!("Too large resource version: {since}, current: {current}"), None);
                    let _ = tx.send(line("ERROR", serde_json::to_value(status).expect("a Status serializes"))).await;
                    return;
                }
                crate::Replay::Since { created, deleted } => {
                    let written_after = |o: &Value| {
                        o.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|v| v.parse::<u64>().ok()).is_some_and(|v| v > since)
                    };
                    for o in deleted.into_iter().filter(|o| namespace.as_deref().is_none_or(|ns| key(o).0 == ns) && !seen.contains_key(&key(o))) {
                        out.push(line("DELETED", wrap(o)));
                    }
                    for (k, o) in seen.iter().filter(|(_, o)| written_after(o)) {
                        out.push(line(if created.contains(k) { "ADDED" } else { "MODIFIED" }, wrap(o.clone())));
                    }
                }
            }
        }
        for l in out {
            if tx.send(l).await.is_err() {
                return;
            }
        }
        let ends = options.ends();
        let mut rescan = tokio::time::interval(RESCAN);
        let mut marks = options.bookmarks();
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = rescan.tick() => {}
                _ = marks.tick(), if bookmarks => {
                    if tx.send(bookmark(&object_kind, &api_version, ctx.runtime.resource_version(), false)).await.is_err() {
                        return;
                    }
                    continue;
                }
                _ = async { match ends { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => return,
            }
            let now = current(&ctx);
            let mut events = Vec::new();
            for (k, o) in &now {
                match seen.get(k) {
                    None => events.push(line("ADDED", wrap(o.clone()))),
                    Some(old) if old != o => events.push(line("MODIFIED", wrap(o.clone()))),
                    _ => {}
                }
            }
            for (k, o) in &seen {
                if !now.contains_key(k) {
                    events.push(line("DELETED", wrap(o.clone())));
                }
            }
            seen = now;
            for e in events {
                if tx.send(e).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(Response::builder().header(hyper::header::CONTENT_TYPE, "application/json").body(body).expect("a valid response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(ns: &str, name: &str) -> Value {
        json!({"metadata": {"namespace": ns, "name": name}})
    }

    #[test]
    fn pages_follow_each_other_to_the_end() {
        let items = vec![obj("b", "x"), obj("a", "z"), obj("a", "y"), obj("c", "w")];
        let mut q = Query::new();
        q.insert("limit".into(), "2".into());
        let first = page(items.clone(), key, &q, 9).unwrap();
        assert_eq!(first.items, [obj("a", "y"), obj("a", "z")]);
        assert_eq!(first.remaining, Some(2));
        assert_eq!(first.meta(9)["remainingItemCount"], 2);
        q.insert("continue".into(), first.next.unwrap());
        let second = page(items.clone(), key, &q, 9).unwrap();
        assert_eq!(second.items, [obj("b", "x"), obj("c", "w")]);
        assert_eq!(second.next, None);
        assert!(second.meta(9).get("continue").is_none());
        q.insert("continue".into(), "!!".into());
        assert!(matches!(page(items.clone(), key, &q, 9), Err(Error::BadRequest(m)) if m.starts_with("continue key is not valid")));
        q.remove("continue");
        q.insert("limit".into(), "x".into());
        assert!(page(items, key, &q, 9).is_err());
    }
}

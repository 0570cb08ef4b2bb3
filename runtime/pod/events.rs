//! Kubernetes Events about a pod, aggregated the way the kubelet's
//! recorder does: a repeat of the same reason and message on the same
//! object bumps `count` and `lastTimestamp` instead of adding a row.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::kind::ContainerKind;

/// `Normal` or `Warning`, as in Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something went wrong.
    Warning,
}

/// One event before it is stamped and aggregated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEvent {
    /// Normal or Warning.
    pub kind: EventType,
    /// CamelCase reason (`Started`, `BackOff`, ...).
    pub reason: &'static str,
    /// Human message.
    pub message: String,
    /// The container it is about, as Kubernetes' fieldPath
    /// (`spec.containers{name}`); `None` for the pod itself.
    pub field_path: Option<String>,
}

impl PodEvent {
    /// A Normal event about the container at `field_path` (see [`field_path`]).
    pub fn normal(reason: &'static str, field_path: Option<String>, message: String) -> Self {
        Self { kind: EventType::Normal, reason, message, field_path }
    }
    /// A Warning event about the container at `field_path`.
    pub fn warning(reason: &'static str, field_path: Option<String>, message: String) -> Self {
        Self { kind: EventType::Warning, reason, message, field_path }
    }
}

/// Kubernetes' fieldPath of a container in events:
/// `spec.containers{name}` or `spec.initContainers{name}`.
pub fn field_path(kind: ContainerKind, container: &str) -> String {
    match kind {
        ContainerKind::Init => format!("spec.initContainers{{{container}}}"),
        ContainerKind::App => format!("spec.containers{{{container}}}"),
    }
}

/// Turns [`PodEvent`]s into aggregated core/v1 Events for one pod.
pub(crate) struct EventRecorder {
    reference: ObjectReference,
    node: String,
    /// What a repeat needs, per (fieldPath, reason, message): the event's
    /// name, count and first time (not the whole Event: a pod that runs for
    /// a week among thousands should not keep every Event object).
    seen: HashMap<(String, &'static str, String), Seen>,
    serial: u64,
}

struct Seen {
    serial: u64,
    count: i32,
    first: Time,
    kind: EventType,
}

impl EventRecorder {
    pub(crate) fn new(pod: &Pod, node: &str) -> Self {
        let reference = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        };
        Self { reference, node: node.to_owned(), seen: HashMap::new(), serial: 0 }
    }

    /// A recorder for a pod whose log already holds `existing` events: new
    /// events are numbered after them (names are `<pod>.<serial>`, and a
    /// reader keeps the last line of each name).
    pub(crate) fn after(pod: &Pod, node: &str, existing: &[Event]) -> Self {
        let mut r = Self::new(pod, node);
        let prefix = format!("{}.", r.reference.name.as_deref().unwrap_or("pod"));
        r.serial = existing
            .iter()
            .filter_map(|e| e.metadata.name.as_deref()?.strip_prefix(&prefix).and_then(|hex| u64::from_str_radix(hex, 16).ok()))
            .max()
            .unwrap_or(0);
        r
    }

    /// The event to persist for `ev` (new, or the aggregate with its count bumped).
    pub(crate) fn record(&mut self, ev: PodEvent, now: Time) -> Event {
        let field_path = ev.field_path.unwrap_or_default();
        let key = (field_path, ev.reason, ev.message);
        let next_serial = self.serial + 1;
        let seen = self.seen.entry(key.clone()).or_insert_with(|| Seen { serial: next_serial, count: 0, first: now.clone(), kind: ev.kind });
        seen.count += 1;
        if seen.serial == next_serial {
            self.serial = next_serial;
        }
        let (serial, count, first, kind) = (seen.serial, seen.count, seen.first.clone(), seen.kind);
        let (field_path, reason, message) = key;
        let mut involved = self.reference.clone();
        if !field_path.is_empty() {
            involved.field_path = Some(field_path);
        }
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{serial:x}", self.reference.name.as_deref().unwrap_or("pod"))),
                namespace: self.reference.namespace.clone(),
                ..Default::default()
            },
            involved_object: involved,
            reason: Some(reason.into()),
            message: Some(message),
            type_: Some(match kind {
                EventType::Normal => "Normal".into(),
                EventType::Warning => "Warning".into(),
            }),
            count: Some(count),
            first_timestamp: Some(first),
            last_timestamp: Some(now),
            source: Some(EventSource { component: Some("kubelet".into()), host: Some(self.node.clone()) }),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_aggregated() {
        let pod = Pod { metadata: ObjectMeta { name: Some("p".into()), namespace: Some("default".into()), ..Default::default() }, ..Default::default() };
        let mut r = EventRecorder::new(&pod, "node");
        let now = || Time(jiff::Timestamp::now());
        let c_path = Some(field_path(ContainerKind::App, "c"));
        let a = r.record(PodEvent::warning("BackOff", c_path.clone(), "back-off".into()), now());
        let b = r.record(PodEvent::warning("BackOff", c_path.clone(), "back-off".into()), now());
        let c = r.record(PodEvent::normal("Started", c_path, "Started container c".into()), now());
        let i = r.record(PodEvent::normal("Started", Some(field_path(ContainerKind::Init, "setup")), "Started container setup".into()), now());
        assert_eq!(i.involved_object.field_path.as_deref(), Some("spec.initContainers{setup}"));
        assert_eq!(a.metadata.name, b.metadata.name);
        assert_eq!(b.count, Some(2));
        assert_eq!(b.first_timestamp, a.first_timestamp, "a repeat keeps the first time");
        assert_eq!(b.reason.as_deref(), Some("BackOff"));
        assert_eq!(b.type_.as_deref(), Some("Warning"));
        assert_ne!(c.metadata.name, a.metadata.name);
        assert_eq!(c.involved_object.field_path.as_deref(), Some("spec.containers{c}"));
        // A later recorder of the same pod numbers after what is there.
        let mut later = EventRecorder::after(&pod, "node", &[a, c, i.clone()]);
        let d = later.record(PodEvent::warning("FailedDelete", None, "x".into()), now());
        assert_eq!(d.metadata.name.as_deref(), Some("p.4"), "after {:?}", i.metadata.name);
    }
}

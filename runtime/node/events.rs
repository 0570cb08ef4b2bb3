//! The pods' Events, told to the cluster as the kubelet posts them: every
//! event the runtime records (through its [`LogTap`]) goes to the node
//! agent, which posts it about the cluster's pod (`agent.rs`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Event;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{LogTap, Stream};

/// A tap that passes everything to `inner` and keeps each event for the
/// node agent.
struct EventTap {
    inner: Option<Arc<dyn LogTap>>,
    tx: mpsc::UnboundedSender<Event>,
}

impl LogTap for EventTap {
    fn line(&self, pod: &str, container: &str, stream: Stream, text: &str) {
        if let Some(t) = &self.inner {
            t.line(pod, container, stream, text);
        }
    }

    fn event(&self, event: &Event) {
        if let Some(t) = &self.inner {
            t.event(event);
        }
        let _ = self.tx.send(event.clone());
    }
}

/// The runtime's events, for [`crate::node::NodeAgent::run`].
pub struct NodeEvents(pub(super) mpsc::UnboundedReceiver<Event>);

/// A tap for the runtime's config (`RuntimeConfig::tap`) that also hands
/// its events to the node agent; `inner` still gets everything.
pub fn event_tap(inner: Option<Arc<dyn LogTap>>) -> (Arc<dyn LogTap>, NodeEvents) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Arc::new(EventTap { inner, tx }), NodeEvents(rx))
}

/// `event` as the cluster is told it: about the cluster's pod (`uid`),
/// from the kubelet of `node`.
pub(super) fn cluster_event(event: &Event, uid: &str, node: &str) -> Value {
    let mut v = serde_json::to_value(event).expect("an Event serializes");
    v["metadata"] = json!({"name": event.metadata.name, "namespace": event.metadata.namespace});
    v["involvedObject"]["uid"] = json!(uid);
    v["source"] = json!({"component": "kubelet", "host": node});
    v["reportingComponent"] = json!("kubelet");
    v["reportingInstance"] = json!(node);
    v
}

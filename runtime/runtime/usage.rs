//! What the running pods use, for the kubelet's stats endpoints
//! (`/stats/summary`, `/metrics/resource`) a node serves.

use super::Runtime;
use crate::pod::ContainerUsage;

/// What one running pod's containers used.
#[derive(Debug, Clone)]
pub struct PodUsage {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's uid.
    pub uid: String,
    /// `status.startTime` (RFC 3339), if it started.
    pub start_time: Option<String>,
    /// Each started container's usage (and its `startedAt`, if running).
    pub containers: Vec<(ContainerUsage, Option<String>)>,
}

impl Runtime {
    /// The node name events and statuses carry (`RuntimeConfig::node_name`).
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// What each running pod of this process uses now, by namespace and
    /// name.
    pub fn usage(&self) -> Vec<PodUsage> {
        let mut out: Vec<PodUsage> = self
            .registry
            .all()
            .into_iter()
            .filter(|r| r.running())
            .map(|r| {
                let pod = r.status.borrow().clone();
                let status = pod.status.clone().unwrap_or_default();
                let started = |name: &str| {
                    status
                        .container_statuses
                        .iter()
                        .flatten()
                        .find(|s| s.name == name)
                        .and_then(|s| s.state.as_ref()?.running.as_ref()?.started_at.as_ref())
                        .map(|t| t.0.to_string())
                };
                PodUsage {
                    namespace: pod.metadata.namespace.clone().unwrap_or_default(),
                    name: pod.metadata.name.clone().unwrap_or_default(),
                    uid: pod.metadata.uid.clone().unwrap_or_default(),
                    start_time: status.start_time.as_ref().map(|t| t.0.to_string()),
                    containers: r.access.usage().into_iter().map(|c| (started(&c.name), c)).map(|(s, c)| (c, s)).collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        out
    }
}

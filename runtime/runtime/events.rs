//! A pod's events.

use k8s_openapi::api::core::v1::Event;

use super::{Error, Runtime};

impl Runtime {
    /// Events of the pod, oldest first (repeats aggregated).
    pub fn events(&self, namespace: &str, name: &str) -> Result<Vec<Event>, Error> {
        self.view().events(namespace, name)
    }
}

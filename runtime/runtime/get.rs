//! Reading pods: one, or every pod of the state directory.

use k8s_openapi::api::core::v1::Pod;

use super::{Error, Runtime};

impl Runtime {
    /// The pod `namespace/name`: live when this process runs it, else its
    /// record (phase `Unknown` when the process that ran it died).
    pub fn get(&self, namespace: &str, name: &str) -> Result<Pod, Error> {
        self.view().get(namespace, name)
    }

    /// Every pod of the state directory (of `namespace`, when given),
    /// running in any process or ended, sorted by namespace and name.
    pub fn list(&self, namespace: Option<&str>) -> Result<Vec<Pod>, Error> {
        self.view().list(namespace)
    }
}

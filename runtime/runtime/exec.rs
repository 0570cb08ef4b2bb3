//! Reaching into a running pod: exec, port-forward connections, its IPC
//! objects.

use super::{Error, Runtime};

impl Runtime {
    /// The running pod `namespace/name` of this process, for exec and
    /// port-forward. A pod another process runs is
    /// [`Error::RunningElsewhere`] (its clients connect there); an
    /// ended pod is refused as the API server refuses it.
    pub(crate) fn access(&self, namespace: &str, name: &str) -> Result<crate::pod::PodAccess, Error> {
        if let Some(r) = self.registry().get(namespace, name).filter(|r| r.running()) {
            return Ok(r.access);
        }
        let dir = self.state().pod(namespace, name);
        if dir.is_locked() {
            return Err(Error::RunningElsewhere { namespace: namespace.to_owned(), name: name.to_owned(), pid: dir.holder_pid() });
        }
        let pod = self.get(namespace, name)?;
        let phase = pod.status.and_then(|s| s.phase).unwrap_or_else(|| "Unknown".into());
        Err(Error::BadRequest(format!("cannot exec into or forward to a container in a completed pod; current phase is {phase}")))
    }

    /// Runs a command in a container of the running pod `namespace/name`
    /// (see [`crate::PodHandle::exec`]).
    pub async fn exec(&self, namespace: &str, name: &str, request: crate::ExecRequest) -> Result<crate::ExecOutcome, Error> {
        let access = self.access(namespace, name)?;
        access.exec(request).await.map_err(Error::from)
    }

    /// The IPC objects (queues, segments) of the running pod
    /// `namespace/name`, as `describe pod` lists them.
    pub fn ipc_objects(&self, namespace: &str, name: &str) -> Result<Vec<crate::ipc::IpcObject>, Error> {
        Ok(self.access(namespace, name)?.ipc_objects())
    }

    /// Opens a connection to `port` on the running pod's loopback (see
    /// [`crate::PodHandle::connect`]).
    pub fn connect(&self, namespace: &str, name: &str, port: u16) -> Result<crate::Connection, Error> {
        let access = self.access(namespace, name)?;
        access.connect(port).map_err(|e| Error::Forward { name: name.to_owned(), port, source: e })
    }
}

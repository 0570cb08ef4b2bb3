//! Reaching into a running pod: exec, attach, port-forward connections,
//! its IPC objects.

use super::{Error, LogOptions, LogStream, Runtime};

/// An attach session to a running container: its output from now on,
/// and its stdin when it has one (`stdin: true`) and the session asked.
#[non_exhaustive]
pub struct Attach {
    /// The container (the defaulted one when none was named).
    pub container: String,
    /// What it writes from now on; ends when the instance ends.
    pub output: LogStream,
    /// Its stdin; `None` without `stdin: true`, or once a `stdinOnce`
    /// stdin was closed.
    pub stdin: Option<crate::StdinWriter>,
    /// The container asked for a terminal (`tty: true`).
    pub tty: bool,
}

impl Runtime {
    /// Replaces file `file` (a relative path the volume already has) of
    /// volume `volume` of the running pod `namespace/name`, atomically and
    /// with the file's permissions kept, as the kubelet refreshes a
    /// projected service-account token: instances that open it from now
    /// on read the new contents.
    pub fn rewrite_volume_file(&self, namespace: &str, name: &str, volume: &str, file: &str, contents: &[u8]) -> Result<(), Error> {
        self.access_for(namespace, name, "write a volume of")?;
        let bad = |why: &str| Error::BadRequest(format!("pod {namespace}/{name}: volume {volume:?} file {file:?}: {why}"));
        let relative = std::path::Path::new(file);
        let plain = |p: &std::path::Path| p.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if file.is_empty() || !plain(relative) || !plain(std::path::Path::new(volume)) || volume.is_empty() {
            return Err(bad("not a plain relative path"));
        }
        let path = self.state.pod(namespace, name).path().join("volumes").join(volume).join(relative);
        // Only a file the volume has, never through a link.
        let before = std::fs::symlink_metadata(&path).map_err(|_| bad("no such file in the volume"))?;
        if !before.is_file() {
            return Err(bad("not a regular file"));
        }
        crate::store::write_atomic(&path, contents).and_then(|()| std::fs::set_permissions(&path, before.permissions())).map_err(|e| bad(&e.to_string()))
    }

    /// The running pod `namespace/name` of this process, for exec and
    /// port-forward. A pod another process runs is
    /// [`Error::RunningElsewhere`] (its clients connect there); an
    /// ended pod is refused as the API server refuses it.
    pub(crate) fn access(&self, namespace: &str, name: &str) -> Result<crate::pod::PodAccess, Error> {
        self.access_for(namespace, name, "exec into or forward to")
    }

    /// [`Runtime::access`], refusing an ended pod with what the caller
    /// was `doing` (`attach to`), in the API server's sentence.
    fn access_for(&self, namespace: &str, name: &str, doing: &str) -> Result<crate::pod::PodAccess, Error> {
        if let Some(r) = self.registry().get(namespace, name).filter(|r| r.running()) {
            return Ok(r.access);
        }
        let dir = self.state().pod(namespace, name);
        if dir.is_locked() {
            return Err(Error::RunningElsewhere { namespace: namespace.to_owned(), name: name.to_owned(), pid: dir.holder_pid() });
        }
        let pod = self.get(namespace, name)?;
        let phase = pod.status.and_then(|s| s.phase).unwrap_or_else(|| "Unknown".into());
        Err(Error::BadRequest(format!("cannot {doing} a container in a completed pod; current phase is {phase}")))
    }

    /// Runs a command in a container of the running pod `namespace/name`
    /// (see [`crate::PodHandle::exec`]).
    pub async fn exec(&self, namespace: &str, name: &str, request: crate::ExecRequest) -> Result<crate::ExecOutcome, Error> {
        let access = self.access(namespace, name)?;
        access.exec(request).await.map_err(Error::from)
    }

    /// Attaches to container `container` (the default one when `None`)
    /// of the running pod `namespace/name`: its output from now on, and
    /// with `stdin`, its stdin, as the kubelet's attach.
    pub fn attach(&self, namespace: &str, name: &str, container: Option<&str>, stdin: bool) -> Result<Attach, Error> {
        let access = self.access_for(namespace, name, "attach to")?;
        let pod = access.pod();
        let container = match container {
            Some(c) => c.to_owned(),
            None => crate::pod::default_container(&pod).unwrap_or_default(),
        };
        let spec = pod.spec.as_ref().and_then(|s| s.containers.iter().chain(s.init_containers.iter().flatten()).find(|c| c.name == container).cloned());
        let Some(spec) = spec else {
            return Err(Error::BadRequest(format!("container {container} is not valid for pod {name}")));
        };
        let all = pod.status.iter().flat_map(|s| s.container_statuses.iter().flatten().chain(s.init_container_statuses.iter().flatten()));
        if !all.clone().any(|s| s.name == container && s.state.as_ref().is_some_and(|st| st.running.is_some())) {
            return Err(Error::BadRequest(format!("unable to upgrade connection: container not found (\"{container}\")")));
        }
        let output = self.logs(namespace, name, &LogOptions::default().container(Some(container.clone())).follow(true).tail_lines(Some(0)))?;
        let stdin = if stdin { access.stdin(&container).and_then(|h| h.attach()) } else { None };
        Ok(Attach { container, output, stdin, tty: spec.tty == Some(true) })
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

//! What the client commands share: the state directory, a connection to
//! a live runtime process (or its records when none is alive), and
//! printing server errors as kubectl does.

use std::path::{Path, PathBuf};

use anyhow::Context;
use bytes::Bytes;
use k8s_openapi::api::core::v1::{Event, Pod};
use wasmpod::StateDir;
use wasmpod::api::{Client, ClientError, LogLines, Status, Target};
use wasmpod::{Error, LogOptions, LogStream, StateView};

use super::{Exit, ExitContext, Failure};

/// An error the server (or the records) answered, printed as kubectl
/// prints it: `Error from server (NotFound): pods "x" not found`, or an
/// Invalid object's message alone.
#[derive(Debug)]
pub(crate) struct ServerSaid(pub Status);

impl std::fmt::Display for ServerSaid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.reason == "Invalid" { f.write_str(&self.0.message) } else { write!(f, "Error from server ({}): {}", self.0.reason, self.0.message) }
    }
}

impl std::error::Error for ServerSaid {}

pub(crate) fn status_failure(status: Status) -> Failure {
    let exit = if status.reason == "Invalid" { Exit::Invalid } else { Exit::PodFailed };
    Failure { exit, error: ServerSaid(status).into() }
}

pub(crate) fn client_failure(e: ClientError) -> Failure {
    match e {
        ClientError::Api(status) => status_failure(status),
        e @ ClientError::Unreachable { .. } => Failure { exit: Exit::Unreachable, error: e.into() },
        e => Failure { exit: Exit::Runtime, error: e.into() },
    }
}

pub(crate) fn api_failure(e: Error) -> Failure {
    status_failure(Status::of(&e))
}

pub(crate) fn tokio() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime").exit(Exit::Runtime)
}

pub(crate) fn state_dir(flag: Option<&Path>) -> Result<PathBuf, Failure> {
    StateDir::locate(flag).exit(Exit::Runtime)
}

/// Where pod information comes from.
pub(crate) enum Source {
    /// A live runtime process.
    Live(Client),
    /// No process is alive: the records on disk.
    Records(StateView),
}

impl Source {
    /// A live process if there is one, else the records.
    pub async fn open(state: &Path) -> Result<Source, Failure> {
        match Client::connect(state, Target::Any).await {
            Ok(c) => Ok(Source::Live(c)),
            Err(ClientError::Unreachable { .. }) => Ok(Source::Records(StateView::open(state).exit(Exit::Runtime)?)),
            Err(e) => Err(client_failure(e)),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, Source::Live(_))
    }

    pub async fn get(&self, ns: &str, name: &str) -> Result<Pod, Failure> {
        match self {
            Source::Live(c) => c.get(ns, name).await.map_err(client_failure),
            Source::Records(v) => v.get(ns, name).map_err(api_failure),
        }
    }

    pub async fn list(&self, ns: Option<&str>) -> Result<Vec<Pod>, Failure> {
        match self {
            Source::Live(c) => c.list(ns).await.map_err(client_failure),
            Source::Records(v) => v.list(ns).map_err(api_failure),
        }
    }

    pub async fn events(&self, ns: &str, name: &str) -> Result<Vec<Event>, Failure> {
        match self {
            Source::Live(c) => c.events(ns, name).await.map_err(client_failure),
            Source::Records(v) => v.events(ns, name).map_err(api_failure),
        }
    }

    pub async fn logs(&self, ns: &str, name: &str, options: &LogOptions) -> Result<Logs, Failure> {
        match self {
            Source::Live(c) => c.logs(ns, name, options).await.map(Logs::Live).map_err(client_failure),
            Source::Records(v) => v.logs(ns, name, options).map(Logs::Records).map_err(api_failure),
        }
    }
}

pub(crate) enum Logs {
    Live(LogLines),
    Records(LogStream),
}

impl Logs {
    pub async fn next(&mut self) -> Option<Result<Bytes, Failure>> {
        match self {
            Logs::Live(l) => l.next_chunk().await.map(|r| r.map_err(client_failure)),
            Logs::Records(s) => s.next_line().await.map(|l| Ok(Bytes::from(l))),
        }
    }
}

/// A client of a live process, or the message that none runs.
pub(crate) async fn live(state: &Path, target: Target) -> Result<Client, Failure> {
    Client::connect(state, target).await.map_err(client_failure)
}

/// The namespace a command works in: `-n`, else `default`.
pub(crate) fn namespace(flag: &Option<String>) -> String {
    flag.clone().unwrap_or_else(|| "default".into())
}

/// kubectl's annotation naming the container `logs` and `exec` default to.
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// The container a command without `-c` uses: the annotated default, else
/// the first, printing kubectl's `Defaulted container "a" out of: a, b`
/// when the pod has several and none is annotated.
pub(crate) fn default_container(pod: &Pod) -> String {
    let names: Vec<String> = pod.spec.iter().flat_map(|s| s.containers.iter().map(|c| c.name.clone())).collect();
    let annotated = pod.metadata.annotations.as_ref().and_then(|a| a.get(DEFAULT_CONTAINER)).filter(|c| names.contains(c)).cloned();
    let chosen = annotated.clone().or_else(|| names.first().cloned()).unwrap_or_default();
    if annotated.is_none() && names.len() > 1 {
        eprintln!("Defaulted container \"{chosen}\" out of: {}", names.join(", "));
    }
    chosen
}

/// A client of the process that runs pod `ns/name` (the holder of its
/// lock), for exec and port-forward, which only that process can serve.
pub(crate) async fn owner(state: &Path, ns: &str, name: &str) -> Result<(Client, Pod), Failure> {
    let source = Source::open(state).await?;
    let pod = source.get(ns, name).await?;
    let dir = StateDir::open(state).exit(Exit::Runtime)?.pod(ns, name);
    let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".into());
    if !dir.is_locked() {
        let status =
            Status::failure(400, "BadRequest", format!("cannot exec into or forward to a container in a completed pod; current phase is {phase}"), None);
        return Err(status_failure(status));
    }
    let pid =
        dir.holder_pid().ok_or_else(|| Failure { exit: Exit::Runtime, error: anyhow::anyhow!("pod \"{name}\" is running but its process id is unknown") })?;
    let client = live(state, Target::Pid(pid)).await?;
    Ok((client, pod))
}

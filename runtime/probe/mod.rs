//! Liveness, readiness and startup probes, in the process.
//!
//! ```text
//! container worker (pod/container.rs) starts an instance
//!   -> ProbeSet::start: one ProbeWorker task per probe the container sets
//!        startup first; liveness and readiness wait until it succeeded
//!        each worker: initialDelaySeconds, then every periodSeconds one
//!        check bounded by timeoutSeconds -> threshold::step -> result
//!   <- ProbeEvent: Unhealthy (an event per failed check), Changed
//!      (ready/started flipped: the worker re-reports its status), Kill
//!      (liveness or startup failed: the worker kills the instance, 137)
//! ```
//!
//! Handlers (one file each) never leave the process: `httpGet` and
//! `tcpSocket` connect through the pod network (or call a wasi:http
//! handler component directly), `grpc` speaks grpc.health.v1 over h2c the
//! same way, `exec` starts a fresh instance of the container's image with
//! the probe's command, or calls the image's exported
//! `wasmpod:probe/check` function (WIT: `wit/probe/check.wit`) when it has one.
//!
//! Workers are tokio tasks with one timer each; a probe costs nothing
//! between its checks.

mod exec;
mod grpc;
mod http;
mod tcp;
pub(crate) mod threshold;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};

use crate::sandbox::SandboxSpec;
use crate::sandbox::{Engine as WasmEngine, Program};

pub(crate) use worker::{ProbeEvent, ProbeSet};

/// The three probes of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// `livenessProbe`: failure kills and restarts the container.
    Liveness,
    /// `readinessProbe`: drives the container's `ready`.
    Readiness,
    /// `startupProbe`: holds the others back until it succeeded; failure
    /// kills like liveness.
    Startup,
}

impl ProbeKind {
    /// The word the kubelet's events use (`Liveness probe failed: ...`).
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }

    /// The manifest field, for messages.
    pub fn field(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "livenessProbe",
            ProbeKind::Readiness => "readinessProbe",
            ProbeKind::Startup => "startupProbe",
        }
    }
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Healthy.
    Success,
    /// Unhealthy, with the kubelet's message (the event text after
    /// `... probe failed: `).
    Failure(String),
    /// Healthy, with a warning (the event text after `... probe warning: `):
    /// an httpGet probe answered by a redirect it did not follow.
    Warning(String),
}

impl Outcome {
    pub(crate) fn is_success(&self) -> bool {
        matches!(self, Outcome::Success | Outcome::Warning(_))
    }
}

/// A probe's timing and thresholds, defaults applied (the manifest is
/// defaulted already; these guard against objects built in code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Timing {
    /// Kubernetes' defaults (timeoutSeconds 1, periodSeconds 10, thresholds
    /// 1 and 3), one manifest second lasting `second`. Zero period or
    /// timeout become 1, as the API server's defaulting does.
    pub(crate) fn of(p: &Probe, second: Duration) -> Self {
        let secs = |v: Option<i32>, default: i32| second * u32::try_from(v.filter(|v| *v > 0).unwrap_or(default)).unwrap_or(1);
        let count = |v: Option<i32>, default: i32| u32::try_from(v.filter(|v| *v > 0).unwrap_or(default)).unwrap_or(1);
        Timing {
            initial_delay: second * u32::try_from(p.initial_delay_seconds.unwrap_or(0).max(0)).unwrap_or(0),
            period: secs(p.period_seconds, 10),
            timeout: secs(p.timeout_seconds, 1),
            success_threshold: count(p.success_threshold, 1),
            failure_threshold: count(p.failure_threshold, 3),
        }
    }
}

/// A probe's handler with its port resolved against the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Handler {
    Exec { command: Vec<String> },
    HttpGet { scheme: String, host: Option<String>, port: u16, path: String, headers: Vec<(String, String)> },
    Tcp { host: Option<String>, port: u16 },
    Grpc { port: u16, service: String },
}

/// A probe that cannot run as written (validation passed, so this is a
/// named port that is not in the container's `ports`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("container {container}: {field}: {message}")]
pub struct ProbeError {
    /// The container.
    pub container: String,
    /// The field path, e.g. `readinessProbe.httpGet.port`.
    pub field: String,
    /// Why.
    pub message: String,
}

impl Handler {
    /// The handler of `probe` (`kind`) of container `c`.
    pub(crate) fn of(probe: &Probe, kind: ProbeKind, c: &Container) -> Result<Self, ProbeError> {
        let err = |field: &str, message: String| ProbeError { container: c.name.clone(), field: format!("{}.{field}", kind.field()), message };
        if let Some(e) = &probe.exec {
            return Ok(Handler::Exec { command: e.command.clone().unwrap_or_default() });
        }
        if let Some(h) = &probe.http_get {
            let port = crate::manifest::resolve_port(&h.port, c).map_err(|m| err("httpGet.port", m))?;
            let path = h.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
            // The kubelet prefixes a path without a leading slash.
            let path = if path.starts_with('/') { path } else { format!("/{path}") };
            let headers = h.http_headers.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect();
            let scheme = h.scheme.clone().unwrap_or_else(|| "HTTP".into());
            return Ok(Handler::HttpGet { scheme, host: h.host.clone().filter(|h| !h.is_empty()), port, path, headers });
        }
        if let Some(t) = &probe.tcp_socket {
            let port = crate::manifest::resolve_port(&t.port, c).map_err(|m| err("tcpSocket.port", m))?;
            return Ok(Handler::Tcp { host: t.host.clone().filter(|h| !h.is_empty()), port });
        }
        if let Some(g) = &probe.grpc {
            let port = u16::try_from(g.port).map_err(|_| err("grpc.port", format!("{} is not a port number", g.port)))?;
            return Ok(Handler::Grpc { port, service: g.service.clone().unwrap_or_default() });
        }
        Err(err("", "must specify a handler type".into()))
    }
}

/// What the handlers of one container instance need: the instance's WASI
/// grant (env, mounts, network, log) and its image.
#[derive(Clone)]
pub(crate) struct ProbeContext {
    pub engine: Arc<WasmEngine>,
    pub program: Arc<Program>,
    pub spec: SandboxSpec,
    /// The container's name, for messages.
    pub container: String,
}

impl ProbeContext {
    /// The pod's IP, which a probe without `host` targets (as the kubelet
    /// uses the pod IP).
    pub(crate) fn pod_ip(&self) -> std::net::IpAddr {
        match &self.spec.network {
            crate::net::SocketPolicy::Pod(net) => net.ip().into(),
            _ => std::net::Ipv4Addr::LOCALHOST.into(),
        }
    }
}

/// Runs one check of `handler`. Failures carry the kubelet's message;
/// the caller bounds it with the probe's timeout.
pub(crate) async fn check(handler: &Handler, ctx: &ProbeContext, timeout: Duration) -> Outcome {
    match handler {
        Handler::Exec { command } => exec::check(ctx, command, timeout).await,
        Handler::HttpGet { scheme, host, port, path, headers } => http::check(ctx, scheme, host.as_deref(), *port, path, headers, timeout).await,
        Handler::Tcp { host, port } => tcp::check(ctx, host.as_deref(), *port, timeout).await,
        Handler::Grpc { port, service } => grpc::check(ctx, *port, service, timeout).await,
    }
}

/// The kubelet's `User-Agent` on HTTP probes: `kube-probe/<major>.<minor>`
/// of the Kubernetes version whose semantics wasmpod follows.
pub(crate) const USER_AGENT: &str = "kube-probe/1.35";

/// Output of an exec probe (and bodies of HTTP probes) kept for messages:
/// the kubelet's limit.
pub(crate) const MAX_OUTPUT: usize = 10 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn container(yaml: serde_json::Value) -> Container {
        serde_json::from_value(yaml).unwrap()
    }

    #[test]
    fn named_ports_resolve_against_the_containers_ports() {
        let c = container(serde_json::json!({"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}));
        let p: Probe = serde_json::from_value(serde_json::json!({"httpGet": {"port": "http", "path": "healthz"}})).unwrap();
        let h = Handler::of(&p, ProbeKind::Readiness, &c).unwrap();
        assert_eq!(h, Handler::HttpGet { scheme: "HTTP".into(), host: None, port: 8080, path: "/healthz".into(), headers: vec![] });
        let p: Probe = serde_json::from_value(serde_json::json!({"tcpSocket": {"port": "metrics"}})).unwrap();
        let e = Handler::of(&p, ProbeKind::Liveness, &c).unwrap_err();
        assert_eq!(e.to_string(), "container c: livenessProbe.tcpSocket.port: couldn't find port \"metrics\" in the container's ports");
    }

    #[test]
    fn timing_applies_kubernetes_defaults_in_probe_seconds() {
        let p: Probe = serde_json::from_value(serde_json::json!({"exec": {"command": ["true"]}, "initialDelaySeconds": 5})).unwrap();
        let t = Timing::of(&p, Duration::from_millis(100));
        assert_eq!(
            t,
            Timing {
                initial_delay: Duration::from_millis(500),
                period: Duration::from_secs(1),
                timeout: Duration::from_millis(100),
                success_threshold: 1,
                failure_threshold: 3
            }
        );
    }
}

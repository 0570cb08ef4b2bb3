//! The columns `kubectl get pods` shows, computed as kubectl's printPod
//! does (pkg/printers/internalversion/printers.go): READY, STATUS,
//! RESTARTS and AGE are not fields of the Pod but derived from it.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

/// One row of `get pods`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRow {
    /// The pod's name.
    pub name: String,
    /// `ready/total`, e.g. `1/1`.
    pub ready: String,
    /// `Running`, `Completed`, `Error`, `CrashLoopBackOff`, `Init:0/1`, `Terminating`, ...
    pub status: String,
    /// `N`, or `N (5s ago)` since the last container exit.
    pub restarts: String,
    /// Since creation, like `5m3s`.
    pub age: String,
    /// The pod IP, or `<none>`.
    pub ip: String,
    /// The node, or `<none>`.
    pub node: String,
}

/// The row of `pod` at time `now`.
pub fn pod_row(pod: &Pod, now: Timestamp) -> PodRow {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let init_specs = spec.init_containers.clone().unwrap_or_default();
    let is_sidecar = |name: &str| init_specs.iter().any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"));
    let mut total = spec.containers.len() + init_specs.iter().filter(|c| is_sidecar(&c.name)).count();
    if total == 0 {
        total = status.container_statuses.as_ref().map_or(0, Vec::len);
    }
    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;
    let mut reason = status.reason.clone().unwrap_or_else(|| status.phase.clone().unwrap_or_default());

    let finished = |c: &k8s_openapi::api::core::v1::ContainerStatus| {
        c.last_state.as_ref().and_then(|l| l.terminated.as_ref()).and_then(|t| t.finished_at.as_ref()).map(|t| t.0)
    };
    let later = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };

    let mut initializing = false;
    let init_statuses = status.init_container_statuses.clone().unwrap_or_default();
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += c.restart_count;
        last_restart = later(last_restart, finished(c));
        if is_sidecar(&c.name) {
            sidecar_restarts += c.restart_count;
            last_sidecar_restart = later(last_sidecar_restart, finished(c));
        }
        let state = c.state.clone().unwrap_or_default();
        match (&state.terminated, &state.waiting) {
            (Some(t), _) if t.exit_code == 0 => continue,
            _ if is_sidecar(&c.name) && c.started == Some(true) => {
                if c.ready {
                    ready += 1;
                }
                continue;
            }
            (Some(t), _) => {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => format!("Init:{r}"),
                    None if t.signal.unwrap_or(0) != 0 => format!("Init:Signal:{}", t.signal.unwrap_or(0)),
                    None => format!("Init:ExitCode:{}", t.exit_code),
                };
            }
            (None, Some(w)) if w.reason.as_deref().is_some_and(|r| !r.is_empty() && r != "PodInitializing") => {
                reason = format!("Init:{}", w.reason.as_deref().unwrap_or_default());
            }
            _ => reason = format!("Init:{i}/{}", init_specs.len()),
        }
        initializing = true;
        break;
    }

    let initialized = status.conditions.iter().flatten().any(|c| c.type_ == "Initialized" && c.status == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in status.container_statuses.iter().flatten().rev() {
            restarts += c.restart_count;
            last_restart = later(last_restart, finished(c));
            let state = c.state.clone().unwrap_or_default();
            if let Some(r) = state.waiting.as_ref().and_then(|w| w.reason.clone()).filter(|r| !r.is_empty()) {
                reason = r;
            } else if let Some(t) = &state.terminated {
                reason = match t.reason.clone().filter(|r| !r.is_empty()) {
                    Some(r) => r,
                    None if t.signal.unwrap_or(0) != 0 => format!("Signal:{}", t.signal.unwrap_or(0)),
                    None => format!("ExitCode:{}", t.exit_code),
                };
            } else if c.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let ready_condition = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
            reason = if ready_condition { "Running".into() } else { "NotReady".into() };
        }
    }

    let terminal = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
    if pod.metadata.deletion_timestamp.is_some() && !terminal {
        reason = "Terminating".into();
    }

    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now.duration_since(t))),
        _ => restarts.to_string(),
    };
    let age = pod.metadata.creation_timestamp.as_ref().map_or_else(|| "<unknown>".to_owned(), |t| human_duration(now.duration_since(t.0)));
    let none = |s: Option<String>| s.filter(|s| !s.is_empty()).unwrap_or_else(|| "<none>".into());
    PodRow {
        name: pod.metadata.name.clone().unwrap_or_default(),
        ready: format!("{ready}/{total}"),
        status: reason,
        restarts,
        age,
        ip: none(status.pod_ip.clone()),
        node: none(spec.node_name.clone()),
    }
}

/// A duration as kubectl shows ages (apimachinery's `duration.HumanDuration`):
/// `45s`, `3m12s`, `25m`, `5h3m`, `2d4h`, `400d`, `3y20d`.
pub fn human_duration(d: jiff::SignedDuration) -> String {
    let secs = d.as_secs();
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

/// The Age column of `describe`'s Events table: `21s`, or
/// `21s (x3 over 31s)` for an event seen several times.
pub fn event_age(event: &k8s_openapi::api::core::v1::Event, now: Timestamp) -> String {
    let since = |t: Option<Timestamp>| t.map_or_else(|| "<unknown>".to_owned(), |t| human_duration(now.duration_since(t)));
    let first = event.first_timestamp.as_ref().map(|t| t.0).or_else(|| event.event_time.as_ref().map(|t| t.0));
    let last = event.last_timestamp.as_ref().map(|t| t.0).or(first);
    match event.count {
        Some(n) if n > 1 => format!("{} (x{n} over {})", since(last), since(first)),
        _ => since(last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, PodCondition, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    const NOW: &str = "2025-01-01T00:10:00Z";

    fn running() -> ContainerState {
        ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() }
    }
    fn waiting(r: &str) -> ContainerState {
        ContainerState { waiting: Some(ContainerStateWaiting { reason: Some(r.into()), message: None }), ..Default::default() }
    }
    fn terminated(code: i32, r: &str) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                reason: Some(r.into()).filter(|r: &String| !r.is_empty()),
                finished_at: Some(Time(ts("2025-01-01T00:09:55Z"))),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
    fn cs(name: &str, state: ContainerState, ready: bool, restarts: i32) -> ContainerStatus {
        let last = (restarts > 0).then(|| terminated(1, "Error"));
        ContainerStatus { name: name.into(), state: Some(state), ready, restart_count: restarts, last_state: last, ..Default::default() }
    }

    /// A pod with containers `app` (and init containers `init`), given phase and statuses.
    fn pod(init: &[&str], app: &[&str], phase: &str, init_st: Vec<ContainerStatus>, app_st: Vec<ContainerStatus>, initialized: bool) -> Pod {
        let mut yaml = String::from("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n");
        for c in app {
            yaml.push_str(&format!("  - {{name: {c}, image: alpine}}\n"));
        }
        if !init.is_empty() {
            yaml.push_str("  initContainers:\n");
            for c in init {
                yaml.push_str(&format!("  - {{name: {c}, image: alpine}}\n"));
            }
        }
        let mut p = crate::manifest::load_str(&yaml, "t", crate::Validation::Strict).unwrap().pods.remove(0);
        p.metadata.creation_timestamp = Some(Time(ts("2025-01-01T00:05:00Z")));
        p.spec.as_mut().unwrap().node_name = Some("node1".into());
        let cond = PodCondition { type_: "Initialized".into(), status: if initialized { "True" } else { "False" }.into(), ..Default::default() };
        p.status = Some(PodStatus {
            phase: Some(phase.into()),
            init_container_statuses: (!init_st.is_empty()).then_some(init_st),
            container_statuses: Some(app_st),
            conditions: Some(vec![cond]),
            ..Default::default()
        });
        p
    }

    #[test]
    fn status_column_like_kubectl() {
        let n = ts(NOW);
        let cases: Vec<(&str, Pod, &str, &str, &str)> = vec![
            ("running and ready", pod(&[], &["a"], "Running", vec![], vec![cs("a", running(), true, 0)], true), "1/1", "Running", "0"),
            ("creating", pod(&[], &["a"], "Pending", vec![], vec![cs("a", waiting("ContainerCreating"), false, 0)], true), "0/1", "ContainerCreating", "0"),
            ("completed", pod(&[], &["a"], "Succeeded", vec![], vec![cs("a", terminated(0, "Completed"), false, 0)], true), "0/1", "Completed", "0"),
            ("error", pod(&[], &["a"], "Failed", vec![], vec![cs("a", terminated(2, "Error"), false, 0)], true), "0/1", "Error", "0"),
            ("no reason: exit code", pod(&[], &["a"], "Failed", vec![], vec![cs("a", terminated(7, ""), false, 0)], true), "0/1", "ExitCode:7", "0"),
            (
                "crash loop with restarts",
                pod(&[], &["a"], "Running", vec![], vec![cs("a", waiting("CrashLoopBackOff"), false, 5)], true),
                "0/1",
                "CrashLoopBackOff",
                "5 (5s ago)",
            ),
            (
                "one completed, one running: not ready",
                pod(&[], &["a", "b"], "Running", vec![], vec![cs("a", terminated(0, "Completed"), false, 0), cs("b", running(), true, 0)], true),
                "1/2",
                "NotReady",
                "0",
            ),
            (
                "first init running",
                pod(
                    &["i1", "i2"],
                    &["a"],
                    "Pending",
                    vec![cs("i1", running(), false, 0), cs("i2", waiting("PodInitializing"), false, 0)],
                    vec![cs("a", waiting("PodInitializing"), false, 0)],
                    false,
                ),
                "0/1",
                "Init:0/2",
                "0",
            ),
            (
                "second init running",
                pod(
                    &["i1", "i2"],
                    &["a"],
                    "Pending",
                    vec![cs("i1", terminated(0, "Completed"), false, 0), cs("i2", running(), false, 0)],
                    vec![cs("a", waiting("PodInitializing"), false, 0)],
                    false,
                ),
                "0/1",
                "Init:1/2",
                "0",
            ),
            (
                "init failed",
                pod(&["i1"], &["a"], "Failed", vec![cs("i1", terminated(1, "Error"), false, 0)], vec![cs("a", waiting("PodInitializing"), false, 0)], false),
                "0/1",
                "Init:Error",
                "0",
            ),
            (
                "init crash loop",
                pod(
                    &["i1"],
                    &["a"],
                    "Pending",
                    vec![cs("i1", waiting("CrashLoopBackOff"), false, 2)],
                    vec![cs("a", waiting("PodInitializing"), false, 0)],
                    false,
                ),
                "0/1",
                "Init:CrashLoopBackOff",
                "2 (5s ago)",
            ),
            ("unknown phase keeps its name", pod(&[], &["a"], "Unknown", vec![], vec![cs("a", running(), true, 0)], true), "1/1", "Unknown", "0"),
        ];
        for (what, p, ready, status, restarts) in cases {
            let row = pod_row(&p, n);
            assert_eq!((row.ready.as_str(), row.status.as_str(), row.restarts.as_str()), (ready, status, restarts), "{what}");
            assert_eq!(row.age, "5m", "{what}");
            assert_eq!((row.ip.as_str(), row.node.as_str()), ("<none>", "node1"));
        }
        let mut deleting = pod(&[], &["a"], "Running", vec![], vec![cs("a", running(), true, 0)], true);
        deleting.metadata.deletion_timestamp = Some(Time(n));
        assert_eq!(pod_row(&deleting, n).status, "Terminating");
        let mut ended = pod(&[], &["a"], "Failed", vec![], vec![cs("a", terminated(137, "Error"), false, 0)], true);
        ended.metadata.deletion_timestamp = Some(Time(n));
        assert_eq!(pod_row(&ended, n).status, "Error", "a terminal pod is not Terminating");
    }

    #[test]
    fn ages_like_kubectl() {
        let s = jiff::SignedDuration::from_secs;
        for (secs, want) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (185, "3m5s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600 + 60, "3h1m"),
            (8 * 3600, "8h"),
            (50 * 3600, "2d2h"),
            (72 * 3600, "3d"),
            (10 * 86400, "10d"),
            (800 * 86400, "2y70d"),
            (3000 * 86400, "8y"),
        ] {
            assert_eq!(human_duration(s(secs)), want, "{secs}s");
        }
    }
}

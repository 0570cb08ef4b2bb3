//! Stopping a pod as the kubelet does: preStop, a stop request the guest
//! can observe (wasmpod's SIGTERM), then a kill when the grace period ends.

use std::time::{Duration, Instant};

use crate::harness::{DEADLINE, Harness, container, exit_code, phase, reason, wait_until};

/// A one-container toolbox pod running `script`, with extra spec lines.
fn pod(name: &str, script: &str, spec_extra: &str, container_extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{spec_extra}  containers:\n  - name: main\n    image: alpine\n{container_extra}    command: [\"/bin/sh\", \"-c\", {script}]\n",
        script = serde_json::to_string(script).unwrap()
    )
}

/// Waits until pod `name`'s container `c` runs and has printed `line`.
async fn started_container(h: &Harness, handle: &wasmpod::PodHandle, name: &str, c: &str, line: &str) {
    wait_until(handle, "running", |p| container(p, c).state.as_ref().is_some_and(|s| s.running.is_some())).await;
    let start = Instant::now();
    while !h.stdout(name, c).iter().any(|l| l == line) {
        assert!(start.elapsed() < DEADLINE, "{name}/{c} never printed {line:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn started(h: &Harness, handle: &wasmpod::PodHandle, name: &str, line: &str) {
    started_container(h, handle, name, "main", line).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_term_trap_runs_on_the_stop_request_and_the_guest_exits_on_its_own() {
    let h = Harness::new();
    let handle = h.start(&pod("graceful", "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 1000; done", "", "")).await;
    started(&h, &handle, "graceful", "ready").await;
    let asked = Instant::now();
    handle.stop();
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    let c = container(&out.pod, "main");
    assert_eq!(exit_code(c), Some(0), "{:?}", c.state);
    assert_eq!(reason(c).as_deref(), Some("Completed"));
    assert_eq!(h.stdout("graceful", "main"), ["ready", "bye"]);
    // The sleep woke for the request: nowhere near the 30 s grace period.
    assert!(asked.elapsed() < Duration::from_secs(20), "{:?}", asked.elapsed());
    assert_eq!(phase(&out.pod), "Succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_ignores_the_request_is_killed_when_the_grace_period_ends() {
    let h = Harness::new();
    // The trap notes the request and goes on sleeping.
    let yaml = pod("stubborn", "trap 'echo noted' TERM; echo ready; while true; do sleep 1; done", "  terminationGracePeriodSeconds: 2\n", "");
    let handle = h.start(&yaml).await;
    started(&h, &handle, "stubborn", "ready").await;
    let asked = Instant::now();
    handle.stop();
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    let c = container(&out.pod, "main");
    assert_eq!(exit_code(c), Some(wasmpod::EXIT_KILLED), "{:?}", c.state);
    assert_eq!(h.stdout("stubborn", "main"), ["ready", "noted"]);
    assert!(asked.elapsed() >= Duration::from_secs(2), "killed before the grace period ended: {:?}", asked.elapsed());
    assert_eq!(phase(&out.pod), "Failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_grace_period_kills_at_once() {
    let h = Harness::new();
    let handle = h.start(&pod("now", "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 1000; done", "", "")).await;
    started(&h, &handle, "now", "ready").await;
    handle.stop_with_grace(Duration::ZERO);
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    assert_eq!(exit_code(container(&out.pod, "main")), Some(wasmpod::EXIT_KILLED));
    assert_eq!(h.stdout("now", "main"), ["ready"], "no trap ran: nothing was asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_stop_runs_before_the_stop_request() {
    let h = Harness::new();
    // preStop (a fresh instance of the image, in the container's files)
    // leaves a note the trap then reads: the hook ran first.
    let hook = "    lifecycle:\n      preStop:\n        exec:\n          command: [\"/bin/sh\", \"-c\", \"echo from-pre-stop > /tmp/note\"]\n";
    let yaml = pod("hooked", "trap 'cat /tmp/note; exit 0' TERM; echo ready; while true; do sleep 1000; done", "", hook);
    let handle = h.start(&yaml).await;
    started(&h, &handle, "hooked", "ready").await;
    handle.stop();
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    assert_eq!(h.stdout("hooked", "main"), ["ready", "from-pre-stop"]);
    assert_eq!(exit_code(container(&out.pod, "main")), Some(0));
    // A failing hook is reported and the stop goes on.
    let bad = "    lifecycle:\n      preStop:\n        httpGet:\n          port: 9\n          path: /down\n";
    let handle = h.start(&pod("badhook", "echo ready; sleep 1000", "", bad)).await;
    started(&h, &handle, "badhook", "ready").await;
    handle.stop();
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    assert_eq!(exit_code(container(&out.pod, "main")), Some(wasmpod::EXIT_TERMINATED));
    let events = std::fs::read_to_string(h.pod_dir("badhook").join("events.jsonl")).unwrap();
    assert!(events.contains("\"reason\":\"FailedPreStopHook\""), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_start_runs_beside_the_entrypoint_and_its_failure_stops_the_container() {
    let h = Harness::new();
    // The file appears whole (mv), so the entrypoint never reads it half-written.
    let hook = "    lifecycle:\n      postStart:\n        exec:\n          command: [\"/bin/sh\", \"-c\", \"echo hooked > /tmp/s.part && mv /tmp/s.part /tmp/started\"]\n";
    let yaml = pod("poststart", "while [ ! -f /tmp/started ]; do sleep 0.05; done; cat /tmp/started", "  restartPolicy: Never\n", hook);
    let out = h.run(&yaml).await;
    assert_eq!(h.stdout("poststart", "main"), ["hooked"]);
    assert_eq!(phase(&out.pod), "Succeeded");

    let failing = "    lifecycle:\n      postStart:\n        exec:\n          command: [\"/bin/sh\", \"-c\", \"exit 3\"]\n";
    let yaml = pod("badstart", "echo up; sleep 1000", "  restartPolicy: Never\n", failing);
    let out = h.run(&yaml).await;
    assert_eq!(exit_code(container(&out.pod, "main")), Some(wasmpod::EXIT_TERMINATED));
    assert_eq!(phase(&out.pod), "Failed");
    let events = std::fs::read_to_string(h.pod_dir("badstart").join("events.jsonl")).unwrap();
    assert!(events.contains("\"reason\":\"FailedPostStartHook\"") && events.contains("exited with 3"), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_socket_hooks_fail_as_the_kubelet_fails_them() {
    let h = Harness::new();
    const FAILED: &str =
        "Cannot run handler: invalid handler: &LifecycleHandler{Exec:nil,HTTPGet:nil,TCPSocket:&TCPSocketAction{Port:{0 8080 },Host:,},Sleep:nil,}";
    // postStart: the hook fails, so the container is stopped as for any
    // failed postStart, well before its own exit.
    let post_start = "    lifecycle:\n      postStart:\n        tcpSocket:\n          port: 8080\n";
    let yaml = pod("tcpstart", "echo up; sleep 20; exit 0", "  restartPolicy: Never\n", post_start);
    let out = h.run(&yaml).await;
    assert_eq!(exit_code(container(&out.pod, "main")), Some(wasmpod::EXIT_TERMINATED), "{:?}", out.pod.status);
    assert_eq!(phase(&out.pod), "Failed");
    let events = h.events("tcpstart");
    assert!(events.contains("\"reason\":\"FailedPostStartHook\"") && events.contains(FAILED), "{events}");

    // preStop: the failure is reported and the stop goes on.
    let pre_stop = "    lifecycle:\n      preStop:\n        tcpSocket:\n          port: 8080\n";
    let handle = h.start(&pod("tcpstop", "echo ready; sleep 1000", "", pre_stop)).await;
    started(&h, &handle, "tcpstop", "ready").await;
    handle.stop();
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    assert_eq!(exit_code(container(&out.pod, "main")), Some(wasmpod::EXIT_TERMINATED));
    let events = h.events("tcpstop");
    assert!(events.contains("\"reason\":\"FailedPreStopHook\"") && events.contains(FAILED), "{events}");
}

/// The order of the lines the pod's containers printed, across containers.
fn timeline(h: &Harness, pod: &str) -> Vec<String> {
    let key = format!("default/{pod}");
    h.lines.0.lock().unwrap().iter().filter(|(p, _, s, _)| *p == key && *s == wasmpod::Stream::Stdout).map(|(_, _, _, t)| t.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_sidecars_start_before_later_init_containers_and_stop_after_the_app_in_reverse_order() {
    let h = Harness::new();
    let sidecar = |name: &str| {
        format!(
            "  - name: {name}\n    image: alpine\n    restartPolicy: Always\n    command: [\"/bin/sh\", \"-c\", {}]\n",
            serde_json::to_string(&format!("trap 'echo {name}-stop; exit 0' TERM; echo {name}-up; while true; do sleep 1000; done")).unwrap()
        )
    };
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: sidecars\nspec:\n  restartPolicy: Never\n  initContainers:\n{}{}  - name: setup\n    image: alpine\n    command: [\"/bin/sh\", \"-c\", \"echo setup\"]\n  containers:\n  - name: app\n    image: alpine\n    command: [\"/bin/sh\", \"-c\", \"while [ ! -f /tmp/go ]; do sleep 0.05; done; echo app\"]\n",
        sidecar("first"),
        sidecar("second")
    );
    let handle = h.start(&yaml).await;
    // While the app runs, the sidecars are running and ready.
    let pod = wait_until(&handle, "app running", |p| container(p, "app").state.as_ref().is_some_and(|s| s.running.is_some())).await;
    for s in ["first", "second"] {
        let c = container(&pod, s);
        assert!(c.state.as_ref().unwrap().running.is_some() && c.ready, "{s}: {c:?}");
    }
    assert_eq!(container(&pod, "setup").state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 0);
    // Started is not printed: under load a sidecar's first line can come
    // late. Let the app finish only once both have printed theirs.
    started_container(&h, &handle, "sidecars", "first", "first-up").await;
    started_container(&h, &handle, "sidecars", "second", "second-up").await;
    let (r, _, _) = crate::network::exec(&handle, Some("app"), &["touch", "/tmp/go"]).await;
    assert_eq!(r.unwrap().exit_code, 0);
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    // Started in order: each sidecar is started before the next init
    // container (started, not ready: no startup probe here).
    let events = std::fs::read_to_string(h.pod_dir("sidecars").join("events.jsonl")).unwrap();
    let at = |what: &str| events.find(&format!("Started container {what}\"")).unwrap_or_else(|| panic!("no Started event for {what}: {events}"));
    assert!(at("first") < at("second") && at("second") < at("setup") && at("setup") < at("app"), "{events}");
    // Stopped after the app, in reverse order, each on its stop request.
    let lines = timeline(&h, "sidecars");
    assert!(lines.contains(&"first-up".to_owned()) && lines.contains(&"second-up".to_owned()), "{lines:?}");
    assert_eq!(lines[lines.len() - 3..], ["app", "second-stop", "first-stop"]);
    // The sidecars' exits do not decide the phase: the app succeeded.
    assert_eq!(phase(&out.pod), "Succeeded");
    assert_eq!(exit_code(container(&out.pod, "first")), Some(0));
}

/// Once deletion starts the pod serves no more traffic: its running
/// containers are not ready and Ready and ContainersReady are False while
/// they are still stopping, as the kubelet reports a terminating pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminating_pod_is_not_ready_while_its_containers_stop() {
    let h = Harness::new();
    let yaml = pod("leaving", "trap 'echo noted' TERM; echo ready; while true; do sleep 1; done", "  terminationGracePeriodSeconds: 5\n", "");
    let handle = h.start(&yaml).await;
    started(&h, &handle, "leaving", "ready").await;
    wait_until(&handle, "ready", |p| container(p, "main").ready).await;
    handle.stop();
    let condition = |p: &k8s_openapi::api::core::v1::Pod, kind: &str| {
        p.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|c| c.iter().find(|c| c.type_ == kind)).map(|c| c.status.clone())
    };
    let p = wait_until(&handle, "terminating and not ready", |p| p.metadata.deletion_timestamp.is_some() && !container(p, "main").ready).await;
    assert!(container(&p, "main").state.as_ref().is_some_and(|s| s.running.is_some()), "still stopping: {:?}", container(&p, "main").state);
    assert_eq!(condition(&p, "Ready").as_deref(), Some("False"));
    assert_eq!(condition(&p, "ContainersReady").as_deref(), Some("False"));
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    assert_eq!(exit_code(container(&out.pod, "main")), Some(wasmpod::EXIT_KILLED));
}

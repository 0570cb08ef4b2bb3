//! Probes: every handler for every probe kind, named ports, thresholds,
//! readiness flipping both ways, startup gating, liveness restarts with
//! back-off, exported check functions, wasi:http handler containers, and
//! the seed's two probe examples. One manifest second lasts 100 ms here.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmpod::{PodHandle, Validation, manifest};

use crate::examples::exec;
use crate::harness::{DEADLINE, Harness, container, wait_until};

fn harness() -> Harness {
    Harness::with_config(|c| c.probe_second = Duration::from_millis(100))
}

fn ready(pod: &Pod, name: &str) -> bool {
    container(pod, name).ready
}

fn started(pod: &Pod, name: &str) -> bool {
    container(pod, name).started == Some(true)
}

fn restarts(pod: &Pod, name: &str) -> i32 {
    container(pod, name).restart_count
}

/// Waits until the pod's events contain every one of `texts`.
async fn events_contain(h: &Harness, pod: &str, texts: &[&str]) -> String {
    let start = std::time::Instant::now();
    loop {
        let events = h.events(pod);
        if texts.iter().all(|t| events.contains(t)) {
            return events;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for events {texts:?} in:\n{events}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The JSON-escaped form of `s`, as it appears inside events.jsonl.
fn json(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap();
    quoted[1..quoted.len() - 1].to_owned()
}

async fn start_file(h: &Harness, file: &str, validation: Validation, edit: impl Fn(String) -> String) -> Vec<PodHandle> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let text = edit(std::fs::read_to_string(dir.join(file)).unwrap());
    let m = manifest::load_str(&text, file, validation).unwrap_or_else(|e| panic!("{file}: {e}"));
    let plans = h.runtime.plan(&m, &dir).await.unwrap_or_else(|e| panic!("{file}: {e}"));
    plans.into_iter().map(|p| h.runtime.start(p).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_get_probes_go_through_the_pod_network_with_named_ports() {
    let h = harness();
    let pod = h
        .start(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: httpget}
spec:
  containers:
  - name: web
    image: python:3-alpine
    command: ["sh", "-c", "mkdir -p /srv && touch /srv/ready.txt /srv/alive.txt && python -m http.server 8000 -d /srv"]
    ports: [{name: web, containerPort: 8000}]
    startupProbe: {httpGet: {path: /alive.txt, port: web}, periodSeconds: 1, failureThreshold: 1000}
    readinessProbe: {httpGet: {path: /ready.txt, port: web}, periodSeconds: 1, failureThreshold: 1}
    livenessProbe:
      httpGet: {path: /alive.txt, port: 8000, host: localhost, httpHeaders: [{name: X-Check, value: "yes"}]}
      periodSeconds: 1
      failureThreshold: 2
"#,
        )
        .await;
    wait_until(&pod, "started and ready", |p| started(p, "web") && ready(p, "web")).await;
    exec(&pod, "web", &["rm", "/srv/ready.txt"]).await;
    wait_until(&pod, "unready", |p| !ready(p, "web")).await;
    events_contain(&h, "httpget", &["Readiness probe failed: HTTP probe failed with statuscode: 404"]).await;
    assert_eq!(restarts(&pod.current(), "web"), 0, "readiness failures do not restart");
    exec(&pod, "web", &["touch", "/srv/ready.txt"]).await;
    wait_until(&pod, "ready again", |p| ready(p, "web")).await;
    exec(&pod, "web", &["rm", "/srv/alive.txt"]).await;
    let p = wait_until(&pod, "restarted by liveness", |p| restarts(p, "web") >= 1).await;
    let last = container(&p, "web").last_state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code);
    assert_eq!(last, Some(wasmpod::EXIT_TERMINATED));
    events_contain(&h, "httpget", &["Liveness probe failed: HTTP probe failed with statuscode: 404", "Container web failed liveness probe, will be restarted"])
        .await;
    // The restarted instance recreates the files and becomes ready.
    wait_until(&pod, "ready after the restart", |p| ready(p, "web") && restarts(p, "web") >= 1).await;
    pod.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_socket_probes_gate_on_startup_and_liveness_restarts_with_back_off() {
    let h = harness();
    let pod = h
        .start(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: tcp}
spec:
  containers:
  - name: main
    image: python:3-alpine
    command: ["sh", "-c", "sleep 1; python -m http.server 8000"]
    ports: [{name: web, containerPort: 8000}]
    startupProbe: {tcpSocket: {port: 8000}, periodSeconds: 1, failureThreshold: 1000}
    readinessProbe: {tcpSocket: {port: web}, periodSeconds: 1}
    livenessProbe: {tcpSocket: {port: 9}, periodSeconds: 1, failureThreshold: 2}
"#,
        )
        .await;
    let ip = pod.pod_ip();
    let p = wait_until(&pod, "three restarts", |p| restarts(p, "main") >= 3).await;
    assert_eq!(container(&p, "main").last_state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code), Some(wasmpod::EXIT_TERMINATED));
    let events = events_contain(
        &h,
        "tcp",
        &[
            &format!("Startup probe failed: dial tcp {ip}:8000: connect: connection refused"),
            &format!("Liveness probe failed: dial tcp {ip}:9: connect: connection refused"),
            "Container main failed liveness probe, will be restarted",
            "Back-off restarting failed container main",
        ],
    )
    .await;
    // Liveness is not probed before the startup probe succeeded: every
    // instance's first liveness failure follows its startup success, so
    // there are never more liveness failures than 2 per started instance.
    let liveness_failures: u64 = events
        .lines()
        .filter(|l| l.contains("Liveness probe failed"))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["count"].as_u64().unwrap_or(1))
        .max()
        .unwrap_or(0);
    let p = pod.current();
    assert!(liveness_failures <= 2 * (restarts(&p, "main") as u64 + 1), "{liveness_failures} liveness failures\n{events}");
    pod.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_probes_run_in_the_container_and_time_out() {
    let h = harness();
    let pod = h
        .start(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: execprobe}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: alpine
    command: ["sh", "-c", "sleep 1; touch /tmp/started; sleep 100000"]
    env: [{name: MARK, value: /tmp/ready}]
    startupProbe: {exec: {command: [test, -f, /tmp/started]}, periodSeconds: 1, failureThreshold: 1000}
    readinessProbe: {exec: {command: [sh, -c, "cat $MARK"]}, periodSeconds: 1, failureThreshold: 1}
    livenessProbe: {exec: {command: [sh, -c, "test ! -f /tmp/dead"]}, periodSeconds: 1, failureThreshold: 1}
  - name: slow
    image: alpine
    command: ["sh", "-c", "sleep 100000"]
    readinessProbe: {exec: {command: [sleep, "100"]}, periodSeconds: 1, timeoutSeconds: 1}
"#,
        )
        .await;
    let p = wait_until(&pod, "main running", |p| container(p, "main").state.as_ref().is_some_and(|s| s.running.is_some())).await;
    assert!(!ready(&p, "main"));
    wait_until(&pod, "main started", |p| started(p, "main")).await;
    events_contain(&h, "execprobe", &["Readiness probe failed: ", "/tmp/ready", &json("Readiness probe failed: command \"sleep 100\" timed out")]).await;
    assert!(!ready(&pod.current(), "main"), "ready without /tmp/ready");
    exec(&pod, "main", &["touch", "/tmp/ready"]).await;
    wait_until(&pod, "main ready", |p| ready(p, "main")).await;
    exec(&pod, "main", &["rm", "/tmp/ready"]).await;
    wait_until(&pod, "main unready", |p| !ready(p, "main")).await;
    assert!(!ready(&pod.current(), "slow"), "a timed-out probe is a failure");
    exec(&pod, "main", &["touch", "/tmp/dead"]).await;
    let p = wait_until(&pod, "main killed", |p| container(p, "main").state.as_ref().is_some_and(|s| s.terminated.is_some())).await;
    let t = container(&p, "main").state.as_ref().unwrap().terminated.clone().unwrap();
    assert_eq!((t.exit_code, restarts(&p, "main")), (wasmpod::EXIT_TERMINATED, 0), "restartPolicy Never: stopped, not restarted");
    events_contain(&h, "execprobe", &["Container main failed liveness probe, will be restarted"]).await;
    pod.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasi_http_handler_is_served_and_probed_directly_by_grpc_and_its_exported_check() {
    let h = harness();
    let pod = start_file(&h, "http-handler.yaml", Validation::Strict, |s| s).await.remove(0);
    wait_until(&pod, "2/2 ready", |p| ready(p, "web") && ready(p, "tools")).await;
    // Other containers reach it over the pod network.
    let (code, out) = exec(&pod, "tools", &["curl", "-s", "http://localhost:8080/"]).await;
    assert_eq!((code, out.as_str()), (0, "Hello from a wasi:http handler component in pod http-handler\n"));
    // Unhealthy: every probe of both containers fails, each with its
    // handler's message; readiness drops, liveness (threshold 100000) holds.
    exec(&pod, "tools", &["touch", "/health/down"]).await;
    wait_until(&pod, "0/2 ready", |p| !ready(p, "web") && !ready(p, "tools")).await;
    events_contain(
        &h,
        "http-handler",
        &[
            &json("Readiness probe failed: service unhealthy (responded with \"NOT_SERVING\")"),
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
            "Liveness probe failed: /health/down exists",
            // tools' grpc liveness probe, over h2c through the pod network.
            &json("Liveness probe failed: service unhealthy (responded with \"NOT_SERVING\")"),
        ],
    )
    .await;
    exec(&pod, "tools", &["rm", "/health/down"]).await;
    wait_until(&pod, "2/2 ready again", |p| ready(p, "web") && ready(p, "tools")).await;
    assert_eq!(restarts(&pod.current(), "web"), 0);
    // And from the host through port-forward.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fwd = tokio::spawn(pod.port_forward(listener, 8080, std::sync::Arc::new(|_| {})));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n") && response.contains("\r\nok\n"), "{response}");
    fwd.abort();
    pod.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_readiness_example_is_unready_while_the_server_sleeps() {
    let h = harness();
    // Only the sleep is shortened; the probe's seconds are 100 ms each.
    let pod = start_file(&h, "readiness-probe.yaml", Validation::Strict, |s| s.replace("value: \"45\"", "value: \"3\"")).await.remove(0);
    let p = wait_until(&pod, "Running", |p| container(p, "server").state.as_ref().is_some_and(|s| s.running.is_some())).await;
    assert!(!ready(&p, "server"), "0/1 while the server sleeps");
    let ip = pod.pod_ip();
    events_contain(
        &h,
        "liveness-readiness-pod",
        &[&json(&format!("Readiness probe failed: Get \"http://{ip}:8000/\": dial tcp {ip}:8000: connect: connection refused"))],
    )
    .await;
    let p = wait_until(&pod, "1/1 once it answers", |p| ready(p, "server")).await;
    assert_eq!(restarts(&p, "server"), 0);
    assert!(h.stdout("liveness-readiness-pod", "server").iter().any(|l| l == "Starting server..."));
    pod.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_liveness_example_is_refused_then_restarts_with_validation_off() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let err = manifest::load_file(&dir.join("liveness-probe.yaml"), Validation::Strict).expect_err("refused").to_string();
    for field in ["initialDelaySeconds", "failureThreshold", "httpGet"] {
        assert!(err.contains(&format!("unknown field \"spec.containers[0].{field}\"")), "{err}");
    }
    let h = harness();
    let pod = start_file(&h, "liveness-probe.yaml", Validation::Ignore, |s| s).await.remove(0);
    let p = wait_until(&pod, "restarted twice", |p| restarts(p, "server") >= 2).await;
    assert_eq!(container(&p, "server").last_state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code), Some(wasmpod::EXIT_TERMINATED));
    events_contain(&h, "liveness-readiness-pod", &["Liveness probe failed: ", "index.html", "Container server failed liveness probe, will be restarted"]).await;
    pod.stop();
}

/// A liveness probe's own terminationGracePeriodSeconds replaces the
/// pod's for the kill it causes (the pod's 100 s would outlast the test).
/// The probe fails only once the TERM trap is set: a request that came
/// before it would end the shell with 143 and prove nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_grace_period_replaces_the_pods_for_its_kill() {
    let h = harness();
    let pod = h
        .start(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: probegrace}
spec:
  terminationGracePeriodSeconds: 100
  containers:
  - name: main
    image: alpine
    command: ["sh", "-c", "rm -f /tmp/trapped; trap 'echo noted' TERM; touch /tmp/trapped; while true; do sleep 1; done"]
    livenessProbe: {exec: {command: ["test", "!", "-e", "/tmp/trapped"]}, periodSeconds: 1, failureThreshold: 1, terminationGracePeriodSeconds: 1}
"#,
        )
        .await;
    wait_until(&pod, "main running", |p| container(p, "main").state.as_ref().is_some_and(|s| s.running.is_some())).await;
    let began = std::time::Instant::now();
    let p = wait_until(&pod, "main killed and restarted", |p| restarts(p, "main") >= 1).await;
    assert!(began.elapsed() < Duration::from_secs(30), "killed after {:?}: the pod's grace period was used", began.elapsed());
    let last = container(&p, "main").last_state.as_ref().and_then(|s| s.terminated.clone()).unwrap();
    assert_eq!(last.exit_code, wasmpod::EXIT_KILLED, "the guest ignored the request and was killed when the probe's period ended");
    pod.stop();
}

/// httpGet probes follow redirects to the same host, as the kubelet's do;
/// a redirect to another host ends the chain: the probe passes with a
/// `ProbeWarning` event holding the redirect's body. nginx answers a
/// directory without its slash with a 301 to the Host the client used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probes_follow_redirects_to_their_host_and_warn_of_others() {
    let h = harness();
    let pod = |name: &str, headers: &str| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  initContainers:
  - {{name: page, image: busybox, command: ["sh", "-c", "echo hi > /page/index.html"], volumeMounts: [{{name: page, mountPath: /page}}]}}
  containers:
  - name: web
    image: nginx
    volumeMounts: [{{name: page, mountPath: /usr/share/nginx/html/sub}}]
    readinessProbe: {{httpGet: {{path: /sub, port: 80{headers}}}, periodSeconds: 1}}
  volumes: [{{name: page, emptyDir: {{}}}}]
"#
        )
    };
    let same = h.start(&pod("same-host", "")).await;
    let other = h.start(&pod("other-host", ", httpHeaders: [{name: Host, value: elsewhere.example}]")).await;
    wait_until(&same, "ready through the redirect", |p| ready(p, "web")).await;
    wait_until(&other, "ready despite the redirect", |p| ready(p, "web")).await;
    let events = events_contain(&h, "other-host", &["\"ProbeWarning\"", "Readiness probe warning: Probe terminated redirects, Response body: <html>"]).await;
    assert!(events.contains("301 Moved Permanently"), "{events}");
    assert!(!h.events("same-host").contains("ProbeWarning"), "{}", h.events("same-host"));
    same.stop();
    other.stop();
}

//! The examples in examples/ run as their comments say: the seed's
//! manifests and its multi-container patterns.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmpod::{ExecRequest, PodHandle, Validation, manifest};

use crate::harness::{DEADLINE, Harness, wait_until};

async fn start_example(h: &Harness, file: &str) -> Vec<PodHandle> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let m = manifest::load_file(&dir.join(file), Validation::Strict).unwrap_or_else(|e| panic!("{file}: {e}"));
    let plans = h.runtime.plan(&m, &dir).await.unwrap_or_else(|e| panic!("{file}: {e}"));
    plans.into_iter().map(|p| h.runtime.start(p).unwrap()).collect()
}

fn all_ready(p: &k8s_openapi::api::core::v1::Pod) -> bool {
    p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some_and(|cs| cs.iter().all(|c| c.ready))
}

/// Runs `argv` in `container` and returns (exit code, stdout).
pub async fn exec(pod: &PodHandle, container: &str, argv: &[&str]) -> (i32, String) {
    let (mut out_r, out_w) = tokio::io::duplex(1 << 20);
    let req =
        ExecRequest::new(argv.iter().map(|s| s.to_string()).collect(), Box::new(out_w), Box::new(tokio::io::sink())).in_container(Some(container.to_owned()));
    let outcome = tokio::time::timeout(DEADLINE, pod.exec(req)).await.expect("exec timed out").unwrap();
    let mut out = String::new();
    out_r.read_to_string(&mut out).await.unwrap();
    (outcome.exit_code, out)
}

/// Retries `f` until it returns Some, for things that appear over time.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> F) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_nginx_serves_the_main_containers_log_through_exec_and_port_forward() {
    let h = Harness::new();
    let pod = start_example(&h, "sidecar.yaml").await.remove(0);
    wait_until(&pod, "2/2 ready", all_ready).await;
    // The exercise: exec curl in the sidecar and read the log file.
    let body = eventually("date.log served", || async {
        let (code, out) = exec(&pod, "sidecar-container", &["curl", "-s", "-f", "http://localhost/date.log"]).await;
        (code == 0 && out.contains("UTC")).then_some(out)
    })
    .await;
    assert!(body.lines().all(|l| l.contains("UTC")), "{body}");
    // `apk add curl` answers that curl is already there.
    let (code, out) = exec(&pod, "sidecar-container", &["apk", "add", "curl"]).await;
    assert_eq!((code, out.trim()), (0, "OK: curl is built into the wasmpod toolbox (nothing to install)"));
    // From the host through port-forward.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fwd = tokio::spawn(pod.port_forward(listener, 80, std::sync::Arc::new(|_| {})));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /date.log HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("Content-Type: text/plain"), "{response}");
    assert!(response.ends_with("UTC 2026\n") || response.contains(" UTC "), "{response}");
    fwd.abort();
    // The sidecar's access log is its container log.
    let access = h.stdout("sidecar-pod", "sidecar-container");
    assert!(access.iter().any(|l| l.starts_with("127.0.0.1 - - [") && l.contains("\"GET /date.log HTTP/1.1\" 200 ")), "{access:?}");
    pod.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_environment_variables_manifest_runs_unchanged() {
    let h = Harness::new();
    let pod = start_example(&h, "environment-variables.yaml").await.remove(0);
    wait_until(&pod, "1/1 ready", all_ready).await;
    let (code, out) = exec(&pod, "env-var-container", &["sh", "-c", "echo $BASE_URL $CONNECTION_STRING"]).await;
    assert_eq!((code, out.as_str()), (0, "https://api.company.com/ mongodb://localhost:27017\n"));
    // nginx:1.7.9 serves its default page (once it listens: Ready means
    // running here, as no readiness probe is set).
    eventually("nginx answers 200", || async {
        let (code, out) = exec(&pod, "env-var-container", &["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://localhost/"]).await;
        (code == 0 && out == "200").then_some(())
    })
    .await;
    pod.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_normalizes_the_apps_log_lines() {
    let h = Harness::new();
    let pod = start_example(&h, "adapter.yaml").await.remove(0);
    let line = eventually("a normalized line", || async { h.stdout("adapter-pod", "adapter").into_iter().next() }).await;
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!(v["host"], "adapter-pod");
    assert!(v["time"].as_str().unwrap().ends_with('Z'), "{line}");
    assert!(v["duration_s"].as_f64().unwrap() > 0.0, "{line}");
    pod.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambassador_proxies_localhost_to_the_database_pod() {
    let h = Harness::new();
    let pods = start_example(&h, "ambassador.yaml").await;
    assert_eq!(pods.len(), 2);
    let line = eventually("the app reached the database", || async { h.stdout("ambassador-pod", "app").into_iter().find(|l| l.starts_with('{')) }).await;
    assert_eq!(line, r#"{"records": 3, "served_by": "db"}"#);
    for p in &pods {
        p.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tier_front_reads_the_store_through_its_service_and_others_are_kept_out() {
    let h = Harness::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let m = manifest::load_file(&dir.join("two-tier.yaml"), Validation::Strict).unwrap();
    for policy in &m.network_policies {
        h.runtime.apply_network_policy(policy).unwrap();
    }
    for svc in &m.services {
        h.runtime.apply_service(svc).unwrap();
    }
    let plans = h.runtime.plan(&m, &dir).await.unwrap();
    let pods: Vec<PodHandle> = plans.into_iter().map(|p| h.runtime.start(p).unwrap()).collect();
    let web = pods.iter().find(|p| p.name() == "web").unwrap();
    wait_until(web, "the front running", all_ready).await;
    let page = eventually("the front serves the store's records", || async {
        let (code, out) = exec(web, "server", &["curl", "-s", "http://localhost:8080/"]).await;
        (code == 0 && out.contains("records in the store")).then_some(out)
    })
    .await;
    assert_eq!(page.trim(), "3 records in the store");
    // Only the front gets in: the store's own neighbour pod does not.
    let out = h
        .run("apiVersion: v1\nkind: Pod\nmetadata: {name: outsider}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'curl -sS http://store/records || echo kept out']\n")
        .await;
    assert_eq!(crate::harness::phase(&out.pod), "Succeeded");
    assert_eq!(h.stdout("outsider", "c"), ["kept out"]);
    for p in &pods {
        p.stop();
    }
}

//! Pod IPC between containers: queues through the toolbox's `ipc` command
//! (a component using the `wasmpod:ipc` WIT) and through the `wasmpod_ipc`
//! core imports of a wasip1 module; the benchmark guest checks order and
//! atomics under load.

use std::path::Path;

use wasmpod::IpcObjectKind;

use crate::harness::{Harness, container, exit_code, guest, phase, shell_pod};

/// A pod whose containers each run a toolbox shell script.
fn shell_containers(name: &str, policy: &str, containers: &[(&str, &str)]) -> String {
    let mut y = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: {policy}\n  containers:\n");
    for (c, script) in containers {
        y += &format!("  - name: {c}\n    image: alpine\n    command: [\"/bin/sh\", \"-c\", {}]\n", serde_json::to_string(script).unwrap());
    }
    y
}

fn ipcbench() -> String {
    Path::new(wasmpod::testing::GUESTS_DIR).join("ipcbench.wasm").display().to_string()
}

fn all_lines(h: &Harness) -> String {
    format!("{:?}", h.lines.0.lock().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_consumer_example_delivers_every_job_in_order() {
    let h = Harness::new();
    let m = wasmpod::manifest::load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/producer-consumer.yaml"), wasmpod::Validation::Strict).unwrap();
    let mut plans = h.runtime.plan(&m, h.base()).await.unwrap();
    let out = tokio::time::timeout(crate::harness::DEADLINE, h.runtime.start(plans.remove(0)).unwrap().wait()).await.unwrap();
    assert_eq!(phase(&out.pod), "Succeeded", "{}", all_lines(&h));
    let mut want: Vec<String> = (1..=20).map(|i| format!("processed job-{i}")).collect();
    want.push("consumer finished 20 jobs".into());
    assert_eq!(h.stdout("work-queue", "consumer"), want);
    assert_eq!(h.stdout("work-queue", "producer"), ["queued 20 jobs"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_receive_wakes_when_another_container_sends() {
    let h = Harness::new();
    // The receiver waits without a timeout: only the send can end it.
    let yaml = shell_containers("wake", "Never", &[("receiver", "ipc recv inbox; echo received"), ("sender", "sleep 0.3; ipc send inbox 'hello there'")]);
    let out = h.run(&yaml).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{}", all_lines(&h));
    assert_eq!(h.stdout("wake", "receiver"), ["hello there", "received"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_pushes_back_and_a_timeout_expires() {
    let h = Harness::new();
    let script = "ipc send -c 2 small a; ipc send small b; \
                  ipc send -t 0 small c; echo \"full: $?\"; \
                  ipc send -t 0.2 small c; echo \"full after waiting: $?\"; \
                  ipc stat small; \
                  ipc recv small; ipc send -t 0 small c && echo 'room again'; \
                  ipc recv small; ipc recv small; \
                  ipc recv --timeout 0.2 small; echo \"empty: $?\"";
    let out = h.run(&shell_pod("full", "Never", script)).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{}", all_lines(&h));
    assert_eq!(
        h.stdout("full", "main"),
        ["full: 1", "full after waiting: 1", "small depth 2 bytes 2 capacity 2 max-message-size 65536", "a", "room again", "b", "c", "empty: 1"]
    );
    let errors = h.lines_of("full", "main", wasmpod::Stream::Stderr);
    assert_eq!(errors, ["ipc: send small: would block", "ipc: send small: timed out", "ipc: recv small: timed out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_container_finds_the_pods_objects() {
    let h = Harness::new();
    // First run: queue a message and fail. The restart (same pod, fresh
    // instance) finds the queue with the message still in it.
    let script = "if [ -f /tmp/ran ]; then ipc recv -t 30 kept; else touch /tmp/ran; ipc send kept 'from the first run'; exit 3; fi";
    let out = h.run(&shell_pod("restart", "OnFailure", script)).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{}", all_lines(&h));
    assert_eq!(container(&out.pod, "main").restart_count, 1);
    assert_eq!(h.stdout("restart", "main"), ["from the first run"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_pods_cannot_open_them_and_deleting_the_pod_removes_them() {
    let h = Harness::new();
    let a = h.start(&shell_pod("owner", "Never", "ipc send private secret; sleep 3600")).await;
    let ipc = a.ipc();
    // Wait until the queue exists (a guest action, not a status change).
    let started = std::time::Instant::now();
    while ipc.objects().is_empty() {
        assert!(started.elapsed() < crate::harness::DEADLINE, "the queue never appeared: {}", all_lines(&h));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let objects = a.ipc_objects();
    assert_eq!(objects.len(), 1);
    assert_eq!(
        (objects[0].kind, objects[0].name.as_str(), objects[0].depth, objects[0].bytes, objects[0].capacity),
        (IpcObjectKind::Queue, "private", 1, 6, 256)
    );

    // Another pod: the name means nothing there.
    let out = h.run(&shell_pod("other", "Never", "ipc stat private; echo \"stat: $?\"; ipcs")).await;
    assert_eq!(phase(&out.pod), "Succeeded");
    let stdout = h.stdout("other", "main");
    assert_eq!(stdout[0], "stat: 1", "{stdout:?}");
    assert_eq!(stdout.len(), 2, "the other pod lists no objects: {stdout:?}");
    assert_eq!(h.lines_of("other", "main", wasmpod::Stream::Stderr), ["ipc: stat private: not found in this pod"]);

    // In the owner pod, ipcs lists it.
    let (code, listing) = crate::examples::exec(&a, "main", &["ipcs"]).await;
    assert_eq!(code, 0);
    let rows: Vec<Vec<&str>> = listing.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows, [vec!["queue", "private", "6", "1", "256", "65536"]]);

    a.stop();
    let end = tokio::time::timeout(crate::harness::DEADLINE, a.wait()).await.unwrap();
    assert_eq!(exit_code(container(&end.pod, "main")), Some(wasmpod::EXIT_TERMINATED));
    assert!(ipc.objects().is_empty(), "objects left after the pod ended: {:?}", ipc.objects());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasip1_module_and_a_component_talk_over_a_queue() {
    let h = Harness::new();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: mixed\nspec:\n  restartPolicy: Never\n  containers:\n  - name: module\n    image: {}\n  - name: component\n    image: alpine\n    command: [\"/bin/sh\", \"-c\", \"ipc send to-module 'hello core module' && ipc recv -t 60 from-module\"]\n",
        guest("ipc-echo.wat")
    );
    let out = h.run(&yaml).await;
    assert_eq!(exit_code(container(&out.pod, "module")), Some(0), "{}", all_lines(&h));
    assert_eq!(exit_code(container(&out.pod, "component")), Some(0), "{}", all_lines(&h));
    assert_eq!(h.stdout("mixed", "component"), ["hello core module"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_atomics_between_two_rust_guests() {
    let h = Harness::new();
    let bench = ipcbench();
    let pod = |name: &str, a: &str, b: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: a\n    image: {bench}\n    args: {a}\n  - name: b\n    image: {bench}\n    args: {b}\n"
        )
    };
    // 20,000 numbered messages through a 1024-deep queue: the receiver
    // checks every number and size, across batch and single calls.
    let out = h.run(&pod("batch", r#"["send", "q", "24", "20000", "64"]"#, r#"["recv", "q", "24", "20000", "1"]"#)).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{}", all_lines(&h));
    let out = h.run(&pod("single", r#"["send", "q", "3", "5000", "1"]"#, r#"["recv", "q", "3", "5000", "100"]"#)).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{}", all_lines(&h));
    let out = h.run(&pod("pingpong", r#"["ping", "req", "rep", "1024", "500"]"#, r#"["pong", "req", "rep", "1024", "500"]"#)).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{}", all_lines(&h));
    // Two containers add concurrently; the later one checks the total.
    let out = h.run(&pod("atomics", r#"["atomics", "counter", "50000"]"#, r#"["atomics", "counter", "50000"]"#)).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{}", all_lines(&h));
    let totals: Vec<String> = ["a", "b"].iter().flat_map(|c| h.stdout("atomics", c)).filter(|l| l.starts_with("total")).collect();
    assert_eq!(totals, ["total 100000"]);
}

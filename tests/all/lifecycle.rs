//! Exit codes to phases under the three restart policies, restarts with
//! back-off, init containers, traps, and stopping a pod.

use crate::harness::*;

#[tokio::test]
async fn never_exit_zero_succeeds_and_nonzero_fails() {
    let h = Harness::new();
    let ok = h.run(&shell_pod("ok", "Never", "echo done")).await;
    assert_eq!(phase(&ok.pod), "Succeeded");
    let c = container(&ok.pod, "main");
    assert_eq!((exit_code(c), reason(c).as_deref(), c.restart_count), (Some(0), Some("Completed"), 0));

    let bad = h.run(&shell_pod("bad", "Never", "echo failing; exit 3")).await;
    assert_eq!(phase(&bad.pod), "Failed");
    let c = container(&bad.pod, "main");
    assert_eq!((exit_code(c), reason(c).as_deref(), c.restart_count), (Some(3), Some("Error"), 0));
    assert_eq!(h.stdout("bad", "main"), vec!["failing"]);
}

#[tokio::test]
async fn on_failure_restarts_until_success_keeping_the_root_filesystem() {
    let h = Harness::new();
    let script = "if [ -f /marker ]; then echo second; exit 0; fi; touch /marker; echo first; exit 3";
    let out = h.run(&shell_pod("flaky", "OnFailure", script)).await;
    assert_eq!(phase(&out.pod), "Succeeded");
    let c = container(&out.pod, "main");
    assert_eq!(c.restart_count, 1);
    assert_eq!(exit_code(c), Some(0));
    let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref()).expect("lastState.terminated");
    assert_eq!(last.exit_code, 3);
    assert_eq!(h.stdout("flaky", "main"), vec!["first", "second"]);
    // Both instances' logs are kept (current and previous), CRI format.
    let dir = h.pod_dir("flaky").join("logs/main");
    assert!(std::fs::read_to_string(dir.join("0.log")).unwrap().contains(" stdout F first"));
    assert!(std::fs::read_to_string(dir.join("1.log")).unwrap().contains(" stdout F second"));
    // The writable layer is removed once the pod ended.
    assert!(!h.pod_dir("flaky").join("rootfs").exists());
}

#[tokio::test]
async fn on_failure_does_not_restart_a_success_and_never_does_not_restart_a_failure() {
    let h = Harness::new();
    let out = h.run(&shell_pod("once", "OnFailure", "exit 0")).await;
    assert_eq!((phase(&out.pod), container(&out.pod, "main").restart_count), ("Succeeded", 0));
    let out = h.run(&shell_pod("never", "Never", "exit 1")).await;
    assert_eq!((phase(&out.pod), container(&out.pod, "main").restart_count), ("Failed", 0));
}

#[tokio::test]
async fn always_restarts_with_crash_loop_back_off_and_stays_running() {
    let h = Harness::new();
    let handle = h.start(&shell_pod("looping", "Always", "echo run; exit 0")).await;
    // First restart is immediate, the next ones wait (100ms, 200ms...):
    // the container shows CrashLoopBackOff with the kubelet's message.
    let pod = wait_until(&handle, "CrashLoopBackOff", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c[0].state.as_ref())
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            == Some("CrashLoopBackOff")
    })
    .await;
    assert_eq!(phase(&pod), "Running", "Always keeps the pod Running while it restarts");
    let c = container(&pod, "main");
    let msg = c.state.as_ref().unwrap().waiting.as_ref().unwrap().message.clone().unwrap();
    assert!(msg.starts_with("back-off 100ms restarting failed container=main pod=looping_default("), "{msg}");
    assert_eq!(c.last_state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 0);
    let pod = wait_until(&handle, "3 restarts", |p| container(p, "main").restart_count >= 3).await;
    assert_eq!(phase(&pod), "Running");
    handle.stop();
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    // The deletion rule: Succeeded only if every container's last run
    // exited 0. Stopped while running it was terminated (143): Failed; stopped
    // while waiting in back-off its last exit was 0: Succeeded.
    let c = container(&out.pod, "main");
    let expected = if exit_code(c) == Some(wasmpod::EXIT_TERMINATED) { "Failed" } else { "Succeeded" };
    assert_eq!(phase(&out.pod), expected, "{:?}", c.state);
    let events = std::fs::read_to_string(h.pod_dir("looping").join("events.jsonl")).unwrap();
    assert!(events.contains("\"reason\":\"BackOff\""));
    assert!(events.contains("\"reason\":\"Started\""));
}

#[tokio::test]
async fn stopping_terminates_a_guest_that_does_not_handle_the_request_with_143() {
    let h = Harness::new();
    let handle = h.start(&shell_pod("sleeper", "Always", "echo up; sleep 1000")).await;
    wait_until(&handle, "running", |p| container(p, "main").state.as_ref().is_some_and(|s| s.running.is_some())).await;
    handle.stop();
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    let c = container(&out.pod, "main");
    // sh without a TERM trap dies of the request, as of SIGTERM.
    assert_eq!(exit_code(c), Some(wasmpod::EXIT_TERMINATED));
    assert_eq!(phase(&out.pod), "Failed");
    // The record on disk is the final one.
    let rec: k8s_openapi::api::core::v1::Pod = serde_json::from_slice(&std::fs::read(h.pod_dir("sleeper").join("pod.json")).unwrap()).unwrap();
    assert_eq!(phase(&rec), "Failed");
}

#[tokio::test]
async fn a_multi_container_pod_fails_if_any_container_fails_under_never() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: mixed}
spec:
  restartPolicy: Never
  containers:
  - {name: good, image: alpine, command: ["sh", "-c", "exit 0"]}
  - {name: bad, image: alpine, command: ["sh", "-c", "sleep 0.2; exit 7"]}
"#;
    let out = h.run(yaml).await;
    assert_eq!(phase(&out.pod), "Failed");
    assert_eq!(exit_code(container(&out.pod, "good")), Some(0));
    assert_eq!(exit_code(container(&out.pod, "bad")), Some(7));
    let ready = out.pod.status.as_ref().unwrap().conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Ready").unwrap().clone();
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("False", Some("PodFailed")));
}

#[tokio::test]
async fn init_containers_run_in_order_before_app_containers_and_share_volumes() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: inits}
spec:
  restartPolicy: Never
  volumes: [{name: shared, emptyDir: {}}]
  initContainers:
  - {name: one, image: busybox, command: ["sh", "-c", "echo one >> /v/order"], volumeMounts: [{name: shared, mountPath: /v}]}
  - {name: two, image: busybox, command: ["sh", "-c", "echo two >> /v/order"], volumeMounts: [{name: shared, mountPath: /v}]}
  containers:
  - {name: app, image: alpine, command: ["sh", "-c", "cat /data/order; echo x > /data/ro"], volumeMounts: [{name: shared, mountPath: /data, readOnly: true}]}
"#;
    let out = h.run(yaml).await;
    assert_eq!(h.stdout("inits", "app"), vec!["one", "two"]);
    // The read-only mount refused the write: the script's last command failed.
    assert_eq!(exit_code(container(&out.pod, "app")), Some(1));
    assert_eq!(phase(&out.pod), "Failed");
    assert!(h.lines_of("inits", "app", wasmpod::Stream::Stderr).iter().any(|l| l.contains("/data/ro")));
}

#[tokio::test]
async fn a_failed_init_container_fails_the_pod_under_never_and_app_containers_never_start() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: badinit}
spec:
  restartPolicy: Never
  initContainers:
  - {name: setup, image: busybox, command: ["sh", "-c", "exit 2"]}
  containers:
  - {name: app, image: alpine, command: ["sh", "-c", "echo should not run"]}
"#;
    let out = h.run(yaml).await;
    assert_eq!(phase(&out.pod), "Failed");
    assert_eq!(exit_code(container(&out.pod, "setup")), Some(2));
    assert_eq!(reason(container(&out.pod, "app")).as_deref(), Some("PodInitializing"));
    assert!(h.stdout("badinit", "app").is_empty());
}

#[tokio::test]
async fn core_modules_run_and_report_their_exit_code_and_traps_map_to_134() {
    let h = Harness::new();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: core}}\nspec:\n  restartPolicy: Never\n  containers:\n  - {{name: bye, image: \"file://{}\"}}\n  - {{name: boom, image: \"{}\"}}\n",
        guest("exit42.wat"),
        guest("trap.wat")
    );
    let out = h.run(&yaml).await;
    assert_eq!(exit_code(container(&out.pod, "bye")), Some(42));
    assert_eq!(h.stdout("core", "bye"), vec!["core module says bye"]);
    let boom = container(&out.pod, "boom");
    assert_eq!(exit_code(boom), Some(wasmpod::EXIT_TRAPPED));
    let msg = boom.state.as_ref().unwrap().terminated.as_ref().unwrap().message.clone().unwrap();
    assert!(msg.contains("unreachable"), "{msg}");
    assert_eq!(phase(&out.pod), "Failed");
}

#[tokio::test]
async fn a_second_start_of_a_running_pod_is_refused() {
    let h = Harness::new();
    let first = h.start(&shell_pod("twice", "Always", "sleep 1000")).await;
    let m = wasmpod::manifest::load_str(&shell_pod("twice", "Always", "sleep 1000"), "t.yaml", wasmpod::Validation::Strict).unwrap();
    let plan = h.runtime.plan(&m, h.base()).await.unwrap().remove(0);
    let err = h.runtime.start(plan).err().expect("second start must fail").to_string();
    assert!(err.starts_with("pod \"default/twice\" is already running from state directory"), "{err}");
    first.stop();
    first.wait().await;
}

#[tokio::test]
async fn the_second_start_of_an_image_loads_it_from_the_compile_cache() {
    let cache = tempfile::tempdir().unwrap();
    let pulled = |h: &Harness, pod: &str| {
        let events = std::fs::read_to_string(h.pod_dir(pod).join("events.jsonl")).unwrap();
        events.lines().find(|l| l.contains("\"reason\":\"Pulled\"")).expect("a Pulled event").to_owned()
    };
    let first = Harness::with_cache(cache.path().to_owned());
    first.run(&shell_pod("cold", "Never", "true")).await;
    assert!(pulled(&first, "cold").contains("Successfully pulled image \\\"alpine\\\" in "), "{}", pulled(&first, "cold"));
    assert!(pulled(&first, "cold").contains("(builtin toolbox: component of "), "{}", pulled(&first, "cold"));
    assert!(pulled(&first, "cold").contains(" bytes, compiled)"), "{}", pulled(&first, "cold"));
    // A new process (here: a new runtime) finds the compiled image on disk.
    let second = Harness::with_cache(cache.path().to_owned());
    second.run(&shell_pod("warm", "Never", "true")).await;
    assert!(pulled(&second, "warm").contains("loaded from the compile cache"), "{}", pulled(&second, "warm"));
    // And the same runtime reuses the loaded program.
    second.run(&shell_pod("hot", "Never", "true")).await;
    assert!(pulled(&second, "hot").contains("already loaded"), "{}", pulled(&second, "hot"));
}

#[tokio::test]
async fn a_container_sees_only_its_own_root_directory() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: fs}
spec:
  restartPolicy: Never
  containers:
  - name: a
    image: alpine
    command: ["sh", "-c", "echo mine > /owned-by-a; ls -a /; cd /../../..; pwd; ls /; cat /etc/passwd || echo no-passwd"]
  - name: b
    image: alpine
    command: ["sh", "-c", "sleep 0.2; cat /owned-by-a || echo not-visible"]
"#;
    let out = h.run(yaml).await;
    assert_eq!(phase(&out.pod), "Succeeded");
    // `/` is the container's own empty writable layer (with /tmp, /dev
    // holding the termination message file and /etc the kubelet's hosts
    // and hostname): no host directories, and `..` above the root stays
    // at the root.
    assert_eq!(h.stdout("fs", "a"), vec![".", "..", "dev", "etc", "owned-by-a", "tmp", "/", "dev", "etc", "owned-by-a", "tmp", "no-passwd"]);
    assert_eq!(h.stdout("fs", "b"), vec!["not-visible"]);
}

/// A log tap that panics on one line: the panic unwinds through the
/// guest's write into the container's worker, the runtime bug this test
/// stands for. The pod must still end, with that container Terminated 128.
struct PanickingTap;

impl wasmpod::LogTap for PanickingTap {
    fn line(&self, _pod: &str, _container: &str, _stream: wasmpod::Stream, text: &str) {
        if text == "boom" {
            panic!("tap failure (intended by the test)");
        }
    }
}

#[tokio::test]
async fn a_panicking_worker_ends_its_container_instead_of_hanging_the_pod() {
    let h = Harness::with_tap(std::sync::Arc::new(PanickingTap));
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: panicky}
spec:
  restartPolicy: Never
  containers:
  - {name: bad, image: alpine, command: ["sh", "-c", "echo boom; sleep 1000"]}
  - {name: good, image: alpine, command: ["sh", "-c", "echo fine"]}
"#;
    let out = h.run(yaml).await;
    let bad = container(&out.pod, "bad");
    assert_eq!(exit_code(bad), Some(128));
    let msg = bad.state.as_ref().unwrap().terminated.as_ref().unwrap().message.clone().unwrap();
    assert!(msg.starts_with("internal error in wasmpod's container worker"), "{msg}");
    assert_eq!(exit_code(container(&out.pod, "good")), Some(0));
    assert_eq!(phase(&out.pod), "Failed");
}

/// The API server's QoS class is in the status from the pod's first record
/// to its last.
#[tokio::test]
async fn the_qos_class_is_in_the_status() {
    let h = Harness::new();
    let qos = |pod: &k8s_openapi::api::core::v1::Pod| pod.status.as_ref().and_then(|s| s.qos_class.clone());
    let sized = |name: &str, init: &str, main: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  initContainers:\n  - name: init\n    image: alpine\n    command: [\"/bin/sh\", \"-c\", \"exit 0\"]\n    resources: {init}\n  containers:\n  - name: main\n    image: alpine\n    command: [\"/bin/sh\", \"-c\", \"exit 0\"]\n    resources: {main}\n"
        )
    };
    let handle = h.start(&sized("guaranteed", "{limits: {cpu: 100m, memory: 128Mi}}", "{limits: {cpu: 500m, memory: 128Mi}}")).await;
    assert_eq!(qos(&handle.current()).as_deref(), Some("Guaranteed"));
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    assert_eq!(qos(&out.pod).as_deref(), Some("Guaranteed"));
    // The init container asks for less than it may use.
    let out = h.run(&sized("burstable", "{requests: {memory: 64Mi}}", "{limits: {cpu: 500m, memory: 128Mi}}")).await;
    assert_eq!(qos(&out.pod).as_deref(), Some("Burstable"));
    let out = h.run(&shell_pod("besteffort", "Never", "exit 0")).await;
    assert_eq!(qos(&out.pod).as_deref(), Some("BestEffort"));
}

/// `PodReadyToStartContainers` of `pod`: its status.
fn ready_to_start(pod: &k8s_openapi::api::core::v1::Pod) -> String {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    conditions.into_iter().find(|c| c.type_ == "PodReadyToStartContainers").map(|c| c.status).unwrap_or_default()
}

/// The kubelet reports the sandbox gone once it stopped it: when the pod
/// ended under its restart policy, or was deleted and its containers
/// stopped.
#[tokio::test]
async fn ready_to_start_containers_turns_false_once_the_sandbox_is_gone() {
    let h = Harness::new();
    let out = h.run(&shell_pod("ended", "Never", "exit 0")).await;
    assert_eq!(ready_to_start(&out.pod), "False", "{:?}", out.pod.status);
    let recorded: k8s_openapi::api::core::v1::Pod = serde_json::from_slice(&std::fs::read(h.pod_dir("ended").join("pod.json")).unwrap()).unwrap();
    assert_eq!(ready_to_start(&recorded), "False");

    let handle = h.start(&shell_pod("deleted", "Always", "echo up; sleep 1000")).await;
    let running = wait_until(&handle, "running", |p| container(p, "main").state.as_ref().is_some_and(|s| s.running.is_some())).await;
    assert_eq!(ready_to_start(&running), "True");
    handle.stop();
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    assert_eq!(ready_to_start(&out.pod), "False", "{:?}", out.pod.status);
}

/// `activeDeadlineSeconds`: the kubelet stops the pod (init containers
/// too) and it ends Failed with reason `DeadlineExceeded`, its message and
/// a Normal event; no later container starts.
#[tokio::test]
async fn a_pod_past_its_active_deadline_ends_failed_deadline_exceeded() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: late}
spec:
  activeDeadlineSeconds: 1
  restartPolicy: Never
  initContainers:
  - {name: slow-init, image: alpine, command: ["sh", "-c", "echo waiting; sleep 3600"]}
  containers:
  - {name: app, image: alpine, command: ["sh", "-c", "echo never"]}
"#;
    let began = std::time::Instant::now();
    let out = tokio::time::timeout(DEADLINE, h.run(yaml)).await.expect("the deadline ended the pod");
    assert!(began.elapsed() >= std::time::Duration::from_secs(1), "ended before its deadline: {:?}", began.elapsed());
    let st = out.pod.status.as_ref().unwrap();
    assert_eq!(phase(&out.pod), "Failed");
    assert_eq!(st.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(st.message.as_deref(), Some("Pod was active on the node longer than the specified deadline"));
    let init = &st.init_container_statuses.as_ref().unwrap()[0];
    assert!(init.state.as_ref().and_then(|s| s.terminated.as_ref()).is_some(), "the init container was stopped: {init:?}");
    let app = container(&out.pod, "app");
    assert!(app.state.as_ref().and_then(|s| s.terminated.as_ref()).is_none(), "the app container never ran: {app:?}");
    let events = h.events("late");
    assert!(events.contains("\"reason\":\"DeadlineExceeded\"") && events.contains("\"type\":\"Normal\""), "{events}");
}

/// Termination messages (Kubernetes' e2e runtime.go "should report
/// termination message ..."): the file at terminationMessagePath (default
/// /dev/termination-log, also for non-root users, custom paths and
/// read-only roots) becomes state.terminated.message; with
/// FallbackToLogsOnError a failed container without one reports its
/// log's tail, a succeeded one nothing.
#[tokio::test]
async fn termination_messages_come_from_the_file_or_the_logs() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: messages}
spec:
  restartPolicy: Never
  containers:
  - name: default-path
    image: busybox
    securityContext: {runAsUser: 1000}
    command: ["sh", "-c", "echo -n DONE > /dev/termination-log; exit 3"]
  - name: custom-path
    image: busybox
    terminationMessagePath: /tmp/status/message
    command: ["sh", "-c", "mkdir -p /tmp/status; echo -n custom > /tmp/status/message"]
  - name: read-only-root
    image: busybox
    securityContext: {readOnlyRootFilesystem: true}
    command: ["sh", "-c", "echo -n from a read-only root > /dev/termination-log"]
  - name: fallback
    image: busybox
    terminationMessagePolicy: FallbackToLogsOnError
    command: ["sh", "-c", "echo first; echo oops >&2; exit 1"]
  - name: fallback-ok
    image: busybox
    terminationMessagePolicy: FallbackToLogsOnError
    command: ["sh", "-c", "echo fine"]
"#;
    let out = h.run(yaml).await;
    let message = |name: &str| container(&out.pod, name).state.as_ref().and_then(|s| s.terminated.as_ref()).and_then(|t| t.message.clone());
    assert_eq!(message("default-path").as_deref(), Some("DONE"));
    assert_eq!(exit_code(container(&out.pod, "default-path")), Some(3));
    assert_eq!(message("custom-path").as_deref(), Some("custom"));
    assert_eq!(message("read-only-root").as_deref(), Some("from a read-only root"));
    assert_eq!(message("fallback").as_deref(), Some("first\noops\n"));
    assert_eq!(message("fallback-ok"), None);
}

/// A native sidecar has started, in the kubelet's sense, once its
/// postStart hook finished (and its startup probe passed): only then does
/// the next init container start. Four pods at once, so the order holds
/// under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_init_container_waits_for_a_sidecars_post_start_hook() {
    let h = Harness::new();
    let pod = |i: usize| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: hooked-{i}}}
spec:
  restartPolicy: Never
  volumes: [{{name: shared, emptyDir: {{}}}}]
  initContainers:
  - name: sidecar
    image: busybox
    restartPolicy: Always
    command: ["sh", "-c", "while true; do sleep 1; done"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
    lifecycle: {{postStart: {{exec: {{command: ["sh", "-c", "sleep 1; touch /shared/hooked"]}}}}}}
  - name: check
    image: busybox
    command: ["sh", "-c", "test -f /shared/hooked"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  containers:
  - {{name: app, image: busybox, command: ["true"]}}
"#
        )
    };
    let mut handles = Vec::new();
    for i in 0..4 {
        handles.push(h.start(&pod(i)).await);
    }
    for (i, handle) in handles.into_iter().enumerate() {
        let out = tokio::time::timeout(DEADLINE, handle.wait()).await.expect("the pod ended");
        let check = &out.pod.status.as_ref().unwrap().init_container_statuses.as_ref().unwrap()[1];
        assert_eq!(exit_code(check), Some(0), "pod {i}: the next init container ran before the sidecar's postStart finished");
        assert_eq!(phase(&out.pod), "Succeeded", "pod {i}");
    }
}

/// The files the kubelet manages: /etc/hosts (localhost, the pod's IP with
/// its hostname and subdomain, hostAliases) and /etc/hostname (resolv.conf
/// below).
#[tokio::test]
async fn every_container_gets_the_kubelets_hosts_and_hostname_files() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: etc-files}
spec:
  restartPolicy: Never
  hostname: web
  subdomain: sub
  hostAliases: [{ip: 1.2.3.4, hostnames: [foo.local, bar.local]}]
  containers:
  - {name: main, image: busybox, command: ["sh", "-c", "cat /etc/hosts; cat /etc/hostname"]}
"#;
    let out = h.run(yaml).await;
    let ip = out.pod.status.as_ref().unwrap().pod_ip.clone().unwrap();
    let lines = h.stdout("etc-files", "main");
    assert_eq!(lines.first().map(String::as_str), Some("# Kubernetes-managed hosts file."));
    assert!(lines.contains(&"127.0.0.1\tlocalhost".to_owned()), "{lines:?}");
    assert!(lines.contains(&format!("{ip}\tweb.sub.default.svc.cluster.local\tweb")), "{lines:?}");
    assert!(lines.contains(&"1.2.3.4\tfoo.local\tbar.local".to_owned()), "{lines:?}");
    assert_eq!(lines.last().map(String::as_str), Some("web"));
}

/// /etc/resolv.conf as the kubelet forms it from dnsPolicy and dnsConfig,
/// and hostAliases that resolve as /etc/hosts lists them.
#[tokio::test]
async fn resolv_conf_follows_dns_policy_and_host_aliases_resolve() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: dns-none}
spec:
  restartPolicy: Never
  dnsPolicy: "None"
  dnsConfig:
    nameservers: [192.0.2.1]
    searches: [ns1.svc.cluster-domain.example, my.dns.search.suffix]
    options: [{name: ndots, value: "2"}, {name: edns0}]
  containers:
  - {name: main, image: busybox, command: ["cat", "/etc/resolv.conf"]}
"#;
    h.run(yaml).await;
    assert_eq!(h.stdout("dns-none", "main"), ["search ns1.svc.cluster-domain.example my.dns.search.suffix", "nameserver 192.0.2.1", "options ndots:2 edns0"]);

    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: aliased, namespace: shop}
spec:
  restartPolicy: Never
  hostAliases: [{ip: 127.0.0.1, hostnames: [foo.local, bar.local]}]
  containers:
  - {name: web, image: nginx}
  - name: client
    image: busybox
    command: ["sh", "-c", "head -n 1 /etc/resolv.conf; grep nameserver /etc/resolv.conf; tail -n 1 /etc/resolv.conf; for i in $(seq 1 100); do nc -z bar.local 80 && echo reached && exit 0; sleep 0.1; done; exit 1"]
"#;
    let handle = h.start(yaml).await;
    let p = wait_until(&handle, "the client ended", |p| exit_code(container(p, "client")).is_some()).await;
    handle.stop();
    let lines: Vec<String> = h.lines.0.lock().unwrap().iter().filter(|l| l.0 == "shop/aliased" && l.1 == "client").map(|l| l.3.clone()).collect();
    assert_eq!(exit_code(container(&p, "client")), Some(0), "{lines:?}");
    // ClusterFirst: the cluster's search domains, the cluster DNS
    // server, ndots:5.
    assert!(lines[0].starts_with("search shop.svc.cluster.local svc.cluster.local cluster.local"), "{lines:?}");
    assert_eq!(lines[1..], ["nameserver 10.96.0.10", "options ndots:5", "reached"]);
}

/// The user chooses how instances get their memories: on demand (small
/// devices, emulators) or a pool of a given size; pods run the same.
#[tokio::test]
async fn pods_run_with_instances_mapped_on_demand_or_from_a_chosen_pool() {
    for (choice, slots) in [(wasmpod::InstanceAllocation::OnDemand, 0), (wasmpod::InstanceAllocation::Pool(8), 8)] {
        let h = Harness::with_config(|c| c.instance_allocation = choice);
        assert_eq!(h.runtime.allocation().slots, slots, "{:?}", h.runtime.allocation());
        assert!(h.runtime.allocation().reason.ends_with("(chosen)"), "{}", h.runtime.allocation().reason);
        let out = h.run(&shell_pod("chosen", "Never", "echo allocated")).await;
        assert_eq!(phase(&out.pod), "Succeeded");
        assert_eq!(h.stdout("chosen", "main"), ["allocated"]);
    }
}

/// A pod resumed from an earlier run's status (a node agent started
/// again): the same IP and start time, each container that had run
/// restarted once more.
#[tokio::test]
async fn a_resumed_pod_keeps_its_ip_and_start_time_and_counts_a_restart() {
    let h = Harness::new();
    let earlier: k8s_openapi::api::core::v1::PodStatus = serde_json::from_value(serde_json::json!({
        "podIP": "10.88.7.7",
        "startTime": "2026-12-01T10:00:00Z",
        "containerStatuses": [{"name": "main", "image": "busybox", "imageID": "", "ready": true, "restartCount": 2, "state": {"running": {}}}],
    }))
    .unwrap();
    let m = wasmpod::manifest::load_str(&shell_pod("again", "Always", "sleep 60"), "test.yaml", wasmpod::Validation::Strict).unwrap();
    h.runtime.create_resumed(&m, h.base(), Some(&earlier)).await.unwrap();
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let pod = h.runtime.get("default", "again").unwrap();
        let status = pod.status.clone().unwrap();
        if phase(&pod) == "Running" {
            assert_eq!(status.pod_ip.as_deref(), Some("10.88.7.7"));
            assert_eq!(status.start_time.unwrap().0.to_string(), "2026-12-01T10:00:00Z");
            assert_eq!(container(&pod, "main").restart_count, 3);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    h.runtime.delete("default", "again", Some(0)).unwrap();
}

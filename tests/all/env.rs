//! env, envFrom, valueFrom and $(VAR) expansion reaching real guests.

use crate::harness::*;

#[tokio::test]
async fn env_and_args_reach_the_guest_with_kubernetes_expansion() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: envpod}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: alpine
    env:
    - {name: BASE_URL, value: "https://api.company.com/"}
    - {name: CONNECTION_STRING, value: "mongodb://localhost:27017"}
    - {name: COMBINED, value: "$(BASE_URL)v1 $$(BASE_URL) $(LATER) $(MISSING)"}
    - {name: LATER, value: "later"}
    command: ["/bin/sh", "-c"]
    args: ["printenv BASE_URL CONNECTION_STRING COMBINED; echo arg=$(LATER) host=$HOSTNAME", "ignored-arg0"]
"#;
    let out = h.run(yaml).await;
    assert_eq!(phase(&out.pod), "Succeeded");
    assert_eq!(
        h.stdout("envpod", "main"),
        vec![
            "https://api.company.com/",
            "mongodb://localhost:27017",
            // Forward references and undefined names stay literal; $$ escapes.
            "https://api.company.com/v1 $(BASE_URL) $(LATER) $(MISSING)",
            "arg=later host=envpod",
        ]
    );
}

#[tokio::test]
async fn config_maps_secrets_and_the_downward_api_feed_env() {
    let h = Harness::new();
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/env-from-objects.yaml")).unwrap();
    let out = h.run(&yaml).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{:?}", out.pod.status);
    assert_eq!(
        h.stdout("env-from-objects", "app"),
        vec![
            "level=debug region=eu-west-1",
            "password has 6 characters",
            "pod=env-from-objects label=demo memory=64Mi",
            "hello from env-from-objects in eu-west-1, $literal, $(UNDEFINED) stays",
        ]
    );
}

#[tokio::test]
async fn a_missing_config_map_key_is_create_container_config_error_and_the_pod_stays_pending() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {present: "yes"}
---
apiVersion: v1
kind: Pod
metadata: {name: missing}
spec:
  containers:
  - name: main
    image: alpine
    command: ["sh", "-c", "echo never"]
    env:
    - name: X
      valueFrom: {configMapKeyRef: {name: cfg, key: absent}}
"#;
    let handle = h.start(yaml).await;
    let pod = wait_until(&handle, "config error", |p| reason(container(p, "main")).as_deref() == Some("CreateContainerConfigError")).await;
    assert_eq!(phase(&pod), "Pending");
    let msg = container(&pod, "main").state.as_ref().unwrap().waiting.as_ref().unwrap().message.clone().unwrap();
    assert_eq!(msg, "couldn't find key absent in ConfigMap default/cfg");
    handle.stop();
    tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
}

#[tokio::test]
async fn working_dir_is_the_guests_current_directory() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: wd}
spec:
  restartPolicy: Never
  containers:
  - {name: main, image: alpine, workingDir: /srv/app, command: ["sh", "-c", "pwd; echo hi > here.txt; cat /srv/app/here.txt"]}
"#;
    let out = h.run(yaml).await;
    assert_eq!(phase(&out.pod), "Succeeded");
    assert_eq!(h.stdout("wd", "main"), vec!["/srv/app", "hi"]);
}

/// Kubernetes' e2e "should be consumable via the environment" with an
/// envFrom prefix: the names (`data-1`) are not shell names, and `sh -c
/// env` still shows them, as busybox ash passes them on.
#[tokio::test]
async fn env_from_with_a_prefix_reaches_commands_through_the_shell() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data: {"1": value-1, "2": value-2}
---
apiVersion: v1
kind: Pod
metadata: {name: prefixed}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "env | grep '^data-' | sort"]
    envFrom: [{prefix: data-, configMapRef: {name: cm}}]
"#;
    let out = h.run(yaml).await;
    assert_eq!(phase(&out.pod), "Succeeded");
    assert_eq!(h.stdout("prefixed", "main"), vec!["data-1=value-1", "data-2=value-2"]);
}

/// Kubernetes' e2e "should provide default limits.cpu/memory from node
/// allocatable": without a limit, resourceFieldRef reports what the node
/// offers (its CPUs, memory and the state directory's disk).
#[tokio::test]
async fn resource_field_refs_without_a_limit_report_the_nodes_allocatable() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: allocatable}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo $CPU; echo $MEM; echo $EPH"]
    env:
    - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
    - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: EPH, valueFrom: {resourceFieldRef: {resource: limits.ephemeral-storage}}}
"#;
    let out = h.run(yaml).await;
    assert_eq!(phase(&out.pod), "Succeeded");
    let lines = h.stdout("allocatable", "main");
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(lines[0], cpus.to_string());
    #[cfg(target_os = "linux")]
    {
        let info = std::fs::read_to_string("/proc/meminfo").unwrap();
        let kib: u64 = info.lines().find_map(|l| l.strip_prefix("MemTotal:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap();
        assert_eq!(lines[1], kib.div_ceil(1024).to_string(), "memory in MiB, rounded up");
        assert!(lines[2].parse::<u64>().unwrap() > 0, "{lines:?}");
    }
}

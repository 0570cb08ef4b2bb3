//! Image configs: what runs when a container gives `command`, `args`,
//! both or neither, by Kubernetes' rules over each image's Entrypoint and
//! Cmd (kubernetes/kubernetes test/e2e/common/node/containers.go).

use wasmpod::Stream;

use crate::harness::*;

/// busybox and alpine have no Entrypoint and Cmd `sh`: `args` run exactly
/// as written (the kubernetes.io liveness example's form); nginx's
/// Entrypoint execs its arguments; a `command` drops the image's Cmd.
#[tokio::test]
async fn args_replace_the_images_cmd_and_a_command_replaces_its_entrypoint_and_drops_cmd() {
    let h = Harness::new();
    let out = h
        .run(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: argv}
spec:
  restartPolicy: Never
  containers:
  - {name: docs, image: registry.k8s.io/busybox, args: ["/bin/sh", "-c", "echo from the docs"]}
  - {name: echo, image: "busybox:1.36", args: ["echo", "x"]}
  - {name: e2e, image: "registry.k8s.io/e2e-test-images/busybox:1.29-4", args: ["sh", "-c", "echo $PATH"]}
  - {name: alpine, image: "docker.io/library/alpine:3.20", args: ["printenv", "PATH"]}
  - {name: nginx-args, image: nginx, args: ["echo", "through the entrypoint"]}
  - {name: nginx-command, image: "nginx:1.27", command: ["echo", "no cmd"]}
  - {name: python, image: "python:3.12", command: ["sh", "-c", "echo $PATH"]}
"#,
        )
        .await;
    for c in ["docs", "echo", "e2e", "alpine", "nginx-args", "nginx-command", "python"] {
        assert_eq!(exit_code(container(&out.pod, c)), Some(0), "{c}: {:?}", h.lines_of("argv", c, Stream::Stderr));
    }
    assert_eq!(h.stdout("argv", "docs"), ["from the docs"]);
    assert_eq!(h.stdout("argv", "echo"), ["x"]);
    let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    assert_eq!(h.stdout("argv", "e2e"), [path]);
    assert_eq!(h.stdout("argv", "alpine"), [path]);
    // The entrypoint logs only when it starts nginx.
    assert_eq!(h.stdout("argv", "nginx-args"), ["through the entrypoint"]);
    assert_eq!(h.lines_of("argv", "nginx-args", Stream::Stderr), Vec::<String>::new());
    // Had Cmd been kept, echo would have printed `nginx -g daemon off;` too.
    assert_eq!(h.stdout("argv", "nginx-command"), ["no cmd"]);
    assert_eq!(h.stdout("argv", "python"), ["/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
}

/// With neither, nginx runs its Entrypoint with its Cmd: the entrypoint
/// says it found no configuration scripts, then nginx serves.
#[tokio::test]
async fn nginx_without_command_or_args_runs_its_entrypoint_then_nginx() {
    let h = Harness::new();
    let handle = h
        .start(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: nginx
    image: nginx:1.7.9
    readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 1}
"#,
        )
        .await;
    wait_until(&handle, "nginx ready", |p| container(p, "nginx").ready).await;
    // The line was written before nginx started; give the log tap a moment.
    let t0 = std::time::Instant::now();
    while h.lines_of("web", "nginx", Stream::Stderr).is_empty() && t0.elapsed() < DEADLINE {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let stderr = h.lines_of("web", "nginx", Stream::Stderr);
    assert_eq!(stderr[0], "/docker-entrypoint.sh: No files found in /docker-entrypoint.d/, skipping configuration");
    assert!(stderr[1..].iter().any(|l| l.contains("[notice] 1#1: nginx/")), "then nginx starts: {stderr:?}");
    handle.stop();
}

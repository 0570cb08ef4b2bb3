//! Black-box tests of the `wasmpod` binary: exit codes, messages, output.

use std::path::Path;
use std::process::{Command, Output};

fn wasmpod(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmpod")).arg("--state-dir").arg(state).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_lists_commands_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = wasmpod(dir.path(), &["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in ["run", "version", "Exit codes:", "130"] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    let out = wasmpod(dir.path(), &["run", "--help"]);
    assert!(text(&out.stdout).contains("--validate"));
    let out = wasmpod(dir.path(), &["version"]);
    assert!(text(&out.stdout).starts_with("wasmpod "));
    let out = wasmpod(dir.path(), &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_invalid_manifest_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  restartPolicy: Sometimes\n  containers:\n  - image: alpine\n").unwrap();
    let state = dir.path().join("state");
    let out = wasmpod(&state, &["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("The Pod \"x\" is invalid: \n* spec.containers[0].name: Required value\n* spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""), "{err}");
    assert!(!state.join("pods/default/x").exists(), "nothing may be created for a refused pod");
}

#[test]
fn unknown_fields_are_refused_under_strict_validation_and_warned_under_warn() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.yaml");
    std::fs::write(&file, "apiVersion: v1\nkind: Pod\nmetadata: {name: typo}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: alpine\n    command: [sh, -c, 'echo ran']\n    httpGet: {port: 80}\n").unwrap();
    let out = wasmpod(&dir.path().join("s"), &["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("unknown field \"spec.containers[0].httpGet\""), "{}", text(&out.stderr));
    let out = wasmpod(&dir.path().join("s"), &["run", "--validate=warn", "-q", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("unknown field \"spec.containers[0].httpGet\""));
    assert!(text(&out.stdout).contains("[typo/c] ran"));
}

#[test]
fn host_path_volumes_need_allow_host_path() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("shared");
    std::fs::create_dir(&host).unwrap();
    let file = dir.path().join("hp.yaml");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: hp}}\nspec:\n  restartPolicy: Never\n  volumes: [{{name: h, hostPath: {{path: {}}}}}]\n  containers:\n  - {{name: c, image: alpine, command: [sh, -c, 'echo hi > /h/out'], volumeMounts: [{{name: h, mountPath: /h}}]}}\n",
        serde_json::to_string(&host.display().to_string()).unwrap()
    );
    std::fs::write(&file, yaml).unwrap();
    let state = dir.path().join("s");
    let out = wasmpod(&state, &["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("pod \"hp\": spec.volumes[0].hostPath: ") && err.contains("--allow-host-path"), "{err}");
    assert!(!host.join("out").exists() && !state.join("pods/default/hp").exists(), "nothing ran");
    let out = wasmpod(&state, &["run", "-q", "--allow-host-path", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "hi\n");
}

#[test]
fn unknown_images_are_pulled_and_wait_in_err_image_pull_or_map_to_an_alias() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: db}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: mysql, image: \"mysql:8.0\"}\n",
    )
    .unwrap();
    // Not an alias or a file: a Docker Hub reference, pulled at the start.
    // Docker Hub is out of reach here (or has no wasm image of it): the
    // container waits in ErrImagePull and `run` keeps retrying.
    let log = dir.path().join("run.err");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wasmpod"))
        .arg("--state-dir")
        .arg(dir.path().join("s"))
        .args(["run", "--backoff-initial", "1s", file.to_str().unwrap()])
        .env("DOCKER_CONFIG", dir.path().join("no-docker-config"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let err = loop {
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        if err.contains("Error: ErrImagePull") || std::time::Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break err;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(still_running, "run keeps retrying: {err}");
    assert!(err.contains("Pulling image \"mysql:8.0\""), "{err}");
    assert!(err.contains("Failed to pull image \"mysql:8.0\": "), "{err}");
    assert!(err.contains("Error: ErrImagePull"), "{err}");
    // With an alias it runs.
    let out = wasmpod(&dir.path().join("s"), &["run", "-q", "--image-alias", "mysql:*=builtin:toolbox sh -c true", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn compile_takes_the_images_of_manifests_and_compiles_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pods.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  initContainers:\n  - {name: i, image: busybox}\n  containers:\n  - {name: c, image: nginx}\n\
         ---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  containers:\n  - {name: c, image: busybox}\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = wasmpod(
        &dir.path().join("s"),
        &["compile", "--target", "armv7-unknown-linux-gnueabihf", "-o", out_dir.to_str().unwrap(), "-f", file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    // busybox once (two pods name it), then nginx: the same toolbox bytes.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("busybox: ") && !lines[0].contains("already there"), "{lines:?}");
    assert!(lines[1].starts_with("nginx: ") && lines[1].contains("already there"), "{lines:?}");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 1);
    // An image no manifest or alias resolves: exit 3, nothing more written.
    std::fs::write(&file, "apiVersion: v1\nkind: Pod\nmetadata: {name: db}\nspec:\n  containers:\n  - {name: m, image: \"mysql:8.0\"}\n").unwrap();
    let out = wasmpod(
        &dir.path().join("s"),
        &["compile", "--target", "armv7-unknown-linux-gnueabihf", "-o", out_dir.to_str().unwrap(), "-f", file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("mysql:8.0"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 1);
}

#[test]
fn run_prints_prefixed_logs_and_the_final_status_and_exits_by_phase() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let out = wasmpod(&state, &["run", "--backoff-initial", "50ms", "examples/restart-on-failure.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("[restart-on-failure/flaky] second attempt: the marker survived the restart; succeeding"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("[restart-on-failure/flaky] first attempt: failing with exit code 3"), "{stderr}");
    assert!(stderr.contains("pod/restart-on-failure Succeeded"), "{stderr}");
    assert!(stderr.contains("flaky: Terminated: Completed (exit code 0), restarts 1"), "{stderr}");

    let failing = dir.path().join("fail.yaml");
    std::fs::write(&failing, "apiVersion: v1\nkind: Pod\nmetadata: {name: f}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: c, image: busybox, command: [sh, -c, 'exit 5']}\n").unwrap();
    let out = wasmpod(&state, &["run", "-q", failing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("c: Terminated: Error (exit code 5), restarts 0"));
}

#[test]
fn the_seed_examples_in_examples_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = wasmpod(&dir.path().join("s"), &["run", "-q", "examples/init-and-shared-volume.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("[init-and-shared-volume/reader] prepared by the init container"));
}

/// Ctrl-C stops the pod: the seed's first manifest prints dates until
/// interrupted, then `run` prints the final status and exits 130.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_custom_command_pod() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmpod"))
        .args(["--state-dir", state.to_str().unwrap(), "run", "-q", "examples/custom-command.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("[custom-command-pod/command-container] "), "{first}");
    assert!(first.contains(" UTC 20"), "a date line: {first}");
    // A second run of the same pod from the same state directory is refused.
    let again = wasmpod(&state, &["run", "examples/custom-command.yaml"]);
    assert_eq!(again.status.code(), Some(4));
    assert!(text(&again.stderr).contains("pod \"default/custom-command-pod\" is already running"), "{}", text(&again.stderr));

    let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("pod/custom-command-pod Failed"), "{stderr}");
    assert!(stderr.contains("command-container: Terminated: Error (exit code 143)"), "{stderr}");
    let log = std::fs::read_to_string(state.join("pods/default/custom-command-pod/logs/command-container/0.log")).unwrap();
    assert!(log.lines().next().unwrap().contains(" stdout F "), "{log}");
}

/// A `wasmpod serve` daemon, stopped with Ctrl-C (or killed) on drop.
#[cfg(unix)]
pub(crate) struct Daemon(std::process::Child);

#[cfg(unix)]
impl Daemon {
    pub(crate) fn start(state: &Path, args: &[&str]) -> Self {
        use std::io::{BufRead, BufReader, Read};
        use std::process::Stdio;
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmpod"))
            .arg("--state-dir")
            .arg(state)
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        // `serve` says where it listens once it accepts connections.
        while !line.contains("serving state directory") {
            line.clear();
            assert!(err.read_line(&mut line).unwrap() > 0, "serve exited before listening");
        }
        // Keep draining so the daemon never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut err.take(u64::MAX), &mut std::io::sink()));
        Daemon(child)
    }

    /// Ends the daemon with SIGKILL, as a crash would.
    fn kill(self) {
        let mut this = std::mem::ManuallyDrop::new(self);
        this.0.kill().unwrap();
        this.0.wait().unwrap();
    }
}

#[cfg(unix)]
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
#[test]
fn serve_is_driven_by_apply_get_logs_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let out = wasmpod(&state, &["get", "pods"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("No resources found in default namespace."), "{}", text(&out.stderr));
    let file = dir.path().join("pods.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: two-lines}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: a, image: alpine, command: [sh, -c, 'echo one; sleep 1; echo two']}\n  - {name: b, image: alpine, command: [sh, -c, 'while true; do sleep 1; done']}\n",
    )
    .unwrap();
    let out = wasmpod(&state, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "no daemon yet: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("start one with `wasmpod serve`"), "{}", text(&out.stderr));

    let _daemon = Daemon::start(&state, &["serve"]);
    let out = wasmpod(&state, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), "pod/two-lines created\n".into()), "{}", text(&out.stderr));
    let out = wasmpod(&state, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(text(&out.stdout), "pod/two-lines unchanged\n");
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap().replace("Never", "Always")).unwrap();
    let out = wasmpod(&state, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr)
            .starts_with("The Pod \"two-lines\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"),
        "{}",
        text(&out.stderr)
    );

    // As with kubectl, logs of a container still being created are
    // refused ("waiting to start"): wait until it started.
    let deadline = std::time::Instant::now() + crate::harness::DEADLINE;
    loop {
        let out = wasmpod(&state, &["get", "pods", "two-lines", "-o", "json"]);
        let pod: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let state_a = &pod["status"]["containerStatuses"][0]["state"];
        if state_a.get("running").is_some() || state_a.get("terminated").is_some() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "container a never started: {pod}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Follows container a until it exits, after its second line.
    let out = wasmpod(&state, &["logs", "two-lines", "-f"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "one\ntwo\n");
    assert_eq!(text(&out.stderr), "Defaulted container \"a\" out of: a, b\n");
    let out = wasmpod(&state, &["logs", "two-lines", "-c", "a", "--tail", "1"]);
    assert_eq!(text(&out.stdout), "two\n");

    let out = wasmpod(&state, &["get", "pods"]);
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "NAME        READY   STATUS     RESTARTS   AGE", "{table}");
    assert!(lines[1].starts_with("two-lines   1/2     NotReady   0          "), "{table}");
    let out = wasmpod(&state, &["get", "pods", "two-lines", "-o", "json"]);
    let pod: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pod["metadata"]["name"], "two-lines");
    let out = wasmpod(&state, &["get", "pods", "-o", "name"]);
    assert_eq!(text(&out.stdout), "pod/two-lines\n");
    let out = wasmpod(&state, &["describe", "pod", "two-lines"]);
    let d = text(&out.stdout);
    for needle in [
        "Name:             two-lines",
        "Namespace:        default",
        "Status:           Running",
        "Containers:\n  a:\n",
        "      Reason:       Completed",
        "Restart Count:  0",
        "Conditions:",
        "Events:\n  Type    Reason     Age",
        "Started container b",
    ] {
        assert!(d.contains(needle), "describe lacks {needle:?}:\n{d}");
    }

    let out = wasmpod(&state, &["delete", "pod", "two-lines"]);
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), "pod \"two-lines\" deleted\n".into()), "{}", text(&out.stderr));
    let out = wasmpod(&state, &["get", "pods", "two-lines"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "Error from server (NotFound): pods \"two-lines\" not found\n");
    let out = wasmpod(&state, &["delete", "pod", "two-lines"]);
    assert_eq!(out.status.code(), Some(1));
}

/// Services and NetworkPolicies through `serve`: `apply` creates,
/// leaves unchanged or configures them; `get` shows them, their
/// EndpointSlices and Endpoints as kubectl does; the front pod reaches the
/// store by the Service's name; a daemon killed and started again serves
/// the same Services at the same addresses; `delete` removes them.
#[cfg(unix)]
#[test]
fn services_and_policies_are_applied_listed_kept_across_a_kill_and_deleted_through_serve() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let daemon = Daemon::start(&state, &["serve"]);
    let out = wasmpod(&state, &["apply", "-f", "examples/two-tier.yaml"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "networkpolicy.networking.k8s.io/store-from-front created\nservice/store created\npod/store created\npod/web created\n".into()),
        "{}",
        text(&out.stderr)
    );
    // The store pod turns Ready: its address appears in the Endpoints
    // (ready addresses only; the slice lists it from the start).
    let deadline = std::time::Instant::now() + crate::harness::DEADLINE;
    loop {
        let out = wasmpod(&state, &["get", "endpoints", "store"]);
        let t = text(&out.stdout);
        if t.lines().nth(1).is_some_and(|l| l.contains(":6379")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the store never became a ready endpoint: {t}{}", text(&out.stderr));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let slices = text(&wasmpod(&state, &["get", "endpointslices"]).stdout);
    let lines: Vec<&str> = slices.lines().collect();
    assert_eq!(lines[0], "NAME          ADDRESSTYPE   PORTS   ENDPOINTS   AGE", "{slices}");
    assert!(lines[1].starts_with("store-") && lines[1].contains("   IPv4          6379    10.88."), "{slices}");
    let out = wasmpod(&state, &["get", "svc", "-o", "wide"]);
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "NAME    TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE   SELECTOR", "{table}");
    assert!(lines[1].starts_with("store   ClusterIP   10.96.") && lines[1].ends_with("tier=data"), "{table}");
    let cluster_ip = lines[1].split_whitespace().nth(2).unwrap().to_owned();
    let out = wasmpod(&state, &["get", "netpol"]);
    assert!(text(&out.stdout).contains("store-from-front   tier=data"), "{}", text(&out.stdout));
    let out = wasmpod(&state, &["get", "svc,netpol"]);
    assert_eq!(out.status.code(), Some(2), "one resource type at a time");
    let out = wasmpod(&state, &["get", "svc", "-o", "name"]);
    assert_eq!(text(&out.stdout), "service/store\n");
    let out = wasmpod(&state, &["get", "svc", "store", "-o", "json"]);
    let svc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(svc["spec"]["clusterIP"], cluster_ip.as_str());
    let uid = svc["metadata"]["uid"].as_str().unwrap().to_owned();
    // The front reaches the store by the Service's name.
    let out = wasmpod(&state, &["exec", "web", "-c", "refresher", "--", "curl", "-s", "http://store/records"]);
    assert_eq!(text(&out.stdout), "3 records in the store\n", "{}", text(&out.stderr));

    let out = wasmpod(&state, &["apply", "-f", "examples/two-tier.yaml"]);
    assert!(text(&out.stdout).starts_with("networkpolicy.networking.k8s.io/store-from-front unchanged\nservice/store unchanged\n"), "{}", text(&out.stdout));
    let changed = dir.path().join("svc.yaml");
    let two_tier = std::fs::read_to_string("examples/two-tier.yaml").unwrap();
    let service_doc = two_tier.split("---").next().unwrap();
    std::fs::write(&changed, service_doc.replace("port: 80", "port: 81")).unwrap();
    let out = wasmpod(&state, &["apply", "-f", changed.to_str().unwrap()]);
    assert_eq!(text(&out.stdout), "service/store configured\n", "{}", text(&out.stderr));
    // Bad input changes nothing: a node port outside the range.
    std::fs::write(&changed, service_doc.replace("port: 80", "port: 81\n    nodePort: 80").replace("spec:", "spec:\n  type: NodePort")).unwrap();
    let out = wasmpod(&state, &["apply", "-f", changed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("spec.ports[0].nodePort: Invalid value: 80"), "{}", text(&out.stderr));
    let out = wasmpod(&state, &["get", "svc"]);
    assert!(text(&out.stdout).contains("ClusterIP   ") && text(&out.stdout).contains("81/TCP"), "{}", text(&out.stdout));

    // Killed: the records bring the objects back, same address and uid.
    daemon.kill();
    let _daemon = Daemon::start(&state, &["serve"]);
    let out = wasmpod(&state, &["get", "svc", "store", "-o", "json"]);
    let svc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((svc["spec"]["clusterIP"].as_str(), svc["metadata"]["uid"].as_str()), (Some(cluster_ip.as_str()), Some(uid.as_str())));
    assert_eq!(svc["spec"]["ports"][0]["port"], 81);
    let out = wasmpod(&state, &["get", "netpol", "-o", "name"]);
    assert_eq!(text(&out.stdout), "networkpolicy.networking.k8s.io/store-from-front\n");

    let out = wasmpod(&state, &["delete", "svc", "store"]);
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), "service \"store\" deleted\n".into()), "{}", text(&out.stderr));
    let out = wasmpod(&state, &["get", "svc", "store"]);
    assert_eq!((out.status.code(), text(&out.stderr)), (Some(1), "Error from server (NotFound): services \"store\" not found\n".into()));
    let out = wasmpod(&state, &["delete", "netpol", "store-from-front"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = wasmpod(&state, &["delete", "netpol", "store-from-front"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(state.join("objects/services/default").read_dir().unwrap().next().is_none(), "the record went with the Service");
}

/// ConfigMaps and Secrets through `serve`: `apply` creates them before
/// the file's pods, which read them; a daemon killed and started again
/// keeps them for pods created later; `apply` of a pod with a new label
/// configures it in place.
#[cfg(unix)]
#[test]
fn config_maps_and_secrets_are_applied_kept_across_a_kill_and_read_by_later_pods() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let daemon = Daemon::start(&state, &["serve"]);
    let objects = dir.path().join("objects.yaml");
    std::fs::write(
        &objects,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: fast}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: s3cret}\n",
    )
    .unwrap();
    let out = wasmpod(&state, &["apply", "-f", objects.to_str().unwrap()]);
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), "configmap/settings created\nsecret/creds created\n".into()), "{}", text(&out.stderr));
    let out = wasmpod(&state, &["get", "cm"]);
    assert!(text(&out.stdout).starts_with("NAME       DATA   AGE\nsettings   1      "), "{}", text(&out.stdout));
    let out = wasmpod(&state, &["get", "secrets"]);
    assert!(text(&out.stdout).starts_with("NAME    TYPE     DATA   AGE\ncreds   Opaque   1      "), "{}", text(&out.stdout));
    daemon.kill();
    let _daemon = Daemon::start(&state, &["serve"]);
    let pod = |labels: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: reader, labels: {{{labels}}}}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    args: [sleep, \"3600\"]\n\
             \x20   env: [{{name: PASSWORD, valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}}}]\n\
             \x20   volumeMounts: [{{name: cfg, mountPath: /etc/cfg}}]\n  volumes: [{{name: cfg, configMap: {{name: settings}}}}]\n"
        )
    };
    let file = dir.path().join("pod.yaml");
    std::fs::write(&file, pod("app: a")).unwrap();
    let out = wasmpod(&state, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(text(&out.stdout), "pod/reader created\n", "{}", text(&out.stderr));
    let deadline = std::time::Instant::now() + crate::harness::DEADLINE;
    let seen = loop {
        let out = wasmpod(&state, &["exec", "reader", "--", "sh", "-c", "echo $PASSWORD; cat /etc/cfg/mode"]);
        if out.status.success() {
            break text(&out.stdout);
        }
        assert!(std::time::Instant::now() < deadline, "the reader never ran: {}", text(&out.stderr));
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(seen, "s3cret\nfast");
    let out = wasmpod(&state, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(text(&out.stdout), "pod/reader unchanged\n");
    std::fs::write(&file, pod("app: b")).unwrap();
    let out = wasmpod(&state, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(text(&out.stdout), "pod/reader configured\n", "{}", text(&out.stderr));
    let out = wasmpod(&state, &["get", "pod", "reader", "-o", "json"]);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["metadata"]["labels"]["app"], "b");
    let out = wasmpod(&state, &["delete", "cm", "settings"]);
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), "configmap \"settings\" deleted\n".into()), "{}", text(&out.stderr));
    assert!(state.join("objects/configmaps/default").read_dir().unwrap().next().is_none(), "the record went with the ConfigMap");
}

/// With no pods, `-o json` and `-o yaml` print kubectl's empty `List` (and
/// no "No resources found", which only tables say).
#[test]
fn get_prints_an_empty_list_as_json_and_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let out = wasmpod(&state, &["get", "pods", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{\n    \"apiVersion\": \"v1\",\n    \"items\": [],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n"
    );
    assert!(!text(&out.stderr).contains("No resources found"), "{}", text(&out.stderr));
    let out = wasmpod(&state, &["get", "pods", "-A", "-o", "yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n");
    // A table still says so, on stderr.
    let out = wasmpod(&state, &["get", "pods"]);
    assert_eq!(text(&out.stdout), "");
    assert!(text(&out.stderr).contains("No resources found in default namespace."), "{}", text(&out.stderr));
}

/// `get ... | head`: a reader that goes away ends `get` quietly, killed by
/// SIGPIPE as kubectl is, instead of a panic.
#[cfg(unix)]
#[test]
fn get_ends_quietly_when_its_reader_goes_away() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let manifest = dir.path().join("done.yaml");
    std::fs::write(&manifest, "apiVersion: v1\nkind: Pod\nmetadata: {name: done}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: c, image: alpine, command: [sh, -c, 'echo done']}\n").unwrap();
    let out = wasmpod(&state, &["run", "-q", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for args in [&["get", "pods", "done", "-o", "json"][..], &["get", "pods", "-o", "yaml"], &["get", "pods"]] {
        // The read end is closed before `get` writes anything.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_wasmpod")).arg("--state-dir").arg(&state).args(args).stdout(writer).output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        // SIGPIPE is 13 on every Unix.
        assert_eq!(out.status.signal(), Some(13), "{args:?}: {:?} {stderr}", out.status);
    }
}

/// `run` serves the API while its pod runs; after it ends, and after a
/// runtime that was killed, the records are still listed.
#[cfg(unix)]
#[test]
fn run_serves_the_api_and_records_outlive_it() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let spawn_run = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmpod"))
            .args(["--state-dir", state.to_str().unwrap(), "run", "-q", "examples/custom-command.yaml"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(first.starts_with("[custom-command-pod/command-container] "), "{first}");
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        child
    };
    let child = spawn_run();
    let out = wasmpod(&state, &["get", "pods"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.lines().nth(1).unwrap().starts_with("custom-command-pod   1/1     Running   0          "), "{table}");
    assert!(text(&out.stderr).is_empty(), "a live process answered: {}", text(&out.stderr));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));

    // No process is alive: the record says how the pod ended.
    let out = wasmpod(&state, &["get", "pods"]);
    let table = text(&out.stdout);
    assert!(table.lines().nth(1).unwrap().starts_with("custom-command-pod   0/1     Error    0          "), "{table}");
    assert!(text(&out.stderr).contains("no wasmpod process is running for state directory"), "{}", text(&out.stderr));
    let out = wasmpod(&state, &["logs", "custom-command-pod"]);
    assert!(text(&out.stdout).contains(" UTC 20"), "{}", text(&out.stdout));
    let out = wasmpod(&state, &["delete", "pod", "custom-command-pod"]);
    assert_eq!(out.status.code(), Some(5));

    // A runtime killed without stopping its pod leaves it Unknown, with
    // the last status it had put on disk (records follow the pod within
    // milliseconds: wait for the running one).
    let mut child = spawn_run();
    let record = state.join("pods/default/custom-command-pod/pod.json");
    let t0 = std::time::Instant::now();
    while !std::fs::read_to_string(&record).is_ok_and(|r| r.contains("\"running\"") && r.contains("\"ready\": true")) {
        assert!(t0.elapsed() < std::time::Duration::from_secs(30), "the running status never reached the record");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = wasmpod(&state, &["get", "pods"]);
    let table = text(&out.stdout);
    assert!(table.lines().nth(1).unwrap().starts_with("custom-command-pod   1/1     Unknown   0          "), "{table}");
    let out = wasmpod(&state, &["describe", "pod", "custom-command-pod"]);
    assert!(text(&out.stdout).contains("Status:           Unknown\nMessage:          the wasmpod process that ran this pod (pid "), "{}", text(&out.stdout));
}

/// `wasmpod ARGS...` running in the background (output discarded), from
/// the repository root so example paths resolve.
fn background(state: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_wasmpod"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// The seed's exercise end to end, as README shows it: `run` the sidecar
/// example, then from other processes `get pods`, `exec` curl in the
/// sidecar, `port-forward` from the host, `logs`, `describe`, `delete`.
#[test]
fn the_sidecar_exercise_end_to_end() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let mut run = background(&state, &["run", "-q", "examples/sidecar.yaml"]);
    let deadline = std::time::Instant::now() + crate::harness::DEADLINE;
    let until = |what: &str, f: &mut dyn FnMut() -> bool| {
        while !f() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    until("get pods shows 2/2 Running", &mut || {
        let out = wasmpod(&state, &["get", "pods"]);
        text(&out.stdout).lines().nth(1).is_some_and(|l| l.starts_with("sidecar-pod   2/2     Running   0 "))
    });
    let out = wasmpod(&state, &["get", "pods", "-o", "wide"]);
    assert!(text(&out.stdout).contains(" 10.88."), "the pod IP is shown: {}", text(&out.stdout));

    // exec curl in the sidecar: the main container's dates.
    let mut body = String::new();
    until("curl in the sidecar reads date.log", &mut || {
        let out = wasmpod(&state, &["exec", "sidecar-pod", "-c", "sidecar-container", "--", "curl", "-s", "http://localhost/date.log"]);
        body = text(&out.stdout);
        out.status.success() && body.contains(" UTC ")
    });
    // Without -c: kubectl's defaulting message; the command's exit code.
    let out = wasmpod(&state, &["exec", "sidecar-pod", "--", "sh", "-c", "echo $HOSTNAME; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "sidecar-pod\n");
    let err = text(&out.stderr);
    assert!(err.contains("Defaulted container \"main-container\" out of: main-container, sidecar-container"), "{err}");
    assert!(err.contains("command terminated with exit code 3"), "{err}");
    // stdin with -i.
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmpod"))
        .args(["--state-dir", state.to_str().unwrap(), "exec", "-i", "sidecar-pod", "-c", "main-container", "--", "wc", "-l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a\nb\nc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout).trim(), "3");

    // port-forward from the host.
    let mut pf = Command::new(env!("CARGO_BIN_EXE_wasmpod"))
        .args(["--state-dir", state.to_str().unwrap(), "port-forward", "sidecar-pod", ":80"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pf_out = BufReader::new(pf.stdout.take().unwrap());
    let mut first = String::new();
    pf_out.read_line(&mut first).unwrap();
    let port: u16 =
        first.strip_prefix("Forwarding from 127.0.0.1:").and_then(|r| r.strip_suffix(" -> 80\n")).unwrap_or_else(|| panic!("{first}")).parse().unwrap();
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(b"GET /date.log HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n") && response.contains(" UTC "), "{response}");
    let mut handling = String::new();
    pf_out.read_line(&mut handling).unwrap();
    assert_eq!(handling, format!("Handling connection for {port}\n"));
    let _ = pf.kill();
    let _ = pf.wait();

    // The sidecar's log is nginx's access log.
    let out = wasmpod(&state, &["logs", "sidecar-pod", "-c", "sidecar-container"]);
    assert!(text(&out.stdout).contains("\"GET /date.log HTTP/1.1\" 200 "), "{}", text(&out.stdout));
    let out = wasmpod(&state, &["describe", "pod", "sidecar-pod"]);
    assert!(text(&out.stdout).contains("sidecar-container:"), "{}", text(&out.stdout));

    // Deleting run's only pod ends run; delete still sees the pod gone.
    let out = wasmpod(&state, &["delete", "pod", "sidecar-pod"]);
    assert_eq!(text(&out.stdout), "pod \"sidecar-pod\" deleted\n", "{}", text(&out.stderr));
    assert_eq!((out.status.code(), text(&out.stderr)), (Some(0), String::new()));
    let status = run.wait().unwrap();
    assert!(status.code().is_some(), "run ended after the delete");
    // A deleted pod is gone, as kubectl reports it.
    let out = wasmpod(&state, &["exec", "sidecar-pod", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "Error from server (NotFound): pods \"sidecar-pod\" not found\n");
}

/// `describe pod` lists the pod's IPC objects, asked of the process that
/// runs it.
#[test]
fn describe_lists_the_pods_ipc_objects() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let manifest = dir.path().join("ipc.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: queued\nspec:\n  containers:\n  - name: main\n    image: alpine\n    command: [sh, -c, 'ipc send jobs hello; echo sent; sleep 1000']\n",
    )
    .unwrap();
    let mut run = background(&state, &["run", "-q", manifest.to_str().unwrap()]);
    let deadline = std::time::Instant::now() + crate::harness::DEADLINE;
    let mut described = String::new();
    while !described.contains("IPC Objects:\n") {
        assert!(std::time::Instant::now() < deadline, "describe never listed the queue:\n{described}");
        std::thread::sleep(std::time::Duration::from_millis(100));
        described = text(&wasmpod(&state, &["describe", "pod", "queued"]).stdout);
    }
    let table: Vec<&str> = described.lines().skip_while(|l| *l != "IPC Objects:").skip(1).take(2).collect();
    assert_eq!(table[0].split_whitespace().collect::<Vec<_>>(), ["Kind", "Name", "Bytes", "Depth", "Capacity", "Max", "Message"]);
    assert_eq!(table[1].split_whitespace().collect::<Vec<_>>(), ["queue", "jobs", "5", "1", "256", "65536"]);
    let _ = run.kill();
    let _ = run.wait();
}

#[test]
fn container_log_rotation_is_set_by_flags() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let pod = dir.path().join("chatty.yaml");
    std::fs::write(&pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: chatty}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: c, image: busybox, command: [sh, -c, 'i=0; while [ $i -lt 500 ]; do i=$((i+1)); echo line $i; done']}\n").unwrap();
    let out = wasmpod(&state, &["run", "-q", "--container-log-max-size", "2Ki", "--container-log-max-files", "2", pod.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let logs = state.join("pods/default/chatty/logs/c");
    let files: Vec<_> = std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| std::fs::metadata(f).unwrap().len() <= 2048), "{files:?}");
    // One file would leave nothing readable right after a rotation.
    let out = wasmpod(&state, &["run", "--container-log-max-files", "1", pod.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("--container-log-max-files"), "{}", text(&out.stderr));
}

/// `wasmpod bench --json` on small sizes: every figure of the scenarios run
/// is a positive number, and density ran exactly the pods asked for.
#[test]
fn bench_prints_its_figures_as_one_json_object() {
    let state = tempfile::tempdir().unwrap();
    let out = wasmpod(
        state.path(),
        &["bench", "--quick", "--json", "--only", "start,network,baselines,density", "--start-pods", "20", "--density-max", "300", "--net-mib", "16"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    for key in [
        "container_start_cold_p50_us",
        "container_start_cached_p50_us",
        "container_start_cached_p99_us",
        "pod_ready_cached_p50_us",
        "pod_localhost_gbps",
        "pod_to_pod_gbps",
        "host_loopback_gbps",
        "pod_localhost_vs_host_loopback",
        "pod_localhost_rtt_us",
        "pod_ip_connections_per_s",
        "cluster_ip_connections_per_s",
        "cluster_ip_gbps",
        "process_per_container_start_p50_us",
        "native_spawn_p50_us",
        "rss_per_pod_kib",
    ] {
        let v = json[key].as_f64().unwrap_or_else(|| panic!("{key} missing: {json}"));
        assert!(v > 0.0, "{key} = {v}");
    }
    assert_eq!(json["density_pods"], serde_json::json!(300), "{json}");
    assert!(json["probe_cpu_percent_1000_pods"].is_null(), "probes were not asked for");
    assert!(json["machine"]["cpus"].as_u64().unwrap() >= 1);
    assert!(stderr.contains("density: sleeping pods"), "progress goes to stderr: {stderr}");
    // A scenario that does not exist is a usage error naming the choices.
    let bad = wasmpod(state.path(), &["bench", "--only", "nope"]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("start, pull, network, probes, baselines, density"), "{}", String::from_utf8_lossy(&bad.stderr));
}

#[test]
fn instance_allocation_is_a_flag_of_run_and_a_bad_value_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("once.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: once}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: c, image: busybox, args: [echo, ran]}\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let out = wasmpod(&dir.path().join("s"), &["run", "--instance-allocation", "on-demand", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ran"), "{}", text(&out.stdout));
    let out = wasmpod(&dir.path().join("s"), &["run", "--instance-allocation", "pool=0", file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("\"pool=0\" is not auto, on-demand or pool=N (N > 0)"), "{}", text(&out.stderr));
}

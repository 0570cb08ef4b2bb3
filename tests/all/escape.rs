//! The sandbox-escape suite: the `escape` guest (guests/escape) tries the
//! ways out of its sandbox one step at a time and prints `BLOCKED` or
//! `ESCAPED` for each. Every attempt must be BLOCKED, the host must show no
//! trace of it, and a neighbour pod and the runtime must keep working after
//! each. The exhaustion attempts (memory, CPU, open files and sockets,
//! stdout) must end in the runtime's limits, never in the host's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use wasmpod::{LogTap, PodHandle, Stream};

use crate::examples::exec;
use crate::harness::{DEADLINE, Harness, Lines, container, exit_code, phase, wait_until};

fn escape_image() -> String {
    Path::new(wasmpod::testing::GUESTS_DIR).join("escape.wasm").display().to_string()
}

fn nettest_image() -> String {
    Path::new(wasmpod::testing::GUESTS_DIR).join("nettest.wasm").display().to_string()
}

/// A YAML flow list of `args`, for a container's `args`.
fn list(args: &[String]) -> String {
    serde_json::to_string(args).unwrap()
}

/// `steps` joined with `--`, the guest's step separator.
fn steps(steps: &[Vec<String>]) -> Vec<String> {
    steps.join(&"--".to_owned())
}

fn step(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Stdout lines of `container` that report an attempt.
fn verdicts(h: &Harness, pod: &str, container: &str) -> Vec<String> {
    h.stdout(pod, container).into_iter().filter(|l| l.starts_with("BLOCKED ") || l.starts_with("ESCAPED ")).collect()
}

/// Every one of the `expected` attempts printed its line, and all were BLOCKED.
fn assert_all_blocked(h: &Harness, pod: &str, container: &str, expected: usize) -> Vec<String> {
    let lines = verdicts(h, pod, container);
    // Shown when a test fails (or with --no-capture): how each attempt ended.
    for l in &lines {
        eprintln!("{pod}/{container}: {l}");
    }
    let escaped: Vec<&String> = lines.iter().filter(|l| l.starts_with("ESCAPED")).collect();
    assert!(escaped.is_empty(), "{pod}/{container} escaped: {escaped:#?}\nall: {lines:#?}\nstderr: {:?}", h.lines_of(pod, container, Stream::Stderr));
    assert_eq!(lines.len(), expected, "{pod}/{container}: one line per attempt: {lines:#?}\nstderr: {:?}", h.lines_of(pod, container, Stream::Stderr));
    lines
}

fn running(p: &Pod, name: &str) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.name == name && c.state.as_ref().is_some_and(|s| s.running.is_some())))
}

fn all_running(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some_and(|cs| cs.iter().all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some())))
}

/// Polls `cond` until it holds; fails the test at the deadline.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A pod beside the escaping ones: a ticking shell, a TCP server on its
/// localhost:7000, and IPC objects. After every attempt it must still run,
/// tick, serve and answer exec.
struct Neighbour {
    handle: PodHandle,
}

const NEIGHBOUR_PORT: &str = "7000";
const NEIGHBOUR_QUEUE: &str = "private";
const NEIGHBOUR_SEGMENT: &str = "shared";

impl Neighbour {
    async fn start(h: &Harness) -> Self {
        let yaml = format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: neighbour}}
spec:
  containers:
  - name: ticker
    image: alpine
    command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done"]
  - {{name: server, image: "{nettest}", args: ["listen", "{NEIGHBOUR_PORT}"]}}
  - {{name: ipc, image: "{escape}", args: ["plant-ipc", "{NEIGHBOUR_QUEUE}", "{NEIGHBOUR_SEGMENT}"]}}
"#,
            nettest = nettest_image(),
            escape = escape_image(),
        );
        let handle = h.start(&yaml).await;
        wait_until(&handle, "the neighbour runs", all_running).await;
        eventually("the neighbour listens and holds its IPC objects", || {
            h.stdout("neighbour", "server").iter().any(|l| l == &format!("listening on {NEIGHBOUR_PORT}"))
                && h.stdout("neighbour", "ipc").iter().any(|l| l.starts_with("READY ipc"))
        })
        .await;
        Self { handle }
    }

    /// The neighbour still ticks (progress, not timing), serves on its
    /// localhost, answers exec, and none of its containers restarted.
    async fn assert_alive(&self, h: &Harness) {
        let ticks = || h.stdout("neighbour", "ticker").len();
        let before = ticks();
        eventually("the neighbour keeps ticking", || ticks() >= before + 3).await;
        let (code, out) = exec(&self.handle, "server", &["nettest", "connect", &format!("localhost:{NEIGHBOUR_PORT}"), "alive"]).await;
        assert_eq!((code, out.as_str()), (0, "echo alive from 127.0.0.1\n"), "the neighbour's server answers");
        let (code, out) = exec(&self.handle, "ticker", &["sh", "-c", "echo alive > /tmp/alive; cat /tmp/alive"]).await;
        assert_eq!((code, out.as_str()), (0, "alive\n"), "the neighbour's files work");
        let pod = self.handle.current();
        assert!(all_running(&pod), "the neighbour stopped: {:?}", pod.status);
        for c in pod.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default() {
            assert_eq!(c.restart_count, 0, "neighbour container {} restarted: {c:?}", c.name);
        }
    }

    async fn stop(self) {
        self.handle.stop();
        tokio::time::timeout(DEADLINE, self.handle.wait()).await.expect("the neighbour did not stop");
    }
}

/// A fresh pod can still be started, write its files and log, and finish.
async fn assert_runtime_works(h: &Harness, name: &str) {
    let out = h.run(&crate::harness::shell_pod(name, "Never", "echo fresh > /tmp/f && cat /tmp/f")).await;
    assert_eq!(phase(&out.pod), "Succeeded", "a fresh pod failed: {:?}", out.pod.status);
    assert_eq!(h.stdout(name, "main"), ["fresh"]);
}

/// Runs a one-container escape pod to its end (restartPolicy Never);
/// `spec` adds lines to the pod's spec, `fields` to the container's map.
async fn run_escape(h: &Harness, name: &str, args: &[String], spec: &str, fields: &str) -> Pod {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n{spec}  containers:\n  - {{name: escape, image: \"{}\", args: {}{fields}}}\n",
        escape_image(),
        list(args)
    );
    let out = h.run(&yaml).await;
    assert_eq!(exit_code(container(&out.pod, "escape")), Some(0), "{:?}\nstderr: {:?}", h.stdout(name, "escape"), h.lines_of(name, "escape", Stream::Stderr));
    out.pod
}

/// A file outside every sandbox, holding a marker no guest can guess.
struct HostSecret {
    dir: PathBuf,
    file: PathBuf,
    marker: String,
    /// uid and gid when the test made it.
    #[cfg(unix)]
    owner: (u32, u32),
}

impl HostSecret {
    fn new(h: &Harness) -> Self {
        let dir = h.dir.path().join("host-secret");
        std::fs::create_dir(&dir).unwrap();
        let marker = format!("HOST-SECRET-{}", uuid());
        let file = dir.join("secret.txt");
        std::fs::write(&file, format!("{marker}\n")).unwrap();
        #[cfg(unix)]
        let owner = {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(&file).unwrap();
            (meta.uid(), meta.gid())
        };
        Self {
            dir,
            file,
            marker,
            #[cfg(unix)]
            owner,
        }
    }

    fn path(&self) -> String {
        self.file.display().to_string()
    }

    /// The secret is as the test made it, and nothing was added beside it.
    fn assert_untouched(&self) {
        assert_eq!(std::fs::read_to_string(&self.file).unwrap(), format!("{}\n", self.marker));
        let names: Vec<_> = std::fs::read_dir(&self.dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["secret.txt"], "something was planted beside the host's secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(&self.file).unwrap();
            assert_eq!((meta.uid(), meta.gid()), self.owner, "the host file's owner changed");
        }
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_paths_outside_the_mounts_are_blocked() {
    let h = Harness::new();
    let neighbour = Neighbour::start(&h).await;
    let secret = HostSecret::new(&h);
    let (file, marker) = (secret.path(), secret.marker.clone());
    let args = steps(&[
        step(&["dotdot", "/v", &file, &marker]),
        step(&["dotdot", "/", &file, &marker]),
        step(&["dotdot", "/tmp", &file, &marker]),
        step(&["absolute", &file, &marker]),
        step(&["absolute", "/etc/passwd", "root:x:0:0"]),
        step(&["absolute", "/proc/self/environ", "PATH="]),
        step(&["symlink-abs", "/v", &file, &marker]),
        step(&["symlink-up", "/v", &file, &marker]),
        step(&["symlink-up", "/tmp", &file, &marker]),
        step(&["hardlink", "/v", &file, &marker]),
        step(&["owner", "/v", &file]),
        step(&["owner", "/tmp", &file]),
    ]);
    // runAsUser: were the runtime to chown a host file for the guest, its
    // owner would become 4242.
    let spec = "  securityContext: {runAsUser: 4242, fsGroup: 4242}\n  volumes: [{name: v, emptyDir: {}}]\n";
    run_escape(&h, "paths", &args, spec, ", volumeMounts: [{name: v, mountPath: /v}]").await;
    let lines = assert_all_blocked(&h, "paths", "escape", 12);
    // The links were made inside the volume (the attempt went as far as it
    // could) and only reading through them failed.
    assert!(lines.iter().any(|l| l.starts_with("BLOCKED symlink-up from /v: the link was made")), "{lines:#?}");
    secret.assert_untouched();
    neighbour.assert_alive(&h).await;
    assert_runtime_works(&h, "after-paths").await;
    neighbour.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_writes_to_read_only_mounts_are_refused() {
    let h = Harness::with_config(|c| c.allow_host_path = true);
    let neighbour = Neighbour::start(&h).await;
    // A host directory mounted read-only: the host shows whether anything changed.
    let host = h.dir.path().join("host-ro");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("keep.txt"), "original\n").unwrap();
    let snapshot = || {
        let mut entries: Vec<(String, u64, Option<std::time::SystemTime>, u32)> = std::fs::read_dir(&host)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let m = std::fs::symlink_metadata(e.path()).unwrap();
                #[cfg(unix)]
                let mode = std::os::unix::fs::PermissionsExt::mode(&m.permissions());
                #[cfg(not(unix))]
                let mode = m.permissions().readonly() as u32;
                (e.file_name().to_string_lossy().into_owned(), m.len(), m.modified().ok(), mode)
            })
            .collect();
        entries.sort();
        entries
    };
    let before = snapshot();
    let attempts = |mount: &str| {
        let file = format!("{mount}/keep.txt");
        vec![
            step(&["ro-create", mount]),
            step(&["ro-mkdir", mount]),
            step(&["ro-symlink", mount]),
            step(&["ro-append", &file]),
            step(&["ro-truncate", &file]),
            step(&["ro-chmod", &file]),
            step(&["ro-set-times", &file]),
            step(&["ro-rename", &file, mount]),
            step(&["ro-hardlink", &file, mount]),
            step(&["ro-unlink", &file]),
        ]
    };
    let mut all = attempts("/host");
    all.extend(attempts("/shared"));
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: readonly}}
spec:
  restartPolicy: Never
  volumes:
  - {{name: host, hostPath: {{path: {host}, type: Directory}}}}
  - {{name: shared, emptyDir: {{}}}}
  initContainers:
  - {{name: writer, image: alpine, command: [sh, -c, "echo original > /shared/keep.txt"], volumeMounts: [{{name: shared, mountPath: /shared}}]}}
  containers:
  - name: escape
    image: "{image}"
    args: {args}
    volumeMounts:
    - {{name: host, mountPath: /host, readOnly: true}}
    - {{name: shared, mountPath: /shared, readOnly: true}}
"#,
        host = serde_json::to_string(&host.display().to_string()).unwrap(),
        image = escape_image(),
        args = list(&steps(&all)),
    );
    let out = h.run(&yaml).await;
    assert_eq!(exit_code(container(&out.pod, "escape")), Some(0));
    assert_all_blocked(&h, "readonly", "escape", 20);
    assert_eq!(snapshot(), before, "the read-only host directory changed");
    assert_eq!(std::fs::read_to_string(host.join("keep.txt")).unwrap(), "original\n");
    neighbour.assert_alive(&h).await;
    neighbour.stop().await;
}

/// A TCP service on the host's loopback that greets with a marker and
/// counts the connections it accepted; and a UDP one that answers.
struct HostServices {
    tcp_port: u16,
    udp_port: u16,
    marker: String,
    accepted: Arc<AtomicU64>,
    datagrams: Arc<AtomicU64>,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl HostServices {
    async fn start() -> Self {
        use tokio::io::AsyncWriteExt;
        let marker = format!("HOST-SERVICE-{}", uuid());
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (tcp_port, udp_port) = (tcp.local_addr().unwrap().port(), udp.local_addr().unwrap().port());
        let (accepted, datagrams) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (a, m) = (accepted.clone(), marker.clone());
        let tcp_task = tokio::spawn(async move {
            while let Ok((mut s, _)) = tcp.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let _ = s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{m}\n", m.len() + 1).as_bytes()).await;
            }
        });
        let (d, m) = (datagrams.clone(), marker.clone());
        let udp_task = tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((_, from)) = udp.recv_from(&mut buf).await {
                d.fetch_add(1, Ordering::SeqCst);
                let _ = udp.send_to(m.as_bytes(), from).await;
            }
        });
        Self { tcp_port, udp_port, marker, accepted, datagrams, _tasks: vec![tcp_task, udp_task] }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_host_loopback_services_are_unreachable() {
    let h = Harness::new();
    let neighbour = Neighbour::start(&h).await;
    let host = HostServices::start().await;
    let (tcp, udp, m) = (host.tcp_port, host.udp_port, host.marker.as_str());
    let hostname = gethostname::gethostname().to_string_lossy().into_owned();
    let args = steps(&[
        step(&["tcp", &format!("127.0.0.1:{tcp}"), m]),
        step(&["tcp", &format!("localhost:{tcp}"), m]),
        step(&["tcp", &format!("[::1]:{tcp}"), m]),
        step(&["tcp", &format!("10.88.0.1:{tcp}"), m]),
        step(&["tcp", &format!("{hostname}:{tcp}"), m]),
        step(&["udp", &format!("127.0.0.1:{udp}"), m]),
        step(&["http", &format!("127.0.0.1:{tcp}"), m]),
        step(&["http", &format!("localhost:{tcp}"), m]),
    ]);
    run_escape(&h, "loopback", &args, "", "").await;
    assert_all_blocked(&h, "loopback", "escape", 8);
    assert_eq!(host.accepted.load(Ordering::SeqCst), 0, "the host's TCP service accepted a connection from a pod");
    assert_eq!(host.datagrams.load(Ordering::SeqCst), 0, "the host's UDP service received a datagram from a pod");
    neighbour.assert_alive(&h).await;
    neighbour.stop().await;
}

/// A misspelt step is no attempt: the guest prints no verdict for it (nor
/// for the steps after it) and exits 1, so `run_escape` (exit 0) and
/// `assert_all_blocked` (one verdict per attempt) both fail a test that
/// lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_an_unknown_step_fails_the_run() {
    let h = Harness::new();
    let args = steps(&[step(&["dotdott", "/tmp", "etc/passwd", "root"]), step(&["env", "HOME", "/root"])]);
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: misspelt}}\nspec:\n  restartPolicy: Never\n  containers:\n  - {{name: escape, image: \"{}\", args: {}}}\n",
        escape_image(),
        list(&args)
    );
    let out = h.run(&yaml).await;
    let stdout = h.stdout("misspelt", "escape");
    assert_eq!(exit_code(container(&out.pod, "escape")), Some(1), "{stdout:?}");
    assert_eq!(phase(&out.pod), "Failed");
    assert!(verdicts(&h, "misspelt", "escape").is_empty(), "{stdout:?}");
    assert_eq!(stdout, ["UNKNOWN \"dotdott\": not a step of the escape guest"]);
}

/// The detector itself: access that was granted (hostNetwork, a hostPath)
/// is reported ESCAPED, so BLOCKED elsewhere is not the guest failing to see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_granted_access_is_reported_as_reached() {
    let h = Harness::with_config(|c| c.allow_host_path = true);
    let host = HostServices::start().await;
    let secret = HostSecret::new(&h);
    let args = steps(&[step(&["tcp", &format!("127.0.0.1:{}", host.tcp_port), &host.marker]), step(&["absolute", "/granted/secret.txt", &secret.marker])]);
    let spec =
        format!("  hostNetwork: true\n  volumes: [{{name: g, hostPath: {{path: {}}}}}]\n", serde_json::to_string(&secret.dir.display().to_string()).unwrap());
    run_escape(&h, "granted", &args, &spec, ", volumeMounts: [{name: g, mountPath: /granted, readOnly: true}]").await;
    let lines = verdicts(&h, "granted", "escape");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines.iter().all(|l| l.starts_with("ESCAPED ")), "granted access must be seen: {lines:#?}");
    assert_eq!(host.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_another_pods_localhost_and_ipc_objects_are_invisible() {
    let h = Harness::new();
    let neighbour = Neighbour::start(&h).await;
    assert_eq!(neighbour.handle.ipc_objects().len(), 2, "the neighbour's queue and segment exist");
    let args = steps(&[
        step(&["pod-localhost", NEIGHBOUR_PORT]),
        step(&["ipc-queue", NEIGHBOUR_QUEUE]),
        step(&["ipc-queue", &format!("/{NEIGHBOUR_QUEUE}")]),
        step(&["ipc-queue", &format!("../neighbour/{NEIGHBOUR_QUEUE}")]),
        step(&["ipc-queue", &format!("default/neighbour/{NEIGHBOUR_QUEUE}")]),
        step(&["ipc-segment", NEIGHBOUR_SEGMENT]),
        step(&["ipc-list", NEIGHBOUR_QUEUE]),
        step(&["ipc-list", NEIGHBOUR_SEGMENT]),
    ]);
    run_escape(&h, "prying", &args, "", "").await;
    assert_all_blocked(&h, "prying", "escape", 8);
    // The neighbour's message is still there: nobody received it.
    let queue = neighbour.handle.ipc_objects().into_iter().find(|o| o.name == NEIGHBOUR_QUEUE).expect("the queue is still there");
    assert_eq!(queue.depth, 1, "the neighbour's message was taken");
    neighbour.assert_alive(&h).await;
    neighbour.stop().await;
}

/// Through the `wasmpod` binary, so the variable is in the runtime
/// process's own environment (set for the child, never with `set_var` in
/// this multi-threaded test process).
#[test]
fn escape_the_host_environment_is_not_inherited() {
    let name = format!("WASMPOD_ESCAPE_{}", uuid().to_uppercase());
    let value = format!("host-env-{}", uuid());
    let dir = tempfile::tempdir().unwrap();
    let args = steps(&[step(&["env", &name, &value]), step(&["absolute", "/proc/self/environ", &value])]);
    let pod = dir.path().join("environ.yaml");
    std::fs::write(&pod, format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: environ}}\nspec:\n  restartPolicy: Never\n  containers:\n  - {{name: escape, image: \"{}\", args: {}}}\n", escape_image(), list(&args))).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasmpod"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["run", "-q"])
        .arg(&pod)
        .env(&name, &value)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let verdicts: Vec<&str> = stdout.lines().filter_map(|l| l.find("BLOCKED ").or_else(|| l.find("ESCAPED ")).map(|at| &l[at..])).collect();
    assert_eq!(verdicts.len(), 2, "{stdout}");
    assert!(verdicts.iter().all(|l| l.starts_with("BLOCKED ")), "{stdout}");
    assert!(!stdout.contains(&value), "the host's value reached the pod's output: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_memory_exhaustion_is_oom_killed_and_restarted() {
    let h = Harness::new();
    let neighbour = Neighbour::start(&h).await;
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: hog}}\nspec:\n  restartPolicy: Always\n  containers:\n  - {{name: escape, image: \"{}\", args: [memory, \"16\"], resources: {{limits: {{memory: 16Mi}}}}}}\n",
        escape_image()
    );
    let hog = h.start(&yaml).await;
    let p = wait_until(&hog, "the hog was OOM-killed twice", |p| container(p, "escape").restart_count >= 2).await;
    let last = container(&p, "escape").last_state.as_ref().and_then(|s| s.terminated.clone()).expect("a terminated last state");
    assert_eq!((last.exit_code, last.reason.as_deref()), (137, Some("OOMKilled")), "{last:?}");
    // Killed before it could claim anything.
    assert_eq!(verdicts(&h, "hog", "escape"), Vec::<String>::new());
    neighbour.assert_alive(&h).await;
    assert_runtime_works(&h, "after-oom").await;
    hog.stop();
    tokio::time::timeout(DEADLINE, hog.wait()).await.expect("the hog did not stop");
    neighbour.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_cpu_spinners_do_not_starve_a_neighbour() {
    let h = Harness::new();
    let neighbour = Neighbour::start(&h).await;
    // More spinners than the machine has cores, none of them limited.
    let spinner = |n: u32| format!("  - {{name: spin{n}, image: \"{}\", args: [cpu]}}\n", escape_image());
    let yaml = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: spinners}}\nspec:\n  containers:\n{}{}{}", spinner(1), spinner(2), spinner(3));
    let spinners = h.start(&yaml).await;
    wait_until(&spinners, "the spinners run", all_running).await;
    // Each check waits for progress, not for a time: the neighbour ticks,
    // serves and answers exec while three guests spin.
    for _ in 0..3 {
        neighbour.assert_alive(&h).await;
    }
    assert_runtime_works(&h, "beside-spinners").await;
    let p = spinners.current();
    assert!(all_running(&p), "a spinner was stopped: {:?}", p.status);
    spinners.stop();
    let out = tokio::time::timeout(DEADLINE, spinners.wait()).await.expect("the spinners could not be stopped");
    for n in 1..=3 {
        assert_eq!(exit_code(container(&out.pod, &format!("spin{n}"))), Some(wasmpod::EXIT_TERMINATED));
    }
    neighbour.stop().await;
}

/// The count an exhaustion line reports: "... after N open files ..." or
/// "... with N sockets open ...".
fn count_in(line: &str) -> usize {
    line.split_whitespace().filter_map(|w| w.parse().ok()).next().unwrap_or_else(|| panic!("no count in {line:?}"))
}

/// The open-file cap of the fd tests: well under the soft RLIMIT_NOFILE of
/// 1024 common on developer machines (this test process does not raise it,
/// as the CLI does), so only the cap can stop the guest.
const CAP: usize = 256;

fn capped() -> Harness {
    Harness::with_config(|c| c.max_open_files_per_pod = CAP)
}

/// Starts `yaml`, waits for its container `name` to report, and checks
/// the count in its line; then, while it holds everything it got, that the
/// neighbour and the runtime still open files, logs and sockets.
async fn hog(h: &Harness, neighbour: &Neighbour, pod: &str, name: &str, yaml: &str) {
    let handle = h.start(yaml).await;
    eventually(&format!("{pod}/{name} reports"), || !verdicts(h, pod, name).is_empty()).await;
    let line = assert_all_blocked(h, pod, name, 1).remove(0);
    assert_eq!(count_in(&line), CAP, "stopped at the pod's cap: {line}");
    neighbour.assert_alive(h).await;
    assert_runtime_works(h, &format!("beside-{pod}")).await;
    let p = handle.current();
    assert!(running(&p, name), "the hog keeps running and holding: {:?}", p.status);
    handle.stop();
    tokio::time::timeout(DEADLINE, handle.wait()).await.expect("the hog did not stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_open_files_and_sockets_are_capped_per_pod() {
    let h = capped();
    let neighbour = Neighbour::start(&h).await;
    let image = escape_image();
    let files = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: files}}\nspec:\n  volumes: [{{name: v, emptyDir: {{}}}}]\n  containers:\n  - {{name: hog, image: \"{image}\", args: [files-open, /v], volumeMounts: [{{name: v, mountPath: /v}}]}}\n"
    );
    hog(&h, &neighbour, "files", "hog", &files).await;
    let sockets =
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: sockets}}\nspec:\n  containers:\n  - {{name: hog, image: \"{image}\", args: [sockets]}}\n");
    hog(&h, &neighbour, "sockets", "hog", &sockets).await;
    // A hostNetwork pod's sockets are the host's own descriptors.
    let host_sockets = sockets.replace("name: sockets}", "name: host-sockets}").replace("spec:\n", "spec:\n  hostNetwork: true\n");
    hog(&h, &neighbour, "host-sockets", "hog", &host_sockets).await;
    neighbour.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_a_wasip1_module_is_held_to_the_open_file_cap() {
    let h = capped();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p1}}\nspec:\n  restartPolicy: Never\n  containers:\n  - {{name: hog, image: \"{}\"}}\n",
        crate::harness::guest("open-files.wat")
    );
    let out = h.run(&yaml).await;
    // errno 33 (mfile) at the cap, and a closed descriptor's slot came back.
    assert_eq!(exit_code(container(&out.pod, "hog")), Some(33), "{:?}", out.pod.status);
    assert_runtime_works(&h, "after-p1").await;
}

/// Counts the flooding container's lines instead of keeping them; every
/// other line goes to `lines`.
struct FloodTap {
    lines: Arc<Lines>,
    flooded: AtomicU64,
}

impl LogTap for FloodTap {
    fn line(&self, pod: &str, container: &str, stream: Stream, text: &str) {
        if pod.ends_with("/flood") {
            self.flooded.fetch_add(1, Ordering::Relaxed);
        } else {
            self.lines.line(pod, container, stream, text);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_a_stdout_flood_keeps_its_log_within_rotation() {
    const MAX_SIZE: u64 = 64 * 1024;
    const MAX_FILES: usize = 3;
    let lines = Arc::new(Lines::default());
    let tap = Arc::new(FloodTap { lines: lines.clone(), flooded: AtomicU64::new(0) });
    let t = tap.clone();
    let mut h = Harness::with_config(move |c| {
        c.log_rotation = wasmpod::LogRotation::new(MAX_SIZE, MAX_FILES);
        c.tap = Some(t);
    });
    // The harness's helpers read the lines this tap keeps.
    h.lines = lines;
    let neighbour = Neighbour::start(&h).await;
    let flood = h
        .start(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: flood}}\nspec:\n  containers:\n  - {{name: escape, image: \"{}\", args: [stdout]}}\n",
            escape_image()
        ))
        .await;
    let dir = h.pod_dir("flood").join("logs/escape");
    // Bounded while it floods: at most MAX_FILES files of at most MAX_SIZE
    // (every 100-byte record fits many times over).
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut checks = 0;
    while tap.flooded.load(Ordering::Relaxed) < 200_000 {
        assert!(tokio::time::Instant::now() < deadline, "the flood stalled at {} lines", tap.flooded.load(Ordering::Relaxed));
        let files: Vec<_> = std::fs::read_dir(&dir).map(|d| d.filter_map(|e| e.ok()).collect()).unwrap_or_default();
        assert!(files.len() <= MAX_FILES, "{} log files", files.len());
        for f in &files {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            assert!(len <= MAX_SIZE, "{} is {len} bytes", f.path().display());
        }
        checks += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(checks > 0);
    neighbour.assert_alive(&h).await;
    assert_runtime_works(&h, "beside-flood").await;
    // ~20 MB went through a log that holds at most ~192 KiB.
    // (A file rotated away between the listing and its stat is gone.)
    let total: u64 = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
    assert!(total <= MAX_SIZE * MAX_FILES as u64, "{total} bytes of logs");
    flood.stop();
    tokio::time::timeout(DEADLINE, flood.wait()).await.expect("the flood did not stop");
    neighbour.stop().await;
}

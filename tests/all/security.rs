//! securityContext (identities, owners, runAsNonRoot, read-only roots) and
//! memory limits (OOMKilled), through the real runtime and the toolbox.

use std::path::Path;
use std::time::Duration;

use wasmpod::{Validation, manifest};

use crate::examples::exec;
use crate::harness::{DEADLINE, Harness, container, exit_code, guest, reason, wait_until};

fn running(p: &k8s_openapi::api::core::v1::Pod, name: &str) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.name == name && c.state.as_ref().is_some_and(|s| s.running.is_some())))
}

/// Whether this test process runs as root (then wasmpod chowns for real).
#[cfg(unix)]
fn running_as_root(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = dir.join("whoami-probe");
    std::fs::write(&probe, b"").unwrap();
    std::fs::metadata(&probe).unwrap().uid() == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_security_context_example_shows_uid_42_and_fs_group_231() {
    let h = Harness::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let m = manifest::load_file(&dir.join("security-context.yaml"), Validation::Strict).unwrap();
    let pod = h.runtime.start(h.runtime.plan(&m, &dir).await.unwrap().remove(0)).unwrap();
    wait_until(&pod, "running", |p| running(p, "example-container")).await;
    let c = "example-container";
    // The loop appends right after it starts; wait for the file to exist.
    let start = std::time::Instant::now();
    let listing = loop {
        let (code, out) = exec(&pod, c, &["ls", "-l", "/etc/directory"]).await;
        assert_eq!(code, 0, "{out}");
        if out.contains("file.txt") {
            break out;
        }
        assert!(start.elapsed() < DEADLINE, "file.txt never appeared: {out}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let line = listing.lines().find(|l| l.ends_with(" file.txt")).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((fields[2], fields[3]), ("42", "231"), "{line}");
    assert_eq!(exec(&pod, c, &["id"]).await, (0, "uid=42 gid=0(root) groups=0(root),231\n".to_owned()));
    assert_eq!(exec(&pod, c, &["id", "-G"]).await, (0, "0 231\n".to_owned()));
    let (_, st) = exec(&pod, c, &["stat", "-c", "%u:%g %U", "/etc/directory/file.txt", "/etc/directory", "/tmp"]).await;
    assert_eq!(st, "42:231 UNKNOWN\n0:231 root\n0:0 root\n");
    // Files the container makes in its own root are its own (gid 0: no runAsGroup).
    let (_, st) = exec(&pod, c, &["sh", "-c", "echo x > /mine; stat -c %u:%g /mine"]).await;
    assert_eq!(st, "42:0\n");
    #[cfg(unix)]
    if running_as_root(h.dir.path()) {
        use std::os::unix::fs::MetadataExt;
        let host = h.pod_dir("security-context-pod").join("volumes/simple-directory/file.txt");
        let meta = std::fs::metadata(&host).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (42, 231), "{}", host.display());
    }
    pod.stop();
    pod.wait().await;
}

#[tokio::test]
async fn run_as_non_root_with_uid_0_is_a_create_container_config_error_and_the_rest_runs() {
    let h = Harness::new();
    let yaml = r#"apiVersion: v1
kind: Pod
metadata: {name: nonroot}
spec:
  restartPolicy: Never
  securityContext: {runAsNonRoot: true}
  containers:
  - {name: rooty, image: alpine, command: ["sh", "-c", "echo never"]}
  - {name: ok, image: alpine, command: ["sh", "-c", "id -u"], securityContext: {runAsUser: 1000}}
"#;
    let pod = h.start(yaml).await;
    let p = wait_until(&pod, "ok exited", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.name == "ok" && c.state.as_ref().is_some_and(|s| s.terminated.is_some())))
    })
    .await;
    let rooty = container(&p, "rooty");
    assert_eq!(reason(rooty).as_deref(), Some("CreateContainerConfigError"));
    let waiting = rooty.state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert_eq!(waiting.message.as_deref(), Some("container has runAsNonRoot and image will run as root"));
    assert_eq!(exit_code(container(&p, "ok")), Some(0));
    assert_eq!(h.stdout("nonroot", "ok"), vec!["1000"]);
    pod.stop();
    pod.wait().await;
}

#[tokio::test]
async fn read_only_root_filesystem_refuses_writes_to_the_root_but_not_to_volumes() {
    let h = Harness::new();
    let yaml = r#"apiVersion: v1
kind: Pod
metadata: {name: roroot}
spec:
  restartPolicy: Never
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
  - name: main
    image: alpine
    command: ["sh", "-c", "echo x > /f; echo root=$?; echo y > /data/f; echo vol=$?"]
    securityContext: {readOnlyRootFilesystem: true}
    volumeMounts: [{name: scratch, mountPath: /data}]
"#;
    let out = h.run(yaml).await;
    assert_eq!(exit_code(container(&out.pod, "main")), Some(0));
    assert_eq!(h.stdout("roroot", "main"), vec!["root=1", "vol=0"]);
    assert_eq!(h.lines_of("roroot", "main", wasmpod::Stream::Stderr), ["sh: can't create '/f': Read-only file system"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_volume_shared_by_two_identities_each_file_belongs_to_its_creator() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: two-writers}
spec:
  securityContext: {fsGroup: 231}
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - {name: a, image: alpine, command: ["sleep", "3600"], securityContext: {runAsUser: 1000}, volumeMounts: [{name: data, mountPath: /data}]}
  - {name: b, image: alpine, command: ["sleep", "3600"], securityContext: {runAsUser: 2000}, volumeMounts: [{name: data, mountPath: /data}]}
"#;
    let pod = h.start(yaml).await;
    wait_until(&pod, "both running", |p| running(p, "a") && running(p, "b")).await;
    assert_eq!(exec(&pod, "a", &["sh", "-c", "echo a > /data/from-a"]).await.0, 0);
    assert_eq!(exec(&pod, "b", &["sh", "-c", "echo b > /data/from-b; echo more >> /data/from-a; mkdir /data/dir"]).await.0, 0);
    // Appending does not make b the owner; a directory made by mkdir has
    // no noted creator and shows the volume's owner.
    let (code, st) = exec(&pod, "a", &["stat", "-c", "%u:%g %n", "/data/from-a", "/data/from-b", "/data/dir"]).await;
    assert_eq!((code, st.as_str()), (0, "1000:231 /data/from-a\n2000:231 /data/from-b\n0:231 /data/dir\n"));
    pod.stop();
    tokio::time::timeout(DEADLINE, pod.wait()).await.unwrap();
}

#[tokio::test]
async fn going_over_the_memory_limit_is_oom_killed_137_restarted_and_the_rest_keeps_running() {
    let h = Harness::new();
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: hog}}
spec:
  restartPolicy: Always
  containers:
  - name: hog
    image: "{}"
    resources: {{limits: {{memory: 8Mi}}}}
  - {{name: steady, image: alpine, command: ["sh", "-c", "while true; do sleep 1; done"]}}
"#,
        guest("grow.wat")
    );
    let pod = h.start(&yaml).await;
    let p = wait_until(&pod, "hog restarted after an OOM kill", |p| {
        p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.name == "hog" && c.restart_count >= 1))
    })
    .await;
    let hog = container(&p, "hog");
    let last = hog.last_state.as_ref().and_then(|s| s.terminated.as_ref()).expect("hog's last state is terminated");
    assert_eq!((last.exit_code, last.reason.as_deref()), (137, Some("OOMKilled")));
    assert!(last.message.as_deref().is_some_and(|m| m.contains("of 8388608 bytes")), "{last:?}");
    let steady = container(&p, "steady");
    assert!(steady.state.as_ref().is_some_and(|s| s.running.is_some()) && steady.restart_count == 0, "{steady:?}");
    pod.stop();
    pod.wait().await;
}

#[tokio::test]
async fn files_in_a_memory_backed_volume_count_against_their_writers_limit() {
    let h = Harness::with_config(|c| c.volume_usage_interval = Duration::from_millis(50));
    // Both containers mount the volume writable, so the bytes are charged
    // by who wrote the file, not by who could have: only `writer` is over.
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: shm-hog}
spec:
  restartPolicy: Never
  volumes: [{name: shm, emptyDir: {medium: Memory}}]
  containers:
  - name: writer
    image: alpine
    command: ["sh", "-c", "seq 1 1700000 > /shm/big; echo written; sleep 3600"]
    resources: {limits: {memory: 8Mi}}
    volumeMounts: [{name: shm, mountPath: /shm}]
  - name: neighbour
    image: alpine
    command: ["sh", "-c", "sleep 3600"]
    resources: {limits: {memory: 8Mi}}
    volumeMounts: [{name: shm, mountPath: /shm}]
"#;
    let pod = h.start(yaml).await;
    let p = wait_until(&pod, "the writer was OOM killed", |p| container(p, "writer").state.as_ref().is_some_and(|s| s.terminated.is_some())).await;
    let writer = container(&p, "writer").state.as_ref().and_then(|s| s.terminated.as_ref()).unwrap();
    assert_eq!((writer.exit_code, writer.reason.as_deref()), (137, Some("OOMKilled")), "{writer:?}");
    assert!(
        writer.message.as_deref().is_some_and(|m| m.contains("bytes of files in memory-backed emptyDir volumes") && m.contains("of 8388608 bytes")),
        "{writer:?}"
    );
    let neighbour = container(&p, "neighbour");
    assert!(neighbour.state.as_ref().is_some_and(|s| s.running.is_some()) && neighbour.restart_count == 0, "{neighbour:?}");
    pod.stop();
    tokio::time::timeout(DEADLINE, pod.wait()).await.unwrap();
}

#[tokio::test]
async fn without_a_limit_memory_grows_to_what_wasm_allows() {
    let h = Harness::new();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: free}}\nspec:\n  restartPolicy: Never\n  containers:\n  - {{name: grow, image: \"{}\"}}\n",
        guest("grow.wat")
    );
    let out = h.run(&yaml).await;
    // The guest saw memory.grow fail at the 32-bit memory's end and exited 3.
    assert_eq!(exit_code(container(&out.pod, "grow")), Some(3));
}

//! Images from a real OCI registry: Debian's docker-registry (distribution
//! 2.8) started on a loopback port (`.ci/docker-registry.sh` finds or
//! fetches it), driven by the `wasmpod` binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

fn registry_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("WASMPOD_TEST_REGISTRY") {
        return p.into();
    }
    let out = Command::new("bash").arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/docker-registry.sh")).stderr(Stdio::inherit()).output().unwrap();
    assert!(out.status.success(), "cannot find or fetch Debian's docker-registry (set WASMPOD_TEST_REGISTRY to its path)");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A docker-registry process on 127.0.0.1, killed on drop.
pub(crate) struct TestRegistry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestRegistry {
    /// Starts one; with `user` and `password`, behind htpasswd (bcrypt).
    pub(crate) fn start(login: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut config = format!(
            "version: 0.1\nlog: {{level: warn, accesslog: {{disabled: true}}}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp: {{addr: \"127.0.0.1:{port}\", secret: wasmpod-test}}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = login {
            let line = format!("{user}:{}\n", bcrypt::hash(password, 4).unwrap());
            std::fs::write(dir.path().join("htpasswd"), line).unwrap();
            config.push_str(&format!("auth:\n  htpasswd: {{realm: wasmpod-test, path: {}}}\n", dir.path().join("htpasswd").display()));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child =
            Command::new(registry_binary()).arg("serve").arg(dir.path().join("config.yml")).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        let reg = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reg.try_http("GET", "/v2/", &[], &[]).is_none() {
            assert!(
                Instant::now() < deadline,
                "the registry did not start: {}",
                std::fs::read_to_string(reg.dir.path().join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        reg
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn try_http(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Option<(u16, String, Vec<u8>)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n", self.host(), body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).ok()?;
        s.write_all(body).ok()?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).ok()?;
        let end = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&resp[..end]).into_owned();
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some((status, head, resp[end + 4..].to_vec()))
    }

    /// A request that must succeed with `want`; returns the response head.
    fn http(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8], want: u16) -> String {
        let (status, head, body) = self.try_http(method, path, headers, body).expect("the registry answers");
        assert_eq!(status, want, "{method} {path}: {head}\n{}", String::from_utf8_lossy(&body));
        head
    }

    /// Uploads a blob (monolithic) and returns its digest.
    fn blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        let head = self.http("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[], 202);
        let location = head.lines().find_map(|l| l.strip_prefix("Location: ")).expect("an upload location").trim();
        let path = location.split_once(&self.host()).map_or(location, |(_, p)| p);
        let sep = if path.contains('?') { '&' } else { '?' };
        self.http("PUT", &format!("{path}{sep}digest={digest}"), &[("Content-Type", "application/octet-stream")], bytes, 201);
        digest
    }

    /// Puts a manifest (or index) under `reference`; returns its digest.
    fn manifest(&self, repo: &str, reference: &str, media_type: &str, body: &serde_json::Value) -> String {
        let bytes = serde_json::to_vec(body).unwrap();
        self.http("PUT", &format!("/v2/{repo}/manifests/{reference}"), &[("Content-Type", media_type)], &bytes, 201);
        format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
    }

    /// An image of `config` (OCI image config) with one layer.
    fn image(&self, repo: &str, tag: &str, config: serde_json::Value, layer: &[u8], layer_type: &str) -> (String, usize) {
        self.image_of_layers(repo, tag, config, &[(layer, layer_type)])
    }

    /// An image of `config` with `layers` (bytes and media type, lowest first).
    fn image_of_layers(&self, repo: &str, tag: &str, config: serde_json::Value, layers: &[(&[u8], &str)]) -> (String, usize) {
        let config = serde_json::to_vec(&config).unwrap();
        let c = self.blob(repo, &config);
        let layers: Vec<serde_json::Value> =
            layers.iter().map(|(bytes, t)| serde_json::json!({"mediaType": t, "digest": self.blob(repo, bytes), "size": bytes.len()})).collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
            "layers": layers,
        });
        let size = serde_json::to_vec(&manifest).unwrap().len();
        (self.manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", &manifest), size)
    }
}

pub(crate) fn wasmpod(state: &Path, args: &[&str]) -> Output {
    // No user credentials leak in from the machine.
    Command::new(env!("CARGO_BIN_EXE_wasmpod")).arg("--state-dir").arg(state).args(args).env("DOCKER_CONFIG", state.join("no-docker-config")).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn hello_http() -> PathBuf {
    PathBuf::from(concat!(env!("WASMPOD_GUESTS_DIR"), "/hello_http.wasm"))
}

#[test]
fn push_pull_list_and_remove_against_a_registry_with_basic_auth() {
    let reg = TestRegistry::start(Some(("alice", "s3cret")));
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{}/demo/hello:v1", reg.host());
    let wasm = hello_http();

    // No credentials: the registry says no, and wasmpod says why.
    let out = wasmpod(&dir.path().join("a"), &["push", wasm.to_str().unwrap(), &image]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("unauthorized"), "{}", text(&out.stderr));

    // A Docker config with the login, as `docker login` writes it.
    let auth_file = dir.path().join("config.json");
    let login = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    std::fs::write(&auth_file, serde_json::json!({"auths": {reg.host(): {"auth": login}}}).to_string()).unwrap();
    let auth = auth_file.to_str().unwrap();
    let out = wasmpod(&dir.path().join("a"), &["push", "--registry-auth-file", auth, wasm.to_str().unwrap(), &image]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pushed_digest = text(&out.stdout).trim().to_owned();
    assert!(pushed_digest.starts_with("sha256:") && pushed_digest.len() == 71, "{pushed_digest}");

    // Another state directory pulls it: the same manifest, the .wasm stored
    // under its digest, byte for byte.
    let state = dir.path().join("b");
    let out = wasmpod(&state, &["pull", "--registry-auth-file", auth, &image]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), pushed_digest);
    let bytes = std::fs::read(&wasm).unwrap();
    assert!(text(&out.stderr).contains(&format!("Image size: {} bytes.", bytes.len())), "{}", text(&out.stderr));
    let blob = state.join("images/blobs/sha256").join(hex::encode(Sha256::digest(&bytes)));
    assert_eq!(std::fs::read(&blob).unwrap(), bytes);
    let out = wasmpod(&state, &["images"]);
    let listing = text(&out.stdout);
    let row = listing.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with(&format!("{}/demo/hello", reg.host())) && row.contains(" v1 ") && row.contains(&pushed_digest[7..19]) && row.contains("wasip2"),
        "{listing}"
    );

    // Pulled again: the layer is there already.
    let out = wasmpod(&state, &["pull", "--registry-auth-file", auth, &image]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("layer already present"), "{}", text(&out.stderr));

    // A tag the registry does not have: its own error code.
    let out = wasmpod(&state, &["pull", "--registry-auth-file", auth, &format!("{}/demo/hello:nope", reg.host())]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("MANIFEST_UNKNOWN"), "{}", text(&out.stderr));

    // Removed: the record and the blob; a second removal finds nothing.
    let out = wasmpod(&state, &["rmi", &image]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("Deleted: "), "{}", text(&out.stdout));
    assert!(!blob.exists());
    assert_eq!(text(&wasmpod(&state, &["images"]).stdout).lines().count(), 1, "only the header");
    let out = wasmpod(&state, &["rmi", &image]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no such image"), "{}", text(&out.stderr));
}

#[test]
fn images_that_are_not_wasm_are_refused_with_what_they_are_and_an_index_gives_its_wasm() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let host = reg.host();

    // A Linux image.
    let (amd64, amd64_size) = reg.image(
        "app",
        "linux",
        serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}),
        b"not a real tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    );
    let out = wasmpod(&state, &["pull", &format!("{host}/app:linux")]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("image {host}/app:linux is a linux/amd64 image: wasmpod runs WebAssembly images")), "{}", text(&out.stderr));

    // An index of Linux platforms.
    let (arm64, arm64_size) = reg.image(
        "app",
        "arm",
        serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"}),
        b"also not a tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    );
    let entry = |digest: &str, size: usize, os: &str, arch: &str| serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size, "platform": {"os": os, "architecture": arch}});
    let index =
        |entries: Vec<serde_json::Value>| serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries});
    reg.manifest(
        "app",
        "multi",
        "application/vnd.oci.image.index.v1+json",
        &index(vec![entry(&amd64, amd64_size, "linux", "amd64"), entry(&arm64, arm64_size, "linux", "arm64")]),
    );
    let out = wasmpod(&state, &["pull", &format!("{host}/app:multi")]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("is for linux/amd64, linux/arm64: wasmpod runs WebAssembly images"), "{}", text(&out.stderr));

    // An index with a wasm platform beside them: that one is pulled.
    let out = wasmpod(&state, &["push", hello_http().to_str().unwrap(), &format!("{host}/app:wasm")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let wasm_digest = text(&out.stdout).trim().to_owned();
    let (_, head, manifest) =
        reg.try_http("GET", &format!("/v2/app/manifests/{wasm_digest}"), &[("Accept", "application/vnd.oci.image.manifest.v1+json")], &[]).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    reg.manifest(
        "app",
        "both",
        "application/vnd.oci.image.index.v1+json",
        &index(vec![entry(&amd64, amd64_size, "linux", "amd64"), entry(&wasm_digest, manifest.len(), "wasip2", "wasm")]),
    );
    let fresh = dir.path().join("fresh");
    let out = wasmpod(&fresh, &["pull", &format!("{host}/app:both")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), wasm_digest, "the wasm platform's manifest");

    // A wasm image with zstd layers, which wasmpod does not unpack.
    reg.image(
        "app",
        "zstd",
        serde_json::json!({"architecture": "wasm", "os": "wasi", "config": {"Entrypoint": ["/app.wasm"]}}),
        b"zstd bytes",
        "application/vnd.oci.image.layer.v1.tar+zstd",
    );
    let out = wasmpod(&state, &["pull", &format!("{host}/app:zstd")]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is a wasi/wasm image with layers wasmpod does not read (application/vnd.oci.image.layer.v1.tar+zstd)"),
        "{}",
        text(&out.stderr)
    );

    // Nothing of the refused images was stored.
    assert_eq!(text(&wasmpod(&state, &["images"]).stdout).lines().count(), 2, "the header and the pushed image");
}

#[test]
fn a_bad_reference_is_refused_with_the_kubelets_words() {
    let dir = tempfile::tempdir().unwrap();
    let out = wasmpod(dir.path(), &["pull", "Not/Valid:Name"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("couldn't parse image name \"Not/Valid:Name\": invalid reference format"), "{}", text(&out.stderr));
}

#[test]
fn a_pulled_image_runs_in_a_pod() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{}/tools/toolbox:v1", reg.host());
    let toolbox = PathBuf::from(concat!(env!("WASMPOD_GUESTS_DIR"), "/toolbox.wasm"));
    let out = wasmpod(&dir.path().join("publisher"), &["push", toolbox.to_str().unwrap(), &image]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pod = dir.path().join("pod.yaml");
    std::fs::write(
        &pod,
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  restartPolicy: Never\n  containers:\n  - {{name: c, image: \"{image}\", args: [\"echo\", \"from the registry\"]}}\n"),
    )
    .unwrap();
    // Not pulled here yet: the pod pulls it when its container starts.
    let state = dir.path().join("s");
    let out = wasmpod(&state, &["run", pod.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("[p/c] from the registry"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains(&format!("Successfully pulled image \"{image}\" in ")), "{}", text(&out.stderr));
    assert!(text(&wasmpod(&state, &["images"]).stdout).contains("tools/toolbox"), "the pull is kept in the store");
    // Present now: IfNotPresent (a tag that is not latest) does not pull again.
    let out = wasmpod(&state, &["run", pod.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("Container image \"{image}\" already present on machine")), "{}", text(&out.stderr));
}

fn push(reg: &TestRegistry, publisher: &Path, file: &Path, image: &str, auth: Option<&Path>) {
    let mut args = vec!["push", file.to_str().unwrap(), image];
    if let Some(a) = auth {
        args.extend(["--registry-auth-file", a.to_str().unwrap()]);
    }
    let out = wasmpod(publisher, &args);
    assert_eq!(out.status.code(), Some(0), "push to {}: {}", reg.host(), text(&out.stderr));
}

fn toolbox() -> PathBuf {
    PathBuf::from(concat!(env!("WASMPOD_GUESTS_DIR"), "/toolbox.wasm"))
}

fn waiting_reason(pod: &k8s_openapi::api::core::v1::Pod, name: &str) -> Option<String> {
    container(pod, name).state.as_ref()?.waiting.as_ref()?.reason.clone()
}

fn waiting_message(pod: &k8s_openapi::api::core::v1::Pod, name: &str) -> String {
    container(pod, name).state.as_ref().and_then(|s| s.waiting.as_ref()).and_then(|w| w.message.clone()).unwrap_or_default()
}

fn one_pod(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n{extra}  containers:\n  - name: c\n    image: \"{image}\"\n    args: [echo, hello from {name}]\n"
    )
}

use crate::harness::{Harness, container, phase, wait_until};

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_waits_in_err_image_pull_and_image_pull_back_off_and_runs_once_it_is_published() {
    let reg = TestRegistry::start(None);
    let h = Harness::new();
    let image = format!("{}/late/app:v1", reg.host());
    let handle = h.start(&one_pod("late", &image, "")).await;
    let pod = wait_until(&handle, "ErrImagePull", |p| waiting_reason(p, "c").as_deref() == Some("ErrImagePull")).await;
    assert_eq!(phase(&pod), "Pending");
    assert!(waiting_message(&pod, "c").contains("MANIFEST_UNKNOWN"), "{}", waiting_message(&pod, "c"));
    let pod = wait_until(&handle, "ImagePullBackOff", |p| waiting_reason(p, "c").as_deref() == Some("ImagePullBackOff")).await;
    let message = waiting_message(&pod, "c");
    assert!(message.starts_with(&format!("Back-off pulling image \"{image}\": ErrImagePull: ")), "{message}");
    let events = h.events("late");
    for text in [
        format!("Pulling image \\\"{image}\\\""),
        format!("Failed to pull image \\\"{image}\\\": "),
        "Error: ErrImagePull".to_owned(),
        format!("Back-off pulling image \\\"{image}\\\""),
        "Error: ImagePullBackOff".to_owned(),
    ] {
        assert!(events.contains(&text), "no {text:?} in {events}");
    }
    // Published now: the next pull after the back-off finds it and the pod runs.
    let publisher = h.dir.path().join("publisher");
    push(&reg, &publisher, &toolbox(), &image, None);
    let outcome = tokio::time::timeout(crate::harness::DEADLINE, handle.wait()).await.expect("the pod ends once its image is there");
    assert_eq!(phase(&outcome.pod), "Succeeded");
    assert_eq!(h.stdout("late", "c"), ["hello from late"]);
    let status = container(&outcome.pod, "c");
    assert!(status.image_id.starts_with(&format!("{}/late/app@sha256:", reg.host())), "{}", status.image_id);
    let events = h.events("late");
    assert!(events.contains(&format!("Successfully pulled image \\\"{image}\\\" in ")) && events.contains("Image size: "), "{events}");
}

#[tokio::test(flavor = "multi_thread")]
async fn never_and_bad_names_wait_with_their_reasons_and_two_pods_pull_one_image_once() {
    let reg = TestRegistry::start(None);
    let h = Harness::new();
    let image = format!("{}/shared/app:v2", reg.host());
    // Never, and not stored: ErrImageNeverPull.
    let never = h.start(&one_pod("never", &image, "").replace("    args:", "    imagePullPolicy: Never\n    args:")).await;
    let pod = wait_until(&never, "ErrImageNeverPull", |p| waiting_reason(p, "c").as_deref() == Some("ErrImageNeverPull")).await;
    assert_eq!(waiting_message(&pod, "c"), format!("Container image \"{image}\" is not present with pull policy of Never"));
    // A name that does not parse: InvalidImageName, for good.
    let bad = h.start(&one_pod("bad", "Not/Valid:Name", "")).await;
    let pod = wait_until(&bad, "InvalidImageName", |p| waiting_reason(p, "c").as_deref() == Some("InvalidImageName")).await;
    assert_eq!(
        waiting_message(&pod, "c"),
        "Failed to apply default image tag \"Not/Valid:Name\": couldn't parse image name \"Not/Valid:Name\": invalid reference format"
    );
    // Two pods of one image started together: one pulls, the other waits
    // for that pull and finds the image present.
    push(&reg, &h.dir.path().join("publisher"), &toolbox(), &image, None);
    let (ya, yb) = (one_pod("a", &image, ""), one_pod("b", &image, ""));
    let (a, b) = (h.start(&ya).await, h.start(&yb).await);
    for handle in [a, b] {
        let outcome = tokio::time::timeout(crate::harness::DEADLINE, handle.wait()).await.unwrap();
        assert_eq!(phase(&outcome.pod), "Succeeded");
    }
    let (ea, eb) = (h.events("a"), h.events("b"));
    let pulls = [&ea, &eb].iter().filter(|e| e.contains("Successfully pulled image")).count();
    let present = [&ea, &eb].iter().filter(|e| e.contains("already present on machine")).count();
    assert_eq!((pulls, present), (1, 1), "a: {ea}\nb: {eb}");
    // The Never pod rechecks, finds it, and runs.
    let outcome = tokio::time::timeout(crate::harness::DEADLINE, never.wait()).await.unwrap();
    assert_eq!(phase(&outcome.pod), "Succeeded");
    bad.stop();
    let outcome = tokio::time::timeout(crate::harness::DEADLINE, bad.wait()).await.unwrap();
    assert_eq!(phase(&outcome.pod), "Pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn image_pull_secrets_open_a_private_registry() {
    let reg = TestRegistry::start(Some(("alice", "s3cret")));
    let h = Harness::new();
    let image = format!("{}/private/app:v1", reg.host());
    let auth = h.dir.path().join("auth.json");
    let config = serde_json::json!({"auths": {reg.host(): {"auth": base64::engine::general_purpose::STANDARD.encode("alice:s3cret")}}});
    std::fs::write(&auth, config.to_string()).unwrap();
    push(&reg, &h.dir.path().join("publisher"), &toolbox(), &image, Some(&auth));
    // Without the secret: unauthorized.
    let handle = h.start(&one_pod("nosecret", &image, "")).await;
    let pod = wait_until(&handle, "ErrImagePull", |p| waiting_reason(p, "c").as_deref() == Some("ErrImagePull")).await;
    assert!(waiting_message(&pod, "c").contains("unauthorized"), "{}", waiting_message(&pod, "c"));
    handle.stop();
    // With a kubernetes.io/dockerconfigjson Secret: pulled and run; a
    // missing second secret is warned about, as the kubelet does.
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: regcred}}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n---\n",
        base64::engine::general_purpose::STANDARD.encode(config.to_string())
    );
    let yaml = secret + &one_pod("withsecret", &image, "  imagePullSecrets: [{name: regcred}, {name: absent}]\n");
    let outcome = tokio::time::timeout(crate::harness::DEADLINE, h.start(&yaml).await.wait()).await.unwrap();
    assert_eq!(phase(&outcome.pod), "Succeeded", "{}", h.events("withsecret"));
    assert_eq!(h.stdout("withsecret", "c"), ["hello from withsecret"]);
    assert!(h.events("withsecret").contains("Unable to retrieve some image pull secrets (absent)"), "{}", h.events("withsecret"));
}

/// A tar of `files` (path, bytes; a `->` in the path makes a symbolic
/// link), gzip-compressed when `gzip`.
fn tar_layer(files: &[(&str, &[u8])], gzip: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_size(0);
        match path.split_once(" -> ") {
            Some((link, target)) => {
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, link, target).unwrap();
            }
            None => {
                h.set_size(bytes.len() as u64);
                b.append_data(&mut h, path, *bytes).unwrap();
            }
        }
    }
    let tar = b.into_inner().unwrap();
    if !gzip {
        return tar;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasm_image_with_filesystem_layers_runs_what_its_entrypoint_names_and_a_bomb_is_stopped() {
    let reg = TestRegistry::start(None);
    // A small unpack limit, so the bomb below needs only 16 MiB of zeros.
    let h = Harness::with_config(|c| c.registry.max_unpacked_size = 4 << 20);
    let toolbox = std::fs::read(toolbox()).unwrap();
    // As `docker buildx --platform wasi/wasm` lays it out: a lower layer
    // with an older file, an upper one with the program and a link to it.
    let low = tar_layer(&[("app/toolbox.wasm", b"an older build, not wasm"), ("app/notes.txt", b"from the image\n"), ("app/gone.txt", b"x")], true);
    let high = tar_layer(&[("app/toolbox.wasm", &toolbox), ("bin/toolbox -> ../app/toolbox.wasm", b""), ("app/.wh.gone.txt", b"")], false);
    let config = serde_json::json!({
        "architecture": "wasm", "os": "wasip2",
        "config": {"Entrypoint": ["/bin/toolbox"], "Cmd": ["sh", "-c", "echo $GREETING in $PWD; cat notes.txt; ls"], "Env": ["GREETING=hello"], "WorkingDir": "/app"}
    });
    let tar_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    reg.image_of_layers("built", "v1", config, &[(&low, tar_gzip), (&high, "application/vnd.oci.image.layer.v1.tar")]);
    // A bomb: a few KiB of gzip that unpack to 16 MiB.
    let zeros = vec![0u8; 16 << 20];
    let bomb = tar_layer(&[("pad", &zeros), ("app.wasm", &toolbox)], true);
    assert!(bomb.len() < toolbox.len() + (256 << 10), "{}", bomb.len());
    let config = serde_json::json!({"architecture": "wasm", "os": "wasip2", "config": {"Entrypoint": ["/app.wasm"]}});
    reg.image_of_layers("bomb", "v1", config, &[(&bomb, tar_gzip)]);

    let image = format!("{}/built:v1", reg.host());
    let pod =
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: built}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: \"{image}\"\n");
    let bombed = one_pod("bombed", &format!("{}/bomb:v1", reg.host()), "");
    let (built, bombed) = (h.start(&pod).await, h.start(&bombed).await);
    let pod = wait_until(&bombed, "ErrImagePull", |p| waiting_reason(p, "c").as_deref() == Some("ErrImagePull")).await;
    let message = waiting_message(&pod, "c");
    assert!(message.contains("its layers unpack to more than 4194304 bytes"), "{message}");
    // Its neighbour is unaffected: it runs the file the Entrypoint names,
    // with the image's Cmd, Env and WorkingDir.
    let outcome = tokio::time::timeout(crate::harness::DEADLINE, built.wait()).await.expect("the pod ends");
    assert_eq!(phase(&outcome.pod), "Succeeded", "{}", h.events("built"));
    // Its other files are in the container's root (the whiteout's file
    // not; the program not copied again).
    assert_eq!(h.stdout("built", "c"), ["hello in /app", "from the image", "notes.txt"]);
    let events = h.events("built");
    assert!(events.contains(&format!("Image size: {} bytes.", toolbox.len())), "{events}");
    bombed.stop();
    tokio::time::timeout(crate::harness::DEADLINE, bombed.wait()).await.unwrap();
    // The store holds the program and the image's files: no layer, no
    // part of the bomb.
    let roots: Vec<_> = std::fs::read_dir(h.dir.path().join("state/images/roots")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(roots.len(), 1, "{roots:?}");
    assert_eq!(std::fs::read_to_string(roots[0].join("app/notes.txt")).unwrap(), "from the image\n");
    let blobs: Vec<String> =
        std::fs::read_dir(h.dir.path().join("state/images/blobs/sha256")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(blobs, [hex::encode(Sha256::digest(&toolbox))]);
    assert_eq!(std::fs::read_dir(h.dir.path().join("state/images/tmp")).unwrap().count(), 0);
    // Removing the image removes its files too.
    let out = wasmpod(&h.dir.path().join("state"), &["rmi", &image]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!roots[0].exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn unused_images_are_collected_past_the_high_threshold_least_recently_used_first_and_images_pods_name_are_kept() {
    let reg = TestRegistry::start(None);
    let h = Harness::new();
    let publisher = h.dir.path().join("publisher");
    let (unused, named) = (format!("{}/gc/unused:v1", reg.host()), format!("{}/gc/named:v1", reg.host()));
    push(&reg, &publisher, &hello_http(), &unused, None);
    push(&reg, &publisher, &toolbox(), &named, None);
    // `unused` is pulled into the runtime's store with no pod naming it;
    // `named` by a pod that ran and is still there (not deleted).
    let store = wasmpod::registry::Registry::open(&h.dir.path().join("state"), Default::default(), Default::default()).unwrap();
    store.pull(&wasmpod::registry::ImageReference::parse(&unused).unwrap()).await.unwrap();
    let pod = h.start(&one_pod("named", &named, "")).await;
    let outcome = tokio::time::timeout(crate::harness::DEADLINE, pod.wait()).await.unwrap();
    assert_eq!(phase(&outcome.pod), "Succeeded");
    let stored = |r: &str| store.images().iter().any(|i| i.reference == r);
    assert!(stored(&unused) && stored(&named));

    // Too young for a minimum age of an hour: nothing goes, whatever the disk.
    let young = wasmpod::registry::ImageGcPolicy::new(1, 0, Duration::from_secs(3600)).unwrap();
    let report = h.runtime.collect_images(&young).await.unwrap();
    assert!(report.used_percent >= 1 && report.to_free > 0, "{report:?}");
    assert_eq!((report.removed.len(), report.freed), (0, 0));
    assert!(stored(&unused));

    // Past a 1% threshold, down to 0%: the unused image goes (its blob
    // too), the named one stays, and freeing the whole disk falls short in
    // the kubelet's words.
    let all = wasmpod::registry::ImageGcPolicy::new(1, 0, Duration::ZERO).unwrap();
    let report = h.runtime.collect_images(&all).await.unwrap();
    assert_eq!(report.removed, std::slice::from_ref(&unused));
    assert_eq!(report.freed, std::fs::metadata(hello_http()).unwrap().len());
    assert!(!stored(&unused) && stored(&named));
    assert!(report.shortfall().unwrap().starts_with("Failed to garbage collect required amount of images. Attempted to free "), "{report:?}");
    let blob = h.dir.path().join("state/images/blobs/sha256").join(hex::encode(Sha256::digest(std::fs::read(hello_http()).unwrap())));
    assert!(!blob.exists());

    // Deleted, the pod no longer holds its image.
    h.runtime.delete("default", "named", None).unwrap();
    h.runtime.settle().await;
    assert!(h.runtime.get("default", "named").is_err(), "the record is gone");
    let report = h.runtime.collect_images(&all).await.unwrap();
    assert_eq!(report.removed, [named]);
}

#[test]
fn image_gc_thresholds_are_checked_as_the_kubelet_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = wasmpod(dir.path(), &["serve", "--image-gc-high-threshold", "70", "--image-gc-low-threshold", "75"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) 75 must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) 70"
        ),
        "{}",
        text(&out.stderr)
    );
}

/// `wasmpod bench --only pull`: every figure of the pull scenario, from a
/// real registry (the bench pushes its own 2 MiB component there).
#[test]
fn the_pull_bench_prints_its_figures() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let out = wasmpod(dir.path(), &["bench", "--quick", "--json", "--only", "pull", "--registry", &reg.host()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    for key in [
        "pull_2mib_p50_ms",
        "pull_2mib_mib_per_s",
        "pull_cold_first_line_p50_ms",
        "pull_warm_store_first_line_ms",
        "pull_warm_loaded_first_line_p50_ms",
        "pull_always_first_line_p50_ms",
    ] {
        let value = report[key].as_f64().unwrap_or_else(|| panic!("no {key} in {report}"));
        assert!(value > 0.0, "{key} = {value}");
    }
    // The scenario says what it needs.
    let out = wasmpod(dir.path(), &["bench", "--only", "pull"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("the pull scenario needs --registry HOST:PORT"), "{}", text(&out.stderr));
}

/// The wasm layer's file in the registry's own storage.
fn stored_blob(reg: &TestRegistry, bytes: &[u8]) -> PathBuf {
    let hex = hex::encode(Sha256::digest(bytes));
    reg.dir.path().join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(&hex).join("data")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_that_lies_or_hangs_fails_the_pull_clearly_and_harms_neither_the_store_nor_a_neighbour() {
    let reg = TestRegistry::start(None);
    let h = Harness::with_config(|c| {
        c.registry.read_timeout = Duration::from_secs(1);
        c.registry.connect_timeout = Duration::from_secs(1);
        c.registry.pull_timeout = Duration::from_secs(3);
    });
    let wasm = toolbox();
    let toolbox = std::fs::read(&wasm).unwrap();
    let blobs = h.dir.path().join("state/images/blobs/sha256");
    let neighbour = h.start(&one_pod("neighbour", "builtin:toolbox", "")).await;

    // The registry serves other bytes under the digest: refused by digest.
    let image = format!("{}/lie/digest:v1", reg.host());
    push(&reg, &h.dir.path().join("publisher"), &wasm, &image, None);
    let file = stored_blob(&reg, &toolbox);
    let mut other = toolbox.clone();
    for b in other.iter_mut().skip(100).take(64) {
        *b ^= 0xff;
    }
    std::fs::write(&file, &other).unwrap();
    let pod = h.start(&one_pod("digest", &image, "")).await;
    let seen = wait_until(&pod, "ErrImagePull", |p| waiting_reason(p, "c").as_deref() == Some("ErrImagePull")).await;
    let message = waiting_message(&seen, "c");
    // oci-client's stream check or the store's, whichever sees it first.
    assert!(message.contains("Invalid digest. Expected") || message.contains("the content is not what was asked for"), "{message}");
    pod.stop();
    tokio::time::timeout(crate::harness::DEADLINE, pod.wait()).await.unwrap();

    // A truncated blob: refused by size.
    std::fs::write(&file, &toolbox[..toolbox.len() / 2]).unwrap();
    let pod = h.start(&one_pod("short", &image, "")).await;
    let seen = wait_until(&pod, "ErrImagePull", |p| waiting_reason(p, "c").as_deref() == Some("ErrImagePull")).await;
    let message = waiting_message(&seen, "c");
    assert!(message.contains("were announced") || message.contains("Invalid digest. Expected"), "{message}");
    pod.stop();
    tokio::time::timeout(crate::harness::DEADLINE, pod.wait()).await.unwrap();

    // A registry that stops answering (the real one, frozen): the pull
    // gives up within its limits.
    std::fs::write(&file, &toolbox).unwrap();
    let frozen = format!("{}/lie/frozen:v1", reg.host());
    #[cfg(unix)]
    unsafe {
        libc::kill(reg.child.id() as i32, libc::SIGSTOP);
    }
    let pod = h.start(&one_pod("frozen", &frozen, "")).await;
    let seen = wait_until(&pod, "ErrImagePull", |p| waiting_reason(p, "c").as_deref() == Some("ErrImagePull")).await;
    #[cfg(unix)]
    unsafe {
        libc::kill(reg.child.id() as i32, libc::SIGCONT);
    }
    let message = waiting_message(&seen, "c");
    assert!(message.contains("took longer than") || message.contains("timed out") || message.contains("timeout"), "{message}");
    pod.stop();
    tokio::time::timeout(crate::harness::DEADLINE, pod.wait()).await.unwrap();

    // Nothing half-written or wrong stayed in the store; the neighbour ran.
    assert!(std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0) == 0, "{:?}", std::fs::read_dir(&blobs).unwrap().collect::<Vec<_>>());
    assert_eq!(std::fs::read_dir(h.dir.path().join("state/images/tmp")).unwrap().count(), 0);
    let outcome = tokio::time::timeout(crate::harness::DEADLINE, neighbour.wait()).await.unwrap();
    assert_eq!(phase(&outcome.pod), "Succeeded");
    assert_eq!(h.stdout("neighbour", "c"), ["hello from neighbour"]);
}

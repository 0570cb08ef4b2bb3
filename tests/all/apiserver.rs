//! The same requests to wasmpod's API and to a real kube-apiserver (the
//! control plane of `tests/cluster`, built by `.ci/cluster-build.sh`), with
//! the same kubectl, and the answers compared: error messages, Status
//! objects, table columns. `WASMPOD_TESTCLUSTER` names the binary (else
//! `~/.cache/wasmpod/testcluster/testcluster`); with
//! `WASMPOD_REQUIRE_CLUSTER` set (CI) a missing binary fails the test,
//! elsewhere the test says it did not run.

#![cfg(unix)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::cli::Daemon;

/// A running control plane; stopped (with its children) when dropped.
pub(crate) struct ControlPlane {
    child: Child,
    pub(crate) kubeconfig: PathBuf,
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // SIGTERM: `up` stops its components and waits for them.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

pub(crate) fn testcluster() -> Option<PathBuf> {
    let path = std::env::var_os("WASMPOD_TESTCLUSTER")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/wasmpod/testcluster/testcluster")));
    let found = path.filter(|p| p.is_file());
    if found.is_none() && std::env::var_os("WASMPOD_REQUIRE_CLUSTER").is_some() {
        panic!("WASMPOD_REQUIRE_CLUSTER is set but the testcluster binary is missing: run .ci/cluster-build.sh");
    }
    found
}

/// The kubectl of the control plane's minor version (1.37): the newest
/// of `WASMPOD_KUBECTLS`.
pub(crate) fn newest_kubectl() -> Option<PathBuf> {
    let named: Vec<PathBuf> = std::env::var("WASMPOD_KUBECTLS").unwrap_or_default().split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect();
    named.into_iter().filter(|k| k.is_file()).max_by_key(|k| {
        let out = Command::new(k).args(["version", "--client", "-o", "json"]).output().ok();
        let v: serde_json::Value = out.and_then(|o| serde_json::from_slice(&o.stdout).ok()).unwrap_or_default();
        v["clientVersion"]["minor"].as_str().and_then(|m| m.trim_end_matches('+').parse::<u32>().ok()).unwrap_or(0)
    })
}

pub(crate) fn start_control_plane(bin: &Path, dir: &Path) -> ControlPlane {
    start_control_plane_with(bin, dir, &[])
}

/// A control plane with extra `up` flags (`--controller-manager-arg=...`).
pub(crate) fn start_control_plane_with(bin: &Path, dir: &Path, extra: &[&str]) -> ControlPlane {
    // Its own messages go to a file beside it, shown if it fails. Its
    // free ports are picked before its components bind them, so another
    // process may take one meanwhile: a second try, in the same directory
    // (its certificates are kept), says why the first failed.
    std::fs::create_dir_all(dir).unwrap();
    let messages = dir.with_extension("up.log");
    let mut failures = Vec::new();
    for _ in 0..2 {
        let log = std::fs::File::create(&messages).unwrap();
        let mut child = Command::new(bin).args(["up", "--dir"]).arg(dir).args(["--port", "0"]).args(extra).stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        if line.starts_with("ready https://127.0.0.1:") {
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            return ControlPlane { child, kubeconfig: dir.join("admin.kubeconfig") };
        }
        let _ = child.kill();
        let _ = child.wait();
        let said = std::fs::read_to_string(&messages).unwrap_or_default();
        let tail: Vec<&str> = said.lines().rev().take(30).collect();
        let why = format!("the control plane did not come up: {line:?}\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        eprintln!("{why}");
        failures.push(why);
    }
    panic!("{}", failures.join("\n---\n"))
}

/// kubectl's exit code, stdout and stderr.
pub(crate) fn run(kubectl: &Path, kubeconfig: &Path, dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(kubectl).arg("--kubeconfig").arg(kubeconfig).args(args).current_dir(dir).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Polls until `args` succeeds (a minute at most).
pub(crate) fn until_ok(kubectl: &Path, kubeconfig: &Path, dir: &Path, args: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (code, _, err) = run(kubectl, kubeconfig, dir, args);
        if code == Some(0) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{args:?} never succeeded: {err}");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

const POD: &str =
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: web}}\nspec:\n  containers:\n  - {name: c, image: busybox, command: [sleep, \"3600\"]}\n";
const BAD_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - {name: Bad_Name, image: busybox}\n";

/// The testcluster binary and the kubectl of its version; `None` (the
/// test did not run, said on stderr) without them.
pub(crate) fn cluster_tools() -> Option<(PathBuf, PathBuf)> {
    let Some(bin) = testcluster() else {
        eprintln!("NOT RUN: no testcluster binary (CI builds it with .ci/cluster-build.sh)");
        return None;
    };
    let Some(kubectl) = newest_kubectl() else {
        assert!(std::env::var_os("WASMPOD_REQUIRE_CLIENTS").is_none(), "WASMPOD_REQUIRE_CLIENTS is set but no kubectl is named");
        eprintln!("NOT RUN: no kubectl in WASMPOD_KUBECTLS (CI installs them with .ci/clients.sh)");
        return None;
    };
    Some((bin, kubectl))
}

/// The requests: each a kubectl command line, and what of its answer is
/// compared (the error text, a first line, a JSON Status).
#[test]
fn wasmpod_answers_as_kube_apiserver_does() {
    let Some((bin, kubectl)) = cluster_tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::fs::write(work.join("pod.yaml"), POD).unwrap();
    std::fs::write(work.join("bad.yaml"), BAD_POD).unwrap();
    std::fs::write(work.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owned}\ndata: {k: first}\n").unwrap();
    std::fs::write(work.join("cm2.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owned}\ndata: {k: second}\n").unwrap();
    let plane = start_control_plane(&bin, &work.join("cluster"));
    let state = work.join("wasmpod");
    let _daemon = Daemon::start(&state, &["serve", "--listen", "127.0.0.1:0"]);
    let servers = [("kube-apiserver", plane.kubeconfig.clone()), ("wasmpod", state.join("kubeconfig"))];
    // The ServiceAccount controller makes `default` before pods can be made.
    until_ok(&kubectl, &plane.kubeconfig, work, &["get", "serviceaccount", "default"]);

    // Set-up both sides share (its output is not compared).
    let setup: &[&[&str]] = &[
        &["create", "-f", "pod.yaml"],
        &["create", "namespace", "shop"],
        &["create", "configmap", "c", "--from-literal=k=v"],
        &["apply", "--server-side", "--field-manager=first", "-f", "cm.yaml"],
    ];
    for (who, kc) in &servers {
        for args in setup {
            let (code, _, err) = run(&kubectl, kc, work, args);
            assert_eq!(code, Some(0), "{who} {args:?}: {err}");
        }
    }
    // A copy of the pod older than a change to it.
    for (i, (_, kc)) in servers.iter().enumerate() {
        let (_, json, _) = run(&kubectl, kc, work, &["get", "pod", "p", "-o", "json"]);
        std::fs::write(work.join(format!("stale-{i}.json")), json).unwrap();
        run(&kubectl, kc, work, &["label", "pod", "p", "changed=yes"]);
    }

    let cases: &[(&str, &[&str])] = &[
        ("a missing pod", &["get", "pod", "nope"]),
        ("a missing ConfigMap", &["get", "configmap", "nope"]),
        ("a pod created twice", &["create", "-f", "pod.yaml"]),
        ("a namespace created twice", &["create", "namespace", "shop"]),
        ("an invalid container name", &["create", "-f", "bad.yaml"]),
        ("default may not be deleted", &["delete", "namespace", "default"]),
        ("a field pods are not selected by", &["get", "pods", "--field-selector", "spec.foo=x"]),
        ("a label selector that does not parse", &["get", "pods", "-l", "app in (web"]),
        ("a ConfigMap field selector", &["get", "configmaps", "--field-selector", "data.k=v"]),
        ("set-based selectors", &["get", "pods", "-l", "app in (web,db),!tier", "-o", "name"]),
        ("a field selector", &["get", "pods", "--field-selector", "metadata.name=p", "-o", "name"]),
        ("a forbidden pod update", &["patch", "pod", "p", "-p", r#"{"spec":{"restartPolicy":"Never"}}"#]),
        ("a deadline raised", &["patch", "pod", "p", "-p", r#"{"spec":{"activeDeadlineSeconds":100}}"#]),
        ("a missing pod's Status", &["get", "--raw", "/api/v1/namespaces/default/pods/nope"]),
        ("a missing pod deleted", &["delete", "pod", "nope"]),
        ("a missing namespace", &["get", "namespace", "nope"]),
        ("a ConfigMap created twice", &["create", "configmap", "c", "--from-literal=k=v"]),
        ("an invalid ConfigMap key", &["create", "configmap", "badkey", "--from-literal=a b=c"]),
        ("an empty namespace", &["-n", "empty", "get", "pods"]),
        ("notin", &["get", "pods", "-l", "app notin (db)", "-o", "name"]),
        ("a conflict between field managers", &["apply", "--server-side", "--field-manager=second", "-f", "cm2.yaml"]),
        ("a namespaced kind in a missing namespace", &["get", "--raw", "/api/v1/namespaces/default/configmaps/nope"]),
    ];
    let mut differ = Vec::new();
    for (what, args) in cases {
        let answers: Vec<(Option<i32>, String, String)> = servers.iter().map(|(_, kc)| run(&kubectl, kc, work, args)).collect();
        // A forbidden update's message lists the changed fields in
        // kube-apiserver's words, then a diff of the specs: the first line
        // is compared.
        let first = |s: &str| s.lines().next().unwrap_or_default().to_owned();
        let (a, b) = (&answers[0], &answers[1]);
        let same = if args[0] == "patch" { (a.0, first(&a.2)) == (b.0, first(&b.2)) } else { a == b };
        if !same {
            differ.push(format!("{what} ({args:?}):\n  kube-apiserver: {a:?}\n  wasmpod:        {b:?}"));
        }
    }
    // The stale copies: a Conflict with the same words.
    let stale: Vec<String> = servers.iter().enumerate().map(|(i, (_, kc))| run(&kubectl, kc, work, &["replace", "-f", &format!("stale-{i}.json")]).2).collect();
    // The file name differs; the server's words after it are compared.
    let conflict = |s: &str| s.split_once("Operation").map(|(_, m)| m.to_owned()).unwrap_or(s.to_owned());
    if conflict(&stale[0]) != conflict(&stale[1]) {
        differ.push(format!("a stale replace:\n  kube-apiserver: {:?}\n  wasmpod:        {:?}", stale[0], stale[1]));
    }
    // kubectl's columns for pods, from each server's Table (their widths
    // follow the rows: a Pending pod has no IP there).
    let header = |out: String| out.lines().next().unwrap_or_default().split("  ").map(str::trim).filter(|c| !c.is_empty()).collect::<Vec<_>>().join("|");
    let headers: Vec<String> = servers.iter().map(|(_, kc)| header(run(&kubectl, kc, work, &["get", "pods", "-o", "wide"]).1)).collect();
    if headers[0] != headers[1] {
        differ.push(format!("get pods -o wide columns:\n  kube-apiserver: {:?}\n  wasmpod:        {:?}", headers[0], headers[1]));
    }
    assert!(differ.is_empty(), "wasmpod answered otherwise than kube-apiserver:\n{}", differ.join("\n"));
}

//! `wasmpod node` against a real control plane (`tests/cluster`): the node
//! registers and turns Ready with a Lease; a Deployment through the
//! `wasmpod` RuntimeClass runs on it and rolls out (the node reports its
//! pods' status); a pod it cannot run ends Failed with the reason; a
//! deleted Deployment's pods end their graceful deletion and are gone.

#![cfg(unix)]

use std::process::{Child, Command, Stdio};

use crate::apiserver::{cluster_tools, run, start_control_plane, start_control_plane_with, until_ok};

/// `kubectl port-forward TARGET :PORT` (with `env`), one HTTP GET of
/// `path` through it, and the answer's body.
pub(crate) fn forward_get(kubectl: &std::path::Path, kubeconfig: &std::path::Path, env: &[(&str, &str)], target: &str, port: u16, path: &str) -> String {
    use std::io::{BufRead, Read, Write};
    let mut child = Command::new(kubectl)
        .envs(env.iter().copied())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["port-forward", target, &format!(":{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let local = first.strip_prefix("Forwarding from 127.0.0.1:").and_then(|r| r.split(' ').next()).map(str::to_owned);
    let body = local.map(|local| {
        let mut conn = std::net::TcpStream::connect(format!("127.0.0.1:{local}")).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        conn.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = conn.read_to_string(&mut answer);
        answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or(answer)
    });
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    body.unwrap_or_else(|| format!("no forwarding: {first} {}", String::from_utf8_lossy(&out.stderr)))
}

/// The node process; killed when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_wasmpod_node_joins_the_cluster_and_runs_a_deployment() {
    let Some((bin, kubectl)) = cluster_tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let cluster = work.join("cluster");
    let plane = start_control_plane(&bin, &cluster);
    let admin = plane.kubeconfig.clone();
    // The node's identity by the manual path README gives: a CSR the
    // cluster signs, and a kubeconfig made with kubectl.
    let kubeconfig = identity_by_csr(&kubectl, &admin, work, "wp-1");
    let _node = run_node(&kubeconfig, work, "wp-1");
    let k = |args: &[&str]| run(&kubectl, &admin, work, args);
    let log = || std::fs::read_to_string(work.join("wp-1.log")).unwrap_or_default();
    until_ok(&kubectl, &admin, work, &["get", "node", "wp-1"]);
    until_ok(&kubectl, &admin, work, &["-n", "kube-node-lease", "get", "lease", "wp-1"]);
    let (code, _, err) = k(&["wait", "--for=condition=Ready", "node/wp-1", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}");
    let (_, holder, _) = k(&["-n", "kube-node-lease", "get", "lease", "wp-1", "-o", "jsonpath={.spec.holderIdentity}"]);
    assert_eq!(holder, "wp-1");
    let (_, taint, _) = k(&["get", "node", "wp-1", "-o", "jsonpath={.spec.taints[0].key}={.spec.taints[0].effect} {.status.nodeInfo.containerRuntimeVersion}"]);
    assert!(taint.starts_with("wasmpod.dev/runtime=NoSchedule wasmpod://"), "{taint}");

    // A Deployment through the RuntimeClass: scheduled here, run here,
    // rolled out by the status the node reports.
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster");
    for file in ["runtimeclass.yaml", "hello-deployment.yaml"] {
        let (code, _, err) = k(&["apply", "-f", examples.join(file).to_str().unwrap()]);
        assert_eq!(code, Some(0), "{file}: {err}");
    }
    until_ok(&kubectl, &admin, work, &["get", "serviceaccount", "default"]);
    let (code, out, err) = k(&["rollout", "status", "deployment/hello", "--timeout=120s"]);
    assert_eq!(code, Some(0), "{out}{err}\nnode: {}", log());
    let (_, pods, _) = k(&[
        "get",
        "pods",
        "-l",
        "app=hello",
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeName} {.status.phase} {.status.podIP} {.status.hostIP}{\"\\n\"}{end}",
    ]);
    let lines: Vec<&str> = pods.lines().collect();
    assert_eq!(lines.len(), 2, "{pods}");
    // Pod IPs from the node's podCIDR (a /24 of 10.244.0.0/16 here).
    let (_, cidr, _) = k(&["get", "node", "wp-1", "-o", "jsonpath={.spec.podCIDR}"]);
    let prefix = cidr.strip_suffix("0/24").unwrap_or_else(|| panic!("a /24 podCIDR: {cidr:?}"));
    for l in &lines {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!((f[0], f[1], f[3]), ("wp-1", "Running", "127.0.0.1"), "{pods}");
        assert!(f[2].starts_with(prefix), "a pod IP in {cidr}: {pods}");
    }

    // Logs and exec through the API server, which calls the node's
    // kubelet API (exec arrives there over SPDY, translated by the API
    // server from kubectl's WebSocket).
    let (_, names, _) = k(&["get", "pods", "-l", "app=hello", "-o", "jsonpath={.items[0].metadata.name}"]);
    // The kubelet's events, posted by the node about the cluster's pod.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let selector = format!("involvedObject.name={names},reason=Started");
        let (_, from, _) =
            k(&["get", "events", "--field-selector", &selector, "-o", "jsonpath={.items[0].source.component}/{.items[0].source.host} {.items[0].message}"]);
        if from == "kubelet/wp-1 Started container hello" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no Started event from the node: {from:?}\nnode: {}", log());
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let (code, out, err) = k(&["logs", &names]);
    assert_eq!((code, out.as_str()), (Some(0), format!("hello from {names}\n").as_str()), "{err}\nnode: {}", log());
    let (code, out, err) = k(&["exec", &names, "--", "sh", "-c", "echo $HOSTNAME; exit 3"]);
    assert_eq!((code, out.as_str()), (Some(3), format!("{names}\n").as_str()), "{err}\nnode: {}", log());
    // The node declares ExtendWebSocketsToKubelet, so the API server hands
    // it kubectl's WebSocket as it is; SPDY from older clients is proxied
    // as SPDY.
    let (_, declared, _) = k(&["get", "node", "wp-1", "-o", "jsonpath={.status.declaredFeatures}"]);
    assert_eq!(declared, "[\"ExtendWebSocketsToKubelet\"]");
    let spdy = crate::kubectl::kubectl_with_input(
        &kubectl,
        &admin,
        &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")],
        b"over spdy\n",
        &["exec", "-i", &names, "--", "sh", "-c", "cat; exit 4"],
    );
    assert_eq!((spdy.0, spdy.1.as_str()), (Some(4), "over spdy\n"), "{}", spdy.2);

    // port-forward through the API server to a pod's port.
    let web = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  runtimeClassName: wasmpod\n  automountServiceAccountToken: false\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, \"mkdir -p /srv && echo served > /srv/x && python -m http.server 8080 -d /srv\"]\n    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}\n";
    std::fs::write(work.join("web.yaml"), web).unwrap();
    let (code, _, err) = k(&["apply", "-f", "web.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = k(&["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}\nnode: {}", log());
    let body = forward_get(&kubectl, &admin, &[], "pod/web", 8080, "/x");
    assert_eq!(body, "served\n", "node: {}", log());

    // The kubelet API authorizes each request with a SubjectAccessReview:
    // another node's identity may not read this node's pods, the API
    // server's kubelet client may.
    let (_, port, _) = k(&["get", "node", "wp-1", "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}"]);
    let out = Command::new(&bin).args(["node-cert", "--dir"]).arg(&cluster).args(["--name", "wp-9"]).output().unwrap();
    assert!(out.status.success());
    let get_pods = |cert: &str, key: &str| -> String {
        let script = "import ssl, sys, http.client\nctx = ssl.create_default_context()\nctx.check_hostname = False\nctx.verify_mode = ssl.CERT_NONE\nctx.load_cert_chain(sys.argv[2], sys.argv[3])\nc = http.client.HTTPSConnection('127.0.0.1', int(sys.argv[1]), context=ctx)\nc.request('GET', '/pods')\nr = c.getresponse()\nprint(r.status, r.read().decode()[:120])\n";
        let out = Command::new("python3").arg("-c").arg(script).arg(&port).arg(cluster.join(cert)).arg(cluster.join(key)).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let other = get_pods("nodes/wp-9.crt", "nodes/wp-9.key");
    assert_eq!(other, "403 Forbidden (user=system:node:wp-9, verb=get, resource=nodes, subresource=proxy)", "node: {}", log());
    let apiserver = get_pods("pki/apiserver-kubelet-client.crt", "pki/apiserver-kubelet-client.key");
    assert!(apiserver.starts_with("200 {\"apiVersion\":\"v1\",\"items\":[{"), "{apiserver}");

    // The projected service-account volume the cluster adds: a token
    // from the TokenRequest API, the cluster's CA, the namespace; and a
    // token of 10 minutes, renewed once 1 % of its life has passed.
    let token = "apiVersion: v1\nkind: Pod\nmetadata: {name: with-token}\nspec:\n  runtimeClassName: wasmpod\n  volumes:\n  - {name: short, projected: {sources: [{serviceAccountToken: {path: token, expirationSeconds: 600}}]}}\n  containers:\n  - {name: c, image: busybox, command: [sleep, \"3600\"], volumeMounts: [{name: short, mountPath: /short}]}\n";
    std::fs::write(work.join("with-token.yaml"), token).unwrap();
    let (code, _, err) = k(&["apply", "-f", "with-token.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = k(&["wait", "--for=condition=Ready", "pod/with-token", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}\nnode: {}", log());
    let sa = "/var/run/secrets/kubernetes.io/serviceaccount";
    let (code, out, err) =
        k(&["exec", "with-token", "--", "sh", "-c", &format!("cat {sa}/namespace; echo; head -c 27 {sa}/ca.crt; echo; cut -c1-3 {sa}/token")]);
    assert_eq!((code, out.as_str()), (Some(0), "default\n-----BEGIN CERTIFICATE-----\neyJ\n"), "{err}\nnode: {}", log());
    let (code, first, err) = k(&["exec", "with-token", "--", "cat", "/short/token"]);
    assert!(code == Some(0) && first.starts_with("eyJ"), "{first}{err}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, now, _) = k(&["exec", "with-token", "--", "cat", "/short/token"]);
        if now.starts_with("eyJ") && now != first {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the token was never renewed\nnode: {}", log());
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    // An image from an OCI registry (Debian's docker-registry), with a
    // ConfigMap and a Secret of the cluster as volumes and env.
    let reg = crate::registry::TestRegistry::start(None);
    let image = format!("{}/wp/toolbox:v1", reg.host());
    let toolbox = std::path::Path::new(env!("WASMPOD_GUESTS_DIR")).join("toolbox.wasm");
    let out = crate::registry::wasmpod(&work.join("publisher"), &["push", toolbox.to_str().unwrap(), &image]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for args in
        [&["create", "configmap", "settings", "--from-literal=color=blue"][..], &["create", "secret", "generic", "creds", "--from-literal=password=s3cret"]]
    {
        let (code, _, err) = k(args);
        assert_eq!(code, Some(0), "{err}");
    }
    let configured = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: configured}}\nspec:\n  runtimeClassName: wasmpod\n  volumes:\n  - {{name: settings, configMap: {{name: settings}}}}\n  - {{name: creds, secret: {{secretName: creds}}}}\n  containers:\n  - name: c\n    image: {image}\n    command: [sh, -c, \"echo from the registry; sleep 3600\"]\n    env: [{{name: COLOR, valueFrom: {{configMapKeyRef: {{name: settings, key: color}}}}}}]\n    volumeMounts: [{{name: settings, mountPath: /etc/settings}}, {{name: creds, mountPath: /etc/creds}}]\n"
    );
    std::fs::write(work.join("configured.yaml"), configured).unwrap();
    let (code, _, err) = k(&["apply", "-f", "configured.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = k(&["wait", "--for=condition=Ready", "pod/configured", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}\nnode: {}", log());
    let (code, out, err) = k(&["exec", "configured", "--", "sh", "-c", "cat /etc/settings/color; echo; cat /etc/creds/password; echo; echo $COLOR"]);
    assert_eq!((code, out.as_str()), (Some(0), "blue\ns3cret\nblue\n"), "{err}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while k(&["logs", "configured"]).1.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(k(&["logs", "configured"]).1, "from the registry\n");
    let (_, image_id, _) = k(&["get", "pod", "configured", "-o", "jsonpath={.status.containerStatuses[0].imageID}"]);
    assert!(image_id.contains("sha256:"), "the pulled manifest's digest: {image_id}");
    drop(reg);

    // kubectl attach through the API server, to a container's stdin.
    let attach = "apiVersion: v1\nkind: Pod\nmetadata: {name: attach-me}\nspec:\n  runtimeClassName: wasmpod\n  restartPolicy: Never\n  containers:\n  - {name: c, image: busybox, stdin: true, stdinOnce: true, command: [sh, -c, \"read l; echo got $l\"]}\n";
    std::fs::write(work.join("attach.yaml"), attach).unwrap();
    let (code, _, err) = k(&["apply", "-f", "attach.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = k(&["wait", "--for=condition=Ready", "pod/attach-me", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}");
    let (_, attached, err) = crate::kubectl::kubectl_with_input(&kubectl, &admin, &[], b"hello\n", &["attach", "-i", "attach-me"]);
    assert!(attached.contains("got hello"), "{attached}{err}");

    // A pod that asks for what wasmpod cannot give (an NFS volume) ends
    // Failed with why, and never half-runs.
    let unsupported = "apiVersion: v1\nkind: Pod\nmetadata: {name: nfs}\nspec:\n  runtimeClassName: wasmpod\n  restartPolicy: Never\n  volumes:\n  - {name: v, nfs: {server: nfs.example, path: /}}\n  containers:\n  - {name: c, image: busybox, command: [\"true\"], volumeMounts: [{name: v, mountPath: /v}]}\n";
    std::fs::write(work.join("nfs.yaml"), unsupported).unwrap();
    let (code, _, err) = k(&["apply", "-f", "nfs.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = k(&["wait", "--for=jsonpath={.status.phase}=Failed", "pod/nfs", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}\nnode: {}", log());
    let (_, why, _) = k(&["get", "pod", "nfs", "-o", "jsonpath={.status.reason}: {.status.message}"]);
    assert!(why.starts_with("UnsupportedByWasmpod: ") && why.contains("nfs"), "{why}");

    // Graceful deletion ends: the pods go, none is left Terminating.
    let (code, _, err) = k(&["delete", "deployment", "hello"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = k(&["wait", "--for=delete", "pods", "-l", "app=hello", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}");
    drop(plane);
}

/// Starts `wasmpod node` NAME with its own state directory under `work`.
fn start_node(bin: &std::path::Path, cluster: &std::path::Path, work: &std::path::Path, name: &str) -> Node {
    let out = Command::new(bin).args(["node-cert", "--dir"]).arg(cluster).args(["--name", name]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kubeconfig = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    run_node(std::path::Path::new(&kubeconfig), work, name)
}

/// A node identity made as README's "Joining an existing cluster" makes
/// it, with openssl and the admin's kubectl: a key, a CSR for
/// `system:node:NAME` the cluster signs once approved, and a kubeconfig.
fn identity_by_csr(kubectl: &std::path::Path, admin: &std::path::Path, work: &std::path::Path, name: &str) -> std::path::PathBuf {
    let sh = |script: &str| {
        let out = Command::new("sh").arg("-ec").arg(script).env("NODE", name).env("KUBECTL", kubectl).env("ADMIN", admin).current_dir(work).output().unwrap();
        assert!(out.status.success(), "{script}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    };
    sh(
        r#"openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $NODE.key -subj "/O=system:nodes/CN=system:node:$NODE" -out $NODE.csr 2>/dev/null
printf 'apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: %s}
spec:
  request: %s
  signerName: kubernetes.io/kube-apiserver-client-kubelet
  usages: [digital signature, client auth]
' $NODE $(base64 -w0 < $NODE.csr) | $KUBECTL --kubeconfig $ADMIN apply -f -
$KUBECTL --kubeconfig $ADMIN certificate approve $NODE"#,
    );
    // The controller-manager signs it shortly after the approval.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, cert, _) = run(kubectl, admin, work, &["get", "csr", name, "-o", "jsonpath={.status.certificate}"]);
        if !cert.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the CSR was never signed");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    sh(r#"$KUBECTL --kubeconfig $ADMIN get csr $NODE -o jsonpath='{.status.certificate}' | base64 -d > $NODE.crt
$KUBECTL --kubeconfig $ADMIN config view --raw --minify --flatten -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d > ca.crt
SERVER=$($KUBECTL --kubeconfig $ADMIN config view --minify -o jsonpath='{.clusters[0].cluster.server}')
export KUBECONFIG=$NODE.kubeconfig
$KUBECTL config set-cluster c --server=$SERVER --certificate-authority=ca.crt --embed-certs
$KUBECTL config set-credentials n --client-certificate=$NODE.crt --client-key=$NODE.key --embed-certs
$KUBECTL config set-context c --cluster=c --user=n && $KUBECTL config use-context c"#);
    work.join(format!("{name}.kubeconfig"))
}

/// A bootstrap token the cluster accepts (kube-system's
/// `bootstrap-token-<id>` Secret), RBAC that lets bootstrappers ask for
/// node certificates and has those requests approved, as kubeadm sets it
/// up, and a kubeconfig with the token.
fn bootstrap_kubeconfig(kubectl: &std::path::Path, admin: &std::path::Path, work: &std::path::Path) -> std::path::PathBuf {
    let objects = "apiVersion: v1\nkind: Secret\nmetadata: {name: bootstrap-token-wpboot, namespace: kube-system}\ntype: bootstrap.kubernetes.io/token\nstringData: {token-id: wpboot, token-secret: 0123456789abcdef, usage-bootstrap-authentication: \"true\"}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: wasmpod-bootstrap}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: \"system:node-bootstrapper\"}\nsubjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: \"system:bootstrappers\"}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: wasmpod-bootstrap-approve}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: \"system:certificates.k8s.io:certificatesigningrequests:nodeclient\"}\nsubjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: \"system:bootstrappers\"}]\n";
    std::fs::write(work.join("bootstrap.yaml"), objects).unwrap();
    let (code, _, err) = run(kubectl, admin, work, &["apply", "-f", "bootstrap.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let script = r#"$KUBECTL --kubeconfig $ADMIN config view --raw --minify --flatten -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d > boot-ca.crt
SERVER=$($KUBECTL --kubeconfig $ADMIN config view --minify -o jsonpath='{.clusters[0].cluster.server}')
export KUBECONFIG=bootstrap.kubeconfig
$KUBECTL config set-cluster c --server=$SERVER --certificate-authority=boot-ca.crt --embed-certs
$KUBECTL config set-credentials b --token=wpboot.0123456789abcdef
$KUBECTL config set-context c --cluster=c --user=b && $KUBECTL config use-context c"#;
    let out = Command::new("sh").arg("-ec").arg(script).env("KUBECTL", kubectl).env("ADMIN", admin).current_dir(work).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    work.join("bootstrap.kubeconfig")
}

/// Starts `wasmpod node` NAME with `kubeconfig` and its own state
/// directory under `work`.
fn run_node(kubeconfig: &std::path::Path, work: &std::path::Path, name: &str) -> Node {
    run_node_with(kubeconfig, work, name, &[])
}

/// [`run_node`] with more flags.
fn run_node_with(kubeconfig: &std::path::Path, work: &std::path::Path, name: &str, extra: &[&str]) -> Node {
    let kubeconfig = kubeconfig.to_str().unwrap();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(work.join(format!("{name}.log"))).unwrap();
    Node(
        Command::new(env!("CARGO_BIN_EXE_wasmpod"))
            .arg("--state-dir")
            .arg(work.join(format!("{name}-state")))
            .args(["node", "--kubeconfig", kubeconfig, "--name", name, "--kubelet-port", "0", "--listen", "none"])
            // Short-lived projected tokens are renewed within seconds.
            .args(["--token-refresh-percent", "1"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

const SPREAD: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: spread}
spec:
  replicas: 6
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      runtimeClassName: wasmpod
      terminationGracePeriodSeconds: 2
      # Moved off an unreachable node after 2 s instead of 300.
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: spread}}}
      containers:
      - {name: c, image: busybox, command: [sleep, "3600"]}
"#;

/// Six replicas over three wasmpod nodes, two each; a node that stops
/// (`kill -STOP`) turns NotReady and its pods are made again on the
/// others; when it comes back it ends the pods deleted meanwhile. A node
/// killed (`kill -9`) and started again runs its pods again, and the
/// cluster keeps them (no eviction).
#[test]
fn pods_spread_over_three_nodes_and_move_when_one_stops() {
    let Some((bin, kubectl)) = cluster_tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let cluster = work.join("cluster");
    // A node is NotReady 20 s after its last Lease renewal (50 s by default).
    // Bootstrap tokens let wp-2 join as a kubelet's TLS bootstrap does.
    let _plane = start_control_plane_with(
        &bin,
        &cluster,
        &["--controller-manager-arg=--node-monitor-grace-period=20s", "--apiserver-arg=--enable-bootstrap-token-auth=true"],
    );
    let admin = cluster.join("admin.kubeconfig");
    let k = |args: &[&str]| run(&kubectl, &admin, work, args);
    let bootstrap = bootstrap_kubeconfig(&kubectl, &admin, work);
    let mut nodes: Vec<Node> = vec![
        start_node(&bin, &cluster, work, "wp-1"),
        run_node_with(&work.join("wp-2.kubeconfig"), work, "wp-2", &["--bootstrap-kubeconfig", bootstrap.to_str().unwrap()]),
        start_node(&bin, &cluster, work, "wp-3"),
    ];
    for n in ["wp-1", "wp-2", "wp-3"] {
        until_ok(&kubectl, &admin, work, &["get", "node", n]);
    }
    let (code, _, err) = k(&["wait", "--for=condition=Ready", "nodes", "--all", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}");
    // wp-2's identity came from its bootstrap token's CSR, approved and
    // signed by the cluster.
    let (_, csrs, _) = k(&["get", "csr", "-o", "jsonpath={range .items[*]}{.spec.username} {.status.conditions[0].type}{\"\\n\"}{end}"]);
    assert!(csrs.lines().any(|l| l == "system:bootstrap:wpboot Approved"), "{csrs}");
    assert!(std::fs::read_to_string(work.join("wp-2.kubeconfig")).unwrap().contains("client-certificate-data"));
    until_ok(&kubectl, &admin, work, &["get", "serviceaccount", "default"]);
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster");
    let (code, _, err) = k(&["apply", "-f", examples.join("runtimeclass.yaml").to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    std::fs::write(work.join("spread.yaml"), SPREAD).unwrap();
    let (code, _, err) = k(&["apply", "-f", "spread.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = k(&["rollout", "status", "deployment/spread", "--timeout=120s"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let running_on = || -> Vec<String> {
        let (_, out, _) = k(&[
            "get",
            "pods",
            "-l",
            "app=spread",
            "--field-selector",
            "status.phase=Running",
            "-o",
            "jsonpath={range .items[*]}{.spec.nodeName}{\" \"}{.metadata.deletionTimestamp}{\"\\n\"}{end}",
        ]);
        out.lines().filter(|l| l.split(' ').nth(1).is_none_or(str::is_empty)).map(|l| l.split(' ').next().unwrap_or_default().to_owned()).collect()
    };
    let spread = running_on();
    for n in ["wp-1", "wp-2", "wp-3"] {
        assert_eq!(spread.iter().filter(|s| *s == n).count(), 2, "two pods on {n}: {spread:?}");
    }

    // wp-3 stops answering: NotReady, its pods made again elsewhere.
    let stopped = nodes[2].0.id().to_string();
    assert!(Command::new("kill").args(["-STOP", &stopped]).status().unwrap().success());
    let (code, _, err) = k(&["wait", "--for=condition=Ready=Unknown", "node/wp-3", "--timeout=90s"]);
    assert_eq!(code, Some(0), "wp-3 never turned NotReady: {err}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let now = running_on();
        if now.len() == 6 && !now.iter().any(|n| n == "wp-3") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the pods never moved off wp-3: {now:?}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // Back: it ends the pods the cluster deleted while it was away.
    assert!(Command::new("kill").args(["-CONT", &stopped]).status().unwrap().success());
    let (code, _, err) = k(&["wait", "--for=condition=Ready", "node/wp-3", "--timeout=90s"]);
    assert_eq!(code, Some(0), "{err}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (_, left, _) = k(&["get", "pods", "-l", "app=spread", "--field-selector", "spec.nodeName=wp-3", "-o", "name"]);
        if left.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "wp-3's old pods were never ended: {left}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    // wp-1 killed and started again at once: its pods run again there,
    // the same pods (the cluster did not evict them).
    let (_, before, _) = k(&["get", "pods", "-l", "app=spread", "--field-selector", "spec.nodeName=wp-1", "-o", "name"]);
    assert!(!before.is_empty(), "wp-1 runs pods");
    let ips_and_restarts = || {
        k(&[
            "get",
            "pods",
            "-l",
            "app=spread",
            "--field-selector",
            "spec.nodeName=wp-1",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.podIP} {.status.startTime} {.status.containerStatuses[0].restartCount}{\"\\n\"}{end}",
        ])
        .1
    };
    let earlier = ips_and_restarts();
    let _ = nodes[0].0.kill();
    let _ = nodes[0].0.wait();
    nodes[0] = start_node(&bin, &cluster, work, "wp-1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, after, _) = k(&["get", "pods", "-l", "app=spread", "--field-selector", "spec.nodeName=wp-1,status.phase=Running", "-o", "name"]);
        let (_, ready, _) = k(&["get", "deployment", "spread", "-o", "jsonpath={.status.readyReplicas}"]);
        if after == before && ready == "6" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "wp-1's pods did not run again: {before} / {after} ({ready} ready)");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // Resumed where they were, as the new process reports them: the same
    // IPs and start times, each container restarted once (its instance
    // went with the process).
    let expected: String = earlier
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            format!("{} {} {} {}\n", f[0], f[1], f[2], f[3].parse::<i32>().unwrap() + 1)
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now = ips_and_restarts();
        if now == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not resumed: {now}, expected {expected}\nwp-1: {}",
            std::fs::read_to_string(work.join("wp-1.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // Ready again once the restarted containers are (the Deployment's
    // count follows the pods' reports).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, ready, _) = k(&["get", "deployment", "spread", "-o", "jsonpath={.status.readyReplicas}"]);
        if ready == "6" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{ready} ready replicas after the restart");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Hosts modelled as network namespaces on one segment: a bridge in this
/// namespace (the control plane's host, at `.1`) and a namespace per
/// host, each with its own address (`.11`, `.12`, ...). Removed when
/// dropped.
#[cfg(target_os = "linux")]
struct Lan {
    bridge: String,
    hosts: Vec<String>,
    subnet: String,
}

#[cfg(target_os = "linux")]
impl Lan {
    fn new(hosts: usize) -> Self {
        let id = std::process::id() % 200;
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("the ip command (iproute2)");
            assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        };
        let lan = Lan { bridge: format!("wpl{id}"), hosts: (0..hosts).map(|k| format!("wpl{id}h{k}")).collect(), subnet: format!("10.251.{id}") };
        lan.remove();
        ip(&["link", "add", &lan.bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("{}.1/24", lan.subnet), "dev", &lan.bridge]);
        ip(&["link", "set", &lan.bridge, "up"]);
        for (k, ns) in lan.hosts.iter().enumerate() {
            let veth = format!("wpl{id}v{k}");
            ip(&["netns", "add", ns]);
            ip(&["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", ns]);
            ip(&["link", "set", &veth, "master", &lan.bridge, "up"]);
            ip(&["-n", ns, "addr", "add", &format!("{}/24", lan.address(k)), "dev", "eth0"]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        lan
    }

    /// The control plane's address (on the bridge).
    fn gateway(&self) -> String {
        format!("{}.1", self.subnet)
    }

    fn address(&self, host: usize) -> String {
        format!("{}.{}", self.subnet, 11 + host)
    }

    fn remove(&self) {
        for ns in &self.hosts {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).output();
    }
}

#[cfg(target_os = "linux")]
impl Drop for Lan {
    fn drop(&mut self) {
        self.remove();
    }
}

#[cfg(target_os = "linux")]
const CROSS: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  runtimeClassName: wasmpod
  nodeSelector: {kubernetes.io/hostname: wpn-2}
  containers:
  - name: web
    image: python
    command: [sh, -c, "mkdir -p /srv && echo served by $HOSTNAME > /srv/index.html && cd /srv && python -m http.server 8080"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http, nodePort: 30080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {role: client}}
spec:
  runtimeClassName: wasmpod
  nodeSelector: {kubernetes.io/hostname: wpn-1}
  terminationGracePeriodSeconds: 10
  containers:
  - name: c
    image: busybox
    command: [sleep, "3600"]
    lifecycle:
      preStop: {exec: {command: [wget, -q, -O, /dev/null, "http://web/prestop"]}}
---
apiVersion: v1
kind: Pod
metadata: {name: other}
spec:
  runtimeClassName: wasmpod
  nodeSelector: {kubernetes.io/hostname: wpn-1}
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox, command: [sleep, "3600"]}
"#;

/// Two wasmpod nodes on two hosts (network namespaces on one segment) in
/// routed mode with host-gw routes: a pod on one reaches a pod on the
/// other by its pod IP, through its Service's ClusterIP (endpoints from
/// the cluster's EndpointSlices) and by the Service's DNS name, and the
/// server sees the client's own pod IP. Deleting the client runs its
/// preStop hook (a request to the server) before it goes; a deleted
/// server is out of the Service's rotation.
#[cfg(target_os = "linux")]
#[test]
fn pods_on_two_hosts_reach_each_other_by_pod_ip_cluster_ip_and_name() {
    let Some((bin, kubectl)) = cluster_tools() else { return };
    if !crate::network::outside_possible("cross-node network") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let cluster = work.join("cluster");
    let lan = Lan::new(2);
    let advertise = format!("--advertise-address={}", lan.gateway());
    let _plane = start_control_plane_with(&bin, &cluster, &[&advertise]);
    let admin = cluster.join("admin.kubeconfig");
    let k = |args: &[&str]| run(&kubectl, &admin, work, args);
    // The API server as the hosts reach it.
    let config = std::fs::read_to_string(&admin).unwrap();
    let port = config.split("https://127.0.0.1:").nth(1).and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()).unwrap().to_owned();
    let server = format!("https://{}:{port}", lan.gateway());
    let _nodes: Vec<Node> = (0..2)
        .map(|h| {
            let name = format!("wpn-{}", h + 1);
            let address = lan.address(h);
            let out =
                Command::new(&bin).args(["node-cert", "--dir"]).arg(&cluster).args(["--name", &name, "--server", &server, "--ip", &address]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let kubeconfig = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let log = std::fs::File::create(work.join(format!("{name}.log"))).unwrap();
            Node(
                Command::new("ip")
                    .args(["netns", "exec", &lan.hosts[h], env!("CARGO_BIN_EXE_wasmpod"), "--state-dir"])
                    .arg(work.join(format!("{name}-state")))
                    .args(["node", "--kubeconfig", &kubeconfig, "--name", &name, "--address", &address, "--kubelet-port", "10250", "--listen", "none"])
                    .args(["--pod-network", "routed", "--host-gw-routes"])
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    for n in ["wpn-1", "wpn-2"] {
        until_ok(&kubectl, &admin, work, &["get", "node", n]);
    }
    let (code, _, err) = k(&["wait", "--for=condition=Ready", "nodes", "--all", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}");
    // What the nodes read beyond the Node authorizer's rules (Services,
    // EndpointSlices, Nodes, and for NetworkPolicy pods and namespaces).
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster");
    for file in ["node-rbac.yaml", "runtimeclass.yaml"] {
        let (code, _, err) = k(&["apply", "-f", examples.join(file).to_str().unwrap()]);
        assert_eq!(code, Some(0), "{file}: {err}");
    }
    until_ok(&kubectl, &admin, work, &["get", "serviceaccount", "default"]);
    std::fs::write(work.join("cross.yaml"), CROSS).unwrap();
    let (code, _, err) = k(&["apply", "-f", "cross.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = k(&["wait", "--for=condition=Ready", "pod/web", "pod/client", "pod/other", "--timeout=90s"]);
    let logs = |n: &str| std::fs::read_to_string(work.join(format!("{n}.log"))).unwrap_or_default();
    assert_eq!(code, Some(0), "{err}\nwpn-1: {}\nwpn-2: {}", logs("wpn-1"), logs("wpn-2"));
    let field = |pod: &str, path: &str| k(&["get", "pod", pod, "-o", &format!("jsonpath={path}")]).1;
    let (web_ip, client_ip) = (field("web", "{.status.podIP}"), field("client", "{.status.podIP}"));
    assert_ne!(field("web", "{.spec.nodeName}"), field("client", "{.spec.nodeName}"));
    let cluster_ip = k(&["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"]).1;
    let wget = |url: &str| {
        // Until the node has seen the Service and its EndpointSlice.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (code, out, err) = k(&["exec", "client", "--", "wget", "-q", "-T", "5", "-O", "-", url]);
            if code == Some(0) || std::time::Instant::now() > deadline {
                return (code, out, err);
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    };
    for url in [format!("http://{web_ip}:8080/"), format!("http://{cluster_ip}/"), "http://web.default.svc.cluster.local/".to_owned(), "http://web/".to_owned()]
    {
        let (code, out, err) = wget(&url);
        assert_eq!((code, out.trim()), (Some(0), "served by web"), "{url}: {err}\nwpn-1: {}\nwpn-2: {}", logs("wpn-1"), logs("wpn-2"));
    }
    // UDP between the nodes' pods: an echo server on wpn-2 answers a pod
    // of wpn-1, each seeing the other's own address.
    let nettest = std::path::Path::new(wasmpod::testing::GUESTS_DIR).join("nettest.wasm");
    let udp_pod = |name: &str, node: &str, args: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: {name}}}}}\nspec:\n  runtimeClassName: wasmpod\n  restartPolicy: Never\n  nodeSelector: {{kubernetes.io/hostname: {node}}}\n  containers:\n  - {{name: c, image: {}, args: {args}}}\n",
            nettest.display()
        )
    };
    let echo = udp_pod("echo", "wpn-2", "[udp-echo, \"5353\", \"2\"]")
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: echo}\nspec:\n  selector: {app: echo}\n  ports: [{port: 53, targetPort: 5353, protocol: UDP}]\n";
    std::fs::write(work.join("echo.yaml"), echo).unwrap();
    let (code, _, err) = k(&["apply", "-f", "echo.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = k(&["wait", "--for=jsonpath={.status.podIP}", "pod/echo", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}");
    let echo_ip = field("echo", "{.status.podIP}");
    std::fs::write(work.join("send.yaml"), udp_pod("send", "wpn-1", &format!("[udp-send, \"{echo_ip}:5353\", hi, \"30\"]"))).unwrap();
    let (code, _, err) = k(&["apply", "-f", "send.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = k(&["wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/send", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}\nwpn-1: {}\nwpn-2: {}", logs("wpn-1"), logs("wpn-2"));
    let send_ip = field("send", "{.status.podIP}");
    assert_eq!(k(&["logs", "send"]).1, format!("udp hi from {send_ip}\n"));
    assert!(k(&["logs", "echo"]).1.contains(&format!("udp got hi from {send_ip}")));
    // And through its Service's ClusterIP: the endpoint is on the other node.
    let echo_service = k(&["get", "service", "echo", "-o", "jsonpath={.spec.clusterIP}"]).1;
    std::fs::write(work.join("send2.yaml"), udp_pod("send2", "wpn-1", &format!("[udp-send, \"{echo_service}:53\", again, \"30\"]"))).unwrap();
    let (code, _, err) = k(&["apply", "-f", "send2.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = k(&["wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/send2", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}\nwpn-1: {}\nwpn-2: {}", logs("wpn-1"), logs("wpn-2"));
    let send2_ip = field("send2", "{.status.podIP}");
    assert_eq!(k(&["logs", "send2"]).1, format!("udp again from {send2_ip}\n"));

    // The server saw the client's own pod IP (routed mode), not a node's.
    // (Each request's line is written once it is answered.)
    let gets = |text: &str| text.lines().filter(|l| l.contains("GET /")).count();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut served = k(&["logs", "web"]).1;
    while gets(&served) < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        served = k(&["logs", "web"]).1;
    }
    assert!(served.lines().filter(|l| l.contains("GET /")).all(|l| l.starts_with(&format!("{client_ip} "))), "{served}");
    assert_eq!(gets(&served), 4, "{served}");
    // The Service's node port on both hosts, as kube-proxy opens it: the
    // server's node reaches its pod in memory, the other node through
    // the host.
    for host in [lan.address(0), lan.address(1)] {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect((host.as_str(), 30080)).unwrap_or_else(|e| panic!("{host}:30080: {e}"));
        c.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        c.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer);
        assert!(answer.ends_with("served by web\n"), "{host}:30080: {answer:?}");
    }

    // The cluster's NetworkPolicy, on the server's node: only pods labelled
    // role=client (on the other node) may reach it. Before it, any may.
    let (code, out, err) = k(&["exec", "other", "--", "wget", "-q", "-T", "5", "-O", "-", "http://web/"]);
    assert_eq!((code, out.trim()), (Some(0), "served by web"), "{err}");
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web-from-clients}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {role: client}}}]\n";
    std::fs::write(work.join("policy.yaml"), policy).unwrap();
    let (code, _, err) = k(&["apply", "-f", "policy.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (code, _, _) = k(&["exec", "other", "--", "wget", "-q", "-T", "3", "-O", "-", "http://web/"]);
        if code != Some(0) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the NetworkPolicy never took effect\nwpn-2: {}", logs("wpn-2"));
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let (code, out, err) = wget("http://web/");
    assert_eq!((code, out.trim()), (Some(0), "served by web"), "a pod the policy allows: {err}");

    // Resource stats through the API server's node proxy (which refuses
    // loopback nodes), where metrics-server reads them: the Summary API
    // and the resource metrics.
    let (code, summary, err) = k(&["get", "--raw", "/api/v1/nodes/wpn-2/proxy/stats/summary"]);
    assert_eq!(code, Some(0), "{err}");
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["node"]["nodeName"], "wpn-2");
    let web = summary["pods"].as_array().unwrap().iter().find(|p| p["podRef"]["name"] == "web").expect("the web pod in the summary").clone();
    assert_eq!(web["containers"][0]["name"], "web", "{web}");
    assert!(web["containers"][0]["memory"]["workingSetBytes"].as_u64().is_some_and(|b| b > 0), "{web}");
    assert!(web["containers"][0]["cpu"]["usageCoreNanoSeconds"].is_u64(), "{web}");
    assert!(summary["node"]["memory"]["workingSetBytes"].as_u64() >= web["memory"]["workingSetBytes"].as_u64(), "{summary}");
    let (code, metrics, err) = k(&["get", "--raw", "/api/v1/nodes/wpn-2/proxy/metrics/resource"]);
    assert_eq!(code, Some(0), "{err}");
    let series = "container_memory_working_set_bytes{container=\"web\",namespace=\"default\",pod=\"web\"} ";
    assert!(metrics.contains(series) && metrics.contains("# TYPE node_cpu_usage_seconds_total counter"), "{metrics}");
    // Graceful deletion runs the preStop hook, then the pod is gone.
    let (code, _, err) = k(&["delete", "pod", "client", "--wait=true", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}");
    let prestop = |text: &str| text.lines().any(|l| l.starts_with(&format!("{client_ip} ")) && l.contains("GET /prestop"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut served = k(&["logs", "web"]).1;
    while !prestop(&served) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        served = k(&["logs", "web"]).1;
    }
    assert!(prestop(&served), "no preStop request: {served}");
    // A pod that is no endpoint any more is out of rotation.
    let (code, _, err) = k(&["delete", "pod", "web", "--wait=true", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{err}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (code, _, err) = k(&["exec", "other", "--", "wget", "-q", "-T", "5", "-O", "-", &format!("http://{cluster_ip}/")]);
        if code != Some(0) {
            assert!(err.contains("refused") || err.contains("error"), "{err}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the deleted pod still serves the Service");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

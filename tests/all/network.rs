//! The pod network: one localhost per pod, pods reachable by pod IP only,
//! nothing else reachable. The `nettest` guest uses plain std::net.

use std::path::Path;

use crate::harness::{Harness, container, exit_code, phase, wait_until};

fn nettest() -> String {
    Path::new(wasmpod::testing::GUESTS_DIR).join("nettest.wasm").display().to_string()
}

/// A pod of `nettest` containers, each `(name, args)`, restartPolicy Never.
fn pod(name: &str, containers: &[(&str, &str)]) -> String {
    let mut y = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  containers:\n");
    for (c, args) in containers {
        let args: Vec<&str> = args.split(' ').collect();
        y += &format!("  - name: {c}\n    image: {}\n    args: {}\n", nettest(), serde_json::to_string(&args).unwrap());
    }
    y
}

fn pod_ip(h: &wasmpod::PodHandle) -> String {
    h.current().status.unwrap().pod_ip.expect("status.podIP is set")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_of_a_pod_share_localhost() {
    let h = Harness::new();
    let out = h.run(&pod("web", &[("server", "listen 8080 2"), ("v4", "connect localhost:8080 hello 30"), ("ip", "connect 127.0.0.1:8080 literal 30")])).await;
    assert_eq!(outcome_phase(&out.pod), "Succeeded", "{:?}", h.lines.0.lock().unwrap());
    let mut got = h.stdout("web", "server");
    got.sort();
    assert_eq!(got, ["got hello from 127.0.0.1", "got literal from 127.0.0.1", "listening on 8080"]);
    assert_eq!(h.stdout("web", "v4"), ["echo hello from 127.0.0.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_and_ipv6_listeners_accept_their_own_family() {
    let h = Harness::new();
    let yaml = pod("six", &[("server", "listen 8080 1"), ("v4", "connect 127.0.0.1:8080 four"), ("v6", "connect [::1]:8080 six 30")]).replacen(
        "    args: [\"listen\"",
        "    env: [{name: NETTEST_V6, value: \"1\"}]\n    args: [\"listen\"",
        1,
    );
    let out = h.run(&yaml).await;
    assert_eq!(h.stdout("six", "v6"), ["echo six from ::1"], "{:?}", h.lines.0.lock().unwrap());
    // An IPv6 listener does not take IPv4 connections (IPV6_V6ONLY).
    assert_eq!(h.stdout("six", "v4"), ["error: ConnectionRefused"]);
    assert_eq!(exit_code(container(&out.pod, "v4")), Some(1));
}

fn outcome_phase(p: &k8s_openapi::api::core::v1::Pod) -> String {
    phase(p).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_bind_the_same_port_and_reach_each_other_only_by_pod_ip() {
    let h = Harness::new();
    // Pod a serves one connection on :80; pod b serves its own :80.
    let a = h.start(&pod("a", &[("server", "listen 80 1")])).await;
    let a_ip = pod_ip(&a);
    let b = h
        .start(&pod(
            "b",
            &[
                ("server", "listen 80 1"),
                ("local", "connect localhost:80 mine 30"),
                // From b, a is reachable by its IP and sees b's IP as the peer.
                ("cross", &format!("connect {a_ip}:80 cross 30")),
            ],
        ))
        .await;
    let b_ip = pod_ip(&b);
    assert_ne!(a_ip, b_ip);
    assert!(a_ip.starts_with("10.88."), "{a_ip}");
    let a_end = tokio::time::timeout(crate::harness::DEADLINE, a.wait()).await.unwrap();
    let b_end = tokio::time::timeout(crate::harness::DEADLINE, b.wait()).await.unwrap();
    assert_eq!(phase(&a_end.pod), "Succeeded", "{:?}", h.lines.0.lock().unwrap());
    assert_eq!(phase(&b_end.pod), "Succeeded", "{:?}", h.lines.0.lock().unwrap());
    assert_eq!(h.stdout("a", "server"), ["listening on 80", &format!("got cross from {b_ip}")]);
    assert_eq!(h.stdout("b", "server"), ["listening on 80", "got mine from 127.0.0.1"]);
    assert_eq!(h.stdout("b", "cross"), [format!("echo cross from {b_ip}")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_pods_localhost_is_invisible_and_without_egress_nothing_else_is_reachable() {
    let h = Harness::with_config(|c| c.egress = wasmpod::Egress::Deny);
    let server = h.start(&pod("holder", &[("server", "listen 7000 1")])).await;
    wait_until(&server, "server running", |p| phase(p) == "Running").await;
    let out = h
        .run(&pod(
            "prober",
            &[
                // holder listens on 7000, but this pod's localhost is its own.
                ("local", "connect localhost:7000 x"),
                // No pod has this IP; the internet and the host are not there.
                ("nopod", "connect 10.88.250.250:80 x"),
                ("internet", "connect 93.184.216.34:80 x"),
                ("dns", "resolve example.com"),
            ],
        ))
        .await;
    assert_eq!(phase(&out.pod), "Failed");
    for c in ["local", "nopod", "internet", "dns"] {
        assert_eq!(exit_code(container(&out.pod, c)), Some(1), "{c}: {:?}", h.stdout("prober", c));
    }
    assert_eq!(h.stdout("prober", "local"), ["error: ConnectionRefused"]);
    assert_eq!(h.stdout("prober", "nopod"), ["error: HostUnreachable"]);
    assert_eq!(h.stdout("prober", "internet"), ["error: HostUnreachable"]);
    let dns = h.stdout("prober", "dns");
    assert!(dns.len() == 1 && dns[0].starts_with("error: "), "{dns:?}");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_bind_in_a_pod_is_address_in_use() {
    let h = Harness::new();
    let out = h
        .run(&pod(
            "ports",
            &[
                ("first", "listen 9000 1 5"),
                // Once first listens (the connect succeeds), binding 9000 fails;
                // an ephemeral bind still works.
                ("second", "connect localhost:9000 x 30 -- bind 0 -- bind 9000"),
            ],
        ))
        .await;
    let second = h.stdout("ports", "second");
    assert_eq!(second.len(), 3, "{second:?}");
    assert_eq!(second[0], "echo x from 127.0.0.1");
    assert!(second[1].starts_with("bound "), "{second:?}");
    let port: u16 = second[1]["bound ".len()..].parse().unwrap();
    assert!(port >= 32768, "ephemeral port {port}");
    assert_eq!(second[2], "error: AddrInUse");
    assert_eq!(exit_code(container(&out.pod, "second")), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_data_streams_intact_with_back_pressure() {
    let h = Harness::new();
    // 8 MiB through a 256 KiB connection buffer: the writer must wait for
    // the reader many times, and every byte arrives.
    let out = h.run(&pod("bulk", &[("sink", "sink 5000"), ("send", "send localhost:5000 8388608 30")])).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{:?}", h.lines.0.lock().unwrap());
    let sent = h.stdout("bulk", "send");
    let received = h.stdout("bulk", "sink");
    let sum = sent[0].split("sum ").nth(1).unwrap().split(',').next().unwrap().to_owned();
    assert_eq!(received, ["listening on 5000", &format!("received 8388608 bytes, sum {sum}")]);
    assert!(sent[0].ends_with("peer counted 8388608"), "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pod_resolves_localhost_its_hostname_and_pod_records() {
    let h = Harness::new();
    let other = h.start(&pod("other", &[("server", "listen 1 1")]).replace("spec:\n", "spec:\n  hostname: db\n  subdomain: backend\n")).await;
    let other_ip = pod_ip(&other);
    let record = format!("{}.default.pod.cluster.local", other_ip.replace('.', "-"));
    let out = h
        .run(&pod(
            "dns",
            &[
                ("localhost", "resolve localhost"),
                ("me", "resolve dns"),
                ("record", &format!("resolve {record}")),
                ("short", "resolve db.backend"),
                ("fqdn", "resolve db.backend.default.svc.cluster.local"),
                ("podname", "resolve other"),
            ],
        ))
        .await;
    // A pod's name alone is not a DNS name (no Service), as in Kubernetes.
    assert_eq!(exit_code(container(&out.pod, "podname")), Some(1));
    assert_eq!(h.stdout("dns", "localhost"), ["127.0.0.1", "::1"]);
    assert_eq!(h.stdout("dns", "short"), [other_ip.as_str()]);
    assert_eq!(h.stdout("dns", "fqdn"), [other_ip.as_str()]);
    let me = out.pod.status.as_ref().unwrap().pod_ip.clone().unwrap();
    assert_eq!(h.stdout("dns", "me"), [me]);
    assert_eq!(h.stdout("dns", "record"), [other_ip]);
    other.stop();
}

/// Collects an exec'd command's output.
#[derive(Clone, Default)]
struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl tokio::io::AsyncWrite for Sink {
    fn poll_write(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
        self.0.lock().unwrap().extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl Sink {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

pub async fn exec(h: &wasmpod::PodHandle, container: Option<&str>, argv: &[&str]) -> (Result<wasmpod::ExecOutcome, wasmpod::ExecError>, String, String) {
    let (out, err) = (Sink::default(), Sink::default());
    let req = wasmpod::ExecRequest::new(argv.iter().map(|s| s.to_string()).collect(), Box::new(out.clone()), Box::new(err.clone()))
        .in_container(container.map(str::to_owned));
    let r = h.exec(req).await;
    (r, out.text(), err.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_in_the_containers_files_env_and_network() {
    let h = Harness::new();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ex\nspec:\n  containers:\n  - name: shell\n    image: alpine\n    env: [{{name: GREETING, value: hello}}]\n    command: [sh, -c, 'echo written > /tmp/f; sleep 600']\n  - name: server\n    image: {}\n    args: [listen, '80']\n",
        nettest()
    );
    let pod = h.start(&yaml).await;
    wait_until(&pod, "both running", |p| p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some_and(|cs| cs.iter().all(|c| c.ready))).await;
    // The default container is the first; its root filesystem and env.
    let mut file = String::new();
    for _ in 0..200 {
        let (r, out, _) = exec(&pod, None, &["sh", "-c", "cat /tmp/f; echo $GREETING"]).await;
        assert_eq!(r.as_ref().unwrap().container, "shell");
        file = out;
        if file.starts_with("written") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(file, "written\nhello\n");
    // A failing command returns its exit code.
    let (r, _, err) = exec(&pod, Some("shell"), &["sh", "-c", "echo oops >&2; exit 3"]).await;
    assert_eq!(r.unwrap().exit_code, 3);
    assert_eq!(err, "oops\n");
    // A fresh instance of the server's image reaches the server over the
    // pod's localhost.
    let (r, out, _) = exec(&pod, Some("server"), &["nettest", "connect", "localhost:80", "via-exec", "30"]).await;
    assert_eq!(r.unwrap().exit_code, 0);
    assert_eq!(out, "echo via-exec from 127.0.0.1\n");
    // Errors in the API server's words.
    let (r, _, _) = exec(&pod, Some("nope"), &["true"]).await;
    assert_eq!(r.unwrap_err().to_string(), "container nope is not valid for pod ex");
    let (r, _, _) = exec(&pod, None, &[]).await;
    assert!(matches!(r, Err(wasmpod::ExecError::NoCommand)));
    pod.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_splices_host_connections_into_the_pod() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let h = Harness::new();
    let pod = h.start(&pod("fwd", &[("server", "listen 80 2")])).await;
    wait_until(&pod, "running", |p| phase(p) == "Running").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let ev = events.clone();
    let fwd = tokio::spawn(pod.port_forward(listener, 80, std::sync::Arc::new(move |e| ev.lock().unwrap().push(format!("{e:?}")))));
    for msg in ["one", "two"] {
        let mut reply = String::new();
        for _ in 0..500 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("{msg}\n").as_bytes()).await.unwrap();
            reply.clear();
            let _ = BufReader::new(&mut s).read_line(&mut reply).await;
            if !reply.is_empty() {
                break;
            }
            // The server may not listen yet: the forward closes the host
            // connection at once, as kubectl's does.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(reply, format!("echo {msg} from 127.0.0.1\n"));
    }
    assert!(events.lock().unwrap().iter().any(|e| e.starts_with("Connected")), "{events:?}");
    fwd.abort();
    let end = tokio::time::timeout(crate::harness::DEADLINE, pod.wait()).await.unwrap();
    assert_eq!(phase(&end.pod), "Succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_port_opens_on_host_loopback_and_a_taken_one_refuses_the_pod() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let h = Harness::new();
    let yaml = pod("hp", &[("server", "listen 80 1")]).replace("    args:", &format!("    ports: [{{containerPort: 80, hostPort: {free}}}]\n    args:"));
    let server = h.start(&yaml).await;
    let mut reply = String::new();
    for _ in 0..500 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", free)).await.unwrap();
        s.write_all(b"door\n").await.unwrap();
        let _ = BufReader::new(&mut s).read_line(&mut reply).await;
        if !reply.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(reply, "echo door from 127.0.0.1\n");
    let end = tokio::time::timeout(crate::harness::DEADLINE, server.wait()).await.unwrap();
    assert_eq!(phase(&end.pod), "Succeeded");
    // The pod ended: its host port is closed again.
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", free)).await.is_err());

    // A host port already taken refuses the pod before it starts.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let yaml = pod("hp2", &[("server", "listen 80 1")]).replace("    args:", &format!("    ports: [{{containerPort: 80, hostPort: {port}}}]\n    args:"));
    let m = wasmpod::manifest::load_str(&yaml, "t.yaml", wasmpod::Validation::Strict).unwrap();
    let plan = h.runtime.plan(&m, h.base()).await.unwrap().remove(0);
    let err = h.runtime.start(plan).err().expect("a taken hostPort is refused");
    assert_eq!(err.to_string(), format!("pod \"hp2\": spec.containers[0].ports[0].hostPort: cannot listen on 127.0.0.1:{port}"));
    assert!(!h.pod_dir("hp2").join("pod.json").exists(), "nothing recorded for a refused pod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_services_are_reachable_only_with_host_network() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    // A service on the host's loopback.
    let service = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = service.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut s, _) = service.accept().await.unwrap();
        let mut line = String::new();
        BufReader::new(&mut s).read_line(&mut line).await.unwrap();
        s.write_all(format!("host saw {line}").as_bytes()).await.unwrap();
    });
    let h = Harness::new();
    // In the pod network, 127.0.0.1 is the pod's own loopback.
    let isolated = h.run(&pod("isolated", &[("c", &format!("connect 127.0.0.1:{port} x"))])).await;
    assert_eq!(h.stdout("isolated", "c"), ["error: ConnectionRefused"]);
    assert_eq!(phase(&isolated.pod), "Failed");
    // hostNetwork: true is the opt-in to the host's network.
    let yaml = pod("hostnet", &[("c", &format!("connect 127.0.0.1:{port} hello"))]).replace("spec:\n", "spec:\n  hostNetwork: true\n");
    let out = h.run(&yaml).await;
    assert_eq!(h.stdout("hostnet", "c"), ["host saw hello"], "{:?}", h.lines.0.lock().unwrap());
    assert_eq!(phase(&out.pod), "Succeeded");
    assert_eq!(out.pod.status.unwrap().pod_ip.as_deref(), Some("127.0.0.1"));
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_datagrams_travel_within_a_pod_and_between_pods() {
    let h = Harness::new();
    let a = h.start(&pod("ua", &[("echo", "udp-echo 5353 2")])).await;
    let a_ip = pod_ip(&a);
    let b = h.run(&pod("ub", &[("cross", &format!("udp-send {a_ip}:5353 hi 30"))])).await;
    assert_eq!(phase(&b.pod), "Succeeded", "{:?}", h.lines.0.lock().unwrap());
    let b_ip = b.pod.status.as_ref().unwrap().pod_ip.clone().unwrap();
    assert_eq!(h.stdout("ub", "cross"), [format!("udp hi from {b_ip}")]);
    let local = h.run(&pod("uc", &[("echo", "udp-echo 5353 1"), ("local", "udp-send 127.0.0.1:5353 near 30")])).await;
    assert_eq!(phase(&local.pod), "Succeeded", "{:?}", h.lines.0.lock().unwrap());
    assert_eq!(h.stdout("uc", "local"), ["udp near from 127.0.0.1"]);
    a.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pods_listener_opens_no_host_socket() {
    // A port free on the host, then a pod listening on that same port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let h = Harness::new();
    // The server keeps its port 5 s after serving the client.
    let server = h.start(&pod("quiet", &[("server", &format!("listen {port} 1 5")), ("client", &format!("connect localhost:{port} x 30"))])).await;
    let end = tokio::time::timeout(crate::harness::DEADLINE, async {
        // Once the client got its answer the pod's listener exists; the
        // host's port stays free: binding it succeeds, connecting finds nobody.
        while h.stdout("quiet", "client").is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(h.stdout("quiet", "server").contains(&"got x from 127.0.0.1".to_owned()));
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the pod's listener is visible on the host");
        drop(std::net::TcpListener::bind(("127.0.0.1", port)).expect("the host port is free while the pod listens on it"));
        server.wait().await
    })
    .await
    .unwrap();
    assert_eq!(phase(&end.pod), "Succeeded");
    assert_eq!(h.stdout("quiet", "client"), ["echo x from 127.0.0.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_wasi_http_goes_through_the_pod_network() {
    let h = Harness::with_config(|c| c.egress = wasmpod::Egress::Deny);
    let web = h.start("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: nginx\n    image: nginx:1.7.9\n").await;
    let web_ip = pod_ip(&web);
    // Wait until nginx listens (its own curl answers) before the client runs.
    for _ in 0..500 {
        let (r, out, _) = exec(&web, None, &["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://localhost/"]).await;
        if r.is_ok_and(|o| o.exit_code == 0) && out == "200" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let yaml = pod("client", &[("cross", &format!("http-get {web_ip}:80 /")), ("outside", "http-get example.com:80 /"), ("local", "http-get localhost:80 /")]);
    let out = h.run(&yaml).await;
    let cross = h.stdout("client", "cross");
    assert_eq!(exit_code(container(&out.pod, "cross")), Some(0), "{cross:?}");
    assert_eq!(cross[0], "200 <!DOCTYPE html>");
    assert!(cross.iter().any(|l| l.contains("Welcome to nginx!")), "{cross:?}");
    // This pod's own localhost:80 has no server: refused, not the other pod.
    assert_eq!(exit_code(container(&out.pod, "local")), Some(1));
    assert!(h.stdout("client", "local")[0].contains("ConnectionRefused"), "{:?}", h.stdout("client", "local"));
    // Egress denied: a name outside does not resolve.
    assert_eq!(exit_code(container(&out.pod, "outside")), Some(1));
    assert!(h.stdout("client", "outside")[0].contains("DnsError"), "{:?}", h.stdout("client", "outside"));
    web.stop();
}

/// A server in a network namespace of its own, on an address of a /30
/// that only it and the host's end of a veth pair use: what "outside the
/// runtime" is for the egress tests (Linux, as root, as CI runs).
#[cfg(target_os = "linux")]
struct Outside {
    ns: String,
    ip: String,
    files: std::path::PathBuf,
    server: std::process::Child,
    tls_server: Option<std::process::Child>,
    udp_server: Option<std::process::Child>,
}

#[cfg(target_os = "linux")]
impl Outside {
    /// `slot` tells apart the tests of one process (each its own
    /// namespace and addresses).
    fn start(dir: &Path, slot: u32) -> Self {
        let id = (std::process::id() * 2 + slot) % 250;
        let ns = format!("wpegress{id}");
        let (host_if, ns_if) = (format!("wpe{id}h"), format!("wpe{id}n"));
        let (host_ip, ip) = (format!("198.18.{id}.1"), format!("198.18.{id}.2"));
        let run = |args: &[&str]| {
            let out = std::process::Command::new("ip").args(args).output().expect("the ip command (iproute2)");
            assert!(
                out.status.success(),
                "ip {}: {} (the egress tests make a network namespace: run them as root)",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = std::process::Command::new("ip").args(["netns", "del", &ns]).output();
        let _ = std::process::Command::new("ip").args(["link", "del", &host_if]).output();
        run(&["netns", "add", &ns]);
        run(&["link", "add", &host_if, "type", "veth", "peer", "name", &ns_if]);
        run(&["link", "set", &ns_if, "netns", &ns]);
        run(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
        run(&["link", "set", &host_if, "up"]);
        run(&["netns", "exec", &ns, "ip", "addr", "add", &format!("{ip}/30"), "dev", &ns_if]);
        run(&["netns", "exec", &ns, "ip", "link", "set", &ns_if, "up"]);
        run(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
        std::fs::write(dir.join("hello.txt"), "hello from outside\n").unwrap();
        let server = std::process::Command::new("ip")
            .args(["netns", "exec", &ns, "python3", "-m", "http.server", "8099", "--bind", &ip, "--directory"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 for the outside server");
        let me = Self { ns, ip, files: dir.to_owned(), server, tls_server: None, udp_server: None };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect((me.ip.as_str(), 8099)).is_err() {
            assert!(std::time::Instant::now() < deadline, "the outside server did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        me
    }
}

#[cfg(target_os = "linux")]
impl Outside {
    /// Adds an HTTPS server on 8443 serving `dir`, with a certificate for
    /// its address signed by a CA made here; returns the CA's PEM file.
    fn start_tls(&mut self, dir: &Path) -> std::path::PathBuf {
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
            assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(&[&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=wasmpod test CA"]].concat());
        openssl(&[&["req"][..], &ec, &["-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=outside"]].concat());
        std::fs::write(dir.join("san.ext"), format!("subjectAltName=IP:{}\nbasicConstraints=CA:FALSE\n", self.ip)).unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        let script = format!(
            "import http.server,ssl,os; c=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain({cert:?},{key:?}); os.chdir({files:?}); s=http.server.HTTPServer(({ip:?},8443), http.server.SimpleHTTPRequestHandler); s.socket=c.wrap_socket(s.socket, server_side=True); s.serve_forever()",
            cert = dir.join("srv.pem").display().to_string(),
            key = dir.join("srv.key").display().to_string(),
            files = self.files.display().to_string(),
            ip = self.ip
        );
        self.tls_server = Some(self.python(&script));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect((self.ip.as_str(), 8443)).is_err() {
            assert!(std::time::Instant::now() < deadline, "the HTTPS server did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        dir.join("ca.pem")
    }
}

#[cfg(target_os = "linux")]
impl Outside {
    /// Runs a python3 `script` in the namespace.
    fn python(&self, script: &str) -> std::process::Child {
        std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns, "python3", "-c", script])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 in the outside namespace")
    }

    /// Adds a UDP server on 5353 that answers each datagram with
    /// `echo:` and the datagram.
    fn start_udp_echo(&mut self) {
        let script = format!(
            "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(({ip:?}, 5353))\nwhile True:\n d,a=s.recvfrom(65535); s.sendto(b'echo:'+d, a)",
            ip = self.ip
        );
        self.udp_server = Some(self.python(&script));
        // Up once it answers.
        let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        probe.set_read_timeout(Some(std::time::Duration::from_millis(100))).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut buf = [0u8; 64];
        loop {
            probe.send_to(b"up?", (self.ip.as_str(), 5353)).unwrap();
            if probe.recv(&mut buf).is_ok() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the UDP server did not start");
        }
    }
}

/// Whether the `what` test can make its network namespace: always in CI
/// (WASMPOD_REQUIRE_NETNS=1, set by .ci/run, which installs the tools, so a
/// missing one fails the test); elsewhere only as root with iproute2,
/// python3 and openssl at hand, else the test says it did not run.
#[cfg(target_os = "linux")]
pub(crate) fn outside_possible(what: &str) -> bool {
    if std::env::var_os("WASMPOD_REQUIRE_NETNS").is_some() {
        return true;
    }
    let has = |tool: &str| std::process::Command::new(tool).arg("-V").output().is_ok() || std::process::Command::new(tool).arg("version").output().is_ok();
    let ready = unsafe { libc::geteuid() } == 0 && has("ip") && has("python3") && has("openssl");
    if !ready {
        eprintln!("NOT RUN: the {what} test makes a network namespace and needs root, iproute2, python3 and openssl (CI runs it)");
    }
    ready
}

#[cfg(target_os = "linux")]
impl Drop for Outside {
    fn drop(&mut self) {
        for mut child in [self.tls_server.take(), self.udp_server.take()].into_iter().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_reach_outside_through_the_hosts_sockets_but_never_its_loopback_or_metadata_unless_denied() {
    if !outside_possible("egress") {
        return;
    }
    let h = Harness::new();
    let files = tempfile::tempdir().unwrap();
    let mut outside = Outside::start(files.path(), 0);
    outside.start_udp_echo();
    let url = format!("http://{}:8099/hello.txt", outside.ip);
    let yaml = pod(
        "egress",
        &[
            ("out", &format!("http-get {}:8099 /hello.txt", outside.ip)),
            ("metadata", "connect 169.254.169.254:80 x"),
            ("closed", &format!("connect {}:8100 x", outside.ip)),
        ],
    );
    let out = h.run(&yaml).await;
    assert_eq!(exit_code(container(&out.pod, "out")), Some(0), "{:?}", h.stdout("egress", "out"));
    assert!(h.stdout("egress", "out").iter().any(|l| l.contains("hello from outside")), "{:?}", h.stdout("egress", "out"));
    assert_eq!(h.stdout("egress", "metadata"), ["error: HostUnreachable"]);
    assert_eq!(h.stdout("egress", "closed"), ["error: ConnectionRefused"]);
    // The toolbox's curl (wasi:sockets) too.
    let curl = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: curl}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [curl, -sS, '{url}']\n"
    );
    let out = h.run(&curl).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{:?}", h.lines_of("curl", "c", wasmpod::Stream::Stderr));
    assert_eq!(h.stdout("curl", "c"), ["hello from outside"]);
    // UDP goes out and its reply comes back (a NAT mapping).
    let udp = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: udp}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'echo ping | socat -t3 - UDP:{}:5353']\n",
        outside.ip
    );
    let out = h.run(&udp).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{:?}", h.lines_of("udp", "c", wasmpod::Stream::Stderr));
    assert_eq!(h.stdout("udp", "c"), ["echo:ping"]);

    // Denied: the same address is unreachable.
    let denied = Harness::with_config(|c| c.egress = wasmpod::Egress::Deny);
    let out = denied.run(&curl).await;
    assert_eq!(phase(&out.pod), "Failed");
    assert!(denied.stdout("curl", "c").is_empty());
    // A datagram to it fails to send (host unreachable), as a TCP connect does.
    let out = denied.run(&udp).await;
    assert_eq!(phase(&out.pod), "Failed");
    assert!(denied.stdout("udp", "c").is_empty());
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_out_is_verified_against_the_systems_roots_while_https_probes_and_hooks_skip_verification() {
    if !outside_possible("HTTPS") {
        return;
    }
    let files = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let mut outside = Outside::start(files.path(), 1);
    let ca = outside.start_tls(certs.path());
    let ip = outside.ip.clone();

    // Probes and hooks take any certificate, as the kubelet's do.
    let h = Harness::with_config(|c| c.probe_second = std::time::Duration::from_millis(200));
    let probed = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: probed}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '3600']\n    lifecycle:\n      postStart: {{httpGet: {{scheme: HTTPS, host: '{ip}', port: 8443, path: /hello.txt}}}}\n    readinessProbe:\n      httpGet: {{scheme: HTTPS, host: '{ip}', port: 8443, path: /hello.txt}}\n      periodSeconds: 1\n"
    );
    let handle = h.start(&probed).await;
    let ready =
        |p: &k8s_openapi::api::core::v1::Pod| p.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == "Ready" && c.status == "True");
    let became_ready = tokio::time::timeout(std::time::Duration::from_secs(30), wait_until(&handle, "Ready through an HTTPS probe", ready)).await;
    assert!(became_ready.is_ok(), "not Ready: {}", h.events("probed"));
    assert!(!h.events("probed").contains("FailedPostStartHook"), "{}", h.events("probed"));
    handle.stop();
    tokio::time::timeout(crate::harness::DEADLINE, handle.wait()).await.unwrap();

    // Outgoing wasi:http verifies: this process does not trust the test CA.
    let out = h.run(&pod("untrusted", &[("get", &format!("http-get https://{ip}:8443 /hello.txt"))])).await;
    assert_eq!(exit_code(container(&out.pod, "get")), Some(1));
    assert!(h.stdout("untrusted", "get").iter().any(|l| l.contains("TlsCertificateError")), "{:?}", h.stdout("untrusted", "get"));

    // A process whose roots hold it (SSL_CERT_FILE, as OpenSSL reads it) gets the page.
    let manifest = files.path().join("https.yaml");
    std::fs::write(&manifest, pod("trusted", &[("get", &format!("http-get https://{ip}:8443 /hello.txt"))])).unwrap();
    let state = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_wasmpod"))
        .args(["--state-dir"])
        .arg(state.path())
        .arg("run")
        .arg(&manifest)
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("200 hello from outside"), "{stdout}");
}

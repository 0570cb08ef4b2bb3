//! Services on the pod network: a ClusterIP balancing over the Ready pods
//! its selector matches (by a named target port), reached by its DNS
//! names and the kubelet's service variables; a pod that turns unready
//! leaves and comes back; a headless Service's name gives the pods.

use wasmpod::Validation;
use wasmpod::manifest;

use crate::harness::{Harness, phase, wait_until};

fn backend(name: &str, ready_file: bool) -> String {
    // Ready once the server answers; with `ready_file`, only while it
    // serves /srv/ready, so the test can take the pod out of the Service
    // and put it back.
    let probe = if ready_file {
        "    readinessProbe:\n      httpGet: {path: /ready, port: 8080}\n      periodSeconds: 1\n"
    } else {
        "    readinessProbe:\n      tcpSocket: {port: 8080}\n      periodSeconds: 1\n"
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: web}}}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    ports: [{{name: http, containerPort: 8080}}]\n    command: [sh, -c, \"mkdir -p /srv && echo {name} > /srv/index.html && touch /srv/ready && python -m http.server 8080 -d /srv\"]\n{probe}"
    )
}

const SERVICES: &str = "apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-pods}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 8080}]
";

fn client(name: &str, script: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, '{script}']\n"
    )
}

async fn exec(h: &Harness, pod: &str, argv: &[&str]) {
    let req = wasmpod::ExecRequest::new(argv.iter().map(|s| s.to_string()).collect(), Box::new(tokio::io::sink()), Box::new(tokio::io::sink()));
    let outcome = h.runtime.exec("default", pod, req).await.unwrap_or_else(|e| panic!("exec {argv:?}: {e}"));
    assert_eq!(outcome.exit_code, 0, "exec {argv:?}");
}

fn ready(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    pod.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == "Ready" && c.status == "True")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_balances_over_ready_pods_by_name_and_an_unready_pod_leaves_and_comes_back() {
    let h = Harness::with_config(|c| c.probe_second = std::time::Duration::from_millis(200));
    let services = manifest::load_str(SERVICES, "services.yaml", Validation::Strict).unwrap();
    let web = h.runtime.apply_service(&services.services[0]).unwrap();
    let ip = web.spec.as_ref().unwrap().cluster_ip.clone().unwrap();
    assert!(ip.starts_with("10.9") || ip.starts_with("10.10"), "{ip}");
    let headless = h.runtime.apply_service(&services.services[1]).unwrap();
    assert_eq!(headless.spec.as_ref().unwrap().cluster_ip.as_deref(), Some("None"));
    let (a, b) = (h.start(&backend("web-a", true)).await, h.start(&backend("web-b", false)).await);
    wait_until(&a, "web-a Ready", ready).await;
    wait_until(&b, "web-b Ready", ready).await;
    assert_eq!(h.runtime.service_endpoints("default", "web").len(), 2);

    // An ExternalName Service is an alias (a CNAME) of another name.
    let alias = manifest::load_str(
        "apiVersion: v1\nkind: Service\nmetadata: {name: front}\nspec:\n  type: ExternalName\n  externalName: web.default.svc.cluster.local\n",
        "a.yaml",
        Validation::Strict,
    )
    .unwrap();
    let front = h.runtime.apply_service(&alias.services[0]).unwrap();
    assert_eq!(front.spec.as_ref().unwrap().cluster_ip, None);

    // Four requests by the short name go to each pod in turn; the full
    // name, the kubelet's variables, the alias and the headless name work too.
    let script = "for i in 1 2 3 4; do curl -s http://web/; done; curl -s http://web.default.svc.cluster.local:80/; echo host=$WEB_SERVICE_HOST port=$WEB_SERVICE_PORT_HTTP link=$WEB_PORT; curl -s http://web-pods:8080/ >/dev/null && echo headless ok; curl -s http://front/ >/dev/null && echo alias ok";
    let outcome = h.run(&client("client", script)).await;
    assert_eq!(phase(&outcome.pod), "Succeeded", "{:?}", h.lines_of("client", "c", wasmpod::Stream::Stderr));
    let lines = h.stdout("client", "c");
    let mut first_four = lines[..4].to_vec();
    first_four.sort();
    assert_eq!(first_four, ["web-a", "web-a", "web-b", "web-b"], "{lines:?}");
    assert!(lines[4] == "web-a" || lines[4] == "web-b", "{lines:?}");
    assert_eq!(lines[5], format!("host={ip} port=80 link=tcp://{ip}:80"));
    assert_eq!(lines[6], "headless ok");
    assert_eq!(lines[7], "alias ok");

    // web-a turns unready: it leaves the Service; ready again, it is back.
    exec(&h, "web-a", &["rm", "/srv/ready"]).await;
    wait_until(&a, "web-a unready", |p| !ready(p)).await;
    assert_eq!(h.runtime.service_endpoints("default", "web").iter().filter(|(_, r)| *r).count(), 1);
    let outcome = h.run(&client("client2", "for i in 1 2 3; do curl -s http://web/; done")).await;
    assert_eq!(phase(&outcome.pod), "Succeeded");
    assert_eq!(h.stdout("client2", "c"), ["web-b", "web-b", "web-b"]);
    exec(&h, "web-a", &["touch", "/srv/ready"]).await;
    wait_until(&a, "web-a Ready again", ready).await;
    let outcome = h.run(&client("client3", "for i in 1 2; do curl -s http://web/; done")).await;
    assert_eq!(phase(&outcome.pod), "Succeeded");
    let mut lines = h.stdout("client3", "c");
    lines.sort();
    assert_eq!(lines, ["web-a", "web-b"]);

    // Without endpoints a connection is refused, as kube-proxy rejects it.
    h.runtime.delete("default", "web-a", Some(0)).unwrap();
    h.runtime.delete("default", "web-b", Some(0)).unwrap();
    h.runtime.settle().await;
    let outcome = h.run(&client("client4", "curl -sS http://web/ || echo refused")).await;
    assert_eq!(phase(&outcome.pod), "Succeeded");
    assert_eq!(h.stdout("client4", "c").last().map(String::as_str), Some("refused"));
}

/// The cluster DNS server (`nameserver 10.96.0.10` in resolv.conf)
/// answers a guest's own DNS queries, here busybox's `nslookup`: A records
/// through the search domains, SRV records of a named port and of a
/// headless Service (its pods by their per-pod names), NXDOMAIN.
#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_dns_server_answers_a_and_srv_queries_of_guests() {
    let h = Harness::new();
    let services = manifest::load_str(SERVICES, "services.yaml", Validation::Strict).unwrap();
    let web = h.runtime.apply_service(&services.services[0]).unwrap();
    let ip = web.spec.as_ref().unwrap().cluster_ip.clone().unwrap();
    h.runtime.apply_service(&services.services[1]).unwrap();
    let a = h.start(&backend("web-a", false)).await;
    let pod = wait_until(&a, "web-a Ready", ready).await;
    let pod_ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap();
    let script = "nslookup web; nslookup -type=srv _http._tcp.web; nslookup -type=srv web-pods; nslookup nope.default.svc.cluster.local; echo rc=$?";
    let outcome = h.run(&client("asker", script)).await;
    assert_eq!(phase(&outcome.pod), "Succeeded", "{:?}", h.lines_of("asker", "c", wasmpod::Stream::Stderr));
    let out = h.stdout("asker", "c").join("\n");
    let dashed = pod_ip.replace('.', "-");
    for needle in [
        "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53".to_owned(),
        format!("Name:\tweb.default.svc.cluster.local\nAddress: {ip}"),
        "_http._tcp.web.default.svc.cluster.local\tservice = 0 100 80 web.default.svc.cluster.local".to_owned(),
        format!("web-pods.default.svc.cluster.local\tservice = 0 100 8080 {dashed}.web-pods.default.svc.cluster.local"),
        "** server can't find nope.default.svc.cluster.local: NXDOMAIN".to_owned(),
        "rc=1".to_owned(),
    ] {
        assert!(out.contains(&needle), "no {needle:?} in:\n{out}");
    }
    // The per-pod name resolves for the guest's own resolver too.
    let outcome = h.run(&client("byname", &format!("curl -s http://{dashed}.web-pods:8080/"))).await;
    assert_eq!(phase(&outcome.pod), "Succeeded");
    assert_eq!(h.stdout("byname", "c"), ["web-a"]);
}

/// The kubelet gives a container the variables of the Services that exist
/// when it starts: a Service made while the pod runs is in the restarted
/// container's environment, and `enableServiceLinks: false` keeps them out.
#[tokio::test(flavor = "multi_thread")]
async fn service_variables_are_those_of_the_services_when_the_container_starts() {
    let h = Harness::new();
    let script = "if [ -f /tmp/second ]; then echo second=$LATE_SERVICE_HOST; exit 0; fi; echo first=$LATE_SERVICE_HOST; touch /tmp/second; sleep 2; exit 1";
    let pod = |name: &str, links: bool| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: OnFailure\n  enableServiceLinks: {links}\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, '{script}']\n"
        )
    };
    let (with, without) = (h.start(&pod("links", true)).await, h.start(&pod("no-links", false)).await);
    // Both printed their first line (and sleep 2 s before they exit).
    let t0 = std::time::Instant::now();
    while h.stdout("links", "c").is_empty() || h.stdout("no-links", "c").is_empty() {
        assert!(t0.elapsed() < crate::harness::DEADLINE, "the first runs never printed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: late}\nspec:\n  selector: {app: late}\n  ports: [{port: 80}]\n";
    let late = h.runtime.apply_service(&manifest::load_str(svc, "s.yaml", Validation::Strict).unwrap().services[0]).unwrap();
    let ip = late.spec.unwrap().cluster_ip.unwrap();
    for handle in [with, without] {
        let out = tokio::time::timeout(crate::harness::DEADLINE, handle.wait()).await.unwrap();
        assert_eq!(phase(&out.pod), "Succeeded");
    }
    assert_eq!(h.stdout("links", "c"), ["first=".to_owned(), format!("second={ip}")]);
    assert_eq!(h.stdout("no-links", "c"), ["first=", "second="]);
}

#[tokio::test(flavor = "multi_thread")]
async fn udp_through_a_service_reaches_a_pod_and_its_reply_comes_back_from_the_service() {
    let h = Harness::new();
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: echo}\nspec:\n  selector: {app: echo}\n  ports: [{port: 53, targetPort: 5353, protocol: UDP}]\n";
    let services = manifest::load_str(svc, "s.yaml", Validation::Strict).unwrap();
    h.runtime.apply_service(&services.services[0]).unwrap();
    let server = "apiVersion: v1\nkind: Pod\nmetadata: {name: echo, labels: {app: echo}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'echo pong | socat -t2 UDP-LISTEN:5353 STDIO']\n";
    let server = h.start(server).await;
    wait_until(&server, "echo Ready", ready).await;
    // The client's socket is connected to the Service's address: only a
    // reply from that address reaches it.
    let outcome = h.run(&client("asker", "sleep 2; echo ping | socat -t2 - UDP:echo:53")).await;
    assert_eq!(phase(&outcome.pod), "Succeeded", "{:?}", h.lines_of("asker", "c", wasmpod::Stream::Stderr));
    assert_eq!(h.stdout("asker", "c"), ["pong"]);
    let outcome = tokio::time::timeout(crate::harness::DEADLINE, server.wait()).await.unwrap();
    assert_eq!(phase(&outcome.pod), "Succeeded");
    assert_eq!(h.stdout("echo", "c"), ["ping"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_policy_blocks_what_it_does_not_allow_and_allows_what_it_names() {
    let h = Harness::new();
    let objects = manifest::load_str(
        "apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-frontend}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: frontend}}}]
    ports: [{port: 8080}]
",
        "policy.yaml",
        Validation::Strict,
    )
    .unwrap();
    assert_eq!(objects.network_policies[0].spec.as_ref().unwrap().policy_types.as_deref(), Some(&["Ingress".to_owned()][..]));
    h.runtime.apply_service(&objects.services[0]).unwrap();
    h.runtime.apply_network_policy(&objects.network_policies[0]).unwrap();
    let web = h.start(&backend("web-a", false)).await;
    wait_until(&web, "web-a Ready", ready).await;
    let labelled = |name: &str, role: &str, script: &str| {
        client(name, script).replace(&format!("{{name: {name}}}"), &format!("{{name: {name}, labels: {{role: {role}}}}}"))
    };
    // A frontend pod gets in, by the Service and by pod IP; any other pod not.
    let outcome = h.run(&labelled("front", "frontend", "curl -sS http://web/")).await;
    assert_eq!(phase(&outcome.pod), "Succeeded", "{:?}", h.lines_of("front", "c", wasmpod::Stream::Stderr));
    assert_eq!(h.stdout("front", "c"), ["web-a"]);
    let outcome = h.run(&labelled("other", "batch", "curl -sS http://web/ || echo blocked")).await;
    assert_eq!(phase(&outcome.pod), "Succeeded");
    assert_eq!(h.stdout("other", "c"), ["blocked"]);
    // The policy goes: everyone gets in again.
    h.runtime.delete_network_policy("default", "web-from-frontend").unwrap();
    let outcome = h.run(&labelled("other2", "batch", "curl -sS http://web/")).await;
    assert_eq!(h.stdout("other2", "c"), ["web-a"], "{:?}", outcome.pod.status);
}

#[tokio::test(flavor = "multi_thread")]
async fn node_port_and_load_balancer_services_listen_on_the_hosts_loopback() {
    let h = Harness::new();
    let objects = manifest::load_str(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web-np}\nspec:\n  type: NodePort\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web-lb}\nspec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n",
        "np.yaml",
        Validation::Strict,
    )
    .unwrap();
    let np = h.runtime.apply_service(&objects.services[0]).unwrap();
    let node_port = np.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].node_port.unwrap();
    assert!((30000..=32767).contains(&node_port), "{node_port}");
    let lb = h.runtime.apply_service(&objects.services[1]).unwrap();
    let lb_port = lb.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].node_port.unwrap();
    assert_ne!(lb_port, node_port);
    let ingress = lb.status.as_ref().unwrap().load_balancer.as_ref().unwrap().ingress.as_ref().unwrap();
    assert_eq!(ingress[0].ip.as_deref(), Some("127.0.0.1"));
    let web = h.start(&backend("web-a", false)).await;
    wait_until(&web, "web-a Ready", ready).await;
    for port in [node_port, lb_port] {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port as u16)).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.0 200") && answer.trim_end().ends_with("web-a"), "{answer}");
    }
    // A port asked for that another Service has: refused with the API server's words.
    let mut taken = objects.services[0].clone();
    taken.metadata.name = Some("other".into());
    taken.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].node_port = Some(node_port);
    let e = h.runtime.apply_service(&taken).unwrap_err().to_string();
    assert!(e.ends_with(&format!("spec.ports[0].nodePort: Invalid value: {node_port}: provided port is already allocated")), "{e}");
    // Re-applied unchanged, it keeps its node port (still served); a
    // re-apply asking for a taken port is refused and changes nothing.
    let again = h.runtime.apply_service(&objects.services[0]).unwrap();
    assert_eq!(again.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].node_port, Some(node_port));
    let mut clash = objects.services[0].clone();
    clash.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].node_port = Some(lb_port);
    assert!(h.runtime.apply_service(&clash).is_err());
    assert!(std::net::TcpStream::connect(("127.0.0.1", node_port as u16)).is_ok(), "the old node port still listens");
    // Deleted: the port closes.
    h.runtime.delete_service("default", "web-np").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(std::net::TcpStream::connect(("127.0.0.1", node_port as u16)).is_err());
}

/// A UDP node port: a host client's datagrams reach an endpoint as coming
/// from the node, and the endpoint's replies come back from the node port.
#[tokio::test(flavor = "multi_thread")]
async fn a_udp_node_port_carries_datagrams_both_ways() {
    let h = Harness::new();
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: echo-np}\nspec:\n  type: NodePort\n  selector: {app: echo}\n  ports: [{port: 53, targetPort: 5353, protocol: UDP}]\n";
    let np = h.runtime.apply_service(&manifest::load_str(svc, "s.yaml", Validation::Strict).unwrap().services[0]).unwrap();
    let node_port = np.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].node_port.unwrap() as u16;
    let server = "apiVersion: v1\nkind: Pod\nmetadata: {name: echo, labels: {app: echo}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'echo pong | socat -t2 UDP-LISTEN:5353 STDIO']\n";
    let server = h.start(server).await;
    wait_until(&server, "echo Ready", ready).await;
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 64];
    // Sent again until the guest is listening (a datagram before that is lost).
    let (n, from) = tokio::time::timeout(crate::harness::DEADLINE, async {
        loop {
            client.send_to(b"ping\n", ("127.0.0.1", node_port)).await.unwrap();
            if let Ok(got) = tokio::time::timeout(std::time::Duration::from_millis(200), client.recv_from(&mut buf)).await {
                break got.unwrap();
            }
        }
    })
    .await
    .expect("no reply through the node port");
    assert_eq!((&buf[..n], from), (&b"pong\n"[..], std::net::SocketAddr::from(([127, 0, 0, 1], node_port))));
    let outcome = tokio::time::timeout(crate::harness::DEADLINE, server.wait()).await.unwrap();
    assert_eq!(phase(&outcome.pod), "Succeeded");
    assert_eq!(h.stdout("echo", "c"), ["ping"]);
}

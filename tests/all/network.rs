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
    let out = h
        .run(&pod("web", &[("server", "listen 8080 2"), ("v4", "connect localhost:8080 hello 30"), ("ip", "connect 127.0.0.1:8080 literal 30")]))
        .await;
    assert_eq!(outcome_phase(&out.pod), "Succeeded", "{:?}", h.lines.0.lock().unwrap());
    let mut got = h.stdout("web", "server");
    got.sort();
    assert_eq!(got, ["got hello from 127.0.0.1", "got literal from 127.0.0.1", "listening on 8080"]);
    assert_eq!(h.stdout("web", "v4"), ["echo hello from 127.0.0.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_and_ipv6_listeners_accept_their_own_family() {
    let h = Harness::new();
    let yaml = pod("six", &[("server", "listen 8080 1"), ("v4", "connect 127.0.0.1:8080 four"), ("v6", "connect [::1]:8080 six 30")])
        .replacen("    args: [\"listen\"", "    env: [{name: NETTEST_V6, value: \"1\"}]\n    args: [\"listen\"", 1);
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
async fn another_pods_localhost_is_invisible_and_nothing_else_is_reachable() {
    let h = Harness::new();
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
    let other = h.start(&pod("other", &[("server", "listen 1 1")])).await;
    let other_ip = pod_ip(&other);
    let record = format!("{}.default.pod.cluster.local", other_ip.replace('.', "-"));
    let out = h.run(&pod("dns", &[("localhost", "resolve localhost"), ("me", "resolve dns"), ("record", &format!("resolve {record}"))])).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{:?}", h.lines.0.lock().unwrap());
    assert_eq!(h.stdout("dns", "localhost"), ["127.0.0.1", "::1"]);
    let me = out.pod.status.as_ref().unwrap().pod_ip.clone().unwrap();
    assert_eq!(h.stdout("dns", "me"), [me]);
    assert_eq!(h.stdout("dns", "record"), [other_ip]);
    other.stop();
}

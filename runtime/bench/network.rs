//! Pod network throughput and round trips (inside one pod over localhost,
//! and between two pods), beside two host processes over real loopback
//! TCP measured in the same run with the same buffer sizes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{BenchOptions, BenchReport, Lab, field, line_starting, stop_all};

const WITHIN: Duration = Duration::from_secs(300);

fn container(name: &str, args: &[String]) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!("  - name: {name}\n    image: builtin:nettest\n    args: [{}]\n", args.join(", "))
}

fn pod(name: &str, containers: &[String]) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  containers:\n{}", containers.concat())
}

fn gbps(line: &str) -> anyhow::Result<f64> {
    Ok(field(line, "bytes")? * 8.0 / field(line, "ns")?)
}

fn rtt_us(line: &str) -> anyhow::Result<f64> {
    Ok(field(line, "ns")? / field(line, "rounds")? / 1000.0)
}

pub(super) async fn run(lab: &Lab, options: &BenchOptions, report: &mut BenchReport) -> anyhow::Result<()> {
    let bytes = options.net_bytes.to_string();
    let rounds = options.rtt_rounds.to_string();
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();

    // One pod: sink and sender share localhost.
    let mut lines = lab.lines("net-local");
    let local = lab
        .start(&pod("net-local", &[container("sink", &s(&["rate-sink", "9000"])), container("send", &s(&["send", "127.0.0.1:9000", &bytes, "30"]))]))
        .await?;
    let local_gbps = gbps(&line_starting(&mut lines, "rate-sink", WITHIN).await?.text)?;
    stop_all(vec![local]).await;

    // Two pods: the sender dials the sink's pod IP.
    let mut lines = lab.lines("net-server");
    let server = lab.start(&pod("net-server", &[container("sink", &s(&["rate-sink", "9000"]))])).await?;
    line_starting(&mut lines, "listening", WITHIN).await?;
    let addr = format!("{}:9000", server.pod_ip());
    let client = lab.start(&pod("net-client", &[container("send", &s(&["send", &addr, &bytes, "30"]))])).await?;
    let pod_gbps = gbps(&line_starting(&mut lines, "rate-sink", WITHIN).await?.text)?;
    stop_all(vec![server, client]).await;

    // Through a ClusterIP beside the pod IP: new connections per second
    // (each a byte there and back) and throughput.
    let service = crate::manifest::load_str(
        "apiVersion: v1\nkind: Service\nmetadata: {name: bench-net}\nspec:\n  selector: {app: bench-net}\n  ports: [{name: conn, port: 9100}, {name: bulk, port: 9000}]\n",
        "bench",
        crate::manifest::Validation::Strict,
    )?;
    lab.rt.apply_service(&service.services[0])?;
    let conns = (options.rtt_rounds / 10).max(100);
    let server_pod = pod("net-svc-server", &[container("conn", &s(&["accept-loop", "9100"])), container("sink", &s(&["rate-sink", "9000"]))])
        .replace("name: net-svc-server\n", "name: net-svc-server\n  labels: {app: bench-net}\n");
    let mut lines = lab.lines("net-svc-server");
    let server = lab.start(&server_pod).await?;
    line_starting(&mut lines, "listening", WITHIN).await?;
    let mut rates = Vec::new();
    for (name, addr) in [("net-conn-pod", format!("{}:9100", server.pod_ip())), ("net-conn-svc", "bench-net:9100".to_owned())] {
        let mut lines = lab.lines(name);
        let client = lab.start(&pod(name, &[container("c", &s(&["connect-rate", &addr, &conns.to_string(), "30"]))])).await?;
        let line = line_starting(&mut lines, "connect-rate", WITHIN).await?;
        rates.push(field(&line.text, "conns")? / field(&line.text, "ns")? * 1e9);
        stop_all(vec![client]).await;
    }
    let client = lab.start(&pod("net-svc-client", &[container("send", &s(&["send", "bench-net:9000", &bytes, "30"]))])).await?;
    let svc_gbps = gbps(&line_starting(&mut lines, "rate-sink", WITHIN).await?.text)?;
    stop_all(vec![server, client]).await;
    let _ = lab.rt.delete_service("default", "bench-net");
    report.push("pod_ip_connections_per_s", rates[0].round(), "conn/s");
    report.push("cluster_ip_connections_per_s", rates[1].round(), "conn/s");
    report.push("cluster_ip_gbps", (svc_gbps * 100.0).round() / 100.0, "Gbps");

    // Round trips inside one pod.
    let mut lines = lab.lines("net-rtt");
    let rtt =
        lab.start(&pod("net-rtt", &[container("pong", &s(&["pong", "9001"])), container("ping", &s(&["ping", "127.0.0.1:9001", &rounds, "30"]))])).await?;
    let pod_rtt = rtt_us(&line_starting(&mut lines, "ping", WITHIN).await?.text)?;
    stop_all(vec![rtt]).await;

    // The host reference: two processes over loopback TCP.
    let exe = options.exe.clone();
    let (host_gbps, host_rtt) = tokio::task::spawn_blocking(move || -> anyhow::Result<(f64, f64)> {
        let (mut sink, port) = peer(&exe, &["rate-sink"])?;
        let mut send = Command::new(&exe).args(["__bench-peer", "send", &format!("127.0.0.1:{port}"), &bytes]).stdout(Stdio::null()).spawn()?;
        let line = read_line_starting(&mut sink, "rate-sink")?;
        send.wait()?;
        sink.wait()?;
        let (mut pong, port) = peer(&exe, &["pong"])?;
        let mut ping = Command::new(&exe).args(["__bench-peer", "ping", &format!("127.0.0.1:{port}"), &rounds]).stdout(Stdio::piped()).spawn()?;
        let ping_line = read_line_starting(&mut ping, "ping")?;
        ping.wait()?;
        pong.wait()?;
        Ok((gbps(&line)?, rtt_us(&ping_line)?))
    })
    .await??;

    report.push("pod_localhost_gbps", local_gbps, "Gbps");
    report.push("pod_to_pod_gbps", pod_gbps, "Gbps");
    report.push("host_loopback_gbps", host_gbps, "Gbps");
    let ratio = local_gbps / host_gbps;
    report.push_target("pod_localhost_vs_host_loopback", ratio, "x", ">= 1.0", ratio >= 1.0);
    report.push("pod_localhost_rtt_us", pod_rtt, "us");
    report.push("host_loopback_rtt_us", host_rtt, "us");
    report.notes.push(format!(
        "network: {} MiB per throughput run (64 KiB writes, 256 KiB reads, timed by the receiver from its first byte); {} one-byte round trips per latency run",
        options.net_bytes >> 20,
        options.rtt_rounds
    ));
    Ok(())
}

/// Starts a host peer that listens on an ephemeral loopback port and
/// returns it with the port it printed.
fn peer(exe: &std::path::Path, args: &[&str]) -> anyhow::Result<(Child, u16)> {
    let mut child = Command::new(exe).arg("__bench-peer").args(args).stdout(Stdio::piped()).spawn()?;
    let line = read_line_starting(&mut child, "listening on")?;
    let port = line.trim_start_matches("listening on").trim().parse()?;
    Ok((child, port))
}

fn read_line_starting(child: &mut Child, prefix: &str) -> anyhow::Result<String> {
    let out = child.stdout.as_mut().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut reader = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            anyhow::bail!("the host peer ended before printing {prefix:?}");
        }
        if line.starts_with(prefix) {
            return Ok(line.trim_end().to_owned());
        }
    }
}

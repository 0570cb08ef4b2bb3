//! The kubelet's resource stats of a wasmpod node, from what the runtime
//! counts per container ([`Runtime::usage`](crate::Runtime::usage)):
//! `/stats/summary` (the Summary API, `stats/v1alpha1`) and
//! `/metrics/resource` (the Prometheus text metrics-server scrapes).
//! Pure but for the rates, which need the previous scrape.
//!
//! The node's figures are the sum of its pods' (the wasmpod process is
//! the node's workload); CPU time of containers without a CPU limit is
//! counted at the 10 ms epoch ticks; memory is the linear memory of a
//! container's live instances and its files in memory-backed volumes
//! (usage, working set and RSS alike: there is no page cache to tell
//! apart).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::runtime::PodUsage;

/// CPU rates between scrapes: the last total seen per container.
#[derive(Default)]
pub(super) struct Rates {
    last: Mutex<HashMap<String, (Instant, Duration)>>,
}

impl Rates {
    /// Nanocores `key` used since the last look (none the first time), and
    /// remembers `total` at `now`.
    fn observe(&self, key: String, total: Duration, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let before = last.insert(key, (now, total));
        let (at, used) = before?;
        let span = now.checked_duration_since(at).filter(|s| !s.is_zero())?;
        let ran = total.saturating_sub(used);
        u64::try_from(ran.as_nanos().saturating_mul(1_000_000_000) / span.as_nanos()).ok()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn cpu(time: &str, total: Duration, rate: Option<u64>) -> Value {
    let mut v = json!({"time": time, "usageCoreNanoSeconds": nanos(total)});
    if let Some(r) = rate {
        v["usageNanoCores"] = json!(r);
    }
    v
}

fn memory(time: &str, bytes: u64) -> Value {
    json!({"time": time, "usageBytes": bytes, "workingSetBytes": bytes, "rssBytes": bytes, "pageFaults": 0, "majorPageFaults": 0})
}

/// The Summary API's document for node `node` (started at `node_start`).
pub(super) fn summary(node: &str, node_start: &str, pods: &[PodUsage], rates: &Rates) -> Value {
    let now = Instant::now();
    let time = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (mut node_cpu, mut node_memory, mut node_rate) = (Duration::ZERO, 0u64, Some(0u64));
    let mut out = Vec::new();
    for p in pods {
        let (mut pod_cpu, mut pod_memory, mut pod_rate) = (Duration::ZERO, 0u64, Some(0u64));
        let mut containers = Vec::new();
        for (c, started) in &p.containers {
            let rate = rates.observe(format!("{}/{}/{}/{}", p.namespace, p.name, p.uid, c.name), c.cpu, now);
            pod_cpu += c.cpu;
            pod_memory = pod_memory.saturating_add(c.memory_bytes);
            pod_rate = pod_rate.zip(rate).map(|(a, b)| a.saturating_add(b));
            let mut v = json!({"name": c.name, "cpu": cpu(&time, c.cpu, rate), "memory": memory(&time, c.memory_bytes)});
            if let Some(s) = started {
                v["startTime"] = json!(s);
            }
            containers.push(v);
        }
        node_cpu += pod_cpu;
        node_memory = node_memory.saturating_add(pod_memory);
        node_rate = node_rate.zip(pod_rate).map(|(a, b)| a.saturating_add(b));
        let mut v = json!({
            "podRef": {"name": p.name, "namespace": p.namespace, "uid": p.uid},
            "containers": containers,
            "cpu": cpu(&time, pod_cpu, pod_rate.filter(|_| !p.containers.is_empty())),
            "memory": memory(&time, pod_memory),
        });
        if let Some(s) = &p.start_time {
            v["startTime"] = json!(s);
        }
        out.push(v);
    }
    let node_rate = node_rate.filter(|_| pods.iter().any(|p| !p.containers.is_empty()));
    json!({
        "node": {"nodeName": node, "startTime": node_start, "cpu": cpu(&time, node_cpu, node_rate), "memory": memory(&time, node_memory)},
        "pods": out,
    })
}

/// `/metrics/resource` in the Prometheus text format, as the kubelet's
/// resource metrics name them.
pub(super) fn resource_metrics(pods: &[PodUsage]) -> String {
    use std::fmt::Write;
    let ms = jiff::Timestamp::now().as_millisecond();
    let label = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut families: Vec<(&str, &str, &str, Vec<String>)> = vec![
        ("node_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed by the node in core-seconds", Vec::new()),
        ("node_memory_working_set_bytes", "gauge", "Current working set of the node in bytes", Vec::new()),
        ("pod_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed by the pod in core-seconds", Vec::new()),
        ("pod_memory_working_set_bytes", "gauge", "Current working set of the pod in bytes", Vec::new()),
        ("container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed by the container in core-seconds", Vec::new()),
        ("container_memory_working_set_bytes", "gauge", "Current working set of the container in bytes", Vec::new()),
        ("container_start_time_seconds", "gauge", "Start time of the container since unix epoch in seconds", Vec::new()),
    ];
    let (mut node_cpu, mut node_memory) = (Duration::ZERO, 0u64);
    for p in pods {
        let pod = format!("namespace=\"{}\",pod=\"{}\"", label(&p.namespace), label(&p.name));
        let (mut cpu, mut memory) = (Duration::ZERO, 0u64);
        for (c, started) in &p.containers {
            let labels = format!("container=\"{}\",{pod}", label(&c.name));
            families[4].3.push(format!("{{{labels}}} {} {ms}", c.cpu.as_secs_f64()));
            families[5].3.push(format!("{{{labels}}} {} {ms}", c.memory_bytes));
            if let Some(t) = started.as_deref().and_then(|s| s.parse::<jiff::Timestamp>().ok()) {
                families[6].3.push(format!("{{{labels}}} {}", t.as_second()));
            }
            cpu += c.cpu;
            memory = memory.saturating_add(c.memory_bytes);
        }
        families[2].3.push(format!("{{{pod}}} {} {ms}", cpu.as_secs_f64()));
        families[3].3.push(format!("{{{pod}}} {memory} {ms}"));
        node_cpu += cpu;
        node_memory = node_memory.saturating_add(memory);
    }
    families[0].3.push(format!(" {} {ms}", node_cpu.as_secs_f64()));
    families[1].3.push(format!(" {node_memory} {ms}"));
    let mut out = String::new();
    for (name, kind, help, samples) in &families {
        let _ = writeln!(out, "# HELP {name} [STABLE] {help}\n# TYPE {name} {kind}");
        for s in samples {
            let _ = writeln!(out, "{name}{s}");
        }
    }
    let _ = writeln!(
        out,
        "# HELP scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise\n# TYPE scrape_error gauge\nscrape_error 0"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::ContainerUsage;

    fn pod(cpu_ms: u64, memory: u64) -> PodUsage {
        PodUsage {
            namespace: "default".into(),
            name: "web".into(),
            uid: "u1".into(),
            start_time: Some("2026-12-04T10:00:00Z".into()),
            containers: vec![(
                ContainerUsage { name: "c".into(), cpu: Duration::from_millis(cpu_ms), memory_bytes: memory },
                Some("2026-12-04T10:00:01Z".into()),
            )],
        }
    }

    #[test]
    fn the_summary_sums_containers_into_pods_and_pods_into_the_node_with_rates_from_the_last_scrape() {
        let rates = Rates::default();
        let first = summary("wp-1", "2026-12-04T09:00:00Z", &[pod(100, 4096)], &rates);
        assert_eq!(first["node"]["nodeName"], "wp-1");
        assert_eq!(first["pods"][0]["containers"][0]["cpu"]["usageCoreNanoSeconds"], 100_000_000);
        assert!(first["pods"][0]["containers"][0]["cpu"].get("usageNanoCores").is_none(), "no rate before a second scrape");
        assert_eq!(first["pods"][0]["memory"]["workingSetBytes"], 4096);
        assert_eq!(first["node"]["memory"]["workingSetBytes"], 4096);
        assert_eq!(first["pods"][0]["podRef"], json!({"name": "web", "namespace": "default", "uid": "u1"}));
        std::thread::sleep(Duration::from_millis(20));
        let second = summary("wp-1", "2026-12-04T09:00:00Z", &[pod(110, 4096)], &rates);
        let rate = second["pods"][0]["containers"][0]["cpu"]["usageNanoCores"].as_u64().unwrap();
        // 10 ms of CPU over at least 20 ms: at most half a core.
        assert!(rate > 0 && rate <= 500_000_000, "{rate}");
        assert_eq!(second["node"]["cpu"]["usageNanoCores"].as_u64(), Some(rate));
    }

    #[test]
    fn resource_metrics_name_each_container_pod_and_the_node() {
        let text = resource_metrics(&[pod(1500, 4096)]);
        assert!(text.contains("# TYPE container_cpu_usage_seconds_total counter\n"), "{text}");
        assert!(text.contains("container_cpu_usage_seconds_total{container=\"c\",namespace=\"default\",pod=\"web\"} 1.5 "), "{text}");
        assert!(text.contains("container_memory_working_set_bytes{container=\"c\",namespace=\"default\",pod=\"web\"} 4096 "), "{text}");
        assert!(text.contains("pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} 4096 "), "{text}");
        assert!(text.contains("node_memory_working_set_bytes 4096 "), "{text}");
        assert!(text.contains("container_start_time_seconds{container=\"c\",namespace=\"default\",pod=\"web\"} 1796378401\n"), "{text}");
        assert!(text.ends_with("scrape_error 0\n"));
    }
}

//! `wasmpod bench`: in-process scenarios that measure what a wasm pod
//! runtime is for (fast starts, dense packing, a fast pod network, cheap
//! probes) beside baselines measured in the same run: one OS process per
//! container, a native process spawn and host loopback TCP.
//!
//! Every figure comes from pods started through the same [`Runtime`] API the
//! CLI uses, with real manifests, the builtin guests and a scratch state
//! directory (durable records included). Nothing is asserted: the report
//! prints what was measured, and the targets beside it.

mod api;
mod baseline;
mod density;
mod network;
mod probes;
mod pull;
mod start;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::manifest::{self, Validation};
use crate::{PodHandle, Runtime, RuntimeConfig};

pub use baseline::{peer_main, shim_main};

/// What to run and how much of it.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// `--quick`: fewer samples and shorter windows (under 3 minutes on 2 cores).
    pub quick: bool,
    /// Pods started one after another for the cached-start and pod-ready figures.
    pub start_pods: usize,
    /// First-compile starts (each compiles a never-seen image).
    pub cold_samples: usize,
    /// Density stops here even if more pods would fit.
    pub density_max: usize,
    /// Density also stops once the process's resident memory passes this.
    pub density_rss_budget: u64,
    /// Pods with 1-second httpGet probes for the probe-CPU figure.
    pub probe_pods: usize,
    /// How long the probe CPU is measured.
    pub probe_window: Duration,
    /// Bytes per throughput run.
    pub net_bytes: u64,
    /// Round trips per latency run.
    pub rtt_rounds: u64,
    /// Process starts per baseline.
    pub baseline_samples: usize,
    /// The `wasmpod` executable, for the process-per-container and host
    /// loopback baselines (they run it with hidden subcommands).
    pub exe: PathBuf,
    /// Scratch directory (state, compile cache, images); default: a fresh
    /// directory under the system's temp dir, removed afterwards.
    pub scratch: Option<PathBuf>,
    /// Scenarios to run ([`SCENARIOS`]); empty: all.
    pub only: Vec<String>,
    /// A registry (`host:port`, plain HTTP on loopback) the pull scenario
    /// pushes to and pulls from; without one it is skipped.
    pub registry: Option<String>,
    /// The kubeconfig of a real kube-apiserver (its first cluster and
    /// user, client-certificate credentials): the api scenario measures
    /// the same lists and watch fan-out there, beside wasmpod's.
    pub kube_apiserver: Option<PathBuf>,
}

/// The scenario names, in the order they run.
pub const SCENARIOS: [&str; 7] = ["start", "pull", "network", "probes", "baselines", "density", "api"];

impl BenchOptions {
    /// The full run (several minutes) or, with `quick`, the short one.
    pub fn new(quick: bool, exe: PathBuf) -> Self {
        Self {
            quick,
            start_pods: 1000,
            cold_samples: if quick { 3 } else { 10 },
            density_max: if quick { 10_000 } else { 20_000 },
            density_rss_budget: 8 << 30,
            probe_pods: 1000,
            probe_window: Duration::from_secs(if quick { 10 } else { 30 }),
            net_bytes: if quick { 256 << 20 } else { 1 << 30 },
            rtt_rounds: if quick { 10_000 } else { 50_000 },
            baseline_samples: if quick { 20 } else { 100 },
            exe,
            scratch: None,
            only: Vec::new(),
            registry: None,
            kube_apiserver: None,
        }
    }

    fn runs(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The JSON key (`container_start_cached_p50_us`).
    pub key: &'static str,
    /// The value, in `unit`.
    pub value: f64,
    /// `us`, `Gbps`, `pods`, `KiB`, `%`, `x`.
    pub unit: &'static str,
    /// The target as text, if the issue sets one, and whether it is met.
    pub target: Option<(String, bool)>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Default)]
pub struct BenchReport {
    /// Figures in the order measured.
    pub figures: Vec<Figure>,
    /// Remarks on how a figure came about (why density stopped, sample counts).
    pub notes: Vec<String>,
    /// The machine: cores, memory, OS, CPU.
    pub machine: Machine,
}

/// The machine a report was measured on.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Machine {
    /// `linux-x86_64`.
    pub os: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// CPU model, where the OS tells it.
    pub cpu_model: Option<String>,
    /// Physical memory in GiB, where the OS tells it.
    pub memory_gib: Option<f64>,
}

impl BenchReport {
    fn push(&mut self, key: &'static str, value: f64, unit: &'static str) {
        self.figures.push(Figure { key, value, unit, target: None });
    }

    fn push_target(&mut self, key: &'static str, value: f64, unit: &'static str, text: &str, met: bool) {
        self.figures.push(Figure { key, value, unit, target: Some((text.to_owned(), met)) });
    }

    /// The value of `key`, if measured.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.figures.iter().find(|f| f.key == key).map(|f| f.value)
    }

    /// The figures as one JSON object: each key with its number, plus
    /// `machine` and `notes`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for f in &self.figures {
            let v = if f.value.fract() == 0.0 && f.value.abs() < 9e15 {
                serde_json::json!(f.value as i64)
            } else {
                serde_json::json!((f.value * 1000.0).round() / 1000.0)
            };
            map.insert(f.key.to_owned(), v);
        }
        map.insert("machine".into(), serde_json::to_value(&self.machine).unwrap_or_default());
        map.insert("notes".into(), serde_json::json!(self.notes));
        serde_json::Value::Object(map)
    }

    /// The figures as an aligned table, targets beside them.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        out.push_str(&format!(
            "machine: {}, {} CPUs{}{}\n\n",
            m.os,
            m.cpus,
            m.memory_gib.map(|g| format!(", {g:.0} GiB")).unwrap_or_default(),
            m.cpu_model.as_deref().map(|c| format!(", {c}")).unwrap_or_default()
        ));
        out.push_str(&format!("{:<44} {:>12}  {:<6} {}\n", "FIGURE", "VALUE", "UNIT", "TARGET"));
        for f in &self.figures {
            let value = if f.value >= 100.0 || f.value.fract() == 0.0 { format!("{:.0}", f.value) } else { format!("{:.2}", f.value) };
            let target = match &f.target {
                Some((t, true)) => format!("{t} (met)"),
                Some((t, false)) => format!("{t} (MISSED)"),
                None => String::new(),
            };
            out.push_str(format!("{:<44} {:>12}  {:<6} {}", f.key, value, f.unit, target).trim_end());
            out.push('\n');
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                out.push_str(&format!("note: {n}\n"));
            }
        }
        out
    }
}

/// Runs every scenario, reporting progress through `progress`.
pub async fn run(options: BenchOptions, progress: &(dyn Fn(&str) + Sync)) -> anyhow::Result<BenchReport> {
    let scratch = Scratch::new(options.scratch.clone())?;
    let mut report = BenchReport { machine: Machine::here(), ..Default::default() };
    let lab = Lab::new(scratch.path())?;
    report.notes.push(format!("instances: {}", lab.rt.allocation().reason));

    if let Some(unknown) = options.only.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
        anyhow::bail!("no scenario {unknown:?} (scenarios: {})", SCENARIOS.join(", "));
    }
    if options.runs("start") {
        progress("container start: first compile of never-seen images");
        start::cold(&lab, &options, &mut report).await?;
        progress(&format!("container start: {} pods of a cached image, one after another", options.start_pods));
        start::cached(&lab, &options, &mut report).await?;
        progress(&format!("pod ready: {} pods of a cached image", options.start_pods));
        start::ready(&lab, &options, &mut report).await?;
    }
    if options.runs("pull") {
        match &options.registry {
            Some(registry) => {
                progress(&format!("registry images: a 2 MiB component pulled from {registry}, cold and warm"));
                pull::run(scratch.path(), registry, &options, &mut report).await?;
            }
            None if !options.only.is_empty() => anyhow::bail!("the pull scenario needs --registry HOST:PORT (a registry to push to and pull from)"),
            None => report.notes.push("pull: skipped (no --registry)".into()),
        }
    }
    if options.runs("network") {
        progress("pod network: throughput and round trips, beside host loopback TCP");
        network::run(&lab, &options, &mut report).await?;
    }
    if options.runs("probes") {
        progress(&format!("probes: {} pods with 1-second httpGet probes, CPU over {:?}", options.probe_pods, options.probe_window));
        probes::run(&lab, &options, &mut report).await?;
    }
    if options.runs("baselines") {
        progress("baselines: one OS process per container, and a native spawn");
        baseline::run(&lab, &options, &mut report).await?;
    }
    if options.runs("density") {
        progress(&format!("density: sleeping pods until {} or a limit", options.density_max));
        density::run(&lab, &options, &mut report, progress).await?;
    }
    if options.runs("api") {
        progress("Kubernetes API: lists of 1,000 and 10,000 pods over HTTPS and the socket, watch fan-out, exec");
        api::run(&lab, &mut report, progress).await?;
        if let Some(kubeconfig) = &options.kube_apiserver {
            api::run_kube_apiserver(kubeconfig, &mut report, progress).await?;
        }
    }
    Ok(report)
}

/// A runtime with a scratch state directory and a tap that hands each
/// pod's log lines, with their arrival time, to whoever waits for them.
pub(crate) struct Lab {
    rt: Arc<Runtime>,
    tap: Arc<LineTap>,
    base: PathBuf,
    cache: PathBuf,
}

/// A log line as the runtime received it.
pub(crate) struct Line {
    pub text: String,
    pub at: Instant,
}

#[derive(Default)]
struct LineTap {
    waiting: Mutex<HashMap<String, mpsc::UnboundedSender<Line>>>,
}

impl crate::LogTap for LineTap {
    fn line(&self, pod: &str, _container: &str, _stream: crate::Stream, text: &str) {
        let at = Instant::now();
        let waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = waiting.get(pod) {
            let _ = tx.send(Line { text: text.to_owned(), at });
        }
    }
}

impl Lab {
    fn new(scratch: &Path) -> anyhow::Result<Self> {
        let tap = Arc::new(LineTap::default());
        let cache = scratch.join("cache");
        let mut config = RuntimeConfig::new(scratch.join("state"));
        config.compile_cache = Some(cache.clone());
        config.tap = Some(tap.clone());
        config.node_name = "bench".into();
        let rt = Runtime::new(config)?;
        let base = scratch.join("images");
        std::fs::create_dir_all(&base)?;
        Ok(Self { rt: Arc::new(rt), tap, base, cache })
    }

    /// Lines of pod `name` (namespace default) from now on.
    pub(crate) fn lines(&self, name: &str) -> mpsc::UnboundedReceiver<Line> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.tap.waiting.lock().unwrap_or_else(|p| p.into_inner()).insert(format!("default/{name}"), tx);
        rx
    }

    pub(crate) fn forget_lines(&self, name: &str) {
        self.tap.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&format!("default/{name}"));
    }

    /// Admits and starts the one pod of `yaml`, as `run` and `apply` do.
    pub(crate) async fn start(&self, yaml: &str) -> anyhow::Result<PodHandle> {
        let manifests = manifest::load_str(yaml, "bench", Validation::Strict)?;
        let mut plans = self.rt.plan(&manifests, &self.base).await?;
        let plan = plans.pop().ok_or_else(|| anyhow::anyhow!("no pod in the bench manifest"))?;
        Ok(self.rt.start(plan)?)
    }

    pub(crate) fn images(&self) -> &Path {
        &self.base
    }

    pub(crate) fn compile_cache(&self) -> &Path {
        &self.cache
    }
}

/// Waits for the next line of `rx` that starts with `prefix`.
pub(crate) async fn line_starting(rx: &mut mpsc::UnboundedReceiver<Line>, prefix: &str, within: Duration) -> anyhow::Result<Line> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(line)) if line.text.starts_with(prefix) => return Ok(line),
            Ok(Some(_)) => {}
            Ok(None) => anyhow::bail!("the pod's log ended before a line starting {prefix:?}"),
            Err(_) => anyhow::bail!("no line starting {prefix:?} within {within:?}"),
        }
    }
}

/// `key=value` out of a guest's report line.
pub(crate) fn field(text: &str, key: &str) -> anyhow::Result<f64> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {key}= in {text:?}"))
}

/// Stops every pod and waits for each to end.
pub(crate) async fn stop_all(pods: Vec<PodHandle>) {
    for p in &pods {
        p.stop_with_grace(Duration::ZERO);
    }
    for p in pods {
        p.wait().await;
    }
}

/// The `p`th percentile (0..=100) of `samples`, nearest rank.
pub(crate) fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

pub(crate) fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The process's resident memory in bytes.
pub(crate) fn resident_bytes() -> u64 {
    memory_stats::memory_stats().map(|m| m.physical_mem as u64).unwrap_or(0)
}

/// CPU time (user + system) used by the process so far.
pub(crate) fn process_cpu() -> Duration {
    cpu_time::ProcessTime::try_now().map(|t| t.as_duration()).unwrap_or_default()
}

/// A scratch directory removed on drop (unless the user named one).
struct Scratch {
    path: PathBuf,
    remove: bool,
}

impl Scratch {
    fn new(given: Option<PathBuf>) -> std::io::Result<Self> {
        match given {
            Some(path) => {
                std::fs::create_dir_all(&path)?;
                Ok(Self { path, remove: false })
            }
            None => {
                let path = std::env::temp_dir().join(format!("wasmpod-bench-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&path)?;
                Ok(Self { path, remove: true })
            }
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

impl Machine {
    fn here() -> Self {
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let (mut cpu_model, mut memory_gib) = (None, None);
        if cfg!(target_os = "linux") {
            cpu_model = std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|s| s.lines().find_map(|l| l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())));
            memory_gib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                    .map(|kib| kib / (1024.0 * 1024.0))
            });
        }
        Self { os: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH), cpus, cpu_model, memory_gib }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let mut s: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        assert_eq!(percentile(&mut s, 50.0), Duration::from_micros(50));
        assert_eq!(percentile(&mut s, 99.0), Duration::from_micros(99));
        assert_eq!(percentile(&mut s, 100.0), Duration::from_micros(100));
        assert_eq!(percentile(&mut [Duration::from_micros(7)], 50.0), Duration::from_micros(7));
    }

    #[test]
    fn fields_come_out_of_report_lines() {
        assert_eq!(field("rate-sink bytes=1024 ns=2000", "ns").unwrap(), 2000.0);
        assert!(field("rate-sink bytes=1024", "ns").is_err());
    }

    #[test]
    fn json_and_table_carry_the_same_figures() {
        let mut r = BenchReport::default();
        r.push_target("container_start_cached_p50_us", 412.5, "us", "<= 1000", true);
        r.push("density_pods", 10_000.0, "pods");
        let json = r.to_json();
        assert_eq!(json["container_start_cached_p50_us"], serde_json::json!(412.5));
        assert_eq!(json["density_pods"], serde_json::json!(10000));
        let table = r.to_table();
        assert!(table.contains("container_start_cached_p50_us"), "{table}");
        assert!(table.contains("<= 1000 (met)"), "{table}");
    }
}

//! Density: single-container pods, each sleeping, started until the
//! configured maximum, a failure, or the memory budget; resident memory
//! per pod at 1,000 pods and at the maximum.

use std::time::{Duration, Instant};

use super::start::is_ready;
use super::{BenchOptions, BenchReport, Lab, resident_bytes, stop_all};

/// Pods started before waiting for the batch to be Ready.
const BATCH: usize = 250;
const READY_WITHIN: Duration = Duration::from_secs(60);

fn sleeping_pod(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: builtin:toolbox\n    command: [\"sleep\", \"86400\"]\n"
    )
}

pub(super) async fn run(lab: &Lab, options: &BenchOptions, report: &mut BenchReport, progress: &(dyn Fn(&str) + Sync)) -> anyhow::Result<()> {
    let rss0 = resident_bytes();
    let maps0 = map_count();
    let started = Instant::now();
    let mut pods = Vec::new();
    let mut at_1000 = None;
    let mut stopped_by = format!("the configured maximum ({})", options.density_max);
    'grow: while pods.len() < options.density_max {
        let batch_start = pods.len();
        let batch_end = (batch_start + BATCH).min(options.density_max);
        for i in batch_start..batch_end {
            let name = format!("dense-{i}");
            match lab.start(&sleeping_pod(&name)).await {
                Ok(p) => pods.push(p),
                Err(e) => {
                    stopped_by = format!("pod {name} was refused: {e:#}");
                    break 'grow;
                }
            }
        }
        for p in &pods[batch_start..] {
            let mut status = p.watch();
            let ok = tokio::time::timeout(READY_WITHIN, status.wait_for(|pod| is_ready(pod) || is_over(pod))).await;
            let pod = p.current();
            if ok.is_err() || !is_ready(&pod) {
                stopped_by = format!("pod {} did not run: {}", p.name(), describe(&pod));
                break 'grow;
            }
        }
        if at_1000.is_none() && pods.len() >= 1000 {
            at_1000 = Some(resident_bytes());
        }
        let rss = resident_bytes();
        if pods.len() % 2000 == 0 {
            progress(&format!("  {} pods running, resident {} MiB, {:.1}s", pods.len(), rss >> 20, started.elapsed().as_secs_f64()));
        }
        if rss > options.density_rss_budget {
            stopped_by = format!("the resident-memory budget ({} MiB)", options.density_rss_budget >> 20);
            break;
        }
    }
    // Only pods that are running now count.
    let running = pods.iter().filter(|p| is_ready(&p.current())).count();
    let rss = resident_bytes();
    let maps = map_count();
    let per_pod = |total: u64, n: usize| total.saturating_sub(rss0) as f64 / 1024.0 / n.max(1) as f64;
    report.push_target("density_pods", running as f64, "pods", ">= 10000", running >= 10_000);
    let kib = per_pod(rss, running);
    report.push_target("rss_per_pod_kib", kib, "KiB", "<= 200", kib <= 200.0);
    if let Some(r) = at_1000 {
        report.push("rss_per_pod_kib_at_1000_pods", per_pod(r, 1000), "KiB");
    }
    report.notes.push(format!(
        "density: {running} sleeping pods (toolbox `sleep`) running at once after {:.1}s; stopped by {stopped_by}; resident memory {} MiB before, {} MiB at the maximum",
        started.elapsed().as_secs_f64(),
        rss0 >> 20,
        rss >> 20
    ));
    if let (Some(m0), Some(m)) = (maps0, maps) {
        report.notes.push(format!("density: {:.1} memory mappings per pod (vm.max_map_count budget)", (m.saturating_sub(m0)) as f64 / running.max(1) as f64));
    }
    let t = Instant::now();
    stop_all(pods).await;
    report.notes.push(format!("density: stopping all {running} pods took {:.1}s", t.elapsed().as_secs_f64()));
    Ok(())
}

fn is_over(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).is_some_and(|p| p == "Failed" || p == "Succeeded")
        || pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some_and(|cs| {
            cs.iter().any(|c| {
                c.state.as_ref().is_some_and(|s| s.terminated.is_some() || s.waiting.as_ref().is_some_and(|w| w.reason.as_deref() != Some("ContainerCreating")))
            })
        })
}

fn describe(pod: &k8s_openapi::api::core::v1::Pod) -> String {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.clone()).unwrap_or_default();
    let state = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref())
        .map(|s| match (&s.waiting, &s.terminated) {
            (Some(w), _) => format!("Waiting {} {}", w.reason.clone().unwrap_or_default(), w.message.clone().unwrap_or_default()),
            (_, Some(t)) => format!("Terminated {} (exit {}) {}", t.reason.clone().unwrap_or_default(), t.exit_code, t.message.clone().unwrap_or_default()),
            _ => "Running".to_owned(),
        })
        .unwrap_or_default();
    format!("phase {phase}, {state}")
}

/// The number of memory mappings of this process (Linux), for the
/// `vm.max_map_count` budget.
fn map_count() -> Option<usize> {
    if cfg!(target_os = "linux") { std::fs::read_to_string("/proc/self/maps").ok().map(|s| s.lines().count()) } else { None }
}

//! Probe overhead: CPU used by pods whose wasi:http handlers answer a
//! 1-second httpGet readiness probe each.

use std::time::{Duration, Instant};

use super::start::is_ready;
use super::{BenchOptions, BenchReport, Lab, process_cpu, stop_all};

fn probed_pod(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: web\n    image: builtin:hello-http\n    ports:\n    - containerPort: 8080\n    readinessProbe:\n      httpGet:\n        path: /healthz\n        port: 8080\n      periodSeconds: 1\n"
    )
}

pub(super) async fn run(lab: &Lab, options: &BenchOptions, report: &mut BenchReport) -> anyhow::Result<()> {
    let mut pods = Vec::with_capacity(options.probe_pods);
    for i in 0..options.probe_pods {
        pods.push(lab.start(&probed_pod(&format!("probed-{i}"))).await?);
    }
    for p in &pods {
        let mut status = p.watch();
        tokio::time::timeout(Duration::from_secs(120), status.wait_for(is_ready))
            .await
            .map_err(|_| anyhow::anyhow!("pod {} not Ready within 120s", p.name()))??;
    }
    // Let the probes spread out over their period before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu0, t0) = (process_cpu(), Instant::now());
    tokio::time::sleep(options.probe_window).await;
    let (cpu, wall) = (process_cpu() - cpu0, t0.elapsed());
    let still_ready = pods.iter().filter(|p| is_ready(&p.current())).count();
    let percent = cpu.as_secs_f64() / wall.as_secs_f64() * 100.0;
    report.push_target("probe_cpu_percent_1000_pods", percent, "%", "<= 5", percent <= 5.0);
    report.notes.push(format!(
        "probes: {} pods serving wasi:http (a fresh instance per request), each probed every second; the whole process used {:.2}s of CPU in {:.1}s; {still_ready} pods Ready at the end",
        options.probe_pods,
        cpu.as_secs_f64(),
        wall.as_secs_f64()
    ));
    stop_all(pods).await;
    Ok(())
}

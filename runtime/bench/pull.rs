//! Registry images: a 2 MiB component (the toolbox, padded with a custom
//! section to 2 MiB, with a nonce so no store or cache has seen it) pushed
//! to a registry the user names, then timed from admission to its first
//! line: cold (empty store and compile cache: pull + compile + start),
//! warm in a new runtime over the same state directory (the store and the
//! compile cache on disk, no network), warm in the same runtime, and with
//! `imagePullPolicy: Always` (a manifest request each start). The pull
//! alone is timed into fresh stores.

use std::time::{Duration, Instant};

use super::{BenchOptions, BenchReport, Lab, percentile};
use crate::registry::{ImageReference, Keyring, Registry, RegistryConfig};

/// The component's size.
const SIZE: usize = 2 << 20;

fn pod(name: &str, image: &str, policy: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: \"{image}\"\n    imagePullPolicy: {policy}\n    command: [\"echo\", \"started\"]\n"
    )
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

pub(super) async fn run(scratch: &std::path::Path, registry: &str, options: &BenchOptions, report: &mut BenchReport) -> anyhow::Result<()> {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let toolbox = super::start::unseen_image(&nonce);
    let bytes = super::start::padded(toolbox, SIZE);
    let file = scratch.join("pull-bench.wasm");
    std::fs::write(&file, &bytes)?;
    let reference = ImageReference::parse(&format!("{registry}/wasmpod-bench/pull:{}", &nonce[..12]))?;
    let image = reference.normalized();
    let publisher = Registry::open(&scratch.join("pull-publisher"), Keyring::default(), RegistryConfig::default())?;
    publisher.push(&file, &reference).await?;
    let samples = if options.quick { 3 } else { 10 };

    // The pull alone, into fresh stores.
    let mut transfers = Vec::new();
    for i in 0..samples {
        let store = Registry::open(&scratch.join(format!("pull-store-{i}")), Keyring::default(), RegistryConfig::default())?;
        let t0 = Instant::now();
        store.pull(&reference).await?;
        transfers.push(t0.elapsed());
    }
    let transfer = percentile(&mut transfers, 50.0);
    report.push("pull_2mib_p50_ms", ms(transfer), "ms");
    report.push("pull_2mib_mib_per_s", (SIZE as f64 / (1 << 20) as f64 / transfer.as_secs_f64() * 10.0).round() / 10.0, "MiB/s");

    // Cold: each sample a fresh state directory and compile cache.
    let mut colds = Vec::new();
    for i in 0..samples {
        let lab = Lab::new(&scratch.join(format!("pull-cold-{i}")))?;
        let name = format!("pull-cold-{i}");
        colds.push(super::start::start_once(&lab, &name, &pod(&name, &image, "IfNotPresent")).await?);
    }
    report.push("pull_cold_first_line_p50_ms", ms(percentile(&mut colds, 50.0)), "ms");

    // Warm store, new runtime: the image and its compiled code on disk.
    let lab = Lab::new(&scratch.join("pull-cold-0"))?;
    let warm_disk = super::start::start_once(&lab, "pull-warm-disk", &pod("pull-warm-disk", &image, "IfNotPresent")).await?;
    report.push("pull_warm_store_first_line_ms", ms(warm_disk), "ms");

    // Warm in this runtime, then with a manifest request each start.
    let (mut loaded, mut always) = (Vec::new(), Vec::new());
    for i in 0..samples * 10 {
        let name = format!("pull-warm-{i}");
        loaded.push(super::start::start_once(&lab, &name, &pod(&name, &image, "IfNotPresent")).await?);
        let name = format!("pull-always-{i}");
        always.push(super::start::start_once(&lab, &name, &pod(&name, &image, "Always")).await?);
    }
    report.push("pull_warm_loaded_first_line_p50_ms", ms(percentile(&mut loaded, 50.0)), "ms");
    report.push("pull_always_first_line_p50_ms", ms(percentile(&mut always, 50.0)), "ms");
    report.notes.push(format!(
        "pull: a {} KiB toolbox padded to {} KiB with a custom section, from {registry}; {samples} cold samples (fresh store and compile cache each), {} warm",
        super::start::toolbox_size() / 1024,
        SIZE / 1024,
        samples * 10
    ));
    Ok(())
}

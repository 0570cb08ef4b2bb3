//! Container start (manifest admitted -> the guest's `main` printing its
//! first line) for never-seen and cached images, and pod start to Ready.

use std::time::{Duration, Instant};

use super::{BenchOptions, BenchReport, Lab, line_starting, micros, percentile, stop_all};

const WITHIN: Duration = Duration::from_secs(60);

fn echo_pod(name: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: {image}\n    command: [\"echo\", \"started\"]\n"
    )
}

/// The toolbox's size.
pub(super) fn toolbox_size() -> usize {
    crate::image::builtin("toolbox").map_or(0, |b| b.len())
}

/// `bytes` (a component or module) with a custom section appended that
/// makes it `size` bytes long (or a little longer when already close).
pub(super) fn padded(mut bytes: Vec<u8>, size: usize) -> Vec<u8> {
    let name = b"wasmpod-bench-padding";
    let overhead = 1 + 5 + 1 + name.len();
    let fill = size.saturating_sub(bytes.len() + overhead);
    let mut payload = leb128(name.len() as u64);
    payload.extend_from_slice(name);
    payload.resize(payload.len() + fill, 0);
    bytes.push(0);
    let len = leb128(payload.len() as u64);
    bytes.extend(len);
    bytes.extend(payload);
    bytes
}

/// The toolbox with a custom section holding `nonce` appended: the same
/// program, but bytes (and so a digest) no cache has seen.
pub(super) fn unseen_image(nonce: &str) -> Vec<u8> {
    let mut bytes = crate::image::builtin("toolbox").expect("the toolbox is builtin").to_vec();
    let name = b"wasmpod-bench-nonce";
    let mut payload = leb128(name.len() as u64);
    payload.extend_from_slice(name);
    payload.extend_from_slice(nonce.as_bytes());
    bytes.push(0); // custom section id, in components as in modules
    bytes.extend(leb128(payload.len() as u64));
    bytes.extend(payload);
    bytes
}

fn leb128(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Starts the pod of `yaml` and returns how long until its first line
/// starting `started`, then waits for it to end.
pub(super) async fn start_once(lab: &Lab, name: &str, yaml: &str) -> anyhow::Result<Duration> {
    let mut lines = lab.lines(name);
    let t0 = Instant::now();
    let pod = lab.start(yaml).await?;
    let line = line_starting(&mut lines, "started", WITHIN).await.map_err(|e| anyhow::anyhow!("pod {name}: {e}"))?;
    lab.forget_lines(name);
    pod.wait().await;
    Ok(line.at - t0)
}

pub(super) async fn cold(lab: &Lab, options: &BenchOptions, report: &mut BenchReport) -> anyhow::Result<()> {
    let mut samples = Vec::new();
    for i in 0..options.cold_samples {
        let file = format!("cold-{i}.wasm");
        std::fs::write(lab.images().join(&file), unseen_image(&uuid::Uuid::new_v4().to_string()))?;
        let name = format!("start-cold-{i}");
        samples.push(start_once(lab, &name, &echo_pod(&name, &file)).await?);
    }
    report.push("container_start_cold_p50_us", micros(percentile(&mut samples, 50.0)), "us");
    report.notes.push(format!(
        "cold start: {} samples, each a never-seen copy of the toolbox ({} KiB) compiled on admission",
        samples.len(),
        crate::image::builtin("toolbox").map_or(0, |b| b.len() / 1024)
    ));
    Ok(())
}

pub(super) async fn cached(lab: &Lab, options: &BenchOptions, report: &mut BenchReport) -> anyhow::Result<()> {
    // The first start loads the image; every later one finds it cached.
    start_once(lab, "start-warm", &echo_pod("start-warm", "builtin:toolbox")).await?;
    let mut samples = Vec::with_capacity(options.start_pods);
    for i in 0..options.start_pods {
        let name = format!("start-{i}");
        samples.push(start_once(lab, &name, &echo_pod(&name, "builtin:toolbox")).await?);
    }
    let p50 = micros(percentile(&mut samples, 50.0));
    report.push_target("container_start_cached_p50_us", p50, "us", "<= 1000", p50 <= 1000.0);
    report.push("container_start_cached_p99_us", micros(percentile(&mut samples, 99.0)), "us");
    Ok(())
}

pub(super) async fn ready(lab: &Lab, options: &BenchOptions, report: &mut BenchReport) -> anyhow::Result<()> {
    let mut samples = Vec::with_capacity(options.start_pods);
    for i in 0..options.start_pods {
        let name = format!("ready-{i}");
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: builtin:toolbox\n    command: [\"sleep\", \"3600\"]\n"
        );
        let t0 = Instant::now();
        let pod = lab.start(&yaml).await?;
        let mut status = pod.watch();
        tokio::time::timeout(WITHIN, status.wait_for(is_ready)).await.map_err(|_| anyhow::anyhow!("pod {name} not Ready within {WITHIN:?}"))??;
        samples.push(t0.elapsed());
        stop_all(vec![pod]).await;
    }
    report.push("pod_ready_cached_p50_us", micros(percentile(&mut samples, 50.0)), "us");
    Ok(())
}

pub(super) fn is_ready(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unseen_image_is_still_a_component_with_new_bytes() {
        let a = unseen_image("a");
        let b = unseen_image("b");
        assert_ne!(a, b);
        assert!(wasmparser::Parser::is_component(&a));
        let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
        validator.validate_all(&a).expect("still valid");
    }

    #[test]
    fn leb128_encodes_multibyte_lengths() {
        assert_eq!(leb128(0), [0]);
        assert_eq!(leb128(127), [127]);
        assert_eq!(leb128(128), [0x80, 1]);
        assert_eq!(leb128(300), [0xac, 2]);
    }
}

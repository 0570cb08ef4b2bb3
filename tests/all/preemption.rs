//! A guest spinning in a loop must not stop other containers from running:
//! epoch-based yielding in every store. Run on a single-threaded tokio
//! runtime, where a guest that never yielded would starve everything else.

use crate::harness::*;

#[tokio::test(flavor = "current_thread")]
async fn a_spinning_guest_and_a_sleeping_guest_both_make_progress() {
    let h = Harness::new();
    let yaml = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: neighbours}}
spec:
  containers:
  - {{name: spinner, image: "{}"}}
  - name: ticker
    image: alpine
    command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done"]
"#,
        guest("spin.wat")
    );
    let handle = h.start(&yaml).await;
    let lines = h.lines.clone();
    let count = |c: &str| lines.0.lock().unwrap().iter().filter(|l| l.1 == c).count();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    // Progress counts with generous bounds, not timings: both must advance.
    while (count("ticker") < 10 || count("spinner") < 3) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (ticks, spins) = (count("ticker"), count("spinner"));
    handle.stop();
    tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    assert!(ticks >= 10, "the sleeping container starved: {ticks} ticks, spinner printed {spins}");
    assert!(spins >= 3, "the spinning container made no progress: {spins}");
}

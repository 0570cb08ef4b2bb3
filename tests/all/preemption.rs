//! A guest spinning in a loop must not stop other containers from running:
//! epoch-based yielding in every store. The pods run on a single-threaded
//! tokio runtime, where a guest that never yielded would starve everything
//! else; that runtime lives on its own thread so that, if preemption broke,
//! this test fails at its deadline instead of hanging.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn a_spinning_guest_and_a_sleeping_guest_both_make_progress() {
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
    let (started_tx, started) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let h = Harness::new();
            let handle = h.start(&yaml).await;
            started_tx.send((h.lines.clone(), handle.stopper())).unwrap();
            let out = handle.wait().await;
            let _ = done_tx.send(phase(&out.pod).to_owned());
        });
    });
    let (lines, stopper) = started.recv_timeout(DEADLINE).expect("the pod did not start");
    let count = |c: &str| lines.0.lock().unwrap().iter().filter(|l| l.1 == c).count();
    let deadline = Instant::now() + DEADLINE;
    // Progress counts with generous bounds, not timings: both must advance.
    while (count("ticker") < 10 || count("spinner") < 3) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ticks, spins) = (count("ticker"), count("spinner"));
    assert!(ticks >= 10, "the sleeping container starved: {ticks} ticks, spinner printed {spins}");
    assert!(spins >= 3, "the spinning container made no progress: {spins}");
    stopper.stop();
    let phase = done.recv_timeout(DEADLINE).expect("the pod did not stop");
    assert_eq!(phase, "Failed", "both containers were killed on stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_limit_holds_a_spinning_guest_to_its_share() {
    let spin = guest("spin.wat");
    let yaml = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: shares}}
spec:
  containers:
  - {{name: free, image: "{spin}"}}
  - name: limited
    image: "{spin}"
    resources: {{limits: {{cpu: 200m}}}}
  - name: ticker
    image: alpine
    command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done"]
"#
    );
    let h = Harness::new();
    let handle = h.start(&yaml).await;
    let count = |c: &str| h.stdout("shares", c).len();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    // Progress counts, not timings: let the unlimited spinner get well
    // ahead, then compare how far each came in the same span.
    // The limited one's few lines are waited for too: on a loaded machine
    // it may start well after the others.
    while (count("free") < 200 || count("ticker") < 10 || count("limited") < 3) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (free, limited, ticks) = (count("free"), count("limited"), count("ticker"));
    assert!(free >= 200, "the unlimited spinner made too little progress: {free}");
    // The runtime stays responsive: a sleeping container goes on ticking.
    assert!(ticks >= 10, "the sleeping container starved: {ticks} ticks");
    // 200m against a whole core (or the rest of a shared one): about a
    // fifth; half is far outside anything but a missing limit.
    assert!(limited * 2 < free, "the limited spinner was not held back: {limited} against {free}");
    // Held back, not stopped.
    assert!(limited >= 3, "the limited spinner made no progress: {limited}");
    let stopper = handle.stopper();
    stopper.stop();
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.expect("the pod did not stop");
    assert_eq!(phase(&out.pod), "Failed");
}

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

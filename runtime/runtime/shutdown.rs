//! Ending a runtime: wait for deleted pods' removal and durable records,
//! or stop every pod first.

use super::Runtime;

impl Runtime {
    /// Waits until the records of deleted pods are removed; call it before
    /// the process exits (a `run` whose last pod was deleted ends then).
    pub async fn settle(&self) {
        self.registry().settle().await;
        // Records are in place already; this makes them survive a power
        // loss too before the process exits.
        let state = self.state().clone();
        let _ = tokio::task::spawn_blocking(move || state.flush_records()).await;
    }

    /// Stops every pod this process runs and waits until they ended
    /// (their records stay, as after `run`; deleted pods' go).
    pub async fn shutdown(&self) {
        let running = self.registry().running();
        for (_, r) in &running {
            r.stopper.stop();
        }
        for (_, r) in running {
            let mut status = r.status;
            while status.changed().await.is_ok() {}
        }
        self.settle().await;
    }
}

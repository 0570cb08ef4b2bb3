//! The epoch ticker: one thread for the whole engine, joined on drop.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::Engine;

pub(super) struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(super) fn start(engine: Engine, every: Duration) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("wasmpod-epoch".into())
            .spawn(move || {
                // recv_timeout doubles as the sleep and as the stop signal:
                // dropping the sender wakes the thread at once.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    engine.increment_epoch();
                }
            })
            .expect("cannot spawn the epoch thread");
        Self { stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

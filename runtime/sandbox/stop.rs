//! The stop request a guest can observe (`wasmpod:lifecycle/stop`, see
//! `wit/lifecycle.wit`): WASI's stand-in for SIGTERM.
//!
//! One [`StopSignal`] per container instance. The container worker
//! requests the stop; the guest may have declared that it handles
//! requests (`handle-requests`, like installing a SIGTERM handler), may
//! poll `requested`, and may `wait` for the request with a timeout (the
//! toolbox's `sleep` does, so a shell's `trap ... TERM` runs promptly).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use wasmtime::component::HasData;
use wasmtime::{Caller, Linker};

use super::{ComponentState, ModuleState};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/lifecycle/lifecycle.wit",
        world: "lifecycle",
        imports: { "wasmpod:lifecycle/stop.wait": async },
    });
}

use bindings::wasmpod::lifecycle::stop;

/// A container instance's stop request. Cheap to clone.
#[derive(Clone, Default)]
pub struct StopSignal(Arc<StopInner>);

#[derive(Default)]
struct StopInner {
    requested: AtomicBool,
    handled: AtomicBool,
    notify: Notify,
}

impl StopSignal {
    /// A signal not yet requested.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the guest to stop.
    pub fn request(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.0.requested.load(Ordering::SeqCst)
    }

    /// Whether the guest declared that it handles stop requests.
    pub fn is_handled(&self) -> bool {
        self.0.handled.load(Ordering::SeqCst)
    }

    pub(crate) fn handle(&self) {
        self.0.handled.store(true, Ordering::SeqCst);
    }

    /// Waits up to `timeout` for a request; true when one came.
    async fn wait(&self, timeout: Duration) -> bool {
        let notified = self.0.notify.notified();
        tokio::pin!(notified);
        // Registered before the check, so a request between the two is
        // not missed.
        notified.as_mut().enable();
        if self.is_requested() {
            return true;
        }
        tokio::time::timeout(timeout, notified).await.is_ok() || self.is_requested()
    }
}

/// The host data the generated `stop::Host` is implemented on.
pub(crate) struct StopView<'a>(&'a StopSignal);

struct Stop;

impl HasData for Stop {
    type Data<'a> = StopView<'a>;
}

impl stop::Host for StopView<'_> {
    fn handle_requests(&mut self) {
        self.0.handle();
    }

    fn requested(&mut self) -> bool {
        self.0.is_requested()
    }

    async fn wait(&mut self, timeout_ns: u64) -> bool {
        self.0.clone().wait(Duration::from_nanos(timeout_ns)).await
    }
}

/// Adds `wasmpod:lifecycle/stop` for components.
pub(crate) fn add_to_component_linker(linker: &mut wasmtime::component::Linker<ComponentState>) -> wasmtime::Result<()> {
    stop::add_to_linker::<ComponentState, Stop>(linker, |s| StopView(&s.stop))
}

/// The same for wasip1 modules, as the import module `wasmpod_lifecycle`:
/// `handle_requests()`, `requested() -> i32` (0 or 1) and
/// `wait(timeout_ns: i64) -> i32` (1 when a stop was requested).
pub(crate) fn add_to_module_linker(linker: &mut Linker<ModuleState>) -> wasmtime::Result<()> {
    linker.func_wrap("wasmpod_lifecycle", "handle_requests", |caller: Caller<'_, ModuleState>| caller.data().stop.handle())?;
    linker.func_wrap("wasmpod_lifecycle", "requested", |caller: Caller<'_, ModuleState>| i32::from(caller.data().stop.is_requested()))?;
    linker.func_wrap_async("wasmpod_lifecycle", "wait", |caller: Caller<'_, ModuleState>, (timeout_ns,): (i64,)| {
        let signal = caller.data().stop.clone();
        Box::new(async move { i32::from(signal.wait(Duration::from_nanos(timeout_ns.max(0) as u64)).await) })
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wait_returns_on_request_or_timeout() {
        let s = StopSignal::new();
        assert!(!s.wait(Duration::from_secs(5)).await, "no request: the timeout ends the wait");
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.wait(Duration::from_secs(3600)).await }
        });
        tokio::task::yield_now().await;
        s.request();
        assert!(waiter.await.unwrap());
        // Once requested, waits return at once.
        assert!(s.wait(Duration::from_secs(3600)).await);
        assert!(!s.is_handled());
        s.handle();
        assert!(s.is_handled());
    }
}

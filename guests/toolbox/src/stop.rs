//! The container's stop request, `wasmpod:lifecycle/stop`: wasmpod's
//! stand-in for SIGTERM (WASI has no signals). A program that never calls
//! [`handle_requests`] is ended by wasmpod at once when its container is
//! stopped (exit code 143), as a process without a SIGTERM handler is.
//! The shell calls it when a script sets `trap ... TERM`; `sleep` then
//! wakes early so the trap runs promptly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Set once the shell has taken the request (ran its trap), so later
/// sleeps sleep normally, as after a signal was delivered.
static TAKEN: AtomicBool = AtomicBool::new(false);

#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod bindings {
    wit_bindgen::generate!({ path: "../../wit/lifecycle", world: "lifecycle" });
    pub use wasmpod::lifecycle::stop::*;
}

/// Declares that this program handles stop requests.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub fn handle_requests() {
    bindings::handle_requests();
}

/// Outside wasmpod (native test builds) there are no stop requests.
#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
pub fn handle_requests() {}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn requested() -> bool {
    bindings::requested()
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn requested() -> bool {
    false
}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn wait(d: Duration) -> bool {
    bindings::wait(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn wait(d: Duration) -> bool {
    std::thread::sleep(d);
    false
}

/// A stop request not taken yet: true once.
pub fn take() -> bool {
    !TAKEN.load(Ordering::SeqCst) && requested() && !TAKEN.swap(true, Ordering::SeqCst)
}

/// Sleeps for `d`; true when a stop request not taken yet arrived, which
/// ends the sleep early.
pub fn sleep(d: Duration) -> bool {
    if TAKEN.load(Ordering::SeqCst) {
        std::thread::sleep(d);
        return false;
    }
    wait(d)
}

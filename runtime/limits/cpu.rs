//! A container's CPU limit (`resources.limits.cpu`), enforced with the
//! epoch mechanism.
//!
//! Like the CFS bandwidth controller a cgroup uses, a container may run
//! `quota` of every `period` (100 ms, CFS's default `cfs_period_us`):
//! `500m` is 50 ms of each 100 ms. One [`CpuAccount`] per container is
//! shared by all its instances (main, exec'd commands, exec probes, hooks,
//! wasi:http requests), as a cgroup counts all its processes.
//!
//! What counts is time spent executing wasm: each store's call hook starts
//! a clock when wasm is entered or a host call returns, and charges the
//! account when wasm calls the host or returns. Time inside host calls
//! (waiting on a socket, sleeping, writing the log) is not the guest's CPU
//! time and is left out. At every epoch tick (engine/, 10 ms) the running
//! store charges what it ran so far and, when the account is over its quota
//! for the window, sleeps until the window ends instead of merely yielding,
//! so its worker thread is free for the other containers.
//!
//! The check happens at ticks, so a window may overrun its quota by up to a
//! tick; the overrun is carried into the next window as debt (as CFS's
//! runtime goes negative), so the long-run share still matches the limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::{CallHook, Store, UpdateDeadline};

/// The accounting window, CFS's default period.
pub const CPU_PERIOD: Duration = Duration::from_millis(100);

/// The CPU time one container may use per window (none: unlimited), and
/// what it used, per window and in all (the kubelet's stats).
#[derive(Debug)]
pub struct CpuAccount {
    quota: Option<Duration>,
    window: Mutex<Window>,
    /// Nanoseconds used since the container started.
    total: AtomicU64,
}

#[derive(Debug)]
struct Window {
    end: Instant,
    used: Duration,
}

impl CpuAccount {
    /// An account for `millicores` thousandths of one core.
    pub fn new(millicores: u64) -> Arc<Self> {
        let quota = CPU_PERIOD * u32::try_from(millicores).unwrap_or(u32::MAX) / 1000;
        Self::with_quota(Some(quota))
    }

    /// An account without a limit, which only counts: at each epoch tick
    /// a store running wasm adds the tick's length (the kernel's
    /// tick-based accounting), so no call hook costs anything in between.
    pub fn unlimited() -> Arc<Self> {
        Self::with_quota(None)
    }

    fn with_quota(quota: Option<Duration>) -> Arc<Self> {
        Arc::new(Self { quota, window: Mutex::new(Window { end: Instant::now() + CPU_PERIOD, used: Duration::ZERO }), total: AtomicU64::new(0) })
    }

    /// The CPU time the container's instances used so far.
    pub fn used(&self) -> Duration {
        Duration::from_nanos(self.total.load(Ordering::Relaxed))
    }

    fn count(&self, ran: Duration) {
        self.total.fetch_add(u64::try_from(ran.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Adds `ran` to the current window.
    fn charge(&self, ran: Duration, now: Instant) {
        self.count(ran);
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        self.roll(&mut w, now);
        w.used += ran;
    }

    /// How long a store must sleep before running on: until the window
    /// ends if the quota is used up, else nothing.
    fn throttle(&self, now: Instant) -> Option<Duration> {
        let quota = self.quota?;
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        self.roll(&mut w, now);
        (w.used >= quota).then(|| w.end.saturating_duration_since(now).max(Duration::from_millis(1)))
    }

    /// Starts the windows that began since the last look, each giving back
    /// one quota of what was used (debt past the quota carries over).
    fn roll(&self, w: &mut Window, now: Instant) {
        if now < w.end {
            return;
        }
        let behind = now.duration_since(w.end).as_nanos() / CPU_PERIOD.as_nanos() + 1;
        let behind = u32::try_from(behind).unwrap_or(u32::MAX);
        w.used = w.used.saturating_sub(self.quota.unwrap_or_default().saturating_mul(behind));
        w.end += CPU_PERIOD.saturating_mul(behind);
    }
}

/// The clock of one store: since when it has been executing wasm, if it is.
struct StoreClock {
    account: Arc<CpuAccount>,
    running_since: Mutex<Option<Instant>>,
}

impl StoreClock {
    fn start(&self, now: Instant) {
        *self.running_since.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
    }

    fn stop(&self, now: Instant) {
        if let Some(since) = self.running_since.lock().unwrap_or_else(|p| p.into_inner()).take() {
            self.account.charge(now.saturating_duration_since(since), now);
        }
    }
}

/// Makes `store` yield to tokio at every epoch tick (`tick` apart) and,
/// with an account, count its CPU time there and run only within the
/// container's CPU quota, if it has one.
pub(crate) fn schedule<T: 'static>(store: &mut Store<T>, account: Option<&Arc<CpuAccount>>, tick: Duration) {
    let Some(account) = account else {
        // Yield at each tick so other tasks get the thread.
        store.epoch_deadline_async_yield_and_update(1);
        return;
    };
    if account.quota.is_none() {
        // Unlimited: it ran wasm through this tick; yield.
        let account = account.clone();
        store.epoch_deadline_callback(move |_| {
            account.count(tick);
            Ok(UpdateDeadline::Yield(1))
        });
        return;
    }
    let clock = Arc::new(StoreClock { account: account.clone(), running_since: Mutex::new(None) });
    let hook_clock = clock.clone();
    store.call_hook(move |_, hook| {
        let now = Instant::now();
        match hook {
            CallHook::CallingWasm | CallHook::ReturningFromHost => hook_clock.start(now),
            CallHook::ReturningFromWasm | CallHook::CallingHost => hook_clock.stop(now),
        }
        Ok(())
    });
    store.epoch_deadline_callback(move |_| {
        let now = Instant::now();
        clock.stop(now);
        let delay = clock.account.throttle(now);
        let clock = clock.clone();
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(async move {
                match delay {
                    Some(d) => tokio::time::sleep(d).await,
                    None => tokio::task::yield_now().await,
                }
                // Running again from here (whether or not wasmtime calls the
                // hook around its epoch check).
                clock.start(Instant::now());
            }),
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_is_the_share_of_the_period() {
        assert_eq!(CpuAccount::new(500).quota, Some(Duration::from_millis(50)));
        assert_eq!(CpuAccount::new(200).quota, Some(Duration::from_millis(20)));
        assert_eq!(CpuAccount::new(2000).quota, Some(Duration::from_millis(200)));
    }

    #[test]
    fn over_the_quota_sleeps_until_the_window_ends_and_debt_carries() {
        let a = CpuAccount::new(200);
        let start = a.window.lock().unwrap().end - CPU_PERIOD;
        let at = |ms| start + Duration::from_millis(ms);
        a.charge(Duration::from_millis(15), at(15));
        assert_eq!(a.throttle(at(15)), None);
        // 30 ms used of 20: sleep for the rest of the window.
        a.charge(Duration::from_millis(15), at(30));
        assert_eq!(a.throttle(at(30)), Some(Duration::from_millis(70)));
        // The next window starts 10 ms in debt: 10 ms left.
        assert_eq!(a.throttle(at(100)), None);
        a.charge(Duration::from_millis(10), at(110));
        assert_eq!(a.throttle(at(110)), Some(Duration::from_millis(90)));
        // Idle windows give back their quota but never credit beyond zero.
        assert_eq!(a.throttle(at(1000)), None);
        a.charge(Duration::from_millis(19), at(1001));
        assert_eq!(a.throttle(at(1001)), None);
        a.charge(Duration::from_millis(1), at(1002));
        assert!(a.throttle(at(1002)).is_some());
        // Everything it ran counts for the stats.
        assert_eq!(a.used(), Duration::from_millis(60));
        assert_eq!(CpuAccount::unlimited().throttle(at(0)), None, "unlimited never waits");
    }
}

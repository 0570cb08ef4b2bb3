//! One `ProbeWorker` task per probe of a running container instance, and
//! the `ProbeSet` the container worker listens to.
//!
//! A worker sleeps until `initialDelaySeconds` after the container
//! started (liveness and readiness also wait for the startup probe), then
//! checks once per `periodSeconds`, feeds each outcome to
//! `threshold::step`, and reports failures and result changes. It ends
//! when its result can no longer matter: startup after success, liveness
//! and startup after failure (the container is about to be killed).
//! Dropping the set aborts every worker.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Container;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::threshold::{ResultState, step};
use super::{Handler, Outcome, ProbeContext, ProbeKind, Timing};

/// One check of a probe, whatever its handler (a seam for tests).
pub(crate) trait Prober: Send + Sync + 'static {
    /// Runs one check; `timeout` is the probe's timeoutSeconds.
    fn check(&self, timeout: Duration) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>>;
}

/// A probe's handler run against a container instance.
struct HandlerProber {
    handler: Result<Handler, super::ProbeError>,
    ctx: ProbeContext,
}

impl Prober for HandlerProber {
    fn check(&self, timeout: Duration) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>> {
        Box::pin(async move {
            match &self.handler {
                Ok(h) => super::check(h, &self.ctx, timeout).await,
                // A named port missing from the container: every check
                // fails and says why, as the kubelet's prober does.
                Err(e) => Outcome::Failure(e.to_string()),
            }
        })
    }
}

/// What a worker tells its set.
enum Message {
    /// A check failed (an `Unhealthy` event).
    Failed(String),
    /// A check passed with a warning (a `ProbeWarning` event).
    Warned(String),
    /// The result flipped.
    Result(bool),
}

/// What the container worker must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeEvent {
    /// A check failed: Warning `Unhealthy`, `<Kind> probe failed: <message>`.
    Unhealthy { kind: ProbeKind, message: String },
    /// A check passed with a warning: Warning `ProbeWarning`, `<Kind> probe
    /// warning: <message>`.
    Warning { kind: ProbeKind, message: String },
    /// `started` or `ready` changed: report the container status again.
    Changed,
    /// The liveness or startup probe failed: kill the instance.
    Kill(ProbeKind),
}

/// The probes of one running container instance.
pub(crate) struct ProbeSet {
    tasks: JoinSet<()>,
    rx: mpsc::UnboundedReceiver<(ProbeKind, Message)>,
    started_tx: watch::Sender<bool>,
    started: bool,
    ready: bool,
}

impl ProbeSet {
    /// Starts the probes `c` sets against the instance `ctx` describes,
    /// which started at `started_at`; one manifest second lasts `second`.
    pub(crate) fn start(c: &Container, ctx: ProbeContext, second: Duration, started_at: Instant) -> Self {
        let probes = [(ProbeKind::Startup, &c.startup_probe), (ProbeKind::Liveness, &c.liveness_probe), (ProbeKind::Readiness, &c.readiness_probe)];
        let probes = probes.into_iter().filter_map(|(kind, p)| {
            let p = p.as_ref()?;
            let prober: Arc<dyn Prober> = Arc::new(HandlerProber { handler: Handler::of(p, kind, c), ctx: ctx.clone() });
            Some((kind, Timing::of(p, second), prober))
        });
        Self::with_probers(probes.collect(), started_at)
    }

    pub(crate) fn with_probers(probes: Vec<(ProbeKind, Timing, Arc<dyn Prober>)>, started_at: Instant) -> Self {
        let has = |k| probes.iter().any(|(kind, _, _)| *kind == k);
        // Without a startup probe the container counts as started at once;
        // without a readiness probe a started container is ready.
        let started = !has(ProbeKind::Startup);
        let ready = !has(ProbeKind::Readiness);
        let (started_tx, started_rx) = watch::channel(started);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        for (kind, timing, prober) in probes {
            tasks.spawn(run_worker(kind, timing, prober, started_at, started_rx.clone(), tx.clone()));
        }
        Self { tasks, rx, started_tx, started, ready }
    }

    /// Whether the startup probe (if any) succeeded.
    pub(crate) fn started(&self) -> bool {
        self.started
    }

    /// Whether the container is ready: started, and its readiness probe
    /// (if any) succeeded.
    pub(crate) fn ready(&self) -> bool {
        self.started && self.ready
    }

    /// The next thing the container worker must act on. Never resolves
    /// when there are no probes (or none left running).
    pub(crate) async fn next(&mut self) -> ProbeEvent {
        loop {
            let Some((kind, msg)) = self.rx.recv().await else {
                return std::future::pending().await;
            };
            match (kind, msg) {
                (kind, Message::Failed(message)) => return ProbeEvent::Unhealthy { kind, message },
                (kind, Message::Warned(message)) => return ProbeEvent::Warning { kind, message },
                (ProbeKind::Liveness | ProbeKind::Startup, Message::Result(false)) => return ProbeEvent::Kill(kind),
                (ProbeKind::Startup, Message::Result(true)) => {
                    self.started = true;
                    self.started_tx.send_replace(true);
                    return ProbeEvent::Changed;
                }
                (ProbeKind::Readiness, Message::Result(ready)) => {
                    self.ready = ready;
                    return ProbeEvent::Changed;
                }
                // Liveness back to success changes nothing visible.
                (ProbeKind::Liveness, Message::Result(true)) => {}
            }
        }
    }

    /// Stops every worker now (also done on drop).
    pub(crate) fn stop(&mut self) {
        self.tasks.abort_all();
    }
}

async fn run_worker(
    kind: ProbeKind,
    timing: Timing,
    prober: Arc<dyn Prober>,
    started_at: Instant,
    mut started: watch::Receiver<bool>,
    tx: mpsc::UnboundedSender<(ProbeKind, Message)>,
) {
    if kind != ProbeKind::Startup && started.wait_for(|s| *s).await.is_err() {
        return;
    }
    tokio::time::sleep_until(started_at + timing.initial_delay).await;
    let mut state = ResultState::initial(kind);
    let mut ticks = tokio::time::interval(timing.period);
    // A check that overran its period is followed by a full period, not a
    // burst of catch-up checks.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // Handlers bound themselves by the timeout with their own message;
        // this outer bound only guards against a handler that does not.
        let outcome = match tokio::time::timeout(timing.timeout * 2 + Duration::from_millis(100), prober.check(timing.timeout)).await {
            Ok(o) => o,
            Err(_) => Outcome::Failure(format!("probe did not complete within {:?}", timing.timeout)),
        };
        let success = outcome.is_success();
        let said = match outcome {
            Outcome::Success => Ok(()),
            Outcome::Failure(message) => tx.send((kind, Message::Failed(message))),
            Outcome::Warning(message) => tx.send((kind, Message::Warned(message))),
        };
        if said.is_err() {
            return;
        }
        let (next, changed) = step(state, success, timing.success_threshold, timing.failure_threshold);
        state = next;
        if let Some(result) = changed
            && tx.send((kind, Message::Result(result))).is_err()
        {
            return;
        }
        match (kind, state.result) {
            (ProbeKind::Startup, Some(true)) => return,
            (ProbeKind::Liveness | ProbeKind::Startup, Some(false)) => return,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Answers from a script ('s'/'f'), then repeats the last answer;
    /// counts its checks.
    struct Scripted {
        script: Mutex<VecDeque<bool>>,
        last: Mutex<bool>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(script: &str) -> Arc<Self> {
            Arc::new(Self { script: Mutex::new(script.chars().map(|c| c == 's').collect()), last: Mutex::new(true), calls: AtomicUsize::new(0) })
        }
    }

    impl Prober for Scripted {
        fn check(&self, _: Duration) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let ok = match self.script.lock().unwrap().pop_front() {
                Some(ok) => {
                    *self.last.lock().unwrap() = ok;
                    ok
                }
                None => *self.last.lock().unwrap(),
            };
            Box::pin(async move { if ok { Outcome::Success } else { Outcome::Failure("HTTP probe failed with statuscode: 503".into()) } })
        }
    }

    fn timing(delay: u64, period: u64, success: u32, failure: u32) -> Timing {
        Timing {
            initial_delay: Duration::from_secs(delay),
            period: Duration::from_secs(period),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_probed_before_the_initial_delay_then_once_per_period() {
        let p = Scripted::new("");
        let _set = ProbeSet::with_probers(vec![(ProbeKind::Liveness, timing(5, 10, 1, 3), p.clone() as Arc<dyn Prober>)], Instant::now());
        tokio::time::sleep(Duration::from_millis(4900)).await;
        assert_eq!(p.calls.load(Ordering::SeqCst), 0);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(p.calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(p.calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_flips_both_ways_and_each_failure_is_reported() {
        let p = Scripted::new("sffs");
        let mut set = ProbeSet::with_probers(vec![(ProbeKind::Readiness, timing(0, 1, 1, 2), p as Arc<dyn Prober>)], Instant::now());
        assert!(!set.ready(), "readiness starts as Failure");
        assert_eq!(set.next().await, ProbeEvent::Changed);
        assert!(set.ready());
        let unhealthy = ProbeEvent::Unhealthy { kind: ProbeKind::Readiness, message: "HTTP probe failed with statuscode: 503".into() };
        assert_eq!(set.next().await, unhealthy);
        assert!(set.ready(), "one failure is below failureThreshold 2");
        assert_eq!(set.next().await, unhealthy);
        assert_eq!(set.next().await, ProbeEvent::Changed);
        assert!(!set.ready());
        assert_eq!(set.next().await, ProbeEvent::Changed);
        assert!(set.ready());
    }

    #[tokio::test(start_paused = true)]
    async fn startup_gates_liveness_and_readiness_then_stops() {
        let startup = Scripted::new("ffs");
        let liveness = Scripted::new("");
        let readiness = Scripted::new("");
        let probes: Vec<(ProbeKind, Timing, Arc<dyn Prober>)> = vec![
            (ProbeKind::Startup, timing(0, 1, 1, 5), startup.clone()),
            (ProbeKind::Liveness, timing(0, 1, 1, 3), liveness.clone()),
            (ProbeKind::Readiness, timing(0, 1, 1, 3), readiness.clone()),
        ];
        let mut set = ProbeSet::with_probers(probes, Instant::now());
        assert!(!set.started() && !set.ready());
        assert!(matches!(set.next().await, ProbeEvent::Unhealthy { kind: ProbeKind::Startup, .. }));
        assert!(matches!(set.next().await, ProbeEvent::Unhealthy { kind: ProbeKind::Startup, .. }));
        assert_eq!((liveness.calls.load(Ordering::SeqCst), readiness.calls.load(Ordering::SeqCst)), (0, 0));
        assert_eq!(set.next().await, ProbeEvent::Changed);
        assert!(set.started() && !set.ready(), "readiness still starts as Failure");
        assert_eq!(set.next().await, ProbeEvent::Changed);
        assert!(set.ready());
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(startup.calls.load(Ordering::SeqCst), 3, "startup stops after its success");
        assert!(liveness.calls.load(Ordering::SeqCst) >= 10);
    }

    #[tokio::test(start_paused = true)]
    async fn liveness_kills_after_failure_threshold_and_stops() {
        let p = Scripted::new("sfff");
        let mut set = ProbeSet::with_probers(vec![(ProbeKind::Liveness, timing(0, 1, 1, 3), p.clone() as Arc<dyn Prober>)], Instant::now());
        for _ in 0..3 {
            assert!(matches!(set.next().await, ProbeEvent::Unhealthy { kind: ProbeKind::Liveness, .. }));
        }
        assert_eq!(set.next().await, ProbeEvent::Kill(ProbeKind::Liveness));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(p.calls.load(Ordering::SeqCst), 4);
    }
}

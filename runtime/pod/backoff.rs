//! `CrashLoopBackOff`: how long to wait before restarting a container that
//! exited, and whether it is restarted at all.
//!
//! Port of what the kubelet does (Kubernetes 1.35, alpha gates
//! `ReduceDefaultCrashLoopBackOffDecay` and `KubeletCrashLoopBackOffMax` off):
//! `kubeGenericRuntimeManager.doBackOff` in `pkg/kubelet/kuberuntime` asks a
//! `flowcontrol.Backoff` (`k8s.io/client-go/util/flowcontrol/backoff.go`)
//! whether the container is still "in back-off since" its last finish; if not,
//! it calls `Next` and starts the container. `Next` creates an entry at the
//! initial delay, or doubles the existing one up to the maximum. The kubelet
//! overrides the entry's expiry (`HasExpiredFunc` in `pkg/kubelet/kubelet.go`)
//! so that an entry older than 600 s at the container's finish is forgotten.
//!
//! Put as a sequence of exits: the first restart is immediate, then the waits
//! are 10 s, 20 s, 40 s, 80 s, 160 s, 300 s, 300 s, ... A container that ran
//! for more than 10 minutes has its entry forgotten, so the restart after
//! that run is immediate again and the following one waits 10 s.
//!
//! No jitter: `flowcontrol.NewBackOff` (what the kubelet uses) has none.

use std::fmt::Write as _;
use std::time::Duration;

/// Back-off parameters. [`Default`] gives the kubelet's values; tests and
/// impatient users may shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// Wait before the second restart: 10 s, the kubelet's
    /// `initialCrashLoopBackOff` (`pkg/kubelet/kubelet.go`). Clamped to `max`.
    pub initial: Duration,
    /// Cap on the wait: 300 s, `MaxContainerBackOff` in
    /// `k8s.io/kubelet/config/v1beta1` (the kubelet's `MaxCrashLoopBackOff`).
    pub max: Duration,
    /// A container that ran longer than this (strictly) gets a fresh start:
    /// 600 s, the kubelet's `crashLoopBackOff.HasExpiredFunc`
    /// (`eventTime.Sub(lastUpdate) > 600*time.Second`). This equals
    /// client-go's default of twice the maximum, but the kubelet pins it so it
    /// does not shrink when the maximum is configured lower.
    pub reset_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig { initial: Duration::from_secs(10), max: Duration::from_secs(300), reset_after: Duration::from_secs(600) }
    }
}

/// The back-off state of one container.
///
/// Keep one per pod and container name (the kubelet keys its entries by pod
/// name, namespace, UID, container name and a hash of the container spec; a
/// wasmpod pod's containers cannot be edited in place, so the name suffices)
/// and drop it with the pod.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestartBackoff {
    config: BackoffConfig,
    /// flowcontrol's entry: the wait owed if the container exits again soon.
    /// `None` until the first exit.
    entry: Option<Duration>,
    /// The wait returned by the last [`RestartBackoff::on_exit`].
    current: Duration,
}

impl RestartBackoff {
    /// A container that has not exited yet.
    #[must_use]
    pub fn new(config: BackoffConfig) -> Self {
        RestartBackoff { config, entry: None, current: Duration::ZERO }
    }

    /// Records that the container exited after running for `ran_for`
    /// (start to finish) and returns how long to wait before starting it
    /// again; the caller is expected to restart it after that wait.
    ///
    /// First exit, or any exit after a run longer than `reset_after`: zero
    /// (Kubernetes' expired entry means "not in back-off", so the restart is
    /// immediate; the entry is then recreated at `initial`). Otherwise the
    /// current entry, which then doubles, capped at `max`.
    pub fn on_exit(&mut self, ran_for: Duration) -> Duration {
        let initial = self.config.initial.min(self.config.max);
        // The kubelet measures from the entry's last update (taken just
        // before the container was started) to the container's finish; the
        // run time is that span.
        let wait = match self.entry {
            Some(owed) if ran_for <= self.config.reset_after => {
                // `Next` at the coming restart: double, capped.
                self.entry = Some(owed.saturating_mul(2).min(self.config.max));
                owed
            }
            _ => {
                // No entry, or an expired one: `Next` starts afresh.
                self.entry = Some(initial);
                Duration::ZERO
            }
        };
        self.current = wait;
        wait
    }

    /// The `CrashLoopBackOff` waiting message the kubelet sets while this
    /// container waits: `back-off 40s restarting failed container=C
    /// pod=NAME_NAMESPACE(UID)`, with the delay in Go's duration notation.
    #[must_use]
    pub fn crash_loop_message(&self, container: &str, pod: &str, namespace: &str, uid: &str) -> String {
        format!("back-off {} restarting failed container={container} pod={pod}_{namespace}({uid})", go_duration(self.current))
    }
}

/// Go's `time.Duration.String()`: `0s`, `1.5ms`, `40s`, `1m20s`, `5m0s`,
/// `1h0m0s`.
pub(crate) fn go_duration(d: Duration) -> String {
    /// `n / unit` with the remainder as trimmed decimals.
    fn decimal(n: u128, unit: u128) -> String {
        let (whole, rest) = (n / unit, n % unit);
        if rest == 0 {
            return whole.to_string();
        }
        let width = unit.ilog10() as usize;
        let frac = format!("{rest:0width$}");
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }

    let nanos = d.as_nanos();
    match nanos {
        0 => "0s".to_owned(),
        1..=999 => format!("{nanos}ns"),
        1_000..=999_999 => format!("{}µs", decimal(nanos, 1_000)),
        1_000_000..=999_999_999 => format!("{}ms", decimal(nanos, 1_000_000)),
        _ => {
            let secs = d.as_secs();
            let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
            let mut out = String::new();
            if hours > 0 {
                let _ = write!(out, "{hours}h");
            }
            if hours > 0 || minutes > 0 {
                let _ = write!(out, "{minutes}m");
            }
            let sub = u128::from(seconds) * 1_000_000_000 + u128::from(d.subsec_nanos());
            let _ = write!(out, "{}s", decimal(sub, 1_000_000_000));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn defaults_are_the_kubelets() {
        let c = BackoffConfig::default();
        assert_eq!((c.initial, c.max, c.reset_after), (s(10), s(300), s(600)));
    }

    #[test]
    fn schedule_doubles_to_the_cap() {
        let mut b = RestartBackoff::default();
        let waits: Vec<u64> = (0..9).map(|_| b.on_exit(s(1)).as_secs()).collect();
        assert_eq!(waits, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn on_exit_table() {
        // Each row: the run times of successive exits, and the waits returned.
        let table: &[(&str, &[u64], &[u64])] = &[
            ("first exit restarts at once", &[0], &[0]),
            ("quick crashes", &[1, 1, 1, 1], &[0, 10, 20, 40]),
            ("exactly reset_after does not reset", &[1, 1, 600, 1], &[0, 10, 20, 40]),
            ("longer than reset_after resets to immediate", &[1, 1, 1, 601, 1, 1], &[0, 10, 20, 0, 10, 20]),
            ("long first run", &[3600, 1], &[0, 10]),
            ("reset while capped", &[1, 1, 1, 1, 1, 1, 1, 700, 1], &[0, 10, 20, 40, 80, 160, 300, 0, 10]),
            ("runs up to 10 min keep climbing", &[599, 599, 599], &[0, 10, 20]),
        ];
        for (name, runs, want) in table {
            let mut b = RestartBackoff::default();
            let got: Vec<u64> = runs.iter().map(|r| b.on_exit(s(*r)).as_secs()).collect();
            assert_eq!(&got[..], *want, "{name}");
        }
    }

    #[test]
    fn initial_is_clamped_to_max_and_doubling_saturates() {
        let mut b = RestartBackoff::new(BackoffConfig { initial: s(20), max: s(5), reset_after: s(600) });
        let waits: Vec<u64> = (0..3).map(|_| b.on_exit(s(1)).as_secs()).collect();
        assert_eq!(waits, [0, 5, 5]);

        let huge = BackoffConfig { initial: Duration::MAX / 2 + s(1), max: Duration::MAX, reset_after: Duration::MAX };
        let mut b = RestartBackoff::new(huge);
        b.on_exit(s(1));
        b.on_exit(s(1));
        assert_eq!(b.on_exit(s(1)), Duration::MAX);
    }

    #[test]
    fn the_message_shows_the_last_wait() {
        let mut b = RestartBackoff::default();
        for _ in 0..4 {
            b.on_exit(s(1));
        }
        assert_eq!(b.crash_loop_message("app", "web", "default", "1234"), "back-off 40s restarting failed container=app pod=web_default(1234)");
    }

    #[test]
    fn go_duration_table() {
        let table = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(5), "5ns"),
            (Duration::from_micros(3), "3µs"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_millis(10), "10ms"),
            (Duration::from_millis(1500), "1.5s"),
            (s(10), "10s"),
            (s(80), "1m20s"),
            (s(160), "2m40s"),
            (s(300), "5m0s"),
            (s(3600), "1h0m0s"),
            (s(3661), "1h1m1s"),
        ];
        for (d, want) in table {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }

    /// Drives a crash-looping container on tokio's paused clock: each
    /// instance runs 1 ms (`advance`), exits, and the loop sleeps the returned
    /// back-off before "starting" it again. The measured gaps between exit
    /// and restart are the Kubernetes schedule scaled from seconds to ms.
    #[tokio::test(start_paused = true)]
    async fn crash_loop_on_a_paused_clock() {
        use tokio::time::{Instant, advance, sleep};

        let config = BackoffConfig { initial: Duration::from_millis(10), max: Duration::from_millis(300), reset_after: Duration::from_millis(600) };
        let mut backoff = RestartBackoff::new(config);

        async fn crash_then_restart(backoff: &mut RestartBackoff, run: Duration) -> u64 {
            let started = Instant::now();
            advance(run).await; // the container runs, then crashes
            let exited = Instant::now();
            let wait = backoff.on_exit(exited - started);
            sleep(wait).await; // CrashLoopBackOff
            (Instant::now() - exited).as_millis() as u64
        }

        let mut gaps = Vec::new();
        for _ in 0..8 {
            gaps.push(crash_then_restart(&mut backoff, Duration::from_millis(1)).await);
        }
        assert_eq!(gaps, [0, 10, 20, 40, 80, 160, 300, 300]);

        // A run longer than reset_after earns an immediate restart, and the
        // schedule starts over.
        let mut after_reset = Vec::new();
        after_reset.push(crash_then_restart(&mut backoff, Duration::from_millis(601)).await);
        for _ in 0..2 {
            after_reset.push(crash_then_restart(&mut backoff, Duration::from_millis(1)).await);
        }
        assert_eq!(after_reset, [0, 10, 20]);
    }
}

//! A pod's life as explicit states, stepped by a pure function: which of
//! its containers run, in what order, and when the pod is done.
//!
//! ```text
//!   Initializing --(last init container done)--> Running --.
//!     |  one init container at a time; a native sidecar      |
//!     |  lets the next start once it reports started         |
//!     '--Stop / Fail---> Terminating <--Stop / Fail----------'
//!                            |
//!   (no worker left, and the pod deleted or its phase terminal) --> Ended
//! ```
//!
//! The supervisor (`supervisor.rs`) starts and stops workers, applies
//! their reports to the status (phase and conditions stay pure functions
//! of the statuses: `phase.rs`, `conditions.rs`), and feeds here what
//! happened. Native sidecars are stopped last, one after another in
//! reverse start order, once every other container ended, as the kubelet
//! does.

/// Where the pod is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Init containers run one at a time. `next` is the next to start;
    /// `awaiting` a native sidecar whose start it waits for. Next:
    /// `Running` (the last init container done), `Terminating`.
    Initializing {
        /// The next init container to start.
        next: usize,
        /// The sidecar the next init container waits for.
        awaiting: Option<usize>,
    },
    /// App containers were started. Next: `Terminating`, `Ended`.
    Running,
    /// Deleted or evicted: every worker is stopping. Next: `Ended`.
    Terminating,
    /// No worker runs and the pod is done.
    Ended,
}

/// What happened, as the supervisor tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    /// The pod's task begins; `deleting` when it was stopped before.
    Begin {
        /// Deleted before it started.
        deleting: bool,
    },
    /// A container status was applied: the init container that now
    /// reports started, if any, and whether the phase is terminal.
    Reported {
        /// An init container that reports `started`.
        init_started: Option<usize>,
        /// The pod's phase is Succeeded or Failed.
        terminal: bool,
    },
    /// A worker ended: its list and index, and its last exit code (none:
    /// it never ran an instance, or it panicked).
    WorkerEnded {
        /// An init container's worker (else an app container's).
        init: bool,
        /// Its index in its list.
        index: usize,
        /// Its last exit code.
        exit: Option<i32>,
    },
    /// The pod is deleted.
    Stop,
    /// The pod must end Failed (an eviction, its active deadline).
    Fail(Failure),
}

/// Why a pod is ended Failed while its containers still run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Over a local storage limit: the eviction's message.
    Evicted(String),
    /// Running longer than `activeDeadlineSeconds`.
    DeadlineExceeded,
}

/// What the supervisor is to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Start init container `i`'s worker.
    StartInit(usize),
    /// Start every app container's worker.
    StartApps,
    /// Stop native sidecar `i` (its own stop channel).
    StopSidecar(usize),
    /// Record the deletion (`deletionTimestamp`, grace period): the
    /// workers stop through the pod's stop channel.
    MarkDeleted,
    /// End the pod Failed for that reason, every worker stopped.
    Fail(Failure),
    /// The pod is done: write its final status and release it.
    Finish,
}

/// A pod's lifecycle.
#[derive(Debug, Clone)]
pub(crate) struct PodLifecycle {
    stage: Stage,
    /// Each init container that can start, in order: whether it is a
    /// native sidecar. (An init container that could not be prepared and
    /// those after it are absent: the pod waits there.)
    init: Vec<bool>,
    /// App containers that can start.
    apps: usize,
    /// An init container could not be prepared: app containers never start.
    init_blocked: bool,
    /// Workers alive.
    workers: usize,
    /// Workers alive other than sidecars'.
    others: usize,
    /// Sidecars started and not yet told to stop, in start order.
    sidecars: Vec<usize>,
    /// Every sidecar ever started (to tell their workers' ends apart).
    sidecar_started: Vec<usize>,
    /// The sidecars are being stopped.
    stopping_sidecars: bool,
    apps_started: bool,
    deleting: bool,
    /// The phase, as last reported, is terminal.
    terminal: bool,
}

impl PodLifecycle {
    /// A pod whose init containers are `init` (true: a native sidecar),
    /// with `apps` app containers; `init_blocked` when an init container
    /// could not be prepared.
    pub(crate) fn new(init: Vec<bool>, apps: usize, init_blocked: bool) -> Self {
        Self {
            stage: Stage::Initializing { next: 0, awaiting: None },
            init,
            apps,
            init_blocked,
            workers: 0,
            others: 0,
            sidecars: Vec::new(),
            sidecar_started: Vec::new(),
            stopping_sidecars: false,
            apps_started: false,
            deleting: false,
            terminal: false,
        }
    }

    /// The current stage.
    #[cfg(test)]
    pub(crate) fn stage(&self) -> &Stage {
        &self.stage
    }

    /// Whether the pod is being deleted or evicted.
    pub(crate) fn deleting(&self) -> bool {
        self.deleting
    }

    /// Steps in place (see [`PodLifecycle::step`]).
    pub(crate) fn apply(&mut self, input: Input) -> Vec<Action> {
        // Taken, not cloned: this runs on every status report. The
        // placeholder allocates nothing.
        let current = std::mem::replace(self, PodLifecycle::new(Vec::new(), 0, false));
        let (next, actions) = current.step(input);
        *self = next;
        actions
    }

    /// The next state and what to do, for `input`.
    pub(crate) fn step(mut self, input: Input) -> (Self, Vec<Action>) {
        let mut out = Vec::new();
        if self.stage == Stage::Ended {
            return (self, out);
        }
        match input {
            Input::Begin { deleting: true } => self.terminate(Action::MarkDeleted, &mut out),
            Input::Begin { deleting: false } => self.start_next(&mut out),
            Input::Reported { init_started, terminal } => {
                self.terminal = terminal;
                if let Stage::Initializing { next, awaiting: Some(sidecar) } = self.stage
                    && init_started == Some(sidecar)
                    && !self.deleting
                {
                    self.stage = Stage::Initializing { next, awaiting: None };
                    self.start_next(&mut out);
                }
            }
            Input::WorkerEnded { init, index, exit } => {
                self.workers = self.workers.saturating_sub(1);
                let sidecar = init && self.sidecar_started.contains(&index);
                if sidecar {
                    if self.stopping_sidecars {
                        self.stop_next_sidecar(&mut out);
                    }
                } else {
                    self.others = self.others.saturating_sub(1);
                    // A regular init container that completed lets the next start.
                    if init && exit == Some(0) && !self.deleting {
                        self.start_next(&mut out);
                    }
                }
            }
            Input::Stop if !self.deleting => self.terminate(Action::MarkDeleted, &mut out),
            Input::Fail(failure) if !self.deleting => self.terminate(Action::Fail(failure), &mut out),
            // A second stop, or a failure of a pod already going.
            Input::Stop | Input::Fail(_) => {}
        }
        self.stop_sidecars_when_alone(&mut out);
        if self.workers == 0 && (self.deleting || self.terminal) {
            self.stage = Stage::Ended;
            out.push(Action::Finish);
        }
        (self, out)
    }

    fn terminate(&mut self, action: Action, out: &mut Vec<Action>) {
        self.deleting = true;
        self.stage = Stage::Terminating;
        out.push(action);
    }

    /// Starts the next init container, or every app container once the
    /// init containers are done (unless one could not be prepared).
    fn start_next(&mut self, out: &mut Vec<Action>) {
        let Stage::Initializing { next, .. } = self.stage else { return };
        if let Some(&sidecar) = self.init.get(next) {
            out.push(Action::StartInit(next));
            self.workers += 1;
            if sidecar {
                self.sidecars.push(next);
                self.sidecar_started.push(next);
            } else {
                self.others += 1;
            }
            self.stage = Stage::Initializing { next: next + 1, awaiting: sidecar.then_some(next) };
            return;
        }
        if self.init_blocked {
            // Pending until deleted, as Kubernetes leaves it.
            self.stage = Stage::Initializing { next, awaiting: None };
            return;
        }
        self.stage = Stage::Running;
        self.apps_started = true;
        if self.apps > 0 {
            out.push(Action::StartApps);
            self.workers += self.apps;
            self.others += self.apps;
        }
    }

    /// Once every other container ended for good (the pod is deleted, or
    /// its app containers finished, or it failed), the sidecars are
    /// stopped, the last started first.
    fn stop_sidecars_when_alone(&mut self, out: &mut Vec<Action>) {
        if self.stopping_sidecars || self.sidecars.is_empty() || self.others > 0 {
            return;
        }
        if self.deleting || self.apps_started || self.terminal {
            self.stopping_sidecars = true;
            self.stop_next_sidecar(out);
        }
    }

    fn stop_next_sidecar(&mut self, out: &mut Vec<Action>) {
        if let Some(i) = self.sidecars.pop() {
            out.push(Action::StopSidecar(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn ended(init: bool, index: usize, exit: Option<i32>) -> Input {
        Input::WorkerEnded { init, index, exit }
    }

    fn reported(init_started: Option<usize>, terminal: bool) -> Input {
        Input::Reported { init_started, terminal }
    }

    /// Feeds `inputs` in order; returns each step's actions.
    fn run(lc: &mut PodLifecycle, inputs: Vec<Input>) -> Vec<Vec<Action>> {
        inputs.into_iter().map(|i| lc.apply(i)).collect()
    }

    #[test]
    fn init_containers_run_in_order_then_the_apps_together() {
        let mut lc = PodLifecycle::new(vec![false, false], 2, false);
        let steps = run(&mut lc, vec![Input::Begin { deleting: false }, reported(None, false), ended(true, 0, Some(0)), ended(true, 1, Some(0))]);
        assert_eq!(steps, [vec![StartInit(0)], vec![], vec![StartInit(1)], vec![StartApps]]);
        assert_eq!(lc.stage(), &Stage::Running);
        // The apps end, the phase turns terminal: done.
        let steps = run(&mut lc, vec![ended(false, 0, Some(0)), ended(false, 1, Some(0)), reported(None, true)]);
        assert_eq!(steps, [vec![], vec![], vec![Finish]]);
        assert_eq!(lc.stage(), &Stage::Ended);
    }

    #[test]
    fn a_failed_init_container_starts_nothing_after_it() {
        // restartPolicy Never: the worker ends with 1 and the phase is Failed.
        let mut lc = PodLifecycle::new(vec![false, false], 1, false);
        let steps = run(&mut lc, vec![Input::Begin { deleting: false }, reported(None, true), ended(true, 0, Some(1))]);
        assert_eq!(steps, [vec![StartInit(0)], vec![], vec![Finish]]);
    }

    #[test]
    fn a_native_sidecar_lets_the_next_start_once_started_and_is_stopped_last() {
        // initContainers: [sidecar s0, regular i1, sidecar s2]; 1 app.
        let mut lc = PodLifecycle::new(vec![true, false, true], 1, false);
        let steps = run(
            &mut lc,
            vec![Input::Begin { deleting: false }, reported(None, false), reported(Some(0), false), ended(true, 1, Some(0)), reported(Some(2), false)],
        );
        assert_eq!(steps, [vec![StartInit(0)], vec![], vec![StartInit(1)], vec![StartInit(2)], vec![StartApps]]);
        // The app ends (OnFailure, exit 0): the sidecars stop, the last
        // started first, each after the one before ended.
        let steps = run(&mut lc, vec![ended(false, 0, Some(0)), reported(None, false), ended(true, 2, None), ended(true, 0, None), reported(None, true)]);
        assert_eq!(steps, [vec![StopSidecar(2)], vec![], vec![StopSidecar(0)], vec![], vec![Finish]]);
    }

    #[test]
    fn a_stop_before_the_start_ends_the_pod_at_once() {
        let mut lc = PodLifecycle::new(vec![false], 1, false);
        assert_eq!(lc.apply(Input::Begin { deleting: true }), [MarkDeleted, Finish]);
    }

    #[test]
    fn a_deletion_stops_everything_and_waits_for_every_worker() {
        let mut lc = PodLifecycle::new(vec![true], 2, false);
        run(&mut lc, vec![Input::Begin { deleting: false }, reported(Some(0), false)]);
        // The app workers stop through the pod's channel; the sidecar once they ended.
        let steps = run(&mut lc, vec![Input::Stop, Input::Stop, ended(false, 0, Some(143)), ended(false, 1, Some(143)), ended(true, 0, Some(143))]);
        assert_eq!(steps, [vec![MarkDeleted], vec![], vec![], vec![StopSidecar(0)], vec![Finish]]);
        assert!(lc.deleting());
    }

    #[test]
    fn an_eviction_kills_everything_once() {
        let mut lc = PodLifecycle::new(vec![], 2, false);
        run(&mut lc, vec![Input::Begin { deleting: false }]);
        let evicted = |m: &str| Input::Fail(Failure::Evicted(m.into()));
        let inputs = vec![
            evicted("over"),
            evicted("again"),
            Input::Fail(Failure::DeadlineExceeded),
            Input::Stop,
            ended(false, 0, Some(137)),
            ended(false, 1, Some(137)),
        ];
        let steps = run(&mut lc, inputs);
        assert_eq!(steps, [vec![Fail(Failure::Evicted("over".into()))], vec![], vec![], vec![], vec![], vec![Finish]]);
    }

    #[test]
    fn the_active_deadline_stops_a_pod_still_initializing() {
        let mut lc = PodLifecycle::new(vec![false], 1, false);
        run(&mut lc, vec![Input::Begin { deleting: false }]);
        let steps = run(&mut lc, vec![Input::Fail(Failure::DeadlineExceeded), ended(true, 0, Some(143))]);
        assert_eq!(steps, [vec![Fail(Failure::DeadlineExceeded)], vec![Finish]], "the app containers never start");
    }

    #[test]
    fn a_panicked_worker_counts_as_ended_and_a_blocked_pod_waits_for_its_deletion() {
        // A worker panic: its status is recorded Failed by the supervisor;
        // here it is an ended worker without an exit code.
        let mut lc = PodLifecycle::new(vec![false], 1, false);
        let steps = run(&mut lc, vec![Input::Begin { deleting: false }, ended(true, 0, None), reported(None, true)]);
        assert_eq!(steps, [vec![StartInit(0)], vec![], vec![Finish]]);
        // An init container that could not be prepared: nothing after it starts.
        let mut lc = PodLifecycle::new(vec![], 1, true);
        assert_eq!(lc.apply(Input::Begin { deleting: false }), []);
        assert_eq!(lc.apply(reported(None, false)), []);
        assert_eq!(lc.apply(Input::Stop), [MarkDeleted, Finish]);
    }
}

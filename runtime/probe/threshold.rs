//! A probe's result as the kubelet's prober worker keeps it: a result
//! flips only after `failureThreshold` failures or `successThreshold`
//! successes in a row. Pure; the worker feeds it one check at a time.

use super::ProbeKind;

/// The state of one probe worker's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultState {
    /// The current result: `None` is Unknown.
    pub result: Option<bool>,
    /// The last check's outcome and how many identical ones in a row.
    last: Option<bool>,
    run: u32,
}

impl ResultState {
    /// The initial result: readiness Failure (not ready until proven),
    /// liveness Success (alive until proven dead), startup Unknown.
    pub fn initial(kind: ProbeKind) -> Self {
        let result = match kind {
            ProbeKind::Readiness => Some(false),
            ProbeKind::Liveness => Some(true),
            ProbeKind::Startup => None,
        };
        Self { result, last: None, run: 0 }
    }
}

/// Feeds one check's outcome (`success`) into `state`; returns the new
/// state and the new result if it changed.
pub fn step(mut state: ResultState, success: bool, success_threshold: u32, failure_threshold: u32) -> (ResultState, Option<bool>) {
    if state.last == Some(success) {
        state.run = state.run.saturating_add(1);
    } else {
        state.last = Some(success);
        state.run = 1;
    }
    let needed = if success { success_threshold } else { failure_threshold };
    if state.run < needed {
        return (state, None);
    }
    let changed = state.result != Some(success);
    state.result = Some(success);
    (state, changed.then_some(success))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `checks` ("s"/"f") through a fresh state; the result after each.
    fn results(kind: ProbeKind, success: u32, failure: u32, checks: &str) -> String {
        let mut st = ResultState::initial(kind);
        let mut out = String::new();
        for c in checks.chars() {
            let (next, _) = step(st, c == 's', success, failure);
            st = next;
            out.push(match st.result {
                None => '?',
                Some(true) => 'S',
                Some(false) => 'F',
            });
        }
        out
    }

    #[test]
    fn results_flip_only_after_threshold_identical_checks_in_a_row() {
        let table = [
            // kind, successThreshold, failureThreshold, checks, results after each
            (ProbeKind::Readiness, 1, 3, "s", "S"),
            (ProbeKind::Readiness, 1, 3, "ffs", "FFS"),
            (ProbeKind::Readiness, 2, 3, "sfssfff", "FFFSSSF"),
            (ProbeKind::Readiness, 1, 1, "sfsf", "SFSF"),
            (ProbeKind::Liveness, 1, 3, "fffs", "SSFS"),
            (ProbeKind::Liveness, 1, 3, "ffsfff", "SSSSSF"),
            (ProbeKind::Startup, 1, 3, "ffs", "??S"),
            (ProbeKind::Startup, 1, 2, "ff", "?F"),
        ];
        for (kind, s, f, checks, want) in table {
            assert_eq!(results(kind, s, f, checks), want, "{kind:?} success={s} failure={f} checks={checks}");
        }
    }

    #[test]
    fn a_change_is_reported_once() {
        let st = ResultState::initial(ProbeKind::Readiness);
        let (st, c1) = step(st, true, 1, 3);
        let (_, c2) = step(st, true, 1, 3);
        assert_eq!((c1, c2), (Some(true), None));
    }
}

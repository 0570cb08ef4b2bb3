//! How a guest ended, and the one reading of it every caller shares: the
//! exit code a container, an exec'd command or the `wasmpod` CLI reports,
//! and the words hooks and probes put in their messages.

/// Exit code of a guest killed by the runtime (the grace period ended, an
/// eviction, the OOM killer): 128 + SIGKILL, as Kubernetes reports a
/// killed process. WASI has no signals; this keeps scripts and dashboards
/// that read exit codes working.
pub const EXIT_KILLED: i32 = 137;
/// Exit code reported for a guest that trapped (a Rust panic aborts with
/// an `unreachable` trap): 128 + SIGABRT, what a panicking native program
/// shows.
pub const EXIT_TRAPPED: i32 = 134;
/// Exit code of a guest ended by a stop request it does not handle:
/// 128 + SIGTERM, what a process without a handler shows.
pub const EXIT_TERMINATED: i32 = 143;

/// How a guest ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestExit {
    /// It returned or called `exit(code)`.
    Exited(i32),
    /// It trapped (a Rust panic is an `unreachable` trap); the message says which.
    Trapped(String),
    /// It went over its container's memory limit (the message says by how
    /// much) and was ended, as the kernel's OOM killer ends a process.
    OomKilled(String),
}

impl GuestExit {
    /// The exit code a process that ended this way shows.
    pub fn code(&self) -> i32 {
        match self {
            GuestExit::Exited(code) => *code,
            GuestExit::Trapped(_) => EXIT_TRAPPED,
            GuestExit::OomKilled(_) => EXIT_KILLED,
        }
    }

    /// Whether it ended with exit code 0.
    pub fn succeeded(&self) -> bool {
        self.code() == 0
    }

    /// What happened, to follow a command's name in a message:
    /// `exited with 3`, `trapped: <trap>`, `was OOM killed: <why>`.
    pub fn describe(&self) -> String {
        match self {
            GuestExit::Exited(code) => format!("exited with {code}"),
            GuestExit::Trapped(trap) => format!("trapped: {trap}"),
            GuestExit::OomKilled(why) => format!("was OOM killed: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_has_one_code_and_one_description() {
        let rows = [
            (GuestExit::Exited(0), 0, "exited with 0"),
            (GuestExit::Exited(3), 3, "exited with 3"),
            (GuestExit::Trapped("unreachable".into()), EXIT_TRAPPED, "trapped: unreachable"),
            (GuestExit::OomKilled("over 1Mi".into()), EXIT_KILLED, "was OOM killed: over 1Mi"),
        ];
        for (exit, code, text) in rows {
            assert_eq!((exit.code(), exit.describe().as_str()), (code, text), "{exit:?}");
            assert_eq!(exit.succeeded(), code == 0);
        }
    }
}

//! The exit codes scripts can rely on (listed in `wasmpod --help`).

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Success,
    PodFailed,
    Usage,
    Invalid,
    Runtime,
    Unreachable,
    Interrupted,
    /// `exec`: the remote command's own exit code.
    Command(u8),
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(match e {
            Exit::Success => 0,
            Exit::PodFailed => 1,
            Exit::Usage => 2,
            Exit::Invalid => 3,
            Exit::Runtime => 4,
            Exit::Unreachable => 5,
            Exit::Interrupted => 130,
            Exit::Command(code) => code,
        })
    }
}

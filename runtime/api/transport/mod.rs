//! The byte transport under the control API, reachable only by the user
//! who owns the state directory: a Unix domain socket inside the state
//! directory (directory 0700, socket 0600) on Unix, a named pipe with the
//! default security (full access for the creating user, SYSTEM and
//! administrators only; remote clients rejected) on Windows.
//!
//! Both are found through an endpoint file in `<state>/api/`: the socket
//! itself on Unix, a file holding the pipe's name on Windows.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::{ENDPOINT_EXT, Listener, connect, restrict_dir};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::{ENDPOINT_EXT, Listener, connect, restrict_dir};

/// Whether a connect error means nobody listens there any more (the
/// process died without removing its endpoint file).
pub(crate) fn is_stale(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound)
}

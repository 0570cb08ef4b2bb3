//! Readiness waiting over socket descriptors with libc's `poll()`.
//!
//! The toolbox has no threads on WASI, so a server that must answer several
//! clients at once multiplexes them with `poll`. Both targets link a libc
//! that has it: glibc/musl natively, and wasi-libc on wasm32-wasip2, whose
//! `poll` turns each descriptor into a wasi:io pollable (the socket's own
//! for a listener, its input/output stream's otherwise) and waits with
//! `wasi:io/poll.poll`, a monotonic-clock pollable carrying the timeout.
//! std's sockets are wasi-libc descriptors there, so `as_raw_fd` fits.

use std::io;
use std::os::raw::{c_int, c_short};
use std::time::Duration;

// std::os::fd covers Unix and WASI alike.
use std::os::fd::RawFd;

/// `struct pollfd`, laid out the same in wasi-libc and on Unix.
#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}

unsafe extern "C" {
    // `nfds_t` is `size_t` in wasi-libc and `unsigned long` on Linux and
    // macOS: both are pointer-sized on the targets the toolbox builds for.
    fn poll(fds: *mut PollFd, nfds: usize, timeout: c_int) -> c_int;
}

// The flag values differ: wasi-libc numbers its own (POLLRDNORM = 1,
// POLLWRNORM = 2, POLLERR = 0x1000, POLLHUP = 0x2000, POLLNVAL = 0x4000).
#[cfg(target_os = "wasi")]
mod flags {
    pub const IN: i16 = 0x1;
    pub const OUT: i16 = 0x2;
    pub const ERR: i16 = 0x1000 | 0x2000 | 0x4000;
}
#[cfg(unix)]
mod flags {
    pub const IN: i16 = 0x1;
    pub const OUT: i16 = 0x4;
    pub const ERR: i16 = 0x8 | 0x10 | 0x20;
}

/// What a descriptor is waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
}

/// Waits until at least one descriptor is ready or `timeout` passes
/// (`None`: forever). Returns, for each entry, whether it is ready; an
/// error or hang-up counts as ready so that the next read or write
/// reports it (wasi-libc never sets those bits, so the read or write is
/// where errors show up anyway).
pub fn wait(fds: &[(RawFd, Interest)], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<PollFd> =
        fds.iter().map(|&(fd, i)| PollFd { fd, events: if i == Interest::Read { flags::IN } else { flags::OUT }, revents: 0 }).collect();
    let ms = match timeout {
        None => -1,
        // Round up, so a 0.4 ms remainder does not spin at timeout 0.
        Some(d) => d.as_micros().div_ceil(1000).min(c_int::MAX as u128) as c_int,
    };
    loop {
        // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs for
        // the duration of the call; poll only writes their `revents`.
        let n = unsafe { poll(pfds.as_mut_ptr(), pfds.len(), ms) };
        if n >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(pfds.iter().map(|p| p.revents & (p.events | flags::ERR) != 0).collect())
}

/// Waits for one descriptor; `Ok(false)` on timeout.
pub fn wait_one(fd: RawFd, interest: Interest, timeout: Option<Duration>) -> io::Result<bool> {
    Ok(wait(&[(fd, interest)], timeout)?[0])
}

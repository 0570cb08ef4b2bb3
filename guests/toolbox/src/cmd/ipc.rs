//! `ipc` and `ipcs`: the pod's message queues from the shell (wasmpod's
//! pod IPC, see the `wasmpod-ipc` crate). Like POSIX queues, a queue is
//! created by the first `send` or `recv` that names it and shared by every
//! container of the pod.
//!
//! ```text
//! ipc send [-c CAPACITY] [-s MAXSIZE] [-t SECONDS] QUEUE MESSAGE
//! ipc recv [-t SECONDS | --timeout SECONDS] QUEUE     prints the message
//! ipc stat QUEUE                                      depth, bytes, shape (never creates)
//! ipcs                                                the pod's queues and segments
//! ```
//!
//! Without `-t`, `send` waits while the queue is full and `recv` while it
//! is empty; `-t 0` does not wait. Errors (including a timeout) exit 1.

use crate::io::Io;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub fn ipc(argv: &[String], io: &mut Io) -> i32 {
    imp::ipc(argv, io)
}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub fn ipcs(argv: &[String], io: &mut Io) -> i32 {
    imp::ipcs(argv, io)
}

// Natively built (the toolbox's own unit tests) there is no pod to talk to.
#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
pub fn ipc(argv: &[String], io: &mut Io) -> i32 {
    io.err(&super::prog(argv), "pod IPC exists only inside a wasmpod pod");
    1
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
pub fn ipcs(argv: &[String], io: &mut Io) -> i32 {
    ipc(argv, io)
}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod imp {
    use std::io::Write;
    use std::time::Duration;

    use wasmpod_ipc::{Error, ObjectKind, Queue, QueueConfig};

    use super::super::parse_or_usage;
    use crate::io::Io;

    const USAGE: &str = "usage: ipc send [-c CAPACITY] [-s MAXSIZE] [-t SECONDS] QUEUE MESSAGE | ipc recv [-t SECONDS] QUEUE | ipc stat QUEUE";

    pub fn ipc(argv: &[String], io: &mut Io) -> i32 {
        let Some(sub) = argv.get(1) else {
            io.err("ipc", USAGE);
            return 1;
        };
        // `--timeout S` / `--timeout=S` are spelled out in docs and scripts;
        // getopt knows the short form.
        let mut args = vec![format!("ipc {sub}")];
        let mut rest = argv[2..].iter();
        while let Some(a) = rest.next() {
            if a == "--timeout" {
                args.push("-t".into());
                args.extend(rest.next().cloned());
            } else if let Some(v) = a.strip_prefix("--timeout=") {
                args.push(format!("-t{v}"));
            } else {
                args.push(a.clone());
            }
        }
        let Some(opts) = parse_or_usage(&args, "c:s:t:", true, io) else { return 1 };
        let timeout = match opts.val('t').map(|t| t.parse::<f64>()) {
            None => None,
            Some(Ok(s)) if s >= 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s)),
            Some(_) => {
                io.err("ipc", format_args!("invalid timeout '{}'", opts.val('t').unwrap_or_default()));
                return 1;
            }
        };
        let mut config = QueueConfig::default();
        for (flag, field) in [('c', &mut config.capacity), ('s', &mut config.max_message_size)] {
            if let Some(v) = opts.val(flag) {
                match v.parse() {
                    Ok(n) => *field = n,
                    Err(_) => {
                        io.err("ipc", format_args!("invalid number '{v}'"));
                        return 1;
                    }
                }
            }
        }
        let want = if sub == "send" { 2 } else { 1 };
        if !matches!(sub.as_str(), "send" | "recv" | "stat") || opts.operands.len() != want {
            io.err("ipc", USAGE);
            return 1;
        }
        let name = &opts.operands[0];
        let fail = |io: &mut Io, e: Error| {
            io.err("ipc", format_args!("{sub} {name}: {e}"));
            1
        };
        let q = if sub == "stat" { Queue::open(name) } else { Queue::open_or_create(name, config) };
        let q = match q {
            Ok(q) => q,
            Err(e) => return fail(io, e),
        };
        // Whatever the script printed must be visible while we block.
        let _ = io.stdout.flush();
        let r = match sub.as_str() {
            "send" => {
                let msg = opts.operands[1].as_bytes();
                match timeout {
                    None => q.send(msg),
                    Some(t) if t.is_zero() => q.try_send(msg),
                    Some(t) => q.send_timeout(msg, t),
                }
            }
            "recv" => {
                let got = match timeout {
                    None => q.receive(),
                    Some(t) if t.is_zero() => q.try_receive(),
                    Some(t) => q.receive_timeout(t),
                };
                got.map(|m| {
                    io.out(&m);
                    io.out(b"\n");
                })
            }
            _ => {
                let s = q.status();
                io.outs(&format!(
                    "{} depth {} bytes {} capacity {} max-message-size {}\n",
                    q.name(),
                    s.depth,
                    s.bytes,
                    s.config.capacity,
                    s.config.max_message_size
                ));
                Ok(())
            }
        };
        match r {
            Ok(()) => 0,
            Err(e) => fail(io, e),
        }
    }

    /// Lists the pod's objects, in the spirit of `ipcs` and `ls /dev/mqueue`.
    pub fn ipcs(_argv: &[String], io: &mut Io) -> i32 {
        let mut out = String::from("KIND     NAME                 BYTES      DEPTH  CAPACITY  MAX-MSG\n");
        for o in wasmpod_ipc::objects() {
            match o.kind {
                ObjectKind::Queue => out += &format!("queue    {:<20} {:<10} {:<6} {:<9} {}\n", o.name, o.bytes, o.depth, o.capacity, o.max_message_size),
                ObjectKind::Segment => out += &format!("segment  {:<20} {:<10} {:<6} {:<9} {}\n", o.name, o.bytes, "-", "-", "-"),
            }
        }
        io.outs(&out);
        0
    }
}

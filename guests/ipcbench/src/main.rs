//! The guest side of the IPC benchmark (`cargo bench --bench ipc`) and of
//! the IPC integration tests: the hot loop runs inside the container, and
//! the result is one line on stdout:
//! `result <mode> <size> <count> <nanoseconds>`.
//!
//! ```text
//! ipcbench send QUEUE SIZE COUNT BATCH     send COUNT numbered messages of SIZE bytes
//! ipcbench recv QUEUE SIZE COUNT BATCH     receive them, checking order and size
//! ipcbench ping REQ REPLY SIZE COUNT       round trips: send on REQ, wait for the reply
//! ipcbench pong REQ REPLY SIZE COUNT       echo every message from REQ to REPLY
//! ipcbench atomics SEGMENT COUNT           COUNT fetch-adds on word 0, then check the total
//! ```
//!
//! Every mode first meets its peer at a barrier on the segment `barrier`
//! (fetch-add, then wait/notify), so instantiation is not timed. BATCH 1
//! uses one call per message; more uses `send_batch`/`receive_batch`.

use std::process::ExitCode;
use std::time::Instant;

use wasmpod_ipc::{Batch, Error, Queue, QueueConfig, Segment};

/// Queue shape for the benchmark: deep enough to batch, messages up to 64 KiB.
const CONFIG: QueueConfig = QueueConfig { capacity: 1024, max_message_size: 64 << 10 };

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> u64 { args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| usage()) };
    let r = match args.first().map(String::as_str) {
        Some("send") => send(&args[1], num(2) as usize, num(3), num(4) as u32),
        Some("recv") => recv(&args[1], num(2) as usize, num(3), num(4) as u32),
        Some("ping") => ping(&args[1], &args[2], num(3) as usize, num(4), true),
        Some("pong") => ping(&args[1], &args[2], num(3) as usize, num(4), false),
        Some("atomics") => atomics(&args[1], num(2)),
        _ => usage(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipcbench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: ipcbench send|recv QUEUE SIZE COUNT BATCH | ping|pong REQ REPLY SIZE COUNT | atomics SEGMENT COUNT");
    std::process::exit(2)
}

fn fail(what: String) -> Error {
    eprintln!("ipcbench: {what}");
    std::process::exit(1)
}

/// Waits until both containers of the benchmark arrived.
fn barrier() -> Result<(), Error> {
    let seg = Segment::open_or_create("barrier", 8)?;
    if seg.fetch_add(0, 1)? + 1 >= 2 {
        seg.notify(0, u32::MAX)?;
        return Ok(());
    }
    loop {
        let v = seg.load(0)?;
        if v >= 2 {
            return Ok(());
        }
        seg.wait(0, v, None)?;
    }
}

/// Message `i` of SIZE bytes: its number in the first bytes.
fn fill(buf: &mut [u8], i: u64) {
    let n = buf.len().min(8);
    buf[..n].copy_from_slice(&i.to_le_bytes()[..n]);
}

fn check(msg: &[u8], size: usize, i: u64) {
    let mut want = vec![0u8; size.min(8)];
    fill(&mut want, i);
    if msg.len() != size || msg[..size.min(8)] != want[..] {
        fail(format!("message {i}: got {} bytes starting {:?}, want {size} starting {want:?}", msg.len(), &msg[..msg.len().min(8)]));
    }
}

fn report(mode: &str, size: usize, count: u64, started: Instant) {
    println!("result {mode} {size} {count} {}", started.elapsed().as_nanos());
}

fn send(queue: &str, size: usize, count: u64, batch_size: u32) -> Result<(), Error> {
    let q = Queue::open_or_create(queue, CONFIG)?;
    barrier()?;
    let started = Instant::now();
    let mut msg = vec![0u8; size];
    if batch_size <= 1 {
        for i in 0..count {
            fill(&mut msg, i);
            q.send(&msg)?;
        }
    } else {
        let mut batch = Batch::new();
        let mut i = 0;
        while i < count {
            for _ in 0..batch_size.min((count - i) as u32) {
                fill(&mut msg, i);
                batch.push(&msg);
                i += 1;
            }
            q.send_batch(&mut batch, None)?;
        }
    }
    report("send", size, count, started);
    Ok(())
}

fn recv(queue: &str, size: usize, count: u64, batch_size: u32) -> Result<(), Error> {
    let q = Queue::open_or_create(queue, CONFIG)?;
    barrier()?;
    let started = Instant::now();
    if batch_size <= 1 {
        for i in 0..count {
            check(&q.receive()?, size, i);
        }
    } else {
        let mut batch = Batch::new();
        let mut i = 0;
        while i < count {
            q.receive_batch(&mut batch, batch_size, None)?;
            for m in batch.iter() {
                check(m, size, i);
                i += 1;
            }
        }
    }
    report("recv", size, count, started);
    Ok(())
}

fn ping(req: &str, reply: &str, size: usize, count: u64, initiator: bool) -> Result<(), Error> {
    let (rq, pq) = (Queue::open_or_create(req, CONFIG)?, Queue::open_or_create(reply, CONFIG)?);
    barrier()?;
    let started = Instant::now();
    let mut msg = vec![0u8; size];
    for i in 0..count {
        if initiator {
            fill(&mut msg, i);
            rq.send(&msg)?;
            check(&pq.receive()?, size, i);
        } else {
            let m = rq.receive()?;
            check(&m, size, i);
            pq.send(&m)?;
        }
    }
    report(if initiator { "ping" } else { "pong" }, size, count, started);
    Ok(())
}

fn atomics(segment: &str, count: u64) -> Result<(), Error> {
    let seg = Segment::open_or_create(segment, 16)?;
    barrier()?;
    let started = Instant::now();
    for _ in 0..count {
        seg.fetch_add(0, 1)?;
    }
    report("atomics", 8, count, started);
    // The last one to finish sees both containers' adds.
    if seg.fetch_add(8, 1)? == 1 {
        let total = seg.load(0)?;
        if total != 2 * count {
            fail(format!("lost updates: {total} after 2 x {count} fetch-adds"));
        }
        println!("total {total}");
    }
    Ok(())
}

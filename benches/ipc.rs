//! Pod IPC benchmark: message rate and latency between two containers of
//! one pod (1 B, 1 KiB, 64 KiB messages, one call per message and
//! batched), and atomic fetch-adds per second on a shared segment, printed
//! beside the same exchange between two native threads over a channel
//! and, on Linux, between two processes over POSIX message queues.
//!
//! ```text
//! cargo bench --bench ipc            # all of it (a few tens of seconds)
//! ```
//!
//! The hot loops run inside the guests (`guests/ipcbench`), which time
//! themselves after meeting at a barrier, so instantiation is not counted.
//! Figures are printed, never asserted.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use wasmpod::{LogTap, Runtime, RuntimeConfig, Stream, Validation, manifest};

/// The guest's `result <mode> <size> <count> <ns>` lines.
#[derive(Default)]
struct Results(Mutex<Vec<(String, String)>>);

impl LogTap for Results {
    fn line(&self, pod: &str, _container: &str, stream: Stream, text: &str) {
        match stream {
            Stream::Stdout if text.starts_with("result ") => self.0.lock().unwrap().push((pod.to_owned(), text.to_owned())),
            Stream::Stderr => eprintln!("{pod}: {text}"),
            _ => {}
        }
    }
}

struct Bench {
    runtime: Runtime,
    results: Arc<Results>,
    seq: usize,
    _dir: tempfile::TempDir,
}

impl Bench {
    /// Runs a pod of two ipcbench containers; returns each one's nanoseconds.
    async fn pod(&mut self, a: &[&str], b: &[&str]) -> (f64, f64) {
        self.seq += 1;
        let name = format!("bench-{}", self.seq);
        let image = Path::new(wasmpod::testing::GUESTS_DIR).join("ipcbench.wasm");
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: a\n    image: {img}\n    args: {a:?}\n  - name: b\n    image: {img}\n    args: {b:?}\n",
            img = image.display()
        );
        let m = manifest::load_str(&yaml, "bench.yaml", Validation::Strict).unwrap();
        let mut plans = self.runtime.plan(&m, Path::new(".")).await.unwrap();
        let out = self.runtime.start(plans.remove(0)).unwrap().wait().await;
        assert_eq!(out.phase().to_string(), "Succeeded", "benchmark pod {name} failed");
        let key = format!("default/{name}");
        let lines: Vec<f64> =
            self.results.0.lock().unwrap().iter().filter(|(p, _)| *p == key).map(|(_, l)| l.rsplit(' ').next().unwrap().parse().unwrap()).collect();
        assert_eq!(lines.len(), 2, "both containers report");
        (lines[0], lines[1])
    }
}

fn rate(count: u64, ns: f64) -> String {
    let per_s = count as f64 / (ns / 1e9);
    if per_s >= 1e6 { format!("{:.2} M/s", per_s / 1e6) } else { format!("{:.0} k/s", per_s / 1e3) }
}

fn mib_s(count: u64, size: usize, ns: f64) -> String {
    format!("{:.0} MiB/s", (count as f64 * size as f64) / (1 << 20) as f64 / (ns / 1e9))
}

fn micros(ns: f64) -> String {
    format!("{:.2} us", ns / 1e3)
}

fn size_name(size: usize) -> &'static str {
    match size {
        1 => "1 B",
        1024 => "1 KiB",
        _ => "64 KiB",
    }
}

const SIZES: [usize; 3] = [1, 1024, 65536];

fn count_for(size: usize, batched: bool) -> u64 {
    match (size, batched) {
        (1, true) => 4_000_000,
        (1, false) => 400_000,
        (1024, true) => 1_000_000,
        (1024, false) => 300_000,
        _ => 20_000,
    }
}

fn main() {
    if let Some(role) = std::env::var_os(posix::CHILD_ENV) {
        posix::child(role.to_str().unwrap());
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let results = Arc::new(Results::default());
    let mut config = RuntimeConfig::new(dir.path().join("state"));
    config.compile_cache = Some(dir.path().join("cache"));
    config.tap = Some(results.clone());
    let runtime = rt.block_on(async { Runtime::new(config) }).unwrap();
    let mut bench = Bench { runtime, results, seq: 0, _dir: dir };
    println!("wasmpod pod IPC benchmark (wasmtime {}, {} CPUs)\n", wasmpod::WASMTIME_VERSION, std::thread::available_parallelism().map_or(1, |n| n.get()));

    println!("Throughput, producer -> consumer (rate measured by the consumer)");
    println!("{:<8} {:<26} {:>12} {:>12}", "size", "path", "messages/s", "bandwidth");
    for size in SIZES {
        let s = size.to_string();
        for (label, batch) in [("pod containers, 1/call", "1"), ("pod containers, batched", if size == 65536 { "16" } else { "256" })] {
            let count = count_for(size, batch != "1");
            let c = count.to_string();
            let (_, ns) = rt.block_on(bench.pod(&["send", "q", &s, &c, batch], &["recv", "q", &s, &c, batch]));
            println!("{:<8} {:<26} {:>12} {:>12}", size_name(size), label, rate(count, ns), mib_s(count, size, ns));
        }
        let count = count_for(size, false);
        let ns = native::throughput(size, count);
        println!("{:<8} {:<26} {:>12} {:>12}", size_name(size), "native threads, channel", rate(count, ns), mib_s(count, size, ns));
        match posix::throughput(size, count) {
            Some(ns) => println!("{:<8} {:<26} {:>12} {:>12}", size_name(size), "processes, POSIX mq", rate(count, ns), mib_s(count, size, ns)),
            None => println!("{:<8} {:<26} {:>12}", size_name(size), "processes, POSIX mq", "n/a"),
        }
    }

    println!("\nLatency, ping-pong over two queues (round trip / 2)");
    println!("{:<8} {:<26} {:>12}", "size", "path", "one way");
    for size in SIZES {
        let count: u64 = if size == 65536 { 5_000 } else { 50_000 };
        let (s, c) = (size.to_string(), count.to_string());
        let (ns, _) = rt.block_on(bench.pod(&["ping", "req", "rep", &s, &c], &["pong", "req", "rep", &s, &c]));
        println!("{:<8} {:<26} {:>12}", size_name(size), "pod containers", micros(ns / count as f64 / 2.0));
        let ns = native::ping_pong(size, count);
        println!("{:<8} {:<26} {:>12}", size_name(size), "native threads, channel", micros(ns / count as f64 / 2.0));
        match posix::ping_pong(size, count) {
            Some(ns) => println!("{:<8} {:<26} {:>12}", size_name(size), "processes, POSIX mq", micros(ns / count as f64 / 2.0)),
            None => println!("{:<8} {:<26} {:>12}", size_name(size), "processes, POSIX mq", "n/a"),
        }
    }

    println!("\nAtomic fetch-add on one shared word, two contenders");
    let count: u64 = 5_000_000;
    let c = count.to_string();
    let (a, b) = rt.block_on(bench.pod(&["atomics", "counter", &c], &["atomics", "counter", &c]));
    println!("{:<34} {:>12}", "pod containers (segment)", rate(2 * count, a.max(b)));
    println!("{:<34} {:>12}", "native threads (AtomicU64)", rate(2 * count, native::atomics(count)));
}

mod native {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc::sync_channel;

    /// Two threads over a bounded std channel of the pod queue's depth.
    pub fn throughput(size: usize, count: u64) -> f64 {
        let (tx, rx) = sync_channel::<Vec<u8>>(1024);
        let consumer = std::thread::spawn(move || {
            let started = Instant::now();
            for _ in 0..count {
                std::hint::black_box(rx.recv().unwrap());
            }
            started.elapsed()
        });
        for i in 0..count {
            let mut m = vec![0u8; size];
            m[0] = i as u8;
            tx.send(m).unwrap();
        }
        consumer.join().unwrap().as_nanos() as f64
    }

    pub fn ping_pong(size: usize, count: u64) -> f64 {
        let (req_tx, req_rx) = sync_channel::<Vec<u8>>(1);
        let (rep_tx, rep_rx) = sync_channel::<Vec<u8>>(1);
        let echo = std::thread::spawn(move || {
            for _ in 0..count {
                rep_tx.send(req_rx.recv().unwrap()).unwrap();
            }
        });
        let started = Instant::now();
        for _ in 0..count {
            req_tx.send(vec![0u8; size]).unwrap();
            std::hint::black_box(rep_rx.recv().unwrap());
        }
        let ns = started.elapsed().as_nanos() as f64;
        echo.join().unwrap();
        ns
    }

    pub fn atomics(count: u64) -> f64 {
        let word = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let w = word.clone();
                std::thread::spawn(move || {
                    for _ in 0..count {
                        w.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(word.load(Ordering::SeqCst), 2 * count);
        started.elapsed().as_nanos() as f64
    }
}

/// POSIX message queues between this process and a child (this same
/// binary, re-executed with a role in `CHILD_ENV`).
mod posix {
    #[cfg(target_os = "linux")]
    use super::*;

    pub const CHILD_ENV: &str = "WASMPOD_BENCH_MQ_CHILD";

    #[cfg(not(target_os = "linux"))]
    pub fn throughput(_: usize, _: u64) -> Option<f64> {
        None
    }
    #[cfg(not(target_os = "linux"))]
    pub fn ping_pong(_: usize, _: u64) -> Option<f64> {
        None
    }
    #[cfg(not(target_os = "linux"))]
    pub fn child(_: &str) {}

    #[cfg(target_os = "linux")]
    fn open(name: &str, size: usize, create: bool) -> Option<libc::mqd_t> {
        let cname = std::ffi::CString::new(name).unwrap();
        // Capacity as the pod queue's (1024); a kernel without the
        // privilege to exceed fs.mqueue.msg_max gets its maximum.
        let msg_max: i64 = std::fs::read_to_string("/proc/sys/fs/mqueue/msg_max").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(10);
        for maxmsg in [1024, msg_max] {
            let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
            attr.mq_maxmsg = maxmsg;
            attr.mq_msgsize = size as i64;
            let flags = libc::O_RDWR | if create { libc::O_CREAT } else { 0 };
            // SAFETY: a valid C string and attribute struct.
            let q = unsafe { libc::mq_open(cname.as_ptr(), flags, 0o600 as libc::mode_t, &mut attr as *mut libc::mq_attr) };
            if q != -1 {
                return Some(q);
            }
        }
        None
    }

    #[cfg(target_os = "linux")]
    fn unlink(name: &str) {
        let cname = std::ffi::CString::new(name).unwrap();
        // SAFETY: a valid C string.
        unsafe { libc::mq_unlink(cname.as_ptr()) };
    }

    #[cfg(target_os = "linux")]
    fn send(q: libc::mqd_t, buf: &[u8]) {
        // SAFETY: buf is valid for its length.
        let r = unsafe { libc::mq_send(q, buf.as_ptr().cast(), buf.len(), 0) };
        assert_eq!(r, 0, "mq_send: {}", std::io::Error::last_os_error());
    }

    #[cfg(target_os = "linux")]
    fn recv(q: libc::mqd_t, buf: &mut [u8]) -> usize {
        // SAFETY: buf is valid for its length, which is the queue's msgsize.
        let n = unsafe { libc::mq_receive(q, buf.as_mut_ptr().cast(), buf.len(), std::ptr::null_mut()) };
        assert!(n >= 0, "mq_receive: {}", std::io::Error::last_os_error());
        n as usize
    }

    #[cfg(target_os = "linux")]
    fn names() -> (String, String) {
        let pid = std::process::id();
        (format!("/wasmpod-bench-{pid}-a"), format!("/wasmpod-bench-{pid}-b"))
    }

    /// The child: `recv SIZE COUNT A` or `echo SIZE COUNT A B`.
    #[cfg(target_os = "linux")]
    pub fn child(role: &str) {
        let parts: Vec<&str> = role.split(' ').collect();
        let (size, count): (usize, u64) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
        let a = open(parts[3], size, false).expect("child opens the queue");
        let mut buf = vec![0u8; size];
        match parts[0] {
            "recv" => {
                for _ in 0..count {
                    recv(a, &mut buf);
                }
            }
            _ => {
                let b = open(parts[4], size, false).expect("child opens the reply queue");
                for _ in 0..count {
                    let n = recv(a, &mut buf);
                    send(b, &buf[..n]);
                }
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn spawn(role: String) -> std::process::Child {
        std::process::Command::new(std::env::current_exe().unwrap()).env(CHILD_ENV, role).spawn().unwrap()
    }

    /// Parent sends, child receives; timed from the first send to the
    /// child's exit after its last receive.
    #[cfg(target_os = "linux")]
    pub fn throughput(size: usize, count: u64) -> Option<f64> {
        let (a, _) = names();
        let q = open(&a, size, true)?;
        let mut child = spawn(format!("recv {size} {count} {a}"));
        let buf = vec![0u8; size];
        let started = Instant::now();
        for _ in 0..count {
            send(q, &buf);
        }
        assert!(child.wait().unwrap().success());
        let ns = started.elapsed().as_nanos() as f64;
        unlink(&a);
        Some(ns)
    }

    #[cfg(target_os = "linux")]
    pub fn ping_pong(size: usize, count: u64) -> Option<f64> {
        let (a, b) = names();
        let (qa, qb) = (open(&a, size, true)?, open(&b, size, true)?);
        let mut child = spawn(format!("echo {size} {count} {a} {b}"));
        let mut buf = vec![0u8; size];
        // One warm-up exchange so the child's start-up is not timed.
        send(qa, &buf);
        recv(qb, &mut buf);
        let started = Instant::now();
        for _ in 1..count {
            send(qa, &buf[..size]);
            recv(qb, &mut buf);
        }
        let ns = started.elapsed().as_nanos() as f64 * count as f64 / (count - 1) as f64;
        assert!(child.wait().unwrap().success());
        unlink(&a);
        unlink(&b);
        Some(ns)
    }
}

//! A test guest that tries to leave its sandbox. Each step makes one attempt
//! and prints exactly one line:
//!
//! ```text
//! BLOCKED <attempt>: <how it failed>
//! ESCAPED <attempt>: <what it got>
//! ```
//!
//! ESCAPED is printed only when the guest really read, wrote, connected or
//! allocated beyond what it was granted: reads are checked against a marker
//! the test planted outside the sandbox, writes by looking at the result,
//! connections by the reply of the host's or the other pod's service. An
//! operation that merely returned Ok without an effect is BLOCKED.
//!
//! ```text
//! files
//!   dotdot MOUNT FILE MARKER        read MOUNT/../../..(x16)/FILE
//!   absolute PATH MARKER            read PATH as given
//!   symlink-abs MOUNT FILE MARKER   make MOUNT/link-abs -> FILE (absolute), read through it
//!   symlink-up MOUNT FILE MARKER    make MOUNT/link-up -> ../..(x16), read MOUNT/link-up/FILE
//!   hardlink MOUNT FILE MARKER      hard-link MOUNT/../..FILE (and FILE) to MOUNT/hard, read it
//!   owner MOUNT FILE                ask wasmpod:identity for the owner of MOUNT/owner-up/FILE
//!                                   (owner-up -> ../..(x16)): the runtime must not look it up
//! a read-only mount (FILE is an existing file in it)
//!   ro-create MOUNT | ro-mkdir MOUNT | ro-symlink MOUNT
//!   ro-append FILE | ro-truncate FILE | ro-unlink FILE | ro-chmod FILE | ro-set-times FILE
//!   ro-rename FILE MOUNT | ro-hardlink FILE MOUNT
//! network (MARKER: what the host's service sends first)
//!   tcp ADDR MARKER                 connect to ADDR (host:port), read the first line
//!   udp ADDR MARKER                 send a datagram to ADDR, wait 1 s for a reply
//!   http ADDR MARKER                GET http://ADDR/ through wasi:http
//!   pod-localhost PORT              connect to 127.0.0.1:PORT, where only another pod listens
//! IPC and environment
//!   ipc-queue NAME | ipc-segment NAME | ipc-list NAME   another pod's objects
//!   env NAME VALUE                  the host's variable, by name or value
//! exhaustion
//!   memory LIMIT_MIB                allocate and touch 1 MiB blocks until refused
//!   cpu                             spin forever
//!   files-open MOUNT                open files until refused, then hold them
//!   sockets                         open TCP sockets until refused, then hold them
//!   stdout                          print 100-byte lines forever
//! helpers (no attempt: they print READY lines)
//!   plant-ipc QUEUE SEGMENT         create a queue holding a message and a segment
//!   hold                            sleep forever
//! ```
//!
//! Steps separated by `--` run in order. An unknown step prints
//! `UNKNOWN <step>: ...` and ends the run with exit code 1.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

mod identity {
    wit_bindgen::generate!({ path: "../../wit/identity", world: "identity-user" });
    pub use wasmpod::identity::identity::owner;
}

/// How one attempt ended.
enum Outcome {
    Blocked(String),
    Escaped(String),
}
use Outcome::{Blocked, Escaped};

/// `..` components enough to climb out of any state directory.
const UP: usize = 16;

/// Opened files or sockets are counted up to this many; reaching it means
/// nothing stopped the guest.
const CEILING: usize = 200_000;

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    for step in all.split(|a| a == "--") {
        if !step.is_empty() {
            run(step);
        }
    }
}

fn report(attempt: &str, outcome: Outcome) {
    match outcome {
        Blocked(how) => println!("BLOCKED {attempt}: {how}"),
        Escaped(what) => println!("ESCAPED {attempt}: {what}"),
    }
    let _ = std::io::stdout().flush();
}

fn run(args: &[String]) {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    let step = arg(0);
    let outcome = match step {
        "dotdot" => read_marker(&format!("{}/{}{}", arg(1), "../".repeat(UP), relative(arg(2))), arg(3)),
        "absolute" => read_marker(arg(1), arg(2)),
        "symlink-abs" => symlink_abs(arg(1), arg(2), arg(3)),
        "symlink-up" => symlink_up(arg(1), arg(2), arg(3)),
        "hardlink" => hardlink(arg(1), arg(2), arg(3)),
        "owner" => owner(arg(1), arg(2)),
        "ro-create" => ro_create(arg(1)),
        "ro-mkdir" => ro_mkdir(arg(1)),
        "ro-symlink" => ro_symlink(arg(1)),
        "ro-append" => ro_append(arg(1)),
        "ro-truncate" => ro_truncate(arg(1)),
        "ro-unlink" => ro_unlink(arg(1)),
        "ro-chmod" => ro_chmod(arg(1)),
        "ro-set-times" => ro_set_times(arg(1)),
        "ro-rename" => ro_rename(arg(1), arg(2)),
        "ro-hardlink" => ro_hardlink(arg(1), arg(2)),
        "tcp" => tcp(arg(1), arg(2)),
        "udp" => udp(arg(1), arg(2)),
        "http" => http(arg(1), arg(2)),
        "pod-localhost" => pod_localhost(arg(1)),
        "ipc-queue" => ipc_queue(arg(1)),
        "ipc-segment" => ipc_segment(arg(1)),
        "ipc-list" => ipc_list(arg(1)),
        "env" => env(arg(1), arg(2)),
        "memory" => memory(arg(1).parse().unwrap_or(64)),
        "cpu" => cpu(),
        "files-open" => files_open(arg(1)),
        "sockets" => sockets(),
        "stdout" => stdout(),
        "plant-ipc" => plant_ipc(arg(1), arg(2)),
        "hold" => hold(()),
        // Not an attempt: a misspelt step must fail the run, not pass as
        // BLOCKED.
        other => unknown_step(other),
    };
    let attempt = match step {
        "absolute" | "tcp" | "udp" | "http" => format!("{step} {}", arg(1)),
        "dotdot" | "symlink-abs" | "symlink-up" | "hardlink" | "owner" => format!("{step} from {}", arg(1)),
        _ => step.to_owned(),
    };
    report(&attempt, outcome);
}

/// Prints `UNKNOWN <step>` (neither verdict) and ends the run as failed
/// (a wasip2 exit carries only success or failure: code 1); the steps
/// after it do not run.
fn unknown_step(step: &str) -> ! {
    println!("UNKNOWN {step:?}: not a step of the escape guest");
    let _ = std::io::stdout().flush();
    eprintln!("escape: unknown step {step:?}");
    std::process::exit(1)
}

fn relative(path: &str) -> &str {
    path.trim_start_matches('/')
}

fn why(e: std::io::Error) -> String {
    format!("{:?} ({e})", e.kind())
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Reads `path`: ESCAPED only if what it read holds the host's marker.
fn read_marker(path: &str, marker: &str) -> Outcome {
    match fs::read(path) {
        Ok(bytes) if contains(&bytes, marker) => Escaped(format!("read {path}: {} bytes with the host's marker", bytes.len())),
        Ok(bytes) => Blocked(format!("{path} is the sandbox's own file ({} bytes, no host marker)", bytes.len())),
        Err(e) => Blocked(format!("read {path}: {}", why(e))),
    }
}

/// Creates a symbolic link. Rust's `std::os::wasi::fs::symlink_path` is
/// unstable, so this calls wasi-libc's `symlink`, which resolves `link`
/// against the preopens as every other path call does.
fn symlink(target: &str, link: &str) -> std::io::Result<()> {
    use std::ffi::{CString, c_char, c_int};
    unsafe extern "C" {
        fn symlink(target: *const c_char, link: *const c_char) -> c_int;
    }
    let nul = |_| std::io::Error::from(std::io::ErrorKind::InvalidInput);
    let (t, l) = (CString::new(target).map_err(nul)?, CString::new(link).map_err(nul)?);
    // SAFETY: both pointers are NUL-terminated strings that outlive the call.
    if unsafe { symlink(t.as_ptr(), l.as_ptr()) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Makes `link` pointing at `target`, unless an earlier run left it.
fn plant(target: &str, link: &str) -> std::io::Result<()> {
    match fs::read_link(link) {
        Ok(t) if t == Path::new(target) => Ok(()),
        _ => {
            let _ = fs::remove_file(link);
            symlink(target, link)
        }
    }
}

fn symlink_abs(mount: &str, file: &str, marker: &str) -> Outcome {
    let link = format!("{mount}/link-abs");
    if let Err(e) = plant(file, &link) {
        return Blocked(format!("symlink {link} -> {file}: {}", why(e)));
    }
    match read_marker(&link, marker) {
        Escaped(what) => Escaped(format!("through {link} -> {file}: {what}")),
        Blocked(how) => Blocked(format!("the link was made, but {how}")),
    }
}

fn symlink_up(mount: &str, file: &str, marker: &str) -> Outcome {
    let link = format!("{mount}/link-up");
    let target = "../".repeat(UP);
    let target = target.trim_end_matches('/');
    if let Err(e) = plant(target, &link) {
        return Blocked(format!("symlink {link} -> {target}: {}", why(e)));
    }
    match read_marker(&format!("{link}/{}", relative(file)), marker) {
        Escaped(what) => Escaped(what),
        Blocked(how) => Blocked(format!("the link was made, but {how}")),
    }
}

fn hardlink(mount: &str, file: &str, marker: &str) -> Outcome {
    let dest = format!("{mount}/hard");
    let _ = fs::remove_file(&dest);
    let up = format!("{mount}/{}{}", "../".repeat(UP), relative(file));
    let mut failures = Vec::new();
    for source in [up.as_str(), file] {
        match fs::hard_link(source, &dest) {
            Ok(()) => {
                return match read_marker(&dest, marker) {
                    Escaped(what) => Escaped(format!("hard link {dest} to {source}: {what}")),
                    Blocked(how) => Blocked(format!("linked {source} (a file of the sandbox), but {how}")),
                };
            }
            Err(e) => failures.push(format!("link {source}: {}", why(e))),
        }
    }
    Blocked(failures.join("; "))
}

/// The runtime answers `owner` from the host path beneath the mount; a
/// link planted in the volume must not make it look at (or, as root, chown)
/// a host file outside.
fn owner(mount: &str, file: &str) -> Outcome {
    let link = format!("{mount}/owner-up");
    let target = "../".repeat(UP);
    if let Err(e) = plant(target.trim_end_matches('/'), &link) {
        return Blocked(format!("symlink {link}: {}", why(e)));
    }
    let through = format!("{link}/{}", relative(file));
    let missing = format!("{through}.missing");
    match (identity::owner(&through), identity::owner(&missing)) {
        (Some((uid, gid)), None) => {
            let own = fs::symlink_metadata(&through).map(|_| "can".to_owned()).unwrap_or_else(why);
            Escaped(format!("the runtime looked up {through} on the host: owner {uid}:{gid}, a missing neighbour has none (the guest itself: {own})"))
        }
        (found, _) => Blocked(format!("owner of {through}: {found:?}")),
    }
}

fn ro_create(mount: &str) -> Outcome {
    let path = format!("{mount}/created");
    match File::create(&path) {
        Ok(_) if Path::new(&path).exists() => Escaped(format!("created {path}")),
        Ok(_) => Blocked(format!("create {path} returned Ok but no file appeared")),
        Err(e) => Blocked(format!("create {path}: {}", why(e))),
    }
}

fn ro_mkdir(mount: &str) -> Outcome {
    let path = format!("{mount}/made-dir");
    match fs::create_dir(&path) {
        Ok(()) if Path::new(&path).is_dir() => Escaped(format!("made {path}")),
        Ok(()) => Blocked(format!("mkdir {path} returned Ok but no directory appeared")),
        Err(e) => Blocked(format!("mkdir {path}: {}", why(e))),
    }
}

fn ro_symlink(mount: &str) -> Outcome {
    let path = format!("{mount}/made-link");
    match symlink("anything", &path) {
        Ok(()) if fs::symlink_metadata(&path).is_ok() => Escaped(format!("made link {path}")),
        Ok(()) => Blocked(format!("symlink {path} returned Ok but no link appeared")),
        Err(e) => Blocked(format!("symlink {path}: {}", why(e))),
    }
}

fn ro_append(file: &str) -> Outcome {
    let before = fs::read(file).unwrap_or_default();
    let written = OpenOptions::new().append(true).open(file).and_then(|mut f| f.write_all(b"appended"));
    match written {
        Ok(()) if fs::read(file).unwrap_or_default().len() > before.len() => Escaped(format!("appended to {file}")),
        Ok(()) => Blocked(format!("append to {file} returned Ok but the file did not grow")),
        Err(e) => Blocked(format!("append {file}: {}", why(e))),
    }
}

fn ro_truncate(file: &str) -> Outcome {
    let before = fs::read(file).unwrap_or_default();
    match OpenOptions::new().write(true).truncate(true).open(file) {
        Ok(_) if fs::read(file).unwrap_or_default() != before => Escaped(format!("truncated {file}")),
        Ok(_) => Blocked(format!("open {file} for truncation returned Ok but it is unchanged")),
        Err(e) => Blocked(format!("truncate {file}: {}", why(e))),
    }
}

fn ro_unlink(file: &str) -> Outcome {
    match fs::remove_file(file) {
        Ok(()) if !Path::new(file).exists() => Escaped(format!("removed {file}")),
        Ok(()) => Blocked(format!("remove {file} returned Ok but it is still there")),
        Err(e) => Blocked(format!("remove {file}: {}", why(e))),
    }
}

fn ro_chmod(file: &str) -> Outcome {
    let before = match fs::metadata(file) {
        Ok(m) => m.permissions(),
        Err(e) => return Blocked(format!("stat {file}: {}", why(e))),
    };
    let mut wanted = before.clone();
    wanted.set_readonly(!before.readonly());
    match fs::set_permissions(file, wanted) {
        Ok(()) if fs::metadata(file).map(|m| m.permissions().readonly()).ok() != Some(before.readonly()) => {
            Escaped(format!("changed the permissions of {file}"))
        }
        Ok(()) => Blocked(format!("set_permissions {file} returned Ok but nothing changed")),
        Err(e) => Blocked(format!("set_permissions {file}: {}", why(e))),
    }
}

fn ro_set_times(file: &str) -> Outcome {
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    match File::open(file).and_then(|f| f.set_modified(when)) {
        Ok(()) if fs::metadata(file).and_then(|m| m.modified()).ok() == Some(when) => Escaped(format!("set the mtime of {file}")),
        Ok(()) => Blocked(format!("set_modified {file} returned Ok but the time is unchanged")),
        Err(e) => Blocked(format!("set_modified {file}: {}", why(e))),
    }
}

fn ro_rename(file: &str, mount: &str) -> Outcome {
    let to = format!("{mount}/renamed");
    match fs::rename(file, &to) {
        Ok(()) if Path::new(&to).exists() => Escaped(format!("renamed {file} to {to}")),
        Ok(()) => Blocked(format!("rename {file} returned Ok but {to} does not exist")),
        Err(e) => Blocked(format!("rename {file} to {to}: {}", why(e))),
    }
}

fn ro_hardlink(file: &str, mount: &str) -> Outcome {
    let to = format!("{mount}/hard-linked");
    match fs::hard_link(file, &to) {
        Ok(()) if Path::new(&to).exists() => Escaped(format!("linked {file} as {to}")),
        Ok(()) => Blocked(format!("link {file} returned Ok but {to} does not exist")),
        Err(e) => Blocked(format!("link {file} to {to}: {}", why(e))),
    }
}

/// The host's services greet with their marker; anything else that answers
/// is inside the pod.
fn tcp(addr: &str, marker: &str) -> Outcome {
    let addrs: Vec<_> = match addr.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return Blocked(format!("resolve {addr}: {}", why(e))),
    };
    let stream = match TcpStream::connect(&addrs[..]) {
        Ok(s) => s,
        Err(e) => return Blocked(format!("connect {addr}: {}", why(e))),
    };
    let got = read_some(&stream);
    if contains(&got, marker) {
        Escaped(format!("connected to {addr} and read the host's marker"))
    } else {
        Blocked(format!("connected to {addr}, but not to the host's service (read {:?})", String::from_utf8_lossy(&got)))
    }
}

/// What a peer sends within 2 s, up to 4 KiB or its end.
fn read_some(mut stream: &TcpStream) -> Vec<u8> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < 4096 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

fn udp(addr: &str, marker: &str) -> Outcome {
    let to = match addr.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        Ok(None) => return Blocked(format!("resolve {addr}: no address")),
        Err(e) => return Blocked(format!("resolve {addr}: {}", why(e))),
    };
    let socket = match UdpSocket::bind(("0.0.0.0", 0)).and_then(|s| s.set_nonblocking(true).map(|()| s)) {
        Ok(s) => s,
        Err(e) => return Blocked(format!("bind: {}", why(e))),
    };
    if let Err(e) = socket.send_to(b"hello host", to) {
        return Blocked(format!("send to {addr}: {}", why(e)));
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if contains(&buf[..n], marker) => {
                return Escaped(format!("the host's service at {from} answered {:?}", String::from_utf8_lossy(&buf[..n])));
            }
            Ok((n, from)) => return Blocked(format!("{from} in the pod answered {:?}, not the host", String::from_utf8_lossy(&buf[..n]))),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Blocked(format!("receive: {}", why(e))),
        }
    }
    Blocked(format!("the datagram to {addr} stayed in the pod network: no reply in 1 s"))
}

/// An outgoing request through wasi:http (not sockets).
fn http(addr: &str, marker: &str) -> Outcome {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(addr));
    let _ = request.set_path_with_query(Some("/"));
    let Ok(body) = request.body() else { return Blocked("no request body".into()) };
    let response = match outgoing_handler::handle(request, None) {
        Ok(r) => r,
        Err(e) => return Blocked(format!("GET http://{addr}/: {e:?}")),
    };
    let _ = OutgoingBody::finish(body, None);
    response.subscribe().block();
    let response = match response.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(e))) => return Blocked(format!("GET http://{addr}/: {e:?}")),
        _ => return Blocked(format!("GET http://{addr}/: no response")),
    };
    let status = response.status();
    let mut text = Vec::new();
    if let Ok(body) = response.consume()
        && let Ok(stream) = body.stream()
    {
        while let Ok(chunk) = stream.blocking_read(64 * 1024) {
            text.extend_from_slice(&chunk);
        }
    }
    if contains(&text, marker) {
        Escaped(format!("GET http://{addr}/: {status} from the host's service"))
    } else {
        Blocked(format!("GET http://{addr}/: {status} from something in the pod network, not the host"))
    }
}

/// Another pod listens on 127.0.0.1:PORT of its own localhost; this pod has
/// no listener there.
fn pod_localhost(port: &str) -> Outcome {
    let addr = format!("127.0.0.1:{port}");
    let stream = match TcpStream::connect(&addr) {
        Ok(s) => s,
        Err(e) => return Blocked(format!("connect {addr}: {}", why(e))),
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = writeln!(&stream, "probe");
    let mut reply = String::new();
    let _ = BufReader::new(&stream).read_line(&mut reply);
    if reply.is_empty() {
        Blocked(format!("connected to {addr} but nothing answered"))
    } else {
        Escaped(format!("the other pod's listener at {addr} answered {:?}", reply.trim_end()))
    }
}

fn ipc_queue(name: &str) -> Outcome {
    match wasmpod_ipc::Queue::open(name) {
        Ok(q) => match q.try_receive() {
            Ok(m) => Escaped(format!("opened queue {name:?} and received {:?}", String::from_utf8_lossy(&m))),
            Err(e) => Escaped(format!("opened queue {name:?} ({e})")),
        },
        Err(e) => Blocked(format!("open queue {name:?}: {e}")),
    }
}

fn ipc_segment(name: &str) -> Outcome {
    match wasmpod_ipc::Segment::open(name) {
        Ok(s) => Escaped(format!("opened segment {name:?} of {} bytes: {:?}", s.size(), s.read(0, s.size().min(32)).unwrap_or_default())),
        Err(e) => Blocked(format!("open segment {name:?}: {e}")),
    }
}

fn ipc_list(name: &str) -> Outcome {
    let objects = wasmpod_ipc::objects();
    match objects.iter().find(|o| o.name == name) {
        Some(o) => Escaped(format!("the pod's objects list {:?} {name:?}", o.kind)),
        None => Blocked(format!("{} objects in this pod, none named {name:?}", objects.len())),
    }
}

fn env(name: &str, value: &str) -> Outcome {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    match vars.iter().find(|(k, v)| k == name || (!value.is_empty() && v.contains(value))) {
        Some((k, v)) => Escaped(format!("{k}={v}")),
        None => Blocked(format!("{} variables, none of them the host's {name}", vars.len())),
    }
}

/// For the other pod: objects the escaping pod must not see.
fn plant_ipc(queue: &str, segment: &str) -> ! {
    let q = wasmpod_ipc::Queue::open_or_create(queue, wasmpod_ipc::QueueConfig::default()).and_then(|q| q.send(b"the other pod's secret").map(|()| q));
    let s = wasmpod_ipc::Segment::open_or_create(segment, 4096).and_then(|s| s.write(0, b"the other pod's segment").map(|()| s));
    match (q, s) {
        (Ok(q), Ok(s)) => {
            println!("READY ipc: queue {queue:?} and segment {segment:?}");
            let _ = std::io::stdout().flush();
            hold((q, s))
        }
        (q, s) => {
            println!("FAILED ipc: {:?} {:?}", q.err(), s.err());
            std::process::exit(1)
        }
    }
}

/// Allocates and touches 1 MiB blocks. Under a memory limit the runtime
/// ends the instance (OOMKilled) before the allocator ever sees a failure,
/// so this line is printed only if allocation failed cleanly or went far
/// past the limit.
fn memory(limit_mib: usize) -> Outcome {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = Vec::new();
        if block.try_reserve_exact(1 << 20).is_err() {
            return Blocked(format!("allocation failed after {} MiB (limit {limit_mib} MiB)", blocks.len()));
        }
        block.resize(1 << 20, 0xa5);
        blocks.push(block);
        if blocks.len() > 2 * limit_mib + 16 {
            return Escaped(format!("allocated and touched {} MiB under a limit of {limit_mib} MiB", blocks.len()));
        }
    }
}

fn cpu() -> Outcome {
    let mut x: u64 = 1;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407));
    }
}

/// Opens one file again and again, keeping every handle, until an open
/// fails; then holds them all.
fn files_open(mount: &str) -> Outcome {
    let path = format!("{mount}/fd-target");
    if let Err(e) = fs::write(&path, b"x") {
        return Blocked(format!("cannot create {path}: {}", why(e)));
    }
    let mut held = Vec::new();
    let outcome = loop {
        if held.len() >= CEILING {
            break Escaped(format!("opened {} files and nothing stopped it", held.len()));
        }
        match File::open(&path) {
            Ok(f) => held.push(f),
            Err(e) => break Blocked(format!("open failed after {} open files: {}", held.len(), why(e))),
        }
    };
    report("files-open", outcome);
    hold(held)
}

/// Opens TCP sockets until refused: one listener, then connections to it,
/// each connected and accepted (two sockets per connection); holds them.
fn sockets() -> Outcome {
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => return Blocked(format!("bind: {}", why(e))),
    };
    let addr = listener.local_addr().expect("a bound listener has an address");
    let mut held: Vec<TcpStream> = Vec::new();
    let outcome = loop {
        let open = held.len() + 1;
        if open >= CEILING {
            break Escaped(format!("opened {open} sockets and nothing stopped it"));
        }
        match TcpStream::connect(addr) {
            Ok(s) => held.push(s),
            Err(e) => break Blocked(format!("connect failed with {open} sockets open: {}", why(e))),
        }
        match listener.accept() {
            Ok((s, _)) => held.push(s),
            Err(e) => break Blocked(format!("accept failed with {} sockets open: {}", held.len() + 1, why(e))),
        }
    };
    report("sockets", outcome);
    hold((listener, held))
}

fn stdout() -> Outcome {
    let mut out = std::io::stdout().lock();
    let pad = "x".repeat(80);
    for i in 0u64.. {
        if writeln!(out, "{i:>12} {pad}").is_err() {
            break;
        }
    }
    Blocked("stdout closed".into())
}

/// Keeps `what` alive until the container is stopped.
fn hold<T>(what: T) -> ! {
    let _keep = what;
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

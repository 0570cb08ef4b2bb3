//! Baselines measured in the same run: the same guest started as one OS
//! process per container (the way one-shim-per-container runtimes work),
//! a native process spawn, and the host peers of the loopback reference.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{BenchOptions, BenchReport, Lab, micros, percentile};
use crate::sandbox::Engine as WasmEngine;
use crate::sandbox::{SandboxSpec, StopSignal};

pub(super) async fn run(lab: &Lab, options: &BenchOptions, report: &mut BenchReport) -> anyhow::Result<()> {
    let exe = options.exe.clone();
    let cache = lab.compile_cache().to_owned();
    let samples = options.baseline_samples;
    let (shim, native) = tokio::task::spawn_blocking(move || -> anyhow::Result<(Duration, Duration)> {
        // The first shim finds the image in the compile cache already
        // (earlier scenarios put it there); one unmeasured run makes sure.
        shim_start(&exe, &cache)?;
        let mut shim = (0..samples).map(|_| shim_start(&exe, &cache)).collect::<anyhow::Result<Vec<_>>>()?;
        let mut native = (0..samples).map(|_| native_spawn()).collect::<anyhow::Result<Vec<_>>>()?;
        Ok((percentile(&mut shim, 50.0), percentile(&mut native, 50.0)))
    })
    .await??;
    report.push("process_per_container_start_p50_us", micros(shim), "us");
    report.push("native_spawn_p50_us", micros(native), "us");
    if let Some(cached) = report.get("container_start_cached_p50_us") {
        report.push("process_per_container_vs_in_process_start", micros(shim) / cached, "x");
    }
    report.notes.push(format!(
        "baselines: {samples} samples each; process per container = spawn `wasmpod __bench-shim` (engine set-up without a pool, compiled image from the disk cache, instantiate, run `echo started`) until its line arrives; native = spawn `true` until it exits"
    ));
    Ok(())
}

/// Spawn to first line of a shim process running `echo started`.
fn shim_start(exe: &Path, cache: &Path) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let mut child = Command::new(exe).arg("__bench-shim").arg(cache).args(["echo", "started"]).stdout(Stdio::piped()).spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let elapsed = t0.elapsed();
    let status = child.wait()?;
    anyhow::ensure!(line.trim_end() == "started" && status.success(), "the shim printed {line:?} and ended with {status}");
    Ok(elapsed)
}

fn native_spawn() -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let status = if cfg!(windows) { Command::new("cmd").args(["/C", "exit 0"]).status()? } else { Command::new("true").status()? };
    anyhow::ensure!(status.success(), "`true` ended with {status}");
    Ok(t0.elapsed())
}

/// `wasmpod __bench-shim CACHE_DIR ARGV...`: one container as its own OS
/// process, as a shim-per-container runtime runs it: set up an engine, load
/// the toolbox from the compile cache in CACHE_DIR, run ARGV with stdout
/// inherited. Returns the guest's exit code.
pub fn shim_main(cache: &Path, argv: Vec<String>) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let engine = Arc::new(WasmEngine::for_one_instance(cache)?);
        let image = crate::image::ImageResolver::default().resolve("builtin:toolbox", Path::new("."))?;
        let loaded = engine.load("builtin:toolbox", image.bytes, image.digest).await?;
        let spec = SandboxSpec {
            args: argv,
            env: Vec::new(),
            mounts: Vec::new(),
            working_dir: None,
            stdin: None,
            stdout: Arc::new(std::io::stdout()),
            stderr: Arc::new(std::io::stderr()),
            network: Default::default(),
            stop: StopSignal::new(),
            ipc: Arc::new(crate::ipc::IpcNamespace::new("shim".into())),
            http_ports: Vec::new(),
            identity: Arc::default(),
            memory: None,
            cpu: None,
            handles: crate::limits::HandleAccount::new(crate::limits::DEFAULT_MAX_OPEN_FILES),
        };
        Ok(crate::sandbox::run(&engine, &loaded.program, spec).await?.code())
    })
}

/// `wasmpod __bench-peer STEP ...`: the host side of the loopback
/// reference, the same steps as the nettest guest over real TCP:
/// `rate-sink`, `send ADDR BYTES`, `pong`, `ping ADDR ROUNDS`. Listeners
/// take an ephemeral port and print `listening on PORT`.
pub fn peer_main(args: &[String]) -> anyhow::Result<()> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    let mut out = std::io::stdout();
    match arg(0) {
        "rate-sink" => {
            let (mut stream, _) = listen(&mut out)?;
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = stream.read(&mut buf)? as u64;
            let t0 = Instant::now();
            loop {
                match stream.read(&mut buf)? {
                    0 => break,
                    n => total += n as u64,
                }
            }
            writeln!(out, "rate-sink bytes={total} ns={}", t0.elapsed().as_nanos())?;
        }
        "send" => {
            let mut stream = TcpStream::connect(arg(1))?;
            let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
            let mut left: u64 = arg(2).parse()?;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                stream.write_all(&chunk[..n])?;
                left -= n as u64;
            }
            stream.shutdown(std::net::Shutdown::Write)?;
        }
        "pong" => {
            let (mut stream, _) = listen(&mut out)?;
            stream.set_nodelay(true)?;
            let mut byte = [0u8; 1];
            while stream.read(&mut byte)? == 1 {
                stream.write_all(&byte)?;
            }
        }
        "ping" => {
            let mut stream = TcpStream::connect(arg(1))?;
            stream.set_nodelay(true)?;
            let rounds: u64 = arg(2).parse()?;
            let mut byte = [7u8; 1];
            let t0 = Instant::now();
            for _ in 0..rounds {
                stream.write_all(&byte)?;
                stream.read_exact(&mut byte)?;
            }
            writeln!(out, "ping rounds={rounds} ns={}", t0.elapsed().as_nanos())?;
        }
        other => anyhow::bail!("unknown bench peer step {other:?}"),
    }
    Ok(())
}

fn listen(out: &mut std::io::Stdout) -> anyhow::Result<(TcpStream, std::net::SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    writeln!(out, "listening on {}", listener.local_addr()?.port())?;
    out.flush()?;
    Ok(listener.accept()?)
}

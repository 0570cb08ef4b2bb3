//! Command-line interface: clap structs here, one file per subcommand.

mod apply;
mod bench;
#[cfg(feature = "compiler")]
mod compile;
mod delete;
mod describe;
mod duration;
mod exec;
mod exit;
mod get;
mod get_objects;
mod images;
mod kubeconfig;
mod logs;
mod node;
mod port_forward;
mod remote;
mod run;
mod runtime_args;
mod serve;
mod terminal;
mod version;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub(crate) use exit::Exit;

/// Exit codes, shown by `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0    success (for `run`: every pod Succeeded)
  1    a pod Failed; for client commands: the server refused (e.g. NotFound)
  2    usage error (bad flags or arguments)
  3    invalid input: a manifest, image or alias was refused before anything
       ran, or `apply` asked for a change Kubernetes forbids
  4    runtime error: state directory, engine, a registry (unreachable, refused
       credentials), or the pod is already running
  5    no wasmpod process (`serve` or `run`) is running for the state directory
  N    `exec`: the command's own exit code (kubectl's convention)
  130  interrupted (Ctrl-C): pods were stopped";

/// Run Kubernetes Pod YAML as WebAssembly-sandboxed pods: no cluster, no
/// container engine, no root. Every container is a WASI program run by
/// wasmtime inside this process.
#[derive(Parser)]
#[command(name = "wasmpod", version, after_help = EXIT_CODES, propagate_version = true)]
struct Cli {
    /// State directory (pod records, logs, compile cache).
    /// Default: $WASMPOD_STATE_DIR, else a per-user directory.
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pods in FILE... in the foreground until they end or Ctrl-C.
    #[command(after_help = run::AFTER_HELP)]
    Run(run::RunArgs),
    /// Run pods created through the control API (`apply`) until Ctrl-C.
    #[command(after_help = serve::AFTER_HELP)]
    Serve(serve::ServeArgs),
    /// Join a Kubernetes cluster as a node and run the pods it binds here.
    #[command(after_help = node::AFTER_HELP)]
    Node(node::NodeArgs),
    /// Create the pods of a manifest in the `wasmpod serve` daemon.
    Apply(apply::ApplyArgs),
    /// List pods, as `kubectl get pods`.
    Get(get::GetArgs),
    /// Show a pod in detail, with its events.
    Describe(describe::DescribeArgs),
    /// Print a container's log.
    Logs(logs::LogsArgs),
    /// Delete pods (stopping them) and wait until they are gone.
    Delete(delete::DeleteArgs),
    /// Run a command in a running container (a fresh instance of its image
    /// with its env, files and network).
    Exec(exec::ExecArgs),
    /// Forward local ports (on 127.0.0.1) to a pod's ports.
    #[command(name = "port-forward")]
    PortForward(port_forward::PortForwardArgs),
    /// Measure container start, density, the pod network and probe cost,
    /// beside process-per-container and host loopback baselines.
    #[command(after_help = bench::AFTER_HELP)]
    Bench(bench::BenchArgs),
    /// Compile images ahead of time for a build without a compiler
    /// (small devices), for this or another machine.
    #[cfg(feature = "compiler")]
    #[command(after_help = compile::AFTER_HELP)]
    Compile(compile::CompileArgs),
    /// Pull an image from an OCI registry into the state directory.
    #[command(after_help = images::AFTER_HELP)]
    Pull(images::PullArgs),
    /// Publish a .wasm component or module to an OCI registry.
    #[command(after_help = images::AFTER_HELP)]
    Push(images::PushArgs),
    /// List the images pulled into the state directory.
    Images(images::ImagesArgs),
    /// Remove pulled images (and their layers no other image uses).
    Rmi(images::RmiArgs),
    /// Print the kubeconfig of the Kubernetes API that `serve` and `run`
    /// serve (`--listen`), for kubectl and client libraries.
    Kubeconfig,
    /// Print wasmpod's version, its target and the engine it runs on.
    Version,
    /// (internal) One container as its own OS process: the baseline of `bench`.
    #[command(name = "__bench-shim", hide = true)]
    BenchShim(bench::ShimArgs),
    /// (internal) A host TCP peer: the loopback reference of `bench`.
    #[command(name = "__bench-peer", hide = true)]
    BenchPeer(bench::PeerArgs),
}

pub(crate) fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { Exit::Usage.into() } else { ExitCode::SUCCESS };
        }
    };
    let result = match cli.command {
        Command::Run(args) => run::run(cli.state_dir.as_deref(), args),
        Command::Serve(args) => serve::run(cli.state_dir.as_deref(), args),
        Command::Node(args) => node::run(cli.state_dir.as_deref(), args),
        Command::Apply(args) => apply::run(cli.state_dir.as_deref(), args),
        Command::Get(args) => get::run(cli.state_dir.as_deref(), args),
        Command::Describe(args) => describe::run(cli.state_dir.as_deref(), args),
        Command::Logs(args) => logs::run(cli.state_dir.as_deref(), args),
        Command::Delete(args) => delete::run(cli.state_dir.as_deref(), args),
        Command::Exec(args) => exec::run(cli.state_dir.as_deref(), args),
        Command::PortForward(args) => port_forward::run(cli.state_dir.as_deref(), args),
        Command::Bench(args) => bench::run(cli.state_dir.as_deref(), args),
        Command::BenchShim(args) => bench::shim(args),
        Command::BenchPeer(args) => bench::peer(args),
        #[cfg(feature = "compiler")]
        Command::Compile(args) => compile::run(cli.state_dir.as_deref(), args),
        Command::Pull(args) => images::pull(cli.state_dir.as_deref(), args),
        Command::Push(args) => images::push(cli.state_dir.as_deref(), args),
        Command::Images(args) => images::images(cli.state_dir.as_deref(), args),
        Command::Rmi(args) => images::rmi(cli.state_dir.as_deref(), args),
        Command::Version => version::run(),
        Command::Kubeconfig => kubeconfig::run(cli.state_dir.as_deref()),
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            // kubectl prints an invalid object as `The Pod "x" is invalid: ...`
            // with no prefix; everything else is an `error: `.
            let invalid =
                e.error.downcast_ref::<wasmpod::manifest::ManifestError>().is_some_and(|m| matches!(m, wasmpod::manifest::ManifestError::Invalid { .. }));
            let from_server = e.error.downcast_ref::<remote::ServerSaid>().is_some();
            if invalid || from_server {
                eprintln!("{:#}", e.error);
            } else {
                eprintln!("error: {:#}", e.error);
            }
            e.exit.into()
        }
    }
}

/// An error with the exit code it maps to.
pub(crate) struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

pub(crate) trait ExitContext<T> {
    fn exit(self, exit: Exit) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> ExitContext<T> for Result<T, E> {
    fn exit(self, exit: Exit) -> Result<T, Failure> {
        self.map_err(|e| Failure { exit, error: e.into() })
    }
}

/// The kernel's cap on one process's open files (macOS:
/// `kern.maxfilesperproc`).
#[cfg(target_os = "macos")]
fn max_files_per_process() -> Option<libc::rlim_t> {
    let mut n: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: the name is NUL-terminated and `n` is a c_int of `len` bytes.
    let rc = unsafe { libc::sysctlbyname(c"kern.maxfilesperproc".as_ptr(), (&mut n as *mut libc::c_int).cast(), &mut len, std::ptr::null_mut(), 0) };
    (rc == 0 && n > 0).then_some(n as libc::rlim_t)
}

#[cfg(all(unix, not(target_os = "macos")))]
fn max_files_per_process() -> Option<libc::rlim_t> {
    None
}

/// Raises the soft limit on open files to the hard limit: every container
/// holds its pod's lock and, once it writes, its log file open, and the
/// defaults (1,024 on Linux, 256 on macOS) are far below what thousands of
/// pods need. Windows has no such per-process limit to raise.
pub(crate) fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        // SAFETY: getrlimit/setrlimit only read and write the struct given.
        unsafe {
            let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 || lim.rlim_cur >= lim.rlim_max {
                return;
            }
            let wanted = lim.rlim_max;
            lim.rlim_cur = wanted;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                // macOS refuses more than kern.maxfilesperproc even under an
                // unlimited hard limit; OPEN_MAX (10,240) where that is unknown.
                lim.rlim_cur = wanted.min(max_files_per_process().unwrap_or(10_240));
                let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
}

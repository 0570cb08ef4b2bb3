//! `wasmpod bench`, and the hidden helpers its baselines run.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::{Exit, ExitContext, Failure};

pub(crate) const AFTER_HELP: &str = "\
Scenarios (each in this process, through the same API as `run`):
  container start   manifest admitted -> the guest's main printing its first
                    line: never-seen images (compiled on admission) and a
                    cached image over 1,000 pods; and pod start -> Ready
  pull              a 2 MiB component pushed to --registry, then admitted
                    -> first line: cold (pull + compile + start), warm
                    store in a new runtime, warm, and imagePullPolicy
                    Always; and the pull alone
  density           sleeping single-container pods until --density-max, a
                    failure or the memory budget; resident memory per pod
  pod network       throughput over localhost inside a pod and between two
                    pods, one-byte round trips, beside two host processes
                    over loopback TCP
  probes            CPU used by 1,000 pods with 1-second httpGet probes
  baselines         the same guest as one OS process per container, and a
                    native `true` spawn
  api               the Kubernetes API: a list of 1,000 and of 10,000 pods
                    over HTTPS (as kubectl) and the socket, a change reaching
                    100 watchers, an exec's round trip

Progress goes to stderr; the table (or with --json, one JSON object) to
stdout. Targets: cached start p50 <= 1 ms; >= 10,000 pods at <= 200 KiB
each; pod localhost >= host loopback; probes <= 5 % of a core.

Examples:
  wasmpod bench --quick
  wasmpod bench --json > figures.json
  wasmpod bench --only pull --registry 127.0.0.1:5000";

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Fewer samples and shorter windows: under 3 minutes on 2 cores.
    #[arg(long)]
    quick: bool,
    /// Print the figures as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Stop the density scenario at this many pods.
    #[arg(long, value_name = "PODS")]
    density_max: Option<usize>,
    /// Pods started one after another for the start figures.
    #[arg(long, value_name = "PODS")]
    start_pods: Option<usize>,
    /// MiB sent per network throughput run (default 256, full run 1024).
    #[arg(long, value_name = "MIB")]
    net_mib: Option<u64>,
    /// Scratch directory (state, compile cache); default: a fresh
    /// temporary directory, removed afterwards. `--state-dir` is not used:
    /// the bench never touches your pods.
    #[arg(long, value_name = "DIR")]
    scratch: Option<PathBuf>,
    /// Run only these scenarios: start, pull, network, probes, baselines, density, api.
    #[arg(long, value_name = "SCENARIO", value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(wasmpod::bench::SCENARIOS))]
    only: Vec<String>,
    /// A registry for the pull scenario (HOST:PORT; plain HTTP on a
    /// loopback address), such as Debian's docker-registry; without it
    /// that scenario is skipped.
    #[arg(long, value_name = "HOST:PORT")]
    registry: Option<String>,
    /// The kubeconfig of a real kube-apiserver (client-certificate
    /// credentials, such as tests/cluster's admin.kubeconfig): the api
    /// scenario measures the same lists and watch fan-out there too. It
    /// creates pods in its namespaces wasmpod-bench and wasmpod-fanout.
    #[arg(long, value_name = "KUBECONFIG")]
    kube_apiserver: Option<PathBuf>,
}

pub(crate) fn run(_state_dir: Option<&Path>, args: BenchArgs) -> Result<Exit, Failure> {
    super::raise_open_file_limit();
    let exe = std::env::current_exe().context("cannot find the wasmpod executable for the baselines").exit(Exit::Runtime)?;
    let mut options = wasmpod::bench::BenchOptions::new(args.quick, exe);
    if let Some(n) = args.density_max {
        options.density_max = n;
    }
    if let Some(n) = args.start_pods {
        options.start_pods = n;
    }
    if let Some(mib) = args.net_mib {
        options.net_bytes = mib.max(1) << 20;
    }
    options.scratch = args.scratch;
    if args.only.iter().any(|s| s == "pull") && args.registry.is_none() {
        return Err(Failure {
            exit: Exit::Usage,
            error: anyhow::anyhow!("the pull scenario needs --registry HOST:PORT (a registry to push to and pull from)"),
        });
    }
    options.only = args.only;
    options.registry = args.registry;
    options.kube_apiserver = args.kube_apiserver;
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime").exit(Exit::Runtime)?;
    let started = std::time::Instant::now();
    let progress = |what: &str| eprintln!("wasmpod bench [{:>5.1}s] {what}", started.elapsed().as_secs_f64());
    let report = tokio.block_on(wasmpod::bench::run(options, &progress)).context("bench failed").exit(Exit::Runtime)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json()).unwrap_or_default());
    } else {
        print!("{}", report.to_table());
    }
    eprintln!("wasmpod bench: done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(Exit::Success)
}

#[derive(Args)]
pub(crate) struct ShimArgs {
    cache: PathBuf,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    argv: Vec<String>,
}

pub(crate) fn shim(args: ShimArgs) -> Result<Exit, Failure> {
    let code = wasmpod::bench::shim_main(&args.cache, args.argv).exit(Exit::Runtime)?;
    Ok(if code == 0 { Exit::Success } else { Exit::Command(code.clamp(0, 255) as u8) })
}

#[derive(Args)]
pub(crate) struct PeerArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub(crate) fn peer(args: PeerArgs) -> Result<Exit, Failure> {
    wasmpod::bench::peer_main(&args.args).exit(Exit::Runtime)?;
    Ok(Exit::Success)
}

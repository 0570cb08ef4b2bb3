//! The options of the commands that host pods (`run`, `serve`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use wasmpod::{RuntimeConfig, parse_alias_file, parse_alias_flag};

use super::terminal::TerminalTap;
use super::{Exit, ExitContext, Failure};

#[derive(Args)]
pub(crate) struct RuntimeArgs {
    /// Map image names to wasm: PATTERN=TARGET, `*` wildcards, TARGET a .wasm
    /// path, file:// URL or builtin:NAME. Repeatable; tried before builtins.
    #[arg(long = "image-alias", value_name = "PATTERN=TARGET")]
    image_alias: Vec<String>,
    /// A YAML file of image aliases (pattern: target), tried after --image-alias.
    #[arg(long, value_name = "FILE")]
    alias_file: Option<PathBuf>,
    /// First CrashLoopBackOff delay (Kubernetes: 10s).
    #[arg(long, value_name = "DURATION", value_parser = super::duration::parse, default_value = "10s")]
    backoff_initial: Duration,
    /// Longest CrashLoopBackOff delay (Kubernetes: 5m).
    #[arg(long, value_name = "DURATION", value_parser = super::duration::parse, default_value = "5m")]
    backoff_max: Duration,
    /// Let pods mount hostPath volumes (host files and directories). Off by
    /// default: without it a pod with a hostPath volume is refused.
    #[arg(long)]
    allow_host_path: bool,
    /// Rotate a container's log before it passes this size, a quantity
    /// such as 10Mi (the kubelet's containerLogMaxSize).
    #[arg(long, value_name = "QUANTITY", value_parser = parse_log_size, default_value = "10Mi")]
    container_log_max_size: u64,
    /// Log files kept per container instance, the current one included; at
    /// least 2 (the kubelet's containerLogMaxFiles).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..), default_value = "5")]
    container_log_max_files: u32,
    /// Files and sockets the guests of one pod may hold open at once; past
    /// it, opening fails inside the guest (EMFILE), never in the runtime.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), default_value_t = wasmpod::DEFAULT_MAX_OPEN_FILES as u32)]
    max_open_files_per_pod: u32,
    /// How instances get their memories: `auto` (a pool sized from this
    /// machine's address space and mapping limit, or on demand where that
    /// leaves a small pool), `on-demand` (nothing reserved up front: for
    /// small devices and emulators), or `pool=N` (a pool of N slots).
    #[arg(long, value_name = "MODE", default_value = "auto", env = "WASMPOD_INSTANCE_ALLOCATION")]
    instance_allocation: wasmpod::InstanceAllocation,
    /// Do not print progress events (pulling, started...); warnings still show.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    registry: super::images::RegistryArgs,
    /// Whether pods reach addresses outside wasmpod through this machine's
    /// sockets: `allow` (as Kubernetes pods do through NAT; never this
    /// machine's loopback or link-local addresses, such as a cloud's
    /// metadata service) or `deny` (pods reach only each other).
    #[arg(long, value_name = "allow|deny", default_value = "allow")]
    egress: wasmpod::Egress,
    /// Disk use (percent) of the image store's filesystem at which unused
    /// registry images are removed, checked every 5 minutes; 100 turns
    /// image garbage collection off (the kubelet's flag).
    #[arg(long, value_name = "PERCENT", default_value = "85")]
    image_gc_high_threshold: u8,
    /// Disk use (percent) image garbage collection frees down to.
    #[arg(long, value_name = "PERCENT", default_value = "80")]
    image_gc_low_threshold: u8,
    /// Images pulled more recently than this are never collected.
    #[arg(long, value_name = "DURATION", value_parser = super::duration::parse, default_value = "2m")]
    minimum_image_ttl_duration: Duration,
    /// Serve the Kubernetes API over HTTPS here, for kubectl and client
    /// libraries (port 0: a free port; `none`: not at all). The default,
    /// 127.0.0.1:6443, is skipped with a warning when another process has
    /// it. Credentials are made in the state directory on first start and
    /// `wasmpod kubeconfig` prints the kubeconfig for them.
    #[arg(long, value_name = "ADDR|none")]
    listen: Option<Listen>,
    /// Also add the cluster, user and context `wasmpod` to your kubeconfig
    /// ($KUBECONFIG's first file, else ~/.kube/config) and make it the
    /// current context.
    #[arg(long)]
    merge_kubeconfig: bool,
}

/// `--listen`: an address, or none.
#[derive(Clone, Copy)]
pub(crate) enum Listen {
    At(std::net::SocketAddr),
    Nowhere,
}

impl std::str::FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "none" {
            return Ok(Listen::Nowhere);
        }
        s.parse().map(Listen::At).map_err(|_| format!("{s:?} is not an address and port such as 127.0.0.1:6443 (or none)"))
    }
}

/// The Kubernetes API's default address, as kube-apiserver's.
const DEFAULT_LISTEN: std::net::SocketAddr = std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 6443);

/// The aliases of `--image-alias` flags, then of `--alias-file`.
pub(crate) fn aliases(flags: &[String], file: Option<&std::path::Path>) -> Result<Vec<wasmpod::Alias>, Failure> {
    let mut aliases = Vec::new();
    for a in flags {
        aliases.push(parse_alias_flag(a).map_err(anyhow::Error::msg).exit(Exit::Invalid)?);
    }
    if let Some(f) = file {
        aliases.extend(parse_alias_file(f).map_err(anyhow::Error::msg).exit(Exit::Invalid)?);
    }
    Ok(aliases)
}

impl RuntimeArgs {
    pub(crate) fn config(&self, state_dir: PathBuf) -> Result<RuntimeConfig, Failure> {
        let aliases = aliases(&self.image_alias, self.alias_file.as_deref())?;
        if self.backoff_initial.is_zero() || self.backoff_max < self.backoff_initial {
            return Err(Failure { exit: Exit::Usage, error: anyhow::anyhow!("--backoff-initial must be more than 0 and at most --backoff-max") });
        }
        self.image_gc()?;
        let mut config = RuntimeConfig::new(state_dir);
        config.aliases = aliases;
        config.backoff.initial = self.backoff_initial;
        config.backoff.max = self.backoff_max;
        config.allow_host_path = self.allow_host_path;
        config.log_rotation = wasmpod::LogRotation::new(self.container_log_max_size, self.container_log_max_files as usize);
        config.max_open_files_per_pod = self.max_open_files_per_pod as usize;
        config.instance_allocation = self.instance_allocation;
        config.egress = self.egress;
        config.tap = Some(Arc::new(TerminalTap { normal_events: !self.quiet }));
        (config.keyring, config.registry) = self.registry.settings()?;
        Ok(config)
    }

    /// The image garbage collection policy of the flags.
    pub(crate) fn image_gc(&self) -> Result<wasmpod::registry::ImageGcPolicy, Failure> {
        wasmpod::registry::ImageGcPolicy::new(self.image_gc_high_threshold, self.image_gc_low_threshold, self.minimum_image_ttl_duration)
            .map_err(|e| Failure { exit: Exit::Usage, error: anyhow::Error::msg(e) })
    }

    /// Starts the Kubernetes API over HTTPS (`--listen`); with
    /// `--merge-kubeconfig`, adds its kubeconfig to the user's. The default
    /// address taken by another process is a warning, an address asked for
    /// a failure.
    pub(crate) fn start_https(&self, runtime: &Arc<wasmpod::Runtime>, role: wasmpod::api::Role) -> Result<Option<wasmpod::api::HttpsServer>, Failure> {
        let (addr, asked) = match self.listen {
            Some(Listen::Nowhere) => return Ok(None),
            Some(Listen::At(addr)) => (addr, true),
            None => (DEFAULT_LISTEN, false),
        };
        let server = match wasmpod::api::HttpsServer::start(runtime.clone(), role, addr) {
            Ok(s) => s,
            Err(wasmpod::api::HttpsError::Listen { source, .. }) if !asked && source.kind() == std::io::ErrorKind::AddrInUse => {
                eprintln!("Warning: {addr} is in use: this process serves no Kubernetes API (choose one with --listen ADDR)");
                return Ok(None);
            }
            Err(e) => return Err(e).context("cannot serve the Kubernetes API").exit(Exit::Runtime),
        };
        if self.merge_kubeconfig {
            let file = super::kubeconfig::merge(server.kubeconfig())?;
            if !self.quiet {
                eprintln!("wasmpod: context \"wasmpod\" added to {} and made current", file.display());
            }
        }
        Ok(Some(server))
    }

    /// Starts image garbage collection on `runtime`, saying on stderr what
    /// it removed and when it could not free enough.
    pub(crate) fn spawn_image_gc(&self, runtime: &wasmpod::Runtime) -> Result<wasmpod::ImageGcTask, Failure> {
        let quiet = self.quiet;
        let policy = self.image_gc()?;
        Ok(runtime.spawn_image_gc(policy, move |outcome| match outcome {
            Ok(report) => {
                if !report.removed.is_empty() && !quiet {
                    eprintln!(
                        "wasmpod: image garbage collection: disk {}% used (high threshold {}%): removed {} ({} bytes freed)",
                        report.used_percent,
                        policy.high_threshold_percent,
                        report.removed.join(", "),
                        report.freed
                    );
                }
                if let Some(shortfall) = report.shortfall() {
                    eprintln!("Warning: FreeDiskSpaceFailed: {shortfall}");
                }
            }
            Err(e) => eprintln!("Warning: ImageGCFailed: {:#}", anyhow::Error::from(e)),
        }))
    }
}

/// A positive size quantity in bytes (`10Mi`, `500k`, `1048576`).
fn parse_log_size(s: &str) -> Result<u64, String> {
    let q = wasmpod::manifest::parse_quantity(s).map_err(|e| e.to_string())?;
    u64::try_from(q.value()).ok().filter(|b| *b > 0).ok_or_else(|| format!("{s} is not a positive size"))
}

//! `wasmpod run FILE...`: run pods in the foreground.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use wasmpod::api::{ApiServer, Role};
use wasmpod::{PodOutcome, PodPhase, Runtime, StateDir, Validation, manifest};

use super::terminal::pod_label;
use super::{Exit, ExitContext, Failure};

pub(crate) const AFTER_HELP: &str = "\
Each file may hold several YAML documents (---) of kind Pod, ConfigMap or
Secret; ConfigMaps and Secrets feed the pods' env and envFrom. Log lines are
printed as [pod/container] text and kept in the state directory in the CRI
format. Ctrl-C stops every pod (containers are killed: exit code 137).

Images: a path to a .wasm file (relative to the manifest, absolute, or
file://), builtin:toolbox, or an image name mapped by an alias. Builtin
aliases: alpine, busybox, nginx, python -> the toolbox, each with its real
image's Entrypoint and Cmd (busybox: Cmd sh, so `args: [\"echo\", \"x\"]`
runs echo). Add your own with
--image-alias 'mysql:*=./mysql.wasm' or --alias-file FILE (YAML mapping of
pattern to target, first match wins; targets relative to the file).

Examples:
  wasmpod run examples/custom-command.yaml
  wasmpod run --validate=warn pod.yaml configmap.yaml
  wasmpod run --image-alias 'myapp:*=./target/wasm32-wasip2/release/myapp.wasm' app.yaml";

#[derive(Args)]
pub(crate) struct RunArgs {
    /// Manifest files (YAML; several documents per file allowed).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Unknown manifest fields: strict (error, default), warn, or false (ignore).
    #[arg(long, default_value = "strict", value_name = "MODE")]
    validate: Validation,
    #[command(flatten)]
    runtime: super::runtime_args::RuntimeArgs,
}

pub(crate) fn run(state_dir: Option<&Path>, args: RunArgs) -> Result<Exit, Failure> {
    super::raise_open_file_limit();
    // Everything that can refuse the input happens before any pod starts.
    let mut loaded = Vec::new();
    for file in &args.files {
        let m = manifest::load_file(file, args.validate).exit(Exit::Invalid)?;
        for w in &m.warnings {
            eprintln!("Warning: {w}");
        }
        for pod in &m.pods {
            for w in wasmpod::unimplemented_fields(pod) {
                eprintln!("Warning: {w}");
            }
        }
        let base = file.parent().map(Path::to_owned).unwrap_or_default();
        loaded.push((m, base));
    }
    if loaded.iter().all(|(m, _)| m.pods.is_empty()) {
        return Err(Failure { exit: Exit::Invalid, error: anyhow::anyhow!("no Pod in {}", display_files(&args.files)) });
    }
    let state_dir = StateDir::locate(state_dir).exit(Exit::Runtime)?;
    let config = args.runtime.config(state_dir)?;

    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime").exit(Exit::Runtime)?;
    tokio.block_on(async move {
        let runtime = Arc::new(Runtime::new(config).exit(Exit::Runtime)?);
        // Other wasmpod commands see these pods through the control API
        // while they run; it closes when `run` returns.
        let _api = ApiServer::start(runtime.clone(), Role::Run).context("cannot serve the control API").exit(Exit::Runtime)?;
        let _https = args.runtime.start_https(&runtime, Role::Run)?;
        let _image_gc = args.runtime.spawn_image_gc(&runtime)?;
        let mut plans = Vec::new();
        for (m, base) in &loaded {
            plans.extend(runtime.plan(m, base).await.exit(Exit::Invalid)?);
        }
        // Policies and Services first, so the pods' first connections are
        // checked and their containers find the Services (names, and the
        // kubelet's service variables).
        for policy in loaded.iter().flat_map(|(m, _)| &m.network_policies) {
            runtime.apply_network_policy(policy).exit(Exit::Runtime)?;
        }
        for svc in loaded.iter().flat_map(|(m, _)| &m.services) {
            let svc = runtime.apply_service(svc).exit(Exit::Invalid)?;
            if !args.runtime.quiet {
                let spec = svc.spec.as_ref();
                eprintln!(
                    "service/{} created (clusterIP {})",
                    svc.metadata.name.as_deref().unwrap_or_default(),
                    spec.and_then(|s| s.cluster_ip.as_deref()).unwrap_or("None")
                );
            }
        }
        let handles = runtime.start_all(plans).await.exit(Exit::Runtime)?;
        let stops: Vec<_> = handles.iter().map(|h| h.stopper()).collect();
        let pod_count = stops.len();
        let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // One listener for the whole run, so no Ctrl-C is missed: the first
        // stops every pod, a second one exits at once.
        let flag = interrupted.clone();
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    eprintln!("\nwasmpod: second interrupt, exiting without waiting for the pods");
                    std::process::exit(130);
                }
                eprintln!("\nwasmpod: stopping {pod_count} pod(s)... (Ctrl-C again to exit at once)");
                for s in &stops {
                    s.stop();
                }
            }
        });
        let mut waiting = tokio::task::JoinSet::new();
        for (i, h) in handles.into_iter().enumerate() {
            waiting.spawn(async move { (i, h.wait().await) });
        }
        let mut outcomes: Vec<Option<PodOutcome>> = (0..pod_count).map(|_| None).collect();
        while let Some(done) = waiting.join_next().await {
            match done {
                Ok((i, outcome)) => outcomes[i] = Some(outcome),
                Err(e) => return Err(e).context("a pod task failed").exit(Exit::Runtime),
            }
        }
        // Deleted pods' records are removed before this process exits.
        runtime.settle().await;
        let interrupted = interrupted.load(std::sync::atomic::Ordering::SeqCst);
        let outcomes: Vec<PodOutcome> = outcomes.into_iter().flatten().collect();
        for o in &outcomes {
            print_final(o);
        }
        Ok(if interrupted {
            Exit::Interrupted
        } else if outcomes.iter().all(|o| o.phase() == PodPhase::Succeeded) {
            Exit::Success
        } else if outcomes.iter().any(|o| o.phase() == PodPhase::Failed) {
            Exit::PodFailed
        } else {
            Exit::Runtime
        })
    })
}

fn display_files(files: &[PathBuf]) -> String {
    files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The final status: the pod's phase, then each container's last state.
fn print_final(o: &PodOutcome) {
    let pod = &o.pod;
    let key = format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or("default"), pod.metadata.name.as_deref().unwrap_or_default());
    eprintln!("pod/{} {}", pod_label(&key), o.phase());
    let status = pod.status.clone().unwrap_or_default();
    let all = status.init_container_statuses.into_iter().flatten().chain(status.container_statuses.into_iter().flatten());
    for c in all {
        let state = c.state.unwrap_or_default();
        let what = if let Some(t) = state.terminated {
            format!("Terminated: {} (exit code {})", t.reason.unwrap_or_default(), t.exit_code)
        } else if let Some(w) = state.waiting {
            format!("Waiting: {}{}", w.reason.unwrap_or_default(), w.message.map(|m| format!(" ({m})")).unwrap_or_default())
        } else if state.running.is_some() {
            "Running".to_owned()
        } else {
            "Unknown".to_owned()
        };
        eprintln!("  {}: {what}, restarts {}", c.name, c.restart_count);
    }
    for e in &o.store_errors {
        eprintln!("  warning: state directory: {e}");
    }
}

//! `wasmpod serve`: a daemon that runs the pods created through the
//! control API until Ctrl-C.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use wasmpod::Runtime;
use wasmpod::api::{ApiServer, Role};

use super::remote::{state_dir, tokio};
use super::{Exit, ExitContext, Failure};

pub(crate) const AFTER_HELP: &str = "\
Starts with no pods; `wasmpod apply -f FILE` creates them (and Services and
NetworkPolicies), `get`, `describe`, `logs` and `delete` manage them.
Services and NetworkPolicies are recorded in the state directory and served
again when the daemon restarts; pods are not restarted. The control API listens on a socket in the
state directory (a named pipe on Windows), reachable only by its owner.
Ctrl-C stops every pod (their records stay) and exits.";

#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    runtime: super::runtime_args::RuntimeArgs,
}

pub(crate) fn run(state: Option<&Path>, args: ServeArgs) -> Result<Exit, Failure> {
    super::raise_open_file_limit();
    let state = state_dir(state)?;
    let mut config = args.runtime.config(state)?;
    // Services and NetworkPolicies applied to the daemon outlive it.
    config.record_objects = true;
    tokio()?.block_on(async move {
        let runtime = Arc::new(Runtime::new(config).exit(Exit::Runtime)?);
        for failure in runtime.restore_objects() {
            eprintln!("wasmpod: warning: cannot serve a recorded object again: {failure}");
        }
        let api = ApiServer::start(runtime.clone(), Role::Serve).context("cannot serve the control API").exit(Exit::Runtime)?;
        let https = args.runtime.start_https(&runtime, Role::Serve)?;
        let _image_gc = args.runtime.spawn_image_gc(&runtime)?;
        if !args.runtime.quiet {
            if let Some(https) = &https {
                eprintln!("wasmpod: Kubernetes API at https://{} (kubectl --kubeconfig {} get pods)", https.local_addr(), https.kubeconfig().display());
            }
            eprintln!("wasmpod: serving state directory {} at {}", runtime.state().path().display(), api.endpoint().display());
        }
        tokio::signal::ctrl_c().await.context("cannot listen for Ctrl-C").exit(Exit::Runtime)?;
        // No new requests while the pods stop.
        drop(https);
        drop(api);
        eprintln!("\nwasmpod: stopping every pod... (Ctrl-C again to exit at once)");
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nwasmpod: second interrupt, exiting without waiting for the pods");
                std::process::exit(130);
            }
        });
        runtime.shutdown().await;
        Ok(Exit::Interrupted)
    })
}

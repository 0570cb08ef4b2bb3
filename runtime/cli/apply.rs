//! `wasmpod apply -f FILE`: create the file's pods in a `serve` daemon.

use std::path::{Path, PathBuf};

use clap::Args;
use wasmpod::absolute_image_paths;
use wasmpod::api::Target;
use wasmpod::{Validation, manifest};

use super::remote::{client_failure, live, state_dir, tokio};
use super::{Exit, ExitContext, Failure};

#[derive(Args)]
pub(crate) struct ApplyArgs {
    /// The manifest file (Pods).
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Unknown manifest fields: strict (error, default), warn, or false (ignore).
    #[arg(long, default_value = "strict", value_name = "MODE")]
    validate: Validation,
}

pub(crate) fn run(state: Option<&Path>, args: ApplyArgs) -> Result<Exit, Failure> {
    let mut pods = Vec::new();
    for file in &args.files {
        let m = manifest::load_file(file, args.validate).exit(Exit::Invalid)?;
        for w in &m.warnings {
            eprintln!("Warning: {w}");
        }
        if !m.config_maps.is_empty() || !m.secrets.is_empty() || !m.services.is_empty() || !m.network_policies.is_empty() {
            return Err(Failure {
                exit: Exit::Invalid,
                error: anyhow::anyhow!(
                    "{}: ConfigMaps, Secrets, Services and NetworkPolicies are not served by the control API yet: run such files with `wasmpod run`",
                    file.display()
                ),
            });
        }
        let base = file.parent().map(Path::to_owned).unwrap_or_default();
        for mut pod in m.pods {
            for w in wasmpod::unimplemented_fields(&pod) {
                eprintln!("Warning: {w}");
            }
            absolute_image_paths(&mut pod, &base);
            pods.push(pod);
        }
    }
    let state = state_dir(state)?;
    tokio()?.block_on(async move {
        let client = live(&state, Target::Serve).await?;
        for pod in &pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            match client.create(pod).await {
                Ok(_) => println!("pod/{name} created"),
                Err(e) if e.status().is_some_and(|s| s.reason == "AlreadyExists") => {
                    client.replace(pod).await.map_err(client_failure)?;
                    println!("pod/{name} unchanged");
                }
                Err(e) => return Err(client_failure(e)),
            }
        }
        Ok(Exit::Success)
    })
}

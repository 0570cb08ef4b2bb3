//! `wasmpod logs POD`: print a container's log.

use std::io::Write;
use std::path::Path;

use clap::Args;
use wasmpod::LogOptions;

use super::remote::{Source, namespace, state_dir, tokio};
use super::{Exit, Failure};

#[derive(Args)]
pub(crate) struct LogsArgs {
    /// The pod.
    pod: String,
    /// The container (default: the pod's default-container annotation, else the first).
    #[arg(short, long)]
    container: Option<String>,
    /// Namespace.
    #[arg(short, long)]
    namespace: Option<String>,
    /// Keep printing until the container exits.
    #[arg(short, long)]
    follow: bool,
    /// The previous instance of the container.
    #[arg(short, long)]
    previous: bool,
    /// Prefix each line with its timestamp (RFC3339Nano).
    #[arg(long)]
    timestamps: bool,
    /// Only the last N lines (-1: all).
    #[arg(long, value_name = "N", default_value_t = -1, allow_hyphen_values = true)]
    tail: i64,
}

pub(crate) fn run(state: Option<&Path>, args: LogsArgs) -> Result<Exit, Failure> {
    let state = state_dir(state)?;
    let ns = namespace(&args.namespace);
    tokio()?.block_on(async move {
        let source = Source::open(&state).await?;
        let container = match args.container {
            Some(c) => c,
            None => super::remote::default_container(&source.get(&ns, &args.pod).await?),
        };
        if args.follow && !source.is_live() {
            eprintln!("wasmpod: no wasmpod process is running for state directory {}: printing the recorded log", state.display());
        }
        let options = LogOptions::default()
            .container(Some(container))
            .previous(args.previous)
            .follow(args.follow)
            .timestamps(args.timestamps)
            .tail_lines((args.tail >= 0).then_some(args.tail));
        let mut logs = source.logs(&ns, &args.pod, &options).await?;
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = logs.next().await {
            // A closed pipe (`| head`) ends the command quietly.
            if out.write_all(&chunk?).and_then(|_| out.flush()).is_err() {
                break;
            }
        }
        Ok(Exit::Success)
    })
}

//! `wasmpod exec [-i] [-t] [-c C] POD -- COMMAND...`: run a command in a
//! running container, with this terminal's stdio attached.

use std::path::Path;

use clap::Args;

use super::remote::{client_failure, default_container, namespace, owner, state_dir, status_failure, tokio};
use super::{Exit, ExitContext, Failure};

#[derive(Args)]
pub(crate) struct ExecArgs {
    /// The pod.
    pod: String,
    /// The container (default: the pod's default-container annotation, else the first).
    #[arg(short, long)]
    container: Option<String>,
    /// Namespace.
    #[arg(short, long)]
    namespace: Option<String>,
    /// Pass stdin to the command.
    #[arg(short = 'i', long)]
    stdin: bool,
    /// Accepted for kubectl compatibility: guests get no terminal (WASI has
    /// none); output is passed through as it is written.
    #[arg(short = 't', long)]
    tty: bool,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub(crate) fn run(state: Option<&Path>, args: ExecArgs) -> Result<Exit, Failure> {
    let state = state_dir(state)?;
    let ns = namespace(&args.namespace);
    tokio()?.block_on(async move {
        let (client, pod) = owner(&state, &ns, &args.pod).await?;
        let container = match args.container {
            Some(c) => c,
            None => default_container(&pod),
        };
        let stream = client.exec(&ns, &args.pod, Some(&container), &args.command, args.stdin).await.map_err(client_failure)?;
        let stdin = args.stdin.then(tokio::io::stdin);
        let ended = wasmpod::api::client_exec(stream, stdin, tokio::io::stdout(), tokio::io::stderr()).await.exit(Exit::Runtime)?;
        match ended {
            Ok(0) => Ok(Exit::Success),
            Ok(code) => {
                // kubectl's words and convention: the command's code.
                eprintln!("command terminated with exit code {code}");
                Ok(Exit::Command(u8::try_from(code).unwrap_or(255)))
            }
            Err(status) => Err(status_failure(status)),
        }
    })
}

//! The options of the commands that host pods (`run`, `serve`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// Do not print progress events (pulling, started...); warnings still show.
    #[arg(long, short)]
    pub quiet: bool,
}

impl RuntimeArgs {
    pub(crate) fn config(&self, state_dir: PathBuf) -> Result<RuntimeConfig, Failure> {
        let mut aliases = Vec::new();
        for a in &self.image_alias {
            aliases.push(parse_alias_flag(a).map_err(anyhow::Error::msg).exit(Exit::Invalid)?);
        }
        if let Some(f) = &self.alias_file {
            aliases.extend(parse_alias_file(f).map_err(anyhow::Error::msg).exit(Exit::Invalid)?);
        }
        if self.backoff_initial.is_zero() || self.backoff_max < self.backoff_initial {
            return Err(Failure { exit: Exit::Usage, error: anyhow::anyhow!("--backoff-initial must be more than 0 and at most --backoff-max") });
        }
        let mut config = RuntimeConfig::new(state_dir);
        config.aliases = aliases;
        config.backoff.initial = self.backoff_initial;
        config.backoff.max = self.backoff_max;
        config.allow_host_path = self.allow_host_path;
        config.tap = Some(Arc::new(TerminalTap { normal_events: !self.quiet }));
        Ok(config)
    }
}

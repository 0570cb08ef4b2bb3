//! Exported check functions: a component that exports
//! `wasmpod:probe/check` (WIT in `wit/probe/check.wit`) answers exec probes
//! itself. The probe's command goes to its `check` function in a fresh
//! instance (pre-instantiated: no compile, no link, no `main`) with the
//! container's env, files and network, instead of a whole program run.

use super::{CheckPre, Engine};
use super::{SandboxError, SandboxSpec, component_store};

/// What a `check` call answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// `ok`: healthy.
    Healthy,
    /// `err(message)`: unhealthy, and why.
    Unhealthy(String),
    /// The instance trapped; the message says how.
    Trapped(String),
}

/// Calls `check(command)` in a fresh instance granted `spec`. Dropping the
/// future kills the instance at its next yield (the probe's timeout).
pub(crate) async fn run_check(engine: &Engine, check: &CheckPre, spec: &SandboxSpec, command: Vec<String>) -> Result<CheckOutcome, SandboxError> {
    let mut store = component_store(engine.engine(), spec)?;
    let instance = check.pre.instantiate_async(&mut store).await.map_err(SandboxError::Instantiate)?;
    let func = instance.get_typed_func::<(Vec<String>,), (Result<(), String>,)>(&mut store, &check.func).map_err(SandboxError::Instantiate)?;
    Ok(match func.call_async(&mut store, (command,)).await {
        Ok((Ok(()),)) => CheckOutcome::Healthy,
        Ok((Err(message),)) => CheckOutcome::Unhealthy(message),
        Err(trap) => CheckOutcome::Trapped(format!("{trap:#}")),
    })
}

//! `exec` probes: the probe's command in a fresh instance of the
//! container's image (its env, files, network; output captured), success
//! on exit 0, killed at timeoutSeconds. When the image exports
//! `wasmpod:probe/check`, its `check` function is called with the command
//! instead: no program run at all.

use std::sync::Arc;
use std::time::Duration;

use super::{MAX_OUTPUT, Outcome, ProbeContext};
use crate::error_text::full_message;
use crate::sandbox::Program;
use crate::sandbox::{self, CaptureStream, CheckOutcome, GuestExit};

pub(super) async fn check(ctx: &ProbeContext, command: &[String], timeout: Duration) -> Outcome {
    let timed_out = || Outcome::Failure(format!("command \"{}\" timed out", command.join(" ")));
    let capture = CaptureStream::new(MAX_OUTPUT);
    let mut spec = ctx.spec.clone();
    spec.stdout = Arc::new(capture.clone());
    spec.stderr = Arc::new(capture.clone());
    spec.stdin = None;
    // A probe instance serves nothing, even of a wasi:http handler image,
    // and has a stop request of its own (it is not the container's guest).
    spec.http_ports.clear();
    spec.stop = sandbox::StopSignal::new();
    if let Program::Component(c) = &*ctx.program
        && let Some(check) = &c.check
    {
        // Dropping the call at the timeout kills the instance.
        return match tokio::time::timeout(timeout, sandbox::run_check(&ctx.engine, check, &spec, command.to_vec())).await {
            Ok(Ok(CheckOutcome::Healthy)) => Outcome::Success,
            Ok(Ok(CheckOutcome::Unhealthy(message))) => Outcome::Failure(message),
            Ok(Ok(CheckOutcome::Trapped(trap))) => Outcome::Failure(format!("check trapped: {trap}")),
            Ok(Err(e)) => Outcome::Failure(format!("container {}: cannot call the exported check: {}", ctx.container, full_message(&e))),
            Err(_) => timed_out(),
        };
    }
    spec.args = command.to_vec();
    match tokio::time::timeout(timeout, sandbox::run(&ctx.engine, &ctx.program, spec)).await {
        Ok(Ok(exit)) if exit.succeeded() => Outcome::Success,
        // The kubelet's message for a failed command is its output.
        Ok(Ok(GuestExit::Exited(_))) => Outcome::Failure(capture.text().trim_end().to_owned()),
        // A trap or an OOM kill: what the command printed, then what ended it.
        Ok(Ok(exit)) => Outcome::Failure(format!("{}command {}", capture.text(), exit.describe())),
        Ok(Err(e)) => Outcome::Failure(format!("container {}: cannot run the probe's command: {}", ctx.container, full_message(&e))),
        Err(_) => timed_out(),
    }
}

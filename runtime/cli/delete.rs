//! `wasmpod delete pod NAME...`: delete pods and wait until they are gone.

use std::path::Path;
use std::time::Duration;

use clap::Args;
use wasmpod::api::{Client, ClientError, Target};
use wasmpod::{FAILED_DELETE, PodPhase};

use super::remote::{client_failure, live, namespace, state_dir, tokio};
use super::{Exit, Failure};

/// How often `delete` checks whether a deleted pod is gone.
const POLL: Duration = Duration::from_millis(100);

#[derive(Args)]
pub(crate) struct DeleteArgs {
    /// The resource type: pod (pods, po), service (services, svc),
    /// networkpolicy (networkpolicies, netpol), configmap (configmaps, cm),
    /// secret (secrets).
    #[arg(value_parser = [
        "pod", "pods", "po", "service", "services", "svc", "networkpolicy", "networkpolicies", "netpol", "configmap", "configmaps", "cm", "secret", "secrets",
    ])]
    kind: String,
    /// Names.
    #[arg(required = true)]
    names: Vec<String>,
    /// Namespace.
    #[arg(short, long)]
    namespace: Option<String>,
    /// Seconds given to the pod to stop; accepted for kubectl
    /// compatibility: guests are stopped at once (WASI has no signals).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    grace_period: Option<i64>,
    /// Wait until the pods are gone (kubectl's default).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    wait: bool,
}

pub(crate) fn run(state: Option<&Path>, args: DeleteArgs) -> Result<Exit, Failure> {
    let state = state_dir(state)?;
    let ns = namespace(&args.namespace);
    // kubectl: -1 means "the pod's default".
    let grace = args.grace_period.filter(|g| *g >= 0);
    if let Some(resource) = super::get_objects::resource_of(&args.kind) {
        return tokio()?.block_on(async move {
            let client = live(&state, Target::Any).await?;
            let mut result = Ok(Exit::Success);
            for name in &args.names {
                match client.delete_object(resource, &ns, name).await {
                    Ok(()) => println!("{} \"{name}\" deleted", super::get_objects::kind_name(resource)),
                    Err(e) => {
                        let f = client_failure(e);
                        eprintln!("{}", f.error);
                        result = Ok(f.exit);
                    }
                }
            }
            result
        });
    }
    tokio()?.block_on(async move {
        let client = live(&state, Target::Any).await?;
        let mut result = Ok(Exit::Success);
        for name in &args.names {
            match client.delete(&ns, name, grace).await {
                Ok(_) => println!("pod \"{name}\" deleted"),
                Err(e) => {
                    let f = client_failure(e);
                    eprintln!("{}", f.error);
                    result = Ok(f.exit);
                    continue;
                }
            }
            if args.wait {
                let since = jiff::Timestamp::now();
                loop {
                    match client.get(&ns, name).await {
                        // Stopped, but its files stay: the server said why.
                        Ok(pod) if ended(&pod) => match removal_failure(&client, &ns, name, since).await {
                            Some(why) => {
                                eprintln!("error: pod \"{name}\" was stopped but not removed: {why}");
                                result = Ok(Exit::Runtime);
                                break;
                            }
                            None => tokio::time::sleep(POLL).await,
                        },
                        Err(e) if e.status().is_some_and(|s| s.code == 404) => break,
                        // The process that served us ended: a `run` whose
                        // last pod this was. It removed the record first.
                        Err(ClientError::Transport { .. }) => match super::remote::Source::open(&state).await?.get(&ns, name).await {
                            Err(f) if f.error.downcast_ref::<super::remote::ServerSaid>().is_some_and(|s| s.0.code == 404) => break,
                            Err(f) => return Err(f),
                            Ok(_) => tokio::time::sleep(POLL).await,
                        },
                        Err(e) => return Err(client_failure(e)),
                        Ok(_) => tokio::time::sleep(POLL).await,
                    }
                }
            }
        }
        result
    })
}

fn ended(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).and_then(|p| p.parse::<PodPhase>().ok()).is_some_and(PodPhase::is_terminal)
}

/// The message of a `FailedDelete` event recorded since `since`: the pod
/// ended, but the server could not remove its files.
async fn removal_failure(client: &Client, namespace: &str, name: &str, since: jiff::Timestamp) -> Option<String> {
    let events = client.events(namespace, name).await.ok()?;
    events
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(FAILED_DELETE))
        .find(|e| e.last_timestamp.as_ref().is_some_and(|t| t.0 >= since))
        .and_then(|e| e.message)
}

//! `wasmpod apply -f FILE`: create (or replace) the file's ConfigMaps,
//! Secrets, NetworkPolicies, Services and pods in a `serve` daemon, in that
//! order, so the pods find their ConfigMaps and Secrets, their first
//! connections are checked and their containers see the Services.

use std::path::{Path, PathBuf};

use clap::Args;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wasmpod::absolute_image_paths;
use wasmpod::api::{Client, Resource, Target};
use wasmpod::{Validation, manifest};

use super::remote::{client_failure, live, state_dir, tokio};
use super::{Exit, ExitContext, Failure};

#[derive(Args)]
pub(crate) struct ApplyArgs {
    /// The manifest file (Pods, ConfigMaps, Secrets, Services, NetworkPolicies).
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Unknown manifest fields: strict (error, default), warn, or false (ignore).
    #[arg(long, default_value = "strict", value_name = "MODE")]
    validate: Validation,
}

pub(crate) fn run(state: Option<&Path>, args: ApplyArgs) -> Result<Exit, Failure> {
    let mut pods = Vec::new();
    let mut services = Vec::new();
    let mut policies = Vec::new();
    let mut config_maps = Vec::new();
    let mut secrets = Vec::new();
    for file in &args.files {
        let m = manifest::load_file(file, args.validate).exit(Exit::Invalid)?;
        for w in &m.warnings {
            eprintln!("Warning: {w}");
        }
        config_maps.extend(m.config_maps);
        secrets.extend(m.secrets);
        services.extend(m.services);
        policies.extend(m.network_policies);
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
        for cm in &config_maps {
            apply_object(&client, Resource::ConfigMaps, &cm.metadata, cm, |a: &ConfigMap, b: &ConfigMap| {
                (&a.data, &a.binary_data, &a.metadata.labels) == (&b.data, &b.binary_data, &b.metadata.labels)
            })
            .await?;
        }
        for secret in &secrets {
            apply_object(&client, Resource::Secrets, &secret.metadata, secret, |a: &Secret, b: &Secret| {
                (&a.data, &a.type_, &a.metadata.labels) == (&b.data, &b.type_, &b.metadata.labels)
            })
            .await?;
        }
        for policy in &policies {
            apply_object(&client, Resource::NetworkPolicies, &policy.metadata, policy, |a: &NetworkPolicy, b: &NetworkPolicy| a.spec == b.spec).await?;
        }
        for svc in &services {
            apply_object(&client, Resource::Services, &svc.metadata, svc, |a: &Service, b: &Service| a.spec == b.spec).await?;
        }
        for pod in &pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            match client.create(pod).await {
                Ok(_) => println!("pod/{name} created"),
                Err(e) if e.status().is_some_and(|s| s.reason == "AlreadyExists") => {
                    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
                    let before = client.get(ns, &name).await.map_err(client_failure)?;
                    let after = client.replace(pod).await.map_err(client_failure)?;
                    println!("pod/{name} {}", if updatable(&before) == updatable(&after) { "unchanged" } else { "configured" });
                }
                Err(e) => return Err(client_failure(e)),
            }
        }
        Ok(Exit::Success)
    })
}

/// Creates `object`, or replaces the one of its name: prints
/// `service/web created`, `configured` (`same` says the stored object
/// changed) or `unchanged`, as kubectl apply does.
/// What an update may change in a pod (see `Runtime::replace`).
fn updatable(pod: &Pod) -> serde_json::Value {
    let spec = pod.spec.clone().unwrap_or_default();
    serde_json::json!([pod.metadata.labels, pod.metadata.annotations, spec.active_deadline_seconds, spec.tolerations, spec.termination_grace_period_seconds])
}

async fn apply_object<T>(client: &Client, resource: Resource, meta: &ObjectMeta, object: &T, same: impl Fn(&T, &T) -> bool) -> Result<(), Failure>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let ns = meta.namespace.as_deref().unwrap_or("default");
    let name = meta.name.as_deref().unwrap_or_default();
    let kind = super::get_objects::kind_name(resource);
    match client.create_object(resource, ns, object).await {
        Ok(_) => println!("{kind}/{name} created"),
        Err(e) if e.status().is_some_and(|s| s.reason == "AlreadyExists") => {
            let before: T = client.get_object(resource, ns, name).await.map_err(client_failure)?;
            let after = client.replace_object(resource, ns, name, object).await.map_err(client_failure)?;
            println!("{kind}/{name} {}", if same(&before, &after) { "unchanged" } else { "configured" });
        }
        Err(e) => return Err(client_failure(e)),
    }
    Ok(())
}

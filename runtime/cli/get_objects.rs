//! `wasmpod get services|endpointslices|endpoints|networkpolicies`: the
//! objects a live runtime process serves, as kubectl prints them.

use std::path::Path;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::Value;
use wasmpod::api::{
    Client, Resource, Target, config_map_row, endpoint_slice_row, endpoints_row, network_policy_row, secret_row, service_account_row, service_row,
};

use super::get::{Output, Table, emit, to_json};
use super::remote::{client_failure, live, namespace, tokio};
use super::{Exit, Failure};

/// The resource a `get`/`delete` argument names (kubectl's names, plural,
/// singular and short); `None` for pods.
pub(crate) fn resource_of(kind: &str) -> Option<Resource> {
    Some(match kind {
        "services" | "service" | "svc" => Resource::Services,
        "endpointslices" | "endpointslice" => Resource::EndpointSlices,
        "endpoints" | "ep" => Resource::Endpoints,
        "networkpolicies" | "networkpolicy" | "netpol" => Resource::NetworkPolicies,
        "configmaps" | "configmap" | "cm" => Resource::ConfigMaps,
        "secrets" | "secret" => Resource::Secrets,
        "serviceaccounts" | "serviceaccount" | "sa" => Resource::ServiceAccounts,
        _ => return None,
    })
}

/// `service/web`, `networkpolicy.networking.k8s.io/deny`, as `-o name`
/// and `apply` print objects.
pub(crate) fn kind_name(resource: Resource) -> &'static str {
    match resource {
        Resource::Services => "service",
        Resource::Endpoints => "endpoints",
        Resource::NetworkPolicies => "networkpolicy.networking.k8s.io",
        Resource::EndpointSlices => "endpointslice.discovery.k8s.io",
        Resource::ConfigMaps => "configmap",
        Resource::Secrets => "secret",
        Resource::ServiceAccounts => "serviceaccount",
        _ => "object",
    }
}

fn header(resource: Resource, wide: bool) -> Vec<&'static str> {
    match resource {
        Resource::Services if wide => vec!["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"],
        Resource::Services => vec!["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
        Resource::EndpointSlices => vec!["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
        Resource::Endpoints => vec!["NAME", "ENDPOINTS", "AGE"],
        Resource::ConfigMaps => vec!["NAME", "DATA", "AGE"],
        Resource::Secrets => vec!["NAME", "TYPE", "DATA", "AGE"],
        Resource::ServiceAccounts => vec!["NAME", "SECRETS", "AGE"],
        _ => vec!["NAME", "POD-SELECTOR", "AGE"],
    }
}

fn row(resource: Resource, object: &Value, wide: bool) -> Vec<String> {
    let now = jiff::Timestamp::now();
    let parsed = |what| -> Option<Vec<String>> {
        Some(match what {
            Resource::Services => service_row(&serde_json::from_value::<Service>(object.clone()).ok()?, now, wide),
            Resource::EndpointSlices => endpoint_slice_row(&serde_json::from_value::<EndpointSlice>(object.clone()).ok()?, now),
            Resource::Endpoints => endpoints_row(&serde_json::from_value::<Endpoints>(object.clone()).ok()?, now),
            Resource::ConfigMaps => config_map_row(&serde_json::from_value(object.clone()).ok()?, now),
            Resource::Secrets => secret_row(&serde_json::from_value(object.clone()).ok()?, now),
            Resource::ServiceAccounts => service_account_row(&serde_json::from_value(object.clone()).ok()?, now),
            _ => network_policy_row(&serde_json::from_value::<NetworkPolicy>(object.clone()).ok()?, now),
        })
    };
    parsed(resource).unwrap_or_else(|| vec![object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned()])
}

pub(crate) struct ObjectsArgs<'a> {
    pub resource: Resource,
    pub names: &'a [String],
    pub namespace: &'a Option<String>,
    pub all_namespaces: bool,
    pub output: Option<Output>,
    pub watch: bool,
}

pub(crate) fn run(state: &Path, args: ObjectsArgs<'_>) -> Result<Exit, Failure> {
    let ObjectsArgs { resource, names, namespace: ns_flag, all_namespaces, output, watch } = args;
    if watch {
        return Err(Failure { exit: Exit::Usage, error: anyhow::anyhow!("--watch is served for pods only") });
    }
    let ns = namespace(ns_flag);
    let wide = output == Some(Output::Wide);
    tokio()?.block_on(async move {
        // Services live in the process that serves them: no records to
        // fall back to.
        let client: Client = live(state, Target::Any).await?;
        let mut exit = Exit::Success;
        let objects: Vec<Value> = if names.is_empty() {
            client.list_objects(resource, (!all_namespaces).then_some(ns.as_str())).await.map_err(client_failure)?
        } else {
            let mut found = Vec::new();
            for name in names {
                match client.get_object(resource, &ns, name).await {
                    Ok(o) => found.push(o),
                    Err(e) => {
                        let f = client_failure(e);
                        eprintln!("{}", f.error);
                        exit = f.exit;
                    }
                }
            }
            found
        };
        match output {
            None | Some(Output::Wide) => {
                if objects.is_empty() {
                    if names.is_empty() {
                        if all_namespaces {
                            eprintln!("No resources found");
                        } else {
                            eprintln!("No resources found in {ns} namespace.");
                        }
                    }
                    return Ok(exit);
                }
                let mut head: Vec<String> = header(resource, wide).into_iter().map(str::to_owned).collect();
                if all_namespaces {
                    head.insert(0, "NAMESPACE".into());
                }
                let mut rows = vec![head];
                for o in &objects {
                    let mut r = row(resource, o, wide);
                    if all_namespaces {
                        r.insert(0, o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default().to_owned());
                    }
                    rows.push(r);
                }
                let mut table = Table::new(&rows);
                for r in &rows {
                    emit(&format!("{}\n", table.line(r)))?;
                }
            }
            Some(Output::Name) => {
                for o in &objects {
                    emit(&format!("{}/{}\n", kind_name(resource), o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()))?;
                }
            }
            Some(format) => {
                let value = if names.len() == 1 {
                    match objects.first() {
                        Some(o) => o.clone(),
                        None => return Ok(exit),
                    }
                } else {
                    serde_json::json!({"apiVersion": "v1", "items": objects, "kind": "List", "metadata": {"resourceVersion": ""}})
                };
                if format == Output::Json {
                    emit(&format!("{}\n", to_json(&value)))?;
                } else {
                    emit(&serde_saphyr::to_string(&value).unwrap_or_default())?;
                }
            }
        }
        Ok(exit)
    })
}

//! Server-side printing: the `Table` (meta.k8s.io/v1) kubectl asks for
//! with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, with the
//! columns kube-apiserver's printers give each resource (wide ones at
//! priority 1), from the pure rows of `table.rs`.

use serde_json::{Value, json};

use super::Resource;
use super::table::{endpoint_slice_row, endpoints_row, network_policy_row, pod_row, service_row};

/// What a Table is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Printed {
    Pods,
    Events,
    Other(Resource),
}

/// Whether the request asks for a Table (kubectl's `get`).
pub(crate) fn wants_table(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.split(',').any(|t| t.contains("as=Table") && t.contains("g=meta.k8s.io")))
}

/// A column: name, type, format, what it shows, priority (1: `-o wide`).
type Column = (&'static str, &'static str, &'static str, &'static str, u8);

fn columns(of: Printed) -> Vec<Column> {
    let name = ("Name", "string", "name", "Name must be unique within a namespace.", 0);
    let age = ("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0);
    match of {
        Printed::Pods => vec![
            name,
            ("Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0),
            ("Status", "string", "", "The aggregate status of the containers in this pod.", 0),
            (
                "Restarts",
                "string",
                "",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                0,
            ),
            age,
            ("IP", "string", "", "IP address allocated to the pod. Routable at least within the cluster.", 1),
            ("Node", "string", "", "NodeName is a request to schedule this pod onto a specific node.", 1),
            ("Nominated Node", "string", "", "nominatedNodeName is set only when this pod preempts other pods on the node.", 1),
            ("Readiness Gates", "string", "", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
        ],
        Printed::Events => vec![
            ("Last Seen", "string", "", "The last time this event was seen.", 0),
            ("Type", "string", "", "Type of this event (Normal, Warning).", 0),
            ("Reason", "string", "", "Why the action was taken.", 0),
            ("Object", "string", "", "The object that this event is about.", 0),
            ("Subobject", "string", "", "The field of the object this event is about.", 1),
            ("Source", "string", "", "The component reporting this event.", 1),
            ("Message", "string", "", "A human-readable description of the status of this operation.", 0),
            ("First Seen", "string", "", "The first time this event was seen.", 1),
            ("Count", "string", "", "The number of times this event has occurred.", 1),
            ("Name", "string", "name", "The name of the event.", 1),
        ],
        Printed::Other(Resource::Services) => vec![
            name,
            ("Type", "string", "", "type determines how the Service is exposed.", 0),
            ("Cluster-IP", "string", "", "clusterIP is the IP address of the service.", 0),
            ("External-IP", "string", "", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.", 0),
            ("Port(s)", "string", "", "The list of ports that are exposed by this service.", 0),
            age,
            ("Selector", "string", "", "Route service traffic to pods with label keys and values matching this selector.", 1),
        ],
        Printed::Other(Resource::EndpointSlices) => vec![
            name,
            ("AddressType", "string", "", "addressType specifies the type of address carried by this EndpointSlice.", 0),
            ("Ports", "string", "", "ports specifies the list of network ports exposed by each endpoint in this slice.", 0),
            ("Endpoints", "string", "", "endpoints is a list of unique endpoints in this slice.", 0),
            age,
        ],
        Printed::Other(Resource::Endpoints) => vec![name, ("Endpoints", "string", "", "Endpoints of the service", 0), age],
        Printed::Other(Resource::Namespaces) => vec![name, ("Status", "string", "", "The status of the namespace", 0), age],
        Printed::Other(Resource::ConfigMaps) => vec![name, ("Data", "string", "", "Number of data entries.", 0), age],
        Printed::Other(Resource::Secrets) => {
            vec![name, ("Type", "string", "", "The type of the secret", 0), ("Data", "string", "", "The number of data entries in the secret", 0), age]
        }
        Printed::Other(Resource::ServiceAccounts) => vec![name, ("Secrets", "string", "", "Number of secrets", 0), age],
        Printed::Other(_) => vec![name, ("Pod-Selector", "string", "", "Selects the pods to which this NetworkPolicy object applies.", 0), age],
    }
}

/// One object's cells; `None` when it is not an object of that kind.
fn cells(of: Printed, object: &Value, now: jiff::Timestamp) -> Option<Vec<String>> {
    // Read from the value in place (a &Value is a Deserializer): no copy
    // of each object just to type it.
    use serde::Deserialize;
    Some(match of {
        Printed::Pods => {
            let r = pod_row(&Deserialize::deserialize(object).ok()?, now);
            vec![r.name, r.ready, r.status, r.restarts, r.age, r.ip, r.node, "<none>".into(), "<none>".into()]
        }
        Printed::Events => {
            let e = k8s_openapi::api::core::v1::Event::deserialize(object).ok()?;
            let since = |t: Option<jiff::Timestamp>| t.map_or_else(|| "<unknown>".to_owned(), |t| super::table::human_duration(now.duration_since(t)));
            let first = e.first_timestamp.as_ref().map(|t| t.0).or_else(|| e.event_time.as_ref().map(|t| t.0));
            let last = e.last_timestamp.as_ref().map(|t| t.0).or(first);
            let o = &e.involved_object;
            let kind = o.kind.clone().unwrap_or_default().to_ascii_lowercase();
            let source = e.source.as_ref().and_then(|s| s.component.clone()).unwrap_or_default();
            vec![
                since(last),
                e.type_.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
                format!("{kind}/{}", o.name.clone().unwrap_or_default()),
                o.field_path.clone().unwrap_or_default(),
                source,
                e.message.clone().unwrap_or_default(),
                since(first),
                e.count.unwrap_or(1).to_string(),
                e.metadata.name.clone().unwrap_or_default(),
            ]
        }
        Printed::Other(Resource::Services) => service_row(&Deserialize::deserialize(object).ok()?, now, true),
        Printed::Other(Resource::EndpointSlices) => endpoint_slice_row(&Deserialize::deserialize(object).ok()?, now),
        Printed::Other(Resource::Namespaces) => {
            let name = object.pointer("/metadata/name").and_then(Value::as_str)?.to_owned();
            let phase = object.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Active").to_owned();
            let created = object.pointer("/metadata/creationTimestamp").and_then(Value::as_str).and_then(|t| t.parse::<jiff::Timestamp>().ok());
            vec![name, phase, created.map(|t| super::table::human_duration(now.duration_since(t))).unwrap_or_else(|| "<unknown>".into())]
        }
        Printed::Other(Resource::Endpoints) => endpoints_row(&Deserialize::deserialize(object).ok()?, now),
        Printed::Other(Resource::ConfigMaps) => super::table::config_map_row(&Deserialize::deserialize(object).ok()?, now),
        Printed::Other(Resource::Secrets) => super::table::secret_row(&Deserialize::deserialize(object).ok()?, now),
        Printed::Other(Resource::ServiceAccounts) => super::table::service_account_row(&Deserialize::deserialize(object).ok()?, now),
        Printed::Other(_) => network_policy_row(&Deserialize::deserialize(object).ok()?, now),
    })
}

/// The Table of `objects`; `include` is the request's `includeObject`
/// (`None`, `Object`, or by default `Metadata`: the rows carry the
/// objects' metadata as PartialObjectMetadata).
pub(crate) fn table(of: Printed, objects: &[Value], include: Option<&str>, now: jiff::Timestamp) -> Value {
    let definitions: Vec<Value> = columns(of)
        .into_iter()
        .map(|(name, kind, format, description, priority)| json!({"name": name, "type": kind, "format": format, "description": description, "priority": priority}))
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .filter_map(|o| {
            let cells = cells(of, o, now)?;
            let object = match include {
                Some("None") => Value::Null,
                Some("Object") => o.clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or_default()}),
            };
            let mut row = json!({"cells": cells});
            if !object.is_null() {
                row["object"] = object;
            }
            Some(row)
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": ""}, "columnDefinitions": definitions, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_kubectls_columns_and_metadata_rows() {
        assert!(wants_table(Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")));
        assert!(!wants_table(Some("application/json")) && !wants_table(None));
        let pod = json!({"metadata": {"name": "p", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
                         "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Running", "podIP": "10.88.0.2"}});
        let now: jiff::Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let t = table(Printed::Pods, std::slice::from_ref(&pod), None, now);
        let names: Vec<&str> = t["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]);
        assert_eq!(t["rows"][0]["cells"], json!(["p", "0/1", "Running", "0", "60s", "10.88.0.2", "<none>", "<none>", "<none>"]));
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "default");
        let full = table(Printed::Pods, std::slice::from_ref(&pod), Some("Object"), now);
        assert_eq!(full["rows"][0]["object"]["status"]["podIP"], "10.88.0.2");
        let svc = json!({"metadata": {"name": "web"}, "spec": {"clusterIP": "10.96.0.2", "ports": [{"port": 80, "protocol": "TCP"}]}});
        let t = table(Printed::Other(Resource::Services), &[svc], None, now);
        assert_eq!(t["rows"][0]["cells"].as_array().unwrap()[..5], [json!("web"), json!("ClusterIP"), json!("10.96.0.2"), json!("<none>"), json!("80/TCP")]);
    }
}

//! The pod's QoS class, as the API server computes it when it admits a pod
//! and stores it in `status.qosClass`: `GetPodQOS` in
//! K:pkg/apis/core/helper/qos/qos.go.
//!
//! Only cpu and memory count. Requests and limits are summed over the app
//! and init containers; the pod is Guaranteed when every container limits
//! both and the sums of requests equal the sums of limits, BestEffort when
//! no container asks for either, and Burstable otherwise.
//!
//! Left out: pod-level resources (`spec.resources`), which wasmpod does not
//! implement.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::manifest::parse_quantity;

/// Every container limits cpu and memory, and requests what it limits.
pub(crate) const GUARANTEED: &str = "Guaranteed";
/// Some container requests or limits cpu or memory, short of Guaranteed.
pub(crate) const BURSTABLE: &str = "Burstable";
/// No container requests or limits cpu or memory.
pub(crate) const BEST_EFFORT: &str = "BestEffort";

/// The resources that count (`supportedQoSComputeResources`), each with
/// the scale its amounts are compared at: nanocores, bytes.
const COMPUTE: [(&str, i32); 2] = [("cpu", -9), ("memory", 0)];

/// The QoS class of a pod with `spec`.
pub(crate) fn pod_qos(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<&str, i128> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i128> = BTreeMap::new();
    let mut guaranteed = true;
    for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        let mut limited = 0;
        for (name, scale) in COMPUTE {
            if let Some(r) = amount(request(c, name), scale) {
                *requests.entry(name).or_default() += r;
            }
            if let Some(l) = amount(limit(c, name), scale) {
                *limits.entry(name).or_default() += l;
                limited += 1;
            }
        }
        if limited < COMPUTE.len() {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return BEST_EFFORT;
    }
    if guaranteed && requests.len() == limits.len() && requests.iter().all(|(name, r)| limits.get(name) == Some(r)) { GUARANTEED } else { BURSTABLE }
}

fn limit<'a>(c: &'a Container, name: &str) -> Option<&'a Quantity> {
    c.resources.as_ref()?.limits.as_ref()?.get(name)
}

/// The container's request of `name`. The API server defaults a missing
/// request to the limit before it computes the class (the manifest's
/// defaults already did; a spec that skipped them gets the same answer).
fn request<'a>(c: &'a Container, name: &str) -> Option<&'a Quantity> {
    c.resources.as_ref()?.requests.as_ref().and_then(|r| r.get(name)).or_else(|| limit(c, name))
}

/// A positive amount at `scale`; zero and unparsable quantities (refused by
/// validation anyway) count as absent, as `quantity.Cmp(zero) == 1` does.
fn amount(q: Option<&Quantity>, scale: i32) -> Option<i128> {
    let q = parse_quantity(&q?.0).ok()?;
    Some(i128::from(q.scaled_value(scale))).filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A container with `limits` and `requests` as `name=quantity` pairs.
    fn c(limits: &[(&str, &str)], requests: &[(&str, &str)]) -> Container {
        let list = |pairs: &[(&str, &str)]| (!pairs.is_empty()).then(|| pairs.iter().map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned()))).collect());
        Container {
            name: "c".into(),
            resources: Some(k8s_openapi::api::core::v1::ResourceRequirements { limits: list(limits), requests: list(requests), ..Default::default() }),
            ..Default::default()
        }
    }

    fn spec(init: Vec<Container>, app: Vec<Container>) -> PodSpec {
        PodSpec { init_containers: (!init.is_empty()).then_some(init), containers: app, ..Default::default() }
    }

    #[test]
    fn qos_classes_as_the_api_server_computes_them() {
        let both = [("cpu", "1"), ("memory", "1Gi")];
        let cases: Vec<(&str, PodSpec, &str)> = vec![
            ("nothing asked", spec(vec![], vec![c(&[], &[])]), BEST_EFFORT),
            ("no resources at all", spec(vec![], vec![Container { name: "c".into(), ..Default::default() }]), BEST_EFFORT),
            ("only resources that do not count", spec(vec![], vec![c(&[("ephemeral-storage", "1Gi")], &[("ephemeral-storage", "1Gi")])]), BEST_EFFORT),
            ("zero requests count as none", spec(vec![], vec![c(&[], &[("cpu", "0"), ("memory", "0")])]), BEST_EFFORT),
            ("limits equal requests", spec(vec![], vec![c(&both, &both)]), GUARANTEED),
            ("requests default to limits", spec(vec![], vec![c(&both, &[])]), GUARANTEED),
            ("equal in other units", spec(vec![], vec![c(&[("cpu", "1"), ("memory", "1Gi")], &[("cpu", "1000m"), ("memory", "1073741824")])]), GUARANTEED),
            ("a request below its limit", spec(vec![], vec![c(&both, &[("cpu", "500m"), ("memory", "1Gi")])]), BURSTABLE),
            ("only a cpu limit", spec(vec![], vec![c(&[("cpu", "1")], &[])]), BURSTABLE),
            ("only requests", spec(vec![], vec![c(&[], &[("memory", "64Mi")])]), BURSTABLE),
            ("one guaranteed and one best-effort container", spec(vec![], vec![c(&both, &[]), c(&[], &[])]), BURSTABLE),
            ("two guaranteed containers", spec(vec![], vec![c(&both, &[]), c(&[("cpu", "250m"), ("memory", "64Mi")], &[])]), GUARANTEED),
            ("an init container without limits", spec(vec![c(&[], &[])], vec![c(&both, &[])]), BURSTABLE),
            ("an init container that asks for memory", spec(vec![c(&[], &[("memory", "1Mi")])], vec![c(&[], &[])]), BURSTABLE),
            ("guaranteed init and app containers", spec(vec![c(&both, &[])], vec![c(&both, &both)]), GUARANTEED),
            ("an explicit zero request beside a limit", spec(vec![], vec![c(&both, &[("cpu", "0")])]), BURSTABLE),
        ];
        let wrong: Vec<String> =
            cases.iter().filter(|(_, s, want)| pod_qos(s) != *want).map(|(name, s, want)| format!("{name}: got {}, want {want}", pod_qos(s))).collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}

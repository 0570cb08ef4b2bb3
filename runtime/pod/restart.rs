//! The one restart decision, shared by the container worker (whether to
//! run the container again) and the phase computation (whether an exit is
//! final): `podutil.ContainerShouldRestart` with the kubelet's rules for
//! init containers.

use k8s_openapi::api::core::v1::{Container, ContainerRestartRule, PodSpec};

use super::kind::ContainerKind;

/// A `restartPolicy`: the pod's, or a container's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Restart whatever the exit code (the API default).
    #[default]
    Always,
    /// Restart after a non-zero exit.
    OnFailure,
    /// Never restart.
    Never,
}

impl RestartPolicy {
    /// The policy a field names; none for an unset or unknown value.
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value? {
            "Always" => Some(Self::Always),
            "OnFailure" => Some(Self::OnFailure),
            "Never" => Some(Self::Never),
            _ => None,
        }
    }

    /// The pod's policy: unset or unrecognised is `Always`, the API
    /// default (as `podutil.ContainerShouldRestart` treats it).
    pub fn of_pod(spec: &PodSpec) -> Self {
        Self::parse(spec.restart_policy.as_deref()).unwrap_or_default()
    }

    /// Whether the policy restarts a container that exited with `exit_code`.
    pub fn allows(self, exit_code: i32) -> bool {
        match self {
            Self::Always => true,
            Self::OnFailure => exit_code != 0,
            Self::Never => false,
        }
    }
}

/// Whether `container` (of `kind`, in a pod with `pod_policy`) is run
/// again after exiting with `exit_code`.
///
/// - A native sidecar (an init container with `restartPolicy: Always`)
///   always is.
/// - A regular init container that exited 0 is complete and never is; its
///   failures follow the pod's policy (`Always` acting as `OnFailure`).
/// - Otherwise `podutil.ContainerShouldRestart`: a matching
///   `restartPolicyRules` entry with action `Restart` restarts, then the
///   container's own `restartPolicy`, then the pod's.
pub(crate) fn should_restart(container: &Container, kind: ContainerKind, pod_policy: RestartPolicy, exit_code: i32) -> bool {
    RestartRule::of(container, kind, pod_policy).restarts_after(exit_code)
}

/// What [`should_restart`] decides by, taken from a container once: the
/// container worker keeps it for the container's life.
#[derive(Debug, Clone, Default)]
pub(crate) struct RestartRule {
    /// A native sidecar: always restarted.
    sidecar: bool,
    /// A regular init container: complete at exit 0.
    init: bool,
    /// The container's own `restartPolicy`, when set (even to an unknown value).
    own: Option<Option<RestartPolicy>>,
    /// Its `restartPolicyRules`.
    rules: Vec<ContainerRestartRule>,
    /// The pod's policy.
    pod: RestartPolicy,
}

impl RestartRule {
    /// The rule of `container` of `kind` in a pod with `pod_policy`.
    pub(crate) fn of(container: &Container, kind: ContainerKind, pod_policy: RestartPolicy) -> Self {
        let sidecar = kind == ContainerKind::Init && is_sidecar(container);
        Self {
            sidecar,
            init: kind == ContainerKind::Init && !sidecar,
            own: container.restart_policy.as_deref().map(|p| RestartPolicy::parse(Some(p))),
            rules: container.restart_policy_rules.clone().unwrap_or_default(),
            pod: pod_policy,
        }
    }

    /// Whether the container runs again after exiting with `exit_code`.
    pub(crate) fn restarts_after(&self, exit_code: i32) -> bool {
        if self.sidecar {
            return true;
        }
        if self.init && exit_code == 0 {
            return false;
        }
        if let Some(own) = self.own {
            if restart_rule_matches(&self.rules, exit_code) {
                return true;
            }
            if let Some(policy) = own {
                return policy.allows(exit_code);
            }
            // Any other value falls through to the pod's policy.
        }
        self.pod.allows(exit_code)
    }
}

/// Whether `container` is a native sidecar: an init container with
/// `restartPolicy: Always` (`podutil.IsRestartableInitContainer`).
pub(crate) fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

/// The first `restartPolicyRules` entry whose exit codes match, if its
/// action is `Restart`.
fn restart_rule_matches(rules: &[ContainerRestartRule], exit_code: i32) -> bool {
    let matching = rules.iter().find(|rule| {
        rule.exit_codes.as_ref().is_some_and(|codes| {
            let listed = codes.values.as_deref().unwrap_or_default().contains(&exit_code);
            match codes.operator.as_str() {
                "In" => listed,
                "NotIn" => !listed,
                // An unknown operator never matches; the next rule is tried.
                _ => false,
            }
        })
    });
    matching.is_some_and(|rule| rule.action == "Restart")
}

#[cfg(test)]
mod tests {
    use super::*;
    use RestartPolicy::*;

    fn container(policy: Option<&str>) -> Container {
        Container { name: "c".into(), restart_policy: policy.map(str::to_owned), ..Default::default() }
    }

    #[test]
    fn the_restart_decision_table() {
        let (init, app) = (ContainerKind::Init, ContainerKind::App);
        // (container policy, kind, pod policy, exit code, restarts)
        let rows: &[(Option<&str>, ContainerKind, RestartPolicy, i32, bool)] = &[
            (None, app, Always, 0, true),
            (None, app, Always, 1, true),
            (None, app, OnFailure, 0, false),
            (None, app, OnFailure, 2, true),
            (None, app, Never, 1, false),
            // A regular init container: done at 0, its failures retried
            // unless the pod says Never.
            (None, init, Always, 0, false),
            (None, init, Always, 1, true),
            (None, init, OnFailure, 1, true),
            (None, init, Never, 1, false),
            // A native sidecar restarts whatever happens.
            (Some("Always"), init, Never, 0, true),
            (Some("Always"), init, Never, 1, true),
            // A container's own policy overrides the pod's.
            (Some("Never"), app, Always, 1, false),
            (Some("OnFailure"), app, Never, 3, true),
            (Some("Bogus"), app, Never, 3, false),
        ];
        for &(own, kind, pod, code, want) in rows {
            assert_eq!(should_restart(&container(own), kind, pod, code), want, "{own:?} {kind:?} pod {pod:?} exit {code}");
        }
    }

    #[test]
    fn a_matching_restart_rule_wins_over_the_policy() {
        let rule = |op: &str, codes: Vec<i32>| k8s_openapi::api::core::v1::ContainerRestartRule {
            action: "Restart".into(),
            exit_codes: Some(k8s_openapi::api::core::v1::ContainerRestartRuleOnExitCodes { operator: op.into(), values: Some(codes) }),
        };
        let mut c = container(Some("Never"));
        c.restart_policy_rules = Some(vec![rule("In", vec![42])]);
        assert!(should_restart(&c, ContainerKind::App, Never, 42));
        assert!(!should_restart(&c, ContainerKind::App, Never, 1));
        c.restart_policy_rules = Some(vec![rule("NotIn", vec![0])]);
        assert!(should_restart(&c, ContainerKind::App, Never, 1));
        assert!(!should_restart(&c, ContainerKind::App, Never, 0));
    }

    #[test]
    fn unset_and_unknown_pod_policies_are_always() {
        assert_eq!(RestartPolicy::of_pod(&PodSpec::default()), Always);
        assert_eq!(RestartPolicy::of_pod(&PodSpec { restart_policy: Some("Sometimes".into()), ..Default::default() }), Always);
        assert_eq!(RestartPolicy::of_pod(&PodSpec { restart_policy: Some("Never".into()), ..Default::default() }), Never);
    }
}

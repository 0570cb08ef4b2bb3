//! Lifecycles as explicit states stepped by pure functions: a pod's
//! (`pod.rs`: which containers run, in what order, until the pod ends) and
//! each container's (`container.rs`: create, run, stop, restart with
//! back-off). The supervisor and the container worker carry out the
//! actions and feed the results back; neither decides anything itself.

pub(crate) mod container;
pub(crate) mod pod;

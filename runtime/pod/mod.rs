//! Pod lifecycle: the supervisor, container states, phase and conditions.

pub mod backoff;
pub mod conditions;
pub mod phase;

//! A pod's and a container's resource limits, as the kernel's cgroups and
//! rlimits enforce them for a Linux container: the pod's cap on open files
//! and sockets ([`HandleAccount`]), a container's memory
//! ([`MemoryAccount`], `resources.limits.memory`) and CPU ([`CpuAccount`],
//! `resources.limits.cpu`).
//!
//! A leaf of the library: the accounts know nothing of volumes, sockets or
//! sandboxes. The sandbox charges them from its stores, the pod network
//! takes socket slots from the handle cap, and the volumes' measurements
//! set what a container's memory-backed files hold.

mod cpu;
mod handles;
mod memory;

pub use cpu::CpuAccount;
pub(crate) use cpu::schedule;
pub(crate) use handles::Handles;
pub use handles::{DEFAULT_MAX_OPEN_FILES, HandleAccount, Slot};
pub use memory::MemoryAccount;
pub(crate) use memory::{MemoryLimiter, is_out_of_memory};

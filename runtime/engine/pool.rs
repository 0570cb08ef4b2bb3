//! How instances get their memories and stacks: wasmtime's pooling
//! allocator, sized from this machine's budgets, else on-demand mappings.
//!
//! The pool reserves every slot's address space once, so a container start
//! or a request to a wasi:http handler reuses a slot instead of mapping and
//! unmapping gigabytes (and flushing every core's TLB on unmap). Its size
//! is bounded by two budgets:
//!
//! - memory mappings (`vm.max_map_count` on Linux, 65,530 by default): a
//!   slot in use costs up to 4 mappings for its memory (accessible part,
//!   copy-on-write image, heap, guard) and 2 for its stack (guard page,
//!   stack), the stack's 2 from the start. When the budget cannot give the
//!   wanted number of slots 6 mappings each, images are copied into memory
//!   instead of mapped (4 mappings a slot): more private memory per
//!   instance, but the slots fit.
//! - address space: each slot reserves [`Config::memory_reservation`] plus
//!   guard; the pool takes at most half of a 47-bit space.
//!
//! If the pool still cannot be created (a smaller address space, an
//! `ulimit -v`), the engine falls back to on-demand allocation.

use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Slots wanted when the budgets allow: every running container, each
/// in-flight wasi:http request and exec probe hold one.
pub(crate) const WANTED_SLOTS: u32 = 20_000;
/// Mappings kept free for everything else the process maps (threads,
/// libraries, malloc arenas, compiled images).
const RESERVED_MAPPINGS: u64 = 8_192;
const MAPS_PER_SLOT_COW: u64 = 6;
const MAPS_PER_SLOT_COPY: u64 = 4;
/// Per-slot reservation: 4 GiB of memory, 32 MiB guard, stack.
const SLOT_ADDRESS_SPACE: u64 = (4 << 30) + (32 << 20) + (2 << 20);
/// Half of a 47-bit user address space.
const POOL_ADDRESS_SPACE: u64 = 1 << 46;
/// Fiber stack of each instance (wasmtime's default).
const STACK_SIZE: usize = 2 << 20;

/// The chosen allocation, for messages and `wasmpod bench`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AllocationPlan {
    /// Pool slots; 0: on-demand allocation.
    pub slots: u32,
    /// Whether memory images are mapped copy-on-write (else copied).
    pub copy_on_write: bool,
    /// Why, in a sentence.
    pub reason: String,
}

/// Decides the pool from the budgets: `max_map_count` and the mappings the
/// process has now (none known: unlimited).
pub(crate) fn plan(max_map_count: Option<u64>, maps_now: u64, address_limit: Option<u64>) -> AllocationPlan {
    let by_address = POOL_ADDRESS_SPACE.min(address_limit.unwrap_or(u64::MAX) / 2) / SLOT_ADDRESS_SPACE;
    let free_maps = max_map_count.map(|m| m.saturating_sub(maps_now + RESERVED_MAPPINGS));
    let wanted = u64::from(WANTED_SLOTS).min(by_address);
    let (slots, copy_on_write, why) = match free_maps {
        None => (wanted, true, "no mapping limit".to_owned()),
        Some(free) if free / MAPS_PER_SLOT_COW >= wanted => (wanted, true, format!("{free} free memory mappings")),
        Some(free) => (
            wanted.min(free / MAPS_PER_SLOT_COPY),
            false,
            format!("{free} free memory mappings (vm.max_map_count): images are copied, not mapped, to fit more slots"),
        ),
    };
    let slots = u32::try_from(slots).unwrap_or(u32::MAX);
    AllocationPlan { slots, copy_on_write, reason: format!("pooling allocator with {slots} slots ({why}; address space for {by_address})") }
}

/// This machine's budgets (Linux: `/proc`; elsewhere no mapping limit).
pub(crate) fn plan_here() -> AllocationPlan {
    let (max_maps, maps_now) = if cfg!(target_os = "linux") {
        let max = std::fs::read_to_string("/proc/sys/vm/max_map_count").ok().and_then(|s| s.trim().parse().ok());
        let now = std::fs::read_to_string("/proc/self/maps").map(|s| s.lines().count() as u64).unwrap_or(0);
        (max, now)
    } else {
        (None, 0)
    };
    plan(max_maps, maps_now, address_limit())
}

#[cfg(unix)]
fn address_limit() -> Option<u64> {
    // SAFETY: getrlimit only writes the struct given.
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } != 0 || lim.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    // rlim_t is u64 on Linux and macOS, but not by definition.
    #[allow(clippy::unnecessary_cast)]
    Some(lim.rlim_cur as u64)
}

#[cfg(not(unix))]
fn address_limit() -> Option<u64> {
    None
}

/// Applies `plan` to `config`.
pub(crate) fn apply(config: &mut Config, plan: &AllocationPlan) {
    config.async_stack_size(STACK_SIZE);
    // Set for on-demand allocation too: it is part of the compatibility
    // hash that keys the compile cache.
    config.memory_init_cow(plan.copy_on_write);
    if plan.slots == 0 {
        config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
        return;
    }
    let n = plan.slots;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_memories(n)
        .total_stacks(n)
        .total_component_instances(n)
        .total_core_instances(n.saturating_mul(8))
        .total_tables(n.saturating_mul(4))
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        .max_core_instances_per_component(64)
        .max_tables_per_module(4)
        .table_elements(65_536)
        .max_memory_size(4 << 30)
        // Slots keep nothing resident between instances beyond this: a
        // freed slot returns its pages to the system.
        .linear_memory_keep_resident(0)
        .async_stack_keep_resident(0);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roomy_machine_gets_the_wanted_slots_copy_on_write() {
        let p = plan(Some(1_048_576), 2_000, None);
        assert_eq!((p.slots, p.copy_on_write), (WANTED_SLOTS.min((POOL_ADDRESS_SPACE / SLOT_ADDRESS_SPACE) as u32), true), "{p:?}");
        assert!(plan(None, 0, None).copy_on_write);
    }

    #[test]
    fn the_default_map_count_copies_images_to_fit_more_slots() {
        let p = plan(Some(65_530), 2_000, None);
        assert!(!p.copy_on_write, "{p:?}");
        assert_eq!(u64::from(p.slots), (65_530 - 2_000 - RESERVED_MAPPINGS) / MAPS_PER_SLOT_COPY);
        assert!(p.reason.contains("vm.max_map_count"), "{}", p.reason);
    }

    #[test]
    fn an_address_space_limit_shrinks_the_pool() {
        let p = plan(None, 0, Some(64 << 30));
        assert_eq!(u64::from(p.slots), (32u64 << 30) / SLOT_ADDRESS_SPACE);
    }
}

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
//!   guard; the pool takes at most half of the process's user address
//!   space (on Linux read from where the stack lies: 47 bits on x86_64,
//!   often 39 on ARM boards; elsewhere 47 bits) and of `ulimit -v`.
//!
//! When that leaves room for fewer than [`MIN_POOL_SLOTS`] slots (a small
//! device), a pool would cap the pods at a handful, so instances are mapped
//! on demand instead. If the pool still cannot be created, the engine falls
//! back to on-demand allocation. [`InstanceAllocation`] lets the user
//! choose either instead of this plan.

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
/// The user address space assumed where it cannot be read: 47 bits, what
/// x86_64 and most 64-bit systems give a process.
const DEFAULT_USER_SPACE: u64 = 1 << 47;
/// Below this many slots a pool is not worth its cap on running instances.
pub(crate) const MIN_POOL_SLOTS: u64 = 1_000;
/// Fiber stack of each instance (wasmtime's default).
const STACK_SIZE: usize = 2 << 20;

/// How instances get their memories: the user's choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstanceAllocation {
    /// A pool sized from this machine's budgets, or on-demand mappings
    /// where the pool would be small or cannot be reserved.
    #[default]
    Auto,
    /// Every instance's memory and stack mapped when it starts (no
    /// reservation up front; slower starts, no cap on instances).
    OnDemand,
    /// A pool of exactly this many slots (falls back to on demand if it
    /// cannot be reserved).
    Pool(u32),
}

impl std::str::FromStr for InstanceAllocation {
    type Err = String;

    /// `auto`, `on-demand`, or `pool=N`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "on-demand" => Ok(Self::OnDemand),
            _ => match s.strip_prefix("pool=").map(str::parse::<u32>) {
                Some(Ok(n)) if n > 0 => Ok(Self::Pool(n)),
                _ => Err(format!("{s:?} is not auto, on-demand or pool=N (N > 0)")),
            },
        }
    }
}

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

/// This machine's budgets for a pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budgets {
    /// `vm.max_map_count` (none known: unlimited).
    pub max_map_count: Option<u64>,
    /// The mappings the process has now.
    pub maps_now: u64,
    /// `ulimit -v`.
    pub address_limit: Option<u64>,
    /// The process's user address space.
    pub user_space: u64,
}

impl Budgets {
    /// Mappings free for a pool (none known: unlimited).
    fn free_maps(&self) -> Option<u64> {
        self.max_map_count.map(|m| m.saturating_sub(self.maps_now + RESERVED_MAPPINGS))
    }
}

/// Decides the pool from the budgets.
pub(crate) fn plan(b: Budgets) -> AllocationPlan {
    let by_address = (b.user_space / 2).min(b.address_limit.unwrap_or(u64::MAX) / 2) / SLOT_ADDRESS_SPACE;
    if by_address < MIN_POOL_SLOTS {
        let bits = 64 - b.user_space.leading_zeros() - 1;
        let limit = b.address_limit.map(|l| format!(" and a {} MiB address limit", l >> 20)).unwrap_or_default();
        return AllocationPlan {
            slots: 0,
            copy_on_write: true,
            reason: format!("on-demand allocation (a {bits}-bit address space{limit} leaves room for only {by_address} pool slots)"),
        };
    }
    let free_maps = b.free_maps();
    let wanted = u64::from(WANTED_SLOTS).min(by_address);
    let (slots, copy_on_write, why) = match free_maps {
        None => (wanted, true, "no mapping limit".to_owned()),
        Some(free) if free / MAPS_PER_SLOT_COW >= wanted => (wanted, true, format!("{free} free memory mappings")),
        // A build without a compiler runs code made by `wasmpod compile`,
        // which is for copy-on-write images: fewer slots instead.
        Some(free) if !cfg!(feature = "compiler") => {
            (free / MAPS_PER_SLOT_COW, true, format!("{free} free memory mappings (vm.max_map_count), 6 a slot with images mapped copy-on-write"))
        }
        Some(free) => (
            wanted.min(free / MAPS_PER_SLOT_COPY),
            false,
            format!("{free} free memory mappings (vm.max_map_count): images are copied, not mapped, to fit more slots"),
        ),
    };
    let slots = u32::try_from(slots).unwrap_or(u32::MAX);
    AllocationPlan { slots, copy_on_write, reason: format!("pooling allocator with {slots} slots ({why}; address space for {by_address})") }
}

/// The plan for `choice` on this machine.
pub(crate) fn plan_for(choice: InstanceAllocation) -> AllocationPlan {
    match choice {
        InstanceAllocation::Auto => plan(budgets_here()),
        InstanceAllocation::OnDemand => AllocationPlan { slots: 0, copy_on_write: true, reason: "on-demand allocation (chosen)".into() },
        InstanceAllocation::Pool(slots) => {
            // The mapping budget still decides whether images are mapped
            // (6 mappings a slot) or copied (4) for this many slots.
            // (Always mapped in a build without a compiler: see `plan`.)
            let copy_on_write = !cfg!(feature = "compiler") || budgets_here().free_maps().is_none_or(|free| free / MAPS_PER_SLOT_COW >= u64::from(slots));
            AllocationPlan { slots, copy_on_write, reason: format!("pooling allocator with {slots} slots (chosen)") }
        }
    }
}

/// This machine's budgets (Linux: `/proc`; elsewhere no mapping limit and
/// a 47-bit address space).
fn budgets_here() -> Budgets {
    let (max_map_count, maps_now, user_space) = if cfg!(target_os = "linux") {
        let max = std::fs::read_to_string("/proc/sys/vm/max_map_count").ok().and_then(|s| s.trim().parse().ok());
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        (max, maps.lines().count() as u64, user_space(&maps).unwrap_or(DEFAULT_USER_SPACE))
    } else {
        (None, 0, DEFAULT_USER_SPACE)
    };
    Budgets { max_map_count, maps_now, address_limit: address_limit(), user_space }
}

/// The user address space a process has, from its mappings
/// (`/proc/self/maps`): the stack lies near the top, so the space is the
/// power of two above the highest mapping's end (the vsyscall page, above
/// every user space, aside). At least 32 bits, at most 47 unless a mapping
/// lies higher.
fn user_space(maps: &str) -> Option<u64> {
    let top = maps
        .lines()
        .filter(|l| !l.ends_with("[vsyscall]"))
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().next()?.split_once('-')?.1, 16).ok())
        .max()?;
    Some(top.max(1 << 32).checked_next_power_of_two().unwrap_or(1 << 63))
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
        // 4 GiB, a wasm32 memory's whole space (all of a 32-bit host's).
        .max_memory_size(usize::try_from(4u64 << 30).unwrap_or(usize::MAX))
        // Slots keep nothing resident between instances beyond this: a
        // freed slot returns its pages to the system.
        .linear_memory_keep_resident(0)
        .async_stack_keep_resident(0);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets(max_map_count: Option<u64>, maps_now: u64, address_limit: Option<u64>) -> Budgets {
        Budgets { max_map_count, maps_now, address_limit, user_space: DEFAULT_USER_SPACE }
    }

    #[test]
    fn a_roomy_machine_gets_the_wanted_slots_copy_on_write() {
        let p = plan(budgets(Some(1_048_576), 2_000, None));
        assert_eq!((p.slots, p.copy_on_write), (WANTED_SLOTS.min((DEFAULT_USER_SPACE / 2 / SLOT_ADDRESS_SPACE) as u32), true), "{p:?}");
        assert!(plan(budgets(None, 0, None)).copy_on_write);
    }

    #[test]
    fn a_small_address_space_maps_instances_on_demand() {
        // A 39-bit ARM board: 256 GiB for a pool is 63 slots.
        let p = plan(Budgets { user_space: 1 << 39, ..budgets(None, 0, None) });
        assert_eq!(p.slots, 0, "{p:?}");
        assert_eq!(p.reason, "on-demand allocation (a 39-bit address space leaves room for only 63 pool slots)");
        let p = plan(budgets(None, 0, Some(64 << 30)));
        assert_eq!(p.slots, 0, "{p:?}");
        assert!(p.reason.contains("65536 MiB address limit"), "{}", p.reason);
    }

    #[test]
    fn the_address_space_is_read_from_where_the_mappings_lie() {
        let x86 = "55d0c0a00000-55d0c0a21000 r--p 00000000 08:01 1 /bin/x\n7ffd3b4e0000-7ffd3b501000 rw-p 00000000 00:00 0 [stack]\nffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n";
        assert_eq!(user_space(x86), Some(1 << 47));
        let arm39 = "5581200000-5581221000 r--p 00000000 b3:02 1 /bin/x\n7ff7c1e000-7ff7c3f000 rw-p 00000000 00:00 0 [stack]\n";
        assert_eq!(user_space(arm39), Some(1 << 39));
        assert_eq!(user_space(""), None);
        assert_eq!("pool=64".parse(), Ok(InstanceAllocation::Pool(64)));
        assert_eq!("on-demand".parse(), Ok(InstanceAllocation::OnDemand));
        assert!("pool=0".parse::<InstanceAllocation>().is_err());
    }

    #[test]
    #[cfg(feature = "compiler")]
    fn the_default_map_count_copies_images_to_fit_more_slots() {
        let p = plan(budgets(Some(65_530), 2_000, None));
        assert!(!p.copy_on_write, "{p:?}");
        assert_eq!(u64::from(p.slots), (65_530 - 2_000 - RESERVED_MAPPINGS) / MAPS_PER_SLOT_COPY);
        assert!(p.reason.contains("vm.max_map_count"), "{}", p.reason);
    }

    #[test]
    fn an_address_space_limit_shrinks_the_pool() {
        let p = plan(budgets(None, 0, Some(16 << 40)));
        assert_eq!(u64::from(p.slots), (8u64 << 40) / SLOT_ADDRESS_SPACE);
    }
}

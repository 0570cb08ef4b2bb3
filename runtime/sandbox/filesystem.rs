//! The pod's open-file cap (`handles.rs`) on wasmtime-wasi's filesystem:
//! the functions that open and close descriptors are shadowed in the
//! linkers by wrappers that take a slot first and give it back on close;
//! everything else is wasmtime-wasi's, unchanged. For components, the
//! calls that change a directory are shadowed too, so that a refusal
//! under a read-only mount or root reads `read-only` (EROFS, "Read-only
//! file system") as on Linux instead of wasmtime-wasi's `not-permitted`.
//!
//! Components: `wasi:filesystem/types` `[method]descriptor.open-at` and the
//! `descriptor` resource's destructor. wasip1 modules: `path_open`,
//! `fd_close` and `fd_renumber` of `wasi_snapshot_preview1`, which call
//! wasmtime-wasi's own wiggle-generated functions with the guest's memory
//! (always an unshared memory: wasmpod builds wasmtime without threads).
//!
//! A component's open-at also records the container as the writer of a
//! file it opens to write, when its pod has memory-backed volumes
//! (`volume/memory_files.rs`), and as the creator of a file it creates, when a
//! volume of its pod has writers of different identities
//! (`volume/ownership.rs`).

use wasmtime::component::{Linker as ComponentLinker, Resource, ResourceType};
use wasmtime::{AsContextMut, Caller, Linker, Memory, StoreContextMut};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as p1, WasiSnapshotPreview1 as _};
use wasmtime_wasi::p2::bindings::filesystem::types::{Descriptor, DescriptorFlags, ErrorCode, HostDescriptor, NewTimestamp, OpenFlags, PathFlags};
use wiggle::GuestMemory;

use super::{ComponentState, ModuleState};

/// The `wasi:filesystem/types` instance wasmtime-wasi 48 defines; guests
/// importing any 0.2.x version are linked to it.
const TYPES: &str = "wasi:filesystem/types@0.2.12";

/// The wasip1 module name.
const P1: &str = "wasi_snapshot_preview1";

/// wasip1 `errno::mfile`: too many open files.
const ERRNO_MFILE: i32 = 33;

/// Shadows `open-at` and the descriptor destructor for components.
pub(crate) fn add_to_component_linker(linker: &mut ComponentLinker<ComponentState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(TYPES)?;
    types.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store: StoreContextMut<'_, ComponentState>,
         (dir, path_flags, path, open_flags, flags): (Resource<Descriptor>, PathFlags, String, OpenFlags, DescriptorFlags)| {
            Box::new(async move {
                let state = store.data_mut();
                let Some(slot) = state.handles.reserve() else {
                    return Ok((Err(ErrorCode::InsufficientMemory),));
                };
                // Whether this open creates the file, where creators are noted.
                let creates = match state.identity.creators() {
                    Some(_) if open_flags.contains(OpenFlags::CREATE) => {
                        let at = Resource::new_borrow(dir.rep());
                        HostDescriptor::stat_at(&mut state.filesystem(), at, PathFlags::empty(), path.clone()).await.is_err()
                    }
                    _ => false,
                };
                let at = dir.rep();
                match HostDescriptor::open_at(&mut state.filesystem(), dir, path_flags, path, open_flags, flags).await {
                    Ok(fd) => {
                        state.handles.hold(fd.rep(), slot);
                        record_opened(state, &fd, flags.contains(DescriptorFlags::WRITE), creates);
                        Ok((Ok(fd),))
                    }
                    // A trap stays a trap; an error code goes to the guest.
                    Err(e) => Ok((Err(read_only_is_erofs(state, &[at], e.downcast()?)),)),
                }
            })
        },
    )?;
    // The other calls that change a directory: a refusal because the mount
    // (or root) is read-only reads as on Linux, EROFS.
    macro_rules! changes {
        ($name:literal, $method:ident, ($($arg:ident: $ty:ty),*), [$($fd:ident),+]) => {
            types.func_wrap_async($name, |mut store: StoreContextMut<'_, ComponentState>, ($($arg,)*): ($($ty,)*)| {
                Box::new(async move {
                    let state = store.data_mut();
                    let descriptors = [$($fd.rep()),+];
                    match HostDescriptor::$method(&mut state.filesystem(), $($arg),*).await {
                        Ok(()) => Ok((Ok(()),)),
                        Err(e) => Ok((Err(read_only_is_erofs(state, &descriptors, e.downcast()?)),)),
                    }
                })
            })?;
        };
    }
    changes!("[method]descriptor.create-directory-at", create_directory_at, (fd: Resource<Descriptor>, path: String), [fd]);
    changes!("[method]descriptor.unlink-file-at", unlink_file_at, (fd: Resource<Descriptor>, path: String), [fd]);
    changes!("[method]descriptor.remove-directory-at", remove_directory_at, (fd: Resource<Descriptor>, path: String), [fd]);
    changes!("[method]descriptor.symlink-at", symlink_at, (fd: Resource<Descriptor>, old: String, new: String), [fd]);
    changes!("[method]descriptor.rename-at", rename_at, (fd: Resource<Descriptor>, old: String, to: Resource<Descriptor>, new: String), [fd, to]);
    changes!(
        "[method]descriptor.link-at",
        link_at,
        (fd: Resource<Descriptor>, flags: PathFlags, old: String, to: Resource<Descriptor>, new: String),
        [fd, to]
    );
    changes!(
        "[method]descriptor.set-times-at",
        set_times_at,
        (fd: Resource<Descriptor>, flags: PathFlags, path: String, atime: NewTimestamp, mtime: NewTimestamp),
        [fd]
    );
    types.resource("descriptor", ResourceType::host::<Descriptor>(), |mut store, rep| {
        let state = store.data_mut();
        state.handles.release(rep);
        HostDescriptor::drop(&mut state.filesystem(), Resource::new_own(rep))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

/// `code`, or `read-only` (EROFS) when it is wasmtime-wasi's refusal to
/// change anything beneath a read-only preopen (`not-permitted`, EPERM)
/// and one of `descriptors` is such a directory: what Linux answers for a
/// read-only mount.
fn read_only_is_erofs(state: &mut ComponentState, descriptors: &[u32], code: ErrorCode) -> ErrorCode {
    let read_only = |rep: u32| match state.table.get(&Resource::<Descriptor>::new_borrow(rep)) {
        Ok(Descriptor::Dir(d)) => d.perms.write_not_permitted(),
        Ok(Descriptor::File(f)) => f.perms.write_not_permitted(),
        Err(_) => false,
    };
    if matches!(code, ErrorCode::NotPermitted) && descriptors.iter().any(|&rep| read_only(rep)) { ErrorCode::ReadOnly } else { code }
}

/// Notes what the pod needs to know of a file a component opened: in a
/// pod with memory-backed volumes, the container as the writer of a file
/// opened to write (`volume/memory_files.rs`: its bytes count against the
/// container's memory limit); in a pod whose volume is written by
/// containers of different identities, the container as the creator of a
/// file this open created (`volume/ownership.rs`: its owner).
fn record_opened(state: &ComponentState, fd: &Resource<Descriptor>, writes: bool, created: bool) {
    let ledger = state.limiter.account().filter(|_| writes).and_then(|a| Some((a, state.memory_files.as_ref()?)));
    let creators = state.identity.creators().filter(|_| created);
    if ledger.is_none() && creators.is_none() {
        return;
    }
    let Ok(Descriptor::File(f)) = state.table.get(fd) else { return };
    let Some(id) = crate::volume::file_id(&f.file) else { return };
    if let Some((account, ledger)) = ledger {
        ledger.wrote(id, account);
    }
    if let Some(creators) = creators {
        creators.created(id, state.identity.identity.volume_writer());
    }
}

/// Shadows `path_open`, `fd_close` and `fd_renumber` for wasip1 modules;
/// each calls wasmtime-wasi's own implementation (the functions its
/// linker entries call) on the guest's memory.
pub(crate) fn add_to_module_linker(linker: &mut Linker<ModuleState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap_async(
        P1,
        "path_open",
        |mut caller: Caller<'_, ModuleState>,
         (dir, lookup, path, path_len, oflags, base, inheriting, fdflags, opened): (i32, i32, i32, i32, i32, i64, i64, i32, i32)| {
            Box::new(async move {
                let Some(slot) = caller.data().handles.reserve() else { return Ok(ERRNO_MFILE) };
                let memory = memory(&mut caller)?;
                let (mut bytes, wasi) = p1_view(&mut caller, memory);
                let errno = p1::path_open(wasi, &mut bytes, dir, lookup, path, path_len, oflags, base, inheriting, fdflags, opened).await?;
                if errno == 0 {
                    // The new descriptor number, written where the guest asked.
                    let mut fd = [0u8; 4];
                    memory.read(&caller, opened as u32 as usize, &mut fd)?;
                    caller.data_mut().handles.hold(u32::from_le_bytes(fd), slot);
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(P1, "fd_close", |mut caller: Caller<'_, ModuleState>, (fd,): (i32,)| {
        Box::new(async move {
            let memory = memory(&mut caller)?;
            let (mut bytes, wasi) = p1_view(&mut caller, memory);
            let errno = p1::fd_close(wasi, &mut bytes, fd).await?;
            if errno == 0 {
                caller.data_mut().handles.release(fd as u32);
            }
            Ok(errno)
        })
    })?;
    linker.func_wrap_async(P1, "fd_renumber", |mut caller: Caller<'_, ModuleState>, (from, to): (i32, i32)| {
        Box::new(async move {
            let memory = memory(&mut caller)?;
            let (mut bytes, wasi) = p1_view(&mut caller, memory);
            let errno = p1::fd_renumber(wasi, &mut bytes, from, to).await?;
            if errno == 0 {
                caller.data_mut().handles.renumber(from as u32, to as u32);
            }
            Ok(errno)
        })
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

/// What wasmtime-wasi's own wasip1 entry points hand their implementation:
/// the guest's memory, and the context with the store's host-call fuel
/// (which bounds how much a call may copy).
fn p1_view<'a>(caller: &'a mut Caller<'_, ModuleState>, memory: Memory) -> (GuestMemory<'a>, &'a mut WasiP1Ctx) {
    let fuel = caller.as_context_mut().hostcall_fuel();
    let (bytes, state) = memory.data_and_store_mut(caller);
    state.wasi.set_hostcall_fuel(fuel);
    (GuestMemory::Unshared(bytes), &mut state.wasi)
}

/// The calling module's exported memory, as wasmtime-wasi's own wasip1
/// functions find it.
fn memory(caller: &mut Caller<'_, ModuleState>) -> wasmtime::Result<Memory> {
    caller.get_export("memory").and_then(|e| e.into_memory()).ok_or_else(|| wasmtime::format_err!("missing required memory export"))
}

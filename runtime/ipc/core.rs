//! The `wasmpod_ipc` import module for wasip1 core modules: the same
//! operations as the WIT interfaces, in the C ABI style of
//! `wasi_snapshot_preview1` (pointers into the caller's exported `memory`,
//! an errno-like `i32` result, out-parameters for values).
//!
//! Result codes: 0 success; 1-9 the WIT `error-code` cases in order
//! (not-found, invalid-name, invalid-argument, limit-reached, would-block,
//! timed-out, message-too-large, out-of-bounds, unaligned); then, for this
//! ABI only, 10 bad-handle, 11 buffer-too-small (the message stays queued
//! and its length is written to `len_out`), 12 fault (a pointer range
//! outside memory). Timeouts are nanoseconds; a negative timeout waits as
//! long as it takes, 0 does not wait. Handles are small integers shared by
//! queues and segments; `close` releases one.
//!
//! | import | parameters |
//! |--------|------------|
//! | `queue_open` | name_ptr, name_len, capacity (0: open only), max_message_size, handle_out |
//! | `queue_send` | handle, ptr, len, timeout_ns: i64 |
//! | `queue_receive` | handle, buf, buf_len, timeout_ns: i64, len_out |
//! | `queue_status` | handle, out (u32 depth, u32 capacity, u32 max_message_size, u32 0, u64 bytes) |
//! | `segment_open` | name_ptr, name_len, create_size: i64 (negative: open only), handle_out |
//! | `segment_size` | handle, size_out (u64) |
//! | `segment_read` / `segment_write` | handle, offset: i64, ptr, len |
//! | `segment_load` | handle, offset: i64, value_out (u64) |
//! | `segment_store` | handle, offset: i64, value: i64 |
//! | `segment_compare_exchange` | handle, offset: i64, expected: i64, replacement: i64, old_out (u64) |
//! | `segment_fetch_add` | handle, offset: i64, delta: i64, old_out (u64) |
//! | `segment_wait` | handle, offset: i64, expected: i64, timeout_ns: i64, outcome_out (u32: 0 woken, 1 not-equal, 2 timed-out) |
//! | `segment_notify` | handle, offset: i64, count, woken_out (u32) |
//! | `close` | handle |

use std::sync::Arc;

use wasmtime::{Caller, Linker, Memory};

use super::{ErrorCode, IpcNamespace, Queue, QueueConfig, Segment, WaitOutcome, deadline};

/// The import module's name.
pub const MODULE: &str = "wasmpod_ipc";

const BAD_HANDLE: i32 = 10;
const BUFFER_TOO_SMALL: i32 = 11;
const FAULT: i32 = 12;

fn code(e: ErrorCode) -> i32 {
    match e {
        ErrorCode::NotFound => 1,
        ErrorCode::InvalidName => 2,
        ErrorCode::InvalidArgument => 3,
        ErrorCode::LimitReached => 4,
        ErrorCode::WouldBlock => 5,
        ErrorCode::TimedOut => 6,
        ErrorCode::MessageTooLarge => 7,
        ErrorCode::OutOfBounds => 8,
        ErrorCode::Unaligned => 9,
    }
}

#[derive(Clone)]
enum Handle {
    Queue(Arc<Queue>),
    Segment(Arc<Segment>),
}

/// A core-module container's link to its pod's IPC namespace, with its
/// open handles.
pub(crate) struct ModuleIpc {
    namespace: Arc<IpcNamespace>,
    handles: Vec<Option<Handle>>,
}

impl ModuleIpc {
    pub(crate) fn new(namespace: Arc<IpcNamespace>) -> Self {
        Self { namespace, handles: Vec::new() }
    }

    fn insert(&mut self, h: Handle) -> u32 {
        match self.handles.iter().position(Option::is_none) {
            Some(i) => {
                self.handles[i] = Some(h);
                i as u32
            }
            None => {
                self.handles.push(Some(h));
                (self.handles.len() - 1) as u32
            }
        }
    }

    fn queue(&self, h: i32) -> Result<Arc<Queue>, i32> {
        match self.handles.get(h as u32 as usize) {
            Some(Some(Handle::Queue(q))) => Ok(q.clone()),
            _ => Err(BAD_HANDLE),
        }
    }

    fn segment(&self, h: i32) -> Result<Arc<Segment>, i32> {
        match self.handles.get(h as u32 as usize) {
            Some(Some(Handle::Segment(s))) => Ok(s.clone()),
            _ => Err(BAD_HANDLE),
        }
    }
}

/// A guest's pointer and length as a range of its memory; `FAULT` outside.
fn range(mem: &[u8], ptr: i32, len: i32) -> Result<std::ops::Range<usize>, i32> {
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    match start.checked_add(len) {
        Some(end) if end <= mem.len() => Ok(start..end),
        _ => Err(FAULT),
    }
}

/// The caller's exported memory; a module without one is a host fault
/// (trap) naming the pod, as no result code could reach it.
fn memory<T>(caller: &mut Caller<'_, T>, ipc: fn(&mut T) -> &mut ModuleIpc) -> wasmtime::Result<Memory> {
    if let Some(mem) = caller.get_export("memory").and_then(|e| e.into_memory()) {
        return Ok(mem);
    }
    let pod = ipc(caller.data_mut()).namespace.pod().to_owned();
    Err(wasmtime::format_err!("pod {pod}: {MODULE} imports need the module to export its `memory`, and it does not"))
}

fn write_bytes<T>(caller: &mut Caller<'_, T>, mem: Memory, ptr: i32, bytes: &[u8]) -> Result<(), i32> {
    let data = mem.data_mut(caller);
    let r = range(data, ptr, bytes.len() as i32)?;
    data[r].copy_from_slice(bytes);
    Ok(())
}

fn timeout(ns: i64) -> Option<u64> {
    (ns >= 0).then_some(ns as u64)
}

/// The errno of a call: 0 or its error.
fn errno(r: Result<(), i32>) -> i32 {
    r.err().unwrap_or(0)
}

/// Adds the `wasmpod_ipc` imports to a core-module linker; `ipc` finds the
/// container's [`ModuleIpc`] in the store.
pub(crate) fn add_to_module_linker<T: Send + 'static>(linker: &mut Linker<T>, ipc: fn(&mut T) -> &mut ModuleIpc) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "queue_open",
        move |mut caller: Caller<'_, T>, name_ptr: i32, name_len: i32, capacity: i32, max_size: i32, out: i32| -> wasmtime::Result<i32> {
            let mem = memory(&mut caller, ipc)?;
            let r = (|| {
                let data = mem.data(&caller);
                let name = std::str::from_utf8(&data[range(data, name_ptr, name_len)?]).map_err(|_| code(ErrorCode::InvalidName))?.to_owned();
                let create = (capacity != 0).then_some(QueueConfig { capacity: capacity as u32, max_message_size: max_size as u32 });
                let state = ipc(caller.data_mut());
                let q = state.namespace.open_queue(&name, create).map_err(code)?;
                let h = state.insert(Handle::Queue(q));
                if let Err(e) = write_bytes(&mut caller, mem, out, &h.to_le_bytes()) {
                    ipc(caller.data_mut()).handles[h as usize] = None;
                    return Err(e);
                }
                Ok(())
            })();
            Ok(errno(r))
        },
    )?;

    linker.func_wrap_async(MODULE, "queue_send", move |mut caller: Caller<'_, T>, (h, ptr, len, timeout_ns): (i32, i32, i32, i64)| {
        Box::new(async move {
            let mem = memory(&mut caller, ipc)?;
            let q = match ipc(caller.data_mut()).queue(h) {
                Ok(q) => q,
                Err(e) => return Ok(e),
            };
            let deadline = deadline(timeout(timeout_ns));
            // Try straight from guest memory (no copy on the fast path);
            // only a full queue makes us wait, then retry.
            loop {
                let data = mem.data(&caller);
                let r = match range(data, ptr, len) {
                    Ok(r) => r,
                    Err(e) => return Ok(e),
                };
                match q.try_send(&data[r]) {
                    Ok(()) => return Ok(0),
                    // Timeout 0 is the non-blocking variant.
                    Err(ErrorCode::WouldBlock) if timeout_ns == 0 => return Ok(code(ErrorCode::WouldBlock)),
                    Err(ErrorCode::WouldBlock) => {
                        if let Err(e) = q.writable(deadline).await {
                            return Ok(code(e));
                        }
                    }
                    Err(e) => return Ok(code(e)),
                }
            }
        })
    })?;

    linker.func_wrap_async(MODULE, "queue_receive", move |mut caller: Caller<'_, T>, (h, buf, buf_len, timeout_ns, len_out): (i32, i32, i32, i64, i32)| {
        Box::new(async move {
            let mem = memory(&mut caller, ipc)?;
            let q = match ipc(caller.data_mut()).queue(h) {
                Ok(q) => q,
                Err(e) => return Ok(e),
            };
            let deadline = deadline(timeout(timeout_ns));
            loop {
                let data = mem.data_mut(&mut caller);
                let (buf_range, out_range) = match (range(data, buf, buf_len), range(data, len_out, 4)) {
                    (Ok(a), Ok(b)) => (a, b),
                    _ => return Ok(FAULT),
                };
                let mut too_small = None;
                let r = q.try_receive_with(|a, b| {
                    let len = a.len() + b.len();
                    if len > buf_range.len() {
                        too_small = Some(len);
                        return Err(ErrorCode::InvalidArgument);
                    }
                    let dst = &mut data[buf_range.start..buf_range.start + len];
                    dst[..a.len()].copy_from_slice(a);
                    dst[a.len()..].copy_from_slice(b);
                    Ok(len)
                });
                match (r, too_small) {
                    (Ok(len), _) => {
                        data[out_range].copy_from_slice(&(len as u32).to_le_bytes());
                        return Ok(0);
                    }
                    (Err(_), Some(needed)) => {
                        data[out_range].copy_from_slice(&(needed as u32).to_le_bytes());
                        return Ok(BUFFER_TOO_SMALL);
                    }
                    (Err(ErrorCode::WouldBlock), None) if timeout_ns == 0 => return Ok(code(ErrorCode::WouldBlock)),
                    (Err(ErrorCode::WouldBlock), None) => {
                        if let Err(e) = q.readable(deadline).await {
                            return Ok(code(e));
                        }
                    }
                    (Err(e), None) => return Ok(code(e)),
                }
            }
        })
    })?;

    linker.func_wrap(MODULE, "queue_status", move |mut caller: Caller<'_, T>, h: i32, out: i32| -> wasmtime::Result<i32> {
        let mem = memory(&mut caller, ipc)?;
        let r = (|| {
            let st = ipc(caller.data_mut()).queue(h)?.status();
            let mut bytes = [0u8; 24];
            bytes[0..4].copy_from_slice(&st.depth.to_le_bytes());
            bytes[4..8].copy_from_slice(&st.config.capacity.to_le_bytes());
            bytes[8..12].copy_from_slice(&st.config.max_message_size.to_le_bytes());
            bytes[16..24].copy_from_slice(&st.bytes.to_le_bytes());
            write_bytes(&mut caller, mem, out, &bytes)
        })();
        Ok(errno(r))
    })?;

    linker.func_wrap(
        MODULE,
        "segment_open",
        move |mut caller: Caller<'_, T>, name_ptr: i32, name_len: i32, create_size: i64, out: i32| -> wasmtime::Result<i32> {
            let mem = memory(&mut caller, ipc)?;
            let r = (|| {
                let data = mem.data(&caller);
                let name = std::str::from_utf8(&data[range(data, name_ptr, name_len)?]).map_err(|_| code(ErrorCode::InvalidName))?.to_owned();
                let state = ipc(caller.data_mut());
                let s = state.namespace.open_segment(&name, (create_size >= 0).then_some(create_size as u64)).map_err(code)?;
                let h = state.insert(Handle::Segment(s));
                if let Err(e) = write_bytes(&mut caller, mem, out, &h.to_le_bytes()) {
                    ipc(caller.data_mut()).handles[h as usize] = None;
                    return Err(e);
                }
                Ok(())
            })();
            Ok(errno(r))
        },
    )?;

    linker.func_wrap(MODULE, "segment_size", move |mut caller: Caller<'_, T>, h: i32, out: i32| -> wasmtime::Result<i32> {
        let mem = memory(&mut caller, ipc)?;
        let r = ipc(caller.data_mut()).segment(h).and_then(|s| write_bytes(&mut caller, mem, out, &s.size().to_le_bytes()));
        Ok(errno(r))
    })?;

    linker.func_wrap(MODULE, "segment_read", move |mut caller: Caller<'_, T>, h: i32, offset: i64, ptr: i32, len: i32| -> wasmtime::Result<i32> {
        let mem = memory(&mut caller, ipc)?;
        let r = ipc(caller.data_mut()).segment(h).and_then(|s| {
            let data = mem.data_mut(&mut caller);
            let r = range(data, ptr, len)?;
            s.read(offset as u64, &mut data[r]).map_err(code)
        });
        Ok(errno(r))
    })?;

    linker.func_wrap(MODULE, "segment_write", move |mut caller: Caller<'_, T>, h: i32, offset: i64, ptr: i32, len: i32| -> wasmtime::Result<i32> {
        let mem = memory(&mut caller, ipc)?;
        let r = ipc(caller.data_mut()).segment(h).and_then(|s| {
            let data = mem.data(&caller);
            let r = range(data, ptr, len)?;
            s.write(offset as u64, &data[r]).map_err(code)
        });
        Ok(errno(r))
    })?;

    linker.func_wrap(MODULE, "segment_load", move |mut caller: Caller<'_, T>, h: i32, offset: i64, out: i32| -> wasmtime::Result<i32> {
        let mem = memory(&mut caller, ipc)?;
        let r = ipc(caller.data_mut()).segment(h).and_then(|s| {
            let v = s.load(offset as u64).map_err(code)?;
            write_bytes(&mut caller, mem, out, &v.to_le_bytes())
        });
        Ok(errno(r))
    })?;

    linker.func_wrap(MODULE, "segment_store", move |mut caller: Caller<'_, T>, h: i32, offset: i64, value: i64| -> wasmtime::Result<i32> {
        let r = ipc(caller.data_mut()).segment(h).and_then(|s| s.store(offset as u64, value as u64).map_err(code));
        Ok(errno(r))
    })?;

    linker.func_wrap(
        MODULE,
        "segment_compare_exchange",
        move |mut caller: Caller<'_, T>, h: i32, offset: i64, expected: i64, replacement: i64, out: i32| -> wasmtime::Result<i32> {
            let mem = memory(&mut caller, ipc)?;
            let r = ipc(caller.data_mut()).segment(h).and_then(|s| {
                let old = s.compare_exchange(offset as u64, expected as u64, replacement as u64).map_err(code)?;
                write_bytes(&mut caller, mem, out, &old.to_le_bytes())
            });
            Ok(errno(r))
        },
    )?;

    linker.func_wrap(MODULE, "segment_fetch_add", move |mut caller: Caller<'_, T>, h: i32, offset: i64, delta: i64, out: i32| -> wasmtime::Result<i32> {
        let mem = memory(&mut caller, ipc)?;
        let r = ipc(caller.data_mut()).segment(h).and_then(|s| {
            let old = s.fetch_add(offset as u64, delta as u64).map_err(code)?;
            write_bytes(&mut caller, mem, out, &old.to_le_bytes())
        });
        Ok(errno(r))
    })?;

    linker.func_wrap_async(MODULE, "segment_wait", move |mut caller: Caller<'_, T>, (h, offset, expected, timeout_ns, out): (i32, i64, i64, i64, i32)| {
        Box::new(async move {
            let mem = memory(&mut caller, ipc)?;
            let s = match ipc(caller.data_mut()).segment(h) {
                Ok(s) => s,
                Err(e) => return Ok(e),
            };
            let outcome = match s.wait(offset as u64, expected as u64, deadline(timeout(timeout_ns))).await {
                Ok(WaitOutcome::Woken) => 0u32,
                Ok(WaitOutcome::NotEqual) => 1,
                Ok(WaitOutcome::TimedOut) => 2,
                Err(e) => return Ok(code(e)),
            };
            Ok(errno(write_bytes(&mut caller, mem, out, &outcome.to_le_bytes())))
        })
    })?;

    linker.func_wrap(MODULE, "segment_notify", move |mut caller: Caller<'_, T>, h: i32, offset: i64, count: i32, out: i32| -> wasmtime::Result<i32> {
        let mem = memory(&mut caller, ipc)?;
        let r = ipc(caller.data_mut()).segment(h).and_then(|s| {
            let woken = s.notify(offset as u64, count as u32).map_err(code)?;
            write_bytes(&mut caller, mem, out, &woken.to_le_bytes())
        });
        Ok(errno(r))
    })?;

    linker.func_wrap(MODULE, "close", move |mut caller: Caller<'_, T>, h: i32| -> i32 {
        match ipc(caller.data_mut()).handles.get_mut(h as u32 as usize) {
            Some(slot @ Some(_)) => {
                *slot = None;
                0
            }
            _ => BAD_HANDLE,
        }
    })?;
    Ok(())
}

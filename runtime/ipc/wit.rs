//! The `wasmpod:ipc` WIT interfaces (`wit/ipc/ipc.wit`) for components: a thin
//! adapter from the generated host traits to the namespace's queues and
//! segments. Handles are resources in the store's `ResourceTable`;
//! blocking calls are async so the guest's fiber, not a host thread, waits.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::{IpcNamespace, IpcObjectKind, Queue, QueueConfig, Segment, WaitOutcome, deadline};

wasmtime::component::bindgen!({
    path: "wit/ipc/ipc.wit",
    world: "ipc",
    imports: {
        "wasmpod:ipc/queues.[method]queue.send": async | trappable,
        "wasmpod:ipc/queues.[method]queue.receive": async | trappable,
        "wasmpod:ipc/queues.[method]queue.send-batch": async | trappable,
        "wasmpod:ipc/queues.[method]queue.receive-batch": async | trappable,
        "wasmpod:ipc/segments.[method]segment.wait": async | trappable,
        default: trappable,
    },
    with: {
        "wasmpod:ipc/queues.queue": crate::ipc::wit::QueueHandle,
        "wasmpod:ipc/segments.segment": crate::ipc::wit::SegmentHandle,
    },
});

use self::wasmpod::ipc::{objects, queues, segments, types};

/// The resource behind a guest's `queue` handle.
pub struct QueueHandle(Arc<Queue>);
/// The resource behind a guest's `segment` handle.
pub struct SegmentHandle(Arc<Segment>);

/// A component container's link to its pod's IPC namespace.
pub(crate) struct ComponentIpc {
    pub namespace: Arc<IpcNamespace>,
}

/// What the generated host traits are implemented on: the namespace and
/// the store's resource table.
pub(crate) struct IpcView<'a> {
    pub namespace: &'a IpcNamespace,
    pub table: &'a mut ResourceTable,
}

struct IpcHost;

impl HasData for IpcHost {
    type Data<'a> = IpcView<'a>;
}

/// Adds `wasmpod:ipc` to a component linker.
pub(crate) fn add_to_component_linker<T: Send + 'static>(linker: &mut Linker<T>, view: fn(&mut T) -> IpcView<'_>) -> wasmtime::Result<()> {
    Ipc::add_to_linker::<T, IpcHost>(linker, view)
}

type Res<T> = wasmtime::Result<Result<T, types::ErrorCode>>;

impl From<super::ErrorCode> for types::ErrorCode {
    fn from(e: super::ErrorCode) -> Self {
        use super::ErrorCode as E;
        match e {
            E::NotFound => Self::NotFound,
            E::InvalidName => Self::InvalidName,
            E::InvalidArgument => Self::InvalidArgument,
            E::LimitReached => Self::LimitReached,
            E::WouldBlock => Self::WouldBlock,
            E::TimedOut => Self::TimedOut,
            E::MessageTooLarge => Self::MessageTooLarge,
            E::OutOfBounds => Self::OutOfBounds,
            E::Unaligned => Self::Unaligned,
        }
    }
}

fn guest<T>(r: Result<T, super::ErrorCode>) -> Res<T> {
    Ok(r.map_err(Into::into))
}

impl IpcView<'_> {
    fn queue(&self, r: &Resource<QueueHandle>) -> wasmtime::Result<Arc<Queue>> {
        Ok(self.table.get(r)?.0.clone())
    }

    fn segment(&self, r: &Resource<SegmentHandle>) -> wasmtime::Result<Arc<Segment>> {
        Ok(self.table.get(r)?.0.clone())
    }
}

impl types::Host for IpcView<'_> {}
impl queues::Host for IpcView<'_> {}
impl segments::Host for IpcView<'_> {}

impl queues::HostQueue for IpcView<'_> {
    fn open(&mut self, name: String, create: Option<queues::QueueConfig>) -> Res<Resource<QueueHandle>> {
        let create = create.map(|c| QueueConfig { capacity: c.capacity, max_message_size: c.max_message_size });
        match self.namespace.open_queue(&name, create) {
            Ok(q) => Ok(Ok(self.table.push(QueueHandle(q))?)),
            Err(e) => guest(Err(e)),
        }
    }

    fn name(&mut self, this: Resource<QueueHandle>) -> wasmtime::Result<String> {
        Ok(self.queue(&this)?.name().to_owned())
    }

    fn status(&mut self, this: Resource<QueueHandle>) -> wasmtime::Result<queues::QueueStatus> {
        let st = self.queue(&this)?.status();
        Ok(queues::QueueStatus { depth: st.depth, bytes: st.bytes, capacity: st.config.capacity, max_message_size: st.config.max_message_size })
    }

    async fn send(&mut self, this: Resource<QueueHandle>, message: Vec<u8>, timeout: Option<u64>) -> Res<()> {
        let q = self.queue(&this)?;
        guest(q.send(&message, deadline(timeout)).await)
    }

    fn try_send(&mut self, this: Resource<QueueHandle>, message: Vec<u8>) -> Res<()> {
        guest(self.queue(&this)?.try_send(&message))
    }

    async fn receive(&mut self, this: Resource<QueueHandle>, timeout: Option<u64>) -> Res<Vec<u8>> {
        let q = self.queue(&this)?;
        guest(q.receive(deadline(timeout)).await)
    }

    fn try_receive(&mut self, this: Resource<QueueHandle>) -> Res<Vec<u8>> {
        guest(self.queue(&this)?.try_receive())
    }

    async fn send_batch(&mut self, this: Resource<QueueHandle>, messages: queues::Batch, timeout: Option<u64>) -> Res<u32> {
        let q = self.queue(&this)?;
        guest(q.send_batch(&messages.data, &messages.lengths, deadline(timeout)).await.map(|n| n as u32))
    }

    async fn receive_batch(&mut self, this: Resource<QueueHandle>, max_messages: u32, timeout: Option<u64>) -> Res<queues::Batch> {
        let q = self.queue(&this)?;
        let mut batch = queues::Batch { data: Vec::new(), lengths: Vec::new() };
        let r = q.receive_batch(max_messages as usize, &mut batch.data, &mut batch.lengths, deadline(timeout)).await;
        guest(r.map(|_| batch))
    }

    fn drop(&mut self, this: Resource<QueueHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl segments::HostSegment for IpcView<'_> {
    fn open(&mut self, name: String, create_size: Option<u64>) -> Res<Resource<SegmentHandle>> {
        match self.namespace.open_segment(&name, create_size) {
            Ok(s) => Ok(Ok(self.table.push(SegmentHandle(s))?)),
            Err(e) => guest(Err(e)),
        }
    }

    fn name(&mut self, this: Resource<SegmentHandle>) -> wasmtime::Result<String> {
        Ok(self.segment(&this)?.name().to_owned())
    }

    fn size(&mut self, this: Resource<SegmentHandle>) -> wasmtime::Result<u64> {
        Ok(self.segment(&this)?.size())
    }

    fn read(&mut self, this: Resource<SegmentHandle>, offset: u64, len: u64) -> Res<Vec<u8>> {
        let s = self.segment(&this)?;
        // Checked before allocating: `len` comes from the guest.
        if offset.checked_add(len).is_none_or(|end| end > s.size()) {
            return guest(Err(super::ErrorCode::OutOfBounds));
        }
        let mut out = vec![0; len as usize];
        guest(s.read(offset, &mut out).map(|()| out))
    }

    fn write(&mut self, this: Resource<SegmentHandle>, offset: u64, data: Vec<u8>) -> Res<()> {
        guest(self.segment(&this)?.write(offset, &data))
    }

    fn load(&mut self, this: Resource<SegmentHandle>, offset: u64) -> Res<u64> {
        guest(self.segment(&this)?.load(offset))
    }

    fn store(&mut self, this: Resource<SegmentHandle>, offset: u64, value: u64) -> Res<()> {
        guest(self.segment(&this)?.store(offset, value))
    }

    fn compare_exchange(&mut self, this: Resource<SegmentHandle>, offset: u64, expected: u64, replacement: u64) -> Res<u64> {
        guest(self.segment(&this)?.compare_exchange(offset, expected, replacement))
    }

    fn fetch_add(&mut self, this: Resource<SegmentHandle>, offset: u64, delta: u64) -> Res<u64> {
        guest(self.segment(&this)?.fetch_add(offset, delta))
    }

    async fn wait(&mut self, this: Resource<SegmentHandle>, offset: u64, expected: u64, timeout: Option<u64>) -> Res<segments::WaitResult> {
        let s = self.segment(&this)?;
        guest(s.wait(offset, expected, deadline(timeout)).await.map(|o| match o {
            WaitOutcome::Woken => segments::WaitResult::Woken,
            WaitOutcome::NotEqual => segments::WaitResult::NotEqual,
            WaitOutcome::TimedOut => segments::WaitResult::TimedOut,
        }))
    }

    fn notify(&mut self, this: Resource<SegmentHandle>, offset: u64, count: u32) -> Res<u32> {
        guest(self.segment(&this)?.notify(offset, count))
    }

    fn drop(&mut self, this: Resource<SegmentHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl objects::Host for IpcView<'_> {
    fn list_objects(&mut self) -> wasmtime::Result<Vec<objects::ObjectInfo>> {
        Ok(self
            .namespace
            .objects()
            .into_iter()
            .map(|o| objects::ObjectInfo {
                kind: match o.kind {
                    IpcObjectKind::Queue => objects::ObjectKind::Queue,
                    IpcObjectKind::Segment => objects::ObjectKind::Segment,
                },
                name: o.name,
                bytes: o.bytes,
                depth: o.depth,
                capacity: o.capacity,
                max_message_size: o.max_message_size,
            })
            .collect())
    }
}

//! The virtio-cerebro device model (virtio-mmio transport over virtio-queue).
//!
//! [`CerebroDevice`] is the whole device: the virtio-mmio v2 register file
//! ([`CerebroDevice::mmio_read`]/[`CerebroDevice::mmio_write`]), the three virtqueues and the
//! job table. A VMM routes the device window's MMIO exits to it, optionally registers
//! [`CerebroDevice::queue_event`] eventfds as ioeventfds served by
//! [`CerebroDevice::event_handler`] on an event-manager thread, and gives the
//! [`DeviceHandle`] to host code, which submits [`HostJob`]s and receives one outcome per job
//! on its [`JobTicket`], in whatever order the guest completes them.
//!
//! The device trusts nothing in guest memory: every descriptor chain is walked with a bound,
//! checked against guest memory and the queue's direction and size rules, copied once into
//! host memory before it is parsed, and refused (used length 0) or answered with an error
//! status as `spec/virtio-cerebro.md` prescribes. It does not depend on any VMM.

mod chain;
mod device;
mod event;
mod host;

pub use chain::ChainError;
pub use device::{
    CerebroDevice, DeviceError, DeviceHandle, DeviceStats, InterruptTrigger, Stall, UnfinishedJobs,
};
pub use event::QueueEventHandler;
pub use host::{
    EngineInfo, HostJob, JobError, JobOutcome, JobReply, JobTicket, ReplyPayload, Tensor,
};

pub use cerebro_spec as spec;

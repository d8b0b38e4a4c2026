//! The device: virtio-mmio v2 register file, queue processing and the host job table.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::{debug, warn};
use virtio_queue::{Queue, QueueT};
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use cerebro_spec::config::WAIT_OFFSET;
use cerebro_spec::features::{DEVICE_FEATURES, REQUIRED_FEATURES, VIRTIO_CEREBRO_F_WAIT};
use cerebro_spec::mmio::{self, reg, status};
use cerebro_spec::{
    wait_bits, ChunkRequest, ChunkResponse, DeviceConfig, DigestAlgorithm, Job, JobResult, Kind,
    LoadModel, MessageHeader, ModelDigest, ResultPayload, SignatureName, Status, TensorView,
    Tensors, WireError, CHUNKQ, CHUNK_REQUEST_LEN, CHUNK_RESPONSE_HEADER_LEN, CONFIG_SPACE_LEN,
    HEADER_LEN, JOBQ, NUM_QUEUES, QUEUE_SIZE_MAX, RESULTQ, VIRTIO_CEREBRO_VENDOR_ID,
    VIRTIO_ID_CEREBRO,
};

use crate::chain::{self, ChainError};
use crate::host::Tensor;
use crate::host::{EngineInfo, HostJob, JobError, JobOutcome, JobReply, JobTicket, ReplyPayload};

/// Something that injects the device's interrupt into the guest (e.g. an irqfd).
pub trait InterruptTrigger: Send + Sync {
    /// Raises the interrupt.
    fn trigger(&self);
}

impl InterruptTrigger for EventFd {
    fn trigger(&self) {
        if let Err(e) = self.write(1) {
            warn!("virtio-cerebro: irqfd write failed: {e}");
        }
    }
}

/// Errors creating the device.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The configuration limits are unusable.
    #[error("invalid device configuration: {0}")]
    Config(WireError),
    /// An eventfd could not be created.
    #[error("eventfd: {0}")]
    EventFd(std::io::Error),
    /// A virtqueue could not be created.
    #[error("virtqueue: {0}")]
    Queue(virtio_queue::Error),
}

/// Counters for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// MMIO register reads and writes handled (each is one VM exit).
    pub mmio_accesses: u64,
    /// Reads of the `wait` register.
    pub wait_reads: u64,
    /// `wait` reads that ended by timeout.
    pub wait_timeouts: u64,
    /// Queue notifications (MMIO QueueNotify writes and ioeventfd events).
    pub notifications: u64,
    /// Jobs written into job-queue buffers.
    pub jobs_delivered: u64,
    /// Results accepted from the result queue.
    pub results_received: u64,
    /// Chunk requests answered.
    pub chunks_served: u64,
    /// Model bytes served through the chunk queue.
    pub chunk_bytes: u64,
    /// Chains refused as malformed (returned with used length 0).
    pub malformed_chains: u64,
    /// Interrupts raised.
    pub interrupts: u64,
}

struct PendingJob {
    id: u64,
    kind: Kind,
    message: Vec<u8>,
    reply: mpsc::Sender<JobOutcome>,
    model: Option<(u64, Arc<[u8]>)>,
}

struct InFlight {
    kind: Kind,
    reply: mpsc::Sender<JobOutcome>,
    model: Option<(u64, Arc<[u8]>)>,
    /// The job message, kept so the job can move to a replacement device
    /// ([`DeviceHandle::abandon`]).
    message: Vec<u8>,
    /// Delivery order (the guest serves jobs in the order it receives them).
    seq: u64,
}

/// Jobs taken from a device being replaced, in the order the guest would have served them:
/// [`DeviceHandle::abandon`] returns them, [`DeviceHandle::adopt`] queues them on another device
/// (same job ids, same reply channels: their callers never notice).
pub struct UnfinishedJobs(Vec<PendingJob>);

impl UnfinishedJobs {
    /// Number of jobs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Fails every job with `error`.
    pub fn fail(self, error: JobError) {
        for job in self.0 {
            let _ = job.reply.send(Err(error.clone()));
        }
    }
}

/// A device with unanswered jobs and how long it has gone without progress
/// ([`DeviceHandle::stall`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// The job the guest is serving (the first delivered and unanswered), if any was delivered.
    pub job_id: Option<u64>,
    /// Time since the last progress: the guest took a job while idle, answered a job, or was
    /// served a model chunk.
    pub idle: Duration,
}

struct Inner {
    mem: GuestMemoryMmap,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    queues: [Queue; NUM_QUEUES],
    status: u32,
    interrupt_status: u32,
    pending: VecDeque<PendingJob>,
    inflight: HashMap<u64, InFlight>,
    /// Last time the guest made progress (see [`Stall::idle`]).
    progress_at: Instant,
    wait_bits: u32,
    shutdown: bool,
    stats: DeviceStats,
    interrupt: Option<Arc<dyn InterruptTrigger>>,
}

struct Shared {
    inner: Mutex<Inner>,
    cond: Condvar,
    config: DeviceConfig,
    next_job_id: AtomicU64,
    queue_events: [EventFd; NUM_QUEUES],
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the protocol state half-updated in a way
        // that matters more than stopping the device: keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The virtio-cerebro device (virtio-mmio v2 transport + device model). Cheap to clone; all
/// clones share one device.
#[derive(Clone)]
pub struct CerebroDevice {
    shared: Arc<Shared>,
}

/// Host-side handle: submit jobs, get replies, stop the device. `Send + Sync + Clone`.
#[derive(Clone)]
pub struct DeviceHandle {
    shared: Arc<Shared>,
}

impl CerebroDevice {
    /// Creates a device serving guest memory `mem` with the limits in `config`.
    pub fn new(mem: GuestMemoryMmap, config: DeviceConfig) -> Result<Self, DeviceError> {
        config.validate().map_err(DeviceError::Config)?;
        let mk_queue = || Queue::new(QUEUE_SIZE_MAX).map_err(DeviceError::Queue);
        let mk_evt = || EventFd::new(EFD_NONBLOCK).map_err(DeviceError::EventFd);
        let inner = Inner {
            mem,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            queues: [mk_queue()?, mk_queue()?, mk_queue()?],
            status: 0,
            interrupt_status: 0,
            pending: VecDeque::new(),
            inflight: HashMap::new(),
            progress_at: Instant::now(),
            wait_bits: 0,
            shutdown: false,
            stats: DeviceStats::default(),
            interrupt: None,
        };
        Ok(CerebroDevice {
            shared: Arc::new(Shared {
                inner: Mutex::new(inner),
                cond: Condvar::new(),
                config,
                next_job_id: AtomicU64::new(1),
                queue_events: [mk_evt()?, mk_evt()?, mk_evt()?],
            }),
        })
    }

    /// The host-side handle of this device.
    pub fn handle(&self) -> DeviceHandle {
        DeviceHandle {
            shared: self.shared.clone(),
        }
    }

    /// The limits this device advertises.
    pub fn config(&self) -> DeviceConfig {
        self.shared.config
    }

    /// Sets the interrupt used for used-buffer notifications (guests that want interrupts).
    pub fn set_interrupt(&self, irq: Arc<dyn InterruptTrigger>) {
        self.shared.lock().interrupt = Some(irq);
    }

    /// The eventfd to register as ioeventfd for QueueNotify writes of queue `index`
    /// (datamatch = `index`, address = window base + `reg::QUEUE_NOTIFY`).
    pub fn queue_event(&self, index: u16) -> Option<&EventFd> {
        self.shared.queue_events.get(index as usize)
    }

    /// The event-manager subscriber that serves ioeventfd queue notifications.
    pub fn event_handler(&self) -> crate::event::QueueEventHandler {
        crate::event::QueueEventHandler::new(self.clone())
    }

    /// Counters so far.
    pub fn stats(&self) -> DeviceStats {
        self.shared.lock().stats
    }

    /// Handles a read of `data.len()` bytes at `offset` in the device window. Never panics;
    /// invalid accesses read as zero.
    pub fn mmio_read(&self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        if offset >= reg::CONFIG {
            self.read_config(offset - reg::CONFIG, data);
            return;
        }
        let mut g = self.shared.lock();
        g.stats.mmio_accesses += 1;
        if data.len() != 4 {
            debug!(
                "virtio-cerebro: {}-byte register read at {offset:#x}",
                data.len()
            );
            return;
        }
        let v: u32 = match offset {
            reg::MAGIC_VALUE => mmio::MAGIC_VALUE,
            reg::VERSION => mmio::VERSION,
            reg::DEVICE_ID => VIRTIO_ID_CEREBRO,
            reg::VENDOR_ID => VIRTIO_CEREBRO_VENDOR_ID,
            reg::DEVICE_FEATURES => match g.device_features_sel {
                0 => DEVICE_FEATURES as u32,
                1 => (DEVICE_FEATURES >> 32) as u32,
                _ => 0,
            },
            reg::QUEUE_NUM_MAX => match g.selected_queue() {
                Some(q) => u32::from(q.max_size()),
                None => 0,
            },
            reg::QUEUE_READY => g.selected_queue().map_or(0, |q| u32::from(q.ready())),
            reg::INTERRUPT_STATUS => g.interrupt_status,
            reg::STATUS => g.status,
            reg::CONFIG_GENERATION => 0,
            _ => 0,
        };
        data.copy_from_slice(&v.to_le_bytes());
    }

    /// Handles a write of `data` at `offset` in the device window. Never panics; invalid
    /// accesses are ignored.
    pub fn mmio_write(&self, offset: u64, data: &[u8]) {
        if offset >= reg::CONFIG {
            debug!("virtio-cerebro: config space is read-only");
            self.shared.lock().stats.mmio_accesses += 1;
            return;
        }
        let Ok(bytes) = <[u8; 4]>::try_from(data) else {
            debug!(
                "virtio-cerebro: {}-byte register write at {offset:#x}",
                data.len()
            );
            return;
        };
        let v = u32::from_le_bytes(bytes);
        let mut g = self.shared.lock();
        g.stats.mmio_accesses += 1;
        let configuring = g.status & status::FEATURES_OK != 0 && g.status & status::DRIVER_OK == 0;
        match offset {
            reg::DEVICE_FEATURES_SEL => g.device_features_sel = v,
            reg::DRIVER_FEATURES_SEL => g.driver_features_sel = v,
            reg::DRIVER_FEATURES => {
                if g.status & status::FEATURES_OK != 0 || g.status & status::DRIVER == 0 {
                    debug!("virtio-cerebro: feature write outside negotiation ignored");
                } else {
                    match g.driver_features_sel {
                        0 => g.driver_features = (g.driver_features & !0xffff_ffff) | v as u64,
                        1 => {
                            g.driver_features =
                                (g.driver_features & 0xffff_ffff) | ((v as u64) << 32)
                        }
                        _ => {}
                    }
                }
            }
            reg::QUEUE_SEL => g.queue_sel = v,
            reg::QUEUE_NOTIFY => {
                g.stats.notifications += 1;
                if let Ok(q) = u16::try_from(v) {
                    self.process_queue_locked(&mut g, q);
                }
            }
            reg::INTERRUPT_ACK => g.interrupt_status &= !v,
            reg::STATUS => self.write_status(&mut g, v),
            reg::QUEUE_NUM
            | reg::QUEUE_READY
            | reg::QUEUE_DESC_LOW
            | reg::QUEUE_DESC_HIGH
            | reg::QUEUE_AVAIL_LOW
            | reg::QUEUE_AVAIL_HIGH
            | reg::QUEUE_USED_LOW
            | reg::QUEUE_USED_HIGH => {
                if !configuring {
                    debug!("virtio-cerebro: queue write at {offset:#x} outside configuration");
                    return;
                }
                let Some(q) = g.selected_queue_mut() else {
                    return;
                };
                match offset {
                    reg::QUEUE_NUM => q.set_size(v as u16),
                    reg::QUEUE_READY => q.set_ready(v == 1),
                    reg::QUEUE_DESC_LOW => q.set_desc_table_address(Some(v), None),
                    reg::QUEUE_DESC_HIGH => q.set_desc_table_address(None, Some(v)),
                    reg::QUEUE_AVAIL_LOW => q.set_avail_ring_address(Some(v), None),
                    reg::QUEUE_AVAIL_HIGH => q.set_avail_ring_address(None, Some(v)),
                    reg::QUEUE_USED_LOW => q.set_used_ring_address(Some(v), None),
                    _ => q.set_used_ring_address(None, Some(v)),
                }
            }
            _ => debug!("virtio-cerebro: write to unknown register {offset:#x}"),
        }
        drop(g);
        self.shared.cond.notify_all();
    }

    /// Processes the available buffers of queue `index` (called for notifications).
    pub fn process_queue(&self, index: u16) {
        let mut g = self.shared.lock();
        g.stats.notifications += 1;
        self.process_queue_locked(&mut g, index);
        drop(g);
        self.shared.cond.notify_all();
    }

    fn process_queue_locked(&self, g: &mut Inner, index: u16) {
        if !g.active() {
            return;
        }
        match index {
            JOBQ => g.deliver_jobs(&self.shared.config),
            RESULTQ => g.process_results(&self.shared.config),
            CHUNKQ => g.process_chunks(&self.shared.config),
            _ => debug!("virtio-cerebro: notify for unknown queue {index}"),
        }
    }

    fn read_config(&self, off: u64, data: &mut [u8]) {
        let len = data.len() as u64;
        if off == WAIT_OFFSET as u64 && len == 4 {
            let v = self.wait();
            data.copy_from_slice(&v.to_le_bytes());
            return;
        }
        self.shared.lock().stats.mmio_accesses += 1;
        let image = self.shared.config.to_bytes();
        match off.checked_add(len) {
            Some(end) if end <= CONFIG_SPACE_LEN as u64 && matches!(len, 1 | 2 | 4 | 8) => {
                data.copy_from_slice(&image[off as usize..end as usize]);
            }
            _ => debug!("virtio-cerebro: bad config read {off:#x}+{len}"),
        }
    }

    /// The blocking `wait` register: processes results and chunk requests, delivers pending
    /// jobs, then blocks until a queue has new used buffers, the timeout passes, or shutdown.
    fn wait(&self) -> u32 {
        let config = &self.shared.config;
        let mut g = self.shared.lock();
        g.stats.mmio_accesses += 1;
        if !g.active() || g.driver_features & (1 << VIRTIO_CEREBRO_F_WAIT) == 0 {
            return 0;
        }
        g.stats.wait_reads += 1;
        g.process_results(config);
        g.process_chunks(config);
        g.deliver_jobs(config);
        let deadline = Instant::now() + Duration::from_micros(config.wait_timeout_us.into());
        loop {
            if g.shutdown {
                return wait_bits::SHUTDOWN;
            }
            if g.wait_bits != 0 {
                return std::mem::take(&mut g.wait_bits);
            }
            if !g.active() {
                return 0;
            }
            let now = Instant::now();
            if now >= deadline {
                g.stats.wait_timeouts += 1;
                return 0;
            }
            g = self
                .shared
                .cond
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn write_status(&self, g: &mut Inner, v: u32) {
        if v == 0 {
            g.reset();
            return;
        }
        // The driver may only add bits (virtio 1.x, 2.1.1); FAILED is always accepted.
        if v & g.status != g.status {
            debug!(
                "virtio-cerebro: status {v:#x} clears bits of {:#x}",
                g.status
            );
            return;
        }
        let added = v & !g.status;
        if added & status::FEATURES_OK != 0 {
            let ok = g.driver_features & !DEVICE_FEATURES == 0
                && g.driver_features & REQUIRED_FEATURES == REQUIRED_FEATURES;
            if !ok {
                g.status = v & !status::FEATURES_OK;
                return;
            }
        }
        g.status = v;
        if added & status::DRIVER_OK != 0 {
            let mem = g.mem.clone();
            let valid = g.queues.iter().all(|q| q.ready() && q.is_valid(&mem));
            if !valid {
                warn!("virtio-cerebro: DRIVER_OK with invalid queues; needs reset");
                g.status |= status::DEVICE_NEEDS_RESET;
                return;
            }
            // The device polls the job queue whenever it has a job: no notifications needed.
            let _ = g.queues[JOBQ as usize].disable_notification(&mem);
            g.deliver_jobs(&self.shared.config);
        }
    }
}

impl Inner {
    fn selected_queue(&self) -> Option<&Queue> {
        self.queues.get(self.queue_sel as usize)
    }

    fn selected_queue_mut(&mut self) -> Option<&mut Queue> {
        self.queues.get_mut(self.queue_sel as usize)
    }

    fn active(&self) -> bool {
        self.status & status::DRIVER_OK != 0 && self.status & status::DEVICE_NEEDS_RESET == 0
    }

    fn reset(&mut self) {
        for q in self.queues.iter_mut() {
            q.reset();
        }
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = 0;
        self.queue_sel = 0;
        self.status = 0;
        self.interrupt_status = 0;
        self.wait_bits = 0;
        for (_, job) in self.inflight.drain() {
            let _ = job.reply.send(Err(JobError::Cancelled));
        }
    }

    /// Returns a chain to the driver and raises an interrupt if the driver wants one.
    fn add_used(&mut self, q: u16, head: u16, len: u32) {
        let mem = &self.mem;
        let queue = &mut self.queues[q as usize];
        if let Err(e) = queue.add_used(mem, head, len) {
            warn!("virtio-cerebro: add_used on queue {q}: {e}");
            return;
        }
        if queue.needs_notification(mem).unwrap_or(false) {
            self.interrupt_status |= mmio::INT_VRING;
            if let Some(irq) = &self.interrupt {
                self.stats.interrupts += 1;
                irq.trigger();
            }
        }
    }

    /// Pops the next available chain of queue `q` and validates it; `Ok(None)` when empty.
    fn pop_chain(
        &mut self,
        q: u16,
        max_total: u64,
    ) -> Option<(u16, Result<chain::Chain, ChainError>)> {
        let mem = &self.mem;
        let queue = &mut self.queues[q as usize];
        let head = queue.pop_descriptor_chain(mem)?.head_index();
        let res = chain::walk(
            mem,
            vm_memory::GuestAddress(queue.desc_table()),
            queue.size(),
            head,
            max_total,
        );
        Some((head, res))
    }

    /// Drops a malformed chain: returned with used length 0 when its head index is valid.
    fn drop_chain(&mut self, q: u16, head: u16, why: &dyn std::fmt::Display) {
        warn!("virtio-cerebro: queue {q}: dropping chain {head}: {why}");
        self.stats.malformed_chains += 1;
        if head < self.queues[q as usize].size() {
            self.add_used(q, head, 0);
        }
    }

    fn deliver_jobs(&mut self, config: &DeviceConfig) {
        if !self.active() {
            return;
        }
        while !self.pending.is_empty() {
            let Some((head, res)) = self.pop_chain(JOBQ, u64::from(u32::MAX)) else {
                return;
            };
            let c = match res {
                Ok(c) => c,
                Err(e) => {
                    self.drop_chain(JOBQ, head, &e);
                    continue;
                }
            };
            if !c.readable.is_empty() {
                self.drop_chain(JOBQ, head, &"device-readable buffer in a job chain");
                continue;
            }
            if c.writable_len < u64::from(config.max_job_size) {
                self.drop_chain(JOBQ, head, &"job buffer smaller than max_job_size");
                continue;
            }
            let Some(job) = self.pending.pop_front() else {
                return;
            };
            match chain::write_all(&self.mem, &c.writable, &[&job.message]) {
                Some(len) => {
                    self.add_used(JOBQ, head, len);
                    self.stats.jobs_delivered += 1;
                    self.wait_bits |= wait_bits::JOBS;
                    self.inflight.insert(
                        job.id,
                        InFlight {
                            kind: job.kind,
                            reply: job.reply,
                            model: job.model,
                            message: job.message,
                            seq: self.stats.jobs_delivered,
                        },
                    );
                }
                None => {
                    self.drop_chain(JOBQ, head, &"job buffer not writable");
                    self.pending.push_front(job);
                }
            }
        }
    }

    fn process_results(&mut self, config: &DeviceConfig) {
        while let Some((head, res)) = self.pop_chain(RESULTQ, u64::from(u32::MAX)) {
            let c = match res {
                Ok(c) => c,
                Err(e) => {
                    self.drop_chain(RESULTQ, head, &e);
                    continue;
                }
            };
            if !c.writable.is_empty() || c.readable_len < HEADER_LEN as u64 {
                self.drop_chain(RESULTQ, head, &"result chain not a readable message");
                continue;
            }
            if c.readable_len > u64::from(config.max_result_size) {
                // Identify the job from the header alone, fail it, and drop the chain.
                if let Some(hdr) = chain::read_all(
                    &self.mem,
                    &prefix(&c.readable, HEADER_LEN),
                    HEADER_LEN as u64,
                ) {
                    let id = u64::from_le_bytes(hdr[8..16].try_into().unwrap_or_default());
                    self.fail_job(
                        id,
                        WireError::TooLarge {
                            what: "result message",
                            len: c.readable_len,
                            max: config.max_result_size.into(),
                        },
                    );
                }
                self.drop_chain(RESULTQ, head, &"result larger than max_result_size");
                continue;
            }
            let Some(bytes) = chain::read_all(&self.mem, &c.readable, c.readable_len) else {
                self.drop_chain(RESULTQ, head, &"result unreadable");
                continue;
            };
            self.add_used(RESULTQ, head, 0);
            self.accept_result(&bytes);
        }
    }

    fn fail_job(&mut self, id: u64, e: WireError) {
        if let Some(job) = self.inflight.remove(&id) {
            let _ = job.reply.send(Err(JobError::MalformedResult(e)));
        }
    }

    fn accept_result(&mut self, bytes: &[u8]) {
        match JobResult::decode(bytes) {
            Ok((id, r)) => {
                let Some(job) = self.inflight.remove(&id) else {
                    warn!("virtio-cerebro: result for unknown job {id}");
                    self.stats.malformed_chains += 1;
                    return;
                };
                self.stats.results_received += 1;
                self.progress_at = Instant::now();
                let outcome = if r.job_kind != job.kind {
                    Err(JobError::MalformedResult(WireError::UnexpectedKind(
                        r.job_kind as u16,
                    )))
                } else {
                    Ok(JobReply {
                        status: r.status,
                        detail: r.detail.to_owned(),
                        payload: match r.payload {
                            ResultPayload::Empty => ReplyPayload::Empty,
                            ResultPayload::Tensors(t) => ReplyPayload::Tensors(
                                t.iter().map(|v| Tensor::from_view(&v)).collect(),
                            ),
                            ResultPayload::Info(i) => ReplyPayload::Info(EngineInfo::from_wire(&i)),
                        },
                    })
                };
                let _ = job.reply.send(outcome);
            }
            Err(e) => {
                self.stats.malformed_chains += 1;
                match MessageHeader::decode(bytes) {
                    Ok((h, _)) => self.fail_job(h.job_id, e),
                    Err(_) if bytes.len() >= HEADER_LEN => {
                        let id = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default());
                        self.fail_job(id, e)
                    }
                    Err(_) => warn!("virtio-cerebro: undecodable result: {e}"),
                }
            }
        }
    }

    fn process_chunks(&mut self, config: &DeviceConfig) {
        let max_total = u64::from(config.max_chunk_size) + CHUNK_RESPONSE_HEADER_LEN as u64;
        while let Some((head, res)) = self.pop_chain(CHUNKQ, max_total) {
            let c = match res {
                Ok(c) => c,
                Err(e) => {
                    self.drop_chain(CHUNKQ, head, &e);
                    continue;
                }
            };
            if c.readable_len != CHUNK_REQUEST_LEN as u64
                || c.writable_len < CHUNK_RESPONSE_HEADER_LEN as u64
            {
                self.drop_chain(CHUNKQ, head, &"chunk chain has the wrong shape");
                continue;
            }
            let Some(req_bytes) = chain::read_all(&self.mem, &c.readable, c.readable_len) else {
                self.drop_chain(CHUNKQ, head, &"chunk request unreadable");
                continue;
            };
            let room = c.writable_len - CHUNK_RESPONSE_HEADER_LEN as u64;
            let (resp, data) = match ChunkRequest::decode(&req_bytes) {
                Ok(req) => self.serve_chunk(config, &req, room),
                Err(e) => {
                    debug!("virtio-cerebro: malformed chunk request: {e}");
                    let job_id = MessageHeader::decode(&req_bytes).map_or(0, |(h, _)| h.job_id);
                    (
                        ChunkResponse {
                            job_id,
                            status: Status::Malformed,
                            model_id: 0,
                            offset: 0,
                            length: 0,
                        },
                        None,
                    )
                }
            };
            let mut hdr = [0u8; CHUNK_RESPONSE_HEADER_LEN];
            if resp.encode_header(&mut hdr).is_err() {
                self.drop_chain(CHUNKQ, head, &"chunk response encoding");
                continue;
            }
            let written = match &data {
                Some(d) => chain::write_all(&self.mem, &c.writable, &[&hdr, d]),
                None => chain::write_all(&self.mem, &c.writable, &[&hdr]),
            };
            match written {
                Some(len) => {
                    self.add_used(CHUNKQ, head, len);
                    self.stats.chunks_served += 1;
                    self.progress_at = Instant::now();
                    self.stats.chunk_bytes += u64::from(resp.length);
                    self.wait_bits |= wait_bits::CHUNKS;
                }
                None => self.drop_chain(CHUNKQ, head, &"chunk buffer not writable"),
            }
        }
    }

    /// Checks a chunk request against the job table and returns the response with its data.
    fn serve_chunk<'m>(
        &'m self,
        config: &DeviceConfig,
        req: &ChunkRequest,
        room: u64,
    ) -> (ChunkResponse, Option<&'m [u8]>) {
        let mut resp = ChunkResponse {
            job_id: req.job_id,
            status: Status::Ok,
            model_id: req.model_id,
            offset: req.offset,
            length: 0,
        };
        let model = self
            .inflight
            .get(&req.job_id)
            .and_then(|j| j.model.as_ref())
            .filter(|(id, _)| *id == req.model_id);
        let Some((_, bytes)) = model else {
            resp.status = Status::UnknownModel;
            return (resp, None);
        };
        if req.length == 0 || req.length > config.max_chunk_size || u64::from(req.length) > room {
            resp.status = Status::TooLarge;
            return (resp, None);
        }
        let end = req.offset.checked_add(u64::from(req.length));
        match end {
            Some(end) if end <= bytes.len() as u64 => {
                resp.length = req.length;
                (resp, Some(&bytes[req.offset as usize..end as usize]))
            }
            _ => {
                resp.status = Status::OutOfRange;
                (resp, None)
            }
        }
    }
}

/// The first `n` bytes' worth of segments (for reading a header only).
fn prefix(segs: &[chain::Segment], n: usize) -> Vec<chain::Segment> {
    let mut left = n as u32;
    let mut out = Vec::new();
    for s in segs {
        if left == 0 {
            break;
        }
        let len = s.len.min(left);
        out.push(chain::Segment { addr: s.addr, len });
        left -= len;
    }
    out
}

impl DeviceHandle {
    /// The limits of the device.
    pub fn config(&self) -> DeviceConfig {
        self.shared.config
    }

    /// Submits a job; its outcome arrives on the returned ticket. Jobs complete in any order.
    pub fn submit(&self, job: HostJob) -> Result<JobTicket, JobError> {
        let config = &self.shared.config;
        let id = self.shared.next_job_id.fetch_add(1, Ordering::Relaxed);
        let mut model = None;
        let mut digest = ModelDigest {
            alg: DigestAlgorithm::Blake3,
            value: [0; 32],
        };
        if let HostJob::LoadModel {
            model_id,
            bytes,
            digest: expected,
            ..
        } = &job
        {
            if bytes.len() as u64 > config.max_model_size {
                return Err(JobError::ModelTooLarge {
                    len: bytes.len() as u64,
                    max: config.max_model_size,
                });
            }
            match expected {
                Some(d) => digest = *d,
                None => digest = ModelDigest::of(DigestAlgorithm::Blake3, bytes),
            }
            model = Some((*model_id, bytes.clone()));
        }
        let views: Vec<TensorView<'_>>;
        let wire = match &job {
            HostJob::Echo(p) => Job::Echo { payload: p },
            HostJob::Checksum(p) => Job::Checksum { payload: p },
            HostJob::LoadModel {
                model_id,
                format,
                bytes,
                signature,
                ..
            } => Job::LoadModel(LoadModel {
                model_id: *model_id,
                total_size: bytes.len() as u64,
                format: *format,
                signature: signature
                    .as_deref()
                    .map(SignatureName::new)
                    .transpose()
                    .map_err(JobError::Encode)?,
                digest_alg: digest.alg,
                digest: digest.value,
            }),
            HostJob::Run { model_id, inputs } => {
                views = inputs
                    .iter()
                    .map(Tensor::view)
                    .collect::<Result<_, _>>()
                    .map_err(JobError::Encode)?;
                Job::Run {
                    model_id: *model_id,
                    inputs: Tensors::Views(&views),
                }
            }
            HostJob::Unload { model_id } => Job::Unload {
                model_id: *model_id,
            },
            HostJob::Info => Job::Info,
        };
        let len = wire
            .encoded_len()
            .ok_or(JobError::Encode(WireError::ShapeOverflow))?;
        if len as u64 > u64::from(config.max_job_size) {
            return Err(JobError::JobTooLarge {
                len: len as u64,
                max: config.max_job_size.into(),
            });
        }
        let mut message = vec![0u8; len];
        wire.encode(id, &mut message).map_err(JobError::Encode)?;
        let (tx, rx) = mpsc::channel();
        let mut g = self.shared.lock();
        if g.shutdown {
            return Err(JobError::Shutdown);
        }
        if g.pending.is_empty() && g.inflight.is_empty() {
            g.progress_at = Instant::now();
        }
        g.pending.push_back(PendingJob {
            id,
            kind: wire.kind(),
            message,
            reply: tx,
            model,
        });
        g.deliver_jobs(config);
        let wake = g.wait_bits != 0;
        drop(g);
        if wake {
            self.shared.cond.notify_all();
        }
        Ok(JobTicket { id, rx })
    }

    /// Submits a job and waits for its outcome at most `timeout`.
    pub fn call(&self, job: HostJob, timeout: Duration) -> JobOutcome {
        self.submit(job)?.wait_timeout(timeout)
    }

    /// Stops the device: fails every queued and in-flight job with `Shutdown` and wakes any
    /// vCPU blocked on the `wait` register.
    pub fn shutdown(&self) {
        let mut g = self.shared.lock();
        g.shutdown = true;
        for job in g.pending.drain(..) {
            let _ = job.reply.send(Err(JobError::Shutdown));
        }
        for (_, job) in g.inflight.drain() {
            let _ = job.reply.send(Err(JobError::Shutdown));
        }
        drop(g);
        self.shared.cond.notify_all();
    }

    /// Counters so far.
    pub fn stats(&self) -> DeviceStats {
        self.shared.lock().stats
    }

    /// Jobs submitted but not yet answered (queued or in the guest).
    pub fn outstanding(&self) -> usize {
        let g = self.shared.lock();
        g.pending.len() + g.inflight.len()
    }

    /// With jobs unanswered: the job the guest is serving and how long it has gone without
    /// progress. `None` when every job is answered.
    pub fn stall(&self) -> Option<Stall> {
        let g = self.shared.lock();
        if g.pending.is_empty() && g.inflight.is_empty() {
            return None;
        }
        Some(Stall {
            job_id: g
                .inflight
                .iter()
                .min_by_key(|(_, j)| j.seq)
                .map(|(&id, _)| id),
            idle: g.progress_at.elapsed(),
        })
    }

    /// Stops the device (like [`DeviceHandle::shutdown`]) but, instead of failing its
    /// unanswered jobs, answers `culprit` with `outcome` and returns the others, in the order the
    /// guest would have served them, for [`DeviceHandle::adopt`] on a replacement device.
    pub fn abandon(&self, culprit: Option<u64>, outcome: JobOutcome) -> UnfinishedJobs {
        let mut g = self.shared.lock();
        g.shutdown = true;
        let mut delivered: Vec<(u64, InFlight)> = g.inflight.drain().collect();
        delivered.sort_by_key(|(_, j)| j.seq);
        let mut jobs = Vec::with_capacity(delivered.len() + g.pending.len());
        let mut outcome = Some(outcome);
        for (id, j) in delivered {
            if Some(id) == culprit {
                if let Some(o) = outcome.take() {
                    let _ = j.reply.send(o);
                }
                continue;
            }
            jobs.push(PendingJob {
                id,
                kind: j.kind,
                message: j.message,
                reply: j.reply,
                model: j.model,
            });
        }
        jobs.extend(g.pending.drain(..));
        drop(g);
        self.shared.cond.notify_all();
        UnfinishedJobs(jobs)
    }

    /// Queues jobs taken from another device ([`DeviceHandle::abandon`]) ahead of later
    /// submissions, keeping their ids and reply channels. A shut-down device fails them.
    pub fn adopt(&self, jobs: UnfinishedJobs) {
        let config = &self.shared.config;
        if let Some(max) = jobs.0.iter().map(|j| j.id).max() {
            self.shared
                .next_job_id
                .fetch_max(max.saturating_add(1), Ordering::Relaxed);
        }
        let mut g = self.shared.lock();
        if g.shutdown {
            drop(g);
            jobs.fail(JobError::Shutdown);
            return;
        }
        if g.pending.is_empty() && g.inflight.is_empty() {
            g.progress_at = Instant::now();
        }
        for job in jobs.0.into_iter().rev() {
            g.pending.push_front(job);
        }
        g.deliver_jobs(config);
        let wake = g.wait_bits != 0;
        drop(g);
        if wake {
            self.shared.cond.notify_all();
        }
    }
}

//! The guest side of virtio-cerebro: a `no_std` split-ring driver over a virtio-mmio transport.
//!
//! Built for a protected guest whose host is not trusted (pKVM rules, see
//! `spec/virtio-cerebro.md`, "Security"):
//! - every ring and buffer is carved from one shared, granule-aligned [`SharedPool`] that holds
//!   no guest data (zeroed, or memory the guest never wrote);
//! - device-written data (jobs, chunk responses) is copied into private memory once and only
//!   the copy is parsed, with the device-reported length clamped to what was posted;
//! - no indirect descriptors; used-ring ids are checked against the driver's own records;
//! - models are pulled in chunks the guest asks for, and their digest (BLAKE3 or SHA-256) is
//!   checked on the private copy.
//!
//! The driver runs at ring 3 without interrupts: an idle guest blocks in one read of the
//! device's `wait` register, which also makes the device consume posted results and chunk
//! requests, so a job costs one VM exit in steady state.
#![no_std]

extern crate alloc;

pub mod handler;
pub mod queue;
pub mod transport;

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use cerebro_spec::config::WAIT_OFFSET;
use cerebro_spec::features::{VIRTIO_CEREBRO_F_WAIT, VIRTIO_F_ACCESS_PLATFORM, VIRTIO_F_VERSION_1};
use cerebro_spec::mmio::{self, reg, status};
use cerebro_spec::{
    wait_bits, ChunkRequest, ChunkResponse, DeviceConfig, DigestHasher, JobResult, LoadModel,
    Status, CHUNKQ, CHUNK_REQUEST_LEN, CHUNK_RESPONSE_HEADER_LEN, CONFIG_SPACE_LEN, JOBQ, RESULTQ,
    VIRTIO_ID_CEREBRO,
};

pub use handler::{serve_one, BuiltinHandler, JobFailure, JobHandler, ModelFetcher, OwnedTensor};
pub use queue::{Buffer, SplitQueue, Used};
pub use transport::{DmaRegion, MmioTransport, SharedPool, Transport};

/// Polls of the result queue's used ring after a doorbell before falling back to `wait`.
const RECLAIM_SPINS: u32 = 200_000;

/// Driver errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverError {
    /// No virtio-cerebro device at this window (magic, version or device id differ).
    NoDevice,
    /// The device refused the negotiated features.
    FeaturesRefused,
    /// The device lacks a required feature.
    MissingFeature(u32),
    /// The configuration space holds unusable limits.
    BadConfig,
    /// The device offers a queue smaller than needed (or none).
    QueueUnavailable(u16),
    /// A queue size is not a power of two.
    BadQueueSize(u16),
    /// The shared pool cannot hold the rings and buffers.
    PoolTooSmall,
    /// No free descriptor.
    QueueFull,
    /// A chain put a readable buffer after a writable one.
    BadChain,
    /// The device broke the protocol (bogus used entry, ...).
    DeviceBroken(&'static str),
    /// The device set DEVICE_NEEDS_RESET or did not accept DRIVER_OK.
    NeedsReset,
    /// A result does not fit the device's `max_result_size`.
    ResultTooLarge,
    /// The device is shutting down.
    Shutdown,
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Why a model transfer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchError {
    /// The transport failed.
    Driver(DriverError),
    /// The device answered a chunk request with an error status.
    Device(Status),
    /// The device's response does not match the request (model, offset or length) or does not
    /// decode.
    BadResponse,
    /// The destination callback gave no (or a short) buffer.
    NoDestination,
    /// The bytes received do not match the announced digest.
    DigestMismatch,
}

impl From<DriverError> for FetchError {
    fn from(e: DriverError) -> Self {
        FetchError::Driver(e)
    }
}

/// Where [`Driver::fetch_model`] puts model bytes: private memory chosen per chunk.
pub trait ChunkSink {
    /// The private buffer (exactly `len` bytes) for the chunk at `offset`; `None` aborts.
    fn buffer(&mut self, offset: u64, len: usize) -> Option<&mut [u8]>;
    /// The chunk at `offset` has been copied into the last buffer and hashed.
    fn filled(&mut self, _offset: u64, _len: usize) {}
}

/// Sizing of the driver's queues and buffers.
#[derive(Debug, Clone, Copy)]
pub struct DriverOptions {
    /// Job buffers kept posted (each `max_job_size` bytes).
    pub job_buffers: u16,
    /// Result buffers (each `max_result_size` bytes).
    pub result_buffers: u16,
    /// Chunk requests in flight at once.
    pub chunk_buffers: u16,
    /// Bytes asked for per chunk request (clamped to `max_chunk_size`).
    pub chunk_size: u32,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            job_buffers: 2,
            result_buffers: 2,
            chunk_buffers: 2,
            chunk_size: 1 << 20,
        }
    }
}

impl DriverOptions {
    /// Shared-pool bytes these options need for a device with `config` (rings included).
    pub fn pool_bytes(&self, config: &DeviceConfig) -> usize {
        let chunk = self.chunk_size.min(config.max_chunk_size) as usize;
        let rings = 3 * 3 * 4096 * 2;
        rings
            + self.job_buffers as usize * (config.max_job_size as usize).next_multiple_of(4096)
            + self.result_buffers as usize
                * (config.max_result_size as usize).next_multiple_of(4096)
            + self.chunk_buffers as usize
                * (CHUNK_REQUEST_LEN + CHUNK_RESPONSE_HEADER_LEN + chunk).next_multiple_of(4096)
    }
}

/// Counters kept by the driver (each register access is a VM exit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Reads of the `wait` register.
    pub wait_reads: u64,
    /// QueueNotify writes.
    pub notifies: u64,
    /// Jobs received.
    pub jobs: u64,
    /// Results sent.
    pub results: u64,
    /// Chunks received.
    pub chunks: u64,
}

struct ChunkSlot {
    req: DmaRegion,
    resp: DmaRegion,
}

/// The virtio-cerebro driver.
pub struct Driver {
    transport: Box<dyn Transport>,
    config: DeviceConfig,
    use_wait: bool,
    chunk_size: u32,
    jobq: SplitQueue,
    resultq: SplitQueue,
    chunkq: SplitQueue,
    /// Job buffer posted under each jobq head.
    job_bufs: Vec<Option<DmaRegion>>,
    /// Result buffers not in flight.
    free_results: Vec<DmaRegion>,
    /// Result buffer posted under each resultq head.
    posted_results: Vec<Option<DmaRegion>>,
    /// Results posted since the device last processed the result queue.
    unflushed_results: bool,
    chunk_slots: Vec<ChunkSlot>,
    stats: DriverStats,
}

impl Driver {
    /// Finds and initializes the device (virtio 1.x, 3.1.1), sets up the queues in `pool`
    /// and posts the job buffers.
    pub fn new(
        transport: Box<dyn Transport>,
        mut pool: SharedPool,
        opts: DriverOptions,
    ) -> Result<Driver, DriverError> {
        let t = &transport;
        if t.read32(reg::MAGIC_VALUE) != mmio::MAGIC_VALUE
            || t.read32(reg::VERSION) != mmio::VERSION
            || t.read32(reg::DEVICE_ID) != VIRTIO_ID_CEREBRO
        {
            return Err(DriverError::NoDevice);
        }
        t.write32(reg::STATUS, 0);
        t.write32(reg::STATUS, status::ACKNOWLEDGE);
        t.write32(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        t.write32(reg::DEVICE_FEATURES_SEL, 0);
        let lo = t.read32(reg::DEVICE_FEATURES) as u64;
        t.write32(reg::DEVICE_FEATURES_SEL, 1);
        let hi = t.read32(reg::DEVICE_FEATURES) as u64;
        let offered = lo | (hi << 32);
        if offered & (1 << VIRTIO_F_VERSION_1) == 0 {
            return Err(DriverError::MissingFeature(VIRTIO_F_VERSION_1));
        }
        let wanted = (1u64 << VIRTIO_F_VERSION_1)
            | (1 << VIRTIO_F_ACCESS_PLATFORM)
            | (1 << VIRTIO_CEREBRO_F_WAIT);
        let accepted = offered & wanted;
        t.write32(reg::DRIVER_FEATURES_SEL, 0);
        t.write32(reg::DRIVER_FEATURES, accepted as u32);
        t.write32(reg::DRIVER_FEATURES_SEL, 1);
        t.write32(reg::DRIVER_FEATURES, (accepted >> 32) as u32);
        let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
        t.write32(reg::STATUS, s);
        if t.read32(reg::STATUS) & status::FEATURES_OK == 0 {
            t.write32(reg::STATUS, s | status::FAILED);
            return Err(DriverError::FeaturesRefused);
        }
        // Copy the configuration space into private memory, then validate the copy.
        let mut image = [0u8; CONFIG_SPACE_LEN];
        for (i, word) in image.chunks_exact_mut(4).enumerate() {
            let off = i * 4;
            if off == WAIT_OFFSET {
                continue;
            }
            word.copy_from_slice(&t.read32(reg::CONFIG + off as u64).to_le_bytes());
        }
        let config = DeviceConfig::from_bytes(&image).map_err(|_| DriverError::BadConfig)?;
        if config.abi_version != cerebro_spec::ABI_VERSION {
            return Err(DriverError::BadConfig);
        }
        let chunk_size = opts.chunk_size.min(config.max_chunk_size).max(1);
        let qsize = |n: u16| n.max(1).next_power_of_two();
        let sizes = [
            (JOBQ, qsize(opts.job_buffers)),
            (RESULTQ, qsize(opts.result_buffers)),
            // Two descriptors per chunk request chain.
            (CHUNKQ, qsize(opts.chunk_buffers.saturating_mul(2))),
        ];
        let mut queues = Vec::new();
        for (index, size) in sizes {
            t.write32(reg::QUEUE_SEL, index as u32);
            let max = t.read32(reg::QUEUE_NUM_MAX);
            if max < size as u32 {
                return Err(DriverError::QueueUnavailable(index));
            }
            let q = SplitQueue::new(&mut pool, size)?;
            let (d, a, u) = q.addresses();
            t.write32(reg::QUEUE_NUM, size as u32);
            t.write32(reg::QUEUE_DESC_LOW, d as u32);
            t.write32(reg::QUEUE_DESC_HIGH, (d >> 32) as u32);
            t.write32(reg::QUEUE_AVAIL_LOW, a as u32);
            t.write32(reg::QUEUE_AVAIL_HIGH, (a >> 32) as u32);
            t.write32(reg::QUEUE_USED_LOW, u as u32);
            t.write32(reg::QUEUE_USED_HIGH, (u >> 32) as u32);
            t.write32(reg::QUEUE_READY, 1);
            queues.push(q);
        }
        let chunkq = queues.pop().ok_or(DriverError::QueueUnavailable(CHUNKQ))?;
        let resultq = queues.pop().ok_or(DriverError::QueueUnavailable(RESULTQ))?;
        let jobq = queues.pop().ok_or(DriverError::QueueUnavailable(JOBQ))?;

        let mut alloc = |len: usize| pool.alloc(len, 4096).ok_or(DriverError::PoolTooSmall);
        let mut job_regions = Vec::new();
        for _ in 0..opts.job_buffers.max(1) {
            job_regions.push(alloc(config.max_job_size as usize)?);
        }
        let mut free_results = Vec::new();
        for _ in 0..opts.result_buffers.max(1) {
            free_results.push(alloc(config.max_result_size as usize)?);
        }
        let mut chunk_slots = Vec::new();
        for _ in 0..opts.chunk_buffers.max(1) {
            chunk_slots.push(ChunkSlot {
                req: alloc(CHUNK_REQUEST_LEN)?,
                resp: alloc(CHUNK_RESPONSE_HEADER_LEN + chunk_size as usize)?,
            });
        }
        let mut driver = Driver {
            use_wait: accepted & (1 << VIRTIO_CEREBRO_F_WAIT) != 0,
            config,
            chunk_size,
            job_bufs: vec![None; jobq.size() as usize],
            posted_results: vec![None; resultq.size() as usize],
            jobq,
            resultq,
            chunkq,
            free_results,
            unflushed_results: false,
            chunk_slots,
            stats: DriverStats::default(),
            transport,
        };
        let s = s | status::DRIVER_OK;
        driver.transport.write32(reg::STATUS, s);
        if driver.transport.read32(reg::STATUS) & status::DEVICE_NEEDS_RESET != 0 {
            return Err(DriverError::NeedsReset);
        }
        for r in job_regions {
            driver.post_job_buffer(r)?;
        }
        Ok(driver)
    }

    /// The device's limits (a private copy read at initialization).
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// Largest echo payload whose result still fits `max_result_size`.
    pub fn max_echo_payload(&self) -> usize {
        cerebro_spec::echo_payload_limit(&self.config)
    }

    fn post_job_buffer(&mut self, r: DmaRegion) -> Result<(), DriverError> {
        let head = self.jobq.add(&[Buffer {
            phys: r.phys(),
            len: r.len() as u32,
            writable: true,
        }])?;
        self.job_bufs[head as usize] = Some(r);
        Ok(())
    }

    /// Blocks on the `wait` register (one VM exit); the device first consumes posted results
    /// and chunk requests.
    fn wait_device(&mut self) -> Result<u32, DriverError> {
        self.stats.wait_reads += 1;
        self.unflushed_results = false;
        let bits = self.transport.read32(reg::CONFIG + WAIT_OFFSET as u64);
        if bits & wait_bits::SHUTDOWN != 0 {
            return Err(DriverError::Shutdown);
        }
        Ok(bits)
    }

    fn notify(&mut self, queue: u16) {
        self.stats.notifies += 1;
        self.transport.write32(reg::QUEUE_NOTIFY, queue as u32);
    }

    /// Takes a delivered job, if any, as a private copy of its message (clamped to the used
    /// length and the buffer), and reposts the buffer.
    fn take_job(&mut self) -> Result<Option<Vec<u8>>, DriverError> {
        let Some(u) = self.jobq.pop_used()? else {
            return Ok(None);
        };
        let region = self.job_bufs[u.head as usize]
            .take()
            .ok_or(DriverError::DeviceBroken("job buffer missing"))?;
        let len = (u.len as usize).min(region.len());
        let mut private = vec![0u8; len];
        region.read(0, &mut private);
        self.post_job_buffer(region)?;
        self.stats.jobs += 1;
        Ok(Some(private))
    }

    /// Returns the next job as a private copy of its message, blocking at most one `wait`
    /// timeout (one VM exit). `Ok(None)` on timeout. Costs one exit per job in steady state:
    /// the same `wait` read hands posted results to the device and waits for the next job.
    pub fn next_job(&mut self) -> Result<Option<Vec<u8>>, DriverError> {
        if self.unflushed_results && self.jobq.has_used() {
            // A job is already here: hand the results over with a doorbell instead of waiting.
            self.notify(RESULTQ);
            self.unflushed_results = false;
        }
        if !self.unflushed_results {
            if let Some(job) = self.take_job()? {
                return Ok(Some(job));
            }
        }
        if !self.use_wait {
            core::hint::spin_loop();
            return Ok(None);
        }
        self.wait_device()?;
        self.take_job()
    }

    fn reclaim_results(&mut self) -> Result<(), DriverError> {
        while let Some(u) = self.resultq.pop_used()? {
            if let Some(r) = self.posted_results[u.head as usize].take() {
                self.free_results.push(r);
            }
        }
        Ok(())
    }

    /// Encodes `result` for `job_id` and posts it on the result queue. The device picks it up
    /// at the next `wait` read (or at once through a notification without the wait feature).
    pub fn send_result(&mut self, job_id: u64, result: &JobResult<'_>) -> Result<(), DriverError> {
        let len = result
            .encoded_len()
            .filter(|&l| l <= self.config.max_result_size as usize)
            .ok_or(DriverError::ResultTooLarge)?;
        let mut private = vec![0u8; len];
        result
            .encode(job_id, &mut private)
            .map_err(|_| DriverError::ResultTooLarge)?;
        self.reclaim_results()?;
        while self.free_results.is_empty() {
            // Every result buffer is with the device: ring the doorbell (served by an ioeventfd
            // thread, or inline) and poll; fall back to a `wait` read, which processes results
            // synchronously, if the device is slow to return them.
            self.notify(RESULTQ);
            self.unflushed_results = false;
            for _ in 0..RECLAIM_SPINS {
                self.reclaim_results()?;
                if !self.free_results.is_empty() {
                    break;
                }
                core::hint::spin_loop();
            }
            if self.free_results.is_empty() && self.use_wait {
                self.wait_device()?;
                self.reclaim_results()?;
            }
        }
        let region = self
            .free_results
            .pop()
            .ok_or(DriverError::DeviceBroken("no result buffer"))?;
        region.write(0, &private);
        let head = self.resultq.add(&[Buffer {
            phys: region.phys(),
            len: len as u32,
            writable: false,
        }])?;
        self.posted_results[head as usize] = Some(region);
        self.stats.results += 1;
        if self.use_wait {
            self.unflushed_results = true;
        } else {
            self.notify(RESULTQ);
        }
        Ok(())
    }

    /// Pulls the model of `load` (job `job_id`) through the chunk queue, in order. Each chunk
    /// is copied into the private buffer `sink.buffer(offset, len)` returns, hashed there, then
    /// reported with `sink.filled`; the digest over the private copies must match the
    /// announced digest.
    pub fn fetch_model(
        &mut self,
        job_id: u64,
        load: &LoadModel,
        sink: &mut dyn ChunkSink,
    ) -> Result<(), FetchError> {
        let mut hasher = DigestHasher::new(load.digest_alg);
        let total = load.total_size;
        let mut offset = 0u64;
        while offset < total {
            // Post a batch of requests, one per slot.
            let mut batch: Vec<(u16, usize, u64, u32)> = Vec::new();
            for (slot_index, slot) in self.chunk_slots.iter().enumerate() {
                if offset >= total {
                    break;
                }
                let len = (total - offset).min(u64::from(self.chunk_size)) as u32;
                let req = ChunkRequest {
                    job_id,
                    model_id: load.model_id,
                    offset,
                    length: len,
                };
                let mut msg = [0u8; CHUNK_REQUEST_LEN];
                req.encode(&mut msg).map_err(|_| FetchError::BadResponse)?;
                slot.req.write(0, &msg);
                let head = self.chunkq.add(&[
                    Buffer {
                        phys: slot.req.phys(),
                        len: CHUNK_REQUEST_LEN as u32,
                        writable: false,
                    },
                    Buffer {
                        phys: slot.resp.phys(),
                        len: (CHUNK_RESPONSE_HEADER_LEN + len as usize) as u32,
                        writable: true,
                    },
                ])?;
                batch.push((head, slot_index, offset, len));
                offset += u64::from(len);
            }
            // Wait for the whole batch: one `wait` read (or one doorbell, then polling).
            let mut done: Vec<Option<u32>> = vec![None; batch.len()];
            let mut left = batch.len();
            if !self.use_wait {
                self.notify(CHUNKQ);
            }
            while left > 0 {
                let mut progressed = false;
                while let Some(u) = self.chunkq.pop_used()? {
                    let i = batch
                        .iter()
                        .position(|b| b.0 == u.head)
                        .ok_or(FetchError::Driver(DriverError::DeviceBroken("stray chunk")))?;
                    if done[i].replace(u.len).is_none() {
                        left -= 1;
                    }
                    progressed = true;
                }
                if left > 0 && !progressed {
                    if self.use_wait {
                        self.wait_device()?;
                    } else {
                        core::hint::spin_loop();
                    }
                }
            }
            // Copy each response into private memory in order, validate, hash.
            for (i, &(_, slot_index, off, len)) in batch.iter().enumerate() {
                let used = done[i].unwrap_or(0) as usize;
                let slot = &self.chunk_slots[slot_index];
                let mut hdr = [0u8; CHUNK_RESPONSE_HEADER_LEN];
                if used < CHUNK_RESPONSE_HEADER_LEN || !slot.resp.read(0, &mut hdr) {
                    return Err(FetchError::BadResponse);
                }
                let resp =
                    ChunkResponse::decode_header(&hdr).map_err(|_| FetchError::BadResponse)?;
                if resp.status != Status::Ok {
                    return Err(FetchError::Device(resp.status));
                }
                if resp.job_id != job_id
                    || resp.model_id != load.model_id
                    || resp.offset != off
                    || resp.length != len
                    || used < CHUNK_RESPONSE_HEADER_LEN + len as usize
                {
                    return Err(FetchError::BadResponse);
                }
                let dst = sink
                    .buffer(off, len as usize)
                    .ok_or(FetchError::NoDestination)?;
                if dst.len() != len as usize || !slot.resp.read(CHUNK_RESPONSE_HEADER_LEN, dst) {
                    return Err(FetchError::NoDestination);
                }
                hasher.update(&*dst);
                sink.filled(off, len as usize);
                self.stats.chunks += 1;
            }
        }
        let digest = hasher.finalize();
        if digest != load.digest {
            return Err(FetchError::DigestMismatch);
        }
        Ok(())
    }
}

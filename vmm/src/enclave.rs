//! [`Enclave`]: the host API of a running Cerebro enclave.
//!
//! An enclave is one VM running the Cerebro kernel with a virtio-cerebro device at the start of
//! the device window. The device's queue doorbells arrive through ioeventfds on the VM's
//! event-manager thread; the guest idles in one blocking read of the device's `wait` register.
//! Every method is safe to call from many threads at once: each call submits one job and waits
//! for its own reply, whatever order the guest completes jobs in.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use virtio_cerebro::spec::mmio::{reg, WINDOW_SIZE};
use virtio_cerebro::spec::NUM_QUEUES;
use virtio_cerebro::{CerebroDevice, DeviceHandle, JobReply, ReplyPayload};

/// The device crate (wire types, job types), re-exported for users of the enclave API.
pub use virtio_cerebro;
pub use virtio_cerebro::spec::{
    DType, DeviceConfig, DigestAlgorithm, ModelDigest, ModelFormat, Status,
};
pub use virtio_cerebro::{DeviceStats, EngineInfo, HostJob, JobError, JobTicket, Tensor};

use crate::arch::x86_64::layout::DEVICE_WINDOW_BASE;
use crate::devices::bus::MmioDevice;
use crate::devices::serial::ConsoleLog;
use crate::stop::{StopReason, StopToken};
use crate::vstate::vcpu::VmExit;
use crate::{CpuClock, Error, Populate, VmBuilder, VmConfig};

/// Guest-physical base of the virtio-cerebro register window.
pub const CEREBRO_MMIO_BASE: u64 = DEVICE_WINDOW_BASE;

impl MmioDevice for CerebroDevice {
    fn read(&self, offset: u64, data: &mut [u8]) {
        self.mmio_read(offset, data)
    }

    fn write(&self, offset: u64, data: &[u8]) {
        self.mmio_write(offset, data)
    }
}

/// How long [`Enclave::shutdown`] lets the guest exit on its own before stopping the VM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How to start an enclave.
#[derive(Clone, Debug)]
pub struct EnclaveConfig {
    /// The Cerebro kernel ELF (e.g. `cerebro_guest_image::KERNEL`).
    pub kernel: Cow<'static, [u8]>,
    /// Guest RAM in MiB.
    pub mem_mib: u64,
    /// Limits the device advertises (message sizes, chunk size, model size).
    pub device: DeviceConfig,
    /// Longest the guest may take to boot and report ready.
    pub boot_timeout: Duration,
    /// Longest the guest may work on one job without progress (an answer, or a model chunk
    /// pulled) before the job is answered with [`Status::DeadlineExceeded`] and the enclave
    /// restarted (see [`Enclave`]).
    pub job_timeout: Duration,
    /// How guest RAM is pre-faulted.
    pub populate: Populate,
    /// Kernel command line.
    pub cmdline: String,
}

impl EnclaveConfig {
    /// Defaults around `kernel`: 512 MiB, the default device limits, a 30 s boot limit and a 60 s
    /// job limit.
    pub fn new(kernel: impl Into<Cow<'static, [u8]>>) -> Self {
        EnclaveConfig {
            kernel: kernel.into(),
            mem_mib: 512,
            device: DeviceConfig::default(),
            boot_timeout: Duration::from_secs(30),
            job_timeout: Duration::from_secs(60),
            populate: Populate::Background,
            cmdline: String::new(),
        }
    }
}

/// A model loaded in the enclave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelId(pub u64);

/// How [`Enclave::load`] loads a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Format hint ([`ModelFormat::AUTO`]: the guest detects it from the content).
    pub format: ModelFormat,
    /// The digest the guest must verify (e.g. from a signed manifest); `None`: the BLAKE3 of
    /// the bytes.
    pub digest: Option<ModelDigest>,
    /// SavedModel signature to load (`None`: `serving_default`).
    pub signature: Option<String>,
}

impl LoadOptions {
    /// Loads a model of `format` with the computed digest and the default signature.
    pub fn new(format: ModelFormat) -> Self {
        LoadOptions {
            format,
            digest: None,
            signature: None,
        }
    }
}

/// A model [`Enclave::load`] loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedModel {
    /// Its id.
    pub id: ModelId,
    /// The guest's load detail: `loaded <format> <n_in> <n_out>`, then one `in|out <dtype>
    /// <dims> <name>` line per tensor (see guest/kernel/src/engine_handler.rs).
    pub detail: String,
}

/// Why an enclave call failed.
#[derive(Debug, thiserror::Error)]
pub enum EnclaveError {
    /// The VM could not be created or booted.
    #[error("enclave VM: {0}")]
    Vm(#[from] Error),
    /// The device could not be created.
    #[error("virtio-cerebro device: {0}")]
    Device(#[from] virtio_cerebro::DeviceError),
    /// The job got no reply (too large to send, malformed reply, timeout, enclave stopped).
    #[error("job failed: {0}")]
    Job(#[from] JobError),
    /// The job failed with an error status: the guest's, or [`Status::DeadlineExceeded`] from
    /// the job watcher.
    #[error("enclave refused the job ({status}): {detail}")]
    Guest {
        /// Status code from the guest.
        status: Status,
        /// The guest's diagnostic.
        detail: String,
    },
    /// The guest's reply has the wrong shape for the job.
    #[error("unexpected reply from the enclave: {0}")]
    UnexpectedReply(String),
}

impl EnclaveError {
    /// The guest's status code, if the guest refused the job.
    pub fn guest_status(&self) -> Option<Status> {
        match self {
            EnclaveError::Guest { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One VM with its device and service threads: what a restart replaces.
struct Instance {
    handle: DeviceHandle,
    device: CerebroDevice,
    stop: StopToken,
    console: ConsoleLog,
    vcpu_clock: Option<CpuClock>,
    exit: Arc<Mutex<Option<Result<VmExit, Error>>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Instance {
    /// Boots a VM and waits until its kernel serves the device.
    fn boot(config: &EnclaveConfig) -> Result<Instance, EnclaveError> {
        let started = Instant::now();
        let mut builder = VmBuilder::new(VmConfig {
            mem_mib: config.mem_mib,
            cmdline: config.cmdline.clone(),
            watchdog: Some(config.boot_timeout),
            populate: config.populate,
        })?;
        let device = CerebroDevice::new(builder.memory().clone(), config.device)?;
        builder.register_mmio_device(CEREBRO_MMIO_BASE, WINDOW_SIZE, Arc::new(device.clone()))?;
        for q in 0..NUM_QUEUES as u16 {
            if let Some(evt) = device.queue_event(q) {
                builder.register_ioevent(
                    evt,
                    CEREBRO_MMIO_BASE + reg::QUEUE_NOTIFY,
                    Some(u32::from(q)),
                )?;
            }
        }
        builder.add_event_subscriber(Arc::new(Mutex::new(device.event_handler())));
        let console = builder.console();
        let mut vm = builder.start(&config.kernel)?;
        vm.wait_ready()?;
        tracing::debug!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "enclave booted"
        );
        // Jobs are bounded by the enclave's job watcher; an idle enclave must not be stopped.
        vm.watchdog().disarm();
        let handle = device.handle();
        let stop = vm.stop_token();
        let vcpu_clock = vm.vcpu_clock();
        let exit = Arc::new(Mutex::new(None));
        let mut threads = Vec::new();
        // A vCPU blocked in the wait register returns once the device shuts down.
        let (h, token) = (handle.clone(), stop.clone());
        threads.push(spawn("cerebro-stopwatch", move || {
            while !token.wait_timeout(Duration::from_secs(3600)) {}
            h.shutdown();
        })?);
        // When the guest ends (exit, fault), fail every outstanding job at once.
        let (h, slot) = (handle.clone(), exit.clone());
        threads.push(spawn("cerebro-monitor", move || {
            let result = vm.wait();
            h.shutdown();
            *lock(&slot) = Some(result);
        })?);
        Ok(Instance {
            handle,
            device,
            stop,
            console,
            vcpu_clock,
            exit,
            threads,
        })
    }

    fn exit_status(&self) -> Option<String> {
        lock(&self.exit).as_ref().map(|r| format!("{r:?}"))
    }

    /// Stops the VM and joins its threads. `graceful`: the device first tells the guest to stop
    /// waiting and the kernel gets [`SHUTDOWN_GRACE`] to exit with status 0.
    fn stop(&mut self, graceful: bool, reason: StopReason) {
        if self.threads.is_empty() {
            return; // Already stopped (`shutdown`, then drop).
        }
        if graceful {
            self.handle.shutdown();
            let deadline = Instant::now() + SHUTDOWN_GRACE;
            while lock(&self.exit).is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.stop.stop(reason);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        tracing::debug!("enclave stopped");
    }
}

/// A model loaded through [`Enclave::load`]: what it takes to load it again after a restart.
#[derive(Clone)]
struct ModelRecord {
    bytes: Arc<[u8]>,
    options: LoadOptions,
}

/// State shared by an [`Enclave`] and its job watcher.
struct Shared {
    config: EnclaveConfig,
    instance: RwLock<Instance>,
    models: Mutex<BTreeMap<u64, ModelRecord>>,
    restarts: AtomicU64,
    /// Console output of the instances restarts replaced.
    past_consoles: Mutex<String>,
    closing: Mutex<bool>,
    closing_changed: Condvar,
}

impl Shared {
    fn instance(&self) -> RwLockReadGuard<'_, Instance> {
        self.instance.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running enclave. Dropping it stops the VM.
///
/// Every job is bounded: a job the guest works on for [`EnclaveConfig::job_timeout`] without
/// progress (no answer, no model chunk pulled) is answered with [`Status::DeadlineExceeded`],
/// and the enclave is restarted underneath its users: a fresh VM boots, the models loaded
/// through [`Enclave::load`] (and its wrappers) are loaded again under the same ids, and the
/// other unanswered jobs move to it unchanged. Models loaded through raw
/// [`Enclave::submit`] jobs are not reloaded, and a model's run-time state (TFLite variables)
/// starts afresh. See spec/virtio-cerebro.md, "Job deadline", for why a restart rather than an
/// in-guest abort.
pub struct Enclave {
    shared: Arc<Shared>,
    next_model: AtomicU64,
    watcher: Option<JoinHandle<()>>,
}

impl Enclave {
    /// Boots the enclave and waits until its kernel serves the device.
    pub fn start(config: EnclaveConfig) -> Result<Enclave, EnclaveError> {
        let instance = Instance::boot(&config)?;
        let shared = Arc::new(Shared {
            config,
            instance: RwLock::new(instance),
            models: Mutex::new(BTreeMap::new()),
            restarts: AtomicU64::new(0),
            past_consoles: Mutex::new(String::new()),
            closing: Mutex::new(false),
            closing_changed: Condvar::new(),
        });
        let watcher = {
            let shared = shared.clone();
            spawn("cerebro-jobwatch", move || watch_jobs(&shared))?
        };
        Ok(Enclave {
            shared,
            next_model: AtomicU64::new(1),
            watcher: Some(watcher),
        })
    }

    /// How many times a job outran its deadline and the enclave was restarted (counted when the
    /// restart begins; jobs submitted meanwhile wait for the new guest).
    pub fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::Relaxed)
    }

    /// The device limits (largest job, result, chunk and model).
    pub fn limits(&self) -> DeviceConfig {
        self.shared.instance().handle.config()
    }

    /// The device's counters (exits handled, jobs, chunks...) since the last restart.
    pub fn stats(&self) -> DeviceStats {
        self.shared.instance().device.stats()
    }

    /// The guest's console output so far (of every instance, across restarts).
    pub fn console(&self) -> String {
        let mut text = lock(&self.shared.past_consoles).clone();
        text.push_str(&self.shared.instance().console.text());
        text
    }

    /// CPU time of the running VM's vCPU thread so far: the guest's execution plus the exits
    /// handled on that thread (device work in the `wait` register). `None` once the VM has
    /// ended; a restarted VM counts from zero again.
    pub fn vcpu_cpu_time(&self) -> Option<Duration> {
        let instance = self.shared.instance();
        if instance.exit_status().is_some() {
            return None;
        }
        instance.vcpu_clock.and_then(|c| c.elapsed())
    }

    /// How the VM ended, if it has.
    pub fn exit_status(&self) -> Option<String> {
        self.shared.instance().exit_status()
    }

    /// Submits a raw job and returns its ticket (for callers that pipeline jobs). The ticket
    /// survives restarts: its job moves to the new VM unless it is the one that outran its
    /// deadline.
    pub fn submit(&self, job: HostJob) -> Result<JobTicket, EnclaveError> {
        Ok(self.shared.instance().handle.submit(job)?)
    }

    /// Submits a job and waits for its successful reply. Every job ends: the guest answers, the
    /// job watcher answers [`Status::DeadlineExceeded`], or the VM ends and fails it.
    fn call(&self, job: HostJob) -> Result<JobReply, EnclaveError> {
        let reply = self.submit(job)?.wait()?;
        if reply.status != Status::Ok {
            return Err(EnclaveError::Guest {
                status: reply.status,
                detail: reply.detail,
            });
        }
        Ok(reply)
    }

    /// Transfers a model into the enclave (the guest pulls it in chunks into private memory and
    /// checks its digest) and loads it.
    pub fn load_model(
        &self,
        bytes: impl Into<Arc<[u8]>>,
        format: ModelFormat,
    ) -> Result<ModelId, EnclaveError> {
        Ok(self.load(bytes, &LoadOptions::new(format))?.id)
    }

    /// Like [`Enclave::load_model`], with the digest the guest must verify given by the caller
    /// (e.g. from a signed manifest) instead of computed from `bytes`.
    pub fn load_model_with_digest(
        &self,
        bytes: impl Into<Arc<[u8]>>,
        format: ModelFormat,
        digest: ModelDigest,
    ) -> Result<ModelId, EnclaveError> {
        let options = LoadOptions {
            digest: Some(digest),
            ..LoadOptions::new(format)
        };
        Ok(self.load(bytes, &options)?.id)
    }

    /// Transfers and loads a model as `options` say (format hint, digest, SavedModel
    /// signature); returns its id and the guest's load detail (the engine's description of the
    /// model's inputs and outputs).
    pub fn load(
        &self,
        bytes: impl Into<Arc<[u8]>>,
        options: &LoadOptions,
    ) -> Result<LoadedModel, EnclaveError> {
        let id = ModelId(self.next_model.fetch_add(1, Ordering::Relaxed));
        let record = ModelRecord {
            bytes: bytes.into(),
            options: options.clone(),
        };
        let reply = self.call(record.load_job(id.0))?;
        lock(&self.shared.models).insert(id.0, record);
        Ok(LoadedModel {
            id,
            detail: reply.detail,
        })
    }

    /// Runs a loaded model on `inputs` (in the model's input order) and returns its outputs.
    pub fn run(&self, model: ModelId, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, EnclaveError> {
        let reply = self.call(HostJob::Run {
            model_id: model.0,
            inputs,
        })?;
        tensors(reply)
    }

    /// Forgets a loaded model.
    pub fn unload(&self, model: ModelId) -> Result<(), EnclaveError> {
        let result = self.call(HostJob::Unload { model_id: model.0 });
        if result.is_ok()
            || matches!(&result, Err(e) if e.guest_status() == Some(Status::UnknownModel))
        {
            lock(&self.shared.models).remove(&model.0);
        }
        result.map(|_| ())
    }

    /// Engine and guest information.
    pub fn info(&self) -> Result<EngineInfo, EnclaveError> {
        match self.call(HostJob::Info)?.payload {
            ReplyPayload::Info(i) => Ok(i),
            other => Err(EnclaveError::UnexpectedReply(format!("{other:?}"))),
        }
    }

    /// The built-in echo job: the guest returns `payload` unchanged.
    pub fn echo(&self, payload: Vec<u8>) -> Result<Vec<u8>, EnclaveError> {
        let mut t = tensors(self.call(HostJob::Echo(payload))?)?;
        match (t.pop(), t.is_empty()) {
            (Some(one), true) => Ok(one.data),
            _ => Err(EnclaveError::UnexpectedReply("echo: not one tensor".into())),
        }
    }

    /// The built-in checksum job: the guest returns the SHA-256 of `payload`.
    pub fn checksum(&self, payload: Vec<u8>) -> Result<[u8; 32], EnclaveError> {
        let mut t = tensors(self.call(HostJob::Checksum(payload))?)?;
        t.pop()
            .and_then(|one| <[u8; 32]>::try_from(one.data).ok())
            .ok_or_else(|| EnclaveError::UnexpectedReply("checksum: not 32 bytes".into()))
    }

    /// Stops the enclave and returns how the VM ended.
    pub fn shutdown(mut self) -> Option<String> {
        self.stop_and_join();
        self.exit_status()
    }

    fn stop_and_join(&mut self) {
        *lock(&self.shared.closing) = true;
        self.shared.closing_changed.notify_all();
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        self.shared
            .instance
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .stop(true, StopReason::Host);
    }
}

impl Drop for Enclave {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl ModelRecord {
    fn load_job(&self, model_id: u64) -> HostJob {
        HostJob::LoadModel {
            model_id,
            format: self.options.format,
            bytes: self.bytes.clone(),
            digest: self.options.digest,
            signature: self.options.signature.clone(),
        }
    }
}

/// The job watcher: restarts the enclave when the guest has worked on one job for the job
/// limit without progress. Ends when the enclave closes.
fn watch_jobs(shared: &Shared) {
    let limit = shared.config.job_timeout;
    let tick = (limit / 20).clamp(Duration::from_millis(5), Duration::from_millis(250));
    let mut closing = lock(&shared.closing);
    loop {
        closing = shared
            .closing_changed
            .wait_timeout(closing, tick)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        if *closing {
            return;
        }
        let stalled = shared
            .instance()
            .handle
            .stall()
            .is_some_and(|s| s.idle >= limit);
        if stalled {
            drop(closing);
            restart(shared);
            closing = lock(&shared.closing);
        }
    }
}

/// Replaces a guest stuck on a job: answers that job with DEADLINE_EXCEEDED, stops the VM, boots
/// a new one, loads the recorded models into it and hands it the other unanswered jobs.
fn restart(shared: &Shared) {
    let limit = shared.config.job_timeout;
    let mut instance = shared.instance.write().unwrap_or_else(|e| e.into_inner());
    // Checked again under the write lock: the guest may have answered meanwhile.
    let Some(stall) = instance.handle.stall().filter(|s| s.idle >= limit) else {
        return;
    };
    let detail = format!(
        "the job ran for {:.1} s without finishing, over the enclave's job limit of {:.1} s; the \
         enclave was restarted and its models loaded again",
        stall.idle.as_secs_f64(),
        limit.as_secs_f64()
    );
    // Info, not warn: the caller gets the job's answer; a CLI keeps its one-line errors.
    tracing::info!("enclave: {detail}");
    // Counted before the stuck job is answered, so its caller already sees the restart; the
    // restart holds the write lock until the new guest serves, so next jobs wait for it.
    shared.restarts.fetch_add(1, Ordering::Relaxed);
    let unfinished = instance.handle.abandon(
        stall.job_id,
        Ok(JobReply {
            status: Status::DeadlineExceeded,
            detail,
            payload: ReplyPayload::Empty,
        }),
    );
    instance.stop(false, StopReason::Watchdog { limit });
    {
        let mut past = lock(&shared.past_consoles);
        past.push_str(&instance.console.text());
        past.push_str("\n--- enclave restarted: a job outran its deadline ---\n");
    }
    let fresh = match Instance::boot(&shared.config) {
        Ok(fresh) => fresh,
        Err(e) => {
            tracing::error!("enclave: restart failed: {e}");
            unfinished.fail(JobError::Shutdown);
            return;
        }
    };
    let models: Vec<(u64, ModelRecord)> = lock(&shared.models)
        .iter()
        .map(|(id, r)| (*id, r.clone()))
        .collect();
    for (id, record) in models {
        let reloaded = fresh
            .handle
            .submit(record.load_job(id))
            .and_then(|t| t.wait_timeout(limit));
        if !matches!(&reloaded, Ok(r) if r.status == Status::Ok) {
            tracing::warn!(
                "enclave: model {id} did not load again after the restart: {reloaded:?}"
            );
            lock(&shared.models).remove(&id);
        }
    }
    fresh.handle.adopt(unfinished);
    *instance = fresh;
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn tensors(reply: JobReply) -> Result<Vec<Tensor>, EnclaveError> {
    match reply.payload {
        ReplyPayload::Tensors(t) => Ok(t),
        other => Err(EnclaveError::UnexpectedReply(format!("{other:?}"))),
    }
}

fn spawn(name: &'static str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, Error> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|source| Error::Thread { name, source })
}

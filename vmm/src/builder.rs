//! Building and starting a VM: [`VmConfig`] → [`VmBuilder`] (register devices) →
//! [`VmBuilder::start`] → [`RunningVm`].
//!
//! ```no_run
//! # fn main() -> Result<(), vmm::Error> {
//! let kernel: &[u8] = &[]; // e.g. cerebro_guest_image::KERNEL
//! let builder = vmm::VmBuilder::new(vmm::VmConfig::default())?;
//! let mut vm = builder.start(kernel)?;
//! let ready_at = vm.wait_ready()?;
//! println!("{}", vm.console().text());
//! let exit = vm.wait()?;
//! # Ok(()) }
//! ```

use std::os::unix::thread::JoinHandleExt;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use vmm_sys_util::eventfd::EventFd;

use crate::arch::x86_64::boot_info::{BootInfo, BOOT_INFO_MAGIC};
use crate::arch::x86_64::cpuid::{self, HostSimd};
use crate::arch::x86_64::layout::{
    BOOT_INFO_ADDR, CMDLINE_ADDR, CMDLINE_MAX, DEVICE_WINDOW_BASE, DEVICE_WINDOW_SIZE, GDT_ADDR,
    IDT_ADDR, LARGE_PAGE_SIZE, MAX_RAM, MIN_RAM, RING0_STACK_TOP, SYSTEM_AREA_END, TSS_ADDR,
    USER_STACK_TOP,
};
use crate::arch::x86_64::{gdt, idt, paging, regs, tss};
use crate::cpu_clock::CpuClock;
use crate::devices::bus::{MmioBus, MmioDevice};
use crate::devices::ports::USER_PORTS;
use crate::devices::serial::{ConsoleLog, SerialConsole};
use crate::error::{Error, GuestError};
use crate::loader::KernelImage;
use crate::stop::{self, StopReason, StopToken};
use crate::vstate::memory;
use crate::vstate::vcpu::{Progress, Vcpu, VmExit};
use crate::vstate::vm::Vm;
use crate::watchdog::Watchdog;

/// A device's event handler, run on the VM's event-manager thread.
pub type DeviceSubscriber = Arc<Mutex<dyn MutEventSubscriber + Send>>;

/// How guest RAM is pre-faulted. Whatever the choice, what the guest touches while booting
/// (system area, stack top, kernel image, heap start, top of RAM) is populated with 4 KiB pages
/// before the vCPU starts, and the heap is backed by transparent huge pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Populate {
    /// All of RAM before the vCPU starts.
    Full,
    /// The heap on a background thread while the guest boots (a huge-page allocation can stall
    /// on compaction; there it does not delay boot). Heap pages the guest touches before the
    /// thread reaches them are faulted in on demand by the host (slower, still correct). The
    /// thread competes for CPU time with the vCPU and pays for all of RAM, used or not.
    Background,
    /// Nothing more: heap pages are faulted in (2 MiB at a time) when the guest first touches
    /// them. Best for short-lived enclaves that use a small part of their RAM.
    OnDemand,
}

/// Ring-3 stack populated before boot (the stack grows down from its top).
const BOOT_STACK_EAGER: u64 = 256 << 10;
/// Heap populated before boot (its start, where the allocator begins).
const BOOT_HEAP_EAGER: u64 = 256 << 10;
/// Top of RAM populated before boot (the allocator's end tag).
const BOOT_TOP_EAGER: u64 = 64 << 10;

/// What a VM is made of.
#[derive(Clone, Debug)]
pub struct VmConfig {
    /// Guest RAM in MiB (even, 32..=3072).
    pub mem_mib: u64,
    /// Kernel command line (≤ 4096 bytes), e.g. `cerebro.test=pf`.
    pub cmdline: String,
    /// Watchdog limit armed when the vCPU starts (`None`: start disarmed).
    pub watchdog: Option<Duration>,
    /// How RAM is pre-faulted.
    pub populate: Populate,
}

impl Default for VmConfig {
    fn default() -> Self {
        Self {
            mem_mib: 256,
            cmdline: String::new(),
            watchdog: Some(Duration::from_secs(10)),
            populate: Populate::Background,
        }
    }
}

impl VmConfig {
    /// RAM size in bytes, validated.
    pub fn ram_size(&self) -> Result<u64, Error> {
        let bytes = self
            .mem_mib
            .checked_mul(1 << 20)
            .ok_or_else(|| Error::Config(format!("{} MiB of RAM is too much", self.mem_mib)))?;
        if !(MIN_RAM..=MAX_RAM).contains(&bytes) || bytes % LARGE_PAGE_SIZE != 0 {
            return Err(Error::Config(format!(
                "guest memory must be an even number of MiB between {} and {} MiB, not {}",
                MIN_RAM >> 20,
                MAX_RAM >> 20,
                self.mem_mib
            )));
        }
        Ok(bytes)
    }
}

/// A VM being put together: memory is allocated and registered; devices can be added.
pub struct VmBuilder {
    created: Instant,
    config: VmConfig,
    ram_size: u64,
    vm: Vm,
    bus: MmioBus,
    subscribers: Vec<DeviceSubscriber>,
    stop: StopToken,
    console: ConsoleLog,
}

impl VmBuilder {
    /// Opens KVM, creates the VM and maps its RAM (pre-faulted by [`start`](Self::start)).
    pub fn new(config: VmConfig) -> Result<Self, Error> {
        let created = Instant::now();
        let ram_size = config.ram_size()?;
        if config.cmdline.len() > CMDLINE_MAX {
            return Err(Error::Config(format!(
                "command line is {} bytes, the limit is {CMDLINE_MAX}",
                config.cmdline.len()
            )));
        }
        let (kvm, fd) = Vm::create()?;
        tracing::debug!(
            elapsed_us = created.elapsed().as_micros() as u64,
            "KVM VM created"
        );
        let memory = memory::create(ram_size)?;
        let vm = Vm::new(kvm, fd, memory)?;
        tracing::debug!(
            elapsed_us = created.elapsed().as_micros() as u64,
            "RAM mapped"
        );
        let stop = StopToken::new().map_err(|e| Error::Memory(format!("eventfd: {e}")))?;
        Ok(Self {
            created,
            config,
            ram_size,
            vm,
            bus: MmioBus::default(),
            subscribers: Vec::new(),
            stop,
            console: ConsoleLog::default(),
        })
    }

    /// Guest memory (cheap to clone; devices keep a clone).
    pub fn memory(&self) -> &GuestMemoryMmap {
        self.vm.memory()
    }

    /// The KVM VM, for ioctls this crate does not wrap.
    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// Guest-physical base and size of the device MMIO window.
    pub fn device_window(&self) -> (u64, u64) {
        (DEVICE_WINDOW_BASE, DEVICE_WINDOW_SIZE)
    }

    /// Registers `device` for guest-physical `[start, start + len)` inside the device window.
    pub fn register_mmio_device(
        &mut self,
        start: u64,
        len: u64,
        device: Arc<dyn MmioDevice>,
    ) -> Result<(), Error> {
        Ok(self.bus.register(start, len, device)?)
    }

    /// Makes guest writes to MMIO address `addr` (of `datamatch`, or any value) signal `event`
    /// inside KVM (no exit to the VMM); pair it with an event subscriber.
    pub fn register_ioevent(
        &self,
        event: &EventFd,
        addr: u64,
        datamatch: Option<u32>,
    ) -> Result<(), Error> {
        self.vm.register_ioevent(event, addr, datamatch)
    }

    /// Adds a subscriber to the VM's event-manager thread (started with the VM if any exist).
    pub fn add_event_subscriber(&mut self, subscriber: DeviceSubscriber) {
        self.subscribers.push(subscriber);
    }

    /// The token that stops this VM; devices that block must watch it.
    pub fn stop_token(&self) -> StopToken {
        self.stop.clone()
    }

    /// The console capture.
    pub fn console(&self) -> ConsoleLog {
        self.console.clone()
    }

    /// When this builder was created (the start of VM set-up).
    pub fn created_at(&self) -> Instant {
        self.created
    }

    /// Loads `kernel`, sets up the vCPU and starts it (and the watchdog and event threads).
    pub fn start(self, kernel: &[u8]) -> Result<RunningVm, Error> {
        tracing::debug!(
            elapsed_us = self.created.elapsed().as_micros() as u64,
            "VM created"
        );
        let image = KernelImage::parse(kernel, self.ram_size)?;
        let memory = self.vm.memory().clone();
        // Pre-fault, with 4 KiB pages, what the guest touches while booting: the system area, the
        // top of the ring-3 stack, the kernel image, the start of the heap and the top of RAM (the
        // heap allocator writes a tag there). The heap gets huge pages, populated now (Full) or on
        // a background thread.
        let heap_start = image.end.saturating_add(BOOT_HEAP_EAGER);
        let huge_start = (heap_start.saturating_add(LARGE_PAGE_SIZE - 1) & !(LARGE_PAGE_SIZE - 1))
            .min(self.ram_size);
        let huge_end =
            self.ram_size.saturating_sub(BOOT_TOP_EAGER).max(huge_start) & !(LARGE_PAGE_SIZE - 1);
        let huge_end = huge_end.max(huge_start);
        memory::populate(
            &memory,
            0,
            SYSTEM_AREA_END.max(CMDLINE_ADDR + CMDLINE_MAX as u64),
        )?;
        memory::populate(&memory, USER_STACK_TOP - BOOT_STACK_EAGER, BOOT_STACK_EAGER)?;
        for segment in &image.segments {
            memory::populate(&memory, segment.start, segment.end - segment.start)?;
        }
        memory::populate(&memory, image.end, BOOT_HEAP_EAGER)?;
        memory::populate(&memory, self.ram_size - BOOT_TOP_EAGER, BOOT_TOP_EAGER)?;
        memory::advise_huge_pages(&memory, huge_start, huge_end - huge_start);
        if self.config.populate == Populate::Full {
            memory::populate(&memory, image.end, self.ram_size - image.end)?;
        }
        tracing::debug!(
            elapsed_us = self.created.elapsed().as_micros() as u64,
            "boot memory populated"
        );
        let pvh_entry = image.load(&memory)?;
        write_system_area(&memory, &image, self.ram_size, &self.config.cmdline)?;
        tracing::debug!(
            elapsed_us = self.created.elapsed().as_micros() as u64,
            "kernel loaded, system area written"
        );

        let vcpu_fd = self.vm.create_vcpu()?;
        let cpuid = cpuid::build(self.vm.kvm()).map_err(|source| Error::Kvm {
            op: "KVM_GET_SUPPORTED_CPUID",
            source,
        })?;
        vcpu_fd.set_cpuid2(&cpuid).map_err(|source| Error::Kvm {
            op: "KVM_SET_CPUID2",
            source,
        })?;
        regs::setup(&vcpu_fd, image.entry, HostSimd::detect())?;
        tracing::debug!(
            elapsed_us = self.created.elapsed().as_micros() as u64,
            "vCPU registers set"
        );

        stop::install_kick_handler().map_err(|source| Error::Thread {
            name: "vCPU kick signal",
            source,
        })?;
        self.vm.wait_memory_registered()?;
        let progress = Arc::new(Progress::default());
        let vcpu = Vcpu {
            fd: vcpu_fd,
            memory: memory.clone(),
            serial: SerialConsole::new(self.console.clone()),
            bus: Arc::new(self.bus),
            stop: self.stop.clone(),
            progress: progress.clone(),
        };
        tracing::debug!(
            elapsed_us = self.created.elapsed().as_micros() as u64,
            "vCPU configured"
        );
        let vcpu_thread = std::thread::Builder::new()
            .name("cerebro-vcpu0".into())
            .spawn(move || vcpu.run())
            .map_err(|source| Error::Thread {
                name: "vCPU",
                source,
            })?;
        self.stop
            .set_vcpu_thread(Some(vcpu_thread.as_pthread_t() as libc::pthread_t));
        let vcpu_clock = CpuClock::of_thread(vcpu_thread.as_pthread_t() as libc::pthread_t);
        // From here on an error must not leave the vCPU running: `guard` stops and joins it.
        let guard = VcpuGuard {
            stop: self.stop.clone(),
            thread: Some(vcpu_thread),
        };
        let watchdog = Watchdog::start(self.stop.clone()).map_err(|source| Error::Thread {
            name: "watchdog",
            source,
        })?;
        if let Some(limit) = self.config.watchdog {
            watchdog.arm(limit);
        }
        let event_thread = if self.subscribers.is_empty() {
            None
        } else {
            Some(spawn_event_thread(self.subscribers, self.stop.clone())?)
        };
        let vcpu_thread = guard.release();

        let populate_thread = match self.config.populate {
            Populate::Background if huge_start < huge_end => {
                let (memory, stop) = (memory.clone(), self.stop.clone());
                let thread = std::thread::Builder::new()
                    .name("cerebro-populate".into())
                    .spawn(move || populate_in_chunks(&memory, huge_start, huge_end, &stop))
                    .map_err(|source| Error::Thread {
                        name: "memory populate",
                        source,
                    })?;
                Some(thread)
            }
            _ => None,
        };

        Ok(RunningVm {
            _vm: self.vm,
            created: self.created,
            stop: self.stop,
            progress,
            console: self.console,
            watchdog,
            memory,
            vcpu_thread: Some(vcpu_thread),
            event_thread,
            populate_thread,
            outcome: None,
            pvh_entry,
            vcpu_clock,
        })
    }
}

/// Stops and joins the vCPU thread if VM start-up fails after it was spawned.
struct VcpuGuard {
    stop: StopToken,
    thread: Option<JoinHandle<Result<VmExit, GuestError>>>,
}

impl VcpuGuard {
    fn release(mut self) -> JoinHandle<Result<VmExit, GuestError>> {
        self.thread
            .take()
            .expect("the guard holds the thread until released")
    }
}

impl Drop for VcpuGuard {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.stop(StopReason::Host);
            let _ = thread.join();
            self.stop.set_vcpu_thread(None);
        }
    }
}

/// Writes the GDT, IDT, TSS, page tables, boot info and command line.
fn write_system_area(
    memory: &GuestMemoryMmap,
    image: &KernelImage<'_>,
    ram_size: u64,
    cmdline: &str,
) -> Result<(), Error> {
    let write = |bytes: &[u8], addr: u64, what: &str| {
        memory
            .write_slice(bytes, GuestAddress(addr))
            .map_err(|e| Error::Memory(format!("writing the {what} at {addr:#x}: {e}")))
    };
    let gdt: Vec<u8> = gdt::gdt_entries()
        .iter()
        .flat_map(|e| e.to_le_bytes())
        .collect();
    write(&gdt, GDT_ADDR, "GDT")?;
    write(
        &idt::build(image.stubs.table, image.stubs.stride),
        IDT_ADDR,
        "IDT",
    )?;
    write(&tss::build(RING0_STACK_TOP, &USER_PORTS), TSS_ADDR, "TSS")?;
    for page in paging::build(ram_size, &image.segments) {
        write(&page.to_bytes(), page.addr, "page tables")?;
    }
    write(cmdline.as_bytes(), CMDLINE_ADDR, "command line")?;
    let info = BootInfo {
        magic: BOOT_INFO_MAGIC,
        size: std::mem::size_of::<BootInfo>() as u64,
        ram_size,
        device_window_base: DEVICE_WINDOW_BASE,
        device_window_size: DEVICE_WINDOW_SIZE,
        cmdline_addr: CMDLINE_ADDR,
        cmdline_len: cmdline.len() as u64,
        reserved: 0,
    };
    memory
        .write_obj(info, GuestAddress(BOOT_INFO_ADDR))
        .map_err(|e| Error::Memory(format!("writing the boot info: {e}")))
}

/// Populates `[from, to)` in 16 MiB steps, giving up early if the VM stops.
fn populate_in_chunks(memory: &GuestMemoryMmap, from: u64, to: u64, stop: &StopToken) {
    const CHUNK: u64 = 16 << 20;
    let mut at = from;
    while at < to && !stop.is_stopped() {
        let len = CHUNK.min(to - at);
        if let Err(error) = memory::populate(memory, at, len) {
            tracing::warn!("background populate: {error}");
            return;
        }
        at += len;
    }
}

/// Watches the stop eventfd so the event loop wakes and ends when the VM stops.
struct StopWatcher {
    fd: std::os::fd::RawFd,
}

impl MutEventSubscriber for StopWatcher {
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {}

    fn init(&mut self, ops: &mut EventOps) {
        if let Err(error) = ops.add(Events::new_raw(self.fd, EventSet::IN)) {
            tracing::warn!("event manager: cannot watch the stop eventfd: {error:?}");
        }
    }
}

fn spawn_event_thread(
    subscribers: Vec<DeviceSubscriber>,
    stop: StopToken,
) -> Result<JoinHandle<()>, Error> {
    let mut manager = EventManager::<DeviceSubscriber>::new().map_err(|e| Error::Thread {
        name: "event manager",
        source: std::io::Error::other(format!("{e:?}")),
    })?;
    for subscriber in subscribers {
        manager.add_subscriber(subscriber);
    }
    manager.add_subscriber(Arc::new(Mutex::new(StopWatcher {
        fd: stop.event_fd(),
    })));
    std::thread::Builder::new()
        .name("cerebro-events".into())
        .spawn(move || {
            while !stop.is_stopped() {
                if let Err(error) = manager.run() {
                    tracing::error!("event manager: {error:?}");
                    break;
                }
            }
        })
        .map_err(|source| Error::Thread {
            name: "event manager",
            source,
        })
}

/// A started VM. Dropping it stops the guest and joins its threads.
pub struct RunningVm {
    _vm: Vm,
    created: Instant,
    stop: StopToken,
    progress: Arc<Progress>,
    console: ConsoleLog,
    watchdog: Watchdog,
    memory: GuestMemoryMmap,
    vcpu_thread: Option<JoinHandle<Result<VmExit, GuestError>>>,
    event_thread: Option<JoinHandle<()>>,
    populate_thread: Option<JoinHandle<()>>,
    outcome: Option<Result<VmExit, GuestError>>,
    pvh_entry: Option<u64>,
    vcpu_clock: Option<CpuClock>,
}

impl RunningVm {
    /// Waits until the guest reports ready and returns when it did. If the guest ends first,
    /// returns why (a fault, the watchdog, an exit status before ready...).
    pub fn wait_ready(&mut self) -> Result<Instant, Error> {
        let state = self.progress.wait_ready_or_end();
        if let Some(at) = state.ready_at {
            return Ok(at);
        }
        match self.join_vcpu() {
            Ok(VmExit::Exited { status }) => Err(GuestError::ExitedBeforeReady(status).into()),
            Ok(VmExit::Stopped) => Err(GuestError::StoppedBeforeReady.into()),
            Err(error) => Err(error.into()),
        }
    }

    /// Waits for the guest to end and returns how it ended.
    pub fn wait(mut self) -> Result<VmExit, Error> {
        Ok(self.join_vcpu()?)
    }

    /// Stops the guest (it ends with [`VmExit::Stopped`] unless it already ended otherwise).
    pub fn stop(&self) {
        self.stop.stop(StopReason::Host);
    }

    /// The watchdog (arm / re-arm / disarm per job).
    pub fn watchdog(&self) -> &Watchdog {
        &self.watchdog
    }

    /// The token that stops this VM.
    pub fn stop_token(&self) -> StopToken {
        self.stop.clone()
    }

    /// The guest's console output.
    pub fn console(&self) -> &ConsoleLog {
        &self.console
    }

    /// Guest memory.
    pub fn memory(&self) -> &GuestMemoryMmap {
        &self.memory
    }

    /// When VM set-up began ([`VmBuilder::new`]).
    pub fn created_at(&self) -> Instant {
        self.created
    }

    /// Waits until the background thread has pre-faulted all guest RAM ([`Populate::Background`]),
    /// e.g. before timing a first job, so host page faults do not land in it. Returns at once with
    /// [`Populate::Full`] or when it has already finished.
    pub fn wait_memory_populated(&mut self) {
        if let Some(thread) = self.populate_thread.take() {
            let _ = thread.join();
        }
    }

    /// When the guest reported ready, if it has.
    pub fn ready_at(&self) -> Option<Instant> {
        self.progress.snapshot().ready_at
    }

    /// The vCPU thread's CPU-time clock (guest execution and exit handling); read it only while
    /// the VM runs.
    pub fn vcpu_clock(&self) -> Option<CpuClock> {
        self.vcpu_clock
    }

    /// The kernel's PVH entry point (other VMMs use it; this one enters at the ELF entry).
    pub fn pvh_entry(&self) -> Option<u64> {
        self.pvh_entry
    }

    fn join_vcpu(&mut self) -> Result<VmExit, GuestError> {
        if let Some(thread) = self.vcpu_thread.take() {
            let result = thread.join().unwrap_or(Err(GuestError::VcpuPanicked));
            self.stop.set_vcpu_thread(None);
            self.console.flush_partial_line();
            self.outcome = Some(result);
            // The guest is gone: let the other threads end.
            self.stop.stop(StopReason::Host);
            self.watchdog.disarm();
        }
        // The outcome is kept: `wait_ready` may have reported it already and `wait` reports it again.
        self.outcome
            .clone()
            .unwrap_or(Err(GuestError::VcpuPanicked))
    }
}

impl Drop for RunningVm {
    fn drop(&mut self) {
        if self.vcpu_thread.is_some() {
            self.stop.stop(StopReason::Host);
            let _ = self.join_vcpu();
        }
        self.stop.stop(StopReason::Host);
        for thread in [self.event_thread.take(), self.populate_thread.take()]
            .into_iter()
            .flatten()
        {
            let _ = thread.join();
        }
    }
}

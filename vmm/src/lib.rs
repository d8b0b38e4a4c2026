//! The Cerebro VMM: one KVM enclave VM, its memory, vCPU, devices and watchdog.
//!
//! Layout follows Firecracker's: [`builder`] puts a VM together and starts it, [`vstate`] wraps
//! the KVM VM and vCPU (and runs the exit loop), [`arch`] builds the x86_64 system structures,
//! [`devices`] holds the MMIO bus, the serial console and Cerebro's ports, [`loader`] validates
//! and loads the kernel, [`watchdog`] and [`stop`] end runaway guests.
//!
//! Guest memory is treated as untrusted: everything read from it is bounds-checked, and nothing
//! the guest does can panic the VMM.

pub mod arch;
pub mod builder;
pub mod cpu_clock;
pub mod devices;
pub mod enclave;
pub mod error;
pub mod loader;
pub mod stop;
pub mod vstate;
pub mod watchdog;

/// Re-exported for device subscribers ([`VmBuilder::add_event_subscriber`]).
pub use event_manager;
/// Re-exported so users of [`RunningVm::memory`] need not pin vm-memory themselves.
pub use vm_memory;
/// Re-exported for ioeventfds ([`VmBuilder::register_ioevent`]) and device events.
pub use vmm_sys_util::eventfd::EventFd;

pub use builder::{DeviceSubscriber, Populate, RunningVm, VmBuilder, VmConfig};
pub use cpu_clock::CpuClock;
pub use devices::bus::MmioDevice;
pub use enclave::{Enclave, EnclaveConfig, EnclaveError, LoadOptions, LoadedModel, ModelId};
pub use error::{Error, FaultReport, GuestError, RegisterDump};
pub use stop::{StopReason, StopToken};
pub use vstate::vcpu::VmExit;
pub use watchdog::Watchdog;

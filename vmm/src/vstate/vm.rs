//! The KVM VM: guest memory registration, ioeventfds, vCPU creation.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{IoEventAddress, Kvm, NoDatamatch, VcpuFd, VmFd};
use vm_memory::{GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use vmm_sys_util::eventfd::EventFd;

use crate::error::Error;

/// One KVM VM and its memory.
pub struct Vm {
    kvm: Kvm,
    fd: Arc<VmFd>,
    memory: GuestMemoryMmap,
    registration: Mutex<Option<JoinHandle<Result<(), Error>>>>,
}

impl Vm {
    /// Opens `/dev/kvm` and creates an empty VM.
    pub fn create() -> Result<(Kvm, VmFd), Error> {
        let kvm = Kvm::new().map_err(Error::KvmUnavailable)?;
        let fd = kvm.create_vm().map_err(|source| Error::Kvm {
            op: "KVM_CREATE_VM",
            source,
        })?;
        Ok((kvm, fd))
    }

    /// Registers `memory` with the VM on a helper thread (the ioctl waits for an SRCU grace period,
    /// 2-15 ms here, which overlaps with loading the kernel); [`Vm::wait_memory_registered`]
    /// joins it. Memory is registered before any vCPU runs (and no irqchip is ever created:
    /// registering after one costs 4-6 ms here).
    pub fn new(kvm: Kvm, fd: VmFd, memory: GuestMemoryMmap) -> Result<Self, Error> {
        let fd = Arc::new(fd);
        let regions: Vec<kvm_userspace_memory_region> = memory
            .iter()
            .enumerate()
            .map(|(slot, region)| kvm_userspace_memory_region {
                slot: slot as u32,
                flags: 0,
                guest_phys_addr: region.start_addr().0,
                memory_size: region.len(),
                userspace_addr: region.as_ptr() as u64,
            })
            .collect();
        let registration = {
            let fd = fd.clone();
            // Keeps the mappings alive while the thread runs (the Vm owns another handle).
            let _memory = memory.clone();
            std::thread::Builder::new()
                .name("cerebro-memslots".into())
                .spawn(move || {
                    let _memory = _memory;
                    for region in regions {
                        // SAFETY: the host range is a live mapping owned by `memory`, which the
                        // `Vm` (and this thread) keep alive for as long as the VM fd exists.
                        unsafe { fd.set_user_memory_region(region) }.map_err(|source| {
                            Error::Kvm {
                                op: "KVM_SET_USER_MEMORY_REGION",
                                source,
                            }
                        })?;
                    }
                    Ok(())
                })
                .map_err(|source| Error::Thread {
                    name: "memory registration",
                    source,
                })?
        };
        Ok(Self {
            kvm,
            fd,
            memory,
            registration: Mutex::new(Some(registration)),
        })
    }

    /// Waits until guest memory is registered with KVM (see [`Vm::new`]).
    pub fn wait_memory_registered(&self) -> Result<(), Error> {
        let handle = self
            .registration
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match handle {
            Some(handle) => handle.join().unwrap_or_else(|_| {
                Err(Error::Memory(
                    "the memory registration thread panicked".into(),
                ))
            }),
            None => Ok(()),
        }
    }

    /// The KVM system handle.
    pub fn kvm(&self) -> &Kvm {
        &self.kvm
    }

    /// The VM fd (for ioctls this type does not wrap).
    pub fn fd(&self) -> &VmFd {
        &self.fd
    }

    /// Guest memory.
    pub fn memory(&self) -> &GuestMemoryMmap {
        &self.memory
    }

    /// Makes guest writes of `datamatch` (or any value) to MMIO address `addr` signal `event`
    /// inside KVM, without an exit to the VMM.
    pub fn register_ioevent(
        &self,
        event: &EventFd,
        addr: u64,
        datamatch: Option<u32>,
    ) -> Result<(), Error> {
        let address = IoEventAddress::Mmio(addr);
        let result = match datamatch {
            Some(value) => self.fd.register_ioevent(event, &address, value),
            None => self.fd.register_ioevent(event, &address, NoDatamatch),
        };
        result.map_err(|source| Error::Kvm {
            op: "KVM_IOEVENTFD",
            source,
        })
    }

    /// Creates vCPU 0.
    pub fn create_vcpu(&self) -> Result<VcpuFd, Error> {
        self.fd.create_vcpu(0).map_err(|source| Error::Kvm {
            op: "KVM_CREATE_VCPU",
            source,
        })
    }
}

//! The KVM VM: guest memory registration, ioeventfds, vCPU creation.

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{IoEventAddress, Kvm, NoDatamatch, VcpuFd, VmFd};
use vm_memory::{GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use vmm_sys_util::eventfd::EventFd;

use crate::error::Error;

/// One KVM VM and its memory.
pub struct Vm {
    kvm: Kvm,
    fd: VmFd,
    memory: GuestMemoryMmap,
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

    /// Registers `memory` with the VM (before any irqchip or vCPU: that order is the cheap one).
    pub fn new(kvm: Kvm, fd: VmFd, memory: GuestMemoryMmap) -> Result<Self, Error> {
        for (slot, region) in memory.iter().enumerate() {
            let region_desc = kvm_userspace_memory_region {
                slot: slot as u32,
                flags: 0,
                guest_phys_addr: region.start_addr().0,
                memory_size: region.len(),
                userspace_addr: region.as_ptr() as u64,
            };
            // SAFETY: the host range is a live mapping owned by `memory`, which the returned `Vm`
            // keeps alive for as long as the VM fd exists.
            unsafe { fd.set_user_memory_region(region_desc) }.map_err(|source| Error::Kvm {
                op: "KVM_SET_USER_MEMORY_REGION",
                source,
            })?;
        }
        Ok(Self { kvm, fd, memory })
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

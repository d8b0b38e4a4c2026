//! Initial vCPU state: long mode with paging, the GDT/IDT/TSS loaded, SSE/AVX enabled, and the
//! registers the kernel's 64-bit entry expects (`rip` = ELF entry, `rsp` = ring-0 stack,
//! `rsi` = boot-info address).

use kvm_bindings::{kvm_fpu, kvm_regs, kvm_segment, kvm_sregs, kvm_xcrs};
use kvm_ioctls::VcpuFd;

use super::cpuid::HostSimd;
use super::gdt::{Segment, GDT_LIMIT};
use super::idt::IDT_LIMIT;
use super::layout::{BOOT_INFO_ADDR, GDT_ADDR, IDT_ADDR, PML4_ADDR, RING0_STACK_TOP};

const CR0_PE: u64 = 1 << 0;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const CR4_OSXSAVE: u64 = 1 << 18;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;

/// Which register ioctl failed.
#[derive(Debug, thiserror::Error)]
pub enum RegsError {
    /// `KVM_GET_SREGS` failed.
    #[error("KVM_GET_SREGS: {0}")]
    GetSregs(#[source] kvm_ioctls::Error),
    /// `KVM_SET_SREGS` failed.
    #[error("KVM_SET_SREGS: {0}")]
    SetSregs(#[source] kvm_ioctls::Error),
    /// `KVM_SET_REGS` failed.
    #[error("KVM_SET_REGS: {0}")]
    SetRegs(#[source] kvm_ioctls::Error),
    /// `KVM_SET_FPU` failed.
    #[error("KVM_SET_FPU: {0}")]
    SetFpu(#[source] kvm_ioctls::Error),
    /// `KVM_SET_XCRS` failed.
    #[error("KVM_SET_XCRS (XCR0 = {xcr0:#x}): {source}")]
    SetXcrs {
        /// The XCR0 value refused.
        xcr0: u64,
        /// The ioctl error.
        #[source]
        source: kvm_ioctls::Error,
    },
}

/// Puts the vCPU in 64-bit mode at `entry`.
pub fn setup(vcpu: &VcpuFd, entry: u64, simd: HostSimd) -> Result<(), RegsError> {
    let mut sregs: kvm_sregs = vcpu.get_sregs().map_err(RegsError::GetSregs)?;
    sregs.cs = Segment::KERNEL_CODE.to_kvm();
    let data = Segment::KERNEL_DATA.to_kvm();
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = Segment::TSS.to_kvm();
    sregs.ldt = kvm_segment {
        unusable: 1,
        type_: 2,
        present: 1,
        ..Default::default()
    };
    sregs.gdt.base = GDT_ADDR;
    sregs.gdt.limit = GDT_LIMIT;
    sregs.idt.base = IDT_ADDR;
    sregs.idt.limit = IDT_LIMIT;
    sregs.cr3 = PML4_ADDR;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | if simd.xsave { CR4_OSXSAVE } else { 0 };
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.efer = EFER_LME | EFER_LMA | EFER_NXE;
    vcpu.set_sregs(&sregs).map_err(RegsError::SetSregs)?;

    let regs = kvm_regs {
        rip: entry,
        rsp: RING0_STACK_TOP,
        rsi: BOOT_INFO_ADDR,
        rflags: 0x2,
        ..Default::default()
    };
    vcpu.set_regs(&regs).map_err(RegsError::SetRegs)?;

    let fpu = kvm_fpu {
        fcw: 0x37F,
        mxcsr: 0x1F80,
        ..Default::default()
    };
    vcpu.set_fpu(&fpu).map_err(RegsError::SetFpu)?;

    if simd.xsave {
        let xcr0 = simd.xcr0();
        let mut xcrs = kvm_xcrs {
            nr_xcrs: 1,
            ..Default::default()
        };
        xcrs.xcrs[0].xcr = 0;
        xcrs.xcrs[0].value = xcr0;
        vcpu.set_xcrs(&xcrs)
            .map_err(|source| RegsError::SetXcrs { xcr0, source })?;
    }
    Ok(())
}

//! The guest's CPUID table (`KVM_SET_CPUID2`).
//!
//! Starts from `KVM_GET_SUPPORTED_CPUID` and adds the host's SIMD feature bits (SSE3..SSE4.2,
//! POPCNT, XSAVE, AVX, FMA, F16C, AVX2, BMI) and XSAVE leaf 0xD where KVM leaves them out:
//! kvm-pvm omits AVX/AVX2/FMA/XSAVE from its table although ring 3 runs them natively, and KVM
//! refuses CR4.OSXSAVE and XCR0.AVX unless the guest's CPUID has XSAVE and AVX. The guest still
//! detects features at run time with its own `cpuid` and `xgetbv`.

use std::arch::x86_64::{__cpuid, __cpuid_count, CpuidResult};

use kvm_bindings::{
    kvm_cpuid_entry2, CpuId, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, KVM_MAX_CPUID_ENTRIES,
};
use kvm_ioctls::Kvm;

/// CPUID.1:ECX bits taken from the host: SSE3, SSSE3, FMA, CX16, SSE4.1, SSE4.2, MOVBE, POPCNT,
/// XSAVE, AVX, F16C.
const LEAF1_ECX_SIMD: u32 = (1 << 0)
    | (1 << 9)
    | (1 << 12)
    | (1 << 13)
    | (1 << 19)
    | (1 << 20)
    | (1 << 22)
    | (1 << 23)
    | (1 << 26)
    | (1 << 28)
    | (1 << 29);
/// CPUID.1:ECX.OSXSAVE: KVM derives it from CR4.
const LEAF1_ECX_OSXSAVE: u32 = 1 << 27;
/// CPUID.1:ECX.XSAVE.
const LEAF1_ECX_XSAVE: u32 = 1 << 26;
/// CPUID.1:ECX.AVX.
const LEAF1_ECX_AVX: u32 = 1 << 28;
/// CPUID.7.0:EBX bits taken from the host: BMI1, AVX2, BMI2.
const LEAF7_EBX_SIMD: u32 = (1 << 3) | (1 << 5) | (1 << 8);

/// SIMD state the guest gets in XCR0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostSimd {
    /// The host has XSAVE.
    pub xsave: bool,
    /// The host has AVX (so XCR0 may enable the YMM state).
    pub avx: bool,
}

impl HostSimd {
    /// Reads the host's CPUID.
    pub fn detect() -> Self {
        let leaf1 = host_cpuid(1, 0);
        Self {
            xsave: leaf1.ecx & LEAF1_ECX_XSAVE != 0,
            avx: leaf1.ecx & LEAF1_ECX_AVX != 0,
        }
    }

    /// The XCR0 value for the guest: x87 | SSE, plus AVX when available.
    pub fn xcr0(&self) -> u64 {
        if self.avx {
            0b111
        } else {
            0b011
        }
    }
}

fn host_cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    // CPUID is unprivileged and present on every x86_64 CPU.
    if subleaf == 0 {
        __cpuid(leaf)
    } else {
        __cpuid_count(leaf, subleaf)
    }
}

/// Builds the guest's CPUID table.
pub fn build(kvm: &Kvm) -> Result<CpuId, kvm_ioctls::Error> {
    let supported = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)?;
    let host1 = host_cpuid(1, 0);
    let host7 = host_cpuid(7, 0);
    let mut entries: Vec<kvm_cpuid_entry2> = supported.as_slice().to_vec();
    for entry in &mut entries {
        match (entry.function, entry.index) {
            (1, _) => {
                entry.ecx |= host1.ecx & LEAF1_ECX_SIMD;
                entry.ecx &= !LEAF1_ECX_OSXSAVE;
                // One vCPU, APIC ID 0.
                entry.ebx &= 0x00FF_FFFF;
            }
            (7, 0) => entry.ebx |= host7.ebx & LEAF7_EBX_SIMD,
            _ => {}
        }
    }
    if host1.ecx & LEAF1_ECX_XSAVE != 0 && !entries.iter().any(|e| e.function == 0xD) {
        for subleaf in 0..=2 {
            let host = host_cpuid(0xD, subleaf);
            entries.push(kvm_cpuid_entry2 {
                function: 0xD,
                index: subleaf,
                flags: KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
                eax: host.eax,
                ebx: host.ebx,
                ecx: host.ecx,
                edx: host.edx,
                ..Default::default()
            });
        }
    }
    CpuId::from_entries(&entries).map_err(|_| kvm_ioctls::Error::new(libc::E2BIG))
}

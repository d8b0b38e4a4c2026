//! Run-time CPU feature detection usable without `std`.
//!
//! On x86 this reads `cpuid` and, when the OS has enabled XSAVE, `xgetbv` to check that the
//! AVX register state is actually saved (a CPU can support AVX while the OS has not enabled it).
//! The result is computed once and cached. `is_x86_feature_detected!` is not used because it
//! needs `std`.

use core::sync::atomic::{AtomicU32, Ordering};

/// SIMD features the engine's kernels can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// x86 SSE2 (always present on x86_64).
    pub sse2: bool,
    /// x86 AVX with OS support for YMM state.
    pub avx: bool,
    /// x86 AVX2 with OS support for YMM state.
    pub avx2: bool,
    /// x86 FMA3 with OS support for YMM state.
    pub fma: bool,
    /// x86 F16C (half-precision conversions).
    pub f16c: bool,
    /// arm64 Advanced SIMD (NEON).
    pub neon: bool,
}

const BIT_SSE2: u32 = 1;
const BIT_AVX: u32 = 2;
const BIT_AVX2: u32 = 4;
const BIT_FMA: u32 = 8;
const BIT_F16C: u32 = 16;
const BIT_NEON: u32 = 32;
const BIT_KNOWN: u32 = 1 << 31;

static CACHE: AtomicU32 = AtomicU32::new(0);

impl Features {
    fn to_bits(self) -> u32 {
        let mut b = BIT_KNOWN;
        for (on, bit) in [
            (self.sse2, BIT_SSE2),
            (self.avx, BIT_AVX),
            (self.avx2, BIT_AVX2),
            (self.fma, BIT_FMA),
            (self.f16c, BIT_F16C),
            (self.neon, BIT_NEON),
        ] {
            if on {
                b |= bit;
            }
        }
        b
    }

    fn from_bits(b: u32) -> Self {
        Features {
            sse2: b & BIT_SSE2 != 0,
            avx: b & BIT_AVX != 0,
            avx2: b & BIT_AVX2 != 0,
            fma: b & BIT_FMA != 0,
            f16c: b & BIT_F16C != 0,
            neon: b & BIT_NEON != 0,
        }
    }

    /// True when the AVX2 + FMA kernels may run.
    pub fn avx2_fma(self) -> bool {
        self.avx2 && self.fma
    }
}

/// The features of the CPU we are running on (detected once, then cached).
pub fn features() -> Features {
    let cached = CACHE.load(Ordering::Relaxed);
    if cached & BIT_KNOWN != 0 {
        return Features::from_bits(cached);
    }
    let detected = detect();
    CACHE.store(detected.to_bits(), Ordering::Relaxed);
    detected
}

#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
fn detect() -> Features {
    #[cfg(target_arch = "x86")]
    use core::arch::x86::{__cpuid, __cpuid_count};
    #[cfg(target_arch = "x86_64")]
    use core::arch::x86_64::{__cpuid, __cpuid_count};

    // SAFETY: `cpuid` exists on every x86_64 CPU and on every i686 CPU Rust targets; leaf 0
    // reports the highest supported leaf, and we only query leaves at or below it.
    #[allow(unused_unsafe)]
    let max_leaf = unsafe { __cpuid(0) }.eax;
    if max_leaf < 1 {
        return Features::default();
    }
    // SAFETY: leaf 1 is supported (checked above).
    #[allow(unused_unsafe)]
    let leaf1 = unsafe { __cpuid(1) };
    let sse2 = leaf1.edx & (1 << 26) != 0;
    let osxsave = leaf1.ecx & (1 << 27) != 0;
    let cpu_avx = leaf1.ecx & (1 << 28) != 0;
    let cpu_fma = leaf1.ecx & (1 << 12) != 0;
    let f16c_cpu = leaf1.ecx & (1 << 29) != 0;
    let cpu_avx2 = if max_leaf >= 7 {
        // SAFETY: leaf 7 is supported (max_leaf >= 7).
        #[allow(unused_unsafe)]
        let leaf7 = unsafe { __cpuid_count(7, 0) };
        leaf7.ebx & (1 << 5) != 0
    } else {
        false
    };
    // The OS must have enabled saving of XMM (bit 1) and YMM (bit 2) state in XCR0.
    let ymm_enabled = osxsave && (read_xcr0() & 0b110) == 0b110;
    Features {
        sse2,
        avx: cpu_avx && ymm_enabled,
        avx2: cpu_avx2 && cpu_avx && ymm_enabled,
        fma: cpu_fma && cpu_avx && ymm_enabled,
        f16c: f16c_cpu && cpu_avx && ymm_enabled,
        neon: false,
    }
}

/// Reads XCR0 with `xgetbv`; only call when CPUID reports OSXSAVE.
#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
fn read_xcr0() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: the caller checked CPUID.1:ECX.OSXSAVE, so `xgetbv` with ECX=0 is defined and
    // only reads XCR0 into EDX:EAX; it touches no memory.
    unsafe {
        core::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi,
            options(nomem, nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

#[cfg(target_arch = "aarch64")]
fn detect() -> Features {
    Features {
        neon: cfg!(target_feature = "neon"),
        ..Features::default()
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
fn detect() -> Features {
    Features::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_is_cached_and_consistent() {
        let a = features();
        let b = features();
        assert_eq!(a, b);
        #[cfg(target_arch = "x86_64")]
        {
            assert!(a.sse2);
            assert_eq!(a.avx2, std::is_x86_feature_detected!("avx2"));
            assert_eq!(a.fma, std::is_x86_feature_detected!("fma"));
        }
    }
}

//! Run-time CPU feature detection (cpuid + xgetbv) and a SIMD self-test.
//!
//! The kernel is built for baseline x86_64 (SSE2); AVX2/FMA code sits in
//! `#[target_feature]` functions chosen here at run time. Under kvm-pvm the guest's `cpuid`
//! shows the host's features, so detection must happen in the guest, not from KVM's tables.

use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv, CpuidResult};
use core::fmt;

/// SIMD features ring 3 may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// SSE4.1 instructions.
    pub sse41: bool,
    /// AVX (and the OS has enabled the YMM state in XCR0).
    pub avx: bool,
    /// AVX2 (implies `avx`).
    pub avx2: bool,
    /// FMA3 (implies `avx`).
    pub fma: bool,
    /// F16C half-float conversions (implies `avx`).
    pub f16c: bool,
    /// XCR0 as read by `xgetbv` (0 if OSXSAVE is off).
    pub xcr0: u64,
}

impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sse2")?;
        for (on, name) in [
            (self.sse41, "sse4.1"),
            (self.avx, "avx"),
            (self.avx2, "avx2"),
            (self.fma, "fma"),
            (self.f16c, "f16c"),
        ] {
            if on {
                write!(f, " {name}")?;
            }
        }
        write!(f, "; xcr0={:#x}", self.xcr0)
    }
}

/// Detects the SIMD features usable in ring 3.
pub fn detect() -> Features {
    let leaf0: CpuidResult = __cpuid(0);
    let leaf1 = __cpuid(1);
    let leaf7 = if leaf0.eax >= 7 {
        __cpuid_count(7, 0)
    } else {
        CpuidResult {
            eax: 0,
            ebx: 0,
            ecx: 0,
            edx: 0,
        }
    };
    let osxsave = leaf1.ecx & (1 << 27) != 0;
    let xcr0 = if osxsave {
        // SAFETY: xgetbv is legal at any privilege level when CR4.OSXSAVE is set (CPUID.1:ECX[27]).
        unsafe { _xgetbv(0) }
    } else {
        0
    };
    let avx = osxsave && leaf1.ecx & (1 << 28) != 0 && xcr0 & 0b110 == 0b110;
    Features {
        sse41: leaf1.ecx & (1 << 19) != 0,
        avx,
        avx2: avx && leaf7.ebx & (1 << 5) != 0,
        fma: avx && leaf1.ecx & (1 << 12) != 0,
        f16c: avx && leaf1.ecx & (1 << 29) != 0,
        xcr0,
    }
}

/// Computes a dot product with the best kernel available, compares it with the scalar result and
/// names the kernel used. Panics (the VM exits with a status) if SIMD state is broken.
pub fn simd_self_test(features: &Features) -> &'static str {
    let mut a = [0f32; 64];
    let mut b = [0f32; 64];
    for (i, (x, y)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
        *x = i as f32 * 0.5 - 7.0;
        *y = 3.0 - i as f32 * 0.25;
    }
    let a = core::hint::black_box(a);
    let b = core::hint::black_box(b);
    let scalar = dot_sse2(&a, &b);
    let (simd, name) = if features.avx2 && features.fma {
        // SAFETY: AVX2 and FMA were detected and XCR0 enables the YMM state.
        (unsafe { dot_avx2_fma(&a, &b) }, "avx2+fma")
    } else {
        (scalar, "sse2")
    };
    let expected: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    if (simd - expected).abs() > 1e-3 * expected.abs().max(1.0)
        || (scalar - expected).abs() > 1e-3 * expected.abs().max(1.0)
    {
        panic!("simd self-test: {name} dot = {simd}, sse2 dot = {scalar}, expected {expected}");
    }
    name
}

/// Dot product with SSE2 (the baseline).
fn dot_sse2(a: &[f32; 64], b: &[f32; 64]) -> f32 {
    use core::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; loads stay inside the 64-element arrays.
    unsafe {
        let mut acc = _mm_setzero_ps();
        for i in (0..64).step_by(4) {
            acc = _mm_add_ps(
                acc,
                _mm_mul_ps(
                    _mm_loadu_ps(a.as_ptr().add(i)),
                    _mm_loadu_ps(b.as_ptr().add(i)),
                ),
            );
        }
        let mut lanes = [0f32; 4];
        _mm_storeu_ps(lanes.as_mut_ptr(), acc);
        lanes.iter().sum()
    }
}

/// Dot product with AVX2 + FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA with the YMM state enabled.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2_fma(a: &[f32; 64], b: &[f32; 64]) -> f32 {
    use core::arch::x86_64::*;
    let mut acc = _mm256_setzero_ps();
    for i in (0..64).step_by(8) {
        // SAFETY: i + 8 <= 64, so both loads stay inside the arrays.
        let (x, y) = unsafe {
            (
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
            )
        };
        acc = _mm256_fmadd_ps(x, y, acc);
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    lanes.iter().sum()
}

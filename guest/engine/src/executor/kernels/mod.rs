//! Compute kernels: pure functions over slices with explicit shape and parameter structs.
//!
//! Nothing here knows the IR. Every kernel checks the lengths of the slices it is given
//! against its shape struct and returns [`KernelError`] instead of panicking, so a kernel
//! called with inconsistent arguments fails cleanly.
//!
//! - [`gemm`]: one packed f32 GEMM (`C = A·B + bias`, fused clamp) with an AVX2/FMA 6x16
//!   micro-kernel chosen at run time and a portable fallback. Weights are packed once
//!   ([`gemm::PackedB`]); callers hand in scratch space sized by the `*_scratch_len` functions.
//! - [`conv`]: f32 conv2d (im2col packed straight into the GEMM's A panels, 1x1 convs read
//!   the input directly), depthwise conv2d, fully connected, TFLite padding arithmetic.
//! - [`math`]: vectorized f32 `exp`, `tanh` and logistic over slices.
//! - [`pool`]: f32 max / average pooling and the mean over H and W.
//! - [`quant`]: int8 kernels with TFLite's reference integer arithmetic (bit-exact with
//!   LiteRT's `BUILTIN_REF` kernels).
//! - [`Isa`]: which instruction set a kernel runs with; [`Isa::detect`] picks the best one.

pub mod activation;
mod api;
pub mod conv;
#[cfg(target_arch = "x86_64")]
mod dw_avx2;
pub mod gemm;
pub mod math;
pub mod pool;
pub mod quant;

#[cfg(test)]
pub(crate) mod testutil;

pub use activation::Activation;
pub use api::*;
pub use conv::{ConvGeometry, PackedConvF32, Padding};
pub use quant::conv::QuantConvParams;
pub use quant::ops::MeanQuantParams;
pub use quant::{multiply_by_quantized_multiplier, quantize_multiplier, QuantMultiplier};

use core::fmt;

/// The instruction set a kernel runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust (auto-vectorized: SSE2 on x86, NEON on arm64).
    Portable,
    /// x86_64 AVX2 + FMA (only offered when the CPU and the OS support it).
    Avx2Fma,
}

impl Isa {
    /// The best instruction set this CPU supports (detected once with `cpuid`/`xgetbv`).
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::cpu::features().avx2_fma() {
                return Isa::Avx2Fma;
            }
        }
        Isa::Portable
    }

    /// Every instruction set usable on this CPU (for tests and benchmarks that force a path).
    pub fn available() -> &'static [Isa] {
        if Isa::detect() == Isa::Avx2Fma {
            &[Isa::Portable, Isa::Avx2Fma]
        } else {
            &[Isa::Portable]
        }
    }

    /// Returns `self` if the CPU supports it, `Isa::Portable` otherwise (so a forced AVX2
    /// path can never run on a CPU without AVX2).
    pub(crate) fn checked(self) -> Isa {
        match self {
            Isa::Avx2Fma if Isa::detect() == Isa::Avx2Fma => Isa::Avx2Fma,
            _ => Isa::Portable,
        }
    }
}

/// Why a kernel refused its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// A slice is shorter than its shape requires.
    BufferTooSmall {
        /// Which argument.
        what: &'static str,
        /// Elements required.
        needed: usize,
        /// Elements given.
        got: usize,
    },
    /// A shape or parameter is invalid (zero stride, overflowing size, mismatched dims...).
    InvalidParam(&'static str),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::BufferTooSmall { what, needed, got } => {
                write!(
                    f,
                    "kernel buffer `{what}` too small: {got} elements, {needed} needed"
                )
            }
            KernelError::InvalidParam(why) => write!(f, "invalid kernel parameter: {why}"),
        }
    }
}

/// Result of a kernel call.
pub type KernelResult<T = ()> = core::result::Result<T, KernelError>;

/// Fails with [`KernelError::BufferTooSmall`] if `got < needed`.
#[inline]
pub(crate) fn need(what: &'static str, needed: usize, got: usize) -> KernelResult {
    if got < needed {
        Err(KernelError::BufferTooSmall { what, needed, got })
    } else {
        Ok(())
    }
}

/// Multiplies sizes with overflow checking.
#[inline]
pub(crate) fn mul_all(dims: &[usize]) -> KernelResult<usize> {
    dims.iter().try_fold(1usize, |acc, &d| {
        acc.checked_mul(d)
            .ok_or(KernelError::InvalidParam("size overflows usize"))
    })
}

//! The portable 6x16 f32 micro-kernel (plain Rust, vectorized by the compiler for the
//! baseline target: SSE2 on x86, NEON on arm64).

use super::super::activation::clamp as clamp1;
use super::{MR, NR};

/// Half a tile's width: the kernel runs two 6x8 passes so the accumulators fit in 16 xmm.
const HALF: usize = NR / 2;

/// Computes one 6x16 tile: `C = (accumulate ? C : bias) + Apanel · Bpanel`, then the clamp.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(super) fn kernel_6x16(
    kc: usize,
    a: &[f32],
    b: &[f32],
    bias: &[f32],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    clamp: Option<(f32, f32)>,
) {
    let a = &a[..kc * MR];
    let b = &b[..kc * NR];
    for half in 0..2 {
        let j0 = half * HALF;
        let mut acc = [[0.0f32; HALF]; MR];
        for (r, row) in acc.iter_mut().enumerate() {
            if accumulate {
                row.copy_from_slice(&c[r * ldc + j0..r * ldc + j0 + HALF]);
            } else {
                row.copy_from_slice(&bias[j0..j0 + HALF]);
            }
        }
        for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
            let bv: &[f32; HALF] = bp[j0..j0 + HALF].try_into().unwrap_or(&[0.0; HALF]);
            for r in 0..MR {
                let av = ap[r];
                for j in 0..HALF {
                    acc[r][j] += av * bv[j];
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let out = &mut c[r * ldc + j0..r * ldc + j0 + HALF];
            match clamp {
                Some((lo, hi)) => {
                    for (o, v) in out.iter_mut().zip(row) {
                        *o = clamp1(*v, lo, hi);
                    }
                }
                None => out.copy_from_slice(row),
            }
        }
    }
}

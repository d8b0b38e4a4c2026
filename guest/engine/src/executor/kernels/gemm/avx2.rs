//! The AVX2 + FMA 6x16 f32 micro-kernel.
//!
//! Twelve ymm accumulators hold the 6x16 tile; each K step loads two ymm of the B panel,
//! broadcasts six A values and issues twelve `vfmadd231ps`.

use core::arch::x86_64::*;

use super::{MR, NR};

/// Computes one 6x16 tile: `C = (accumulate ? C : bias) + Apanel · Bpanel`, then the clamp.
///
/// # Safety
/// The CPU must support AVX2 and FMA. `a` must point at `kc * 6` floats, `b` at `kc * 16`,
/// `bias` at 16, and `c` at `5 * ldc + 16` floats (six rows of 16 with stride `ldc`).
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn kernel_6x16(
    kc: usize,
    a: *const f32,
    b: *const f32,
    bias: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    clamp: Option<(f32, f32)>,
) {
    // SAFETY: same contract; packed A has row stride 1 and K step MR.
    unsafe { body::<1, MR>(kc, a, 0, b, bias, c, ldc, accumulate, clamp) }
}

/// Like [`kernel_6x16`] with A read in place: row `r`, column `p` at `a[r * lda + p]`.
///
/// # Safety
/// As [`kernel_6x16`], except `a` must point at 6 rows of `kc` floats with stride `lda`.
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn kernel_6x16_direct(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    bias: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    clamp: Option<(f32, f32)>,
) {
    // SAFETY: forwarded contract.
    unsafe { body::<0, 1>(kc, a, lda, b, bias, c, ldc, accumulate, clamp) }
}

/// Shared body: A element (row r, step k) is at `a + r * (RS + lda) + k * KS`
/// (`RS = 1, lda = 0` for packed panels; `RS = 0, KS = 1` for in-place rows).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn body<const RS: usize, const KS: usize>(
    kc: usize,
    mut a: *const f32,
    lda: usize,
    mut b: *const f32,
    bias: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    clamp: Option<(f32, f32)>,
) {
    let rs = RS + lda;
    // SAFETY (whole body): every pointer access stays inside the ranges the caller
    // guarantees above: A advances MR floats and B NR floats per K step for kc steps, C rows
    // are r*ldc .. r*ldc+16 for r < 6, bias is read at 0..16.
    unsafe {
        let mut acc: [[__m256; 2]; MR] = [[_mm256_setzero_ps(); 2]; MR];
        if accumulate {
            for (r, row) in acc.iter_mut().enumerate() {
                row[0] = _mm256_loadu_ps(c.add(r * ldc));
                row[1] = _mm256_loadu_ps(c.add(r * ldc + 8));
            }
        } else {
            let b0 = _mm256_loadu_ps(bias);
            let b1 = _mm256_loadu_ps(bias.add(8));
            for row in acc.iter_mut() {
                row[0] = b0;
                row[1] = b1;
            }
        }
        let [[mut c00, mut c01], [mut c10, mut c11], [mut c20, mut c21], [mut c30, mut c31], [mut c40, mut c41], [mut c50, mut c51]] =
            acc;
        for _ in 0..kc {
            let b0 = _mm256_load_ps(b);
            let b1 = _mm256_load_ps(b.add(8));
            let a0 = _mm256_broadcast_ss(&*a);
            c00 = _mm256_fmadd_ps(a0, b0, c00);
            c01 = _mm256_fmadd_ps(a0, b1, c01);
            let a1 = _mm256_broadcast_ss(&*a.add(rs));
            c10 = _mm256_fmadd_ps(a1, b0, c10);
            c11 = _mm256_fmadd_ps(a1, b1, c11);
            let a2 = _mm256_broadcast_ss(&*a.add(2 * rs));
            c20 = _mm256_fmadd_ps(a2, b0, c20);
            c21 = _mm256_fmadd_ps(a2, b1, c21);
            let a3 = _mm256_broadcast_ss(&*a.add(3 * rs));
            c30 = _mm256_fmadd_ps(a3, b0, c30);
            c31 = _mm256_fmadd_ps(a3, b1, c31);
            let a4 = _mm256_broadcast_ss(&*a.add(4 * rs));
            c40 = _mm256_fmadd_ps(a4, b0, c40);
            c41 = _mm256_fmadd_ps(a4, b1, c41);
            let a5 = _mm256_broadcast_ss(&*a.add(5 * rs));
            c50 = _mm256_fmadd_ps(a5, b0, c50);
            c51 = _mm256_fmadd_ps(a5, b1, c51);
            a = a.add(KS);
            b = b.add(NR);
        }
        let mut acc = [
            [c00, c01],
            [c10, c11],
            [c20, c21],
            [c30, c31],
            [c40, c41],
            [c50, c51],
        ];
        if let Some((lo, hi)) = clamp {
            let lo = _mm256_set1_ps(lo);
            let hi = _mm256_set1_ps(hi);
            for row in acc.iter_mut() {
                for v in row.iter_mut() {
                    // max(lo, x) / min(hi, x) return x when x is NaN, like std::max/min.
                    *v = _mm256_min_ps(hi, _mm256_max_ps(lo, *v));
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            _mm256_storeu_ps(c.add(r * ldc), row[0]);
            _mm256_storeu_ps(c.add(r * ldc + 8), row[1]);
        }
    }
}

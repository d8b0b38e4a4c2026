//! AVX2 int8 matrix kernel: `i16·i16 → i32` with `vpmaddwd`, a 6x16 tile of exact `i32`
//! accumulators, and a vectorized, bit-exact `MultiplyByQuantizedMultiplier` epilogue.
//!
//! A rows hold `x + input_offset` (fits `i16`), B holds the int8 weights widened to `i16`,
//! both interleaved in K pairs so one `vpmaddwd` adds two products per `i32` lane. Integer sums
//! are exact and wrap like TFLite's, so the result equals the reference kernel's bit for bit.

use core::arch::x86_64::*;

use super::conv::QuantConvParams;

/// Rows per tile.
pub(super) const MR: usize = 6;
/// Columns per tile.
pub(super) const NR: usize = 16;

/// Requantization constants of 8 output channels.
#[derive(Clone, Copy)]
struct Requant8 {
    mult: __m256i,
    left: __m256i,
    right: __m256i,
    /// `(1 << right) - 1`.
    mask: __m256i,
    /// `mask >> 1`.
    half: __m256i,
}

/// Builds [`Requant8`] with the rounding masks precomputed.
#[inline(always)]
unsafe fn make(mult: __m256i, left: __m256i, right: __m256i) -> Requant8 {
    // SAFETY: register-only AVX2 intrinsics.
    unsafe {
        let one = _mm256_set1_epi32(1);
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
        Requant8 {
            mult,
            left,
            right,
            mask,
            half: _mm256_srli_epi32::<1>(mask),
        }
    }
}

/// `MultiplyByQuantizedMultiplier` on 8 lanes, `+ output_offset`, clamp.
///
/// SRDHM: for a 64-bit product `ab`, TFLite's `(ab + nudge) / 2^31` (truncating) equals
/// `floor((ab + 2^30) / 2^31)` for either sign of `ab`, i.e. bits 31..62 of `ab + 2^30`.
/// The one saturating case (`x = m = i32::MIN`) cannot occur: callers only take this path when
/// no multiplier is `i32::MIN`.
#[inline(always)]
unsafe fn requant8(x: __m256i, q: Requant8, offset: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
    // SAFETY: register-only AVX2 intrinsics (the caller's target_feature enables AVX2).
    unsafe {
        let x = _mm256_sllv_epi32(x, q.left);
        let nudge = _mm256_set1_epi64x(1 << 30);
        let even = _mm256_mul_epi32(x, q.mult);
        let odd = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(q.mult, 32));
        let even = _mm256_srli_epi64(_mm256_add_epi64(even, nudge), 31);
        let odd = _mm256_slli_epi64(_mm256_add_epi64(odd, nudge), 1);
        let h = _mm256_blend_epi32(even, odd, 0b1010_1010);
        // RoundingDivideByPOT(h, right).
        let remainder = _mm256_and_si256(h, q.mask);
        let threshold = _mm256_sub_epi32(q.half, _mm256_cmpgt_epi32(_mm256_setzero_si256(), h));
        let r = _mm256_srav_epi32(h, q.right);
        let r = _mm256_sub_epi32(r, _mm256_cmpgt_epi32(remainder, threshold));
        let r = _mm256_add_epi32(r, offset);
        _mm256_min_epi32(_mm256_max_epi32(r, lo), hi)
    }
}

/// Builds the requantization constants of channels `c0 .. c0 + 8` (padding past `n` repeats
/// harmless values).
#[inline(always)]
unsafe fn requant_consts(q: &QuantConvParams<'_>, c0: usize, n: usize) -> Requant8 {
    if q.multipliers.len() == 1 {
        let m = q.multipliers[0];
        // SAFETY: register-only AVX2 intrinsics.
        return unsafe {
            make(
                _mm256_set1_epi32(m.multiplier),
                _mm256_set1_epi32(m.shift.max(0)),
                _mm256_set1_epi32((-m.shift).max(0)),
            )
        };
    }
    if c0 + 8 <= q.multipliers.len() {
        // SAFETY: `QuantMultiplier` is repr(C) {i32, i32}: 8 of them are 64 contiguous bytes
        // inside the slice (c0 + 8 <= len); the rest are register-only intrinsics.
        return unsafe {
            let p = q.multipliers.as_ptr().add(c0) as *const __m256i;
            let idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
            let v0 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(p), idx);
            let v1 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(p.add(1)), idx);
            let mult = _mm256_permute2x128_si256::<0x20>(v0, v1);
            let shift = _mm256_permute2x128_si256::<0x31>(v0, v1);
            let zero = _mm256_setzero_si256();
            make(
                mult,
                _mm256_max_epi32(shift, zero),
                _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero),
            )
        };
    }
    let mut m = [0i32; 8];
    let mut l = [0i32; 8];
    let mut r = [0i32; 8];
    for j in 0..8 {
        let c = (c0 + j).min(n - 1);
        let qm = if q.multipliers.len() == 1 {
            q.multipliers[0]
        } else {
            q.multipliers[c]
        };
        m[j] = qm.multiplier;
        l[j] = qm.shift.max(0);
        r[j] = (-qm.shift).max(0);
    }
    // SAFETY: unaligned loads of three local 8-lane arrays.
    unsafe {
        make(
            _mm256_loadu_si256(m.as_ptr().cast()),
            _mm256_loadu_si256(l.as_ptr().cast()),
            _mm256_loadu_si256(r.as_ptr().cast()),
        )
    }
}

/// Narrows 8 clamped `i32` lanes to 8 bytes.
#[inline(always)]
unsafe fn narrow8(v: __m256i) -> [i8; 8] {
    // SAFETY: register-only AVX2 intrinsics.
    unsafe {
        let p16 = _mm256_packs_epi32(v, v);
        let p8 = _mm256_packs_epi16(p16, p16);
        let lo = _mm256_cvtsi256_si32(p8) as u32;
        let hi = _mm256_extract_epi32::<4>(p8) as u32;
        let bytes = (lo as u64 | ((hi as u64) << 32)).to_le_bytes();
        bytes.map(|b| b as i8)
    }
}

/// Computes `rows` (≤ 6) output rows `out[r*ldo + j]` for all `n` channels from one packed A
/// panel (`kp/2` pairs × 6 rows, i32-interleaved) and the packed weight panels.
///
/// # Safety
/// AVX2 must be available. `a_panel` holds `MR` rows of `kp` i16 (row-major: pair `t` of
/// row `r` is the i32 at i16 offset `r * kp + 2t`),
/// `b_panels` holds `ceil(n/16)` panels of `kp/2 * 32` i16, `bias` holds `ceil(n/16)*16`
/// values, `out` holds `(rows - 1) * ldo + n` bytes (`ldo >= n`), `q` has no multiplier equal to `i32::MIN`, its
/// multipliers are 1 or `n` long and its shifts are within `-31..=31`.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn tile_rows(
    kp: usize,
    (n, ldo): (usize, usize),
    rows: usize,
    a_panel: &[i16],
    b_panels: &[i16],
    bias: &[i32],
    q: &QuantConvParams<'_>,
    out: &mut [i8],
) {
    let pairs = kp / 2;
    let panels = n.div_ceil(NR);
    debug_assert!(a_panel.len() >= pairs * MR * 2 && b_panels.len() >= panels * pairs * 32);
    debug_assert!(bias.len() >= panels * NR && rows <= MR && ldo >= n);
    debug_assert!(rows == 0 || out.len() >= (rows - 1) * ldo + n);
    // SAFETY (block): reads stay within the lengths stated above: A advances MR pairs and B
    // 32 i16 per pair for `pairs` steps; stores write `nr` bytes of rows < `rows` at r*ldo + j0.
    unsafe {
        let offset = _mm256_set1_epi32(q.output_offset);
        let lo = _mm256_set1_epi32(q.act_min);
        let hi = _mm256_set1_epi32(q.act_max);
        for jp in 0..panels {
            let j0 = jp * NR;
            let nr = NR.min(n - j0);
            let mut a = a_panel.as_ptr() as *const i32;
            let mut b = b_panels.as_ptr().add(jp * pairs * 32) as *const __m256i;
            let mut acc = [[_mm256_setzero_si256(); 2]; MR];
            for _ in 0..pairs {
                let b0 = _mm256_loadu_si256(b);
                let b1 = _mm256_loadu_si256(b.add(1));
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm256_set1_epi32(a.add(r * pairs).read_unaligned());
                    row[0] = _mm256_add_epi32(row[0], _mm256_madd_epi16(av, b0));
                    row[1] = _mm256_add_epi32(row[1], _mm256_madd_epi16(av, b1));
                }
                a = a.add(1);
                b = b.add(2);
            }
            let q0 = requant_consts(q, j0, n);
            let q1 = requant_consts(q, j0 + 8, n);
            let bias0 = _mm256_loadu_si256(bias.as_ptr().add(j0).cast());
            let bias1 = _mm256_loadu_si256(bias.as_ptr().add(j0 + 8).cast());
            for (r, row) in acc.iter().enumerate().take(rows) {
                let v0 = requant8(_mm256_add_epi32(row[0], bias0), q0, offset, lo, hi);
                let v1 = requant8(_mm256_add_epi32(row[1], bias1), q1, offset, lo, hi);
                let mut bytes = [0i8; NR];
                bytes[..8].copy_from_slice(&narrow8(v0));
                bytes[8..].copy_from_slice(&narrow8(v1));
                if nr == NR {
                    let dst: &mut [i8; NR] = (&mut out[r * ldo + j0..r * ldo + j0 + NR])
                        .try_into()
                        .unwrap_or_else(|_| unreachable!());
                    *dst = bytes;
                } else {
                    out[r * ldo + j0..r * ldo + j0 + nr].copy_from_slice(&bytes[..nr]);
                }
            }
        }
    }
}

/// Requantizes `acc` (one pixel's `n` channels, bias included) into `out` with AVX2.
///
/// # Safety
/// AVX2 must be available; `acc.len() == out.len() == n`; `q` as for [`tile_rows`].
#[target_feature(enable = "avx2")]
pub(super) unsafe fn requantize_row(
    acc: &[i32],
    q: &QuantConvParams<'_>,
    c0: usize,
    n: usize,
    out: &mut [i8],
) {
    // SAFETY: loads/stores of full 8-lane chunks inside `acc` / `out`.
    unsafe {
        let offset = _mm256_set1_epi32(q.output_offset);
        let lo = _mm256_set1_epi32(q.act_min);
        let hi = _mm256_set1_epi32(q.act_max);
        let len = acc.len().min(out.len());
        let mut j = 0;
        while j + 8 <= len {
            let qc = requant_consts(q, c0 + j, n);
            let v = requant8(
                _mm256_loadu_si256(acc.as_ptr().add(j).cast()),
                qc,
                offset,
                lo,
                hi,
            );
            out[j..j + 8].copy_from_slice(&narrow8(v));
            j += 8;
        }
        for jj in j..len {
            out[jj] = q.requantize(acc[jj], c0 + jj);
        }
    }
}

/// Uniform requantization constants (one multiplier for all lanes).
#[inline(always)]
unsafe fn uniform(m: super::QuantMultiplier) -> Requant8 {
    // SAFETY: register-only AVX2 intrinsics.
    unsafe {
        make(
            _mm256_set1_epi32(m.multiplier),
            _mm256_set1_epi32(m.shift.max(0)),
            _mm256_set1_epi32((-m.shift).max(0)),
        )
    }
}

/// Parameters of [`add_i8`] (TFLite's int8 ADD/SUB rescaling).
pub(super) struct AddArgs {
    pub in1_offset: i32,
    pub in2_offset: i32,
    pub in1: super::QuantMultiplier,
    pub in2: super::QuantMultiplier,
    pub out: super::QuantMultiplier,
    pub out_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
    pub subtract: bool,
}

/// Same-shape int8 ADD/SUB, 8 lanes at a time; returns how many leading elements it did
/// (a multiple of 8; the caller finishes the rest with the scalar code).
///
/// # Safety
/// AVX2 must be available; multipliers must not be `i32::MIN` and shifts within `-31..=30`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn add_i8(p: &AddArgs, a: &[i8], b: &[i8], out: &mut [i8]) -> usize {
    let len = a.len().min(b.len()).min(out.len());
    // SAFETY: 8-byte loads at i < len - 7 inside `a` and `b`; stores of 8 bytes into `out`.
    unsafe {
        let (q1, q2, qo) = (uniform(p.in1), uniform(p.in2), uniform(p.out));
        let zero = _mm256_setzero_si256();
        let (min, max) = (_mm256_set1_epi32(i32::MIN), _mm256_set1_epi32(i32::MAX));
        let off1 = _mm256_set1_epi32(p.in1_offset);
        let off2 = _mm256_set1_epi32(p.in2_offset);
        let off_o = _mm256_set1_epi32(p.out_offset);
        let (lo, hi) = (_mm256_set1_epi32(p.act_min), _mm256_set1_epi32(p.act_max));
        let mut i = 0;
        while i + 8 <= len {
            let x = _mm256_cvtepi8_epi32(_mm_loadl_epi64(a.as_ptr().add(i).cast()));
            let y = _mm256_cvtepi8_epi32(_mm_loadl_epi64(b.as_ptr().add(i).cast()));
            let x = _mm256_slli_epi32::<20>(_mm256_add_epi32(x, off1));
            let y = _mm256_slli_epi32::<20>(_mm256_add_epi32(y, off2));
            let x = requant8(x, q1, zero, min, max);
            let y = requant8(y, q2, zero, min, max);
            let raw = if p.subtract {
                _mm256_sub_epi32(x, y)
            } else {
                _mm256_add_epi32(x, y)
            };
            let r = requant8(raw, qo, off_o, lo, hi);
            out[i..i + 8].copy_from_slice(&narrow8(r));
            i += 8;
        }
        i
    }
}

/// int8 depthwise conv with depth multiplier 1: per output pixel, 8 channels at a time with
/// the accumulator in a register over all valid taps, then the vector requantization.
///
/// # Safety
/// AVX2 must be available; `g` validated with `in_c == out_c`, slices sized for it (input,
/// `kernel_h*kernel_w*out_c` filter, `out_c` bias, output); `q` as for [`tile_rows`].
#[target_feature(enable = "avx2")]
pub(super) unsafe fn depthwise_mult1_i8(
    g: &super::super::conv::ConvGeometry,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    q: &QuantConvParams<'_>,
    output: &mut [i8],
) {
    let c = g.out_c;
    let c8 = c / 8 * 8;
    let zero_bias = [0i32; 8];
    // SAFETY (block): input indices ((b*in_h+iy)*in_w+ix)*c + ch + 8 with iy, ix inside the
    // input (clipped tap ranges) and ch + 8 <= c; filter (ky*kw+kx)*c + ch + 8 <= kh*kw*c;
    // output o + ch + 8 <= output length.
    unsafe {
        let offset = _mm256_set1_epi32(q.output_offset);
        let lo = _mm256_set1_epi32(q.act_min);
        let hi = _mm256_set1_epi32(q.act_max);
        let in_off = _mm256_set1_epi32(q.input_offset);
        let inp = input.as_ptr();
        let flt = filter.as_ptr();
        for b in 0..g.batch {
            for oy in 0..g.out_h {
                let mut taps_y = [(0usize, 0usize); 16];
                let mut ny = 0;
                for ky in 0..g.kernel_h {
                    if let Some(iy) = g.in_y(oy, ky) {
                        if ny < 16 {
                            taps_y[ny] = (ky, iy);
                            ny += 1;
                        }
                    }
                }
                let taps_y = &taps_y[..ny];
                let (ix_lo, ix_hi) = interior_x(g);
                let mut ox = 0;
                while ox < g.out_w {
                    if ny == g.kernel_h && ox >= ix_lo && ox + 4 <= ix_hi {
                        // Four interior pixels: each filter vector feeds four accumulators.
                        let o = ((b * g.out_h + oy) * g.out_w + ox) * c;
                        let mut c0 = 0;
                        while c0 < c8 {
                            let bv = _mm256_loadu_si256(match bias {
                                Some(bb) => bb.as_ptr().add(c0).cast(),
                                None => zero_bias.as_ptr().cast(),
                            });
                            let mut acc = [bv; 4];
                            for &(ky, iy) in taps_y {
                                let row = (b * g.in_h + iy) * g.in_w;
                                for kx in 0..g.kernel_w {
                                    let w = _mm256_cvtepi8_epi32(_mm_loadl_epi64(
                                        flt.add((ky * g.kernel_w + kx) * c + c0).cast(),
                                    ));
                                    let ix0 = ox * g.stride_w + kx * g.dilation_w - g.pad_left;
                                    for (j, a) in acc.iter_mut().enumerate() {
                                        let x = _mm256_cvtepi8_epi32(_mm_loadl_epi64(
                                            inp.add((row + ix0 + j * g.stride_w) * c + c0).cast(),
                                        ));
                                        *a = _mm256_add_epi32(
                                            *a,
                                            _mm256_mullo_epi32(_mm256_add_epi32(x, in_off), w),
                                        );
                                    }
                                }
                            }
                            let qc = requant_consts(q, c0, c);
                            for (j, a) in acc.iter().enumerate() {
                                let v = requant8(*a, qc, offset, lo, hi);
                                let dst: &mut [i8; 8] = (&mut output
                                    [o + j * c + c0..o + j * c + c0 + 8])
                                    .try_into()
                                    .unwrap_or_else(|_| unreachable!());
                                *dst = narrow8(v);
                            }
                            c0 += 8;
                        }
                        if c8 < c {
                            for j in 0..4 {
                                dw_tail_i8(g, input, filter, bias, q, output, (b, oy, ox + j), c8);
                            }
                        }
                        ox += 4;
                        continue;
                    }
                    let mut taps_x = [(0usize, 0usize); 16];
                    let mut nx = 0;
                    for kx in 0..g.kernel_w {
                        if let Some(ix) = g.in_x(ox, kx) {
                            if nx < 16 {
                                taps_x[nx] = (kx, ix);
                                nx += 1;
                            }
                        }
                    }
                    let taps_x = &taps_x[..nx];
                    let o = ((b * g.out_h + oy) * g.out_w + ox) * c;
                    let mut c0 = 0;
                    while c0 < c8 {
                        let mut acc = _mm256_loadu_si256(match bias {
                            Some(bb) => bb.as_ptr().add(c0).cast(),
                            None => zero_bias.as_ptr().cast(),
                        });
                        for &(ky, iy) in taps_y {
                            let row = (b * g.in_h + iy) * g.in_w;
                            for &(kx, ix) in taps_x {
                                let x = _mm256_cvtepi8_epi32(_mm_loadl_epi64(
                                    inp.add((row + ix) * c + c0).cast(),
                                ));
                                let w = _mm256_cvtepi8_epi32(_mm_loadl_epi64(
                                    flt.add((ky * g.kernel_w + kx) * c + c0).cast(),
                                ));
                                acc = _mm256_add_epi32(
                                    acc,
                                    _mm256_mullo_epi32(_mm256_add_epi32(x, in_off), w),
                                );
                            }
                        }
                        let v = requant8(acc, requant_consts(q, c0, c), offset, lo, hi);
                        output[o + c0..o + c0 + 8].copy_from_slice(&narrow8(v));
                        c0 += 8;
                    }
                    for ch in c8..c {
                        let mut acc = bias.map_or(0, |bb| bb[ch]);
                        for &(ky, iy) in taps_y {
                            for &(kx, ix) in taps_x {
                                let x = input[((b * g.in_h + iy) * g.in_w + ix) * c + ch] as i32;
                                let w = filter[(ky * g.kernel_w + kx) * c + ch] as i32;
                                acc = acc.wrapping_add((x + q.input_offset) * w);
                            }
                        }
                        output[o + ch] = q.requantize(acc, ch);
                    }
                    ox += 1;
                }
            }
        }
    }
}

/// Output columns whose every filter tap lies inside the input.
fn interior_x(g: &super::super::conv::ConvGeometry) -> (usize, usize) {
    let lo = g.pad_left.div_ceil(g.stride_w);
    let span = (g.kernel_w - 1) * g.dilation_w;
    let hi = if g.in_w + g.pad_left > span {
        ((g.in_w - 1 + g.pad_left - span) / g.stride_w + 1).min(g.out_w)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Channels `c8 ..` of one output pixel (checked scalar code).
#[allow(clippy::too_many_arguments)]
fn dw_tail_i8(
    g: &super::super::conv::ConvGeometry,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    q: &QuantConvParams<'_>,
    output: &mut [i8],
    (b, oy, ox): (usize, usize, usize),
    c8: usize,
) {
    let c = g.out_c;
    let o = ((b * g.out_h + oy) * g.out_w + ox) * c;
    for ch in c8..c {
        let mut acc = bias.map_or(0, |bb| bb[ch]);
        for ky in 0..g.kernel_h {
            let Some(iy) = g.in_y(oy, ky) else { continue };
            for kx in 0..g.kernel_w {
                let Some(ix) = g.in_x(ox, kx) else { continue };
                let x = input[((b * g.in_h + iy) * g.in_w + ix) * c + ch] as i32;
                let w = filter[(ky * g.kernel_w + kx) * c + ch] as i32;
                acc = acc.wrapping_add((x + q.input_offset) * w);
            }
        }
        output[o + ch] = q.requantize(acc, ch);
    }
}

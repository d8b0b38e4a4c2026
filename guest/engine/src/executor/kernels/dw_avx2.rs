//! The AVX2 + FMA f32 depthwise kernel for depth multiplier 1 (MobileNet's case): eight
//! channels per ymm, four output pixels at a time in the interior of a row so each filter
//! vector load feeds four FMAs; borders and leftover channels take a checked per-pixel path.

use core::arch::x86_64::*;

use super::conv::ConvGeometry;

/// Output pixels computed together in the interior.
const PX: usize = 4;

/// Range of output columns whose every filter tap lies inside the input.
fn interior(g: &ConvGeometry) -> (usize, usize) {
    let lo = g.pad_left.div_ceil(g.stride_w);
    let span = (g.kernel_w - 1) * g.dilation_w;
    // ox * sw - pad + span <= in_w - 1
    let hi = if g.in_w + g.pad_left > span {
        ((g.in_w - 1 + g.pad_left - span) / g.stride_w + 1).min(g.out_w)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Depthwise conv, multiplier 1.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `geo` must be validated with `out_c == in_c`, and the
/// slices must hold the input, `kernel_h*kernel_w*out_c` filter, `out_c` bias and output
/// elements the geometry implies (checked by the caller).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn depthwise_mult1(
    g: &ConvGeometry,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    (lo, hi): (f32, f32),
    output: &mut [f32],
) {
    let c = g.out_c;
    let c8 = c / 8 * 8;
    let (ix_lo, ix_hi) = interior(g);
    let vlo = _mm256_set1_ps(lo);
    let vhi = _mm256_set1_ps(hi);
    let zero_bias = [0.0f32; 8];
    let inp = input.as_ptr();
    let flt = filter.as_ptr();
    let out = output.as_mut_ptr();
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            // Valid filter rows and their input rows.
            let mut rows = [(0usize, 0usize); 16];
            let mut nrows = 0;
            for ky in 0..g.kernel_h {
                if let Some(iy) = g.in_y(oy, ky) {
                    if nrows < rows.len() {
                        rows[nrows] = (ky, iy);
                        nrows += 1;
                    }
                }
            }
            let rows = &rows[..nrows];
            let use_fast = g.kernel_h <= 16;
            let mut ox = 0;
            while ox < g.out_w {
                let o = ((b * g.out_h + oy) * g.out_w + ox) * c;
                if use_fast && ox >= ix_lo && ox + PX <= ix_hi {
                    // SAFETY (block): every input index is ((b*in_h + iy)*in_w + ix)*c + ch
                    // with iy < in_h (from in_y), ix inside [0, in_w) (interior range), and
                    // ch + 8 <= c; filter indices are (ky*kw + kx)*c + ch + 8 <= kh*kw*c;
                    // outputs are o + j*c + ch + 8 <= output length for ox + PX <= out_w.
                    unsafe {
                        let mut c0 = 0;
                        while c0 < c8 {
                            let bv = _mm256_loadu_ps(match bias {
                                Some(bb) => bb.as_ptr().add(c0),
                                None => zero_bias.as_ptr(),
                            });
                            let mut acc = [bv; PX];
                            for &(ky, iy) in rows {
                                let row_base = (b * g.in_h + iy) * g.in_w;
                                for kx in 0..g.kernel_w {
                                    let w =
                                        _mm256_loadu_ps(flt.add((ky * g.kernel_w + kx) * c + c0));
                                    let ix0 = ox * g.stride_w + kx * g.dilation_w - g.pad_left;
                                    for (j, a) in acc.iter_mut().enumerate() {
                                        let x = _mm256_loadu_ps(
                                            inp.add((row_base + ix0 + j * g.stride_w) * c + c0),
                                        );
                                        *a = _mm256_fmadd_ps(x, w, *a);
                                    }
                                }
                            }
                            for (j, a) in acc.iter().enumerate() {
                                let v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, *a));
                                _mm256_storeu_ps(out.add(o + j * c + c0), v);
                            }
                            c0 += 8;
                        }
                    }
                    for j in 0..PX {
                        tail_channels(
                            g,
                            input,
                            filter,
                            bias,
                            (lo, hi),
                            output,
                            (b, oy, ox + j),
                            c8,
                        );
                    }
                    ox += PX;
                } else {
                    // SAFETY: as above; each tap is checked through in_y / in_x, and the
                    // output pixel's c8 channels are accumulated in place.
                    unsafe {
                        let mut c0 = 0;
                        while c0 < c8 {
                            let bv = _mm256_loadu_ps(match bias {
                                Some(bb) => bb.as_ptr().add(c0),
                                None => zero_bias.as_ptr(),
                            });
                            _mm256_storeu_ps(out.add(o + c0), bv);
                            c0 += 8;
                        }
                        for ky in 0..g.kernel_h {
                            let Some(iy) = g.in_y(oy, ky) else { continue };
                            for kx in 0..g.kernel_w {
                                let Some(ix) = g.in_x(ox, kx) else { continue };
                                let wp = flt.add((ky * g.kernel_w + kx) * c);
                                let xp = inp.add(((b * g.in_h + iy) * g.in_w + ix) * c);
                                let mut c0 = 0;
                                while c0 < c8 {
                                    let acc = _mm256_loadu_ps(out.add(o + c0));
                                    let w = _mm256_loadu_ps(wp.add(c0));
                                    let x = _mm256_loadu_ps(xp.add(c0));
                                    _mm256_storeu_ps(out.add(o + c0), _mm256_fmadd_ps(x, w, acc));
                                    c0 += 8;
                                }
                            }
                        }
                        let mut c0 = 0;
                        while c0 < c8 {
                            let v = _mm256_loadu_ps(out.add(o + c0));
                            _mm256_storeu_ps(
                                out.add(o + c0),
                                _mm256_min_ps(vhi, _mm256_max_ps(vlo, v)),
                            );
                            c0 += 8;
                        }
                    }
                    tail_channels(g, input, filter, bias, (lo, hi), output, (b, oy, ox), c8);
                    ox += 1;
                }
            }
        }
    }
}

/// Channels `c8 .. out_c` of one output pixel (checked scalar code).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn tail_channels(
    g: &ConvGeometry,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    (lo, hi): (f32, f32),
    output: &mut [f32],
    (b, oy, ox): (usize, usize, usize),
    c8: usize,
) {
    let c = g.out_c;
    let o = ((b * g.out_h + oy) * g.out_w + ox) * c;
    for ch in c8..c {
        let mut acc = bias.map_or(0.0, |bb| bb[ch]);
        for ky in 0..g.kernel_h {
            let Some(iy) = g.in_y(oy, ky) else { continue };
            for kx in 0..g.kernel_w {
                let Some(ix) = g.in_x(ox, kx) else { continue };
                acc += input[((b * g.in_h + iy) * g.in_w + ix) * c + ch]
                    * filter[(ky * g.kernel_w + kx) * c + ch];
            }
        }
        output[o + ch] = super::activation::clamp(acc, lo, hi);
    }
}

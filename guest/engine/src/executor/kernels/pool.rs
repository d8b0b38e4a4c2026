//! f32 pooling (TFLite reference semantics) and the mean over H and W.
//!
//! Windows are clipped to the input: padding taps are skipped, not counted (the average
//! divides by the number of taps inside the input, as TFLite does).

use super::activation::clamp;
use super::conv::ConvGeometry;
use super::{need, Activation, KernelError, KernelResult};

/// Which pooling reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum over the window.
    Max,
    /// Average over the window's taps inside the input.
    Average,
}

/// Checks a pooling geometry (same channels in and out) and the buffer sizes.
pub(crate) fn check_pool(geo: &ConvGeometry, in_len: usize, out_len: usize) -> KernelResult {
    geo.validate()?;
    if geo.in_c != geo.out_c {
        return Err(KernelError::InvalidParam(
            "pooling changes the channel count",
        ));
    }
    if geo.dilation_h != 1 || geo.dilation_w != 1 || geo.groups != 1 {
        return Err(KernelError::InvalidParam("pooling has no dilation"));
    }
    need("pool input", geo.input_len()?, in_len)?;
    need("pool output", geo.output_len()?, out_len)
}

/// The input window of output pixel `(oy, ox)` clipped to the input:
/// `(y0, y1, x0, x1)` half-open.
#[inline]
pub(crate) fn window(geo: &ConvGeometry, oy: usize, ox: usize) -> (usize, usize, usize, usize) {
    let oy0 = (oy * geo.stride_h) as isize - geo.pad_top as isize;
    let ox0 = (ox * geo.stride_w) as isize - geo.pad_left as isize;
    let y0 = oy0.max(0) as usize;
    let x0 = ox0.max(0) as usize;
    let y1 = (oy0 + geo.kernel_h as isize).clamp(0, geo.in_h as isize) as usize;
    let x1 = (ox0 + geo.kernel_w as isize).clamp(0, geo.in_w as isize) as usize;
    (y0, y1.max(y0), x0, x1.max(x0))
}

/// f32 max or average pooling over NHWC with a fused clamping activation.
///
/// An output pixel whose window holds no input tap is 0 for average pooling (TFLite would
/// divide by zero there) and `f32::MIN` clamped for max pooling.
pub fn pool2d_f32(
    kind: PoolKind,
    geo: &ConvGeometry,
    input: &[f32],
    act: Activation,
    output: &mut [f32],
) -> KernelResult {
    check_pool(geo, input.len(), output.len())?;
    let (lo, hi) = act.range();
    let c = geo.in_c;
    for b in 0..geo.batch {
        for oy in 0..geo.out_h {
            for ox in 0..geo.out_w {
                let (y0, y1, x0, x1) = window(geo, oy, ox);
                let o = ((b * geo.out_h + oy) * geo.out_w + ox) * c;
                let out = &mut output[o..o + c];
                out.fill(match kind {
                    PoolKind::Max => f32::MIN,
                    PoolKind::Average => 0.0,
                });
                for y in y0..y1 {
                    for x in x0..x1 {
                        let s = ((b * geo.in_h + y) * geo.in_w + x) * c;
                        let inp = &input[s..s + c];
                        match kind {
                            PoolKind::Max => {
                                for (o, v) in out.iter_mut().zip(inp) {
                                    // std::max(o, v): keeps o unless o < v.
                                    if *o < *v {
                                        *o = *v;
                                    }
                                }
                            }
                            PoolKind::Average => {
                                for (o, v) in out.iter_mut().zip(inp) {
                                    *o += *v;
                                }
                            }
                        }
                    }
                }
                let count = ((y1 - y0) * (x1 - x0)) as f32;
                for v in out.iter_mut() {
                    if kind == PoolKind::Average && count > 0.0 {
                        *v /= count;
                    }
                    *v = clamp(*v, lo, hi);
                }
            }
        }
    }
    if act.needs_post_pass() {
        act.apply_post(&mut output[..geo.output_len()?]);
    }
    Ok(())
}

/// Mean over H and W of an NHWC tensor (`[b, h, w, c]` → `[b, c]`), summing in f32 in input
/// order and dividing by `h*w`, as TFLite's reference mean does.
pub fn mean_hw_f32(
    input: &[f32],
    (batch, h, w, c): (usize, usize, usize, usize),
    output: &mut [f32],
) -> KernelResult {
    need(
        "mean input",
        super::mul_all(&[batch, h, w, c])?,
        input.len(),
    )?;
    need("mean output", super::mul_all(&[batch, c])?, output.len())?;
    let count = (h * w) as f32;
    for b in 0..batch {
        let out = &mut output[b * c..(b + 1) * c];
        out.fill(0.0);
        for px in input[b * h * w * c..(b + 1) * h * w * c].chunks_exact(c.max(1)) {
            for (o, v) in out.iter_mut().zip(px) {
                *o += *v;
            }
        }
        if h * w > 0 {
            for o in out.iter_mut() {
                *o /= count;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::conv::Padding;
    use super::super::testutil::{assert_close, Rng};
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn naive_pool(kind: PoolKind, g: &ConvGeometry, input: &[f32], act: Activation) -> Vec<f32> {
        let mut out = vec![0.0; g.output_len().unwrap()];
        for b in 0..g.batch {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for ch in 0..g.in_c {
                        let mut acc: f64 = if kind == PoolKind::Max { f64::MIN } else { 0.0 };
                        let mut n = 0;
                        for ky in 0..g.kernel_h {
                            for kx in 0..g.kernel_w {
                                let iy = (oy * g.stride_h + ky) as isize - g.pad_top as isize;
                                let ix = (ox * g.stride_w + kx) as isize - g.pad_left as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= g.in_h as isize
                                    || ix >= g.in_w as isize
                                {
                                    continue;
                                }
                                let v = input[((b * g.in_h + iy as usize) * g.in_w + ix as usize)
                                    * g.in_c
                                    + ch] as f64;
                                n += 1;
                                acc = if kind == PoolKind::Max {
                                    acc.max(v)
                                } else {
                                    acc + v
                                };
                            }
                        }
                        if kind == PoolKind::Average {
                            acc /= n as f64;
                        }
                        out[((b * g.out_h + oy) * g.out_w + ox) * g.in_c + ch] =
                            act.apply_scalar(acc as f32);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn pooling_matches_naive() {
        let mut rng = Rng::new(2);
        for case in 0..30 {
            let c = rng.range(1, 17);
            let g = ConvGeometry::new(
                rng.range(1, 2),
                (rng.range(2, 11), rng.range(2, 11), c),
                c,
                (rng.range(1, 4), rng.range(1, 4)),
                (rng.range(1, 3), rng.range(1, 3)),
                (1, 1),
                if case % 2 == 0 {
                    Padding::Same
                } else {
                    Padding::Valid
                },
            );
            let Ok(g) = g else { continue };
            let input = rng.vec_f32(g.input_len().unwrap());
            for kind in [PoolKind::Max, PoolKind::Average] {
                for act in [Activation::None, Activation::Relu, Activation::ReluN1To1] {
                    let mut out = vec![0.0; g.output_len().unwrap()];
                    pool2d_f32(kind, &g, &input, act, &mut out).unwrap();
                    assert_close(&out, &naive_pool(kind, &g, &input, act), 1e-6, "pool");
                }
            }
        }
    }

    #[test]
    fn mean_hw() {
        let mut rng = Rng::new(4);
        let (b, h, w, c) = (2, 7, 5, 11);
        let x = rng.vec_f32(b * h * w * c);
        let mut out = vec![0.0; b * c];
        mean_hw_f32(&x, (b, h, w, c), &mut out).unwrap();
        for bi in 0..b {
            for ci in 0..c {
                let s: f64 = (0..h * w)
                    .map(|p| x[(bi * h * w + p) * c + ci] as f64)
                    .sum();
                assert!((out[bi * c + ci] as f64 - s / 35.0).abs() < 1e-6);
            }
        }
        assert!(mean_hw_f32(&x[1..], (b, h, w, c), &mut out).is_err());
    }
}

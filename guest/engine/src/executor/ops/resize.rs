//! RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (NHWC) with TFLite's reference arithmetic.

use super::util::{input_info as info, output_info as out_info};
use super::util::{same_dtype, same_quant};
use super::Prepared;
use crate::error::Result;
use crate::executor::Ctx;
use crate::ir::{DType, Node, ResizeMode, Subgraph};
use crate::{invalid, unsupported};

pub(super) fn prepare(
    sg: &Subgraph,
    node: &Node,
    mode: ResizeMode,
    align_corners: bool,
    half_pixel: bool,
) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    same_quant(x, y)?;
    let (xd, yd) = (x.shape.dims(), y.shape.dims());
    if xd.len() != 4 || yd.len() != 4 || xd[0] != yd[0] || xd[3] != yd[3] {
        return Err(invalid!(
            "resize needs NHWC tensors with equal batch and channels ({} -> {})",
            x.shape,
            y.shape
        ));
    }
    if align_corners && half_pixel {
        return Err(invalid!(
            "resize with both align_corners and half_pixel_centers"
        ));
    }
    if xd[1] == 0 || xd[2] == 0 {
        return Err(invalid!("resize of an empty image"));
    }
    let ok = match mode {
        ResizeMode::Bilinear => matches!(x.dtype, DType::F32 | DType::I8 | DType::U8),
        ResizeMode::Nearest => true,
    };
    if !ok {
        return Err(unsupported!("{mode:?} resize on {}", x.dtype));
    }
    Ok(Prepared::None)
}

fn scale(input: usize, output: usize, align_corners: bool) -> f32 {
    if align_corners && output > 1 {
        (input - 1) as f32 / (output - 1) as f32
    } else {
        input as f32 / output as f32
    }
}

fn interp(value: usize, scale: f32, half_pixel: bool, input: usize) -> (f32, usize, usize) {
    let v = if half_pixel {
        (value as f32 + 0.5) * scale - 0.5
    } else {
        value as f32 * scale
    };
    let lower = (libm::floorf(v) as i64).max(0) as usize;
    let upper = (libm::ceilf(v) as i64).min(input as i64 - 1).max(0) as usize;
    (v, lower.min(input - 1), upper)
}

fn interp_int(value: usize, scale_10: i32, half_pixel: bool, input: usize) -> (i32, usize, usize) {
    let v = if half_pixel {
        value as i32 * scale_10 + scale_10 / 2 - (1 << 9)
    } else {
        value as i32 * scale_10
    };
    let lower = (v / (1 << 10)).max(0) as usize;
    let upper = ((v + (1 << 10) - 1) / (1 << 10))
        .min(input as i32 - 1)
        .max(0) as usize;
    (v, lower.min(input - 1), upper)
}

pub(super) fn run(
    ctx: &Ctx<'_>,
    mode: ResizeMode,
    align_corners: bool,
    half_pixel: bool,
) -> Result<()> {
    let xi = ctx.in_info(0)?;
    let yi = ctx.out_info(0)?;
    let (xd, yd) = (xi.shape.dims(), yi.shape.dims());
    let (n, ih, iw, c) = (xd[0], xd[1], xd[2], xd[3]);
    let (oh, ow) = (yd[1], yd[2]);
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    let es = xi.dtype.size();
    if x.len() < n * ih * iw * c * es || y.len() < n * oh * ow * c * es {
        return Err(invalid!("resize buffers too short"));
    }
    let at = |b: usize, h: usize, w: usize| ((b * ih + h) * iw + w) * c;
    match mode {
        ResizeMode::Nearest => {
            let nearest = |v: usize, input: usize, output: usize| -> usize {
                let s = scale(input, output, align_corners);
                let off = if half_pixel { 0.5 } else { 0.0 };
                let f = (v as f32 + off) * s;
                let r = if align_corners {
                    libm::roundf(f) as i64
                } else {
                    libm::floorf(f) as i64
                };
                let r = r.min(input as i64 - 1);
                (if half_pixel { r.max(0) } else { r }).max(0) as usize
            };
            for b in 0..n {
                for h in 0..oh {
                    let sh = nearest(h, ih, oh);
                    for w in 0..ow {
                        let sw = nearest(w, iw, ow);
                        let s = at(b, sh, sw) * es;
                        let d = ((b * oh + h) * ow + w) * c * es;
                        y[d..d + c * es].copy_from_slice(&x[s..s + c * es]);
                    }
                }
            }
        }
        ResizeMode::Bilinear if xi.dtype == DType::F32 => {
            let xf: &[f32] = bytemuck::try_cast_slice(x).map_err(|e| invalid!("{e:?}"))?;
            let yf: &mut [f32] = bytemuck::try_cast_slice_mut(y).map_err(|e| invalid!("{e:?}"))?;
            let (hs, ws) = (scale(ih, oh, align_corners), scale(iw, ow, align_corners));
            for b in 0..n {
                for h in 0..oh {
                    let (fy, y0, y1) = interp(h, hs, half_pixel, ih);
                    let dy = fy - y0 as f32;
                    for w in 0..ow {
                        let (fx, x0, x1) = interp(w, ws, half_pixel, iw);
                        let dx = fx - x0 as f32;
                        let d = ((b * oh + h) * ow + w) * c;
                        for k in 0..c {
                            yf[d + k] = xf[at(b, y0, x0) + k] * (1.0 - dy) * (1.0 - dx)
                                + xf[at(b, y1, x0) + k] * dy * (1.0 - dx)
                                + xf[at(b, y0, x1) + k] * (1.0 - dy) * dx
                                + xf[at(b, y1, x1) + k] * dy * dx;
                        }
                    }
                }
            }
        }
        ResizeMode::Bilinear => {
            let signed = xi.dtype == DType::I8;
            let val = |i: usize| {
                if signed {
                    x[i] as i8 as i64
                } else {
                    x[i] as i64
                }
            };
            let s10 = |input: usize, output: usize| -> i32 {
                if align_corners && output > 1 {
                    (((1 << 10) * (input as i64 - 1) + (output as i64 - 1) / 2)
                        / (output as i64 - 1)) as i32
                } else {
                    (((1 << 10) * input as i64 + output as i64 / 2) / output as i64) as i32
                }
            };
            let (hs, ws) = (s10(ih, oh), s10(iw, ow));
            for b in 0..n {
                for h in 0..oh {
                    let (fy, y0, y1) = interp_int(h, hs, half_pixel, ih);
                    let dy = (fy - (1 << 10) * y0 as i32) as i64;
                    for w in 0..ow {
                        let (fx, x0, x1) = interp_int(w, ws, half_pixel, iw);
                        let dx = (fx - (1 << 10) * x0 as i32) as i64;
                        let d = ((b * oh + h) * ow + w) * c;
                        for k in 0..c {
                            let o20 = val(at(b, y0, x0) + k) * ((1 << 10) - dy) * ((1 << 10) - dx)
                                + val(at(b, y1, x0) + k) * dy * ((1 << 10) - dx)
                                + val(at(b, y0, x1) + k) * ((1 << 10) - dy) * dx
                                + val(at(b, y1, x1) + k) * dy * dx;
                            let round = if o20 > 0 { 1 << 19 } else { -(1 << 19) };
                            let v = (o20 + round) / (1 << 20);
                            y[d + k] = if signed { v as i8 as u8 } else { v as u8 };
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

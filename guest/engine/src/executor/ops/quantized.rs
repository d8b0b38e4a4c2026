//! Quantized (int8 / uint8 / int16) elementwise ops with TFLite's reference integer arithmetic.

use super::util::{activation_range_quant, per_tensor, qrange, Bcast};
use super::Prepared;
use crate::error::Result;
use crate::executor::kernels::quant::ops as kops;
use crate::executor::kernels::quant::{
    multiply_by_quantized_multiplier, quantize_multiplier, rounding_divide_by_pot, QuantMultiplier,
};
use crate::executor::Ctx;
use crate::ir::{Activation, BinaryOp, CompareOp, DType, QuantParams, TensorInfo, UnaryOp};
use crate::{invalid, unsupported};

/// Prepared integer parameters of a quantized binary op.
#[derive(Debug, Clone)]
pub(crate) struct QuantBinary {
    pub bcast: Bcast,
    pub op: BinaryOp,
    pub dtype: DType,
    pub in1_offset: i32,
    pub in2_offset: i32,
    pub out_offset: i32,
    pub left_shift: i32,
    pub in1_mult: (i32, i32),
    pub in2_mult: (i32, i32),
    pub out_mult: (i32, i32),
    pub act_min: i32,
    pub act_max: i32,
}

/// Prepared parameters of a quantized unary op.
#[derive(Debug, Clone)]
pub(crate) struct QuantUnary {
    pub dtype: DType,
    pub in_zp: i32,
    pub out_zp: i32,
    pub mult: (i32, i32),
    pub act_min: i32,
    pub act_max: i32,
    /// Precomputed outputs for every int8 input value, indexed by the value's byte (table ops).
    pub table: Option<[u8; 256]>,
}

/// Prepared parameters of a quantized comparison.
#[derive(Debug, Clone)]
pub(crate) struct QuantCompare {
    pub bcast: Bcast,
    pub dtype: DType,
    pub in1_offset: i32,
    pub in2_offset: i32,
    pub in1_mult: (i32, i32),
    pub in2_mult: (i32, i32),
}

/// Prepared parameters of a dequantize / quantize / requantize.
#[derive(Debug, Clone)]
pub(crate) struct QuantConvert {
    pub scale: alloc::vec::Vec<f32>,
    pub zero_point: alloc::vec::Vec<i32>,
    /// Elements per step of the quantized axis, and channel count (per-channel).
    pub inner: usize,
    pub channels: usize,
    /// Requantize: input zero point, multiplier, output zero point.
    pub requant: Option<(i32, (i32, i32), i32)>,
}

fn qm(x: i32, m: (i32, i32)) -> i32 {
    multiply_by_quantized_multiplier(
        x,
        QuantMultiplier {
            multiplier: m.0,
            shift: m.1,
        },
    )
}

fn mult(real: f64) -> (i32, i32) {
    let m = quantize_multiplier(real);
    (m.multiplier, m.shift)
}

pub(super) fn prepare_binary(
    a: &TensorInfo,
    b: &TensorInfo,
    y: &TensorInfo,
    op: BinaryOp,
    act: Activation,
    bcast: Bcast,
) -> Result<Prepared> {
    if a.dtype != b.dtype || a.dtype != y.dtype || !matches!(a.dtype, DType::I8 | DType::U8) {
        return Err(unsupported!(
            "quantized {op:?} on {} x {} -> {}",
            a.dtype,
            b.dtype,
            y.dtype
        ));
    }
    let (s1, z1) = per_tensor(a)?;
    let (s2, z2) = per_tensor(b)?;
    let (so, zo) = per_tensor(y)?;
    let (act_min, act_max) = activation_range_quant(
        act,
        y.quant
            .as_ref()
            .ok_or_else(|| invalid!("no output quantization"))?,
        y.dtype,
    )?;
    let mut p = QuantBinary {
        bcast,
        op,
        dtype: a.dtype,
        in1_offset: -z1,
        in2_offset: -z2,
        out_offset: zo,
        left_shift: 0,
        in1_mult: (0, 0),
        in2_mult: (0, 0),
        out_mult: (0, 0),
        act_min,
        act_max,
    };
    match op {
        BinaryOp::Add | BinaryOp::Sub => {
            // TFLite add.cc / sub.cc Prepare (8-bit, general scales).
            p.left_shift = 20;
            let twice_max = (2.0f32 * s1.max(s2)) as f64;
            p.in1_mult = mult(s1 as f64 / twice_max);
            p.in2_mult = mult(s2 as f64 / twice_max);
            p.out_mult = mult(twice_max / (((1i64 << p.left_shift) as f32 * so) as f64));
        }
        BinaryOp::Mul => {
            p.out_mult = mult((s1 * s2 / so) as f64);
        }
        BinaryOp::Maximum | BinaryOp::Minimum => {
            if s1 != so || s2 != so || z1 != zo || z2 != zo {
                return Err(unsupported!(
                    "quantized {op:?} with differing input/output quantization"
                ));
            }
        }
        BinaryOp::Prelu => {
            // TFLite prelu.cc: x >= 0 -> x * (s_in / s_out); x < 0 -> x * alpha * (s_in * s_alpha / s_out).
            p.in1_mult = mult((s1 / so) as f64);
            p.out_mult = mult((s1 * s2 / so) as f64);
            let (qmin, qmax) = qrange(y.dtype)?;
            p.act_min = qmin;
            p.act_max = qmax;
        }
        BinaryOp::SquaredDifference | BinaryOp::Div => {
            return Err(unsupported!("quantized {op:?}"));
        }
        _ => return Err(unsupported!("quantized {op:?}")),
    }
    if p.act_min > p.act_max {
        return Err(invalid!(
            "quantized {op:?} has an empty output range [{}, {}]",
            p.act_min,
            p.act_max
        ));
    }
    Ok(Prepared::QuantBinary(alloc::boxed::Box::new(p)))
}

pub(super) fn run_binary(ctx: &Ctx<'_>, p: &QuantBinary) -> Result<()> {
    match p.dtype {
        DType::I8 => {
            let a = ctx.input_as::<i8>(0)?;
            let b = ctx.input_as::<i8>(1)?;
            let o = ctx.output_as::<i8>(0)?;
            if matches!(p.op, BinaryOp::Add | BinaryOp::Sub)
                && p.bcast.contiguous[0]
                && p.bcast.contiguous[1]
                && a.len() == o.len()
                && b.len() == o.len()
            {
                // Same-shape fast path (residual adds): a plain loop the compiler can unroll.
                let sub = p.op == BinaryOp::Sub;
                let shift = p.left_shift as u32;
                for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
                    let sx = qm((p.in1_offset + x as i32).wrapping_shl(shift), p.in1_mult);
                    let sy = qm((p.in2_offset + y as i32).wrapping_shl(shift), p.in2_mult);
                    let raw = if sub {
                        sx.wrapping_sub(sy)
                    } else {
                        sx.wrapping_add(sy)
                    };
                    *o = qm(raw, p.out_mult)
                        .wrapping_add(p.out_offset)
                        .clamp(p.act_min, p.act_max) as i8;
                }
                return Ok(());
            }
            binary_loop(
                p,
                a.len(),
                b.len(),
                o.len(),
                |i| a[i] as i32,
                |i| b[i] as i32,
                |i, v| o[i] = v as i8,
            )
        }
        DType::U8 => {
            let a = ctx.input_as::<u8>(0)?;
            let b = ctx.input_as::<u8>(1)?;
            let o = ctx.output_as::<u8>(0)?;
            binary_loop(
                p,
                a.len(),
                b.len(),
                o.len(),
                |i| a[i] as i32,
                |i| b[i] as i32,
                |i, v| o[i] = v as u8,
            )
        }
        d => Err(unsupported!("quantized binary on {d}")),
    }
}

fn binary_loop(
    p: &QuantBinary,
    na: usize,
    nb: usize,
    no: usize,
    a: impl Fn(usize) -> i32,
    b: impl Fn(usize) -> i32,
    mut out: impl FnMut(usize, i32),
) -> Result<()> {
    super::elementwise::check_lens(&p.bcast, &[na, nb], no)?;
    let (lo, hi) = (p.act_min, p.act_max);
    match p.op {
        BinaryOp::Add | BinaryOp::Sub => {
            let sub = p.op == BinaryOp::Sub;
            p.bcast.for_each(|i, [ia, ib]| {
                let x = (p.in1_offset + a(ia)).wrapping_shl(p.left_shift as u32);
                let y = (p.in2_offset + b(ib)).wrapping_shl(p.left_shift as u32);
                let sx = qm(x, p.in1_mult);
                let sy = qm(y, p.in2_mult);
                let raw = if sub {
                    sx.wrapping_sub(sy)
                } else {
                    sx.wrapping_add(sy)
                };
                let r = qm(raw, p.out_mult).wrapping_add(p.out_offset);
                out(i, r.clamp(lo, hi));
            });
        }
        BinaryOp::Mul => p.bcast.for_each(|i, [ia, ib]| {
            let x = p.in1_offset + a(ia);
            let y = p.in2_offset + b(ib);
            let r = p.out_offset.wrapping_add(qm(x.wrapping_mul(y), p.out_mult));
            out(i, r.clamp(lo, hi));
        }),
        BinaryOp::Prelu => p.bcast.for_each(|i, [ia, ib]| {
            let x = p.in1_offset + a(ia);
            let v = if x >= 0 {
                qm(x, p.in1_mult)
            } else {
                qm(x.wrapping_mul(p.in2_offset + b(ib)), p.out_mult)
            };
            out(i, v.wrapping_add(p.out_offset).clamp(lo, hi));
        }),
        BinaryOp::Maximum => p
            .bcast
            .for_each(|i, [ia, ib]| out(i, a(ia).max(b(ib)).clamp(lo, hi))),
        BinaryOp::Minimum => p
            .bcast
            .for_each(|i, [ia, ib]| out(i, a(ia).min(b(ib)).clamp(lo, hi))),
        op => return Err(unsupported!("quantized {op:?}")),
    }
    Ok(())
}

pub(super) fn prepare_unary(x: &TensorInfo, y: &TensorInfo, op: UnaryOp) -> Result<Prepared> {
    if !matches!(x.dtype, DType::I8 | DType::U8) {
        return Err(unsupported!("quantized {op:?} on {}", x.dtype));
    }
    let (si, zi) = per_tensor(x)?;
    let (so, zo) = per_tensor(y)?;
    let (qmin, qmax) = qrange(y.dtype)?;
    let quant_bound = |v: f32| zo + libm::roundf(v / so) as i32;
    let mut p = QuantUnary {
        dtype: x.dtype,
        in_zp: zi,
        out_zp: zo,
        mult: mult(si as f64 / so as f64),
        act_min: qmin,
        act_max: qmax,
        table: None,
    };
    match op {
        UnaryOp::Relu => p.act_min = qmin.max(quant_bound(0.0)),
        UnaryOp::Relu6 => {
            p.act_min = qmin.max(quant_bound(0.0));
            p.act_max = qmax.min(quant_bound(6.0));
        }
        UnaryOp::ReluN1To1 => {
            p.act_min = qmin.max(quant_bound(-1.0));
            p.act_max = qmax.min(quant_bound(1.0));
        }
        UnaryOp::Relu0To1 => {
            p.act_min = qmin.max(quant_bound(0.0));
            p.act_max = qmax.min(quant_bound(1.0));
        }
        UnaryOp::Logistic | UnaryOp::Tanh | UnaryOp::HardSwish | UnaryOp::Gelu { .. }
            if x.dtype == DType::I8 && y.dtype == DType::I8 =>
        {
            let lut = match op {
                UnaryOp::Logistic => kops::logistic_lut_i8((si, zi), (so, zo)),
                UnaryOp::Tanh => kops::tanh_lut_i8((si, zi), (so, zo)),
                // TFLite gelu.cc: int8 GELU is a float lookup table over all 256 inputs.
                UnaryOp::Gelu { approximate } => kops::lut_i8((si, zi), (so, zo), |v| {
                    super::scalar::float_unary(UnaryOp::Gelu { approximate }, v)
                }),
                _ => hard_swish_table(si, zi, so, zo)?,
            };
            let mut t = [0u8; 256];
            for (d, s) in t.iter_mut().zip(lut.iter()) {
                *d = *s as u8;
            }
            p.table = Some(t);
        }
        _ => return Err(unsupported!("quantized {op:?}")),
    }
    if p.act_min > p.act_max {
        return Err(invalid!(
            "quantized {op:?} has an empty output range [{}, {}]",
            p.act_min,
            p.act_max
        ));
    }
    Ok(Prepared::QuantUnary(alloc::boxed::Box::new(p)))
}

pub(super) fn run_unary(ctx: &Ctx<'_>, p: &QuantUnary) -> Result<()> {
    let map = |v: i32| -> i32 {
        if let Some(t) = &p.table {
            return t[(v & 0xff) as usize] as i32;
        }
        let r = p.out_zp.wrapping_add(qm(v - p.in_zp, p.mult));
        r.clamp(p.act_min, p.act_max)
    };
    match p.dtype {
        DType::I8 => {
            let a = ctx.input_as::<i8>(0)?;
            let o = ctx.output_as::<i8>(0)?;
            for (o, &a) in o.iter_mut().zip(a) {
                *o = map(a as i32) as i8;
            }
        }
        DType::U8 => {
            let a = ctx.input_as::<u8>(0)?;
            let o = ctx.output_as::<u8>(0)?;
            for (o, &a) in o.iter_mut().zip(a) {
                *o = map(a as i32) as u8;
            }
        }
        d => return Err(unsupported!("quantized unary on {d}")),
    }
    Ok(())
}

pub(super) fn prepare_compare(a: &TensorInfo, b: &TensorInfo, bcast: Bcast) -> Result<Prepared> {
    // TFLite comparisons.cc: rescale both inputs with left shift 8 (8-bit).
    let (s1, z1) = per_tensor(a)?;
    let (s2, z2) = per_tensor(b)?;
    if !matches!(a.dtype, DType::I8 | DType::U8) {
        return Err(unsupported!("quantized comparison on {}", a.dtype));
    }
    let (in1_mult, in2_mult) = if s1 == s2 && z1 == z2 {
        ((0, 0), (0, 0))
    } else {
        let left_shift = 8;
        let _ = left_shift;
        let twice_max = (2.0f32 * s1.max(s2)) as f64;
        (mult(s1 as f64 / twice_max), mult(s2 as f64 / twice_max))
    };
    Ok(Prepared::QuantCompare(alloc::boxed::Box::new(
        QuantCompare {
            bcast,
            dtype: a.dtype,
            in1_offset: -z1,
            in2_offset: -z2,
            in1_mult,
            in2_mult,
        },
    )))
}

pub(super) fn run_compare(ctx: &Ctx<'_>, op: CompareOp, p: &QuantCompare) -> Result<()> {
    let a = ctx.input(0)?;
    let b = ctx.input(1)?;
    let o = ctx.output(0)?;
    super::elementwise::check_lens(&p.bcast, &[a.len(), b.len()], o.len())?;
    let signed = p.dtype == DType::I8;
    let val = |x: u8| if signed { x as i8 as i32 } else { x as i32 };
    let rescale = p.in1_mult != (0, 0);
    p.bcast.for_each(|i, [ia, ib]| {
        let (x, y) = if rescale {
            (
                qm((p.in1_offset + val(a[ia])) << 8, p.in1_mult),
                qm((p.in2_offset + val(b[ib])) << 8, p.in2_mult),
            )
        } else {
            (val(a[ia]), val(b[ib]))
        };
        let r = match op {
            CompareOp::Equal => x == y,
            CompareOp::NotEqual => x != y,
            CompareOp::Less => x < y,
            CompareOp::LessEqual => x <= y,
            CompareOp::Greater => x > y,
            CompareOp::GreaterEqual => x >= y,
        };
        o[i] = u8::from(r);
    });
    Ok(())
}

fn convert_params(t: &TensorInfo, q: &QuantParams) -> Result<QuantConvert> {
    if q.scale.is_empty() || q.scale.len() != q.zero_point.len() {
        return Err(invalid!(
            "tensor `{}` has {} scales and {} zero points",
            t.name,
            q.scale.len(),
            q.zero_point.len()
        ));
    }
    let dims = t.shape.dims();
    let (inner, channels) = if q.scale.len() == 1 {
        (usize::MAX, 1)
    } else {
        if q.axis >= dims.len() || dims[q.axis] != q.scale.len() {
            return Err(invalid!(
                "tensor `{}`: {} per-channel scales do not match dim {} of {}",
                t.name,
                q.scale.len(),
                q.axis,
                t.shape
            ));
        }
        (
            dims[q.axis + 1..].iter().product::<usize>().max(1),
            q.scale.len(),
        )
    };
    let zero_point = q
        .zero_point
        .iter()
        .map(|&z| i32::try_from(z).map_err(|_| invalid!("zero point {z} out of range")))
        .collect::<Result<_>>()?;
    Ok(QuantConvert {
        scale: q.scale.clone(),
        zero_point,
        inner,
        channels,
        requant: None,
    })
}

pub(super) fn prepare_dequantize(x: &TensorInfo, q: &QuantParams) -> Result<Prepared> {
    Ok(Prepared::QuantConvert(alloc::boxed::Box::new(
        convert_params(x, q)?,
    )))
}

pub(super) fn run_dequantize(
    ctx: &Ctx<'_>,
    x: &TensorInfo,
    bytes: &[u8],
    y: &mut [f32],
    prepared: &Prepared,
) -> Result<()> {
    let Prepared::QuantConvert(p) = prepared else {
        return Err(invalid!("dequantize not prepared"));
    };
    let ch = |i: usize| {
        if p.channels == 1 {
            0
        } else {
            (i / p.inner) % p.channels
        }
    };
    let _ = ctx;
    let n = y.len();
    let get = |i: usize| -> Result<i32> {
        Ok(match x.dtype {
            DType::I8 => *bytes.get(i).ok_or_else(|| invalid!("short input"))? as i8 as i32,
            DType::U8 => *bytes.get(i).ok_or_else(|| invalid!("short input"))? as i32,
            DType::I16 => {
                let b = bytes
                    .get(2 * i..2 * i + 2)
                    .ok_or_else(|| invalid!("short input"))?;
                i16::from_le_bytes([b[0], b[1]]) as i32
            }
            DType::I32 => {
                let b = bytes
                    .get(4 * i..4 * i + 4)
                    .ok_or_else(|| invalid!("short input"))?;
                i32::from_le_bytes([b[0], b[1], b[2], b[3]])
            }
            d => return Err(unsupported!("dequantize from {d}")),
        })
    };
    for (i, o) in y.iter_mut().enumerate().take(n) {
        let c = ch(i);
        // TFLite reference Dequantize: scale * (value - zero_point) in float.
        *o = p.scale[c] * (get(i)? - p.zero_point[c]) as f32;
    }
    Ok(())
}

pub(super) fn prepare_quantize(x: &TensorInfo, y: &TensorInfo) -> Result<Prepared> {
    let qy = y
        .quant
        .as_ref()
        .ok_or_else(|| invalid!("quantize output `{}` has no quantization", y.name))?;
    if !matches!(y.dtype, DType::I8 | DType::U8 | DType::I16) {
        return Err(unsupported!("quantize to {}", y.dtype));
    }
    if x.shape != y.shape {
        return Err(invalid!(
            "quantize changes the shape ({} to {})",
            x.shape,
            y.shape
        ));
    }
    let mut p = convert_params(y, qy)?;
    match x.dtype {
        DType::F32 => {}
        DType::I8 | DType::U8 | DType::I16 => {
            let (si, zi) = per_tensor(x)?;
            let (so, zo) = per_tensor(y)?;
            // TFLite quantize.cc requantize: multiplier = input_scale / output_scale.
            p.requant = Some((zi, mult(si as f64 / so as f64), zo));
        }
        d => return Err(unsupported!("quantize from {d}")),
    }
    Ok(Prepared::QuantConvert(alloc::boxed::Box::new(p)))
}

pub(super) fn run_quantize(ctx: &Ctx<'_>, prepared: &Prepared) -> Result<()> {
    let Prepared::QuantConvert(p) = prepared else {
        return Err(invalid!("quantize not prepared"));
    };
    let x = ctx.in_info(0)?;
    let y = ctx.out_info(0)?;
    let (qmin, qmax) = qrange(y.dtype)?;
    let src = ctx.input(0)?;
    let dst = ctx.output(0)?;
    let n = dst.len() / y.dtype.size();
    let read = |i: usize| -> i32 {
        match x.dtype {
            DType::I8 => src[i] as i8 as i32,
            DType::U8 => src[i] as i32,
            _ => i16::from_le_bytes([src[2 * i], src[2 * i + 1]]) as i32,
        }
    };
    let xf: &[f32] = if x.dtype == DType::F32 {
        bytemuck::try_cast_slice(src).map_err(|e| invalid!("{e:?}"))?
    } else {
        &[]
    };
    if src.len() / x.dtype.size() < n {
        return Err(invalid!("quantize input too short"));
    }
    for i in 0..n {
        let v = if let Some((zi, m, zo)) = p.requant {
            zo.wrapping_add(qm(read(i) - zi, m))
        } else {
            let c = if p.channels == 1 {
                0
            } else {
                (i / p.inner) % p.channels
            };
            // TFLite reference AffineQuantize: round(x / scale) + zero_point, then clamp.
            let r = libm::roundf(xf[i] / p.scale[c]);
            let r = if r.is_nan() {
                0
            } else {
                r.clamp(i32::MIN as f32, i32::MAX as f32) as i32
            };
            r.saturating_add(p.zero_point[c])
        };
        let v = v.clamp(qmin, qmax);
        match y.dtype {
            DType::I8 => dst[i] = v as i8 as u8,
            DType::U8 => dst[i] = v as u8,
            _ => dst[2 * i..2 * i + 2].copy_from_slice(&(v as i16).to_le_bytes()),
        }
    }
    Ok(())
}

/// TFLite's reference int8 HARD_SWISH (16-bit fixed point), evaluated for all 256 inputs.
fn hard_swish_table(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32) -> Result<[i8; 256]> {
    fn srdhm16(a: i16, b: i16) -> i16 {
        if a == b && a == i16::MIN {
            return i16::MAX;
        }
        let ab = a as i32 * b as i32;
        let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
        ((ab + nudge) / (1 << 15)) as i16
    }
    fn sdhm16(a: i16, b: i16) -> i16 {
        if a == b && a == i16::MIN {
            return i16::MAX;
        }
        ((a as i32 * b as i32) / (1 << 15)) as i16
    }
    fn sat_shl16(v: i16, amount: i32) -> i16 {
        let r = (v as i64) << amount.clamp(0, 31);
        r.clamp(i16::MIN as i64, i16::MAX as i64) as i16
    }
    fn rdbp16(x: i16, exponent: i32) -> i16 {
        rounding_divide_by_pot(x as i32, exponent.clamp(0, 31)) as i16
    }
    fn down_scale(m: i32) -> i16 {
        const ROUND: i32 = 1 << 15;
        if m >= i32::MAX - ROUND {
            i16::MAX
        } else {
            ((m + ROUND) >> 16) as i16
        }
    }
    let hires_input_scale = (1.0f32 / 128.0) * in_scale;
    let reluish_scale = 3.0f32 / 32768.0;
    let out_m = quantize_multiplier((hires_input_scale / out_scale) as f64);
    let relu_m = quantize_multiplier((hires_input_scale / reluish_scale) as f64);
    if out_m.shift > 0 {
        return Err(unsupported!(
            "HARD_SWISH with output scale below input scale / 128"
        ));
    }
    let out_fp = down_scale(out_m.multiplier);
    let relu_fp = down_scale(relu_m.multiplier);
    let mut t = [0i8; 256];
    for v in -128i32..=127 {
        let input_value = (v - in_zp) as i16;
        let hires = input_value.wrapping_mul(1 << 7);
        let preshift_out = srdhm16(hires, out_fp);
        let mut reluish = hires;
        if relu_m.shift > 0 {
            reluish = sat_shl16(reluish, relu_m.shift - 1);
        }
        reluish = srdhm16(reluish, relu_fp);
        if relu_m.shift > 0 {
            reluish = sat_shl16(reluish, 1);
        }
        if relu_m.shift < 0 {
            reluish = rdbp16(reluish, -relu_m.shift);
        }
        reluish = ((reluish as i32 + (1 << 15)) >> 1) as i16;
        let pre = sdhm16(reluish, preshift_out);
        let out = (rdbp16(pre, -out_m.shift) as i32 + out_zp).clamp(-128, 127);
        t[(v as i8) as u8 as usize] = out as i8;
    }
    Ok(t)
}

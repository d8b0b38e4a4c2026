//! Quantized reductions (int8 / uint8).

use super::reduce::{for_each_reduced, ReducePlan};
use super::util::{per_tensor, same_quant};
use super::Prepared;
use crate::error::Result;
use crate::executor::kernels::quant::ops::{mean_i8, MeanQuantParams};
use crate::executor::Ctx;
use crate::ir::{DType, ReduceOp, TensorInfo};
use crate::{invalid, unsupported};

/// Prepared quantized reduction.
#[derive(Debug, Clone)]
pub(crate) struct QuantReduce {
    pub plan: ReducePlan,
    pub dtype: DType,
    pub mean: Option<MeanQuantParams>,
}

pub(super) fn prepare(
    x: &TensorInfo,
    y: &TensorInfo,
    op: ReduceOp,
    plan: ReducePlan,
) -> Result<Prepared> {
    let mean = match op {
        ReduceOp::Max | ReduceOp::Min => {
            same_quant(x, y)?;
            None
        }
        ReduceOp::Mean if x.dtype == DType::I8 => {
            if plan.block.is_none() {
                return Err(unsupported!("quantized mean over non-adjacent axes"));
            }
            let (si, zi) = per_tensor(x)?;
            let (so, zo) = per_tensor(y)?;
            Some(MeanQuantParams {
                input_zero_point: zi,
                input_scale: si,
                output_zero_point: zo,
                output_scale: so,
            })
        }
        ReduceOp::Sum if x.dtype == DType::I8 => {
            let (si, zi) = per_tensor(x)?;
            let (so, zo) = per_tensor(y)?;
            Some(MeanQuantParams {
                input_zero_point: zi,
                input_scale: si,
                output_zero_point: zo,
                output_scale: so,
            })
        }
        _ => return Err(unsupported!("quantized {op:?} reduction on {}", x.dtype)),
    };
    Ok(Prepared::QuantReduce(alloc::boxed::Box::new(QuantReduce {
        plan,
        dtype: x.dtype,
        mean,
    })))
}

pub(super) fn run(ctx: &Ctx<'_>, op: ReduceOp, p: &QuantReduce) -> Result<()> {
    if let (ReduceOp::Sum, Some(q)) = (op, &p.mean) {
        // TFLite reference QuantizedMeanOrSum (compute_sum): int32 sum, then float rescale.
        let x = ctx.input_as::<i8>(0)?;
        let y = ctx.output_as::<i8>(0)?;
        if y.len() < p.plan.out_len || x.len() < p.plan.out_len * p.plan.count {
            return Err(invalid!("reduction buffers too short"));
        }
        let scale = q.input_scale / q.output_scale;
        let bias = -(q.input_zero_point as f32) * scale * p.plan.count as f32;
        for (o, out) in y.iter_mut().enumerate().take(p.plan.out_len) {
            let mut s = 0i32;
            for_each_reduced(&p.plan, |oo, i| {
                if oo == o {
                    s = s.wrapping_add(x[i] as i32)
                }
            });
            let v = libm::roundf(s as f32 * scale + bias) as i32 + q.output_zero_point;
            *out = v.clamp(-128, 127) as i8;
        }
        return Ok(());
    }
    if let (Some(q), Some(block)) = (&p.mean, p.plan.block) {
        let x = ctx.input_as::<i8>(0)?;
        let y = ctx.output_as::<i8>(0)?;
        mean_i8(block, q, x, y)?;
        return Ok(());
    }
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    let signed = p.dtype == DType::I8;
    let val = |b: u8| if signed { b as i8 as i32 } else { b as i32 };
    if y.len() < p.plan.out_len || x.len() < p.plan.out_len * p.plan.count {
        return Err(invalid!("reduction buffers too short"));
    }
    let init: u8 = match (op, signed) {
        (ReduceOp::Max, true) => i8::MIN as u8,
        (ReduceOp::Max, false) => 0,
        (_, true) => i8::MAX as u8,
        (_, false) => u8::MAX,
    };
    y.iter_mut().for_each(|v| *v = init);
    for_each_reduced(&p.plan, |o, i| {
        let (a, b) = (val(y[o]), val(x[i]));
        let keep = if op == ReduceOp::Max { b > a } else { b < a };
        if keep {
            y[o] = x[i];
        }
    });
    Ok(())
}

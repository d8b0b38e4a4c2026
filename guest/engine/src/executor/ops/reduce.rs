//! Reductions, arg-max/min, softmax, log-softmax, cumulative sum.

use alloc::vec::Vec;

use half::{bf16, f16};

use super::scalar::{with_int_type, IntElem};
use super::util::{input_info as info, output_info as out_info};
use super::util::{is_quantized, same_dtype, same_quant, MAX_RANK};
use super::Prepared;
use crate::error::Result;
use crate::executor::Ctx;
use crate::ir::{DType, Node, ReduceOp, Subgraph};
use crate::{invalid, unsupported};

/// Load-time plan of a reduction: the input viewed as `[outer, reduced, inner]` blocks is not
/// general enough for arbitrary axes, so we keep output strides per input dim instead.
#[derive(Debug, Clone)]
pub(crate) struct ReducePlan {
    pub in_dims: Vec<usize>,
    /// Output stride for each input dim (0 for reduced dims).
    pub out_strides: Vec<usize>,
    pub out_len: usize,
    pub count: usize,
    /// Contiguous special case: reduced dims are one block `[outer, reduced, inner]`.
    pub block: Option<(usize, usize, usize)>,
}

pub(super) fn prepare_reduce(
    sg: &Subgraph,
    node: &Node,
    op: ReduceOp,
    axes: &[usize],
) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    let dims = x.shape.dims();
    let r = dims.len();
    if r > MAX_RANK {
        return Err(unsupported!("reduction of rank {r}"));
    }
    let mut reduced = [false; MAX_RANK];
    for &a in axes {
        if a >= r {
            return Err(invalid!("reduction axis {a} for rank {r}"));
        }
        reduced[a] = true;
    }
    let kept: Vec<usize> = (0..r).filter(|&d| !reduced[d]).map(|d| dims[d]).collect();
    let out_len = crate::ir::Shape::new(&kept).num_elements()?;
    if out_len != y.shape.num_elements()? {
        return Err(invalid!(
            "reducing {} over {axes:?} gives {kept:?}, output is {}",
            x.shape,
            y.shape
        ));
    }
    let mut out_strides = alloc::vec![0usize; r];
    let mut s = 1usize;
    for d in (0..r).rev() {
        if !reduced[d] {
            out_strides[d] = s;
            s *= dims[d];
        }
    }
    let count = (0..r)
        .filter(|&d| reduced[d])
        .map(|d| dims[d])
        .product::<usize>();
    // Contiguous block of reduced axes?
    let red: Vec<usize> = (0..r).filter(|&d| reduced[d]).collect();
    let block = match (red.first(), red.last()) {
        (Some(&f), Some(&l)) if l + 1 - f == red.len() => Some((
            dims[..f].iter().product(),
            count,
            dims[l + 1..].iter().product(),
        )),
        (None, None) => Some((out_len, 1, 1)),
        _ => None,
    };
    let plan = ReducePlan {
        in_dims: dims.to_vec(),
        out_strides,
        out_len,
        count,
        block,
    };
    let ok = match x.dtype {
        DType::I8 | DType::U8 if is_quantized(x) => {
            return super::quantized_reduce::prepare(x, y, op, plan);
        }
        d if d.is_float() || d.is_int() => !matches!(op, ReduceOp::Any | ReduceOp::All),
        DType::Bool => matches!(op, ReduceOp::Any | ReduceOp::All),
        _ => false,
    };
    if !ok {
        return Err(unsupported!("{op:?} reduction on {}", x.dtype));
    }
    Ok(Prepared::Reduce(alloc::boxed::Box::new(plan)))
}

/// Calls `f(out_index, in_index)` for every input element.
pub(crate) fn for_each_reduced(p: &ReducePlan, mut f: impl FnMut(usize, usize)) {
    if let Some((outer, red, inner)) = p.block {
        let mut i = 0usize;
        for o in 0..outer {
            for _ in 0..red {
                for k in 0..inner {
                    f(o * inner + k, i);
                    i += 1;
                }
            }
        }
        return;
    }
    let r = p.in_dims.len();
    if p.in_dims.contains(&0) {
        return;
    }
    let mut idx = [0usize; MAX_RANK];
    let mut o = 0usize;
    let mut i = 0usize;
    loop {
        f(o, i);
        i += 1;
        let mut d = r;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            o += p.out_strides[d];
            if idx[d] < p.in_dims[d] {
                break;
            }
            o -= p.out_strides[d] * idx[d];
            idx[d] = 0;
        }
    }
}

fn reduce_typed<T: bytemuck::Pod>(
    ctx: &Ctx<'_>,
    p: &ReducePlan,
    init: T,
    f: impl Fn(T, T) -> T,
    finish: impl Fn(T) -> T,
) -> Result<()> {
    let x = ctx.input_as::<T>(0)?;
    let y = ctx.output_as::<T>(0)?;
    if y.len() < p.out_len || x.len() < p.out_len * p.count {
        return Err(invalid!("reduction buffers too short"));
    }
    let y = &mut y[..p.out_len];
    match p.block {
        // Reducing the innermost dims: one row per output, folded in 8 independent lanes.
        Some((_, red, 1)) if red > 0 => {
            for (o, row) in y.iter_mut().zip(x.chunks_exact(red)) {
                *o = finish(fold_lanes(init, row, &f));
            }
        }
        // Reduced dims in the middle: whole inner rows combined elementwise.
        Some((_, red, inner)) if red > 0 && inner > 0 => {
            for (out, block) in y.chunks_exact_mut(inner).zip(x.chunks_exact(red * inner)) {
                out.fill(init);
                for row in block.chunks_exact(inner) {
                    for (o, &v) in out.iter_mut().zip(row) {
                        *o = f(*o, v);
                    }
                }
                out.iter_mut().for_each(|v| *v = finish(*v));
            }
        }
        _ => {
            y.iter_mut().for_each(|v| *v = init);
            for_each_reduced(p, |o, i| y[o] = f(y[o], x[i]));
            y.iter_mut().for_each(|v| *v = finish(*v));
        }
    }
    Ok(())
}

/// Folds `row` with `f` in 8 interleaved accumulators (vectorizable), then folds those.
#[inline(always)]
fn fold_lanes<T: Copy>(init: T, row: &[T], f: &impl Fn(T, T) -> T) -> T {
    const LANES: usize = 8;
    let mut acc = [init; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = f(*a, v);
        }
    }
    let mut r = init;
    for a in acc.into_iter().chain(tail.iter().copied()) {
        r = f(r, a);
    }
    r
}

pub(super) fn run_reduce(ctx: &Ctx<'_>, op: ReduceOp, prepared: &Prepared) -> Result<()> {
    let p = match prepared {
        Prepared::Reduce(p) => p,
        Prepared::QuantReduce(q) => return super::quantized_reduce::run(ctx, op, q),
        _ => return Err(invalid!("reduction not prepared")),
    };
    let n = p.count;
    match ctx.in_info(0)?.dtype {
        DType::F32 => {
            if op == ReduceOp::Mean {
                if let Some((outer, red, inner)) = p.block {
                    let x = ctx.input_as::<f32>(0)?;
                    let y = ctx.output_as::<f32>(0)?;
                    return crate::executor::ops::nn::mean_f32(outer, red, inner, x, y);
                }
            }
            match op {
                ReduceOp::Sum => reduce_typed::<f32>(ctx, p, 0.0, |a, b| a + b, |a| a),
                ReduceOp::Mean => reduce_typed::<f32>(ctx, p, 0.0, |a, b| a + b, |a| a / n as f32),
                ReduceOp::Max => reduce_typed::<f32>(
                    ctx,
                    p,
                    f32::NEG_INFINITY,
                    |a, b| if b > a { b } else { a },
                    |a| a,
                ),
                ReduceOp::Min => reduce_typed::<f32>(
                    ctx,
                    p,
                    f32::INFINITY,
                    |a, b| if b < a { b } else { a },
                    |a| a,
                ),
                ReduceOp::Prod => reduce_typed::<f32>(ctx, p, 1.0, |a, b| a * b, |a| a),
                _ => Err(unsupported!("{op:?} on f32")),
            }
        }
        DType::F64 => reduce_float::<f64>(ctx, p, op, |v| v, |v| v),
        DType::F16 => reduce_float::<f16>(ctx, p, op, f16::to_f64, f16::from_f64),
        DType::BF16 => reduce_float::<bf16>(ctx, p, op, bf16::to_f64, bf16::from_f64),
        DType::Bool => match op {
            ReduceOp::Any => {
                reduce_typed::<u8>(ctx, p, 0, |a, b| u8::from(a != 0 || b != 0), |a| a)
            }
            ReduceOp::All => {
                reduce_typed::<u8>(ctx, p, 1, |a, b| u8::from(a != 0 && b != 0), |a| a)
            }
            _ => Err(unsupported!("{op:?} on bool")),
        },
        d => with_int_type!(d, T => reduce_int::<T>(ctx, p, op),
            _ => Err(unsupported!("{op:?} on {d}"))),
    }
}

/// Integer reduction with wrap-around (Mean: the wrapped sum divided by the count, truncating).
fn reduce_int<T: IntElem>(ctx: &Ctx<'_>, p: &ReducePlan, op: ReduceOp) -> Result<()> {
    let n = T::wrap_from(p.count.max(1) as i128);
    match op {
        ReduceOp::Sum => reduce_typed::<T>(ctx, p, T::default(), T::wadd, |a| a),
        ReduceOp::Mean => reduce_typed::<T>(ctx, p, T::default(), T::wadd, |a| a.div_xla(n)),
        ReduceOp::Max => reduce_typed::<T>(ctx, p, T::MIN_VALUE, Ord::max, |a| a),
        ReduceOp::Min => reduce_typed::<T>(ctx, p, T::MAX_VALUE, Ord::min, |a| a),
        ReduceOp::Prod => reduce_typed::<T>(ctx, p, T::ONE, T::wmul, |a| a),
        ReduceOp::Any | ReduceOp::All => Err(unsupported!("{op:?} on integers")),
    }
}

/// Float reduction of f64 or a half type: each step combines in f64 and rounds back to `T`
/// (exact for f64; one rounding per step, as the StableHLO reducer body does, for halves).
/// Max and min propagate NaN like XLA.
fn reduce_float<T: bytemuck::Pod>(
    ctx: &Ctx<'_>,
    p: &ReducePlan,
    op: ReduceOp,
    lift: impl Fn(T) -> f64 + Copy,
    lower: impl Fn(f64) -> T + Copy,
) -> Result<()> {
    let (init, f): (f64, fn(f64, f64) -> f64) = match op {
        ReduceOp::Sum | ReduceOp::Mean => (0.0, |a, b| a + b),
        ReduceOp::Prod => (1.0, |a, b| a * b),
        ReduceOp::Max => (
            f64::NEG_INFINITY,
            |a, b| if b > a || b.is_nan() { b } else { a },
        ),
        ReduceOp::Min => (
            f64::INFINITY,
            |a, b| if b < a || b.is_nan() { b } else { a },
        ),
        ReduceOp::Any | ReduceOp::All => return Err(unsupported!("{op:?} on floats")),
    };
    let count = p.count as f64;
    reduce_typed::<T>(
        ctx,
        p,
        lower(init),
        move |a, b| lower(f(lift(a), lift(b))),
        move |a| {
            if op == ReduceOp::Mean {
                lower(lift(a) / count)
            } else {
                a
            }
        },
    )
}

// ---------------------------------------------------------------- arg max / min

pub(super) fn prepare_arg(sg: &Subgraph, node: &Node, axis: usize) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    let dims = x.shape.dims();
    if axis >= dims.len() {
        return Err(invalid!(
            "arg reduction axis {axis} for rank {}",
            dims.len()
        ));
    }
    if !matches!(y.dtype, DType::I32 | DType::I64) {
        return Err(unsupported!("arg reduction output {}", y.dtype));
    }
    if !matches!(
        x.dtype,
        DType::F32 | DType::I8 | DType::U8 | DType::I32 | DType::I64
    ) {
        return Err(unsupported!("arg reduction on {}", x.dtype));
    }
    let mut kept = dims.to_vec();
    kept.remove(axis);
    if crate::ir::Shape::new(&kept).num_elements()? != y.shape.num_elements()? {
        return Err(invalid!(
            "arg reduction of {} over {axis} cannot give {}",
            x.shape,
            y.shape
        ));
    }
    Ok(Prepared::None)
}

pub(super) fn run_arg(ctx: &Ctx<'_>, max: bool, axis: usize) -> Result<()> {
    let xi = ctx.in_info(0)?;
    let yi = ctx.out_info(0)?;
    let dims = xi.shape.dims();
    let outer: usize = dims[..axis].iter().product();
    let n = dims[axis];
    let inner: usize = dims[axis + 1..].iter().product();
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    let es = xi.dtype.size();
    let val = |i: usize| -> f64 {
        let e = &x[i * es..i * es + es];
        match xi.dtype {
            DType::F32 => f32::from_le_bytes([e[0], e[1], e[2], e[3]]) as f64,
            DType::I8 => e[0] as i8 as f64,
            DType::U8 => e[0] as f64,
            DType::I32 => i32::from_le_bytes([e[0], e[1], e[2], e[3]]) as f64,
            _ => i64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]) as f64,
        }
    };
    if x.len() < outer * n * inner * es {
        return Err(invalid!("arg reduction input too short"));
    }
    for o in 0..outer {
        for k in 0..inner {
            let mut best = 0usize;
            let mut best_v = val(o * n * inner + k);
            for j in 1..n {
                let v = val((o * n + j) * inner + k);
                if (max && v > best_v) || (!max && v < best_v) {
                    best = j;
                    best_v = v;
                }
            }
            let idx = o * inner + k;
            match yi.dtype {
                DType::I32 => y[idx * 4..idx * 4 + 4].copy_from_slice(&(best as i32).to_le_bytes()),
                _ => y[idx * 8..idx * 8 + 8].copy_from_slice(&(best as i64).to_le_bytes()),
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- softmax

pub(super) fn prepare_softmax(
    sg: &Subgraph,
    node: &Node,
    beta: f32,
    axis: usize,
    _log: bool,
) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    if x.shape != y.shape {
        return Err(invalid!(
            "softmax output {} differs from input {}",
            y.shape,
            x.shape
        ));
    }
    if axis >= x.shape.rank().max(1) {
        return Err(invalid!("softmax axis {axis} for rank {}", x.shape.rank()));
    }
    let _ = beta;
    if x.dtype != DType::F32 || y.dtype != DType::F32 {
        return Err(unsupported!("softmax on {}", x.dtype));
    }
    Ok(Prepared::None)
}

pub(super) fn run_softmax(
    ctx: &Ctx<'_>,
    beta: f32,
    axis: usize,
    log: bool,
    prepared: &Prepared,
) -> Result<()> {
    let _ = prepared;
    let xi = ctx.in_info(0)?;
    let dims = xi.shape.dims();
    let (outer, n, inner) = if dims.is_empty() {
        (1, 1, 1)
    } else {
        (
            dims[..axis].iter().product::<usize>(),
            dims[axis],
            dims[axis + 1..].iter().product::<usize>(),
        )
    };
    let x = ctx.input_as::<f32>(0)?;
    let y = ctx.output_as::<f32>(0)?;
    if x.len() < outer * n * inner || y.len() < outer * n * inner {
        return Err(invalid!("softmax buffers too short"));
    }
    for o in 0..outer {
        for k in 0..inner {
            let at = |j: usize| (o * n + j) * inner + k;
            let mut m = f32::NEG_INFINITY;
            for j in 0..n {
                m = m.max(x[at(j)]);
            }
            if log {
                let mut sum = 0.0f32;
                for j in 0..n {
                    sum += libm::expf(x[at(j)] - m);
                }
                let ls = libm::logf(sum);
                for j in 0..n {
                    y[at(j)] = x[at(j)] - m - ls;
                }
            } else {
                let mut sum = 0.0f32;
                for j in 0..n {
                    let e = libm::expf((x[at(j)] - m) * beta);
                    y[at(j)] = e;
                    sum += e;
                }
                let inv = 1.0 / sum;
                for j in 0..n {
                    y[at(j)] *= inv;
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- cumsum

pub(super) fn prepare_cumsum(sg: &Subgraph, node: &Node, axis: usize) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    same_quant(x, y)?;
    if x.shape != y.shape || axis >= x.shape.rank() {
        return Err(invalid!(
            "cumsum over axis {axis} of {} into {}",
            x.shape,
            y.shape
        ));
    }
    if !matches!(x.dtype, DType::F32 | DType::I32 | DType::I64) {
        return Err(unsupported!("cumsum on {}", x.dtype));
    }
    Ok(Prepared::None)
}

pub(super) fn run_cumsum(ctx: &Ctx<'_>, axis: usize, exclusive: bool, reverse: bool) -> Result<()> {
    let xi = ctx.in_info(0)?;
    let dims = xi.shape.dims();
    let outer: usize = dims[..axis].iter().product();
    let n = dims[axis];
    let inner: usize = dims[axis + 1..].iter().product();
    fn go<T: bytemuck::Pod + Default + core::ops::Add<Output = T>>(
        x: &[T],
        y: &mut [T],
        outer: usize,
        n: usize,
        inner: usize,
        exclusive: bool,
        reverse: bool,
    ) -> Result<()> {
        if x.len() < outer * n * inner || y.len() < outer * n * inner {
            return Err(invalid!("cumsum buffers too short"));
        }
        for o in 0..outer {
            for k in 0..inner {
                let mut acc = T::default();
                for jj in 0..n {
                    let j = if reverse { n - 1 - jj } else { jj };
                    let i = (o * n + j) * inner + k;
                    if exclusive {
                        y[i] = acc;
                        acc = acc + x[i];
                    } else {
                        acc = acc + x[i];
                        y[i] = acc;
                    }
                }
            }
        }
        Ok(())
    }
    match xi.dtype {
        DType::F32 => go(
            ctx.input_as::<f32>(0)?,
            ctx.output_as::<f32>(0)?,
            outer,
            n,
            inner,
            exclusive,
            reverse,
        ),
        DType::I32 => go(
            ctx.input_as::<i32>(0)?,
            ctx.output_as::<i32>(0)?,
            outer,
            n,
            inner,
            exclusive,
            reverse,
        ),
        DType::I64 => go(
            ctx.input_as::<i64>(0)?,
            ctx.output_as::<i64>(0)?,
            outer,
            n,
            inner,
            exclusive,
            reverse,
        ),
        d => Err(unsupported!("cumsum on {d}")),
    }
}

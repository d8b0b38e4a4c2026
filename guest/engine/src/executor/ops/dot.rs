//! Matrix products: StableHLO `dot_general` and TFLite / TensorFlow `BatchMatMul`.
//!
//! Both are planned at load as a batch of `M×K · K×N` products. Each operand's free and
//! contracting dims are flattened into offset tables, so any layout the dimension numbers allow
//! (transposed operands, several batch / free / contracting dims in any order) is read in place
//! by the packed GEMM while it packs its panels: no transposed copies. A constant rhs (weights)
//! is packed once at load. f16 / bf16 operands are converted while packing and accumulate in
//! f32; the output is rounded to its dtype at the end. Integer products (wrapping in the output's
//! width, as StableHLO) and f64 products run a plain loop over the same offset tables.

use alloc::vec::Vec;

use half::{bf16, f16};

use super::util::{self, input_info as info, output_info as out_info};
use super::Prepared;
use crate::error::Result;
use crate::executor::kernels::gemm::{self, ASource, GatherMatrix, GemmElement, MatrixA, PackedB};
use crate::executor::kernels::{Activation, Isa};
use crate::executor::Ctx;
use crate::ir::{DType, DotGeneralAttrs, Graph, Node, Subgraph, TensorInfo, TensorKind};
use crate::{invalid, too_large, unsupported};

/// Matrix products keep infinities and NaNs (no fused activation, no clamp to the finite range).
const NO_CLAMP: Activation = Activation::Clamp {
    min: f32::NEG_INFINITY,
    max: f32::INFINITY,
};

/// One product of the batch: where its operands start.
#[derive(Debug, Clone, Copy)]
struct Batch {
    /// Element offset of the lhs matrix.
    lhs: usize,
    /// Element offset of the rhs matrix.
    rhs: usize,
    /// Index of its rhs in [`MatmulPlan::packed_rhs`] (when the rhs is constant).
    packed: usize,
}

/// A batch of products `out[b] = lhs[b] (m×k) · rhs[b] (k×n)`, `out` row-major per batch,
/// batches one after the other: the output layout of both `dot_general` (batch dims, lhs free
/// dims, rhs free dims) and `BatchMatMul`.
pub(crate) struct MatmulPlan {
    /// Element type of the lhs (and of the rhs for the GEMM).
    dtype: DType,
    /// Element type of the rhs.
    rhs_dtype: DType,
    /// Element type of the output.
    out_dtype: DType,
    m: usize,
    k: usize,
    n: usize,
    batches: Vec<Batch>,
    /// Offsets of lhs rows (`m`) and columns (`k`) relative to the batch offset.
    lhs_rows: Vec<usize>,
    lhs_cols: Vec<usize>,
    /// Offsets of rhs rows (`k`) and columns (`n`) relative to the batch offset.
    rhs_rows: Vec<usize>,
    rhs_cols: Vec<usize>,
    /// Row stride when every lhs matrix is a plain row-major f32 matrix (unit column step):
    /// the GEMM then reads it without packing.
    lhs_row_stride: Option<usize>,
    /// The rhs packed at load when it is constant (one per distinct rhs batch), else empty.
    packed_rhs: Vec<PackedB>,
}

/// Offsets of every index combination of `list` (dims of a tensor with `dims` and row-major
/// `strides`), the last listed dim varying fastest.
fn offset_table(dims: &[usize], list: &[usize], strides: &[usize]) -> Result<Vec<usize>> {
    let sizes: Vec<usize> = list.iter().map(|&d| dims[d]).collect();
    let n = crate::ir::Shape::new(&sizes).num_elements()?;
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| too_large!("matrix product offset tables"))?;
    for i in 0..n {
        let mut rem = i;
        let mut off = 0;
        for (j, &d) in list.iter().enumerate().rev() {
            off += (rem % sizes[j]) * strides[d];
            rem /= sizes[j];
        }
        v.push(off);
    }
    Ok(v)
}

/// `0, step, 2·step, ..` (`len` entries).
fn stepped(len: usize, step: usize) -> Result<Vec<usize>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| too_large!("matrix product offset tables"))?;
    v.extend((0..len).map(|i| i * step));
    Ok(v)
}

fn is_float(d: DType) -> bool {
    matches!(d, DType::F32 | DType::F16 | DType::BF16)
}

/// True when the product runs the plain loop ([`run_reference`]): integer or f64 types.
fn needs_reference(l: DType, r: DType, o: DType) -> bool {
    [l, r, o].iter().any(|d| d.is_int() || *d == DType::F64)
}

/// Checks the operand and output dtypes: both operands of one float type and a float output
/// (the GEMM), integer operands and an integer output, or floats with f64 somewhere.
fn check_dtypes(what: &str, l: &TensorInfo, r: &TensorInfo, o: &TensorInfo) -> Result<()> {
    let ints = l.dtype.is_int() && r.dtype.is_int() && o.dtype.is_int();
    let floats = l.dtype.is_float() && r.dtype.is_float() && o.dtype.is_float();
    let gemm = l.dtype == r.dtype && is_float(l.dtype) && is_float(o.dtype);
    if !(ints || gemm || (floats && needs_reference(l.dtype, r.dtype, o.dtype))) {
        return Err(unsupported!(
            "{what} on {} x {} -> {}",
            l.dtype,
            r.dtype,
            o.dtype
        ));
    }
    Ok(())
}

impl MatmulPlan {
    /// Finishes a plan from its tables: detects a plain lhs, packs a constant rhs, and
    /// returns it with the scratch bytes its runs need.
    #[allow(clippy::too_many_arguments)]
    fn prepare(
        graph: &Graph,
        (l, r, o): (&TensorInfo, &TensorInfo, &TensorInfo),
        batches: Vec<Batch>,
        rhs_batches: &[usize],
        lhs_rows: Vec<usize>,
        lhs_cols: Vec<usize>,
        rhs_rows: Vec<usize>,
        rhs_cols: Vec<usize>,
    ) -> Result<(Prepared, usize)> {
        let (m, k, n) = (lhs_rows.len(), lhs_cols.len(), rhs_cols.len());
        let mut plan = MatmulPlan {
            dtype: l.dtype,
            rhs_dtype: r.dtype,
            out_dtype: o.dtype,
            m,
            k,
            n,
            batches,
            lhs_rows,
            lhs_cols,
            rhs_rows,
            rhs_cols,
            lhs_row_stride: None,
            packed_rhs: Vec::new(),
        };
        if needs_reference(l.dtype, r.dtype, o.dtype) {
            return Ok((Prepared::Matmul(alloc::boxed::Box::new(plan)), 0));
        }
        let unit_cols = plan.lhs_cols.iter().enumerate().all(|(p, &c)| c == p);
        let row_step = if m > 1 { plan.lhs_rows[1] } else { k };
        let even_rows = plan
            .lhs_rows
            .iter()
            .enumerate()
            .all(|(i, &r)| r == i * row_step);
        plan.lhs_row_stride =
            (l.dtype == DType::F32 && unit_cols && even_rows && row_step >= k).then_some(row_step);
        if let TensorKind::Constant(c) = r.kind {
            let bytes = graph.constant_bytes(c);
            let (rows, cols) = (&plan.rhs_rows, &plan.rhs_cols);
            plan.packed_rhs
                .try_reserve_exact(rhs_batches.len())
                .map_err(|_| too_large!("packed matrix product weights"))?;
            for &base in rhs_batches {
                let packed = match r.dtype {
                    DType::F32 => pack_constant::<f32>(bytes, base, rows, cols)?,
                    DType::F16 => pack_constant::<f16>(bytes, base, rows, cols)?,
                    _ => pack_constant::<bf16>(bytes, base, rows, cols)?,
                };
                plan.packed_rhs.push(packed);
            }
        }
        let mut floats = if plan.packed_rhs.is_empty() {
            gemm::gemm_unpacked_scratch_len(m, k, n)
        } else {
            gemm::scratch_len(m, k)
        };
        if o.dtype != DType::F32 {
            // One batch's f32 result before rounding to the output dtype.
            floats = m
                .checked_mul(n)
                .and_then(|mn| mn.checked_add(floats))
                .ok_or_else(|| too_large!("matrix product scratch"))?;
        }
        let scratch = floats
            .checked_mul(4)
            .ok_or_else(|| too_large!("matrix product scratch"))?;
        Ok((Prepared::Matmul(alloc::boxed::Box::new(plan)), scratch))
    }
}

fn pack_constant<T: GemmElement + bytemuck::Pod>(
    bytes: &[u8],
    base: usize,
    rows: &[usize],
    cols: &[usize],
) -> Result<PackedB> {
    let data: &[T] =
        bytemuck::try_cast_slice(bytes).map_err(|e| invalid!("matrix product weights: {e:?}"))?;
    Ok(PackedB::from_gather(
        &GatherMatrix::new(data, base, rows, cols)?,
        None,
    )?)
}

/// Plans a StableHLO `dot_general`.
pub(super) fn prepare_dot_general(
    graph: &Graph,
    sg: &Subgraph,
    node: &Node,
    a: &DotGeneralAttrs,
) -> Result<(Prepared, usize)> {
    let l = info(sg, node, 0)?;
    let r = info(sg, node, 1)?;
    let o = out_info(sg, node, 0)?;
    check_dtypes("dot_general", l, r, o)?;
    let (ld, rd) = (l.shape.dims(), r.shape.dims());
    if a.lhs_batch.len() != a.rhs_batch.len() || a.lhs_contract.len() != a.rhs_contract.len() {
        return Err(invalid!("dot_general dimension lists differ in length"));
    }
    for (list, rank) in [
        (&a.lhs_batch, ld.len()),
        (&a.lhs_contract, ld.len()),
        (&a.rhs_batch, rd.len()),
        (&a.rhs_contract, rd.len()),
    ] {
        if let Some(d) = list.iter().find(|&&d| d >= rank) {
            return Err(invalid!(
                "dot_general dimension {d} out of range for rank {rank}"
            ));
        }
    }
    let mut used_l = alloc::vec![false; ld.len()];
    let mut used_r = alloc::vec![false; rd.len()];
    for (&x, &y) in a
        .lhs_batch
        .iter()
        .zip(&a.rhs_batch)
        .chain(a.lhs_contract.iter().zip(&a.rhs_contract))
    {
        if ld[x] != rd[y] || used_l[x] || used_r[y] {
            return Err(invalid!(
                "dot_general pairs dims {x} and {y} of sizes {} and {}",
                ld[x],
                rd[y]
            ));
        }
        used_l[x] = true;
        used_r[y] = true;
    }
    let lfree: Vec<usize> = (0..ld.len()).filter(|&d| !used_l[d]).collect();
    let rfree: Vec<usize> = (0..rd.len()).filter(|&d| !used_r[d]).collect();
    let mut want: Vec<usize> = a.lhs_batch.iter().map(|&d| ld[d]).collect();
    want.extend(lfree.iter().map(|&d| ld[d]));
    want.extend(rfree.iter().map(|&d| rd[d]));
    if want != o.shape.dims() {
        return Err(invalid!(
            "dot_general output should be {want:?}, is {}",
            o.shape
        ));
    }
    let (lst, rst) = (util::strides(ld), util::strides(rd));
    let lb = offset_table(ld, &a.lhs_batch, &lst)?;
    let rb = offset_table(rd, &a.rhs_batch, &rst)?;
    let batches = lb
        .iter()
        .zip(&rb)
        .enumerate()
        .map(|(i, (&lhs, &rhs))| Batch {
            lhs,
            rhs,
            packed: i,
        })
        .collect();
    MatmulPlan::prepare(
        graph,
        (l, r, o),
        batches,
        &rb,
        offset_table(ld, &lfree, &lst)?,
        offset_table(ld, &a.lhs_contract, &lst)?,
        offset_table(rd, &a.rhs_contract, &rst)?,
        offset_table(rd, &rfree, &rst)?,
    )
}

/// Plans `x[..., m, k] · y[..., k, n]` (either operand optionally transposed: `adj_x`,
/// `adj_y`) over numpy-broadcast batch dims.
pub(super) fn prepare_batch_matmul(
    graph: &Graph,
    sg: &Subgraph,
    node: &Node,
    adj_x: bool,
    adj_y: bool,
) -> Result<(Prepared, usize)> {
    let x = info(sg, node, 0)?;
    let y = info(sg, node, 1)?;
    let o = out_info(sg, node, 0)?;
    check_dtypes("batch matmul", x, y, o)?;
    let (xd, yd) = (x.shape.dims(), y.shape.dims());
    if xd.len() < 2 || yd.len() < 2 {
        return Err(invalid!("batch matmul operands must have rank >= 2"));
    }
    let (xr, xc) = (xd[xd.len() - 2], xd[xd.len() - 1]);
    let (yr, yc) = (yd[yd.len() - 2], yd[yd.len() - 1]);
    let (m, k) = if adj_x { (xc, xr) } else { (xr, xc) };
    let (k2, n) = if adj_y { (yc, yr) } else { (yr, yc) };
    if k != k2 {
        return Err(invalid!("batch matmul contracts {k} with {k2}"));
    }
    let (xb, yb) = (&xd[..xd.len() - 2], &yd[..yd.len() - 2]);
    let ob = util::broadcast_shapes(xb, yb)
        .ok_or_else(|| invalid!("batch dims {xb:?} and {yb:?} do not broadcast"))?;
    let mut want = ob.clone();
    want.extend([m, n]);
    if want != o.shape.dims() {
        return Err(invalid!(
            "batch matmul output should be {want:?}, is {}",
            o.shape
        ));
    }
    let bc = util::Bcast::new(&[xb, yb], &ob)?;
    let (xs, ys) = (xr * xc, yr * yc);
    let mut batches = Vec::new();
    batches
        .try_reserve_exact(bc.len)
        .map_err(|_| too_large!("batch matmul batches"))?;
    bc.for_each(|_, [ix, iy]| {
        batches.push(Batch {
            lhs: ix * xs,
            rhs: iy * ys,
            packed: iy,
        })
    });
    let y_batches = crate::ir::Shape::new(yb).num_elements()?;
    let rhs_batches = stepped(y_batches, ys)?;
    // Element (i, p) of x is at i*xc + p, or p*xc + i when adjoint; likewise for y.
    let (x_row, x_col) = if adj_x { (1, xc) } else { (xc, 1) };
    let (y_row, y_col) = if adj_y { (1, yc) } else { (yc, 1) };
    MatmulPlan::prepare(
        graph,
        (x, y, o),
        batches,
        &rhs_batches,
        stepped(m, x_row)?,
        stepped(k, x_col)?,
        stepped(k, y_row)?,
        stepped(n, y_col)?,
    )
}

fn scratch_f32(s: &mut [u8]) -> Result<&mut [f32]> {
    let n = s.len() / 4 * 4;
    bytemuck::try_cast_slice_mut(&mut s[..n]).map_err(|e| invalid!("scratch: {e:?}"))
}

/// An element type matrix products read (f32, f16, bf16).
trait Operand: GemmElement + bytemuck::Pod {
    /// The slice as f32 if it is f32 (the GEMM can then read a plain lhs in place).
    fn as_f32(s: &[Self]) -> Option<&[f32]>;
}

impl Operand for f32 {
    fn as_f32(s: &[f32]) -> Option<&[f32]> {
        Some(s)
    }
}

impl Operand for f16 {
    fn as_f32(_: &[f16]) -> Option<&[f32]> {
        None
    }
}

impl Operand for bf16 {
    fn as_f32(_: &[bf16]) -> Option<&[f32]> {
        None
    }
}

/// Runs a planned matrix product.
pub(super) fn run(ctx: &Ctx<'_>, p: &MatmulPlan) -> Result<()> {
    if needs_reference(p.dtype, p.rhs_dtype, p.out_dtype) {
        return run_reference(ctx, p);
    }
    match p.dtype {
        DType::F32 => run_typed::<f32>(ctx, p),
        DType::F16 => run_typed::<f16>(ctx, p),
        DType::BF16 => run_typed::<bf16>(ctx, p),
        d => Err(invalid!("matrix product planned on {d}")),
    }
}

fn run_typed<T: Operand>(ctx: &Ctx<'_>, p: &MatmulPlan) -> Result<()> {
    let lhs = ctx.input_as::<T>(0)?;
    let rhs = ctx.input_as::<T>(1)?;
    let scratch = scratch_f32(ctx.scratch()?)?;
    let mn = p.m * p.n;
    let outputs = p.batches.len() * mn;
    match p.out_dtype {
        DType::F32 => {
            let out = ctx.output_as::<f32>(0)?;
            let out = out
                .get_mut(..outputs)
                .ok_or_else(|| invalid!("matrix product output too short"))?;
            for (batch, c) in p.batches.iter().zip(out.chunks_exact_mut(mn.max(1))) {
                multiply(p, lhs, rhs, batch, c, scratch)?;
            }
        }
        DType::F16 => run_rounded(ctx, p, lhs, rhs, scratch, f16::from_f32)?,
        DType::BF16 => run_rounded(ctx, p, lhs, rhs, scratch, bf16::from_f32)?,
        d => return Err(invalid!("matrix product planned to {d}")),
    }
    Ok(())
}

/// Integer and f64 products: `out = Σ lhs · rhs` element by element over the offset tables.
/// Integers accumulate in i64 with wrap-around and are cut to the output's width (the same
/// value as wrapping in that width); floats accumulate in f64.
fn run_reference(ctx: &Ctx<'_>, p: &MatmulPlan) -> Result<()> {
    use super::elementwise::{read_value, write_value, Value};
    let (lhs, rhs) = (ctx.input(0)?, ctx.input(1)?);
    let out = ctx.output(0)?;
    let last = |v: &[usize]| v.iter().copied().max().unwrap_or(0);
    let fits = |base: usize, a: &[usize], b: &[usize], bytes: &[u8], d: DType| {
        a.is_empty() || b.is_empty() || base + last(a) + last(b) < bytes.len() / d.size()
    };
    let outputs = p.batches.len() * p.m * p.n;
    if outputs > out.len() / p.out_dtype.size()
        || !p.batches.iter().all(|b| {
            fits(b.lhs, &p.lhs_rows, &p.lhs_cols, lhs, p.dtype)
                && fits(b.rhs, &p.rhs_rows, &p.rhs_cols, rhs, p.rhs_dtype)
        })
    {
        return Err(invalid!("matrix product operands or output too short"));
    }
    let ints = p.out_dtype.is_int();
    let mut idx = 0;
    for b in &p.batches {
        for &li in &p.lhs_rows {
            for &rj in &p.rhs_cols {
                let (mut acc_i, mut acc_f) = (0i64, 0f64);
                for (&lk, &rk) in p.lhs_cols.iter().zip(&p.rhs_rows) {
                    let x = read_value(p.dtype, lhs, b.lhs + li + lk);
                    let y = read_value(p.rhs_dtype, rhs, b.rhs + rk + rj);
                    match (x, y) {
                        (Value::Int(x), Value::Int(y)) => {
                            acc_i = acc_i.wrapping_add((x as i64).wrapping_mul(y as i64))
                        }
                        (Value::Float(x), Value::Float(y)) => acc_f += x * y,
                        _ => return Err(invalid!("matrix product mixes integers and floats")),
                    }
                }
                let v = if ints {
                    Value::Int(i128::from(acc_i))
                } else {
                    Value::Float(acc_f)
                };
                write_value(p.out_dtype, out, idx, v);
                idx += 1;
            }
        }
    }
    Ok(())
}

/// Runs each product into f32 scratch, then rounds it into the f16 / bf16 output.
fn run_rounded<T: Operand, O: bytemuck::Pod>(
    ctx: &Ctx<'_>,
    p: &MatmulPlan,
    lhs: &[T],
    rhs: &[T],
    scratch: &mut [f32],
    round: impl Fn(f32) -> O,
) -> Result<()> {
    let mn = p.m * p.n;
    let out = ctx.output_as::<O>(0)?;
    let out = out
        .get_mut(..p.batches.len() * mn)
        .ok_or_else(|| invalid!("matrix product output too short"))?;
    if scratch.len() < mn {
        return Err(invalid!("matrix product scratch too short"));
    }
    let (c, rest) = scratch.split_at_mut(mn);
    for (batch, o) in p.batches.iter().zip(out.chunks_exact_mut(mn.max(1))) {
        multiply(p, lhs, rhs, batch, c, rest)?;
        for (o, &v) in o.iter_mut().zip(c.iter()) {
            *o = round(v);
        }
    }
    Ok(())
}

/// One product of the batch into `c` (`m × n`, row-major).
fn multiply<T: Operand>(
    p: &MatmulPlan,
    lhs: &[T],
    rhs: &[T],
    batch: &Batch,
    c: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    match (p.lhs_row_stride, T::as_f32(lhs)) {
        (Some(lda), Some(l)) => {
            let a = l
                .get(batch.lhs..)
                .ok_or_else(|| invalid!("matrix product lhs too short"))?;
            with_lhs(p, &MatrixA::new(a, p.m, p.k, lda)?, rhs, batch, c, scratch)
        }
        _ => {
            let a = GatherMatrix::new(lhs, batch.lhs, &p.lhs_rows, &p.lhs_cols)?;
            with_lhs(p, &a, rhs, batch, c, scratch)
        }
    }
}

fn with_lhs<S: ASource, T: Operand>(
    p: &MatmulPlan,
    a: &S,
    rhs: &[T],
    batch: &Batch,
    c: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    let isa = Isa::detect();
    match p.packed_rhs.get(batch.packed) {
        Some(b) => gemm::gemm_source(isa, a, b, NO_CLAMP, c, p.n, scratch)?,
        None => {
            let b = GatherMatrix::new(rhs, batch.rhs, &p.rhs_rows, &p.rhs_cols)?;
            gemm::gemm_gather_b(isa, a, &b, NO_CLAMP, c, p.n, scratch)?
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc::string::String;
    use alloc::vec;

    use super::*;
    use crate::executor::kernels::testutil::{assert_close, Rng};
    use crate::executor::Model;
    use crate::ir::{AlignedBuf, Constant, Op, Shape, TensorData};

    fn tensor(name: &str, dtype: DType, dims: &[usize], kind: TensorKind) -> TensorInfo {
        TensorInfo {
            name: String::from(name),
            dtype,
            shape: Shape::new(dims),
            quant: None,
            kind,
        }
    }

    /// A one-node graph `out = op(lhs, rhs)`; the rhs is a constant when `rhs_const` is given.
    fn graph(
        op: Op,
        dtype: DType,
        (ld, rd, od): (&[usize], &[usize], &[usize]),
        rhs_const: Option<&[u8]>,
    ) -> Graph {
        let mut g = Graph::default();
        let rkind = match rhs_const {
            Some(bytes) => {
                g.constants
                    .push(Constant::Owned(AlignedBuf::copy_from(bytes).unwrap()));
                TensorKind::Constant(0)
            }
            None => TensorKind::Activation,
        };
        let sg = Subgraph {
            name: String::from("main"),
            tensors: vec![
                tensor("lhs", dtype, ld, TensorKind::Activation),
                tensor("rhs", dtype, rd, rkind),
                tensor("out", dtype, od, TensorKind::Activation),
            ],
            inputs: if rhs_const.is_some() {
                vec![0]
            } else {
                vec![0, 1]
            },
            outputs: vec![2],
            nodes: vec![Node {
                op,
                inputs: vec![Some(0), Some(1)],
                outputs: vec![2],
            }],
        };
        g.subgraphs.push(sg);
        g
    }

    /// Row-major linear index of `idx` in `dims`.
    fn linear(dims: &[usize], idx: &[usize]) -> usize {
        dims.iter().zip(idx).fold(0, |acc, (&d, &i)| acc * d + i)
    }

    /// Every index of `dims`, row-major order.
    fn indices(dims: &[usize]) -> Vec<Vec<usize>> {
        let n: usize = dims.iter().product();
        (0..n)
            .map(|mut i| {
                let mut idx = vec![0; dims.len()];
                for d in (0..dims.len()).rev() {
                    idx[d] = i % dims[d];
                    i /= dims[d];
                }
                idx
            })
            .collect()
    }

    /// The dot_general definition, straight from the spec (f64 accumulation): for each
    /// output index (batch, lhs free, rhs free), sum over the contracting index.
    fn reference(
        ld: &[usize],
        rd: &[usize],
        a: &DotGeneralAttrs,
        l: &[f32],
        r: &[f32],
    ) -> (Vec<usize>, Vec<f32>) {
        let lfree: Vec<usize> = (0..ld.len())
            .filter(|d| !a.lhs_batch.contains(d) && !a.lhs_contract.contains(d))
            .collect();
        let rfree: Vec<usize> = (0..rd.len())
            .filter(|d| !a.rhs_batch.contains(d) && !a.rhs_contract.contains(d))
            .collect();
        let mut od: Vec<usize> = a.lhs_batch.iter().map(|&d| ld[d]).collect();
        od.extend(lfree.iter().map(|&d| ld[d]));
        od.extend(rfree.iter().map(|&d| rd[d]));
        let kd: Vec<usize> = a.lhs_contract.iter().map(|&d| ld[d]).collect();
        let nb = a.lhs_batch.len();
        let mut out = Vec::new();
        for oi in indices(&od) {
            let mut li = vec![0; ld.len()];
            let mut ri = vec![0; rd.len()];
            for (j, (&x, &y)) in a.lhs_batch.iter().zip(&a.rhs_batch).enumerate() {
                li[x] = oi[j];
                ri[y] = oi[j];
            }
            for (j, &x) in lfree.iter().enumerate() {
                li[x] = oi[nb + j];
            }
            for (j, &y) in rfree.iter().enumerate() {
                ri[y] = oi[nb + lfree.len() + j];
            }
            let mut acc = 0.0f64;
            for ki in indices(&kd) {
                for (j, (&x, &y)) in a.lhs_contract.iter().zip(&a.rhs_contract).enumerate() {
                    li[x] = ki[j];
                    ri[y] = ki[j];
                }
                acc += l[linear(ld, &li)] as f64 * r[linear(rd, &ri)] as f64;
            }
            out.push(acc as f32);
        }
        (od, out)
    }

    /// Runs `op` on random operands in every dtype, with the rhs given at run time and as a
    /// constant, both ISAs' GEMMs being exercised through `Isa::detect`.
    fn check(
        op: Op,
        ld: &[usize],
        rd: &[usize],
        want: impl Fn(&[f32], &[f32]) -> (Vec<usize>, Vec<f32>),
    ) {
        let mut rng = Rng::new(ld.iter().chain(rd).sum::<usize>() as u64);
        let l = rng.vec_f32(ld.iter().product());
        let r = rng.vec_f32(rd.iter().product());
        for dtype in [DType::F32, DType::F16, DType::BF16] {
            // Operands as the dtype stores them, and the values they round to.
            let conv = |v: &[f32]| -> (Vec<u8>, Vec<f32>) {
                match dtype {
                    DType::F16 => {
                        let h: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
                        (
                            bytemuck::cast_slice(&h).to_vec(),
                            h.iter().map(|x| x.to_f32()).collect(),
                        )
                    }
                    DType::BF16 => {
                        let h: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
                        (
                            bytemuck::cast_slice(&h).to_vec(),
                            h.iter().map(|x| x.to_f32()).collect(),
                        )
                    }
                    _ => (bytemuck::cast_slice(v).to_vec(), v.to_vec()),
                }
            };
            let (lb, lv) = conv(&l);
            let (rb, rv) = conv(&r);
            let (od, expected) = want(&lv, &rv);
            let tol = match dtype {
                DType::F32 => 1e-5,
                DType::F16 => 1e-3,
                _ => 8e-3,
            };
            for constant in [false, true] {
                let g = graph(
                    op.clone(),
                    dtype,
                    (ld, rd, &od),
                    constant.then_some(&rb[..]),
                );
                let mut model = Model::new(g).unwrap();
                let lhs = TensorData {
                    dtype,
                    shape: ld,
                    bytes: &lb,
                };
                let rhs = TensorData {
                    dtype,
                    shape: rd,
                    bytes: &rb,
                };
                if constant {
                    model.run(&[lhs]).unwrap();
                } else {
                    model.run(&[lhs, rhs]).unwrap();
                }
                let out = model.output(0).unwrap();
                let got: Vec<f32> = match dtype {
                    DType::F16 => bytemuck::cast_slice::<u8, f16>(out.bytes)
                        .iter()
                        .map(|x| x.to_f32())
                        .collect(),
                    DType::BF16 => bytemuck::cast_slice::<u8, bf16>(out.bytes)
                        .iter()
                        .map(|x| x.to_f32())
                        .collect(),
                    _ => bytemuck::cast_slice::<u8, f32>(out.bytes).to_vec(),
                };
                // Scale by sqrt(K)-ish growth: operands are in [-1, 1].
                let k = (lv.len().max(1) as f32).sqrt().max(1.0);
                let what = alloc::format!("{op:?} {ld:?}x{rd:?} {dtype} constant rhs {constant}");
                assert_close(&got, &expected, tol * k, &what);
            }
        }
    }

    fn dot(lb: &[usize], rb: &[usize], lc: &[usize], rc: &[usize]) -> DotGeneralAttrs {
        DotGeneralAttrs {
            lhs_batch: lb.to_vec(),
            rhs_batch: rb.to_vec(),
            lhs_contract: lc.to_vec(),
            rhs_contract: rc.to_vec(),
        }
    }

    fn check_dot(ld: &[usize], rd: &[usize], a: DotGeneralAttrs) {
        check(Op::DotGeneral(a.clone()), ld, rd, |l, r| {
            reference(ld, rd, &a, l, r)
        });
    }

    #[test]
    fn dot_general_plain_and_transposed_operands() {
        // K = 300 (> one 256 K block, not a multiple of it), M = 7 and N = 33: edge tiles.
        check_dot(&[7, 300], &[300, 33], dot(&[], &[], &[1], &[0]));
        // Transposed lhs (contracting dim first), transposed rhs, both.
        check_dot(&[300, 7], &[300, 33], dot(&[], &[], &[0], &[0]));
        check_dot(&[7, 300], &[33, 300], dot(&[], &[], &[1], &[1]));
        check_dot(&[300, 13], &[17, 300], dot(&[], &[], &[0], &[1]));
        // Full tiles only, and one row / one column.
        check_dot(&[12, 16], &[16, 32], dot(&[], &[], &[1], &[0]));
        check_dot(&[1, 5], &[5, 1], dot(&[], &[], &[1], &[0]));
    }

    #[test]
    fn dot_general_batch_and_multiple_contracting_dims() {
        // Attention-style: batch dims (0, 2), contracting the last dim of both.
        check_dot(
            &[2, 9, 3, 8],
            &[2, 10, 3, 8],
            dot(&[0, 2], &[0, 2], &[3], &[3]),
        );
        // Batch dims in different positions, contraction over a middle dim of the lhs.
        check_dot(
            &[2, 9, 3, 8],
            &[2, 3, 7, 9],
            dot(&[0, 2], &[0, 1], &[1], &[3]),
        );
        // Two contracting dims, listed out of order, with two batch dims and free dims
        // interleaved: lhs [b0=3, k1=5, m=4, b1=2, k0=6], rhs [k0=6, b1=2, n=9, k1=5, b0=3].
        check_dot(
            &[3, 5, 4, 2, 6],
            &[6, 2, 9, 5, 3],
            dot(&[0, 3], &[4, 1], &[4, 1], &[0, 3]),
        );
        // Dense layer with a 3-D kernel (Flax DenseGeneral) and its inverse.
        check_dot(&[2, 8, 32], &[32, 4, 8], dot(&[], &[], &[2], &[0]));
        check_dot(&[2, 8, 4, 8], &[4, 8, 32], dot(&[], &[], &[2, 3], &[0, 1]));
        // Bigger batched product with K past a K block and edge tiles in M and N.
        check_dot(&[2, 150, 257], &[2, 257, 40], dot(&[0], &[0], &[2], &[1]));
    }

    #[test]
    fn dot_general_degenerate_shapes() {
        // No contracting dims: an outer product.
        check_dot(&[5], &[7], dot(&[], &[], &[], &[]));
        // Empty free dim, empty contracting dim (zeros), empty batch.
        check_dot(&[0, 4], &[4, 3], dot(&[], &[], &[1], &[0]));
        check_dot(&[3, 0], &[0, 5], dot(&[], &[], &[1], &[0]));
        check_dot(&[0, 2, 3], &[0, 3, 4], dot(&[0], &[0], &[2], &[1]));
    }

    #[test]
    fn batch_matmul_adjoints_and_broadcast() {
        for (adj_x, adj_y) in [(false, false), (true, false), (false, true), (true, true)] {
            let (m, k, n) = (7, 19, 18);
            let xd = if adj_x { [2, 1, k, m] } else { [2, 1, m, k] };
            let yd = if adj_y { [3, n, k] } else { [3, k, n] };
            let want = |x: &[f32], y: &[f32]| {
                let mut out = Vec::new();
                for b0 in 0..2 {
                    for b1 in 0..3 {
                        for i in 0..m {
                            for j in 0..n {
                                let mut acc = 0.0f64;
                                for p in 0..k {
                                    let xv = if adj_x {
                                        x[b0 * k * m + p * m + i]
                                    } else {
                                        x[b0 * m * k + i * k + p]
                                    };
                                    let yv = if adj_y {
                                        y[b1 * n * k + j * k + p]
                                    } else {
                                        y[b1 * k * n + p * n + j]
                                    };
                                    acc += xv as f64 * yv as f64;
                                }
                                out.push(acc as f32);
                            }
                        }
                    }
                }
                (vec![2, 3, m, n], out)
            };
            check(Op::BatchMatMul { adj_x, adj_y }, &xd, &yd, want);
        }
    }

    /// Runs a one-node integer dot_general `lhs (l) · rhs (r) -> out (o)` and returns the
    /// output bytes.
    fn run_int_dot(
        (l, r, o): (DType, DType, DType),
        (ld, rd, od): (&[usize], &[usize], &[usize]),
        a: DotGeneralAttrs,
        lhs: &[u8],
        rhs: &[u8],
    ) -> Vec<u8> {
        let mut g = graph(Op::DotGeneral(a), l, (ld, rd, od), None);
        g.subgraphs[0].tensors[1].dtype = r;
        g.subgraphs[0].tensors[2].dtype = o;
        let mut m = Model::new(g).unwrap();
        m.run(&[
            TensorData {
                dtype: l,
                shape: ld,
                bytes: lhs,
            },
            TensorData {
                dtype: r,
                shape: rd,
                bytes: rhs,
            },
        ])
        .unwrap();
        m.output(0).unwrap().bytes.to_vec()
    }

    #[test]
    fn integer_dot_general_accumulates_in_the_result_type_with_wrap() {
        // i8 x i8 -> i32 (jnp.dot(..., preferred_element_type=int32)): no wrap in i8.
        let l: Vec<u8> = [127i8, -128, 5, 1, 2, 3].iter().map(|v| *v as u8).collect();
        let r: Vec<u8> = [127i8, 1, -128, 2, 3, -1]
            .iter()
            .map(|v| *v as u8)
            .collect();
        let got = run_int_dot(
            (DType::I8, DType::I8, DType::I32),
            (&[2, 3], &[3, 2], &[2, 2]),
            dot(&[], &[], &[1], &[0]),
            &l,
            &r,
        );
        let want: Vec<u8> = [32528i32, -134, -120, 2]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(got, want);
        // i32: MAX·2 + 1·3 wraps to 1; contracting the lhs's dim 0 (transposed operand).
        let l: Vec<u8> = [i32::MAX, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let r: Vec<u8> = [2i32, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
        let got = run_int_dot(
            (DType::I32, DType::I32, DType::I32),
            (&[2, 1], &[2], &[1]),
            dot(&[], &[], &[0], &[0]),
            &l,
            &r,
        );
        assert_eq!(got, 1i32.to_le_bytes());
        // u8: 200·2 = 400 wraps to 144.
        let got = run_int_dot(
            (DType::U8, DType::U8, DType::U8),
            (&[1, 1], &[1, 1], &[1, 1]),
            dot(&[], &[], &[1], &[0]),
            &[200],
            &[2],
        );
        assert_eq!(got, [144]);
    }

    #[test]
    fn dot_general_rejects_bad_dimension_numbers() {
        let bad = [
            dot(&[], &[], &[2], &[0]),       // dim out of range
            dot(&[0], &[], &[1], &[0]),      // list lengths differ
            dot(&[], &[], &[0], &[0]),       // sizes differ (3 vs 4)
            dot(&[], &[], &[1, 1], &[0, 0]), // a dim used twice
        ];
        for a in bad {
            let g = graph(
                Op::DotGeneral(a.clone()),
                DType::F32,
                (&[3, 4], &[4, 5], &[3, 5]),
                None,
            );
            assert!(Model::new(g).is_err(), "{a:?} accepted");
        }
        // Wrong output shape.
        let g = graph(
            Op::DotGeneral(dot(&[], &[], &[1], &[0])),
            DType::F32,
            (&[3, 4], &[4, 5], &[5, 3]),
            None,
        );
        assert!(Model::new(g).is_err());
    }
}

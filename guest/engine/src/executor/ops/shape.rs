//! Data-movement ops: reshape, transpose, concat, split, slice, pad, gather, tile, broadcast,
//! depth/space rearrangements, iota. They work on raw elements of any dtype.

use alloc::vec::Vec;

use super::util::for_each_index;
use super::util::{input_info as info, output_info as out_info};
use super::util::{same_dtype, same_quant, strides, Bcast, MAX_RANK};
use super::Prepared;
use crate::error::Result;
use crate::executor::Ctx;
use crate::ir::{DType, Node, PadMode, Subgraph, TensorInfo};
use crate::{invalid, unsupported};

/// Visits every index of `dims` in row-major order.
fn check_rank(r: usize) -> Result<()> {
    if r > MAX_RANK {
        return Err(unsupported!("rank {r} (max {MAX_RANK})"));
    }
    Ok(())
}

// ---------------------------------------------------------------- identity / reshape

pub(super) fn prepare_reshape(sg: &Subgraph, node: &Node) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    same_quant(x, y)?;
    if x.shape.num_elements()? != y.shape.num_elements()? {
        return Err(invalid!(
            "reshape from {} to {} changes the element count",
            x.shape,
            y.shape
        ));
    }
    Ok(Prepared::None)
}

pub(super) fn run_copy(ctx: &Ctx<'_>) -> Result<()> {
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    if x.len() != y.len() {
        return Err(invalid!("copy of {} bytes into {}", x.len(), y.len()));
    }
    y.copy_from_slice(x);
    Ok(())
}

// ---------------------------------------------------------------- transpose

pub(super) fn prepare_transpose(sg: &Subgraph, node: &Node, perm: &[usize]) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    same_quant(x, y)?;
    let r = x.shape.rank();
    check_rank(r)?;
    let mut seen = [false; MAX_RANK];
    if y.shape.rank() != r {
        return Err(invalid!(
            "transpose output {} has rank {}, input {r}",
            y.shape,
            y.shape.rank()
        ));
    }
    if perm.len() != r {
        return Err(invalid!("permutation {perm:?} for rank {r}"));
    }
    for (i, &p) in perm.iter().enumerate() {
        if p >= r || seen[p] {
            return Err(invalid!("{perm:?} is not a permutation"));
        }
        seen[p] = true;
        if y.shape.dims()[i] != x.shape.dims()[p] {
            return Err(invalid!(
                "transpose output {} does not match input {} permuted by {perm:?}",
                y.shape,
                x.shape
            ));
        }
    }
    Ok(Prepared::Bcast(Bcast::permuted(x.shape.dims(), perm)?))
}

/// Runs a transpose planned as a read of the input through permuted strides.
pub(super) fn run_transpose(ctx: &Ctx<'_>, prepared: &Prepared) -> Result<()> {
    let Prepared::Bcast(plan) = prepared else {
        return Err(invalid!("transpose not prepared"));
    };
    gather_rows(ctx, plan)
}

// ---------------------------------------------------------------- concat / split

pub(super) fn prepare_concat(sg: &Subgraph, node: &Node, axis: usize) -> Result<Prepared> {
    let y = out_info(sg, node, 0)?;
    let parts = (0..node.inputs.len()).map(|k| info(sg, node, k));
    check_parts_along_axis("concat", true, y, parts, axis)?;
    Ok(Prepared::None)
}

/// Checks the parts of a concat (its inputs) or of a split (its outputs) against the whole
/// tensor: same dtype, quantization and rank, equal dims off `axis`, and sizes along `axis` that
/// add up (overflow-checked) to the whole's.
fn check_parts_along_axis<'a>(
    op: &str,
    parts_are_inputs: bool,
    whole: &TensorInfo,
    parts: impl Iterator<Item = Result<&'a TensorInfo>>,
    axis: usize,
) -> Result<()> {
    let (part_word, whole_word) = if parts_are_inputs {
        ("input", "output")
    } else {
        ("output", "input")
    };
    let r = whole.shape.rank();
    if axis >= r {
        return Err(invalid!("{op} axis {axis} for rank {r}"));
    }
    let mut total = 0usize;
    for (k, part) in parts.enumerate() {
        let part = part?;
        if parts_are_inputs {
            same_dtype(part, whole)?;
            same_quant(part, whole)?;
        } else {
            same_dtype(whole, part)?;
            same_quant(whole, part)?;
        }
        if part.shape.rank() != r {
            return Err(invalid!(
                "{op} {part_word} {k} has rank {}, {whole_word} {r}",
                part.shape.rank()
            ));
        }
        for d in 0..r {
            if d != axis && part.shape.dims()[d] != whole.shape.dims()[d] {
                return Err(invalid!(
                    "{op} {part_word} {k} shape {} does not fit {whole_word} {}",
                    part.shape,
                    whole.shape
                ));
            }
        }
        total = total
            .checked_add(part.shape.dims()[axis])
            .ok_or_else(|| invalid!("{op} size overflows"))?;
    }
    if total != whole.shape.dims()[axis] {
        return Err(invalid!(
            "{op} {part_word}s sum to {total} along axis {axis}, {whole_word} has {}",
            whole.shape.dims()[axis]
        ));
    }
    Ok(())
}

pub(super) fn run_concat(ctx: &Ctx<'_>, axis: usize, act: crate::ir::Activation) -> Result<()> {
    let yi = ctx.out_info(0)?;
    let es = yi.dtype.size();
    let dims = yi.shape.dims();
    let outer: usize = dims[..axis].iter().product();
    let inner: usize = dims[axis + 1..].iter().product::<usize>() * es;
    let y = ctx.output(0)?;
    let out_row = dims[axis] * inner;
    let mut col = 0usize;
    for k in 0..ctx.num_inputs() {
        let xi = ctx.in_info(k)?;
        let x = ctx.input(k)?;
        let row = xi.shape.dims()[axis] * inner;
        for o in 0..outer {
            let src = x
                .get(o * row..(o + 1) * row)
                .ok_or_else(|| invalid!("concat input too short"))?;
            let start = o * out_row + col;
            y.get_mut(start..start + row)
                .ok_or_else(|| invalid!("concat output too short"))?
                .copy_from_slice(src);
        }
        col += row;
    }
    if act != crate::ir::Activation::None {
        if yi.dtype != DType::F32 {
            return Err(unsupported!("fused activation on quantized concat"));
        }
        let v: &mut [f32] = bytemuck::try_cast_slice_mut(y).map_err(|e| invalid!("{e:?}"))?;
        for e in v {
            *e = super::util::apply_activation_f32(act, *e);
        }
    }
    Ok(())
}

pub(super) fn prepare_split(sg: &Subgraph, node: &Node, axis: usize) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let parts = (0..node.outputs.len()).map(|k| out_info(sg, node, k));
    check_parts_along_axis("split", false, x, parts, axis)?;
    Ok(Prepared::None)
}

pub(super) fn run_split(ctx: &Ctx<'_>, axis: usize) -> Result<()> {
    let xi = ctx.in_info(0)?;
    let es = xi.dtype.size();
    let dims = xi.shape.dims();
    let outer: usize = dims[..axis].iter().product();
    let inner: usize = dims[axis + 1..].iter().product::<usize>() * es;
    let x = ctx.input(0)?;
    let in_row = dims[axis] * inner;
    let mut col = 0usize;
    for k in 0..ctx.num_outputs() {
        let yi = ctx.out_info(k)?;
        let y = ctx.output(k)?;
        let row = yi.shape.dims()[axis] * inner;
        for o in 0..outer {
            let start = o * in_row + col;
            let src = x
                .get(start..start + row)
                .ok_or_else(|| invalid!("split input too short"))?;
            y.get_mut(o * row..(o + 1) * row)
                .ok_or_else(|| invalid!("split output too short"))?
                .copy_from_slice(src);
        }
        col += row;
    }
    Ok(())
}

// ---------------------------------------------------------------- slice

pub(super) fn prepare_slice(
    sg: &Subgraph,
    node: &Node,
    begin: &[usize],
    stride: &[isize],
    slice_shape: &[usize],
) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    same_quant(x, y)?;
    let r = x.shape.rank();
    check_rank(r)?;
    if begin.len() != r || stride.len() != r || slice_shape.len() != r {
        return Err(invalid!("slice attributes do not match rank {r}"));
    }
    let n = crate::ir::Shape::new(slice_shape).num_elements()?;
    if n != y.shape.num_elements()? {
        return Err(invalid!(
            "slice of shape {slice_shape:?} does not fill output {}",
            y.shape
        ));
    }
    if n > 0 {
        for d in 0..r {
            let dim = x.shape.dims()[d] as i128;
            let first = begin[d] as i128;
            let last = first + (slice_shape[d] as i128 - 1) * stride[d] as i128;
            if first >= dim || last < 0 || last >= dim {
                return Err(invalid!("slice along dim {d} reads outside 0..{dim}"));
            }
        }
    }
    Ok(Prepared::None)
}

pub(super) fn run_slice(
    ctx: &Ctx<'_>,
    begin: &[usize],
    stride: &[isize],
    slice_shape: &[usize],
) -> Result<()> {
    let xi = ctx.in_info(0)?;
    let es = xi.dtype.size();
    let st = strides(xi.shape.dims());
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    let mut o = 0usize;
    let mut err = false;
    for_each_index(slice_shape, |idx| {
        let mut off: isize = 0;
        for d in 0..idx.len() {
            off += (begin[d] as isize + idx[d] as isize * stride[d]) * st[d] as isize;
        }
        let s = off as usize * es;
        match (x.get(s..s + es), y.get_mut(o..o + es)) {
            (Some(a), Some(b)) => b.copy_from_slice(a),
            _ => err = true,
        }
        o += es;
    });
    if err {
        return Err(invalid!("slice index out of range"));
    }
    Ok(())
}

// ---------------------------------------------------------------- pad

pub(super) fn prepare_pad(
    sg: &Subgraph,
    node: &Node,
    before: &[usize],
    after: &[usize],
    interior: &[usize],
    mode: PadMode,
) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    same_quant(x, y)?;
    let r = x.shape.rank();
    check_rank(r)?;
    if before.len() != r || after.len() != r || y.shape.rank() != r {
        return Err(invalid!(
            "padding for {} dims on a rank-{r} tensor into a rank-{} output",
            before.len(),
            y.shape.rank()
        ));
    }
    if !interior.is_empty() && (interior.len() != r || mode != PadMode::Constant) {
        return Err(invalid!(
            "interior padding for {} dims on a rank-{r} tensor in {mode:?} mode",
            interior.len()
        ));
    }
    for d in 0..r {
        let n = x.shape.dims()[d];
        let inner = interior
            .get(d)
            .and_then(|&i| i.checked_mul(n.saturating_sub(1)));
        let want = inner
            .or(interior.is_empty().then_some(0))
            .and_then(|v| v.checked_add(n))
            .and_then(|v| v.checked_add(before[d]))
            .and_then(|v| v.checked_add(after[d]));
        if want != Some(y.shape.dims()[d]) {
            return Err(invalid!(
                "padding dim {d} of {} by ({}, {}, interior {:?}) does not give {}",
                x.shape,
                before[d],
                after[d],
                interior.get(d),
                y.shape
            ));
        }
        let limit = match mode {
            PadMode::Constant => usize::MAX,
            PadMode::Reflect => n.saturating_sub(1),
            PadMode::Symmetric => n,
        };
        if before[d] > limit || after[d] > limit {
            return Err(invalid!(
                "mirror padding of ({}, {}) on a dim of {n}",
                before[d],
                after[d]
            ));
        }
    }
    if node.inputs.len() > 1 && node.inputs[1].is_some() {
        let v = info(sg, node, 1)?;
        same_dtype(v, x)?;
        if v.shape.num_elements()? != 1 {
            return Err(invalid!("pad value must be a scalar"));
        }
    }
    Ok(Prepared::None)
}

pub(super) fn run_pad(
    ctx: &Ctx<'_>,
    before: &[usize],
    interior: &[usize],
    mode: PadMode,
) -> Result<()> {
    let xi = ctx.in_info(0)?;
    let yi = ctx.out_info(0)?;
    let es = xi.dtype.size();
    let mut fill = [0u8; 8];
    if ctx.has_input(1) {
        fill[..es].copy_from_slice(
            ctx.input(1)?
                .get(..es)
                .ok_or_else(|| invalid!("pad value too short"))?,
        );
    } else if let Some(q) = &yi.quant {
        // Quantized tensors pad with the zero point (the quantized 0.0).
        let z = q.zero_point.first().copied().unwrap_or(0);
        match yi.dtype {
            DType::I8 | DType::U8 => fill[0] = z as u8,
            DType::I16 => fill[..2].copy_from_slice(&(z as i16).to_le_bytes()),
            _ => {}
        }
    }
    let in_dims = xi.shape.dims();
    let st = strides(in_dims);
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    if mode == PadMode::Constant {
        return pad_constant(
            x,
            y,
            in_dims,
            yi.shape.dims(),
            before,
            interior,
            &fill[..es],
        );
    }
    let mut o = 0usize;
    let mut err = false;
    for_each_index(yi.shape.dims(), |idx| {
        let mut off = 0usize;
        let mut inside = true;
        for d in 0..idx.len() {
            let n = in_dims[d] as isize;
            let mut i = idx[d] as isize - before[d] as isize;
            if let Some(&gap) = interior.get(d).filter(|&&g| g > 0) {
                // Every (gap + 1)-th element past the low padding is an input element.
                let step = gap as isize + 1;
                if i >= 0 && i % step != 0 {
                    inside = false;
                    break;
                }
                i = if i < 0 { i } else { i / step };
            }
            if i < 0 || i >= n {
                match mode {
                    PadMode::Constant => {
                        inside = false;
                        break;
                    }
                    PadMode::Reflect => i = if i < 0 { -i } else { 2 * (n - 1) - i },
                    PadMode::Symmetric => i = if i < 0 { -i - 1 } else { 2 * n - 1 - i },
                }
            }
            off += i as usize * st[d];
        }
        let dst = match y.get_mut(o..o + es) {
            Some(d) => d,
            None => {
                err = true;
                return;
            }
        };
        if inside {
            match x.get(off * es..off * es + es) {
                Some(s) => dst.copy_from_slice(s),
                None => err = true,
            }
        } else {
            dst.copy_from_slice(&fill[..es]);
        }
        o += es;
    });
    if err {
        return Err(invalid!("pad index out of range"));
    }
    Ok(())
}

/// Copies the `N`-byte elements of `src` to every `step`-th `N`-byte element of `dst`.
#[inline]
fn strided_copy<const N: usize>(src: &[u8], dst: &mut [u8], step: usize) {
    for (k, v) in src.chunks_exact(N).enumerate() {
        let o = k * step * N;
        let d: &mut [u8; N] = (&mut dst[o..o + N])
            .try_into()
            .unwrap_or_else(|_| unreachable!());
        *d = v.try_into().unwrap_or_else(|_| unreachable!());
    }
}

/// Constant padding: the output is filled with `fill`, then each input row (innermost dim) is
/// copied to its place, contiguously or `interior + 1` elements apart.
fn pad_constant(
    x: &[u8],
    y: &mut [u8],
    in_dims: &[usize],
    out_dims: &[usize],
    before: &[usize],
    interior: &[usize],
    fill: &[u8],
) -> Result<()> {
    let es = fill.len();
    let out_len = crate::ir::Shape::new(out_dims).num_elements()? * es;
    let in_len = crate::ir::Shape::new(in_dims).num_elements()? * es;
    let (Some(y), Some(x)) = (y.get_mut(..out_len), x.get(..in_len)) else {
        return Err(invalid!("pad buffers too short"));
    };
    // Fill by doubling copies (one memmove per doubling, not one per element).
    if let Some(first) = y.get_mut(..es) {
        first.copy_from_slice(fill);
        let mut done = es;
        while done < out_len {
            let n = done.min(out_len - done);
            y.copy_within(..n, done);
            done += n;
        }
    }
    let r = in_dims.len();
    if r == 0 {
        y.copy_from_slice(x);
        return Ok(());
    }
    let ost = strides(out_dims);
    let step = |d: usize| interior.get(d).copied().unwrap_or(0) + 1;
    let row = in_dims[r - 1];
    let (row_step, row_start) = (step(r - 1), before[r - 1]);
    let mut src = 0usize;
    let mut err = false;
    for_each_index(&in_dims[..r - 1], |idx| {
        let base: usize = idx
            .iter()
            .enumerate()
            .map(|(d, &i)| (before[d] + i * step(d)) * ost[d])
            .sum::<usize>()
            + row_start;
        let s = &x[src * es..(src + row) * es];
        src += row;
        if row_step == 1 {
            match y.get_mut(base * es..(base + row) * es) {
                Some(d) => d.copy_from_slice(s),
                None => err = true,
            }
        } else {
            let last = base + (row.max(1) - 1) * row_step;
            let Some(dst) = y.get_mut(base * es..(last + 1) * es) else {
                err = true;
                return;
            };
            match es {
                4 => strided_copy::<4>(s, dst, row_step),
                2 => strided_copy::<2>(s, dst, row_step),
                8 => strided_copy::<8>(s, dst, row_step),
                1 => strided_copy::<1>(s, dst, row_step),
                _ => err = true,
            }
        }
    });
    if err {
        return Err(invalid!("pad index out of range"));
    }
    Ok(())
}

// ---------------------------------------------------------------- gather

pub(super) fn prepare_gather(
    sg: &Subgraph,
    node: &Node,
    axis: usize,
    batch_dims: usize,
) -> Result<Prepared> {
    let p = info(sg, node, 0)?;
    let i = info(sg, node, 1)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(p, y)?;
    same_quant(p, y)?;
    if !matches!(i.dtype, DType::I32 | DType::I64) {
        return Err(unsupported!("gather indices of type {}", i.dtype));
    }
    let pd = p.shape.dims();
    let id = i.shape.dims();
    if axis >= pd.len() || batch_dims > axis || batch_dims > id.len() {
        return Err(invalid!(
            "gather axis {axis} / batch_dims {batch_dims} for params {} and indices {}",
            p.shape,
            i.shape
        ));
    }
    if pd[..batch_dims] != id[..batch_dims] {
        return Err(invalid!(
            "gather batch dims of params {} and indices {} differ",
            p.shape,
            i.shape
        ));
    }
    let mut want: Vec<usize> = pd[..axis].to_vec();
    want.extend_from_slice(&id[batch_dims..]);
    want.extend_from_slice(&pd[axis + 1..]);
    if want != y.shape.dims() {
        return Err(invalid!("gather output should be {want:?}, is {}", y.shape));
    }
    Ok(Prepared::None)
}

/// Index `k` of an i32/i64/u32 index tensor.
pub(super) fn read_index(d: DType, b: &[u8], k: usize) -> Option<i64> {
    match d {
        DType::I32 => b
            .get(4 * k..4 * k + 4)
            .map(|e| i32::from_le_bytes([e[0], e[1], e[2], e[3]]) as i64),
        DType::I64 => b
            .get(8 * k..8 * k + 8)
            .map(|e| i64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]])),
        DType::U32 => b
            .get(4 * k..4 * k + 4)
            .map(|e| i64::from(u32::from_le_bytes([e[0], e[1], e[2], e[3]]))),
        _ => None,
    }
}

pub(super) fn run_gather(ctx: &Ctx<'_>, axis: usize, batch_dims: usize) -> Result<()> {
    let pi = ctx.in_info(0)?;
    let ii = ctx.in_info(1)?;
    let es = pi.dtype.size();
    let pd = pi.shape.dims();
    let batch: usize = pd[..batch_dims].iter().product();
    let outer: usize = pd[batch_dims..axis].iter().product();
    let axis_n = pd[axis];
    let inner: usize = pd[axis + 1..].iter().product::<usize>() * es;
    let n_idx: usize = ii.shape.dims()[batch_dims..].iter().product();
    let p = ctx.input(0)?;
    let idx = ctx.input(1)?;
    let y = ctx.output(0)?;
    let mut o = 0usize;
    for b in 0..batch {
        for ou in 0..outer {
            for j in 0..n_idx {
                let k = read_index(ii.dtype, idx, b * n_idx + j)
                    .ok_or_else(|| invalid!("gather indices too short"))?;
                if k < 0 || k as usize >= axis_n {
                    return Err(crate::bad_input!(
                        "gather index {k} out of range 0..{axis_n}"
                    ));
                }
                let s = ((b * outer + ou) * axis_n + k as usize) * inner;
                let src = p
                    .get(s..s + inner)
                    .ok_or_else(|| invalid!("gather params too short"))?;
                y.get_mut(o..o + inner)
                    .ok_or_else(|| invalid!("gather output too short"))?
                    .copy_from_slice(src);
                o += inner;
            }
        }
    }
    Ok(())
}

pub(super) fn prepare_gather_nd(sg: &Subgraph, node: &Node) -> Result<Prepared> {
    let p = info(sg, node, 0)?;
    let i = info(sg, node, 1)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(p, y)?;
    same_quant(p, y)?;
    if !matches!(i.dtype, DType::I32 | DType::I64) {
        return Err(unsupported!("gather_nd indices of type {}", i.dtype));
    }
    let id = i.shape.dims();
    let k = *id
        .last()
        .ok_or_else(|| invalid!("gather_nd indices must have rank >= 1"))?;
    if k > p.shape.rank() {
        return Err(invalid!(
            "gather_nd index depth {k} exceeds params rank {}",
            p.shape.rank()
        ));
    }
    let mut want: Vec<usize> = id[..id.len() - 1].to_vec();
    want.extend_from_slice(&p.shape.dims()[k..]);
    if want != y.shape.dims() {
        return Err(invalid!(
            "gather_nd output should be {want:?}, is {}",
            y.shape
        ));
    }
    Ok(Prepared::None)
}

pub(super) fn run_gather_nd(ctx: &Ctx<'_>) -> Result<()> {
    let pi = ctx.in_info(0)?;
    let ii = ctx.in_info(1)?;
    let es = pi.dtype.size();
    let pd = pi.shape.dims();
    let id = ii.shape.dims();
    let k = id[id.len() - 1];
    let n: usize = id[..id.len() - 1].iter().product();
    let st = strides(pd);
    let inner: usize = pd[k..].iter().product::<usize>() * es;
    let p = ctx.input(0)?;
    let idx = ctx.input(1)?;
    let y = ctx.output(0)?;
    for j in 0..n {
        let mut off = 0usize;
        for d in 0..k {
            let v = read_index(ii.dtype, idx, j * k + d)
                .ok_or_else(|| invalid!("gather_nd indices too short"))?;
            if v < 0 || v as usize >= pd[d] {
                return Err(crate::bad_input!(
                    "gather_nd index {v} out of range 0..{}",
                    pd[d]
                ));
            }
            off += v as usize * st[d];
        }
        let s = off * es;
        let src = p
            .get(s..s + inner)
            .ok_or_else(|| invalid!("gather_nd params too short"))?;
        y.get_mut(j * inner..(j + 1) * inner)
            .ok_or_else(|| invalid!("gather_nd output too short"))?
            .copy_from_slice(src);
    }
    Ok(())
}

// ---------------------------------------------------------------- tile / broadcast

pub(super) fn prepare_tile(sg: &Subgraph, node: &Node, multiples: &[usize]) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    same_quant(x, y)?;
    check_rank(x.shape.rank())?;
    if multiples.len() != x.shape.rank() {
        return Err(invalid!(
            "tile multiples {multiples:?} for rank {}",
            x.shape.rank()
        ));
    }
    if y.shape.rank() != multiples.len() {
        return Err(invalid!("tile output {} has the wrong rank", y.shape));
    }
    for d in 0..multiples.len() {
        if x.shape.dims()[d].checked_mul(multiples[d]) != Some(y.shape.dims()[d]) {
            return Err(invalid!(
                "tile of {} by {multiples:?} does not give {}",
                x.shape,
                y.shape
            ));
        }
    }
    Ok(Prepared::None)
}

pub(super) fn run_tile(ctx: &Ctx<'_>) -> Result<()> {
    let xi = ctx.in_info(0)?;
    let yi = ctx.out_info(0)?;
    let es = xi.dtype.size();
    let in_dims = xi.shape.dims();
    let st = strides(in_dims);
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    let mut o = 0usize;
    let mut err = false;
    for_each_index(yi.shape.dims(), |idx| {
        let mut off = 0usize;
        for d in 0..idx.len() {
            off += (idx[d] % in_dims[d]) * st[d];
        }
        match (x.get(off * es..off * es + es), y.get_mut(o..o + es)) {
            (Some(a), Some(b)) => b.copy_from_slice(a),
            _ => err = true,
        }
        o += es;
    });
    if err {
        return Err(invalid!("tile index out of range"));
    }
    Ok(())
}

pub(super) fn prepare_broadcast(sg: &Subgraph, node: &Node) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    same_quant(x, y)?;
    Ok(Prepared::Bcast(Bcast::new(
        &[x.shape.dims()],
        y.shape.dims(),
    )?))
}

pub(super) fn run_broadcast(ctx: &Ctx<'_>, prepared: &Prepared) -> Result<()> {
    let Prepared::Bcast(bc) = prepared else {
        return Err(invalid!("broadcast not prepared"));
    };
    gather_rows(ctx, bc)
}

/// Writes output element `i` from input element `ix` for every `(i, [ix])` of `bc` (a
/// broadcast or a transpose), a row of the innermost output dim at a time.
fn gather_rows(ctx: &Ctx<'_>, bc: &Bcast) -> Result<()> {
    let es = ctx.out_info(0)?.dtype.size();
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    super::elementwise::check_lens(bc, &[x.len() / es], y.len() / es)?;
    let done = match es {
        1 => gather_rows_as::<u8>(bc, x, y),
        2 => gather_rows_as::<u16>(bc, x, y),
        4 => gather_rows_as::<u32>(bc, x, y),
        8 => gather_rows_as::<u64>(bc, x, y),
        _ => false,
    };
    if !done {
        bc.for_each(|i, [ix]| y[i * es..i * es + es].copy_from_slice(&x[ix * es..ix * es + es]));
    }
    Ok(())
}

/// [`gather_rows`] on elements of type `T`, a row at a time: a fill where the input is
/// broadcast along it, a copy where it is contiguous, a strided read otherwise (lengths checked
/// by the caller). Returns false, doing nothing, if the buffers are not aligned for `T`.
fn gather_rows_as<T: bytemuck::Pod>(bc: &Bcast, x: &[u8], y: &mut [u8]) -> bool {
    let s = core::mem::size_of::<T>();
    let (Ok(x), Ok(y)) = (
        bytemuck::try_cast_slice::<u8, T>(&x[..x.len() / s * s]),
        bytemuck::try_cast_slice_mut::<u8, T>(&mut y[..bc.len * s]),
    ) else {
        return false;
    };
    let (len, stride) = (bc.row_len(), bc.row_stride(0));
    bc.for_each_row(|o, [i]| {
        let dst = &mut y[o..o + len];
        match stride {
            0 => dst.fill(x[i]),
            1 => dst.copy_from_slice(&x[i..i + len]),
            _ => {
                for (j, d) in dst.iter_mut().enumerate() {
                    *d = x[i + j * stride];
                }
            }
        }
    });
    true
}

// ---------------------------------------------------------------- depth <-> space

pub(super) fn prepare_depth_space(
    sg: &Subgraph,
    node: &Node,
    block: usize,
    to_space: bool,
) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    same_quant(x, y)?;
    let (xd, yd) = (x.shape.dims(), y.shape.dims());
    if xd.len() != 4 || yd.len() != 4 || block == 0 {
        return Err(invalid!(
            "depth/space rearrangement needs NHWC tensors and a block > 0"
        ));
    }
    let bb = block
        .checked_mul(block)
        .ok_or_else(|| invalid!("block too large"))?;
    let ok = if to_space {
        yd[0] == xd[0]
            && Some(yd[1]) == xd[1].checked_mul(block)
            && Some(yd[2]) == xd[2].checked_mul(block)
            && yd[3].checked_mul(bb) == Some(xd[3])
    } else {
        yd[0] == xd[0]
            && Some(xd[1]) == yd[1].checked_mul(block)
            && Some(xd[2]) == yd[2].checked_mul(block)
            && xd[3].checked_mul(bb) == Some(yd[3])
    };
    if !ok {
        return Err(invalid!(
            "block {block} does not map {} to {}",
            x.shape,
            y.shape
        ));
    }
    Ok(Prepared::None)
}

pub(super) fn run_depth_space(ctx: &Ctx<'_>, block: usize, to_space: bool) -> Result<()> {
    let xi = ctx.in_info(0)?;
    let yi = ctx.out_info(0)?;
    let es = xi.dtype.size();
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    // Work in the "space" (big) layout: [n, h*b, w*b, c] <-> depth [n, h, w, b*b*c].
    let (sd, dd) = if to_space {
        (yi.shape.dims(), xi.shape.dims())
    } else {
        (xi.shape.dims(), yi.shape.dims())
    };
    let (n, sh, sw, c) = (sd[0], sd[1], sd[2], sd[3]);
    let (dh, dw, dc) = (dd[1], dd[2], dd[3]);
    for b in 0..n {
        for h in 0..sh {
            for w in 0..sw {
                let (ih, iw) = (h / block, w / block);
                let (bh, bw) = (h % block, w % block);
                let space = (((b * sh + h) * sw + w) * c) * es;
                let depth = (((b * dh + ih) * dw + iw) * dc + (bh * block + bw) * c) * es;
                let len = c * es;
                let (src, dst) = if to_space {
                    (depth, space)
                } else {
                    (space, depth)
                };
                let s = x
                    .get(src..src + len)
                    .ok_or_else(|| invalid!("depth/space input too short"))?;
                y.get_mut(dst..dst + len)
                    .ok_or_else(|| invalid!("depth/space output too short"))?
                    .copy_from_slice(s);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- iota

pub(super) fn prepare_iota(sg: &Subgraph, node: &Node, dim: usize) -> Result<Prepared> {
    let y = out_info(sg, node, 0)?;
    if dim >= y.shape.rank() {
        return Err(invalid!("iota dimension {dim} for rank {}", y.shape.rank()));
    }
    if !(y.dtype.is_int() || y.dtype.is_float()) {
        return Err(unsupported!("iota of {}", y.dtype));
    }
    Ok(Prepared::None)
}

pub(super) fn run_iota(ctx: &Ctx<'_>, dim: usize) -> Result<()> {
    let yi = ctx.out_info(0)?;
    let dims = yi.shape.dims();
    let inner: usize = dims[dim + 1..].iter().product();
    let n = dims[dim];
    let y = ctx.output(0)?;
    let es = yi.dtype.size();
    let count = y.len() / es;
    for i in 0..count {
        let v = ((i / inner.max(1)) % n.max(1)) as i128;
        super::elementwise::write_value(yi.dtype, y, i, super::elementwise::Value::Int(v));
    }
    Ok(())
}

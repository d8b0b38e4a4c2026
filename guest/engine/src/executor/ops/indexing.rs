//! Indexing ops with StableHLO semantics: gather, scatter, dynamic slice / update slice.
//!
//! Indices come from run-time tensors and are untrusted: gather and dynamic slices clamp their
//! start indices so the slice stays in bounds, scatter skips update elements that land outside
//! the result (the StableHLO rules). Every offset is bounds-checked when it is used.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::shape::read_index;
use super::util::{input_info as info, output_info as out_info, same_dtype, strides, MAX_RANK};
use super::Prepared;
use crate::error::Result;
use crate::executor::Ctx;
use crate::ir::{
    DType, GatherAttrs, Graph, Node, ScatterAttrs, ScatterCombiner, Subgraph, TensorInfo,
};
use crate::{invalid, unsupported};

/// One dim of a box walked in row-major order: extent, source stride, destination stride
/// (strides in elements).
pub(crate) type BoxDim = (usize, usize, usize);

/// Copies a box of `es`-byte elements from `src` (starting at element `src_base`) to `dst`
/// (starting at element `dst_base`); runs contiguous in both are copied at once.
fn copy_box(
    src: &[u8],
    src_base: usize,
    dst: &mut [u8],
    dst_base: usize,
    dims: &[BoxDim],
    es: usize,
) -> Result<()> {
    if dims.iter().any(|d| d.0 == 0) {
        return Ok(());
    }
    // Collapse the innermost dim into one run when it is contiguous on both sides.
    let (outer, run) = match dims.split_last() {
        Some((&(n, 1, 1), rest)) => (rest, n),
        _ => (dims, 1),
    };
    let run_bytes = run * es;
    let mut counter = [0usize; MAX_RANK + 1];
    loop {
        let mut s = src_base;
        let mut d = dst_base;
        for (k, &(_, ss, ds)) in outer.iter().enumerate() {
            s += counter[k] * ss;
            d += counter[k] * ds;
        }
        let from = src
            .get(s * es..s * es + run_bytes)
            .ok_or_else(|| invalid!("slice read outside its tensor"))?;
        dst.get_mut(d * es..d * es + run_bytes)
            .ok_or_else(|| invalid!("slice write outside its tensor"))?
            .copy_from_slice(from);
        if !advance(&mut counter, outer, |d| d.0) {
            return Ok(());
        }
    }
}

/// Row-major odometer step over the extents of `dims` (`extent` reads one); false when it
/// wrapped around (done).
fn advance<T>(counter: &mut [usize], dims: &[T], extent: impl Fn(&T) -> usize) -> bool {
    for k in (0..dims.len()).rev() {
        counter[k] += 1;
        if counter[k] < extent(&dims[k]) {
            return true;
        }
        counter[k] = 0;
    }
    false
}

/// Row-major strides of `dims` (rank ≤ [`MAX_RANK`], checked at load) without allocating.
fn strides_fixed(dims: &[usize]) -> [usize; MAX_RANK] {
    let mut s = [1usize; MAX_RANK];
    for i in (0..dims.len().min(MAX_RANK).saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Checks a list of dims: each below `rank`, no repeats, ascending when `sorted`.
fn check_dims(what: &str, dims: &[usize], rank: usize, sorted: bool) -> Result<()> {
    for (i, &d) in dims.iter().enumerate() {
        if d >= rank {
            return Err(invalid!(
                "{what} {dims:?}: dimension {d} out of range for rank {rank}"
            ));
        }
        if dims[..i].contains(&d) {
            return Err(invalid!("{what} {dims:?} repeats dimension {d}"));
        }
        if sorted && i > 0 && dims[i - 1] > d {
            return Err(invalid!("{what} {dims:?} must be ascending"));
        }
    }
    Ok(())
}

fn check_index_dtype(t: &TensorInfo) -> Result<()> {
    if !matches!(t.dtype, DType::I32 | DType::I64 | DType::U32) {
        return Err(unsupported!("indices of type {}", t.dtype));
    }
    Ok(())
}

fn check_rank(what: &str, r: usize) -> Result<()> {
    if r > MAX_RANK {
        return Err(unsupported!("{what} of rank {r} (max {MAX_RANK})"));
    }
    Ok(())
}

/// Index batch dims (every indices dim but the index vector dim) and the index vector's length
/// and stride, checked against the number of components the op expects.
fn index_batch(
    idx_dims: &[usize],
    ivd: usize,
    components: usize,
) -> Result<(Vec<usize>, Vec<usize>, usize)> {
    let r = idx_dims.len();
    if ivd > r {
        return Err(invalid!(
            "index_vector_dim {ivd} out of range for indices of rank {r}"
        ));
    }
    let st = strides(idx_dims);
    let (len, stride) = if ivd < r {
        (idx_dims[ivd], st[ivd])
    } else {
        (1, 0)
    };
    if len != components {
        return Err(invalid!(
            "index vectors have {len} components, the op maps {components}"
        ));
    }
    let dims: Vec<usize> = (0..r).filter(|&d| d != ivd).collect();
    let batch_strides = dims.iter().map(|&d| st[d]).collect();
    let batch_dims = dims.iter().map(|&d| idx_dims[d]).collect();
    Ok((batch_dims, batch_strides, stride))
}

/// Position of indices dim `d` among the index batch dims (`d` is not the index vector dim).
fn batch_position(d: usize, ivd: usize) -> usize {
    if d < ivd {
        d
    } else {
        d - 1
    }
}

// ---------------------------------------------------------------- gather

/// Load-time plan of a StableHLO gather (all strides in elements).
pub(crate) struct GatherPlan {
    es: usize,
    idx_dtype: DType,
    /// Index batch dims: extent, indices stride, output stride.
    batch: Vec<BoxDim>,
    /// Stride of the index vector's components in the indices.
    component_stride: usize,
    /// Per index vector component: operand stride and largest valid start.
    starts: Vec<(usize, usize)>,
    /// Operand batching dims: position among the batch dims, operand stride.
    batching: Vec<(usize, usize)>,
    /// The slice: extent, operand stride, output stride.
    window: Vec<BoxDim>,
}

/// Dimension numbers shared by gather and scatter, named as the op names them.
struct IndexDims<'a> {
    /// Dims of the other tensor (gather output / scatter updates) that walk the window.
    window: (&'static str, &'a [usize]),
    /// Operand dims of window size 1 absent from the other tensor.
    removed: (&'static str, &'a [usize]),
    /// Operand batching dims and the indices dims they pair with.
    operand_batching: (&'static str, &'a [usize]),
    indices_batching: (&'static str, &'a [usize]),
    /// Operand dim each index vector component starts.
    index_map: (&'static str, &'a [usize]),
    index_vector_dim: usize,
}

/// How gather and scatter walk their tensors, checked against the shapes.
struct IndexLayout {
    /// Index batch dims: extent, indices stride, stride in the other tensor.
    batch: Vec<BoxDim>,
    /// Stride of the index vector's components in the indices.
    component_stride: usize,
    /// Operand batching dims: position among the batch dims, operand dim.
    batching: Vec<(usize, usize)>,
    /// The window: dim of the other tensor, operand dim.
    window: Vec<(usize, usize)>,
}

/// Checks the dimension numbers of a gather or scatter with operand dims `xd`, indices dims
/// `id` and other-tensor dims `od` (everything except the window extents, which differ).
fn index_layout(
    what: &str,
    xd: &[usize],
    id: &[usize],
    od: &[usize],
    d: &IndexDims<'_>,
) -> Result<IndexLayout> {
    check_rank(what, xd.len())?;
    check_rank(what, id.len())?;
    check_rank(what, od.len())?;
    let r = xd.len();
    check_dims(d.window.0, d.window.1, od.len(), true)?;
    check_dims(d.removed.0, d.removed.1, r, true)?;
    check_dims(d.operand_batching.0, d.operand_batching.1, r, true)?;
    check_dims(d.index_map.0, d.index_map.1, r, false)?;
    check_dims(d.indices_batching.0, d.indices_batching.1, id.len(), false)?;
    if let Some(k) = d
        .removed
        .1
        .iter()
        .chain(d.index_map.1)
        .find(|k| d.operand_batching.1.contains(k))
    {
        return Err(invalid!(
            "{what}: operand batching dim {k} is also in {} or {}",
            d.removed.0,
            d.index_map.0
        ));
    }
    let ivd = d.index_vector_dim;
    let (bdims, bstrides, component_stride) = index_batch(id, ivd, d.index_map.1.len())?;
    if d.operand_batching.1.len() != d.indices_batching.1.len() {
        return Err(invalid!(
            "{} {:?} and {} {:?} differ in length",
            d.operand_batching.0,
            d.operand_batching.1,
            d.indices_batching.0,
            d.indices_batching.1
        ));
    }
    let mut batching = Vec::new();
    for (&xk, &ik) in d.operand_batching.1.iter().zip(d.indices_batching.1) {
        if ik == ivd || xd[xk] != id[ik] {
            return Err(invalid!(
                "{what}: batching dims {xk} (operand) and {ik} (indices) do not pair"
            ));
        }
        batching.push((batch_position(ik, ivd), xk));
    }
    // Window operand dims: neither removed nor batching, in order.
    let window_operand: Vec<usize> = (0..r)
        .filter(|k| !d.removed.1.contains(k) && !d.operand_batching.1.contains(k))
        .collect();
    if window_operand.len() != d.window.1.len() || od.len() != bdims.len() + window_operand.len() {
        return Err(invalid!(
            "{what}: {od:?} does not have {} batch and {} window dims",
            bdims.len(),
            window_operand.len()
        ));
    }
    let ost = strides(od);
    let other_batch = (0..od.len()).filter(|k| !d.window.1.contains(k));
    let mut batch = Vec::new();
    for (j, k) in other_batch.enumerate() {
        if od[k] != bdims[j] {
            return Err(invalid!(
                "{what}: dim {k} is {}, the indices' batch dim is {}",
                od[k],
                bdims[j]
            ));
        }
        batch.push((bdims[j], bstrides[j], ost[k]));
    }
    Ok(IndexLayout {
        batch,
        component_stride,
        batching,
        window: d.window.1.iter().copied().zip(window_operand).collect(),
    })
}

pub(super) fn prepare_gather(sg: &Subgraph, node: &Node, a: &GatherAttrs) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let idx = info(sg, node, 1)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    check_index_dtype(idx)?;
    let (xd, yd) = (x.shape.dims(), y.shape.dims());
    if a.slice_sizes.len() != xd.len() {
        return Err(invalid!(
            "slice_sizes {:?} for an operand of rank {}",
            a.slice_sizes,
            xd.len()
        ));
    }
    for (k, (&s, &n)) in a.slice_sizes.iter().zip(xd).enumerate() {
        if s > n {
            return Err(invalid!(
                "slice size {s} of dim {k} exceeds the operand's {n}"
            ));
        }
    }
    let layout = index_layout(
        "gather",
        xd,
        idx.shape.dims(),
        yd,
        &IndexDims {
            window: ("offset_dims", &a.offset_dims),
            removed: ("collapsed_slice_dims", &a.collapsed_slice_dims),
            operand_batching: ("operand_batching_dims", &a.operand_batching_dims),
            indices_batching: (
                "start_indices_batching_dims",
                &a.start_indices_batching_dims,
            ),
            index_map: ("start_index_map", &a.start_index_map),
            index_vector_dim: a.index_vector_dim,
        },
    )?;
    for &k in a
        .collapsed_slice_dims
        .iter()
        .chain(&a.operand_batching_dims)
    {
        if a.slice_sizes[k] != 1 {
            return Err(invalid!(
                "collapsed or batching dim {k} must have slice size 1, has {}",
                a.slice_sizes[k]
            ));
        }
    }
    let (xst, yst) = (strides(xd), strides(yd));
    let mut window = Vec::new();
    for &(yk, xk) in &layout.window {
        if yd[yk] != a.slice_sizes[xk] {
            return Err(invalid!(
                "gather output dim {yk} is {}, slice size is {}",
                yd[yk],
                a.slice_sizes[xk]
            ));
        }
        window.push((yd[yk], xst[xk], yst[yk]));
    }
    Ok(Prepared::Gather(Box::new(GatherPlan {
        es: x.dtype.size(),
        idx_dtype: idx.dtype,
        batch: layout.batch,
        component_stride: layout.component_stride,
        starts: a
            .start_index_map
            .iter()
            .map(|&k| (xst[k], xd[k] - a.slice_sizes[k]))
            .collect(),
        batching: layout
            .batching
            .iter()
            .map(|&(pos, k)| (pos, xst[k]))
            .collect(),
        window,
    })))
}

/// Reads index `k` of `idx` (i32/i64/u32) or fails.
fn index_at(d: DType, idx: &[u8], k: usize) -> Result<i64> {
    read_index(d, idx, k).ok_or_else(|| invalid!("indices too short"))
}

pub(super) fn run_gather(ctx: &Ctx<'_>, p: &GatherPlan) -> Result<()> {
    let x = ctx.input(0)?;
    let idx = ctx.input(1)?;
    let y = ctx.output(0)?;
    if p.batch.iter().any(|b| b.0 == 0) {
        return Ok(());
    }
    let mut counter = [0usize; MAX_RANK + 1];
    loop {
        let (mut ib, mut ob) = (0usize, 0usize);
        for (k, &(_, is, os)) in p.batch.iter().enumerate() {
            ib += counter[k] * is;
            ob += counter[k] * os;
        }
        let mut src = 0usize;
        for (k, &(stride, max)) in p.starts.iter().enumerate() {
            let v = index_at(p.idx_dtype, idx, ib + k * p.component_stride)?;
            // Clamp into [0, max] (StableHLO gather semantics).
            let start = usize::try_from(v.max(0)).unwrap_or(usize::MAX).min(max);
            src += start * stride;
        }
        for &(pos, stride) in &p.batching {
            src += counter[pos] * stride;
        }
        copy_box(x, src, y, ob, &p.window, p.es)?;
        if !advance(&mut counter, &p.batch, |b| b.0) {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------- scatter

/// Load-time plan of a StableHLO scatter (strides in elements).
pub(crate) struct ScatterPlan {
    /// Number of operands (= updates = results).
    pub n: usize,
    idx_dtype: DType,
    operand_dims: Vec<usize>,
    operand_strides: Vec<usize>,
    /// Update scatter dims: extent, indices stride, updates stride.
    batch: Vec<BoxDim>,
    component_stride: usize,
    /// Operand dim each index vector component starts.
    starts: Vec<usize>,
    /// Operand batching dims: position among the batch dims, operand dim.
    batching: Vec<(usize, usize)>,
    /// The update window: extent, updates stride, operand dim.
    window: Vec<BoxDim>,
}

pub(super) fn prepare_scatter(
    graph: &Graph,
    sg: &Subgraph,
    node: &Node,
    a: &ScatterAttrs,
) -> Result<Prepared> {
    let n = node.outputs.len();
    if n == 0 || node.inputs.len() < 2 * n + 1 {
        return Err(invalid!(
            "scatter with {} inputs and {n} outputs",
            node.inputs.len()
        ));
    }
    let x = info(sg, node, 0)?;
    let idx = info(sg, node, n)?;
    let u = info(sg, node, n + 1)?;
    check_index_dtype(idx)?;
    for k in 0..n {
        let (xk, uk, yk) = (
            info(sg, node, k)?,
            info(sg, node, n + 1 + k)?,
            out_info(sg, node, k)?,
        );
        same_dtype(xk, yk)?;
        same_dtype(xk, uk)?;
        if xk.shape != x.shape || yk.shape != x.shape || uk.shape != u.shape {
            return Err(invalid!(
                "scatter operands, updates and results must share their shapes"
            ));
        }
    }
    let (xd, ud) = (x.shape.dims(), u.shape.dims());
    let layout = index_layout(
        "scatter",
        xd,
        idx.shape.dims(),
        ud,
        &IndexDims {
            window: ("update_window_dims", &a.update_window_dims),
            removed: ("inserted_window_dims", &a.inserted_window_dims),
            operand_batching: ("input_batching_dims", &a.input_batching_dims),
            indices_batching: (
                "scatter_indices_batching_dims",
                &a.scatter_indices_batching_dims,
            ),
            index_map: (
                "scatter_dims_to_operand_dims",
                &a.scatter_dims_to_operand_dims,
            ),
            index_vector_dim: a.index_vector_dim,
        },
    )?;
    let ust = strides(ud);
    let mut window = Vec::new();
    for &(uk, xk) in &layout.window {
        if ud[uk] > xd[xk] {
            return Err(invalid!(
                "update window dim {uk} ({}) exceeds operand dim {xk} ({})",
                ud[uk],
                xd[xk]
            ));
        }
        window.push((ud[uk], ust[uk], xk));
    }
    match a.combiner {
        ScatterCombiner::Region(s) => {
            check_region(graph, sg, node, s, (0..2 * n + 1).filter(|&i| i != n), n)?
        }
        _ => {
            if n != 1 || node.inputs.len() != 3 {
                return Err(unsupported!("a built-in scatter combiner on {n} operands"));
            }
            if combine_fn(x.dtype, a.combiner).is_none() {
                return Err(unsupported!("scatter {:?} on {}", a.combiner, x.dtype));
            }
        }
    }
    Ok(Prepared::Scatter(Box::new(ScatterPlan {
        n,
        idx_dtype: idx.dtype,
        operand_dims: xd.to_vec(),
        operand_strides: strides(xd),
        batch: layout.batch,
        component_stride: layout.component_stride,
        starts: a.scatter_dims_to_operand_dims.clone(),
        batching: layout.batching,
        window,
    })))
}

/// Checks that region subgraph `s` takes scalars of the node inputs `scalars` followed by the
/// node's remaining inputs (captures), and returns `outs` scalars of the node outputs' dtypes
/// (or one bool when `outs` is 0: a comparator).
pub(super) fn check_region(
    graph: &Graph,
    sg: &Subgraph,
    node: &Node,
    s: usize,
    scalars: impl Iterator<Item = usize> + Clone,
    outs: usize,
) -> Result<()> {
    let r = graph
        .subgraphs
        .get(s)
        .ok_or_else(|| invalid!("region subgraph {s} does not exist"))?;
    let n_scalars = scalars.clone().count();
    let first_capture = scalars.clone().max().map_or(0, |m| m + 1);
    let captures = node.inputs.len().saturating_sub(first_capture);
    if r.inputs.len() != n_scalars + captures {
        return Err(invalid!(
            "region subgraph {s} takes {} inputs, the op passes {}",
            r.inputs.len(),
            n_scalars + captures
        ));
    }
    let input = |k: usize| -> Result<&TensorInfo> {
        r.tensors
            .get(r.inputs[k])
            .ok_or_else(|| invalid!("region input {k} out of range"))
    };
    for (k, i) in scalars.enumerate() {
        let (want, got) = (info(sg, node, i)?, input(k)?);
        if got.dtype != want.dtype || got.shape.num_elements()? != 1 {
            return Err(invalid!(
                "region input {k} must be a {} scalar, is {} {}",
                want.dtype,
                got.dtype,
                got.shape
            ));
        }
    }
    for c in 0..captures {
        let (want, got) = (info(sg, node, first_capture + c)?, input(n_scalars + c)?);
        if got.dtype != want.dtype || got.shape != want.shape {
            return Err(invalid!("region capture {c} does not match its value"));
        }
    }
    let want_outs: Vec<DType> = if outs == 0 {
        alloc::vec![DType::Bool]
    } else {
        (0..outs)
            .map(|k| out_info(sg, node, k).map(|t| t.dtype))
            .collect::<Result<_>>()?
    };
    if r.outputs.len() != want_outs.len() {
        return Err(invalid!(
            "region subgraph {s} returns {} values, the op needs {}",
            r.outputs.len(),
            want_outs.len()
        ));
    }
    for (k, (&t, &d)) in r.outputs.iter().zip(&want_outs).enumerate() {
        let got = r
            .tensors
            .get(t)
            .ok_or_else(|| invalid!("region output {k} out of range"))?;
        if got.dtype != d || got.shape.num_elements()? != 1 {
            return Err(invalid!(
                "region output {k} must be a {d} scalar, is {} {}",
                got.dtype,
                got.shape
            ));
        }
    }
    Ok(())
}

/// Calls `f(result element, update element)` for every update element that lands inside the
/// result, in row-major update order (elements outside are skipped).
pub(crate) fn for_each_scatter(
    p: &ScatterPlan,
    idx: &[u8],
    mut f: impl FnMut(usize, usize) -> Result<()>,
) -> Result<()> {
    if p.batch.iter().chain(&p.window).any(|b| b.0 == 0) {
        return Ok(());
    }
    let rank = p.operand_dims.len();
    let mut counter = [0usize; MAX_RANK + 1];
    loop {
        let (mut ib, mut ub) = (0usize, 0usize);
        for (k, &(_, is, us)) in p.batch.iter().enumerate() {
            ib += counter[k] * is;
            ub += counter[k] * us;
        }
        // Start of the window per operand dim (may be negative or past the end).
        let mut start = [0i64; MAX_RANK];
        for (k, &d) in p.starts.iter().enumerate() {
            start[d] = index_at(p.idx_dtype, idx, ib + k * p.component_stride)?;
        }
        for &(pos, d) in &p.batching {
            start[d] = counter[pos] as i64;
        }
        let inside = p.window.iter().all(|&(n, _, d)| {
            start[d] >= 0 && (start[d] as u64).saturating_add(n as u64) <= p.operand_dims[d] as u64
        }) && (0..rank).all(|d| {
            start[d] >= 0 && (start[d] as u64) < p.operand_dims[d] as u64
                || p.window.iter().any(|w| w.2 == d)
        });
        let mut wc = [0usize; MAX_RANK + 1];
        loop {
            let mut u = ub;
            let mut pos = start;
            for (k, &(_, us, d)) in p.window.iter().enumerate() {
                u += wc[k] * us;
                pos[d] = pos[d].saturating_add(wc[k] as i64);
            }
            let in_bounds = inside
                || (0..rank).all(|d| pos[d] >= 0 && (pos[d] as u64) < p.operand_dims[d] as u64);
            if in_bounds {
                let o: usize = (0..rank)
                    .map(|d| pos[d] as usize * p.operand_strides[d])
                    .sum();
                f(o, u)?;
            }
            if !advance(&mut wc, &p.window, |w| w.0) {
                break;
            }
        }
        if !advance(&mut counter, &p.batch, |b| b.0) {
            return Ok(());
        }
    }
}

/// Applies a built-in combiner to raw elements: `elem = combine(elem, update)`.
type CombineFn = fn(&mut [u8], &[u8]);

fn combine_fn(d: DType, c: ScatterCombiner) -> Option<CombineFn> {
    macro_rules! num {
        ($t:ty, $add:expr, $mul:expr, $max:expr, $min:expr) => {{
            fn get(b: &[u8]) -> $t {
                <$t>::from_le_bytes(b.try_into().unwrap_or_default())
            }
            let f: CombineFn = match c {
                ScatterCombiner::Replace => |e, u| e.copy_from_slice(u),
                ScatterCombiner::Add => |e, u| {
                    let v: $t = $add(get(e), get(u));
                    e.copy_from_slice(&v.to_le_bytes())
                },
                ScatterCombiner::Mul => |e, u| {
                    let v: $t = $mul(get(e), get(u));
                    e.copy_from_slice(&v.to_le_bytes())
                },
                ScatterCombiner::Max => |e, u| {
                    let v: $t = $max(get(e), get(u));
                    e.copy_from_slice(&v.to_le_bytes())
                },
                ScatterCombiner::Min => |e, u| {
                    let v: $t = $min(get(e), get(u));
                    e.copy_from_slice(&v.to_le_bytes())
                },
                ScatterCombiner::Region(_) => return None,
            };
            Some(f)
        }};
    }
    macro_rules! int {
        ($t:ty) => {
            num!(
                $t,
                <$t>::wrapping_add,
                <$t>::wrapping_mul,
                <$t>::max,
                <$t>::min
            )
        };
    }
    // StableHLO max/min propagate NaN.
    fn fmax(a: f32, b: f32) -> f32 {
        if a.is_nan() || b.is_nan() {
            f32::NAN
        } else {
            a.max(b)
        }
    }
    fn fmin(a: f32, b: f32) -> f32 {
        if a.is_nan() || b.is_nan() {
            f32::NAN
        } else {
            a.min(b)
        }
    }
    match d {
        DType::F32 => num!(f32, |a, b| a + b, |a, b| a * b, fmax, fmin),
        DType::I8 => int!(i8),
        DType::U8 => int!(u8),
        DType::I16 => int!(i16),
        DType::I32 => int!(i32),
        DType::I64 => int!(i64),
        DType::U32 => int!(u32),
        // add/max are or, mul/min are and.
        DType::Bool => num!(
            u8,
            |a: u8, b: u8| u8::from(a | b != 0),
            |a: u8, b: u8| u8::from(a & b != 0),
            |a: u8, b: u8| u8::from(a | b != 0),
            |a: u8, b: u8| u8::from(a & b != 0)
        ),
        _ => None,
    }
}

/// Copies operand 0 into the result and applies the built-in combiner for every update.
pub(super) fn run_scatter(ctx: &Ctx<'_>, a: &ScatterAttrs, p: &ScatterPlan) -> Result<()> {
    let xi = ctx.in_info(0)?;
    let es = xi.dtype.size();
    let f = combine_fn(xi.dtype, a.combiner)
        .ok_or_else(|| unsupported!("scatter {:?} on {}", a.combiner, xi.dtype))?;
    let x = ctx.input(0)?;
    let idx = ctx.input(1)?;
    let u = ctx.input(2)?;
    let y = ctx.output(0)?;
    if x.len() != y.len() {
        return Err(invalid!("scatter result size differs from the operand"));
    }
    y.copy_from_slice(x);
    for_each_scatter(p, idx, |o, k| {
        let e = y
            .get_mut(o * es..o * es + es)
            .ok_or_else(|| invalid!("scatter write outside the result"))?;
        let v = u
            .get(k * es..k * es + es)
            .ok_or_else(|| invalid!("scatter update read outside the updates"))?;
        f(e, v);
        Ok(())
    })
}

// ---------------------------------------------------------------- dynamic slices

/// Checks a dynamic slice or update slice: `box_dims` (the slice) fits `operand`, one scalar
/// i32/i64/u32 start per dim from input `first_start` on.
fn check_dynamic(
    sg: &Subgraph,
    node: &Node,
    operand: &TensorInfo,
    box_dims: &[usize],
    first_start: usize,
) -> Result<()> {
    let xd = operand.shape.dims();
    check_rank("dynamic slice", xd.len())?;
    if box_dims.len() != xd.len() || node.inputs.len() != first_start + xd.len() {
        return Err(invalid!(
            "dynamic slice of rank {} with {} start indices",
            xd.len(),
            node.inputs.len().saturating_sub(first_start)
        ));
    }
    for (d, (&s, &n)) in box_dims.iter().zip(xd).enumerate() {
        if s > n {
            return Err(invalid!("slice dim {d} ({s}) exceeds the operand's {n}"));
        }
    }
    for k in first_start..node.inputs.len() {
        let t = info(sg, node, k)?;
        check_index_dtype(t)?;
        if t.shape.num_elements()? != 1 {
            return Err(invalid!("start index {} is not a scalar", k - first_start));
        }
    }
    Ok(())
}

pub(super) fn prepare_dynamic_slice(sg: &Subgraph, node: &Node) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    check_dynamic(sg, node, x, y.shape.dims(), 1)?;
    Ok(Prepared::None)
}

pub(super) fn prepare_dynamic_update_slice(sg: &Subgraph, node: &Node) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let u = info(sg, node, 1)?;
    let y = out_info(sg, node, 0)?;
    same_dtype(x, y)?;
    same_dtype(x, u)?;
    if x.shape != y.shape {
        return Err(invalid!(
            "dynamic_update_slice result differs from the operand"
        ));
    }
    check_dynamic(sg, node, x, u.shape.dims(), 2)?;
    Ok(Prepared::None)
}

/// Element offset of the clamped start of a `box_dims` box in `dims` (starts from inputs
/// `first_start..`).
fn clamped_start(
    ctx: &Ctx<'_>,
    dims: &[usize],
    box_dims: &[usize],
    first_start: usize,
) -> Result<usize> {
    let st = strides_fixed(dims);
    let mut off = 0usize;
    for d in 0..dims.len() {
        let t = ctx.in_info(first_start + d)?;
        let v = index_at(t.dtype, ctx.input(first_start + d)?, 0)?;
        let max = dims[d].saturating_sub(box_dims[d]);
        off += usize::try_from(v.max(0)).unwrap_or(usize::MAX).min(max) * st[d];
    }
    Ok(off)
}

pub(super) fn run_dynamic_slice(ctx: &Ctx<'_>) -> Result<()> {
    let xi = ctx.in_info(0)?;
    let yi = ctx.out_info(0)?;
    let (xd, yd) = (xi.shape.dims(), yi.shape.dims());
    let src = clamped_start(ctx, xd, yd, 1)?;
    let (xs, ys) = (strides_fixed(xd), strides_fixed(yd));
    let mut dims = [(0, 0, 0); MAX_RANK];
    for d in 0..xd.len() {
        dims[d] = (yd[d], xs[d], ys[d]);
    }
    copy_box(
        ctx.input(0)?,
        src,
        ctx.output(0)?,
        0,
        &dims[..xd.len()],
        xi.dtype.size(),
    )
}

pub(super) fn run_dynamic_update_slice(ctx: &Ctx<'_>) -> Result<()> {
    let xi = ctx.in_info(0)?;
    let ui = ctx.in_info(1)?;
    let (xd, ud) = (xi.shape.dims(), ui.shape.dims());
    let dst = clamped_start(ctx, xd, ud, 2)?;
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    if x.len() != y.len() {
        return Err(invalid!(
            "dynamic_update_slice result differs from the operand"
        ));
    }
    y.copy_from_slice(x);
    let (xs, us) = (strides_fixed(xd), strides_fixed(ud));
    let mut dims = [(0, 0, 0); MAX_RANK];
    for d in 0..xd.len() {
        dims[d] = (ud[d], us[d], xs[d]);
    }
    copy_box(ctx.input(1)?, 0, y, dst, &dims[..xd.len()], xi.dtype.size())
}

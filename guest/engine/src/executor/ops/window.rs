//! General windowed ops (StableHLO): N-D convolution with any padding, dilation, reversal and
//! grouping, and `reduce_window`. Both resolve each dim's window into a table "operand index
//! of tap k at output position o" at load, so the run loops only look indices up.
//!
//! The common 2-D float convolution keeps its GEMM path (`Conv2d`); this is the general one
//! (3-D and beyond, batch groups, run-time kernels, integer types), a direct loop.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::util::{for_each_index, input_info as info, output_info as out_info, MAX_RANK};
use super::Prepared;
use crate::error::Result;
use crate::executor::Ctx;
use crate::ir::{CompareOp, ConvNdAttrs, DType, Node, ReduceOp, Subgraph, WindowDim};
use crate::{invalid, too_large, unsupported};

/// Most multiply-adds (or reduction steps) one windowed op may take: a hostile window must not
/// turn into hours of work (2^36 ≈ 6.9e10; a large real 3-D conv layer is ~1e10).
const MAX_WINDOW_WORK: u128 = 1 << 36;

/// Most entries of one dim's tap table (`out * size`).
const MAX_TABLE: usize = 1 << 24;

/// Marks a tap that falls on padding or a dilation hole.
const OUTSIDE: u32 = u32::MAX;

/// One dim's window resolved: `index[o * size + k]` is the operand index tap `k` of output
/// position `o` reads, or [`OUTSIDE`].
#[derive(Debug, Clone)]
pub(crate) struct AxisTaps {
    out: usize,
    size: usize,
    index: Vec<u32>,
}

/// Output size of one dim (StableHLO's shape rule), every step checked.
pub(crate) fn window_out_size(in_size: usize, w: &WindowDim) -> Result<usize> {
    if w.stride == 0 || w.base_dilation == 0 || w.window_dilation == 0 {
        return Err(invalid!("window with a zero stride or dilation: {w:?}"));
    }
    let n = |v: usize| v as i128;
    let overflow = || too_large!("window {w:?} over {in_size} elements overflows");
    // (v - 1) * dilation + 1, or 0 for an empty dim.
    let dilate = |v: usize, d: usize| -> Result<i128> {
        if v == 0 {
            return Ok(0);
        }
        (n(v) - 1)
            .checked_mul(n(d))
            .and_then(|x| x.checked_add(1))
            .ok_or_else(overflow)
    };
    let dilated_in = dilate(in_size, w.base_dilation)?;
    let padded = dilated_in + i128::from(w.pad_low) + i128::from(w.pad_high);
    if padded < 0 {
        return Err(invalid!(
            "window padding ({}, {}) removes more than the {dilated_in} elements of the dim",
            w.pad_low,
            w.pad_high
        ));
    }
    let dilated_window = dilate(w.size, w.window_dilation)?;
    let out = if padded < dilated_window {
        0
    } else {
        (padded - dilated_window) / n(w.stride) + 1
    };
    usize::try_from(out).map_err(|_| too_large!("window output of {out} elements"))
}

/// Resolves one dim: operand size `in_size`, window `w`.
pub(crate) fn axis_taps(in_size: usize, w: &WindowDim) -> Result<AxisTaps> {
    let out = window_out_size(in_size, w)?;
    let entries = out
        .checked_mul(w.size)
        .filter(|&e| e <= MAX_TABLE)
        .ok_or_else(|| too_large!("window of {} taps over {out} positions", w.size))?;
    if in_size >= OUTSIDE as usize {
        return Err(too_large!("window over a dim of {in_size}"));
    }
    let mut index = Vec::new();
    index
        .try_reserve_exact(entries)
        .map_err(|_| too_large!("window table"))?;
    let n = |v: usize| v as i128;
    let bd = n(w.base_dilation);
    let limit = n(in_size) * bd; // positions past the last element's are outside
    for o in 0..out {
        for k in 0..w.size {
            let kk = if w.reverse { w.size - 1 - k } else { k };
            let p = n(o) * n(w.stride) + n(kk) * n(w.window_dilation) - i128::from(w.pad_low);
            let i = if p >= 0 && p < limit && p % bd == 0 {
                (p / bd) as u32
            } else {
                OUTSIDE
            };
            index.push(i);
        }
    }
    Ok(AxisTaps {
        out,
        size: w.size,
        index,
    })
}

/// Row-major element strides of `dims`.
fn strides(dims: &[usize]) -> Vec<usize> {
    super::util::strides(dims)
}

/// Calls `f(tap, offset)` for each tap of the window at output position `pos` (one index per
/// axis, window sizes `sizes`): the tap's number and its operand offset (`None` when outside).
#[inline]
fn for_each_tap(
    axes: &[AxisTaps],
    sizes: &[usize],
    in_strides: &[usize],
    pos: &[usize],
    mut f: impl FnMut(usize, Option<usize>),
) {
    let mut tap = 0usize;
    for_each_index(sizes, |k| {
        let mut off = Some(0usize);
        for (d, a) in axes.iter().enumerate() {
            let i = a.index[pos[d] * a.size + k[d]];
            off = match off {
                Some(o) if i != OUTSIDE => Some(o + i as usize * in_strides[d]),
                _ => None,
            };
        }
        f(tap, off);
        tap += 1;
    });
}

fn check_work(outputs: usize, taps: usize, per_tap: usize) -> Result<()> {
    let work = outputs as u128 * taps as u128 * per_tap.max(1) as u128;
    if work > MAX_WINDOW_WORK {
        return Err(too_large!(
            "windowed op needs {work} steps (limit {MAX_WINDOW_WORK})"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- convolution

/// Load-time plan of an N-D convolution.
#[derive(Debug, Clone)]
pub(crate) struct ConvNdPlan {
    axes: Vec<AxisTaps>,
    /// Window size per spatial dim.
    sizes: Vec<usize>,
    in_strides: Vec<usize>,
    out_spatial: Vec<usize>,
    in_pixels: usize,
    out_pixels: usize,
    taps: usize,
    batch_out: usize,
    in_c: usize,
    out_c: usize,
    /// Input channels per group (the kernel's last dim).
    cg: usize,
    feature_groups: usize,
    batch_groups: usize,
}

pub(super) fn prepare_conv_nd(sg: &Subgraph, node: &Node, a: &ConvNdAttrs) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let w = info(sg, node, 1)?;
    let y = out_info(sg, node, 0)?;
    if x.dtype != w.dtype || x.dtype != y.dtype {
        return Err(unsupported!(
            "convolution {} x {} -> {}",
            x.dtype,
            w.dtype,
            y.dtype
        ));
    }
    if !window_dtype(x.dtype) || super::util::is_quantized(x) {
        return Err(unsupported!("general convolution on {}", x.dtype));
    }
    let (xd, wd, yd) = (x.shape.dims(), w.shape.dims(), y.shape.dims());
    let s = a.window.len();
    if xd.len() != s + 2 || wd.len() != s + 2 || yd.len() != s + 2 || s + 2 > MAX_RANK {
        return Err(invalid!(
            "convolution with {s} spatial dims on {} * {} -> {}",
            x.shape,
            w.shape,
            y.shape
        ));
    }
    let (fg, bg) = (a.feature_groups, a.batch_groups);
    let (n, c, o, cg) = (xd[0], xd[s + 1], wd[0], wd[s + 1]);
    let groups_ok = fg >= 1
        && bg >= 1
        && (fg == 1 || bg == 1)
        && cg.checked_mul(fg) == Some(c)
        && o.is_multiple_of(fg)
        && o.is_multiple_of(bg)
        && n.is_multiple_of(bg)
        && yd[0] == n / bg
        && yd[s + 1] == o;
    if !groups_ok {
        return Err(invalid!(
            "convolution {} * {} -> {} does not fit {fg} feature groups and {bg} batch groups",
            x.shape,
            w.shape,
            y.shape
        ));
    }
    let mut axes = Vec::new();
    for (d, win) in a.window.iter().enumerate() {
        if win.size != wd[d + 1] {
            return Err(invalid!(
                "window size {} of spatial dim {d} differs from the kernel's {}",
                win.size,
                wd[d + 1]
            ));
        }
        let t = axis_taps(xd[d + 1], win)?;
        if t.out != yd[d + 1] {
            return Err(invalid!(
                "spatial dim {d}: input {} with window {win:?} gives {}, output has {}",
                xd[d + 1],
                t.out,
                yd[d + 1]
            ));
        }
        axes.push(t);
    }
    let in_spatial = &xd[1..=s];
    let out_spatial = yd[1..=s].to_vec();
    let taps = crate::ir::Shape::new(&wd[1..=s]).num_elements()?;
    let out_pixels = crate::ir::Shape::new(&out_spatial).num_elements()?;
    check_work(y.shape.num_elements()?, taps, cg)?;
    Ok(Prepared::ConvNd(Box::new(ConvNdPlan {
        sizes: wd[1..=s].to_vec(),
        in_strides: strides(in_spatial),
        in_pixels: crate::ir::Shape::new(in_spatial).num_elements()?,
        axes,
        out_spatial,
        out_pixels,
        taps,
        batch_out: yd[0],
        in_c: c,
        out_c: o,
        cg,
        feature_groups: fg,
        batch_groups: bg,
    })))
}

/// Element arithmetic of the windowed loops: integers wrap (StableHLO semantics), float max /
/// min propagate NaN like `maximum` / `minimum`.
trait WindowElem: bytemuck::Pod + Default + PartialOrd {
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn max(self, o: Self) -> Self;
    fn min(self, o: Self) -> Self;
}

macro_rules! float_window_elem {
    ($($t:ty),*) => {$(
        impl WindowElem for $t {
            #[inline]
            fn add(self, o: Self) -> Self {
                self + o
            }
            #[inline]
            fn mul(self, o: Self) -> Self {
                self * o
            }
            #[inline]
            fn max(self, o: Self) -> Self {
                if self.is_nan() || self > o { self } else { o }
            }
            #[inline]
            fn min(self, o: Self) -> Self {
                if self.is_nan() || self < o { self } else { o }
            }
        }
    )*};
}
float_window_elem!(f32, f64);

macro_rules! int_window_elem {
    ($($t:ty),*) => {$(
        impl WindowElem for $t {
            #[inline]
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline]
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            #[inline]
            fn max(self, o: Self) -> Self {
                Ord::max(self, o)
            }
            #[inline]
            fn min(self, o: Self) -> Self {
                Ord::min(self, o)
            }
        }
    )*};
}
int_window_elem!(i8, u8, i16, u16, i32, u32, i64, u64);

/// Runs `$f::<T>($args)` with `T` the element type of the numeric dtype `$d`.
macro_rules! with_window_type {
    ($d:expr, $f:ident($($a:expr),*), $what:expr) => {
        match $d {
            DType::F32 => $f::<f32>($($a),*),
            DType::F64 => $f::<f64>($($a),*),
            DType::I8 => $f::<i8>($($a),*),
            DType::U8 => $f::<u8>($($a),*),
            DType::I16 => $f::<i16>($($a),*),
            DType::U16 => $f::<u16>($($a),*),
            DType::I32 => $f::<i32>($($a),*),
            DType::U32 => $f::<u32>($($a),*),
            DType::I64 => $f::<i64>($($a),*),
            DType::U64 => $f::<u64>($($a),*),
            d => Err(unsupported!("{} on {d}", $what)),
        }
    };
}

/// Element types the windowed loops run on (besides bool for reduce_window).
fn window_dtype(d: DType) -> bool {
    d.is_int() || matches!(d, DType::F32 | DType::F64)
}

fn conv_nd_typed<T: WindowElem>(ctx: &Ctx<'_>, p: &ConvNdPlan) -> Result<()> {
    let x = ctx.input_as::<T>(0)?;
    let w = ctx.input_as::<T>(1)?;
    let y = ctx.output_as::<T>(0)?;
    let groups = p.feature_groups * p.batch_groups;
    let ocg = p.out_c / groups;
    // Batch group g reads input batches g * batch_out .. (g + 1) * batch_out.
    let batch_per_group = p.batch_out;
    let need_x = p.batch_out * p.batch_groups * p.in_pixels * p.in_c;
    if x.len() < need_x
        || w.len() < p.out_c * p.taps * p.cg
        || y.len() < p.batch_out * p.out_pixels * p.out_c
    {
        return Err(invalid!("convolution buffers too short"));
    }
    for nb in 0..p.batch_out {
        let mut opix = 0usize;
        for_each_index(&p.out_spatial, |pos| {
            let row = (nb * p.out_pixels + opix) * p.out_c;
            opix += 1;
            let out = &mut y[row..row + p.out_c];
            out.fill(T::default());
            for_each_tap(&p.axes, &p.sizes, &p.in_strides, pos, |tap, off| {
                let Some(in_pix) = off else { return };
                for g in 0..groups {
                    let (in_b, c0) = if p.batch_groups > 1 {
                        (g * batch_per_group + nb, 0)
                    } else {
                        (nb, g * p.cg)
                    };
                    let xs = (in_b * p.in_pixels + in_pix) * p.in_c + c0;
                    let xs = &x[xs..xs + p.cg];
                    let group_out = &mut out[g * ocg..(g + 1) * ocg];
                    for (j, o) in group_out.iter_mut().enumerate() {
                        let ws = ((g * ocg + j) * p.taps + tap) * p.cg;
                        let ws = &w[ws..ws + p.cg];
                        let mut acc = *o;
                        for (a, b) in xs.iter().zip(ws) {
                            acc = acc.add(a.mul(*b));
                        }
                        *o = acc;
                    }
                }
            });
        });
    }
    Ok(())
}

pub(super) fn run_conv_nd(ctx: &Ctx<'_>, p: &ConvNdPlan) -> Result<()> {
    with_window_type!(
        ctx.in_info(0)?.dtype,
        conv_nd_typed(ctx, p),
        "general convolution"
    )
}

// ---------------------------------------------------------------- reduce_window

/// Load-time plan of a `reduce_window`.
#[derive(Debug, Clone)]
pub(crate) struct ReduceWindowPlan {
    axes: Vec<AxisTaps>,
    /// Window size per dim.
    sizes: Vec<usize>,
    in_strides: Vec<usize>,
    out_dims: Vec<usize>,
    out_len: usize,
}

pub(super) fn prepare_reduce_window(
    sg: &Subgraph,
    node: &Node,
    op: ReduceOp,
    window: &[WindowDim],
) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let init = info(sg, node, 1)?;
    let y = out_info(sg, node, 0)?;
    super::util::same_dtype(x, y)?;
    super::util::same_dtype(init, x)?;
    if init.shape.num_elements()? != 1 {
        return Err(invalid!("reduce_window init must be a scalar"));
    }
    let ok = match x.dtype {
        DType::Bool => matches!(op, ReduceOp::Any | ReduceOp::All),
        d => {
            window_dtype(d)
                && matches!(
                    op,
                    ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min | ReduceOp::Prod
                )
        }
    };
    if !ok || super::util::is_quantized(x) {
        return Err(unsupported!("reduce_window {op:?} on {}", x.dtype));
    }
    let (xd, yd) = (x.shape.dims(), y.shape.dims());
    if window.len() != xd.len() || yd.len() != xd.len() || xd.len() > MAX_RANK {
        return Err(invalid!(
            "reduce_window with {} window dims on {} -> {}",
            window.len(),
            x.shape,
            y.shape
        ));
    }
    let mut axes = Vec::new();
    for (d, win) in window.iter().enumerate() {
        let t = axis_taps(xd[d], win)?;
        if t.out != yd[d] {
            return Err(invalid!(
                "dim {d}: operand {} with window {win:?} gives {}, output has {}",
                xd[d],
                t.out,
                yd[d]
            ));
        }
        axes.push(t);
    }
    let taps = window
        .iter()
        .try_fold(1usize, |acc, w| acc.checked_mul(w.size))
        .ok_or_else(|| too_large!("reduce_window window"))?;
    let out_len = y.shape.num_elements()?;
    check_work(out_len, taps, 1)?;
    Ok(Prepared::ReduceWindow(Box::new(ReduceWindowPlan {
        sizes: window.iter().map(|w| w.size).collect(),
        axes,
        in_strides: strides(xd),
        out_dims: yd.to_vec(),
        out_len,
    })))
}

fn reduce_window_typed<T: bytemuck::Pod>(
    ctx: &Ctx<'_>,
    p: &ReduceWindowPlan,
    f: impl Fn(T, T) -> T,
) -> Result<()> {
    let x = ctx.input_as::<T>(0)?;
    let init = *ctx
        .input_as::<T>(1)?
        .first()
        .ok_or_else(|| invalid!("reduce_window init is empty"))?;
    let y = ctx.output_as::<T>(0)?;
    if y.len() < p.out_len {
        return Err(invalid!("reduce_window output too short"));
    }
    let mut bad = false;
    let mut o = 0usize;
    for_each_index(&p.out_dims, |pos| {
        let mut acc = init;
        for_each_tap(&p.axes, &p.sizes, &p.in_strides, pos, |_, off| {
            let e = match off.map(|o| x.get(o)) {
                Some(Some(e)) => *e,
                Some(None) => {
                    bad = true;
                    init
                }
                None => init,
            };
            acc = f(acc, e);
        });
        y[o] = acc;
        o += 1;
    });
    if bad {
        return Err(invalid!("reduce_window input too short"));
    }
    Ok(())
}

/// `reduce_window` with one of the numeric reductions on `T`.
fn reduce_window_numeric<T: WindowElem>(
    ctx: &Ctx<'_>,
    p: &ReduceWindowPlan,
    op: ReduceOp,
) -> Result<()> {
    match op {
        ReduceOp::Sum => reduce_window_typed::<T>(ctx, p, T::add),
        ReduceOp::Prod => reduce_window_typed::<T>(ctx, p, T::mul),
        ReduceOp::Max => reduce_window_typed::<T>(ctx, p, T::max),
        ReduceOp::Min => reduce_window_typed::<T>(ctx, p, T::min),
        other => Err(unsupported!("reduce_window {other:?} on numbers")),
    }
}

pub(super) fn run_reduce_window(ctx: &Ctx<'_>, op: ReduceOp, p: &ReduceWindowPlan) -> Result<()> {
    match ctx.in_info(0)?.dtype {
        DType::Bool => match op {
            ReduceOp::Any => reduce_window_typed::<u8>(ctx, p, |a, b| a | b),
            ReduceOp::All => reduce_window_typed::<u8>(ctx, p, |a, b| a & b),
            other => Err(unsupported!("reduce_window {other:?} on bool")),
        },
        d => with_window_type!(d, reduce_window_numeric(ctx, p, op), "reduce_window"),
    }
}

// ---------------------------------------------------------------- select_and_scatter

/// Load-time plan of a `select_and_scatter`.
#[derive(Debug, Clone)]
pub(crate) struct SelectAndScatterPlan {
    axes: Vec<AxisTaps>,
    sizes: Vec<usize>,
    in_strides: Vec<usize>,
    source_dims: Vec<usize>,
    out_len: usize,
}

pub(super) fn prepare_select_and_scatter(
    sg: &Subgraph,
    node: &Node,
    select: CompareOp,
    scatter: ReduceOp,
    window: &[WindowDim],
) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let src = info(sg, node, 1)?;
    let init = info(sg, node, 2)?;
    let y = out_info(sg, node, 0)?;
    super::util::same_dtype(x, src)?;
    super::util::same_dtype(x, init)?;
    super::util::same_dtype(x, y)?;
    let supported = window_dtype(x.dtype)
        && !super::util::is_quantized(x)
        && matches!(
            scatter,
            ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min | ReduceOp::Prod
        )
        && !matches!(select, CompareOp::Equal | CompareOp::NotEqual);
    if !supported {
        return Err(unsupported!(
            "select_and_scatter {select:?} / {scatter:?} on {}",
            x.dtype
        ));
    }
    let (xd, sd) = (x.shape.dims(), src.shape.dims());
    if window.len() != xd.len()
        || sd.len() != xd.len()
        || y.shape != x.shape
        || init.shape.num_elements()? != 1
        || xd.len() > MAX_RANK
        || window
            .iter()
            .any(|w| w.base_dilation != 1 || w.window_dilation != 1 || w.reverse)
    {
        return Err(invalid!(
            "select_and_scatter of {} with source {} into {}",
            x.shape,
            src.shape,
            y.shape
        ));
    }
    let mut axes = Vec::new();
    for (d, win) in window.iter().enumerate() {
        let t = axis_taps(xd[d], win)?;
        if t.out != sd[d] {
            return Err(invalid!(
                "dim {d}: operand {} with window {win:?} gives {} windows, source has {}",
                xd[d],
                t.out,
                sd[d]
            ));
        }
        axes.push(t);
    }
    let taps = window
        .iter()
        .try_fold(1usize, |acc, w| acc.checked_mul(w.size))
        .ok_or_else(|| too_large!("select_and_scatter window"))?;
    check_work(src.shape.num_elements()?, taps, 1)?;
    Ok(Prepared::SelectAndScatter(Box::new(SelectAndScatterPlan {
        sizes: window.iter().map(|w| w.size).collect(),
        axes,
        in_strides: strides(xd),
        source_dims: sd.to_vec(),
        out_len: y.shape.num_elements()?,
    })))
}

fn select_and_scatter_typed<T: WindowElem>(
    ctx: &Ctx<'_>,
    p: &SelectAndScatterPlan,
    keep: impl Fn(T, T) -> bool,
    scatter: impl Fn(T, T) -> T,
) -> Result<()> {
    let x = ctx.input_as::<T>(0)?;
    let src = ctx.input_as::<T>(1)?;
    let init = *ctx
        .input_as::<T>(2)?
        .first()
        .ok_or_else(|| invalid!("select_and_scatter init is empty"))?;
    let y = ctx.output_as::<T>(0)?;
    if y.len() < p.out_len || x.len() < p.out_len {
        return Err(invalid!("select_and_scatter buffers too short"));
    }
    y[..p.out_len].fill(init);
    let mut s = 0usize;
    let mut bad = false;
    for_each_index(&p.source_dims, |pos| {
        let mut chosen: Option<usize> = None;
        for_each_tap(&p.axes, &p.sizes, &p.in_strides, pos, |_, off| {
            let Some(o) = off else { return };
            chosen = match chosen {
                Some(c) if keep(x[c], x[o]) => Some(c),
                _ => Some(o),
            };
        });
        match (chosen, src.get(s)) {
            (Some(c), Some(v)) => y[c] = scatter(y[c], *v),
            (None, Some(_)) => {}
            (_, None) => bad = true,
        }
        s += 1;
    });
    if bad {
        return Err(invalid!("select_and_scatter source too short"));
    }
    Ok(())
}

fn select_and_scatter_numeric<T: WindowElem>(
    ctx: &Ctx<'_>,
    p: &SelectAndScatterPlan,
    select: CompareOp,
    scatter: ReduceOp,
) -> Result<()> {
    let keep = move |a: T, b: T| match select {
        CompareOp::GreaterEqual => a >= b,
        CompareOp::Greater => a > b,
        CompareOp::LessEqual => a <= b,
        CompareOp::Less => a < b,
        CompareOp::Equal => a == b,
        CompareOp::NotEqual => a != b,
    };
    match scatter {
        ReduceOp::Sum => select_and_scatter_typed::<T>(ctx, p, keep, T::add),
        ReduceOp::Prod => select_and_scatter_typed::<T>(ctx, p, keep, T::mul),
        ReduceOp::Max => select_and_scatter_typed::<T>(ctx, p, keep, T::max),
        ReduceOp::Min => select_and_scatter_typed::<T>(ctx, p, keep, T::min),
        other => Err(unsupported!("select_and_scatter with {other:?}")),
    }
}

pub(super) fn run_select_and_scatter(
    ctx: &Ctx<'_>,
    select: CompareOp,
    scatter: ReduceOp,
    p: &SelectAndScatterPlan,
) -> Result<()> {
    with_window_type!(
        ctx.in_info(0)?.dtype,
        select_and_scatter_numeric(ctx, p, select, scatter),
        "select_and_scatter"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(size: usize, stride: usize, lo: i64, hi: i64, bd: usize, wd: usize) -> WindowDim {
        WindowDim {
            size,
            stride,
            pad_low: lo,
            pad_high: hi,
            base_dilation: bd,
            window_dilation: wd,
            reverse: false,
        }
    }

    #[test]
    fn taps_follow_the_spec_shape_rule() {
        // The conformance case: operand 3, base dilation 2 (5), padding (2, 1) -> 8,
        // window 2 dilated by 3 (4), stride 4 -> 2 positions.
        let t = axis_taps(3, &win(2, 4, 2, 1, 2, 3)).unwrap();
        assert_eq!(t.out, 2);
        // Position 0 reads padded positions 0 and 3 -> operand positions -2 (pad) and 1 (hole).
        assert_eq!(t.index[..2], [OUTSIDE, OUTSIDE]);
        // Position 1 reads 4 and 7 -> operand positions 2 (element 1) and 5 (pad).
        assert_eq!(t.index[2..], [1, OUTSIDE]);
        // Negative padding crops; reversal swaps taps.
        let t = axis_taps(
            5,
            &WindowDim {
                reverse: true,
                ..win(2, 1, -1, -1, 1, 1)
            },
        )
        .unwrap();
        assert_eq!(t.out, 2);
        assert_eq!(t.index, [2, 1, 3, 2]);
    }

    #[test]
    fn hostile_windows_are_refused() {
        assert!(axis_taps(4, &win(2, 0, 0, 0, 1, 1)).is_err());
        assert!(axis_taps(4, &win(2, 1, 0, 0, 0, 1)).is_err());
        assert!(axis_taps(4, &win(2, 1, -3, -3, 1, 1)).is_err());
        assert!(axis_taps(4, &win(2, 1, i64::MIN, i64::MIN, 1, 1)).is_err());
        assert!(axis_taps(4, &win(1, 1, i64::MAX, i64::MAX, 1, 1)).is_err());
        assert!(axis_taps(4, &win(usize::MAX, 1, 0, 0, 1, usize::MAX)).is_err());
        assert!(axis_taps(4, &win(9, 1, 0, 0, 1, 1)).is_ok_and(|t| t.out == 0));
        assert!(axis_taps(1 << 20, &win(1 << 20, 1, 1 << 20, 1 << 20, 1, 1)).is_err());
        assert!(window_out_size(usize::MAX, &win(1, 1, 0, 0, usize::MAX, 1)).is_err());
        assert!(check_work(1 << 20, 1 << 20, 1 << 10).is_err());
    }
}

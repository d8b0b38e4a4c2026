//! Sort: n tensors sorted together along one dimension by a comparator, stably.
//!
//! The built-in comparators (one key input, ascending or descending, with the float orders JAX
//! and StableHLO use) run here with keys and permutations in the step's scratch; a comparator
//! region is run by the executor with the same merge sort (see `Model::run_sort_region`).

use alloc::boxed::Box;
use half::{bf16, f16};

use super::indexing::check_region;
use super::util::{input_info as info, output_info as out_info, same_dtype};
use super::Prepared;
use crate::error::Result;
use crate::executor::Ctx;
use crate::ir::{DType, FloatOrder, Graph, Node, SortComparator, Subgraph};
use crate::{invalid, too_large, unsupported};

/// Load-time plan of a sort.
pub(crate) struct SortPlan {
    /// Number of sorted inputs (= outputs).
    pub n: usize,
    /// Product of the dims before the sorted one.
    pub outer: usize,
    /// Extent of the sorted dim.
    pub len: usize,
    /// Product of the dims after it (the element stride along the sorted dim).
    pub inner: usize,
}

impl SortPlan {
    /// Element index of position `j` of row (`o`, `i`).
    #[inline]
    pub fn at(&self, o: usize, i: usize, j: usize) -> usize {
        (o * self.len + j) * self.inner + i
    }
}

/// Checks a sort node; returns its plan and scratch bytes (keys, permutations).
pub(super) fn prepare_sort(
    graph: &Graph,
    sg: &Subgraph,
    node: &Node,
    dim: usize,
    comparator: SortComparator,
) -> Result<(Prepared, usize)> {
    let n = node.outputs.len();
    if n == 0 || node.inputs.len() < n {
        return Err(invalid!(
            "sort with {} inputs and {n} outputs",
            node.inputs.len()
        ));
    }
    let x = info(sg, node, 0)?;
    for k in 0..n {
        let (xk, yk) = (info(sg, node, k)?, out_info(sg, node, k)?);
        same_dtype(xk, yk)?;
        if xk.shape != x.shape || yk.shape != x.shape {
            return Err(invalid!("sorted inputs and outputs must share one shape"));
        }
    }
    let d = x.shape.dims();
    if dim >= d.len() {
        return Err(invalid!(
            "sort dimension {dim} out of range for rank {}",
            d.len()
        ));
    }
    let plan = SortPlan {
        n,
        outer: d[..dim].iter().product(),
        len: d[dim],
        inner: d[dim + 1..].iter().product(),
    };
    let scratch = match comparator {
        SortComparator::Key { key, .. } => {
            if node.inputs.len() != n {
                return Err(invalid!("a built-in sort comparator takes no extra inputs"));
            }
            let kt = info(sg, node, key)
                .ok()
                .filter(|_| key < n)
                .ok_or_else(|| invalid!("sort key {key} is not a sorted input"))?;
            if !key_supported(kt.dtype) {
                return Err(unsupported!("sort keys of type {}", kt.dtype));
            }
            // Keys of one row, plus the permutations of every row and a merge buffer.
            let total = x.shape.num_elements()?;
            let words = core::mem::size_of::<usize>();
            plan.len
                .checked_mul(8)
                .and_then(|k| total.checked_mul(words).and_then(|p| p.checked_add(k)))
                .and_then(|v| v.checked_add(plan.len.checked_mul(words)?))
                .ok_or_else(|| too_large!("sort scratch"))?
        }
        SortComparator::Region(s) => {
            check_region(graph, sg, node, s, (0..n).flat_map(|k| [k, k]), 0)?;
            0
        }
    };
    Ok((Prepared::Sort(Box::new(plan)), scratch))
}

fn key_supported(d: DType) -> bool {
    matches!(
        d,
        DType::F32
            | DType::F16
            | DType::BF16
            | DType::I8
            | DType::U8
            | DType::I16
            | DType::I32
            | DType::I64
            | DType::U32
            | DType::Bool
    )
}

/// IEEE totalOrder of an f32 as an integer key.
fn total_order_key(x: f32) -> i64 {
    let b = x.to_bits() as i32;
    i64::from(b ^ ((((b >> 31) as u32) >> 1) as i32))
}

/// The sort key of element `k` of `bytes`: an ordered integer, or for [`FloatOrder::Ieee`] the
/// bits of the value as f64 (compared as a float).
fn key_of(d: DType, bytes: &[u8], k: usize, order: FloatOrder) -> Option<i64> {
    let es = d.size();
    let b = bytes.get(k * es..k * es + es)?;
    let float = |x: f32| match order {
        FloatOrder::Ieee => f64::from(x).to_bits() as i64,
        FloatOrder::Total => total_order_key(x),
        FloatOrder::NanLast => {
            if x.is_nan() {
                total_order_key(f32::NAN)
            } else if x == 0.0 {
                0
            } else {
                total_order_key(x)
            }
        }
    };
    Some(match d {
        DType::F32 => float(f32::from_le_bytes(b.try_into().ok()?)),
        DType::F16 => float(f16::from_le_bytes(b.try_into().ok()?).to_f32()),
        DType::BF16 => float(bf16::from_le_bytes(b.try_into().ok()?).to_f32()),
        DType::I8 => i64::from(b[0] as i8),
        DType::U8 | DType::Bool => i64::from(b[0]),
        DType::I16 => i64::from(i16::from_le_bytes(b.try_into().ok()?)),
        DType::I32 => i64::from(i32::from_le_bytes(b.try_into().ok()?)),
        DType::I64 => i64::from_le_bytes(b.try_into().ok()?),
        DType::U32 => i64::from(u32::from_le_bytes(b.try_into().ok()?)),
        _ => return None,
    })
}

/// Stable bottom-up merge sort of `perm` by `less` ("a goes before b"); `tmp` is as long.
/// Terminates whatever `less` answers (it may come from a model).
pub(crate) fn merge_sort(
    perm: &mut [usize],
    tmp: &mut [usize],
    mut less: impl FnMut(usize, usize) -> Result<bool>,
) -> Result<()> {
    let n = perm.len();
    if tmp.len() != n {
        return Err(invalid!("sort buffers differ in length"));
    }
    let mut width = 1usize;
    let mut in_perm = true;
    while width < n {
        if in_perm {
            merge_pass(perm, tmp, width, &mut less)?;
        } else {
            merge_pass(tmp, perm, width, &mut less)?;
        }
        in_perm = !in_perm;
        width = width.saturating_mul(2);
    }
    if !in_perm {
        perm.copy_from_slice(tmp);
    }
    Ok(())
}

fn merge_pass(
    src: &[usize],
    dst: &mut [usize],
    width: usize,
    less: &mut impl FnMut(usize, usize) -> Result<bool>,
) -> Result<()> {
    let n = src.len();
    let mut lo = 0usize;
    while lo < n {
        let mid = lo.saturating_add(width).min(n);
        let hi = mid.saturating_add(width).min(n);
        let (mut i, mut j) = (lo, mid);
        for slot in &mut dst[lo..hi] {
            // Take from the right run only when strictly before: equal elements keep order.
            let right = j < hi && (i >= mid || less(src[j], src[i])?);
            if right {
                *slot = src[j];
                j += 1;
            } else {
                *slot = src[i];
                i += 1;
            }
        }
        lo = hi;
    }
    Ok(())
}

/// Sorts with a built-in key comparator.
pub(super) fn run_sort(ctx: &Ctx<'_>, p: &SortPlan, comparator: SortComparator) -> Result<()> {
    let SortComparator::Key {
        key,
        descending,
        float_order,
    } = comparator
    else {
        return Err(invalid!("a sort region is run by the executor"));
    };
    let total = p.outer * p.len * p.inner;
    let scratch = ctx.scratch()?;
    let (keys, rest) = scratch
        .split_at_mut_checked(p.len * 8)
        .ok_or_else(|| invalid!("sort scratch too small"))?;
    let keys: &mut [i64] =
        bytemuck::try_cast_slice_mut(keys).map_err(|e| invalid!("sort scratch: {e:?}"))?;
    let words = core::mem::size_of::<usize>();
    let (perms, rest) = rest
        .split_at_mut_checked(total * words)
        .ok_or_else(|| invalid!("sort scratch too small"))?;
    let perms: &mut [usize] =
        bytemuck::try_cast_slice_mut(perms).map_err(|e| invalid!("sort scratch: {e:?}"))?;
    let tmp: &mut [usize] = bytemuck::try_cast_slice_mut(
        rest.get_mut(..p.len * words)
            .ok_or_else(|| invalid!("sort scratch too small"))?,
    )
    .map_err(|e| invalid!("sort scratch: {e:?}"))?;
    let kt = ctx.in_info(key)?.dtype;
    let kb = ctx.input(key)?;
    let ieee = kt.is_float() && float_order == FloatOrder::Ieee;
    let mut row = 0usize;
    for o in 0..p.outer {
        for i in 0..p.inner {
            for (j, k) in keys.iter_mut().enumerate() {
                *k = key_of(kt, kb, p.at(o, i, j), float_order)
                    .ok_or_else(|| invalid!("sort key out of range"))?;
            }
            let perm = &mut perms[row * p.len..(row + 1) * p.len];
            for (j, v) in perm.iter_mut().enumerate() {
                *v = j;
            }
            let keys = &*keys;
            let before = |a: usize, b: usize| -> bool {
                let (a, b) = if descending { (b, a) } else { (a, b) };
                if ieee {
                    f64::from_bits(keys[a] as u64) < f64::from_bits(keys[b] as u64)
                } else {
                    keys[a] < keys[b]
                }
            };
            merge_sort(perm, tmp, |a, b| Ok(before(a, b)))?;
            row += 1;
        }
    }
    write_permuted(ctx, p, perms)
}

/// Writes every output as its input permuted along the sorted dim (`perms`: one per row).
fn write_permuted(ctx: &Ctx<'_>, p: &SortPlan, perms: &[usize]) -> Result<()> {
    for k in 0..p.n {
        let es = ctx.in_info(k)?.dtype.size();
        let x = ctx.input(k)?;
        let y = ctx.output(k)?;
        let mut row = 0usize;
        for o in 0..p.outer {
            for i in 0..p.inner {
                for j in 0..p.len {
                    let from = perms
                        .get(row * p.len + j)
                        .map(|&s| p.at(o, i, s) * es)
                        .ok_or_else(|| invalid!("sort permutation too short"))?;
                    let to = p.at(o, i, j) * es;
                    let src = x
                        .get(from..from + es)
                        .ok_or_else(|| invalid!("sort read outside its input"))?;
                    y.get_mut(to..to + es)
                        .ok_or_else(|| invalid!("sort write outside its output"))?
                        .copy_from_slice(src);
                }
                row += 1;
            }
        }
    }
    Ok(())
}

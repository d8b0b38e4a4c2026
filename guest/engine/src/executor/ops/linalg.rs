//! Linear algebra: triangular solve (StableHLO `triangular_solve`).

use super::util::{input_info as info, output_info as out_info};
use super::Prepared;
use crate::error::Result;
use crate::executor::Ctx;
use crate::ir::{DType, Node, Subgraph};
use crate::{invalid, unsupported};

/// Shape of a batched triangular solve: `batch` problems, `a` is `m × m`, `b` and `x` are
/// `rows × cols`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TriangularPlan {
    batch: usize,
    m: usize,
    rows: usize,
    cols: usize,
}

/// Options of a triangular solve.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Triangular {
    pub left_side: bool,
    pub lower: bool,
    pub unit_diagonal: bool,
    pub transpose_a: bool,
}

pub(super) fn prepare(sg: &Subgraph, node: &Node, t: Triangular) -> Result<Prepared> {
    let a = info(sg, node, 0)?;
    let b = info(sg, node, 1)?;
    let y = out_info(sg, node, 0)?;
    if a.dtype != DType::F32 || b.dtype != DType::F32 || y.dtype != DType::F32 {
        return Err(unsupported!(
            "triangular_solve on {} and {}",
            a.dtype,
            b.dtype
        ));
    }
    let (ad, bd) = (a.shape.dims(), b.shape.dims());
    let r = ad.len();
    if r < 2 || bd.len() != r || ad[..r - 2] != bd[..r - 2] || b.shape != y.shape {
        return Err(invalid!(
            "triangular_solve of {} with {} into {}",
            a.shape,
            b.shape,
            y.shape
        ));
    }
    let m = ad[r - 1];
    let (rows, cols) = (bd[r - 2], bd[r - 1]);
    let solved = if t.left_side { rows } else { cols };
    if ad[r - 2] != m || solved != m {
        return Err(invalid!(
            "triangular_solve: a {} does not fit b {} (left side: {})",
            a.shape,
            b.shape,
            t.left_side
        ));
    }
    let batch = crate::ir::Shape::new(&ad[..r - 2]).num_elements()?;
    Ok(Prepared::Triangular(
        TriangularPlan {
            batch,
            m,
            rows,
            cols,
        },
        t,
    ))
}

pub(super) fn run(ctx: &Ctx<'_>, p: &TriangularPlan, t: Triangular) -> Result<()> {
    let a = ctx.input_as::<f32>(0)?;
    let b = ctx.input_as::<f32>(1)?;
    let x = ctx.output_as::<f32>(0)?;
    let (m, rows, cols) = (p.m, p.rows, p.cols);
    let (asz, bsz) = (m * m, rows * cols);
    if a.len() < p.batch * asz || b.len() < p.batch * bsz || x.len() < p.batch * bsz {
        return Err(invalid!("triangular_solve buffers too short"));
    }
    // The matrix actually solved with, op(a), and which triangle of it is used.
    let lower = t.lower != t.transpose_a;
    for k in 0..p.batch {
        let am = &a[k * asz..(k + 1) * asz];
        let at = |i: usize, j: usize| {
            if t.transpose_a {
                am[j * m + i]
            } else {
                am[i * m + j]
            }
        };
        let diag = |i: usize| if t.unit_diagonal { 1.0 } else { at(i, i) };
        let xs = &mut x[k * bsz..(k + 1) * bsz];
        xs.copy_from_slice(&b[k * bsz..(k + 1) * bsz]);
        // Row i of op(a)·X = B (left) or column j of X·op(a) = B (right), in the order in
        // which each unknown only depends on ones already solved.
        for step in 0..m {
            let i = if lower == t.left_side {
                step
            } else {
                m - 1 - step
            };
            let before = |j: usize| if lower { j < i } else { j > i };
            let d = diag(i);
            if t.left_side {
                // x[i, c] = (b[i, c] - Σ_j op(a)[i, j] x[j, c]) / op(a)[i, i]
                for c in 0..cols {
                    let mut s = xs[i * cols + c];
                    for j in (0..m).filter(|&j| before(j)) {
                        s -= at(i, j) * xs[j * cols + c];
                    }
                    xs[i * cols + c] = s / d;
                }
            } else {
                // x[r, i] = (b[r, i] - Σ_j x[r, j] op(a)[j, i]) / op(a)[i, i], j on the
                // solved side of i (below i for a lower op(a), above for an upper one).
                for r in 0..rows {
                    let mut s = xs[r * cols + i];
                    for j in (0..m).filter(|&j| if lower { j > i } else { j < i }) {
                        s -= xs[r * cols + j] * at(j, i);
                    }
                    xs[r * cols + i] = s / d;
                }
            }
        }
    }
    Ok(())
}

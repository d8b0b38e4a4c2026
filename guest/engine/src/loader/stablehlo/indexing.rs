//! Lowering of StableHLO's indexing ops: gather, scatter, sort, dynamic slices, and the
//! `dynamic_*` shape ops whose shape operands are constants.
//!
//! The attributes are mapped as they are; the executor checks them against the shapes when it
//! plans the graph (a malformed model fails to load there with the dimension named). Scatter
//! update computations and sort comparators that are one of the common forms become built-in
//! combiners / comparators; any other region is lowered to a subgraph the op runs per element.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use cerebro_stablehlo::ast::{Attr, Op as HloOp, Region, ValueId};

use super::{attr_ints, to_usizes, Lowerer};
use crate::error::{Error, Result};
use crate::ir::{
    DType, FloatOrder, GatherAttrs, Op, ScatterAttrs, ScatterCombiner, SortComparator, TensorKind,
};

/// What a value of a sort comparator computes, as far as the built-in comparators care.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpValue {
    /// Block argument `arg`, with −0 mapped to +0 (`zero`) and NaNs to +NaN (`nan`).
    Arg { arg: usize, zero: bool, nan: bool },
    /// `arg == 0`.
    IsZero(usize),
    /// `arg != arg`.
    IsNan(usize),
    /// The constant 0.
    Zero,
    /// A NaN constant.
    Nan,
    /// The final verdict.
    Verdict(SortComparator),
}

fn dims(v: &[i64], what: &str) -> Result<Vec<usize>> {
    to_usizes(v, what)
}

impl<'m> Lowerer<'m> {
    /// `gather` and `dynamic_gather` (constant slice sizes) → [`Op::GatherSlices`].
    pub(super) fn gather(&mut self, op: &HloOp) -> Result<()> {
        let Some(Attr::Gather(g)) = op.attr("dimension_numbers") else {
            return Err(Error::Malformed(format!(
                "{} without dimension numbers",
                op.name
            )));
        };
        let slice_sizes = if op.operands.len() == 3 {
            let t = self.value(op.operands[2])?;
            let v = self.const_ints(t).ok_or_else(|| {
                Error::Unsupported("dynamic_gather with computed slice sizes".into())
            })?;
            dims(&v, "slice size")?
        } else {
            dims(&attr_ints(op, "slice_sizes")?, "slice size")?
        };
        let attrs = GatherAttrs {
            offset_dims: dims(&g.offset_dims, "offset_dims")?,
            collapsed_slice_dims: dims(&g.collapsed_slice_dims, "collapsed_slice_dims")?,
            operand_batching_dims: dims(&g.operand_batching_dims, "operand_batching_dims")?,
            start_indices_batching_dims: dims(
                &g.start_indices_batching_dims,
                "start_indices_batching_dims",
            )?,
            start_index_map: dims(&g.start_index_map, "start_index_map")?,
            index_vector_dim: usize::try_from(g.index_vector_dim)
                .map_err(|_| Error::Invalid("negative index_vector_dim".into()))?,
            slice_sizes,
        };
        let x = self.value(op.operands[0])?;
        let idx = self.value(op.operands[1])?;
        let out = self.result(op, 0)?;
        self.node(Op::GatherSlices(attrs), vec![Some(x), Some(idx)], vec![out]);
        Ok(())
    }

    /// The built-in combiner a scatter region computes, if it is one.
    fn scatter_combiner(region: &Region, n: usize, dtype: DType) -> Option<ScatterCombiner> {
        if n != 1 {
            return None;
        }
        let block = region.blocks.first()?;
        if let ([ret], [_, (update, _)]) = (block.ops.as_slice(), block.arguments.as_slice()) {
            return (ret.operands.as_slice() == [*update]).then_some(ScatterCombiner::Replace);
        }
        Some(match (Self::reducer(region)?, dtype == DType::Bool) {
            ("add", _) | ("or", true) => ScatterCombiner::Add,
            ("multiply", _) | ("and", true) => ScatterCombiner::Mul,
            ("maximum", _) => ScatterCombiner::Max,
            ("minimum", _) => ScatterCombiner::Min,
            _ => return None,
        })
    }

    /// `scatter` → [`Op::Scatter`]; inputs are the operands then the region's captures.
    pub(super) fn scatter(&mut self, op: &'m HloOp) -> Result<()> {
        let Some(Attr::Scatter(d)) = op.attr("scatter_dimension_numbers") else {
            return Err(Error::Malformed("scatter without dimension numbers".into()));
        };
        let n = op.results.len();
        if op.operands.len() != 2 * n + 1 {
            return Err(Error::Invalid(format!(
                "scatter with {} operands and {n} results",
                op.operands.len()
            )));
        }
        let [region] = op.regions.as_slice() else {
            return Err(Error::Malformed(
                "scatter needs one update computation".into(),
            ));
        };
        let mut ins = self.operands(op)?;
        let (dtype, _) = self.info(ins[0]);
        let combiner = match Self::scatter_combiner(region, n, dtype) {
            Some(c) => c,
            None => {
                let (id, captures) = self.region(region, "scatter.update")?;
                for v in captures {
                    ins.push(self.value(v)?);
                }
                ScatterCombiner::Region(id)
            }
        };
        let attrs = ScatterAttrs {
            update_window_dims: dims(&d.update_window_dims, "update_window_dims")?,
            inserted_window_dims: dims(&d.inserted_window_dims, "inserted_window_dims")?,
            input_batching_dims: dims(&d.input_batching_dims, "input_batching_dims")?,
            scatter_indices_batching_dims: dims(
                &d.scatter_indices_batching_dims,
                "scatter_indices_batching_dims",
            )?,
            scatter_dims_to_operand_dims: dims(
                &d.scatter_dims_to_operand_dims,
                "scatter_dims_to_operand_dims",
            )?,
            index_vector_dim: usize::try_from(d.index_vector_dim)
                .map_err(|_| Error::Invalid("negative index_vector_dim".into()))?,
            combiner,
        };
        let mut outs = Vec::new();
        for i in 0..n {
            outs.push(self.result(op, i)?);
        }
        self.node(
            Op::Scatter(attrs),
            ins.into_iter().map(Some).collect(),
            outs,
        );
        Ok(())
    }

    /// A constant scalar value `v` (defined outside the comparator) as 0 or NaN.
    fn outer_constant(&mut self, v: ValueId) -> Option<CmpValue> {
        let t = self.value(v).ok()?;
        let info = &self.stack[self.stack.len() - 1].sub.tensors[t];
        let TensorKind::Constant(c) = info.kind else {
            return None;
        };
        if info.dtype != DType::F32 {
            return None;
        }
        let b = self.graph.constant_bytes(c);
        float_constant(f64::from(f32::from_le_bytes(b.try_into().ok()?)))
    }

    /// The built-in comparator a sort region computes, if it is one: `compare LT|GT` of the
    /// two arguments of one input, optionally after JAX's canonicalization of −0 and NaN.
    fn sort_comparator(&mut self, region: &Region, dtypes: &[DType]) -> Option<SortComparator> {
        let [block] = region.blocks.as_slice() else {
            return None;
        };
        if block.arguments.len() != 2 * dtypes.len() {
            return None;
        }
        let mut vals: BTreeMap<ValueId, CmpValue> = BTreeMap::new();
        for (arg, (v, _)) in block.arguments.iter().enumerate() {
            vals.insert(
                *v,
                CmpValue::Arg {
                    arg,
                    zero: false,
                    nan: false,
                },
            );
        }
        let (ret, body) = block.ops.split_last()?;
        for op in body {
            let [result] = op.results.as_slice() else {
                return None;
            };
            let get = |this: &mut Self, v: &ValueId| match vals.get(v) {
                Some(x) => Some(*x),
                None => this.outer_constant(*v),
            };
            let value = match op.name.as_str() {
                "stablehlo.constant" => match op.attr("value") {
                    Some(Attr::Elements(e)) if e.ty.element.storage_bytes() == 4 => {
                        let b = e.element_bytes(0)?;
                        float_constant(f64::from(f32::from_le_bytes(b.try_into().ok()?)))?
                    }
                    _ => return None,
                },
                "stablehlo.compare" => {
                    let [a, b] = op.operands.as_slice() else {
                        return None;
                    };
                    let (a, b) = (get(self, a)?, get(self, b)?);
                    let dir = match op.attr("comparison_direction") {
                        Some(Attr::Enum(_, d)) => d.as_str(),
                        _ => return None,
                    };
                    let ty = match op.attr("compare_type") {
                        Some(Attr::Enum(_, t)) => Some(t.as_str()),
                        _ => None,
                    };
                    compare_value(dir, ty, a, b, dtypes)?
                }
                "stablehlo.select" => {
                    let [c, t, f] = op.operands.as_slice() else {
                        return None;
                    };
                    match (get(self, c)?, get(self, t)?, get(self, f)?) {
                        (CmpValue::IsZero(i), CmpValue::Zero, CmpValue::Arg { arg, nan, .. })
                            if i == arg =>
                        {
                            CmpValue::Arg {
                                arg,
                                zero: true,
                                nan,
                            }
                        }
                        (CmpValue::IsNan(i), CmpValue::Nan, CmpValue::Arg { arg, zero, .. })
                            if i == arg =>
                        {
                            CmpValue::Arg {
                                arg,
                                zero,
                                nan: true,
                            }
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            };
            vals.insert(*result, value);
        }
        match (ret.name.as_str(), ret.operands.as_slice()) {
            ("stablehlo.return", [v]) => match vals.get(v)? {
                CmpValue::Verdict(c) => Some(*c),
                _ => None,
            },
            _ => None,
        }
    }

    /// `sort` → [`Op::Sort`]; inputs are the operands then the comparator's captures.
    pub(super) fn sort(&mut self, op: &'m HloOp) -> Result<()> {
        let n = op.operands.len();
        if op.results.len() != n {
            return Err(Error::Invalid(format!(
                "sort with {n} operands and {} results",
                op.results.len()
            )));
        }
        let mut ins = self.operands(op)?;
        let (_, shape) = self.info(ins[0]);
        let rank = shape.len() as i128;
        let dim = op
            .attr("dimension")
            .map(|a| {
                a.as_int()
                    .ok_or_else(|| Error::Malformed("sort dimension".into()))
            })
            .transpose()?
            .unwrap_or(-1);
        let dim = if dim < 0 { dim + rank } else { dim };
        if !(0..rank).contains(&dim) {
            return Err(Error::Invalid(format!(
                "sort dimension out of range for rank {rank}"
            )));
        }
        let [region] = op.regions.as_slice() else {
            return Err(Error::Malformed("sort needs one comparator".into()));
        };
        let dtypes: Vec<DType> = ins.iter().map(|&t| self.info(t).0).collect();
        let comparator = match self.sort_comparator(region, &dtypes) {
            Some(c) => c,
            None => {
                let (id, captures) = self.region(region, "sort.comparator")?;
                for v in captures {
                    ins.push(self.value(v)?);
                }
                SortComparator::Region(id)
            }
        };
        let mut outs = Vec::new();
        for i in 0..n {
            outs.push(self.result(op, i)?);
        }
        self.node(
            Op::Sort {
                dim: dim as usize,
                comparator,
            },
            ins.into_iter().map(Some).collect(),
            outs,
        );
        Ok(())
    }

    /// `dynamic_slice`: constant starts become a [`Op::Slice`] (clamped now), computed ones a
    /// [`Op::DynamicSlice`] (clamped when it runs).
    pub(super) fn dynamic_slice(&mut self, op: &HloOp) -> Result<()> {
        let x = self.value(op.operands[0])?;
        let (_, s) = self.info(x);
        let sizes = dims(&attr_ints(op, "slice_sizes")?, "slice size")?;
        if sizes.len() != s.len() || op.operands.len() != s.len() + 1 {
            return Err(Error::Invalid(
                "dynamic_slice operands do not match the rank".into(),
            ));
        }
        let starts = self.operands(op)?.split_off(1);
        let mut begin = Vec::new();
        for (k, &t) in starts.iter().enumerate() {
            let max = s[k]
                .checked_sub(sizes[k])
                .ok_or_else(|| Error::Invalid("slice larger than operand".into()))?;
            match self.const_int(t) {
                Some(v) => begin.push(usize::try_from(v.max(0)).unwrap_or(usize::MAX).min(max)),
                _ => break,
            }
        }
        let out = self.result(op, 0)?;
        if begin.len() == s.len() {
            self.node(
                Op::Slice {
                    begin,
                    stride: vec![1; s.len()],
                    slice_shape: sizes,
                },
                vec![Some(x)],
                vec![out],
            );
        } else {
            let mut ins = vec![Some(x)];
            ins.extend(starts.into_iter().map(Some));
            self.node(Op::DynamicSlice, ins, vec![out]);
        }
        Ok(())
    }

    /// `dynamic_update_slice` → [`Op::DynamicUpdateSlice`].
    pub(super) fn dynamic_update_slice(&mut self, op: &HloOp) -> Result<()> {
        self.simple(op, Op::DynamicUpdateSlice)
    }

    /// The `dynamic_*` shape ops whose shape operands are constants equal to the static result
    /// type lower like their static forms; `get_dimension_size` becomes a constant.
    pub(super) fn static_dynamic(&mut self, op: &'m HloOp, base: &str) -> Result<()> {
        let computed = || Error::Unsupported(format!("{base} with a computed shape"));
        let (rd, rs) = Self::result_type(op, 0)?;
        let ints = |this: &mut Self, k: usize| -> Result<Vec<i64>> {
            let t = this.value(op.operands[k])?;
            this.const_ints(t).ok_or_else(computed)
        };
        let same_shape = |v: &[i64]| -> Result<()> {
            if v.len() != rs.len() || v.iter().zip(&rs).any(|(&a, &b)| a != b as i64) {
                return Err(Error::Invalid(format!(
                    "{base}: shape operand {v:?} differs from the result type {rs:?}"
                )));
            }
            Ok(())
        };
        match base {
            "dynamic_iota" => {
                same_shape(&ints(self, 0)?)?;
                self.lower_as(op, "iota")
            }
            "dynamic_reshape" => {
                same_shape(&ints(self, 1)?)?;
                let x = self.value(op.operands[0])?;
                let out = self.result(op, 0)?;
                self.node(Op::Reshape, vec![Some(x)], vec![out]);
                Ok(())
            }
            "dynamic_broadcast_in_dim" => {
                same_shape(&ints(self, 1)?)?;
                self.lower_as(op, "broadcast_in_dim")
            }
            _ => {
                // get_dimension_size
                let x = self.value(op.operands[0])?;
                let (_, s) = self.info(x);
                let dim = op.attr("dimension").and_then(Attr::as_int).ok_or_else(|| {
                    Error::Malformed("get_dimension_size without a dimension".into())
                })?;
                let dim = usize::try_from(dim)
                    .ok()
                    .filter(|&d| d < s.len())
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "get_dimension_size dimension {dim} out of range for rank {}",
                            s.len()
                        ))
                    })?;
                let size = i32::try_from(s[dim])
                    .map_err(|_| Error::Unsupported("dimension size beyond i32".into()))?;
                if rd != DType::I32 || !rs.is_empty() {
                    return Err(Error::Invalid(
                        "get_dimension_size must return a tensor<i32>".into(),
                    ));
                }
                let c = self.constant(DType::I32, &[], &size.to_le_bytes())?;
                let out = self.result(op, 0)?;
                self.node(Op::Identity, vec![Some(c)], vec![out]);
                Ok(())
            }
        }
    }
}

/// A float constant as [`CmpValue::Zero`] or [`CmpValue::Nan`].
fn float_constant(v: f64) -> Option<CmpValue> {
    if v.is_nan() {
        Some(CmpValue::Nan)
    } else if v == 0.0 {
        Some(CmpValue::Zero)
    } else {
        None
    }
}

/// What `compare dir, a, b : ty` computes in a comparator over inputs of `dtypes`.
fn compare_value(
    dir: &str,
    ty: Option<&str>,
    a: CmpValue,
    b: CmpValue,
    dtypes: &[DType],
) -> Option<CmpValue> {
    match (dir, a, b) {
        ("EQ", CmpValue::Arg { arg, .. }, CmpValue::Zero) => Some(CmpValue::IsZero(arg)),
        ("NE", CmpValue::Arg { arg, .. }, CmpValue::Arg { arg: other, .. }) if arg == other => {
            Some(CmpValue::IsNan(arg))
        }
        (
            "LT" | "GT",
            CmpValue::Arg { arg: i, zero, nan },
            CmpValue::Arg {
                arg: j,
                zero: zero_b,
                nan: nan_b,
            },
        ) if i / 2 == j / 2 && i != j && zero == zero_b && nan == nan_b => {
            let key = i / 2;
            // `a < b` with a = argument 2k is ascending; swapped operands reverse it.
            let descending = (dir == "GT") != (i % 2 == 1);
            let dtype = *dtypes.get(key)?;
            let float_order = if dtype.is_float() {
                match (ty, zero, nan) {
                    (Some("TOTALORDER"), true, true) => FloatOrder::NanLast,
                    (Some("TOTALORDER"), false, false) => FloatOrder::Total,
                    (Some("TOTALORDER"), _, _) => return None,
                    (None | Some("FLOAT"), _, _) => FloatOrder::Ieee,
                    _ => return None,
                }
            } else {
                let signed = matches!(dtype, DType::I8 | DType::I16 | DType::I32 | DType::I64);
                match ty {
                    None => {}
                    Some("SIGNED") if signed => {}
                    Some("UNSIGNED") if !signed => {}
                    _ => return None,
                }
                FloatOrder::Ieee
            };
            Some(CmpValue::Verdict(SortComparator::Key {
                key,
                descending,
                float_order,
            }))
        }
        _ => None,
    }
}

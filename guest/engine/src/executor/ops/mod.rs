//! Per-op load-time preparation and run-time dispatch.

mod dot;
mod elementwise;
pub(crate) mod indexing;
mod linalg;
pub(crate) mod nn;
mod quantized;
mod quantized_reduce;
mod reduce;
mod resize;
mod scalar;
mod shape;
pub(crate) mod sort;
mod util;
mod window;

use alloc::boxed::Box;

use crate::error::Result;
use crate::executor::kernels::quant::ops::SoftmaxI8Params;
use crate::executor::Ctx;
use crate::ir::{DType, Graph, Node, Op, Subgraph};
use crate::{invalid, unsupported};

pub(crate) use util::Bcast;

/// Data an op computed at load time for its runs.
pub(crate) enum Prepared {
    /// Nothing to keep.
    None,
    /// A broadcasting plan.
    Bcast(Bcast),
    /// A reduction plan.
    Reduce(Box<reduce::ReducePlan>),
    /// Quantized binary op parameters.
    QuantBinary(Box<quantized::QuantBinary>),
    /// Quantized unary op parameters.
    QuantUnary(Box<quantized::QuantUnary>),
    /// Quantized comparison parameters.
    QuantCompare(Box<quantized::QuantCompare>),
    /// Quantize / dequantize parameters.
    QuantConvert(Box<quantized::QuantConvert>),
    /// Quantized reduction.
    QuantReduce(Box<quantized_reduce::QuantReduce>),
    /// int8 softmax parameters.
    QuantSoftmax(SoftmaxI8Params),
    /// Convolution / FC / pooling / matmul data (packed weights, geometry).
    Nn(Box<nn::NnPrepared>),
    /// A batch of matrix products (dot_general, batch matmul) on the packed GEMM.
    Matmul(Box<dot::MatmulPlan>),
    /// General N-D convolution tap tables.
    ConvNd(Box<window::ConvNdPlan>),
    /// `reduce_window` tap tables.
    ReduceWindow(Box<window::ReduceWindowPlan>),
    /// `select_and_scatter` tap tables.
    SelectAndScatter(Box<window::SelectAndScatterPlan>),
    /// Triangular solve sizes and options.
    Triangular(linalg::TriangularPlan, linalg::Triangular),
    /// StableHLO gather plan.
    Gather(Box<indexing::GatherPlan>),
    /// StableHLO scatter plan.
    Scatter(Box<indexing::ScatterPlan>),
    /// Sort plan.
    Sort(Box<sort::SortPlan>),
}

/// Checks a node's arity.
fn arity(node: &Node, inputs: core::ops::RangeInclusive<usize>, outputs: usize) -> Result<()> {
    if !inputs.contains(&node.inputs.len()) {
        return Err(invalid!(
            "{} takes {:?} inputs, has {}",
            node.op.name(),
            inputs,
            node.inputs.len()
        ));
    }
    if node.outputs.len() != outputs {
        return Err(invalid!(
            "{} has {outputs} outputs, node lists {}",
            node.op.name(),
            node.outputs.len()
        ));
    }
    Ok(())
}

/// Validates `node` and computes its prepared data; returns the scratch bytes it needs.
pub(crate) fn prepare(graph: &Graph, sg: &Subgraph, node: &Node) -> Result<(Prepared, usize)> {
    let p = match &node.op {
        Op::Identity | Op::Reshape => {
            arity(node, 1..=2, 1)?;
            shape::prepare_reshape(sg, node)?
        }
        Op::Unary(u) => {
            arity(node, 1..=1, 1)?;
            elementwise::prepare_unary(sg, node, *u)?
        }
        Op::Binary { op, activation } => {
            arity(node, 2..=2, 1)?;
            elementwise::prepare_binary(sg, node, *op, *activation)?
        }
        Op::Compare(_) => {
            arity(node, 2..=2, 1)?;
            elementwise::prepare_compare(sg, node)?
        }
        Op::Select => {
            arity(node, 3..=3, 1)?;
            elementwise::prepare_select(sg, node)?
        }
        Op::Cast => {
            arity(node, 1..=1, 1)?;
            elementwise::prepare_cast(sg, node)?
        }
        Op::Bitcast => {
            arity(node, 1..=1, 1)?;
            elementwise::prepare_bitcast(sg, node)?
        }
        Op::Quantize => {
            arity(node, 1..=1, 1)?;
            let x = util::input_info(sg, node, 0)?;
            let y = util::output_info(sg, node, 0)?;
            quantized::prepare_quantize(x, y)?
        }
        Op::Dequantize => {
            arity(node, 1..=1, 1)?;
            elementwise::prepare_dequantize(sg, node)?
        }
        Op::Conv2d(a) => {
            arity(node, 2..=3, 1)?;
            return nn::prepare_conv(graph, sg, node, a);
        }
        Op::DepthwiseConv2d(a) => {
            arity(node, 2..=3, 1)?;
            return nn::prepare_depthwise(graph, sg, node, a);
        }
        Op::ConvNd(a) => {
            arity(node, 2..=2, 1)?;
            window::prepare_conv_nd(sg, node, a)?
        }
        Op::ReduceWindow { op, window } => {
            arity(node, 2..=2, 1)?;
            window::prepare_reduce_window(sg, node, *op, window)?
        }
        Op::SelectAndScatter {
            select,
            scatter,
            window,
        } => {
            arity(node, 3..=3, 1)?;
            window::prepare_select_and_scatter(sg, node, *select, *scatter, window)?
        }
        Op::TriangularSolve {
            left_side,
            lower,
            unit_diagonal,
            transpose_a,
        } => {
            arity(node, 2..=2, 1)?;
            linalg::prepare(
                sg,
                node,
                linalg::Triangular {
                    left_side: *left_side,
                    lower: *lower,
                    unit_diagonal: *unit_diagonal,
                    transpose_a: *transpose_a,
                },
            )?
        }
        Op::FullyConnected { activation } => {
            arity(node, 2..=3, 1)?;
            return nn::prepare_fc(graph, sg, node, *activation);
        }
        Op::BatchMatMul { adj_x, adj_y } => {
            arity(node, 2..=2, 1)?;
            return dot::prepare_batch_matmul(graph, sg, node, *adj_x, *adj_y);
        }
        Op::DotGeneral(a) => {
            arity(node, 2..=2, 1)?;
            return dot::prepare_dot_general(graph, sg, node, a);
        }
        Op::Pool2d(a) => {
            arity(node, 1..=1, 1)?;
            return nn::prepare_pool(sg, node, a);
        }
        Op::Reduce { op, axes, .. } => {
            arity(node, 1..=2, 1)?;
            reduce::prepare_reduce(sg, node, *op, axes)?
        }
        Op::ArgReduce { axis, .. } => {
            arity(node, 1..=2, 1)?;
            reduce::prepare_arg(sg, node, *axis)?
        }
        Op::Softmax { beta, axis } => {
            arity(node, 1..=1, 1)?;
            let x = util::input_info(sg, node, 0)?;
            if util::is_quantized(x) {
                let y = util::output_info(sg, node, 0)?;
                if x.dtype != DType::I8
                    || y.dtype != DType::I8
                    || *axis + 1 != x.shape.rank()
                    || x.shape != y.shape
                {
                    return Err(unsupported!(
                        "quantized softmax {} -> {} over axis {axis}",
                        x.dtype,
                        y.dtype
                    ));
                }
                let (si, _) = util::per_tensor(x)?;
                util::per_tensor(y)?;
                Prepared::QuantSoftmax(SoftmaxI8Params::new(si, *beta))
            } else {
                reduce::prepare_softmax(sg, node, *beta, *axis, false)?
            }
        }
        Op::LogSoftmax { axis } => {
            arity(node, 1..=1, 1)?;
            reduce::prepare_softmax(sg, node, 1.0, *axis, true)?
        }
        Op::Transpose { perm } => {
            arity(node, 1..=2, 1)?;
            shape::prepare_transpose(sg, node, perm)?
        }
        Op::Concat { axis, .. } => {
            if node.inputs.is_empty() || node.outputs.len() != 1 {
                return Err(invalid!("concat needs inputs and one output"));
            }
            shape::prepare_concat(sg, node, *axis)?
        }
        Op::Split { axis } => {
            if node.inputs.is_empty() || node.outputs.is_empty() {
                return Err(invalid!("split needs an input and outputs"));
            }
            shape::prepare_split(sg, node, *axis)?
        }
        Op::Slice {
            begin,
            stride,
            slice_shape,
        } => {
            arity(node, 1..=4, 1)?;
            shape::prepare_slice(sg, node, begin, stride, slice_shape)?
        }
        Op::Pad {
            before,
            after,
            interior,
            mode,
        } => {
            arity(node, 1..=2, 1)?;
            shape::prepare_pad(sg, node, before, after, interior, *mode)?
        }
        Op::Gather { axis, batch_dims } => {
            arity(node, 2..=2, 1)?;
            shape::prepare_gather(sg, node, *axis, *batch_dims)?
        }
        Op::GatherNd => {
            arity(node, 2..=2, 1)?;
            shape::prepare_gather_nd(sg, node)?
        }
        Op::GatherSlices(a) => {
            arity(node, 2..=2, 1)?;
            indexing::prepare_gather(sg, node, a)?
        }
        Op::Scatter(a) => indexing::prepare_scatter(graph, sg, node, a)?,
        Op::Sort { dim, comparator } => {
            return sort::prepare_sort(graph, sg, node, *dim, *comparator);
        }
        Op::DynamicSlice => {
            arity(node, 1..=1 + util::MAX_RANK, 1)?;
            indexing::prepare_dynamic_slice(sg, node)?
        }
        Op::DynamicUpdateSlice => {
            arity(node, 2..=2 + util::MAX_RANK, 1)?;
            indexing::prepare_dynamic_update_slice(sg, node)?
        }
        Op::Tile { multiples } => {
            arity(node, 1..=2, 1)?;
            shape::prepare_tile(sg, node, multiples)?
        }
        Op::BroadcastTo => {
            arity(node, 1..=2, 1)?;
            shape::prepare_broadcast(sg, node)?
        }
        Op::Resize {
            mode,
            align_corners,
            half_pixel_centers,
        } => {
            arity(node, 1..=2, 1)?;
            resize::prepare(sg, node, *mode, *align_corners, *half_pixel_centers)?
        }
        Op::DepthToSpace { block } => {
            arity(node, 1..=1, 1)?;
            shape::prepare_depth_space(sg, node, *block, true)?
        }
        Op::SpaceToDepth { block } => {
            arity(node, 1..=1, 1)?;
            shape::prepare_depth_space(sg, node, *block, false)?
        }
        Op::Cumsum { axis, .. } => {
            arity(node, 1..=2, 1)?;
            reduce::prepare_cumsum(sg, node, *axis)?
        }
        Op::Iota { dim } => {
            arity(node, 0..=0, 1)?;
            shape::prepare_iota(sg, node, *dim)?
        }
        // Control flow and variables are run by the executor itself; the call graph and
        // signatures were checked by the planner.
        Op::Call { .. } | Op::If { .. } | Op::While { .. } | Op::CallOnce { .. } => Prepared::None,
        Op::VarHandle { resource } => {
            arity(node, 0..=0, 1)?;
            if *resource >= graph.resources.len() {
                return Err(invalid!("resource {resource} out of range"));
            }
            let y = util::output_info(sg, node, 0)?;
            if y.dtype != DType::Resource || y.shape.num_elements()? != 1 {
                return Err(invalid!("VAR_HANDLE output must be one resource handle"));
            }
            Prepared::None
        }
        Op::ReadVariable => {
            arity(node, 1..=1, 1)?;
            resource_input(sg, node)?;
            Prepared::None
        }
        Op::AssignVariable => {
            arity(node, 2..=2, 0)?;
            resource_input(sg, node)?;
            Prepared::None
        }
    };
    Ok((p, 0))
}

fn resource_input(sg: &Subgraph, node: &Node) -> Result<()> {
    let h = util::input_info(sg, node, 0)?;
    if h.dtype != DType::Resource {
        return Err(invalid!(
            "input 0 must be a resource handle, is {}",
            h.dtype
        ));
    }
    Ok(())
}

/// Runs one (non-control-flow) node.
pub(crate) fn run(ctx: &Ctx<'_>, node: &Node, prepared: &Prepared) -> Result<()> {
    match &node.op {
        Op::Identity | Op::Reshape => shape::run_copy(ctx),
        Op::Unary(u) => elementwise::run_unary(ctx, *u, prepared),
        Op::Binary { op, activation } => elementwise::run_binary(ctx, *op, *activation, prepared),
        Op::Compare(c) => elementwise::run_compare(ctx, *c, prepared),
        Op::Select => elementwise::run_select(ctx, prepared),
        Op::Cast => elementwise::run_cast(ctx),
        Op::Bitcast => elementwise::run_bitcast(ctx),
        Op::Quantize => quantized::run_quantize(ctx, prepared),
        Op::Dequantize => elementwise::run_dequantize(ctx, prepared),
        Op::Conv2d(_) | Op::DepthwiseConv2d(_) | Op::FullyConnected { .. } | Op::Pool2d(_) => {
            match prepared {
                Prepared::Nn(p) => nn::run(ctx, p),
                _ => Err(invalid!("{} not prepared", node.op.name())),
            }
        }
        Op::DotGeneral(_) | Op::BatchMatMul { .. } => match prepared {
            Prepared::Matmul(p) => dot::run(ctx, p),
            _ => Err(invalid!("{} not prepared", node.op.name())),
        },
        Op::ConvNd(_) => match prepared {
            Prepared::ConvNd(p) => window::run_conv_nd(ctx, p),
            _ => Err(invalid!("convolution not prepared")),
        },
        Op::ReduceWindow { op, .. } => match prepared {
            Prepared::ReduceWindow(p) => window::run_reduce_window(ctx, *op, p),
            _ => Err(invalid!("reduce_window not prepared")),
        },
        Op::SelectAndScatter {
            select, scatter, ..
        } => match prepared {
            Prepared::SelectAndScatter(p) => {
                window::run_select_and_scatter(ctx, *select, *scatter, p)
            }
            _ => Err(invalid!("select_and_scatter not prepared")),
        },
        Op::TriangularSolve { .. } => match prepared {
            Prepared::Triangular(p, t) => linalg::run(ctx, p, *t),
            _ => Err(invalid!("triangular_solve not prepared")),
        },
        Op::Reduce { op, .. } => reduce::run_reduce(ctx, *op, prepared),
        Op::ArgReduce { max, axis } => reduce::run_arg(ctx, *max, *axis),
        Op::Softmax { beta, axis } => match prepared {
            Prepared::QuantSoftmax(p) => {
                let xi = ctx.in_info(0)?;
                let depth = *xi.shape.dims().last().unwrap_or(&1);
                let rows = xi.shape.num_elements()? / depth.max(1);
                let x = ctx.input_as::<i8>(0)?;
                let y = ctx.output_as::<i8>(0)?;
                crate::executor::kernels::quant::ops::softmax_i8(p, (rows, depth), x, y)?;
                Ok(())
            }
            _ => reduce::run_softmax(ctx, *beta, *axis, false, prepared),
        },
        Op::LogSoftmax { axis } => reduce::run_softmax(ctx, 1.0, *axis, true, prepared),
        Op::Transpose { .. } => shape::run_transpose(ctx, prepared),
        Op::Concat { axis, activation } => shape::run_concat(ctx, *axis, *activation),
        Op::Split { axis } => shape::run_split(ctx, *axis),
        Op::Slice {
            begin,
            stride,
            slice_shape,
        } => shape::run_slice(ctx, begin, stride, slice_shape),
        Op::Pad {
            before,
            interior,
            mode,
            ..
        } => shape::run_pad(ctx, before, interior, *mode),
        Op::Gather { axis, batch_dims } => shape::run_gather(ctx, *axis, *batch_dims),
        Op::GatherNd => shape::run_gather_nd(ctx),
        Op::GatherSlices(_) => match prepared {
            Prepared::Gather(p) => indexing::run_gather(ctx, p),
            _ => Err(invalid!("gather not prepared")),
        },
        Op::Scatter(a) => match prepared {
            Prepared::Scatter(p) => indexing::run_scatter(ctx, a, p),
            _ => Err(invalid!("scatter not prepared")),
        },
        Op::Sort { comparator, .. } => match prepared {
            Prepared::Sort(p) => sort::run_sort(ctx, p, *comparator),
            _ => Err(invalid!("sort not prepared")),
        },
        Op::DynamicSlice => indexing::run_dynamic_slice(ctx),
        Op::DynamicUpdateSlice => indexing::run_dynamic_update_slice(ctx),
        Op::Tile { .. } => shape::run_tile(ctx),
        Op::BroadcastTo => shape::run_broadcast(ctx, prepared),
        Op::Resize {
            mode,
            align_corners,
            half_pixel_centers,
        } => resize::run(ctx, *mode, *align_corners, *half_pixel_centers),
        Op::DepthToSpace { block } => shape::run_depth_space(ctx, *block, true),
        Op::SpaceToDepth { block } => shape::run_depth_space(ctx, *block, false),
        Op::Cumsum {
            axis,
            exclusive,
            reverse,
        } => reduce::run_cumsum(ctx, *axis, *exclusive, *reverse),
        Op::Iota { dim } => shape::run_iota(ctx, *dim),
        Op::VarHandle { resource } => {
            let y = ctx.output(0)?;
            let id = u32::try_from(*resource).map_err(|_| invalid!("resource id too large"))?;
            y.get_mut(..4)
                .ok_or_else(|| invalid!("resource handle too short"))?
                .copy_from_slice(&id.to_le_bytes());
            Ok(())
        }
        Op::Call { .. }
        | Op::If { .. }
        | Op::While { .. }
        | Op::CallOnce { .. }
        | Op::ReadVariable
        | Op::AssignVariable => Err(invalid!(
            "{} is run by the executor, not as a step",
            node.op.name()
        )),
    }
}

//! Operations and their attributes.
//!
//! Conventions: images are NHWC; 2-D convolution filters are OHWI (`[out_c, kh, kw, in_c/groups]`);
//! depthwise filters are `[1, kh, kw, in_c * multiplier]`; fully-connected weights are `[n, k]`.
//! Elementwise binary ops broadcast numpy-style. Quantized ops take their scales and zero points
//! from the tensors' [`QuantParams`](super::QuantParams). Output dtypes and shapes are the output
//! tensors' (static); the planner checks they agree with the op.

use alloc::vec::Vec;

use super::{DType, SubgraphId};

/// Activation fused into the output of an op (clamps or maps the result).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// clamp(x, -1, 1).
    ReluN1To1,
    /// clamp(x, 0, 6).
    Relu6,
    /// tanh(x).
    Tanh,
    /// sign bit (unused by real models; refused).
    SignBit,
}

/// Explicit 2-D padding in pixels (SAME/VALID are resolved by the loader from static shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding2d {
    /// Rows added above.
    pub top: usize,
    /// Rows added below.
    pub bottom: usize,
    /// Columns added on the left.
    pub left: usize,
    /// Columns added on the right.
    pub right: usize,
}

/// 2-D convolution attributes (inputs: x NHWC, filter OHWI, optional bias `[out_c]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dAttrs {
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
    /// Explicit padding.
    pub padding: Padding2d,
    /// Feature groups (1 = ordinary convolution; in_c / filter in-channels).
    pub groups: usize,
    /// Fused activation.
    pub activation: Activation,
}

/// Depthwise convolution attributes (inputs: x NHWC, filter `[1, kh, kw, out_c]`, optional bias).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthwiseAttrs {
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
    /// Explicit padding.
    pub padding: Padding2d,
    /// out_c / in_c.
    pub depth_multiplier: usize,
    /// Fused activation.
    pub activation: Activation,
}

/// Pooling kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum over the window.
    Max,
    /// Average over the in-bounds part of the window (TFLite semantics).
    Average,
}

/// 2-D pooling attributes (input NHWC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dAttrs {
    /// Max or average.
    pub kind: PoolKind,
    /// Window height.
    pub filter_h: usize,
    /// Window width.
    pub filter_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Explicit padding.
    pub padding: Padding2d,
    /// Fused activation.
    pub activation: Activation,
}

/// One dimension of a general window (StableHLO `convolution` and `reduce_window`): the
/// operand is dilated by `base_dilation` (holes between elements), padded by `pad_low` /
/// `pad_high` (negative crops), and a window of `size` taps spread `window_dilation` apart
/// slides over it `stride` elements at a time. Values come from untrusted models: the
/// executor checks every size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowDim {
    /// Taps of the window (the kernel size for a convolution).
    pub size: usize,
    /// Step between windows.
    pub stride: usize,
    /// Padding before the (dilated) operand; negative removes elements.
    pub pad_low: i64,
    /// Padding after the (dilated) operand; negative removes elements.
    pub pad_high: i64,
    /// Operand dilation (`lhs_dilation` / `base_dilations`; 1 = none).
    pub base_dilation: usize,
    /// Window dilation (`rhs_dilation` / `window_dilations`; 1 = none).
    pub window_dilation: usize,
    /// Tap `k` uses kernel element `size - 1 - k` (convolution `window_reversal`).
    pub reverse: bool,
}

impl WindowDim {
    /// A plain window of `size` taps moving by `stride`, no padding or dilation.
    pub fn plain(size: usize, stride: usize) -> Self {
        WindowDim {
            size,
            stride,
            pad_low: 0,
            pad_high: 0,
            base_dilation: 1,
            window_dilation: 1,
            reverse: false,
        }
    }
}

/// General N-D convolution attributes (StableHLO `convolution`). Layouts: input
/// `[batch, spatial..., in_c]`, kernel `[out_c, spatial..., in_c / feature_groups]`, output
/// `[batch / batch_groups, spatial..., out_c]`; `window` has one entry per spatial dim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvNdAttrs {
    /// Per spatial dim: kernel size, stride, padding, lhs/rhs dilation, reversal.
    pub window: Vec<WindowDim>,
    /// Input-feature groups (`feature_group_count`).
    pub feature_groups: usize,
    /// Batch groups (`batch_group_count`): output feature group g reads batch slice g.
    pub batch_groups: usize,
}

/// Elementwise unary functions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    /// |x|.
    Abs,
    /// -x.
    Neg,
    /// e^x.
    Exp,
    /// ln x.
    Log,
    /// √x.
    Sqrt,
    /// 1/√x.
    Rsqrt,
    /// x².
    Square,
    /// tanh x.
    Tanh,
    /// 1/(1+e^-x).
    Logistic,
    /// max(x, 0).
    Relu,
    /// clamp(x, 0, 6).
    Relu6,
    /// clamp(x, -1, 1).
    ReluN1To1,
    /// clamp(x, 0, 1).
    Relu0To1,
    /// x·relu6(x+3)/6.
    HardSwish,
    /// GELU, exact (erf) or tanh approximation.
    Gelu {
        /// Use the tanh approximation.
        approximate: bool,
    },
    /// x if x > 0 else e^x − 1.
    Elu,
    /// x if x ≥ 0 else alpha·x.
    LeakyRelu {
        /// Negative slope.
        alpha: f32,
    },
    /// ⌊x⌋.
    Floor,
    /// ⌈x⌉.
    Ceil,
    /// Round half to even.
    Round,
    /// sin x.
    Sin,
    /// cos x.
    Cos,
    /// sign(x).
    Sign,
    /// Logical not (bool).
    LogicalNot,
    /// e^x − 1.
    Expm1,
    /// ln(1 + x).
    Log1p,
    /// ∛x.
    Cbrt,
    /// tan x.
    Tan,
    /// Round half away from zero.
    RoundAwayFromZero,
    /// Bitwise not (integers; logical not on bool).
    BitwiseNot,
    /// Number of set bits (integers).
    PopCount,
    /// Number of leading zero bits (integers).
    CountLeadingZeros,
    /// Rounds a float to the precision of a format with these exponent and mantissa bits
    /// (StableHLO `reduce_precision`; XLA's rounding to nearest even, overflow to ±inf).
    ReducePrecision {
        /// Exponent bits of the narrower format (≥ 1).
        exponent_bits: u32,
        /// Mantissa bits of the narrower format.
        mantissa_bits: u32,
    },
}

/// Elementwise binary functions (numpy broadcasting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// a + b.
    Add,
    /// a − b.
    Sub,
    /// a · b.
    Mul,
    /// a / b (integer division truncates; `x / 0` is all bits set and `MIN / -1` is MIN, as
    /// XLA).
    Div,
    /// Remainder with the dividend's sign (C fmod; integer `x % 0` is `x`, as XLA).
    Rem,
    /// max(a, b).
    Maximum,
    /// min(a, b).
    Minimum,
    /// a^b.
    Pow,
    /// (a − b)².
    SquaredDifference,
    /// ⌊a / b⌋.
    FloorDiv,
    /// a − b·⌊a / b⌋.
    FloorMod,
    /// a if a ≥ 0 else a·b (PReLU with alpha b).
    Prelu,
    /// Logical and (bool).
    LogicalAnd,
    /// Logical or (bool).
    LogicalOr,
    /// atan2(a, b).
    Atan2,
    /// Bitwise and (integers and bool).
    BitwiseAnd,
    /// Bitwise or (integers and bool).
    BitwiseOr,
    /// Bitwise xor (integers and bool).
    BitwiseXor,
    /// a << b; amounts outside `0..bits` (read as unsigned) give 0.
    ShiftLeft,
    /// a >> b filling with the sign bit; out-of-range amounts give the sign fill.
    ShiftRightArithmetic,
    /// a >> b filling with zeros; out-of-range amounts give 0.
    ShiftRightLogical,
}

/// Comparisons (output bool, numpy broadcasting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// a == b.
    Equal,
    /// a != b.
    NotEqual,
    /// a < b.
    Less,
    /// a <= b.
    LessEqual,
    /// a > b.
    Greater,
    /// a >= b.
    GreaterEqual,
}

/// Reductions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    /// Σ.
    Sum,
    /// Arithmetic mean.
    Mean,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
    /// Π.
    Prod,
    /// Logical or (bool).
    Any,
    /// Logical and (bool).
    All,
}

/// Padding modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadMode {
    /// Fill with a constant (input 1 if present, else 0 / the zero point).
    Constant,
    /// Mirror excluding the edge.
    Reflect,
    /// Mirror including the edge.
    Symmetric,
}

/// Resize interpolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeMode {
    /// Bilinear.
    Bilinear,
    /// Nearest neighbour.
    Nearest,
}

/// Dimension numbers of a general dot product (StableHLO `dot_general`).
/// Output dims: batch dims, then lhs free dims, then rhs free dims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotGeneralAttrs {
    /// Batch dims of lhs.
    pub lhs_batch: Vec<usize>,
    /// Batch dims of rhs (paired with `lhs_batch`).
    pub rhs_batch: Vec<usize>,
    /// Contracting dims of lhs.
    pub lhs_contract: Vec<usize>,
    /// Contracting dims of rhs (paired with `lhs_contract`).
    pub rhs_contract: Vec<usize>,
}

/// Dimension numbers of a StableHLO-style gather: each index vector of the indices tensor picks
/// the start of one slice of the operand (clamped so the slice stays in bounds).
///
/// Inputs: operand, start indices (i32/i64). Output dims: the index batch dims (every indices
/// dim but `index_vector_dim`, in order) interleaved with the slice dims at `offset_dims`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatherAttrs {
    /// Output dims that hold the slice's (non-collapsed, non-batching) operand dims, ascending.
    pub offset_dims: Vec<usize>,
    /// Operand dims whose slice size is 1 and which do not appear in the output.
    pub collapsed_slice_dims: Vec<usize>,
    /// Operand dims indexed by the matching `start_indices_batching_dims` position.
    pub operand_batching_dims: Vec<usize>,
    /// Indices dims paired with `operand_batching_dims`.
    pub start_indices_batching_dims: Vec<usize>,
    /// Operand dim that each component of an index vector starts.
    pub start_index_map: Vec<usize>,
    /// Indices dim holding the index vectors (= indices rank: implicit trailing dim of size 1).
    pub index_vector_dim: usize,
    /// Slice extent per operand dim.
    pub slice_sizes: Vec<usize>,
}

/// How a scatter combines the element already in the result with an update element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScatterCombiner {
    /// The update replaces the element.
    Replace,
    /// element + update (logical or on bool).
    Add,
    /// element · update (logical and on bool).
    Mul,
    /// max(element, update).
    Max,
    /// min(element, update).
    Min,
    /// Any computation: the subgraph takes (elements..., updates...) as scalars and returns the
    /// new elements; node inputs past the scatter's own are passed to it after them.
    Region(SubgraphId),
}

/// Dimension numbers of a StableHLO-style scatter: every update element lands at
/// start + batching + window index in the result; elements that fall outside are skipped.
///
/// Inputs: n operands, the indices (i32/i64), n updates, then captured values of a region
/// combiner. Outputs: n results shaped like the operands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScatterAttrs {
    /// Update dims that walk the window, ascending.
    pub update_window_dims: Vec<usize>,
    /// Operand dims of window size 1 absent from the updates.
    pub inserted_window_dims: Vec<usize>,
    /// Operand dims indexed by the matching `scatter_indices_batching_dims` position.
    pub input_batching_dims: Vec<usize>,
    /// Indices dims paired with `input_batching_dims`.
    pub scatter_indices_batching_dims: Vec<usize>,
    /// Operand dim that each component of an index vector starts.
    pub scatter_dims_to_operand_dims: Vec<usize>,
    /// Indices dim holding the index vectors (= indices rank: implicit trailing dim of size 1).
    pub index_vector_dim: usize,
    /// How updates are combined.
    pub combiner: ScatterCombiner,
}

/// How a float sort key is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatOrder {
    /// IEEE `<` (NaN compares false both ways).
    Ieee,
    /// IEEE 754 totalOrder (−NaN < −∞ < … < −0 < +0 < … < +∞ < +NaN).
    Total,
    /// totalOrder after mapping −0 to +0 and every NaN to +NaN (JAX's comparator): NaNs last.
    NanLast,
}

/// The comparator of a [`Op::Sort`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortComparator {
    /// Compare the elements of input `key` (integers by their dtype's order).
    Key {
        /// Input whose elements are compared.
        key: usize,
        /// Largest first.
        descending: bool,
        /// Order of float keys.
        float_order: FloatOrder,
    },
    /// Any comparator: the subgraph takes (a0, b0, a1, b1, ...) as scalars and returns a bool
    /// scalar "a before b"; node inputs past the sorted ones are passed to it after them.
    Region(SubgraphId),
}

/// Every operation the executor knows.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Copies input 0 to output 0 (same bytes; also used after load-time folding).
    Identity,
    /// Same elements, new static shape (the output tensor's).
    Reshape,
    /// Elementwise unary function (f32; int8 for the activations real models quantize).
    Unary(UnaryOp),
    /// Elementwise binary function with a fused activation.
    Binary {
        /// The function.
        op: BinaryOp,
        /// Fused activation.
        activation: Activation,
    },
    /// Elementwise comparison, bool output.
    Compare(CompareOp),
    /// `out = cond ? a : b` with broadcasting (inputs cond, a, b).
    Select,
    /// Converts between dtypes (value conversion, like TFLite CAST / StableHLO convert).
    Cast,
    /// Reinterprets the bits (StableHLO `bitcast_convert`): the elements of the input, each
    /// `bits` wide (1 for bool), concatenated least significant first, are re-cut into output
    /// elements; total bits must agree.
    Bitcast,
    /// Quantizes f32 to int8/uint8/int16, or requantizes between quantized types.
    Quantize,
    /// Dequantizes int8/uint8/int16 to f32, or converts f16/bf16 to f32.
    Dequantize,
    /// 2-D convolution.
    Conv2d(Conv2dAttrs),
    /// Depthwise 2-D convolution.
    DepthwiseConv2d(DepthwiseAttrs),
    /// General N-D convolution (inputs x, kernel; same dtype as the output).
    ConvNd(ConvNdAttrs),
    /// `out[.., n] = x[.., k] · w[n, k]ᵀ + bias`; inputs x, w, optional bias.
    FullyConnected {
        /// Fused activation.
        activation: Activation,
    },
    /// Batched matrix product with broadcast batch dims (inputs x, y).
    BatchMatMul {
        /// Transpose the last two dims of x.
        adj_x: bool,
        /// Transpose the last two dims of y.
        adj_y: bool,
    },
    /// General dot product (StableHLO `dot_general`).
    DotGeneral(DotGeneralAttrs),
    /// 2-D pooling.
    Pool2d(Pool2dAttrs),
    /// General windowed reduction (StableHLO `reduce_window`, inputs x and a scalar init):
    /// out = op(init, taps...), where taps outside the operand (padding, dilation holes) read
    /// init. `window` has one entry per dim of x.
    ReduceWindow {
        /// The reduction (Sum, Max, Min, Prod, Any, All).
        op: ReduceOp,
        /// Per dim: window size, stride, padding, dilations.
        window: Vec<WindowDim>,
    },
    /// StableHLO `select_and_scatter` (inputs operand, source, scalar init): the output starts as
    /// init; for each window (one per source element) the operand element chosen by `select`
    /// (kept while `select(kept, next)` holds) receives `scatter(out, source)`. Windows have
    /// no dilation; taps on padding are never chosen.
    SelectAndScatter {
        /// The comparison that keeps the current choice (GE for max pooling's gradient).
        select: CompareOp,
        /// How source values combine into the output (Sum, Max, Min, Prod).
        scatter: ReduceOp,
        /// Per dim: window size, stride, padding.
        window: Vec<WindowDim>,
    },
    /// Solves `op(a) · x = b` (left side) or `x · op(a) = b` for x with a triangular `a`
    /// (inputs a `[..., m, m]`, b `[..., m, n]` or `[..., n, m]`; batch dims equal).
    TriangularSolve {
        /// a is on the left of x.
        left_side: bool,
        /// Use the lower triangle of a (else the upper).
        lower: bool,
        /// Take a's diagonal as ones.
        unit_diagonal: bool,
        /// Use aᵀ instead of a.
        transpose_a: bool,
    },
    /// Reduction over `axes` (sorted, unique).
    Reduce {
        /// The reduction.
        op: ReduceOp,
        /// Axes reduced.
        axes: Vec<usize>,
        /// Keep reduced axes as size 1 (the output shape tells; kept for documentation).
        keep_dims: bool,
    },
    /// Index of the max/min along an axis (output i32 or i64).
    ArgReduce {
        /// true: argmax, false: argmin.
        max: bool,
        /// Axis reduced.
        axis: usize,
    },
    /// Softmax along `axis`: exp(beta·x) normalized.
    Softmax {
        /// Input scale.
        beta: f32,
        /// Axis normalized.
        axis: usize,
    },
    /// log(softmax(x)) along `axis`.
    LogSoftmax {
        /// Axis normalized.
        axis: usize,
    },
    /// Permutes dims: `out.dims[i] = in.dims[perm[i]]`.
    Transpose {
        /// The permutation.
        perm: Vec<usize>,
    },
    /// Concatenates all inputs along `axis`.
    Concat {
        /// Axis.
        axis: usize,
        /// Fused activation.
        activation: Activation,
    },
    /// Splits input 0 along `axis` into the outputs (sizes from the output shapes).
    Split {
        /// Axis.
        axis: usize,
    },
    /// Strided slice: `out[i] = in[begin + i * stride]` per dim over the output's extent
    /// (`slice_shape`, before any dims are dropped by the output shape).
    Slice {
        /// Start index per dim.
        begin: Vec<usize>,
        /// Step per dim (negative walks backwards).
        stride: Vec<isize>,
        /// Extent per dim of the sliced (un-squeezed) result.
        slice_shape: Vec<usize>,
    },
    /// Pads each dim by `before[i]`/`after[i]`, and by `interior[i]` between elements.
    Pad {
        /// Elements before, per dim.
        before: Vec<usize>,
        /// Elements after, per dim.
        after: Vec<usize>,
        /// Elements between neighbours, per dim (empty: none; constant mode only).
        interior: Vec<usize>,
        /// Fill mode.
        mode: PadMode,
    },
    /// Gathers slices of input 0 along `axis` at the i32/i64 indices of input 1.
    Gather {
        /// Axis gathered.
        axis: usize,
        /// Leading batch dims shared by params and indices.
        batch_dims: usize,
    },
    /// Gathers slices addressed by the last dim of the indices (TF gather_nd).
    GatherNd,
    /// StableHLO gather: slices of input 0 starting at the index vectors of input 1.
    GatherSlices(GatherAttrs),
    /// StableHLO scatter (see [`ScatterAttrs`] for inputs and outputs).
    Scatter(ScatterAttrs),
    /// Sorts n inputs together along `dim` by the comparator (stable); n outputs.
    Sort {
        /// Dimension sorted.
        dim: usize,
        /// Order.
        comparator: SortComparator,
    },
    /// Slice of input 0 of the output's shape starting at the scalar i32/i64 inputs 1.. (one
    /// per dim), each clamped so the slice stays in bounds.
    DynamicSlice,
    /// Input 0 with input 1 written at the scalar start inputs 2.. (clamped like
    /// [`Op::DynamicSlice`]).
    DynamicUpdateSlice,
    /// Repeats the input `multiples[i]` times along each dim.
    Tile {
        /// Repeats per dim.
        multiples: Vec<usize>,
    },
    /// Broadcasts input 0 numpy-style to the output shape (also FILL from a scalar).
    BroadcastTo,
    /// Resizes the H and W dims of an NHWC tensor to the output shape.
    Resize {
        /// Interpolation.
        mode: ResizeMode,
        /// Align corners.
        align_corners: bool,
        /// Half-pixel centers.
        half_pixel_centers: bool,
    },
    /// Rearranges depth into blocks of space (NHWC).
    DepthToSpace {
        /// Block size.
        block: usize,
    },
    /// Rearranges blocks of space into depth (NHWC).
    SpaceToDepth {
        /// Block size.
        block: usize,
    },
    /// Cumulative sum along `axis`.
    Cumsum {
        /// Axis.
        axis: usize,
        /// Exclude the current element.
        exclusive: bool,
        /// Accumulate from the end.
        reverse: bool,
    },
    /// Fills the output with 0, 1, 2, ... along `dim` (StableHLO iota).
    Iota {
        /// Dimension that counts.
        dim: usize,
    },
    /// Calls a subgraph: inputs map to its inputs, its outputs to ours.
    Call {
        /// Callee.
        subgraph: SubgraphId,
    },
    /// `if input0 { then } else { else }` with the remaining inputs passed to the branch.
    If {
        /// Taken when the bool/int scalar condition is true/non-zero.
        then_branch: SubgraphId,
        /// Taken otherwise.
        else_branch: SubgraphId,
    },
    /// `while cond(state) { state = body(state) }`; inputs are the initial state, outputs the
    /// final state.
    While {
        /// Condition subgraph (state -> bool scalar).
        cond: SubgraphId,
        /// Body subgraph (state -> state).
        body: SubgraphId,
    },
    /// Runs `init` once per loaded model (the first invoke), no inputs or outputs.
    CallOnce {
        /// Initialization subgraph.
        init: SubgraphId,
    },
    /// Produces the handle (resource id) of a resource variable.
    VarHandle {
        /// Index in [`Graph::resources`](super::Graph::resources).
        resource: usize,
    },
    /// Reads the current value of the variable whose handle is input 0.
    ReadVariable,
    /// Stores input 1 into the variable whose handle is input 0.
    AssignVariable,
}

impl Op {
    /// A short name for errors and profiles.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Identity => "Identity",
            Op::Reshape => "Reshape",
            Op::Unary(_) => "Unary",
            Op::Binary { .. } => "Binary",
            Op::Compare(_) => "Compare",
            Op::Select => "Select",
            Op::Cast => "Cast",
            Op::Bitcast => "Bitcast",
            Op::Quantize => "Quantize",
            Op::Dequantize => "Dequantize",
            Op::Conv2d(_) => "Conv2d",
            Op::DepthwiseConv2d(_) => "DepthwiseConv2d",
            Op::ConvNd(_) => "ConvNd",
            Op::FullyConnected { .. } => "FullyConnected",
            Op::BatchMatMul { .. } => "BatchMatMul",
            Op::DotGeneral(_) => "DotGeneral",
            Op::Pool2d(_) => "Pool2d",
            Op::ReduceWindow { .. } => "ReduceWindow",
            Op::TriangularSolve { .. } => "TriangularSolve",
            Op::SelectAndScatter { .. } => "SelectAndScatter",
            Op::Reduce { .. } => "Reduce",
            Op::ArgReduce { .. } => "ArgReduce",
            Op::Softmax { .. } => "Softmax",
            Op::LogSoftmax { .. } => "LogSoftmax",
            Op::Transpose { .. } => "Transpose",
            Op::Concat { .. } => "Concat",
            Op::Split { .. } => "Split",
            Op::Slice { .. } => "Slice",
            Op::Pad { .. } => "Pad",
            Op::Gather { .. } => "Gather",
            Op::GatherNd => "GatherNd",
            Op::GatherSlices(_) => "GatherSlices",
            Op::Scatter(_) => "Scatter",
            Op::Sort { .. } => "Sort",
            Op::DynamicSlice => "DynamicSlice",
            Op::DynamicUpdateSlice => "DynamicUpdateSlice",
            Op::Tile { .. } => "Tile",
            Op::BroadcastTo => "BroadcastTo",
            Op::Resize { .. } => "Resize",
            Op::DepthToSpace { .. } => "DepthToSpace",
            Op::SpaceToDepth { .. } => "SpaceToDepth",
            Op::Cumsum { .. } => "Cumsum",
            Op::Iota { .. } => "Iota",
            Op::Call { .. } => "Call",
            Op::If { .. } => "If",
            Op::While { .. } => "While",
            Op::CallOnce { .. } => "CallOnce",
            Op::VarHandle { .. } => "VarHandle",
            Op::ReadVariable => "ReadVariable",
            Op::AssignVariable => "AssignVariable",
        }
    }
}

/// Output dtype of a [`Op::Cast`] is the output tensor's; this helper names valid casts.
pub fn cast_supported(from: DType, to: DType) -> bool {
    !matches!(from, DType::Resource) && !matches!(to, DType::Resource)
}

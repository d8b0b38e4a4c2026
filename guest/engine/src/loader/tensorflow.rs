//! TensorFlow front-end: SavedModel (a tar of the directory) and frozen GraphDef.
//!
//! `cerebro-tensorflow` parses the protobufs and the checkpoint, inlines the function calls and
//! binds the variables, giving a flat TensorFlow graph; this module lowers that graph onto the IR.
//! Every tensor gets a static shape here (unknown dims of the inputs come from the caller, or 1).
//! Constant subexpressions (shape arithmetic, Keras 3's batch-norm factors) are evaluated at load
//! by running them through the executor itself, so folding and running share one set of kernels.
//! Bias adds, per-channel scales (batch norm) and ReLU/ReLU6 that follow a convolution or a
//! dense layer are folded into it, as the TFLite converter does. Layouts: TF's HWIO conv filters
//! become OHWI, `[kh, kw, c, m]` depthwise filters `[1, kh, kw, c·m]`, MatMul weights `[n, k]`.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use cerebro_tensorflow as tf;
use tf::proto::attr_value::Value as Attr;

use crate::error::{Error, Result};
use crate::executor::Model;
use crate::ir::{
    Activation, AlignedBuf, BinaryOp, CompareOp, Constant, Conv2dAttrs, DType, DepthwiseAttrs,
    Graph, Node, Op, PadMode, Padding2d, Pool2dAttrs, PoolKind, ReduceOp, ResizeMode, Shape,
    Subgraph, TensorId, TensorInfo, TensorKind, UnaryOp,
};
use crate::{invalid, malformed, unsupported};

/// Which entry point to load and the static input shapes to use.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// MetaGraph tag (`serve`).
    pub tag: &'a str,
    /// Signature (`serving_default`).
    pub signature: &'a str,
    /// Shapes of the inputs, in the model's input order; unknown dims default to 1 without them.
    pub input_shapes: Option<&'a [Vec<usize>]>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            tag: tf::saved_model::DEFAULT_TAG,
            signature: tf::saved_model::DEFAULT_SIGNATURE,
            input_shapes: None,
        }
    }
}

fn tf_error(e: tf::Error) -> Error {
    match e {
        tf::Error::Unsupported(m) => Error::Unsupported(m),
        tf::Error::Limit(m) => Error::TooLarge(m),
        tf::Error::NotFound(m) => Error::Invalid(format!("not found: {m}")),
        other => Error::Malformed(other.to_string()),
    }
}

/// Loads a SavedModel sent as a tar archive of its directory.
pub fn load_saved_model(archive: &[u8], options: &Options<'_>) -> Result<Graph> {
    let entries = tf::archive::read_tar(archive).map_err(tf_error)?;
    let files = tf::archive::saved_model_files(&entries).map_err(tf_error)?;
    let model = tf::SavedModel::parse(&files).map_err(tf_error)?;
    let graph = model
        .graph(tf::Selection {
            tag: options.tag,
            signature: options.signature,
        })
        .map_err(tf_error)?;
    lower(&graph, options.input_shapes)
}

/// Loads a frozen GraphDef (inputs: its placeholders; outputs: the nodes nothing consumes).
pub fn load_graphdef(bytes: &[u8], options: &Options<'_>) -> Result<Graph> {
    let graph = tf::load_frozen_graph(bytes, None, None).map_err(tf_error)?;
    lower(&graph, options.input_shapes)
}

/// Every TensorFlow op this front-end lowers.
pub const SUPPORTED_OPS: &[&str] = &[
    "Abs",
    "Add",
    "AddN",
    "AddV2",
    "All",
    "Any",
    "ArgMax",
    "ArgMin",
    "AvgPool",
    "BatchMatMul",
    "BatchMatMulV2",
    "BatchMatMulV3",
    "BiasAdd",
    "BroadcastTo",
    "Cast",
    "Ceil",
    "CheckNumerics",
    "Concat",
    "ConcatV2",
    "Const",
    "Conv2D",
    "Cos",
    "DepthToSpace",
    "DepthwiseConv2dNative",
    "Div",
    "Elu",
    "EnsureShape",
    "Equal",
    "Exp",
    "ExpandDims",
    "Fill",
    "Floor",
    "FloorDiv",
    "FloorMod",
    "FusedBatchNorm",
    "FusedBatchNormV2",
    "FusedBatchNormV3",
    "Gather",
    "GatherV2",
    "Greater",
    "GreaterEqual",
    "LeakyRelu",
    "Less",
    "LessEqual",
    "Log",
    "LogSoftmax",
    "LogicalAnd",
    "LogicalNot",
    "LogicalOr",
    "MatMul",
    "Max",
    "MaxPool",
    "Maximum",
    "Mean",
    "Min",
    "Minimum",
    "MirrorPad",
    "Mul",
    "Neg",
    "NotEqual",
    "OnesLike",
    "Pack",
    "Pad",
    "PadV2",
    "Placeholder",
    "PlaceholderWithDefault",
    "Pow",
    "Prod",
    "Rank",
    "RealDiv",
    "Reciprocal",
    "Relu",
    "Relu6",
    "Reshape",
    "ResizeBilinear",
    "ResizeNearestNeighbor",
    "Round",
    "Rsqrt",
    "Select",
    "SelectV2",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Size",
    "Slice",
    "Softmax",
    "SpaceToDepth",
    "Split",
    "SplitV",
    "Sqrt",
    "Square",
    "SquaredDifference",
    "Squeeze",
    "StridedSlice",
    "Sub",
    "Sum",
    "Tanh",
    "Tile",
    "Transpose",
    "Unpack",
    "XlaCallModule",
    "ZerosLike",
];

/// Most bytes one constant computed at load time may take (Fill, folded subexpressions).
pub const MAX_FOLDED_BYTES: usize = 1 << 28;

fn check_folded(bytes: usize, what: &str) -> Result<()> {
    if bytes > MAX_FOLDED_BYTES {
        return Err(Error::TooLarge(format!(
            "{what}: a {bytes}-byte constant computed at load (limit {MAX_FOLDED_BYTES})"
        )));
    }
    Ok(())
}

/// A constant known at load time.
#[derive(Debug, Clone)]
struct HostTensor {
    dtype: DType,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn map_dtype(d: tf::DType) -> Result<DType> {
    Ok(match d {
        tf::DType::F32 => DType::F32,
        tf::DType::F16 => DType::F16,
        tf::DType::BF16 => DType::BF16,
        tf::DType::I8 => DType::I8,
        tf::DType::U8 => DType::U8,
        tf::DType::I16 => DType::I16,
        tf::DType::I32 => DType::I32,
        tf::DType::I64 => DType::I64,
        tf::DType::U32 => DType::U32,
        tf::DType::Bool => DType::Bool,
        other => return Err(unsupported!("TensorFlow type {}", other.name())),
    })
}

impl HostTensor {
    fn from_tf(t: &tf::Tensor<'_>) -> Result<HostTensor> {
        let bytes = t
            .bytes()
            .ok_or_else(|| unsupported!("string constant used in computation"))?;
        Ok(HostTensor {
            dtype: map_dtype(t.dtype)?,
            shape: t.shape.clone(),
            bytes: bytes.to_vec(),
        })
    }

    fn len(&self) -> usize {
        self.shape.iter().product()
    }

    fn get_f64(&self, i: usize) -> f64 {
        let s = self.dtype.size();
        let e = &self.bytes[i * s..i * s + s];
        match self.dtype {
            DType::F32 => f32::from_le_bytes([e[0], e[1], e[2], e[3]]) as f64,
            DType::F16 => half::f16::from_le_bytes([e[0], e[1]]).to_f64(),
            DType::BF16 => half::bf16::from_le_bytes([e[0], e[1]]).to_f64(),
            _ => self.get_i64(i) as f64,
        }
    }

    fn get_i64(&self, i: usize) -> i64 {
        let s = self.dtype.size();
        let e = &self.bytes[i * s..i * s + s];
        match self.dtype {
            DType::I8 => e[0] as i8 as i64,
            DType::U8 | DType::Bool => e[0] as i64,
            DType::I16 => i16::from_le_bytes([e[0], e[1]]) as i64,
            DType::I32 => i32::from_le_bytes([e[0], e[1], e[2], e[3]]) as i64,
            DType::U32 => u32::from_le_bytes([e[0], e[1], e[2], e[3]]) as i64,
            DType::I64 => i64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]),
            _ => self.get_f64(i) as i64,
        }
    }

    fn ints(&self, what: &str) -> Result<Vec<i64>> {
        if self.dtype.is_float() {
            return Err(invalid!("{what} must be integers, is {}", self.dtype));
        }
        Ok((0..self.len()).map(|i| self.get_i64(i)).collect())
    }

    fn f32s(&self, what: &str) -> Result<Vec<f32>> {
        if !self.dtype.is_float() {
            return Err(invalid!("{what} must be floating point, is {}", self.dtype));
        }
        Ok((0..self.len()).map(|i| self.get_f64(i) as f32).collect())
    }

    /// Converts values to `dtype` (TensorFlow Cast: truncation toward zero for float → int).
    fn cast(&self, dtype: DType) -> Result<HostTensor> {
        let n = self.len();
        let mut bytes = Vec::with_capacity(n * dtype.size());
        for i in 0..n {
            let int_src = !self.dtype.is_float();
            match dtype {
                DType::F32 => bytes.extend_from_slice(&(self.get_f64(i) as f32).to_le_bytes()),
                DType::F16 => {
                    bytes.extend_from_slice(&half::f16::from_f64(self.get_f64(i)).to_le_bytes())
                }
                DType::BF16 => {
                    bytes.extend_from_slice(&half::bf16::from_f64(self.get_f64(i)).to_le_bytes())
                }
                DType::Bool => bytes.push((self.get_f64(i) != 0.0) as u8),
                _ => {
                    let v = if int_src {
                        self.get_i64(i)
                    } else {
                        self.get_f64(i) as i64
                    };
                    match dtype {
                        DType::I8 | DType::U8 => bytes.push(v as u8),
                        DType::I16 => bytes.extend_from_slice(&(v as i16).to_le_bytes()),
                        DType::I32 | DType::U32 => {
                            bytes.extend_from_slice(&(v as i32).to_le_bytes())
                        }
                        DType::I64 => bytes.extend_from_slice(&v.to_le_bytes()),
                        _ => return Err(unsupported!("cast to {dtype}")),
                    }
                }
            }
        }
        Ok(HostTensor {
            dtype,
            shape: self.shape.clone(),
            bytes,
        })
    }

    fn from_ints(dtype: DType, shape: Vec<usize>, values: &[i64]) -> HostTensor {
        let mut bytes = Vec::with_capacity(values.len() * dtype.size());
        for &v in values {
            match dtype {
                DType::I64 => bytes.extend_from_slice(&v.to_le_bytes()),
                _ => bytes.extend_from_slice(&(v as i32).to_le_bytes()),
            }
        }
        HostTensor {
            dtype,
            shape,
            bytes,
        }
    }

    fn reshaped(&self, shape: Vec<usize>) -> HostTensor {
        HostTensor {
            dtype: self.dtype,
            shape,
            bytes: self.bytes.clone(),
        }
    }
}

/// A lowered TensorFlow tensor: a load-time constant or an IR tensor.
#[derive(Debug, Clone)]
enum Val {
    Const(Rc<HostTensor>),
    Tensor(TensorId),
}

/// Where output channels sit in a packed weight tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChannelAxis {
    /// Outermost (OHWI conv filters, `[n, k]` FC weights).
    Outer,
    /// Innermost (`[1, kh, kw, c]` depthwise filters).
    Inner,
}

/// Weights of a conv / depthwise / FC node, kept editable until the end so that following bias
/// adds, scales and activations can be folded in.
#[derive(Debug)]
struct Pending {
    node: usize,
    name: String,
    axis: ChannelAxis,
    out_c: usize,
    filter: Vec<f32>,
    filter_shape: Vec<usize>,
    bias: Option<Vec<f32>>,
}

/// A tensor produced by a pending node into which element-wise ops may still be folded.
#[derive(Debug, Clone, Copy)]
struct Fusable {
    pending: usize,
    single_use: bool,
}

struct Lowering {
    sg: Subgraph,
    constants: Vec<Constant>,
    pending: Vec<Pending>,
    fusable: BTreeMap<TensorId, Fusable>,
    /// Zero pads of H/W (output tensor → pad node, source, [top, bottom, left, right]) that a
    /// following convolution may absorb into its own padding.
    pads: BTreeMap<TensorId, (usize, TensorId, [usize; 4])>,
    /// Nodes absorbed into another (removed by `finish`).
    dead: BTreeSet<usize>,
    /// Subgraphs called by the entry (StableHLO modules of `XlaCallModule` nodes); subgraph
    /// `k` here is `k + 1` in the final graph.
    callees: Vec<Subgraph>,
    const_ids: BTreeMap<usize, TensorId>,
    /// Evaluating a constant subexpression: no folding, no fusion.
    folding: bool,
}

fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(invalid!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

fn norm_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) && !(r == 0 && a == 0) {
        return Err(invalid!("axis {axis} out of range for rank {rank}"));
    }
    Ok(a as usize)
}

fn to_usize(v: i64, what: &str) -> Result<usize> {
    usize::try_from(v).map_err(|_| invalid!("{what} {v} is negative"))
}

/// Output size and padding of one spatial dim, TensorFlow's rules.
fn window(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: &[u8],
    explicit: Option<(usize, usize)>,
) -> Result<(usize, usize, usize)> {
    if stride == 0 || dilation == 0 || kernel == 0 {
        return Err(invalid!("zero stride, dilation or window"));
    }
    let eff = (kernel - 1)
        .checked_mul(dilation)
        .and_then(|v| v.checked_add(1))
        .ok_or_else(|| invalid!("window overflows"))?;
    match padding {
        b"VALID" => {
            if input < eff {
                return Err(invalid!("window {eff} larger than input {input}"));
            }
            Ok(((input - eff) / stride + 1, 0, 0))
        }
        b"SAME" => {
            let out = input.div_ceil(stride);
            let need = (out.max(1) - 1)
                .checked_mul(stride)
                .and_then(|v| v.checked_add(eff))
                .ok_or_else(|| invalid!("window overflows"))?
                .saturating_sub(input);
            Ok((out, need / 2, need - need / 2))
        }
        b"EXPLICIT" => {
            let (before, after) =
                explicit.ok_or_else(|| malformed!("EXPLICIT padding without explicit_paddings"))?;
            let total = input
                .checked_add(before)
                .and_then(|v| v.checked_add(after))
                .ok_or_else(|| invalid!("padding overflows"))?;
            if total < eff {
                return Err(invalid!("window {eff} larger than padded input {total}"));
            }
            Ok(((total - eff) / stride + 1, before, after))
        }
        other => Err(unsupported!("padding {:?}", String::from_utf8_lossy(other))),
    }
}

fn attr_bool_or(node: &tf::Node<'_>, name: &str, default: bool) -> bool {
    match node.attr(name) {
        Some(Attr::B(b)) => *b,
        _ => default,
    }
}

fn attr_int_or(node: &tf::Node<'_>, name: &str, default: i64) -> i64 {
    match node.attr(name) {
        Some(Attr::I(v)) => *v,
        _ => default,
    }
}

fn attr_float_or(node: &tf::Node<'_>, name: &str, default: f32) -> f32 {
    match node.attr(name) {
        Some(Attr::F(v)) => *v,
        _ => default,
    }
}

fn attr_ints_or(node: &tf::Node<'_>, name: &str, default: &[i64]) -> Vec<i64> {
    match node.attr(name) {
        Some(Attr::List(l)) => l.i.clone(),
        _ => default.to_vec(),
    }
}

fn attr_type_or(node: &tf::Node<'_>, name: &str, default: DType) -> Result<DType> {
    match node.attr(name) {
        Some(Attr::Type(t)) => map_dtype(tf::DType::from_proto(*t).map_err(tf_error)?),
        _ => Ok(default),
    }
}

fn check_nhwc(node: &tf::Node<'_>) -> Result<()> {
    match node.attr("data_format") {
        None => Ok(()),
        Some(Attr::S(s)) if s == b"NHWC" => Ok(()),
        Some(Attr::S(s)) => Err(unsupported!(
            "{} {:?} with data_format {}",
            node.op,
            node.name,
            String::from_utf8_lossy(s)
        )),
        Some(_) => Err(malformed!("{:?}: bad data_format", node.name)),
    }
}

/// `[1, h, w, 1]` attribute (strides, dilations, ksize) → (h, w).
fn spatial_pair(node: &tf::Node<'_>, name: &str, default: &[i64]) -> Result<(usize, usize)> {
    let v = attr_ints_or(node, name, default);
    if v.len() != 4 || v[0] != 1 || v[3] != 1 {
        return Err(unsupported!(
            "{} {:?}: {name} {v:?} (only [1, h, w, 1])",
            node.op,
            node.name
        ));
    }
    Ok((to_usize(v[1], name)?, to_usize(v[2], name)?))
}

fn explicit_pads(node: &tf::Node<'_>) -> Result<Option<[(usize, usize); 2]>> {
    let v = attr_ints_or(node, "explicit_paddings", &[]);
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() != 8 {
        return Err(malformed!(
            "{:?}: explicit_paddings of length {}",
            node.name,
            v.len()
        ));
    }
    Ok(Some([
        (to_usize(v[2], "padding")?, to_usize(v[3], "padding")?),
        (to_usize(v[4], "padding")?, to_usize(v[5], "padding")?),
    ]))
}

impl Lowering {
    fn new(folding: bool) -> Self {
        Lowering {
            sg: Subgraph::default(),
            constants: Vec::new(),
            pending: Vec::new(),
            fusable: BTreeMap::new(),
            pads: BTreeMap::new(),
            dead: BTreeSet::new(),
            callees: Vec::new(),
            const_ids: BTreeMap::new(),
            folding,
        }
    }

    fn dims(&self, v: &Val) -> Vec<usize> {
        match v {
            Val::Const(t) => t.shape.clone(),
            Val::Tensor(id) => self.sg.tensors[*id].shape.dims().to_vec(),
        }
    }

    fn dtype(&self, v: &Val) -> DType {
        match v {
            Val::Const(t) => t.dtype,
            Val::Tensor(id) => self.sg.tensors[*id].dtype,
        }
    }

    fn activation(&mut self, name: &str, dtype: DType, shape: Vec<usize>) -> Result<TensorId> {
        let shape = Shape(shape);
        shape.byte_len(dtype.size())?;
        self.sg.tensors.push(TensorInfo {
            name: name.to_string(),
            dtype,
            shape,
            quant: None,
            kind: TensorKind::Activation,
        });
        Ok(self.sg.tensors.len() - 1)
    }

    fn constant(&mut self, name: &str, t: &HostTensor) -> Result<TensorId> {
        let buf = AlignedBuf::copy_from(&t.bytes)
            .ok_or_else(|| Error::TooLarge(format!("constant {name:?}")))?;
        self.constants.push(Constant::Owned(buf));
        self.sg.tensors.push(TensorInfo {
            name: name.to_string(),
            dtype: t.dtype,
            shape: Shape(t.shape.clone()),
            quant: None,
            kind: TensorKind::Constant(self.constants.len() - 1),
        });
        Ok(self.sg.tensors.len() - 1)
    }

    /// The IR tensor of `v`, materializing a constant once per value.
    fn tensor(&mut self, name: &str, v: &Val) -> Result<TensorId> {
        match v {
            Val::Tensor(id) => Ok(*id),
            Val::Const(t) => {
                let key = Rc::as_ptr(t) as usize;
                if let Some(id) = self.const_ids.get(&key) {
                    return Ok(*id);
                }
                let id = self.constant(name, t)?;
                self.const_ids.insert(key, id);
                Ok(id)
            }
        }
    }

    fn push(&mut self, op: Op, inputs: Vec<Option<TensorId>>, outputs: Vec<TensorId>) -> usize {
        self.sg.nodes.push(Node {
            op,
            inputs,
            outputs,
        });
        self.sg.nodes.len() - 1
    }

    /// Emits a one-output op over `inputs`.
    fn emit(
        &mut self,
        name: &str,
        op: Op,
        inputs: &[&Val],
        dtype: DType,
        shape: Vec<usize>,
    ) -> Result<Val> {
        let mut ids = Vec::with_capacity(inputs.len());
        for (i, v) in inputs.iter().enumerate() {
            ids.push(Some(self.tensor(&format!("{name}/input{i}"), v)?));
        }
        let out = self.activation(name, dtype, shape)?;
        self.push(op, ids, vec![out]);
        Ok(Val::Tensor(out))
    }

    fn reshape(&mut self, name: &str, v: &Val, shape: Vec<usize>) -> Result<Val> {
        if self.dims(v) == shape {
            return Ok(v.clone());
        }
        match v {
            Val::Const(t) => Ok(Val::Const(Rc::new(t.reshaped(shape)))),
            Val::Tensor(_) => {
                let d = self.dtype(v);
                self.emit(name, Op::Reshape, &[v], d, shape)
            }
        }
    }

    fn const_of<'v>(&self, node: &tf::Node<'_>, v: &'v Val, what: &str) -> Result<&'v HostTensor> {
        match v {
            Val::Const(t) => Ok(t),
            Val::Tensor(_) => Err(unsupported!(
                "{} {:?}: {what} must be a constant",
                node.op,
                node.name
            )),
        }
    }

    fn const_ints(&self, node: &tf::Node<'_>, v: &Val, what: &str) -> Result<Vec<i64>> {
        self.const_of(node, v, what)?.ints(what)
    }

    /// Registers a pending conv / depthwise / FC node whose output may absorb later ops.
    #[allow(clippy::too_many_arguments)]
    fn pending_node(
        &mut self,
        name: &str,
        op: Op,
        input: TensorId,
        axis: ChannelAxis,
        out_c: usize,
        filter: Vec<f32>,
        filter_shape: Vec<usize>,
        out_shape: Vec<usize>,
        single_use: bool,
    ) -> Result<Val> {
        let out = self.activation(name, DType::F32, out_shape)?;
        let node = self.push(op, vec![Some(input), None, None], vec![out]);
        self.pending.push(Pending {
            node,
            name: name.to_string(),
            axis,
            out_c,
            filter,
            filter_shape,
            bias: None,
        });
        if !self.folding {
            self.fusable.insert(
                out,
                Fusable {
                    pending: self.pending.len() - 1,
                    single_use,
                },
            );
        }
        Ok(Val::Tensor(out))
    }

    /// A per-output-channel vector of length `out_c` from a constant that broadcasts only
    /// along the channel (last) dim, or `None`.
    fn channel_vector(&self, c: &HostTensor, out_c: usize, out_rank: usize) -> Option<Vec<f32>> {
        if c.dtype != DType::F32 || c.shape.len() > out_rank {
            return None;
        }
        let (last, lead) = match c.shape.split_last() {
            Some((l, lead)) => (*l, lead),
            None => (1, &[][..]),
        };
        if lead.iter().any(|&d| d != 1) || (last != out_c && last != 1) {
            return None;
        }
        let v = c.f32s("channel vector").ok()?;
        Some(if last == 1 { vec![v[0]; out_c] } else { v })
    }

    /// Folds `y = x * scale + shift` (per channel) into the node producing `x` if possible.
    fn fold_affine(
        &mut self,
        x: &Val,
        scale: Option<&[f32]>,
        shift: Option<&[f32]>,
        uses: usize,
    ) -> bool {
        let Val::Tensor(id) = x else { return false };
        let Some(f) = self.fusable.get(id).copied() else {
            return false;
        };
        if !f.single_use {
            return false;
        }
        let p = &mut self.pending[f.pending];
        let n = p.out_c;
        if scale.is_some_and(|s| s.len() != n) || shift.is_some_and(|s| s.len() != n) {
            return false;
        }
        if let Some(s) = scale {
            let per = p.filter.len() / n.max(1);
            for (i, w) in p.filter.iter_mut().enumerate() {
                let c = match p.axis {
                    ChannelAxis::Outer => i / per.max(1),
                    ChannelAxis::Inner => i % n,
                };
                *w *= s[c];
            }
            if let Some(b) = &mut p.bias {
                for (b, s) in b.iter_mut().zip(s) {
                    *b *= s;
                }
            }
        }
        if let Some(t) = shift {
            let b = p.bias.get_or_insert_with(|| vec![0.0; n]);
            for (b, t) in b.iter_mut().zip(t) {
                *b += t;
            }
        }
        self.fusable.insert(
            *id,
            Fusable {
                pending: f.pending,
                single_use: uses == 1,
            },
        );
        true
    }

    /// Folds a ReLU-family activation into the node producing `x` if possible.
    fn fold_activation(&mut self, x: &Val, act: Activation) -> bool {
        let Val::Tensor(id) = x else { return false };
        let Some(f) = self.fusable.get(id).copied() else {
            return false;
        };
        if !f.single_use {
            return false;
        }
        let node = self.pending[f.pending].node;
        match &mut self.sg.nodes[node].op {
            Op::Conv2d(a) => a.activation = act,
            Op::DepthwiseConv2d(a) => a.activation = act,
            Op::FullyConnected { activation } => *activation = act,
            _ => return false,
        }
        // Nothing linear may be folded after the activation.
        self.fusable.remove(id);
        true
    }

    /// Writes the pending weights as constants into their nodes and drops absorbed nodes.
    fn finish(&mut self) -> Result<()> {
        self.write_pending()?;
        if !self.dead.is_empty() {
            let nodes = core::mem::take(&mut self.sg.nodes);
            self.sg.nodes = nodes
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !self.dead.contains(i))
                .map(|(_, n)| n)
                .collect();
            self.dead.clear();
        }
        Ok(())
    }

    /// The input of a convolution with a preceding zero pad of H/W absorbed: (input, extra
    /// [top, bottom, left, right] padding).
    fn absorb_pad(&mut self, x: &Val) -> (Val, [usize; 4]) {
        if let Val::Tensor(id) = x {
            if let Some(&(node, src, pads)) = self.pads.get(id) {
                self.pads.remove(id);
                self.dead.insert(node);
                return (Val::Tensor(src), pads);
            }
        }
        (x.clone(), [0; 4])
    }

    fn write_pending(&mut self) -> Result<()> {
        let pending = core::mem::take(&mut self.pending);
        for p in pending {
            let mut bytes = Vec::with_capacity(p.filter.len() * 4);
            for w in &p.filter {
                bytes.extend_from_slice(&w.to_le_bytes());
            }
            let filter = HostTensor {
                dtype: DType::F32,
                shape: p.filter_shape.clone(),
                bytes,
            };
            let fid = self.constant(&format!("{}/filter", p.name), &filter)?;
            self.sg.nodes[p.node].inputs[1] = Some(fid);
            if let Some(b) = &p.bias {
                let mut bytes = Vec::with_capacity(b.len() * 4);
                for v in b {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                let bias = HostTensor {
                    dtype: DType::F32,
                    shape: vec![b.len()],
                    bytes,
                };
                let bid = self.constant(&format!("{}/bias", p.name), &bias)?;
                self.sg.nodes[p.node].inputs[2] = Some(bid);
            } else {
                self.sg.nodes[p.node].inputs.truncate(2);
            }
        }
        Ok(())
    }

    /// Evaluates `node` on constant inputs by lowering it alone and running the executor.
    fn fold(&self, node: &tf::Node<'_>, inputs: &[Val]) -> Result<Vec<Val>> {
        let mut sub = Lowering::new(true);
        let outs = sub.lower_op(node, inputs, &[])?;
        let mut results: Vec<Option<Val>> = vec![None; outs.len()];
        let mut run: Vec<(usize, TensorId)> = Vec::new();
        for (k, v) in outs.iter().enumerate() {
            match v {
                Val::Const(_) => results[k] = Some(v.clone()),
                Val::Tensor(id) => match sub.sg.tensors[*id].kind {
                    TensorKind::Constant(c) => {
                        let bytes = match &sub.constants[c] {
                            Constant::Owned(b) => b.as_slice().to_vec(),
                            Constant::InSource { .. } => {
                                return Err(invalid!("constant outside the graph"))
                            }
                        };
                        let info = &sub.sg.tensors[*id];
                        results[k] = Some(Val::Const(Rc::new(HostTensor {
                            dtype: info.dtype,
                            shape: info.shape.dims().to_vec(),
                            bytes,
                        })));
                    }
                    TensorKind::Activation => run.push((k, *id)),
                },
            }
        }
        if !run.is_empty() {
            let mut total = 0usize;
            for t in &sub.sg.tensors {
                if matches!(t.kind, TensorKind::Activation) {
                    total = total.saturating_add(t.byte_len()?);
                }
            }
            check_folded(total, &node.name)?;
            sub.finish()?;
            sub.sg.outputs = run.iter().map(|(_, id)| *id).collect();
            sub.sg.name = format!("fold {}", node.name);
            let graph = Graph {
                subgraphs: vec![sub.sg],
                entry: 0,
                constants: sub.constants,
                source: AlignedBuf::default(),
                resources: Vec::new(),
            };
            let mut model = Model::new(graph)?;
            model.run(&[])?;
            for (i, (k, _)) in run.iter().enumerate() {
                let o = model.output(i)?;
                results[*k] = Some(Val::Const(Rc::new(HostTensor {
                    dtype: o.dtype,
                    shape: o.shape.to_vec(),
                    bytes: o.bytes.to_vec(),
                })));
            }
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| invalid!("folding {:?} lost an output", node.name)))
            .collect()
    }

    fn binary(&mut self, name: &str, op: BinaryOp, a: &Val, b: &Val) -> Result<Val> {
        let (da, db) = (self.dtype(a), self.dtype(b));
        if da != db {
            return Err(invalid!("{name:?}: operand types {da} and {db} differ"));
        }
        let shape = broadcast(&self.dims(a), &self.dims(b))?;
        self.emit(
            name,
            Op::Binary {
                op,
                activation: Activation::None,
            },
            &[a, b],
            da,
            shape,
        )
    }

    /// Lowers one TensorFlow node; `uses[k]` counts the consumers of output `k`.
    fn lower_op(
        &mut self,
        node: &tf::Node<'_>,
        inputs: &[Val],
        uses: &[usize],
    ) -> Result<Vec<Val>> {
        let name = node.name.as_str();
        let uses0 = uses.first().copied().unwrap_or(usize::MAX);
        let arg = |i: usize| -> Result<&Val> {
            inputs
                .get(i)
                .ok_or_else(|| malformed!("{} {name:?} has no input {i}", node.op))
        };
        let one = |v: Val| Ok(vec![v]);
        let all_const = !inputs.is_empty() && inputs.iter().all(|v| matches!(v, Val::Const(_)));
        // Constant subexpressions are evaluated now (shape ops below handle constants natively).
        let native_const = matches!(
            node.op.as_str(),
            "Reshape"
                | "Squeeze"
                | "ExpandDims"
                | "Shape"
                | "Size"
                | "Rank"
                | "Cast"
                | "Fill"
                | "ZerosLike"
                | "OnesLike"
                | "PlaceholderWithDefault"
                | "EnsureShape"
                | "CheckNumerics"
                | "XlaCallModule"
        );
        if all_const && !self.folding && !native_const {
            return self.fold(node, inputs);
        }
        if let Some(u) = unary_op(node)? {
            let x = arg(0)?;
            let act = match u {
                UnaryOp::Relu => Some(Activation::Relu),
                UnaryOp::Relu6 => Some(Activation::Relu6),
                _ => None,
            };
            if let Some(act) = act {
                if !self.folding && self.fold_activation(x, act) {
                    return one(x.clone());
                }
            }
            let d = self.dtype(x);
            let s = self.dims(x);
            return one(self.emit(name, Op::Unary(u), &[x], d, s)?);
        }
        if let Some(b) = binary_op(&node.op) {
            let (x, y) = (arg(0)?, arg(1)?);
            // Per-channel affine ops after a conv / FC fold into its weights.
            let foldable = |this: &Self, t: &Val, c: &Val| -> Option<Vec<f32>> {
                let (Val::Tensor(id), Val::Const(c)) = (t, c) else {
                    return None;
                };
                let f = this.fusable.get(id)?;
                let p = &this.pending[f.pending];
                let rank = this.sg.tensors[*id].shape.rank();
                this.channel_vector(c, p.out_c, rank)
            };
            if !self.folding {
                match b {
                    BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul => {
                        let (t, c, vec) = match foldable(self, x, y) {
                            Some(v) => (x, y, Some(v)),
                            None if b != BinaryOp::Sub => match foldable(self, y, x) {
                                Some(v) => (y, x, Some(v)),
                                None => (x, y, None),
                            },
                            None => (x, y, None),
                        };
                        let _ = c;
                        if let Some(v) = vec {
                            let done = match b {
                                BinaryOp::Mul => self.fold_affine(t, Some(&v), None, uses0),
                                BinaryOp::Sub => {
                                    let neg: Vec<f32> = v.iter().map(|x| -x).collect();
                                    self.fold_affine(t, None, Some(&neg), uses0)
                                }
                                _ => self.fold_affine(t, None, Some(&v), uses0),
                            };
                            if done {
                                return one(t.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
            return one(self.binary(name, b, x, y)?);
        }
        if let Some(c) = compare_op(&node.op) {
            let (x, y) = (arg(0)?, arg(1)?);
            let shape = broadcast(&self.dims(x), &self.dims(y))?;
            return one(self.emit(name, Op::Compare(c), &[x, y], DType::Bool, shape)?);
        }
        match node.op.as_str() {
            "PlaceholderWithDefault" | "EnsureShape" | "CheckNumerics" => one(arg(0)?.clone()),
            "BiasAdd" => {
                check_nhwc(node)?;
                let (x, b) = (arg(0)?, arg(1)?);
                if !self.folding {
                    if let (Val::Tensor(id), Val::Const(c)) = (x, b) {
                        if let Some(f) = self.fusable.get(id).copied() {
                            let out_c = self.pending[f.pending].out_c;
                            let rank = self.sg.tensors[*id].shape.rank();
                            if let Some(v) = self.channel_vector(c, out_c, rank) {
                                if self.fold_affine(x, None, Some(&v), uses0) {
                                    return one(x.clone());
                                }
                            }
                        }
                    }
                }
                if self.dims(b).len() != 1 {
                    return Err(invalid!("BiasAdd {name:?}: bias must be 1-D"));
                }
                one(self.binary(name, BinaryOp::Add, x, b)?)
            }
            "AddN" => {
                let mut acc = arg(0)?.clone();
                for (i, v) in inputs.iter().enumerate().skip(1) {
                    acc = self.binary(&format!("{name}/{i}"), BinaryOp::Add, &acc, v)?;
                }
                one(acc)
            }
            "Reciprocal" => {
                let x = arg(0)?;
                if self.dtype(x) != DType::F32 {
                    return Err(unsupported!("Reciprocal of {}", self.dtype(x)));
                }
                let onev = Val::Const(Rc::new(HostTensor {
                    dtype: DType::F32,
                    shape: vec![],
                    bytes: 1.0f32.to_le_bytes().to_vec(),
                }));
                one(self.binary(name, BinaryOp::Div, &onev, x)?)
            }
            "Select" | "SelectV2" => {
                let (c, x, y) = (arg(0)?, arg(1)?, arg(2)?);
                let (cd, xd) = (self.dims(c), self.dims(x));
                let c = if node.op == "Select" && cd.len() == 1 && xd.len() > 1 {
                    // TF1 Select: a vector condition picks rows.
                    let mut s = vec![1; xd.len()];
                    s[0] = cd[0];
                    self.reshape(&format!("{name}/cond"), c, s)?
                } else {
                    c.clone()
                };
                let shape = broadcast(&broadcast(&self.dims(&c), &xd)?, &self.dims(y))?;
                let d = self.dtype(x);
                one(self.emit(name, Op::Select, &[&c, x, y], d, shape)?)
            }
            "Cast" => {
                let x = arg(0)?;
                let to = attr_type_or(node, "DstT", self.dtype(x))?;
                if to == self.dtype(x) {
                    return one(x.clone());
                }
                match x {
                    Val::Const(t) => one(Val::Const(Rc::new(t.cast(to)?))),
                    Val::Tensor(_) => {
                        let s = self.dims(x);
                        one(self.emit(name, Op::Cast, &[x], to, s)?)
                    }
                }
            }
            "Conv2D" => self.conv2d(node, arg(0)?, arg(1)?, uses0),
            "DepthwiseConv2dNative" => self.depthwise(node, arg(0)?, arg(1)?, uses0),
            "MatMul" => {
                let ta = attr_bool_or(node, "transpose_a", false);
                let tb = attr_bool_or(node, "transpose_b", false);
                self.matmul(node, arg(0)?, arg(1)?, ta, tb, uses0)
            }
            "BatchMatMul" | "BatchMatMulV2" | "BatchMatMulV3" => {
                let ta = attr_bool_or(node, "adj_x", false);
                let tb = attr_bool_or(node, "adj_y", false);
                self.matmul(node, arg(0)?, arg(1)?, ta, tb, uses0)
            }
            "MaxPool" | "AvgPool" => {
                check_nhwc(node)?;
                let x = arg(0)?;
                let d = self.dims(x);
                if d.len() != 4 {
                    return Err(invalid!("{} {name:?}: input must be 4-D", node.op));
                }
                let (kh, kw) = spatial_pair(node, "ksize", &[])?;
                let (sh, sw) = spatial_pair(node, "strides", &[])?;
                let padding = node.attr_bytes("padding").map_err(tf_error)?;
                let ex = explicit_pads(node)?;
                let (oh, pt, pb) = window(d[1], kh, sh, 1, padding, ex.map(|e| e[0]))?;
                let (ow, pl, pr) = window(d[2], kw, sw, 1, padding, ex.map(|e| e[1]))?;
                let kind = if node.op == "MaxPool" {
                    PoolKind::Max
                } else {
                    PoolKind::Average
                };
                let op = Op::Pool2d(Pool2dAttrs {
                    kind,
                    filter_h: kh,
                    filter_w: kw,
                    stride_h: sh,
                    stride_w: sw,
                    padding: Padding2d {
                        top: pt,
                        bottom: pb,
                        left: pl,
                        right: pr,
                    },
                    activation: Activation::None,
                });
                let dt = self.dtype(x);
                one(self.emit(name, op, &[x], dt, vec![d[0], oh, ow, d[3]])?)
            }
            "Mean" | "Sum" | "Max" | "Min" | "Prod" | "Any" | "All" => {
                let op = match node.op.as_str() {
                    "Mean" => ReduceOp::Mean,
                    "Sum" => ReduceOp::Sum,
                    "Max" => ReduceOp::Max,
                    "Min" => ReduceOp::Min,
                    "Prod" => ReduceOp::Prod,
                    "Any" => ReduceOp::Any,
                    _ => ReduceOp::All,
                };
                let x = arg(0)?;
                let d = self.dims(x);
                let keep = attr_bool_or(node, "keep_dims", false);
                let mut axes = BTreeSet::new();
                for a in self.const_ints(node, arg(1)?, "reduction axes")? {
                    axes.insert(norm_axis(a, d.len())?);
                }
                if axes.is_empty() {
                    return one(x.clone());
                }
                let mut shape = Vec::new();
                for (i, &n) in d.iter().enumerate() {
                    if !axes.contains(&i) {
                        shape.push(n);
                    } else if keep {
                        shape.push(1);
                    }
                }
                let op = Op::Reduce {
                    op,
                    axes: axes.into_iter().collect(),
                    keep_dims: keep,
                };
                let dt = self.dtype(x);
                one(self.emit(name, op, &[x], dt, shape)?)
            }
            "Softmax" | "LogSoftmax" => {
                let x = arg(0)?;
                let d = self.dims(x);
                let axis = d
                    .len()
                    .checked_sub(1)
                    .ok_or_else(|| invalid!("softmax of a scalar"))?;
                let op = if node.op == "Softmax" {
                    Op::Softmax { beta: 1.0, axis }
                } else {
                    Op::LogSoftmax { axis }
                };
                let dt = self.dtype(x);
                one(self.emit(name, op, &[x], dt, d)?)
            }
            "FusedBatchNorm" | "FusedBatchNormV2" | "FusedBatchNormV3" => {
                check_nhwc(node)?;
                if attr_bool_or(node, "is_training", true) {
                    return Err(unsupported!("{} {name:?} in training mode", node.op));
                }
                let eps = attr_float_or(node, "epsilon", 1e-4);
                let x = arg(0)?;
                let get = |i: usize, what: &str| -> Result<Vec<f32>> {
                    self.const_of(node, arg(i)?, what)?.f32s(what)
                };
                let (gamma, beta, mean, var) = (
                    get(1, "scale")?,
                    get(2, "offset")?,
                    get(3, "mean")?,
                    get(4, "variance")?,
                );
                let c = gamma.len();
                if [beta.len(), mean.len(), var.len()] != [c, c, c] {
                    return Err(invalid!("{name:?}: batch-norm vectors differ in length"));
                }
                let d = self.dims(x);
                if d.last() != Some(&c) {
                    return Err(invalid!("{name:?}: {c} channels for input {d:?}"));
                }
                let scale: Vec<f32> = (0..c)
                    .map(|i| gamma[i] / libm::sqrtf(var[i] + eps))
                    .collect();
                let shift: Vec<f32> = (0..c).map(|i| beta[i] - mean[i] * scale[i]).collect();
                let y = if !self.folding && self.fold_affine(x, Some(&scale), Some(&shift), uses0) {
                    x.clone()
                } else {
                    let to_val = |v: &[f32]| {
                        let mut bytes = Vec::with_capacity(v.len() * 4);
                        for f in v {
                            bytes.extend_from_slice(&f.to_le_bytes());
                        }
                        Val::Const(Rc::new(HostTensor {
                            dtype: DType::F32,
                            shape: vec![v.len()],
                            bytes,
                        }))
                    };
                    let m =
                        self.binary(&format!("{name}/scale"), BinaryOp::Mul, x, &to_val(&scale))?;
                    self.binary(name, BinaryOp::Add, &m, &to_val(&shift))?
                };
                let vec_val = |v: &[f32]| {
                    let mut bytes = Vec::new();
                    for f in v {
                        bytes.extend_from_slice(&f.to_le_bytes());
                    }
                    Val::Const(Rc::new(HostTensor {
                        dtype: DType::F32,
                        shape: vec![v.len()],
                        bytes,
                    }))
                };
                Ok(vec![
                    y,
                    vec_val(&mean),
                    vec_val(&var),
                    vec_val(&mean),
                    vec_val(&var),
                    vec_val(&[]),
                ])
            }
            "Reshape" => {
                let x = arg(0)?;
                let target = self.const_ints(node, arg(1)?, "shape")?;
                let n: usize = self.dims(x).iter().product();
                let shape = resolve_reshape(&target, n)?;
                one(self.reshape(name, x, shape)?)
            }
            "Squeeze" => {
                let x = arg(0)?;
                let d = self.dims(x);
                let axes = attr_ints_or(node, "squeeze_dims", &[]);
                let mut drop = BTreeSet::new();
                for a in &axes {
                    let a = norm_axis(*a, d.len())?;
                    if d[a] != 1 {
                        return Err(invalid!("Squeeze {name:?}: dim {a} is {}", d[a]));
                    }
                    drop.insert(a);
                }
                let shape: Vec<usize> = d
                    .iter()
                    .enumerate()
                    .filter(|(i, &n)| {
                        if axes.is_empty() {
                            n != 1
                        } else {
                            !drop.contains(i)
                        }
                    })
                    .map(|(_, &n)| n)
                    .collect();
                one(self.reshape(name, x, shape)?)
            }
            "ExpandDims" => {
                let x = arg(0)?;
                let mut d = self.dims(x);
                let a = self.const_ints(node, arg(1)?, "axis")?;
                let a = *a
                    .first()
                    .ok_or_else(|| invalid!("ExpandDims {name:?}: no axis"))?;
                let a = norm_axis(a, d.len() + 1)?;
                d.insert(a, 1);
                one(self.reshape(name, x, d)?)
            }
            "Shape" | "Size" | "Rank" => {
                let d = self.dims(arg(0)?);
                let dt = attr_type_or(node, "out_type", DType::I32)?;
                let (shape, vals): (Vec<usize>, Vec<i64>) = match node.op.as_str() {
                    "Shape" => (vec![d.len()], d.iter().map(|&v| v as i64).collect()),
                    "Size" => (vec![], vec![d.iter().product::<usize>() as i64]),
                    _ => (vec![], vec![d.len() as i64]),
                };
                one(Val::Const(Rc::new(HostTensor::from_ints(dt, shape, &vals))))
            }
            "ZerosLike" | "OnesLike" => {
                let x = arg(0)?;
                let t =
                    HostTensor::from_ints(DType::I64, vec![], &[(node.op == "OnesLike") as i64])
                        .cast(self.dtype(x))?;
                let n: usize = self.dims(x).iter().product();
                check_folded(n.saturating_mul(t.dtype.size()), name)?;
                let bytes = t.bytes.repeat(n);
                one(Val::Const(Rc::new(HostTensor {
                    dtype: t.dtype,
                    shape: self.dims(x),
                    bytes,
                })))
            }
            "Fill" => {
                let dims = self.const_ints(node, arg(0)?, "dims")?;
                let shape = dims
                    .iter()
                    .map(|&v| to_usize(v, "dim"))
                    .collect::<Result<Vec<_>>>()?;
                let v = arg(1)?;
                match v {
                    Val::Const(t) if t.len() == 1 => {
                        let n = Shape(shape.clone()).num_elements()?;
                        check_folded(Shape(shape.clone()).byte_len(t.dtype.size())?, name)?;
                        one(Val::Const(Rc::new(HostTensor {
                            dtype: t.dtype,
                            shape,
                            bytes: t.bytes.repeat(n),
                        })))
                    }
                    _ => {
                        let dt = self.dtype(v);
                        one(self.emit(name, Op::BroadcastTo, &[v], dt, shape)?)
                    }
                }
            }
            "BroadcastTo" => {
                let x = arg(0)?;
                let target = self
                    .const_ints(node, arg(1)?, "shape")?
                    .iter()
                    .map(|&v| to_usize(v, "dim"))
                    .collect::<Result<Vec<_>>>()?;
                let shape = broadcast(&self.dims(x), &target)?;
                if shape != target {
                    return Err(invalid!(
                        "BroadcastTo {name:?}: {:?} to {target:?}",
                        self.dims(x)
                    ));
                }
                let dt = self.dtype(x);
                one(self.emit(name, Op::BroadcastTo, &[x], dt, shape)?)
            }
            "Transpose" => {
                let x = arg(0)?;
                let d = self.dims(x);
                let perm = self
                    .const_ints(node, arg(1)?, "perm")?
                    .iter()
                    .map(|&p| norm_axis(p, d.len()))
                    .collect::<Result<Vec<_>>>()?;
                let uniq: BTreeSet<usize> = perm.iter().copied().collect();
                if perm.len() != d.len() || uniq.len() != d.len() {
                    return Err(invalid!("Transpose {name:?}: bad permutation {perm:?}"));
                }
                let shape = perm.iter().map(|&p| d[p]).collect();
                let dt = self.dtype(x);
                one(self.emit(name, Op::Transpose { perm }, &[x], dt, shape)?)
            }
            "ConcatV2" | "Concat" => {
                let (axis_v, values) = if node.op == "ConcatV2" {
                    let (last, rest) = inputs
                        .split_last()
                        .ok_or_else(|| malformed!("ConcatV2 {name:?} without inputs"))?;
                    (last, rest)
                } else {
                    let (first, rest) = inputs
                        .split_first()
                        .ok_or_else(|| malformed!("Concat {name:?} without inputs"))?;
                    (first, rest)
                };
                let a = self.const_ints(node, axis_v, "axis")?;
                let a = *a.first().ok_or_else(|| invalid!("{name:?}: no axis"))?;
                one(self.concat(name, values, a)?)
            }
            "Pack" => {
                let first = arg(0)?;
                let d = self.dims(first);
                let axis = norm_axis(attr_int_or(node, "axis", 0), d.len() + 1)?;
                let mut expanded = Vec::with_capacity(inputs.len());
                for (i, v) in inputs.iter().enumerate() {
                    let mut s = self.dims(v);
                    if s != d {
                        return Err(invalid!("Pack {name:?}: input shapes differ"));
                    }
                    s.insert(axis, 1);
                    expanded.push(self.reshape(&format!("{name}/expand{i}"), v, s)?);
                }
                one(self.concat(name, &expanded, axis as i64)?)
            }
            "Unpack" => {
                let x = arg(0)?;
                let d = self.dims(x);
                let axis = norm_axis(attr_int_or(node, "axis", 0), d.len())?;
                let mut piece = d.clone();
                piece[axis] = 1;
                let mut squeezed = d.clone();
                squeezed.remove(axis);
                let dt = self.dtype(x);
                let xt = self.tensor(&format!("{name}/input"), x)?;
                let mut outs = Vec::new();
                for k in 0..d[axis] {
                    outs.push(self.activation(&format!("{name}:{k}"), dt, piece.clone())?);
                }
                self.push(Op::Split { axis }, vec![Some(xt)], outs.clone());
                let mut vals = Vec::new();
                for (k, o) in outs.into_iter().enumerate() {
                    vals.push(self.reshape(
                        &format!("{name}/squeeze{k}"),
                        &Val::Tensor(o),
                        squeezed.clone(),
                    )?);
                }
                Ok(vals)
            }
            "Split" | "SplitV" => {
                let (x, equal, sizes, axis) = if node.op == "Split" {
                    let n = to_usize(attr_int_or(node, "num_split", 1), "num_split")?;
                    (arg(1)?, Some(n), Vec::new(), arg(0)?)
                } else {
                    let sizes = self.const_ints(node, arg(1)?, "size_splits")?;
                    (arg(0)?, None, sizes, arg(2)?)
                };
                let d = self.dims(x);
                let a = self.const_ints(node, axis, "axis")?;
                let a = norm_axis(
                    *a.first().ok_or_else(|| invalid!("{name:?}: no axis"))?,
                    d.len(),
                )?;
                let sizes = split_sizes(equal, sizes, d[a])?;
                let dt = self.dtype(x);
                let xt = self.tensor(&format!("{name}/input"), x)?;
                let mut outs = Vec::new();
                for (k, s) in sizes.iter().enumerate() {
                    let mut shape = d.clone();
                    shape[a] = *s;
                    outs.push(self.activation(&format!("{name}:{k}"), dt, shape)?);
                }
                self.push(Op::Split { axis: a }, vec![Some(xt)], outs.clone());
                Ok(outs.into_iter().map(Val::Tensor).collect())
            }
            "StridedSlice" => self.strided_slice(node, inputs),
            "Slice" => {
                let x = arg(0)?;
                let d = self.dims(x);
                let begin = self.const_ints(node, arg(1)?, "begin")?;
                let size = self.const_ints(node, arg(2)?, "size")?;
                if begin.len() != d.len() || size.len() != d.len() {
                    return Err(invalid!(
                        "Slice {name:?}: bounds do not match rank {}",
                        d.len()
                    ));
                }
                let mut b = Vec::new();
                let mut s = Vec::new();
                for i in 0..d.len() {
                    let bi = to_usize(begin[i], "slice begin")?;
                    let si = if size[i] == -1 {
                        d[i].checked_sub(bi)
                            .ok_or_else(|| invalid!("Slice {name:?} out of range"))?
                    } else {
                        to_usize(size[i], "slice size")?
                    };
                    if bi.checked_add(si).is_none_or(|e| e > d[i]) {
                        return Err(invalid!("Slice {name:?} out of range"));
                    }
                    b.push(if si == 0 { 0 } else { bi });
                    s.push(si);
                }
                let op = Op::Slice {
                    begin: b,
                    stride: vec![1; d.len()],
                    slice_shape: s.clone(),
                };
                let dt = self.dtype(x);
                one(self.emit(name, op, &[x], dt, s)?)
            }
            "Pad" | "PadV2" | "MirrorPad" => {
                let x = arg(0)?;
                let d = self.dims(x);
                let p = self.const_ints(node, arg(1)?, "paddings")?;
                if p.len() != 2 * d.len() {
                    return Err(invalid!("{name:?}: paddings do not match rank {}", d.len()));
                }
                let before: Vec<usize> = (0..d.len())
                    .map(|i| to_usize(p[2 * i], "padding"))
                    .collect::<Result<_>>()?;
                let after: Vec<usize> = (0..d.len())
                    .map(|i| to_usize(p[2 * i + 1], "padding"))
                    .collect::<Result<_>>()?;
                let mode = match node.op.as_str() {
                    "MirrorPad" => match node.attr_bytes("mode").map_err(tf_error)? {
                        b"REFLECT" => PadMode::Reflect,
                        b"SYMMETRIC" => PadMode::Symmetric,
                        _ => return Err(unsupported!("MirrorPad {name:?} mode")),
                    },
                    _ => PadMode::Constant,
                };
                let shape: Vec<usize> = (0..d.len())
                    .map(|i| {
                        d[i].checked_add(before[i])
                            .and_then(|v| v.checked_add(after[i]))
                            .ok_or_else(|| invalid!("{name:?}: padding overflows"))
                    })
                    .collect::<Result<_>>()?;
                let dt = self.dtype(x);
                let op = Op::Pad {
                    before: before.clone(),
                    after: after.clone(),
                    interior: Vec::new(),
                    mode,
                };
                let zero_value = match inputs.get(2) {
                    None => true,
                    Some(Val::Const(c)) => c.len() == 1 && c.get_f64(0) == 0.0,
                    Some(_) => false,
                };
                let spatial_only = d.len() == 4
                    && before[0] == 0
                    && after[0] == 0
                    && before[3] == 0
                    && after[3] == 0;
                let hw = [before.get(1), after.get(1), before.get(2), after.get(2)]
                    .map(|v| v.copied().unwrap_or(0));
                let out = if node.op == "PadV2" {
                    self.emit(name, op, &[x, arg(2)?], dt, shape)?
                } else {
                    self.emit(name, op, &[x], dt, shape)?
                };
                if let (Val::Tensor(src), Val::Tensor(o), false) = (x, &out, self.folding) {
                    if mode == PadMode::Constant
                        && zero_value
                        && spatial_only
                        && dt == DType::F32
                        && uses0 == 1
                    {
                        self.pads.insert(*o, (self.sg.nodes.len() - 1, *src, hw));
                    }
                }
                one(out)
            }
            "Tile" => {
                let x = arg(0)?;
                let d = self.dims(x);
                let m = self.const_ints(node, arg(1)?, "multiples")?;
                if m.len() != d.len() {
                    return Err(invalid!("Tile {name:?}: multiples do not match rank"));
                }
                let multiples: Vec<usize> = m
                    .iter()
                    .map(|&v| to_usize(v, "multiple"))
                    .collect::<Result<_>>()?;
                let shape = d
                    .iter()
                    .zip(&multiples)
                    .map(|(a, b)| {
                        a.checked_mul(*b)
                            .ok_or_else(|| invalid!("{name:?}: tile overflows"))
                    })
                    .collect::<Result<_>>()?;
                let dt = self.dtype(x);
                one(self.emit(name, Op::Tile { multiples }, &[x], dt, shape)?)
            }
            "GatherV2" | "Gather" => {
                let (p, idx) = (arg(0)?, arg(1)?);
                let pd = self.dims(p);
                let id = self.dims(idx);
                let axis = if node.op == "GatherV2" {
                    let a = self.const_ints(node, arg(2)?, "axis")?;
                    norm_axis(
                        *a.first().ok_or_else(|| invalid!("{name:?}: no axis"))?,
                        pd.len(),
                    )?
                } else {
                    0
                };
                let bd = attr_int_or(node, "batch_dims", 0);
                let bd = if bd < 0 { bd + id.len() as i64 } else { bd };
                let bd = to_usize(bd, "batch_dims")?;
                if bd > axis || bd > id.len() {
                    return Err(invalid!("Gather {name:?}: batch_dims {bd}"));
                }
                let mut shape = pd[..axis].to_vec();
                shape.extend_from_slice(&id[bd..]);
                shape.extend_from_slice(&pd[axis + 1..]);
                let dt = self.dtype(p);
                let op = Op::Gather {
                    axis,
                    batch_dims: bd,
                };
                one(self.emit(name, op, &[p, idx], dt, shape)?)
            }
            "ArgMax" | "ArgMin" => {
                let x = arg(0)?;
                let d = self.dims(x);
                let a = self.const_ints(node, arg(1)?, "dimension")?;
                let axis = norm_axis(
                    *a.first().ok_or_else(|| invalid!("{name:?}: no axis"))?,
                    d.len(),
                )?;
                let mut shape = d.clone();
                shape.remove(axis);
                let dt = attr_type_or(node, "output_type", DType::I64)?;
                let op = Op::ArgReduce {
                    max: node.op == "ArgMax",
                    axis,
                };
                one(self.emit(name, op, &[x], dt, shape)?)
            }
            "ResizeBilinear" | "ResizeNearestNeighbor" => {
                let x = arg(0)?;
                let d = self.dims(x);
                let s = self.const_ints(node, arg(1)?, "size")?;
                if d.len() != 4 || s.len() != 2 {
                    return Err(invalid!("{name:?}: resize needs NHWC input and [h, w]"));
                }
                let op = Op::Resize {
                    mode: if node.op == "ResizeBilinear" {
                        ResizeMode::Bilinear
                    } else {
                        ResizeMode::Nearest
                    },
                    align_corners: attr_bool_or(node, "align_corners", false),
                    half_pixel_centers: attr_bool_or(node, "half_pixel_centers", false),
                };
                let shape = vec![d[0], to_usize(s[0], "size")?, to_usize(s[1], "size")?, d[3]];
                let dt = self.dtype(x);
                one(self.emit(name, op, &[x], dt, shape)?)
            }
            "DepthToSpace" | "SpaceToDepth" => {
                check_nhwc(node)?;
                let x = arg(0)?;
                let d = self.dims(x);
                let b = to_usize(attr_int_or(node, "block_size", 0), "block_size")?;
                let bb = b
                    .checked_mul(b)
                    .ok_or_else(|| invalid!("{name:?}: block overflows"))?;
                if d.len() != 4 || b < 2 {
                    return Err(invalid!("{name:?}: needs NHWC input and block >= 2"));
                }
                let (op, shape) = if node.op == "DepthToSpace" {
                    if !d[3].is_multiple_of(bb) {
                        return Err(invalid!("{name:?}: channels not divisible"));
                    }
                    (
                        Op::DepthToSpace { block: b },
                        vec![
                            d[0],
                            d[1].checked_mul(b)
                                .ok_or_else(|| invalid!("{name:?} overflows"))?,
                            d[2].checked_mul(b)
                                .ok_or_else(|| invalid!("{name:?} overflows"))?,
                            d[3] / bb,
                        ],
                    )
                } else {
                    if !d[1].is_multiple_of(b) || !d[2].is_multiple_of(b) {
                        return Err(invalid!("{name:?}: size not divisible"));
                    }
                    (
                        Op::SpaceToDepth { block: b },
                        vec![
                            d[0],
                            d[1] / b,
                            d[2] / b,
                            d[3].checked_mul(bb)
                                .ok_or_else(|| invalid!("{name:?} overflows"))?,
                        ],
                    )
                };
                let dt = self.dtype(x);
                one(self.emit(name, op, &[x], dt, shape)?)
            }
            "XlaCallModule" => self.xla_call_module(node, inputs),
            other => Err(unsupported!("TensorFlow op {other} ({name:?})")),
        }
    }

    /// `XlaCallModule` (jax2tf, Keras 3 with the JAX backend): its StableHLO module goes through
    /// the StableHLO front-end and becomes a called subgraph.
    fn xla_call_module(&mut self, node: &tf::Node<'_>, inputs: &[Val]) -> Result<Vec<Val>> {
        let name = node.name.as_str();
        if self.folding {
            return Err(unsupported!("XlaCallModule {name:?} on constants"));
        }
        if let Some(Attr::List(l)) = node.attr("platforms") {
            if !l.s.is_empty() && !l.s.iter().any(|p| p.eq_ignore_ascii_case(b"cpu")) {
                return Err(unsupported!("XlaCallModule {name:?} not lowered for CPU"));
            }
        }
        if let Some(Attr::List(l)) = node.attr("dim_args_spec") {
            if !l.s.is_empty() {
                return Err(unsupported!(
                    "XlaCallModule {name:?} with shape polymorphism"
                ));
            }
        }
        if attr_bool_or(node, "has_token_input_output", false) {
            return Err(unsupported!("XlaCallModule {name:?} with tokens"));
        }
        let module = node.attr_bytes("module").map_err(tf_error)?;
        let callee = super::stablehlo::load(module)?;
        if !callee.resources.is_empty() {
            return Err(unsupported!(
                "XlaCallModule {name:?} with resource variables"
            ));
        }
        // Append the callee's constants and subgraphs, renumbering their references.
        let const_base = self.constants.len();
        for c in &callee.constants {
            let bytes = match c {
                Constant::InSource { offset, len } => offset
                    .checked_add(*len)
                    .and_then(|end| callee.source.as_slice().get(*offset..end))
                    .ok_or_else(|| invalid!("{name:?}: constant outside its module"))?,
                Constant::Owned(b) => b.as_slice(),
            };
            let buf = AlignedBuf::copy_from(bytes)
                .ok_or_else(|| Error::TooLarge(format!("constant of {name:?}")))?;
            self.constants.push(Constant::Owned(buf));
        }
        let sub_base = self.callees.len() + 1;
        let entry = sub_base + callee.entry;
        for mut sg in callee.subgraphs {
            for t in &mut sg.tensors {
                if let TensorKind::Constant(c) = &mut t.kind {
                    *c += const_base;
                }
            }
            for n in &mut sg.nodes {
                match &mut n.op {
                    Op::Call { subgraph } => *subgraph += sub_base,
                    Op::If {
                        then_branch,
                        else_branch,
                    } => {
                        *then_branch += sub_base;
                        *else_branch += sub_base;
                    }
                    Op::While { cond, body } => {
                        *cond += sub_base;
                        *body += sub_base;
                    }
                    Op::CallOnce { init } => *init += sub_base,
                    _ => {}
                }
            }
            self.callees.push(sg);
        }
        let callee_sg = &self.callees[entry - 1];
        if callee_sg.inputs.len() != inputs.len() {
            return Err(invalid!(
                "XlaCallModule {name:?}: module takes {} arguments, node has {}",
                callee_sg.inputs.len(),
                inputs.len()
            ));
        }
        let params: Vec<(DType, Vec<usize>)> = callee_sg
            .inputs
            .iter()
            .map(|&t| {
                (
                    callee_sg.tensors[t].dtype,
                    callee_sg.tensors[t].shape.dims().to_vec(),
                )
            })
            .collect();
        let results: Vec<(DType, Vec<usize>)> = callee_sg
            .outputs
            .iter()
            .map(|&t| {
                (
                    callee_sg.tensors[t].dtype,
                    callee_sg.tensors[t].shape.dims().to_vec(),
                )
            })
            .collect();
        let mut ids = Vec::with_capacity(inputs.len());
        for (i, (v, (dt, shape))) in inputs.iter().zip(&params).enumerate() {
            if self.dtype(v) != *dt || self.dims(v) != *shape {
                return Err(invalid!(
                    "XlaCallModule {name:?}: argument {i} is {} {:?}, the module takes {dt} {shape:?}",
                    self.dtype(v),
                    self.dims(v)
                ));
            }
            ids.push(Some(self.tensor(&format!("{name}/arg{i}"), v)?));
        }
        let mut outs = Vec::with_capacity(results.len());
        for (k, (dt, shape)) in results.into_iter().enumerate() {
            outs.push(self.activation(&format!("{name}:{k}"), dt, shape)?);
        }
        self.push(Op::Call { subgraph: entry }, ids, outs.clone());
        Ok(outs.into_iter().map(Val::Tensor).collect())
    }

    fn concat(&mut self, name: &str, values: &[Val], axis: i64) -> Result<Val> {
        let first = values
            .first()
            .ok_or_else(|| malformed!("{name:?}: nothing to concatenate"))?;
        let d = self.dims(first);
        let axis = norm_axis(axis, d.len())?;
        if values.len() == 1 {
            return Ok(first.clone());
        }
        let dt = self.dtype(first);
        let mut shape = d.clone();
        shape[axis] = 0;
        for v in values {
            let s = self.dims(v);
            if s.len() != d.len()
                || self.dtype(v) != dt
                || s.iter().enumerate().any(|(i, &n)| i != axis && n != d[i])
            {
                return Err(invalid!("{name:?}: inputs do not concatenate"));
            }
            shape[axis] += s[axis];
        }
        let refs: Vec<&Val> = values.iter().collect();
        self.emit(
            name,
            Op::Concat {
                axis,
                activation: Activation::None,
            },
            &refs,
            dt,
            shape,
        )
    }

    fn conv2d(&mut self, node: &tf::Node<'_>, x: &Val, f: &Val, uses: usize) -> Result<Vec<Val>> {
        check_nhwc(node)?;
        let name = node.name.as_str();
        let d = self.dims(x);
        let filter = self.const_of(node, f, "filter")?;
        let fd = filter.shape.clone();
        if d.len() != 4 || fd.len() != 4 || self.dtype(x) != DType::F32 {
            return Err(unsupported!(
                "Conv2D {name:?}: needs f32 NHWC input and HWIO filter"
            ));
        }
        let (kh, kw, ic, oc) = (fd[0], fd[1], fd[2], fd[3]);
        if ic == 0 || !d[3].is_multiple_of(ic) || oc == 0 {
            return Err(invalid!(
                "Conv2D {name:?}: {} input channels, filter {fd:?}",
                d[3]
            ));
        }
        let groups = d[3] / ic;
        if oc % groups != 0 {
            return Err(invalid!(
                "Conv2D {name:?}: {oc} filters for {groups} groups"
            ));
        }
        let (sh, sw) = spatial_pair(node, "strides", &[])?;
        let (dh, dw) = spatial_pair(node, "dilations", &[1, 1, 1, 1])?;
        let padding = node.attr_bytes("padding").map_err(tf_error)?;
        let ex = explicit_pads(node)?;
        let (oh, pt, pb) = window(d[1], kh, sh, dh, padding, ex.map(|e| e[0]))?;
        let (ow, pl, pr) = window(d[2], kw, sw, dw, padding, ex.map(|e| e[1]))?;
        // A zero pad of H/W just before becomes part of the convolution's padding.
        let (x, extra) = if self.folding {
            (x.clone(), [0; 4])
        } else {
            self.absorb_pad(x)
        };
        let add = |a: usize, b: usize| {
            a.checked_add(b)
                .ok_or_else(|| invalid!("padding overflows"))
        };
        let (pt, pb, pl, pr) = (
            add(pt, extra[0])?,
            add(pb, extra[1])?,
            add(pl, extra[2])?,
            add(pr, extra[3])?,
        );
        let x = &x;
        let w = filter.f32s("filter")?;
        let mut ohwi = vec![0f32; w.len()];
        for o in 0..oc {
            for y in 0..kh {
                for xx in 0..kw {
                    for i in 0..ic {
                        ohwi[((o * kh + y) * kw + xx) * ic + i] =
                            w[((y * kw + xx) * ic + i) * oc + o];
                    }
                }
            }
        }
        let op = Op::Conv2d(Conv2dAttrs {
            stride_h: sh,
            stride_w: sw,
            dilation_h: dh,
            dilation_w: dw,
            padding: Padding2d {
                top: pt,
                bottom: pb,
                left: pl,
                right: pr,
            },
            groups,
            activation: Activation::None,
        });
        let xt = self.tensor(&format!("{name}/input"), x)?;
        let v = self.pending_node(
            name,
            op,
            xt,
            ChannelAxis::Outer,
            oc,
            ohwi,
            vec![oc, kh, kw, ic],
            vec![d[0], oh, ow, oc],
            uses == 1,
        )?;
        Ok(vec![v])
    }

    fn depthwise(
        &mut self,
        node: &tf::Node<'_>,
        x: &Val,
        f: &Val,
        uses: usize,
    ) -> Result<Vec<Val>> {
        check_nhwc(node)?;
        let name = node.name.as_str();
        let d = self.dims(x);
        let filter = self.const_of(node, f, "filter")?;
        let fd = filter.shape.clone();
        if d.len() != 4 || fd.len() != 4 || self.dtype(x) != DType::F32 {
            return Err(unsupported!(
                "{name:?}: needs f32 NHWC input and [kh, kw, c, m] filter"
            ));
        }
        let (kh, kw, ic, mult) = (fd[0], fd[1], fd[2], fd[3]);
        if ic != d[3] || mult == 0 {
            return Err(invalid!("{name:?}: filter {fd:?} for {} channels", d[3]));
        }
        let (sh, sw) = spatial_pair(node, "strides", &[])?;
        let (dh, dw) = spatial_pair(node, "dilations", &[1, 1, 1, 1])?;
        let padding = node.attr_bytes("padding").map_err(tf_error)?;
        let ex = explicit_pads(node)?;
        let (oh, pt, pb) = window(d[1], kh, sh, dh, padding, ex.map(|e| e[0]))?;
        let (ow, pl, pr) = window(d[2], kw, sw, dw, padding, ex.map(|e| e[1]))?;
        // A zero pad of H/W just before becomes part of the convolution's padding.
        let (x, extra) = if self.folding {
            (x.clone(), [0; 4])
        } else {
            self.absorb_pad(x)
        };
        let add = |a: usize, b: usize| {
            a.checked_add(b)
                .ok_or_else(|| invalid!("padding overflows"))
        };
        let (pt, pb, pl, pr) = (
            add(pt, extra[0])?,
            add(pb, extra[1])?,
            add(pl, extra[2])?,
            add(pr, extra[3])?,
        );
        let x = &x;
        let oc = ic * mult;
        let op = Op::DepthwiseConv2d(DepthwiseAttrs {
            stride_h: sh,
            stride_w: sw,
            dilation_h: dh,
            dilation_w: dw,
            padding: Padding2d {
                top: pt,
                bottom: pb,
                left: pl,
                right: pr,
            },
            depth_multiplier: mult,
            activation: Activation::None,
        });
        let xt = self.tensor(&format!("{name}/input"), x)?;
        let w = filter.f32s("filter")?;
        let v = self.pending_node(
            name,
            op,
            xt,
            ChannelAxis::Inner,
            oc,
            w,
            vec![1, kh, kw, oc],
            vec![d[0], oh, ow, oc],
            uses == 1,
        )?;
        Ok(vec![v])
    }

    fn matmul(
        &mut self,
        node: &tf::Node<'_>,
        a: &Val,
        b: &Val,
        ta: bool,
        tb: bool,
        uses: usize,
    ) -> Result<Vec<Val>> {
        let name = node.name.as_str();
        let (ad, bd) = (self.dims(a), self.dims(b));
        if ad.len() < 2 || bd.len() < 2 {
            return Err(invalid!("{name:?}: matmul operands need rank >= 2"));
        }
        let (m, k) = if ta {
            (ad[ad.len() - 1], ad[ad.len() - 2])
        } else {
            (ad[ad.len() - 2], ad[ad.len() - 1])
        };
        let (k2, n) = if tb {
            (bd[bd.len() - 1], bd[bd.len() - 2])
        } else {
            (bd[bd.len() - 2], bd[bd.len() - 1])
        };
        if k != k2 {
            return Err(invalid!("{name:?}: inner dims {k} and {k2} differ"));
        }
        if let (Val::Tensor(at), Val::Const(w), false, 2, DType::F32) =
            (a, b, ta, bd.len(), self.dtype(a))
        {
            // A constant right operand makes a fully-connected layer with [n, k] weights.
            let wv = w.f32s("weights")?;
            let nk = if tb {
                wv
            } else {
                let mut t = vec![0f32; n * k];
                for r in 0..k {
                    for c in 0..n {
                        t[c * k + r] = wv[r * n + c];
                    }
                }
                t
            };
            let mut shape = ad.clone();
            *shape.last_mut().unwrap_or(&mut 0) = n;
            let v = self.pending_node(
                name,
                Op::FullyConnected {
                    activation: Activation::None,
                },
                *at,
                ChannelAxis::Outer,
                n,
                nk,
                vec![n, k],
                shape,
                uses == 1,
            )?;
            return Ok(vec![v]);
        }
        let mut batch = broadcast(&ad[..ad.len() - 2], &bd[..bd.len() - 2])?;
        batch.push(m);
        batch.push(n);
        let dt = self.dtype(a);
        let op = Op::BatchMatMul {
            adj_x: ta,
            adj_y: tb,
        };
        Ok(vec![self.emit(name, op, &[a, b], dt, batch)?])
    }

    fn strided_slice(&mut self, node: &tf::Node<'_>, inputs: &[Val]) -> Result<Vec<Val>> {
        let name = node.name.as_str();
        let x = inputs
            .first()
            .ok_or_else(|| malformed!("StridedSlice {name:?} without input"))?;
        let get = |i: usize, what: &str| -> Result<Vec<i64>> {
            let v = inputs
                .get(i)
                .ok_or_else(|| malformed!("StridedSlice {name:?} without {what}"))?;
            self.const_ints(node, v, what)
        };
        let (begin, end, strides) = (get(1, "begin")?, get(2, "end")?, get(3, "strides")?);
        let n = begin.len();
        if end.len() != n || strides.len() != n {
            return Err(invalid!("StridedSlice {name:?}: bound lengths differ"));
        }
        let mask = |attr: &str| attr_int_or(node, attr, 0);
        let (bm, em, ell, newm, shr) = (
            mask("begin_mask"),
            mask("end_mask"),
            mask("ellipsis_mask"),
            mask("new_axis_mask"),
            mask("shrink_axis_mask"),
        );
        let bit = |m: i64, i: usize| i < 63 && (m >> i) & 1 == 1;
        let d = self.dims(x);
        let rank = d.len();
        // Dense spec per input dim: (begin, end, stride, begin masked, end masked, shrink).
        let mut dense: Vec<(i64, i64, i64, bool, bool, bool)> = Vec::new();
        // Output layout: Some(input dim) or None for a new axis.
        let mut layout: Vec<Option<usize>> = Vec::new();
        let full = (0, 0, 1, true, true, false);
        let mut seen_ellipsis = false;
        for i in 0..n {
            if bit(ell, i) {
                if seen_ellipsis {
                    return Err(invalid!("StridedSlice {name:?}: two ellipses"));
                }
                seen_ellipsis = true;
                let after = (i + 1..n).filter(|&k| !bit(newm, k)).count();
                let fill = rank
                    .checked_sub(dense.len() + after)
                    .ok_or_else(|| invalid!("StridedSlice {name:?}: too many indices"))?;
                for _ in 0..fill {
                    layout.push(Some(dense.len()));
                    dense.push(full);
                }
            } else if bit(newm, i) {
                layout.push(None);
            } else {
                if dense.len() >= rank {
                    return Err(invalid!("StridedSlice {name:?}: too many indices"));
                }
                let s = (
                    begin[i],
                    end[i],
                    strides[i],
                    bit(bm, i),
                    bit(em, i),
                    bit(shr, i),
                );
                if !s.5 {
                    layout.push(Some(dense.len()));
                }
                dense.push(s);
            }
        }
        while dense.len() < rank {
            layout.push(Some(dense.len()));
            dense.push(full);
        }
        let mut sbegin = Vec::with_capacity(rank);
        let mut sstride = Vec::with_capacity(rank);
        let mut sshape = Vec::with_capacity(rank);
        for (k, &(b, e, s, bmk, emk, shrink)) in dense.iter().enumerate() {
            let dim = d[k] as i64;
            if s == 0 {
                return Err(invalid!("StridedSlice {name:?}: zero stride"));
            }
            if shrink {
                let idx = if b < 0 { b + dim } else { b };
                if idx < 0 || idx >= dim {
                    return Err(invalid!("StridedSlice {name:?}: index {b} out of range"));
                }
                sbegin.push(idx as usize);
                sstride.push(1isize);
                sshape.push(1);
                continue;
            }
            let norm = |v: i64| if v < 0 { v + dim } else { v };
            let (start, stop) = if s > 0 {
                (
                    if bmk { 0 } else { norm(b).clamp(0, dim) },
                    if emk { dim } else { norm(e).clamp(0, dim) },
                )
            } else {
                (
                    if bmk {
                        dim - 1
                    } else {
                        norm(b).clamp(-1, dim - 1)
                    },
                    if emk { -1 } else { norm(e).clamp(-1, dim - 1) },
                )
            };
            let (start128, stop128, s128) = (start as i128, stop as i128, s as i128);
            let size = if s128 > 0 {
                if stop128 > start128 {
                    (stop128 - start128 + s128 - 1) / s128
                } else {
                    0
                }
            } else if start128 > stop128 {
                (start128 - stop128 - s128 - 1) / (-s128)
            } else {
                0
            };
            sbegin.push(if size == 0 { 0 } else { start as usize });
            sstride.push(if size <= 1 { 1 } else { s as isize });
            sshape.push(size as usize);
        }
        let final_shape: Vec<usize> = layout
            .iter()
            .map(|l| match l {
                Some(k) => sshape[*k],
                None => 1,
            })
            .collect();
        let dt = self.dtype(x);
        let op = Op::Slice {
            begin: sbegin,
            stride: sstride,
            slice_shape: sshape.clone(),
        };
        let sliced = self.emit(&format!("{name}/slice"), op, &[x], dt, sshape)?;
        Ok(vec![self.reshape(name, &sliced, final_shape)?])
    }
}

fn unary_op(node: &tf::Node<'_>) -> Result<Option<UnaryOp>> {
    Ok(Some(match node.op.as_str() {
        "Abs" => UnaryOp::Abs,
        "Neg" => UnaryOp::Neg,
        "Exp" => UnaryOp::Exp,
        "Log" => UnaryOp::Log,
        "Sqrt" => UnaryOp::Sqrt,
        "Rsqrt" => UnaryOp::Rsqrt,
        "Square" => UnaryOp::Square,
        "Tanh" => UnaryOp::Tanh,
        "Sigmoid" => UnaryOp::Logistic,
        "Relu" => UnaryOp::Relu,
        "Relu6" => UnaryOp::Relu6,
        "Elu" => UnaryOp::Elu,
        "LeakyRelu" => UnaryOp::LeakyRelu {
            alpha: attr_float_or(node, "alpha", 0.2),
        },
        "Floor" => UnaryOp::Floor,
        "Ceil" => UnaryOp::Ceil,
        "Round" => UnaryOp::Round,
        "Sin" => UnaryOp::Sin,
        "Cos" => UnaryOp::Cos,
        "Sign" => UnaryOp::Sign,
        "LogicalNot" => UnaryOp::LogicalNot,
        _ => return Ok(None),
    }))
}

fn binary_op(op: &str) -> Option<BinaryOp> {
    Some(match op {
        "Add" | "AddV2" => BinaryOp::Add,
        "Sub" => BinaryOp::Sub,
        "Mul" => BinaryOp::Mul,
        "RealDiv" | "Div" => BinaryOp::Div,
        "Maximum" => BinaryOp::Maximum,
        "Minimum" => BinaryOp::Minimum,
        "Pow" => BinaryOp::Pow,
        "SquaredDifference" => BinaryOp::SquaredDifference,
        "FloorDiv" => BinaryOp::FloorDiv,
        "FloorMod" => BinaryOp::FloorMod,
        "LogicalAnd" => BinaryOp::LogicalAnd,
        "LogicalOr" => BinaryOp::LogicalOr,
        _ => return None,
    })
}

fn compare_op(op: &str) -> Option<CompareOp> {
    Some(match op {
        "Equal" => CompareOp::Equal,
        "NotEqual" => CompareOp::NotEqual,
        "Less" => CompareOp::Less,
        "LessEqual" => CompareOp::LessEqual,
        "Greater" => CompareOp::Greater,
        "GreaterEqual" => CompareOp::GreaterEqual,
        _ => return None,
    })
}

/// Resolves a Reshape target with at most one -1 for `count` elements.
fn resolve_reshape(target: &[i64], count: usize) -> Result<Vec<usize>> {
    let mut known: usize = 1;
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        if t == -1 {
            if infer.replace(i).is_some() {
                return Err(invalid!("reshape target {target:?} has two -1"));
            }
        } else {
            known = known
                .checked_mul(to_usize(t, "reshape dim")?)
                .ok_or_else(|| invalid!("reshape target {target:?} overflows"))?;
        }
    }
    let mut shape: Vec<usize> = target.iter().map(|&t| t.max(0) as usize).collect();
    if let Some(i) = infer {
        if known == 0 || !count.is_multiple_of(known) {
            return Err(invalid!("cannot reshape {count} elements to {target:?}"));
        }
        shape[i] = count / known;
    } else if known != count {
        return Err(invalid!("cannot reshape {count} elements to {target:?}"));
    }
    Ok(shape)
}

/// Sizes of a split: `equal` parts, or `sizes` with at most one -1.
fn split_sizes(equal: Option<usize>, sizes: Vec<i64>, dim: usize) -> Result<Vec<usize>> {
    if let Some(n) = equal {
        if n == 0 || !dim.is_multiple_of(n) {
            return Err(invalid!("cannot split {dim} into {n} equal parts"));
        }
        return Ok(vec![dim / n; n]);
    }
    let known: i64 = sizes.iter().filter(|&&s| s >= 0).sum();
    let mut out = Vec::with_capacity(sizes.len());
    let mut inferred = false;
    for &s in &sizes {
        if s == -1 && !inferred {
            inferred = true;
            out.push(
                (dim as i64)
                    .checked_sub(known)
                    .filter(|&v| v >= 0)
                    .ok_or_else(|| invalid!("split sizes {sizes:?} exceed {dim}"))?
                    as usize,
            );
        } else {
            out.push(to_usize(s, "split size")?);
        }
    }
    if out.iter().sum::<usize>() != dim {
        return Err(invalid!("split sizes {sizes:?} do not add up to {dim}"));
    }
    Ok(out)
}

/// Lowers a flat TensorFlow graph onto the IR.
pub fn lower(g: &tf::Graph<'_>, input_shapes: Option<&[Vec<usize>]>) -> Result<Graph> {
    let unsupported: BTreeSet<&str> = g
        .nodes
        .iter()
        .map(|n| n.op.as_str())
        .filter(|op| !SUPPORTED_OPS.contains(op))
        .collect();
    if !unsupported.is_empty() {
        let list: Vec<&str> = unsupported.into_iter().collect();
        return Err(unsupported!("TensorFlow ops {}", list.join(", ")));
    }
    if let Some(shapes) = input_shapes {
        if shapes.len() != g.inputs.len() {
            return Err(Error::BadInput(format!(
                "{} input shapes for {} inputs",
                shapes.len(),
                g.inputs.len()
            )));
        }
    }
    // Consumers of every output (graph outputs count as consumers).
    let mut uses: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for n in &g.nodes {
        for r in &n.inputs {
            *uses.entry((r.node, r.output)).or_insert(0) += 1;
        }
    }
    for o in &g.outputs {
        *uses.entry((o.tensor.node, o.tensor.output)).or_insert(0) += 1;
    }
    let mut low = Lowering::new(false);
    let mut vals: Vec<Vec<Val>> = Vec::with_capacity(g.nodes.len());
    let mut input_of: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, inp) in g.inputs.iter().enumerate() {
        input_of.insert(inp.node, i);
    }
    let mut input_ids = vec![0; g.inputs.len()];
    for (id, node) in g.nodes.iter().enumerate() {
        let out = if let Some(&i) = input_of.get(&id) {
            let inp = &g.inputs[i];
            let dtype = map_dtype(inp.dtype)?;
            let declared = inp.shape.dims.clone();
            let shape: Vec<usize> = match input_shapes.map(|s| &s[i]) {
                Some(given) => {
                    if let Some(decl) = &declared {
                        let ok = decl.len() == given.len()
                            && decl
                                .iter()
                                .zip(given)
                                .all(|(d, g)| d.is_none_or(|d| d == *g));
                        if !ok {
                            return Err(Error::BadInput(format!(
                                "input {:?} has shape {decl:?}, given {given:?}",
                                inp.name
                            )));
                        }
                    }
                    given.clone()
                }
                None => declared
                    .ok_or_else(|| {
                        Error::BadInput(format!("input {:?} has unknown rank", inp.name))
                    })?
                    .iter()
                    .map(|d| d.unwrap_or(1))
                    .collect(),
            };
            let t = low.activation(&inp.name, dtype, shape)?;
            input_ids[i] = t;
            vec![Val::Tensor(t)]
        } else if node.op == "Placeholder" {
            return Err(unsupported!(
                "placeholder {:?} that is not a signature input",
                node.name
            ));
        } else if node.op == "Const" {
            let value = node
                .value
                .as_ref()
                .ok_or_else(|| malformed!("Const {:?} without a value", node.name))?;
            match value.bytes() {
                Some(_) => vec![Val::Const(Rc::new(HostTensor::from_tf(value)?))],
                // Strings only feed ops the graph never reaches at run time.
                None => vec![Val::Const(Rc::new(HostTensor {
                    dtype: DType::U8,
                    shape: vec![0],
                    bytes: Vec::new(),
                }))],
            }
        } else {
            let mut ins = Vec::with_capacity(node.inputs.len());
            for r in &node.inputs {
                let v = vals
                    .get(r.node)
                    .and_then(|o| o.get(r.output))
                    .ok_or_else(|| {
                        malformed!(
                            "{:?} reads output {} of node {}",
                            node.name,
                            r.output,
                            r.node
                        )
                    })?;
                ins.push(v.clone());
            }
            let node_uses: Vec<usize> = (0..8)
                .map(|k| uses.get(&(id, k)).copied().unwrap_or(0))
                .collect();
            low.lower_op(node, &ins, &node_uses)?
        };
        vals.push(out);
    }
    low.sg.inputs = input_ids.clone();
    let mut seen = BTreeSet::new();
    for o in &g.outputs {
        let v = vals
            .get(o.tensor.node)
            .and_then(|v| v.get(o.tensor.output))
            .ok_or_else(|| malformed!("output {:?} does not exist", o.name))?
            .clone();
        let mut id = low.tensor(&o.name, &v)?;
        let is_act = matches!(low.sg.tensors[id].kind, TensorKind::Activation);
        if !is_act || input_ids.contains(&id) || !seen.insert(id) {
            // Outputs must be distinct activations of their own.
            let info = low.sg.tensors[id].clone();
            let copy = low.activation(&o.name, info.dtype, info.shape.dims().to_vec())?;
            low.push(Op::Identity, vec![Some(id)], vec![copy]);
            id = copy;
            seen.insert(id);
        }
        low.sg.tensors[id].name = o.name.clone();
        low.sg.outputs.push(id);
    }
    low.finish()?;
    low.sg.name = String::from("serving");
    let mut subgraphs = vec![low.sg];
    subgraphs.append(&mut low.callees);
    Ok(Graph {
        subgraphs,
        entry: 0,
        constants: low.constants,
        source: AlignedBuf::default(),
        resources: Vec::new(),
    })
}

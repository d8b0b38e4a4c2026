//! The TFLite (LiteRT) front-end: a verified FlatBuffer model to [`Graph`].
//!
//! The file is copied once into a 64-byte aligned buffer that the graph keeps; constant tensors
//! whose buffers are suitably aligned are referenced in place. Every index, offset and length
//! read from the file is checked; attribute tensors (axes, permutations, paddings, slice bounds)
//! are resolved into op attributes here, sparse constants are densified and constant DEQUANTIZE
//! ops are folded. CUSTOM and unknown ops are refused with their names.

mod names;
mod schema;

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use half::{bf16, f16};

use crate::error::Result;
use crate::ir::{
    Activation, AlignedBuf, BinaryOp, CompareOp, Constant, Conv2dAttrs, DType, DepthwiseAttrs,
    Graph, Node, Op, PadMode, Padding2d, Pool2dAttrs, PoolKind, QuantParams, ReduceOp, ResizeMode,
    ResourceInfo, Shape, Subgraph, TensorInfo, TensorKind, UnaryOp,
};
use crate::{invalid, malformed, too_large, unsupported};

pub use names::BUILTIN_NAMES;
use schema::*;

/// Name of a builtin operator code (for messages).
pub fn op_name(code: i32) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|c| BUILTIN_NAMES.get(c))
        .filter(|n| !n.is_empty())
        .map(|n| n.to_string())
        .unwrap_or_else(|| alloc::format!("unknown builtin code {code}"))
}

/// Most tensors one subgraph may declare (guards against absurd files).
const MAX_TENSORS: usize = 1 << 20;
/// Largest dense tensor DENSIFY may produce (real sparse weights are a few MB).
const MAX_DENSIFY_BYTES: usize = 256 << 20;
/// Highest rank accepted for a tensor.
const MAX_RANK: usize = 16;

/// Parses and lowers a `.tflite` model.
pub fn load(bytes: &[u8]) -> Result<Graph> {
    if bytes.len() < 8 {
        return Err(malformed!(
            "{} bytes is too short for a TFLite model",
            bytes.len()
        ));
    }
    if &bytes[4..8] != b"TFL3" {
        return Err(malformed!("missing the TFL3 file identifier at bytes 4..8"));
    }
    let source = AlignedBuf::copy_from(bytes)
        .ok_or_else(|| too_large!("cannot copy a model of {} bytes", bytes.len()))?;
    let mut constants = Vec::new();
    let mut resources = Vec::new();
    let subgraphs = {
        let file = source.as_slice();
        let model = root(file).map_err(|e| malformed!("FlatBuffer verification failed: {e}"))?;
        if model.version() != 3 {
            return Err(unsupported!(
                "TFLite schema version {} (expected 3)",
                model.version()
            ));
        }
        let mut l = Loader::new(file, model, &mut constants, &mut resources)?;
        let subgraphs_fb = model
            .subgraphs()
            .ok_or_else(|| malformed!("model has no subgraphs"))?;
        if subgraphs_fb.is_empty() {
            return Err(malformed!("model has no subgraphs"));
        }
        let n_sub = subgraphs_fb.len();
        let mut out = Vec::with_capacity(n_sub);
        for (i, sg) in subgraphs_fb.iter().enumerate() {
            out.push(l.subgraph(i, sg, n_sub)?);
        }
        out
    };
    Ok(Graph {
        subgraphs,
        entry: 0,
        constants,
        source,
        resources,
    })
}

/// Where a buffer's bytes are in the file.
#[derive(Clone, Copy)]
struct BufRange {
    offset: usize,
    len: usize,
}

struct Loader<'f, 'g> {
    file: &'f [u8],
    buffers: Vec<BufRange>,
    opcodes: Vec<(i32, Option<&'f str>)>,
    constants: &'g mut Vec<Constant>,
    resources: &'g mut Vec<ResourceInfo>,
    resource_ids: BTreeMap<(String, String), usize>,
}

/// Per-subgraph lowering state.
struct Sub<'f> {
    tensors: Vec<TensorInfo>,
    sparse: Vec<Option<SparsityParameters<'f>>>,
    buffers: Vec<Option<BufRange>>,
    nodes: Vec<Node>,
}

fn dtype_of(t: i8, name: &str) -> Result<DType> {
    Ok(match t {
        0 => DType::F32,
        1 => DType::F16,
        2 => DType::I32,
        3 => DType::U8,
        4 => DType::I64,
        6 => DType::Bool,
        7 => DType::I16,
        9 => DType::I8,
        13 => DType::Resource,
        15 => DType::U32,
        18 => DType::BF16,
        5 => return Err(unsupported!("tensor `{name}` has type STRING")),
        8 | 11 => return Err(unsupported!("tensor `{name}` has a complex type")),
        10 => return Err(unsupported!("tensor `{name}` has type FLOAT64")),
        12 | 16 => return Err(unsupported!("tensor `{name}` has type UINT64/UINT16")),
        14 => return Err(unsupported!("tensor `{name}` has type VARIANT")),
        17 | 19 | 20 => return Err(unsupported!("tensor `{name}` has a 2/4-bit integer type")),
        21 | 22 => return Err(unsupported!("tensor `{name}` has an 8-bit float type")),
        t => return Err(malformed!("tensor `{name}` has unknown type {t}")),
    })
}

fn activation(a: i8) -> Result<Activation> {
    Ok(match a {
        0 => Activation::None,
        1 => Activation::Relu,
        2 => Activation::ReluN1To1,
        3 => Activation::Relu6,
        4 => Activation::Tanh,
        5 => return Err(unsupported!("fused activation SIGN_BIT")),
        a => return Err(malformed!("unknown fused activation {a}")),
    })
}

fn positive(v: i32, what: &str) -> Result<usize> {
    if v <= 0 {
        return Err(invalid!("{what} must be positive, is {v}"));
    }
    Ok(v as usize)
}

/// TFLite SAME/VALID padding for one spatial dim, from the static output size.
fn pad_1d(
    padding: i8,
    input: usize,
    output: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
) -> Result<(usize, usize)> {
    let eff = filter
        .checked_sub(1)
        .and_then(|f| f.checked_mul(dilation))
        .and_then(|f| f.checked_add(1))
        .ok_or_else(|| invalid!("filter size {filter} with dilation {dilation} overflows"))?;
    match padding {
        0 => {
            let needed = output
                .saturating_sub(1)
                .checked_mul(stride)
                .and_then(|v| v.checked_add(eff))
                .ok_or_else(|| invalid!("padding computation overflows"))?;
            let total = needed.saturating_sub(input);
            Ok((total / 2, total - total / 2))
        }
        1 => Ok((0, 0)),
        p => Err(malformed!("unknown padding {p}")),
    }
}

impl<'f, 'g> Loader<'f, 'g> {
    fn new(
        file: &'f [u8],
        model: Model<'f>,
        constants: &'g mut Vec<Constant>,
        resources: &'g mut Vec<ResourceInfo>,
    ) -> Result<Self> {
        let base = file.as_ptr() as usize;
        let mut buffers = Vec::new();
        if let Some(bs) = model.buffers() {
            for (i, b) in bs.iter().enumerate() {
                let range = match b.data() {
                    Some(d) if !d.is_empty() => BufRange {
                        offset: d.bytes().as_ptr() as usize - base,
                        len: d.len(),
                    },
                    _ if b.offset() > 1 => {
                        let off = usize::try_from(b.offset())
                            .map_err(|_| malformed!("buffer {i} offset too large"))?;
                        let len = usize::try_from(b.size())
                            .map_err(|_| malformed!("buffer {i} size too large"))?;
                        match off.checked_add(len) {
                            Some(end) if end <= file.len() => BufRange { offset: off, len },
                            _ => {
                                return Err(malformed!(
                                    "buffer {i} at offset {off} with size {len} lies outside the {}-byte file",
                                    file.len()
                                ))
                            }
                        }
                    }
                    _ => BufRange { offset: 0, len: 0 },
                };
                buffers.push(range);
            }
        }
        let mut opcodes = Vec::new();
        if let Some(codes) = model.operator_codes() {
            for c in codes.iter() {
                opcodes.push((c.code(), c.custom_code()));
            }
        }
        Ok(Loader {
            file,
            buffers,
            opcodes,
            constants,
            resources,
            resource_ids: BTreeMap::new(),
        })
    }

    fn add_constant(&mut self, c: Constant) -> usize {
        self.constants.push(c);
        self.constants.len() - 1
    }

    fn owned_constant(&mut self, bytes: &[u8]) -> Result<usize> {
        let buf = AlignedBuf::copy_from(bytes)
            .ok_or_else(|| too_large!("constant of {} bytes", bytes.len()))?;
        Ok(self.add_constant(Constant::Owned(buf)))
    }

    fn subgraph(&mut self, index: usize, sg: SubGraph<'f>, n_sub: usize) -> Result<Subgraph> {
        let _ = n_sub;
        let tensors_fb = sg.tensors();
        let n_t = tensors_fb.map_or(0, |t| t.len());
        if n_t > MAX_TENSORS {
            return Err(too_large!("subgraph {index} declares {n_t} tensors"));
        }
        let mut s = Sub {
            tensors: Vec::with_capacity(n_t),
            sparse: Vec::new(),
            buffers: Vec::new(),
            nodes: Vec::new(),
        };
        if let Some(ts) = tensors_fb {
            for (ti, t) in ts.iter().enumerate() {
                self.tensor(&mut s, ti, t)?;
            }
        }
        let ids = |v: Option<flatbuffers::Vector<'f, i32>>, what: &str| -> Result<Vec<usize>> {
            let mut out = Vec::new();
            for x in v.iter().flat_map(|v| v.iter()) {
                let t = usize::try_from(x)
                    .ok()
                    .filter(|&t| t < n_t)
                    .ok_or_else(|| {
                        invalid!(
                            "subgraph {index} {what} tensor index {x} out of range ({n_t} tensors)"
                        )
                    })?;
                out.push(t);
            }
            Ok(out)
        };
        let inputs = ids(sg.inputs(), "input")?;
        let outputs = ids(sg.outputs(), "output")?;
        if let Some(ops) = sg.operators() {
            for (oi, op) in ops.iter().enumerate() {
                self.operator(&mut s, oi, op)
                    .map_err(|e| prefix_op(e, index, oi))?;
            }
        }
        Ok(Subgraph {
            name: sg.name().unwrap_or("").to_string(),
            tensors: s.tensors,
            inputs,
            outputs,
            nodes: s.nodes,
        })
    }

    fn tensor(&mut self, s: &mut Sub<'f>, ti: usize, t: Tensor<'f>) -> Result<()> {
        let name = t.name().unwrap_or("").to_string();
        let dtype = dtype_of(t.type_(), &name)?;
        let mut dims = Vec::new();
        if let Some(shape) = t.shape() {
            if shape.len() > MAX_RANK {
                return Err(unsupported!(
                    "tensor {ti} (`{name}`) has rank {}",
                    shape.len()
                ));
            }
            for d in shape.iter() {
                let d = usize::try_from(d)
                    .map_err(|_| invalid!("tensor {ti} (`{name}`) has dimension {d}"))?;
                dims.push(d);
            }
        }
        let shape = Shape(dims);
        let byte_len = shape
            .byte_len(dtype.size())
            .map_err(|e| invalid!("tensor {ti} (`{name}`): {e}"))?;
        if t.is_variable() {
            return Err(unsupported!(
                "tensor {ti} (`{name}`) is a variable tensor (is_variable)"
            ));
        }
        let quant = match t.quantization() {
            Some(q) => {
                if q.details_type() != 0 {
                    return Err(unsupported!(
                        "tensor {ti} (`{name}`) uses custom quantization details"
                    ));
                }
                let scale: Vec<f32> = q.scale().map(|v| v.iter().collect()).unwrap_or_default();
                let zp: Vec<i64> = q
                    .zero_point()
                    .map(|v| v.iter().collect())
                    .unwrap_or_default();
                if scale.is_empty() {
                    None
                } else {
                    let zero_point = if zp.is_empty() {
                        alloc::vec![0; scale.len()]
                    } else {
                        zp
                    };
                    if zero_point.len() != scale.len() {
                        return Err(invalid!(
                            "tensor {ti} (`{name}`) has {} scales but {} zero points",
                            scale.len(),
                            zero_point.len()
                        ));
                    }
                    let axis = usize::try_from(q.quantized_dimension()).map_err(|_| {
                        invalid!(
                            "tensor {ti} (`{name}`) has quantized dimension {}",
                            q.quantized_dimension()
                        )
                    })?;
                    if scale.len() > 1
                        && (axis >= shape.rank() || shape.dims()[axis] != scale.len())
                    {
                        return Err(invalid!(
                            "tensor {ti} (`{name}`) has {} scales for dimension {axis} of shape {shape}",
                            scale.len()
                        ));
                    }
                    Some(QuantParams {
                        scale,
                        zero_point,
                        axis,
                    })
                }
            }
            None => None,
        };
        let bi = t.buffer() as usize;
        let buf = if bi == 0 {
            None
        } else {
            let b = *self.buffers.get(bi).ok_or_else(|| {
                malformed!(
                    "tensor {ti} (`{name}`) refers to buffer {bi}, but the model has {} buffers",
                    self.buffers.len()
                )
            })?;
            if b.len == 0 {
                None
            } else {
                Some(b)
            }
        };
        let sparsity = t.sparsity();
        let mut kind = TensorKind::Activation;
        if let (Some(b), None) = (buf, sparsity) {
            if b.len != byte_len {
                return Err(invalid!(
                    "constant tensor {ti} (`{name}`, {dtype} {shape}) needs {byte_len} bytes but buffer {bi} has {}",
                    b.len
                ));
            }
            let id = if b.offset % dtype.align() == 0 {
                self.add_constant(Constant::InSource {
                    offset: b.offset,
                    len: b.len,
                })
            } else {
                let bytes = &self.file[b.offset..b.offset + b.len];
                self.owned_constant(bytes)?
            };
            kind = TensorKind::Constant(id);
        }
        s.tensors.push(TensorInfo {
            name,
            dtype,
            shape,
            quant,
            kind,
        });
        s.sparse.push(sparsity);
        s.buffers.push(buf);
        Ok(())
    }

    /// The integer values of constant tensor `t` (i32 or i64).
    fn const_ints(&self, s: &Sub<'f>, t: usize) -> Result<Vec<i64>> {
        let info = &s.tensors[t];
        let TensorKind::Constant(c) = info.kind else {
            return Err(unsupported!(
                "tensor `{}` must be a constant (dynamic attributes are not supported)",
                info.name
            ));
        };
        let bytes = match &self.constants[c] {
            Constant::InSource { offset, len } => &self.file[*offset..offset + len],
            Constant::Owned(b) => b.as_slice(),
        };
        Ok(match info.dtype {
            DType::I32 => bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            DType::I64 => bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            d => return Err(unsupported!("attribute tensor `{}` of type {d}", info.name)),
        })
    }

    fn const_bytes(&self, s: &Sub<'f>, t: usize) -> Option<&[u8]> {
        match s.tensors[t].kind {
            TensorKind::Constant(c) => Some(match &self.constants[c] {
                Constant::InSource { offset, len } => &self.file[*offset..offset + len],
                Constant::Owned(b) => b.as_slice(),
            }),
            TensorKind::Activation => None,
        }
    }

    fn operator(&mut self, s: &mut Sub<'f>, oi: usize, op: Operator<'f>) -> Result<()> {
        let n_t = s.tensors.len();
        let oc = op.opcode_index() as usize;
        let &(code, custom) = self.opcodes.get(oc).ok_or_else(|| {
            malformed!(
                "operator {oi} uses opcode index {oc}, but the model has {} operator codes",
                self.opcodes.len()
            )
        })?;
        let name = op_name(code);
        let mut inputs: Vec<Option<usize>> = Vec::new();
        for x in op.inputs().iter().flat_map(|v| v.iter()) {
            inputs.push(match x {
                -1 => None,
                x => Some(
                    usize::try_from(x)
                        .ok()
                        .filter(|&t| t < n_t)
                        .ok_or_else(|| {
                            invalid!("{name}: input tensor index {x} out of range ({n_t} tensors)")
                        })?,
                ),
            });
        }
        let mut outputs = Vec::new();
        for x in op.outputs().iter().flat_map(|v| v.iter()) {
            outputs.push(
                usize::try_from(x)
                    .ok()
                    .filter(|&t| t < n_t)
                    .ok_or_else(|| {
                        invalid!("{name}: output tensor index {x} out of range ({n_t} tensors)")
                    })?,
            );
        }
        // Sparse tensors may only feed DENSIFY.
        if code != 124 {
            for t in inputs.iter().flatten() {
                if s.sparse[*t].is_some() {
                    return Err(unsupported!(
                        "sparse tensor `{}` used by {name} (only DENSIFY reads sparse tensors)",
                        s.tensors[*t].name
                    ));
                }
            }
        }
        let input = |k: usize| -> Result<usize> {
            inputs
                .get(k)
                .copied()
                .flatten()
                .ok_or_else(|| invalid!("{name} is missing input {k}"))
        };
        let output = |k: usize| -> Result<usize> {
            outputs
                .get(k)
                .copied()
                .ok_or_else(|| invalid!("{name} is missing output {k}"))
        };
        let norm_axis = |axis: i64, rank: usize| -> Result<usize> {
            let a = if axis < 0 { axis + rank as i64 } else { axis };
            if a < 0 || a >= rank.max(1) as i64 {
                return Err(invalid!("{name}: axis {axis} out of range for rank {rank}"));
            }
            Ok(a as usize)
        };
        macro_rules! opts {
            ($t:ident) => {
                op.options::<$t>()
                    .ok_or_else(|| malformed!("{name} without its {} options", stringify!($t)))?
            };
        }
        let act_opt = || -> Result<Activation> {
            activation(
                op.options::<ActivationOptions>()
                    .map_or(0, |o| o.activation()),
            )
        };
        let first_only = || -> Vec<Option<usize>> { inputs.iter().take(1).copied().collect() };
        let mut node_inputs = inputs.clone();
        let ir_op: Op = match code {
            0 => Op::Binary {
                op: BinaryOp::Add,
                activation: act_opt()?,
            },
            41 => Op::Binary {
                op: BinaryOp::Sub,
                activation: act_opt()?,
            },
            18 => Op::Binary {
                op: BinaryOp::Mul,
                activation: act_opt()?,
            },
            42 => Op::Binary {
                op: BinaryOp::Div,
                activation: act_opt()?,
            },
            55 => Op::Binary {
                op: BinaryOp::Maximum,
                activation: Activation::None,
            },
            57 => Op::Binary {
                op: BinaryOp::Minimum,
                activation: Activation::None,
            },
            78 => Op::Binary {
                op: BinaryOp::Pow,
                activation: Activation::None,
            },
            99 => Op::Binary {
                op: BinaryOp::SquaredDifference,
                activation: Activation::None,
            },
            90 => Op::Binary {
                op: BinaryOp::FloorDiv,
                activation: Activation::None,
            },
            95 => Op::Binary {
                op: BinaryOp::FloorMod,
                activation: Activation::None,
            },
            54 => Op::Binary {
                op: BinaryOp::Prelu,
                activation: Activation::None,
            },
            156 => Op::Binary {
                op: BinaryOp::Atan2,
                activation: Activation::None,
            },
            86 => Op::Binary {
                op: BinaryOp::LogicalAnd,
                activation: Activation::None,
            },
            84 => Op::Binary {
                op: BinaryOp::LogicalOr,
                activation: Activation::None,
            },
            71 => Op::Compare(CompareOp::Equal),
            72 => Op::Compare(CompareOp::NotEqual),
            58 => Op::Compare(CompareOp::Less),
            63 => Op::Compare(CompareOp::LessEqual),
            61 => Op::Compare(CompareOp::Greater),
            62 => Op::Compare(CompareOp::GreaterEqual),
            101 => Op::Unary(UnaryOp::Abs),
            59 => Op::Unary(UnaryOp::Neg),
            47 => Op::Unary(UnaryOp::Exp),
            73 => Op::Unary(UnaryOp::Log),
            75 => Op::Unary(UnaryOp::Sqrt),
            76 => Op::Unary(UnaryOp::Rsqrt),
            92 => Op::Unary(UnaryOp::Square),
            28 => Op::Unary(UnaryOp::Tanh),
            14 => Op::Unary(UnaryOp::Logistic),
            19 => Op::Unary(UnaryOp::Relu),
            21 => Op::Unary(UnaryOp::Relu6),
            20 => Op::Unary(UnaryOp::ReluN1To1),
            152 => Op::Unary(UnaryOp::Relu0To1),
            117 => Op::Unary(UnaryOp::HardSwish),
            150 => Op::Unary(UnaryOp::Gelu {
                approximate: op.options::<GeluOptions>().is_some_and(|o| o.approximate()),
            }),
            111 => Op::Unary(UnaryOp::Elu),
            98 => Op::Unary(UnaryOp::LeakyRelu {
                alpha: opts!(LeakyReluOptions).alpha(),
            }),
            8 => Op::Unary(UnaryOp::Floor),
            104 => Op::Unary(UnaryOp::Ceil),
            116 => Op::Unary(UnaryOp::Round),
            66 => Op::Unary(UnaryOp::Sin),
            108 => Op::Unary(UnaryOp::Cos),
            158 => Op::Unary(UnaryOp::Sign),
            87 => Op::Unary(UnaryOp::LogicalNot),
            64 | 123 => Op::Select,
            53 => Op::Cast,
            114 => Op::Quantize,
            6 => {
                // Fold DEQUANTIZE of constants (float16 / int8 weights) at load.
                let x = input(0)?;
                let y = output(0)?;
                if let Some(c) = self.fold_dequantize(s, x, y)? {
                    s.tensors[y].kind = TensorKind::Constant(c);
                    return Ok(());
                }
                Op::Dequantize
            }
            3 => {
                let o = opts!(Conv2DOptions);
                let (x, w, y) = (input(0)?, input(1)?, output(0)?);
                let (xd, wd, yd) = (dims_of(s, x), dims_of(s, w), dims_of(s, y));
                if xd.len() != 4 || wd.len() != 4 || yd.len() != 4 {
                    return Err(invalid!("CONV_2D needs 4-D input, filter and output"));
                }
                let (sh, sw) = (
                    positive(o.stride_h(), "stride")?,
                    positive(o.stride_w(), "stride")?,
                );
                let (dh, dw) = (
                    positive(o.dilation_h(), "dilation")?,
                    positive(o.dilation_w(), "dilation")?,
                );
                let (top, bottom) = pad_1d(o.padding(), xd[1], yd[1], wd[1], sh, dh)?;
                let (left, right) = pad_1d(o.padding(), xd[2], yd[2], wd[2], sw, dw)?;
                let groups = xd[3].checked_div(wd[3]).unwrap_or(1);
                Op::Conv2d(Conv2dAttrs {
                    stride_h: sh,
                    stride_w: sw,
                    dilation_h: dh,
                    dilation_w: dw,
                    padding: Padding2d {
                        top,
                        bottom,
                        left,
                        right,
                    },
                    groups: groups.max(1),
                    activation: activation(o.activation())?,
                })
            }
            4 => {
                let o = opts!(DepthwiseConv2DOptions);
                let (x, w, y) = (input(0)?, input(1)?, output(0)?);
                let (xd, wd, yd) = (dims_of(s, x), dims_of(s, w), dims_of(s, y));
                if xd.len() != 4 || wd.len() != 4 || yd.len() != 4 {
                    return Err(invalid!(
                        "DEPTHWISE_CONV_2D needs 4-D input, filter and output"
                    ));
                }
                let (sh, sw) = (
                    positive(o.stride_h(), "stride")?,
                    positive(o.stride_w(), "stride")?,
                );
                let (dh, dw) = (
                    positive(o.dilation_h(), "dilation")?,
                    positive(o.dilation_w(), "dilation")?,
                );
                let (top, bottom) = pad_1d(o.padding(), xd[1], yd[1], wd[1], sh, dh)?;
                let (left, right) = pad_1d(o.padding(), xd[2], yd[2], wd[2], sw, dw)?;
                Op::DepthwiseConv2d(DepthwiseAttrs {
                    stride_h: sh,
                    stride_w: sw,
                    dilation_h: dh,
                    dilation_w: dw,
                    padding: Padding2d {
                        top,
                        bottom,
                        left,
                        right,
                    },
                    depth_multiplier: yd[3].checked_div(xd[3]).unwrap_or(1),
                    activation: activation(o.activation())?,
                })
            }
            9 => {
                let o = op.options::<FullyConnectedOptions>();
                if o.is_some_and(|o| o.weights_format() != 0) {
                    return Err(unsupported!("FULLY_CONNECTED with shuffled weights"));
                }
                Op::FullyConnected {
                    activation: activation(o.map_or(0, |o| o.activation()))?,
                }
            }
            126 => {
                let o = op.options::<BatchMatMulOptions>();
                Op::BatchMatMul {
                    adj_x: o.is_some_and(|o| o.adj_x()),
                    adj_y: o.is_some_and(|o| o.adj_y()),
                }
            }
            17 | 1 => {
                let o = opts!(Pool2DOptions);
                let (x, y) = (input(0)?, output(0)?);
                let (xd, yd) = (dims_of(s, x), dims_of(s, y));
                if xd.len() != 4 || yd.len() != 4 {
                    return Err(invalid!("{name} needs 4-D input and output"));
                }
                let (fh, fw) = (
                    positive(o.filter_h(), "filter height")?,
                    positive(o.filter_w(), "filter width")?,
                );
                let (sh, sw) = (
                    positive(o.stride_h(), "stride")?,
                    positive(o.stride_w(), "stride")?,
                );
                let (top, bottom) = pad_1d(o.padding(), xd[1], yd[1], fh, sh, 1)?;
                let (left, right) = pad_1d(o.padding(), xd[2], yd[2], fw, sw, 1)?;
                Op::Pool2d(Pool2dAttrs {
                    kind: if code == 17 {
                        PoolKind::Max
                    } else {
                        PoolKind::Average
                    },
                    filter_h: fh,
                    filter_w: fw,
                    stride_h: sh,
                    stride_w: sw,
                    padding: Padding2d {
                        top,
                        bottom,
                        left,
                        right,
                    },
                    activation: activation(o.activation())?,
                })
            }
            40 | 74 | 82 | 89 | 81 | 91 | 140 => {
                let x = input(0)?;
                let r = rank_of(s, x);
                let mut axes: Vec<usize> = self
                    .const_ints(s, input(1)?)?
                    .into_iter()
                    .map(|a| norm_axis(a, r))
                    .collect::<Result<_>>()?;
                axes.sort_unstable();
                axes.dedup();
                node_inputs = first_only();
                let rop = match code {
                    40 => ReduceOp::Mean,
                    74 => ReduceOp::Sum,
                    82 => ReduceOp::Max,
                    89 => ReduceOp::Min,
                    81 => ReduceOp::Prod,
                    91 => ReduceOp::Any,
                    _ => ReduceOp::All,
                };
                Op::Reduce {
                    op: rop,
                    axes,
                    keep_dims: op
                        .options::<ReducerOptions>()
                        .is_some_and(|o| o.keep_dims()),
                }
            }
            56 | 79 => {
                let x = input(0)?;
                let axis = single(self.const_ints(s, input(1)?)?, &name)?;
                node_inputs = first_only();
                Op::ArgReduce {
                    max: code == 56,
                    axis: norm_axis(axis, rank_of(s, x))?,
                }
            }
            25 => {
                let beta = op.options::<SoftmaxOptions>().map_or(1.0, |o| o.beta());
                let r = rank_of(s, input(0)?);
                Op::Softmax {
                    beta,
                    axis: r.saturating_sub(1),
                }
            }
            50 => Op::LogSoftmax {
                axis: rank_of(s, input(0)?).saturating_sub(1),
            },
            22 | 43 | 70 => {
                node_inputs = first_only();
                Op::Reshape
            }
            39 => {
                let x = input(0)?;
                let r = rank_of(s, x);
                let perm = self
                    .const_ints(s, input(1)?)?
                    .into_iter()
                    .map(|a| norm_axis(a, r))
                    .collect::<Result<_>>()?;
                node_inputs = first_only();
                Op::Transpose { perm }
            }
            2 => {
                let o = opts!(ConcatenationOptions);
                let axis = norm_axis(o.axis() as i64, rank_of(s, output(0)?))?;
                Op::Concat {
                    axis,
                    activation: activation(o.activation())?,
                }
            }
            83 => {
                // PACK: reshape every input to the output rank (size-1 axis), then concatenate.
                let y = output(0)?;
                let axis = norm_axis(
                    op.options::<PackOptions>().map_or(0, |o| o.axis()) as i64,
                    rank_of(s, y),
                )?;
                let mut parts = Vec::new();
                for k in 0..inputs.len() {
                    let x = input(k)?;
                    let mut d = dims_of(s, x);
                    if axis > d.len() {
                        return Err(invalid!("PACK axis {axis} for inputs of rank {}", d.len()));
                    }
                    d.insert(axis, 1);
                    let t = add_temp(s, x, d, "packed");
                    s.nodes.push(Node {
                        op: Op::Reshape,
                        inputs: alloc::vec![Some(x)],
                        outputs: alloc::vec![t],
                    });
                    parts.push(Some(t));
                }
                s.nodes.push(Node {
                    op: Op::Concat {
                        axis,
                        activation: Activation::None,
                    },
                    inputs: parts,
                    outputs,
                });
                return Ok(());
            }
            88 => {
                // UNPACK: split into size-1 slices, then drop the axis.
                let x = input(0)?;
                let axis = norm_axis(
                    op.options::<UnpackOptions>().map_or(0, |o| o.axis()) as i64,
                    rank_of(s, x),
                )?;
                if rank_of(s, x) == 0 {
                    return Err(invalid!("UNPACK of a scalar"));
                }
                let mut parts = Vec::new();
                for &y in &outputs {
                    let mut d = dims_of(s, x);
                    d[axis] = 1;
                    parts.push(add_temp(s, y, d, "unpacked"));
                }
                s.nodes.push(Node {
                    op: Op::Split { axis },
                    inputs: alloc::vec![Some(x)],
                    outputs: parts.clone(),
                });
                for (t, &y) in parts.into_iter().zip(&outputs) {
                    s.nodes.push(Node {
                        op: Op::Reshape,
                        inputs: alloc::vec![Some(t)],
                        outputs: alloc::vec![y],
                    });
                }
                return Ok(());
            }
            49 => {
                let x = input(1)?;
                let axis = norm_axis(
                    single(self.const_ints(s, input(0)?)?, &name)?,
                    rank_of(s, x),
                )?;
                node_inputs = alloc::vec![Some(x)];
                Op::Split { axis }
            }
            102 => {
                let x = input(0)?;
                let axis = norm_axis(
                    single(self.const_ints(s, input(2)?)?, &name)?,
                    rank_of(s, x),
                )?;
                node_inputs = first_only();
                Op::Split { axis }
            }
            65 => {
                let x = input(0)?;
                let d = dims_of(s, x);
                let begin = self.const_ints(s, input(1)?)?;
                let size = self.const_ints(s, input(2)?)?;
                if begin.len() != d.len() || size.len() != d.len() {
                    return Err(invalid!("SLICE bounds do not match rank {}", d.len()));
                }
                let mut b = Vec::new();
                let mut shape = Vec::new();
                for i in 0..d.len() {
                    let bi = usize::try_from(begin[i])
                        .map_err(|_| invalid!("SLICE begin {} is negative", begin[i]))?;
                    let n = if size[i] == -1 {
                        d[i].checked_sub(bi)
                            .ok_or_else(|| invalid!("SLICE begin past the end"))?
                    } else {
                        usize::try_from(size[i]).map_err(|_| invalid!("SLICE size {}", size[i]))?
                    };
                    b.push(if n == 0 { 0 } else { bi });
                    shape.push(n);
                }
                node_inputs = first_only();
                Op::Slice {
                    stride: alloc::vec![1; d.len()],
                    begin: b,
                    slice_shape: shape,
                }
            }
            45 => {
                let o = opts!(StridedSliceOptions);
                let x = input(0)?;
                let d = dims_of(s, x);
                if o.ellipsis_mask() != 0 || o.new_axis_mask() != 0 || o.offset() {
                    return Err(unsupported!(
                        "STRIDED_SLICE with ellipsis/new-axis masks or offset"
                    ));
                }
                let begin = self.const_ints(s, input(1)?)?;
                let end = self.const_ints(s, input(2)?)?;
                let strides = if inputs.len() > 3 {
                    self.const_ints(s, input(3)?)?
                } else {
                    alloc::vec![1; begin.len()]
                };
                let (b, st, shape) = strided_slice(
                    &d,
                    &begin,
                    &end,
                    &strides,
                    o.begin_mask(),
                    o.end_mask(),
                    o.shrink_axis_mask(),
                )?;
                node_inputs = first_only();
                Op::Slice {
                    begin: b,
                    stride: st,
                    slice_shape: shape,
                }
            }
            34 | 60 | 100 => {
                let x = input(0)?;
                let r = rank_of(s, x);
                let p = self.const_ints(s, input(1)?)?;
                if p.len() != 2 * r {
                    return Err(invalid!(
                        "{name} paddings have {} values for rank {r}",
                        p.len()
                    ));
                }
                let mut before = Vec::new();
                let mut after = Vec::new();
                for i in 0..r {
                    before.push(
                        usize::try_from(p[2 * i])
                            .map_err(|_| invalid!("negative padding {}", p[2 * i]))?,
                    );
                    after.push(
                        usize::try_from(p[2 * i + 1])
                            .map_err(|_| invalid!("negative padding {}", p[2 * i + 1]))?,
                    );
                }
                let mode = if code == 100 {
                    match op.options::<MirrorPadOptions>().map_or(0, |o| o.mode()) {
                        0 => PadMode::Reflect,
                        1 => PadMode::Symmetric,
                        m => return Err(malformed!("unknown mirror pad mode {m}")),
                    }
                } else {
                    PadMode::Constant
                };
                node_inputs = if code == 60 && inputs.len() > 2 {
                    alloc::vec![Some(x), inputs[2]]
                } else {
                    first_only()
                };
                Op::Pad {
                    before,
                    after,
                    interior: alloc::vec::Vec::new(),
                    mode,
                }
            }
            36 => {
                let o = op.options::<GatherOptions>();
                let (p, i) = (input(0)?, input(1)?);
                let axis = norm_axis(o.map_or(0, |o| o.axis()) as i64, rank_of(s, p))?;
                let bd = o.map_or(0, |o| o.batch_dims()) as i64;
                let bd = if bd < 0 {
                    bd + rank_of(s, i) as i64
                } else {
                    bd
                };
                let batch_dims =
                    usize::try_from(bd).map_err(|_| invalid!("GATHER batch_dims {bd}"))?;
                Op::Gather { axis, batch_dims }
            }
            107 => Op::GatherNd,
            69 => {
                let multiples = self
                    .const_ints(s, input(1)?)?
                    .into_iter()
                    .map(|m| usize::try_from(m).map_err(|_| invalid!("TILE multiple {m}")))
                    .collect::<Result<_>>()?;
                node_inputs = first_only();
                Op::Tile { multiples }
            }
            130 => {
                node_inputs = first_only();
                Op::BroadcastTo
            }
            94 => {
                node_inputs = alloc::vec![Some(input(1)?)];
                Op::BroadcastTo
            }
            77 => {
                // SHAPE: the output is a constant.
                let (x, y) = (input(0)?, output(0)?);
                let d = dims_of(s, x);
                let bytes: Vec<u8> = match s.tensors[y].dtype {
                    DType::I32 => d.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect(),
                    DType::I64 => d.iter().flat_map(|&v| (v as i64).to_le_bytes()).collect(),
                    t => return Err(unsupported!("SHAPE output of type {t}")),
                };
                let c = self.owned_constant(&bytes)?;
                s.tensors[y].kind = TensorKind::Constant(c);
                return Ok(());
            }
            23 | 97 => {
                let (align_corners, half_pixel_centers) = if code == 23 {
                    op.options::<ResizeBilinearOptions>()
                        .map_or((false, false), |o| {
                            (o.align_corners(), o.half_pixel_centers())
                        })
                } else {
                    op.options::<ResizeNearestOptions>()
                        .map_or((false, false), |o| {
                            (o.align_corners(), o.half_pixel_centers())
                        })
                };
                node_inputs = first_only();
                Op::Resize {
                    mode: if code == 23 {
                        ResizeMode::Bilinear
                    } else {
                        ResizeMode::Nearest
                    },
                    align_corners,
                    half_pixel_centers,
                }
            }
            5 => Op::DepthToSpace {
                block: positive(opts!(BlockSizeOptions).block_size(), "block size")?,
            },
            26 => Op::SpaceToDepth {
                block: positive(opts!(BlockSizeOptions).block_size(), "block size")?,
            },
            128 => {
                let x = input(0)?;
                let axis = norm_axis(
                    single(self.const_ints(s, input(1)?)?, &name)?,
                    rank_of(s, x),
                )?;
                let o = op.options::<CumsumOptions>();
                node_inputs = first_only();
                Op::Cumsum {
                    axis,
                    exclusive: o.is_some_and(|o| o.exclusive()),
                    reverse: o.is_some_and(|o| o.reverse()),
                }
            }
            124 => {
                let (x, y) = (input(0)?, output(0)?);
                let c = self.densify(s, x, y)?;
                s.tensors[y].kind = TensorKind::Constant(c);
                return Ok(());
            }
            129 => {
                let init = opts!(CallOnceOptions).init_subgraph_index();
                Op::CallOnce {
                    init: subgraph_index(init)?,
                }
            }
            142 => {
                let o = opts!(VarHandleOptions);
                let key = (
                    o.container().unwrap_or("").to_string(),
                    o.shared_name().unwrap_or("").to_string(),
                );
                let next = self.resources.len();
                let id = *self.resource_ids.entry(key.clone()).or_insert(next);
                if id == next {
                    self.resources.push(ResourceInfo {
                        name: if key.0.is_empty() {
                            key.1
                        } else {
                            alloc::format!("{}/{}", key.0, key.1)
                        },
                    });
                }
                Op::VarHandle { resource: id }
            }
            143 => Op::ReadVariable,
            144 => Op::AssignVariable,
            118 => {
                let o = opts!(IfOptions);
                Op::If {
                    then_branch: subgraph_index(o.then_subgraph_index())?,
                    else_branch: subgraph_index(o.else_subgraph_index())?,
                }
            }
            119 => {
                let o = opts!(WhileOptions);
                Op::While {
                    cond: subgraph_index(o.cond_subgraph_index())?,
                    body: subgraph_index(o.body_subgraph_index())?,
                }
            }
            31 => Op::Call {
                subgraph: opts!(CallOptions).subgraph() as usize,
            },
            32 => {
                return Err(unsupported!(
                    "CUSTOM op `{}` (custom ops are not supported)",
                    custom.unwrap_or("<unnamed>")
                ));
            }
            _ => return Err(unsupported!("TFLite op {name}")),
        };
        s.nodes.push(Node {
            op: ir_op,
            inputs: node_inputs,
            outputs,
        });
        Ok(())
    }

    /// Folds DEQUANTIZE of a constant into an f32 constant; `None` if `x` is not constant.
    fn fold_dequantize(&mut self, s: &Sub<'f>, x: usize, y: usize) -> Result<Option<usize>> {
        let Some(bytes) = self.const_bytes(s, x) else {
            return Ok(None);
        };
        let xi = &s.tensors[x];
        if s.tensors[y].dtype != DType::F32 || s.tensors[y].shape != xi.shape {
            return Err(invalid!(
                "DEQUANTIZE of `{}` must give f32 of the same shape",
                xi.name
            ));
        }
        let values: Vec<f32> = match xi.dtype {
            DType::F16 => bytes
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DType::BF16 => bytes
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DType::I8 | DType::U8 | DType::I16 => {
                let q = xi.quant.as_ref().ok_or_else(|| {
                    invalid!("DEQUANTIZE input `{}` has no quantization", xi.name)
                })?;
                let dims = xi.shape.dims();
                let inner: usize = if q.scale.len() > 1 {
                    dims[q.axis + 1..].iter().product::<usize>().max(1)
                } else {
                    1
                };
                let es = xi.dtype.size();
                (0..bytes.len() / es)
                    .map(|i| {
                        let c = if q.scale.len() > 1 {
                            (i / inner) % q.scale.len()
                        } else {
                            0
                        };
                        let v = match xi.dtype {
                            DType::I8 => bytes[i] as i8 as i64,
                            DType::U8 => bytes[i] as i64,
                            _ => i16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]) as i64,
                        };
                        q.scale[c] * (v - q.zero_point[c]) as f32
                    })
                    .collect()
            }
            _ => return Ok(None),
        };
        let out: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(Some(self.owned_constant(&out)?))
    }

    /// Densifies sparse constant `x` (TFLite sparsity format) into an owned constant for `y`.
    fn densify(&mut self, s: &Sub<'f>, x: usize, y: usize) -> Result<usize> {
        let xi = &s.tensors[x];
        let sp =
            s.sparse[x].ok_or_else(|| invalid!("DENSIFY input `{}` is not sparse", xi.name))?;
        let buf =
            s.buffers[x].ok_or_else(|| invalid!("DENSIFY input `{}` has no data", xi.name))?;
        let yi = &s.tensors[y];
        if yi.dtype != xi.dtype || yi.shape != xi.shape {
            return Err(invalid!(
                "DENSIFY output `{}` differs from its input in type or shape",
                yi.name
            ));
        }
        let values = &self.file[buf.offset..buf.offset + buf.len];
        let dense = densify(xi, values, &sp)?;
        self.owned_constant(&dense)
    }
}

/// Adds an activation tensor like `like` with new dims (for lowering helpers).
fn add_temp(s: &mut Sub<'_>, like: usize, dims: Vec<usize>, what: &str) -> usize {
    let base = &s.tensors[like];
    let t = TensorInfo {
        name: alloc::format!("{}/{what}", base.name),
        dtype: base.dtype,
        shape: Shape(dims),
        quant: base.quant.clone(),
        kind: TensorKind::Activation,
    };
    s.tensors.push(t);
    s.sparse.push(None);
    s.buffers.push(None);
    s.tensors.len() - 1
}

fn dims_of(s: &Sub<'_>, t: usize) -> Vec<usize> {
    s.tensors[t].shape.dims().to_vec()
}

fn rank_of(s: &Sub<'_>, t: usize) -> usize {
    s.tensors[t].shape.rank()
}

fn single(v: Vec<i64>, name: &str) -> Result<i64> {
    match v.as_slice() {
        [a] => Ok(*a),
        _ => Err(invalid!("{name} expects one axis value, got {}", v.len())),
    }
}

fn subgraph_index(i: i32) -> Result<usize> {
    usize::try_from(i).map_err(|_| invalid!("subgraph index {i}"))
}

/// TF strided-slice semantics → (begin, stride, extent) per dim (no ellipsis / new axes).
#[allow(clippy::type_complexity)]
fn strided_slice(
    dims: &[usize],
    begin: &[i64],
    end: &[i64],
    strides: &[i64],
    begin_mask: i32,
    end_mask: i32,
    shrink_mask: i32,
) -> Result<(Vec<usize>, Vec<isize>, Vec<usize>)> {
    let r = dims.len();
    if begin.len() > r || end.len() != begin.len() || strides.len() != begin.len() {
        return Err(invalid!(
            "STRIDED_SLICE bounds of length {} for rank {r}",
            begin.len()
        ));
    }
    let (mut b, mut st, mut shape) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..r {
        let dim = dims[i] as i64;
        if i >= begin.len() {
            b.push(0);
            st.push(1);
            shape.push(dims[i]);
            continue;
        }
        let stride = strides[i];
        if stride == 0 {
            return Err(invalid!("STRIDED_SLICE stride 0 on dim {i}"));
        }
        let bit = |m: i32| i < 32 && (m >> i) & 1 == 1;
        let clamp = |v: i64| {
            if stride > 0 {
                v.clamp(0, dim)
            } else {
                v.clamp(-1, dim - 1)
            }
        };
        let norm = |v: i64| if v < 0 { v + dim } else { v };
        if bit(shrink_mask) {
            let s0 = norm(begin[i]);
            if s0 < 0 || s0 >= dim {
                return Err(invalid!(
                    "STRIDED_SLICE index {} out of range for dim {i} of size {dim}",
                    begin[i]
                ));
            }
            b.push(s0 as usize);
            st.push(1);
            shape.push(1);
            continue;
        }
        let start = if bit(begin_mask) {
            if stride > 0 {
                0
            } else {
                dim - 1
            }
        } else {
            clamp(norm(begin[i]))
        };
        let stop = if bit(end_mask) {
            if stride > 0 {
                dim
            } else {
                -1
            }
        } else {
            clamp(norm(end[i]))
        };
        let count = if stride > 0 {
            if stop > start {
                (stop - start + stride - 1) / stride
            } else {
                0
            }
        } else if start > stop {
            (start - stop + (-stride) - 1) / (-stride)
        } else {
            0
        };
        b.push(if count == 0 { 0 } else { start as usize });
        st.push(stride as isize);
        shape.push(count as usize);
    }
    Ok((b, st, shape))
}

/// Expands TFLite sparse `values` (traversal order, block map, dim metadata) to dense bytes.
fn densify(info: &TensorInfo, values: &[u8], sp: &SparsityParameters<'_>) -> Result<Vec<u8>> {
    let dims = info.shape.dims();
    let n = dims.len();
    let es = info.dtype.size();
    let order: Vec<usize> = sp
        .traversal_order()
        .map(|v| {
            v.iter()
                .map(|x| usize::try_from(x).unwrap_or(usize::MAX))
                .collect()
        })
        .unwrap_or_default();
    let block_map: Vec<usize> = sp
        .block_map()
        .map(|v| {
            v.iter()
                .map(|x| usize::try_from(x).unwrap_or(usize::MAX))
                .collect()
        })
        .unwrap_or_default();
    let meta: Vec<DimensionMetadata<'_>> = sp
        .dim_metadata()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let levels = n + block_map.len();
    if order.len() != levels || meta.len() != levels {
        return Err(invalid!(
            "sparse tensor `{}`: traversal order / metadata do not cover {levels} dims",
            info.name
        ));
    }
    let mut seen = alloc::vec![false; levels];
    for &o in &order {
        if o >= levels || seen[o] {
            return Err(invalid!(
                "sparse tensor `{}`: bad traversal order {order:?}",
                info.name
            ));
        }
        seen[o] = true;
    }
    for &b in &block_map {
        if b >= n {
            return Err(invalid!(
                "sparse tensor `{}`: block map entry {b} out of range",
                info.name
            ));
        }
    }
    // Size of every expanded dim: original dims divided by their block size, then block dims.
    let mut expanded = alloc::vec![0usize; levels];
    for (lvl, &d) in order.iter().enumerate() {
        if meta[lvl].format() == 0 {
            expanded[d] = usize::try_from(meta[lvl].dense_size())
                .map_err(|_| invalid!("negative dense size"))?;
        }
    }
    for (i, &b) in block_map.iter().enumerate() {
        let bs = expanded[n + i];
        if bs == 0 || !dims[b].is_multiple_of(bs) {
            return Err(invalid!(
                "sparse tensor `{}`: block size {bs} does not divide dim {b}",
                info.name
            ));
        }
        expanded[b] = dims[b] / bs;
    }
    // Every DENSE level must span exactly its (blocked) dim, so the walk below visits at most
    // levels x dense-elements nodes; anything else is a malformed (or hostile) sparsity.
    for (lvl, &d) in order.iter().enumerate() {
        if meta[lvl].format() == 0 {
            let want = if d < n {
                match block_map.iter().position(|&b| b == d) {
                    Some(i) => dims[d] / expanded[n + i].max(1),
                    None => dims[d],
                }
            } else {
                expanded[d]
            };
            if expanded[d] != want || (d < n && meta[lvl].dense_size() as i64 != want as i64) {
                return Err(invalid!(
                    "sparse tensor `{}`: dense level {lvl} has size {} but its dim spans {want}",
                    info.name,
                    meta[lvl].dense_size()
                ));
            }
        }
    }
    let total = info.shape.byte_len(es)?;
    if total > MAX_DENSIFY_BYTES {
        return Err(unsupported!(
            "sparse tensor `{}` densifies to {total} bytes (limit {MAX_DENSIFY_BYTES})",
            info.name
        ));
    }
    let max_steps = (total / es.max(1) + 1).saturating_mul(levels + 1);
    let mut dense = alloc::vec![0u8; total];
    let strides = {
        let mut st = alloc::vec![1usize; n];
        for i in (0..n.saturating_sub(1)).rev() {
            st[i] = st[i + 1] * dims[i + 1];
        }
        st
    };
    let mut coord = alloc::vec![0usize; levels];
    // Iterative depth-first walk: (level, position, next child index, end)
    struct Frame {
        level: usize,
        pos: usize,
        next: usize,
        end: usize,
    }
    let bounds = |lvl: usize, pos: usize| -> Result<(usize, usize)> {
        let m = &meta[lvl];
        if m.format() == 0 {
            let size =
                usize::try_from(m.dense_size()).map_err(|_| invalid!("negative dense size"))?;
            let start = pos
                .checked_mul(size)
                .ok_or_else(|| invalid!("sparse position overflows"))?;
            Ok((start, start + size))
        } else {
            let seg = m
                .array_segments()
                .ok_or_else(|| invalid!("sparse dim without array_segments"))?;
            let a = seg
                .get(pos)
                .ok_or_else(|| invalid!("sparse segment {pos} out of range"))?;
            let b = seg
                .get(pos + 1)
                .ok_or_else(|| invalid!("sparse segment {} out of range", pos + 1))?;
            if a < 0 || b < a {
                return Err(invalid!("sparse segments [{a}, {b}) are not increasing"));
            }
            Ok((a as usize, b as usize))
        }
    };
    let mut stack = alloc::vec![{
        let (s0, e0) = bounds(0, 0)?;
        Frame {
            level: 0,
            pos: 0,
            next: s0,
            end: e0,
        }
    }];
    let mut steps = 0usize;
    while let Some(f) = stack.last_mut() {
        steps += 1;
        if steps > max_steps {
            return Err(too_large!("sparse tensor `{}` expands too far", info.name));
        }
        if f.next >= f.end {
            stack.pop();
            continue;
        }
        let child = f.next;
        f.next += 1;
        let lvl = f.level;
        let _ = f.pos;
        let m = &meta[lvl];
        coord[order[lvl]] = if m.format() == 0 {
            child - child / expanded[order[lvl]].max(1) * expanded[order[lvl]].max(1)
        } else {
            let idx = m
                .array_indices()
                .ok_or_else(|| invalid!("sparse dim without array_indices"))?;
            let v = idx
                .get(child)
                .ok_or_else(|| invalid!("sparse index {child} out of range"))?;
            usize::try_from(v).map_err(|_| invalid!("negative sparse index {v}"))?
        };
        if lvl + 1 == levels {
            // Leaf: `child` is the position of the value.
            let mut off = 0usize;
            for d in 0..n {
                let mut c = coord[d];
                if let Some(i) = block_map.iter().position(|&b| b == d) {
                    c = c * expanded[n + i] + coord[n + i];
                }
                if c >= dims[d] {
                    return Err(invalid!(
                        "sparse tensor `{}`: coordinate {c} out of range for dim {d}",
                        info.name
                    ));
                }
                off += c * strides[d];
            }
            let src = values.get(child * es..child * es + es).ok_or_else(|| {
                invalid!(
                    "sparse tensor `{}`: value {child} past the end of its buffer",
                    info.name
                )
            })?;
            dense[off * es..off * es + es].copy_from_slice(src);
        } else {
            let (s1, e1) = bounds(lvl + 1, child)?;
            stack.push(Frame {
                level: lvl + 1,
                pos: child,
                next: s1,
                end: e1,
            });
        }
    }
    Ok(dense)
}

fn prefix_op(e: crate::Error, sg: usize, op: usize) -> crate::Error {
    use crate::Error::*;
    let p = |m: String| alloc::format!("subgraph {sg}, operator {op}: {m}");
    match e {
        Malformed(m) => Malformed(p(m)),
        Unsupported(m) => Unsupported(p(m)),
        Invalid(m) => Invalid(p(m)),
        BadInput(m) => BadInput(p(m)),
        TooLarge(m) => TooLarge(p(m)),
    }
}

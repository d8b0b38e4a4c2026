//! JAX / Flax front-end: StableHLO (text, MLIR bytecode, `jax.export` blob) lowered onto the IR.
//!
//! Parsing lives in the `cerebro-stablehlo` crate; this module maps its AST onto [`Graph`]:
//! every `func.func` reached from the entry becomes a subgraph (`func.call` → [`Op::Call`]), and
//! the regions of `while` / `if` / `case` become subgraphs too. Values a region uses from the
//! enclosing function are passed in as extra inputs (constants are shared instead).
//! Anything without an IR equivalent is refused with an [`Error::Unsupported`] naming the op.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use cerebro_stablehlo::ast::{
    self, Attr, ElementType, FloatKind, Function, Module, Op as HloOp, Region, TensorType, Type,
    ValueId,
};

use crate::error::{Error, Result};

mod indexing;
use crate::ir::{
    Activation, AlignedBuf, BinaryOp, CompareOp, Conv2dAttrs, ConvNdAttrs, DType, DepthwiseAttrs,
    DotGeneralAttrs, Graph, Node, Op, PadMode, Padding2d, Pool2dAttrs, PoolKind, ReduceOp, Shape,
    Subgraph, SubgraphId, TensorId, TensorInfo, TensorKind, UnaryOp, WindowDim,
};

/// A splat constant (one value written for a whole tensor) may expand to at most this many
/// bytes: a few bytes of model must not turn into gigabytes of guest memory.
const MAX_SPLAT_BYTES: usize = 256 << 20;

/// Regions and calls nested deeper than this are refused.
const MAX_NESTING: usize = 32;

fn malformed(e: cerebro_stablehlo::Error) -> Error {
    Error::Malformed(format!("StableHLO: {e}"))
}

/// How an `@main` argument is provided.
#[derive(Debug, Clone)]
pub enum ArgBinding {
    /// A runtime input of the model.
    Input,
    /// A constant baked into the graph (e.g. a Flax parameter): dtype, shape, bytes.
    Constant(DType, Vec<usize>, Vec<u8>),
}

/// What a `check.*` op of a conformance test expects.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// Exactly equal to the constant.
    EqConst(DType, Vec<usize>, Vec<u8>),
    /// Within an absolute tolerance of the constant (NaN matches NaN).
    AlmostEqConst(DType, Vec<usize>, Vec<u8>, f64),
    /// The two outputs are exactly equal.
    Eq,
    /// The two outputs are within an absolute tolerance.
    AlmostEq(f64),
}

/// A check of a conformance test: which entry outputs it looks at and what it expects.
#[derive(Debug, Clone)]
pub struct Check {
    /// The expectation.
    pub kind: CheckKind,
    /// Entry-subgraph output indices it reads (1 for `*_const`, 2 otherwise).
    pub outputs: Vec<usize>,
    /// Source line of the check op (0 for binary input).
    pub line: u32,
}

/// A lowered module.
#[derive(Debug)]
pub struct Lowered {
    /// The graph (entry = the requested function).
    pub graph: Graph,
    /// Checks found in the entry function (conformance tests); the values they read are entry
    /// outputs placed before the function's own results.
    pub checks: Vec<Check>,
}

/// Load any JAX form (text, `.mlirbc`, `jax.export` blob) with `@main` as the entry and every
/// argument a runtime input.
pub fn load(bytes: &[u8]) -> Result<Graph> {
    let model = cerebro_stablehlo::load_jax_model(bytes).map_err(malformed)?;
    Ok(lower(&model.module, "main", &[])?.graph)
}

/// Load a Flax model: a `jax.export` blob of `f(variables, *inputs)` plus its
/// `flax.serialization.to_bytes` parameters; the parameters become constants and only the real
/// inputs remain.
///
/// With a bare module (text or `.mlirbc`, no `in_tree`) the arguments are bound by the pytree
/// paths JAX writes into their locations (`loc("variables['params']['Dense_0']['kernel']")`).
pub fn load_with_params(bytes: &[u8], params: &[u8]) -> Result<Graph> {
    let model = cerebro_stablehlo::load_jax_model(bytes).map_err(malformed)?;
    let leaves = cerebro_stablehlo::flax::parse_params(params).map_err(malformed)?;
    let sources = match model.exported.as_ref() {
        Some(exported) => cerebro_stablehlo::flax::bind(exported, &leaves, 0).map_err(malformed)?,
        None => bind_by_location(&model.module, &leaves)?,
    };
    let mut bindings = Vec::new();
    for s in sources {
        bindings.push(match s {
            cerebro_stablehlo::flax::ArgSource::Input(_) => ArgBinding::Input,
            cerebro_stablehlo::flax::ArgSource::Param(i) => {
                let l = &leaves[i];
                let dtype = dtype_of(&l.element)?;
                let shape = l
                    .shape
                    .iter()
                    .map(|d| usize::try_from(*d).map_err(|_| Error::TooLarge("dim".into())))
                    .collect::<Result<Vec<_>>>()?;
                ArgBinding::Constant(dtype, shape, l.data.clone())
            }
        });
    }
    Ok(lower(&model.module, "main", &bindings)?.graph)
}

/// Bind `@main`'s arguments to parameter leaves by the paths in their locations.
fn bind_by_location(
    module: &Module,
    leaves: &[cerebro_stablehlo::flax::Leaf],
) -> Result<Vec<cerebro_stablehlo::flax::ArgSource>> {
    use cerebro_stablehlo::flax::ArgSource;
    let main = module
        .function("main")
        .ok_or_else(|| Error::Invalid("no function @main in the module".into()))?;
    let mut out = Vec::new();
    let mut inputs = 0;
    let mut bound = 0;
    for a in &main.arguments {
        let path = a
            .loc_name
            .as_deref()
            .and_then(|n| n.find('[').map(|i| &n[i..]));
        match path.and_then(|p| leaves.iter().position(|l| l.path_string() == p)) {
            Some(i) => {
                out.push(ArgSource::Param(i));
                bound += 1;
            }
            None => {
                out.push(ArgSource::Input(inputs));
                inputs += 1;
            }
        }
    }
    if bound == 0 && !leaves.is_empty() {
        return Err(Error::BadInput(
            "no argument of @main carries a parameter path in its location; use the jax.export blob".into(),
        ));
    }
    Ok(out)
}

/// Lower `module` with `entry` as the entry subgraph. `bindings` (empty = all inputs) says how
/// each entry argument is provided.
pub fn lower(module: &Module, entry: &str, bindings: &[ArgBinding]) -> Result<Lowered> {
    let f = module
        .function(entry)
        .ok_or_else(|| Error::Invalid(format!("no function @{entry} in the module")))?;
    let mut l = Lowerer {
        module,
        graph: Graph::default(),
        functions: BTreeMap::new(),
        stack: Vec::new(),
        checks: Vec::new(),
        lowering: Vec::new(),
    };
    let id = l.function(f, bindings, true)?;
    l.graph.entry = id;
    Ok(Lowered {
        graph: l.graph,
        checks: l.checks,
    })
}

/// `tolerance = ...` of a check op (the StableHLO interpreter's default is 1e-4).
fn tolerance(op: &HloOp) -> f64 {
    match op.attr("tolerance") {
        Some(Attr::Float(f, _)) => *f,
        Some(Attr::Int(i, _)) => *i as f64,
        _ => 1e-4,
    }
}

/// One test function of a conformance file: its name and its lowering (or why it cannot be).
#[derive(Debug)]
pub struct TestCase {
    /// Function name.
    pub name: String,
    /// The lowered test, its checks included.
    pub lowered: Result<Lowered>,
}

/// The test functions (those without arguments) of a StableHLO test file whose pieces are
/// separated by `// -----` lines. A file that does not parse is an error.
pub fn conformance_cases(text: &str) -> Result<Vec<TestCase>> {
    let modules = cerebro_stablehlo::text::parse_splits(text).map_err(malformed)?;
    let mut out = Vec::new();
    for m in &modules {
        for f in &m.functions {
            if !f.arguments.is_empty() || f.body.blocks.is_empty() {
                continue;
            }
            out.push(TestCase {
                name: f.name.clone(),
                lowered: lower(m, &f.name, &[]),
            });
        }
    }
    Ok(out)
}

/// Engine dtype of a StableHLO element type.
pub fn dtype_of(e: &ElementType) -> Result<DType> {
    Ok(match e {
        ElementType::Int { bits, signed } => match (bits, signed) {
            (1, _) => DType::Bool,
            (8, true) => DType::I8,
            (8, false) => DType::U8,
            (16, true) => DType::I16,
            (16, false) => DType::U16,
            (32, true) => DType::I32,
            (32, false) => DType::U32,
            (64, true) => DType::I64,
            (64, false) => DType::U64,
            // i2/i4/u2/u4 would need a wrap to their width after every integer op.
            _ => return Err(Error::Unsupported(format!("element type {e:?}"))),
        },
        ElementType::Float(FloatKind::F32) => DType::F32,
        ElementType::Float(FloatKind::F16) => DType::F16,
        ElementType::Float(FloatKind::BF16) => DType::BF16,
        ElementType::Float(FloatKind::F64) => DType::F64,
        // Complex numbers would need their own dtypes and kernels (none in the IR).
        other => return Err(Error::Unsupported(format!("element type {other:?}"))),
    })
}

fn tensor_type(t: &Type) -> Result<(DType, Vec<usize>)> {
    match t {
        Type::Tensor(TensorType { shape, element, .. }) => {
            let dims = shape
                .iter()
                .map(|d| {
                    d.and_then(|d| usize::try_from(d).ok())
                        .ok_or_else(|| Error::Unsupported("dynamic or huge dimension".into()))
                })
                .collect::<Result<Vec<_>>>()?;
            Shape::new(&dims).num_elements()?;
            Ok((dtype_of(element)?, dims))
        }
        other => Err(Error::Unsupported(format!("type {other:?}"))),
    }
}

/// Raw element bytes of a dense attribute, expanded from a splat, in the engine's layout.
fn dense_bytes(e: &ast::DenseElements) -> Result<(DType, Vec<usize>, Vec<u8>)> {
    let (dtype, dims) = tensor_type(&Type::Tensor(e.ty.clone()))?;
    let n = Shape::new(&dims).num_elements()?;
    let w = e.ty.element.storage_bytes();
    if w != dtype.size() {
        return Err(Error::Unsupported(format!(
            "constant of {:?}",
            e.ty.element
        )));
    }
    let data = if e.splat {
        let total = n
            .checked_mul(w)
            .filter(|t| *t <= MAX_SPLAT_BYTES)
            .ok_or_else(|| {
                Error::TooLarge(format!(
                    "splat constant of {n} elements expands past 256 MiB"
                ))
            })?;
        let mut v = Vec::new();
        v.try_reserve_exact(total)
            .map_err(|_| Error::TooLarge("constant".into()))?;
        for _ in 0..n {
            v.extend_from_slice(&e.data);
        }
        v
    } else {
        e.data.clone()
    };
    if data.len() != n * w {
        return Err(Error::Malformed(
            "constant data does not fill its type".into(),
        ));
    }
    Ok((dtype, dims, data))
}

/// Rearrange raw row-major data of `shape` into `new_shape`: element `idx` of the result is
/// the source element at `offset(idx, source strides)`.
fn remap_bytes(
    src: &[u8],
    width: usize,
    shape: &[usize],
    new_shape: &[usize],
    offset: impl Fn(&[usize], &[usize]) -> usize,
) -> Result<Vec<u8>> {
    let n = Shape::new(shape).num_elements()?;
    if src.len() != n * width {
        return Err(Error::Malformed(
            "constant size does not match its shape".into(),
        ));
    }
    let rank = shape.len();
    let mut strides = vec![1usize; rank];
    for i in (0..rank.saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    let mut out = Vec::with_capacity(src.len());
    let mut idx = vec![0usize; rank];
    for _ in 0..n {
        let off = offset(&idx, &strides);
        out.extend_from_slice(&src[off * width..(off + 1) * width]);
        for i in (0..rank).rev() {
            idx[i] += 1;
            if idx[i] < new_shape[i] {
                break;
            }
            idx[i] = 0;
        }
    }
    Ok(out)
}

/// Transpose raw row-major data: new dim i is old dim `perm[i]` (a permutation).
fn transpose_bytes(src: &[u8], width: usize, shape: &[usize], perm: &[usize]) -> Result<Vec<u8>> {
    let new_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    remap_bytes(src, width, shape, &new_shape, |idx, st| {
        idx.iter().zip(perm).map(|(&i, &p)| i * st[p]).sum()
    })
}

/// Reverse raw row-major data along `dims`.
fn reverse_bytes(src: &[u8], width: usize, shape: &[usize], dims: &[usize]) -> Result<Vec<u8>> {
    remap_bytes(src, width, shape, shape, |idx, st| {
        (0..shape.len())
            .map(|i| {
                let j = if dims.contains(&i) {
                    shape[i] - 1 - idx[i]
                } else {
                    idx[i]
                };
                j * st[i]
            })
            .sum()
    })
}

/// Operand and result counts the lowering indexes into, checked before it does (the AST comes
/// from untrusted input and generic op syntax allows any count).
fn check_arity(base: &str, op: &HloOp) -> Result<()> {
    let (operands, exact) = match base {
        "constant" | "iota" => (0, true),
        "abs"
        | "negate"
        | "exponential"
        | "log"
        | "sqrt"
        | "rsqrt"
        | "tanh"
        | "logistic"
        | "floor"
        | "ceil"
        | "round_nearest_even"
        | "sine"
        | "cosine"
        | "sign"
        | "not"
        | "convert"
        | "reshape"
        | "transpose"
        | "broadcast_in_dim"
        | "slice"
        | "reverse"
        | "is_finite"
        | "popcnt"
        | "count_leading_zeros"
        | "bitcast_convert"
        | "exponential_minus_one"
        | "log_plus_one"
        | "cbrt"
        | "tan"
        | "round_nearest_afz" => (1, true),
        "add"
        | "subtract"
        | "multiply"
        | "divide"
        | "maximum"
        | "minimum"
        | "power"
        | "atan2"
        | "and"
        | "or"
        | "xor"
        | "shift_left"
        | "shift_right_arithmetic"
        | "shift_right_logical"
        | "compare"
        | "remainder"
        | "dot_general"
        | "dot"
        | "convolution"
        | "gather"
        | "pad"
        | "triangular_solve" => (2, true),
        "select" | "clamp" | "dynamic_conv" | "select_and_scatter" => (3, true),
        "dynamic_pad" => (5, true),
        "reduce" | "reduce_window" => (2, false),
        "dynamic_slice" | "if" | "case" | "concatenate" | "sort" => (1, false),
        "scatter" => (3, false),
        "dynamic_update_slice" => (2, false),
        "dynamic_iota" | "get_dimension_size" => (1, true),
        "dynamic_reshape" | "dynamic_broadcast_in_dim" => (2, true),
        "dynamic_gather" => (3, true),
        "while" | "func.call" | "composite" | "optimization_barrier" => (0, false),
        // Ops without a lowering are refused by name later.
        _ => return Ok(()),
    };
    let ok = if exact {
        op.operands.len() == operands
    } else {
        op.operands.len() >= operands
    };
    let needs_result = !matches!(
        base,
        "while" | "if" | "case" | "func.call" | "composite" | "optimization_barrier"
    );
    if !ok || (needs_result && op.results.is_empty()) || op.results.len() != op.result_types.len() {
        return Err(Error::Invalid(format!(
            "{} with {} operands and {} results",
            op.name,
            op.operands.len(),
            op.results.len()
        )));
    }
    Ok(())
}

/// One subgraph being built.
struct Sg {
    sub: Subgraph,
    /// Ops that defined some values (name, iota dimension) for pattern matching.
    defs: BTreeMap<ValueId, (String, usize)>,
    values: BTreeMap<ValueId, TensorId>,
    /// Values taken from the enclosing subgraph, in input order after the block arguments.
    captures: Vec<ValueId>,
    /// The enclosing function's values can be captured (false for functions: isolated).
    can_capture: bool,
}

struct Lowerer<'m> {
    module: &'m Module,
    graph: Graph,
    functions: BTreeMap<String, SubgraphId>,
    stack: Vec<Sg>,
    checks: Vec<Check>,
    lowering: Vec<String>,
}

fn attr_ints(op: &HloOp, name: &str) -> Result<Vec<i64>> {
    op.attr(name)
        .and_then(Attr::as_i64s)
        .ok_or_else(|| Error::Malformed(format!("{}: missing '{name}'", op.name)))
}

fn attr_usizes(op: &HloOp, name: &str) -> Result<Vec<usize>> {
    attr_ints(op, name)?
        .into_iter()
        .map(|v| {
            usize::try_from(v)
                .map_err(|_| Error::Unsupported(format!("{}: negative {name}", op.name)))
        })
        .collect()
}

fn to_usizes(v: &[i64], what: &str) -> Result<Vec<usize>> {
    v.iter()
        .map(|x| usize::try_from(*x).map_err(|_| Error::Invalid(format!("negative {what}"))))
        .collect()
}

/// Most elements of a padded intermediate the GEMM convolution path materializes (lhs
/// dilation); larger ones take the general convolution instead.
const MAX_PAD_ELEMENTS: usize = 1 << 26;

/// The reduction of a reducer body op (`add`, `maximum`, ...) and its binary op; on booleans
/// add / max are `or` and multiply / min are `and`.
fn reduce_kind(body: &str, boolean: bool) -> Result<(ReduceOp, BinaryOp)> {
    Ok(match (body, boolean) {
        ("add", false) => (ReduceOp::Sum, BinaryOp::Add),
        ("multiply", false) => (ReduceOp::Prod, BinaryOp::Mul),
        ("maximum", false) => (ReduceOp::Max, BinaryOp::Maximum),
        ("minimum", false) => (ReduceOp::Min, BinaryOp::Minimum),
        ("and" | "minimum" | "multiply", true) => (ReduceOp::All, BinaryOp::LogicalAnd),
        ("or" | "maximum" | "add", true) => (ReduceOp::Any, BinaryOp::LogicalOr),
        (other, _) => return Err(Error::Unsupported(format!("reduce with {other}"))),
    })
}

/// A window attribute of `n` integers, `default` for each when absent.
fn window_attr(op: &HloOp, name: &str, n: usize, default: i64) -> Result<Vec<i64>> {
    let v = match op.attr(name) {
        None => return Ok(vec![default; n]),
        Some(a) => a
            .as_i64s()
            .ok_or_else(|| Error::Malformed(format!("{}: '{name}' is not integers", op.name)))?,
    };
    if v.len() != n {
        return Err(Error::Invalid(format!(
            "{}: '{name}' has {} values, expected {n}",
            op.name,
            v.len()
        )));
    }
    Ok(v)
}

/// One window dim from StableHLO's attribute values (checked: sizes non-negative, strides and
/// dilations positive).
fn window_dim(
    size: impl TryInto<usize>,
    stride: i64,
    pad_low: i64,
    pad_high: i64,
    base_dilation: i64,
    window_dilation: i64,
    reverse: i64,
) -> Result<WindowDim> {
    let positive = |v: i64, what: &str| {
        usize::try_from(v)
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| Error::Invalid(format!("window {what} {v}")))
    };
    Ok(WindowDim {
        size: size
            .try_into()
            .map_err(|_| Error::Invalid("negative window size".into()))?,
        stride: positive(stride, "stride")?,
        pad_low,
        pad_high,
        base_dilation: positive(base_dilation, "dilation")?,
        window_dilation: positive(window_dilation, "dilation")?,
        reverse: reverse != 0,
    })
}

impl<'m> Lowerer<'m> {
    fn cur(&mut self) -> &mut Sg {
        let i = self.stack.len() - 1;
        &mut self.stack[i]
    }

    fn add_tensor(
        &mut self,
        level: usize,
        dtype: DType,
        dims: &[usize],
        kind: TensorKind,
        name: String,
    ) -> TensorId {
        let sub = &mut self.stack[level].sub;
        sub.tensors.push(TensorInfo {
            name,
            dtype,
            shape: Shape::new(dims),
            quant: None,
            kind,
        });
        sub.tensors.len() - 1
    }

    fn new_activation(&mut self, dtype: DType, dims: &[usize]) -> TensorId {
        let level = self.stack.len() - 1;
        let n = self.stack[level].sub.tensors.len();
        self.add_tensor(level, dtype, dims, TensorKind::Activation, format!("t{n}"))
    }

    fn constant(&mut self, dtype: DType, dims: &[usize], bytes: &[u8]) -> Result<TensorId> {
        let buf = AlignedBuf::copy_from(bytes).ok_or_else(|| Error::TooLarge("constant".into()))?;
        let c = self.graph.add_constant(buf);
        let level = self.stack.len() - 1;
        Ok(self.add_tensor(
            level,
            dtype,
            dims,
            TensorKind::Constant(c),
            format!("const{c}"),
        ))
    }

    fn scalar_const_f32(&mut self, v: f32) -> Result<TensorId> {
        self.constant(DType::F32, &[], &v.to_le_bytes())
    }

    fn info(&self, t: TensorId) -> (DType, Vec<usize>) {
        let s = &self.stack[self.stack.len() - 1].sub.tensors[t];
        (s.dtype, s.shape.dims().to_vec())
    }

    fn node(&mut self, op: Op, inputs: Vec<Option<TensorId>>, outputs: Vec<TensorId>) {
        self.cur().sub.nodes.push(Node {
            op,
            inputs,
            outputs,
        });
    }

    /// The tensor of `v` at `level`, capturing it from enclosing regions if needed.
    fn value_at(&mut self, level: usize, v: ValueId) -> Result<TensorId> {
        if let Some(&t) = self.stack[level].values.get(&v) {
            return Ok(t);
        }
        if level == 0 || !self.stack[level].can_capture {
            return Err(Error::Invalid(format!("value %{v} used but not defined")));
        }
        let outer = self.value_at(level - 1, v)?;
        let info = self.stack[level - 1].sub.tensors[outer].clone();
        let t = match info.kind {
            TensorKind::Constant(c) => self.add_tensor(
                level,
                info.dtype,
                info.shape.dims(),
                TensorKind::Constant(c),
                info.name,
            ),
            TensorKind::Activation => {
                let t = self.add_tensor(
                    level,
                    info.dtype,
                    info.shape.dims(),
                    TensorKind::Activation,
                    format!("capture{v}"),
                );
                self.stack[level].captures.push(v);
                self.stack[level].sub.inputs.push(t);
                t
            }
        };
        self.stack[level].values.insert(v, t);
        Ok(t)
    }

    fn value(&mut self, v: ValueId) -> Result<TensorId> {
        let level = self.stack.len() - 1;
        self.value_at(level, v)
    }

    fn define(&mut self, v: ValueId, t: TensorId) {
        self.cur().values.insert(v, t);
    }

    /// Lower a function into a subgraph (memoized by name; recursion refused).
    fn function(
        &mut self,
        f: &'m Function,
        bindings: &[ArgBinding],
        entry: bool,
    ) -> Result<SubgraphId> {
        if !entry {
            if let Some(&id) = self.functions.get(&f.name) {
                return Ok(id);
            }
        }
        if self.lowering.contains(&f.name) {
            return Err(Error::Unsupported(format!("recursive call of @{}", f.name)));
        }
        if self.stack.len() > MAX_NESTING {
            return Err(Error::Unsupported("calls nested too deeply".into()));
        }
        self.lowering.push(f.name.clone());
        self.stack.push(Sg {
            sub: Subgraph {
                name: f.name.clone(),
                ..Subgraph::default()
            },
            values: BTreeMap::new(),
            defs: BTreeMap::new(),
            captures: Vec::new(),
            can_capture: false,
        });
        let r = self.function_body(f, bindings, entry);
        let sg = self.stack.pop().expect("pushed above");
        self.lowering.pop();
        r?;
        self.graph.subgraphs.push(sg.sub);
        let id = self.graph.subgraphs.len() - 1;
        if !entry {
            self.functions.insert(f.name.clone(), id);
        }
        Ok(id)
    }

    fn function_body(
        &mut self,
        f: &'m Function,
        bindings: &[ArgBinding],
        entry: bool,
    ) -> Result<()> {
        let block = match f.body.blocks.as_slice() {
            [b] => b,
            [] => return Err(Error::Unsupported(format!("@{} has no body", f.name))),
            _ => {
                return Err(Error::Unsupported(format!(
                    "@{} has several blocks",
                    f.name
                )))
            }
        };
        if !bindings.is_empty() && bindings.len() != block.arguments.len() {
            return Err(Error::Invalid(format!(
                "@{} takes {} arguments, {} bound",
                f.name,
                block.arguments.len(),
                bindings.len()
            )));
        }
        for (i, (v, ty)) in block.arguments.iter().enumerate() {
            let (dtype, dims) = tensor_type(ty)?;
            let t = match bindings.get(i) {
                Some(ArgBinding::Constant(d, s, bytes)) => {
                    if *d != dtype || *s != dims {
                        return Err(Error::BadInput(format!(
                            "argument {i} of @{}: bound {d} {s:?}, function wants {dtype} {dims:?}",
                            f.name
                        )));
                    }
                    self.constant(dtype, &dims, bytes)?
                }
                _ => {
                    let name = f
                        .arguments
                        .get(i)
                        .and_then(|a| a.loc_name.clone())
                        .unwrap_or_else(|| format!("arg{i}"));
                    let level = self.stack.len() - 1;
                    let t = self.add_tensor(level, dtype, &dims, TensorKind::Activation, name);
                    self.cur().sub.inputs.push(t);
                    t
                }
            };
            self.define(*v, t);
        }
        let outs = self.ops(&block.ops, entry)?;
        let mut outputs = self.fix_outputs(outs)?;
        // Name results after JAX's `jax.result_info` ("result", "result[0]", ...) when given.
        for (i, &t) in outputs.iter().enumerate() {
            let info = f.result_attrs.get(i).and_then(|attrs| {
                attrs
                    .iter()
                    .find(|a| a.name == "jax.result_info")
                    .and_then(|a| match &a.value {
                        Attr::String(s) if !s.is_empty() => Some(s.clone()),
                        _ => None,
                    })
            });
            if let Some(name) = info {
                self.cur().sub.tensors[t].name = name;
            }
        }
        self.cur().sub.outputs.append(&mut outputs);
        Ok(())
    }

    /// Outputs must be distinct activation tensors that are not inputs: copy when needed.
    fn fix_outputs(&mut self, outs: Vec<TensorId>) -> Result<Vec<TensorId>> {
        let mut fixed = Vec::new();
        for t in outs {
            let sg = &self.stack[self.stack.len() - 1].sub;
            let needs_copy = fixed.contains(&t)
                || sg.inputs.contains(&t)
                || matches!(sg.tensors[t].kind, TensorKind::Constant(_));
            if needs_copy {
                let (d, s) = self.info(t);
                let o = self.new_activation(d, &s);
                self.node(Op::Identity, vec![Some(t)], vec![o]);
                fixed.push(o);
            } else {
                fixed.push(t);
            }
        }
        Ok(fixed)
    }

    /// Lower a block's ops; returns the tensors of its terminator's operands.
    fn ops(&mut self, ops: &'m [HloOp], entry: bool) -> Result<Vec<TensorId>> {
        for op in ops {
            match op.name.as_str() {
                "func.return" | "stablehlo.return" => {
                    let mut outs = Vec::new();
                    for v in &op.operands {
                        outs.push(self.value(*v)?);
                    }
                    return Ok(outs);
                }
                n if n.starts_with("check.")
                    || (n == "stablehlo.custom_call"
                        && matches!(op.attr("call_target_name"), Some(Attr::String(s)) if s.starts_with("check."))) =>
                {
                    if !entry {
                        return Err(Error::Unsupported(
                            "check op outside the test function".into(),
                        ));
                    }
                    self.check(op)?;
                }
                _ => {
                    if op.name == "stablehlo.iota" {
                        let dim = op
                            .attr("iota_dimension")
                            .and_then(Attr::as_int)
                            .unwrap_or(-1);
                        if let (Some(v), Ok(dim)) = (op.results.first(), usize::try_from(dim)) {
                            self.cur().defs.insert(*v, (op.name.clone(), dim));
                        }
                    }
                    self.op(op).map_err(|e| match e {
                        Error::Unsupported(m) => Error::Unsupported(format!(
                            "{} (line {}): {m}",
                            op.name, op.position.line
                        )),
                        Error::Invalid(m) => {
                            Error::Invalid(format!("{} (line {}): {m}", op.name, op.position.line))
                        }
                        other => other,
                    })?
                }
            }
        }
        Err(Error::Malformed("block without a terminator".into()))
    }

    fn check(&mut self, op: &HloOp) -> Result<()> {
        let name = match op.attr("call_target_name") {
            Some(Attr::String(s)) => s.as_str(),
            _ => op.name.as_str(),
        };
        let line = op.position.line;
        let expected = |op: &HloOp| -> Result<(DType, Vec<usize>, Vec<u8>)> {
            match op.attr("value") {
                Some(Attr::Elements(e)) => dense_bytes(e),
                _ => Err(Error::Malformed("check without a value".into())),
            }
        };
        let kind = match name {
            "check.expect_eq_const" => {
                let (d, s, b) = expected(op)?;
                CheckKind::EqConst(d, s, b)
            }
            "check.expect_almost_eq_const" => {
                let (d, s, b) = expected(op)?;
                CheckKind::AlmostEqConst(d, s, b, tolerance(op))
            }
            "check.expect_eq" => CheckKind::Eq,
            "check.expect_almost_eq" => CheckKind::AlmostEq(tolerance(op)),
            other => return Err(Error::Unsupported(other.to_string())),
        };
        let mut outputs = Vec::new();
        for v in &op.operands {
            let t = self.value(*v)?;
            let t = self.fix_outputs(vec![t])?[0];
            let t = if self.cur().sub.outputs.contains(&t) {
                let (d, s) = self.info(t);
                let o = self.new_activation(d, &s);
                self.node(Op::Identity, vec![Some(t)], vec![o]);
                o
            } else {
                t
            };
            self.cur().sub.outputs.push(t);
            outputs.push(self.cur().sub.outputs.len() - 1);
        }
        self.checks.push(Check {
            kind,
            outputs,
            line,
        });
        Ok(())
    }

    fn result_type(op: &HloOp, i: usize) -> Result<(DType, Vec<usize>)> {
        tensor_type(
            op.result_types
                .get(i)
                .ok_or_else(|| Error::Malformed(format!("{} has no result {i}", op.name)))?,
        )
    }

    /// Define a fresh output tensor for result `i` of `op`.
    fn result(&mut self, op: &HloOp, i: usize) -> Result<TensorId> {
        let (d, s) = Self::result_type(op, i)?;
        let t = self.new_activation(d, &s);
        let v = *op
            .results
            .get(i)
            .ok_or_else(|| Error::Malformed(format!("{} has no result {i}", op.name)))?;
        self.define(v, t);
        Ok(t)
    }

    fn operands(&mut self, op: &HloOp) -> Result<Vec<TensorId>> {
        op.operands.iter().map(|v| self.value(*v)).collect()
    }

    fn simple(&mut self, op: &HloOp, ir: Op) -> Result<()> {
        let ins = self.operands(op)?;
        let out = self.result(op, 0)?;
        self.node(ir, ins.into_iter().map(Some).collect(), vec![out]);
        Ok(())
    }

    fn op(&mut self, op: &'m HloOp) -> Result<()> {
        let base = op.name.strip_prefix("stablehlo.").unwrap_or(&op.name);
        check_arity(base, op)?;
        self.lower_as(op, base)
    }

    /// Lower `op` as the op named `base` (its operands and attributes already checked).
    fn lower_as(&mut self, op: &'m HloOp, base: &str) -> Result<()> {
        let unary = |u: UnaryOp| Op::Unary(u);
        let binary = |b: BinaryOp| Op::Binary {
            op: b,
            activation: Activation::None,
        };
        match base {
            "constant" => {
                let Some(Attr::Elements(e)) = op.attr("value") else {
                    return Err(Error::Malformed("constant without a dense value".into()));
                };
                let (d, s, b) = dense_bytes(e)?;
                let t = self.constant(d, &s, &b)?;
                self.define(op.results[0], t);
                Ok(())
            }
            "add" => self.logical_or(op, BinaryOp::Add, BinaryOp::LogicalOr),
            "subtract" => self.simple(op, binary(BinaryOp::Sub)),
            "multiply" => self.logical_or(op, BinaryOp::Mul, BinaryOp::LogicalAnd),
            "divide" => self.simple(op, binary(BinaryOp::Div)),
            "maximum" => self.logical_or(op, BinaryOp::Maximum, BinaryOp::LogicalOr),
            "minimum" => self.logical_or(op, BinaryOp::Minimum, BinaryOp::LogicalAnd),
            "power" => self.simple(op, binary(BinaryOp::Pow)),
            "atan2" => self.simple(op, binary(BinaryOp::Atan2)),
            "remainder" => self.simple(op, binary(BinaryOp::Rem)),
            "and" => self.simple(op, binary(BinaryOp::BitwiseAnd)),
            "or" => self.simple(op, binary(BinaryOp::BitwiseOr)),
            "xor" => self.simple(op, binary(BinaryOp::BitwiseXor)),
            "not" => self.simple(op, unary(UnaryOp::BitwiseNot)),
            "shift_left" => self.simple(op, binary(BinaryOp::ShiftLeft)),
            "shift_right_arithmetic" => self.simple(op, binary(BinaryOp::ShiftRightArithmetic)),
            "shift_right_logical" => self.simple(op, binary(BinaryOp::ShiftRightLogical)),
            "popcnt" => self.simple(op, unary(UnaryOp::PopCount)),
            "count_leading_zeros" => self.simple(op, unary(UnaryOp::CountLeadingZeros)),
            "exponential_minus_one" => self.simple(op, unary(UnaryOp::Expm1)),
            "log_plus_one" => self.simple(op, unary(UnaryOp::Log1p)),
            "cbrt" => self.simple(op, unary(UnaryOp::Cbrt)),
            "tan" => self.simple(op, unary(UnaryOp::Tan)),
            "round_nearest_afz" => self.simple(op, unary(UnaryOp::RoundAwayFromZero)),
            "reduce_precision" => {
                let bits = |name| {
                    op.attr(name)
                        .and_then(Attr::as_int)
                        .and_then(|v| u32::try_from(v).ok())
                        .filter(|v| *v <= 64)
                        .ok_or_else(|| Error::Malformed(format!("reduce_precision {name}")))
                };
                let (exponent_bits, mantissa_bits) =
                    (bits("exponent_bits")?, bits("mantissa_bits")?);
                self.simple(
                    op,
                    unary(UnaryOp::ReducePrecision {
                        exponent_bits,
                        mantissa_bits,
                    }),
                )
            }
            "bitcast_convert" => {
                let x = self.value(op.operands[0])?;
                let (din, _) = self.info(x);
                let (dout, _) = Self::result_type(op, 0)?;
                self.simple(
                    op,
                    if din == dout {
                        Op::Identity
                    } else {
                        Op::Bitcast
                    },
                )
            }
            "abs" => self.simple(op, unary(UnaryOp::Abs)),
            "negate" => self.simple(op, unary(UnaryOp::Neg)),
            "exponential" => self.simple(op, unary(UnaryOp::Exp)),
            "log" => self.simple(op, unary(UnaryOp::Log)),
            "sqrt" => self.simple(op, unary(UnaryOp::Sqrt)),
            "rsqrt" => self.simple(op, unary(UnaryOp::Rsqrt)),
            "tanh" => self.simple(op, unary(UnaryOp::Tanh)),
            "logistic" => self.simple(op, unary(UnaryOp::Logistic)),
            "floor" => self.simple(op, unary(UnaryOp::Floor)),
            "ceil" => self.simple(op, unary(UnaryOp::Ceil)),
            "round_nearest_even" => self.simple(op, unary(UnaryOp::Round)),
            "sine" => self.simple(op, unary(UnaryOp::Sin)),
            "cosine" => self.simple(op, unary(UnaryOp::Cos)),
            "sign" => self.simple(op, unary(UnaryOp::Sign)),
            "compare" => {
                let dir = match op.attr("comparison_direction") {
                    Some(Attr::Enum(_, d)) => d.as_str(),
                    _ => return Err(Error::Malformed("compare without a direction".into())),
                };
                let c = match dir {
                    "EQ" => CompareOp::Equal,
                    "NE" => CompareOp::NotEqual,
                    "LT" => CompareOp::Less,
                    "LE" => CompareOp::LessEqual,
                    "GT" => CompareOp::Greater,
                    "GE" => CompareOp::GreaterEqual,
                    other => return Err(Error::Malformed(format!("comparison {other}"))),
                };
                self.simple(op, Op::Compare(c))
            }
            "select" => self.simple(op, Op::Select),
            "clamp" => {
                let ins = self.operands(op)?;
                let (d, s) = Self::result_type(op, 0)?;
                let mid = self.new_activation(d, &s);
                self.node(
                    binary(BinaryOp::Maximum),
                    vec![Some(ins[1]), Some(ins[0])],
                    vec![mid],
                );
                let out = self.result(op, 0)?;
                self.node(
                    binary(BinaryOp::Minimum),
                    vec![Some(mid), Some(ins[2])],
                    vec![out],
                );
                Ok(())
            }
            "convert" => {
                let x = self.value(op.operands[0])?;
                let (din, _) = self.info(x);
                let (dout, _) = Self::result_type(op, 0)?;
                self.simple(op, if din == dout { Op::Identity } else { Op::Cast })
            }
            "reshape" => self.simple(op, Op::Reshape),
            "optimization_barrier" => {
                for (i, v) in op.operands.iter().enumerate() {
                    let x = self.value(*v)?;
                    let out = self.result(op, i)?;
                    self.node(Op::Identity, vec![Some(x)], vec![out]);
                }
                Ok(())
            }
            "transpose" => {
                let perm = attr_usizes(op, "permutation")?;
                let x = self.value(op.operands[0])?;
                let level = self.stack.len() - 1;
                if let TensorKind::Constant(_) = self.stack[level].sub.tensors[x].kind {
                    // Transposed at load (e.g. a transposed conv's kernel): stays a constant.
                    let (d, s) = self.info(x);
                    let t = self.permute(x, d, &s, &perm)?;
                    self.define(op.results[0], t);
                    return Ok(());
                }
                self.simple(op, Op::Transpose { perm })
            }
            "broadcast_in_dim" => self.broadcast_in_dim(op),
            "iota" => {
                let dim = op
                    .attr("iota_dimension")
                    .and_then(Attr::as_int)
                    .and_then(|v| usize::try_from(v).ok())
                    .ok_or_else(|| Error::Malformed("iota_dimension".into()))?;
                let (d, shape) = Self::result_type(op, 0)?;
                let out = self.result(op, 0)?;
                if d.is_float() {
                    // Count in i32, then convert (exact for any realistic extent).
                    let t = self.new_activation(DType::I32, &shape);
                    self.node(Op::Iota { dim }, vec![], vec![t]);
                    self.node(Op::Cast, vec![Some(t)], vec![out]);
                } else {
                    self.node(Op::Iota { dim }, vec![], vec![out]);
                }
                Ok(())
            }
            "reverse" => {
                let x = self.value(op.operands[0])?;
                let (_, s) = self.info(x);
                let dims = attr_usizes(op, "dimensions")?;
                let mut begin = vec![0usize; s.len()];
                let mut stride = vec![1isize; s.len()];
                for &k in &dims {
                    if k >= s.len() {
                        return Err(Error::Invalid("reverse dimension out of range".into()));
                    }
                    begin[k] = s[k].saturating_sub(1);
                    stride[k] = -1;
                }
                // A reversed constant (a transposed conv's flipped kernel) stays a constant, so
                // the kernels that want constant weights can take it.
                let level = self.stack.len() - 1;
                if let TensorKind::Constant(c) = self.stack[level].sub.tensors[x].kind {
                    let (d, _) = self.info(x);
                    let src = self.graph.constant_bytes(c).to_vec();
                    let data = reverse_bytes(&src, d.size(), &s, &dims)?;
                    let t = self.constant(d, &s, &data)?;
                    self.define(op.results[0], t);
                    return Ok(());
                }
                let out = self.result(op, 0)?;
                self.node(
                    Op::Slice {
                        begin,
                        stride,
                        slice_shape: s,
                    },
                    vec![Some(x)],
                    vec![out],
                );
                Ok(())
            }
            "is_finite" => {
                // x - x is 0 for finite x and NaN for inf/NaN.
                let x = self.value(op.operands[0])?;
                let (d, s) = self.info(x);
                if !d.is_float() {
                    return Err(Error::Unsupported("is_finite of a non-float".into()));
                }
                let diff = self.new_activation(d, &s);
                self.node(
                    Op::Binary {
                        op: BinaryOp::Sub,
                        activation: Activation::None,
                    },
                    vec![Some(x), Some(x)],
                    vec![diff],
                );
                let zero = self.constant(d, &[], &vec![0u8; d.size()])?;
                let out = self.result(op, 0)?;
                self.node(
                    Op::Compare(CompareOp::Equal),
                    vec![Some(diff), Some(zero)],
                    vec![out],
                );
                Ok(())
            }
            "dynamic_slice" => self.dynamic_slice(op),
            "dynamic_update_slice" => self.dynamic_update_slice(op),
            "scatter" => self.scatter(op),
            "sort" => self.sort(op),
            "dynamic_iota"
            | "dynamic_reshape"
            | "dynamic_broadcast_in_dim"
            | "get_dimension_size" => self.static_dynamic(op, base),
            "concatenate" => {
                let axis = op
                    .attr("dimension")
                    .and_then(Attr::as_int)
                    .and_then(|v| usize::try_from(v).ok())
                    .ok_or_else(|| Error::Malformed("dimension".into()))?;
                self.simple(
                    op,
                    Op::Concat {
                        axis,
                        activation: Activation::None,
                    },
                )
            }
            "slice" => {
                let begin = attr_usizes(op, "start_indices")?;
                let strides = attr_usizes(op, "strides")?;
                let (_, out_shape) = Self::result_type(op, 0)?;
                let stride = strides
                    .iter()
                    .map(|s| isize::try_from(*s).map_err(|_| Error::Invalid("stride".into())))
                    .collect::<Result<Vec<_>>>()?;
                self.simple(
                    op,
                    Op::Slice {
                        begin,
                        stride,
                        slice_shape: out_shape,
                    },
                )
            }
            "pad" => {
                let low = attr_ints(op, "edge_padding_low")?;
                let high = attr_ints(op, "edge_padding_high")?;
                let interior = attr_ints(op, "interior_padding")?;
                self.pad(op, &low, &high, &interior)
            }
            "dynamic_pad" => {
                let [low, high, interior] = [2, 3, 4].map(|i| {
                    let t = self.value(op.operands[i])?;
                    self.const_ints(t).ok_or_else(|| {
                        Error::Unsupported("dynamic_pad with computed padding".into())
                    })
                });
                self.pad(op, &low?, &high?, &interior?)
            }
            "dot_general" => {
                let Some(Attr::Dot(d)) = op.attr("dot_dimension_numbers") else {
                    return Err(Error::Malformed(
                        "dot_general without dimension numbers".into(),
                    ));
                };
                let attrs = DotGeneralAttrs {
                    lhs_batch: to_usizes(&d.lhs_batching_dimensions, "dim")?,
                    rhs_batch: to_usizes(&d.rhs_batching_dimensions, "dim")?,
                    lhs_contract: to_usizes(&d.lhs_contracting_dimensions, "dim")?,
                    rhs_contract: to_usizes(&d.rhs_contracting_dimensions, "dim")?,
                };
                if let Some(()) = self.dense_layer(op, &attrs)? {
                    return Ok(());
                }
                self.simple(op, Op::DotGeneral(attrs))
            }
            "dot" => {
                let a = self.value(op.operands[0])?;
                let (_, sa) = self.info(a);
                let attrs = DotGeneralAttrs {
                    lhs_batch: vec![],
                    rhs_batch: vec![],
                    lhs_contract: vec![sa.len().saturating_sub(1)],
                    rhs_contract: vec![0],
                };
                self.simple(op, Op::DotGeneral(attrs))
            }
            "reduce" => self.reduce(op),
            "reduce_window" => self.reduce_window(op),
            "convolution" => self.convolution(op, None),
            "dynamic_conv" => {
                let t = self.value(op.operands[2])?;
                let padding = self.const_ints(t).ok_or_else(|| {
                    Error::Unsupported("dynamic_conv with computed padding".into())
                })?;
                self.convolution(op, Some(padding))
            }
            "triangular_solve" => self.triangular_solve(op),
            "select_and_scatter" => self.select_and_scatter(op),
            "gather" | "dynamic_gather" => self.gather(op),
            "while" => self.while_(op),
            "if" | "case" => self.if_(op),
            "func.call" | "composite" => {
                let key = if base == "composite" {
                    "decomposition"
                } else {
                    "callee"
                };
                let Some(Attr::Symbol(callee)) = op.attr(key) else {
                    return Err(Error::Malformed(format!("{} without a callee", op.name)));
                };
                let f = self
                    .module
                    .function(callee)
                    .ok_or_else(|| Error::Invalid(format!("call of unknown function @{callee}")))?;
                let id = self.function(f, &[], false)?;
                let ins = self.operands(op)?;
                let mut outs = Vec::new();
                for i in 0..op.results.len() {
                    outs.push(self.result(op, i)?);
                }
                self.node(
                    Op::Call { subgraph: id },
                    ins.into_iter().map(Some).collect(),
                    outs,
                );
                Ok(())
            }
            _ => Err(Error::Unsupported("no lowering for this op".into())),
        }
    }

    /// `x[.., k] · W` with a constant 2-D f32 `W` and no batch dims is a fully-connected layer:
    /// its weights are packed once at load instead of on every run.
    fn dense_layer(&mut self, op: &HloOp, a: &DotGeneralAttrs) -> Result<Option<()>> {
        let x = self.value(op.operands[0])?;
        let w = self.value(op.operands[1])?;
        let (dx, sx) = self.info(x);
        let (dw, sw) = self.info(w);
        let level = self.stack.len() - 1;
        let constant = matches!(
            self.stack[level].sub.tensors[w].kind,
            TensorKind::Constant(_)
        );
        if !constant || dx != DType::F32 || dw != DType::F32 || sw.len() != 2 || sx.is_empty() {
            return Ok(None);
        }
        if !a.lhs_batch.is_empty() || a.lhs_contract != [sx.len() - 1] || a.rhs_contract.len() != 1
        {
            return Ok(None);
        }
        // FullyConnected wants weights [n, k].
        let w = match a.rhs_contract[0] {
            0 => self.permute(w, dw, &sw, &[1, 0])?,
            1 => w,
            _ => return Ok(None),
        };
        let out = self.result(op, 0)?;
        self.node(
            Op::FullyConnected {
                activation: Activation::None,
            },
            vec![Some(x), Some(w), None],
            vec![out],
        );
        Ok(Some(()))
    }

    /// add/multiply/max/min on booleans are or/and.
    fn logical_or(&mut self, op: &HloOp, arith: BinaryOp, logical: BinaryOp) -> Result<()> {
        let (d, _) = Self::result_type(op, 0)?;
        let b = if d == DType::Bool { logical } else { arith };
        self.simple(
            op,
            Op::Binary {
                op: b,
                activation: Activation::None,
            },
        )
    }

    fn broadcast_in_dim(&mut self, op: &HloOp) -> Result<()> {
        let dims = attr_usizes(op, "broadcast_dimensions")?;
        let mut x = self.value(op.operands[0])?;
        let (d, mut s) = self.info(x);
        let (_, out) = Self::result_type(op, 0)?;
        if dims.len() != s.len() || dims.iter().any(|&k| k >= out.len()) {
            return Err(Error::Invalid(
                "broadcast_dimensions do not match the shapes".into(),
            ));
        }
        let mut order: Vec<usize> = (0..dims.len()).collect();
        order.sort_by_key(|&i| dims[i]);
        let mut dims = dims;
        if order.iter().enumerate().any(|(i, &o)| i != o) {
            let ts: Vec<usize> = order.iter().map(|&i| s[i]).collect();
            let t = self.new_activation(d, &ts);
            self.node(
                Op::Transpose {
                    perm: order.clone(),
                },
                vec![Some(x)],
                vec![t],
            );
            x = t;
            s = ts;
            dims = order.iter().map(|&i| dims[i]).collect();
        }
        let mut mid = vec![1usize; out.len()];
        for (i, &k) in dims.iter().enumerate() {
            mid[k] = s[i];
        }
        if mid != s {
            let t = self.new_activation(d, &mid);
            self.node(Op::Reshape, vec![Some(x)], vec![t]);
            x = t;
        }
        let o = self.result(op, 0)?;
        self.node(
            if mid == out {
                Op::Identity
            } else {
                Op::BroadcastTo
            },
            vec![Some(x)],
            vec![o],
        );
        Ok(())
    }

    /// The single binary op of a reducer body `(a, b) -> op(a, b)`.
    fn reducer(region: &Region) -> Option<&str> {
        let block = region.blocks.first()?;
        let [body, ret] = block.ops.as_slice() else {
            return None;
        };
        let args: Vec<ValueId> = block.arguments.iter().map(|(v, _)| *v).collect();
        if args.len() != 2
            || body.operands.len() != 2
            || ret.operands.as_slice() != body.results.as_slice()
        {
            return None;
        }
        let (a, b) = (body.operands[0], body.operands[1]);
        if !((a == args[0] && b == args[1]) || (a == args[1] && b == args[0])) {
            return None;
        }
        body.name.strip_prefix("stablehlo.")
    }

    /// Integer value of a scalar constant tensor, if it is one.
    fn const_int(&self, t: TensorId) -> Option<i64> {
        match self.const_ints(t)?.as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    }

    /// Values of an integer constant tensor (any shape, row-major), if it is one.
    fn const_ints(&self, t: TensorId) -> Option<Vec<i64>> {
        let info = &self.stack[self.stack.len() - 1].sub.tensors[t];
        let TensorKind::Constant(c) = info.kind else {
            return None;
        };
        let b = self.graph.constant_bytes(c);
        let w = info.dtype.size();
        if w == 0 || !b.len().is_multiple_of(w) {
            return None;
        }
        b.chunks_exact(w)
            .map(|e| match info.dtype {
                DType::I32 => Some(i64::from(i32::from_le_bytes(e.try_into().ok()?))),
                DType::I64 => Some(i64::from_le_bytes(e.try_into().ok()?)),
                DType::U32 => Some(i64::from(u32::from_le_bytes(e.try_into().ok()?))),
                _ => None,
            })
            .collect()
    }

    /// JAX's argmax/argmin: `reduce((x, iota) init: (±inf, 0))` with a compare-and-select body.
    fn arg_reduce(&mut self, op: &HloOp) -> Result<()> {
        let unsupported =
            || Error::Unsupported("variadic reduce (only argmax/argmin patterns)".into());
        let axes = attr_usizes(op, "dimensions")?;
        let [axis] = axes.as_slice() else {
            return Err(unsupported());
        };
        let block = op
            .regions
            .first()
            .and_then(|r| r.blocks.first())
            .ok_or_else(unsupported)?;
        let args: Vec<ValueId> = block.arguments.iter().map(|(v, _)| *v).collect();
        let first = block.ops.first().ok_or_else(unsupported)?;
        if args.len() != 4
            || first.name != "stablehlo.compare"
            || first.operands != [args[0], args[2]]
        {
            return Err(unsupported());
        }
        let max = match first.attr("comparison_direction") {
            Some(Attr::Enum(_, d)) if d == "GT" || d == "GE" => true,
            Some(Attr::Enum(_, d)) if d == "LT" || d == "LE" => false,
            _ => return Err(unsupported()),
        };
        // The index operand must count along the reduced axis.
        let idx_def = self.cur().defs.get(&op.operands[1]).cloned();
        let counts = matches!(idx_def, Some((ref n, dim)) if n == "stablehlo.iota" && dim == *axis);
        if !counts {
            return Err(unsupported());
        }
        let x = self.value(op.operands[0])?;
        let vals = self.result(op, 0)?;
        self.node(
            Op::Reduce {
                op: if max { ReduceOp::Max } else { ReduceOp::Min },
                axes: vec![*axis],
                keep_dims: false,
            },
            vec![Some(x)],
            vec![vals],
        );
        let idx = self.result(op, 1)?;
        self.node(Op::ArgReduce { max, axis: *axis }, vec![Some(x)], vec![idx]);
        Ok(())
    }

    fn reduce(&mut self, op: &HloOp) -> Result<()> {
        if op.operands.len() == 4 && op.results.len() == 2 {
            return self.arg_reduce(op);
        }
        if op.operands.len() != 2 {
            return Err(Error::Unsupported("variadic reduce".into()));
        }
        let body =
            op.regions.first().and_then(Self::reducer).ok_or_else(|| {
                Error::Unsupported("reduce body is not a single binary op".into())
            })?;
        let (d, _) = Self::result_type(op, 0)?;
        let (rop, combine) = reduce_kind(body, d == DType::Bool)?;
        let mut axes = attr_usizes(op, "dimensions")?;
        axes.sort_unstable();
        axes.dedup();
        let x = self.value(op.operands[0])?;
        let init = self.value(op.operands[1])?;
        let (_, out) = Self::result_type(op, 0)?;
        let r = self.new_activation(d, &out);
        self.node(
            Op::Reduce {
                op: rop,
                axes,
                keep_dims: false,
            },
            vec![Some(x)],
            vec![r],
        );
        // Fold the init value in: op(reduced, init) (a no-op for the identity element).
        let o = self.result(op, 0)?;
        self.node(
            Op::Binary {
                op: combine,
                activation: Activation::None,
            },
            vec![Some(r), Some(init)],
            vec![o],
        );
        Ok(())
    }

    fn reduce_window(&mut self, op: &HloOp) -> Result<()> {
        if op.operands.len() != 2 || op.results.len() != 1 {
            return Err(Error::Unsupported("variadic reduce_window".into()));
        }
        let body = op.regions.first().and_then(Self::reducer).ok_or_else(|| {
            Error::Unsupported("reduce_window body is not a single binary op".into())
        })?;
        let x = self.value(op.operands[0])?;
        let init = self.value(op.operands[1])?;
        let (d, s) = self.info(x);
        let (rop, _) = reduce_kind(body, d == DType::Bool)?;
        let rank = s.len();
        let sizes = to_usizes(&attr_ints(op, "window_dimensions")?, "window size")?;
        let strides = window_attr(op, "window_strides", rank, 1)?;
        let base = window_attr(op, "base_dilations", rank, 1)?;
        let dil = window_attr(op, "window_dilations", rank, 1)?;
        let pad = window_attr(op, "padding", 2 * rank, 0)?;
        if sizes.len() != rank {
            return Err(Error::Invalid(
                "reduce_window window does not match the rank".into(),
            ));
        }
        let window = (0..rank)
            .map(|i| {
                window_dim(
                    sizes[i],
                    strides[i],
                    pad[2 * i],
                    pad[2 * i + 1],
                    base[i],
                    dil[i],
                    0,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(()) = self.pool_fast_path(op, x, init, rop, &window)? {
            return Ok(());
        }
        let o = self.result(op, 0)?;
        if matches!(d, DType::F16 | DType::BF16) {
            // Reduced in f32, rounded once at the end.
            let (xf, initf) = (
                self.cast_to(x, DType::F32)?,
                self.cast_to(init, DType::F32)?,
            );
            let (_, out) = self.info(o);
            let t = self.new_activation(DType::F32, &out);
            self.node(
                Op::ReduceWindow { op: rop, window },
                vec![Some(xf), Some(initf)],
                vec![t],
            );
            self.node(Op::Cast, vec![Some(t)], vec![o]);
            return Ok(());
        }
        self.node(
            Op::ReduceWindow { op: rop, window },
            vec![Some(x), Some(init)],
            vec![o],
        );
        Ok(())
    }

    /// `reduce_window`s the IR has a dedicated kernel for: a cumulative sum along one axis and
    /// 2-D max / sum pooling over the middle dims of an f32 NHWC tensor. Only taken when the
    /// init value is the reduction's identity (padding then does not count).
    fn pool_fast_path(
        &mut self,
        op: &HloOp,
        x: TensorId,
        init: TensorId,
        rop: ReduceOp,
        w: &[WindowDim],
    ) -> Result<Option<()>> {
        let (d, s) = self.info(x);
        let rank = s.len();
        let plain = w.iter().all(|v| {
            v.base_dilation == 1
                && v.window_dilation == 1
                && v.pad_low >= 0
                && v.pad_high >= 0
                && v.size >= 1
        });
        let init_is = |this: &Self, want: f64| match d {
            DType::F32 => this
                .scalar_f32_const(init)
                .is_some_and(|v| f64::from(v) == want),
            DType::I32 | DType::I64 => this.const_int(init).is_some_and(|v| v as f64 == want),
            _ => false,
        };
        if !plain {
            return Ok(None);
        }
        // Cumulative sum along one axis: window n, padding (n-1, 0), stride 1.
        let big: Vec<usize> = (0..rank).filter(|&i| w[i].size != 1).collect();
        if rop == ReduceOp::Sum
            && big.len() == 1
            && w.iter().all(|v| v.stride == 1)
            && init_is(self, 0.0)
        {
            let a = big[0];
            let n = s[a];
            let pads_ok = (0..rank).all(|i| {
                let want_low = if i == a { n.saturating_sub(1) } else { 0 };
                w[i].pad_low == want_low as i64 && w[i].pad_high == 0
            });
            if w[a].size == n && pads_ok {
                self.simple_first(
                    op,
                    Op::Cumsum {
                        axis: a,
                        exclusive: false,
                        reverse: false,
                    },
                )?;
                return Ok(Some(()));
            }
        }
        let nhwc_pool = rank == 4
            && d == DType::F32
            && w[0].size == 1
            && w[3].size == 1
            && w[0].stride == 1
            && w[3].stride == 1
            && w[0].pad_low == 0
            && w[0].pad_high == 0
            && w[3].pad_low == 0
            && w[3].pad_high == 0;
        if !nhwc_pool {
            return Ok(None);
        }
        let u = |v: i64| v as usize; // non-negative: checked by `plain`
        let attrs = |kind| Pool2dAttrs {
            kind,
            filter_h: w[1].size,
            filter_w: w[2].size,
            stride_h: w[1].stride,
            stride_w: w[2].stride,
            padding: Padding2d {
                top: u(w[1].pad_low),
                bottom: u(w[1].pad_high),
                left: u(w[2].pad_low),
                right: u(w[2].pad_high),
            },
            activation: Activation::None,
        };
        let unpadded = w.iter().all(|v| v.pad_low == 0 && v.pad_high == 0);
        match rop {
            ReduceOp::Max if init_is(self, f64::NEG_INFINITY) => {
                self.simple_first(op, Op::Pool2d(attrs(PoolKind::Max)))?;
                Ok(Some(()))
            }
            ReduceOp::Sum if unpadded && init_is(self, 0.0) => {
                let (_, out) = Self::result_type(op, 0)?;
                let avg = self.new_activation(d, &out);
                self.node(
                    Op::Pool2d(attrs(PoolKind::Average)),
                    vec![Some(x)],
                    vec![avg],
                );
                let area = self.scalar_const_f32((w[1].size * w[2].size) as f32)?;
                let o = self.result(op, 0)?;
                self.node(
                    Op::Binary {
                        op: BinaryOp::Mul,
                        activation: Activation::None,
                    },
                    vec![Some(avg), Some(area)],
                    vec![o],
                );
                Ok(Some(()))
            }
            _ => Ok(None),
        }
    }

    /// The value of an f32 scalar constant, looking through the copies and broadcasts JAX
    /// puts between a constant and its use (`broadcast_in_dim %cst, dims = []`).
    fn scalar_f32_const(&self, t: TensorId) -> Option<f32> {
        let sub = &self.stack[self.stack.len() - 1].sub;
        let mut t = t;
        for _ in 0..8 {
            let info = &sub.tensors[t];
            if info.dtype != DType::F32 || info.shape.num_elements().ok()? != 1 {
                return None;
            }
            if let TensorKind::Constant(c) = info.kind {
                let b = self.graph.constant_bytes(c);
                return Some(f32::from_le_bytes(b.get(..4)?.try_into().ok()?));
            }
            let producer = sub.nodes.iter().rev().find(|n| n.outputs.contains(&t))?;
            match (&producer.op, producer.inputs.first()) {
                (Op::Identity | Op::Reshape | Op::BroadcastTo, Some(Some(i))) => t = *i,
                _ => return None,
            }
        }
        None
    }

    /// Like `simple` but only the first operand is an input.
    fn simple_first(&mut self, op: &HloOp, ir: Op) -> Result<()> {
        let x = self.value(op.operands[0])?;
        let out = self.result(op, 0)?;
        self.node(ir, vec![Some(x)], vec![out]);
        Ok(())
    }

    /// `x` converted to `d` (a Cast node unless it already is).
    fn cast_to(&mut self, x: TensorId, d: DType) -> Result<TensorId> {
        let (dx, s) = self.info(x);
        if dx == d {
            return Ok(x);
        }
        if !crate::ir::cast_supported(dx, d) {
            return Err(Error::Unsupported(format!("conversion {dx} -> {d}")));
        }
        let t = self.new_activation(d, &s);
        self.node(Op::Cast, vec![Some(x)], vec![t]);
        Ok(t)
    }

    /// `convolution` (and `dynamic_conv` with its constant `padding`): inputs and kernel are
    /// permuted into `[batch, spatial..., feature]` / `[out, spatial..., in]`; f32 convs with a
    /// constant kernel over 1 or 2 spatial dims take the GEMM path (`Conv2d`, lhs dilation and
    /// negative padding applied by a `Pad`/`Slice` first), everything else `ConvNd`.
    fn convolution(&mut self, op: &HloOp, padding: Option<Vec<i64>>) -> Result<()> {
        let Some(Attr::Conv(c)) = op.attr("dimension_numbers") else {
            return Err(Error::Malformed(
                "convolution without dimension numbers".into(),
            ));
        };
        let s = c.input_spatial_dimensions.len();
        if c.kernel_spatial_dimensions.len() != s || c.output_spatial_dimensions.len() != s {
            return Err(Error::Invalid(
                "convolution spatial dimension lists differ in length".into(),
            ));
        }
        let rank = s + 2;
        let x = self.value(op.operands[0])?;
        let w = self.value(op.operands[1])?;
        let (_, xs) = self.info(x);
        let (_, ws) = self.info(w);
        let (dy, ys) = Self::result_type(op, 0)?;
        if xs.len() != rank || ws.len() != rank || ys.len() != rank {
            return Err(Error::Invalid(
                "convolution operands do not match the dimension numbers".into(),
            ));
        }
        let strides = window_attr(op, "window_strides", s, 1)?;
        let pad = match padding {
            Some(p) if p.len() == 2 * s => p,
            Some(_) => return Err(Error::Invalid("dynamic_conv padding shape".into())),
            None => window_attr(op, "padding", 2 * s, 0)?,
        };
        let lhs_dil = window_attr(op, "lhs_dilation", s, 1)?;
        let rhs_dil = window_attr(op, "rhs_dilation", s, 1)?;
        let reversal = window_attr(op, "window_reversal", s, 0)?;
        let count = |name: &str| -> Result<usize> {
            let v = op.attr(name).and_then(Attr::as_int).unwrap_or(1);
            usize::try_from(v)
                .ok()
                .filter(|g| *g >= 1)
                .ok_or_else(|| Error::Invalid(format!("{name} {v}")))
        };
        let (fg, bg) = (count("feature_group_count")?, count("batch_group_count")?);
        let idx = |v: i64| usize::try_from(v).map_err(|_| Error::Invalid("conv dimension".into()));
        let layout = |batch: i64, spatial: &[i64], feature: i64| -> Result<Vec<usize>> {
            let mut v = vec![idx(batch)?];
            for &d in spatial {
                v.push(idx(d)?);
            }
            v.push(idx(feature)?);
            Ok(v)
        };
        let in_perm = layout(
            c.input_batch_dimension,
            &c.input_spatial_dimensions,
            c.input_feature_dimension,
        )?;
        let k_perm = layout(
            c.kernel_output_feature_dimension,
            &c.kernel_spatial_dimensions,
            c.kernel_input_feature_dimension,
        )?;
        let out_layout = layout(
            c.output_batch_dimension,
            &c.output_spatial_dimensions,
            c.output_feature_dimension,
        )?;
        let mut seen = vec![false; rank];
        if !out_layout
            .iter()
            .all(|&p| p < rank && !core::mem::replace(&mut seen[p], true))
        {
            return Err(Error::Invalid("conv output layout".into()));
        }
        let window = (0..s)
            .map(|d| {
                let size = i64::try_from(ws[k_perm[d + 1]])
                    .map_err(|_| Error::TooLarge("kernel".into()))?;
                window_dim(
                    size,
                    strides[d],
                    pad[2 * d],
                    pad[2 * d + 1],
                    lhs_dil[d],
                    rhs_dil[d],
                    reversal[d],
                )
            })
            .collect::<Result<Vec<_>>>()?;
        // Integers (i8 x i8 -> i32 included) compute in the result type; f16 / bf16 in f32.
        let compute = match dy {
            DType::F16 | DType::BF16 => DType::F32,
            d => d,
        };
        let x = self.cast_to(x, compute)?;
        let w = self.cast_to(w, compute)?;
        let x = self.permute(x, compute, &xs, &in_perm)?;
        let w = self.permute(w, compute, &ws, &k_perm)?;
        let canonical: Vec<usize> = out_layout.iter().map(|&i| ys[i]).collect();
        // out.dims[out_layout[k]] = canonical[k] → perm[out_layout[k]] = k.
        let mut perm = vec![0usize; rank];
        for (k, &p) in out_layout.iter().enumerate() {
            perm[p] = k;
        }
        let identity = perm.iter().enumerate().all(|(i, &p)| i == p);
        let t = if identity && compute == dy {
            self.result(op, 0)?
        } else {
            self.new_activation(compute, &canonical)
        };
        if !self.conv_gemm_path(x, w, &window, fg, bg, t)? {
            self.node(
                Op::ConvNd(ConvNdAttrs {
                    window,
                    feature_groups: fg,
                    batch_groups: bg,
                }),
                vec![Some(x), Some(w)],
                vec![t],
            );
        }
        let t = if identity {
            t
        } else {
            let o = if compute == dy {
                self.result(op, 0)?
            } else {
                let ns: Vec<usize> = perm.iter().map(|&p| canonical[p]).collect();
                self.new_activation(compute, &ns)
            };
            self.node(Op::Transpose { perm }, vec![Some(t)], vec![o]);
            o
        };
        if compute != dy {
            let o = self.result(op, 0)?;
            self.node(Op::Cast, vec![Some(t)], vec![o]);
        }
        Ok(())
    }

    /// Emits an f32 convolution with a constant kernel over 1 or 2 spatial dims as `Conv2d`
    /// (the packed GEMM), or `DepthwiseConv2d` when every group has one input channel, writing
    /// `out`; returns false (nothing emitted) for other convolutions.
    /// 1-D convs get a unit height; lhs dilation and negative padding become a `Pad` (interior)
    /// and a `Slice` of the input; window reversal flips the constant kernel.
    fn conv_gemm_path(
        &mut self,
        x: TensorId,
        w: TensorId,
        window: &[WindowDim],
        groups: usize,
        batch_groups: usize,
        out: TensorId,
    ) -> Result<bool> {
        let (d, xs) = self.info(x);
        let (_, ws) = self.info(w);
        let (_, ys) = self.info(out);
        let level = self.stack.len() - 1;
        let TensorKind::Constant(wc) = self.stack[level].sub.tensors[w].kind else {
            return Ok(false);
        };
        let s = window.len();
        let nonempty = xs.iter().chain(&ws).chain(&ys).all(|&v| v > 0);
        if d != DType::F32 || batch_groups != 1 || !(1..=2).contains(&s) || !nonempty {
            return Ok(false);
        }
        // The input as the GEMM path wants it: dilated and cropped up front.
        let reshaped = window
            .iter()
            .any(|v| v.base_dilation > 1 || v.pad_low < 0 || v.pad_high < 0);
        let (x, xs) = if reshaped {
            let mut interior = vec![0usize; s + 2];
            let mut low = vec![0i64; s + 2];
            let mut high = vec![0i64; s + 2];
            for (i, v) in window.iter().enumerate() {
                low[i + 1] = v.pad_low;
                high[i + 1] = v.pad_high;
                interior[i + 1] = v.base_dilation - 1;
            }
            let Some(padded) = self.pad_value_tensor(x, &low, &high, &interior, None, None)? else {
                return Ok(false);
            };
            let ps = self.info(padded).1;
            (padded, ps)
        } else {
            (x, xs)
        };
        let pads: Vec<(usize, usize)> = window
            .iter()
            .map(|v| {
                if reshaped {
                    (0, 0)
                } else {
                    (v.pad_low as usize, v.pad_high as usize)
                }
            })
            .collect();
        // Constant kernel flipped along reversed dims, then viewed as OHWI.
        let mut kernel = self.graph.constant_bytes(wc).to_vec();
        let reversed: Vec<usize> = (0..s)
            .filter(|&i| window[i].reverse)
            .map(|i| i + 1)
            .collect();
        if !reversed.is_empty() {
            kernel = reverse_bytes(&kernel, d.size(), &ws, &reversed)?;
        }
        let lift = |v: &[usize]| -> Vec<usize> {
            if s == 1 {
                vec![v[0], 1, v[1], v[2]]
            } else {
                v.to_vec()
            }
        };
        // One input channel per group: the depthwise kernel, filter `[1, kh, kw, out_c]`.
        let depthwise = groups > 1 && groups == xs[s + 1] && ws[s + 1] == 1;
        let w4 = if depthwise {
            let ohwi = lift(&ws);
            let filter = transpose_bytes(&kernel, d.size(), &ohwi, &[3, 1, 2, 0])?;
            self.constant(d, &[1, ohwi[1], ohwi[2], ohwi[0]], &filter)?
        } else {
            self.constant(d, &lift(&ws), &kernel)?
        };
        let x4 = if s == 1 {
            let t = self.new_activation(d, &lift(&xs));
            self.node(Op::Reshape, vec![Some(x)], vec![t]);
            t
        } else {
            x
        };
        let (hw, hp) = if s == 1 {
            (WindowDim::plain(1, 1), (0, 0))
        } else {
            (window[0], pads[0])
        };
        let (ww, wp) = (window[s - 1], pads[s - 1]);
        let attrs = Conv2dAttrs {
            stride_h: hw.stride,
            stride_w: ww.stride,
            dilation_h: hw.window_dilation,
            dilation_w: ww.window_dilation,
            padding: Padding2d {
                top: hp.0,
                bottom: hp.1,
                left: wp.0,
                right: wp.1,
            },
            groups,
            activation: Activation::None,
        };
        let o4 = if s == 1 {
            self.new_activation(d, &lift(&ys))
        } else {
            out
        };
        let op = if depthwise {
            Op::DepthwiseConv2d(DepthwiseAttrs {
                stride_h: attrs.stride_h,
                stride_w: attrs.stride_w,
                dilation_h: attrs.dilation_h,
                dilation_w: attrs.dilation_w,
                padding: attrs.padding,
                depth_multiplier: ws[0] / groups,
                activation: Activation::None,
            })
        } else {
            Op::Conv2d(attrs)
        };
        self.node(op, vec![Some(x4), Some(w4), None], vec![o4]);
        if s == 1 {
            self.node(Op::Reshape, vec![Some(o4)], vec![out]);
        }
        Ok(true)
    }

    /// `x` padded by `low` / `high` (negative crops) and `interior` per dim with the scalar
    /// `value` (0 when `None`), written to `out` (a new tensor when `None`). `None` when the
    /// padded tensor before cropping would exceed [`MAX_PAD_ELEMENTS`] (callers with another
    /// way out take it).
    fn pad_value_tensor(
        &mut self,
        x: TensorId,
        low: &[i64],
        high: &[i64],
        interior: &[usize],
        value: Option<TensorId>,
        out: Option<TensorId>,
    ) -> Result<Option<TensorId>> {
        let (d, s) = self.info(x);
        let rank = s.len();
        if low.len() != rank || high.len() != rank || interior.len() != rank {
            return Err(Error::Invalid("padding does not match the rank".into()));
        }
        let pos = |v: i64| usize::try_from(v.max(0)).map_err(|_| Error::TooLarge("padding".into()));
        let mut before = Vec::new();
        let mut after = Vec::new();
        let mut padded = Vec::new();
        for i in 0..rank {
            before.push(pos(low[i])?);
            after.push(pos(high[i])?);
            let n = s[i]
                .checked_sub(1)
                .map_or(Some(0), |g| g.checked_mul(interior[i]))
                .and_then(|v| v.checked_add(s[i]))
                .and_then(|v| v.checked_add(before[i]))
                .and_then(|v| v.checked_add(after[i]))
                .ok_or_else(|| Error::TooLarge("padded dimension".into()))?;
            padded.push(n);
        }
        if Shape::new(&padded).num_elements()? > MAX_PAD_ELEMENTS {
            return Ok(None);
        }
        let value = match value {
            Some(v) => v,
            None => self.constant(d, &[], &vec![0u8; d.size()])?,
        };
        let crops = low.iter().chain(high).any(|v| *v < 0);
        let p = match out {
            Some(o) if !crops => o,
            _ => self.new_activation(d, &padded),
        };
        self.node(
            Op::Pad {
                before,
                after,
                interior: interior.to_vec(),
                mode: PadMode::Constant,
            },
            vec![Some(x), Some(value)],
            vec![p],
        );
        if !crops {
            return Ok(Some(p));
        }
        let mut begin = Vec::new();
        let mut shape = Vec::new();
        for i in 0..rank {
            let crop_low = usize::try_from(low[i].min(0).unsigned_abs())
                .map_err(|_| Error::TooLarge("padding".into()))?;
            let crop_high = usize::try_from(high[i].min(0).unsigned_abs())
                .map_err(|_| Error::TooLarge("padding".into()))?;
            let n = padded[i]
                .checked_sub(crop_low)
                .and_then(|v| v.checked_sub(crop_high))
                .ok_or_else(|| {
                    Error::Invalid("negative padding removes more than the dimension".into())
                })?;
            begin.push(crop_low);
            shape.push(n);
        }
        let t = match out {
            Some(o) => o,
            None => self.new_activation(d, &shape),
        };
        self.node(
            Op::Slice {
                begin,
                stride: vec![1; rank],
                slice_shape: shape,
            },
            vec![Some(p)],
            vec![t],
        );
        Ok(Some(t))
    }

    /// `pad` / `dynamic_pad`: edge padding (negative crops) and interior padding.
    fn pad(&mut self, op: &HloOp, low: &[i64], high: &[i64], interior: &[i64]) -> Result<()> {
        let x = self.value(op.operands[0])?;
        let v = self.value(op.operands[1])?;
        let interior = to_usizes(interior, "interior padding")?;
        let o = self.result(op, 0)?;
        self.pad_value_tensor(x, low, high, &interior, Some(v), Some(o))?
            .ok_or_else(|| Error::TooLarge("padded tensor".into()))?;
        Ok(())
    }

    /// `select_and_scatter` whose select body is one comparison of its two arguments and whose
    /// scatter body is one reducer op.
    fn select_and_scatter(&mut self, op: &HloOp) -> Result<()> {
        let [select, scatter] = op.regions.as_slice() else {
            return Err(Error::Malformed(
                "select_and_scatter needs select and scatter regions".into(),
            ));
        };
        let unsupported = || Error::Unsupported("select body is not one comparison".into());
        let block = select.blocks.first().ok_or_else(unsupported)?;
        let [cmp, ret] = block.ops.as_slice() else {
            return Err(unsupported());
        };
        let args: Vec<ValueId> = block.arguments.iter().map(|(v, _)| *v).collect();
        let dir = match cmp.attr("comparison_direction") {
            Some(Attr::Enum(_, d)) if cmp.name == "stablehlo.compare" => d.as_str(),
            _ => return Err(unsupported()),
        };
        if args.len() != 2 || ret.operands.as_slice() != cmp.results.as_slice() {
            return Err(unsupported());
        }
        // select(kept, candidate): written as compare(a, b) or with the arguments swapped.
        let swapped = if cmp.operands == [args[0], args[1]] {
            false
        } else if cmp.operands == [args[1], args[0]] {
            true
        } else {
            return Err(unsupported());
        };
        let select = match (dir, swapped) {
            ("GE", false) | ("LE", true) => CompareOp::GreaterEqual,
            ("GT", false) | ("LT", true) => CompareOp::Greater,
            ("LE", false) | ("GE", true) => CompareOp::LessEqual,
            ("LT", false) | ("GT", true) => CompareOp::Less,
            _ => return Err(unsupported()),
        };
        let body = Self::reducer(scatter)
            .ok_or_else(|| Error::Unsupported("scatter body is not a single binary op".into()))?;
        let x = self.value(op.operands[0])?;
        let (d, s) = self.info(x);
        let (scatter, _) = reduce_kind(body, d == DType::Bool)?;
        let rank = s.len();
        let sizes = to_usizes(&attr_ints(op, "window_dimensions")?, "window size")?;
        let strides = window_attr(op, "window_strides", rank, 1)?;
        let pad = window_attr(op, "padding", 2 * rank, 0)?;
        if sizes.len() != rank {
            return Err(Error::Invalid(
                "select_and_scatter window does not match the rank".into(),
            ));
        }
        let window = (0..rank)
            .map(|i| window_dim(sizes[i], strides[i], pad[2 * i], pad[2 * i + 1], 1, 1, 0))
            .collect::<Result<Vec<_>>>()?;
        self.simple(
            op,
            Op::SelectAndScatter {
                select,
                scatter,
                window,
            },
        )
    }

    /// `triangular_solve` on f32.
    fn triangular_solve(&mut self, op: &HloOp) -> Result<()> {
        let flag = |name: &str| -> Result<bool> {
            match op.attr(name) {
                None => Ok(false),
                Some(a) => a
                    .as_int()
                    .map(|v| v != 0)
                    .ok_or_else(|| Error::Malformed(format!("triangular_solve {name}"))),
            }
        };
        let transpose_a = match op.attr("transpose_a") {
            None => false,
            Some(Attr::Enum(_, v)) if v == "NO_TRANSPOSE" => false,
            // Real matrices: the adjoint is the transpose.
            Some(Attr::Enum(_, v)) if v == "TRANSPOSE" || v == "ADJOINT" => true,
            Some(other) => {
                return Err(Error::Malformed(format!(
                    "triangular_solve transpose_a {other:?}"
                )))
            }
        };
        let (d, _) = Self::result_type(op, 0)?;
        if d != DType::F32 {
            return Err(Error::Unsupported(format!("triangular_solve on {d}")));
        }
        self.simple(
            op,
            Op::TriangularSolve {
                left_side: flag("left_side")?,
                lower: flag("lower")?,
                unit_diagonal: flag("unit_diagonal")?,
                transpose_a,
            },
        )
    }

    /// Transpose `x` so that new dim i is old dim `perm[i]` (no-op for the identity).
    fn permute(&mut self, x: TensorId, d: DType, s: &[usize], perm: &[usize]) -> Result<TensorId> {
        let mut seen = vec![false; s.len()];
        let is_permutation = perm.len() == s.len()
            && perm
                .iter()
                .all(|&p| p < s.len() && !core::mem::replace(&mut seen[p], true));
        if !is_permutation {
            return Err(Error::Invalid(format!(
                "layout {perm:?} is not a permutation of {} dims",
                s.len()
            )));
        }
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(x);
        }
        let ns: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
        // Constants (weights) are transposed now: kernels want constant filters.
        let level = self.stack.len() - 1;
        if let TensorKind::Constant(c) = self.stack[level].sub.tensors[x].kind {
            let src = self.graph.constant_bytes(c).to_vec();
            let data = transpose_bytes(&src, d.size(), s, perm)?;
            return self.constant(d, &ns, &data);
        }
        let t = self.new_activation(d, &ns);
        self.node(
            Op::Transpose {
                perm: perm.to_vec(),
            },
            vec![Some(x)],
            vec![t],
        );
        Ok(t)
    }

    /// Lower a region into a new subgraph with `args` as its first inputs. Returns the subgraph
    /// and the captured outer values (appended inputs).
    fn region(&mut self, region: &'m Region, name: &str) -> Result<(SubgraphId, Vec<ValueId>)> {
        if self.stack.len() > MAX_NESTING {
            return Err(Error::Unsupported("regions nested too deeply".into()));
        }
        let block = match region.blocks.as_slice() {
            [b] => b,
            _ => return Err(Error::Unsupported("region with several blocks".into())),
        };
        self.stack.push(Sg {
            sub: Subgraph {
                name: name.to_string(),
                ..Subgraph::default()
            },
            values: BTreeMap::new(),
            defs: BTreeMap::new(),
            captures: Vec::new(),
            can_capture: true,
        });
        let r = (|| -> Result<()> {
            for (v, ty) in &block.arguments {
                let (d, s) = tensor_type(ty)?;
                let level = self.stack.len() - 1;
                let t =
                    self.add_tensor(level, d, &s, TensorKind::Activation, format!("{name}.arg"));
                self.cur().sub.inputs.push(t);
                self.define(*v, t);
            }
            let outs = self.ops(&block.ops, false)?;
            let outs = self.fix_outputs(outs)?;
            self.cur().sub.outputs = outs;
            Ok(())
        })();
        let sg = self.stack.pop().expect("pushed above");
        r?;
        // Captured inputs were appended as they were found, after the block arguments.
        self.graph.subgraphs.push(sg.sub);
        Ok((self.graph.subgraphs.len() - 1, sg.captures))
    }

    /// Give subgraph `id` (with `own` captures appended to its inputs) the capture list `all`.
    fn align_captures(
        &mut self,
        id: SubgraphId,
        nargs: usize,
        own: &[ValueId],
        all: &[ValueId],
    ) -> Result<()> {
        let level = self.stack.len() - 1;
        let mut new_inputs: Vec<TensorId> = self.graph.subgraphs[id].inputs[..nargs].to_vec();
        for v in all {
            if let Some(p) = own.iter().position(|o| o == v) {
                new_inputs.push(self.graph.subgraphs[id].inputs[nargs + p]);
            } else {
                let outer = self.value_at(level, *v)?;
                let info = self.stack[level].sub.tensors[outer].clone();
                let sub = &mut self.graph.subgraphs[id];
                sub.tensors.push(TensorInfo {
                    name: format!("capture{v}"),
                    dtype: info.dtype,
                    shape: info.shape.clone(),
                    quant: None,
                    kind: TensorKind::Activation,
                });
                new_inputs.push(sub.tensors.len() - 1);
            }
        }
        self.graph.subgraphs[id].inputs = new_inputs;
        Ok(())
    }

    fn while_(&mut self, op: &'m HloOp) -> Result<()> {
        let [cond, body] = op.regions.as_slice() else {
            return Err(Error::Malformed("while needs cond and body".into()));
        };
        let n = op.operands.len();
        let (cid, ccap) = self.region(cond, "while.cond")?;
        let (bid, bcap) = self.region(body, "while.body")?;
        let mut all = ccap.clone();
        for v in &bcap {
            if !all.contains(v) {
                all.push(*v);
            }
        }
        self.align_captures(cid, n, &ccap, &all)?;
        self.align_captures(bid, n, &bcap, &all)?;
        // The body passes captured values through unchanged.
        for k in 0..all.len() {
            let sub = &mut self.graph.subgraphs[bid];
            let input = sub.inputs[n + k];
            let info = sub.tensors[input].clone();
            sub.tensors.push(TensorInfo {
                name: format!("{}.pass", info.name),
                ..info
            });
            let out = sub.tensors.len() - 1;
            sub.nodes.push(Node {
                op: Op::Identity,
                inputs: vec![Some(input)],
                outputs: vec![out],
            });
            sub.outputs.push(out);
        }
        let mut ins = self.operands(op)?;
        for v in &all {
            ins.push(self.value(*v)?);
        }
        let mut outs = Vec::new();
        for i in 0..n {
            outs.push(self.result(op, i)?);
        }
        for v in &all {
            let t = self.value(*v)?;
            let (d, s) = self.info(t);
            outs.push(self.new_activation(d, &s));
        }
        self.node(
            Op::While {
                cond: cid,
                body: bid,
            },
            ins.into_iter().map(Some).collect(),
            outs,
        );
        Ok(())
    }

    /// `if` → [`Op::If`]; `case` → a chain of them: index 0 → branch 0, 1 → branch 1, ...,
    /// anything else (out of range included) → the last branch.
    fn if_(&mut self, op: &'m HloOp) -> Result<()> {
        let n = op.regions.len();
        let valid = match op.name.as_str() {
            "stablehlo.if" => n == 2,
            _ => n >= 1,
        };
        if !valid {
            return Err(Error::Malformed(format!("{} with {n} regions", op.name)));
        }
        let mut outs = Vec::new();
        for i in 0..op.results.len() {
            outs.push(self.result(op, i)?);
        }
        self.branch_node(op, 0, outs)
    }

    /// Emit the `If` choosing between branch `k` and the rest of the chain, writing `outs`.
    fn branch_node(&mut self, op: &'m HloOp, k: usize, outs: Vec<TensorId>) -> Result<()> {
        let n = op.regions.len();
        if n == 1 {
            // A single-branch case always takes it: call it with a constant true condition.
            let cond = self.constant(DType::Bool, &[], &[1])?;
            let (tid, cap) = self.region(&op.regions[0], "case.only")?;
            let mut ins = vec![Some(cond)];
            for v in &cap {
                ins.push(Some(self.value(*v)?));
            }
            self.node(
                Op::If {
                    then_branch: tid,
                    else_branch: tid,
                },
                ins,
                outs,
            );
            return Ok(());
        }
        let cond = if op.name == "stablehlo.if" {
            self.value(op.operands[0])?
        } else {
            let idx = self.value(op.operands[0])?;
            let (d, _) = self.info(idx);
            let kb = match d {
                DType::I32 => (k as i32).to_le_bytes().to_vec(),
                DType::I64 => (k as i64).to_le_bytes().to_vec(),
                other => return Err(Error::Unsupported(format!("case index of {other}"))),
            };
            let kc = self.constant(d, &[], &kb)?;
            let c = self.new_activation(DType::Bool, &[]);
            self.node(
                Op::Compare(CompareOp::Equal),
                vec![Some(idx), Some(kc)],
                vec![c],
            );
            c
        };
        let (tid, tcap) = self.region(&op.regions[k], "if.then")?;
        let (eid, ecap) = if k + 2 >= n {
            self.region(&op.regions[n - 1], "if.else")?
        } else {
            self.chain_subgraph(op, k + 1)?
        };
        let mut all = tcap.clone();
        for v in &ecap {
            if !all.contains(v) {
                all.push(*v);
            }
        }
        self.align_captures(tid, 0, &tcap, &all)?;
        self.align_captures(eid, 0, &ecap, &all)?;
        let mut ins = vec![Some(cond)];
        for v in &all {
            ins.push(Some(self.value(*v)?));
        }
        self.node(
            Op::If {
                then_branch: tid,
                else_branch: eid,
            },
            ins,
            outs,
        );
        Ok(())
    }

    /// A subgraph holding the rest of a `case` chain from branch `k` on.
    fn chain_subgraph(&mut self, op: &'m HloOp, k: usize) -> Result<(SubgraphId, Vec<ValueId>)> {
        if self.stack.len() > MAX_NESTING {
            return Err(Error::Unsupported("case with too many branches".into()));
        }
        self.stack.push(Sg {
            sub: Subgraph {
                name: format!("case.{k}"),
                ..Subgraph::default()
            },
            values: BTreeMap::new(),
            defs: BTreeMap::new(),
            captures: Vec::new(),
            can_capture: true,
        });
        let r = (|| -> Result<()> {
            let mut outs = Vec::new();
            for i in 0..op.results.len() {
                let (d, s) = Self::result_type(op, i)?;
                outs.push(self.new_activation(d, &s));
            }
            self.branch_node(op, k, outs.clone())?;
            self.cur().sub.outputs = outs;
            Ok(())
        })();
        let sg = self.stack.pop().expect("pushed above");
        r?;
        self.graph.subgraphs.push(sg.sub);
        Ok((self.graph.subgraphs.len() - 1, sg.captures))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_and_runs_a_small_function() {
        let text = "func.func @main(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<2xf32> {\n\
            %0 = stablehlo.broadcast_in_dim %b, dims = [1] : (tensor<3xf32>) -> tensor<2x3xf32>\n\
            %1 = stablehlo.multiply %a, %0 : tensor<2x3xf32>\n\
            %c = stablehlo.constant dense<1.0> : tensor<f32>\n\
            %2 = stablehlo.reduce(%1 init: %c) applies stablehlo.add across dimensions = [1] : (tensor<2x3xf32>, tensor<f32>) -> tensor<2xf32>\n\
            return %2 : tensor<2xf32>\n}";
        let g = load(text.as_bytes()).unwrap();
        let mut m = crate::executor::Model::new(g).unwrap();
        let a: Vec<u8> = [1f32, 2., 3., 4., 5., 6.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b: Vec<u8> = [1f32, 10., 100.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        m.run(&[
            crate::ir::TensorData {
                dtype: DType::F32,
                shape: &[2, 3],
                bytes: &a,
            },
            crate::ir::TensorData {
                dtype: DType::F32,
                shape: &[3],
                bytes: &b,
            },
        ])
        .unwrap();
        let o = m.output(0).unwrap();
        let got: Vec<f32> = o
            .bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, vec![1. + 20. + 300. + 1., 4. + 50. + 600. + 1.]);
    }

    #[test]
    fn custom_call_checks_are_found() {
        let text = "func.func @t() {\n\
            %0 = stablehlo.constant dense<[1.0, 2.0]> : tensor<2xf32>\n\
            %1 = stablehlo.add %0, %0 : tensor<2xf32>\n\
            %2 = stablehlo.constant dense<[2.0, 4.0]> : tensor<2xf32>\n\
            stablehlo.custom_call @check.expect_eq(%1, %2) {has_side_effect = true} : (tensor<2xf32>, tensor<2xf32>) -> ()\n\
            check.expect_almost_eq_const %1, dense<[2.0, 4.00001]> : tensor<2xf32>\n\
            func.return\n}";
        let cases = conformance_cases(text).unwrap();
        assert_eq!(cases.len(), 1);
        let lowered = cases.into_iter().next().unwrap().lowered.unwrap();
        assert_eq!(lowered.checks.len(), 2);
        assert!(matches!(lowered.checks[0].kind, CheckKind::Eq));
        assert!(
            matches!(lowered.checks[1].kind, CheckKind::AlmostEqConst(DType::F32, _, _, t) if t == 1e-4)
        );
        let mut m = crate::executor::Model::new(lowered.graph).unwrap();
        m.run(&[]).unwrap();
        let (a, b) = (
            m.output(lowered.checks[0].outputs[0]).unwrap(),
            m.output(lowered.checks[0].outputs[1]).unwrap(),
        );
        assert_eq!(a.bytes, b.bytes);
    }

    /// Runs a no-argument function and returns its outputs' bytes.
    fn run_outputs(text: &str) -> Vec<Vec<u8>> {
        let mut m = crate::executor::Model::new(load(text.as_bytes()).unwrap()).unwrap();
        m.run(&[]).unwrap();
        (0..m.num_outputs())
            .map(|i| m.output(i).unwrap().bytes.to_vec())
            .collect()
    }

    // jax.jit(lambda x: lax.reduce(x, 0, lax.add, (0,))) on bf16 [1, 2^-8 x 8] gives 1 (each
    // step rounds to bf16); on u8 [200, 100, 7]: sum 51 (wraps), max 200.
    #[test]
    fn reductions_on_half_and_narrow_integer_types() {
        let text = "func.func @main() -> (tensor<bf16>, tensor<ui8>, tensor<ui8>) {\n\
            %x = stablehlo.constant dense<[1.0, 0.00390625, 0.00390625, 0.00390625, 0.00390625, 0.00390625, 0.00390625, 0.00390625, 0.00390625]> : tensor<9xbf16>\n\
            %z = stablehlo.constant dense<0.0> : tensor<bf16>\n\
            %s = stablehlo.reduce(%x init: %z) applies stablehlo.add across dimensions = [0] : (tensor<9xbf16>, tensor<bf16>) -> tensor<bf16>\n\
            %u = stablehlo.constant dense<[200, 100, 7]> : tensor<3xui8>\n\
            %uz = stablehlo.constant dense<0> : tensor<ui8>\n\
            %us = stablehlo.reduce(%u init: %uz) applies stablehlo.add across dimensions = [0] : (tensor<3xui8>, tensor<ui8>) -> tensor<ui8>\n\
            %um = stablehlo.reduce(%u init: %uz) applies stablehlo.maximum across dimensions = [0] : (tensor<3xui8>, tensor<ui8>) -> tensor<ui8>\n\
            return %s, %us, %um : tensor<bf16>, tensor<ui8>, tensor<ui8>\n}";
        let out = run_outputs(text);
        assert_eq!(out[0], half::bf16::from_f32(1.0).to_le_bytes());
        assert_eq!(out[1], [51]);
        assert_eq!(out[2], [200]);
    }

    // jax.jit casts of f32 [nan, inf, -inf, 1e10, -2.7, 300.5] (XLA: saturating, NaN -> 0):
    // int8 [0, 127, -128, 127, -2, 127]; uint16 [0, 65535, 0, 65535, 0, 300].
    #[test]
    fn float_to_integer_conversion_saturates() {
        let text = "func.func @main() -> (tensor<6xi8>, tensor<6xui16>) {\n\
            %x = stablehlo.constant dense<[0x7FC00000, 0x7F800000, 0xFF800000, 1.0e10, -2.7, 300.5]> : tensor<6xf32>\n\
            %a = stablehlo.convert %x : (tensor<6xf32>) -> tensor<6xi8>\n\
            %b = stablehlo.convert %x : (tensor<6xf32>) -> tensor<6xui16>\n\
            return %a, %b : tensor<6xi8>, tensor<6xui16>\n}";
        let out = run_outputs(text);
        let i8s: Vec<i8> = out[0].iter().map(|b| *b as i8).collect();
        assert_eq!(i8s, [0, 127, -128, 127, -2, 127]);
        let u16s: Vec<u16> = out[1]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(u16s, [0, 65535, 0, 65535, 0, 300]);
    }

    #[test]
    fn unknown_ops_are_named() {
        let text = "func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {\n  %0 = stablehlo.cholesky %a : tensor<2xf32>\n  return %0 : tensor<2xf32>\n}";
        match load(text.as_bytes()) {
            Err(Error::Unsupported(m)) => assert!(m.contains("stablehlo.cholesky"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

//! The typed AST shared by every StableHLO front-end (text, MLIR bytecode/VHLO).
//!
//! Ops are kept in MLIR's *generic* shape (name, operands, results, attributes, regions): the
//! text parser turns every pretty form into this shape with the attribute names and kinds of the
//! generic form, and the bytecode reader maps VHLO back onto it, so both give equal trees.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

/// An SSA value: numbered per function in order of definition (arguments first).
pub type ValueId = u32;

/// A parsed module: its functions and module attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    /// `module @name` (None for an anonymous or implicit module).
    pub name: Option<String>,
    /// Module attributes (`attributes {...}`), sorted by name.
    pub attributes: Vec<NamedAttr>,
    /// The `func.func` ops of the module, in order.
    pub functions: Vec<Function>,
}

impl Module {
    /// The function named `name`, if any.
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }
}

/// A `func.func`.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// Symbol name without `@`.
    pub name: String,
    /// `public` / `private` / `nested` when written.
    pub visibility: Option<String>,
    /// Arguments; argument i is value `i`.
    pub arguments: Vec<Argument>,
    /// Result types from the signature.
    pub result_types: Vec<Type>,
    /// Per-result attributes (`{jax.result_info = "..."}`), sorted by name.
    pub result_attrs: Vec<Vec<NamedAttr>>,
    /// Function attributes (`attributes {...}`), sorted by name.
    pub attributes: Vec<NamedAttr>,
    /// The body (one region; empty for declarations).
    pub body: Region,
    /// Number of values defined in the function (arguments, block arguments, op results).
    pub num_values: u32,
}

/// A function argument (`loc_name` is debug information and is not compared).
#[derive(Clone, Debug)]
pub struct Argument {
    /// Its type.
    pub ty: Type,
    /// Argument attributes, sorted by name.
    pub attrs: Vec<NamedAttr>,
    /// The name in a simple `loc("name")` (JAX writes pytree paths there); not compared.
    pub loc_name: Option<String>,
}

impl PartialEq for Argument {
    fn eq(&self, other: &Self) -> bool {
        self.ty == other.ty && self.attrs == other.attrs
    }
}

/// A region: a list of blocks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Region {
    /// Blocks; the first is the entry block.
    pub blocks: Vec<Block>,
}

/// A basic block with its arguments and operations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Block {
    /// Block arguments (value, type).
    pub arguments: Vec<(ValueId, Type)>,
    /// Operations in order.
    pub ops: Vec<Op>,
}

/// One operation in generic form.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// Full name, e.g. `stablehlo.add`, `func.return`, `check.expect_eq_const`.
    pub name: String,
    /// Operand values.
    pub operands: Vec<ValueId>,
    /// Result values.
    pub results: Vec<ValueId>,
    /// Result types (same length as `results`).
    pub result_types: Vec<Type>,
    /// Attributes (properties and discardable attributes merged), sorted by name.
    pub attributes: Vec<NamedAttr>,
    /// Nested regions.
    pub regions: Vec<Region>,
    /// Source position (line, column) or byte offset (0, offset) for error messages; not compared.
    pub position: Position,
}

impl Op {
    /// The attribute named `name`.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| &a.value)
    }
}

/// Where something came from; equal to every other position so it never breaks AST equality.
#[derive(Clone, Copy, Debug, Default)]
pub struct Position {
    /// 1-based line for text, 0 for binary input.
    pub line: u32,
    /// 1-based column for text, byte offset for binary input.
    pub column: u32,
}

impl PartialEq for Position {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// `name = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedAttr {
    /// Attribute name.
    pub name: String,
    /// Its value.
    pub value: Attr,
}

/// A type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// A ranked tensor.
    Tensor(TensorType),
    /// A bare scalar element type (e.g. the `i64` in `1 : i64`).
    Scalar(ElementType),
    /// `tuple<...>`.
    Tuple(Vec<Type>),
    /// `!stablehlo.token`.
    Token,
    /// `index`.
    Index,
    /// A function type (inputs, results), seen in `function_type` attributes.
    Function(Vec<Type>, Vec<Type>),
    /// Anything else, kept as written (e.g. `tensor<*xf32>`).
    Opaque(String),
}

/// `tensor<d0 x d1 x ... x elem>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    /// Dimensions; `None` is a dynamic (`?`) dimension.
    pub shape: Vec<Option<u64>>,
    /// Element type.
    pub element: ElementType,
    /// Encoding attribute text (e.g. bounds), if any.
    pub encoding: Option<String>,
}

impl TensorType {
    /// Number of elements when every dimension is static (checked).
    pub fn num_elements(&self) -> Option<u64> {
        self.shape
            .iter()
            .try_fold(1u64, |acc, d| d.and_then(|d| acc.checked_mul(d)))
    }
}

/// Element types.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ElementType {
    /// Integer: `i1`..`i64` (signless, treated as signed), `ui2`..`ui64`, `si*`.
    Int {
        /// Bit width.
        bits: u16,
        /// False for `ui*`.
        signed: bool,
    },
    /// Floating point.
    Float(FloatKind),
    /// `complex<f32>` / `complex<f64>`.
    Complex(Box<ElementType>),
    /// `!quant.uniform<storage:expressed, ...>`: storage type and the text inside `<>`.
    Quant(Box<ElementType>, String),
    /// `index`.
    Index,
}

impl ElementType {
    /// `i1`.
    pub const BOOL: ElementType = ElementType::Int {
        bits: 1,
        signed: true,
    };

    /// Size in bytes of one element in our raw dense storage (sub-byte ints take one byte).
    pub fn storage_bytes(&self) -> usize {
        match self {
            ElementType::Int { bits, .. } => (usize::from(*bits)).div_ceil(8).max(1),
            ElementType::Float(k) => k.bytes(),
            ElementType::Complex(e) => 2 * e.storage_bytes(),
            ElementType::Quant(s, _) => s.storage_bytes(),
            ElementType::Index => 8,
        }
    }
}

/// Floating-point kinds MLIR knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum FloatKind {
    F16,
    BF16,
    F32,
    F64,
    TF32,
    F8E4M3FN,
    F8E5M2,
    F8E4M3FNUZ,
    F8E5M2FNUZ,
    F8E4M3B11FNUZ,
    F8E4M3,
    F8E3M4,
    F8E8M0FNU,
    F6E2M3FN,
    F6E3M2FN,
    F4E2M1FN,
}

impl FloatKind {
    /// Storage bytes per element.
    pub fn bytes(self) -> usize {
        match self {
            FloatKind::F16 | FloatKind::BF16 => 2,
            FloatKind::F32 | FloatKind::TF32 => 4,
            FloatKind::F64 => 8,
            _ => 1,
        }
    }

    /// The MLIR spelling.
    pub fn name(self) -> &'static str {
        FLOAT_NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("f32")
    }

    /// Parse an MLIR spelling.
    pub fn from_name(name: &str) -> Option<FloatKind> {
        FLOAT_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
    }
}

const FLOAT_NAMES: &[(&str, FloatKind)] = &[
    ("f16", FloatKind::F16),
    ("bf16", FloatKind::BF16),
    ("f32", FloatKind::F32),
    ("f64", FloatKind::F64),
    ("tf32", FloatKind::TF32),
    ("f8E4M3FN", FloatKind::F8E4M3FN),
    ("f8E5M2", FloatKind::F8E5M2),
    ("f8E4M3FNUZ", FloatKind::F8E4M3FNUZ),
    ("f8E5M2FNUZ", FloatKind::F8E5M2FNUZ),
    ("f8E4M3B11FNUZ", FloatKind::F8E4M3B11FNUZ),
    ("f8E4M3", FloatKind::F8E4M3),
    ("f8E3M4", FloatKind::F8E3M4),
    ("f8E8M0FNU", FloatKind::F8E8M0FNU),
    ("f6E2M3FN", FloatKind::F6E2M3FN),
    ("f6E3M2FN", FloatKind::F6E3M2FN),
    ("f4E2M1FN", FloatKind::F4E2M1FN),
];

/// Attribute values.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// A unit attribute (`{foo}`).
    Unit,
    /// `true` / `false`.
    Bool(bool),
    /// An integer with its type (`1 : i64`; untyped literals get i64).
    Int(i128, ElementType),
    /// A float with its type (untyped literals get f64).
    Float(f64, ElementType),
    /// A string.
    String(String),
    /// A type used as an attribute.
    Type(Type),
    /// `@sym` (nested references joined with `::`).
    Symbol(String),
    /// `[a, b, ...]`.
    Array(Vec<Attr>),
    /// `{k = v, ...}`, sorted by name.
    Dict(Vec<NamedAttr>),
    /// `array<i64: ...>` and friends.
    DenseArray(ElementType, ArrayValues),
    /// `dense<...> : tensor<...>`.
    Elements(DenseElements),
    /// `#stablehlo<comparison_direction EQ>` and the other stablehlo enums: (kind, value).
    Enum(String, String),
    /// `#stablehlo.conv<...>`.
    Conv(ConvDimensions),
    /// `#stablehlo.dot<...>`.
    Dot(DotDimensions),
    /// `#stablehlo.gather<...>`.
    Gather(GatherDimensions),
    /// `#stablehlo.scatter<...>`.
    Scatter(ScatterDimensions),
    /// Any other `#dialect.name<key = value, ...>` with parsed parameters.
    Dialect(String, Vec<NamedAttr>),
    /// Kept as written (unknown syntax we do not interpret).
    Opaque(String),
}

impl Attr {
    /// The integer value of an `Int` (or `Bool`) attribute.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Attr::Int(v, _) => Some(*v),
            Attr::Bool(b) => Some(i128::from(*b)),
            _ => None,
        }
    }

    /// Integers of a dense array or an array of integers.
    pub fn as_i64s(&self) -> Option<Vec<i64>> {
        match self {
            Attr::DenseArray(_, ArrayValues::Int(v)) => Some(v.clone()),
            Attr::Array(items) => items
                .iter()
                .map(|a| a.as_int().and_then(|v| i64::try_from(v).ok()))
                .collect(),
            Attr::Elements(e) => e.to_i64s(),
            _ => None,
        }
    }
}

/// Values of an `array<T: ...>`.
#[derive(Clone, Debug, PartialEq)]
pub enum ArrayValues {
    /// Integer or boolean elements.
    Int(Vec<i64>),
    /// Floating-point elements.
    Float(Vec<f64>),
}

/// A dense elements attribute: the tensor type and raw little-endian element bytes.
///
/// Each element takes [`ElementType::storage_bytes`] bytes (i1 and sub-byte integers one byte,
/// sign- or zero-extended). A splat holds exactly one element; a non-splat whose elements are all
/// equal is stored as a splat (as MLIR does), so equal constants compare equal.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseElements {
    /// The attribute's type.
    pub ty: TensorType,
    /// True if `data` holds one element standing for all.
    pub splat: bool,
    /// Raw little-endian data.
    pub data: Vec<u8>,
}

impl DenseElements {
    /// Build from element bytes, canonicalising all-equal data to a splat.
    pub fn new(ty: TensorType, splat: bool, data: Vec<u8>) -> DenseElements {
        let width = ty.element.storage_bytes();
        let splat = splat || ty.num_elements() == Some(1);
        if !splat && width > 0 && data.len() > width {
            let first = &data[..width];
            if data.chunks_exact(width).all(|c| c == first) {
                let one = first.to_vec();
                return DenseElements {
                    ty,
                    splat: true,
                    data: one,
                };
            }
        }
        DenseElements { ty, splat, data }
    }

    /// Element `i` of the (logical) tensor as raw bytes.
    pub fn element_bytes(&self, i: usize) -> Option<&[u8]> {
        let w = self.ty.element.storage_bytes();
        let i = if self.splat { 0 } else { i };
        let start = i.checked_mul(w)?;
        self.data.get(start..start.checked_add(w)?)
    }

    /// Integer elements as i64 (for index-like constants); None for non-integer types.
    pub fn to_i64s(&self) -> Option<Vec<i64>> {
        let ElementType::Int { bits, signed } = self.ty.element else {
            return None;
        };
        let n = usize::try_from(self.ty.num_elements()?).ok()?;
        if n > (1 << 24) {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let b = self.element_bytes(i)?;
            let mut raw = [0u8; 8];
            raw[..b.len()].copy_from_slice(b);
            let v = u64::from_le_bytes(raw);
            let width = (b.len() * 8) as u32;
            let v = if signed && bits > 1 && width < 64 {
                let shift = 64 - width;
                ((v << shift) as i64) >> shift
            } else {
                v as i64
            };
            out.push(v);
        }
        Some(out)
    }
}

/// `#stablehlo.conv<...>`: dimension numbers of a convolution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ConvDimensions {
    pub input_batch_dimension: i64,
    pub input_feature_dimension: i64,
    pub input_spatial_dimensions: Vec<i64>,
    pub kernel_input_feature_dimension: i64,
    pub kernel_output_feature_dimension: i64,
    pub kernel_spatial_dimensions: Vec<i64>,
    pub output_batch_dimension: i64,
    pub output_feature_dimension: i64,
    pub output_spatial_dimensions: Vec<i64>,
}

/// `#stablehlo.dot<...>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct DotDimensions {
    pub lhs_batching_dimensions: Vec<i64>,
    pub rhs_batching_dimensions: Vec<i64>,
    pub lhs_contracting_dimensions: Vec<i64>,
    pub rhs_contracting_dimensions: Vec<i64>,
}

/// `#stablehlo.gather<...>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct GatherDimensions {
    pub offset_dims: Vec<i64>,
    pub collapsed_slice_dims: Vec<i64>,
    pub operand_batching_dims: Vec<i64>,
    pub start_indices_batching_dims: Vec<i64>,
    pub start_index_map: Vec<i64>,
    pub index_vector_dim: i64,
}

/// `#stablehlo.scatter<...>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ScatterDimensions {
    pub update_window_dims: Vec<i64>,
    pub inserted_window_dims: Vec<i64>,
    pub input_batching_dims: Vec<i64>,
    pub scatter_indices_batching_dims: Vec<i64>,
    pub scatter_dims_to_operand_dims: Vec<i64>,
    pub index_vector_dim: i64,
}

/// Sort attributes by name (stable), the canonical order used by every front-end.
pub fn sort_attrs(attrs: &mut [NamedAttr]) {
    attrs.sort_by(|a, b| a.name.cmp(&b.name));
}

//! Hand-written, verified accessors for the parts of the TFLite FlatBuffer schema the loader
//! reads (upstream `tensorflow/compiler/mlir/lite/schema/schema.fbs`, file identifier `TFL3`).
//!
//! Every table type implements `flatbuffers::Verifiable` listing the fields we read with the
//! schema's vtable slots and types; [`root`] runs the verifier over the whole buffer before any
//! accessor is used, so the accessors' unchecked reads are in bounds. Union members the loader
//! does not know are not verified and never read.

#![allow(missing_docs)]
// Accessors mirror the schema; not every field is read by the loader yet.
#![allow(dead_code)]

use flatbuffers::{
    Follow, ForwardsUOffset, InvalidFlatbuffer, Table, Vector, Verifiable, Verifier,
    VerifierOptions,
};

/// A vector of tables.
pub type TableVec<'a, T> = Vector<'a, ForwardsUOffset<T>>;

macro_rules! table {
    ($(#[$doc:meta])* $name:ident { $($fname:literal : $fty:ty = $slot:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name<'a> {
            tab: Table<'a>,
        }

        impl<'a> Follow<'a> for $name<'a> {
            type Inner = $name<'a>;
            unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
                // SAFETY: the caller guarantees `loc` is a verified table of this type.
                $name { tab: unsafe { Table::new(buf, loc) } }
            }
        }

        impl Verifiable for $name<'_> {
            fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
                v.visit_table(pos)?
                    $(.visit_field::<$fty>($fname, $slot, false)?)*
                    .finish();
                Ok(())
            }
        }

        impl<'a> $name<'a> {
            /// Reads field `slot` as `T` (verified as that type by [`root`]).
            #[inline]
            #[allow(dead_code)]
            fn get<T: Follow<'a> + 'a>(&self, slot: u16) -> Option<T::Inner> {
                // SAFETY: `root` verified this table and every field we read, at this slot,
                // as type `T` (the `table!` list and the accessors use the same types).
                unsafe { self.tab.get::<T>(slot, None) }
            }

            /// Reads scalar field `slot` or its default.
            #[inline]
            #[allow(dead_code)]
            fn scalar<T: Follow<'a, Inner = T> + Copy + 'a>(&self, slot: u16, default: T) -> T {
                // SAFETY: as in `get`; scalars were verified at this slot with this type.
                unsafe { self.tab.get::<T>(slot, Some(default)) }.unwrap_or(default)
            }
        }
    };
}

type Ints<'a> = ForwardsUOffset<Vector<'a, i32>>;
type Str<'a> = ForwardsUOffset<&'a str>;

table!(
    /// `table Model`.
    Model {
        "version": u32 = 4,
        "operator_codes": ForwardsUOffset<TableVec<'_, OperatorCode>> = 6,
        "subgraphs": ForwardsUOffset<TableVec<'_, SubGraph>> = 8,
        "description": Str<'_> = 10,
        "buffers": ForwardsUOffset<TableVec<'_, Buffer>> = 12,
    }
);

impl<'a> Model<'a> {
    pub fn version(&self) -> u32 {
        self.scalar(4, 0)
    }
    pub fn operator_codes(&self) -> Option<TableVec<'a, OperatorCode<'a>>> {
        self.get::<ForwardsUOffset<TableVec<'a, OperatorCode<'a>>>>(6)
    }
    pub fn subgraphs(&self) -> Option<TableVec<'a, SubGraph<'a>>> {
        self.get::<ForwardsUOffset<TableVec<'a, SubGraph<'a>>>>(8)
    }
    pub fn buffers(&self) -> Option<TableVec<'a, Buffer<'a>>> {
        self.get::<ForwardsUOffset<TableVec<'a, Buffer<'a>>>>(12)
    }
}

table!(
    /// `table OperatorCode`.
    OperatorCode {
        "deprecated_builtin_code": i8 = 4,
        "custom_code": Str<'_> = 6,
        "version": i32 = 8,
        "builtin_code": i32 = 10,
    }
);

impl<'a> OperatorCode<'a> {
    /// The effective builtin code: max(deprecated_builtin_code, builtin_code).
    pub fn code(&self) -> i32 {
        (self.scalar::<i8>(4, 0) as i32).max(self.scalar::<i32>(10, 0))
    }
    pub fn custom_code(&self) -> Option<&'a str> {
        self.get::<Str<'a>>(6)
    }
}

table!(
    /// `table SubGraph`.
    SubGraph {
        "tensors": ForwardsUOffset<TableVec<'_, Tensor>> = 4,
        "inputs": Ints<'_> = 6,
        "outputs": Ints<'_> = 8,
        "operators": ForwardsUOffset<TableVec<'_, Operator>> = 10,
        "name": Str<'_> = 12,
    }
);

impl<'a> SubGraph<'a> {
    pub fn tensors(&self) -> Option<TableVec<'a, Tensor<'a>>> {
        self.get::<ForwardsUOffset<TableVec<'a, Tensor<'a>>>>(4)
    }
    pub fn inputs(&self) -> Option<Vector<'a, i32>> {
        self.get::<Ints<'a>>(6)
    }
    pub fn outputs(&self) -> Option<Vector<'a, i32>> {
        self.get::<Ints<'a>>(8)
    }
    pub fn operators(&self) -> Option<TableVec<'a, Operator<'a>>> {
        self.get::<ForwardsUOffset<TableVec<'a, Operator<'a>>>>(10)
    }
    pub fn name(&self) -> Option<&'a str> {
        self.get::<Str<'a>>(12)
    }
}

table!(
    /// `table Buffer`: inline `data`, or `offset`/`size` into the file past the FlatBuffer.
    Buffer {
        "data": ForwardsUOffset<Vector<'_, u8>> = 4,
        "offset": u64 = 6,
        "size": u64 = 8,
    }
);

impl<'a> Buffer<'a> {
    pub fn data(&self) -> Option<Vector<'a, u8>> {
        self.get::<ForwardsUOffset<Vector<'a, u8>>>(4)
    }
    pub fn offset(&self) -> u64 {
        self.scalar(6, 0)
    }
    pub fn size(&self) -> u64 {
        self.scalar(8, 0)
    }
}

table!(
    /// `table Tensor`.
    Tensor {
        "shape": Ints<'_> = 4,
        "type": i8 = 6,
        "buffer": u32 = 8,
        "name": Str<'_> = 10,
        "quantization": ForwardsUOffset<QuantizationParameters> = 12,
        "is_variable": bool = 14,
        "sparsity": ForwardsUOffset<SparsityParameters> = 16,
        "shape_signature": Ints<'_> = 18,
        "has_rank": bool = 20,
    }
);

impl<'a> Tensor<'a> {
    pub fn shape(&self) -> Option<Vector<'a, i32>> {
        self.get::<Ints<'a>>(4)
    }
    pub fn type_(&self) -> i8 {
        self.scalar(6, 0)
    }
    pub fn buffer(&self) -> u32 {
        self.scalar(8, 0)
    }
    pub fn name(&self) -> Option<&'a str> {
        self.get::<Str<'a>>(10)
    }
    pub fn quantization(&self) -> Option<QuantizationParameters<'a>> {
        self.get::<ForwardsUOffset<QuantizationParameters<'a>>>(12)
    }
    pub fn is_variable(&self) -> bool {
        self.scalar(14, false)
    }
    pub fn sparsity(&self) -> Option<SparsityParameters<'a>> {
        self.get::<ForwardsUOffset<SparsityParameters<'a>>>(16)
    }
}

table!(
    /// `table QuantizationParameters` (the `details` union is not read).
    QuantizationParameters {
        "min": ForwardsUOffset<Vector<'_, f32>> = 4,
        "max": ForwardsUOffset<Vector<'_, f32>> = 6,
        "scale": ForwardsUOffset<Vector<'_, f32>> = 8,
        "zero_point": ForwardsUOffset<Vector<'_, i64>> = 10,
        "details_type": u8 = 12,
        "quantized_dimension": i32 = 16,
    }
);

impl<'a> QuantizationParameters<'a> {
    pub fn scale(&self) -> Option<Vector<'a, f32>> {
        self.get::<ForwardsUOffset<Vector<'a, f32>>>(8)
    }
    pub fn zero_point(&self) -> Option<Vector<'a, i64>> {
        self.get::<ForwardsUOffset<Vector<'a, i64>>>(10)
    }
    pub fn details_type(&self) -> u8 {
        self.scalar(12, 0)
    }
    pub fn quantized_dimension(&self) -> i32 {
        self.scalar(16, 0)
    }
}

table!(
    /// `table SparsityParameters`.
    SparsityParameters {
        "traversal_order": Ints<'_> = 4,
        "block_map": Ints<'_> = 6,
        "dim_metadata": ForwardsUOffset<TableVec<'_, DimensionMetadata>> = 8,
    }
);

impl<'a> SparsityParameters<'a> {
    pub fn traversal_order(&self) -> Option<Vector<'a, i32>> {
        self.get::<Ints<'a>>(4)
    }
    pub fn block_map(&self) -> Option<Vector<'a, i32>> {
        self.get::<Ints<'a>>(6)
    }
    pub fn dim_metadata(&self) -> Option<TableVec<'a, DimensionMetadata<'a>>> {
        self.get::<ForwardsUOffset<TableVec<'a, DimensionMetadata<'a>>>>(8)
    }
}

table!(Int32Vector { "values": Ints<'_> = 4 });
table!(Uint16Vector { "values": ForwardsUOffset<Vector<'_, u16>> = 4 });
table!(Uint8Vector { "values": ForwardsUOffset<Vector<'_, u8>> = 4 });

/// `table DimensionMetadata` (format, dense_size, and two `SparseIndexVector` unions).
#[derive(Clone, Copy)]
pub struct DimensionMetadata<'a> {
    tab: Table<'a>,
}

impl<'a> Follow<'a> for DimensionMetadata<'a> {
    type Inner = DimensionMetadata<'a>;
    unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
        // SAFETY: the caller guarantees `loc` is a verified DimensionMetadata table.
        DimensionMetadata {
            tab: unsafe { Table::new(buf, loc) },
        }
    }
}

fn verify_index_vector(kind: u8, v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
    match kind {
        1 => ForwardsUOffset::<Int32Vector>::run_verifier(v, pos),
        2 => ForwardsUOffset::<Uint16Vector>::run_verifier(v, pos),
        3 => ForwardsUOffset::<Uint8Vector>::run_verifier(v, pos),
        _ => Ok(()),
    }
}

impl Verifiable for DimensionMetadata<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<i8>("format", 4, false)?
            .visit_field::<i32>("dense_size", 6, false)?
            .visit_union::<u8, _>(
                "array_segments_type",
                8,
                "array_segments",
                10,
                false,
                verify_index_vector,
            )?
            .visit_union::<u8, _>(
                "array_indices_type",
                12,
                "array_indices",
                14,
                false,
                verify_index_vector,
            )?
            .finish();
        Ok(())
    }
}

/// A `SparseIndexVector` union value, widened.
pub enum IndexVector<'a> {
    I32(Vector<'a, i32>),
    U16(Vector<'a, u16>),
    U8(Vector<'a, u8>),
}

impl IndexVector<'_> {
    pub fn len(&self) -> usize {
        match self {
            IndexVector::I32(v) => v.len(),
            IndexVector::U16(v) => v.len(),
            IndexVector::U8(v) => v.len(),
        }
    }
    pub fn get(&self, i: usize) -> Option<i64> {
        if i >= self.len() {
            return None;
        }
        Some(match self {
            IndexVector::I32(v) => v.get(i) as i64,
            IndexVector::U16(v) => v.get(i) as i64,
            IndexVector::U8(v) => v.get(i) as i64,
        })
    }
}

impl<'a> DimensionMetadata<'a> {
    fn scalar<T: Follow<'a, Inner = T> + Copy + 'a>(&self, slot: u16, default: T) -> T {
        // SAFETY: verified by `root` at this slot with this type.
        unsafe { self.tab.get::<T>(slot, Some(default)) }.unwrap_or(default)
    }
    /// 0 = DENSE, 1 = SPARSE_CSR.
    pub fn format(&self) -> i8 {
        self.scalar(4, 0)
    }
    pub fn dense_size(&self) -> i32 {
        self.scalar(6, 0)
    }
    fn index_vector(&self, type_slot: u16, value_slot: u16) -> Option<IndexVector<'a>> {
        let kind: u8 = self.scalar(type_slot, 0);
        // SAFETY: the union value was verified as the table type its discriminant names.
        unsafe {
            match kind {
                1 => self
                    .tab
                    .get::<ForwardsUOffset<Int32Vector<'a>>>(value_slot, None)
                    .and_then(|t| t.get::<Ints<'a>>(4))
                    .map(IndexVector::I32),
                2 => self
                    .tab
                    .get::<ForwardsUOffset<Uint16Vector<'a>>>(value_slot, None)
                    .and_then(|t| t.get::<ForwardsUOffset<Vector<'a, u16>>>(4))
                    .map(IndexVector::U16),
                3 => self
                    .tab
                    .get::<ForwardsUOffset<Uint8Vector<'a>>>(value_slot, None)
                    .and_then(|t| t.get::<ForwardsUOffset<Vector<'a, u8>>>(4))
                    .map(IndexVector::U8),
                _ => None,
            }
        }
    }
    pub fn array_segments(&self) -> Option<IndexVector<'a>> {
        self.index_vector(8, 10)
    }
    pub fn array_indices(&self) -> Option<IndexVector<'a>> {
        self.index_vector(12, 14)
    }
}

/// `table Operator` with its `BuiltinOptions` / `BuiltinOptions2` unions.
#[derive(Clone, Copy)]
pub struct Operator<'a> {
    tab: Table<'a>,
}

impl<'a> Follow<'a> for Operator<'a> {
    type Inner = Operator<'a>;
    unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
        // SAFETY: the caller guarantees `loc` is a verified Operator table.
        Operator {
            tab: unsafe { Table::new(buf, loc) },
        }
    }
}

impl Verifiable for Operator<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<u32>("opcode_index", 4, false)?
            .visit_field::<Ints<'_>>("inputs", 6, false)?
            .visit_field::<Ints<'_>>("outputs", 8, false)?
            .visit_union::<u8, _>(
                "builtin_options_type",
                10,
                "builtin_options",
                12,
                false,
                verify_options,
            )?
            .visit_field::<ForwardsUOffset<Vector<'_, u8>>>("custom_options", 14, false)?
            .visit_field::<Ints<'_>>("intermediates", 20, false)?
            .visit_union::<u8, _>(
                "builtin_options_2_type",
                26,
                "builtin_options_2",
                28,
                false,
                |_, _, _| Ok(()),
            )?
            .finish();
        Ok(())
    }
}

impl<'a> Operator<'a> {
    fn scalar<T: Follow<'a, Inner = T> + Copy + 'a>(&self, slot: u16, default: T) -> T {
        // SAFETY: verified by `root` at this slot with this type.
        unsafe { self.tab.get::<T>(slot, Some(default)) }.unwrap_or(default)
    }
    pub fn opcode_index(&self) -> u32 {
        self.scalar(4, 0)
    }
    pub fn inputs(&self) -> Option<Vector<'a, i32>> {
        // SAFETY: verified by `root` as a vector of i32 at slot 6.
        unsafe { self.tab.get::<Ints<'a>>(6, None) }
    }
    pub fn outputs(&self) -> Option<Vector<'a, i32>> {
        // SAFETY: verified by `root` as a vector of i32 at slot 8.
        unsafe { self.tab.get::<Ints<'a>>(8, None) }
    }
    pub fn options_type(&self) -> u8 {
        self.scalar(10, 0)
    }
    /// The `builtin_options` table as `T`, if the discriminant names a table of type `T`.
    pub fn options<T: OptionsTable<'a>>(&self) -> Option<T> {
        if !T::KINDS.contains(&self.options_type()) {
            return None;
        }
        // SAFETY: `verify_options` verified the value as the table type its discriminant names,
        // and `T::KINDS` lists exactly the discriminants `verify_options` verifies as `T`.
        unsafe { self.tab.get::<ForwardsUOffset<T>>(12, None) }
    }
}

/// Builtin options kinds (the `BuiltinOptions` union discriminants) the loader reads.
pub mod kind {
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const SOFTMAX: u8 = 9;
    pub const CONCATENATION: u8 = 10;
    pub const ADD: u8 = 11;
    pub const RESIZE_BILINEAR: u8 = 15;
    pub const CALL: u8 = 16;
    pub const MUL: u8 = 21;
    pub const GATHER: u8 = 23;
    pub const REDUCER: u8 = 27;
    pub const SUB: u8 = 28;
    pub const DIV: u8 = 29;
    pub const STRIDED_SLICE: u8 = 32;
    #[allow(dead_code)]
    pub const SPLIT: u8 = 35;
    #[allow(dead_code)]
    pub const CAST: u8 = 37;
    #[allow(dead_code)]
    pub const SHAPE: u8 = 55;
    pub const PACK: u8 = 59;
    pub const UNPACK: u8 = 64;
    pub const RESIZE_NEAREST: u8 = 74;
    pub const LEAKY_RELU: u8 = 75;
    pub const MIRROR_PAD: u8 = 77;
    #[allow(dead_code)]
    pub const SPLIT_V: u8 = 79;
    pub const IF: u8 = 92;
    pub const WHILE: u8 = 93;
    pub const DEPTH_TO_SPACE: u8 = 94;
    pub const BATCH_MATMUL: u8 = 101;
    pub const CUMSUM: u8 = 102;
    pub const CALL_ONCE: u8 = 103;
    pub const VAR_HANDLE: u8 = 111;
    pub const GELU: u8 = 116;
    pub const SPACE_TO_DEPTH: u8 = 19;
}

/// An options table type and the union discriminants stored as it.
pub trait OptionsTable<'a>: Follow<'a, Inner = Self> + Verifiable + Sized + 'a {
    /// `BuiltinOptions` discriminants whose value is verified as this table.
    const KINDS: &'static [u8];
}

macro_rules! options_kinds {
    ($($t:ident => [$($k:ident),*];)*) => {
        $(impl<'a> OptionsTable<'a> for $t<'a> {
            const KINDS: &'static [u8] = &[$(kind::$k),*];
        })*
    };
}

options_kinds! {
    Conv2DOptions => [CONV_2D];
    DepthwiseConv2DOptions => [DEPTHWISE_CONV_2D];
    Pool2DOptions => [POOL_2D];
    FullyConnectedOptions => [FULLY_CONNECTED];
    SoftmaxOptions => [SOFTMAX];
    ConcatenationOptions => [CONCATENATION];
    ActivationOptions => [ADD, MUL, SUB, DIV];
    ResizeBilinearOptions => [RESIZE_BILINEAR];
    ResizeNearestOptions => [RESIZE_NEAREST];
    CallOptions => [CALL];
    LeakyReluOptions => [LEAKY_RELU];
    MirrorPadOptions => [MIRROR_PAD];
    BlockSizeOptions => [DEPTH_TO_SPACE, SPACE_TO_DEPTH];
    CallOnceOptions => [CALL_ONCE];
    GeluOptions => [GELU];
    GatherOptions => [GATHER];
    PackOptions => [PACK];
    UnpackOptions => [UNPACK];
    IfOptions => [IF];
    WhileOptions => [WHILE];
    BatchMatMulOptions => [BATCH_MATMUL];
    CumsumOptions => [CUMSUM];
    ReducerOptions => [REDUCER];
    StridedSliceOptions => [STRIDED_SLICE];
    VarHandleOptions => [VAR_HANDLE];
}

fn verify_options(k: u8, v: &mut Verifier, p: usize) -> Result<(), InvalidFlatbuffer> {
    use kind::*;
    match k {
        CONV_2D => ForwardsUOffset::<Conv2DOptions>::run_verifier(v, p),
        DEPTHWISE_CONV_2D => ForwardsUOffset::<DepthwiseConv2DOptions>::run_verifier(v, p),
        POOL_2D => ForwardsUOffset::<Pool2DOptions>::run_verifier(v, p),
        FULLY_CONNECTED => ForwardsUOffset::<FullyConnectedOptions>::run_verifier(v, p),
        SOFTMAX => ForwardsUOffset::<SoftmaxOptions>::run_verifier(v, p),
        CONCATENATION => ForwardsUOffset::<ConcatenationOptions>::run_verifier(v, p),
        ADD | MUL | SUB | DIV => ForwardsUOffset::<ActivationOptions>::run_verifier(v, p),
        RESIZE_BILINEAR => ForwardsUOffset::<ResizeBilinearOptions>::run_verifier(v, p),
        RESIZE_NEAREST => ForwardsUOffset::<ResizeNearestOptions>::run_verifier(v, p),
        CALL => ForwardsUOffset::<CallOptions>::run_verifier(v, p),
        LEAKY_RELU => ForwardsUOffset::<LeakyReluOptions>::run_verifier(v, p),
        MIRROR_PAD => ForwardsUOffset::<MirrorPadOptions>::run_verifier(v, p),
        DEPTH_TO_SPACE | SPACE_TO_DEPTH => ForwardsUOffset::<BlockSizeOptions>::run_verifier(v, p),
        CALL_ONCE => ForwardsUOffset::<CallOnceOptions>::run_verifier(v, p),
        GELU => ForwardsUOffset::<GeluOptions>::run_verifier(v, p),
        GATHER => ForwardsUOffset::<GatherOptions>::run_verifier(v, p),
        PACK => ForwardsUOffset::<PackOptions>::run_verifier(v, p),
        UNPACK => ForwardsUOffset::<UnpackOptions>::run_verifier(v, p),
        IF => ForwardsUOffset::<IfOptions>::run_verifier(v, p),
        WHILE => ForwardsUOffset::<WhileOptions>::run_verifier(v, p),
        BATCH_MATMUL => ForwardsUOffset::<BatchMatMulOptions>::run_verifier(v, p),
        CUMSUM => ForwardsUOffset::<CumsumOptions>::run_verifier(v, p),
        REDUCER => ForwardsUOffset::<ReducerOptions>::run_verifier(v, p),
        STRIDED_SLICE => ForwardsUOffset::<StridedSliceOptions>::run_verifier(v, p),
        VAR_HANDLE => ForwardsUOffset::<VarHandleOptions>::run_verifier(v, p),
        _ => Ok(()),
    }
}

table!(
    /// `Conv2DOptions`.
    Conv2DOptions {
        "padding": i8 = 4, "stride_w": i32 = 6, "stride_h": i32 = 8,
        "fused_activation_function": i8 = 10, "dilation_w_factor": i32 = 12, "dilation_h_factor": i32 = 14,
    }
);
impl Conv2DOptions<'_> {
    pub fn padding(&self) -> i8 {
        self.scalar(4, 0)
    }
    pub fn stride_w(&self) -> i32 {
        self.scalar(6, 0)
    }
    pub fn stride_h(&self) -> i32 {
        self.scalar(8, 0)
    }
    pub fn activation(&self) -> i8 {
        self.scalar(10, 0)
    }
    pub fn dilation_w(&self) -> i32 {
        self.scalar(12, 1)
    }
    pub fn dilation_h(&self) -> i32 {
        self.scalar(14, 1)
    }
}

table!(
    /// `DepthwiseConv2DOptions`.
    DepthwiseConv2DOptions {
        "padding": i8 = 4, "stride_w": i32 = 6, "stride_h": i32 = 8, "depth_multiplier": i32 = 10,
        "fused_activation_function": i8 = 12, "dilation_w_factor": i32 = 14, "dilation_h_factor": i32 = 16,
    }
);
impl DepthwiseConv2DOptions<'_> {
    pub fn padding(&self) -> i8 {
        self.scalar(4, 0)
    }
    pub fn stride_w(&self) -> i32 {
        self.scalar(6, 0)
    }
    pub fn stride_h(&self) -> i32 {
        self.scalar(8, 0)
    }
    pub fn depth_multiplier(&self) -> i32 {
        self.scalar(10, 0)
    }
    pub fn activation(&self) -> i8 {
        self.scalar(12, 0)
    }
    pub fn dilation_w(&self) -> i32 {
        self.scalar(14, 1)
    }
    pub fn dilation_h(&self) -> i32 {
        self.scalar(16, 1)
    }
}

table!(
    /// `Pool2DOptions`.
    Pool2DOptions {
        "padding": i8 = 4, "stride_w": i32 = 6, "stride_h": i32 = 8, "filter_width": i32 = 10,
        "filter_height": i32 = 12, "fused_activation_function": i8 = 14,
    }
);
impl Pool2DOptions<'_> {
    pub fn padding(&self) -> i8 {
        self.scalar(4, 0)
    }
    pub fn stride_w(&self) -> i32 {
        self.scalar(6, 0)
    }
    pub fn stride_h(&self) -> i32 {
        self.scalar(8, 0)
    }
    pub fn filter_w(&self) -> i32 {
        self.scalar(10, 0)
    }
    pub fn filter_h(&self) -> i32 {
        self.scalar(12, 0)
    }
    pub fn activation(&self) -> i8 {
        self.scalar(14, 0)
    }
}

table!(
    /// `FullyConnectedOptions`.
    FullyConnectedOptions {
        "fused_activation_function": i8 = 4, "weights_format": i8 = 6, "keep_num_dims": bool = 8,
        "asymmetric_quantize_inputs": bool = 10,
    }
);
impl FullyConnectedOptions<'_> {
    pub fn activation(&self) -> i8 {
        self.scalar(4, 0)
    }
    pub fn weights_format(&self) -> i8 {
        self.scalar(6, 0)
    }
}

table!(
    /// `SoftmaxOptions`.
    SoftmaxOptions { "beta": f32 = 4 }
);
impl SoftmaxOptions<'_> {
    pub fn beta(&self) -> f32 {
        self.scalar(4, 0.0)
    }
}

table!(
    /// `ConcatenationOptions`.
    ConcatenationOptions { "axis": i32 = 4, "fused_activation_function": i8 = 6 }
);
impl ConcatenationOptions<'_> {
    pub fn axis(&self) -> i32 {
        self.scalar(4, 0)
    }
    pub fn activation(&self) -> i8 {
        self.scalar(6, 0)
    }
}

table!(
    /// `AddOptions` / `MulOptions` / `SubOptions` / `DivOptions`: the fused activation in slot 4.
    ActivationOptions { "fused_activation_function": i8 = 4 }
);
impl ActivationOptions<'_> {
    pub fn activation(&self) -> i8 {
        self.scalar(4, 0)
    }
}

table!(
    /// `ResizeBilinearOptions`.
    ResizeBilinearOptions { "align_corners": bool = 8, "half_pixel_centers": bool = 10 }
);
impl ResizeBilinearOptions<'_> {
    pub fn align_corners(&self) -> bool {
        self.scalar(8, false)
    }
    pub fn half_pixel_centers(&self) -> bool {
        self.scalar(10, false)
    }
}

table!(
    /// `ResizeNearestNeighborOptions`.
    ResizeNearestOptions { "align_corners": bool = 4, "half_pixel_centers": bool = 6 }
);
impl ResizeNearestOptions<'_> {
    pub fn align_corners(&self) -> bool {
        self.scalar(4, false)
    }
    pub fn half_pixel_centers(&self) -> bool {
        self.scalar(6, false)
    }
}

table!(
    /// `CallOptions`.
    CallOptions { "subgraph": u32 = 4 }
);
impl CallOptions<'_> {
    pub fn subgraph(&self) -> u32 {
        self.scalar(4, 0)
    }
}

table!(
    /// `LeakyReluOptions`.
    LeakyReluOptions { "alpha": f32 = 4 }
);
impl LeakyReluOptions<'_> {
    pub fn alpha(&self) -> f32 {
        self.scalar(4, 0.0)
    }
}

table!(
    /// `MirrorPadOptions`.
    MirrorPadOptions { "mode": i8 = 4 }
);
impl MirrorPadOptions<'_> {
    pub fn mode(&self) -> i8 {
        self.scalar(4, 0)
    }
}

table!(
    /// the schema's `DepthToSpaceOptions` / `SpaceToDepthOptions`.
    BlockSizeOptions { "block_size": i32 = 4 }
);
impl BlockSizeOptions<'_> {
    pub fn block_size(&self) -> i32 {
        self.scalar(4, 0)
    }
}

table!(
    /// `CallOnceOptions`.
    CallOnceOptions { "init_subgraph_index": i32 = 4 }
);
impl CallOnceOptions<'_> {
    pub fn init_subgraph_index(&self) -> i32 {
        self.scalar(4, 0)
    }
}

table!(
    /// `GeluOptions`.
    GeluOptions { "approximate": bool = 4 }
);
impl GeluOptions<'_> {
    pub fn approximate(&self) -> bool {
        self.scalar(4, false)
    }
}

table!(
    /// `GatherOptions`.
    GatherOptions { "axis": i32 = 4, "batch_dims": i32 = 6 }
);
impl GatherOptions<'_> {
    pub fn axis(&self) -> i32 {
        self.scalar(4, 0)
    }
    pub fn batch_dims(&self) -> i32 {
        self.scalar(6, 0)
    }
}

table!(
    /// `PackOptions`.
    PackOptions { "values_count": i32 = 4, "axis": i32 = 6 }
);
impl PackOptions<'_> {
    pub fn values_count(&self) -> i32 {
        self.scalar(4, 0)
    }
    pub fn axis(&self) -> i32 {
        self.scalar(6, 0)
    }
}

table!(
    /// `UnpackOptions`.
    UnpackOptions { "num": i32 = 4, "axis": i32 = 6 }
);
impl UnpackOptions<'_> {
    pub fn num(&self) -> i32 {
        self.scalar(4, 0)
    }
    pub fn axis(&self) -> i32 {
        self.scalar(6, 0)
    }
}

table!(
    /// `IfOptions`.
    IfOptions { "then_subgraph_index": i32 = 4, "else_subgraph_index": i32 = 6 }
);
impl IfOptions<'_> {
    pub fn then_subgraph_index(&self) -> i32 {
        self.scalar(4, 0)
    }
    pub fn else_subgraph_index(&self) -> i32 {
        self.scalar(6, 0)
    }
}

table!(
    /// `WhileOptions`.
    WhileOptions { "cond_subgraph_index": i32 = 4, "body_subgraph_index": i32 = 6 }
);
impl WhileOptions<'_> {
    pub fn cond_subgraph_index(&self) -> i32 {
        self.scalar(4, 0)
    }
    pub fn body_subgraph_index(&self) -> i32 {
        self.scalar(6, 0)
    }
}

table!(
    /// `BatchMatMulOptions`.
    BatchMatMulOptions { "adj_x": bool = 4, "adj_y": bool = 6 }
);
impl BatchMatMulOptions<'_> {
    pub fn adj_x(&self) -> bool {
        self.scalar(4, false)
    }
    pub fn adj_y(&self) -> bool {
        self.scalar(6, false)
    }
}

table!(
    /// `CumsumOptions`.
    CumsumOptions { "exclusive": bool = 4, "reverse": bool = 6 }
);
impl CumsumOptions<'_> {
    pub fn exclusive(&self) -> bool {
        self.scalar(4, false)
    }
    pub fn reverse(&self) -> bool {
        self.scalar(6, false)
    }
}

table!(
    /// `ReducerOptions`.
    ReducerOptions { "keep_dims": bool = 4 }
);
impl ReducerOptions<'_> {
    pub fn keep_dims(&self) -> bool {
        self.scalar(4, false)
    }
}

table!(
    /// `StridedSliceOptions`.
    StridedSliceOptions {
        "begin_mask": i32 = 4, "end_mask": i32 = 6, "ellipsis_mask": i32 = 8,
        "new_axis_mask": i32 = 10, "shrink_axis_mask": i32 = 12, "offset": bool = 14,
    }
);
impl StridedSliceOptions<'_> {
    pub fn begin_mask(&self) -> i32 {
        self.scalar(4, 0)
    }
    pub fn end_mask(&self) -> i32 {
        self.scalar(6, 0)
    }
    pub fn ellipsis_mask(&self) -> i32 {
        self.scalar(8, 0)
    }
    pub fn new_axis_mask(&self) -> i32 {
        self.scalar(10, 0)
    }
    pub fn shrink_axis_mask(&self) -> i32 {
        self.scalar(12, 0)
    }
    pub fn offset(&self) -> bool {
        self.scalar(14, false)
    }
}

table!(
    /// `VarHandleOptions`.
    VarHandleOptions { "container": Str<'_> = 4, "shared_name": Str<'_> = 6 }
);
impl<'a> VarHandleOptions<'a> {
    pub fn container(&self) -> Option<&'a str> {
        self.get::<Str<'a>>(4)
    }
    pub fn shared_name(&self) -> Option<&'a str> {
        self.get::<Str<'a>>(6)
    }
}

/// Verifier limits for model files.
pub fn verifier_options() -> VerifierOptions {
    VerifierOptions {
        max_depth: 64,
        max_tables: 4_000_000,
        max_apparent_size: 1 << 31,
        ignore_missing_null_terminator: false,
    }
}

/// Verifies `bytes` as a TFLite model and returns its root table.
pub fn root(bytes: &[u8]) -> Result<Model<'_>, InvalidFlatbuffer> {
    flatbuffers::root_with_opts::<Model>(&verifier_options(), bytes)
}

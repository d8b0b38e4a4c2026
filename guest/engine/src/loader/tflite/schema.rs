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
    (
        $(#[$doc:meta])*
        $name:ident {
            $($field:ident $([$schema:literal])? : $fty:ty = $slot:literal $(or $default:expr)?),* $(,)?
        }
        $(unions {
            $($union:ident : $type_slot:literal / $value_slot:literal => $verify:path),* $(,)?
        })?
    ) => {
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

        impl<'a> Verifiable for $name<'a> {
            fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
                v.visit_table(pos)?
                    $(.visit_field::<$fty>(field_name!($field $($schema)?), $slot, false)?)*
                    $($(.visit_union::<u8, _>(
                        concat!(stringify!($union), "_type"),
                        $type_slot,
                        stringify!($union),
                        $value_slot,
                        false,
                        $verify,
                    )?)*)?
                    .finish();
                Ok(())
            }
        }

        impl<'a> $name<'a> {
            $(accessor!($field : $fty = $slot $(or $default)?);)*

            /// Reads field `slot` as `T` (verified as that type by [`root`]).
            #[inline]
            fn get<T: Follow<'a> + 'a>(&self, slot: u16) -> Option<T::Inner> {
                // SAFETY: `root` verified this table and every field read here, at this slot,
                // as type `T`: one `table!` list generates both the verifier and the accessors,
                // and the unions' readers use the types their verifier checked.
                unsafe { self.tab.get::<T>(slot, None) }
            }

            /// Reads scalar field `slot` or its default.
            #[inline]
            fn scalar<T: Follow<'a, Inner = T> + Copy + 'a>(&self, slot: u16, default: T) -> T {
                // SAFETY: as in `get`; scalars were verified at this slot with this type.
                unsafe { self.tab.get::<T>(slot, Some(default)) }.unwrap_or(default)
            }
        }
    };
}

/// The schema's name of a field: the explicit `["name"]` if given, else the accessor's name.
macro_rules! field_name {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident $schema:literal) => {
        $schema
    };
}

/// One accessor: a scalar with its schema default (`or DEFAULT`), or an offset field (`Option`).
macro_rules! accessor {
    ($field:ident : $fty:ty = $slot:literal or $default:expr) => {
        pub fn $field(&self) -> $fty {
            self.scalar($slot, $default)
        }
    };
    ($field:ident : $fty:ty = $slot:literal) => {
        pub fn $field(&self) -> Option<<$fty as Follow<'a>>::Inner> {
            self.get::<$fty>($slot)
        }
    };
}

type Ints<'a> = ForwardsUOffset<Vector<'a, i32>>;
type Str<'a> = ForwardsUOffset<&'a str>;
type Tables<'a, T> = ForwardsUOffset<TableVec<'a, T>>;

table!(
    /// `table Model`.
    Model {
        version: u32 = 4 or 0,
        operator_codes: Tables<'a, OperatorCode<'a>> = 6,
        subgraphs: Tables<'a, SubGraph<'a>> = 8,
        description: Str<'a> = 10,
        buffers: Tables<'a, Buffer<'a>> = 12,
    }
);

table!(
    /// `table OperatorCode`.
    OperatorCode {
        deprecated_builtin_code: i8 = 4 or 0,
        custom_code: Str<'a> = 6,
        version: i32 = 8 or 1,
        builtin_code: i32 = 10 or 0,
    }
);

impl OperatorCode<'_> {
    /// The effective builtin code: max(deprecated_builtin_code, builtin_code).
    pub fn code(&self) -> i32 {
        i32::from(self.deprecated_builtin_code()).max(self.builtin_code())
    }
}

table!(
    /// `table SubGraph`.
    SubGraph {
        tensors: Tables<'a, Tensor<'a>> = 4,
        inputs: Ints<'a> = 6,
        outputs: Ints<'a> = 8,
        operators: Tables<'a, Operator<'a>> = 10,
        name: Str<'a> = 12,
    }
);

table!(
    /// `table Buffer`: inline `data`, or `offset`/`size` into the file past the FlatBuffer.
    Buffer {
        data: ForwardsUOffset<Vector<'a, u8>> = 4,
        offset: u64 = 6 or 0,
        size: u64 = 8 or 0,
    }
);

table!(
    /// `table Tensor`.
    Tensor {
        shape: Ints<'a> = 4,
        type_["type"]: i8 = 6 or 0,
        buffer: u32 = 8 or 0,
        name: Str<'a> = 10,
        quantization: ForwardsUOffset<QuantizationParameters<'a>> = 12,
        is_variable: bool = 14 or false,
        sparsity: ForwardsUOffset<SparsityParameters<'a>> = 16,
        shape_signature: Ints<'a> = 18,
        has_rank: bool = 20 or false,
    }
);

table!(
    /// `table QuantizationParameters` (the `details` union is not read).
    QuantizationParameters {
        min: ForwardsUOffset<Vector<'a, f32>> = 4,
        max: ForwardsUOffset<Vector<'a, f32>> = 6,
        scale: ForwardsUOffset<Vector<'a, f32>> = 8,
        zero_point: ForwardsUOffset<Vector<'a, i64>> = 10,
        details_type: u8 = 12 or 0,
        quantized_dimension: i32 = 16 or 0,
    }
);

table!(
    /// `table SparsityParameters`.
    SparsityParameters {
        traversal_order: Ints<'a> = 4,
        block_map: Ints<'a> = 6,
        dim_metadata: Tables<'a, DimensionMetadata<'a>> = 8,
    }
);

table!(
    /// `table Int32Vector` (a `SparseIndexVector` member).
    Int32Vector { values: Ints<'a> = 4 }
);
table!(
    /// `table Uint16Vector` (a `SparseIndexVector` member).
    Uint16Vector { values: ForwardsUOffset<Vector<'a, u16>> = 4 }
);
table!(
    /// `table Uint8Vector` (a `SparseIndexVector` member).
    Uint8Vector { values: ForwardsUOffset<Vector<'a, u8>> = 4 }
);

fn verify_index_vector(kind: u8, v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
    match kind {
        1 => ForwardsUOffset::<Int32Vector>::run_verifier(v, pos),
        2 => ForwardsUOffset::<Uint16Vector>::run_verifier(v, pos),
        3 => ForwardsUOffset::<Uint8Vector>::run_verifier(v, pos),
        _ => Ok(()),
    }
}

table!(
    /// `table DimensionMetadata` (format, dense_size, and two `SparseIndexVector` unions).
    DimensionMetadata {
        format: i8 = 4 or 0,
        dense_size: i32 = 6 or 0,
    }
    unions {
        array_segments: 8 / 10 => verify_index_vector,
        array_indices: 12 / 14 => verify_index_vector,
    }
);

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
    /// Reads the `SparseIndexVector` union at (`type_slot`, `value_slot`); its value was
    /// verified by `verify_index_vector` as the table type the discriminant names.
    fn index_vector(&self, type_slot: u16, value_slot: u16) -> Option<IndexVector<'a>> {
        match self.scalar::<u8>(type_slot, 0) {
            1 => self
                .get::<ForwardsUOffset<Int32Vector<'a>>>(value_slot)?
                .values()
                .map(IndexVector::I32),
            2 => self
                .get::<ForwardsUOffset<Uint16Vector<'a>>>(value_slot)?
                .values()
                .map(IndexVector::U16),
            3 => self
                .get::<ForwardsUOffset<Uint8Vector<'a>>>(value_slot)?
                .values()
                .map(IndexVector::U8),
            _ => None,
        }
    }
    pub fn array_segments(&self) -> Option<IndexVector<'a>> {
        self.index_vector(8, 10)
    }
    pub fn array_indices(&self) -> Option<IndexVector<'a>> {
        self.index_vector(12, 14)
    }
}

/// `BuiltinOptions2` members are not read, so none is verified.
fn verify_no_options(_: u8, _: &mut Verifier, _: usize) -> Result<(), InvalidFlatbuffer> {
    Ok(())
}

table!(
    /// `table Operator` with its `BuiltinOptions` / `BuiltinOptions2` unions.
    Operator {
        opcode_index: u32 = 4 or 0,
        inputs: Ints<'a> = 6,
        outputs: Ints<'a> = 8,
        custom_options: ForwardsUOffset<Vector<'a, u8>> = 14,
        intermediates: Ints<'a> = 20,
    }
    unions {
        builtin_options: 10 / 12 => verify_options,
        builtin_options_2: 26 / 28 => verify_no_options,
    }
);

impl<'a> Operator<'a> {
    /// The `BuiltinOptions` discriminant.
    pub fn options_type(&self) -> u8 {
        self.scalar(10, 0)
    }
    /// The builtin options as `T`, if the union holds one of `T`'s kinds: `verify_options`
    /// verified the value as the table type its discriminant names, and `T::KINDS` lists
    /// exactly the discriminants `verify_options` verifies as `T`.
    pub fn options<T: OptionsTable<'a>>(&self) -> Option<T> {
        if !T::KINDS.contains(&self.options_type()) {
            return None;
        }
        self.get::<ForwardsUOffset<T>>(12)
    }
}

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

/// Declares which `BuiltinOptions` discriminants hold which options table: implements
/// [`OptionsTable`] for each and generates `verify_options`, the union's verifier, from the same
/// list, so a table is only ever read as the type it was verified as.
macro_rules! options_kinds {
    ($($t:ident => [$($k:ident),*];)*) => {
        $(impl<'a> OptionsTable<'a> for $t<'a> {
            const KINDS: &'static [u8] = &[$(kind::$k),*];
        })*

        fn verify_options(k: u8, v: &mut Verifier, p: usize) -> Result<(), InvalidFlatbuffer> {
            $(if <$t as OptionsTable>::KINDS.contains(&k) {
                return ForwardsUOffset::<$t>::run_verifier(v, p);
            })*
            Ok(())
        }
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

table!(
    /// `Conv2DOptions`.
    Conv2DOptions {
        padding: i8 = 4 or 0,
        stride_w: i32 = 6 or 0,
        stride_h: i32 = 8 or 0,
        activation["fused_activation_function"]: i8 = 10 or 0,
        dilation_w["dilation_w_factor"]: i32 = 12 or 1,
        dilation_h["dilation_h_factor"]: i32 = 14 or 1,
    }
);

table!(
    /// `DepthwiseConv2DOptions`.
    DepthwiseConv2DOptions {
        padding: i8 = 4 or 0,
        stride_w: i32 = 6 or 0,
        stride_h: i32 = 8 or 0,
        depth_multiplier: i32 = 10 or 0,
        activation["fused_activation_function"]: i8 = 12 or 0,
        dilation_w["dilation_w_factor"]: i32 = 14 or 1,
        dilation_h["dilation_h_factor"]: i32 = 16 or 1,
    }
);

table!(
    /// `Pool2DOptions`.
    Pool2DOptions {
        padding: i8 = 4 or 0,
        stride_w: i32 = 6 or 0,
        stride_h: i32 = 8 or 0,
        filter_w["filter_width"]: i32 = 10 or 0,
        filter_h["filter_height"]: i32 = 12 or 0,
        activation["fused_activation_function"]: i8 = 14 or 0,
    }
);

table!(
    /// `FullyConnectedOptions`.
    FullyConnectedOptions {
        activation["fused_activation_function"]: i8 = 4 or 0,
        weights_format: i8 = 6 or 0,
        keep_num_dims: bool = 8 or false,
        asymmetric_quantize_inputs: bool = 10 or false,
    }
);

table!(
    /// `SoftmaxOptions`.
    SoftmaxOptions {
        beta: f32 = 4 or 0.0,
    }
);

table!(
    /// `ConcatenationOptions`.
    ConcatenationOptions {
        axis: i32 = 4 or 0,
        activation["fused_activation_function"]: i8 = 6 or 0,
    }
);

table!(
    /// `AddOptions` / `MulOptions` / `SubOptions` / `DivOptions`: the fused activation in slot 4.
    ActivationOptions {
        activation["fused_activation_function"]: i8 = 4 or 0,
    }
);

table!(
    /// `ResizeBilinearOptions`.
    ResizeBilinearOptions {
        align_corners: bool = 8 or false,
        half_pixel_centers: bool = 10 or false,
    }
);

table!(
    /// `ResizeNearestNeighborOptions`.
    ResizeNearestOptions {
        align_corners: bool = 4 or false,
        half_pixel_centers: bool = 6 or false,
    }
);

table!(
    /// `CallOptions`.
    CallOptions {
        subgraph: u32 = 4 or 0,
    }
);

table!(
    /// `LeakyReluOptions`.
    LeakyReluOptions {
        alpha: f32 = 4 or 0.0,
    }
);

table!(
    /// `MirrorPadOptions`.
    MirrorPadOptions {
        mode: i8 = 4 or 0,
    }
);

table!(
    /// the schema's `DepthToSpaceOptions` / `SpaceToDepthOptions`.
    BlockSizeOptions {
        block_size: i32 = 4 or 0,
    }
);

table!(
    /// `CallOnceOptions`.
    CallOnceOptions {
        init_subgraph_index: i32 = 4 or 0,
    }
);

table!(
    /// `GeluOptions`.
    GeluOptions {
        approximate: bool = 4 or false,
    }
);

table!(
    /// `GatherOptions`.
    GatherOptions {
        axis: i32 = 4 or 0,
        batch_dims: i32 = 6 or 0,
    }
);

table!(
    /// `PackOptions`.
    PackOptions {
        values_count: i32 = 4 or 0,
        axis: i32 = 6 or 0,
    }
);

table!(
    /// `UnpackOptions`.
    UnpackOptions {
        num: i32 = 4 or 0,
        axis: i32 = 6 or 0,
    }
);

table!(
    /// `IfOptions`.
    IfOptions {
        then_subgraph_index: i32 = 4 or 0,
        else_subgraph_index: i32 = 6 or 0,
    }
);

table!(
    /// `WhileOptions`.
    WhileOptions {
        cond_subgraph_index: i32 = 4 or 0,
        body_subgraph_index: i32 = 6 or 0,
    }
);

table!(
    /// `BatchMatMulOptions`.
    BatchMatMulOptions {
        adj_x: bool = 4 or false,
        adj_y: bool = 6 or false,
    }
);

table!(
    /// `CumsumOptions`.
    CumsumOptions {
        exclusive: bool = 4 or false,
        reverse: bool = 6 or false,
    }
);

table!(
    /// `ReducerOptions`.
    ReducerOptions {
        keep_dims: bool = 4 or false,
    }
);

table!(
    /// `StridedSliceOptions`.
    StridedSliceOptions {
        begin_mask: i32 = 4 or 0,
        end_mask: i32 = 6 or 0,
        ellipsis_mask: i32 = 8 or 0,
        new_axis_mask: i32 = 10 or 0,
        shrink_axis_mask: i32 = 12 or 0,
        offset: bool = 14 or false,
    }
);

table!(
    /// `VarHandleOptions`.
    VarHandleOptions {
        container: Str<'a> = 4,
        shared_name: Str<'a> = 6,
    }
);

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

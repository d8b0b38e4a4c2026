//! TensorFlow protobuf messages, written by hand with `prost` derive.
//!
//! Only the fields the loader needs are declared; every other field is skipped by the decoder.
//! Field numbers follow TensorFlow's `.proto` files (`tensorflow/core/framework/*.proto`,
//! `tensorflow/core/protobuf/{saved_model,meta_graph,saver,tensor_bundle}.proto`).
//! Enumerations are kept as raw `i32` so unknown values reach the loader, which reports them.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// `tensorflow.SavedModel`: the content of `saved_model.pb`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedModel {
    /// Schema version (1 for every known writer).
    #[prost(int64, tag = "1")]
    pub saved_model_schema_version: i64,
    /// One MetaGraph per tag set.
    #[prost(message, repeated, tag = "2")]
    pub meta_graphs: Vec<MetaGraphDef>,
}

/// `tensorflow.MetaGraphDef`: a graph with its signatures and saver.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetaGraphDef {
    /// Tags and versions.
    #[prost(message, optional, tag = "1")]
    pub meta_info_def: Option<MetaInfoDef>,
    /// The graph, with its function library.
    #[prost(message, optional, tag = "2")]
    pub graph_def: Option<GraphDef>,
    /// How variables are saved and restored.
    #[prost(message, optional, tag = "3")]
    pub saver_def: Option<SaverDef>,
    /// Signatures by name (`serving_default`, ...).
    #[prost(btree_map = "string, message", tag = "5")]
    pub signature_def: BTreeMap<String, SignatureDef>,
}

/// `tensorflow.MetaGraphDef.MetaInfoDef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetaInfoDef {
    /// User-defined version string.
    #[prost(string, tag = "1")]
    pub meta_graph_version: String,
    /// Tags that select this MetaGraph (`serve`, `train`, ...).
    #[prost(string, repeated, tag = "4")]
    pub tags: Vec<String>,
    /// TensorFlow version that wrote the graph.
    #[prost(string, tag = "5")]
    pub tensorflow_version: String,
}

/// `tensorflow.SignatureDef`: named inputs and outputs of one entry point.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SignatureDef {
    /// Inputs by signature key.
    #[prost(btree_map = "string, message", tag = "1")]
    pub inputs: BTreeMap<String, TensorInfo>,
    /// Outputs by signature key.
    #[prost(btree_map = "string, message", tag = "2")]
    pub outputs: BTreeMap<String, TensorInfo>,
    /// `tensorflow/serving/predict` and the like.
    #[prost(string, tag = "3")]
    pub method_name: String,
}

/// `tensorflow.TensorInfo` (only the dense `name` encoding is supported).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorInfo {
    /// Graph tensor name, `node:index`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Element type (`DataType`).
    #[prost(int32, tag = "2")]
    pub dtype: i32,
    /// Static shape, possibly partial.
    #[prost(message, optional, tag = "3")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// Set for sparse tensors (refused).
    #[prost(message, optional, tag = "4")]
    pub coo_sparse: Option<Skipped>,
    /// Set for composite tensors (refused).
    #[prost(message, optional, tag = "5")]
    pub composite_tensor: Option<Skipped>,
}

/// A message whose content is not needed, only its presence.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Skipped {}

/// `tensorflow.SaverDef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SaverDef {
    /// Placeholder fed with the checkpoint path.
    #[prost(string, tag = "1")]
    pub filename_tensor_name: String,
    /// Op that saves.
    #[prost(string, tag = "2")]
    pub save_tensor_name: String,
    /// Op that restores every variable.
    #[prost(string, tag = "3")]
    pub restore_op_name: String,
    /// Checkpoint format (2 = V2, the TensorBundle).
    #[prost(int32, tag = "7")]
    pub version: i32,
}

/// `tensorflow.GraphDef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphDef {
    /// Nodes, in any order.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeDef>,
    /// Functions the nodes may call.
    #[prost(message, optional, tag = "2")]
    pub library: Option<FunctionDefLibrary>,
    /// Producer version.
    #[prost(message, optional, tag = "4")]
    pub versions: Option<VersionDef>,
}

/// `tensorflow.NodeDef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeDef {
    /// Unique name in its graph or function body.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Op type name.
    #[prost(string, tag = "2")]
    pub op: String,
    /// Inputs: `node:index` (graphs), `node:arg:index` (function bodies), `^node` (control).
    #[prost(string, repeated, tag = "3")]
    pub input: Vec<String>,
    /// Attributes.
    #[prost(btree_map = "string, message", tag = "5")]
    pub attr: BTreeMap<String, AttrValue>,
}

/// `tensorflow.AttrValue`: one attribute value (the `value` oneof).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttrValue {
    /// The value.
    #[prost(oneof = "attr_value::Value", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10")]
    pub value: Option<attr_value::Value>,
}

/// Nested types of [`AttrValue`].
pub mod attr_value {
    use alloc::string::String;
    use alloc::vec::Vec;

    /// `tensorflow.AttrValue.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// A list of values.
        #[prost(message, tag = "1")]
        List(super::ListValue),
        /// Bytes.
        #[prost(bytes, tag = "2")]
        S(Vec<u8>),
        /// Integer.
        #[prost(int64, tag = "3")]
        I(i64),
        /// Float.
        #[prost(float, tag = "4")]
        F(f32),
        /// Boolean.
        #[prost(bool, tag = "5")]
        B(bool),
        /// A `DataType`.
        #[prost(int32, tag = "6")]
        Type(i32),
        /// A shape.
        #[prost(message, tag = "7")]
        Shape(super::TensorShapeProto),
        /// A tensor.
        #[prost(message, tag = "8")]
        Tensor(super::TensorProto),
        /// A placeholder for a function attribute (`$T`).
        #[prost(string, tag = "9")]
        Placeholder(String),
        /// A function reference.
        #[prost(message, tag = "10")]
        Func(super::NameAttrList),
    }
}

/// `tensorflow.AttrValue.ListValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListValue {
    /// Byte strings.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub s: Vec<Vec<u8>>,
    /// Integers.
    #[prost(int64, repeated, tag = "3")]
    pub i: Vec<i64>,
    /// Floats.
    #[prost(float, repeated, tag = "4")]
    pub f: Vec<f32>,
    /// Booleans.
    #[prost(bool, repeated, tag = "5")]
    pub b: Vec<bool>,
    /// `DataType`s.
    #[prost(int32, repeated, tag = "6")]
    pub r#type: Vec<i32>,
    /// Shapes.
    #[prost(message, repeated, tag = "7")]
    pub shape: Vec<TensorShapeProto>,
    /// Tensors.
    #[prost(message, repeated, tag = "8")]
    pub tensor: Vec<TensorProto>,
    /// Function references.
    #[prost(message, repeated, tag = "9")]
    pub func: Vec<NameAttrList>,
}

/// `tensorflow.NameAttrList`: a function name with attributes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NameAttrList {
    /// Function name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Attributes bound at the call.
    #[prost(btree_map = "string, message", tag = "2")]
    pub attr: BTreeMap<String, AttrValue>,
}

/// `tensorflow.TensorProto`: a constant tensor.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// Element type (`DataType`).
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// Shape.
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// Raw little-endian content (when set, the typed fields are empty).
    #[prost(bytes = "vec", tag = "4")]
    pub tensor_content: Vec<u8>,
    /// float16/bfloat16 bit patterns.
    #[prost(int32, repeated, tag = "13")]
    pub half_val: Vec<i32>,
    /// float32 values.
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
    /// float64 values.
    #[prost(double, repeated, tag = "6")]
    pub double_val: Vec<f64>,
    /// int32/int16/int8/uint16/uint8 values.
    #[prost(int32, repeated, tag = "7")]
    pub int_val: Vec<i32>,
    /// Byte strings.
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
    /// int64 values.
    #[prost(int64, repeated, tag = "10")]
    pub int64_val: Vec<i64>,
    /// Booleans.
    #[prost(bool, repeated, tag = "11")]
    pub bool_val: Vec<bool>,
    /// uint32 values.
    #[prost(uint32, repeated, tag = "16")]
    pub uint32_val: Vec<u32>,
    /// uint64 values.
    #[prost(uint64, repeated, tag = "17")]
    pub uint64_val: Vec<u64>,
}

/// `tensorflow.TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// Dimensions, outermost first.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
    /// The rank itself is unknown.
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

/// `tensorflow.TensorShapeProto.Dim`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dim {
    /// Size, -1 when unknown.
    #[prost(int64, tag = "1")]
    pub size: i64,
}

/// `tensorflow.VersionDef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionDef {
    /// Version of the writer.
    #[prost(int32, tag = "1")]
    pub producer: i32,
    /// Oldest reader that can consume the data.
    #[prost(int32, tag = "2")]
    pub min_consumer: i32,
    /// Readers that must not consume the data.
    #[prost(int32, repeated, tag = "3")]
    pub bad_consumers: Vec<i32>,
}

/// `tensorflow.FunctionDefLibrary`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FunctionDefLibrary {
    /// Functions.
    #[prost(message, repeated, tag = "1")]
    pub function: Vec<FunctionDef>,
}

/// `tensorflow.FunctionDef`: a function body with its signature.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FunctionDef {
    /// Name, arguments and results.
    #[prost(message, optional, tag = "1")]
    pub signature: Option<OpDef>,
    /// Body nodes.
    #[prost(message, repeated, tag = "3")]
    pub node_def: Vec<NodeDef>,
    /// Output argument name → `node:arg:index` inside the body.
    #[prost(btree_map = "string, string", tag = "4")]
    pub ret: BTreeMap<String, String>,
}

/// `tensorflow.OpDef` (as a function signature).
#[derive(Clone, PartialEq, prost::Message)]
pub struct OpDef {
    /// Function name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Arguments.
    #[prost(message, repeated, tag = "2")]
    pub input_arg: Vec<ArgDef>,
    /// Results.
    #[prost(message, repeated, tag = "3")]
    pub output_arg: Vec<ArgDef>,
}

/// `tensorflow.OpDef.ArgDef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ArgDef {
    /// Argument name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Fixed type (`DataType`), 0 when given by an attribute.
    #[prost(int32, tag = "3")]
    pub r#type: i32,
    /// Attribute holding the type.
    #[prost(string, tag = "4")]
    pub type_attr: String,
    /// Attribute holding a list length (list arguments).
    #[prost(string, tag = "5")]
    pub number_attr: String,
    /// Attribute holding a type list (list arguments).
    #[prost(string, tag = "6")]
    pub type_list_attr: String,
}

/// `tensorflow.BundleHeaderProto`: the value of the empty key of a TensorBundle index.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BundleHeaderProto {
    /// Number of data shards.
    #[prost(int32, tag = "1")]
    pub num_shards: i32,
    /// 0 little-endian, 1 big-endian.
    #[prost(int32, tag = "2")]
    pub endianness: i32,
    /// Format version.
    #[prost(message, optional, tag = "3")]
    pub version: Option<VersionDef>,
}

/// `tensorflow.BundleEntryProto`: where one tensor lives in the data shards.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BundleEntryProto {
    /// Element type (`DataType`).
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// Shape.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
    /// Data shard index.
    #[prost(int32, tag = "3")]
    pub shard_id: i32,
    /// Byte offset in the shard.
    #[prost(int64, tag = "4")]
    pub offset: i64,
    /// Byte size in the shard.
    #[prost(int64, tag = "5")]
    pub size: i64,
    /// Masked CRC-32C of the bytes.
    #[prost(fixed32, tag = "6")]
    pub crc32c: u32,
    /// Partitioned-variable slices (refused when present).
    #[prost(message, repeated, tag = "7")]
    pub slices: Vec<Skipped>,
}

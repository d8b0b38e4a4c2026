//! The format-neutral intermediate representation.
//!
//! Every front-end (TFLite, StableHLO, TensorFlow graphs) lowers onto these types; the executor
//! knows nothing else. A [`Graph`] holds [`Subgraph`]s (subgraph 0 .. n, one of them the entry),
//! shared constant buffers and resource variables. A subgraph is a list of [`Node`]s in execution
//! order over a table of [`TensorInfo`]s; every tensor has a static dtype and shape. Ops carry
//! their attributes in [`Op`]; attributes that a format stores as constant tensors (axes,
//! permutations, paddings, slice bounds) are resolved into attributes by the loader.

mod buffer;
mod dtype;
mod graph;
mod op;
mod quant;
mod shape;

pub use buffer::AlignedBuf;
pub use dtype::DType;
pub use graph::{
    ConstId, Constant, Graph, Node, ResourceInfo, Subgraph, SubgraphId, TensorId, TensorInfo,
    TensorKind,
};
pub use op::*;
pub use quant::QuantParams;
pub use shape::{Shape, MAX_TENSOR_BYTES};

/// A borrowed tensor: dtype, shape and little-endian bytes in C order.
#[derive(Debug, Clone, Copy)]
pub struct TensorData<'a> {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: &'a [usize],
    /// Raw little-endian bytes, `shape.product() * dtype.size()` long.
    pub bytes: &'a [u8],
}

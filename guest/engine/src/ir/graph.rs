use alloc::string::String;
use alloc::vec::Vec;

use super::{AlignedBuf, DType, Op, QuantParams, Shape};
use crate::error::Result;

/// Index of a tensor in its subgraph's tensor table.
pub type TensorId = usize;
/// Index of a subgraph in [`Graph::subgraphs`].
pub type SubgraphId = usize;
/// Index of a constant in [`Graph::constants`].
pub type ConstId = usize;

/// Where a tensor's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorKind {
    /// Computed while running (graph inputs, intermediates, outputs): lives in the arena.
    Activation,
    /// A constant buffer of the graph.
    Constant(ConstId),
}

/// Static description of one tensor.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// Name from the model (for errors and signatures).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Static shape.
    pub shape: Shape,
    /// Quantization parameters for quantized integer tensors.
    pub quant: Option<QuantParams>,
    /// Storage class.
    pub kind: TensorKind,
}

impl TensorInfo {
    /// Byte length with overflow checks.
    pub fn byte_len(&self) -> Result<usize> {
        self.shape.byte_len(self.dtype.size())
    }
}

/// One operation: `outputs = op(inputs)`. Absent optional inputs are `None`.
#[derive(Debug, Clone)]
pub struct Node {
    /// What to compute, with attributes.
    pub op: Op,
    /// Input tensors (in the op's documented order).
    pub inputs: Vec<Option<TensorId>>,
    /// Output tensors.
    pub outputs: Vec<TensorId>,
}

/// A function: a tensor table, inputs, outputs and nodes in execution order.
#[derive(Debug, Clone, Default)]
pub struct Subgraph {
    /// Name from the model.
    pub name: String,
    /// All tensors the subgraph uses.
    pub tensors: Vec<TensorInfo>,
    /// Inputs, in order.
    pub inputs: Vec<TensorId>,
    /// Outputs, in order.
    pub outputs: Vec<TensorId>,
    /// Nodes in a valid execution order (every input produced before use).
    pub nodes: Vec<Node>,
}

/// Storage of a constant tensor's bytes.
#[derive(Debug, Clone)]
pub enum Constant {
    /// A range of [`Graph::source`], referenced in place (aligned for its dtype).
    InSource {
        /// Byte offset in the source.
        offset: usize,
        /// Byte length.
        len: usize,
    },
    /// Bytes owned by the graph (converted, densified or realigned at load).
    Owned(AlignedBuf),
}

/// A resource variable (state that persists across invokes of a loaded model).
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    /// The variable's shared name (container + name in TFLite).
    pub name: String,
}

/// A whole model in IR form.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// All subgraphs; calls and control flow refer to them by index.
    pub subgraphs: Vec<Subgraph>,
    /// Index of the subgraph `run` executes.
    pub entry: SubgraphId,
    /// Constant buffers.
    pub constants: Vec<Constant>,
    /// The model file bytes (64-byte aligned) that [`Constant::InSource`] ranges point into.
    pub source: AlignedBuf,
    /// Resource variables, indexed by resource id.
    pub resources: Vec<ResourceInfo>,
}

impl Graph {
    /// The bytes of constant `id` (empty if the id is out of range; loaders validate ids).
    pub fn constant_bytes(&self, id: ConstId) -> &[u8] {
        match self.constants.get(id) {
            Some(Constant::InSource { offset, len }) => {
                let end = offset.saturating_add(*len);
                self.source.as_slice().get(*offset..end).unwrap_or(&[])
            }
            Some(Constant::Owned(b)) => b.as_slice(),
            None => &[],
        }
    }

    /// Adds an owned constant and returns its id.
    pub fn add_constant(&mut self, buf: AlignedBuf) -> ConstId {
        self.constants.push(Constant::Owned(buf));
        self.constants.len() - 1
    }
}

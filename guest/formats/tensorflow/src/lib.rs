//! TensorFlow SavedModel and frozen GraphDef reader for the Cerebro engine.
//!
//! `no_std` + `alloc`; every input is untrusted. The pieces:
//! - [`proto`]: the TensorFlow protobuf messages, decoded with `prost`;
//! - [`sstable`] and [`bundle`]: the checkpoint (`variables.index` + data shards);
//! - [`graph`]: function inlining, variable binding and the flat dataflow [`graph::Graph`];
//! - [`saved_model`]: the entry points ([`SavedModel::graph`], [`load_frozen_graph`]);
//! - [`archive`]: a SavedModel directory carried as one tar archive.
#![no_std]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod archive;
pub mod bundle;
pub mod error;
pub mod graph;
pub mod proto;
pub mod saved_model;
pub mod sstable;
pub mod tensor;

pub use error::{Error, Result};
pub use graph::{Graph, GraphInput, GraphOutput, Node, TensorRef};
pub use saved_model::{load_frozen_graph, SavedModel, SavedModelFiles, Selection};
pub use tensor::{DType, PartialShape, Tensor, TensorData};

//! The Cerebro model engine: loader, executor and retriever.
//!
//! - [`ir`]: the format-neutral intermediate representation every front-end lowers onto
//!   (tensors, dtypes, shapes, quantization, constants, graph, subgraphs, ops).
//! - [`loader`]: format front-ends (TFLite here) that turn untrusted model bytes into [`ir::Graph`].
//! - [`executor`]: the planner (shape checks, a static arena from tensor lifetimes, prepared
//!   weights) and the interpreter that runs a planned graph with no allocation per op.
//! - [`retriever`]: outputs formatted as tensors for the wire.
//! - [`cpu`]: run-time CPU feature detection that works without `std`.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod cpu;
pub mod error;
pub mod executor;
pub mod ir;
pub mod loader;
pub mod retriever;

pub use error::{Error, Result};
pub use executor::Model;
pub use ir::{DType, Graph, Shape, TensorData};

//! JAX and Flax front-ends for the Cerebro engine.
//!
//! Every input here is untrusted: lengths and offsets are checked, recursion is bounded by
//! [`error::MAX_DEPTH`], and malformed input gives an [`Error`] that says what and where.
//!
//! - [`text`]: StableHLO/MLIR text (pretty and generic op forms) → [`ast::Module`].
//! - [`bytecode`]: MLIR bytecode portable artifacts of VHLO ops (`.mlirbc`) → the same AST.
//! - [`export`]: the `jax.export` serialized `Exported` FlatBuffer.
//! - [`flax`]: `flax.serialization.to_bytes` msgpack parameters, flattened like `jax.tree_util`.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod ast;
pub mod error;
pub mod export;
pub mod flax;
pub mod numeric;
pub mod text;

pub use error::{Error, Location, Result};

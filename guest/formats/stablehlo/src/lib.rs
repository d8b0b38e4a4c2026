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
pub mod bytecode;
pub mod error;
pub mod export;
pub mod flax;
pub mod normalize;
pub mod numeric;
pub mod text;

pub use error::{Error, Location, Result};

/// A JAX model loaded from any of its serialized forms.
#[derive(Clone, Debug)]
pub struct JaxModel {
    /// The StableHLO module.
    pub module: ast::Module,
    /// The `jax.export` metadata when the input was an exported blob.
    pub exported: Option<export::Exported>,
}

/// Load a `jax.export` blob, a bare portable artifact (`.mlirbc`) or StableHLO text, telling
/// them apart by content (bytecode magic, then UTF-8 text starting like MLIR, else a blob).
pub fn load_jax_model(data: &[u8]) -> Result<JaxModel> {
    if data.starts_with(bytecode::MAGIC) {
        return Ok(JaxModel {
            module: bytecode::parse_bytecode(data)?,
            exported: None,
        });
    }
    if let Ok(text) = core::str::from_utf8(data) {
        let t = text.trim_start();
        if t.starts_with("module")
            || t.starts_with("func.func")
            || t.starts_with('#')
            || t.starts_with("//")
        {
            return Ok(JaxModel {
                module: text::parse_module(text)?,
                exported: None,
            });
        }
    }
    let exported = export::parse_exported(data)?;
    let module = bytecode::parse_bytecode(&exported.mlir_module_serialized)
        .map_err(|e| e.context("mlir_module_serialized of the jax.export blob"))?;
    Ok(JaxModel {
        module,
        exported: Some(exported),
    })
}

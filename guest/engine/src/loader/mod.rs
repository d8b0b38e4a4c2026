//! Format front-ends: untrusted model bytes to [`crate::ir::Graph`].
//!
//! Each front-end validates everything it reads (offsets, lengths, indices, shapes) and returns
//! an error naming the problem; none of them panics on malformed input.

pub mod detect;
pub mod stablehlo;
pub mod tensorflow;
pub mod tflite;

pub use detect::{detect, load_graph, Format, LoadOptions};

use crate::error::Result;
use crate::executor::Model;

/// Detects the format of `bytes` from their content and loads and plans the model.
pub fn load(bytes: &[u8]) -> Result<Model> {
    load_as(bytes, detect(bytes)?, &LoadOptions::default())
}

/// Loads and plans a model of a known format (see [`detect::load_graph`]).
pub fn load_as(bytes: &[u8], format: Format, options: &LoadOptions<'_>) -> Result<Model> {
    Model::new(load_graph(bytes, format, options)?)
}

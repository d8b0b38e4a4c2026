//! Format front-ends: untrusted model bytes to [`crate::ir::Graph`].
//!
//! Each front-end validates everything it reads (offsets, lengths, indices, shapes) and returns
//! an error naming the problem; none of them panics on malformed input.

pub mod detect;
pub mod stablehlo;
pub mod tensorflow;
pub mod tflite;

use crate::error::Result;
use crate::executor::Model;

/// Model formats the engine can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TensorFlow Lite / LiteRT FlatBuffer (`TFL3`).
    TfLite,
}

/// Guesses the format from the first bytes.
pub fn detect_format(bytes: &[u8]) -> Option<Format> {
    if bytes.len() >= 8 && &bytes[4..8] == b"TFL3" {
        return Some(Format::TfLite);
    }
    None
}

/// Loads and plans a model of any known format.
pub fn load(bytes: &[u8]) -> Result<Model> {
    match detect_format(bytes) {
        Some(Format::TfLite) => Model::new(tflite::load(bytes)?),
        None => Err(crate::unsupported!(
            "unknown model format (no TFL3 identifier)"
        )),
    }
}

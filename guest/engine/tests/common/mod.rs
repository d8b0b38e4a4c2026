//! Helpers shared by the engine's fixture tests: where the fixtures live and how `.npy` dtypes
//! map onto the engine's.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cerebro_engine::ir::DType;
use cerebro_npy as npy;

/// `tests/models/` at the repository root (the manifest and the generated fixtures).
pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models")
}

/// The engine dtype a `.npy` array's elements load as.
pub fn engine_dtype(d: npy::DType) -> DType {
    match d {
        npy::DType::F32 => DType::F32,
        npy::DType::F16 => DType::F16,
        npy::DType::F64 => DType::F64,
        npy::DType::I8 => DType::I8,
        npy::DType::U8 => DType::U8,
        npy::DType::I16 => DType::I16,
        npy::DType::U16 => DType::U16,
        npy::DType::I32 => DType::I32,
        npy::DType::U32 => DType::U32,
        npy::DType::I64 => DType::I64,
        npy::DType::U64 => DType::U64,
        npy::DType::Bool => DType::Bool,
    }
}

/// The `.npy` dtype of an engine dtype (`None` for those NumPy has no type for: bf16, resources).
pub fn npy_dtype(d: DType) -> Option<npy::DType> {
    [
        npy::DType::F32,
        npy::DType::F16,
        npy::DType::F64,
        npy::DType::I8,
        npy::DType::U8,
        npy::DType::I16,
        npy::DType::U16,
        npy::DType::I32,
        npy::DType::U32,
        npy::DType::I64,
        npy::DType::U64,
        npy::DType::Bool,
    ]
    .into_iter()
    .find(|&n| engine_dtype(n) == d)
}

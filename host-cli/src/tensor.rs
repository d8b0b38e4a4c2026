//! Owned tensors on the host: conversion from and to `.npy`, values as f64, summary statistics.

use std::path::Path;

use cerebro_engine::DType;
use cerebro_npy as npy;

use crate::error::{CliError, Result};

/// Static description of one model input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Name from the model (may be empty).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<usize>,
}

impl TensorSpec {
    /// `f32[1,64]`-style rendering.
    pub fn type_string(&self) -> String {
        type_string(self.dtype, &self.shape)
    }
}

/// `f32[1,64]`-style rendering of a dtype and shape.
pub fn type_string(dtype: DType, shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("{}[{}]", dtype.name(), dims.join(","))
}

/// An owned tensor: dtype, shape and little-endian bytes in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Name (model input/output name, or empty).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// `shape.product() * dtype.size()` bytes.
    pub data: Vec<u8>,
}

/// The engine dtype of a `.npy` dtype.
pub fn dtype_from_npy(d: npy::DType) -> DType {
    match d {
        npy::DType::F32 => DType::F32,
        npy::DType::F16 => DType::F16,
        npy::DType::I8 => DType::I8,
        npy::DType::U8 => DType::U8,
        npy::DType::I16 => DType::I16,
        npy::DType::I32 => DType::I32,
        npy::DType::I64 => DType::I64,
        npy::DType::U32 => DType::U32,
        npy::DType::U16 => DType::U16,
        npy::DType::U64 => DType::U64,
        npy::DType::F64 => DType::F64,
        npy::DType::Bool => DType::Bool,
    }
}

/// The `.npy` dtype of an engine dtype (`None` for bf16 and resource handles).
pub fn dtype_to_npy(d: DType) -> Option<npy::DType> {
    Some(match d {
        DType::F32 => npy::DType::F32,
        DType::F16 => npy::DType::F16,
        DType::I8 => npy::DType::I8,
        DType::U8 => npy::DType::U8,
        DType::I16 => npy::DType::I16,
        DType::I32 => npy::DType::I32,
        DType::I64 => npy::DType::I64,
        DType::U32 => npy::DType::U32,
        DType::U16 => npy::DType::U16,
        DType::U64 => npy::DType::U64,
        DType::F64 => npy::DType::F64,
        DType::Bool => npy::DType::Bool,
        DType::BF16 | DType::Resource => return None,
    })
}

impl Tensor {
    /// Reads a `.npy` file (bad or unreadable files are bad input).
    pub fn read_npy(path: &Path) -> Result<Tensor> {
        let a = npy::read(path).map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
        Ok(Tensor {
            name: String::new(),
            dtype: dtype_from_npy(a.dtype),
            shape: a.shape,
            data: a.data,
        })
    }

    /// Writes the tensor as a `.npy` file (bf16 is widened to f32, which `.npy` can hold).
    pub fn write_npy(&self, path: &Path) -> Result<()> {
        let array = match dtype_to_npy(self.dtype) {
            Some(d) => npy::Array::new(d, self.shape.clone(), self.data.clone()),
            None if self.dtype == DType::BF16 => {
                let values: Vec<f32> = self.values().iter().map(|&v| v as f32).collect();
                npy::Array::from_f32(self.shape.clone(), &values)
            }
            None => {
                return Err(CliError::other(format!(
                    "cannot write a {} tensor as .npy",
                    self.dtype
                )))
            }
        }
        .map_err(|e| CliError::other(format!("{}: {e}", path.display())))?;
        npy::write(path, &array).map_err(|e| CliError::other(format!("{}: {e}", path.display())))
    }

    /// `f32[1,64]`-style rendering.
    pub fn type_string(&self) -> String {
        type_string(self.dtype, &self.shape)
    }

    /// The values as f64 (raw stored values; quantized integers are not dequantized).
    pub fn values(&self) -> Vec<f64> {
        let s = self.dtype.size().max(1);
        self.data
            .chunks_exact(s)
            .map(|c| match self.dtype {
                DType::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                DType::F16 => half::f16::from_le_bytes([c[0], c[1]]).to_f64(),
                DType::BF16 => half::bf16::from_le_bytes([c[0], c[1]]).to_f64(),
                DType::I8 => c[0] as i8 as f64,
                DType::U8 | DType::Bool => c[0] as f64,
                DType::I16 => i16::from_le_bytes([c[0], c[1]]) as f64,
                DType::U16 => u16::from_le_bytes([c[0], c[1]]) as f64,
                DType::I32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                DType::U32 | DType::Resource => u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                DType::I64 => {
                    i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64
                }
                DType::U64 => {
                    u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64
                }
                DType::F64 => f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
            })
            .collect()
    }
}

/// Summary statistics of a tensor's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Smallest non-NaN value (NaN if every value is NaN or there are none).
    pub min: f64,
    /// Largest non-NaN value.
    pub max: f64,
    /// Mean of all values (NaN if any is NaN).
    pub mean: f64,
    /// Number of NaN values.
    pub nan_count: usize,
}

/// Computes [`Stats`] over `values`.
pub fn stats(values: &[f64]) -> Stats {
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    let mut sum = 0.0;
    let mut nan_count = 0;
    for &v in values {
        if v.is_nan() {
            nan_count += 1;
        } else {
            min = min.min(v);
            max = max.max(v);
        }
        sum += v;
    }
    if nan_count == values.len() {
        min = f64::NAN;
        max = f64::NAN;
    }
    let mean = if values.is_empty() {
        f64::NAN
    } else {
        sum / values.len() as f64
    };
    Stats {
        min,
        max,
        mean,
        nan_count,
    }
}

/// One class of a top-k listing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassScore {
    /// Class index along the last axis.
    pub class: usize,
    /// Probability.
    pub probability: f64,
}

/// If `t` is a float tensor whose rows along the last axis are probability vectors (every value
/// in [0, 1], each row summing to 1 within 1e-3, at least 2 classes), the top `k` classes of each
/// row (at most 16 rows); otherwise `None`.
pub fn top_k(t: &Tensor, k: usize) -> Option<Vec<Vec<ClassScore>>> {
    const MAX_ROWS: usize = 16;
    if !t.dtype.is_float() {
        return None;
    }
    let classes = *t.shape.last()?;
    if classes < 2 {
        return None;
    }
    let values = t.values();
    if values.is_empty()
        || !values.len().is_multiple_of(classes)
        || values.len() / classes > MAX_ROWS
    {
        return None;
    }
    let mut rows = Vec::new();
    for row in values.chunks_exact(classes) {
        if row.iter().any(|&p| !(0.0..=1.0).contains(&p)) {
            return None;
        }
        let sum: f64 = row.iter().sum();
        if (sum - 1.0).abs() > 1e-3 {
            return None;
        }
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        rows.push(
            order
                .iter()
                .take(k)
                .map(|&c| ClassScore {
                    class: c,
                    probability: row[c],
                })
                .collect(),
        );
    }
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_tensor(shape: Vec<usize>, v: &[f32]) -> Tensor {
        Tensor {
            name: "t".into(),
            dtype: DType::F32,
            shape,
            data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    #[test]
    fn stats_ignore_nan_for_extremes() {
        let s = stats(&[1.0, -2.0, f64::NAN, 4.0]);
        assert_eq!((s.min, s.max, s.nan_count), (-2.0, 4.0, 1));
        assert!(s.mean.is_nan());
        let s = stats(&[1.0, 3.0]);
        assert_eq!(s.mean, 2.0);
    }

    #[test]
    fn top_k_of_probabilities() {
        let t = f32_tensor(vec![1, 4], &[0.1, 0.6, 0.05, 0.25]);
        let top = top_k(&t, 3).unwrap();
        assert_eq!(top.len(), 1);
        let classes: Vec<usize> = top[0].iter().map(|c| c.class).collect();
        assert_eq!(classes, [1, 3, 0]);
    }

    #[test]
    fn top_k_refuses_non_probabilities() {
        assert!(top_k(&f32_tensor(vec![1, 3], &[2.0, -1.0, 0.0]), 5).is_none());
        assert!(top_k(&f32_tensor(vec![1, 3], &[0.2, 0.2, 0.2]), 5).is_none());
        assert!(top_k(&f32_tensor(vec![1, 1], &[1.0]), 5).is_none());
    }
}

//! The result retriever: a run's outputs as self-describing tensors for the wire.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::Result;
use crate::executor::Model;
use crate::ir::DType;

/// One output tensor, owned, ready to be encoded by the guest driver.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTensor {
    /// The output's name in the model.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Little-endian bytes in C order.
    pub data: Vec<u8>,
}

/// Copies every output of the last run of `model`.
pub fn collect_outputs(model: &Model) -> Result<Vec<OutputTensor>> {
    let names: Vec<String> = model.outputs().map(|t| t.name.clone()).collect();
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.into_iter().enumerate() {
        let t = model.output(i)?;
        out.push(OutputTensor {
            name,
            dtype: t.dtype,
            shape: t.shape.to_vec(),
            data: t.bytes.to_vec(),
        });
    }
    Ok(out)
}

/// Writes every output of the last run through `sink(index, dtype, shape, bytes)`, without
/// copying (for drivers that encode straight into a shared buffer).
pub fn write_outputs(
    model: &Model,
    mut sink: impl FnMut(usize, DType, &[usize], &[u8]) -> Result<()>,
) -> Result<()> {
    for i in 0..model.num_outputs() {
        let t = model.output(i)?;
        sink(i, t.dtype, t.shape, t.bytes)?;
    }
    Ok(())
}

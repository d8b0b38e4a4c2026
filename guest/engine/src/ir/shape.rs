use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, Result};

/// Largest number of elements or bytes one tensor may have (guards against absurd shapes).
pub const MAX_TENSOR_BYTES: usize = {
    let limit = 1u64 << 34;
    let half_address_space = (isize::MAX as u64) / 2;
    (if limit < half_address_space {
        limit
    } else {
        half_address_space
    }) as usize
};

/// A static tensor shape (row-major / C order).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    /// Builds a shape from dimensions.
    pub fn new(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements, with overflow checked.
    pub fn num_elements(&self) -> Result<usize> {
        num_elements(&self.0)
    }

    /// Size in bytes for elements of `elem_size` bytes, overflow and [`MAX_TENSOR_BYTES`] checked.
    pub fn byte_len(&self, elem_size: usize) -> Result<usize> {
        let n = self.num_elements()?;
        let bytes = n
            .checked_mul(elem_size)
            .ok_or_else(|| Error::TooLarge(alloc::format!("tensor of shape {self} overflows")))?;
        if bytes > MAX_TENSOR_BYTES {
            return Err(Error::TooLarge(alloc::format!(
                "tensor of shape {self} needs {bytes} bytes (limit {MAX_TENSOR_BYTES})"
            )));
        }
        Ok(bytes)
    }
}

/// Product of `dims`, with overflow checked.
pub fn num_elements(dims: &[usize]) -> Result<usize> {
    dims.iter().try_fold(1usize, |acc, &d| {
        acc.checked_mul(d).ok_or_else(|| {
            Error::TooLarge(alloc::format!("shape {:?} has too many elements", dims))
        })
    })
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

//! Tensors on the wire: element types, shapes, and validated tensor lists.
//!
//! One tensor is laid out as (offsets relative to the tensor start, which is 8-aligned):
//!
//! ```text
//! 0   le16 dtype        element type code (DType)
//! 2   le16 rank         number of dimensions, <= MAX_RANK
//! 4   le16 name_len     bytes of the UTF-8 name, <= MAX_NAME_LEN (0 = unnamed)
//! 6   le16 reserved     0
//! 8   le64 data_len     bytes of element data; must equal product(dims) * dtype size
//! 16  le64 dims[rank]
//! ..  u8   name[name_len], zero padding to a multiple of 8
//! ..  u8   data[data_len], zero padding to a multiple of 8
//! ```
//!
//! A tensor list is `le32 count` (<= MAX_TENSORS), `le32 reserved` (0), then `count` tensors.

use crate::wire::{pad8, Reader, WireError, Writer};

/// Largest rank a tensor may have.
pub const MAX_RANK: usize = 8;
/// Longest tensor name in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Most tensors one list may hold.
pub const MAX_TENSORS: usize = 64;
/// Bytes of a tensor header before its dims.
const TENSOR_FIXED: usize = 16;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum DType {
    /// IEEE 754 binary32.
    F32 = 1,
    /// IEEE 754 binary16.
    F16 = 2,
    /// bfloat16.
    BF16 = 3,
    /// IEEE 754 binary64.
    F64 = 4,
    /// Signed 8-bit integer.
    I8 = 5,
    /// Unsigned 8-bit integer.
    U8 = 6,
    /// Signed 16-bit integer.
    I16 = 7,
    /// Unsigned 16-bit integer.
    U16 = 8,
    /// Signed 32-bit integer.
    I32 = 9,
    /// Unsigned 32-bit integer.
    U32 = 10,
    /// Signed 64-bit integer.
    I64 = 11,
    /// Unsigned 64-bit integer.
    U64 = 12,
    /// Boolean, one byte per element (0 or 1).
    Bool = 13,
}

impl DType {
    /// Every element type, in code order.
    pub const ALL: [DType; 13] = [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F64,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::Bool,
    ];

    /// Decodes a wire code.
    pub fn from_code(code: u16) -> Result<DType, WireError> {
        DType::ALL
            .iter()
            .copied()
            .find(|d| *d as u16 == code)
            .ok_or(WireError::UnknownDType(code))
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }
}

/// A tensor shape of at most [`MAX_RANK`] dimensions, stored inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dims {
    rank: u8,
    dims: [u64; MAX_RANK],
}

impl Dims {
    /// Builds a shape; fails if the rank exceeds [`MAX_RANK`].
    pub fn new(dims: &[u64]) -> Result<Dims, WireError> {
        if dims.len() > MAX_RANK {
            return Err(WireError::TooLarge {
                what: "tensor rank",
                len: dims.len() as u64,
                max: MAX_RANK as u64,
            });
        }
        let mut out = Dims {
            rank: dims.len() as u8,
            dims: [0; MAX_RANK],
        };
        out.dims[..dims.len()].copy_from_slice(dims);
        Ok(out)
    }

    /// The dimensions.
    pub fn as_slice(&self) -> &[u64] {
        &self.dims[..self.rank as usize]
    }

    /// Number of elements (1 for a scalar), `None` on overflow.
    pub fn element_count(&self) -> Option<u64> {
        self.as_slice()
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }
}

/// A tensor borrowed from a buffer (decoded) or from its owner (to be encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorView<'a> {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub dims: Dims,
    /// Name (empty if unnamed).
    pub name: &'a str,
    /// Element data, little-endian, row-major.
    pub data: &'a [u8],
}

/// Alias kept for readability at encoding sites.
pub type TensorSpec<'a> = TensorView<'a>;

impl<'a> TensorView<'a> {
    /// Builds a tensor, checking rank, name length and that `data` matches the shape.
    pub fn new(
        dtype: DType,
        dims: &[u64],
        name: &'a str,
        data: &'a [u8],
    ) -> Result<Self, WireError> {
        let dims = Dims::new(dims)?;
        let t = TensorView {
            dtype,
            dims,
            name,
            data,
        };
        t.check()?;
        Ok(t)
    }

    fn check(&self) -> Result<(), WireError> {
        if self.name.len() > MAX_NAME_LEN {
            return Err(WireError::TooLarge {
                what: "tensor name",
                len: self.name.len() as u64,
                max: MAX_NAME_LEN as u64,
            });
        }
        let expected = self
            .dims
            .element_count()
            .and_then(|n| n.checked_mul(self.dtype.size() as u64))
            .ok_or(WireError::ShapeOverflow)?;
        if expected != self.data.len() as u64 {
            return Err(WireError::DataLengthMismatch {
                expected,
                declared: self.data.len() as u64,
            });
        }
        Ok(())
    }

    /// Bytes this tensor takes on the wire, `None` on overflow.
    pub fn encoded_len(&self) -> Option<usize> {
        let head = TENSOR_FIXED + 8 * self.dims.rank as usize;
        let name = pad8(self.name.len())?;
        let data = pad8(self.data.len())?;
        head.checked_add(name)?.checked_add(data)
    }

    /// Writes this tensor.
    pub fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        self.check()?;
        w.u16(self.dtype as u16)?;
        w.u16(self.dims.rank as u16)?;
        w.u16(self.name.len() as u16)?;
        w.u16(0)?;
        w.u64(self.data.len() as u64)?;
        for &d in self.dims.as_slice() {
            w.u64(d)?;
        }
        w.bytes(self.name.as_bytes())?;
        w.align8()?;
        w.bytes(self.data)?;
        w.align8()
    }

    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let dtype = DType::from_code(r.u16()?)?;
        let rank = r.u16()? as usize;
        if rank > MAX_RANK {
            return Err(WireError::TooLarge {
                what: "tensor rank",
                len: rank as u64,
                max: MAX_RANK as u64,
            });
        }
        let name_len = r.u16()? as usize;
        if name_len > MAX_NAME_LEN {
            return Err(WireError::TooLarge {
                what: "tensor name",
                len: name_len as u64,
                max: MAX_NAME_LEN as u64,
            });
        }
        r.reserved16()?;
        let data_len = r.u64()?;
        let mut dims = Dims {
            rank: rank as u8,
            dims: [0; MAX_RANK],
        };
        for d in dims.dims.iter_mut().take(rank) {
            *d = r.u64()?;
        }
        let expected = dims
            .element_count()
            .and_then(|n| n.checked_mul(dtype.size() as u64))
            .ok_or(WireError::ShapeOverflow)?;
        if expected != data_len {
            return Err(WireError::DataLengthMismatch {
                expected,
                declared: data_len,
            });
        }
        let name = core::str::from_utf8(r.bytes(name_len)?).map_err(|_| WireError::NotUtf8)?;
        r.align8()?;
        let data_len = usize::try_from(data_len).map_err(|_| WireError::Truncated {
            offset: r.pos(),
            need: usize::MAX,
        })?;
        let data = r.bytes(data_len)?;
        r.align8()?;
        Ok(TensorView {
            dtype,
            dims,
            name,
            data,
        })
    }
}

/// A validated list of tensors borrowed from a buffer.
///
/// Construction ([`TensorList::decode`]) checks every tensor; iteration cannot fail afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorList<'a> {
    count: usize,
    body: &'a [u8],
}

impl<'a> TensorList<'a> {
    /// Decodes and validates a complete tensor list occupying all of `buf`.
    pub fn decode(buf: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let count = r.u32()? as usize;
        if count > MAX_TENSORS {
            return Err(WireError::TooLarge {
                what: "tensor count",
                len: count as u64,
                max: MAX_TENSORS as u64,
            });
        }
        r.reserved32()?;
        let start = r.pos();
        for _ in 0..count {
            TensorView::decode(&mut r)?;
        }
        r.finish()?;
        Ok(TensorList {
            count,
            body: &buf[start..],
        })
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if the list holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Iterates over the tensors in order.
    pub fn iter(&self) -> TensorListIter<'a> {
        TensorListIter {
            left: self.count,
            reader: Reader::new(self.body),
        }
    }

    /// Bytes a list of `tensors` takes on the wire, `None` on overflow.
    pub fn encoded_len(tensors: &[TensorView<'_>]) -> Option<usize> {
        tensors
            .iter()
            .try_fold(8usize, |acc, t| acc.checked_add(t.encoded_len()?))
    }

    /// Writes a tensor list.
    pub fn encode(tensors: &[TensorView<'_>], w: &mut Writer<'_>) -> Result<(), WireError> {
        if tensors.len() > MAX_TENSORS {
            return Err(WireError::TooLarge {
                what: "tensor count",
                len: tensors.len() as u64,
                max: MAX_TENSORS as u64,
            });
        }
        w.u32(tensors.len() as u32)?;
        w.u32(0)?;
        for t in tensors {
            t.encode(w)?;
        }
        Ok(())
    }
}

/// Iterator over a validated [`TensorList`].
pub struct TensorListIter<'a> {
    left: usize,
    reader: Reader<'a>,
}

impl<'a> Iterator for TensorListIter<'a> {
    type Item = TensorView<'a>;

    fn next(&mut self) -> Option<TensorView<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The list was validated when it was decoded, so this cannot fail; stop if it did.
        TensorView::decode(&mut self.reader).ok()
    }
}

//! Tensors: element types, shapes and constant values decoded from `TensorProto` or bundles.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::proto::{TensorProto, TensorShapeProto};

/// Largest constant a `TensorProto` may expand to (splatted scalars included).
pub const MAX_TENSOR_BYTES: usize = 1 << 30;

/// TensorFlow element types this reader understands (`tensorflow.DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// `DT_FLOAT`
    F32,
    /// `DT_DOUBLE`
    F64,
    /// `DT_INT32`
    I32,
    /// `DT_UINT8`
    U8,
    /// `DT_INT16`
    I16,
    /// `DT_INT8`
    I8,
    /// `DT_STRING`
    String,
    /// `DT_INT64`
    I64,
    /// `DT_BOOL`
    Bool,
    /// `DT_BFLOAT16`
    BF16,
    /// `DT_UINT16`
    U16,
    /// `DT_HALF`
    F16,
    /// `DT_RESOURCE`
    Resource,
    /// `DT_UINT32`
    U32,
    /// `DT_UINT64`
    U64,
}

impl DType {
    /// Maps a `tensorflow.DataType` number; `_REF` types (+100) map to their base type.
    pub fn from_proto(value: i32) -> Result<DType> {
        let base = if value > 100 { value - 100 } else { value };
        Ok(match base {
            1 => DType::F32,
            2 => DType::F64,
            3 => DType::I32,
            4 => DType::U8,
            5 => DType::I16,
            6 => DType::I8,
            7 => DType::String,
            9 => DType::I64,
            10 => DType::Bool,
            14 => DType::BF16,
            17 => DType::U16,
            19 => DType::F16,
            20 => DType::Resource,
            22 => DType::U32,
            23 => DType::U64,
            other => return Err(Error::Unsupported(format!("TensorFlow DataType {other}"))),
        })
    }

    /// Bytes per element, `None` for strings and resources.
    pub fn size(self) -> Option<usize> {
        Some(match self {
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::U8 | DType::I8 | DType::Bool => 1,
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => 2,
            DType::String | DType::Resource => return None,
        })
    }

    /// TensorFlow's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I32 => "int32",
            DType::U8 => "uint8",
            DType::I16 => "int16",
            DType::I8 => "int8",
            DType::String => "string",
            DType::I64 => "int64",
            DType::Bool => "bool",
            DType::BF16 => "bfloat16",
            DType::U16 => "uint16",
            DType::F16 => "float16",
            DType::Resource => "resource",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
        }
    }
}

/// A possibly partial shape: `None` for an unknown dimension; `dims == None` for unknown rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialShape {
    /// Dimensions, or `None` when even the rank is unknown.
    pub dims: Option<Vec<Option<usize>>>,
}

impl PartialShape {
    /// Reads a `TensorShapeProto` that may hold unknown (-1) dimensions.
    pub fn from_proto(shape: Option<&TensorShapeProto>) -> Result<PartialShape> {
        let Some(shape) = shape else {
            return Ok(PartialShape { dims: None });
        };
        if shape.unknown_rank {
            return Ok(PartialShape { dims: None });
        }
        let mut dims = Vec::with_capacity(shape.dim.len());
        for d in &shape.dim {
            dims.push(match d.size {
                -1 => None,
                n => Some(
                    usize::try_from(n)
                        .map_err(|_| Error::Tensor(format!("invalid dimension {n}")))?,
                ),
            });
        }
        Ok(PartialShape { dims: Some(dims) })
    }
}

/// Reads a fully known shape.
pub fn shape_from_proto(shape: Option<&TensorShapeProto>) -> Result<Vec<usize>> {
    let Some(shape) = shape else {
        return Ok(Vec::new());
    };
    if shape.unknown_rank {
        return Err(Error::Tensor("constant with unknown rank".into()));
    }
    shape
        .dim
        .iter()
        .map(|d| {
            usize::try_from(d.size)
                .map_err(|_| Error::Tensor(format!("invalid dimension {} in a constant", d.size)))
        })
        .collect()
}

/// Number of elements of a shape, overflow-checked.
pub fn element_count(shape: &[usize]) -> Result<usize> {
    shape.iter().try_fold(1usize, |acc, &d| {
        acc.checked_mul(d)
            .ok_or_else(|| Error::Limit(format!("element count of shape {shape:?} overflows")))
    })
}

/// Content of a constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData<'a> {
    /// Numeric elements, little-endian, C order; borrowed from the model bytes when possible.
    Bytes(Cow<'a, [u8]>),
    /// Byte strings (`DT_STRING`).
    Strings(Vec<Vec<u8>>),
}

/// A constant tensor: type, shape and content.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor<'a> {
    /// Element type.
    pub dtype: DType,
    /// Shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Elements.
    pub data: TensorData<'a>,
}

impl<'a> Tensor<'a> {
    /// Builds a numeric tensor, checking that `bytes` holds exactly the shape's elements.
    pub fn from_bytes(dtype: DType, shape: Vec<usize>, bytes: Cow<'a, [u8]>) -> Result<Self> {
        let size = dtype
            .size()
            .ok_or_else(|| Error::Unsupported(format!("raw bytes of a {} tensor", dtype.name())))?;
        let expected = element_count(&shape)?
            .checked_mul(size)
            .ok_or_else(|| Error::Limit("tensor byte size overflows".into()))?;
        if bytes.len() != expected {
            return Err(Error::Tensor(format!(
                "{} tensor of shape {shape:?} needs {expected} bytes, has {}",
                dtype.name(),
                bytes.len()
            )));
        }
        Ok(Tensor {
            dtype,
            shape,
            data: TensorData::Bytes(bytes),
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        // The shape was checked when the tensor was built.
        self.shape.iter().product()
    }

    /// True for a tensor without elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw little-endian bytes of a numeric tensor.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.data {
            TensorData::Bytes(b) => Some(b),
            TensorData::Strings(_) => None,
        }
    }

    /// The strings of a `DT_STRING` tensor.
    pub fn strings(&self) -> Option<&[Vec<u8>]> {
        match &self.data {
            TensorData::Bytes(_) => None,
            TensorData::Strings(s) => Some(s),
        }
    }

    /// Elements converted to f32 (floats, integers and booleans).
    pub fn to_f32_vec(&self) -> Option<Vec<f32>> {
        let b = self.bytes()?;
        Some(match self.dtype {
            DType::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F16 => b
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DType::BF16 => b
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DType::F64 => b
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            _ => self.to_i64_vec()?.into_iter().map(|v| v as f32).collect(),
        })
    }

    /// Elements converted to i64 (integers and booleans).
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        let b = self.bytes()?;
        Some(match self.dtype {
            DType::I32 => b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            DType::U32 => b
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            DType::I64 | DType::U64 => b
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            DType::I16 => b
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
                .collect(),
            DType::U16 => b
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as i64)
                .collect(),
            DType::I8 => b.iter().map(|&v| v as i8 as i64).collect(),
            DType::U8 | DType::Bool => b.iter().map(|&v| v as i64).collect(),
            _ => return None,
        })
    }

    /// Decodes a `TensorProto` (the `value` of a `Const` node), with TensorFlow's rules:
    /// `tensor_content` holds the raw bytes; otherwise the typed values, where fewer values than
    /// elements repeat the last one and no values mean zeros.
    pub fn from_proto(proto: &TensorProto) -> Result<Tensor<'static>> {
        let dtype = DType::from_proto(proto.dtype)?;
        let shape = shape_from_proto(proto.tensor_shape.as_ref())?;
        let count = element_count(&shape)?;
        if dtype == DType::String {
            let values = &proto.string_val;
            if values.len() != count {
                return Err(Error::Tensor(format!(
                    "string tensor of shape {shape:?} has {} values",
                    values.len()
                )));
            }
            return Ok(Tensor {
                dtype,
                shape,
                data: TensorData::Strings(values.clone()),
            });
        }
        let size = dtype
            .size()
            .ok_or_else(|| Error::Unsupported(format!("constant of type {}", dtype.name())))?;
        let total = count
            .checked_mul(size)
            .filter(|&t| t <= MAX_TENSOR_BYTES)
            .ok_or_else(|| Error::Limit(format!("constant of shape {shape:?} is too large")))?;
        if !proto.tensor_content.is_empty() {
            return Tensor::from_bytes(dtype, shape, Cow::Owned(proto.tensor_content.clone()));
        }
        let mut out = Vec::with_capacity(total);
        match dtype {
            DType::F32 => splat(&proto.float_val, count, &mut out, |v| v.to_le_bytes())?,
            DType::F64 => splat(&proto.double_val, count, &mut out, |v| v.to_le_bytes())?,
            DType::I32 => splat(&proto.int_val, count, &mut out, |v| v.to_le_bytes())?,
            DType::I16 => splat(&proto.int_val, count, &mut out, |v| {
                (v as i16).to_le_bytes()
            })?,
            DType::U16 => splat(&proto.int_val, count, &mut out, |v| {
                (v as u16).to_le_bytes()
            })?,
            DType::I8 => splat(&proto.int_val, count, &mut out, |v| (v as i8).to_le_bytes())?,
            DType::U8 => splat(&proto.int_val, count, &mut out, |v| (v as u8).to_le_bytes())?,
            DType::I64 => splat(&proto.int64_val, count, &mut out, |v| v.to_le_bytes())?,
            DType::U32 => splat(&proto.uint32_val, count, &mut out, |v| v.to_le_bytes())?,
            DType::U64 => splat(&proto.uint64_val, count, &mut out, |v| v.to_le_bytes())?,
            DType::Bool => splat(&proto.bool_val, count, &mut out, |v| [v as u8])?,
            DType::F16 | DType::BF16 => splat(&proto.half_val, count, &mut out, |v| {
                (v as u16).to_le_bytes()
            })?,
            DType::String | DType::Resource => unreachable_type(dtype)?,
        }
        Tensor::from_bytes(dtype, shape, Cow::Owned(out))
    }
}

fn unreachable_type(dtype: DType) -> Result<()> {
    Err(Error::Unsupported(format!(
        "constant of type {}",
        dtype.name()
    )))
}

/// Expands typed values to `count` elements with TensorFlow's repeat-the-last rule.
fn splat<T: Copy + Default, const N: usize>(
    values: &[T],
    count: usize,
    out: &mut Vec<u8>,
    encode: impl Fn(T) -> [u8; N],
) -> Result<()> {
    if values.len() > count {
        return Err(Error::Tensor(format!(
            "{} values for {count} elements",
            values.len()
        )));
    }
    for v in values {
        out.extend_from_slice(&encode(*v));
    }
    let fill = encode(values.last().copied().unwrap_or_default());
    for _ in values.len()..count {
        out.extend_from_slice(&fill);
    }
    Ok(())
}

/// Display helper: `float32[3, 4]`.
pub fn describe(dtype: DType, shape: &[usize]) -> String {
    format!("{}{shape:?}", dtype.name())
}

//! Reading and writing NumPy `.npy` files (format versions 1.0, 2.0 and 3.0 headers).
//!
//! Supported dtypes: `f4`, `f2`, `f8`, `i1`, `u1`, `i2`, `u2`, `i4`, `u4`, `i8`, `u8`, `b1` (bool), little-endian
//! or byte-order-free, C order. Files in Fortran order, big-endian or with other dtypes are
//! refused with an error that says why.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;

/// Element type of an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `<f4`
    F32,
    /// `<f2`
    F16,
    /// `<f8`
    F64,
    /// `|i1`
    I8,
    /// `|u1`
    U8,
    /// `<i2`
    I16,
    /// `<u2`
    U16,
    /// `<i4`
    I32,
    /// `<i8`
    I64,
    /// `<u4`
    U32,
    /// `<u8`
    U64,
    /// `|b1`
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::F16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// The numpy `descr` string written for this dtype.
    pub fn descr(self) -> &'static str {
        match self {
            DType::F32 => "<f4",
            DType::F16 => "<f2",
            DType::F64 => "<f8",
            DType::I8 => "|i1",
            DType::U8 => "|u1",
            DType::I16 => "<i2",
            DType::U16 => "<u2",
            DType::I32 => "<i4",
            DType::I64 => "<i8",
            DType::U32 => "<u4",
            DType::U64 => "<u8",
            DType::Bool => "|b1",
        }
    }

    fn parse(descr: &str) -> Result<Self, NpyError> {
        let (order, kind) = match descr.as_bytes().first() {
            Some(b'<' | b'|' | b'=') => (descr.as_bytes()[0], &descr[1..]),
            Some(b'>') => return Err(NpyError::Unsupported(format!("big-endian dtype {descr:?}"))),
            _ => (b'|', descr),
        };
        let _ = order;
        Ok(match kind {
            "f4" => DType::F32,
            "f2" => DType::F16,
            "f8" => DType::F64,
            "i1" => DType::I8,
            "u1" => DType::U8,
            "i2" => DType::I16,
            "u2" => DType::U16,
            "i4" => DType::I32,
            "i8" => DType::I64,
            "u4" => DType::U32,
            "u8" => DType::U64,
            "b1" => DType::Bool,
            _ => return Err(NpyError::Unsupported(format!("dtype {descr:?}"))),
        })
    }
}

/// An n-dimensional array: dtype, shape and little-endian bytes in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Element type.
    pub dtype: DType,
    /// Dimensions (empty for a scalar).
    pub shape: Vec<usize>,
    /// `shape.product() * dtype.size()` bytes.
    pub data: Vec<u8>,
}

impl Array {
    /// Builds an array, checking that `data` has the right length.
    pub fn new(dtype: DType, shape: Vec<usize>, data: Vec<u8>) -> Result<Self, NpyError> {
        let n = element_count(&shape)?;
        let want = n
            .checked_mul(dtype.size())
            .ok_or_else(|| NpyError::Malformed("array size overflows".into()))?;
        if data.len() != want {
            return Err(NpyError::Malformed(format!(
                "{} bytes of data for shape {shape:?} of {}",
                data.len(),
                dtype.descr()
            )));
        }
        Ok(Array { dtype, shape, data })
    }

    /// An f32 array from values.
    pub fn from_f32(shape: Vec<usize>, values: &[f32]) -> Result<Self, NpyError> {
        Array::new(
            DType::F32,
            shape,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The values as f64 (any numeric dtype; f16 converted exactly).
    pub fn to_f64(&self) -> Vec<f64> {
        let s = self.dtype.size();
        self.data
            .chunks_exact(s)
            .map(|c| match self.dtype {
                DType::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                DType::F16 => f16_to_f64(u16::from_le_bytes([c[0], c[1]])),
                DType::I8 => c[0] as i8 as f64,
                DType::U8 | DType::Bool => c[0] as f64,
                DType::I16 => i16::from_le_bytes([c[0], c[1]]) as f64,
                DType::U16 => u16::from_le_bytes([c[0], c[1]]) as f64,
                DType::I32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                DType::U32 => u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
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

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 => {
            if frac == 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        }
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

fn element_count(shape: &[usize]) -> Result<usize, NpyError> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| NpyError::Malformed(format!("shape {shape:?} overflows")))
}

/// Why a `.npy` file could not be read or written.
#[derive(Debug)]
pub enum NpyError {
    /// I/O failure.
    Io(std::io::Error),
    /// Not a well-formed `.npy` file.
    Malformed(String),
    /// Well formed but uses a feature this crate does not support.
    Unsupported(String),
}

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NpyError::Io(e) => write!(f, "npy I/O error: {e}"),
            NpyError::Malformed(m) => write!(f, "malformed .npy: {m}"),
            NpyError::Unsupported(m) => write!(f, "unsupported .npy: {m}"),
        }
    }
}

impl std::error::Error for NpyError {}

impl From<std::io::Error> for NpyError {
    fn from(e: std::io::Error) -> Self {
        NpyError::Io(e)
    }
}

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Parses a `.npy` file from bytes.
pub fn parse(bytes: &[u8]) -> Result<Array, NpyError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(NpyError::Malformed("missing \\x93NUMPY magic".into()));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(NpyError::Malformed("truncated version 2 header".into()));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        _ => {
            return Err(NpyError::Unsupported(format!(
                "format version {major}.{minor}"
            )))
        }
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            NpyError::Malformed(format!(
                "header of {header_len} bytes runs past the end of the file"
            ))
        })?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| NpyError::Malformed("header is not UTF-8".into()))?;
    let descr = dict_value(header, "descr")?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let dtype = DType::parse(descr)?;
    let fortran = dict_value(header, "fortran_order")?.trim();
    match fortran {
        "False" => {}
        "True" => return Err(NpyError::Unsupported("Fortran-order arrays".into())),
        v => return Err(NpyError::Malformed(format!("fortran_order is {v:?}"))),
    }
    let shape_text = dict_value(header, "shape")?.trim();
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| NpyError::Malformed(format!("shape {shape_text:?} is not a tuple")))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| NpyError::Malformed(format!("bad dimension {s:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let n = element_count(&shape)?;
    let want = n
        .checked_mul(dtype.size())
        .ok_or_else(|| NpyError::Malformed("data size overflows".into()))?;
    let data = &bytes[end..];
    if data.len() != want {
        return Err(NpyError::Malformed(format!(
            "shape {shape:?} of {} needs {want} data bytes, file has {}",
            dtype.descr(),
            data.len()
        )));
    }
    Ok(Array {
        dtype,
        shape,
        data: data.to_vec(),
    })
}

/// Finds `'key': value` in a Python dict literal; the value ends at the next top-level comma.
fn dict_value<'a>(header: &'a str, key: &str) -> Result<&'a str, NpyError> {
    let pat1 = format!("'{key}'");
    let pat2 = format!("\"{key}\"");
    let pos = header
        .find(&pat1)
        .map(|p| p + pat1.len())
        .or_else(|| header.find(&pat2).map(|p| p + pat2.len()))
        .ok_or_else(|| NpyError::Malformed(format!("header has no {key:?}")))?;
    let rest = header[pos..].trim_start();
    let rest = rest
        .strip_prefix(':')
        .ok_or_else(|| NpyError::Malformed(format!("no ':' after {key:?}")))?;
    let mut depth = 0i32;
    for (i, ch) in rest.char_indices() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Ok(&rest[..i]),
            _ => {}
        }
    }
    Err(NpyError::Malformed(format!(
        "value of {key:?} is not terminated"
    )))
}

/// Encodes an array as `.npy` bytes (version 1.0, or 2.0 if the header needs it).
pub fn to_bytes(a: &Array) -> Vec<u8> {
    let shape = match a.shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", a.shape[0]),
        _ => format!(
            "({})",
            a.shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        a.dtype.descr(),
        shape
    );
    let mut out = Vec::with_capacity(dict.len() + a.data.len() + 16);
    out.extend_from_slice(MAGIC);
    // Pad so that the data starts on a 64-byte boundary; the header ends with '\n'.
    let v1_total = 10 + dict.len() + 1;
    if v1_total.div_ceil(64) * 64 - 10 <= u16::MAX as usize {
        let header_len = v1_total.div_ceil(64) * 64 - 10;
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.resize(10 + header_len - 1, b' ');
    } else {
        let header_len = (12 + dict.len() + 1).div_ceil(64) * 64 - 12;
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.resize(12 + header_len - 1, b' ');
    }
    out.push(b'\n');
    out.extend_from_slice(&a.data);
    out
}

/// Reads a `.npy` file.
pub fn read(path: impl AsRef<Path>) -> Result<Array, NpyError> {
    let path = path.as_ref();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(|e| {
            NpyError::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ))
        })?
        .read_to_end(&mut bytes)?;
    parse(&bytes).map_err(|e| match e {
        NpyError::Malformed(m) => NpyError::Malformed(format!("{}: {m}", path.display())),
        NpyError::Unsupported(m) => NpyError::Unsupported(format!("{}: {m}", path.display())),
        e => e,
    })
}

/// Writes a `.npy` file.
pub fn write(path: impl AsRef<Path>, a: &Array) -> Result<(), NpyError> {
    std::fs::File::create(path)?.write_all(&to_bytes(a))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_dtype() {
        for (dtype, shape) in [
            (DType::F32, vec![2, 3]),
            (DType::F16, vec![4]),
            (DType::I8, vec![1, 2, 2]),
            (DType::U8, vec![]),
            (DType::I16, vec![3]),
            (DType::I32, vec![0, 5]),
            (DType::I64, vec![2]),
            (DType::U32, vec![1]),
            (DType::F64, vec![2]),
            (DType::U16, vec![3]),
            (DType::U64, vec![2]),
            (DType::Bool, vec![3, 1]),
        ] {
            let n: usize = shape.iter().product();
            let data: Vec<u8> = (0..n * dtype.size())
                .map(|i| (i * 7 % 251) as u8 & if dtype == DType::Bool { 1 } else { 0xff })
                .collect();
            let a = Array::new(dtype, shape.clone(), data).unwrap();
            let bytes = to_bytes(&a);
            assert_eq!(
                (bytes.len() - a.data.len()) % 64,
                0,
                "data is 64-byte aligned"
            );
            assert_eq!(parse(&bytes).unwrap(), a);
        }
    }

    #[test]
    fn reads_version_2_headers() {
        let a = Array::from_f32(vec![2], &[1.0, -2.5]).unwrap();
        let v1 = to_bytes(&a);
        let hl = u16::from_le_bytes([v1[8], v1[9]]) as usize;
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend_from_slice(&(hl as u32).to_le_bytes());
        v2.extend_from_slice(&v1[10..]);
        assert_eq!(parse(&v2).unwrap(), a);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let a = Array::from_f32(vec![2, 2], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let good = to_bytes(&a);
        let err = |b: &[u8]| parse(b).unwrap_err().to_string();
        assert!(err(b"hello").contains("magic"));
        assert!(err(&good[..good.len() - 1]).contains("needs 16 data bytes"));
        assert!(err(&good[..20]).contains("runs past the end"));
        // Same-length byte substitutions in the header.
        let patched = |from: &[u8], to: &[u8]| -> Vec<u8> {
            let mut v = good.clone();
            let at = v
                .windows(from.len())
                .position(|w| w == from)
                .expect("pattern in header");
            v[at..at + to.len()].copy_from_slice(to);
            v
        };
        assert!(err(&patched(b"<f4", b">f4")).contains("big-endian"));
        assert!(err(&patched(b"False", b"True ")).contains("Fortran"));
        assert!(err(&patched(b"<f4", b"<c8")).contains("dtype"));
        assert!(Array::new(DType::I32, vec![3], vec![0; 4]).is_err());
    }

    #[test]
    fn f16_values_convert() {
        let a = Array::new(
            DType::F16,
            vec![3],
            vec![0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00],
        )
        .unwrap();
        let v = a.to_f64();
        assert_eq!(v[0], 1.0);
        assert_eq!(v[1], -2.0);
        assert_eq!(v[2], 2f64.powi(-24));
    }
}

//! Low-level little-endian readers and writers with checked bounds, and the error type.

use core::fmt;

/// Why a buffer was rejected by a decoder or could not be filled by an encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The input ended before a field: `need` bytes were required at `offset`.
    Truncated {
        /// Offset of the field that did not fit.
        offset: usize,
        /// Bytes the field needs.
        need: usize,
    },
    /// A reserved field was not zero.
    ReservedNotZero,
    /// The message kind is not defined by this ABI.
    UnknownKind(u16),
    /// The message kind is defined but not valid in this position (e.g. a result on the job
    /// queue).
    UnexpectedKind(u16),
    /// A length exceeds a limit of the spec or of the device configuration.
    TooLarge {
        /// Which length.
        what: &'static str,
        /// The length found.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Bytes follow the last field of a body.
    TrailingBytes,
    /// An unknown tensor element type code.
    UnknownDType(u16),
    /// The element count of a shape overflows 64 bits.
    ShapeOverflow,
    /// A tensor's data length does not match its shape and element type.
    DataLengthMismatch {
        /// Bytes the shape implies.
        expected: u64,
        /// Bytes the tensor header declares.
        declared: u64,
    },
    /// A name or diagnostic text is not UTF-8.
    NotUtf8,
    /// An unknown status code.
    UnknownStatus(u32),
    /// An unknown digest algorithm.
    UnknownDigestAlgorithm(u32),
    /// A status field holds OK where an error was required, or the reverse.
    InconsistentStatus,
    /// The output buffer of an encoder is too small: `need` bytes were required.
    BufferTooSmall {
        /// Bytes the encoded message needs in total.
        need: usize,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated { offset, need } => {
                write!(f, "truncated: {need} bytes needed at offset {offset}")
            }
            WireError::ReservedNotZero => write!(f, "reserved field is not zero"),
            WireError::UnknownKind(k) => write!(f, "unknown message kind {k:#06x}"),
            WireError::UnexpectedKind(k) => write!(f, "message kind {k:#06x} not valid here"),
            WireError::TooLarge { what, len, max } => {
                write!(f, "{what} is {len}, above the limit {max}")
            }
            WireError::TrailingBytes => write!(f, "trailing bytes after the last field"),
            WireError::UnknownDType(d) => write!(f, "unknown tensor dtype code {d}"),
            WireError::ShapeOverflow => write!(f, "tensor shape element count overflows"),
            WireError::DataLengthMismatch { expected, declared } => write!(
                f,
                "tensor data is {declared} bytes but its shape and dtype need {expected}"
            ),
            WireError::NotUtf8 => write!(f, "text is not UTF-8"),
            WireError::UnknownStatus(s) => write!(f, "unknown status code {s}"),
            WireError::UnknownDigestAlgorithm(a) => write!(f, "unknown digest algorithm {a}"),
            WireError::InconsistentStatus => write!(f, "status inconsistent with the payload"),
            WireError::BufferTooSmall { need } => {
                write!(f, "output buffer too small: {need} bytes needed")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WireError {}

/// Rounds `n` up to a multiple of 8, `None` on overflow.
pub(crate) fn pad8(n: usize) -> Option<usize> {
    n.checked_add(7).map(|v| v & !7)
}

/// A bounds-checked little-endian cursor over an input buffer.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated {
            offset: self.pos,
            need: n,
        })?;
        let out = self.buf.get(self.pos..end).ok_or(WireError::Truncated {
            offset: self.pos,
            need: n,
        })?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn digest(&mut self) -> Result<[u8; 32], WireError> {
        self.array()
    }

    /// Reads a reserved 16-bit field, which must be zero.
    pub(crate) fn reserved16(&mut self) -> Result<(), WireError> {
        match self.u16()? {
            0 => Ok(()),
            _ => Err(WireError::ReservedNotZero),
        }
    }

    /// Reads a reserved 32-bit field, which must be zero.
    pub(crate) fn reserved32(&mut self) -> Result<(), WireError> {
        match self.u32()? {
            0 => Ok(()),
            _ => Err(WireError::ReservedNotZero),
        }
    }

    /// Skips padding up to the next multiple of 8 from the start; padding must be zero.
    pub(crate) fn align8(&mut self) -> Result<(), WireError> {
        let target = pad8(self.pos).ok_or(WireError::ShapeOverflow)?;
        let pad = self.bytes(target - self.pos)?;
        if pad.iter().any(|&b| b != 0) {
            return Err(WireError::ReservedNotZero);
        }
        Ok(())
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<(), WireError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }
}

/// A bounds-checked little-endian cursor over an output buffer.
///
/// Encoders write through it; on overflow they report the total length needed so the caller
/// can size its buffer (see the `encoded_len` helpers of each message).
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// Starts writing at the beginning of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn bytes(&mut self, data: &[u8]) -> Result<(), WireError> {
        let end = self
            .pos
            .checked_add(data.len())
            .ok_or(WireError::BufferTooSmall { need: usize::MAX })?;
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(WireError::BufferTooSmall { need: end })?;
        dst.copy_from_slice(data);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), WireError> {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn u32(&mut self, v: u32) -> Result<(), WireError> {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> Result<(), WireError> {
        self.bytes(&v.to_le_bytes())
    }

    /// Writes zero padding up to the next multiple of 8.
    pub(crate) fn align8(&mut self) -> Result<(), WireError> {
        let target = pad8(self.pos).ok_or(WireError::BufferTooSmall { need: usize::MAX })?;
        const ZEROS: [u8; 8] = [0; 8];
        self.bytes(&ZEROS[..target - self.pos])
    }
}

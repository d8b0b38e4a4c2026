//! Bounded cursor over bytecode: prefix varints, zigzag varints, sections, blobs.

use crate::error::{Error, Result};
use alloc::string::String;

/// A cursor over `data[pos..]` (offsets are absolute in the file for error messages).
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Read `data` from `pos` up to its end.
    pub fn new(data: &'a [u8], pos: usize) -> Reader<'a> {
        Reader {
            data,
            pos: pos.min(data.len()),
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn err(&self, msg: impl Into<String>) -> Error {
        Error::at_offset(self.pos, msg)
    }

    pub fn byte(&mut self) -> Result<u8> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| self.err("unexpected end of bytecode"))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.data.len())
            .ok_or_else(|| self.err(alloc::format!("need {n} bytes, fewer remain")))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// MLIR prefix varint.
    pub fn varint(&mut self) -> Result<u64> {
        let first = self.byte()?;
        if first & 1 == 1 {
            return Ok(u64::from(first >> 1));
        }
        if first == 0 {
            let b = self.bytes(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            return Ok(u64::from_le_bytes(a));
        }
        let extra = first.trailing_zeros() as usize;
        let rest = self.bytes(extra)?;
        let mut a = [0u8; 8];
        a[0] = first;
        a[1..=extra].copy_from_slice(rest);
        Ok(u64::from_le_bytes(a) >> (extra + 1))
    }

    /// Zigzag-encoded signed varint.
    pub fn svarint(&mut self) -> Result<i64> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// `(value << 1) | flag`.
    pub fn varint_flag(&mut self) -> Result<(u64, bool)> {
        let v = self.varint()?;
        Ok((v >> 1, v & 1 == 1))
    }

    /// A count that cannot exceed the remaining bytes (each item takes at least one byte).
    pub fn count(&mut self) -> Result<usize> {
        let v = self.varint()?;
        let remaining = self.data.len() - self.pos;
        usize::try_from(v)
            .ok()
            .filter(|n| *n <= remaining.max(1) * 8)
            .ok_or_else(|| self.err(alloc::format!("count {v} is larger than the data")))
    }

    /// An index below `len`.
    pub fn index(&mut self, len: usize, what: &str) -> Result<usize> {
        let v = self.varint()?;
        usize::try_from(v)
            .ok()
            .filter(|i| *i < len)
            .ok_or_else(|| self.err(alloc::format!("{what} index {v} out of range ({len})")))
    }

    /// NUL-terminated UTF-8 string.
    pub fn cstr(&mut self) -> Result<&'a str> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| self.err("unterminated string"))?;
        let s = core::str::from_utf8(&rest[..n]).map_err(|_| self.err("string is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }

    /// `varint size` + bytes.
    pub fn blob(&mut self) -> Result<&'a [u8]> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| self.err("blob too large"))?;
        self.bytes(n)
    }

    /// An APInt of known width: one byte up to 8 bits, a zigzag varint up to 64, else words.
    pub fn apint(&mut self, bits: u32) -> Result<u128> {
        if bits <= 8 {
            return Ok(u128::from(self.byte()?));
        }
        if bits <= 64 {
            return Ok(u128::from(self.svarint()? as u64));
        }
        let words = self.varint()?;
        if words > 2 {
            return Err(self.err("integer wider than 128 bits"));
        }
        let mut v = 0u128;
        for i in 0..words {
            v |= u128::from(self.svarint()? as u64) << (64 * i);
        }
        Ok(v)
    }

    /// A section header: returns (id, data start, data end) and moves past the data.
    pub fn section(&mut self) -> Result<(u8, usize, usize)> {
        let at = self.pos;
        let id_byte = self.byte()?;
        let len = self.varint()?;
        if id_byte & 0x80 != 0 {
            let align = self.varint()?;
            if !align.is_power_of_two() || align > 4096 {
                return Err(Error::at_offset(at, "bad section alignment"));
            }
            while !self.pos.is_multiple_of(align as usize) {
                if self.byte()? != 0xCB {
                    return Err(self.err("bad section padding byte"));
                }
            }
        }
        let len = usize::try_from(len).map_err(|_| self.err("section too large"))?;
        let start = self.pos;
        self.bytes(len)
            .map_err(|_| Error::at_offset(at, "section extends past the end of the file"))?;
        Ok((id_byte & 0x7F, start, start + len))
    }
}

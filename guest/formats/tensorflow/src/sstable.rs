//! Reader of the LevelDB-format SSTable that TensorFlow uses for checkpoint indexes
//! (`variables.index`).
//!
//! Layout: data blocks, a metaindex block, an index block, then a 48-byte footer holding the
//! metaindex and index block handles (varints, zero padded to 40 bytes) and the magic
//! `0xdb4775248b80fb57`. Every block is followed by a 5-byte trailer: a compression type byte
//! and the masked CRC-32C of the block and that byte. Block entries are prefix-compressed keys
//! (`shared`, `non_shared`, `value_len` varints) followed by a restart-point array.

use alloc::format;
use alloc::vec::Vec;

use crate::error::{Error, Result};

/// Magic number at the end of every table file.
pub const TABLE_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Size of the table footer.
pub const FOOTER_LEN: usize = 48;
/// Size of the trailer after each block.
pub const BLOCK_TRAILER_LEN: usize = 5;
/// Most entries a table may hold (a defence against absurd files).
pub const MAX_ENTRIES: usize = 1 << 22;

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// CRC-32C (Castagnoli) of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    CRC32C.checksum(bytes)
}

/// LevelDB's checksum masking (stored checksums are masked).
pub fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Inverse of [`mask_crc`].
pub fn unmask_crc(masked: u32) -> u32 {
    masked.wrapping_sub(0xa282_ead8).rotate_left(15)
}

/// Reads a base-128 varint of at most `max_bytes` bytes, advancing `pos`.
fn varint(bytes: &[u8], pos: &mut usize, max_bytes: usize) -> Result<u64> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        let b = *bytes
            .get(*pos)
            .ok_or_else(|| Error::Table("truncated varint".into()))?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Error::Table("varint too long".into()))
}

fn varint32(bytes: &[u8], pos: &mut usize) -> Result<usize> {
    let v = varint(bytes, pos, 5)?;
    u32::try_from(v)
        .map(|v| v as usize)
        .map_err(|_| Error::Table(format!("varint32 {v} out of range")))
}

fn u32_le(bytes: &[u8], at: usize) -> Result<u32> {
    let end = at
        .checked_add(4)
        .ok_or_else(|| Error::Table("offset overflow".into()))?;
    let b = bytes
        .get(at..end)
        .ok_or_else(|| Error::Table(format!("u32 at {at} past the end")))?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Location of a block in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHandle {
    /// Byte offset of the block.
    pub offset: u64,
    /// Byte size of the block, trailer excluded.
    pub size: u64,
}

impl BlockHandle {
    fn decode(bytes: &[u8], pos: &mut usize) -> Result<BlockHandle> {
        let offset = varint(bytes, pos, 10)?;
        let size = varint(bytes, pos, 10)?;
        Ok(BlockHandle { offset, size })
    }
}

/// The parsed footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// Metaindex block (unused by TensorFlow bundles, still checked).
    pub metaindex: BlockHandle,
    /// Index block: one entry per data block.
    pub index: BlockHandle,
}

/// Parses the 48-byte footer at the end of `file`.
pub fn read_footer(file: &[u8]) -> Result<Footer> {
    let start = file
        .len()
        .checked_sub(FOOTER_LEN)
        .ok_or_else(|| Error::Table(format!("{} bytes: shorter than the footer", file.len())))?;
    let footer = &file[start..];
    let magic = u64::from_le_bytes(
        footer[40..48]
            .try_into()
            .map_err(|_| Error::Table("footer".into()))?,
    );
    if magic != TABLE_MAGIC {
        return Err(Error::Table(format!("bad magic {magic:#018x}")));
    }
    let handles = &footer[..40];
    let mut pos = 0;
    let metaindex = BlockHandle::decode(handles, &mut pos)?;
    let index = BlockHandle::decode(handles, &mut pos)?;
    Ok(Footer { metaindex, index })
}

/// Returns the contents of the block at `handle`, with its trailer's CRC checked.
pub fn read_block(file: &[u8], handle: BlockHandle) -> Result<&[u8]> {
    let start = usize::try_from(handle.offset)
        .map_err(|_| Error::Table("block offset out of range".into()))?;
    let size =
        usize::try_from(handle.size).map_err(|_| Error::Table("block size out of range".into()))?;
    let end = start
        .checked_add(size)
        .ok_or_else(|| Error::Table("block end overflows".into()))?;
    let trailer_end = end
        .checked_add(BLOCK_TRAILER_LEN)
        .ok_or_else(|| Error::Table("block end overflows".into()))?;
    let with_type = file
        .get(start..end + 1)
        .filter(|_| trailer_end <= file.len())
        .ok_or_else(|| {
            Error::Table(format!(
                "block at {start}+{size} runs past the end of the {}-byte file",
                file.len()
            ))
        })?;
    let compression = file[end];
    let stored = unmask_crc(u32_le(file, end + 1)?);
    let computed = crc32c(with_type);
    if stored != computed {
        return Err(Error::Checksum {
            what: format!("table block at offset {start}"),
            stored,
            computed,
        });
    }
    match compression {
        0 => Ok(&file[start..end]),
        1 => Err(Error::Unsupported(format!(
            "snappy-compressed table block at offset {start}"
        ))),
        other => Err(Error::Unsupported(format!(
            "table block compression type {other} at offset {start}"
        ))),
    }
}

/// Decodes every key/value entry of a block, undoing prefix compression.
pub fn block_entries(block: &[u8]) -> Result<Vec<(Vec<u8>, &[u8])>> {
    let count_at = block
        .len()
        .checked_sub(4)
        .ok_or_else(|| Error::Table("block shorter than its restart count".into()))?;
    let restarts = u32_le(block, count_at)? as usize;
    let restart_bytes = restarts
        .checked_mul(4)
        .ok_or_else(|| Error::Table("restart count overflows".into()))?;
    let data_end = count_at
        .checked_sub(restart_bytes)
        .ok_or_else(|| Error::Table(format!("{restarts} restart points do not fit the block")))?;
    if restarts == 0 && data_end > 0 {
        return Err(Error::Table("entries without a restart point".into()));
    }
    for r in 0..restarts {
        let offset = u32_le(block, data_end + 4 * r)? as usize;
        if offset > data_end || (r == 0 && offset != 0) {
            return Err(Error::Table(format!("restart point {offset} out of range")));
        }
    }
    let data = &block[..data_end];
    let mut entries = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if entries.len() >= MAX_ENTRIES {
            return Err(Error::Limit(format!(
                "more than {MAX_ENTRIES} table entries"
            )));
        }
        let shared = varint32(data, &mut pos)?;
        let non_shared = varint32(data, &mut pos)?;
        let value_len = varint32(data, &mut pos)?;
        if shared > key.len() {
            return Err(Error::Table(format!(
                "entry shares {shared} bytes of a {}-byte key",
                key.len()
            )));
        }
        let key_end = pos
            .checked_add(non_shared)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| Error::Table("key runs past the block".into()))?;
        let value_end = key_end
            .checked_add(value_len)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| Error::Table("value runs past the block".into()))?;
        key.truncate(shared);
        key.extend_from_slice(&data[pos..key_end]);
        entries.push((key.clone(), &data[key_end..value_end]));
        pos = value_end;
    }
    Ok(entries)
}

/// All entries of a table, in file order (sorted by key in a valid file).
pub fn read_table(file: &[u8]) -> Result<Vec<(Vec<u8>, &[u8])>> {
    let footer = read_footer(file)?;
    // The metaindex is empty in TensorFlow bundles; its checksum is still verified.
    read_block(file, footer.metaindex)?;
    let index = read_block(file, footer.index)?;
    let mut entries: Vec<(Vec<u8>, &[u8])> = Vec::new();
    for (_, handle_bytes) in block_entries(index)? {
        let mut pos = 0;
        let handle = BlockHandle::decode(handle_bytes, &mut pos)?;
        let block = read_block(file, handle)?;
        for entry in block_entries(block)? {
            if let Some((last, _)) = entries.last() {
                if entry.0 <= *last {
                    return Err(Error::Table("keys are not strictly increasing".into()));
                }
            }
            entries.push(entry);
            if entries.len() > MAX_ENTRIES {
                return Err(Error::Limit(format!(
                    "more than {MAX_ENTRIES} table entries"
                )));
            }
        }
    }
    Ok(entries)
}

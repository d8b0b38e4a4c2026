//! TensorFlow's TensorBundle (checkpoint V2): `variables.index` + `variables.data-K-of-N`.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{decode, Error, Result};
use crate::proto::{BundleEntryProto, BundleHeaderProto};
use crate::sstable::{crc32c, read_table, unmask_crc};
use crate::tensor::{element_count, shape_from_proto, DType, Tensor, MAX_TENSOR_BYTES};

/// Where one tensor lives, from its `BundleEntryProto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleEntry {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
    /// Data shard index.
    pub shard: usize,
    /// Byte offset in the shard.
    pub offset: usize,
    /// Byte size.
    pub size: usize,
    /// Unmasked CRC-32C of the bytes.
    pub crc32c: u32,
}

/// One slice of a partitioned tensor: per dim (start, length), and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceEntry {
    /// Per dim: first index and length (`None` = the whole dim).
    pub extents: Vec<(usize, Option<usize>)>,
    /// Where the slice's bytes are (its `shape` is the slice's shape).
    pub entry: BundleEntry,
}

/// A TensorBundle bound to its data shards.
#[derive(Debug, Clone)]
pub struct Bundle<'a> {
    entries: BTreeMap<String, BundleEntry>,
    /// Names of tensors saved in slices (their entries hold dtype and full shape only).
    sliced: BTreeMap<String, usize>,
    slices: BTreeMap<String, Vec<SliceEntry>>,
    shards: Vec<&'a [u8]>,
}

/// Per dim: first index and length (`None` = the whole dim).
pub type Extents = Vec<(usize, Option<usize>)>;

/// Most slices one tensor may be split into.
const MAX_SLICES: usize = 1 << 16;

/// Decodes one `OrderedCode` unsigned number (length byte, then big-endian bytes).
fn ordered_num(key: &[u8], pos: &mut usize) -> Result<u64> {
    let len = *key
        .get(*pos)
        .ok_or_else(|| Error::Bundle("truncated slice key".into()))? as usize;
    *pos += 1;
    if len > 8 {
        return Err(Error::Bundle("bad number in slice key".into()));
    }
    let bytes = key
        .get(*pos..*pos + len)
        .ok_or_else(|| Error::Bundle("truncated slice key".into()))?;
    *pos += len;
    Ok(bytes.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
}

/// Decodes one `OrderedCode` signed number: a header of `L` one bits and a zero announces `L`
/// bytes holding `7L - 1` value bits; negative numbers are stored bit-inverted.
fn ordered_signed(key: &[u8], pos: &mut usize) -> Result<i64> {
    let truncated = || Error::Bundle("truncated slice key".into());
    let first = *key.get(*pos).ok_or_else(truncated)?;
    let negative = first & 0x80 == 0;
    let fix = |b: u8| if negative { !b } else { b };
    let b0 = fix(first);
    let len = if b0 != 0xff {
        b0.leading_ones() as usize
    } else {
        8 + fix(*key.get(*pos + 1).ok_or_else(truncated)?).leading_ones() as usize
    };
    if len == 0 || len > 10 {
        return Err(Error::Bundle("bad signed number in slice key".into()));
    }
    let bytes = key.get(*pos..*pos + len).ok_or_else(truncated)?;
    *pos += len;
    let raw = bytes
        .iter()
        .fold(0u128, |v, &b| (v << 8) | u128::from(fix(b)));
    let magnitude = raw & ((1u128 << (7 * len - 1)) - 1);
    let value =
        i64::try_from(magnitude).map_err(|_| Error::Bundle("slice key number overflows".into()))?;
    Ok(if negative { !value } else { value })
}

/// Decodes a slice key: `\0`, the escaped tensor name ended by `\0\1`, the rank, then
/// (start, length or -1) per dim.
fn decode_slice_key(key: &[u8]) -> Result<(String, Extents)> {
    let bad = |what: &str| Error::Bundle(format!("slice key: {what}"));
    if key.first() != Some(&0) {
        return Err(bad("does not start with 0"));
    }
    let mut pos = 1;
    let mut name = Vec::new();
    loop {
        match (key.get(pos), key.get(pos + 1)) {
            (Some(0), Some(1)) => {
                pos += 2;
                break;
            }
            (Some(0), Some(0xff)) => {
                name.push(0);
                pos += 2;
            }
            (Some(0xff), Some(0)) => {
                name.push(0xff);
                pos += 2;
            }
            (Some(&b), _) => {
                name.push(b);
                pos += 1;
            }
            (None, _) => return Err(bad("unterminated name")),
        }
    }
    let name = String::from_utf8(name).map_err(|_| bad("name is not UTF-8"))?;
    let rank = ordered_num(key, &mut pos)?;
    if rank > 64 {
        return Err(bad("absurd rank"));
    }
    let mut extents = Vec::new();
    for _ in 0..rank {
        let start = ordered_signed(key, &mut pos)?;
        let len = ordered_signed(key, &mut pos)?;
        let start = usize::try_from(start).map_err(|_| bad("negative start"))?;
        let len = match len {
            -1 => None,
            l => Some(usize::try_from(l).map_err(|_| bad("negative length"))?),
        };
        extents.push((start, len));
    }
    if pos != key.len() {
        return Err(bad("trailing bytes"));
    }
    Ok((name, extents))
}

/// Name of data shard `shard` of `num_shards` (`variables.data-00000-of-00001`).
pub fn shard_file_name(prefix: &str, shard: usize, num_shards: usize) -> String {
    format!("{prefix}.data-{shard:05}-of-{num_shards:05}")
}

impl<'a> Bundle<'a> {
    /// Parses the index table and binds it to `shards` (shard `k` at position `k`).
    ///
    /// Entries are checked against the header and the shard sizes here; tensor bytes are
    /// checksummed when read.
    pub fn open(index: &[u8], shards: Vec<&'a [u8]>) -> Result<Bundle<'a>> {
        let table = read_table(index)?;
        let mut rows = table.into_iter();
        let header = match rows.next() {
            Some((key, value)) if key.is_empty() => {
                decode::<BundleHeaderProto>("BundleHeaderProto", value)?
            }
            _ => {
                return Err(Error::Bundle(
                    "index has no header entry (empty key)".into(),
                ))
            }
        };
        if header.endianness != 0 {
            return Err(Error::Unsupported("big-endian tensor bundle".into()));
        }
        if let Some(v) = &header.version {
            // Version 1 is the only format ever written; readers older than min_consumer fail.
            if v.min_consumer > 1 {
                return Err(Error::Unsupported(format!(
                    "tensor bundle needs a reader of version {}",
                    v.min_consumer
                )));
            }
        }
        let num_shards = usize::try_from(header.num_shards)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::Bundle(format!("{} data shards", header.num_shards)))?;
        if shards.len() != num_shards {
            return Err(Error::Bundle(format!(
                "index names {num_shards} data shards, {} given",
                shards.len()
            )));
        }
        let mut entries = BTreeMap::new();
        let mut sliced = BTreeMap::new();
        let mut slices: BTreeMap<String, Vec<SliceEntry>> = BTreeMap::new();
        for (key, value) in rows {
            let proto: BundleEntryProto = decode("BundleEntryProto", value)?;
            if key.first() == Some(&0) {
                // One slice of a partitioned tensor (MaxShardSizePolicy and the like).
                let (name, extents) = decode_slice_key(&key)?;
                let entry = Self::check_entry(&name, &proto, &shards)?;
                let list = slices.entry(name).or_default();
                if list.len() >= MAX_SLICES {
                    return Err(Error::Limit(format!("more than {MAX_SLICES} slices")));
                }
                list.push(SliceEntry { extents, entry });
                continue;
            }
            let key = String::from_utf8(key)
                .map_err(|_| Error::Bundle("a tensor name is not UTF-8".into()))?;
            if !proto.slices.is_empty() {
                sliced.insert(key.clone(), proto.slices.len());
                let mut header = proto.clone();
                header.shard_id = 0;
                header.offset = 0;
                header.size = 0;
                entries.insert(key.clone(), Self::check_entry(&key, &header, &shards)?);
                continue;
            }
            let entry = Self::check_entry(&key, &proto, &shards)?;
            entries.insert(key, entry);
        }
        for (name, count) in &sliced {
            let found = slices.get(name).map_or(0, Vec::len);
            if found != *count {
                return Err(Error::Bundle(format!(
                    "tensor {name:?} lists {count} slices, the index holds {found}"
                )));
            }
        }
        Ok(Bundle {
            entries,
            sliced,
            slices,
            shards,
        })
    }

    fn check_entry(key: &str, proto: &BundleEntryProto, shards: &[&[u8]]) -> Result<BundleEntry> {
        let bad = |what: String| Error::Bundle(format!("entry {key:?}: {what}"));
        let dtype = DType::from_proto(proto.dtype)?;
        let shape = shape_from_proto(proto.shape.as_ref())?;
        let shard = usize::try_from(proto.shard_id)
            .ok()
            .filter(|&s| s < shards.len())
            .ok_or_else(|| bad(format!("shard {} does not exist", proto.shard_id)))?;
        let offset =
            usize::try_from(proto.offset).map_err(|_| bad(format!("offset {}", proto.offset)))?;
        let size = usize::try_from(proto.size).map_err(|_| bad(format!("size {}", proto.size)))?;
        let end = offset
            .checked_add(size)
            .ok_or_else(|| bad("offset + size overflows".into()))?;
        if end > shards[shard].len() {
            return Err(bad(format!(
                "bytes {offset}..{end} past the end of shard {shard} ({} bytes)",
                shards[shard].len()
            )));
        }
        Ok(BundleEntry {
            dtype,
            shape,
            shard,
            offset,
            size,
            crc32c: unmask_crc(proto.crc32c),
        })
    }

    /// All tensor names with their entries, sorted by name.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &BundleEntry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The slices of a tensor saved in parts (empty for a tensor saved whole).
    pub fn slices(&self, name: &str) -> &[SliceEntry] {
        self.slices.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The entry of `name`, if present.
    pub fn entry(&self, name: &str) -> Option<&BundleEntry> {
        self.entries.get(name)
    }

    /// The checksummed bytes of one entry.
    fn entry_bytes(&self, name: &str, entry: &BundleEntry) -> Result<&'a [u8]> {
        // Bounds were checked in `open`.
        let bytes: &'a [u8] = self.shards[entry.shard]
            .get(entry.offset..entry.offset + entry.size)
            .ok_or_else(|| Error::Bundle(format!("entry {name:?} out of its shard")))?;
        let computed = crc32c(bytes);
        if computed != entry.crc32c {
            return Err(Error::Checksum {
                what: format!("checkpoint tensor {name:?}"),
                stored: entry.crc32c,
                computed,
            });
        }
        if entry.dtype == DType::String {
            return Err(Error::Unsupported(format!(
                "reading string tensor {name:?} from a checkpoint"
            )));
        }
        Ok(bytes)
    }

    /// Reads tensor `name`: bounds and CRC-32C checked, bytes borrowed from the shard (or
    /// assembled from its slices).
    pub fn tensor(&self, name: &str) -> Result<Tensor<'a>> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("tensor {name:?} in the checkpoint")))?;
        if self.sliced.contains_key(name) {
            return self.assemble(name, entry);
        }
        let bytes = self.entry_bytes(name, entry)?;
        Tensor::from_bytes(entry.dtype, entry.shape.clone(), Cow::Borrowed(bytes))
    }

    /// Assembles a partitioned tensor from its slices; every element must be written once.
    fn assemble(&self, name: &str, entry: &BundleEntry) -> Result<Tensor<'a>> {
        let bad = |what: String| Error::Bundle(format!("sliced tensor {name:?}: {what}"));
        let size = entry
            .dtype
            .size()
            .ok_or_else(|| Error::Unsupported(format!("sliced {} tensor", entry.dtype.name())))?;
        let shape = &entry.shape;
        let count = element_count(shape)?;
        let total = count
            .checked_mul(size)
            .filter(|&t| t <= MAX_TENSOR_BYTES)
            .ok_or_else(|| Error::Limit(format!("sliced tensor {name:?} is too large")))?;
        let mut out = alloc::vec![0u8; total];
        let mut written = alloc::vec![false; count];
        let rank = shape.len();
        for slice in self.slices.get(name).map(Vec::as_slice).unwrap_or(&[]) {
            if slice.extents.len() != rank || slice.entry.dtype != entry.dtype {
                return Err(bad("slice rank or type differs".into()));
            }
            let mut starts = Vec::with_capacity(rank);
            let mut lens = Vec::with_capacity(rank);
            for (d, &(start, len)) in slice.extents.iter().enumerate() {
                let len = len.unwrap_or(shape[d]);
                let (start, len) = if slice.extents[d].1.is_none() {
                    (0, len)
                } else {
                    (start, len)
                };
                if start.checked_add(len).is_none_or(|e| e > shape[d]) {
                    return Err(bad(format!("slice {start}+{len} past dim {d}")));
                }
                starts.push(start);
                lens.push(len);
            }
            if slice.entry.shape != lens {
                return Err(bad(format!(
                    "slice shape {:?} vs extents {lens:?}",
                    slice.entry.shape
                )));
            }
            let bytes = self.entry_bytes(name, &slice.entry)?;
            if Some(bytes.len()) != element_count(&lens)?.checked_mul(size) {
                return Err(bad("slice byte size".into()));
            }
            // Copy row by row (the last dim is contiguous).
            let inner = lens.last().copied().unwrap_or(1);
            let rows = if inner == 0 {
                0
            } else {
                bytes.len() / size / inner.max(1)
            };
            let mut index = alloc::vec![0usize; rank];
            for row in 0..rows {
                // Row `row` of the slice → its flat offset in the full tensor.
                let mut rem = row;
                for d in (0..rank.saturating_sub(1)).rev() {
                    index[d] = rem % lens[d].max(1);
                    rem /= lens[d].max(1);
                }
                let mut flat = 0usize;
                for d in 0..rank {
                    let i = if d + 1 == rank {
                        starts[d]
                    } else {
                        starts[d] + index[d]
                    };
                    flat = flat * shape[d] + i;
                }
                if rank == 0 {
                    flat = 0;
                }
                for (k, w) in written[flat..flat + inner].iter_mut().enumerate() {
                    if *w {
                        return Err(bad(format!("element {} written twice", flat + k)));
                    }
                    *w = true;
                }
                let src = &bytes[row * inner * size..(row + 1) * inner * size];
                out[flat * size..(flat + inner) * size].copy_from_slice(src);
            }
        }
        if written.iter().any(|w| !w) {
            return Err(bad("slices do not cover the tensor".into()));
        }
        Tensor::from_bytes(entry.dtype, shape.clone(), Cow::Owned(out))
    }
}

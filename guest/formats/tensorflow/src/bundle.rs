//! TensorFlow's TensorBundle (checkpoint V2): `variables.index` + `variables.data-K-of-N`.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{decode, Error, Result};
use crate::proto::{BundleEntryProto, BundleHeaderProto};
use crate::sstable::{crc32c, read_table, unmask_crc};
use crate::tensor::{shape_from_proto, DType, Tensor};

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

/// A TensorBundle bound to its data shards.
#[derive(Debug, Clone)]
pub struct Bundle<'a> {
    entries: BTreeMap<String, BundleEntry>,
    shards: Vec<&'a [u8]>,
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
        for (key, value) in rows {
            let key = String::from_utf8(key)
                .map_err(|_| Error::Bundle("a tensor name is not UTF-8".into()))?;
            let proto: BundleEntryProto = decode("BundleEntryProto", value)?;
            let entry = Self::check_entry(&key, &proto, &shards)?;
            entries.insert(key, entry);
        }
        Ok(Bundle { entries, shards })
    }

    fn check_entry(key: &str, proto: &BundleEntryProto, shards: &[&[u8]]) -> Result<BundleEntry> {
        let bad = |what: String| Error::Bundle(format!("entry {key:?}: {what}"));
        if !proto.slices.is_empty() {
            return Err(Error::Unsupported(format!(
                "entry {key:?} is a partitioned (sliced) variable"
            )));
        }
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

    /// The entry of `name`, if present.
    pub fn entry(&self, name: &str) -> Option<&BundleEntry> {
        self.entries.get(name)
    }

    /// Reads tensor `name`: bounds and CRC-32C checked, bytes borrowed from the shard.
    pub fn tensor(&self, name: &str) -> Result<Tensor<'a>> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("tensor {name:?} in the checkpoint")))?;
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
        Tensor::from_bytes(entry.dtype, entry.shape.clone(), Cow::Borrowed(bytes))
    }
}

//! Descriptor-chain walking and validation.
//!
//! The device walks every chain itself instead of trusting the driver: the walk is bounded by
//! the queue size (a loop ends as an error, never as a hang), every descriptor index and every
//! buffer range is checked against the queue and guest memory with checked arithmetic, indirect
//! descriptors (never negotiated) are refused, and device-readable buffers must precede
//! device-writable ones.

use std::fmt;

use virtio_queue::desc::{split::Descriptor, RawDescriptor};
use vm_memory::{Address, Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use cerebro_spec::mmio::desc_flags;

/// Why a descriptor chain was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainError {
    /// The head index is not below the queue size.
    HeadOutOfRange(u16),
    /// A `next` index is not below the queue size.
    NextOutOfRange(u16),
    /// The chain has more descriptors than the queue size (a loop).
    Loop,
    /// A descriptor could not be read from the descriptor table.
    DescriptorUnreadable,
    /// A descriptor uses VIRTQ_DESC_F_INDIRECT, which is not negotiated.
    Indirect,
    /// A buffer lies (partly) outside guest memory.
    BufferOutOfRange {
        /// Guest-physical start.
        addr: u64,
        /// Length.
        len: u32,
    },
    /// A device-readable buffer follows a device-writable one.
    ReadableAfterWritable,
    /// The chain's readable or writable total exceeds the limit for this queue.
    TooLong,
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainError::HeadOutOfRange(i) => write!(f, "head index {i} out of range"),
            ChainError::NextOutOfRange(i) => write!(f, "next index {i} out of range"),
            ChainError::Loop => write!(f, "descriptor chain loops or exceeds the queue size"),
            ChainError::DescriptorUnreadable => write!(f, "descriptor table unreadable"),
            ChainError::Indirect => write!(f, "indirect descriptor (not negotiated)"),
            ChainError::BufferOutOfRange { addr, len } => {
                write!(f, "buffer {addr:#x}+{len:#x} outside guest memory")
            }
            ChainError::ReadableAfterWritable => {
                write!(f, "device-readable buffer after a device-writable one")
            }
            ChainError::TooLong => write!(f, "chain longer than the queue's limit"),
        }
    }
}

impl std::error::Error for ChainError {}

/// One buffer of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) addr: GuestAddress,
    pub(crate) len: u32,
}

/// A validated descriptor chain: its readable segments, then its writable segments.
#[derive(Debug, Default)]
pub(crate) struct Chain {
    pub(crate) readable: Vec<Segment>,
    pub(crate) writable: Vec<Segment>,
    pub(crate) readable_len: u64,
    pub(crate) writable_len: u64,
}

/// Walks and validates the chain starting at `head`. `max_total` bounds both the readable and
/// the writable byte totals.
pub(crate) fn walk(
    mem: &GuestMemoryMmap,
    desc_table: GuestAddress,
    queue_size: u16,
    head: u16,
    max_total: u64,
) -> Result<Chain, ChainError> {
    if head >= queue_size {
        return Err(ChainError::HeadOutOfRange(head));
    }
    let mut chain = Chain::default();
    let mut index = head;
    let mut ttl = queue_size;
    loop {
        if ttl == 0 {
            return Err(ChainError::Loop);
        }
        ttl -= 1;
        let addr = desc_table
            .checked_add(u64::from(index) * 16)
            .ok_or(ChainError::DescriptorUnreadable)?;
        let raw: RawDescriptor = mem
            .read_obj(addr)
            .map_err(|_| ChainError::DescriptorUnreadable)?;
        let desc = Descriptor::from(raw);
        if desc.flags() & desc_flags::INDIRECT != 0 {
            return Err(ChainError::Indirect);
        }
        let seg = Segment {
            addr: desc.addr(),
            len: desc.len(),
        };
        if seg.len > 0 && !GuestMemoryBackend::check_range(mem, seg.addr, seg.len as usize) {
            return Err(ChainError::BufferOutOfRange {
                addr: seg.addr.0,
                len: seg.len,
            });
        }
        if desc.flags() & desc_flags::WRITE != 0 {
            chain.writable_len += u64::from(seg.len);
            if chain.writable_len > max_total {
                return Err(ChainError::TooLong);
            }
            chain.writable.push(seg);
        } else {
            if !chain.writable.is_empty() {
                return Err(ChainError::ReadableAfterWritable);
            }
            chain.readable_len += u64::from(seg.len);
            if chain.readable_len > max_total {
                return Err(ChainError::TooLong);
            }
            chain.readable.push(seg);
        }
        if desc.flags() & desc_flags::NEXT == 0 {
            return Ok(chain);
        }
        index = desc.next();
        if index >= queue_size {
            return Err(ChainError::NextOutOfRange(index));
        }
    }
}

/// Copies the readable segments into one private buffer (the only read of that guest memory).
pub(crate) fn read_all(mem: &GuestMemoryMmap, segs: &[Segment], total: u64) -> Option<Vec<u8>> {
    let mut out = vec![0u8; usize::try_from(total).ok()?];
    let mut pos = 0usize;
    for s in segs {
        let end = pos.checked_add(s.len as usize)?;
        mem.read_slice(out.get_mut(pos..end)?, s.addr).ok()?;
        pos = end;
    }
    Some(out)
}

/// Scatters `parts` (concatenated) into the writable segments; returns the bytes written, or
/// `None` if they do not fit or memory access fails.
pub(crate) fn write_all(mem: &GuestMemoryMmap, segs: &[Segment], parts: &[&[u8]]) -> Option<u32> {
    let mut seg_iter = segs.iter();
    let mut cur: Option<(GuestAddress, usize)> = None;
    let mut written: u64 = 0;
    for part in parts {
        let mut data: &[u8] = part;
        while !data.is_empty() {
            let (addr, room) = match cur {
                Some((a, r)) if r > 0 => (a, r),
                _ => {
                    let s = seg_iter.next()?;
                    cur = Some((s.addr, s.len as usize));
                    continue;
                }
            };
            let n = room.min(data.len());
            mem.write_slice(&data[..n], addr).ok()?;
            data = &data[n..];
            written += n as u64;
            cur = Some((addr.checked_add(n as u64)?, room - n));
        }
    }
    u32::try_from(written).ok()
}

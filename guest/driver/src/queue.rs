//! A split virtqueue (driver side) whose rings live in the shared pool.
//!
//! The driver keeps its own record of every chain it posted (descriptor indices and writable
//! capacity) and never reads descriptors back from shared memory. Used-ring entries are checked
//! against that record: an id that is out of range or not in flight is a device error, and the
//! reported length is clamped to the chain's writable capacity.

use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{fence, Ordering};

use cerebro_spec::mmio::{desc_flags, VRING_AVAIL_F_NO_INTERRUPT, VRING_USED_F_NO_NOTIFY};

use crate::transport::{DmaRegion, SharedPool};
use crate::DriverError;

/// One buffer of a chain: device address, length, device-writable or not.
#[derive(Debug, Clone, Copy)]
pub struct Buffer {
    /// Device (guest-physical) address.
    pub phys: u64,
    /// Length in bytes.
    pub len: u32,
    /// True if the device writes it.
    pub writable: bool,
}

#[derive(Debug, Clone)]
struct Posted {
    descs: Vec<u16>,
    writable_capacity: u32,
}

/// A used chain returned by the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Used {
    /// Head descriptor index (as returned by [`SplitQueue::add`]).
    pub head: u16,
    /// Bytes the device wrote, clamped to the chain's writable capacity.
    pub len: u32,
}

/// Driver side of one split virtqueue.
pub struct SplitQueue {
    size: u16,
    desc: DmaRegion,
    avail: DmaRegion,
    used: DmaRegion,
    free: Vec<u16>,
    posted: Vec<Option<Posted>>,
    avail_idx: u16,
    last_used: u16,
}

impl SplitQueue {
    /// Allocates the rings of a queue of `size` entries (a power of two) from `pool`.
    pub fn new(pool: &mut SharedPool, size: u16) -> Result<Self, DriverError> {
        if size == 0 || !size.is_power_of_two() {
            return Err(DriverError::BadQueueSize(size));
        }
        let n = size as usize;
        let desc = pool.alloc(16 * n, 4096).ok_or(DriverError::PoolTooSmall)?;
        let avail = pool
            .alloc(6 + 2 * n, 4096)
            .ok_or(DriverError::PoolTooSmall)?;
        let used = pool
            .alloc(6 + 8 * n, 4096)
            .ok_or(DriverError::PoolTooSmall)?;
        desc.zero();
        avail.zero();
        used.zero();
        // This driver polls used rings (or blocks on the wait register): no interrupts.
        avail.write_u16(0, VRING_AVAIL_F_NO_INTERRUPT);
        Ok(SplitQueue {
            size,
            desc,
            avail,
            used,
            free: (0..size).rev().collect(),
            posted: vec![None; n],
            avail_idx: 0,
            last_used: 0,
        })
    }

    /// Number of entries.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Device addresses of the descriptor table, available ring and used ring.
    pub fn addresses(&self) -> (u64, u64, u64) {
        (self.desc.phys(), self.avail.phys(), self.used.phys())
    }

    /// Free descriptors.
    pub fn free_descriptors(&self) -> usize {
        self.free.len()
    }

    /// Posts a chain (readable buffers first) and returns its head index.
    pub fn add(&mut self, bufs: &[Buffer]) -> Result<u16, DriverError> {
        if bufs.is_empty() || bufs.len() > self.free.len() {
            return Err(DriverError::QueueFull);
        }
        let mut seen_writable = false;
        for b in bufs {
            if !b.writable && seen_writable {
                return Err(DriverError::BadChain);
            }
            seen_writable |= b.writable;
        }
        let mut descs = Vec::with_capacity(bufs.len());
        for _ in bufs {
            // Cannot fail: checked free.len() above.
            descs.push(self.free.pop().ok_or(DriverError::QueueFull)?);
        }
        let mut writable_capacity: u32 = 0;
        for (i, b) in bufs.iter().enumerate() {
            let mut flags = if b.writable { desc_flags::WRITE } else { 0 };
            let next = if i + 1 < bufs.len() {
                flags |= desc_flags::NEXT;
                descs[i + 1]
            } else {
                0
            };
            if b.writable {
                writable_capacity = writable_capacity.saturating_add(b.len);
            }
            let off = 16 * descs[i] as usize;
            self.desc.write_u64(off, b.phys);
            let tail = u64::from(b.len) | (u64::from(flags) << 32) | (u64::from(next) << 48);
            self.desc.write_u64(off + 8, tail);
        }
        let head = descs[0];
        self.posted[head as usize] = Some(Posted {
            descs,
            writable_capacity,
        });
        let slot = 4 + 2 * (self.avail_idx % self.size) as usize;
        self.avail.write_u16(slot, head);
        // The descriptors and ring entry must be visible before the index that publishes them.
        fence(Ordering::Release);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.avail.write_u16(2, self.avail_idx);
        fence(Ordering::SeqCst);
        Ok(head)
    }

    /// True if the device asked for available-buffer notifications.
    pub fn device_wants_notify(&self) -> bool {
        fence(Ordering::SeqCst);
        self.used.read_u16(0) & VRING_USED_F_NO_NOTIFY == 0
    }

    /// True if the device has returned chains not yet taken with [`SplitQueue::pop_used`].
    pub fn has_used(&self) -> bool {
        self.used.read_u16(2) != self.last_used
    }

    /// Takes the next used chain, if any. A used entry that does not name a chain in flight is
    /// a device error.
    pub fn pop_used(&mut self) -> Result<Option<Used>, DriverError> {
        let used_idx = self.used.read_u16(2);
        if used_idx == self.last_used {
            return Ok(None);
        }
        if used_idx.wrapping_sub(self.last_used) > self.size {
            return Err(DriverError::DeviceBroken("used index ran ahead"));
        }
        // The entry must be read after the index that published it.
        fence(Ordering::Acquire);
        let slot = 4 + 8 * (self.last_used % self.size) as usize;
        let id = self.used.read_u32(slot);
        let len = self.used.read_u32(slot + 4);
        self.last_used = self.last_used.wrapping_add(1);
        let head = u16::try_from(id)
            .ok()
            .filter(|&h| h < self.size)
            .ok_or(DriverError::DeviceBroken("used id out of range"))?;
        let posted = self.posted[head as usize]
            .take()
            .ok_or(DriverError::DeviceBroken("used id not in flight"))?;
        let len = len.min(posted.writable_capacity);
        self.free.extend(posted.descs.iter().copied());
        Ok(Some(Used { head, len }))
    }

    /// Chains posted and not yet used.
    pub fn in_flight(&self) -> usize {
        self.posted.iter().filter(|p| p.is_some()).count()
    }
}

//! Register access to the device (virtio-mmio) and the shared DMA pool.

use core::ptr;

/// 32-bit register access to a virtio-mmio window. Every access may be a VM exit.
pub trait Transport {
    /// Reads the 32-bit register at `offset` from the window base.
    fn read32(&self, offset: u64) -> u32;
    /// Writes the 32-bit register at `offset` from the window base.
    fn write32(&self, offset: u64, value: u32);
}

/// A virtio-mmio window mapped at a virtual address (volatile accesses).
pub struct MmioTransport {
    base: *mut u8,
}

// SAFETY: the window is device memory; accesses are single volatile 32-bit loads/stores that
// the device serializes, so sharing the pointer across threads cannot create a data race.
unsafe impl Send for MmioTransport {}

impl MmioTransport {
    /// Wraps the window mapped at `base`.
    ///
    /// # Safety
    /// `base` must map the device's whole 4 KiB register window, readable and writable, for
    /// the lifetime of the transport, and nothing else may use it as ordinary memory.
    pub unsafe fn new(base: *mut u8) -> Self {
        MmioTransport { base }
    }
}

impl Transport for MmioTransport {
    fn read32(&self, offset: u64) -> u32 {
        debug_assert!(offset < cerebro_spec::mmio::WINDOW_SIZE && offset.is_multiple_of(4));
        // SAFETY: `new`'s contract: the window is mapped; offsets are register offsets inside
        // the 4 KiB window, 4-byte aligned.
        unsafe { ptr::read_volatile(self.base.add(offset as usize) as *const u32) }
    }

    fn write32(&self, offset: u64, value: u32) {
        debug_assert!(offset < cerebro_spec::mmio::WINDOW_SIZE && offset.is_multiple_of(4));
        // SAFETY: as in `read32`.
        unsafe { ptr::write_volatile(self.base.add(offset as usize) as *mut u32, value) }
    }
}

/// A range of the shared pool: memory the device can read and write at `phys`.
///
/// The device may change it at any time, so it is only accessed through copies and volatile
/// loads/stores; nothing read from it is trusted until copied into private memory.
#[derive(Debug, Clone, Copy)]
pub struct DmaRegion {
    virt: *mut u8,
    phys: u64,
    len: usize,
}

impl DmaRegion {
    /// Device (guest-physical) address.
    pub fn phys(&self) -> u64 {
        self.phys
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `src` into the region at `offset`; `false` if it does not fit.
    pub fn write(&self, offset: usize, src: &[u8]) -> bool {
        match offset.checked_add(src.len()) {
            Some(end) if end <= self.len => {
                // SAFETY: the range is inside the region (checked above), which the pool
                // guarantees is mapped and not aliased by any Rust reference.
                unsafe { ptr::copy_nonoverlapping(src.as_ptr(), self.virt.add(offset), src.len()) };
                true
            }
            _ => false,
        }
    }

    /// Copies from the region at `offset` into private memory `dst`; `false` if out of range.
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> bool {
        match offset.checked_add(dst.len()) {
            Some(end) if end <= self.len => {
                // SAFETY: as in `write`. The device may be writing concurrently; the copy is a
                // snapshot that is validated only after it lands in private memory.
                unsafe {
                    ptr::copy_nonoverlapping(self.virt.add(offset), dst.as_mut_ptr(), dst.len())
                };
                true
            }
            _ => false,
        }
    }

    /// Fills the region with zeros.
    pub fn zero(&self) {
        // SAFETY: as in `write`.
        unsafe { ptr::write_bytes(self.virt, 0, self.len) };
    }

    pub(crate) fn read_u16(&self, offset: usize) -> u16 {
        assert!(offset + 2 <= self.len && offset.is_multiple_of(2));
        // SAFETY: in range and aligned (asserted); volatile because the device writes it.
        unsafe { ptr::read_volatile(self.virt.add(offset) as *const u16) }
    }

    pub(crate) fn write_u16(&self, offset: usize, v: u16) {
        assert!(offset + 2 <= self.len && offset.is_multiple_of(2));
        // SAFETY: as in `read_u16`.
        unsafe { ptr::write_volatile(self.virt.add(offset) as *mut u16, v) }
    }

    pub(crate) fn read_u32(&self, offset: usize) -> u32 {
        assert!(offset + 4 <= self.len && offset.is_multiple_of(4));
        // SAFETY: as in `read_u16`.
        unsafe { ptr::read_volatile(self.virt.add(offset) as *const u32) }
    }

    pub(crate) fn write_u64(&self, offset: usize, v: u64) {
        assert!(offset + 8 <= self.len && offset.is_multiple_of(8));
        // SAFETY: as in `read_u16`.
        unsafe { ptr::write_volatile(self.virt.add(offset) as *mut u64, v) }
    }
}

/// The one shared, granule-aligned pool all rings and buffers are carved from.
pub struct SharedPool {
    virt: *mut u8,
    phys: u64,
    len: usize,
    used: usize,
}

// SAFETY: the pool hands out disjoint regions; it owns the mapping exclusively.
unsafe impl Send for SharedPool {}

impl SharedPool {
    /// Takes ownership of `len` bytes mapped at `virt`, seen by the device at `phys`. The
    /// pool is zeroed here.
    ///
    /// # Safety
    /// The range must be mapped readable and writable for the pool's lifetime, shared with
    /// the device (and nothing else), not referenced by any Rust reference, and `virt` and
    /// `phys` must have the same alignment modulo 4096.
    pub unsafe fn new(virt: *mut u8, phys: u64, len: usize) -> Self {
        // SAFETY: the caller guarantees the range is mapped and exclusively ours.
        unsafe { ptr::write_bytes(virt, 0, len) };
        SharedPool {
            virt,
            phys,
            len,
            used: 0,
        }
    }

    /// Takes ownership of `len` bytes mapped at `virt`, seen by the device at `phys`, without
    /// zeroing them: for memory the guest has never written since boot, which therefore holds no
    /// guest data to leak to the host. Only the pages the rings and buffers actually use get
    /// touched (the rings zero themselves).
    ///
    /// # Safety
    /// As for [`SharedPool::new`], and the guest must never have written the range (otherwise
    /// use [`SharedPool::new`], which zeroes it).
    pub unsafe fn from_unwritten(virt: *mut u8, phys: u64, len: usize) -> Self {
        SharedPool {
            virt,
            phys,
            len,
            used: 0,
        }
    }

    /// Carves `len` bytes aligned to `align` (a power of two); `None` when the pool is full.
    pub fn alloc(&mut self, len: usize, align: usize) -> Option<DmaRegion> {
        let phys_here = self.phys.checked_add(self.used as u64)?;
        let aligned = phys_here.checked_add(align as u64 - 1)? & !(align as u64 - 1);
        let start = self.used.checked_add((aligned - phys_here) as usize)?;
        let end = start.checked_add(len)?;
        if end > self.len {
            return None;
        }
        self.used = end;
        Some(DmaRegion {
            // SAFETY: `start <= self.len`, inside the mapping.
            virt: unsafe { self.virt.add(start) },
            phys: aligned,
            len,
        })
    }

    /// Bytes still free (ignoring alignment).
    pub fn remaining(&self) -> usize {
        self.len - self.used
    }
}

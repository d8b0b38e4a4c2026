//! Guest RAM: one anonymous mapping from guest-physical 0, populated up front
//! (`MADV_POPULATE_WRITE`) so the guest never takes a host page fault on first touch (10-15 µs
//! each here; 0.03 µs per 4 KiB with huge pages + populate).
//!
//! The small region the guest touches while booting (system area, kernel, stack) is populated
//! with 4 KiB pages before the vCPU starts: allocating a huge page can stall for tens or hundreds
//! of milliseconds on compaction when the host's memory is fragmented. The rest (the heap: model
//! weights, arenas) gets `MADV_HUGEPAGE` and is populated on a background thread, where such a
//! stall does not delay boot.

use std::io;

use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use crate::arch::x86_64::layout::{LARGE_PAGE_SIZE, PAGE_SIZE};
use crate::error::Error;

/// Maps `size` bytes of guest RAM at guest-physical 0 (anonymous, not yet populated).
pub fn create(size: u64) -> Result<GuestMemoryMmap, Error> {
    let size_usize = usize::try_from(size)
        .map_err(|_| Error::Memory(format!("{size} bytes do not fit in usize")))?;
    GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), size_usize)])
        .map_err(|e| Error::Memory(format!("cannot map {} MiB: {e}", size >> 20)))
}

/// Asks for transparent huge pages on guest-physical `[start, start + len)` (2 MiB aligned
/// inward). Not fatal if refused: the memory still works, first touches only cost more.
pub fn advise_huge_pages(memory: &GuestMemoryMmap, start: u64, len: u64) {
    let end = start
        .saturating_add(len)
        .min(memory.last_addr().0.saturating_add(1));
    let start = start.saturating_add(LARGE_PAGE_SIZE - 1) & !(LARGE_PAGE_SIZE - 1);
    let end = end & !(LARGE_PAGE_SIZE - 1);
    if start >= end {
        return;
    }
    let Ok(host) = memory.get_host_address(GuestAddress(start)) else {
        return;
    };
    // SAFETY: `[start, end)` lies in the single RAM region (clamped above), so the host range is
    // inside one mapping owned by `memory`; MADV_HUGEPAGE only changes how it is backed.
    let result = unsafe { libc::madvise(host.cast(), (end - start) as usize, libc::MADV_HUGEPAGE) };
    if result != 0 {
        tracing::debug!("madvise(MADV_HUGEPAGE): {}", io::Error::last_os_error());
    }
}

/// Populates (pre-faults, writable) guest-physical `[start, start + len)`, clamped to RAM.
pub fn populate(memory: &GuestMemoryMmap, start: u64, len: u64) -> Result<(), Error> {
    // madvise works on whole pages.
    let end = start.saturating_add(len).saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    let end = end.min(memory.last_addr().0.saturating_add(1));
    let start = start & !(PAGE_SIZE - 1);
    if start >= end {
        return Ok(());
    }
    let host = memory
        .get_host_address(GuestAddress(start))
        .map_err(|e| Error::Memory(format!("populate at {start:#x}: {e}")))?;
    // SAFETY: `[start, end)` lies in the single RAM region (clamped above), so the host range is
    // inside one mapping owned by `memory`; MADV_POPULATE_WRITE only faults pages in.
    let result = unsafe {
        libc::madvise(
            host.cast(),
            (end - start) as usize,
            libc::MADV_POPULATE_WRITE,
        )
    };
    if result != 0 {
        return Err(Error::Memory(format!(
            "madvise(MADV_POPULATE_WRITE) of {} MiB: {}",
            (end - start) >> 20,
            io::Error::last_os_error()
        )));
    }
    Ok(())
}

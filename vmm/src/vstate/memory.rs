//! Guest RAM: one anonymous mapping from guest-physical 0, backed by transparent huge pages and
//! populated up front (`MADV_HUGEPAGE` + `MADV_POPULATE_WRITE`), so the guest never takes a host
//! page fault on first touch (10-15 µs each here, 0.03 µs per 4 KiB with huge pages + populate).

use std::io;

use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

use crate::error::Error;

/// Allocates `size` bytes of guest RAM at guest-physical 0 and asks for huge pages.
pub fn create(size: u64) -> Result<GuestMemoryMmap, Error> {
    let size_usize = usize::try_from(size)
        .map_err(|_| Error::Memory(format!("{size} bytes do not fit in usize")))?;
    let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), size_usize)])
        .map_err(|e| Error::Memory(format!("cannot map {} MiB: {e}", size >> 20)))?;
    for region in memory.iter() {
        // SAFETY: the range is exactly one mapping owned by `memory`; MADV_HUGEPAGE only changes
        // how the kernel backs it.
        let result = unsafe {
            libc::madvise(
                region.as_ptr().cast(),
                region.len() as usize,
                libc::MADV_HUGEPAGE,
            )
        };
        if result != 0 {
            // Not fatal: without THP the memory still works, only first touches cost more.
            tracing::debug!("madvise(MADV_HUGEPAGE): {}", io::Error::last_os_error());
        }
    }
    Ok(memory)
}

/// Populates (pre-faults, writable) guest-physical `[start, start + len)`, clamped to RAM.
pub fn populate(memory: &GuestMemoryMmap, start: u64, len: u64) -> Result<(), Error> {
    let end = start
        .saturating_add(len)
        .min(memory.last_addr().0.saturating_add(1));
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

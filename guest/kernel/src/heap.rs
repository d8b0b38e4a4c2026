//! The kernel heap: talc over the RAM between the kernel image and the top of memory.
//!
//! At boot the top of that RAM is held back from the allocator so that the virtio-cerebro
//! driver can take its shared pool from memory the guest has never written ([`take_unwritten`]):
//! such memory holds no guest data, so the pool needs no zeroing, and its pages are first
//! touched only when a buffer is used (first touches are costly here: host page faults).
//! Whatever the driver does not take goes to the allocator at that point.

use core::ptr::NonNull;

use spinning_top::Spinlock;
use talc::source::Manual;
use talc::TalcLock;

#[global_allocator]
static ALLOCATOR: TalcLock<spinning_top::RawSpinlock, Manual> = TalcLock::new(Manual);

/// Most RAM held back at boot (the largest shared pool the driver may take from it).
const MAX_HELD: u64 = 128 << 20;

/// The held-back top of the heap region, until [`take_unwritten`] hands it out.
struct Held {
    /// The allocator's current heap end (where the held region starts).
    heap_end: NonNull<u8>,
    /// End of the held region (exclusive): the end of the heap region.
    end: u64,
}

// SAFETY: `heap_end` is an address inside the heap region, only passed back to the allocator.
unsafe impl Send for Held {}

static HELD: Spinlock<Option<Held>> = Spinlock::new(None);

/// Hands `[start, end)` to the allocator, except a top part (at most half, at most
/// [`MAX_HELD`]) held back for [`take_unwritten`].
///
/// # Safety
/// The range must be mapped writable, unused by anything else, and given only once.
pub unsafe fn init(start: u64, end: u64) {
    let size = end.saturating_sub(start);
    let held = (size / 2).min(MAX_HELD) & !0xFFF;
    let claim = (size - held) as usize;
    // SAFETY: the caller guarantees the range is ours and mapped; `claim` only records it.
    let claimed = unsafe { ALLOCATOR.lock().claim(start as *mut u8, claim) };
    let Some(heap_end) = claimed else {
        panic!("heap: cannot claim {claim} bytes at {start:#x}");
    };
    *HELD.lock() = Some(Held { heap_end, end });
}

/// Takes `len` bytes (rounded up to 4 KiB, 4 KiB aligned) from the top of the held-back RAM,
/// which the guest has never written, and gives the rest of it to the allocator. Only the first
/// call can succeed; `None` if the held region is smaller than `len` (all of it then goes to the
/// allocator). The memory is the caller's for the rest of the kernel's life.
pub fn take_unwritten(len: usize) -> Option<NonNull<u8>> {
    let held = HELD.lock().take()?;
    let len = (len as u64).checked_next_multiple_of(0x1000)?;
    let held_start = held.heap_end.as_ptr() as u64;
    let taken = held
        .end
        .checked_sub(len)
        .filter(|&base| base >= held_start && len > 0);
    let new_end = taken.unwrap_or(held.end);
    // SAFETY: `[heap_end, new_end)` is the held part of the region `init` was given (mapped,
    // writable, never handed out); the allocator's heap ends at `heap_end`.
    unsafe { ALLOCATOR.lock().extend(held.heap_end, new_end as *mut u8) };
    taken.and_then(|base| NonNull::new(base as *mut u8))
}

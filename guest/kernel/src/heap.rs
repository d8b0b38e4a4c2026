//! The kernel heap: talc over the RAM between the kernel image and the top of memory.

use talc::source::Manual;
use talc::TalcLock;

#[global_allocator]
static ALLOCATOR: TalcLock<spinning_top::RawSpinlock, Manual> = TalcLock::new(Manual);

/// Hands `[start, end)` to the allocator.
///
/// # Safety
/// The range must be mapped writable, unused by anything else, and given only once.
pub unsafe fn init(start: u64, end: u64) {
    let size = end.saturating_sub(start) as usize;
    // SAFETY: the caller guarantees the range is ours and mapped; `claim` only records it.
    let claimed = unsafe { ALLOCATOR.lock().claim(start as *mut u8, size) };
    if claimed.is_none() {
        panic!("heap: cannot claim {size} bytes at {start:#x}");
    }
}

//! Kernel images are untrusted input (`cerebro-vmm boot --kernel PATH`): validating one must never
//! panic, and whatever is accepted must respect the guest layout and load without error.
//!
//! Run: `cd vmm/fuzz && cargo +nightly fuzz run kernel_image` (seed: the real kernel,
//! `mkdir -p corpus/kernel_image && cp <OUT_DIR>/cerebro-kernel.elf corpus/kernel_image/`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vmm::arch::x86_64::layout::{GUARD_START, RING0_IMAGE_START, USER_STACK_TOP};
use vmm::loader::KernelImage;
use vmm::vm_memory::{GuestAddress, GuestMemoryMmap};

const RAM: u64 = 64 << 20;

fn memory() -> &'static GuestMemoryMmap {
    static MEMORY: OnceLock<GuestMemoryMmap> = OnceLock::new();
    MEMORY.get_or_init(|| GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM as usize)]).expect("64 MiB of guest memory"))
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(image) = KernelImage::parse(bytes, RAM) else {
        return;
    };
    for segment in &image.segments {
        assert!(segment.start >= RING0_IMAGE_START && segment.end <= RAM, "{segment:?}");
        assert!(!(segment.start < USER_STACK_TOP && segment.end > GUARD_START), "{segment:?}");
    }
    // Accepted images load (linux-loader re-parses them, notes included).
    let _ = image.load(memory());
});

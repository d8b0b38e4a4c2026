//! The Cerebro kernel image, built for its freestanding target and embedded as bytes.
//!
//! `build.rs` runs a nested `cargo build --release` of `guest/kernel`; a plain
//! `cargo build --release` of the workspace therefore builds the guest too.

/// The Cerebro kernel: a static x86_64 ELF with a Xen PVH note and a Cerebro boot note.
pub static KERNEL: &[u8] = include_bytes!(env!("CEREBRO_KERNEL_ELF"));

/// Where the embedded kernel was built (under this crate's OUT_DIR); for tools such as objdump.
pub const KERNEL_PATH: &str = env!("CEREBRO_KERNEL_ELF");

/// Drops this process's page-table entries for the embedded kernel's bytes, e.g. once a VM has
/// copied them into guest memory, so they stop counting in the VMM's resident memory (about
/// 2 MiB). The bytes stay readable: a later read faults them back in from the executable.
pub fn release_resident_pages() {
    // SAFETY: sysconf has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => return,
    };
    let start = (KERNEL.as_ptr() as usize).next_multiple_of(page);
    let end = (KERNEL.as_ptr() as usize + KERNEL.len()) / page * page;
    if start >= end {
        return;
    }
    // SAFETY: `[start, end)` holds only bytes of `KERNEL`, an immutable `include_bytes!` static
    // in the executable's read-only file mapping. Those pages are never written, so
    // MADV_DONTNEED only removes their page-table entries; the next read maps the same bytes
    // again from the file (the kernel forbids writing an executable that is running).
    unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
}

//! The Cerebro kernel image, built for its freestanding target and embedded as bytes.
//!
//! `build.rs` runs a nested `cargo build --release` of `guest/kernel`; a plain
//! `cargo build --release` of the workspace therefore builds the guest too.

/// The Cerebro kernel: a static x86_64 ELF with a Xen PVH note and a Cerebro boot note.
pub static KERNEL: &[u8] = include_bytes!(env!("CEREBRO_KERNEL_ELF"));

/// Where the embedded kernel was built (under this crate's OUT_DIR); for tools such as objdump.
pub const KERNEL_PATH: &str = env!("CEREBRO_KERNEL_ELF");

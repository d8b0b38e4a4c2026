//! The boot-info block the guest reads at [`BOOT_INFO_ADDR`](super::layout::BOOT_INFO_ADDR)
//! (its address is also in `rsi` at entry). Mirrored in `guest/kernel/src/boot.rs`.

use vm_memory::ByteValued;

/// `BootInfo::magic`: "CEREBRO" followed by the ABI version byte 1.
pub const BOOT_INFO_MAGIC: u64 = u64::from_le_bytes(*b"CEREBRO\x01");

/// What the guest learns at boot (ABI version 1, 64 bytes, little-endian).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootInfo {
    /// [`BOOT_INFO_MAGIC`].
    pub magic: u64,
    /// Size of this structure in bytes.
    pub size: u64,
    /// RAM spans guest-physical `[0, ram_size)`.
    pub ram_size: u64,
    /// Guest-physical base of the device MMIO window (mapped user-accessible, uncached).
    pub device_window_base: u64,
    /// Size of the device MMIO window in bytes.
    pub device_window_size: u64,
    /// Guest-physical address of the command line (not NUL-terminated).
    pub cmdline_addr: u64,
    /// Length of the command line in bytes.
    pub cmdline_len: u64,
    /// Reserved, zero.
    pub reserved: u64,
}

// SAFETY: `BootInfo` is `repr(C)`, made only of `u64`s, so it has no padding and every bit
// pattern is a valid value.
unsafe impl ByteValued for BootInfo {}

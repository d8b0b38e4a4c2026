//! Cerebro's I/O ports (mirrored in `guest/kernel/src/ports.rs` and `ring0.rs`).
//!
//! | port  | who     | meaning |
//! | ----- | ------- | ------- |
//! | 0x3F8-0x3FF | ring 3 | COM1 console (vm-superio) |
//! | 0xE0  | ring 3  | ready: the kernel is up; the VMM timestamps the write |
//! | 0xE1  | ring 3  | fast console: `rsi` = address, `rcx` = length (≤ 4096) of text to print |
//! | 0xE4  | ring 3  | exit: a 32-bit write ends the VM with that status |
//! | 0xE8  | ring 0  | fault: the fault stub's frame is at `rsp`; the VMM reports it and stops the VM |
//!
//! The TSS I/O bitmap allows ring 3 exactly [`USER_PORTS`]. The CPU checks one bitmap bit per
//! byte accessed, so the 4-byte exit write needs 0xE4-0xE7 allowed: ring 3 gets 0xE0-0xE7.

use std::ops::RangeInclusive;

use super::serial::{COM1_BASE, COM1_PORTS};

/// Written once when the kernel is ready.
pub const READY_PORT: u16 = 0xE0;
/// Fast console: the guest passes a buffer in `rsi`/`rcx`; one exit per line instead of one per
/// byte (kvm-pvm emulates `rep outsb` byte by byte).
pub const CONSOLE_PORT: u16 = 0xE1;
/// Longest buffer accepted on [`CONSOLE_PORT`].
pub const CONSOLE_MAX: u64 = 4096;
/// A 32-bit write ends the VM with that status.
pub const EXIT_PORT: u16 = 0xE4;
/// Written by the ring-0 fault stub.
pub const FAULT_PORT: u16 = 0xE8;

/// Ports ring 3 may use (the TSS I/O bitmap).
pub const USER_PORTS: [RangeInclusive<u16>; 2] = [
    COM1_BASE..=COM1_BASE + COM1_PORTS - 1,
    READY_PORT..=EXIT_PORT + 3,
];

/// The exit status written to [`EXIT_PORT`]: the bytes written, little-endian, zero-extended.
pub fn exit_status(data: &[u8]) -> u32 {
    let mut bytes = [0u8; 4];
    let len = data.len().min(4);
    bytes[..len].copy_from_slice(&data[..len]);
    u32::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_accepts_any_width() {
        assert_eq!(exit_status(&[7]), 7);
        assert_eq!(exit_status(&[1, 2, 0, 0]), 0x0201);
        assert_eq!(exit_status(&[]), 0);
        assert_eq!(exit_status(&[1, 0, 0, 0, 9, 9, 9, 9]), 1);
    }
}

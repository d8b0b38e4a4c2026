//! The 64-bit task-state segment: RSP0 for faults from ring 3 and the I/O permission bitmap.
//!
//! kvm-pvm ignores IOPL=3 for ring 3, so ring-3 port I/O is allowed port by port here: only the
//! console and the ready/exit ports. The fault port stays ring-0 only.

use std::ops::RangeInclusive;

/// Size of the fixed part of the TSS.
const TSS_BASE_SIZE: usize = 104;
/// Size of the I/O permission bitmap (one bit per port, 65536 ports).
const IO_BITMAP_SIZE: usize = 8192;
/// Size of the TSS with its bitmap and the terminating all-ones byte.
pub const TSS_SIZE: usize = TSS_BASE_SIZE + IO_BITMAP_SIZE + 1;

/// Builds the TSS bytes with `rsp0` and a bitmap allowing exactly `allowed_ports` to ring 3.
pub fn build(rsp0: u64, allowed_ports: &[RangeInclusive<u16>]) -> Vec<u8> {
    let mut tss = vec![0u8; TSS_SIZE];
    tss[4..12].copy_from_slice(&rsp0.to_le_bytes());
    tss[102..104].copy_from_slice(&(TSS_BASE_SIZE as u16).to_le_bytes());
    let bitmap = &mut tss[TSS_BASE_SIZE..];
    bitmap.fill(0xFF);
    for range in allowed_ports {
        for port in range.clone() {
            bitmap[usize::from(port / 8)] &= !(1u8 << (port % 8));
        }
    }
    tss
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(tss: &[u8], port: u16) -> bool {
        tss[TSS_BASE_SIZE + usize::from(port / 8)] & (1 << (port % 8)) == 0
    }

    #[test]
    fn only_listed_ports_are_allowed() {
        let tss = build(0x8000, &[0x3F8..=0x3FF, 0xE0..=0xE7]);
        assert_eq!(u64::from_le_bytes(tss[4..12].try_into().unwrap()), 0x8000);
        assert!(
            allowed(&tss, 0x3F8)
                && allowed(&tss, 0x3FF)
                && allowed(&tss, 0xE0)
                && allowed(&tss, 0xE7)
        );
        assert!(
            !allowed(&tss, 0xE8)
                && !allowed(&tss, 0x3F7)
                && !allowed(&tss, 0x400)
                && !allowed(&tss, 0)
        );
        assert_eq!(*tss.last().unwrap(), 0xFF);
    }
}

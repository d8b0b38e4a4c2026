//! The interrupt descriptor table: 256 interrupt gates to the kernel's fault stubs.

use super::layout::KERNEL_CS;

/// Number of gates.
pub const IDT_ENTRIES: usize = 256;
/// The IDT limit (size in bytes - 1).
pub const IDT_LIMIT: u16 = (IDT_ENTRIES * 16 - 1) as u16;
/// #BP: its gate is DPL 3 so `int3` in ring 3 reports a breakpoint instead of a #GP.
const BREAKPOINT_VECTOR: usize = 3;

/// Builds the IDT for stubs at `stubs + stride * vector`.
pub fn build(stubs: u64, stride: u64) -> Vec<u8> {
    let mut idt = vec![0u8; IDT_ENTRIES * 16];
    for (vector, gate) in idt.chunks_exact_mut(16).enumerate() {
        let handler = stubs + stride * vector as u64;
        let dpl: u64 = if vector == BREAKPOINT_VECTOR { 3 } else { 0 };
        // Present, 64-bit interrupt gate (type 0xE): IF is cleared on entry.
        let attributes = (1u64 << 7) | (dpl << 5) | 0xE;
        let low = (handler & 0xFFFF)
            | (u64::from(KERNEL_CS) << 16)
            | (attributes << 40)
            | ((handler >> 16) & 0xFFFF) << 48;
        let high = handler >> 32;
        gate[..8].copy_from_slice(&low.to_le_bytes());
        gate[8..].copy_from_slice(&high.to_le_bytes());
    }
    idt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_point_at_the_stubs() {
        let idt = build(0x10_0000, 16);
        let gate = |v: usize| u64::from_le_bytes(idt[v * 16..v * 16 + 8].try_into().unwrap());
        let target = |g: u64| (g & 0xFFFF) | ((g >> 48) << 16);
        assert_eq!(target(gate(0)), 0x10_0000);
        assert_eq!(target(gate(14)), 0x10_0000 + 14 * 16);
        assert_eq!((gate(14) >> 40) & 0xFF, 0x8E);
        assert_eq!((gate(3) >> 40) & 0xFF, 0xEE);
        assert_eq!((gate(14) >> 16) & 0xFFFF, u64::from(KERNEL_CS));
    }
}

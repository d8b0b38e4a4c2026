//! The global descriptor table: flat ring-0 and ring-3 segments and the TSS.

use kvm_bindings::kvm_segment;

use super::layout::{KERNEL_CS, KERNEL_DS, TSS_ADDR, TSS_SELECTOR, USER_CS, USER_DS};
use super::tss::TSS_SIZE;

/// A segment descriptor as the guest's GDT and KVM's segment cache both see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Selector (index * 8 | RPL).
    pub selector: u16,
    /// Base address.
    pub base: u64,
    /// Limit in bytes (or 4 KiB units when `granularity` is set), 20 bits.
    pub limit: u32,
    /// Type field (code/data or system type), 4 bits.
    pub kind: u8,
    /// Descriptor privilege level.
    pub dpl: u8,
    /// Code/data (true) or system (false) descriptor.
    pub code_or_data: bool,
    /// 64-bit code segment.
    pub long: bool,
    /// Default operand size 32 bits.
    pub db: bool,
    /// Limit counted in 4 KiB units.
    pub granularity: bool,
}

impl Segment {
    const fn flat(selector: u16, kind: u8, dpl: u8, long: bool) -> Self {
        Self {
            selector,
            base: 0,
            limit: 0xF_FFFF,
            kind,
            dpl,
            code_or_data: true,
            long,
            db: !long,
            granularity: true,
        }
    }

    /// Ring-0 64-bit code (execute/read, accessed).
    pub const KERNEL_CODE: Segment = Segment::flat(KERNEL_CS, 0xB, 0, true);
    /// Ring-0 data (read/write, accessed).
    pub const KERNEL_DATA: Segment = Segment::flat(KERNEL_DS, 0x3, 0, false);
    /// Ring-3 data (read/write, accessed).
    pub const USER_DATA: Segment = Segment::flat(USER_DS, 0x3, 3, false);
    /// Ring-3 64-bit code (execute/read, accessed).
    pub const USER_CODE: Segment = Segment::flat(USER_CS, 0xB, 3, true);
    /// The busy 64-bit TSS.
    pub const TSS: Segment = Segment {
        selector: TSS_SELECTOR,
        base: TSS_ADDR,
        limit: TSS_SIZE as u32 - 1,
        kind: 0xB,
        dpl: 0,
        code_or_data: false,
        long: false,
        db: false,
        granularity: false,
    };

    /// The low 8 bytes of the descriptor as stored in the GDT.
    pub fn descriptor(&self) -> u64 {
        let base = self.base & 0xFFFF_FFFF;
        let limit = u64::from(self.limit & 0xF_FFFF);
        (limit & 0xFFFF)
            | ((base & 0xFF_FFFF) << 16)
            | (u64::from(self.kind & 0xF) << 40)
            | (u64::from(self.code_or_data) << 44)
            | (u64::from(self.dpl & 3) << 45)
            | (1 << 47)
            | ((limit >> 16) << 48)
            | (u64::from(self.long) << 53)
            | (u64::from(self.db) << 54)
            | (u64::from(self.granularity) << 55)
            | ((base >> 24) << 56)
    }

    /// The segment as KVM's `kvm_segment` (the hidden part of a segment register).
    pub fn to_kvm(&self) -> kvm_segment {
        let limit = if self.granularity {
            (self.limit << 12) | 0xFFF
        } else {
            self.limit
        };
        kvm_segment {
            base: self.base,
            limit,
            selector: self.selector,
            type_: self.kind,
            present: 1,
            dpl: self.dpl,
            db: u8::from(self.db),
            s: u8::from(self.code_or_data),
            l: u8::from(self.long),
            g: u8::from(self.granularity),
            avl: 0,
            unusable: 0,
            padding: 0,
        }
    }
}

/// Entries of the GDT (8 bytes each; the TSS takes two).
pub fn gdt_entries() -> [u64; 7] {
    let tss = Segment::TSS;
    [
        0,
        Segment::KERNEL_CODE.descriptor(),
        Segment::KERNEL_DATA.descriptor(),
        Segment::USER_DATA.descriptor(),
        Segment::USER_CODE.descriptor(),
        tss.descriptor(),
        tss.base >> 32,
    ]
}

/// The GDT limit (size in bytes - 1).
pub const GDT_LIMIT: u16 = 7 * 8 - 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_match_the_textbook_values() {
        // The same values the kernel's PVH entry uses (guest/kernel/src/ring0.rs), accessed bit set.
        assert_eq!(Segment::KERNEL_CODE.descriptor(), 0x00AF_9B00_0000_FFFF);
        assert_eq!(Segment::KERNEL_DATA.descriptor(), 0x00CF_9300_0000_FFFF);
        assert_eq!(Segment::USER_DATA.descriptor(), 0x00CF_F300_0000_FFFF);
        assert_eq!(Segment::USER_CODE.descriptor(), 0x00AF_FB00_0000_FFFF);
    }

    #[test]
    fn tss_descriptor_encodes_base_and_limit() {
        let d = Segment::TSS.descriptor();
        assert_eq!(d & 0xFFFF, TSS_SIZE as u64 - 1);
        assert_eq!((d >> 16) & 0xFF_FFFF, TSS_ADDR);
        assert_eq!((d >> 40) & 0xF, 0xB);
        assert_eq!(d >> 47 & 1, 1);
    }
}

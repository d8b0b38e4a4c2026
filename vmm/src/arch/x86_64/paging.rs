//! Identity-mapping page tables, built on the host.
//!
//! 4 KiB pages for the first 2 MiB (null page absent, system area supervisor, boot info user
//! read-only, the kernel's ring-0 part supervisor read-only), 2 MiB pages above: the guard absent,
//! the kernel's ring-3 segments with their ELF permissions (W^X), stack and heap user read-write
//! non-executable, and the device window user read-write uncached.

use super::layout::{
    DEVICE_WINDOW_BASE, DEVICE_WINDOW_SIZE, LARGE_PAGE_SIZE, LOW_MEMORY_END, LOW_PT_ADDR,
    PAGE_SIZE, PDPT_ADDR, PD_ADDR, PD_COUNT, PML4_ADDR, RING0_IMAGE_END, SYSTEM_AREA_END,
    USER_START,
};

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
const LARGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
/// Entries per table.
const ENTRIES: usize = 512;

/// A loaded ELF segment of the kernel, with its permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentPermissions {
    /// Guest-physical start.
    pub start: u64,
    /// Guest-physical end (exclusive, memory size included).
    pub end: u64,
    /// The segment is writable.
    pub writable: bool,
    /// The segment is executable.
    pub executable: bool,
}

/// One page-table page and where it goes in guest memory.
pub struct TablePage {
    /// Guest-physical address of the page.
    pub addr: u64,
    /// The 512 entries.
    pub entries: Box<[u64; ENTRIES]>,
}

impl TablePage {
    fn new(addr: u64) -> Self {
        Self {
            addr,
            entries: Box::new([0; ENTRIES]),
        }
    }

    /// The page as bytes (little-endian entries).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.entries
            .iter()
            .flat_map(|entry| entry.to_le_bytes())
            .collect()
    }
}

/// Builds the page tables for `ram_size` bytes of RAM and the given kernel segments.
///
/// `ram_size` must be a multiple of 2 MiB and at most 3 GiB (checked by the caller).
pub fn build(ram_size: u64, segments: &[SegmentPermissions]) -> Vec<TablePage> {
    let mut pml4 = TablePage::new(PML4_ADDR);
    let mut pdpt = TablePage::new(PDPT_ADDR);
    let mut low_pt = TablePage::new(LOW_PT_ADDR);
    let mut pds: Vec<TablePage> = (0..PD_COUNT)
        .map(|i| TablePage::new(PD_ADDR + i * PAGE_SIZE))
        .collect();

    pml4.entries[0] = PDPT_ADDR | PRESENT | WRITABLE | USER;
    for (i, pd) in pds.iter().enumerate() {
        pdpt.entries[i] = pd.addr | PRESENT | WRITABLE | USER;
    }

    // First 2 MiB, 4 KiB pages. Page 0 stays absent.
    for (index, entry) in low_pt.entries.iter_mut().enumerate().skip(1) {
        let addr = index as u64 * PAGE_SIZE;
        *entry = addr
            | if addr < SYSTEM_AREA_END {
                PRESENT | WRITABLE | NO_EXECUTE
            } else if addr < LOW_MEMORY_END {
                PRESENT | USER | NO_EXECUTE
            } else {
                debug_assert!(addr < RING0_IMAGE_END);
                PRESENT
            };
    }
    pds[0].entries[0] = LOW_PT_ADDR | PRESENT | WRITABLE | USER;
    // pds[0].entries[1] (the guard, 2-4 MiB) stays absent.

    let mut addr = USER_START;
    while addr < ram_size {
        let end = addr + LARGE_PAGE_SIZE;
        let overlapping = segments.iter().filter(|s| s.start < end && addr < s.end);
        let (mut any, mut writable, mut executable) = (false, false, false);
        for segment in overlapping {
            any = true;
            writable |= segment.writable;
            executable |= segment.executable;
        }
        let mut flags = PRESENT | USER | LARGE;
        if !any || writable {
            flags |= WRITABLE;
        }
        if !any || !executable {
            flags |= NO_EXECUTE;
        }
        set_large(&mut pds, addr, addr | flags);
        addr = end;
    }

    let mut window = DEVICE_WINDOW_BASE;
    while window < DEVICE_WINDOW_BASE + DEVICE_WINDOW_SIZE {
        set_large(
            &mut pds,
            window,
            window | PRESENT | WRITABLE | USER | LARGE | WRITE_THROUGH | CACHE_DISABLE | NO_EXECUTE,
        );
        window += LARGE_PAGE_SIZE;
    }

    let mut pages = vec![pml4, pdpt, low_pt];
    pages.extend(pds);
    pages
}

fn set_large(pds: &mut [TablePage], addr: u64, entry: u64) {
    let index = (addr / LARGE_PAGE_SIZE) as usize;
    pds[index / ENTRIES].entries[index % ENTRIES] = entry;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pages: &[TablePage], addr: u64) -> Option<u64> {
        let pd_index = (addr >> 30) as usize;
        let pd = pages
            .iter()
            .find(|p| p.addr == PD_ADDR + pd_index as u64 * PAGE_SIZE)?;
        let pde = pd.entries[((addr >> 21) & 511) as usize];
        if pde & PRESENT == 0 {
            return None;
        }
        if pde & LARGE != 0 {
            return Some(pde);
        }
        let pt = pages.iter().find(|p| p.addr == pde & !0xFFF)?;
        let pte = pt.entries[((addr >> 12) & 511) as usize];
        (pte & PRESENT != 0).then_some(pte)
    }

    #[test]
    fn permissions_follow_the_layout() {
        let text = SegmentPermissions {
            start: 0xC0_0000,
            end: 0xC8_0000,
            writable: false,
            executable: true,
        };
        let data = SegmentPermissions {
            start: 0xE0_0000,
            end: 0xE1_0000,
            writable: true,
            executable: false,
        };
        let pages = build(64 << 20, &[text, data]);
        assert_eq!(lookup(&pages, 0), None, "null page");
        assert_eq!(
            lookup(&pages, 0x1000).unwrap() & USER,
            0,
            "GDT is supervisor"
        );
        assert_eq!(
            lookup(&pages, 0x1_0000).unwrap() & (USER | WRITABLE),
            USER,
            "boot info user read-only"
        );
        assert_eq!(
            lookup(&pages, 0x10_0000).unwrap() & (USER | WRITABLE | NO_EXECUTE),
            0,
            "ring-0 code"
        );
        assert_eq!(lookup(&pages, 0x20_0000), None, "guard");
        assert_eq!(lookup(&pages, 0x3F_FFFF), None, "guard");
        let text_pte = lookup(&pages, 0xC0_0000).unwrap();
        assert_eq!(
            text_pte & (USER | WRITABLE | NO_EXECUTE),
            USER,
            "text is RX"
        );
        let data_pte = lookup(&pages, 0xE0_0000).unwrap();
        assert_eq!(
            data_pte & (USER | WRITABLE | NO_EXECUTE),
            USER | WRITABLE | NO_EXECUTE,
            "data is RW NX"
        );
        let heap_pte = lookup(&pages, 0x300_0000).unwrap();
        assert_eq!(
            heap_pte & (USER | WRITABLE | NO_EXECUTE),
            USER | WRITABLE | NO_EXECUTE
        );
        assert_eq!(lookup(&pages, 64 << 20), None, "nothing above RAM");
        let window = lookup(&pages, DEVICE_WINDOW_BASE).unwrap();
        assert_eq!(
            window & (USER | WRITABLE | CACHE_DISABLE | WRITE_THROUGH),
            USER | WRITABLE | CACHE_DISABLE | WRITE_THROUGH
        );
    }
}

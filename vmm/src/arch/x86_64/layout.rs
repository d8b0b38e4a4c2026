//! The guest-physical memory map (identity mapped in the guest).
//!
//! ```text
//! 0x0000_0000  page 0                   not mapped (null dereferences fault)
//! 0x0000_1000  GDT                      supervisor
//! 0x0000_2000  IDT (256 gates)          supervisor
//! 0x0000_3000  TSS + I/O bitmap         supervisor
//! 0x0000_6000  ring-0 stack (8 KiB)     supervisor, top at 0x8000
//! 0x0000_8000  page tables              supervisor (PML4, PDPT, low PT, 4 PDs)
//! 0x0001_0000  boot info (64 bytes)     user read-only
//! 0x0001_1000  command line (≤ 4 KiB)   user read-only
//! 0x0010_0000  kernel ring-0 part       supervisor, read-only, executable
//! 0x0020_0000  guard (2 MiB)            not mapped: ring-3 stack overflow faults here
//! 0x0040_0000  ring-3 stack (8 MiB)     user, grows down from 0x00C0_0000
//! 0x00C0_0000  kernel ring-3 image      user (text RX, rodata R, data RW), 2 MiB pages
//! kernel end   heap                     user RW, up to the top of RAM
//! 0xD000_0000  device MMIO window       user RW, uncached, 2 MiB (above RAM: RAM ≤ 3 GiB)
//! ```
//!
//! The kernel's linker script (`guest/kernel/linker.ld`) mirrors the part from 1 MiB up.

/// Size of a small page.
pub const PAGE_SIZE: u64 = 0x1000;
/// Size of a large (2 MiB) page.
pub const LARGE_PAGE_SIZE: u64 = 0x20_0000;

/// Guest-physical address of the GDT.
pub const GDT_ADDR: u64 = 0x1000;
/// Guest-physical address of the IDT.
pub const IDT_ADDR: u64 = 0x2000;
/// Guest-physical address of the TSS (followed by its I/O permission bitmap).
pub const TSS_ADDR: u64 = 0x3000;
/// Top of the ring-0 stack (TSS.RSP0 and the initial RSP).
pub const RING0_STACK_TOP: u64 = 0x8000;
/// Guest-physical address of the PML4.
pub const PML4_ADDR: u64 = 0x8000;
/// Guest-physical address of the only PDPT.
pub const PDPT_ADDR: u64 = 0x9000;
/// Guest-physical address of the page table for the first 2 MiB (4 KiB pages).
pub const LOW_PT_ADDR: u64 = 0xA000;
/// Guest-physical address of the first page directory (one per GiB, [`PD_COUNT`] of them).
pub const PD_ADDR: u64 = 0xB000;
/// Page directories: they map the first 4 GiB, which holds RAM and the device window.
pub const PD_COUNT: u64 = 4;
/// End of the supervisor-only system area.
pub const SYSTEM_AREA_END: u64 = 0x1_0000;

/// Guest-physical address of the boot-info block (its address is passed in `rsi`).
pub const BOOT_INFO_ADDR: u64 = 0x1_0000;
/// Guest-physical address of the command line.
pub const CMDLINE_ADDR: u64 = 0x1_1000;
/// Longest command line accepted.
pub const CMDLINE_MAX: usize = 4096;
/// End of the user-readable low memory.
pub const LOW_MEMORY_END: u64 = 0x10_0000;

/// Start of the kernel's ring-0 part.
pub const RING0_IMAGE_START: u64 = 0x10_0000;
/// End of the kernel's ring-0 part.
pub const RING0_IMAGE_END: u64 = 0x20_0000;
/// Start of the unmapped guard below the ring-3 stack.
pub const GUARD_START: u64 = 0x20_0000;
/// Start of ring-3 memory (the bottom of the ring-3 stack).
pub const USER_START: u64 = 0x40_0000;
/// Top of the ring-3 stack; the kernel's ring-3 image starts here.
pub const USER_STACK_TOP: u64 = 0xC0_0000;

/// Guest-physical base of the device MMIO window.
pub const DEVICE_WINDOW_BASE: u64 = 0xD000_0000;
/// Size of the device MMIO window.
pub const DEVICE_WINDOW_SIZE: u64 = 0x20_0000;

/// Smallest RAM the kernel boots in (image, stack, a useful heap).
pub const MIN_RAM: u64 = 32 << 20;
/// Largest RAM: it must end below the device window (RAM is one region from 0).
pub const MAX_RAM: u64 = 3 << 30;

/// Selector of the ring-0 code segment.
pub const KERNEL_CS: u16 = 0x08;
/// Selector of the ring-0 data segment.
pub const KERNEL_DS: u16 = 0x10;
/// Selector of the ring-3 data segment (RPL 3).
pub const USER_DS: u16 = 0x18 | 3;
/// Selector of the ring-3 code segment (RPL 3).
pub const USER_CS: u16 = 0x20 | 3;
/// Selector of the TSS.
pub const TSS_SELECTOR: u16 = 0x28;

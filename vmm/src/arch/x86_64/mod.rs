//! x86_64 guest set-up: the memory layout, GDT, IDT, TSS, page tables, CPUID, registers and the
//! boot-info block, all built from the host so the guest's emulated ring 0 runs a handful of
//! instructions before entering ring 3.

pub mod boot_info;
pub mod cpuid;
pub mod gdt;
pub mod idt;
pub mod layout;
pub mod paging;
pub mod regs;
pub mod tss;

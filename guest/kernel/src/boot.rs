//! What the kernel learns at boot: RAM size, heap, device window, command line.
//!
//! Two protocols reach ring 3 (`rdi` from the ring-0 entry):
//! - [`Protocol::Cerebro`]: Cerebro's VMM passes a [`CerebroBootInfo`] (mirrored in
//!   `vmm/src/arch/x86_64/boot_info.rs`) and the command line in user-readable low memory.
//! - [`Protocol::Pvh`]: another VMM passed a Xen `hvm_start_info` with an E820-style memory map.
//!
//! Everything read here is validated before use: the addresses must lie in memory ring 3 can
//! read, and sizes are bounded, so a bad boot-info block ends in a clear error, not a fault.

use core::fmt;

/// `CerebroBootInfo::magic`: "CEREBRO" followed by the ABI version byte 1.
pub const BOOT_INFO_MAGIC: u64 = u64::from_le_bytes(*b"CEREBRO\x01");
/// Xen `hvm_start_info::magic`.
const PVH_START_INFO_MAGIC: u32 = 0x336e_c578;
/// Longest command line honoured.
const MAX_CMDLINE: usize = 4096;
/// Most PVH memory-map entries examined.
const MAX_PVH_MEMMAP_ENTRIES: u32 = 128;
/// The PVH entry identity-maps the first GiB only.
const PVH_MAPPED_TOP: u64 = 1 << 30;

/// The boot information block Cerebro's VMM writes (ABI version 1, 64 bytes, little-endian).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CerebroBootInfo {
    /// [`BOOT_INFO_MAGIC`].
    pub magic: u64,
    /// Size of this structure in bytes.
    pub size: u64,
    /// RAM spans guest-physical `[0, ram_size)`.
    pub ram_size: u64,
    /// Guest-physical base of the device MMIO window (mapped user-accessible, uncached).
    pub device_window_base: u64,
    /// Size of the device MMIO window in bytes (0: no window).
    pub device_window_size: u64,
    /// Guest-physical address of the command line (not NUL-terminated).
    pub cmdline_addr: u64,
    /// Length of the command line in bytes.
    pub cmdline_len: u64,
    /// Reserved, zero.
    pub reserved: u64,
}

/// How the kernel was started.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Protocol {
    /// Cerebro's VMM through the 64-bit ELF entry.
    Cerebro,
    /// Another VMM through the Xen PVH 32-bit entry.
    Pvh,
}

impl Protocol {
    /// Short name for the banner.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Cerebro => "cerebro boot",
            Protocol::Pvh => "pvh boot",
        }
    }
}

/// A test entry point selected by `cerebro.test=` on the command line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TestMode {
    /// Read an unmapped address: #PF.
    PageFault,
    /// Execute `ud2`: #UD.
    InvalidOpcode,
    /// Load from a non-canonical address: #GP.
    GeneralProtection,
    /// Execute `int3`: #BP.
    Breakpoint,
    /// Spin forever: only the watchdog ends it.
    Hang,
    /// Panic in Rust code.
    Panic,
    /// Overflow the ring-3 stack into the guard region: #PF.
    StackOverflow,
}

impl TestMode {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "pf" => TestMode::PageFault,
            "ud" => TestMode::InvalidOpcode,
            "gp" => TestMode::GeneralProtection,
            "bp" => TestMode::Breakpoint,
            "hang" => TestMode::Hang,
            "panic" => TestMode::Panic,
            "stack" => TestMode::StackOverflow,
            _ => return None,
        })
    }
}

/// Why the boot information was refused.
#[derive(Debug)]
pub enum BootError {
    /// `rdi` named no known protocol.
    UnknownProtocol(u64),
    /// The boot-info block lies outside memory ring 3 can read.
    Unreadable(u64),
    /// Wrong magic number.
    BadMagic(u64),
    /// The block describes memory that cannot hold the kernel and a heap.
    BadMemory(u64),
    /// `cerebro.test=` named an unknown test.
    UnknownTest,
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::UnknownProtocol(p) => write!(f, "unknown boot protocol {p}"),
            BootError::Unreadable(a) => write!(f, "boot info at {a:#x} is not in readable memory"),
            BootError::BadMagic(m) => write!(f, "bad boot info magic {m:#x}"),
            BootError::BadMemory(top) => {
                write!(f, "RAM top {top:#x} leaves no heap above the kernel")
            }
            BootError::UnknownTest => write!(f, "unknown cerebro.test= entry point"),
        }
    }
}

/// The environment ring 3 runs in.
pub struct BootEnv {
    /// How the kernel was started.
    pub protocol: Protocol,
    /// Bytes of RAM from guest-physical 0.
    pub ram_size: u64,
    /// First byte of the heap (above the kernel image).
    pub heap_start: u64,
    /// End of the heap (exclusive).
    pub heap_end: u64,
    /// Device MMIO window `(base, size)`, if the VMM provides one.
    pub device_window: Option<(u64, u64)>,
    /// The command line (empty if none).
    pub cmdline: &'static str,
    /// The test entry point selected on the command line.
    pub test_mode: Option<TestMode>,
}

extern "C" {
    static __kernel_end: u8;
}

/// First byte after the kernel image (from the linker script).
fn kernel_end() -> u64 {
    // Only the address of the linker-defined symbol is taken, never its contents.
    core::ptr::addr_of!(__kernel_end) as u64
}

/// First low address ring 3 can read: page 0 is unmapped under Cerebro's VMM (null pointers
/// fault) but mapped by the PVH entry, because QEMU puts the PVH memory map there.
fn first_readable(protocol: Protocol) -> u64 {
    match protocol {
        Protocol::Cerebro => 0x1000,
        Protocol::Pvh => 0,
    }
}

/// Whether `[addr, addr + len)` is low memory ring 3 may read.
fn in_low_readable(protocol: Protocol, addr: u64, len: u64) -> bool {
    addr >= first_readable(protocol) && addr.checked_add(len).is_some_and(|end| end <= 0x10_0000)
}

/// Reads a `T` at `addr` if it lies in readable low memory.
fn read_low<T: Copy>(protocol: Protocol, addr: u64) -> Option<T> {
    if !in_low_readable(protocol, addr, core::mem::size_of::<T>() as u64) {
        return None;
    }
    // SAFETY: the range is mapped user-readable (checked above); unaligned reads are allowed.
    Some(unsafe { core::ptr::read_unaligned(addr as *const T) })
}

/// A command line at `[addr, addr + len)` in readable low memory, cut at the first NUL.
fn read_cmdline(protocol: Protocol, addr: u64, len: u64) -> &'static str {
    let len = len
        .min(MAX_CMDLINE as u64)
        .min(0x10_0000u64.saturating_sub(addr));
    if len == 0 || !in_low_readable(protocol, addr, len) {
        return "";
    }
    // SAFETY: the range is mapped user-readable and never written after boot.
    let bytes = unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) };
    let bytes = bytes.split(|&b| b == 0).next().unwrap_or(&[]);
    core::str::from_utf8(bytes).unwrap_or("")
}

impl BootEnv {
    /// Reads the boot information handed over by the ring-0 entry.
    pub fn discover(protocol: u64, info_addr: u64) -> Result<Self, BootError> {
        let (protocol, ram_size, heap_end, device_window, cmdline) = match protocol {
            1 => {
                let info: CerebroBootInfo = read_low(Protocol::Cerebro, info_addr)
                    .ok_or(BootError::Unreadable(info_addr))?;
                if info.magic != BOOT_INFO_MAGIC {
                    return Err(BootError::BadMagic(info.magic));
                }
                let window = (info.device_window_size != 0)
                    .then_some((info.device_window_base, info.device_window_size));
                let cmdline = read_cmdline(Protocol::Cerebro, info.cmdline_addr, info.cmdline_len);
                (
                    Protocol::Cerebro,
                    info.ram_size,
                    info.ram_size,
                    window,
                    cmdline,
                )
            }
            2 => {
                let (ram_size, heap_end, cmdline) = read_pvh(info_addr)?;
                (Protocol::Pvh, ram_size, heap_end, None, cmdline)
            }
            other => return Err(BootError::UnknownProtocol(other)),
        };
        let heap_start = kernel_end();
        if heap_end <= heap_start {
            return Err(BootError::BadMemory(heap_end));
        }
        let mut test_mode = None;
        for word in cmdline.split_ascii_whitespace() {
            if let Some(name) = word.strip_prefix("cerebro.test=") {
                test_mode = Some(TestMode::parse(name).ok_or(BootError::UnknownTest)?);
            }
        }
        Ok(Self {
            protocol,
            ram_size,
            heap_start,
            heap_end,
            device_window,
            cmdline,
            test_mode,
        })
    }
}

/// Xen `hvm_start_info` (version 1 layout).
#[repr(C)]
#[derive(Clone, Copy)]
struct PvhStartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

/// Xen `hvm_memmap_table_entry`.
#[repr(C)]
#[derive(Clone, Copy)]
struct PvhMemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// RAM size, heap end and command line from a PVH start info.
fn read_pvh(addr: u64) -> Result<(u64, u64, &'static str), BootError> {
    let info: PvhStartInfo = read_low(Protocol::Pvh, addr).ok_or(BootError::Unreadable(addr))?;
    if info.magic != PVH_START_INFO_MAGIC {
        return Err(BootError::BadMagic(u64::from(info.magic)));
    }
    let kernel_end = kernel_end();
    let mut ram_size = 0u64;
    let mut heap_end = 0u64;
    if info.version >= 1 {
        for index in 0..info.memmap_entries.min(MAX_PVH_MEMMAP_ENTRIES) {
            let entry_addr = info.memmap_paddr.saturating_add(u64::from(index) * 24);
            let Some(entry) = read_low::<PvhMemmapEntry>(Protocol::Pvh, entry_addr) else {
                break;
            };
            if entry.kind != 1 {
                continue;
            }
            let end = entry.addr.saturating_add(entry.size);
            ram_size = ram_size.max(end);
            if entry.addr <= kernel_end && kernel_end < end {
                heap_end = end.min(PVH_MAPPED_TOP);
            }
        }
    }
    Ok((
        ram_size,
        heap_end,
        read_cmdline(Protocol::Pvh, info.cmdline_paddr, MAX_CMDLINE as u64),
    ))
}

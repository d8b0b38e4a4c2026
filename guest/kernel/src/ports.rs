//! Cerebro's I/O ports (mirrored in `vmm/src/devices/ports.rs`) and port I/O from ring 3.
//!
//! Ring 3 may use only the ports the TSS I/O bitmap allows: the COM1 console and the ready and
//! exit ports. The fault port is written by ring 0 only.

use core::arch::asm;

/// COM1 data register (a 16550 UART; vm-superio on the host).
pub const SERIAL_PORT: u16 = 0x3F8;
/// Written once when the kernel is ready to serve; the VMM timestamps it.
pub const READY_PORT: u16 = 0xE0;
/// Cerebro's fast console: a write with `rsi` = address and `rcx` = length of a text buffer
/// (at most 4096 bytes) hands the VMM the whole buffer in one exit. (kvm-pvm emulates
/// `rep outsb` one byte per exit, ~28 µs each.) Only Cerebro's VMM has it.
pub const CONSOLE_PORT: u16 = 0xE1;
/// A 32-bit write ends the VM with that status (ports 0xE4-0xE7 are all allowed to ring 3, as a
/// 4-byte access needs).
pub const EXIT_PORT: u16 = 0xE4;

/// Exit status: the kernel's Rust code panicked (the message is on the console).
pub const EXIT_PANIC: u32 = 101;
/// Exit status: the boot information was missing or malformed.
pub const EXIT_BAD_BOOT_INFO: u32 = 102;

/// Hands `bytes` (at most 4096) to Cerebro's fast console in one exit.
pub fn write_console(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    // SAFETY: the console port is allowed to ring 3; the VMM only reads the buffer, which is a
    // valid slice (identity mapped, so its address is its guest-physical address).
    unsafe {
        asm!(
            "out dx, al",
            in("dx") CONSOLE_PORT,
            in("al") 0u8,
            in("rsi") bytes.as_ptr(),
            in("rcx") bytes.len(),
            options(nostack, preserves_flags, readonly)
        );
    }
}

/// Writes `bytes` to `port` with `rep outsb` (on hardware KVM one exit per page; kvm-pvm
/// emulates it one byte per exit).
pub fn write_bytes(port: u16, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    // SAFETY: `rep outsb` reads `bytes.len()` bytes from `bytes.as_ptr()`, which is a valid
    // slice; the port is one the TSS I/O bitmap allows, so it cannot fault.
    unsafe {
        asm!(
            "rep outsb",
            in("dx") port,
            inout("rsi") bytes.as_ptr() => _,
            inout("rcx") bytes.len() => _,
            options(nostack, preserves_flags, readonly)
        );
    }
}

/// Tells the VMM the kernel is up (the boot-time measurement ends here).
pub fn report_ready() {
    // SAFETY: the ready port is allowed to ring 3; writing it has no effect on guest memory.
    unsafe {
        asm!("out dx, al", in("dx") READY_PORT, in("al") 1u8, options(nomem, nostack, preserves_flags))
    };
}

/// Ends the VM with `status`. Never returns: the VMM does not resume the vCPU.
pub fn exit(status: u32) -> ! {
    // SAFETY: the exit port is allowed to ring 3; the VMM stops the vCPU on this write.
    unsafe {
        asm!("out dx, eax", in("dx") EXIT_PORT, in("eax") status, options(nomem, nostack, preserves_flags))
    };
    // Another VMM (QEMU, Firecracker) may ignore the port: spin without burning the host's
    // patience, since ring 3 cannot halt.
    loop {
        core::hint::spin_loop();
    }
}

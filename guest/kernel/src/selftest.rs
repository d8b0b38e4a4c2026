//! Test entry points (`cerebro.test=` on the command line): each faults or hangs in ring 3 on
//! purpose so the tests can check that the VMM reports it.

use core::arch::asm;

use crate::boot::TestMode;

/// Unmapped, canonical address read by the #PF test (the guest maps nothing at 28 GiB).
pub const PAGE_FAULT_ADDRESS: u64 = 0x7_0000_0000;

/// Runs the selected test. Returns only for tests that do not end the VM (none today).
pub fn run(mode: TestMode) {
    crate::kprintln!("cerebro: test entry point {mode:?}");
    match mode {
        // SAFETY (all arms): each instruction faults by design; the fault stub reports it and the
        // VMM stops the VM, so execution never continues past it.
        TestMode::PageFault => unsafe {
            asm!("mov rax, [{addr}]", addr = in(reg) PAGE_FAULT_ADDRESS, out("rax") _, options(nostack));
        },
        TestMode::InvalidOpcode => unsafe { asm!("ud2", options(nostack, nomem)) },
        TestMode::GeneralProtection => unsafe {
            asm!("mov rax, [{addr}]", addr = in(reg) 0x8000_0000_0000_0000u64, out("rax") _, options(nostack));
        },
        TestMode::Breakpoint => unsafe { asm!("int3", options(nostack, nomem)) },
        TestMode::Hang => loop {
            core::hint::spin_loop();
        },
        TestMode::Panic => panic!("test entry point: deliberate panic"),
        TestMode::StackOverflow => {
            let depth = recurse(core::hint::black_box(0));
            crate::kprintln!("cerebro: recursion returned {depth}");
        }
    }
}

/// Recurses until the stack runs into the guard region.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    recurse(depth + 1) + frame[depth as usize % 64]
}

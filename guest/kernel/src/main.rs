//! The Cerebro kernel.
//!
//! A freestanding, hard-float x86_64 image. Its ring-0 part ([`ring0`]) is a few dozen
//! assembly instructions: enter ring 3, report faults. Everything else runs in ring 3, natively
//! even under kvm-pvm: boot-info parsing ([`boot`]), the console ([`console`]), the heap
//! ([`heap`]), CPU feature detection ([`cpu`]), test entry points ([`selftest`]) and the main loop
//! ([`main_loop`]) where the virtio-cerebro driver and the engine plug in.

#![no_std]
#![no_main]

extern crate alloc;

mod boot;
mod console;
mod cpu;
mod driver;
mod engine_handler;
mod heap;
mod main_loop;
mod mem;
mod ports;
mod ring0;
mod selftest;

use core::panic::PanicInfo;

/// Kernel version printed in the banner.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Ring-3 entry, called by `ring3_start` with the boot protocol and the boot-info address.
#[no_mangle]
extern "C" fn cerebro_main(protocol: u64, info_addr: u64) -> ! {
    let env = match boot::BootEnv::discover(protocol, info_addr) {
        Ok(env) => env,
        Err(error) => {
            kprintln!("cerebro: bad boot information: {error}");
            ports::exit(ports::EXIT_BAD_BOOT_INFO);
        }
    };
    if env.protocol == boot::Protocol::Cerebro {
        console::use_fast_console();
    }
    // SAFETY: `heap_region` is RAM above the kernel image that nothing else uses, mapped
    // user-writable by the page tables (the VMM's or the PVH entry's); this is the only claim.
    unsafe { heap::init(env.heap_start, env.heap_end) };
    let features = cpu::detect();

    kprintln!(
        "Cerebro kernel {VERSION} ({}): ring 3, {} MiB RAM, {} MiB heap, cpu [{}]",
        env.protocol.name(),
        env.ram_size >> 20,
        (env.heap_end - env.heap_start) >> 20,
        features
    );
    if !env.cmdline.is_empty() {
        kprintln!("cerebro: command line: {}", env.cmdline);
    }
    let simd = cpu::simd_self_test(&features);
    kprintln!("cerebro: simd self-test passed ({simd})");
    ports::report_ready();

    if let Some(mode) = env.test_mode {
        selftest::run(mode);
    }
    main_loop::run(&env)
}

/// Never called: the kernel is built with `panic = "abort"`, but the precompiled `alloc` still
/// names the unwinding personality routine.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

/// Never called: nothing unwinds with `panic = "abort"`, but the precompiled `alloc` has landing
/// pads that name it. Should it ever run, end the VM as a panic would.
#[no_mangle]
extern "C" fn _Unwind_Resume() -> ! {
    ports::exit(ports::EXIT_PANIC)
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    match info.location() {
        Some(location) => kprintln!("cerebro: panic at {location}: {}", info.message()),
        None => kprintln!("cerebro: panic: {}", info.message()),
    }
    ports::exit(ports::EXIT_PANIC)
}

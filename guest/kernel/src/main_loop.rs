//! The kernel's main loop: what ring 3 does once it is ready.
//!
//! Later issues plug in here: the virtio-cerebro driver finds its device in the device window
//! (`env.device_window`), waits for work with a blocking register read (one VM exit while idle)
//! and hands each request to the engine. Until a device is present there is nothing to serve, so
//! the kernel reports that and ends the VM with status 0.

use crate::boot::BootEnv;
use crate::{kprintln, ports};

/// Serves work until the host ends the VM.
pub fn run(env: &BootEnv) -> ! {
    match env.device_window {
        Some((base, _size)) => match crate::driver::serve(base, env.heap_end - env.heap_start) {
            Ok(()) => {
                kprintln!("cerebro: device shut down; exiting");
                ports::exit(0)
            }
            Err(crate::driver::ServeError::NoDevice) => {
                kprintln!("cerebro: device window at {base:#x} holds no device; nothing to serve");
                ports::exit(0)
            }
            Err(e) => {
                kprintln!("cerebro: virtio-cerebro: {e}");
                ports::exit(crate::driver::EXIT_DRIVER)
            }
        },
        None => kprintln!("cerebro: no device window; nothing to serve"),
    }
    ports::exit(0)
}

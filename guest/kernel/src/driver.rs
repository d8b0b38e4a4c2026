//! Glue between the virtio-cerebro driver (`cerebro-guest-driver`) and the kernel: finds the
//! device at the start of the device window, takes the shared pool from the RAM the heap held
//! back at boot (never written, so not zeroed; RAM is identity mapped, so an address is its
//! guest-physical address) and serves jobs until the host shuts the device down.
//!
//! The engine plugs in through [`cerebro_guest_driver::JobHandler`]: [`handler`] picks the
//! handler this kernel serves with, `crate::engine_handler::EngineHandler` (the engine, with
//! raw-model digest jobs passed to the driver's built-in handler).

use alloc::alloc::{alloc, Layout};
use alloc::boxed::Box;
use core::fmt;

use cerebro_guest_driver::{
    serve_one, Driver, DriverError, DriverOptions, JobHandler, MmioTransport, SharedPool, Transport,
};
use cerebro_spec::DeviceConfig;

use crate::kprintln;

/// Exit status: the virtio-cerebro driver failed (the reason is on the console).
pub const EXIT_DRIVER: u32 = 103;

/// Why the driver stopped serving.
pub enum ServeError {
    /// The device window holds no virtio-cerebro device.
    NoDevice,
    /// The heap cannot hold the shared pool.
    NoMemory(usize),
    /// The driver failed.
    Driver(DriverError),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::NoDevice => write!(f, "no virtio-cerebro device in the device window"),
            ServeError::NoMemory(n) => write!(f, "cannot allocate a {n}-byte shared pool"),
            ServeError::Driver(e) => write!(f, "driver error: {e}"),
        }
    }
}

/// Queue and buffer sizing: four 1 MiB chunk requests per `wait` exit for model transfers.
const OPTIONS: DriverOptions = DriverOptions {
    job_buffers: 2,
    result_buffers: 2,
    chunk_buffers: 4,
    chunk_size: 1 << 20,
};

/// The handler jobs are served with: the engine (raw-format models go to the built-in digest
/// handler), with the heap as its memory budget.
fn handler(config: &DeviceConfig, heap_bytes: u64) -> Box<dyn JobHandler> {
    Box::new(crate::engine_handler::EngineHandler::new(
        config.max_chunk_size.min(OPTIONS.chunk_size) as usize,
        config.max_model_size,
        heap_bytes,
    ))
}

/// Reads the device configuration space without initializing the device (for sizing the pool).
fn probe(transport: &MmioTransport) -> Option<DeviceConfig> {
    use cerebro_spec::mmio::{self, reg};
    if transport.read32(reg::MAGIC_VALUE) != mmio::MAGIC_VALUE
        || transport.read32(reg::DEVICE_ID) != cerebro_spec::VIRTIO_ID_CEREBRO
    {
        return None;
    }
    let mut image = [0u8; cerebro_spec::CONFIG_SPACE_LEN];
    for (i, word) in image.chunks_exact_mut(4).enumerate() {
        if i * 4 != cerebro_spec::WAIT_OFFSET {
            word.copy_from_slice(&transport.read32(reg::CONFIG + i as u64 * 4).to_le_bytes());
        }
    }
    DeviceConfig::from_bytes(&image).ok()
}

/// Serves jobs from the device at `window_base` until the host shuts it down (`Ok`); models may
/// use up to `heap_bytes` of private memory.
pub fn serve(window_base: u64, heap_bytes: u64) -> Result<(), ServeError> {
    // SAFETY: the VMM maps the device window user-RW and uncached at `window_base`; the device
    // occupies its first 4 KiB; nothing else in the kernel touches it.
    let probe_transport = unsafe { MmioTransport::new(window_base as *mut u8) };
    let config = probe(&probe_transport).ok_or(ServeError::NoDevice)?;
    let pool_bytes = OPTIONS.pool_bytes(&config);
    let pool = match crate::heap::take_unwritten(pool_bytes) {
        // SAFETY: the region is ours for the rest of the kernel's life (the heap gave it up),
        // mapped RW, identity mapped (virtual == guest-physical, the device's view of it), 4 KiB
        // aligned, and never written by the guest since boot.
        Some(base) => unsafe {
            SharedPool::from_unwritten(base.as_ptr(), base.as_ptr() as u64, pool_bytes)
        },
        None => {
            let layout = Layout::from_size_align(pool_bytes, 4096)
                .map_err(|_| ServeError::NoMemory(pool_bytes))?;
            // SAFETY: the layout has a non-zero size.
            let pool_ptr = unsafe { alloc(layout) };
            if pool_ptr.is_null() {
                return Err(ServeError::NoMemory(pool_bytes));
            }
            // SAFETY: the allocation is ours for the rest of the kernel's life (never freed),
            // mapped RW and identity mapped; `SharedPool::new` zeroes it (heap memory may hold
            // guest data).
            unsafe { SharedPool::new(pool_ptr, pool_ptr as u64, pool_bytes) }
        }
    };
    // SAFETY: as for `probe_transport`.
    let transport = unsafe { MmioTransport::new(window_base as *mut u8) };
    let mut driver = Driver::new(Box::new(transport), pool, OPTIONS).map_err(ServeError::Driver)?;
    let config = *driver.config();
    kprintln!(
        "cerebro: virtio-cerebro ready (jobs <= {} KiB, results <= {} KiB, chunks <= {} KiB)",
        config.max_job_size >> 10,
        config.max_result_size >> 10,
        config.max_chunk_size >> 10
    );
    let mut handler = handler(&config, heap_bytes);
    loop {
        match serve_one(&mut driver, handler.as_mut()) {
            Ok(_) => {}
            Err(DriverError::Shutdown) => return Ok(()),
            Err(e) => return Err(ServeError::Driver(e)),
        }
    }
}

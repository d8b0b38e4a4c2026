//! Wire format of the virtio-cerebro device: every message layout, shared by the device and the
//! guest driver.
//!
//! This crate is the executable form of `spec/virtio-cerebro.md`. Every layout is defined here
//! once; the device (`virtio-cerebro`) and the guest driver (`cerebro-guest-driver`) both encode
//! and decode through it. Decoders borrow from the input buffer, never allocate, and reject
//! anything malformed with a typed [`WireError`]: every length and offset is checked before use.
//!
//! All integers are little-endian. Every message starts with a 16-byte [`MessageHeader`]; message
//! bodies keep 8-byte alignment of their fields relative to the message start.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

pub mod config;
pub mod digest;
pub mod message;
pub mod mmio;
pub mod tensor;
mod wire;

pub use config::{DeviceConfig, CONFIG_SPACE_LEN, WAIT_OFFSET};
pub use digest::{DigestHasher, ModelDigest};
pub use message::*;
pub use tensor::{DType, Dims, TensorList, TensorListIter, TensorSpec, TensorView};
pub use wire::{WireError, Writer};

/// Provisional virtio device ID of virtio-cerebro (not granted by the virtio TC).
///
/// The virtio specification reserves IDs for experiments "from 65535 downwards"; such IDs work
/// over virtio-mmio (32-bit DeviceID register) only. Over virtio-pci the device ID is
/// `0x1040 + id` and must stay within 0x1040..=0x107f, so a PCI deployment needs an ID <= 63
/// granted by the TC. Keep this the only place the number appears.
pub const VIRTIO_ID_CEREBRO: u32 = 65535;

/// Vendor ID reported in the virtio-mmio VendorID register ("CRBR" in ASCII, little-endian).
pub const VIRTIO_CEREBRO_VENDOR_ID: u32 = u32::from_le_bytes(*b"CRBR");

/// Version of the message ABI defined by this crate (reported in the device configuration).
pub const ABI_VERSION: u32 = 2;

/// Index of the job queue: the driver pre-posts device-writable buffers, the device fills each
/// with one job message.
pub const JOBQ: u16 = 0;
/// Index of the result queue: the driver posts device-readable buffers holding one result
/// message each.
pub const RESULTQ: u16 = 1;
/// Index of the chunk queue: each chain holds a device-readable chunk request followed by
/// device-writable space for the chunk response and its data.
pub const CHUNKQ: u16 = 2;
/// Number of virtqueues of the device.
pub const NUM_QUEUES: usize = 3;
/// Largest queue size the device offers (QueueNumMax).
pub const QUEUE_SIZE_MAX: u16 = 256;

/// Feature bits (virtio feature bit numbers).
pub mod features {
    /// Device-specific: the blocking `wait` register in the configuration space (see the spec's
    /// notification section).
    pub const VIRTIO_CEREBRO_F_WAIT: u32 = 0;
    /// Standard: virtio 1.x device (mandatory).
    pub const VIRTIO_F_VERSION_1: u32 = 32;
    /// Standard: the device accesses memory through a platform IOMMU/bounce pool (pKVM).
    pub const VIRTIO_F_ACCESS_PLATFORM: u32 = 33;

    /// The 64-bit feature set the device offers.
    pub const DEVICE_FEATURES: u64 =
        (1 << VIRTIO_CEREBRO_F_WAIT) | (1 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_F_ACCESS_PLATFORM);
    /// Features the driver must accept for the device to work.
    pub const REQUIRED_FEATURES: u64 = 1 << VIRTIO_F_VERSION_1;
}

/// Bit set returned by a read of the configuration `wait` register: which queues have new used
/// buffers since the previous read. Zero means the wait timed out (or the device is stopping).
pub mod wait_bits {
    /// The job queue has new used buffers (jobs to run).
    pub const JOBS: u32 = 1 << 0;
    // Bit 1 is reserved (result buffers are reclaimed by polling the used ring).
    /// The chunk queue has new used buffers (chunk responses).
    pub const CHUNKS: u32 = 1 << 2;
    /// The device is shutting down: the driver should stop waiting.
    pub const SHUTDOWN: u32 = 1 << 31;
}

/// Largest echo payload whose job fits `max_job_size` and whose result (one `U8` tensor) fits
/// `max_result_size`.
pub fn echo_payload_limit(config: &DeviceConfig) -> usize {
    // Result: header 16 + result fixed 16 + list 8 + tensor fixed 16 + one dim 8 = 64, then the
    // data padded to 8.
    let by_result = (config.max_result_size as usize).saturating_sub(64) & !7;
    config.max_job_payload().min(by_result)
}

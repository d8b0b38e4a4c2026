//! The device configuration space.
//!
//! ```text
//! struct virtio_cerebro_config {         // all little-endian, read-only
//!     le32 abi_version;       // 0x00  ABI_VERSION
//!     le32 max_job_size;      // 0x04  largest job message (header included)
//!     le32 max_result_size;   // 0x08  largest result message (header included)
//!     le32 max_chunk_size;    // 0x0c  largest data length of one chunk request
//!     le64 max_model_size;    // 0x10  largest model the host will offer
//!     le32 wait_timeout_us;   // 0x18  longest a read of `wait` blocks
//!     le32 reserved0;         // 0x1c
//!     le32 wait;              // 0x20  blocking wait register (VIRTIO_CEREBRO_F_WAIT)
//!     le32 reserved1;         // 0x24
//! };
//! ```

use crate::message::{CHUNK_RESPONSE_HEADER_LEN, HEADER_LEN};
use crate::wire::{Reader, WireError};

/// Bytes of the configuration space.
pub const CONFIG_SPACE_LEN: usize = 40;
/// Offset of the `wait` register in the configuration space.
pub const WAIT_OFFSET: usize = 0x20;
/// Smallest `max_job_size`/`max_result_size` a device may advertise.
pub const MIN_MESSAGE_LIMIT: u32 = 4096;

/// Limits the device advertises in its configuration space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceConfig {
    /// ABI version ([`crate::ABI_VERSION`]).
    pub abi_version: u32,
    /// Largest job message in bytes, header included; the driver's job buffers must hold it.
    pub max_job_size: u32,
    /// Largest result message in bytes, header included.
    pub max_result_size: u32,
    /// Largest data length of one chunk request.
    pub max_chunk_size: u32,
    /// Largest model the host offers, in bytes.
    pub max_model_size: u64,
    /// Longest a read of the `wait` register blocks, in microseconds.
    pub wait_timeout_us: u32,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            abi_version: crate::ABI_VERSION,
            max_job_size: 1 << 20,
            max_result_size: 1 << 20,
            max_chunk_size: 1 << 20,
            max_model_size: 1 << 30,
            wait_timeout_us: 100_000,
        }
    }
}

impl DeviceConfig {
    /// Checks the limits are usable (messages at least [`MIN_MESSAGE_LIMIT`], a non-zero chunk
    /// size that fits in a message length).
    pub fn validate(&self) -> Result<(), WireError> {
        if self.max_job_size < MIN_MESSAGE_LIMIT || self.max_result_size < MIN_MESSAGE_LIMIT {
            return Err(WireError::TooLarge {
                what: "message limit below minimum",
                len: self.max_job_size.min(self.max_result_size) as u64,
                max: MIN_MESSAGE_LIMIT as u64,
            });
        }
        if self.max_chunk_size == 0
            || self.max_chunk_size as u64 + CHUNK_RESPONSE_HEADER_LEN as u64 > u32::MAX as u64
        {
            return Err(WireError::TooLarge {
                what: "max chunk size",
                len: self.max_chunk_size as u64,
                max: (u32::MAX as usize - CHUNK_RESPONSE_HEADER_LEN) as u64,
            });
        }
        Ok(())
    }

    /// Largest job payload (echo/checksum body) that fits `max_job_size`.
    pub fn max_job_payload(&self) -> usize {
        (self.max_job_size as usize).saturating_sub(HEADER_LEN)
    }

    /// The configuration space image (the `wait` register reads as 0 here).
    pub fn to_bytes(&self) -> [u8; CONFIG_SPACE_LEN] {
        let mut b = [0u8; CONFIG_SPACE_LEN];
        b[0..4].copy_from_slice(&self.abi_version.to_le_bytes());
        b[4..8].copy_from_slice(&self.max_job_size.to_le_bytes());
        b[8..12].copy_from_slice(&self.max_result_size.to_le_bytes());
        b[12..16].copy_from_slice(&self.max_chunk_size.to_le_bytes());
        b[16..24].copy_from_slice(&self.max_model_size.to_le_bytes());
        b[24..28].copy_from_slice(&self.wait_timeout_us.to_le_bytes());
        b
    }

    /// Parses a configuration space image and validates it.
    pub fn from_bytes(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let c = DeviceConfig {
            abi_version: r.u32()?,
            max_job_size: r.u32()?,
            max_result_size: r.u32()?,
            max_chunk_size: r.u32()?,
            max_model_size: r.u64()?,
            wait_timeout_us: r.u32()?,
        };
        c.validate()?;
        Ok(c)
    }
}

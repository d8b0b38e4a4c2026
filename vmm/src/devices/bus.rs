//! The MMIO bus: guest accesses inside the device window are dispatched to registered devices.
//!
//! A device implements [`MmioDevice`] and is registered for a range of the window with
//! [`VmBuilder::register_mmio_device`](crate::builder::VmBuilder::register_mmio_device). Calls
//! come from the vCPU thread, one access at a time, with `offset` relative to the device's base.
//!
//! A `read` may block (e.g. a "wait for work" register, so an idle guest costs one exit). While
//! blocked it must also watch the VM's [`StopToken`](crate::stop::StopToken) (its eventfd or
//! [`StopToken::wait_timeout`](crate::stop::StopToken::wait_timeout)) and return promptly once the
//! VM is stopping: the watchdog and shutdown cannot otherwise interrupt a thread that is not in
//! `KVM_RUN`. What it returns then does not matter: the guest is not resumed.

use std::sync::Arc;

use crate::arch::x86_64::layout::{DEVICE_WINDOW_BASE, DEVICE_WINDOW_SIZE};

/// A device reached by MMIO. Guest-controlled `offset` and `data` must be validated by the
/// device; it must never panic on them.
pub trait MmioDevice: Send + Sync {
    /// The guest reads `data.len()` (1, 2, 4 or 8) bytes at `offset`; fill `data`.
    fn read(&self, offset: u64, data: &mut [u8]);
    /// The guest writes `data` at `offset`.
    fn write(&self, offset: u64, data: &[u8]);
}

/// Why a device could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The range is empty or leaves the device window.
    #[error(
        "MMIO range [{start:#x}, +{len:#x}) is not inside the device window [{:#x}, +{:#x})",
        DEVICE_WINDOW_BASE,
        DEVICE_WINDOW_SIZE
    )]
    OutsideWindow {
        /// Requested guest-physical start.
        start: u64,
        /// Requested length.
        len: u64,
    },
    /// The range overlaps a registered device.
    #[error("MMIO range [{start:#x}, +{len:#x}) overlaps a registered device")]
    Overlap {
        /// Requested guest-physical start.
        start: u64,
        /// Requested length.
        len: u64,
    },
}

struct Entry {
    start: u64,
    len: u64,
    device: Arc<dyn MmioDevice>,
}

/// Devices by guest-physical range.
#[derive(Default)]
pub struct MmioBus {
    entries: Vec<Entry>,
}

impl MmioBus {
    /// Registers `device` at guest-physical `[start, start + len)`, which must lie in the device
    /// window and overlap no other device.
    pub fn register(
        &mut self,
        start: u64,
        len: u64,
        device: Arc<dyn MmioDevice>,
    ) -> Result<(), BusError> {
        let end = start
            .checked_add(len)
            .ok_or(BusError::OutsideWindow { start, len })?;
        if len == 0 || start < DEVICE_WINDOW_BASE || end > DEVICE_WINDOW_BASE + DEVICE_WINDOW_SIZE {
            return Err(BusError::OutsideWindow { start, len });
        }
        if self
            .entries
            .iter()
            .any(|e| e.start < end && start < e.start + e.len)
        {
            return Err(BusError::Overlap { start, len });
        }
        self.entries.push(Entry { start, len, device });
        self.entries.sort_by_key(|e| e.start);
        Ok(())
    }

    fn find(&self, addr: u64, len: usize) -> Option<(&Entry, u64)> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.start <= addr && addr < e.start + e.len)?;
        let offset = addr - entry.start;
        // The whole access must fit in the device's range.
        (offset.checked_add(len as u64)? <= entry.len).then_some((entry, offset))
    }

    /// Dispatches a read; returns false (and fills `data` with ones) if no device claims it.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        match self.find(addr, data.len()) {
            Some((entry, offset)) => {
                entry.device.read(offset, data);
                true
            }
            None => {
                data.fill(0xFF);
                false
            }
        }
    }

    /// Dispatches a write; returns false if no device claims it.
    pub fn write(&self, addr: u64, data: &[u8]) -> bool {
        match self.find(addr, data.len()) {
            Some((entry, offset)) => {
                entry.device.write(offset, data);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(u64, Vec<u8>)>>);

    impl MmioDevice for Recorder {
        fn read(&self, offset: u64, data: &mut [u8]) {
            data.fill(offset as u8);
        }
        fn write(&self, offset: u64, data: &[u8]) {
            self.0.lock().unwrap().push((offset, data.to_vec()));
        }
    }

    #[test]
    fn dispatches_by_range_and_refuses_overlaps() {
        let mut bus = MmioBus::default();
        let device = Arc::new(Recorder::default());
        bus.register(DEVICE_WINDOW_BASE + 0x1000, 0x1000, device.clone())
            .unwrap();
        assert!(matches!(
            bus.register(DEVICE_WINDOW_BASE + 0x1800, 0x1000, device.clone()),
            Err(BusError::Overlap { .. })
        ));
        assert!(matches!(
            bus.register(DEVICE_WINDOW_BASE - 0x1000, 0x1000, device.clone()),
            Err(BusError::OutsideWindow { .. })
        ));
        assert!(matches!(
            bus.register(u64::MAX, 2, device.clone()),
            Err(BusError::OutsideWindow { .. })
        ));
        let mut data = [0u8; 4];
        assert!(bus.read(DEVICE_WINDOW_BASE + 0x1010, &mut data));
        assert_eq!(data, [0x10; 4]);
        assert!(!bus.read(DEVICE_WINDOW_BASE, &mut data));
        assert_eq!(data, [0xFF; 4]);
        // An access straddling the end of the device is not dispatched.
        assert!(!bus.write(DEVICE_WINDOW_BASE + 0x1FFE, &[1, 2, 3, 4]));
        assert!(bus.write(DEVICE_WINDOW_BASE + 0x1008, &[7]));
        assert_eq!(device.0.lock().unwrap().as_slice(), &[(8, vec![7])]);
    }
}

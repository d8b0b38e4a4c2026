//! virtio-mmio (version 2) register offsets and status bits used by both sides.
//!
//! These are the standard transport's values (virtio 1.x, 4.2.2), repeated here so the `no_std`
//! guest driver and the device share one definition.

/// "virt" in little-endian.
pub const MAGIC_VALUE: u32 = 0x7472_6976;
/// virtio-mmio version implemented (modern).
pub const VERSION: u32 = 2;

/// Register offsets from the start of the device window.
pub mod reg {
    /// MagicValue (R).
    pub const MAGIC_VALUE: u64 = 0x000;
    /// Version (R).
    pub const VERSION: u64 = 0x004;
    /// DeviceID (R).
    pub const DEVICE_ID: u64 = 0x008;
    /// VendorID (R).
    pub const VENDOR_ID: u64 = 0x00c;
    /// DeviceFeatures (R).
    pub const DEVICE_FEATURES: u64 = 0x010;
    /// DeviceFeaturesSel (W).
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    /// DriverFeatures (W).
    pub const DRIVER_FEATURES: u64 = 0x020;
    /// DriverFeaturesSel (W).
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    /// QueueSel (W).
    pub const QUEUE_SEL: u64 = 0x030;
    /// QueueNumMax (R).
    pub const QUEUE_NUM_MAX: u64 = 0x034;
    /// QueueNum (W).
    pub const QUEUE_NUM: u64 = 0x038;
    /// QueueReady (RW).
    pub const QUEUE_READY: u64 = 0x044;
    /// QueueNotify (W).
    pub const QUEUE_NOTIFY: u64 = 0x050;
    /// InterruptStatus (R).
    pub const INTERRUPT_STATUS: u64 = 0x060;
    /// InterruptACK (W).
    pub const INTERRUPT_ACK: u64 = 0x064;
    /// Status (RW).
    pub const STATUS: u64 = 0x070;
    /// QueueDescLow (W).
    pub const QUEUE_DESC_LOW: u64 = 0x080;
    /// QueueDescHigh (W).
    pub const QUEUE_DESC_HIGH: u64 = 0x084;
    /// QueueDriverLow (W): available ring.
    pub const QUEUE_AVAIL_LOW: u64 = 0x090;
    /// QueueDriverHigh (W).
    pub const QUEUE_AVAIL_HIGH: u64 = 0x094;
    /// QueueDeviceLow (W): used ring.
    pub const QUEUE_USED_LOW: u64 = 0x0a0;
    /// QueueDeviceHigh (W).
    pub const QUEUE_USED_HIGH: u64 = 0x0a4;
    /// ConfigGeneration (R).
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    /// Start of the device configuration space.
    pub const CONFIG: u64 = 0x100;
}

/// Size of the register window (one 4 KiB page).
pub const WINDOW_SIZE: u64 = 0x1000;

/// Device status bits (virtio 1.x, 2.1).
pub mod status {
    /// The guest found the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The guest knows how to drive it.
    pub const DRIVER: u32 = 2;
    /// The driver is ready.
    pub const DRIVER_OK: u32 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u32 = 8;
    /// The device hit an error and needs a reset.
    pub const DEVICE_NEEDS_RESET: u32 = 0x40;
    /// The guest gave up on the device.
    pub const FAILED: u32 = 0x80;
}

/// InterruptStatus bit: a used buffer notification.
pub const INT_VRING: u32 = 1;
/// InterruptStatus bit: a configuration change notification.
pub const INT_CONFIG: u32 = 2;

/// Split-ring descriptor flags (virtio 1.x, 2.7.5).
pub mod desc_flags {
    /// The buffer continues in `next`.
    pub const NEXT: u16 = 1;
    /// Device-writable buffer.
    pub const WRITE: u16 = 2;
    /// The buffer holds an indirect descriptor table (never used by virtio-cerebro).
    pub const INDIRECT: u16 = 4;
}

/// Available ring flag: the driver does not want used-buffer interrupts.
pub const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Used ring flag: the device does not need available-buffer notifications.
pub const VRING_USED_F_NO_NOTIFY: u16 = 1;

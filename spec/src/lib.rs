//! Wire format of the virtio-cerebro device: every message layout, shared by the device and the guest driver.
#![no_std]

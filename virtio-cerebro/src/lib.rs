//! The virtio-cerebro device model (virtio-mmio transport over virtio-queue).

//! The guest side of virtio-cerebro: a `no_std` split-ring driver over a virtio-mmio transport.
#![no_std]

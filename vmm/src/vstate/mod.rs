//! KVM state: the VM (memory slots, ioeventfds) and its vCPU (exit loop).

pub mod memory;
pub mod vcpu;
pub mod vm;

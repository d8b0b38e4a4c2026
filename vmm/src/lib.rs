//! The Cerebro VMM: one KVM enclave VM, its memory, vCPU, devices and watchdog.

//! End-to-end tests: real enclaves booted under KVM.

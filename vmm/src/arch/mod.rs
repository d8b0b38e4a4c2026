//! Architecture-specific set-up of the guest. Only x86_64 today.

pub mod x86_64;

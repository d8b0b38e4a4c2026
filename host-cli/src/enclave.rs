//! The enclave backend: models and inputs cross virtio-cerebro into a Cerebro guest through
//! `vmm::Enclave`.

use crate::backend::Backend;
use crate::error::{CliError, Result};
use crate::run::TargetArgs;

/// Builds the enclave backend.
pub fn backend(_target: &TargetArgs) -> Result<Box<dyn Backend>> {
    Err(CliError::enclave(
        "this build has no enclave backend yet (vmm::Enclave has not landed); run with --native",
    ))
}

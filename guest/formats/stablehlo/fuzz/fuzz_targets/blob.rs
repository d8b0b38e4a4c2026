//! jax.export blob and MLIR bytecode readers on arbitrary input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cerebro_stablehlo::export::parse_exported(data);
});

//! jax.export blob, MLIR bytecode (VHLO) and format detection on arbitrary input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cerebro_stablehlo::export::parse_exported(data);
    let _ = cerebro_stablehlo::bytecode::parse_bytecode(data);
    let _ = cerebro_stablehlo::load_jax_model(data);
});

//! StableHLO text → engine IR lowering (parse, lower, no planning) on arbitrary input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cerebro_engine::loader::stablehlo::load(data);
});

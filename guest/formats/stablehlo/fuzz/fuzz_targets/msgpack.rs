//! Flax msgpack parameter reader on arbitrary input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cerebro_stablehlo::flax::parse_params(data);
});

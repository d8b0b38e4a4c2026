//! StableHLO text parser on arbitrary input: errors are fine, panics and hangs are not.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = cerebro_stablehlo::text::parse_splits(s);
    }
});

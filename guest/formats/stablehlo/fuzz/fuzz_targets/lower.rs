//! StableHLO text → engine IR lowering and planning (parse, lower, check every node's
//! attributes against its shapes) on arbitrary input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(graph) = cerebro_engine::loader::stablehlo::load(data) {
        let _ = cerebro_engine::Model::with_arena_limit(graph, 64 << 20);
    }
});

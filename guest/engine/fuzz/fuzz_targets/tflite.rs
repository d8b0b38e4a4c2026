//! TFLite loader + planner + one run on arbitrary bytes: errors are fine, panics and hangs are
//! not. Seed the corpus with the small fixtures (see guest/engine/fuzz/README.md).
#![no_main]
use cerebro_engine::ir::TensorData;
use cerebro_engine::{loader, Model};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(graph) = loader::tflite::load(data) else { return };
    // Plan within a 256 MiB arena budget (the fuzzer's memory limit is 3 GiB).
    let Ok(mut model) = Model::with_arena_limit(graph, 256 << 20) else { return };
    // Run once with zero inputs when the model is small enough to be quick.
    if model.arena_bytes() > 1 << 24 {
        return;
    }
    let specs: Vec<_> = model.inputs().map(|t| (t.dtype, t.shape.0.clone())).collect();
    let buffers: Vec<Vec<u8>> = specs
        .iter()
        .map(|(d, s)| vec![0u8; s.iter().product::<usize>() * d.size()])
        .collect();
    let inputs: Vec<TensorData> = specs
        .iter()
        .zip(&buffers)
        .map(|((d, s), b)| TensorData { dtype: *d, shape: s, bytes: b })
        .collect();
    let _ = model.run(&inputs);
});

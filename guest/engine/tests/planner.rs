//! The planner shares arena memory between tensors whose lifetimes do not overlap, and the
//! TFLite loader references constant buffers in place instead of copying them.

use std::path::Path;

use cerebro_engine::ir::{Constant, TensorKind};
use cerebro_engine::{loader, Model};

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/models/tflite")
        .join(name)
        .join("model.tflite");
    std::fs::read(p).expect("fixture model")
}

#[test]
fn arena_reuses_memory_and_constants_stay_in_place() {
    for name in ["mobilenet_v2_f32", "mobilenet_v2_int8"] {
        let graph = loader::tflite::load(&fixture(name)).expect("load");
        let activations: usize = graph.subgraphs[0]
            .tensors
            .iter()
            .filter(|t| t.kind == TensorKind::Activation)
            .map(|t| t.byte_len().unwrap())
            .sum();
        let in_place = graph
            .constants
            .iter()
            .filter(|c| matches!(c, Constant::InSource { .. }))
            .count();
        let owned = graph.constants.len() - in_place;
        let model = Model::new(graph).expect("plan");
        println!(
            "{name}: arena {} bytes for {activations} bytes of activations; {in_place} constants in place, {owned} owned",
            model.arena_bytes()
        );
        // MobileNetV2's activations sum to ~30 MB (f32); a lifetime-aware arena needs a fraction.
        assert!(
            model.arena_bytes() * 3 < activations,
            "{name}: arena {} vs {activations}",
            model.arena_bytes()
        );
        assert!(
            in_place > 100 && owned == 0,
            "{name}: {in_place} in place, {owned} copied"
        );
    }
}

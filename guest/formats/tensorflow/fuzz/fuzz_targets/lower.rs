//! Fuzzes the whole SavedModel path into the engine: `saved_model.pb` bytes (with the op-coverage
//! model's checkpoint) through graph extraction, lowering onto the IR (constant folding runs the
//! executor) and planning.
#![no_main]

use cerebro_engine::loader::tensorflow::lower;
use cerebro_engine::Model;
use cerebro_tensorflow::{SavedModel, SavedModelFiles, Selection};
use libfuzzer_sys::fuzz_target;

const INDEX: &[u8] = include_bytes!("../../tests/data/ops/variables/variables.index");
const SHARD: &[u8] = include_bytes!("../../tests/data/ops/variables/variables.data-00000-of-00001");

fuzz_target!(|data: &[u8]| {
    let files = SavedModelFiles {
        saved_model: data,
        variables_index: Some(INDEX),
        variables_data: vec![SHARD],
    };
    let Ok(model) = SavedModel::parse(&files) else {
        return;
    };
    for signature in ["serving_default", "misc"] {
        if let Ok(graph) = model.graph(Selection {
            tag: "serve",
            signature,
        }) {
            if let Ok(ir) = lower(&graph, None) {
                // Plan only graphs that fit a guest: a valid model may declare huge tensors, and
                // then the arena allocation (fallible in the engine) is what refuses it.
                let bytes: usize = ir
                    .subgraphs
                    .iter()
                    .flat_map(|sg| sg.tensors.iter())
                    .map(|t| t.byte_len().unwrap_or(usize::MAX))
                    .fold(0usize, usize::saturating_add);
                if bytes <= 1 << 28 {
                    let _ = Model::new(ir);
                }
            }
        }
    }
});

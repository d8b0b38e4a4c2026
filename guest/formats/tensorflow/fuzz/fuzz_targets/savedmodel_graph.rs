//! Fuzzes the protobuf and graph path: `saved_model.pb` bytes (with a valid checkpoint) through
//! decoding, restore-map interpretation, function inlining and variable binding; the same bytes
//! as a frozen GraphDef.
#![no_main]

use cerebro_tensorflow::{load_frozen_graph, SavedModel, SavedModelFiles, Selection};
use libfuzzer_sys::fuzz_target;

const INDEX: &[u8] = include_bytes!("../../tests/data/module/variables/variables.index");
const SHARD: &[u8] =
    include_bytes!("../../tests/data/module/variables/variables.data-00000-of-00001");

fuzz_target!(|data: &[u8]| {
    let files = SavedModelFiles {
        saved_model: data,
        variables_index: Some(INDEX),
        variables_data: vec![SHARD],
    };
    if let Ok(model) = SavedModel::parse(&files) {
        for signature in ["serving_default", "other", "serve"] {
            let _ = model.graph(Selection {
                tag: "serve",
                signature,
            });
        }
    }
    let _ = load_frozen_graph(data, None, None);
});

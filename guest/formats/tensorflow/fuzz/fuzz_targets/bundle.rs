//! Fuzzes the checkpoint path: the SSTable index, its entries and the data shard, and the tar
//! archive reader. The first byte chooses what the rest replaces (0: the index, 1: the shard,
//! 2: a tar archive, 3: the index of a sliced checkpoint).
#![no_main]

use cerebro_tensorflow::archive::{read_tar, saved_model_files};
use cerebro_tensorflow::bundle::Bundle;
use libfuzzer_sys::fuzz_target;

const INDEX: &[u8] = include_bytes!("../../tests/data/k3cnn/variables/variables.index");
const SHARD: &[u8] =
    include_bytes!("../../tests/data/k3cnn/variables/variables.data-00000-of-00001");
const SLICED: [&[u8]; 4] = [
    include_bytes!("../../tests/data/sharded/variables/variables.data-00000-of-00004"),
    include_bytes!("../../tests/data/sharded/variables/variables.data-00001-of-00004"),
    include_bytes!("../../tests/data/sharded/variables/variables.data-00002-of-00004"),
    include_bytes!("../../tests/data/sharded/variables/variables.data-00003-of-00004"),
];

fn read_all(index: &[u8], shards: Vec<&[u8]>) {
    if let Ok(bundle) = Bundle::open(index, shards) {
        let names: Vec<String> = bundle.entries().map(|(k, _)| k.to_string()).collect();
        for name in names {
            if let Ok(t) = bundle.tensor(&name) {
                let _ = t.to_f32_vec();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => read_all(rest, vec![SHARD]),
        1 => read_all(INDEX, vec![rest]),
        // An index of a checkpoint whose tensors are split into slices over 4 shards.
        3 => read_all(rest, SLICED.to_vec()),
        _ => {
            if let Ok(files) = read_tar(rest) {
                if let Ok(sm) = saved_model_files(&files) {
                    if let Some(index) = sm.variables_index {
                        if let Ok(b) = Bundle::open(index, sm.variables_data.clone()) {
                            let _ = b.entries().count();
                        }
                    }
                }
            }
        }
    }
});

//! Reads the SavedModels made by `tests/data/generate.py` (TensorFlow 2.21) and checks the
//! results against what TensorFlow itself reported: checkpoint values byte for byte, and the
//! extracted graph of every signature against TensorFlow's own inlined, frozen graph.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use cerebro_tensorflow::archive::{read_tar, saved_model_files, write_tar};
use cerebro_tensorflow::bundle::Bundle;
use cerebro_tensorflow::{
    load_frozen_graph, Error, Graph, SavedModel, SavedModelFiles, Selection, TensorRef,
};

fn data(model: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(model)
}

struct Files {
    saved_model: Vec<u8>,
    index: Vec<u8>,
    shards: Vec<Vec<u8>>,
}

impl Files {
    fn read(model: &str) -> Files {
        let dir = data(model);
        let mut names: Vec<String> = std::fs::read_dir(dir.join("variables"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("variables.data-"))
            .collect();
        names.sort();
        Files {
            saved_model: std::fs::read(dir.join("saved_model.pb")).unwrap(),
            index: std::fs::read(dir.join("variables/variables.index")).unwrap(),
            shards: names
                .iter()
                .map(|n| std::fs::read(dir.join("variables").join(n)).unwrap())
                .collect(),
        }
    }

    fn shard_refs(&self) -> Vec<&[u8]> {
        self.shards.iter().map(Vec::as_slice).collect()
    }

    fn files(&self) -> SavedModelFiles<'_> {
        SavedModelFiles {
            saved_model: &self.saved_model,
            variables_index: Some(&self.index),
            variables_data: self.shard_refs(),
        }
    }
}

const MODELS: [&str; 6] = ["k3cnn", "module", "tfkeras", "tf1", "ops", "sharded"];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn checkpoint_values_match_tensorflow_exactly() {
    for model in MODELS {
        let files = Files::read(model);
        let bundle = Bundle::open(&files.index, files.shard_refs()).unwrap();
        let expected = std::fs::read_to_string(data(model).join("vars.txt")).unwrap();
        let mut checked = 0;
        for line in expected.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            let (key, dtype, shape, bytes) = (cols[0], cols[1], cols[2], cols[3]);
            let tensor = bundle.tensor(key).unwrap();
            assert_eq!(tensor.dtype.name(), dtype, "{model} {key}");
            let shape: Vec<usize> = shape
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
            assert_eq!(tensor.shape, shape, "{model} {key}");
            assert_eq!(
                tensor.bytes().unwrap(),
                hex(bytes).as_slice(),
                "{model} {key}"
            );
            checked += 1;
        }
        // Every numeric entry of the checkpoint was compared (the object graph is a string).
        let numeric = bundle
            .entries()
            .filter(|(_, e)| e.dtype != cerebro_tensorflow::DType::String)
            .count();
        assert_eq!(checked, numeric, "{model}");
        assert!(checked >= 2, "{model}: only {checked} tensors");
    }
    // The sharded model really has a tensor split into slices over several shards.
    let files = Files::read("sharded");
    assert_eq!(files.shards.len(), 4);
    let bundle = Bundle::open(&files.index, files.shard_refs()).unwrap();
    let slices = bundle.slices("big/.ATTRIBUTES/VARIABLE_VALUE");
    assert!(slices.len() >= 2, "{slices:?}");
    let shards: std::collections::BTreeSet<usize> = slices.iter().map(|s| s.entry.shard).collect();
    assert!(shards.len() >= 2, "{slices:?}");
    // A missing slice is an error, not a hole.
    let index = &files.index;
    let mut dropped = files.shard_refs();
    dropped.pop();
    assert!(Bundle::open(index, dropped).is_err());
}

/// A structural hash of the expression computing each output: op, constant values and inputs,
/// recursively. Node names and attributes do not enter it (attributes are compared apart).
fn output_hashes(g: &Graph<'_>) -> Vec<u64> {
    fn fnv(h: &mut u64, bytes: &[u8]) {
        for &b in bytes {
            *h ^= u64::from(b);
            *h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    let input_pos: HashMap<usize, usize> = g
        .inputs
        .iter()
        .enumerate()
        .map(|(i, inp)| (inp.node, i))
        .collect();
    let mut node_hash: Vec<u64> = Vec::with_capacity(g.nodes.len());
    for (id, n) in g.nodes.iter().enumerate() {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        fnv(&mut h, n.op.as_bytes());
        if let Some(pos) = input_pos.get(&id) {
            fnv(&mut h, &pos.to_le_bytes());
        }
        if let Some(t) = &n.value {
            fnv(&mut h, t.dtype.name().as_bytes());
            fnv(&mut h, format!("{:?}", t.shape).as_bytes());
            fnv(&mut h, t.bytes().unwrap_or(b"strings"));
        }
        for TensorRef { node, output } in &n.inputs {
            assert!(*node < id, "inputs must come earlier");
            fnv(&mut h, &node_hash[*node].to_le_bytes());
            fnv(&mut h, &output.to_le_bytes());
        }
        node_hash.push(h);
    }
    g.outputs
        .iter()
        .map(|o| {
            let mut h = node_hash[o.tensor.node];
            fnv(&mut h, &o.tensor.output.to_le_bytes());
            h
        })
        .collect()
}

fn tensorflow_frozen(model: &str, signature: &str) -> Graph<'static> {
    let dir = data(model);
    let pb = std::fs::read(dir.join(format!("frozen_{signature}.pb"))).unwrap();
    let io = std::fs::read_to_string(dir.join(format!("frozen_{signature}.io.txt"))).unwrap();
    let mut lines = io.lines();
    let inputs: Vec<&str> = lines.next().unwrap().split(' ').collect();
    let outputs: Vec<&str> = lines.next().unwrap().split(' ').collect();
    load_frozen_graph(&pb, Some(&inputs), Some(&outputs)).unwrap()
}

fn op_set(g: &Graph<'_>) -> Vec<String> {
    let mut ops: Vec<String> = g.op_counts().keys().map(|s| s.to_string()).collect();
    ops.retain(|o| o != "Const" && o != "Placeholder");
    ops
}

#[test]
fn signatures_match_tensorflow_frozen_graphs() {
    let cases: [(&str, &str, &[&str]); 7] = [
        ("tf1", "serving_default", &["AddV2", "MatMul", "Sigmoid"]),
        ("sharded", "other", &["Cast", "Mul", "Sub", "Sum", "Tanh"]),
        (
            "k3cnn",
            "serving_default",
            &[
                "AddV2",
                "BiasAdd",
                "Conv2D",
                "DepthwiseConv2dNative",
                "MatMul",
                "MaxPool",
                "Mul",
                "Pack",
                "Relu",
                "Reshape",
                "Rsqrt",
                "Shape",
                "Softmax",
                "Squeeze",
                "StridedSlice",
                "Sub",
            ],
        ),
        (
            "k3cnn",
            "serve",
            &[
                "AddV2",
                "BiasAdd",
                "Conv2D",
                "DepthwiseConv2dNative",
                "MatMul",
                "MaxPool",
                "Mul",
                "Pack",
                "Relu",
                "Reshape",
                "Rsqrt",
                "Shape",
                "Softmax",
                "Squeeze",
                "StridedSlice",
                "Sub",
            ],
        ),
        ("module", "serving_default", &["AddV2", "MatMul", "Relu"]),
        ("module", "other", &["Cast", "Mul", "Sub", "Sum", "Tanh"]),
        (
            "tfkeras",
            "serving_default",
            &[
                "BiasAdd",
                "Conv2D",
                "FusedBatchNormV3",
                "MatMul",
                "Mean",
                "Relu6",
            ],
        ),
    ];
    for (model, signature, ops) in cases {
        let files = Files::read(model);
        let sm = SavedModel::parse(&files.files()).unwrap();
        let ours = sm
            .graph(Selection {
                tag: "serve",
                signature,
            })
            .unwrap_or_else(|e| panic!("{model}/{signature}: {e}"));
        let theirs = tensorflow_frozen(model, signature);
        let got = op_set(&ours);
        assert_eq!(got, ops, "{model}/{signature} op set");
        assert_eq!(
            op_set(&theirs),
            got,
            "{model}/{signature}: TensorFlow's frozen op set"
        );
        assert_eq!(ours.inputs.len(), theirs.inputs.len());
        for (a, b) in ours.inputs.iter().zip(&theirs.inputs) {
            assert_eq!(a.dtype, b.dtype);
            assert_eq!(a.shape, b.shape);
        }
        assert_eq!(
            output_hashes(&ours),
            output_hashes(&theirs),
            "{model}/{signature}: graph differs from TensorFlow's frozen graph"
        );
        // Same nodes in the same order: attributes written in the SavedModel (TensorFlow strips
        // default-valued ones from it) equal those of TensorFlow's frozen graph.
        assert_eq!(ours.nodes.len(), theirs.nodes.len());
        for (a, b) in ours.nodes.iter().zip(&theirs.nodes) {
            assert_eq!(a.op, b.op);
            for (k, v) in a
                .attrs
                .iter()
                .filter(|(k, _)| !k.starts_with('_') && *k != "value")
            {
                assert_eq!(
                    Some(v),
                    b.attrs.get(k),
                    "{model}/{signature}: {} attr {k}",
                    a.name
                );
            }
        }
        // Every variable read became a constant bound to a checkpoint key.
        let bound = ours
            .nodes
            .iter()
            .filter(|n| n.checkpoint_key.is_some())
            .count();
        assert!(bound > 0, "{model}/{signature}: no variable bound");
        for n in &ours.nodes {
            assert!(
                !matches!(
                    n.op.as_str(),
                    "Identity" | "NoOp" | "ReadVariableOp" | "VarHandleOp"
                ),
                "{model}/{signature}: {} left in the graph",
                n.op
            );
        }
    }
}

#[test]
fn module_signatures_bind_the_right_variables() {
    let files = Files::read("module");
    let sm = SavedModel::parse(&files.files()).unwrap();
    assert_eq!(
        sm.signatures("serve").unwrap(),
        ["__saved_model_init_op", "other", "serving_default"]
    );
    let g = sm.graph(Selection::default()).unwrap();
    let keys: BTreeMap<&str, &str> = g
        .nodes
        .iter()
        .filter_map(|n| Some((n.checkpoint_key.as_deref()?, n.name.as_str())))
        .collect();
    assert_eq!(
        keys.keys().copied().collect::<Vec<_>>(),
        [
            "b/.ATTRIBUTES/VARIABLE_VALUE",
            "w/.ATTRIBUTES/VARIABLE_VALUE"
        ]
    );
    assert_eq!(g.inputs[0].name, "x");
    assert_eq!(g.outputs[0].name, "y");
    let other = sm
        .graph(Selection {
            tag: "serve",
            signature: "other",
        })
        .unwrap();
    let names: Vec<&str> = other.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["diff", "sum"]);
    let scale = other
        .nodes
        .iter()
        .find(|n| n.checkpoint_key.is_some())
        .unwrap();
    assert_eq!(
        scale.checkpoint_key.as_deref(),
        Some("scale/.ATTRIBUTES/VARIABLE_VALUE")
    );
    assert_eq!(scale.value.as_ref().unwrap().to_f32_vec().unwrap(), [2.5]);
}

#[test]
fn archive_round_trip() {
    let files = Files::read("tfkeras");
    let tar = write_tar(&[
        ("model/saved_model.pb", &files.saved_model),
        ("model/variables/variables.index", &files.index),
        (
            "model/variables/variables.data-00000-of-00001",
            &files.shards[0],
        ),
    ])
    .unwrap();
    let entries = read_tar(&tar).unwrap();
    let from_tar = SavedModel::parse(&saved_model_files(&entries).unwrap()).unwrap();
    let direct = SavedModel::parse(&files.files()).unwrap();
    assert_eq!(
        from_tar.graph(Selection::default()).unwrap(),
        direct.graph(Selection::default()).unwrap()
    );
}

#[test]
fn system_tar_is_read() {
    let dir = data("module");
    let out = std::env::temp_dir().join(format!("cerebro-tf-{}.tar", std::process::id()));
    let status = std::process::Command::new("tar")
        .args([
            "cf",
            out.to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
            ".",
        ])
        .status();
    let Ok(status) = status else { return };
    assert!(status.success());
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).ok();
    let entries = read_tar(&bytes).unwrap();
    let files = saved_model_files(&entries).unwrap();
    assert_eq!(files.variables_data.len(), 1);
    let sm = SavedModel::parse(&files).unwrap();
    assert_eq!(sm.graph(Selection::default()).unwrap().outputs.len(), 1);
}

#[test]
fn bad_inputs_are_refused_with_errors() {
    let files = Files::read("module");
    // Unknown tag and signature.
    let sm = SavedModel::parse(&files.files()).unwrap();
    assert!(matches!(
        sm.graph(Selection {
            tag: "train",
            signature: "serving_default"
        }),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        sm.graph(Selection {
            tag: "serve",
            signature: "nope"
        }),
        Err(Error::NotFound(_))
    ));
    // A flipped bit in the data shard fails the entry's CRC when read.
    let mut shard = files.shards[0].clone();
    shard[10] ^= 1;
    let bad = SavedModelFiles {
        variables_data: vec![&shard],
        ..files.files()
    };
    let sm = SavedModel::parse(&bad).unwrap();
    let err = sm.graph(Selection::default()).unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    // A flipped bit in the index fails a block CRC or the footer.
    for at in [0, files.index.len() / 2, files.index.len() - 1] {
        let mut index = files.index.clone();
        index[at] ^= 0x40;
        assert!(
            Bundle::open(&index, files.shard_refs()).is_err(),
            "index bit at {at}"
        );
    }
    // Truncations of every file never panic.
    for cut in (0..files.saved_model.len()).step_by(97) {
        let f = SavedModelFiles {
            saved_model: &files.saved_model[..cut],
            ..files.files()
        };
        if let Ok(sm) = SavedModel::parse(&f) {
            let _ = sm.graph(Selection::default());
        }
    }
    for cut in 0..files.index.len() {
        assert!(Bundle::open(&files.index[..cut], files.shard_refs()).is_err());
    }
    let short = &files.shards[0][..files.shards[0].len() - 1];
    assert!(Bundle::open(&files.index, vec![short]).is_err());
    assert!(Bundle::open(&files.index, vec![]).is_err());
}

#[test]
fn frozen_graph_default_inputs_and_outputs() {
    let pb = std::fs::read(data("module").join("frozen_serving_default.pb")).unwrap();
    let g = load_frozen_graph(&pb, None, None).unwrap();
    let inputs: Vec<&str> = g.inputs.iter().map(|i| i.name.as_str()).collect();
    let outputs: Vec<&str> = g.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(inputs, ["x"]);
    assert_eq!(outputs, ["Identity"]);
    let explicit = load_frozen_graph(&pb, Some(&["x:0"]), Some(&["Identity:0"])).unwrap();
    assert_eq!(g.nodes, explicit.nodes);
    assert!(matches!(
        load_frozen_graph(&pb, None, Some(&["missing:0"])),
        Err(Error::NotFound(_))
    ));
    assert!(load_frozen_graph(&pb[..pb.len() / 2], None, None).is_err());
}

//! TensorFlow SavedModels and frozen GraphDefs through the engine, compared with TensorFlow.
//!
//! - The small models of `guest/formats/tensorflow/tests/data` (made by its `generate.py` with
//!   TensorFlow 2.21: a Keras 3 CNN, a `tf.Module` with two signatures, a tf_keras model with
//!   FusedBatchNormV3, a TF1 graph, an op-coverage module with two signatures, a checkpoint split
//!   into slices over 4 shards, a jax2tf XlaCallModule) run through every
//!   signature from the SavedModel (sent as a tar archive) and through TensorFlow's own frozen
//!   GraphDef of that signature; outputs must match TensorFlow's within 1e-4 of scale
//!   (scale = max(1, max |golden|)).
//! - Every fixture of `tests/models/manifest.json` with format `savedmodel` or `graphdef`.
//! - Unsupported ops are refused at load with their names.

use std::path::{Path, PathBuf};

use cerebro_engine::ir::TensorData;
use cerebro_engine::loader::tensorflow::{self, Options};
use cerebro_engine::Model;
use cerebro_npy as npy;
use cerebro_tensorflow as tf;

mod common;
use common::engine_dtype;

const TOLERANCE: f64 = 1e-4;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../formats/tensorflow/tests/data")
}

/// A directory packed as a tar archive, the way a SavedModel reaches the engine.
fn tar_dir(dir: &Path) -> Vec<u8> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_str().unwrap().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    tf::archive::write_tar(&refs).unwrap()
}

/// Runs `graph` on `inputs` and checks every output against `goldens`; returns the worst
/// error relative to scale.
fn run_and_compare(
    what: &str,
    graph: cerebro_engine::ir::Graph,
    inputs: &[npy::Array],
    goldens: &[npy::Array],
) -> f64 {
    let mut model = Model::new(graph).unwrap_or_else(|e| panic!("{what}: planning failed: {e}"));
    let data: Vec<TensorData<'_>> = inputs
        .iter()
        .map(|a| TensorData {
            dtype: engine_dtype(a.dtype),
            shape: &a.shape,
            bytes: &a.data,
        })
        .collect();
    model
        .run(&data)
        .unwrap_or_else(|e| panic!("{what}: run failed: {e}"));
    assert_eq!(model.num_outputs(), goldens.len(), "{what}: output count");
    let mut worst = 0f64;
    for (i, golden) in goldens.iter().enumerate() {
        let got = model.output(i).unwrap();
        assert_eq!(
            got.shape,
            golden.shape.as_slice(),
            "{what}: output {i} shape"
        );
        assert_eq!(
            got.dtype,
            engine_dtype(golden.dtype),
            "{what}: output {i} dtype"
        );
        let got = npy::Array::new(golden.dtype, got.shape.to_vec(), got.bytes.to_vec()).unwrap();
        let (g, w) = (got.to_f64(), golden.to_f64());
        let scale = w.iter().fold(1f64, |m, v| m.max(v.abs()));
        let err = g
            .iter()
            .zip(&w)
            .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err <= TOLERANCE * scale,
            "{what}: output {i} differs from TensorFlow by {err} (scale {scale})"
        );
        worst = worst.max(err / scale);
    }
    worst
}

fn goldens(dir: &Path, signature: &str) -> (Vec<npy::Array>, Vec<npy::Array>) {
    let read = |kind: &str| {
        let mut v = Vec::new();
        for i in 0.. {
            let p = dir.join(format!("golden_{signature}_{kind}{i}.npy"));
            if !p.exists() {
                break;
            }
            v.push(npy::read(&p).unwrap());
        }
        v
    };
    (read("in"), read("out"))
}

const SIGNATURES: [(&str, &str); 11] = [
    ("xla", "serving_default"),
    ("sharded", "serving_default"),
    ("sharded", "other"),
    ("k3cnn", "serving_default"),
    ("k3cnn", "serve"),
    ("module", "serving_default"),
    ("module", "other"),
    ("tfkeras", "serving_default"),
    ("tf1", "serving_default"),
    ("ops", "serving_default"),
    ("ops", "misc"),
];

#[test]
fn saved_models_match_tensorflow() {
    for (model, signature) in SIGNATURES {
        let dir = data_dir().join(model);
        let (inputs, outputs) = goldens(&dir, signature);
        assert!(
            !inputs.is_empty() && !outputs.is_empty(),
            "{model}: goldens missing"
        );
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|a| a.shape.clone()).collect();
        let options = Options {
            tag: "serve",
            signature,
            input_shapes: Some(&shapes),
        };
        let graph = tensorflow::load_saved_model(&tar_dir(&dir), &options)
            .unwrap_or_else(|e| panic!("{model}/{signature}: {e}"));
        let worst = run_and_compare(&format!("{model}/{signature}"), graph, &inputs, &outputs);
        println!("{model}/{signature}: max error {worst:.2e} of scale");
    }
}

#[test]
fn frozen_graphdefs_match_tensorflow() {
    for (model, signature) in SIGNATURES {
        let dir = data_dir().join(model);
        let (inputs, outputs) = goldens(&dir, signature);
        let pb = std::fs::read(dir.join(format!("frozen_{signature}.pb"))).unwrap();
        let io = std::fs::read_to_string(dir.join(format!("frozen_{signature}.io.txt"))).unwrap();
        let mut lines = io.lines();
        let ins: Vec<&str> = lines.next().unwrap().split(' ').collect();
        let outs: Vec<&str> = lines.next().unwrap().split(' ').collect();
        let g = tf::load_frozen_graph(&pb, Some(&ins), Some(&outs)).unwrap();
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|a| a.shape.clone()).collect();
        let graph = tensorflow::lower(&g, Some(&shapes))
            .unwrap_or_else(|e| panic!("{model}/{signature} frozen: {e}"));
        run_and_compare(
            &format!("{model}/{signature} frozen"),
            graph,
            &inputs,
            &outputs,
        );
    }
    // The GraphDef entry point (default inputs/outputs) on a single-output frozen graph.
    let dir = data_dir().join("tfkeras");
    let (inputs, outputs) = goldens(&dir, "serving_default");
    let pb = std::fs::read(dir.join("frozen_serving_default.pb")).unwrap();
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|a| a.shape.clone()).collect();
    let options = Options {
        input_shapes: Some(&shapes),
        ..Options::default()
    };
    let graph = tensorflow::load_graphdef(&pb, &options).unwrap();
    run_and_compare("tfkeras frozen (load_graphdef)", graph, &inputs, &outputs);
}

#[test]
fn batch_norm_and_bias_fold_into_convolutions() {
    // tf_keras: Conv2D → FusedBatchNormV3 → ReLU6 becomes one convolution with bias and
    // activation; Keras 3: Conv2D → BiasAdd → ReLU likewise.
    for (model, convs) in [("tfkeras", 1), ("k3cnn", 2)] {
        let dir = data_dir().join(model);
        let graph = tensorflow::load_saved_model(&tar_dir(&dir), &Options::default()).unwrap();
        let sg = &graph.subgraphs[graph.entry];
        let names: Vec<&str> = sg.nodes.iter().map(|n| n.op.name()).collect();
        let fused = sg
            .nodes
            .iter()
            .filter(|n| matches!(n.op.name(), "Conv2d" | "DepthwiseConv2d") && n.inputs.len() == 3)
            .count();
        assert_eq!(fused, convs, "{model}: {names:?}");
        assert!(
            !names.contains(&"Unary"),
            "{model}: activation not fused: {names:?}"
        );
    }
    // A zero pad of H/W before a VALID convolution becomes the convolution's padding.
    let dir = data_dir().join("ops");
    let graph = tensorflow::load_saved_model(&tar_dir(&dir), &Options::default()).unwrap();
    let sg = &graph.subgraphs[graph.entry];
    let pads = sg.nodes.iter().filter(|n| n.op.name() == "Pad").count();
    assert_eq!(
        pads, 2,
        "only the pads feeding the concat/mirror pad remain"
    );
    let padded_convs = sg
        .nodes
        .iter()
        .filter(|n| match &n.op {
            cerebro_engine::ir::Op::Conv2d(a) => a.padding.bottom == 1 && a.padding.right == 1,
            _ => false,
        })
        .count();
    assert_eq!(
        padded_convs, 2,
        "SAME conv and the absorbed pad + VALID conv"
    );
}

#[test]
fn unsupported_ops_are_refused_with_their_names() {
    let dir = data_dir().join("module");
    let files = [
        std::fs::read(dir.join("saved_model.pb")).unwrap(),
        std::fs::read(dir.join("variables/variables.index")).unwrap(),
        std::fs::read(dir.join("variables/variables.data-00000-of-00001")).unwrap(),
    ];
    let sm = tf::SavedModel::parse(&tf::SavedModelFiles {
        saved_model: &files[0],
        variables_index: Some(&files[1]),
        variables_data: vec![&files[2]],
    })
    .unwrap();
    let mut g = sm.graph(tf::Selection::default()).unwrap();
    g.nodes
        .iter_mut()
        .filter(|n| n.op == "Relu")
        .for_each(|n| n.op = "Erfinv".into());
    g.nodes
        .iter_mut()
        .filter(|n| n.op == "MatMul")
        .for_each(|n| n.op = "SparseTensorDenseMatMul".into());
    let err = tensorflow::lower(&g, None).unwrap_err().to_string();
    assert!(
        err.contains("Erfinv") && err.contains("SparseTensorDenseMatMul"),
        "{err}"
    );
    // Malformed archives are errors, not panics.
    let tar = tar_dir(&dir);
    for cut in [0, 100, 511, 512, 1024, tar.len() / 2] {
        assert!(tensorflow::load_saved_model(&tar[..cut], &Options::default()).is_err());
    }
}

#[test]
fn manifest_fixtures_match_tensorflow() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models");
    let Ok(text) = std::fs::read_to_string(root.join("manifest.json")) else {
        panic!("tests/models/manifest.json missing");
    };
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut count = 0;
    for f in manifest["fixtures"].as_array().unwrap() {
        let format = f["format"].as_str().unwrap_or("");
        if format != "savedmodel" && format != "graphdef" {
            continue;
        }
        let name = f["name"].as_str().unwrap();
        let model = root.join(f["model"].as_str().unwrap());
        let tolerance = f["tolerance"].as_f64().unwrap_or(1e-4);
        assert!(tolerance <= 1e-4, "{name}: tolerance {tolerance}");
        let signature = f["signature"].as_str().unwrap_or("serving_default");
        let runs = f["runs"].as_array().unwrap();
        let read_all = |list: &serde_json::Value| -> Vec<npy::Array> {
            list.as_array()
                .unwrap()
                .iter()
                .map(|p| npy::read(root.join(p.as_str().unwrap())).unwrap())
                .collect()
        };
        let first_inputs = read_all(&runs[0]["inputs"]);
        let shapes: Vec<Vec<usize>> = first_inputs.iter().map(|a| a.shape.clone()).collect();
        let options = Options {
            tag: "serve",
            signature,
            input_shapes: Some(&shapes),
        };
        let result = if format == "savedmodel" {
            tensorflow::load_saved_model(&tar_dir(&model), &options)
        } else {
            tensorflow::load_graphdef(&std::fs::read(&model).unwrap(), &options)
        };
        if f["compare"].as_str() == Some("error") {
            let err = result.expect_err(name).to_string();
            for op in f["ops"].as_array().unwrap() {
                assert!(err.contains(op.as_str().unwrap()), "{name}: {err}");
            }
            count += 1;
            continue;
        }
        let graph = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        for (r, run) in runs.iter().enumerate() {
            let inputs = read_all(&run["inputs"]);
            let outputs = read_all(&run["outputs"]);
            let worst =
                run_and_compare(&format!("{name} run {r}"), graph.clone(), &inputs, &outputs);
            println!("{name} run {r}: max error {worst:.2e} of scale");
        }
        count += 1;
    }
    println!("{count} SavedModel/GraphDef fixtures checked");
}

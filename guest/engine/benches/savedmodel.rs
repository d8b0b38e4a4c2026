//! MobileNetV2 224² from a SavedModel vs from TFLite, both in the engine (native, 1 thread).
//!
//! `cargo bench -p cerebro-engine --bench savedmodel` (env `BENCH_ITERS`, default 30). Both are
//! the fixtures' calibrated MobileNetV2 (`tests/models/savedmodel/keras3_mobilenet_v2` and
//! `tests/models/tflite/mobilenet_v2_f32`, the same weights): the SavedModel path lowers
//! TensorFlow's graph (batch norm folded, pads absorbed) onto the same IR and kernels as the
//! TFLite path, so the ratio should be about 1. Runs alternate between the two models so that
//! machine noise hits both alike; the medians are compared.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cerebro_engine::ir::TensorData;
use cerebro_engine::loader::{self, tensorflow};
use cerebro_engine::Model;

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models")
}

/// The SavedModel directory as the tar archive the engine takes.
fn tar_dir(dir: &Path) -> Vec<u8> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).expect("SavedModel directory") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).expect("file")));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    cerebro_tensorflow::archive::write_tar(&refs).expect("tar")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let sm_dir = models_dir().join("savedmodel/keras3_mobilenet_v2");
    let tfl_dir = models_dir().join("tflite/mobilenet_v2_f32");
    let input = cerebro_npy::read(sm_dir.join("run0_input0.npy")).expect("fixture input");
    let shapes = vec![input.shape.clone()];

    let archive = tar_dir(&sm_dir.join("saved_model"));
    let t = Instant::now();
    // The steps of `tensorflow::load_saved_model`, timed apart.
    let entries = cerebro_tensorflow::archive::read_tar(&archive).expect("tar");
    let files = cerebro_tensorflow::archive::saved_model_files(&entries).expect("files");
    let parsed = cerebro_tensorflow::SavedModel::parse(&files).expect("parse");
    let tf_graph = parsed
        .graph(cerebro_tensorflow::Selection::default())
        .expect("extract");
    let t_extract = t.elapsed().as_secs_f64() * 1e3;
    let graph = tensorflow::lower(&tf_graph, Some(&shapes)).expect("lower");
    let t_lower = t.elapsed().as_secs_f64() * 1e3 - t_extract;
    let nodes_sm = graph.subgraphs[graph.entry].nodes.len();
    let mut sm = Model::new(graph).expect("plan SavedModel");
    let load_sm = t.elapsed().as_secs_f64() * 1e3;

    let bytes = std::fs::read(tfl_dir.join("model.tflite")).expect("fixture model");
    let t = Instant::now();
    let graph = loader::tflite::load(&bytes).expect("load TFLite");
    let nodes_tfl = graph.subgraphs[graph.entry].nodes.len();
    let mut tfl = Model::new(graph).expect("plan TFLite");
    let load_tfl = t.elapsed().as_secs_f64() * 1e3;

    let dtype = sm.inputs().next().unwrap().dtype;
    let data = TensorData {
        dtype,
        shape: &input.shape,
        bytes: &input.data,
    };
    for _ in 0..3 {
        sm.run(&[data]).expect("run");
        tfl.run(&[data]).expect("run");
    }
    // Same input, same weights: the two outputs agree.
    let a = sm.output(0).unwrap().bytes.to_vec();
    let b = tfl.output(0).unwrap().bytes.to_vec();
    let diff = a
        .chunks_exact(4)
        .zip(b.chunks_exact(4))
        .map(|(x, y)| {
            let x = f32::from_le_bytes(x.try_into().unwrap());
            let y = f32::from_le_bytes(y.try_into().unwrap());
            (x - y).abs()
        })
        .fold(0f32, f32::max);

    let (mut ts_sm, mut ts_tfl) = (Vec::new(), Vec::new());
    for _ in 0..iters {
        let t = Instant::now();
        sm.run(&[data]).expect("run");
        ts_sm.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        tfl.run(&[data]).expect("run");
        ts_tfl.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (b_sm, b_tfl) = (best(&ts_sm), best(&ts_tfl));
    let (m_sm, m_tfl) = (median(ts_sm), median(ts_tfl));
    // Same op sequence with the same attributes: the two paths run the same kernels.
    let ops = |m: &Model| -> Vec<String> {
        let g = m.graph();
        g.subgraphs[g.entry]
            .nodes
            .iter()
            .map(|n| format!("{:?}", n.op))
            .collect()
    };
    let same_ops = ops(&sm) == ops(&tfl);
    println!("MobileNetV2 224x224 f32, engine native, 1 thread, {iters} runs each (alternating)");
    println!(
        "  SavedModel: {nodes_sm:3} IR nodes, load+lower+plan {load_sm:7.1} ms, median {m_sm:6.2} ms, best {b_sm:6.2} ms"
    );
    println!(
        "  TFLite:     {nodes_tfl:3} IR nodes, load+plan       {load_tfl:7.1} ms, median {m_tfl:6.2} ms, best {b_tfl:6.2} ms"
    );
    println!(
        "  SavedModel load: parse+extract {t_extract:.1} ms, lower {t_lower:.1} ms, plan {:.1} ms",
        load_sm - t_extract - t_lower
    );
    println!(
        "  ratio SavedModel / TFLite: median {:.3}, best {:.3}",
        m_sm / m_tfl,
        b_sm / b_tfl
    );
    println!("  same IR op sequence and attributes: {same_ops}");
    println!("  max |output difference|: {diff:.2e}");
}

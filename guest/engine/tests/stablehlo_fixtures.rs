//! JAX / Flax fixtures (tests/models, issue 5) through the StableHLO loader: every output within
//! the manifest's tolerance of JAX's golden, scaled by max(1, max|golden|).

use cerebro_engine::loader::stablehlo::{load, load_with_params};
use cerebro_engine::{DType, Model, TensorData};
use cerebro_npy as npy;

mod common;
use common::{engine_dtype, models_dir};
use std::path::PathBuf;

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn jax_and_flax_fixtures_match_jax() {
    let dir = models_dir();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    let mut report = Vec::new();
    for f in manifest["fixtures"].as_array().unwrap() {
        if f["issue"] != 5 {
            continue;
        }
        let name = f["name"].as_str().unwrap();
        let model = std::fs::read(dir.join(f["model"].as_str().unwrap())).unwrap();
        let loaded = match f["params"].as_str() {
            Some(p) => load_with_params(&model, &std::fs::read(dir.join(p)).unwrap()),
            None => load(&model),
        };
        // Every fixture must load (lowering and planning) and run.
        let mut m = loaded
            .and_then(Model::new)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let tol = f["tolerance"].as_f64().unwrap();
        for run in f["runs"].as_array().unwrap() {
            let inputs: Vec<npy::Array> = run["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| npy::read(dir.join(p.as_str().unwrap())).unwrap())
                .collect();
            let data: Vec<TensorData> = inputs
                .iter()
                .map(|a| TensorData {
                    dtype: engine_dtype(a.dtype),
                    shape: &a.shape,
                    bytes: &a.data,
                })
                .collect();
            m.run(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
            for (k, p) in run["outputs"].as_array().unwrap().iter().enumerate() {
                let want = npy::read(dir.join(p.as_str().unwrap())).unwrap();
                let got = m.output(k).unwrap();
                assert_eq!(got.shape, want.shape.as_slice(), "{name} output {k}");
                assert_eq!(got.dtype, engine_dtype(want.dtype), "{name} output {k}");
                if got.dtype != DType::F32 {
                    assert_eq!(got.bytes, want.data.as_slice(), "{name} output {k}");
                    report.push(format!("{name}: {} output exact", got.dtype));
                    checked += 1;
                    continue;
                }
                let (g, w) = (f32s(got.bytes), f32s(&want.data));
                let scale = w.iter().fold(1f32, |a, v| a.max(v.abs()));
                let err = g
                    .iter()
                    .zip(&w)
                    .fold(0f32, |a, (x, y)| a.max((x - y).abs()));
                report.push(format!("{name}: max err {err:.2e} (scale {scale:.2})"));
                assert!(
                    err <= tol as f32 * scale,
                    "{name} output {k}: max |err| {err} > {tol} x {scale}"
                );
                checked += 1;
            }
        }
    }
    println!("{}", report.join("\n"));
    assert!(checked >= 36, "only {checked} outputs checked");
}

/// Control flow and indexing (tests/data/stablehlo/generate.py): argmax, cumsum, fori_loop,
/// cond, gather, clip, pad, strided slice, dynamic_slice, flip, isfinite, float iota, erf.
#[test]
fn control_flow_and_indexing_match_jax() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/stablehlo");
    let x = npy::read(dir.join("input0.npy")).unwrap();
    let idx = npy::read(dir.join("input1.npy")).unwrap();
    for file in ["ops.mlir", "ops.jax_exported"] {
        let graph =
            load(&std::fs::read(dir.join(file)).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut m = Model::new(graph).unwrap_or_else(|e| panic!("{file}: {e}"));
        let inputs = [
            TensorData {
                dtype: engine_dtype(x.dtype),
                shape: &x.shape,
                bytes: &x.data,
            },
            TensorData {
                dtype: engine_dtype(idx.dtype),
                shape: &idx.shape,
                bytes: &idx.data,
            },
        ];
        m.run(&inputs).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(m.num_outputs(), 13);
        for k in 0..13 {
            let want = npy::read(dir.join(format!("output{k}.npy"))).unwrap();
            let got = m.output(k).unwrap();
            assert_eq!(got.shape, want.shape.as_slice(), "{file} output {k}");
            assert_eq!(got.dtype, engine_dtype(want.dtype), "{file} output {k}");
            if got.dtype == DType::F32 {
                let (g, w) = (f32s(got.bytes), f32s(&want.data));
                let scale = w.iter().fold(1f32, |a, v| a.max(v.abs()));
                let err = g
                    .iter()
                    .zip(&w)
                    .fold(0f32, |a, (x, y)| a.max((x - y).abs()));
                assert!(err <= 1e-5 * scale, "{file} output {k}: max |err| {err}");
            } else {
                assert_eq!(got.bytes, want.data.as_slice(), "{file} output {k}");
            }
        }
    }
}

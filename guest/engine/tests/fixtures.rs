//! Runs every TFLite fixture listed in `tests/models/manifest.json` (issue 4) through the
//! engine and compares with the LiteRT goldens, per the fixture contract:
//! - "close": max |got − golden| ≤ tolerance · max(1, max |golden|), per output;
//! - "exact": dtype and every element equal (int8 goldens from LiteRT's BUILTIN_REF kernels);
//! - "error": loading must fail with an error naming the offending op.
//!
//! Runs are executed in order on one loaded model, so stateful models are checked across
//! invokes. A listed fixture whose files are missing fails the test; nothing is skipped.

use cerebro_engine::ir::TensorData;
use cerebro_engine::loader;
use cerebro_npy as npy;
use serde_json::Value;

mod common;
use common::{engine_dtype, models_dir, npy_dtype};

/// Runs one fixture; returns a description of the first mismatch or error.
fn run_fixture(f: &Value) -> Result<String, String> {
    let dir = models_dir();
    let name = f["name"].as_str().unwrap_or("?");
    let model_path = dir.join(f["model"].as_str().ok_or("fixture without model")?);
    let bytes = std::fs::read(&model_path)
        .map_err(|e| format!("cannot read {}: {e}", model_path.display()))?;
    let compare = f["compare"].as_str().unwrap_or("close");
    let loaded = loader::load(&bytes);
    if compare == "error" {
        return match loaded {
            Ok(_) => Err("model loaded but must be refused".into()),
            Err(e) => {
                let msg = e.to_string();
                let ops: Vec<&str> = f["ops"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                if ops.contains(&"CUSTOM") && !msg.contains("CUSTOM") {
                    return Err(format!(
                        "refused, but the error does not name the CUSTOM op: {msg}"
                    ));
                }
                Ok(format!("refused as expected: {msg}"))
            }
        };
    }
    let mut model = loaded.map_err(|e| format!("load failed: {e}"))?;
    let tol = f["tolerance"].as_f64().unwrap_or(1e-4);
    let runs = f["runs"].as_array().ok_or("fixture without runs")?;
    if runs.is_empty() {
        return Err("fixture lists no runs".into());
    }
    let mut worst = 0.0f64;
    for (r, run) in runs.iter().enumerate() {
        let inputs: Vec<npy::Array> = run["inputs"]
            .as_array()
            .ok_or("run without inputs")?
            .iter()
            .map(|p| {
                npy::read(dir.join(p.as_str().unwrap_or(""))).map_err(|e| format!("run {r}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let datas: Vec<TensorData> = inputs
            .iter()
            .map(|a| TensorData {
                dtype: engine_dtype(a.dtype),
                shape: &a.shape,
                bytes: &a.data,
            })
            .collect();
        model.run(&datas).map_err(|e| format!("run {r}: {e}"))?;
        let outputs = run["outputs"].as_array().ok_or("run without outputs")?;
        if outputs.len() != model.num_outputs() {
            return Err(format!(
                "run {r}: golden has {} outputs, model {}",
                outputs.len(),
                model.num_outputs()
            ));
        }
        for (o, p) in outputs.iter().enumerate() {
            let golden = npy::read(dir.join(p.as_str().unwrap_or("")))
                .map_err(|e| format!("run {r}: {e}"))?;
            let got = model
                .output(o)
                .map_err(|e| format!("run {r} output {o}: {e}"))?;
            if got.shape != golden.shape.as_slice() {
                return Err(format!(
                    "run {r} output {o}: shape {:?}, golden {:?}",
                    got.shape, golden.shape
                ));
            }
            let got_dt =
                npy_dtype(got.dtype).ok_or_else(|| format!("output dtype {}", got.dtype))?;
            if compare == "exact" {
                if got_dt != golden.dtype {
                    return Err(format!(
                        "run {r} output {o}: dtype {:?}, golden {:?}",
                        got_dt, golden.dtype
                    ));
                }
                if got.bytes != golden.data.as_slice() {
                    let g = golden.to_f64();
                    let a = npy::Array::new(got_dt, got.shape.to_vec(), got.bytes.to_vec())
                        .unwrap()
                        .to_f64();
                    let diffs = g.iter().zip(&a).filter(|(x, y)| x != y).count();
                    let maxd = g
                        .iter()
                        .zip(&a)
                        .map(|(x, y)| (x - y).abs())
                        .fold(0.0, f64::max);
                    return Err(format!(
                        "run {r} output {o}: {diffs} of {} elements differ (max {maxd})",
                        g.len()
                    ));
                }
            } else {
                let g = golden.to_f64();
                let a = npy::Array::new(got_dt, got.shape.to_vec(), got.bytes.to_vec())
                    .unwrap()
                    .to_f64();
                let scale = g.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                let maxd = g
                    .iter()
                    .zip(&a)
                    .map(|(x, y)| {
                        if x.is_nan() && y.is_nan() {
                            0.0
                        } else {
                            (x - y).abs()
                        }
                    })
                    .fold(0.0, f64::max);
                let nan = a.iter().zip(&g).any(|(x, y)| x.is_nan() != y.is_nan());
                if nan || maxd > tol * scale {
                    return Err(format!(
                        "run {r} output {o}: max |diff| {maxd:.3e} > {tol:e} x scale {scale:.3}"
                    ));
                }
                worst = worst.max(maxd / scale);
            }
        }
    }
    let _ = name;
    Ok(if compare == "exact" {
        format!("{} runs exact", runs.len())
    } else {
        format!("{} runs, max rel diff {worst:.2e}", runs.len())
    })
}

#[test]
fn tflite_fixtures_match_litert() {
    let manifest_path = models_dir().join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display()));
    let manifest: Value = serde_json::from_str(&text).expect("manifest.json is valid JSON");
    let only = std::env::var("CEREBRO_FIXTURE").ok();
    let mut failures = Vec::new();
    let mut count = 0;
    for f in manifest["fixtures"].as_array().expect("fixtures array") {
        if f["format"] != "tflite" {
            continue;
        }
        let name = f["name"].as_str().unwrap_or("?").to_string();
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        count += 1;
        let t = std::time::Instant::now();
        match run_fixture(f) {
            Ok(msg) => println!("PASS {name}: {msg} ({:.1?})", t.elapsed()),
            Err(msg) => {
                println!("FAIL {name}: {msg}");
                failures.push(format!("{name}: {msg}"));
            }
        }
    }
    assert!(count > 0, "no TFLite fixtures in the manifest");
    assert!(
        failures.is_empty(),
        "{} of {count} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

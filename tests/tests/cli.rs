//! `cerebro-vmm` as a user runs it: every fixture through the command line (native engine —
//! the enclave path is covered by `e2e.rs`), the examples, `inspect`, `bench`, and bad input
//! end to end with one-line errors and the documented exit codes
//! (2 usage, 3 bad model, 4 bad input, 5 enclave; see host-cli/src/error.rs).

mod support;

use std::path::{Path, PathBuf};

use cerebro_npy as npy;
use serde_json::Value;
use support::*;

const EXIT_USAGE: i32 = 2;
const EXIT_BAD_MODEL: i32 = 3;
const EXIT_BAD_INPUT: i32 = 4;

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// Arguments that run fixture `f`'s run `r` natively and write outputs to `out`.
fn fixture_args(f: &Fixture, r: usize, out: &Path) -> Vec<String> {
    let mut args = vec!["--native".to_string(), "--model".into(), path_arg(&f.model)];
    if let Some(p) = &f.params {
        args.extend(["--params".into(), path_arg(p)]);
    }
    if let Some(s) = &f.signature {
        args.extend(["--signature".into(), s.clone()]);
    }
    for input in &f.runs[r].inputs {
        args.extend(["--input".into(), path_arg(input)]);
    }
    args.extend(["--output-dir".into(), path_arg(out), "--json".into()]);
    args
}

/// Every fixture of a working format matches its golden through `cerebro-vmm --native`
/// (run 0 of each: a process loads the model once, so later runs of stateful fixtures are
/// checked through the API in e2e.rs); every fixture of a format not yet working fails to load
/// with exit 3, so a format that starts working must be added to WORKING_FORMATS.
#[test]
fn every_fixture_through_the_cli_matches_its_golden() {
    let fixtures = fixtures();
    assert!(
        fixtures.len() > 100,
        "manifest too small: {}",
        fixtures.len()
    );
    let scratch = scratch_dir("fixtures");
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut not_yet: std::collections::BTreeMap<String, usize> = Default::default();
    for f in &fixtures {
        let out_dir = scratch.join(&f.name);
        let o = run_cli(fixture_args(f, 0, &out_dir));
        let err = stderr(&o);
        if !WORKING_FORMATS.contains(&f.format.as_str()) {
            if o.status.code() != Some(EXIT_BAD_MODEL) {
                failures.push(format!(
                    "{} ({}): format not in WORKING_FORMATS but exit {:?} (add it to the list?) {err}",
                    f.name, f.format, o.status.code()
                ));
            }
            *not_yet.entry(f.format.clone()).or_default() += 1;
            continue;
        }
        if let Some(why) = known_unsupported(&f.name) {
            if o.status.code() != Some(EXIT_BAD_MODEL) || !err.contains("unsupported") {
                failures.push(format!(
                    "{}: expected an unsupported refusal ({why}), got exit {:?}: {err}",
                    f.name,
                    o.status.code()
                ));
            }
            *not_yet
                .entry(format!("{} (known unsupported)", f.format))
                .or_default() += 1;
            continue;
        }
        if f.compare == "error" {
            if o.status.code() != Some(EXIT_BAD_MODEL) || err.lines().count() != 1 {
                failures.push(format!(
                    "{}: should be refused at load with exit 3, got {:?}: {err}",
                    f.name,
                    o.status.code()
                ));
            }
            checked += 1;
            continue;
        }
        if !o.status.success() {
            failures.push(format!(
                "{}: exit {:?}: {}",
                f.name,
                o.status.code(),
                err.trim()
            ));
            continue;
        }
        let doc: Value =
            serde_json::from_str(&stdout(&o)).expect("--json prints one JSON document");
        assert_eq!(
            doc["outputs"].as_array().map(Vec::len),
            Some(f.runs[0].outputs.len()),
            "{}",
            f.name
        );
        for (i, golden) in f.runs[0].outputs.iter().enumerate() {
            let got = npy::read(out_dir.join(format!("output_{i}.npy"))).expect("output .npy");
            let want = npy::read(golden).expect("golden .npy");
            if let Err(e) = compare(&got, &want, &f.compare, f.tolerance) {
                failures.push(format!("{} output {i}: {e}", f.name));
            }
        }
        checked += 1;
    }
    eprintln!(
        "checked {checked} fixtures through the CLI; formats without a loader yet: {not_yet:?}"
    );
    assert!(
        failures.is_empty(),
        "{} fixture failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 0);
}

fn example(name: &str) -> String {
    format!("examples/digits/{name}")
}

/// The README's main command on the shipped example predicts the right digit, in text and JSON.
#[test]
fn digits_example_predicts_every_sample() {
    for digit in [0, 3, 5, 7, 9] {
        let input = example(&format!("digit_{digit}.npy"));
        let o = run_cli([
            "--native",
            "--model",
            &example("model.tflite"),
            "--input",
            &input,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains("f32[1,10]"), "{text}");
        assert!(text.contains("top-5:"), "{text}");
        assert!(
            text.contains(&format!("predicted class: {digit}")),
            "{text}"
        );

        let o = run_cli([
            "--native",
            "--model",
            &example("model.tflite"),
            "--input",
            &input,
            "--json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let doc: Value = serde_json::from_str(&stdout(&o)).expect("JSON");
        assert_eq!(doc["format"], "tflite");
        assert_eq!(doc["backend"], "native");
        let out = &doc["outputs"][0];
        assert_eq!(out["dtype"], "f32");
        assert_eq!(out["shape"], serde_json::json!([1, 10]));
        assert_eq!(out["top5"][0][0]["class"], digit);
        assert_eq!(out["top5"][0].as_array().map(Vec::len), Some(5));
        let (min, max, mean) = (
            out["min"].as_f64().unwrap(),
            out["max"].as_f64().unwrap(),
            out["mean"].as_f64().unwrap(),
        );
        assert!(0.0 <= min && min <= mean && mean <= max && max <= 1.0);
        assert!(
            (mean - 0.1).abs() < 1e-4,
            "softmax over 10 classes has mean 0.1, got {mean}"
        );
    }
}

/// Inputs bound by name land on the right model inputs (a two-input fixture given in reverse).
#[test]
fn inputs_bind_by_name() {
    let f = fixtures()
        .into_iter()
        .find(|f| f.format == "tflite" && f.compare == "close" && f.runs[0].inputs.len() == 2)
        .expect("a two-input float TFLite fixture");
    let scratch = scratch_dir("by-name");
    let inspect = run_cli(["inspect", "--json", &path_arg(&f.model)]);
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let doc: Value = serde_json::from_str(&stdout(&inspect)).unwrap();
    let names: Vec<String> = doc["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    let args = vec![
        "--native".to_string(),
        "--model".into(),
        path_arg(&f.model),
        "--input".into(),
        format!("{}={}", names[1], path_arg(&f.runs[0].inputs[1])),
        "--input".into(),
        format!("{}={}", names[0], path_arg(&f.runs[0].inputs[0])),
        "--output-dir".into(),
        path_arg(&scratch),
    ];
    let o = run_cli(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = npy::read(scratch.join("output_0.npy")).unwrap();
    let want = npy::read(&f.runs[0].outputs[0]).unwrap();
    compare(&got, &want, &f.compare, f.tolerance).unwrap_or_else(|e| panic!("{}: {e}", f.name));

    let o = run_cli([
        "--native",
        "--model",
        &path_arg(&f.model),
        "--input",
        &format!("nosuch={}", path_arg(&f.runs[0].inputs[0])),
    ]);
    assert_one_line_error(&o, EXIT_BAD_INPUT, &["no input named `nosuch`"]);
}

/// `inspect` reports format, signature, op histogram and parameters of the digits MLP
/// (Keras 64→Dense 64→Dense 32→Dense 10→Softmax; LiteRT lists its constant tensors as
/// [64,64]+[64], [32,64]+[32], [10,32]+[10] = 6570 f32 parameters).
#[test]
fn inspect_digits_mlp() {
    let model = models_dir().join("tflite/digits_mlp_f32/model.tflite");
    let o = run_cli(["inspect", "--json", &path_arg(&model)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["format"], "tflite");
    assert_eq!(doc["runnable"], true);
    assert_eq!(doc["inputs"][0]["dtype"], "f32");
    assert_eq!(doc["inputs"][0]["shape"], serde_json::json!([1, 64]));
    assert_eq!(doc["outputs"][0]["shape"], serde_json::json!([1, 10]));
    assert_eq!(
        doc["ops"]["FullyConnected"].as_u64(),
        Some(3),
        "{}",
        doc["ops"]
    );
    assert_eq!(doc["ops"]["Softmax"].as_u64(), Some(1), "{}", doc["ops"]);
    assert_eq!(doc["parameter_count"].as_u64(), Some(6570));
    assert_eq!(doc["parameter_bytes"].as_u64(), Some(6570 * 4));

    let o = run_cli(["inspect", &path_arg(&model)]);
    assert!(o.status.success());
    let text = stdout(&o);
    for needle in [
        "TensorFlow Lite",
        "inputs:",
        "outputs:",
        "FullyConnected",
        "parameters: 6570",
        "can run",
    ] {
        assert!(text.contains(needle), "inspect text lacks {needle}: {text}");
    }
}

/// `inspect` refuses a model with a custom op and names it.
#[test]
fn inspect_refuses_a_custom_op() {
    let model = models_dir().join("tflite/custom_op_refused/model.tflite");
    let o = run_cli(["inspect", &path_arg(&model)]);
    assert_one_line_error(&o, EXIT_BAD_MODEL, &["cannot run", "custom"]);
}

/// `bench --native --no-enclave` reports sane percentiles as JSON.
#[test]
fn bench_native_reports_percentiles() {
    let o = run_cli([
        "bench",
        "--model",
        &example("model.tflite"),
        "--native",
        "--no-enclave",
        "--runs",
        "5",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let r = &doc["results"][0];
    assert_eq!(r["backend"], "native");
    assert_eq!(r["runs"], 5);
    let (p50, p90, p99) = (
        r["p50_ms"].as_f64().unwrap(),
        r["p90_ms"].as_f64().unwrap(),
        r["p99_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p90 && p90 <= p99, "{r}");
    let o = run_cli(["bench", "--model", &example("model.tflite"), "--no-enclave"]);
    assert_one_line_error(&o, EXIT_USAGE, &["--native"]);
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Bad input, end to end: each a one-line error with its exit code.
#[test]
fn bad_requests_fail_with_one_line_and_their_exit_code() {
    let scratch = scratch_dir("bad");
    let model = example("model.tflite");
    let digit = example("digit_3.npy");

    // Malformed model: a TFLite file cut short.
    let bytes = std::fs::read(repo_root().join(&model)).unwrap();
    let truncated = write_file(&scratch, "truncated.tflite", &bytes[..bytes.len() / 3]);
    let o = run_cli([
        "--native",
        "--model",
        &path_arg(&truncated),
        "--input",
        &digit,
    ]);
    assert_one_line_error(&o, EXIT_BAD_MODEL, &["truncated.tflite"]);

    // Unknown format.
    let junk = write_file(
        &scratch,
        "junk.bin",
        b"\x01\x02\x03\x04 definitely not a model \xff\xfe",
    );
    let o = run_cli(["--native", "--model", &path_arg(&junk), "--input", &digit]);
    assert_one_line_error(&o, EXIT_BAD_MODEL, &["unknown model format"]);

    // An empty file and a missing file.
    let empty = write_file(&scratch, "empty.tflite", b"");
    let o = run_cli(["--native", "--model", &path_arg(&empty), "--input", &digit]);
    assert_one_line_error(&o, EXIT_BAD_MODEL, &["empty"]);
    let o = run_cli([
        "--native",
        "--model",
        "no/such/model.tflite",
        "--input",
        &digit,
    ]);
    assert_one_line_error(&o, EXIT_BAD_MODEL, &["no/such/model.tflite"]);

    // Wrong input shape.
    let wrong_shape = scratch.join("wrong_shape.npy");
    npy::write(
        &wrong_shape,
        &npy::Array::from_f32(vec![1, 64], &[0.5; 64]).unwrap(),
    )
    .unwrap();
    let o = run_cli([
        "--native",
        "--model",
        &model,
        "--input",
        &path_arg(&wrong_shape),
    ]);
    assert_one_line_error(&o, EXIT_BAD_INPUT, &["must be f32[1,8,8,1]", "f32[1,64]"]);

    // Wrong input dtype.
    let wrong_dtype = scratch.join("wrong_dtype.npy");
    npy::write(
        &wrong_dtype,
        &npy::Array::new(npy::DType::I32, vec![1, 8, 8, 1], vec![0; 256]).unwrap(),
    )
    .unwrap();
    let o = run_cli([
        "--native",
        "--model",
        &model,
        "--input",
        &path_arg(&wrong_dtype),
    ]);
    assert_one_line_error(&o, EXIT_BAD_INPUT, &["i32[1,8,8,1]"]);

    // Missing input, too many inputs, an input that is not .npy.
    let o = run_cli(["--native", "--model", &model]);
    assert_one_line_error(&o, EXIT_BAD_INPUT, &["missing input 0"]);
    let o = run_cli([
        "--native", "--model", &model, "--input", &digit, "--input", &digit,
    ]);
    assert_one_line_error(&o, EXIT_BAD_INPUT, &["takes 1 input"]);
    let o = run_cli(["--native", "--model", &model, "--input", &model]);
    assert_one_line_error(&o, EXIT_BAD_INPUT, &[".npy"]);

    // A model over the memory limit.
    let big = models_dir().join("tflite/mobilenet_v2_f32/model.tflite");
    let big = if big.exists() {
        big
    } else {
        repo_root().join(&model)
    };
    let o = run_cli([
        "--native",
        "--mem",
        "1",
        "--model",
        &path_arg(&big),
        "--input",
        &digit,
    ]);
    assert_one_line_error(&o, EXIT_BAD_MODEL, &["memory limit"]);

    // Bad usage.
    let o = run_cli([
        "--native", "--model", &model, "--format", "onnx", "--input", &digit,
    ]);
    assert_eq!(o.status.code(), Some(EXIT_USAGE), "{}", stderr(&o));
    let o = run_cli(["--no-such-flag"]);
    assert_eq!(o.status.code(), Some(EXIT_USAGE));
    let o = run_cli(Vec::<String>::new());
    assert_eq!(o.status.code(), Some(EXIT_USAGE));
    let o = run_cli([
        "--native", "--model", &model, "--params", &digit, "--input", &digit,
    ]);
    assert_one_line_error(&o, EXIT_USAGE, &["--params"]);
}

/// `--json` failures also print a machine-readable error document.
#[test]
fn json_errors_are_documents() {
    let o = run_cli(["--native", "--json", "--model", &example("model.tflite")]);
    assert_eq!(o.status.code(), Some(EXIT_BAD_INPUT));
    let doc: Value = serde_json::from_str(&stdout(&o)).expect("error document");
    assert_eq!(doc["error"]["kind"], "bad_input");
    assert_eq!(doc["error"]["exit_code"], EXIT_BAD_INPUT);
}

/// `bench --reference` times LiteRT (XNNPACK, 1 thread) through tools/bench_reference.py in the
/// same invocation and reports the ratio.
#[test]
fn bench_reference_adds_litert() {
    let o = run_cli([
        "bench",
        "--model",
        &example("model.tflite"),
        "--native",
        "--no-enclave",
        "--reference",
        "--runs",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["reference"]["backend"], "litert_xnnpack", "{doc}");
    assert!(doc["reference"]["p50_ms"].as_f64().unwrap() > 0.0);
    assert!(doc["cerebro_over_reference_p50"].as_f64().unwrap() > 0.0);
}

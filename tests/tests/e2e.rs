//! End to end through real enclaves: every fixture of the engine, JAX/Flax and SavedModel issues
//! crosses virtio-cerebro into the guest, is parsed and run by the guest's engine and matches its
//! golden (all runs of a fixture on one loaded model); bad requests get a clear error and the
//! same enclave keeps serving; `cerebro-vmm` without `--native` runs the examples in the enclave.
//!
//! Without /dev/kvm these tests print a notice and pass, unless CEREBRO_REQUIRE_KVM=1 (CI), which
//! makes them fail.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cerebro_npy as npy;
use serde_json::Value;
use support::*;
use vmm::enclave::{DType, HostJob, JobError, ModelFormat, Status, Tensor};
use vmm::{Enclave, EnclaveConfig, EnclaveError, ModelId};

fn start(mem_mib: u64, max_model_size: u64) -> Enclave {
    let mut config = EnclaveConfig::new(cerebro_guest_image::KERNEL);
    config.mem_mib = mem_mib;
    config.job_timeout = Duration::from_secs(120);
    config.device.max_job_size = 8 << 20;
    config.device.max_result_size = 8 << 20;
    config.device.max_model_size = max_model_size;
    Enclave::start(config).expect("start the enclave")
}

fn wire_dtype(d: npy::DType) -> DType {
    match d {
        npy::DType::F32 => DType::F32,
        npy::DType::F16 => DType::F16,
        npy::DType::I8 => DType::I8,
        npy::DType::U8 => DType::U8,
        npy::DType::I16 => DType::I16,
        npy::DType::I32 => DType::I32,
        npy::DType::I64 => DType::I64,
        npy::DType::U32 => DType::U32,
        npy::DType::U16 => DType::U16,
        npy::DType::U64 => DType::U64,
        npy::DType::F64 => DType::F64,
        npy::DType::Bool => DType::Bool,
    }
}

fn npy_dtype(d: DType) -> npy::DType {
    match d {
        DType::F32 => npy::DType::F32,
        DType::F16 => npy::DType::F16,
        DType::I8 => npy::DType::I8,
        DType::U8 => npy::DType::U8,
        DType::I16 => npy::DType::I16,
        DType::I32 => npy::DType::I32,
        DType::I64 => npy::DType::I64,
        DType::U32 => npy::DType::U32,
        DType::U16 => npy::DType::U16,
        DType::U64 => npy::DType::U64,
        DType::F64 => npy::DType::F64,
        DType::Bool => npy::DType::Bool,
        other => panic!("no .npy dtype for {other:?}"),
    }
}

fn tensor(path: &Path) -> Tensor {
    let a = npy::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Tensor {
        dtype: wire_dtype(a.dtype),
        dims: a.shape.iter().map(|&d| d as u64).collect(),
        name: String::new(),
        data: a.data,
    }
}

fn array(t: &Tensor) -> npy::Array {
    npy::Array::new(
        npy_dtype(t.dtype),
        t.dims.iter().map(|&d| d as usize).collect(),
        t.data.clone(),
    )
    .expect("consistent tensor")
}

/// The bytes and format hint the host sends for a fixture (SavedModel directories as tar,
/// Flax models as model + params container).
fn model_payload(f: &Fixture) -> (Vec<u8>, ModelFormat) {
    if f.model.is_dir() {
        let mut files = Vec::new();
        collect(&f.model, &f.model, &mut files);
        files.sort();
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        return (
            cerebro_tensorflow::archive::write_tar(&refs).expect("tar"),
            ModelFormat::SAVED_MODEL,
        );
    }
    let bytes = std::fs::read(&f.model).expect("model file");
    match &f.params {
        Some(p) => {
            let params = std::fs::read(p).expect("params");
            let mut blob = b"CRBFLAX1".to_vec();
            blob.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            blob.extend_from_slice(&(params.len() as u64).to_le_bytes());
            blob.extend_from_slice(&bytes);
            blob.extend_from_slice(&params);
            (blob, ModelFormat::FLAX)
        }
        // The format is detected in the guest from the content.
        None => (bytes, ModelFormat::AUTO),
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.push((rel, std::fs::read(&p).unwrap()));
        }
    }
}

/// Loads through `submit` to see the guest's status and detail (the signature on success).
fn load(
    enclave: &Enclave,
    id: u64,
    bytes: Vec<u8>,
    format: ModelFormat,
    signature: Option<String>,
) -> Result<String, (Status, String)> {
    let bytes: Arc<[u8]> = bytes.into();
    let ticket = enclave
        .submit(HostJob::LoadModel {
            model_id: id,
            format,
            bytes,
            digest: None,
            signature,
        })
        .expect("submit load");
    let reply = ticket
        .wait_timeout(Duration::from_secs(120))
        .expect("load reply");
    if reply.status == Status::Ok {
        Ok(reply.detail)
    } else {
        Err((reply.status, reply.detail))
    }
}

#[test]
fn every_fixture_in_the_enclave_matches_its_golden() {
    if !kvm_available() {
        return;
    }
    let enclave = start(1536, 400 << 20);
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, f) in fixtures().iter().enumerate() {
        let id = 1000 + i as u64;
        let (bytes, format) = model_payload(f);
        let loaded = load(&enclave, id, bytes, format, f.signature.clone());
        if !WORKING_FORMATS.contains(&f.format.as_str()) {
            if loaded.is_ok() {
                failures.push(format!(
                    "{}: format {} loads in the enclave: add it to WORKING_FORMATS",
                    f.name, f.format
                ));
            }
            continue;
        }
        if let Some(why) = known_unsupported(&f.name) {
            match loaded {
                Err((Status::BadModel | Status::Unsupported, detail))
                    if detail.contains("unsupported") => {}
                other => failures.push(format!(
                    "{}: expected an unsupported refusal ({why}), got {other:?}",
                    f.name
                )),
            }
            continue;
        }
        if f.compare == "error" {
            match loaded {
                Err((Status::BadModel, detail)) if !detail.is_empty() && !detail.contains('\n') => {
                    checked += 1
                }
                other => failures.push(format!(
                    "{}: should be refused as BadModel with a one-line detail, got {other:?}",
                    f.name
                )),
            }
            continue;
        }
        if let Err((status, detail)) = loaded {
            failures.push(format!("{}: load failed: {status:?}: {detail}", f.name));
            continue;
        }
        for (r, run) in f.runs.iter().enumerate() {
            let inputs = run.inputs.iter().map(|p| tensor(p)).collect();
            match enclave.run(ModelId(id), inputs) {
                Ok(outputs) => {
                    if outputs.len() != run.outputs.len() {
                        failures.push(format!(
                            "{} run {r}: {} outputs, golden has {}",
                            f.name,
                            outputs.len(),
                            run.outputs.len()
                        ));
                        continue;
                    }
                    for (o, (got, golden)) in outputs.iter().zip(&run.outputs).enumerate() {
                        let want = npy::read(golden).expect("golden");
                        if let Err(e) = compare(&array(got), &want, &f.compare, f.tolerance) {
                            failures.push(format!("{} run {r} output {o}: {e}", f.name));
                        }
                    }
                }
                Err(e) => failures.push(format!("{} run {r}: {e}", f.name)),
            }
        }
        enclave
            .unload(ModelId(id))
            .unwrap_or_else(|e| panic!("unload {}: {e}", f.name));
        checked += 1;
    }
    eprintln!("checked {checked} fixtures in the enclave");
    assert!(
        failures.is_empty(),
        "{} failures in the enclave:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 100);
}

fn digits_golden() -> (Vec<u8>, Tensor, npy::Array) {
    let dir = models_dir().join("tflite/digits_mlp_f32");
    let model = std::fs::read(dir.join("model.tflite")).unwrap();
    (
        model,
        tensor(&dir.join("run0_input0.npy")),
        npy::read(dir.join("run0_output0.npy")).unwrap(),
    )
}

/// The good model still gives the golden answer.
fn still_serves(enclave: &Enclave, id: ModelId, input: &Tensor, golden: &npy::Array, after: &str) {
    let out = enclave
        .run(id, vec![input.clone()])
        .unwrap_or_else(|e| panic!("after {after}: good run failed: {e}"));
    compare(&array(&out[0]), golden, "close", 1e-4)
        .unwrap_or_else(|e| panic!("after {after}: {e}"));
}

fn expect_guest(result: Result<Vec<Tensor>, EnclaveError>, status: Status, what: &str) -> String {
    match result {
        Err(EnclaveError::Guest { status: s, detail }) if s == status => {
            assert!(
                !detail.is_empty() && !detail.contains('\n'),
                "{what}: detail {detail:?}"
            );
            detail
        }
        other => panic!("{what}: expected guest status {status:?}, got {other:?}"),
    }
}

#[test]
fn bad_requests_leave_the_enclave_serving() {
    if !kvm_available() {
        return;
    }
    // 128 MiB of guest memory; the host offers models up to 1 GiB so the guest's own limit is hit.
    let enclave = start(128, 1 << 30);
    let (model, input, golden) = digits_golden();
    load(&enclave, 1, model.clone(), ModelFormat::TFLITE, None).expect("good model loads");
    let good = ModelId(1);
    still_serves(&enclave, good, &input, &golden, "start");

    // Malformed model: a TFLite file cut short.
    let (status, detail) = load(
        &enclave,
        2,
        model[..model.len() / 3].to_vec(),
        ModelFormat::AUTO,
        None,
    )
    .unwrap_err();
    assert_eq!(status, Status::BadModel, "{detail}");
    still_serves(&enclave, good, &input, &golden, "malformed model");

    // Unknown format.
    let (status, detail) = load(
        &enclave,
        3,
        b"\x01\x02 not a model at all \xfe\xff".to_vec(),
        ModelFormat::AUTO,
        None,
    )
    .unwrap_err();
    assert_eq!(status, Status::BadModel, "{detail}");
    assert!(detail.contains("unknown model format"), "{detail}");
    still_serves(&enclave, good, &input, &golden, "unknown format");

    // A format code the guest does not know.
    let (status, _) = load(&enclave, 4, model.clone(), ModelFormat(99), None).unwrap_err();
    assert_eq!(status, Status::Unsupported);
    still_serves(&enclave, good, &input, &golden, "unsupported format");

    // Wrong input shape, wrong dtype, missing input, an extra input, an unknown model.
    let mut wrong_shape = input.clone();
    wrong_shape.dims = vec![1, 32];
    wrong_shape.data.truncate(32 * 4);
    let d = expect_guest(
        enclave.run(good, vec![wrong_shape]),
        Status::BadInput,
        "wrong shape",
    );
    assert!(
        d.contains("[1, 32]") || d.contains("1x32") || d.contains("32"),
        "{d}"
    );
    still_serves(&enclave, good, &input, &golden, "wrong shape");
    let mut wrong_dtype = input.clone();
    wrong_dtype.dtype = DType::I32;
    expect_guest(
        enclave.run(good, vec![wrong_dtype]),
        Status::BadInput,
        "wrong dtype",
    );
    still_serves(&enclave, good, &input, &golden, "wrong dtype");
    expect_guest(enclave.run(good, vec![]), Status::BadInput, "missing input");
    still_serves(&enclave, good, &input, &golden, "missing input");
    expect_guest(
        enclave.run(good, vec![input.clone(), input.clone()]),
        Status::BadInput,
        "extra input",
    );
    still_serves(&enclave, good, &input, &golden, "extra input");
    expect_guest(
        enclave.run(ModelId(77), vec![input.clone()]),
        Status::UnknownModel,
        "unknown model",
    );
    still_serves(&enclave, good, &input, &golden, "unknown model");

    // A model over the guest's memory limit: refused before its bytes are pulled.
    let mut huge = vec![0u8; 96 << 20];
    huge[4..8].copy_from_slice(b"TFL3");
    let (status, detail) = load(&enclave, 5, huge, ModelFormat::AUTO, None).unwrap_err();
    assert!(
        matches!(status, Status::OutOfMemory | Status::TooLarge),
        "{status:?}: {detail}"
    );
    still_serves(
        &enclave,
        good,
        &input,
        &golden,
        "model over the memory limit",
    );

    // The same id twice is refused; unload then works and the id is gone.
    let (status, _) = load(&enclave, 1, model.clone(), ModelFormat::TFLITE, None).unwrap_err();
    assert_eq!(status, Status::Busy);
    still_serves(&enclave, good, &input, &golden, "duplicate id");
    enclave.unload(good).expect("unload");
    expect_guest(
        enclave.run(good, vec![input.clone()]),
        Status::UnknownModel,
        "after unload",
    );
    load(&enclave, 6, model, ModelFormat::TFLITE, None).expect("reload");
    still_serves(&enclave, ModelId(6), &input, &golden, "reload");
}

#[test]
fn host_refuses_a_model_over_the_device_limit() {
    if !kvm_available() {
        return;
    }
    let enclave = start(64, 1 << 20);
    let (model, input, golden) = digits_golden();
    let mut big = vec![0u8; 2 << 20];
    big[4..8].copy_from_slice(b"TFL3");
    match enclave.load_model(big, ModelFormat::AUTO) {
        Err(EnclaveError::Job(JobError::ModelTooLarge { .. })) => {}
        other => panic!("expected ModelTooLarge, got {other:?}"),
    }
    let id = enclave
        .load_model(model, ModelFormat::AUTO)
        .expect("good model after an oversized one");
    still_serves(&enclave, id, &input, &golden, "oversized model");
}

fn example(name: &str) -> String {
    format!("examples/digits/{name}")
}

/// `cerebro-vmm` (default: the enclave) on every format of the shipped example predicts the
/// right digit; bad input keeps its exit codes in enclave mode.
#[test]
fn cli_runs_every_example_format_in_the_enclave() {
    if !kvm_available() {
        return;
    }
    let cases: &[(&[&str], &str, u64)] = &[
        (
            &["--model", "examples/digits/model.tflite"],
            "digit_3.npy",
            3,
        ),
        (
            &["--model", "examples/digits/model_int8.tflite"],
            "digit_5.npy",
            5,
        ),
        (
            &["--model", "examples/digits/saved_model"],
            "digit_7.npy",
            7,
        ),
        (
            &["--model", "examples/digits/model.jax_exported"],
            "digit_9.npy",
            9,
        ),
        (&["--model", "examples/digits/model.mlir"], "digit_0.npy", 0),
        (
            &[
                "--model",
                "examples/digits/flax_apply.jax_exported",
                "--params",
                "examples/digits/flax_variables.msgpack",
            ],
            "digit_3.npy",
            3,
        ),
    ];
    for (model_args, input, digit) in cases {
        let mut args: Vec<String> = model_args.iter().map(|s| s.to_string()).collect();
        args.extend([
            "--input".into(),
            example(input),
            "--json".into(),
            "--mem".into(),
            "256".into(),
        ]);
        let o = run_cli(&args);
        assert!(o.status.success(), "{model_args:?}: {}", stderr(&o));
        let doc: Value = serde_json::from_str(&stdout(&o)).expect("JSON");
        assert_eq!(doc["backend"], "enclave");
        assert_eq!(
            doc["outputs"][0]["top5"][0][0]["class"], *digit,
            "{model_args:?}: {doc}"
        );
    }
    let scratch = scratch_dir("enclave-bad");
    let wrong = scratch.join("wrong.npy");
    npy::write(
        &wrong,
        &npy::Array::from_f32(vec![1, 64], &[0.5; 64]).unwrap(),
    )
    .unwrap();
    let o = run_cli([
        "--model",
        &example("model.tflite"),
        "--input",
        &wrong.display().to_string(),
    ]);
    assert_one_line_error(&o, 4, &["f32[1,8,8,1]"]);
    let truncated = scratch.join("cut.tflite");
    let bytes = std::fs::read(repo_root().join(example("model.tflite"))).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let o = run_cli([
        "--model",
        &truncated.display().to_string(),
        "--input",
        &example("digit_3.npy"),
    ]);
    assert_one_line_error(&o, 3, &["enclave status"]);
    // Unknown format, wrong dtype, missing input: the same exit codes as with --native.
    let junk = scratch.join("junk.bin");
    std::fs::write(&junk, b"\x01\x02 not a model at all \xfe\xff").unwrap();
    let o = run_cli([
        "--model",
        &junk.display().to_string(),
        "--input",
        &example("digit_3.npy"),
    ]);
    assert_one_line_error(&o, 3, &["unknown model format"]);
    let ints = scratch.join("ints.npy");
    npy::write(
        &ints,
        &npy::Array::new(npy::DType::I32, vec![1, 8, 8, 1], vec![0; 256]).unwrap(),
    )
    .unwrap();
    let o = run_cli([
        "--model",
        &example("model.tflite"),
        "--input",
        &ints.display().to_string(),
    ]);
    assert_one_line_error(&o, 4, &["i32[1,8,8,1]"]);
    let o = run_cli(["--model", &example("model.tflite")]);
    assert_one_line_error(&o, 4, &["missing input 0"]);
    let mobilenet = models_dir().join("tflite/mobilenet_v2_f32/model.tflite");
    let o = run_cli([
        "--mem",
        "32",
        "--model",
        &mobilenet.display().to_string(),
        "--input",
        &example("digit_3.npy"),
    ]);
    assert_one_line_error(&o, 3, &["memory limit"]);
}

/// A StableHLO model that counts `n` (input 0, i32) iterations of `x + 1` (input 1, f32): a
/// good model for small `n`, a runaway job for `n = i32::MAX`. With `forever`, the loop's
/// condition is constant true: the job never ends whatever the input.
fn counting_model(forever: bool) -> String {
    let cond = if forever {
        "%t = stablehlo.constant dense<true> : tensor<i1>\n      stablehlo.return %t : tensor<i1>"
    } else {
        "%p = stablehlo.compare LT, %i, %n, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>\n      stablehlo.return %p : tensor<i1>"
    };
    format!(
        r#"module @counting {{
  func.func public @main(%arg0: tensor<i32>, %arg1: tensor<f32>) -> (tensor<f32>) {{
    %c0 = stablehlo.constant dense<0> : tensor<i32>
    %c1 = stablehlo.constant dense<1> : tensor<i32>
    %one = stablehlo.constant dense<1.000000e+00> : tensor<f32>
    %0:3 = stablehlo.while(%i = %c0, %n = %arg0, %x = %arg1) : tensor<i32>, tensor<i32>, tensor<f32>
    cond {{
      {cond}
    }} do {{
      %i2 = stablehlo.add %i, %c1 : tensor<i32>
      %x2 = stablehlo.add %x, %one : tensor<f32>
      stablehlo.return %i2, %n, %x2 : tensor<i32>, tensor<i32>, tensor<f32>
    }}
    return %0#2 : tensor<f32>
  }}
}}
"#
    )
}

fn counting_inputs(n: i32, x: f32) -> Vec<Tensor> {
    let scalar = |dtype, data: [u8; 4]| Tensor {
        dtype,
        dims: vec![],
        name: String::new(),
        data: data.to_vec(),
    };
    vec![
        scalar(DType::I32, n.to_le_bytes()),
        scalar(DType::F32, x.to_le_bytes()),
    ]
}

fn counted(enclave: &Enclave, id: ModelId, n: i32, x: f32) -> f32 {
    let out = enclave
        .run(id, counting_inputs(n, x))
        .unwrap_or_else(|e| panic!("counting {n} from {x}: {e}"));
    f32::from_le_bytes(out[0].data[..4].try_into().unwrap())
}

fn expect_deadline(result: Result<Vec<Tensor>, EnclaveError>, what: &str) {
    let detail = expect_guest(result, Status::DeadlineExceeded, what);
    assert!(detail.contains("job limit"), "{what}: {detail}");
}

/// A runaway job (a loop count of 2^31, or a `while` that never ends) is stopped at the job
/// limit with DEADLINE_EXCEEDED; the same `Enclave` then serves the next jobs with its models
/// still loaded (the guest is restarted underneath and the models loaded again), and a job
/// queued behind the runaway one is answered, not lost.
#[test]
fn runaway_jobs_are_stopped_and_the_enclave_keeps_serving() {
    if !kvm_available() {
        return;
    }
    let limit = Duration::from_secs(2);
    let mut config = EnclaveConfig::new(cerebro_guest_image::KERNEL);
    config.mem_mib = 256;
    config.job_timeout = limit;
    let enclave = Arc::new(Enclave::start(config).expect("start the enclave"));
    let (model, input, golden) = digits_golden();
    let digits = enclave
        .load_model(model, ModelFormat::TFLITE)
        .expect("digits");
    let counting = enclave
        .load_model(
            counting_model(false).into_bytes(),
            ModelFormat::STABLEHLO_TEXT,
        )
        .expect("counting model");
    let forever = enclave
        .load_model(counting_model(true).into_bytes(), ModelFormat::AUTO)
        .expect("endless model");
    assert_eq!(counted(&enclave, counting, 5, 1.5), 6.5);

    // 2^31 iterations: far beyond the limit.
    let started = std::time::Instant::now();
    expect_deadline(
        enclave.run(counting, counting_inputs(i32::MAX, 0.0)),
        "huge loop count",
    );
    assert!(started.elapsed() >= limit, "{:?}", started.elapsed());
    assert_eq!(enclave.restarts(), 1);
    still_serves(&enclave, digits, &input, &golden, "a huge loop count");
    assert_eq!(counted(&enclave, counting, 3, 0.0), 3.0);

    // A loop that never ends, with a good job queued behind it on another thread.
    let behind = {
        let enclave = enclave.clone();
        let input = input.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            enclave.run(digits, vec![input])
        })
    };
    expect_deadline(
        enclave.run(forever, counting_inputs(1, 0.0)),
        "endless while",
    );
    let queued = behind
        .join()
        .unwrap()
        .expect("the job queued behind is answered");
    compare(&array(&queued[0]), &golden, "close", 1e-4).expect("queued job's answer");
    assert_eq!(enclave.restarts(), 2);
    still_serves(&enclave, digits, &input, &golden, "an endless while");
    assert_eq!(counted(&enclave, counting, 7, 1.0), 8.0);
    assert!(
        enclave.console().contains("enclave restarted"),
        "{}",
        enclave.console()
    );
}

/// `cerebro-vmm --job-timeout` stops a runaway model with one line and exit code 5.
#[test]
fn cli_stops_a_runaway_model() {
    if !kvm_available() {
        return;
    }
    let scratch = scratch_dir("runaway");
    let model = scratch.join("forever.mlir");
    std::fs::write(&model, counting_model(true)).unwrap();
    let n = scratch.join("n.npy");
    let x = scratch.join("x.npy");
    npy::write(
        &n,
        &npy::Array::new(npy::DType::I32, vec![], 1i32.to_le_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    npy::write(&x, &npy::Array::from_f32(vec![], &[0.0]).unwrap()).unwrap();
    let o = run_cli([
        "--model",
        &model.display().to_string(),
        "--input",
        &n.display().to_string(),
        "--input",
        &x.display().to_string(),
        "--job-timeout",
        "1",
        "--mem",
        "128",
    ]);
    assert_one_line_error(&o, 5, &["job limit", "--job-timeout"]);
}

/// A named SavedModel signature crosses the wire: `--signature NAME` in the enclave matches the
/// golden (every output), `inspect` lists the model's signatures, and an unknown name is a bad
/// model (exit 3) that names the signatures the model has.
#[test]
fn cli_named_signature_in_the_enclave() {
    if !kvm_available() {
        return;
    }
    let f = fixtures()
        .into_iter()
        .find(|f| f.name == "tf_module_features")
        .expect("fixture tf_module_features");
    let signature = f.signature.clone().expect("a named signature");
    let model = f.model.display().to_string();
    let out = scratch_dir("enclave-signature");
    let mut args = vec![
        "--model".to_string(),
        model.clone(),
        "--signature".into(),
        signature.clone(),
        "--output-dir".into(),
        out.display().to_string(),
        "--json".into(),
    ];
    for input in &f.runs[0].inputs {
        args.extend(["--input".into(), input.display().to_string()]);
    }
    let o = run_cli(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(doc["backend"], "enclave");
    for (i, golden) in f.runs[0].outputs.iter().enumerate() {
        let got = npy::read(out.join(format!("output_{i}.npy"))).expect("output");
        let want = npy::read(golden).expect("golden");
        compare(&got, &want, &f.compare, f.tolerance).unwrap_or_else(|e| panic!("output {i}: {e}"));
    }

    let o = run_cli(["inspect", "--json", &model]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let names: Vec<&str> = doc["signatures"]
        .as_array()
        .expect("signatures listed")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(names.contains(&signature.as_str()), "{names:?}");
    assert!(names.contains(&"serving_default"), "{names:?}");

    let mut args = vec![
        "--model".to_string(),
        model,
        "--signature".into(),
        "no_such_signature".into(),
    ];
    for input in &f.runs[0].inputs {
        args.extend(["--input".into(), input.display().to_string()]);
    }
    let o = run_cli(&args);
    assert_one_line_error(&o, 3, &["no_such_signature", &signature, "serving_default"]);
}

/// `bench --native` measures the enclave and the native engine in one invocation.
#[test]
fn bench_measures_enclave_and_native() {
    if !kvm_available() {
        return;
    }
    let o = run_cli([
        "bench",
        "--model",
        &example("model.tflite"),
        "--native",
        "--runs",
        "5",
        "--json",
        "--mem",
        "256",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let backends: Vec<&str> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["backend"].as_str().unwrap())
        .collect();
    assert_eq!(backends, ["enclave", "native"]);
    for r in doc["results"].as_array().unwrap() {
        assert_eq!(r["runs"], 5);
        assert!(
            r["p50_ms"].as_f64().unwrap() > 0.0 && r["p50_ms"].as_f64() <= r["p99_ms"].as_f64(),
            "{r}"
        );
    }
    assert!(doc["enclave_over_native_p50"].as_f64().unwrap() > 0.0);
}

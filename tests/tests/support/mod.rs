//! Shared by the end-to-end tests: the fixture manifest, golden comparison per the fixture
//! contract, and the `cerebro-vmm` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cerebro_npy::{Array, DType};
use serde_json::Value;

/// Fixture formats the engine is expected to run today. A fixture of another format must fail
/// to load with an "unsupported"/"no loader" error; when its loader lands that check fails and
/// the format has to be added here (nothing is skipped silently).
pub const WORKING_FORMATS: &[&str] = &[
    "tflite",
    "savedmodel",
    "graphdef",
    "stablehlo_text",
    "jax_export",
    "mlir_bytecode",
];

/// Fixtures whose ops the engine cannot run yet, by name prefix, each with the reason. They must
/// be refused at load as unsupported (never run with a wrong answer); once one loads, the tests
/// fail until it is taken off this list. The engine's own StableHLO fixture test keeps the same list.
pub const KNOWN_UNSUPPORTED: &[(&str, &str)] = &[];

/// The reason a fixture is expected to be refused, if it is on [`KNOWN_UNSUPPORTED`].
pub fn known_unsupported(name: &str) -> Option<&'static str> {
    KNOWN_UNSUPPORTED
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, why)| *why)
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `tests/models/`.
pub fn models_dir() -> PathBuf {
    repo_root().join("tests/models")
}

/// One run of a fixture: input and golden output files (absolute).
#[derive(Debug, Clone)]
pub struct FixtureRun {
    /// Inputs in the model's order.
    pub inputs: Vec<PathBuf>,
    /// Golden outputs in the model's order.
    pub outputs: Vec<PathBuf>,
}

/// One fixture of the manifest.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Unique name.
    pub name: String,
    /// Issue number (4, 5, 6).
    pub issue: u64,
    /// Manifest format name.
    pub format: String,
    /// Model file or directory (absolute).
    pub model: PathBuf,
    /// Flax parameters (absolute), if any.
    pub params: Option<PathBuf>,
    /// SavedModel signature, if not the default.
    pub signature: Option<String>,
    /// `close`, `exact` or `error`.
    pub compare: String,
    /// Tolerance for `close`.
    pub tolerance: f64,
    /// Runs on one loaded model, in order.
    pub runs: Vec<FixtureRun>,
}

/// Reads `tests/models/manifest.json`.
pub fn fixtures() -> Vec<Fixture> {
    let dir = models_dir();
    let text = std::fs::read_to_string(dir.join("manifest.json"))
        .expect("read tests/models/manifest.json");
    let doc: Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    let abs = |v: &Value| v.as_str().map(|s| dir.join(s));
    doc["fixtures"]
        .as_array()
        .expect("manifest has fixtures")
        .iter()
        .map(|f| Fixture {
            name: f["name"].as_str().expect("name").to_string(),
            issue: f["issue"].as_u64().unwrap_or(0),
            format: f["format"].as_str().expect("format").to_string(),
            model: abs(&f["model"]).expect("model"),
            params: abs(&f["params"]),
            signature: f["signature"].as_str().map(str::to_string),
            compare: f["compare"].as_str().expect("compare").to_string(),
            tolerance: f["tolerance"].as_f64().unwrap_or(0.0),
            runs: f["runs"]
                .as_array()
                .expect("runs")
                .iter()
                .map(|r| FixtureRun {
                    inputs: r["inputs"]
                        .as_array()
                        .expect("inputs")
                        .iter()
                        .filter_map(abs)
                        .collect(),
                    outputs: r["outputs"]
                        .as_array()
                        .expect("outputs")
                        .iter()
                        .filter_map(abs)
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

/// Compares an output with its golden per the fixture contract: `close` — same shape and
/// `max|got - golden| <= tolerance * max(1, max|golden|)`; `exact` — same dtype, shape and
/// every element equal.
pub fn compare(got: &Array, golden: &Array, mode: &str, tolerance: f64) -> Result<(), String> {
    if got.shape != golden.shape {
        return Err(format!("shape {:?}, golden {:?}", got.shape, golden.shape));
    }
    match mode {
        "exact" => {
            if got.dtype != golden.dtype {
                return Err(format!("dtype {:?}, golden {:?}", got.dtype, golden.dtype));
            }
            if got.data != golden.data {
                let (g, w) = (got.to_f64(), golden.to_f64());
                let diffs = g.iter().zip(&w).filter(|(a, b)| a != b).count();
                return Err(format!("{diffs} of {} elements differ", w.len()));
            }
            Ok(())
        }
        "close" => {
            if golden.dtype == DType::Bool || !matches!(golden.dtype, DType::F32 | DType::F16) {
                if got.data != golden.data || got.dtype != golden.dtype {
                    return Err(format!(
                        "non-float output differs ({:?} vs {:?})",
                        got.dtype, golden.dtype
                    ));
                }
                return Ok(());
            }
            let (g, w) = (got.to_f64(), golden.to_f64());
            let scale = w.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            let mut worst = 0.0f64;
            for (a, b) in g.iter().zip(&w) {
                let d = (a - b).abs();
                if d.is_nan() || (a.is_nan() != b.is_nan()) {
                    return Err("NaN mismatch".into());
                }
                worst = worst.max(d);
            }
            if worst > tolerance * scale {
                return Err(format!(
                    "max |diff| {worst:e} > {tolerance:e} * scale {scale}"
                ));
            }
            Ok(())
        }
        other => Err(format!("unknown compare mode {other}")),
    }
}

/// The `cerebro-vmm` binary of this build (target/<profile>/cerebro-vmm). `cargo test
/// --workspace` builds it (host-cli has an integration test); `cargo build -p cerebro-cli` does
/// for a test run of this package alone.
pub fn cerebro_vmm() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> → target/<profile>/cerebro-vmm
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = profile_dir.join(format!("cerebro-vmm{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p cerebro-cli` with the same profile (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// Runs `cerebro-vmm` with `args` from the repository root.
pub fn run_cli<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(cerebro_vmm())
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("spawn cerebro-vmm")
}

/// stderr of a run as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout of a run as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a failed run: exit `code` and exactly one line on stderr, `error: ...` containing
/// every string of `contains` (case-insensitive). Returns that line.
pub fn assert_one_line_error(o: &Output, code: i32, contains: &[&str]) -> String {
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit code; stderr: {err}; stdout: {}",
        stdout(o)
    );
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(lines[0].starts_with("error: "), "error line: {}", lines[0]);
    let lower = lines[0].to_lowercase();
    for c in contains {
        assert!(
            lower.contains(&c.to_lowercase()),
            "error line {:?} should mention {c:?}",
            lines[0]
        );
    }
    lines[0].to_string()
}

/// A fresh scratch directory under the target dir.
pub fn scratch_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .expect("deps dir")
        .join("e2e-scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// True when the tests must fail rather than skip without KVM.
pub fn kvm_required() -> bool {
    std::env::var("CEREBRO_REQUIRE_KVM").is_ok_and(|v| v == "1")
}

/// True if /dev/kvm can be opened; panics when it cannot and CEREBRO_REQUIRE_KVM=1.
pub fn kvm_available() -> bool {
    let ok = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !ok && kvm_required() {
        panic!("CEREBRO_REQUIRE_KVM=1 but /dev/kvm cannot be opened");
    }
    if !ok {
        eprintln!("NOTE: /dev/kvm unavailable: enclave tests not run (set CEREBRO_REQUIRE_KVM=1 to fail instead)");
    }
    ok
}

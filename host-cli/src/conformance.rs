//! `cerebro-vmm conformance FILE.mlir...`: runs StableHLO test files whose functions check
//! themselves (`check.expect_*`), one line per test function, then a summary.
//!
//! Each test function is lowered by the engine's StableHLO loader and run by the engine in this
//! process (the same engine the enclave runs). A test is UNSUPPORTED when its ops or types have
//! no lowering or kernel, FAIL when it runs and a check does not hold (or the run errors), PASS
//! otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use cerebro_engine::loader::stablehlo::{conformance_cases, CheckKind, Lowered};
use cerebro_engine::{DType, Error, Model};

/// Arguments of `conformance`.
#[derive(clap::Args)]
pub struct ConformanceArgs {
    /// StableHLO test files (`.mlir`, pieces separated by `// -----`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also print why a test is UNSUPPORTED or FAILs.
    #[arg(long)]
    why: bool,
}

/// Outcome of one test function.
enum Outcome {
    Pass,
    Fail(String),
    Unsupported(String),
}

/// Run the subcommand; exit code 0 when nothing failed.
pub fn main(args: ConformanceArgs) -> ExitCode {
    let (mut passed, mut failed, mut unsupported) = (0usize, 0usize, 0usize);
    for file in &args.files {
        let shown = file.display();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                println!("FAIL {shown}: cannot read: {e}");
                failed += 1;
                continue;
            }
        };
        let cases = match conformance_cases(&text) {
            Ok(c) => c,
            Err(e) => {
                println!("FAIL {shown}: {e}");
                failed += 1;
                continue;
            }
        };
        for case in cases {
            let outcome = match case.lowered {
                Ok(lowered) => run_case(lowered),
                Err(e) => classify(e),
            };
            let (tag, why) = match &outcome {
                Outcome::Pass => ("PASS", None),
                Outcome::Fail(w) => ("FAIL", Some(w)),
                Outcome::Unsupported(w) => ("UNSUPPORTED", Some(w)),
            };
            match (args.why, why) {
                (true, Some(w)) => println!("{tag} {shown}:{} ({w})", case.name),
                _ => println!("{tag} {shown}:{}", case.name),
            }
            match outcome {
                Outcome::Pass => passed += 1,
                Outcome::Fail(_) => failed += 1,
                Outcome::Unsupported(_) => unsupported += 1,
            }
        }
    }
    println!("{passed} passed, {failed} failed, {unsupported} unsupported");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Lowering or planning errors: missing features are UNSUPPORTED, anything else a failure.
fn classify(e: Error) -> Outcome {
    match e {
        Error::Unsupported(m) => Outcome::Unsupported(m),
        other => Outcome::Fail(other.to_string()),
    }
}

fn run_case(lowered: Lowered) -> Outcome {
    let checks = lowered.checks;
    let mut model = match Model::new(lowered.graph) {
        Ok(m) => m,
        Err(e) => return classify(e),
    };
    if let Err(e) = model.run(&[]) {
        return classify(e);
    }
    for (i, check) in checks.iter().enumerate() {
        let out = |k: usize| model.output(check.outputs[k]);
        let result = match &check.kind {
            CheckKind::EqConst(d, s, b) => {
                out(0).map(|o| compare(o.dtype, o.shape, o.bytes, *d, s, b, None))
            }
            CheckKind::AlmostEqConst(d, s, b, tol) => {
                out(0).map(|o| compare(o.dtype, o.shape, o.bytes, *d, s, b, Some(*tol)))
            }
            CheckKind::Eq | CheckKind::AlmostEq(_) => {
                let tol = match check.kind {
                    CheckKind::AlmostEq(t) => Some(t),
                    _ => None,
                };
                match (out(0), out(1)) {
                    (Ok(a), Ok(b)) => Ok(compare(
                        a.dtype, a.shape, a.bytes, b.dtype, b.shape, b.bytes, tol,
                    )),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
        };
        match result {
            Ok(None) => {}
            Ok(Some(why)) => {
                return Outcome::Fail(format!("check {} (line {}): {why}", i + 1, check.line))
            }
            Err(e) => return Outcome::Fail(e.to_string()),
        }
    }
    Outcome::Pass
}

/// Compare two tensors; None when they agree, else what differs.
fn compare(
    gd: DType,
    gs: &[usize],
    gb: &[u8],
    wd: DType,
    ws: &[usize],
    wb: &[u8],
    tol: Option<f64>,
) -> Option<String> {
    if gd != wd || gs != ws {
        return Some(format!("got {gd} {gs:?}, expected {wd} {ws:?}"));
    }
    if gb.len() != wb.len() {
        return Some("sizes differ".into());
    }
    let w = gd.size().max(1);
    for (k, (x, y)) in gb.chunks_exact(w).zip(wb.chunks_exact(w)).enumerate() {
        let ok = match (tol, value(gd, x), value(gd, y)) {
            (Some(t), Some(a), Some(b)) => {
                a == b
                    || (a.is_nan() && b.is_nan())
                    || (a.is_finite() && b.is_finite() && (a - b).abs() <= t)
            }
            _ => x == y,
        };
        if !ok {
            return Some(format!(
                "element {k}: got {}, expected {}",
                show(gd, x),
                show(gd, y)
            ));
        }
    }
    None
}

/// Float value of one element of a float dtype.
fn value(d: DType, b: &[u8]) -> Option<f64> {
    match d {
        DType::F32 => Some(f32::from_le_bytes(b.try_into().ok()?) as f64),
        DType::F16 => Some(half::f16::from_le_bytes(b.try_into().ok()?).to_f64()),
        DType::BF16 => Some(half::bf16::from_le_bytes(b.try_into().ok()?).to_f64()),
        DType::F64 => Some(f64::from_le_bytes(b.try_into().ok()?)),
        _ => None,
    }
}

fn show(d: DType, b: &[u8]) -> String {
    if let Some(v) = value(d, b) {
        return format!("{v}");
    }
    let mut raw = [0u8; 8];
    raw[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
    match d {
        DType::I8 => format!("{}", b[0] as i8),
        DType::I16 => format!("{}", i16::from_le_bytes([raw[0], raw[1]])),
        DType::I32 => format!("{}", i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])),
        DType::I64 => format!("{}", i64::from_le_bytes(raw)),
        DType::Bool => format!("{}", b[0] != 0),
        _ => format!("{}", u64::from_le_bytes(raw)),
    }
}

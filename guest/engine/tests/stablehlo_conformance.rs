//! The StableHLO interpreter suite through the engine: every test function that lowers must pass
//! its checks (UNSUPPORTED is allowed, FAIL is not). Set CEREBRO_CONFORMANCE_DIR to the suite
//! (defaults to the team's shared copy next to the repository).

use cerebro_engine::loader::stablehlo::{conformance_cases, CheckKind};
use cerebro_engine::{DType, Error, Model};
use std::path::PathBuf;

/// Cases of the shared suite that passed when this was last raised (BENCHMARKS.md, coverage):
/// a change that makes a supported case unsupported fails here. Raise it as coverage grows.
const PASSING_AT_LEAST: usize = 339;

fn suite_dir() -> PathBuf {
    std::env::var_os("CEREBRO_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/conformance/stablehlo-interpret")
        })
}

fn close(d: DType, x: &[u8], y: &[u8], tol: f64) -> bool {
    let f = |b: &[u8]| -> Option<f64> {
        match d {
            DType::F32 => Some(f32::from_le_bytes(b.try_into().ok()?) as f64),
            DType::F16 => Some(half::f16::from_le_bytes(b.try_into().ok()?).to_f64()),
            DType::BF16 => Some(half::bf16::from_le_bytes(b.try_into().ok()?).to_f64()),
            DType::F64 => Some(f64::from_le_bytes(b.try_into().ok()?)),
            _ => None,
        }
    };
    match (f(x), f(y)) {
        (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol,
        _ => x == y,
    }
}

fn same(d: DType, got: &[u8], want: &[u8], tol: Option<f64>) -> bool {
    let w = d.size();
    got.len() == want.len()
        && got
            .chunks_exact(w)
            .zip(want.chunks_exact(w))
            .all(|(x, y)| match tol {
                Some(t) => close(d, x, y, t),
                None => x == y,
            })
}

#[test]
fn interpreter_suite_has_no_failures() {
    let dir = suite_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("suite not found at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mlir"))
        .collect();
    files.sort();
    let (mut pass, mut unsupported) = (0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let cases = conformance_cases(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for case in cases {
            let tag = format!(
                "{}:{}",
                file.file_name().unwrap().to_string_lossy(),
                case.name
            );
            let lowered = match case.lowered {
                Ok(l) => l,
                Err(Error::Unsupported(m)) => {
                    if std::env::var_os("CEREBRO_CONFORMANCE_WHY").is_some() {
                        println!("UNSUPPORTED {tag}: {m}");
                    }
                    unsupported += 1;
                    continue;
                }
                Err(e) => {
                    failures.push(format!("{tag}: lowering: {e}"));
                    continue;
                }
            };
            let mut model = match Model::new(lowered.graph) {
                Ok(m) => m,
                Err(Error::Unsupported(m)) => {
                    if std::env::var_os("CEREBRO_CONFORMANCE_WHY").is_some() {
                        println!("UNSUPPORTED {tag}: planner: {m}");
                    }
                    unsupported += 1;
                    continue;
                }
                Err(e) => {
                    failures.push(format!("{tag}: planning: {e}"));
                    continue;
                }
            };
            if let Err(e) = model.run(&[]) {
                match e {
                    Error::Unsupported(_) => unsupported += 1,
                    e => failures.push(format!("{tag}: run: {e}")),
                }
                continue;
            }
            let mut ok = true;
            for c in &lowered.checks {
                let o0 = model.output(c.outputs[0]).unwrap();
                let good = match &c.kind {
                    CheckKind::EqConst(d, s, b) => {
                        o0.dtype == *d && o0.shape == s.as_slice() && same(*d, o0.bytes, b, None)
                    }
                    CheckKind::AlmostEqConst(d, s, b, t) => {
                        o0.dtype == *d
                            && o0.shape == s.as_slice()
                            && same(*d, o0.bytes, b, Some(*t))
                    }
                    CheckKind::Eq | CheckKind::AlmostEq(_) => {
                        let o1 = model.output(c.outputs[1]).unwrap();
                        let tol = if let CheckKind::AlmostEq(t) = c.kind {
                            Some(t)
                        } else {
                            None
                        };
                        o0.dtype == o1.dtype
                            && o0.shape == o1.shape
                            && same(o0.dtype, o0.bytes, o1.bytes, tol)
                    }
                };
                if !good {
                    failures.push(format!("{tag}: check at line {} does not hold", c.line));
                    ok = false;
                    break;
                }
            }
            if ok {
                pass += 1;
            }
        }
    }
    println!(
        "{pass} passed, {} failed, {unsupported} unsupported",
        failures.len()
    );
    assert!(
        pass >= PASSING_AT_LEAST,
        "coverage went down: {pass} cases pass, {PASSING_AT_LEAST} did before"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

//! The text parser against the shared StableHLO interpreter suite (every file must parse).

use cerebro_stablehlo::text::parse_splits;
use std::path::PathBuf;

/// The suite lives outside the repository: `CEREBRO_CONFORMANCE_DIR` or the team's shared copy.
fn suite_dir() -> PathBuf {
    std::env::var_os("CEREBRO_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../../shared/conformance/stablehlo-interpret")
        })
}

#[test]
fn every_conformance_file_parses() {
    let dir = suite_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("conformance suite not found at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mlir"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 100,
        "expected the full suite, found {} files",
        files.len()
    );
    let mut failures = Vec::new();
    let mut functions = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        match parse_splits(&text) {
            Ok(mods) => functions += mods.iter().map(|m| m.functions.len()).sum::<usize>(),
            Err(e) => failures.push(format!("{}:{e}", f.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} files failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(functions > 500, "only {functions} functions parsed");
}

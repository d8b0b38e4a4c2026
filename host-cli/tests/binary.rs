//! The `cerebro-vmm` binary starts and documents its commands. (This integration test also makes
//! `cargo test --workspace` build the binary that tests/tests/cli.rs and e2e.rs run.)

use std::process::Command;

#[test]
fn help_lists_the_main_job_and_subcommands() {
    let out = Command::new(env!("CARGO_BIN_EXE_cerebro-vmm"))
        .arg("--help")
        .output()
        .expect("run cerebro-vmm");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--model",
        "--input",
        "--output-dir",
        "--json",
        "--native",
        "inspect",
        "bench",
        "boot",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}

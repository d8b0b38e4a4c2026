//! Builds the Cerebro kernel (guest/kernel) for its freestanding hard-float target with a nested
//! `cargo build --release` and hands its path to `src/lib.rs`, which embeds it.
//!
//! The nested build uses its own target directory under OUT_DIR (so it never waits on the outer
//! build's lock) and a clean environment (the outer build's RUSTFLAGS, target dir and profile
//! settings are for host code and must not leak into the kernel).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernel's target: hard-float, built freestanding (see guest/kernel/.cargo/config.toml).
const KERNEL_TARGET: &str = "x86_64-unknown-linux-gnu";

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let guest_dir = manifest_dir
        .parent()
        .expect("guest/image lives in guest/")
        .to_path_buf();
    let kernel_dir = guest_dir.join("kernel");
    let repo_dir = guest_dir
        .parent()
        .expect("guest/ lives in the repository")
        .to_path_buf();

    // Sources the kernel is built from: the kernel itself and the crates it depends on.
    println!("cargo:rerun-if-changed=build.rs");
    for path in [
        kernel_dir.join("src"),
        kernel_dir.join("Cargo.toml"),
        kernel_dir.join("Cargo.lock"),
        kernel_dir.join("build.rs"),
        kernel_dir.join("linker.ld"),
        kernel_dir.join(".cargo/config.toml"),
        guest_dir.join("engine"),
        guest_dir.join("driver"),
        guest_dir.join("formats"),
        repo_dir.join("spec"),
    ] {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }

    let target_dir = out_dir.join("kernel-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&kernel_dir)
        .args([
            "build",
            "--release",
            "--target",
            KERNEL_TARGET,
            "--target-dir",
        ])
        .arg(&target_dir);
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let leaks = matches!(
            key,
            "RUSTFLAGS"
                | "CARGO_ENCODED_RUSTFLAGS"
                | "RUSTDOCFLAGS"
                | "CARGO_ENCODED_RUSTDOCFLAGS"
                | "CARGO_TARGET_DIR"
                | "CARGO_BUILD_TARGET"
                | "CARGO_BUILD_TARGET_DIR"
                | "CARGO_BUILD_RUSTFLAGS"
                | "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_PKG_NAME"
                | "RUSTC_WRAPPER"
                | "RUSTC_WORKSPACE_WRAPPER"
                | "TARGET"
                | "HOST"
                | "OUT_DIR"
                | "PROFILE"
                | "OPT_LEVEL"
                | "DEBUG"
                | "NUM_JOBS"
        ) || key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_CFG_")
            || key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_TARGET_")
            || key.starts_with("DEP_");
        if leaks {
            command.env_remove(key);
        }
    }

    let status = command
        .status()
        .unwrap_or_else(|error| panic!("cannot run cargo to build the Cerebro kernel: {error}"));
    if !status.success() {
        panic!("building the Cerebro kernel (guest/kernel) failed: {status}");
    }

    let built = target_dir
        .join(KERNEL_TARGET)
        .join("release")
        .join("cerebro-kernel");
    let embedded = out_dir.join("cerebro-kernel.elf");
    copy(&built, &embedded);
    println!("cargo:rustc-env=CEREBRO_KERNEL_ELF={}", embedded.display());
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|error| {
        panic!(
            "cannot copy the kernel {} to {}: {error}",
            from.display(),
            to.display()
        )
    });
}

//! Links the kernel with its own linker script and generates the 256 fault stubs.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Vectors for which the CPU pushes an error code (Intel SDM vol. 3, table 6-1).
const VECTORS_WITH_ERROR_CODE: [u32; 9] = [8, 10, 11, 12, 13, 14, 17, 21, 29];

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let linker_script = manifest_dir.join("linker.ld");

    // Cargo does not relink when only the linker script changes.
    println!("cargo:rerun-if-changed={}", linker_script.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-T{}", linker_script.display());
    for arg in [
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
        "-Wl,-z,max-page-size=0x1000",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }

    // One 16-byte stub per vector: push a dummy error code where the CPU pushes none, push the
    // vector, jump to the common reporter. The VMM points IDT entry N at `fault_stubs + 16 * N`.
    let mut stubs = String::from(
        ".section .ring0.text, \"ax\", @progbits\n.balign 16\n.global fault_stubs\nfault_stubs:\n",
    );
    for vector in 0..256u32 {
        stubs.push_str(".balign 16\n");
        if !VECTORS_WITH_ERROR_CODE.contains(&vector) {
            stubs.push_str("    pushq $0\n");
        }
        writeln!(stubs, "    pushq ${vector}\n    jmp fault_common").expect("writing to a String");
    }
    stubs.push_str(".balign 16\n.global fault_stubs_end\nfault_stubs_end:\n");
    std::fs::write(out_dir.join("fault_stubs.s"), stubs).expect("writing fault_stubs.s to OUT_DIR");
}

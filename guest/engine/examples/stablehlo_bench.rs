//! Latency of JAX/Flax fixtures in the engine (native, 1 thread):
//! `cargo run --release -p cerebro-engine --example stablehlo_bench [ITERS]`.
//! Compare with `python3 guest/engine/examples/stablehlo_bench_jax.py` (jax.jit, same inputs).
//! Reports wall time and the process's CPU time per run (median): on a shared machine the CPU
//! time leaves out the time spent waiting for a core.

use cerebro_engine::loader::stablehlo::{load, load_with_params};
use cerebro_engine::{DType, Model, TensorData};
use cerebro_npy as npy;
use std::path::PathBuf;
use std::time::Instant;

const FIXTURES: &[(&str, &str, Option<&str>)] = &[
    (
        "flax_encoder_block",
        "jax_export/flax_encoder_block_export/model.jax_exported",
        Some("jax_export/flax_encoder_block_export/variables.msgpack"),
    ),
    (
        "jax_cnn",
        "jax_export/jax_cnn_export/model.jax_exported",
        None,
    ),
];

/// CPU time consumed by this process, in µs.
fn process_cpu_us() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/models");
    for (name, model, params) in FIXTURES {
        let bytes = std::fs::read(dir.join(model)).expect("fixture model");
        let graph = match params {
            Some(p) => load_with_params(&bytes, &std::fs::read(dir.join(p)).expect("params")),
            None => load(&bytes),
        }
        .expect("load");
        let mut m = Model::new(graph).expect("plan");
        let run_dir = dir.join(model).parent().unwrap().to_path_buf();
        let x = npy::read(run_dir.join("run0_input0.npy")).expect("input");
        assert_eq!(x.dtype, npy::DType::F32);
        let input = [TensorData {
            dtype: DType::F32,
            shape: &x.shape,
            bytes: &x.data,
        }];
        for _ in 0..20 {
            m.run(&input).expect("run");
        }
        let mut wall = Vec::with_capacity(iters);
        let mut cpu = Vec::with_capacity(iters);
        for _ in 0..iters {
            let c = process_cpu_us();
            let t = Instant::now();
            m.run(&input).expect("run");
            wall.push(t.elapsed().as_secs_f64() * 1e6);
            cpu.push(process_cpu_us() - c);
        }
        let wall_median = median(&mut wall);
        println!(
            "engine {name}: median {wall_median:.1} us, min {:.1} us, cpu median {:.1} us ({iters} runs, input {:?})",
            wall[0],
            median(&mut cpu),
            x.shape
        );
    }
}

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
    (
        "flax_conv1d",
        "jax_export/flax_conv1d_export/model.jax_exported",
        Some("jax_export/flax_conv1d_export/variables.msgpack"),
    ),
    (
        "flax_conv_transpose",
        "jax_export/flax_conv_transpose_export/model.jax_exported",
        Some("jax_export/flax_conv_transpose_export/variables.msgpack"),
    ),
    (
        "jax_dilated_conv",
        "jax_export/jax_dilated_conv_export/model.jax_exported",
        None,
    ),
    (
        "flax_pooling",
        "jax_export/flax_pooling_export/model.jax_exported",
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
    let only = std::env::var("STABLEHLO_BENCH_ONLY").ok();
    for (name, model, params) in FIXTURES {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let bytes = std::fs::read(dir.join(model)).expect("fixture model");
        let graph = match params {
            Some(p) => load_with_params(&bytes, &std::fs::read(dir.join(p)).expect("params")),
            None => load(&bytes),
        }
        .expect("load");
        let mut m = Model::new(graph).expect("plan");
        let run_dir = dir.join(model).parent().unwrap().to_path_buf();
        let xs: Vec<npy::Array> = (0..)
            .map(|i| run_dir.join(format!("run0_input{i}.npy")))
            .take_while(|p| p.exists())
            .map(|p| npy::read(p).expect("input"))
            .collect();
        assert!(xs.iter().all(|x| x.dtype == npy::DType::F32));
        let input: Vec<TensorData> = xs
            .iter()
            .map(|x| TensorData {
                dtype: DType::F32,
                shape: &x.shape,
                bytes: &x.data,
            })
            .collect();
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
            xs[0].shape
        );
    }
}

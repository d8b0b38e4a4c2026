//! MobileNetV2 224² latency of the engine (native, 1 thread) beside LiteRT in the same run.
//!
//! `cargo bench -p cerebro-engine --bench mobilenet` (env: `BENCH_ITERS`, default 30;
//! `LITERT_REF=1` also times LiteRT's reference kernels; `BENCH_ONLY=f32|int8` picks one model;
//! `BENCH_NO_LITERT=1` skips LiteRT). The LiteRT side runs `litert_mobilenet.py` (python3 with
//! ai-edge-litert) right after the engine side; if python or LiteRT is missing the bench says so
//! and prints the engine figures alone. Besides wall time, both sides report the median CPU time
//! of the running thread, which leaves out time spent waiting for a core on a loaded machine.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cerebro_engine::ir::TensorData;
use cerebro_engine::{loader, Model};

fn models_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models")
}

struct Timing {
    load_ms: f64,
    median_ms: f64,
    best_ms: f64,
    /// Median CPU time of the running thread per run.
    cpu_ms: f64,
}

/// CPU time consumed by the calling thread, in ms.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time_engine(name: &str, iters: usize) -> Timing {
    let dir = models_dir().join("tflite").join(name);
    let bytes = std::fs::read(dir.join("model.tflite"))
        .expect("fixture model (run tests/models/generate.py)");
    let input = cerebro_npy::read(dir.join("run0_input0.npy")).expect("fixture input");
    let t = Instant::now();
    let graph = loader::tflite::load(&bytes).expect("load");
    let mut model = Model::new(graph).expect("plan");
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let dtype = model.inputs().next().unwrap().dtype;
    let data = TensorData {
        dtype,
        shape: &input.shape,
        bytes: &input.data,
    };
    for _ in 0..3 {
        model.run(&[data]).expect("run");
    }
    let mut wall = Vec::with_capacity(iters);
    let mut cpu = Vec::with_capacity(iters);
    for _ in 0..iters {
        let c = thread_cpu_ms();
        let t = Instant::now();
        model.run(&[data]).expect("run");
        wall.push(t.elapsed().as_secs_f64() * 1e3);
        cpu.push(thread_cpu_ms() - c);
    }
    let median_ms = median(&mut wall);
    Timing {
        load_ms,
        median_ms,
        best_ms: wall[0],
        cpu_ms: median(&mut cpu),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let f = cerebro_engine::cpu::features();
    println!(
        "cpu: avx2={} fma={} | {iters} timed runs after 3 warm-ups, 1 thread",
        f.avx2, f.fma
    );
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let names: Vec<&str> = ["mobilenet_v2_f32", "mobilenet_v2_int8"]
        .into_iter()
        .filter(|n| n.contains(only.as_str()))
        .collect();
    let engine: Vec<Timing> = names.iter().map(|n| time_engine(n, iters)).collect();
    for (n, t) in names.iter().zip(&engine) {
        println!(
            "engine  {n:<18}           median {:8.2} ms  best {:8.2} ms  cpu {:8.2} ms  (load+plan {:.1} ms)",
            t.median_ms, t.best_ms, t.cpu_ms, t.load_ms
        );
    }
    if std::env::var("BENCH_NO_LITERT").is_ok() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/litert_mobilenet.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(models_dir())
        .arg(iters.to_string())
        .output();
    let json = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).to_string(),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            println!("LiteRT timing failed: {}", err.lines().last().unwrap_or(""));
            return;
        }
        Err(e) => {
            println!("LiteRT timing not run (python3: {e})");
            return;
        }
    };
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("LiteRT JSON");
    for (n, t) in names.iter().zip(&engine) {
        for kind in ["xnnpack", "builtin", "reference"] {
            let Some(m) = v[n][kind]["median_ms"].as_f64() else {
                continue;
            };
            let b = v[n][kind]["best_ms"].as_f64().unwrap_or(m);
            let c = v[n][kind]["cpu_ms"].as_f64().unwrap_or(m);
            println!(
                "litert  {n:<18} {kind:<9} median {m:8.2} ms  best {b:8.2} ms  cpu {c:8.2} ms  \
                 -> engine/litert: median {:.2}x, best {:.2}x, cpu {:.2}x",
                t.median_ms / m,
                t.best_ms / b,
                t.cpu_ms / c
            );
        }
    }
}

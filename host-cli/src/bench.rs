//! `cerebro-vmm bench --model PATH [--runs N] [--native] [--json]`: latency of a model in the
//! enclave (first run apart, then p50/p90/p99), and with `--native` the same engine in this
//! process, interleaved run by run in the same invocation, for the enclave overhead ratio.
//! `--reference` adds the framework itself (LiteRT XNNPACK 1 thread, jax.jit, TensorFlow) through
//! `tools/bench_reference.py`, in the same invocation.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};

use crate::backend::{Backend, NativeBackend};
use crate::error::{CliError, Result};
use crate::model::{read_model, FormatArg};
use crate::run::{bind_inputs, input_shape_hint, ms, InputArg, TargetArgs};
use crate::tensor::{Tensor, TensorSpec};
use cerebro_engine::loader::detect::Format;

/// Arguments of `bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Model file, or SavedModel directory.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// Flax parameters bound to the model's arguments.
    #[arg(long, value_name = "FILE.msgpack")]
    pub params: Option<PathBuf>,
    /// SavedModel signature to run (default `serving_default`).
    #[arg(long, value_name = "NAME")]
    pub signature: Option<String>,
    /// Model format; `auto` detects it from the content.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Inputs as for the main command; without any, deterministic pseudo-random inputs.
    #[arg(long = "input", value_name = "[NAME=]FILE.npy")]
    pub inputs: Vec<String>,
    /// Timed runs per backend after the first (untimed in the percentiles) run.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub runs: u32,
    /// Skip the enclave (with `--native`: native engine only).
    #[arg(long)]
    pub no_enclave: bool,
    /// Also time the framework itself in the same run via `python3 tools/bench_reference.py`
    /// (LiteRT XNNPACK 1 thread for TFLite; jax.jit; TensorFlow).
    #[arg(long, alias = "litert")]
    pub reference: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Latency figures of one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    /// Backend name.
    pub backend: String,
    /// Model load time in ms.
    pub load_ms: f64,
    /// The first run, in ms.
    pub first_ms: f64,
    /// Median of the timed runs, in ms.
    pub p50_ms: f64,
    /// 90th percentile, in ms.
    pub p90_ms: f64,
    /// 99th percentile, in ms.
    pub p99_ms: f64,
    /// Mean of the timed runs, in ms.
    pub mean_ms: f64,
    /// Number of timed runs.
    pub runs: usize,
    /// Median CPU time of the timed runs in ms (the backend's threads), if measurable.
    pub cpu_p50_ms: Option<f64>,
}

/// Nearest-rank percentile of sorted samples (`q` in 0..=1).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn latency(
    backend: &str,
    load: Duration,
    first: Duration,
    mut samples: Vec<f64>,
    mut cpu: Vec<f64>,
) -> Latency {
    samples.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    Latency {
        backend: backend.to_string(),
        load_ms: ms(load),
        first_ms: ms(first),
        p50_ms: percentile(&samples, 0.5),
        p90_ms: percentile(&samples, 0.9),
        p99_ms: percentile(&samples, 0.99),
        mean_ms: mean,
        runs: samples.len(),
        cpu_p50_ms: (cpu.len() == samples.len() && !cpu.is_empty()).then(|| percentile(&cpu, 0.5)),
    }
}

/// Deterministic pseudo-random inputs for a signature: floats in [0, 1), integers in [0, 8),
/// booleans 0/1 (a fixed xorshift stream, so runs are comparable).
pub fn synthetic_inputs(specs: &[TensorSpec]) -> Result<Vec<Tensor>> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    specs
        .iter()
        .map(|s| {
            let n = s
                .shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or_else(|| {
                    CliError::model(format!("input `{}` has an absurd shape", s.name))
                })?;
            let mut data = Vec::with_capacity(n * s.dtype.size());
            for _ in 0..n {
                let r = next();
                let unit = (r >> 40) as f32 / (1u64 << 24) as f32;
                let small = (r >> 61) as i64;
                use cerebro_engine::DType::*;
                match s.dtype {
                    F32 => data.extend_from_slice(&unit.to_le_bytes()),
                    F16 => data.extend_from_slice(&half::f16::from_f32(unit).to_le_bytes()),
                    BF16 => data.extend_from_slice(&half::bf16::from_f32(unit).to_le_bytes()),
                    F64 => data.extend_from_slice(&f64::from(unit).to_le_bytes()),
                    I8 => data.push(small as i8 as u8),
                    U8 => data.push(small as u8),
                    Bool => data.push((small & 1) as u8),
                    I16 => data.extend_from_slice(&(small as i16).to_le_bytes()),
                    I32 => data.extend_from_slice(&(small as i32).to_le_bytes()),
                    U16 => data.extend_from_slice(&(small as u16).to_le_bytes()),
                    U32 => data.extend_from_slice(&(small as u32).to_le_bytes()),
                    U64 => data.extend_from_slice(&(small as u64).to_le_bytes()),
                    I64 => data.extend_from_slice(&small.to_le_bytes()),
                    Resource => {
                        return Err(CliError::model(format!(
                            "input `{}` is a resource handle",
                            s.name
                        )));
                    }
                }
            }
            Ok(Tensor {
                name: s.name.clone(),
                dtype: s.dtype,
                shape: s.shape.clone(),
                data,
            })
        })
        .collect()
}

/// Runs `bench`; returns the process exit code.
pub fn main(args: BenchArgs) -> ExitCode {
    match bench(&args) {
        Ok(doc) => {
            if args.json {
                println!("{doc}");
            } else {
                print!("{}", to_text(&doc));
            }
            ExitCode::SUCCESS
        }
        Err(e) => e.report(args.json),
    }
}

struct Timed {
    name: &'static str,
    backend: Box<dyn Backend>,
    load: Duration,
    first: Duration,
    samples: Vec<f64>,
    cpu: Vec<f64>,
}

fn bench(args: &BenchArgs) -> Result<Value> {
    let source = read_model(
        &args.model,
        args.format,
        args.params.as_deref(),
        args.signature.as_deref(),
    )?;
    let mut source = source;
    let parsed: Vec<InputArg> = args.inputs.iter().map(|s| InputArg::parse(s)).collect();
    source.input_shapes = input_shape_hint(&source, &parsed)?;
    let mut backends: Vec<Box<dyn Backend>> = Vec::new();
    if !args.no_enclave {
        let mut enclave_target = args.target.clone();
        enclave_target.native = false;
        backends.push(enclave_target.backend()?);
    }
    if args.target.native {
        backends.push(Box::new(NativeBackend::new(args.target.memory_limit())));
    }
    if backends.is_empty() {
        return Err(CliError::usage(
            "--no-enclave needs --native (nothing to measure)",
        ));
    }
    let mut timed = Vec::new();
    let mut inputs: Option<Vec<Tensor>> = None;
    for mut backend in backends {
        let t = Instant::now();
        let signature = backend.load(&source)?;
        let load = t.elapsed();
        if inputs.is_none() {
            inputs = Some(if args.inputs.is_empty() {
                synthetic_inputs(&signature.inputs)?
            } else {
                bind_inputs(&parsed, &signature.inputs)?
            });
        }
        timed.push(Timed {
            name: backend.name(),
            backend,
            load,
            first: Duration::ZERO,
            samples: Vec::new(),
            cpu: Vec::new(),
        });
    }
    let inputs = inputs.unwrap_or_default();
    for t in &mut timed {
        let start = Instant::now();
        t.backend.run(&inputs)?;
        t.first = start.elapsed();
    }
    // Interleave the backends run by run so drift (thermal, other load) hits both alike.
    for _ in 0..args.runs {
        for t in &mut timed {
            let cpu = t.backend.cpu_time();
            let start = Instant::now();
            t.backend.run(&inputs)?;
            t.samples.push(ms(start.elapsed()));
            if let (Some(before), Some(after)) = (cpu, t.backend.cpu_time()) {
                t.cpu.push(ms(after.saturating_sub(before)));
            }
        }
    }
    let results: Vec<Latency> = timed
        .into_iter()
        .map(|t| latency(t.name, t.load, t.first, t.samples, t.cpu))
        .collect();
    let p50 = |name: &str| results.iter().find(|l| l.backend == name).map(|l| l.p50_ms);
    let overhead = match (p50("enclave"), p50("native")) {
        (Some(e), Some(n)) if n > 0.0 => Some(e / n),
        _ => None,
    };
    let cpu_p50 = |name: &str| {
        results
            .iter()
            .find(|l| l.backend == name)
            .and_then(|l| l.cpu_p50_ms)
    };
    let overhead_cpu = match (cpu_p50("enclave"), cpu_p50("native")) {
        (Some(e), Some(n)) if n > 0.0 => Some(e / n),
        _ => None,
    };
    let reference = if args.reference {
        Some(framework_reference(args, source.format)?)
    } else {
        None
    };
    let vs_reference = match (&reference, results.first()) {
        (Some(l), Some(first)) => l
            .get("p50_ms")
            .and_then(Value::as_f64)
            .filter(|&p| p > 0.0)
            .map(|p| first.p50_ms / p),
        _ => None,
    };
    Ok(json!({
        "model": source.path.display().to_string(),
        "format": source.format.name(),
        "runs": args.runs,
        "results": results.iter().map(|l| json!({
            "backend": l.backend, "load_ms": l.load_ms, "first_ms": l.first_ms, "p50_ms": l.p50_ms,
            "p90_ms": l.p90_ms, "p99_ms": l.p99_ms, "mean_ms": l.mean_ms, "runs": l.runs,
            "cpu_p50_ms": l.cpu_p50_ms,
        })).collect::<Vec<_>>(),
        "enclave_over_native_p50": overhead,
        "enclave_over_native_cpu_p50": overhead_cpu,
        "reference": reference,
        "cerebro_over_reference_p50": vs_reference,
    }))
}

/// Runs `python3 tools/bench_reference.py` (the frameworks' own latency: LiteRT XNNPACK 1 thread
/// for TFLite, `jax.jit` for JAX, TensorFlow for SavedModel/GraphDef) on the same model and
/// inputs, and returns `{"backend", "first_ms", "p50_ms", "p90_ms", "p99_ms", "mean_ms"}`.
fn framework_reference(args: &BenchArgs, format: Format) -> Result<Value> {
    let script = std::env::var_os("CEREBRO_BENCH_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("tools/bench_reference.py"));
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg("--model").arg(&args.model);
    // The script counts the first run among its runs.
    cmd.arg("--runs")
        .arg((u64::from(args.runs) + 1).to_string())
        .arg("--json");
    if format == Format::TfLite {
        cmd.args(["--backends", "litert_xnnpack"]);
    }
    for input in &args.inputs {
        cmd.arg("--input").arg(InputArg::parse(input).path);
    }
    if let Some(p) = &args.params {
        cmd.arg("--params").arg(p);
    }
    if let Some(s) = &args.signature {
        cmd.arg("--signature").arg(s);
    }
    let out = cmd
        .output()
        .map_err(|e| CliError::other(format!("cannot run python3 {}: {e}", script.display())))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        return Err(CliError::other(format!(
            "{} failed: {last}",
            script.display()
        )));
    }
    let doc: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        CliError::other(format!(
            "{} printed no JSON document: {e}",
            script.display()
        ))
    })?;
    let (name, r) = doc["results"]
        .as_object()
        .and_then(|m| m.iter().next())
        .ok_or_else(|| CliError::other(format!("{} reported no results", script.display())))?;
    Ok(json!({
        "backend": name,
        "first_ms": r["first_ms"], "p50_ms": r["p50_ms"], "p90_ms": r["p90_ms"],
        "p99_ms": r["p99_ms"], "mean_ms": r["mean_ms"],
    }))
}

/// The bench document as text.
pub fn to_text(doc: &Value) -> String {
    let mut out = format!(
        "{} ({}), {} timed runs each, first run apart\n{:<10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
        doc["model"].as_str().unwrap_or(""),
        doc["format"].as_str().unwrap_or(""),
        doc["runs"],
        "backend",
        "load ms",
        "first ms",
        "p50 ms",
        "p90 ms",
        "p99 ms"
    );
    let f = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{x:.3}"))
            .unwrap_or_else(|| "-".into())
    };
    for r in doc["results"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
            r["backend"].as_str().unwrap_or(""),
            f(&r["load_ms"]),
            f(&r["first_ms"]),
            f(&r["p50_ms"]),
            f(&r["p90_ms"]),
            f(&r["p99_ms"])
        ));
    }
    if let Some(l) = doc.get("reference").filter(|l| !l.is_null()) {
        out.push_str(&format!(
            "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
            l["backend"].as_str().unwrap_or("reference"),
            "-",
            f(&l["first_ms"]),
            f(&l["p50_ms"]),
            f(&l["p90_ms"]),
            f(&l["p99_ms"])
        ));
    }
    if let Some(r) = doc["enclave_over_native_p50"].as_f64() {
        out.push_str(&format!("enclave / native (p50): {r:.3}\n"));
    }
    if let Some(r) = doc["enclave_over_native_cpu_p50"].as_f64() {
        out.push_str(&format!(
            "enclave / native (p50 of CPU time: vCPU + calling thread vs calling thread): {r:.3}\n"
        ));
    }
    if let Some(r) = doc["cerebro_over_reference_p50"].as_f64() {
        let name = doc["reference"]["backend"].as_str().unwrap_or("reference");
        out.push_str(&format!("cerebro / {name} (p50): {r:.3}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.9), 90.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}

//! `cerebro-vmm inspect PATH`: what a model is (format, inputs, outputs, ops, parameters) and
//! whether the engine can run it — and if not, why.
//!
//! The model is parsed and planned by the same engine code the enclave runs, in this process.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use cerebro_engine::ir::{Op, TensorKind};
use cerebro_engine::loader::detect::Format;
use cerebro_engine::Model;
use clap::Args;
use serde_json::json;

use crate::backend::{load_native, signature_of, Signature};
use crate::error::{CliError, Result};
use crate::model::{read_model, saved_model_signatures, FormatArg, ModelSource};
use crate::tensor::TensorSpec;

/// Arguments of `inspect`.
#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// Model file, or SavedModel directory.
    #[arg(value_name = "PATH")]
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
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `inspect` found.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Inputs and outputs.
    pub signature: Signature,
    /// Number of subgraphs (functions).
    pub subgraphs: usize,
    /// Node count per op, over all subgraphs.
    pub op_histogram: BTreeMap<String, usize>,
    /// Elements of all constant tensors.
    pub parameter_count: u64,
    /// Bytes of all constant tensors.
    pub parameter_bytes: u64,
    /// Planned arena (activations + scratch) in bytes.
    pub arena_bytes: usize,
}

/// A label for an op in the histogram: the op's name, refined for families of elementwise ops.
pub fn op_label(op: &Op) -> String {
    match op {
        Op::Unary(u) => format!("{u:?}"),
        Op::Binary { op, .. } => format!("{op:?}"),
        Op::Compare(c) => format!("{c:?}"),
        Op::Reduce { op, .. } => format!("Reduce{op:?}"),
        other => other.name().to_string(),
    }
}

/// Summarises a planned model.
pub fn summarize(model: &Model) -> Summary {
    let graph = model.graph();
    let mut op_histogram = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let (mut parameter_count, mut parameter_bytes) = (0u64, 0u64);
    for sg in &graph.subgraphs {
        for node in &sg.nodes {
            *op_histogram.entry(op_label(&node.op)).or_insert(0) += 1;
        }
        for t in &sg.tensors {
            if let TensorKind::Constant(id) = t.kind {
                if seen.insert(id) {
                    let n = t.shape.num_elements().unwrap_or(0) as u64;
                    parameter_count += n;
                    parameter_bytes += graph.constant_bytes(id).len() as u64;
                }
            }
        }
    }
    Summary {
        signature: signature_of(model),
        subgraphs: graph.subgraphs.len(),
        op_histogram,
        parameter_count,
        parameter_bytes,
        arena_bytes: model.arena_bytes(),
    }
}

/// Runs `inspect`; returns the process exit code.
pub fn main(args: InspectArgs) -> ExitCode {
    match inspect(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(args.json),
    }
}

fn inspect(args: &InspectArgs) -> Result<()> {
    let source = read_model(
        &args.model,
        args.format,
        args.params.as_deref(),
        args.signature.as_deref(),
    )?;
    let model = match load_native(&source) {
        Ok(m) => m,
        Err(e) => {
            if !args.json {
                println!("{}", header(&source));
            }
            return Err(CliError::model(format!(
                "the engine cannot run {}: {e}",
                source.path.display()
            )));
        }
    };
    let summary = summarize(&model);
    if args.json {
        println!("{}", to_json(&source, &summary));
    } else {
        print!("{}", to_text(&source, &summary));
    }
    Ok(())
}

fn header(source: &ModelSource) -> String {
    let mut out = format!(
        "{}: {} ({}), {} bytes",
        source.path.display(),
        source.format.description(),
        source.format.name(),
        source.bytes.len()
    );
    if let Some(names) = signatures(source) {
        out.push_str(&format!(
            "\nsignatures: {} (inspecting {})",
            names.join(", "),
            selected_signature(source)
        ));
    }
    out
}

/// A SavedModel's signature names (`None` for other formats).
fn signatures(source: &ModelSource) -> Option<Vec<String>> {
    if source.format != Format::SavedModel {
        return None;
    }
    saved_model_signatures(&source.bytes)
}

/// The signature `inspect` describes: `--signature`, or the default.
fn selected_signature(source: &ModelSource) -> &str {
    source
        .signature
        .as_deref()
        .unwrap_or(cerebro_tensorflow::saved_model::DEFAULT_SIGNATURE)
}

fn spec_json(s: &TensorSpec) -> serde_json::Value {
    json!({"name": s.name, "dtype": s.dtype.name(), "shape": s.shape})
}

/// The summary as one JSON document.
pub fn to_json(source: &ModelSource, s: &Summary) -> serde_json::Value {
    json!({
        "model": source.path.display().to_string(),
        "format": source.format.name(),
        "format_description": source.format.description(),
        "bytes": source.bytes.len(),
        "runnable": true,
        "signatures": signatures(source),
        "signature": signatures(source).map(|_| selected_signature(source)),
        "inputs": s.signature.inputs.iter().map(spec_json).collect::<Vec<_>>(),
        "outputs": s.signature.outputs.iter().map(spec_json).collect::<Vec<_>>(),
        "subgraphs": s.subgraphs,
        "ops": s.op_histogram,
        "parameter_count": s.parameter_count,
        "parameter_bytes": s.parameter_bytes,
        "arena_bytes": s.arena_bytes,
    })
}

/// The summary as text.
pub fn to_text(source: &ModelSource, s: &Summary) -> String {
    let mut out = header(source);
    out.push('\n');
    for (label, specs) in [
        ("inputs", &s.signature.inputs),
        ("outputs", &s.signature.outputs),
    ] {
        out.push_str(&format!("{label}:\n"));
        for (i, t) in specs.iter().enumerate() {
            out.push_str(&format!("  {i}: `{}` {}\n", t.name, t.type_string()));
        }
    }
    let nodes: usize = s.op_histogram.values().sum();
    out.push_str(&format!(
        "ops: {nodes} nodes in {} subgraph(s)\n",
        s.subgraphs
    ));
    let mut ops: Vec<(&String, &usize)> = s.op_histogram.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (name, count) in ops {
        out.push_str(&format!("  {count:>6}  {name}\n"));
    }
    out.push_str(&format!(
        "parameters: {} ({})\narena: {}\nthe engine can run this model\n",
        s.parameter_count,
        human_bytes(s.parameter_bytes),
        human_bytes(s.arena_bytes as u64)
    ));
    out
}

/// `1.5 MiB`-style size.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

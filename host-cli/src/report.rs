//! Rendering a run's results as text or as one JSON document.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use cerebro_engine::loader::detect::Format;
use serde_json::{json, Value};

use crate::run::ms;
use crate::tensor::{stats, top_k, Tensor};

/// Everything the main command reports.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The model path as given.
    pub model: PathBuf,
    /// Its format.
    pub format: Format,
    /// `enclave` or `native`.
    pub backend: &'static str,
    /// Time to load (and for the enclave, transfer and parse) the model.
    pub load_time: Duration,
    /// Time of the run.
    pub run_time: Duration,
    /// From the command's start to the results.
    pub total_time: Duration,
    /// Outputs in the model's order.
    pub outputs: Vec<Tensor>,
    /// Files written by `--output-dir`, one per output.
    pub files: Vec<PathBuf>,
}

/// How many classes a probability output lists.
pub const TOP_K: usize = 5;

fn number(v: f64) -> Value {
    // JSON has no NaN/inf: they become null.
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// The report as one JSON document.
pub fn to_json(r: &RunReport) -> Value {
    let outputs: Vec<Value> = r
        .outputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let s = stats(&t.values());
            let top = top_k(t, TOP_K).map(|rows| {
                rows.iter()
                    .map(|row| {
                        row.iter()
                            .map(
                                |c| json!({"class": c.class, "probability": number(c.probability)}),
                            )
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            });
            json!({
                "index": i,
                "name": t.name,
                "dtype": t.dtype.name(),
                "shape": t.shape,
                "min": number(s.min),
                "max": number(s.max),
                "mean": number(s.mean),
                "nan_count": s.nan_count,
                "top5": top,
                "file": r.files.get(i).map(|p| p.display().to_string()),
            })
        })
        .collect();
    json!({
        "model": r.model.display().to_string(),
        "format": r.format.name(),
        "backend": r.backend,
        "load_ms": ms(r.load_time),
        "run_ms": ms(r.run_time),
        "total_ms": ms(r.total_time),
        "outputs": outputs,
    })
}

/// The report as text, one block per output.
pub fn to_text(r: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "model {} ({}) in the {}: load {:.2} ms, run {:.3} ms",
        r.model.display(),
        r.format.description(),
        if r.backend == "native" {
            "native engine"
        } else {
            "enclave"
        },
        ms(r.load_time),
        ms(r.run_time)
    );
    for (i, t) in r.outputs.iter().enumerate() {
        let s = stats(&t.values());
        let name = if t.name.is_empty() {
            String::new()
        } else {
            format!(" `{}`", t.name)
        };
        let _ = write!(
            out,
            "output {i}{name}: {}  min {} max {} mean {}",
            t.type_string(),
            g(s.min),
            g(s.max),
            g(s.mean)
        );
        if s.nan_count > 0 {
            let _ = write!(out, "  ({} NaN)", s.nan_count);
        }
        out.push('\n');
        if let Some(rows) = top_k(t, TOP_K) {
            for (row_index, row) in rows.iter().enumerate() {
                let classes: Vec<String> = row
                    .iter()
                    .map(|c| format!("{} ({:.4})", c.class, c.probability))
                    .collect();
                let label = if rows.len() == 1 {
                    String::new()
                } else {
                    format!(" row {row_index}")
                };
                let _ = writeln!(out, "  top-5{label}: {}", classes.join("  "));
            }
            if rows.len() == 1 {
                let _ = writeln!(out, "  predicted class: {}", rows[0][0].class);
            }
        }
        if let Some(file) = r.files.get(i) {
            let _ = writeln!(out, "  written to {}", file.display());
        }
    }
    out
}

/// Compact number formatting for statistics.
fn g(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 1e-3 && v.abs() < 1e6 {
        format!("{v:.6}").trim_end_matches('0').to_string()
    } else {
        format!("{v:.4e}")
    }
}

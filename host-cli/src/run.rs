//! The main command: `cerebro-vmm --model PATH --input FILE.npy ...` — load a model, bind the
//! `.npy` inputs to the model's inputs (by order or `NAME=`), run it, report every output.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use crate::backend::{Backend, NativeBackend, Signature};
use crate::error::{CliError, Result};
use crate::model::{read_model, FormatArg, ModelSource};
use crate::report::{self, RunReport};
use crate::tensor::{Tensor, TensorSpec};
use cerebro_engine::loader::detect::Format;

/// Arguments of the main command.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Model file, or SavedModel directory (required for the main job).
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Flax parameters (`flax.serialization.to_bytes` msgpack) bound to the model's arguments.
    #[arg(long, value_name = "FILE.msgpack")]
    pub params: Option<PathBuf>,
    /// SavedModel signature to run (default `serving_default`).
    #[arg(long, value_name = "NAME")]
    pub signature: Option<String>,
    /// Model format; `auto` detects it from the content.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// An input `.npy` file, in the model's input order, or `NAME=FILE.npy`. Repeat per input.
    #[arg(long = "input", value_name = "[NAME=]FILE.npy")]
    pub inputs: Vec<String>,
    /// Write `DIR/output_<N>.npy` for every output, in the model's output order.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Where the model runs (shared by the main command and `bench`).
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// Run the engine in this process instead of the enclave.
    #[arg(long)]
    pub native: bool,
    /// Memory for the model in MiB: the enclave's guest memory (with `--native` the same budget
    /// is enforced for model bytes plus the planned arena).
    #[arg(long, value_name = "MIB", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub mem: u64,
    /// Per-job limit in seconds: a job (model load or run) that makes no progress for this long
    /// is stopped with exit code 5, and the enclave restarted (see spec/virtio-cerebro.md §6.9).
    #[arg(long = "job-timeout", alias = "timeout", value_name = "SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub job_timeout: u64,
    /// Boot this guest kernel image instead of the embedded one.
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// When the enclave's RAM is backed by host memory.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = PopulateArg::OnDemand)]
    pub populate: PopulateArg,
}

/// Value of `--populate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PopulateArg {
    /// As the guest first touches it (a one-shot run touches a small part of its RAM).
    OnDemand,
    /// All of it, on a background thread while the guest boots (competes with the guest for CPU).
    Background,
    /// All of it before the guest boots.
    Full,
}

impl PopulateArg {
    /// The VMM's populate policy.
    pub fn policy(self) -> vmm::Populate {
        match self {
            PopulateArg::OnDemand => vmm::Populate::OnDemand,
            PopulateArg::Background => vmm::Populate::Background,
            PopulateArg::Full => vmm::Populate::Full,
        }
    }
}

impl TargetArgs {
    /// The memory budget in bytes.
    pub fn memory_limit(&self) -> u64 {
        self.mem << 20
    }

    /// Builds the backend these arguments select.
    pub fn backend(&self) -> Result<Box<dyn Backend>> {
        if self.native {
            return Ok(Box::new(NativeBackend::new(self.memory_limit())));
        }
        crate::enclave::backend(self)
    }
}

/// One `--input` argument: an optional input name and a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputArg {
    /// Input name (`NAME=` prefix), if given.
    pub name: Option<String>,
    /// The `.npy` file.
    pub path: PathBuf,
}

impl InputArg {
    /// Parses `FILE.npy` or `NAME=FILE.npy` (a `=` inside an existing path is part of the path).
    pub fn parse(s: &str) -> InputArg {
        match s.split_once('=') {
            Some((name, path)) if !name.is_empty() && !Path::new(s).exists() => InputArg {
                name: Some(name.to_string()),
                path: PathBuf::from(path),
            },
            _ => InputArg {
                name: None,
                path: PathBuf::from(s),
            },
        }
    }
}

/// Reads the `.npy` inputs and binds them to the model's inputs: named ones by name, the others
/// in order into the inputs left. Every model input must be bound exactly once, with its dtype
/// and shape.
pub fn bind_inputs(args: &[InputArg], specs: &[TensorSpec]) -> Result<Vec<Tensor>> {
    let mut slots: Vec<Option<(Tensor, &Path)>> = vec![None; specs.len()];
    let names = || {
        specs
            .iter()
            .map(|s| format!("`{}`", s.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for arg in args.iter().filter(|a| a.name.is_some()) {
        let name = arg.name.as_deref().unwrap_or_default();
        let index = specs.iter().position(|s| s.name == name).ok_or_else(|| {
            CliError::input(format!(
                "the model has no input named `{name}` (its inputs: {})",
                names()
            ))
        })?;
        if slots[index].is_some() {
            return Err(CliError::input(format!("input `{name}` is given twice")));
        }
        slots[index] = Some((Tensor::read_npy(&arg.path)?, &arg.path));
    }
    let mut free = (0..specs.len())
        .filter(|&i| slots[i].is_none())
        .collect::<Vec<_>>()
        .into_iter();
    let positional: Vec<&InputArg> = args.iter().filter(|a| a.name.is_none()).collect();
    for arg in &positional {
        let Some(index) = free.next() else {
            return Err(CliError::input(format!(
                "the model takes {} input{}, got {} --input",
                specs.len(),
                if specs.len() == 1 { "" } else { "s" },
                args.len()
            )));
        };
        slots[index] = Some((Tensor::read_npy(&arg.path)?, &arg.path));
    }
    let mut bound = Vec::with_capacity(specs.len());
    for (i, (slot, spec)) in slots.into_iter().zip(specs).enumerate() {
        let Some((mut tensor, path)) = slot else {
            return Err(CliError::input(format!(
                "missing input {i} `{}` ({}): pass --input FILE.npy in the model's order or --input {}=FILE.npy",
                spec.name,
                spec.type_string(),
                spec.name
            )));
        };
        if tensor.dtype != spec.dtype || tensor.shape != spec.shape {
            return Err(CliError::input(format!(
                "input {i} `{}` must be {}, got {} from {}",
                spec.name,
                spec.type_string(),
                tensor.type_string(),
                path.display()
            )));
        }
        tensor.name = spec.name.clone();
        bound.push(tensor);
    }
    Ok(bound)
}

/// Runs the main command; returns the process exit code.
pub fn main(args: RunArgs) -> ExitCode {
    match run(&args) {
        Ok(report) => {
            if args.json {
                println!("{}", report::to_json(&report));
            } else {
                print!("{}", report::to_text(&report));
            }
            ExitCode::SUCCESS
        }
        Err(e) => e.report(args.json),
    }
}

fn run(args: &RunArgs) -> Result<RunReport> {
    let started = Instant::now();
    let input_args: Vec<InputArg> = args.inputs.iter().map(|s| InputArg::parse(s)).collect();
    let model = args
        .model
        .as_deref()
        .ok_or_else(|| CliError::usage("--model PATH is required"))?;
    let source = read_model(
        model,
        args.format,
        args.params.as_deref(),
        args.signature.as_deref(),
    )?;
    let mut source = source;
    source.input_shapes = input_shape_hint(&source, &input_args)?;
    let mut backend = args.target.backend()?;
    let t_load = Instant::now();
    let signature = backend.load(&source)?;
    let load_time = t_load.elapsed();
    let inputs = bind_inputs(&input_args, &signature.inputs)?;
    let t_run = Instant::now();
    let outputs = backend.run(&inputs)?;
    let run_time = t_run.elapsed();
    check_outputs(&signature, &outputs)?;
    let mut files = Vec::new();
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::other(format!("cannot create {}: {e}", dir.display())))?;
        for (i, t) in outputs.iter().enumerate() {
            let path = dir.join(format!("output_{i}.npy"));
            t.write_npy(&path)?;
            files.push(path);
        }
    }
    Ok(RunReport {
        model: source.path.clone(),
        format: source.format,
        backend: backend.name(),
        load_time,
        run_time,
        total_time: started.elapsed(),
        outputs,
        files,
    })
}

/// For TensorFlow graphs (whose input dims may be unknown, e.g. the batch), the shapes of the
/// given `.npy` inputs when they are all positional; `None` otherwise.
pub fn input_shape_hint(
    source: &ModelSource,
    args: &[InputArg],
) -> Result<Option<Vec<Vec<usize>>>> {
    if !matches!(source.format, Format::SavedModel | Format::GraphDef)
        || args.is_empty()
        || args.iter().any(|a| a.name.is_some())
    {
        return Ok(None);
    }
    args.iter()
        .map(|a| Tensor::read_npy(&a.path).map(|t| t.shape))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The outputs must be what the model declared (a guard against a misbehaving enclave).
fn check_outputs(signature: &Signature, outputs: &[Tensor]) -> Result<()> {
    if outputs.len() != signature.outputs.len() {
        return Err(CliError::enclave(format!(
            "the model declares {} outputs but {} came back",
            signature.outputs.len(),
            outputs.len()
        )));
    }
    for (i, (o, s)) in outputs.iter().zip(&signature.outputs).enumerate() {
        let expected = s
            .shape
            .iter()
            .try_fold(s.dtype.size(), |a, &d| a.checked_mul(d));
        let consistent = o
            .shape
            .iter()
            .try_fold(o.dtype.size(), |a, &d| a.checked_mul(d))
            == Some(o.data.len());
        let shape_ok = if signature.replanned {
            o.shape.len() == s.shape.len() && consistent
        } else {
            o.shape == s.shape && expected == Some(o.data.len())
        };
        if o.dtype != s.dtype || !shape_ok {
            return Err(CliError::enclave(format!(
                "output {i} should be {} but {} ({} bytes) came back",
                s.type_string(),
                o.type_string(),
                o.data.len()
            )));
        }
    }
    Ok(())
}

/// Milliseconds of a duration as f64.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_arg_forms() {
        assert_eq!(
            InputArg::parse("a.npy"),
            InputArg {
                name: None,
                path: "a.npy".into()
            }
        );
        assert_eq!(
            InputArg::parse("x=a.npy"),
            InputArg {
                name: Some("x".into()),
                path: "a.npy".into()
            }
        );
        assert_eq!(
            InputArg::parse("=a.npy"),
            InputArg {
                name: None,
                path: "=a.npy".into()
            }
        );
    }
}

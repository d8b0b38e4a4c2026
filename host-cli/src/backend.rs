//! Where a model runs: in the enclave (through `vmm::Enclave`) or in-process with the same engine
//! (`--native`, used for overhead measurements and as a reference).

use std::time::Duration;

use cerebro_engine::ir::TensorData;
use cerebro_engine::loader::detect::{load_graph, LoadOptions};
use cerebro_engine::Model;

use crate::error::{CliError, Result};
use crate::model::ModelSource;
use crate::tensor::{Tensor, TensorSpec};

/// A loaded model's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Inputs in the model's order.
    pub inputs: Vec<TensorSpec>,
    /// Outputs in the model's order.
    pub outputs: Vec<TensorSpec>,
    /// The enclave plans the graph again for the given input shapes at run time (a TensorFlow
    /// graph with unknown dims), so the output shapes above are those of the stored shapes and
    /// a run's outputs are checked for dtype and consistency only.
    pub replanned: bool,
}

/// Something that loads one model and runs it.
pub trait Backend {
    /// Short name for reports (`enclave`, `native`).
    fn name(&self) -> &'static str;
    /// Loads `model` (replacing any previous one) and returns its signature.
    fn load(&mut self, model: &ModelSource) -> Result<Signature>;
    /// Runs the loaded model on inputs already in the model's order.
    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>>;
    /// CPU time the threads doing this backend's work have used so far (for the calling
    /// thread, whatever it did), if measurable: runs differ by work, not by waits for a core.
    fn cpu_time(&self) -> Option<Duration> {
        None
    }
}

/// Loads and plans a model with the in-process engine (the same front-ends and planner the
/// enclave runs).
pub fn load_native(model: &ModelSource) -> cerebro_engine::Result<Model> {
    let options = LoadOptions {
        params: model.params.as_deref(),
        signature: model.signature.as_deref(),
        input_shapes: model.input_shapes.as_deref(),
    };
    Model::new(load_graph(&model.bytes, model.format, &options)?)
}

/// The signature of a planned model.
pub fn signature_of(model: &Model) -> Signature {
    let spec = |t: &cerebro_engine::ir::TensorInfo| TensorSpec {
        name: t.name.clone(),
        dtype: t.dtype,
        shape: t.shape.dims().to_vec(),
    };
    Signature {
        inputs: model.inputs().map(spec).collect(),
        outputs: model.outputs().map(spec).collect(),
        replanned: false,
    }
}

/// The engine in this process, held to the same memory budget as an enclave of `--mem` MiB.
#[derive(Debug)]
pub struct NativeBackend {
    model: Option<Model>,
    memory_limit: u64,
}

impl NativeBackend {
    /// A backend with no model loaded whose model bytes plus planned arena must fit in
    /// `memory_limit` bytes.
    pub fn new(memory_limit: u64) -> Self {
        NativeBackend {
            model: None,
            memory_limit,
        }
    }
}

/// The one-line error for a model that does not fit the memory budget.
pub fn over_memory_limit(model: &ModelSource, needed: u64, limit: u64) -> CliError {
    CliError::model(format!(
        "{}: the model needs {:.1} MiB, over the memory limit of {} MiB (raise --mem)",
        model.path.display(),
        needed as f64 / (1u64 << 20) as f64,
        limit >> 20
    ))
}

impl Backend for NativeBackend {
    fn name(&self) -> &'static str {
        "native"
    }

    fn cpu_time(&self) -> Option<Duration> {
        vmm::CpuClock::current_thread().elapsed()
    }

    fn load(&mut self, model: &ModelSource) -> Result<Signature> {
        self.model = None;
        let model_bytes =
            model.bytes.len() as u64 + model.params.as_ref().map_or(0, |p| p.len() as u64);
        if model_bytes > self.memory_limit {
            return Err(over_memory_limit(model, model_bytes, self.memory_limit));
        }
        let planned = load_native(model)
            .map_err(|e| CliError::model(format!("{}: {e}", model.path.display())))?;
        let needed = model_bytes.saturating_add(planned.arena_bytes() as u64);
        if needed > self.memory_limit {
            return Err(over_memory_limit(model, needed, self.memory_limit));
        }
        let sig = signature_of(&planned);
        self.model = Some(planned);
        Ok(sig)
    }

    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let model = self
            .model
            .as_mut()
            .ok_or_else(|| CliError::other("no model loaded"))?;
        let views: Vec<TensorData<'_>> = inputs
            .iter()
            .map(|t| TensorData {
                dtype: t.dtype,
                shape: &t.shape,
                bytes: &t.data,
            })
            .collect();
        model.run(&views).map_err(crate::error::from_engine)?;
        let names: Vec<String> = model.outputs().map(|t| t.name.clone()).collect();
        (0..model.num_outputs())
            .map(|i| {
                let out = model.output(i).map_err(crate::error::from_engine)?;
                Ok(Tensor {
                    name: names.get(i).cloned().unwrap_or_default(),
                    dtype: out.dtype,
                    shape: out.shape.to_vec(),
                    data: out.bytes.to_vec(),
                })
            })
            .collect()
    }
}

//! The enclave backend: models and inputs cross virtio-cerebro into a Cerebro guest through
//! `vmm::Enclave`; the guest's engine parses and runs them.

use std::borrow::Cow;
use std::time::Duration;

use cerebro_engine::loader::detect::Format;
use cerebro_engine::DType;
use vmm::enclave::{JobError, ModelFormat, Status, Tensor as WireTensor};
use vmm::{Enclave, EnclaveConfig, EnclaveError, LoadOptions, ModelId};

use crate::backend::{Backend, Signature};
use crate::error::{CliError, ErrorKind, Result};
use crate::model::ModelSource;
use crate::run::TargetArgs;
use crate::tensor::{Tensor, TensorSpec};

/// Magic of the Flax container the guest unpacks (see guest/kernel/src/engine_handler.rs).
const FLAX_MAGIC: &[u8; 8] = b"CRBFLAX1";

/// Smallest and largest enclave memory the VMM accepts, in MiB.
const MEM_RANGE: (u64, u64) = (32, 3072);

/// Boots an enclave for `target`.
pub fn backend(target: &TargetArgs) -> Result<Box<dyn Backend>> {
    Ok(Box::new(EnclaveBackend::start(target)?))
}

/// A running enclave with at most one model loaded by this backend.
pub struct EnclaveBackend {
    enclave: Enclave,
    model: Option<ModelId>,
}

/// Builds the enclave configuration for `target`.
pub fn enclave_config(target: &TargetArgs) -> Result<EnclaveConfig> {
    // The embedded kernel is borrowed, not copied: copying it faults in every page of it.
    let kernel: Cow<'static, [u8]> = match &target.kernel {
        Some(path) => std::fs::read(path)
            .map_err(|e| CliError::usage(format!("cannot read kernel {}: {e}", path.display())))?
            .into(),
        None => Cow::Borrowed(cerebro_guest_image::KERNEL),
    };
    let mem_mib = target.mem.next_multiple_of(2);
    if !(MEM_RANGE.0..=MEM_RANGE.1).contains(&mem_mib) {
        return Err(CliError::usage(format!(
            "--mem {} is outside the enclave's range {}..={} MiB",
            target.mem, MEM_RANGE.0, MEM_RANGE.1
        )));
    }
    let mut config = EnclaveConfig::new(kernel);
    config.mem_mib = mem_mib;
    config.job_timeout = Duration::from_secs(target.job_timeout);
    config.populate = target.populate.policy();
    // Messages (inputs, outputs) scale with memory; a model must leave room for the engine to
    // parse it (the guest needs about three times its size).
    let message = ((mem_mib << 20) / 64).clamp(1 << 20, 16 << 20) as u32;
    config.device.max_job_size = message;
    config.device.max_result_size = message;
    config.device.max_model_size = (mem_mib << 20) / 3;
    Ok(config)
}

impl EnclaveBackend {
    /// Boots the enclave.
    pub fn start(target: &TargetArgs) -> Result<Self> {
        let config = enclave_config(target)?;
        let enclave = Enclave::start(config)
            .map_err(|e| CliError::enclave(format!("cannot start the enclave: {e}")))?;
        if target.kernel.is_none() {
            // The guest has its copy: the VMM need not keep the embedded image resident.
            cerebro_guest_image::release_resident_pages();
        }
        Ok(EnclaveBackend {
            enclave,
            model: None,
        })
    }
}

/// The wire format hint of a model.
fn wire_format(model: &ModelSource) -> ModelFormat {
    if model.params.is_some() {
        return ModelFormat::FLAX;
    }
    match model.format {
        Format::TfLite => ModelFormat::TFLITE,
        Format::SavedModel => ModelFormat::SAVED_MODEL,
        Format::GraphDef => ModelFormat::GRAPH_DEF,
        Format::StableHloText => ModelFormat::STABLEHLO_TEXT,
        Format::JaxExport => ModelFormat::JAX_EXPORT,
        Format::MlirBytecode => ModelFormat::MLIR_BYTECODE,
    }
}

/// The bytes sent for a model: as is, or model + params in a Flax container.
fn wire_bytes(model: &ModelSource) -> Vec<u8> {
    match &model.params {
        None => model.bytes.clone(),
        Some(params) => {
            let mut blob = Vec::with_capacity(24 + model.bytes.len() + params.len());
            blob.extend_from_slice(FLAX_MAGIC);
            blob.extend_from_slice(&(model.bytes.len() as u64).to_le_bytes());
            blob.extend_from_slice(&(params.len() as u64).to_le_bytes());
            blob.extend_from_slice(&model.bytes);
            blob.extend_from_slice(params);
            blob
        }
    }
}

/// The engine dtype of a wire dtype.
fn engine_dtype(d: vmm::enclave::DType) -> Option<DType> {
    use vmm::enclave::DType as W;
    Some(match d {
        W::F32 => DType::F32,
        W::F16 => DType::F16,
        W::BF16 => DType::BF16,
        W::I8 => DType::I8,
        W::U8 => DType::U8,
        W::I16 => DType::I16,
        W::I32 => DType::I32,
        W::I64 => DType::I64,
        W::U32 => DType::U32,
        W::U16 => DType::U16,
        W::U64 => DType::U64,
        W::F64 => DType::F64,
        W::Bool => DType::Bool,
    })
}

/// The wire dtype of an engine dtype.
fn wire_dtype(d: DType) -> Option<vmm::enclave::DType> {
    use vmm::enclave::DType as W;
    Some(match d {
        DType::F32 => W::F32,
        DType::F16 => W::F16,
        DType::BF16 => W::BF16,
        DType::I8 => W::I8,
        DType::U8 => W::U8,
        DType::I16 => W::I16,
        DType::I32 => W::I32,
        DType::I64 => W::I64,
        DType::U32 => W::U32,
        DType::U16 => W::U16,
        DType::U64 => W::U64,
        DType::F64 => W::F64,
        DType::Bool => W::Bool,
        DType::Resource => return None,
    })
}

fn dtype_by_name(name: &str) -> Option<DType> {
    [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U32,
        DType::U16,
        DType::U64,
        DType::F64,
        DType::Bool,
    ]
    .into_iter()
    .find(|d| d.name() == name)
}

/// Parses the guest's load detail (`loaded <fmt> <n_in> <n_out>` then `in|out <dtype> <dims>
/// <name>` lines). `None` if it is cut short or not in that form.
pub fn parse_signature(detail: &str) -> Option<Signature> {
    let mut lines = detail.lines();
    let head: Vec<&str> = lines.next()?.split(' ').collect();
    if head.len() != 4 || head[0] != "loaded" {
        return None;
    }
    let (n_in, n_out): (usize, usize) = (head[2].parse().ok()?, head[3].parse().ok()?);
    let mut sig = Signature {
        inputs: Vec::new(),
        outputs: Vec::new(),
        replanned: false,
    };
    for line in lines {
        let mut parts = line.splitn(4, ' ');
        let (tag, dtype, dims, name) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next().unwrap_or(""),
        );
        let shape = if dims == "-" {
            Vec::new()
        } else {
            dims.split('x')
                .map(|d| d.parse().ok())
                .collect::<Option<Vec<usize>>>()?
        };
        let spec = TensorSpec {
            name: name.to_string(),
            dtype: dtype_by_name(dtype)?,
            shape,
        };
        match tag {
            "in" => sig.inputs.push(spec),
            "out" => sig.outputs.push(spec),
            _ => return None,
        }
    }
    (sig.inputs.len() == n_in && sig.outputs.len() == n_out).then_some(sig)
}

/// Maps a guest status to the CLI's error classes.
fn guest_failure(status: Status, detail: &str, loading: bool) -> CliError {
    let kind = match status {
        Status::BadModel | Status::Unsupported | Status::Malformed if loading => {
            ErrorKind::BadModel
        }
        Status::TooLarge | Status::OutOfMemory if loading => ErrorKind::BadModel,
        Status::BadInput | Status::TooLarge => ErrorKind::BadInput,
        _ => ErrorKind::Enclave,
    };
    let detail = if detail.is_empty() {
        "(no detail)"
    } else {
        detail
    };
    let message = match (status, loading) {
        (Status::TooLarge | Status::OutOfMemory, true) => {
            format!("the model is over the enclave's memory limit (raise --mem): {detail}")
        }
        (Status::DeadlineExceeded, _) => {
            format!("the model was stopped: {detail} (raise --job-timeout)")
        }
        _ => format!("{detail} [enclave status {status:?}]"),
    };
    CliError::new(kind, message)
}

/// Maps a failed enclave call.
fn enclave_failure(e: EnclaveError, loading: bool, enclave: &Enclave) -> CliError {
    match e {
        EnclaveError::Guest { status, detail } => guest_failure(status, &detail, loading),
        EnclaveError::Job(JobError::ModelTooLarge { len, max }) => CliError::model(format!(
            "the model needs {:.1} MiB, over the enclave's memory limit of {:.1} MiB for models (raise --mem)",
            len as f64 / (1u64 << 20) as f64,
            max as f64 / (1u64 << 20) as f64
        )),
        EnclaveError::Job(JobError::JobTooLarge { len, max }) => CliError::input(format!(
            "the inputs take {len} bytes, above the enclave's job limit of {max} bytes (raise --mem)"
        )),
        other => {
            let how = enclave.exit_status().map(|s| format!(" (VM ended: {s})")).unwrap_or_default();
            CliError::enclave(format!("{other}{how}"))
        }
    }
}

impl Backend for EnclaveBackend {
    fn name(&self) -> &'static str {
        "enclave"
    }

    fn load(&mut self, model: &ModelSource) -> Result<Signature> {
        if let Some(old) = self.model.take() {
            let _ = self.enclave.unload(old);
        }
        let options = LoadOptions {
            signature: model.signature.clone(),
            ..LoadOptions::new(wire_format(model))
        };
        let loaded = self
            .enclave
            .load(wire_bytes(model), &options)
            .map_err(|e| enclave_failure(e, true, &self.enclave))?;
        let mut signature = parse_signature(&loaded.detail).ok_or_else(|| {
            CliError::enclave(format!(
                "the enclave loaded the model but its signature is unreadable: {:?}",
                loaded.detail
            ))
        })?;
        self.model = Some(loaded.id);
        // A TensorFlow graph is planned again in the guest for other input shapes (its unknown
        // dims); the guest checks them against the graph's static dims.
        if let Some(shapes) = &model.input_shapes {
            let same_ranks = shapes.len() == signature.inputs.len()
                && shapes
                    .iter()
                    .zip(&signature.inputs)
                    .all(|(s, spec)| s.len() == spec.shape.len());
            if same_ranks
                && signature
                    .inputs
                    .iter()
                    .zip(shapes)
                    .any(|(spec, s)| &spec.shape != s)
            {
                for (spec, s) in signature.inputs.iter_mut().zip(shapes) {
                    spec.shape.clone_from(s);
                }
                signature.replanned = true;
            }
        }
        Ok(signature)
    }

    fn cpu_time(&self) -> Option<Duration> {
        // The calling thread encodes inputs and decodes outputs; the vCPU thread runs the guest.
        Some(vmm::CpuClock::current_thread().elapsed()? + self.enclave.vcpu_cpu_time()?)
    }

    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let model = self
            .model
            .ok_or_else(|| CliError::other("no model loaded"))?;
        let wire = inputs
            .iter()
            .map(|t| {
                Ok(WireTensor {
                    dtype: wire_dtype(t.dtype).ok_or_else(|| {
                        CliError::input(format!("{} inputs cannot be sent", t.dtype))
                    })?,
                    dims: t.shape.iter().map(|&d| d as u64).collect(),
                    name: t.name.clone(),
                    data: t.data.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let outputs = self
            .enclave
            .run(model, wire)
            .map_err(|e| enclave_failure(e, false, &self.enclave))?;
        outputs
            .into_iter()
            .map(|t| {
                Ok(Tensor {
                    dtype: engine_dtype(t.dtype).ok_or_else(|| {
                        CliError::enclave(format!("the enclave returned a {:?} tensor", t.dtype))
                    })?,
                    shape: t
                        .dims
                        .iter()
                        .map(|&d| usize::try_from(d))
                        .collect::<std::result::Result<_, _>>()
                        .map_err(|_| CliError::enclave("the enclave returned an absurd shape"))?,
                    name: t.name,
                    data: t.data,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip() {
        let sig = parse_signature(
            "loaded tflite 2 1\nin f32 1x8x8x1 image input\nin i32 - step\nout f32 1x10 probs",
        )
        .unwrap();
        assert_eq!(sig.inputs.len(), 2);
        assert_eq!(sig.inputs[0].name, "image input");
        assert_eq!(sig.inputs[0].shape, vec![1, 8, 8, 1]);
        assert_eq!(sig.inputs[1].shape, Vec::<usize>::new());
        assert_eq!(sig.outputs[0].dtype, DType::F32);
        // Cut short: the counts do not match.
        assert!(parse_signature("loaded tflite 2 1\nin f32 1x8x8x1 image").is_none());
        assert!(parse_signature("ok").is_none());
    }
}

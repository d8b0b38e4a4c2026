//! The engine behind virtio-cerebro: loads models pulled into private memory and runs them.
//!
//! Implements [`cerebro_guest_driver::JobHandler`] over `cerebro-engine`:
//! - **load**: the model's bytes are pulled (digest-checked) into a private buffer, the format is
//!   taken from the job's hint or detected from the content, and the engine's one loader
//!   dispatch (`loader::load_as`) parses and plans it. The success detail is the model's
//!   signature (see [`signature_detail`]) so the host can bind named inputs and check shapes
//!   before it sends a run.
//! - **run**: inputs are checked against the model (count, dtype, shape — the engine does it
//!   again) and the outputs copied out in the model's order, with their names.
//! - Flax models (format 7) arrive as one blob the host packs: see [`unpack_flax`].
//!
//! Every failure is a status and a one-line detail; nothing the host sends can panic the guest
//! short of exhausting memory inside the engine (the model size is bounded up front).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use cerebro_engine::ir::TensorData;
use cerebro_engine::loader::{self, Format, LoadOptions};
use cerebro_engine::{DType, Model};
use cerebro_guest_driver::{BuiltinHandler, JobFailure, JobHandler, ModelFetcher, OwnedTensor};
use cerebro_spec::{DType as WireDType, ModelFormat, Status, TensorView};

/// Magic of the Flax container: `b"CRBFLAX1"`, le64 model length, le64 params length, model
/// bytes, params bytes (nothing after).
pub const FLAX_MAGIC: &[u8; 8] = b"CRBFLAX1";

/// Largest detail line the wire carries.
const MAX_DETAIL: usize = cerebro_spec::MAX_DETAIL_LEN;

/// How many bytes of private memory a model of `n` bytes needs beyond its own copy while the
/// engine parses it (the engine keeps an aligned copy of the source and builds its IR).
fn working_set(n: u64) -> u64 {
    n.saturating_mul(2)
}

/// A loaded model.
struct Loaded {
    model: Model,
    /// For TensorFlow graphs, whose input dims may be unknown (the batch): the model bytes, kept
    /// to plan the graph again for the input shapes of a run.
    replannable: Option<Replannable>,
}

/// What a TensorFlow graph is planned again from: its bytes, format and SavedModel signature.
struct Replannable {
    bytes: Vec<u8>,
    format: Format,
    signature: Option<String>,
}

/// The engine job handler. Raw-format loads (the built-in digest job of the transport tests)
/// go to the driver's [`BuiltinHandler`].
pub struct EngineHandler {
    builtin: BuiltinHandler,
    models: BTreeMap<u64, Loaded>,
    max_model_size: u64,
    memory_bytes: u64,
    cpu: String,
}

impl EngineHandler {
    /// A handler accepting models up to `max_model_size` bytes within `memory_bytes` of private
    /// memory; raw models stream through a staging buffer of `chunk_size` bytes.
    pub fn new(chunk_size: usize, max_model_size: u64, memory_bytes: u64) -> Self {
        let f = cerebro_engine::cpu::features();
        let cpu = if f.avx2_fma() {
            "avx2+fma kernels"
        } else {
            "portable kernels"
        }
        .into();
        EngineHandler {
            builtin: BuiltinHandler::new(chunk_size, max_model_size),
            models: BTreeMap::new(),
            max_model_size,
            memory_bytes,
            cpu,
        }
    }
}

/// Maps the job's format hint to an engine format (`None`: detect from the content).
fn hinted_format(hint: ModelFormat) -> Result<Option<Format>, JobFailure> {
    Ok(Some(match hint {
        ModelFormat::AUTO => return Ok(None),
        ModelFormat::TFLITE => Format::TfLite,
        ModelFormat::SAVED_MODEL => Format::SavedModel,
        ModelFormat::GRAPH_DEF => Format::GraphDef,
        ModelFormat::STABLEHLO_TEXT => Format::StableHloText,
        ModelFormat::JAX_EXPORT => Format::JaxExport,
        ModelFormat::MLIR_BYTECODE => Format::MlirBytecode,
        ModelFormat::FLAX => return Ok(None),
        other => {
            return Err(JobFailure::new(
                Status::Unsupported,
                format!("the engine does not load model format {}", other.0),
            ))
        }
    }))
}

/// Splits a Flax container into (model, params).
pub fn unpack_flax(blob: &[u8]) -> Result<(&[u8], &[u8]), JobFailure> {
    let bad =
        |why: &str| JobFailure::new(Status::BadModel, format!("malformed Flax container: {why}"));
    if blob.len() < 24 || &blob[..8] != FLAX_MAGIC {
        return Err(bad("no CRBFLAX1 header"));
    }
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&blob[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let (model_len, params_len) = (word(8), word(16));
    let model_end = usize::try_from(model_len)
        .ok()
        .and_then(|m| m.checked_add(24))
        .ok_or_else(|| bad("model length"))?;
    let end = usize::try_from(params_len)
        .ok()
        .and_then(|p| p.checked_add(model_end))
        .ok_or_else(|| bad("params length"))?;
    if end != blob.len() {
        return Err(bad("lengths do not match the blob"));
    }
    Ok((&blob[24..model_end], &blob[model_end..end]))
}

/// The status of an engine error.
fn engine_failure(e: cerebro_engine::Error) -> JobFailure {
    use cerebro_engine::Error as E;
    let status = match &e {
        E::BadInput(_) => Status::BadInput,
        E::TooLarge(_) => Status::TooLarge,
        E::Malformed(_) | E::Unsupported(_) | E::Invalid(_) => Status::BadModel,
    };
    JobFailure::new(status, one_line(&format!("{e}")))
}

/// Folds a message into one line that fits the wire's detail field (cut at a char boundary).
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_DETAIL));
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    truncate(&mut out, MAX_DETAIL);
    out
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// The wire dtype of an engine dtype.
fn wire_dtype(d: DType) -> Option<WireDType> {
    Some(match d {
        DType::F32 => WireDType::F32,
        DType::F16 => WireDType::F16,
        DType::BF16 => WireDType::BF16,
        DType::I8 => WireDType::I8,
        DType::U8 => WireDType::U8,
        DType::I16 => WireDType::I16,
        DType::I32 => WireDType::I32,
        DType::I64 => WireDType::I64,
        DType::U32 => WireDType::U32,
        DType::U16 => WireDType::U16,
        DType::U64 => WireDType::U64,
        DType::F64 => WireDType::F64,
        DType::Bool => WireDType::Bool,
        DType::Resource => return None,
    })
}

/// The engine dtype of a wire dtype.
fn engine_dtype(d: WireDType) -> Option<DType> {
    Some(match d {
        WireDType::F32 => DType::F32,
        WireDType::F16 => DType::F16,
        WireDType::BF16 => DType::BF16,
        WireDType::I8 => DType::I8,
        WireDType::U8 => DType::U8,
        WireDType::I16 => DType::I16,
        WireDType::I32 => DType::I32,
        WireDType::I64 => DType::I64,
        WireDType::U32 => DType::U32,
        WireDType::U16 => DType::U16,
        WireDType::U64 => DType::U64,
        WireDType::F64 => DType::F64,
        WireDType::Bool => DType::Bool,
    })
}

/// The load detail: `loaded <format> <n_inputs> <n_outputs>` then one line per input and output,
/// `in|out <dtype> <d0>x<d1>x... <name>` (`-` for a scalar; the name last, newlines in it replaced
/// by spaces). Cut at the wire's limit; the host treats a detail whose line count does not match
/// the counts as "signature unknown".
pub fn signature_detail(format: Format, model: &Model) -> String {
    let inputs: Vec<_> = model.inputs().collect();
    let outputs: Vec<_> = model.outputs().collect();
    let mut s = format!(
        "loaded {} {} {}",
        format.name(),
        inputs.len(),
        outputs.len()
    );
    for (tag, list) in [("in", &inputs), ("out", &outputs)] {
        for t in list.iter() {
            let _ = write!(s, "\n{tag} {} ", t.dtype.name());
            if t.shape.dims().is_empty() {
                s.push('-');
            }
            for (i, d) in t.shape.dims().iter().enumerate() {
                let _ = write!(s, "{}{d}", if i == 0 { "" } else { "x" });
            }
            s.push(' ');
            s.extend(
                t.name
                    .chars()
                    .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
            );
        }
    }
    truncate(&mut s, MAX_DETAIL);
    s
}

impl JobHandler for EngineHandler {
    fn formats(&self) -> Vec<ModelFormat> {
        alloc::vec![
            ModelFormat::TFLITE,
            ModelFormat::SAVED_MODEL,
            ModelFormat::GRAPH_DEF,
            ModelFormat::STABLEHLO_TEXT,
            ModelFormat::JAX_EXPORT,
            ModelFormat::MLIR_BYTECODE,
            ModelFormat::FLAX,
            ModelFormat::RAW,
        ]
    }

    fn engine_name(&self) -> String {
        format!(
            "cerebro-engine {} ({})",
            env!("CARGO_PKG_VERSION"),
            self.cpu
        )
    }

    fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    fn max_model_size(&self) -> u64 {
        self.max_model_size
    }

    fn load_model(&mut self, fetcher: &mut ModelFetcher<'_>) -> Result<String, JobFailure> {
        let request = *fetcher.request();
        if request.format == ModelFormat::RAW {
            return self.builtin.load_model(fetcher);
        }
        if self.models.contains_key(&request.model_id) {
            return Err(JobFailure::new(
                Status::Busy,
                format!("model {} is already loaded", request.model_id),
            ));
        }
        let hint = hinted_format(request.format)?;
        let total = request.total_size;
        if working_set(total).saturating_add(total) > self.memory_bytes {
            return Err(JobFailure::new(
                Status::OutOfMemory,
                format!(
                    "a model of {} MiB needs about {} MiB of enclave memory, {} MiB available",
                    total >> 20,
                    (working_set(total) + total) >> 20,
                    self.memory_bytes >> 20
                ),
            ));
        }
        let len =
            usize::try_from(total).map_err(|_| JobFailure::new(Status::TooLarge, "model size"))?;
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(len).map_err(|_| {
            JobFailure::new(
                Status::OutOfMemory,
                format!("cannot allocate {len} bytes for the model"),
            )
        })?;
        bytes.resize(len, 0);
        fetcher.fetch_into(&mut bytes)?;
        let (model_bytes, params) = if request.format == ModelFormat::FLAX {
            let (m, p) = unpack_flax(&bytes)?;
            (m, Some(p))
        } else {
            (&bytes[..], None)
        };
        let format = match hint {
            Some(f) => f,
            None => loader::detect(model_bytes).map_err(engine_failure)?,
        };
        let signature = request.signature.as_ref().map(|s| s.as_str());
        let options = LoadOptions {
            params,
            signature,
            ..LoadOptions::default()
        };
        let model = loader::load_as(model_bytes, format, &options).map_err(engine_failure)?;
        let detail = signature_detail(format, &model);
        let replannable =
            matches!(format, Format::SavedModel | Format::GraphDef).then(|| Replannable {
                signature: signature.map(String::from),
                bytes,
                format,
            });
        self.models
            .insert(request.model_id, Loaded { model, replannable });
        Ok(detail)
    }

    fn run(
        &mut self,
        model_id: u64,
        inputs: &[TensorView<'_>],
    ) -> Result<Vec<OwnedTensor>, JobFailure> {
        let Some(loaded) = self.models.get_mut(&model_id) else {
            return self.builtin.run(model_id, inputs);
        };
        let mut shapes: Vec<Vec<usize>> = Vec::with_capacity(inputs.len());
        let mut dtypes = Vec::with_capacity(inputs.len());
        for (i, t) in inputs.iter().enumerate() {
            let dtype = engine_dtype(t.dtype).ok_or_else(|| {
                JobFailure::new(
                    Status::BadInput,
                    format!("input {i}: the engine has no {:?} tensors", t.dtype),
                )
            })?;
            let dims = t
                .dims
                .as_slice()
                .iter()
                .map(|&d| usize::try_from(d))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| {
                    JobFailure::new(Status::BadInput, format!("input {i}: dimension too large"))
                })?;
            shapes.push(dims);
            dtypes.push(dtype);
        }
        // A TensorFlow graph given inputs of other shapes (an unknown batch dim) is planned again
        // for them; if the graph's static dims do not allow it, the run fails as bad input below.
        let shapes_differ = loaded.model.inputs().count() != shapes.len()
            || loaded
                .model
                .inputs()
                .zip(&shapes)
                .any(|(t, s)| t.shape.dims() != s.as_slice());
        if shapes_differ {
            if let Some(r) = &loaded.replannable {
                let options = LoadOptions {
                    input_shapes: Some(&shapes),
                    signature: r.signature.as_deref(),
                    ..LoadOptions::default()
                };
                if let Ok(model) = loader::load_as(&r.bytes, r.format, &options) {
                    loaded.model = model;
                }
            }
        }
        let model = &mut loaded.model;
        let views: Vec<TensorData<'_>> = inputs
            .iter()
            .zip(&shapes)
            .zip(&dtypes)
            .map(|((t, shape), &dtype)| TensorData {
                dtype,
                shape,
                bytes: t.data,
            })
            .collect();
        model.run(&views).map_err(engine_failure)?;
        let names: Vec<String> = model.outputs().map(|t| t.name.clone()).collect();
        let mut outputs = Vec::with_capacity(model.num_outputs());
        for i in 0..model.num_outputs() {
            let out = model.output(i).map_err(engine_failure)?;
            let dtype = wire_dtype(out.dtype).ok_or_else(|| {
                JobFailure::new(
                    Status::EngineError,
                    format!("output {i} is a {} tensor", out.dtype),
                )
            })?;
            let mut data = Vec::new();
            data.try_reserve_exact(out.bytes.len()).map_err(|_| {
                JobFailure::new(
                    Status::OutOfMemory,
                    format!("output {i} of {} bytes", out.bytes.len()),
                )
            })?;
            data.extend_from_slice(out.bytes);
            outputs.push(OwnedTensor {
                dtype,
                dims: out.shape.iter().map(|&d| d as u64).collect(),
                name: names.get(i).cloned().unwrap_or_default(),
                data,
            });
        }
        Ok(outputs)
    }

    fn unload(&mut self, model_id: u64) -> Result<(), JobFailure> {
        match self.models.remove(&model_id) {
            Some(_) => Ok(()),
            None => self.builtin.unload(model_id),
        }
    }
}

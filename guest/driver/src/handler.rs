//! Job dispatch: the built-in echo/checksum jobs, and the [`JobHandler`] trait through which
//! the engine (or the built-in raw-model handler) serves load/run/unload/info.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use cerebro_spec::{
    DType, InfoReply, Job, JobResult, Kind, LoadModel, MessageHeader, ModelFormat, ResultPayload,
    Status, TensorView, Tensors, ABI_VERSION,
};
use sha2::{Digest, Sha256};

use crate::{ChunkSink, Driver, DriverError, FetchError};

/// An owned output tensor produced by a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedTensor {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub dims: Vec<u64>,
    /// Name (may be empty).
    pub name: String,
    /// Little-endian, row-major data.
    pub data: Vec<u8>,
}

/// A failed job: the status and a one-line diagnostic sent back to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// Status code.
    pub status: Status,
    /// Diagnostic.
    pub detail: String,
}

impl JobFailure {
    /// Builds a failure.
    pub fn new(status: Status, detail: impl Into<String>) -> Self {
        JobFailure {
            status,
            detail: detail.into(),
        }
    }
}

impl From<FetchError> for JobFailure {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::DigestMismatch => {
                JobFailure::new(Status::DigestMismatch, "model digest mismatch")
            }
            FetchError::Device(s) => JobFailure::new(s, format!("chunk request refused: {s}")),
            other => JobFailure::new(
                Status::Internal,
                format!("model transfer failed: {other:?}"),
            ),
        }
    }
}

/// Pulls one model's bytes through the chunk queue for a handler.
pub struct ModelFetcher<'a> {
    driver: &'a mut Driver,
    job_id: u64,
    load: LoadModel,
}

impl ModelFetcher<'_> {
    /// The load request (model id, size, format hint, digest).
    pub fn request(&self) -> &LoadModel {
        &self.load
    }

    /// Copies the whole model into `dest` (private memory of exactly `total_size` bytes) and
    /// checks its digest.
    pub fn fetch_into(&mut self, dest: &mut [u8]) -> Result<(), FetchError> {
        if dest.len() as u64 != self.load.total_size {
            return Err(FetchError::NoDestination);
        }
        self.driver
            .fetch_model(self.job_id, &self.load, &mut IntoSlice { dest })
    }

    /// Streams the model through `staging` (private, at least one chunk long), calling
    /// `sink(offset, bytes)` for each chunk in order; the digest is checked at the end, so a
    /// caller must not trust what it saw until this returns `Ok`.
    pub fn fetch_streaming(
        &mut self,
        staging: &mut [u8],
        sink: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<(), FetchError> {
        self.driver
            .fetch_model(self.job_id, &self.load, &mut Streaming { staging, sink })
    }
}

struct IntoSlice<'a> {
    dest: &'a mut [u8],
}

impl ChunkSink for IntoSlice<'_> {
    fn buffer(&mut self, offset: u64, len: usize) -> Option<&mut [u8]> {
        let start = usize::try_from(offset).ok()?;
        self.dest.get_mut(start..start.checked_add(len)?)
    }
}

struct Streaming<'a, 'f> {
    staging: &'a mut [u8],
    sink: &'f mut dyn FnMut(u64, &[u8]),
}

impl ChunkSink for Streaming<'_, '_> {
    fn buffer(&mut self, _offset: u64, len: usize) -> Option<&mut [u8]> {
        self.staging.get_mut(..len)
    }

    fn filled(&mut self, offset: u64, len: usize) {
        (self.sink)(offset, &self.staging[..len]);
    }
}

/// Serves the jobs that need an engine. The engine implements this; [`BuiltinHandler`] is the
/// stand-in until it lands.
pub trait JobHandler {
    /// Model formats this handler loads.
    fn formats(&self) -> Vec<ModelFormat>;
    /// Engine name and version.
    fn engine_name(&self) -> String;
    /// Private memory available for models, in bytes.
    fn memory_bytes(&self) -> u64;
    /// Largest model accepted, in bytes.
    fn max_model_size(&self) -> u64;
    /// Pulls (through `fetcher`), verifies and loads a model. Returns a diagnostic line.
    fn load_model(&mut self, fetcher: &mut ModelFetcher<'_>) -> Result<String, JobFailure>;
    /// Runs a loaded model.
    fn run(
        &mut self,
        model_id: u64,
        inputs: &[TensorView<'_>],
    ) -> Result<Vec<OwnedTensor>, JobFailure>;
    /// Forgets a model.
    fn unload(&mut self, model_id: u64) -> Result<(), JobFailure>;
}

/// The built-in handler: loads models of format `RAW` by streaming them through a private
/// staging buffer and checking their digest (no engine); `run` is unsupported.
pub struct BuiltinHandler {
    staging: Vec<u8>,
    models: BTreeMap<u64, (u64, [u8; 32])>,
    max_model_size: u64,
}

impl BuiltinHandler {
    /// A handler with a staging buffer of `chunk_size` bytes accepting models up to
    /// `max_model_size`.
    pub fn new(chunk_size: usize, max_model_size: u64) -> Self {
        BuiltinHandler {
            staging: vec![0; chunk_size],
            models: BTreeMap::new(),
            max_model_size,
        }
    }

    /// Size and verified digest of a loaded model.
    pub fn model(&self, id: u64) -> Option<(u64, [u8; 32])> {
        self.models.get(&id).copied()
    }
}

impl JobHandler for BuiltinHandler {
    fn formats(&self) -> Vec<ModelFormat> {
        vec![ModelFormat::RAW]
    }

    fn engine_name(&self) -> String {
        String::from("cerebro-builtin (echo, checksum, raw model digest)")
    }

    fn memory_bytes(&self) -> u64 {
        0
    }

    fn max_model_size(&self) -> u64 {
        self.max_model_size
    }

    fn load_model(&mut self, fetcher: &mut ModelFetcher<'_>) -> Result<String, JobFailure> {
        let req = *fetcher.request();
        if req.format != ModelFormat::RAW {
            return Err(JobFailure::new(
                Status::Unsupported,
                format!("format {} needs the engine", req.format.0),
            ));
        }
        if self.models.contains_key(&req.model_id) {
            return Err(JobFailure::new(Status::Busy, "model id already loaded"));
        }
        let mut received = 0u64;
        fetcher.fetch_streaming(&mut self.staging, &mut |_, b| received += b.len() as u64)?;
        if received != req.total_size {
            return Err(JobFailure::new(Status::Internal, "short transfer"));
        }
        self.models
            .insert(req.model_id, (req.total_size, req.digest));
        Ok(format!("{} bytes, sha256 verified", req.total_size))
    }

    fn run(
        &mut self,
        model_id: u64,
        _inputs: &[TensorView<'_>],
    ) -> Result<Vec<OwnedTensor>, JobFailure> {
        if !self.models.contains_key(&model_id) {
            return Err(JobFailure::new(Status::UnknownModel, "no such model"));
        }
        Err(JobFailure::new(
            Status::Unsupported,
            "no engine in this guest",
        ))
    }

    fn unload(&mut self, model_id: u64) -> Result<(), JobFailure> {
        self.models
            .remove(&model_id)
            .map(|_| ())
            .ok_or_else(|| JobFailure::new(Status::UnknownModel, "no such model"))
    }
}

fn send_tensors(
    driver: &mut Driver,
    id: u64,
    kind: Kind,
    outputs: &[TensorView<'_>],
) -> Result<(), DriverError> {
    let ok = JobResult {
        job_kind: kind,
        status: Status::Ok,
        detail: "",
        payload: ResultPayload::Tensors(Tensors::Views(outputs)),
    };
    match ok.encoded_len() {
        Some(l) if l <= driver.config().max_result_size as usize => driver.send_result(id, &ok),
        _ => driver.send_result(
            id,
            &JobResult::error(kind, Status::TooLarge, "result exceeds max_result_size"),
        ),
    }
}

fn send_failure(
    driver: &mut Driver,
    id: u64,
    kind: Kind,
    f: &JobFailure,
) -> Result<(), DriverError> {
    driver.send_result(id, &JobResult::error(kind, f.status, &f.detail))
}

/// Waits for one job (at most one `wait` timeout), serves it and posts its result.
/// Returns `Ok(false)` if no job arrived.
pub fn serve_one(driver: &mut Driver, handler: &mut dyn JobHandler) -> Result<bool, DriverError> {
    let Some(msg) = driver.next_job()? else {
        return Ok(false);
    };
    let (id, job) = match Job::decode(&msg) {
        Ok(j) => j,
        Err(e) => {
            // Answer if the header names a job; otherwise there is nobody to answer.
            if let Ok((h, _)) = MessageHeader::decode(&msg) {
                if h.kind.is_job() {
                    let detail = format!("malformed job: {e}");
                    driver.send_result(
                        h.job_id,
                        &JobResult::error(h.kind, Status::Malformed, &detail),
                    )?;
                }
            }
            return Ok(true);
        }
    };
    let kind = job.kind();
    match job {
        Job::Echo { payload } => {
            let out = TensorView::new(DType::U8, &[payload.len() as u64], "", payload);
            match out {
                Ok(t) => send_tensors(driver, id, kind, &[t])?,
                Err(_) => {
                    send_failure(driver, id, kind, &JobFailure::new(Status::Internal, "echo"))?
                }
            }
        }
        Job::Checksum { payload } => {
            let digest: [u8; 32] = Sha256::digest(payload).into();
            match TensorView::new(DType::U8, &[32], "sha256", &digest) {
                Ok(t) => send_tensors(driver, id, kind, &[t])?,
                Err(_) => send_failure(
                    driver,
                    id,
                    kind,
                    &JobFailure::new(Status::Internal, "checksum"),
                )?,
            }
        }
        Job::LoadModel(load) => {
            let res = if load.total_size > handler.max_model_size() {
                Err(JobFailure::new(
                    Status::TooLarge,
                    format!(
                        "model of {} bytes exceeds the guest limit of {}",
                        load.total_size,
                        handler.max_model_size()
                    ),
                ))
            } else {
                let mut fetcher = ModelFetcher {
                    driver,
                    job_id: id,
                    load,
                };
                handler.load_model(&mut fetcher)
            };
            match res {
                Ok(detail) => driver.send_result(
                    id,
                    &JobResult {
                        job_kind: kind,
                        status: Status::Ok,
                        detail: cerebro_spec::truncate_detail(&detail),
                        payload: ResultPayload::Empty,
                    },
                )?,
                Err(f) => send_failure(driver, id, kind, &f)?,
            }
        }
        Job::Run { model_id, inputs } => {
            let views: Vec<TensorView<'_>> = inputs.iter().collect();
            match handler.run(model_id, &views) {
                Ok(outputs) => {
                    let views: Result<Vec<TensorView<'_>>, _> = outputs
                        .iter()
                        .map(|t| TensorView::new(t.dtype, &t.dims, &t.name, &t.data))
                        .collect();
                    match views {
                        Ok(v) => send_tensors(driver, id, kind, &v)?,
                        Err(e) => send_failure(
                            driver,
                            id,
                            kind,
                            &JobFailure::new(Status::Internal, format!("bad output: {e}")),
                        )?,
                    }
                }
                Err(f) => send_failure(driver, id, kind, &f)?,
            }
        }
        Job::Unload { model_id } => match handler.unload(model_id) {
            Ok(()) => driver.send_result(
                id,
                &JobResult {
                    job_kind: kind,
                    status: Status::Ok,
                    detail: "",
                    payload: ResultPayload::Empty,
                },
            )?,
            Err(f) => send_failure(driver, id, kind, &f)?,
        },
        Job::Info => {
            let formats = handler.formats();
            let name = handler.engine_name();
            match InfoReply::new(
                ABI_VERSION,
                handler.memory_bytes(),
                handler.max_model_size(),
                &formats,
                &name,
            ) {
                Ok(info) => driver.send_result(
                    id,
                    &JobResult {
                        job_kind: kind,
                        status: Status::Ok,
                        detail: "",
                        payload: ResultPayload::Info(info),
                    },
                )?,
                Err(e) => send_failure(
                    driver,
                    id,
                    kind,
                    &JobFailure::new(Status::Internal, format!("info: {e}")),
                )?,
            }
        }
    }
    Ok(true)
}

//! Host-side job and reply types (owned, `Send`), and the per-job reply channel.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use cerebro_spec::{DType, InfoReply, ModelDigest, ModelFormat, Status, TensorView, WireError};

/// An owned tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub dims: Vec<u64>,
    /// Name (may be empty).
    pub name: String,
    /// Little-endian, row-major element data.
    pub data: Vec<u8>,
}

impl Tensor {
    /// Borrows this tensor as a wire view (validating rank, name and data length).
    pub fn view(&self) -> Result<TensorView<'_>, WireError> {
        TensorView::new(self.dtype, &self.dims, &self.name, &self.data)
    }

    /// Copies a wire view into an owned tensor.
    pub fn from_view(v: &TensorView<'_>) -> Tensor {
        Tensor {
            dtype: v.dtype,
            dims: v.dims.as_slice().to_vec(),
            name: v.name.to_owned(),
            data: v.data.to_vec(),
        }
    }
}

/// A job the host submits to the enclave.
#[derive(Debug, Clone)]
pub enum HostJob {
    /// Echo the bytes back (built-in, no engine).
    Echo(Vec<u8>),
    /// Return the SHA-256 of the bytes (built-in, no engine).
    Checksum(Vec<u8>),
    /// Transfer a model; the guest pulls it in chunks and checks its digest.
    LoadModel {
        /// Identifier chosen by the host.
        model_id: u64,
        /// Format hint.
        format: ModelFormat,
        /// The model bytes (kept by the device only until the job completes).
        bytes: Arc<[u8]>,
        /// The digest the guest must verify (e.g. from a signed manifest); `None`: the
        /// device computes the BLAKE3 of `bytes`.
        digest: Option<ModelDigest>,
        /// SavedModel signature to load (`None`: `serving_default`); at most
        /// [`MAX_SIGNATURE_LEN`](cerebro_spec::MAX_SIGNATURE_LEN) bytes.
        signature: Option<String>,
    },
    /// Run a loaded model.
    Run {
        /// Model to run.
        model_id: u64,
        /// Inputs in the model's order.
        inputs: Vec<Tensor>,
    },
    /// Forget a loaded model.
    Unload {
        /// Model to forget.
        model_id: u64,
    },
    /// Ask for engine and guest information.
    Info,
}

/// Owned copy of an info reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    /// ABI version implemented by the guest.
    pub abi_version: u32,
    /// Private guest memory available to models.
    pub memory_bytes: u64,
    /// Largest model the guest accepts.
    pub max_model_size: u64,
    /// Supported formats.
    pub formats: Vec<ModelFormat>,
    /// Engine name and version.
    pub engine_name: String,
}

impl EngineInfo {
    /// Copies a wire info reply.
    pub fn from_wire(i: &InfoReply<'_>) -> Self {
        EngineInfo {
            abi_version: i.abi_version,
            memory_bytes: i.memory_bytes,
            max_model_size: i.max_model_size,
            formats: i.formats().collect(),
            engine_name: i.engine_name.to_owned(),
        }
    }
}

/// Payload of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyPayload {
    /// No payload.
    Empty,
    /// Output tensors.
    Tensors(Vec<Tensor>),
    /// Engine information.
    Info(EngineInfo),
}

/// The guest's answer to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReply {
    /// Outcome reported by the guest.
    pub status: Status,
    /// Diagnostic text from the guest.
    pub detail: String,
    /// Payload (only when `status` is `Ok`).
    pub payload: ReplyPayload,
}

/// Why a job produced no reply from the guest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The encoded job exceeds the device's `max_job_size`.
    #[error("job message is {len} bytes, above the device limit of {max}")]
    JobTooLarge {
        /// Encoded length.
        len: u64,
        /// Limit.
        max: u64,
    },
    /// The model exceeds the device's `max_model_size`.
    #[error("model is {len} bytes, above the limit of {max}")]
    ModelTooLarge {
        /// Model size.
        len: u64,
        /// Limit.
        max: u64,
    },
    /// The job could not be encoded (bad tensor shape, too many tensors, ...).
    #[error("job cannot be encoded: {0}")]
    Encode(WireError),
    /// The guest posted a result for this job that does not decode.
    #[error("malformed result from the guest: {0}")]
    MalformedResult(WireError),
    /// The device was reset, or the job was cancelled, before the guest answered.
    #[error("job cancelled by a device reset")]
    Cancelled,
    /// The device is shutting down.
    #[error("device is shut down")]
    Shutdown,
    /// No reply arrived in time.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
}

/// Outcome delivered on a job's reply channel.
pub type JobOutcome = Result<JobReply, JobError>;

/// A submitted job: its id and the channel its single outcome arrives on.
#[derive(Debug)]
pub struct JobTicket {
    pub(crate) id: u64,
    pub(crate) rx: mpsc::Receiver<JobOutcome>,
}

impl JobTicket {
    /// The device-assigned job id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Waits for the outcome.
    pub fn wait(self) -> JobOutcome {
        self.rx.recv().unwrap_or(Err(JobError::Shutdown))
    }

    /// Waits for the outcome at most `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> JobOutcome {
        match self.rx.recv_timeout(timeout) {
            Ok(o) => o,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(JobError::Timeout(timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(JobError::Shutdown),
        }
    }

    /// Returns the outcome if it has arrived.
    pub fn try_wait(&self) -> Option<JobOutcome> {
        match self.rx.try_recv() {
            Ok(o) => Some(o),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err(JobError::Shutdown)),
        }
    }
}

//! Messages: the common header, jobs (job queue), results (result queue) and chunk
//! requests/responses (chunk queue).

use core::fmt;

use crate::tensor::{TensorList, TensorView};
use crate::wire::{pad8, Reader, WireError, Writer};

/// Bytes of the common message header.
pub const HEADER_LEN: usize = 16;
/// Longest diagnostic text of a result, in bytes.
pub const MAX_DETAIL_LEN: usize = 1024;
/// Most model formats an info reply may list.
pub const MAX_FORMATS: usize = 16;
/// Longest engine name of an info reply, in bytes.
pub const MAX_ENGINE_NAME_LEN: usize = 256;
/// Bytes of a chunk request body.
pub const CHUNK_REQUEST_BODY_LEN: usize = 24;
/// Bytes of a complete chunk request message.
pub const CHUNK_REQUEST_LEN: usize = HEADER_LEN + CHUNK_REQUEST_BODY_LEN;
/// Bytes of a chunk response before its data.
pub const CHUNK_RESPONSE_HEADER_LEN: usize = HEADER_LEN + 32;
/// Bytes of a load-model job body without a signature name.
pub const LOAD_MODEL_BODY_LEN: usize = 56;
/// Longest SavedModel signature name a load-model job carries, in bytes.
pub const MAX_SIGNATURE_LEN: usize = 128;
/// Bytes of a result body before the diagnostic text.
const RESULT_FIXED: usize = 16;

/// Message kinds (the `kind` field of the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Kind {
    /// Job: return the payload unchanged.
    Echo = 0x0001,
    /// Job: return the SHA-256 digest of the payload.
    Checksum = 0x0002,
    /// Job: pull a model through the chunk queue into private memory, verify, load.
    LoadModel = 0x0003,
    /// Job: run a loaded model on input tensors.
    Run = 0x0004,
    /// Job: forget a loaded model.
    Unload = 0x0005,
    /// Job: describe the engine and the guest.
    Info = 0x0006,
    /// Result of a job (result queue).
    Result = 0x0101,
    /// Request for a range of model bytes (chunk queue, device-readable).
    ChunkRequest = 0x0201,
    /// Response to a chunk request (chunk queue, device-writable).
    ChunkResponse = 0x0202,
}

impl Kind {
    /// Decodes a wire code.
    pub fn from_code(code: u16) -> Result<Kind, WireError> {
        Ok(match code {
            0x0001 => Kind::Echo,
            0x0002 => Kind::Checksum,
            0x0003 => Kind::LoadModel,
            0x0004 => Kind::Run,
            0x0005 => Kind::Unload,
            0x0006 => Kind::Info,
            0x0101 => Kind::Result,
            0x0201 => Kind::ChunkRequest,
            0x0202 => Kind::ChunkResponse,
            other => return Err(WireError::UnknownKind(other)),
        })
    }

    /// True for the kinds carried by the job queue.
    pub fn is_job(self) -> bool {
        (self as u16) < 0x0100
    }
}

/// Status of a result or chunk response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// A message or buffer was malformed.
    Malformed = 1,
    /// A length exceeds a limit.
    TooLarge = 2,
    /// No model with this id is loaded (or being loaded).
    UnknownModel = 3,
    /// The job kind or model format is not supported.
    Unsupported = 4,
    /// The model bytes do not match the announced digest.
    DigestMismatch = 5,
    /// The guest has no memory left for this model or job.
    OutOfMemory = 6,
    /// The engine failed while executing.
    EngineError = 7,
    /// Inputs do not match the model (count, dtype, shape).
    BadInput = 8,
    /// Internal error of the responder.
    Internal = 9,
    /// A chunk request lies outside the model.
    OutOfRange = 10,
    /// The model file is malformed or uses something the engine cannot run.
    BadModel = 11,
    /// The job was cancelled (device reset or shutdown).
    Cancelled = 12,
    /// A model with this id is already loaded or loading.
    Busy = 13,
    /// The job outran its deadline: the host stopped the guest serving it (set by the host on
    /// the guest's behalf; a guest never sends it).
    DeadlineExceeded = 14,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Status; 15] = [
        Status::Ok,
        Status::Malformed,
        Status::TooLarge,
        Status::UnknownModel,
        Status::Unsupported,
        Status::DigestMismatch,
        Status::OutOfMemory,
        Status::EngineError,
        Status::BadInput,
        Status::Internal,
        Status::OutOfRange,
        Status::BadModel,
        Status::Cancelled,
        Status::Busy,
        Status::DeadlineExceeded,
    ];

    /// Decodes a wire code.
    pub fn from_code(code: u32) -> Result<Status, WireError> {
        Status::ALL
            .iter()
            .copied()
            .find(|s| *s as u32 == code)
            .ok_or(WireError::UnknownStatus(code))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Status::Ok => "ok",
            Status::Malformed => "malformed message",
            Status::TooLarge => "too large",
            Status::UnknownModel => "unknown model",
            Status::Unsupported => "unsupported",
            Status::DigestMismatch => "digest mismatch",
            Status::OutOfMemory => "out of memory",
            Status::EngineError => "engine error",
            Status::BadInput => "bad input",
            Status::Internal => "internal error",
            Status::OutOfRange => "out of range",
            Status::BadModel => "bad model",
            Status::Cancelled => "cancelled",
            Status::Busy => "busy",
            Status::DeadlineExceeded => "deadline exceeded",
        };
        f.write_str(s)
    }
}

/// Model format hint carried by a load-model job. Unknown values are passed through; the guest
/// answers `Unsupported` for formats it does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelFormat(pub u32);

impl ModelFormat {
    /// Let the guest detect the format from the content.
    pub const AUTO: ModelFormat = ModelFormat(0);
    /// TFLite flatbuffer.
    pub const TFLITE: ModelFormat = ModelFormat(1);
    /// TensorFlow SavedModel (directory packed by the host).
    pub const SAVED_MODEL: ModelFormat = ModelFormat(2);
    /// Frozen TensorFlow GraphDef.
    pub const GRAPH_DEF: ModelFormat = ModelFormat(3);
    /// StableHLO MLIR text.
    pub const STABLEHLO_TEXT: ModelFormat = ModelFormat(4);
    /// `jax.export` serialized blob.
    pub const JAX_EXPORT: ModelFormat = ModelFormat(5);
    /// MLIR bytecode (StableHLO portable artifact).
    pub const MLIR_BYTECODE: ModelFormat = ModelFormat(6);
    /// Flax: exported function plus msgpack parameters, packed by the host.
    pub const FLAX: ModelFormat = ModelFormat(7);
    /// Raw bytes for the built-in digest job (no engine involved).
    pub const RAW: ModelFormat = ModelFormat(0xffff_0000);
}

/// Digest algorithm of a load-model job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum DigestAlgorithm {
    /// SHA-256 (FIPS 180-4), 32 bytes.
    Sha256 = 1,
    /// BLAKE3, 32 bytes (the default output length); about 2.5 times SHA-256 (with SHA-NI)
    /// per core here. What the device uses for the digests it computes.
    Blake3 = 2,
}

impl DigestAlgorithm {
    /// Decodes a wire code.
    pub fn from_code(code: u32) -> Result<Self, WireError> {
        match code {
            1 => Ok(DigestAlgorithm::Sha256),
            2 => Ok(DigestAlgorithm::Blake3),
            other => Err(WireError::UnknownDigestAlgorithm(other)),
        }
    }
}

/// The 16-byte header that starts every message.
///
/// ```text
/// 0  le16 kind
/// 2  le16 reserved (0)
/// 4  le32 body_len   bytes of body following the header
/// 8  le64 job_id     chosen by the device; echoed in results and chunk messages
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    /// Message kind.
    pub kind: Kind,
    /// Bytes of body following the header.
    pub body_len: u32,
    /// Job this message belongs to.
    pub job_id: u64,
}

impl MessageHeader {
    /// Decodes the header at the start of `buf` and returns it with its body. Bytes after the
    /// body are ignored (buffers may be larger than the message they carry).
    pub fn decode(buf: &[u8]) -> Result<(MessageHeader, &[u8]), WireError> {
        let mut r = Reader::new(buf);
        let kind = Kind::from_code(r.u16()?)?;
        r.reserved16()?;
        let body_len = r.u32()?;
        let job_id = r.u64()?;
        let body = r.bytes(body_len as usize)?;
        Ok((
            MessageHeader {
                kind,
                body_len,
                job_id,
            },
            body,
        ))
    }

    fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.u16(self.kind as u16)?;
        w.u16(0)?;
        w.u32(self.body_len)?;
        w.u64(self.job_id)
    }
}

/// Writes a header for a body of `body_len` bytes, then the body through `f`, checking that
/// `f` wrote exactly `body_len` bytes. Returns the message length.
fn encode_message(
    kind: Kind,
    job_id: u64,
    body_len: usize,
    out: &mut [u8],
    f: impl FnOnce(&mut Writer<'_>) -> Result<(), WireError>,
) -> Result<usize, WireError> {
    let total = HEADER_LEN
        .checked_add(body_len)
        .ok_or(WireError::BufferTooSmall { need: usize::MAX })?;
    let body_len = u32::try_from(body_len).map_err(|_| WireError::TooLarge {
        what: "message body",
        len: body_len as u64,
        max: u32::MAX as u64,
    })?;
    if out.len() < total {
        return Err(WireError::BufferTooSmall { need: total });
    }
    let mut w = Writer::new(&mut out[..total]);
    MessageHeader {
        kind,
        body_len,
        job_id,
    }
    .encode(&mut w)?;
    f(&mut w)?;
    debug_assert_eq!(w.position(), total);
    if w.position() != total {
        return Err(WireError::BufferTooSmall { need: total });
    }
    Ok(total)
}

/// A set of tensors: either decoded from the wire or borrowed views to encode.
#[derive(Debug, Clone, Copy)]
pub enum Tensors<'a> {
    /// A validated list decoded from a buffer.
    Decoded(TensorList<'a>),
    /// Tensors to encode.
    Views(&'a [TensorView<'a>]),
}

impl<'a> Tensors<'a> {
    /// Number of tensors.
    pub fn len(&self) -> usize {
        match self {
            Tensors::Decoded(l) => l.len(),
            Tensors::Views(v) => v.len(),
        }
    }

    /// True if there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Iterates over the tensors.
    pub fn iter(&self) -> impl Iterator<Item = TensorView<'a>> + 'a {
        let (a, b) = match *self {
            Tensors::Decoded(l) => (Some(l.iter()), None),
            Tensors::Views(v) => (None, Some(v.iter().copied())),
        };
        a.into_iter().flatten().chain(b.into_iter().flatten())
    }

    fn encoded_len(&self) -> Option<usize> {
        self.iter()
            .try_fold(8usize, |acc, t| acc.checked_add(t.encoded_len()?))
    }

    fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        match self {
            Tensors::Views(v) => TensorList::encode(v, w),
            Tensors::Decoded(l) => {
                w.u32(l.len() as u32)?;
                w.u32(0)?;
                for t in l.iter() {
                    t.encode(w)?;
                }
                Ok(())
            }
        }
    }
}

impl PartialEq for Tensors<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// A SavedModel signature name carried by a load-model job: UTF-8, 1..=[`MAX_SIGNATURE_LEN`]
/// bytes, stored inline so [`LoadModel`] stays `Copy` and borrows nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignatureName {
    len: u8,
    bytes: [u8; MAX_SIGNATURE_LEN],
}

impl SignatureName {
    /// The name `name`; fails if it is empty or longer than [`MAX_SIGNATURE_LEN`] bytes.
    pub fn new(name: &str) -> Result<Self, WireError> {
        if name.is_empty() || name.len() > MAX_SIGNATURE_LEN {
            return Err(WireError::TooLarge {
                what: "signature name",
                len: name.len() as u64,
                max: MAX_SIGNATURE_LEN as u64,
            });
        }
        let mut bytes = [0u8; MAX_SIGNATURE_LEN];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Ok(SignatureName {
            len: name.len() as u8,
            bytes,
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // `new` and `decode` only store whole UTF-8 strings.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Debug for SignatureName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Body of a load-model job: 56 bytes, then an optional SavedModel signature name.
///
/// ```text
/// 0   le64 model_id
/// 8   le64 total_size     bytes of the model, <= max_model_size
/// 16  le32 format         ModelFormat hint
/// 20  le32 digest_alg     DigestAlgorithm
/// 24  u8   digest[32]
/// -- present only when the body is longer than 56 bytes:
/// 56  le16 signature_len  1..=MAX_SIGNATURE_LEN
/// 58  u8   reserved[6]    0
/// 64  u8   signature[signature_len] (UTF-8), zero padding to a multiple of 8
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadModel {
    /// Identifier the host chose for the model.
    pub model_id: u64,
    /// Size of the model in bytes.
    pub total_size: u64,
    /// Format hint.
    pub format: ModelFormat,
    /// Digest algorithm.
    pub digest_alg: DigestAlgorithm,
    /// Digest of the whole model.
    pub digest: [u8; 32],
    /// SavedModel signature to load (`None`: the format's default, `serving_default`).
    pub signature: Option<SignatureName>,
}

impl LoadModel {
    fn body_len(&self) -> usize {
        match &self.signature {
            None => LOAD_MODEL_BODY_LEN,
            Some(s) => LOAD_MODEL_BODY_LEN + 8 + (s.len as usize).next_multiple_of(8),
        }
    }

    fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.u64(self.model_id)?;
        w.u64(self.total_size)?;
        w.u32(self.format.0)?;
        w.u32(self.digest_alg as u32)?;
        w.bytes(&self.digest)?;
        if let Some(s) = &self.signature {
            w.u16(u16::from(s.len))?;
            w.bytes(&[0; 6])?;
            w.bytes(s.as_str().as_bytes())?;
            w.align8()?;
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let model_id = r.u64()?;
        let total_size = r.u64()?;
        let format = ModelFormat(r.u32()?);
        let digest_alg = DigestAlgorithm::from_code(r.u32()?)?;
        let digest = r.digest()?;
        let signature = if r.remaining() == 0 {
            None
        } else {
            let len = r.u16()? as usize;
            if len == 0 || len > MAX_SIGNATURE_LEN {
                return Err(WireError::TooLarge {
                    what: "signature name",
                    len: len as u64,
                    max: MAX_SIGNATURE_LEN as u64,
                });
            }
            if r.bytes(6)?.iter().any(|&b| b != 0) {
                return Err(WireError::ReservedNotZero);
            }
            let name = core::str::from_utf8(r.bytes(len)?).map_err(|_| WireError::NotUtf8)?;
            r.align8()?;
            Some(SignatureName::new(name)?)
        };
        r.finish()?;
        Ok(LoadModel {
            model_id,
            total_size,
            format,
            digest_alg,
            digest,
            signature,
        })
    }
}

/// A job as carried by the job queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Job<'a> {
    /// Return `payload` unchanged as one `U8` tensor.
    Echo {
        /// Bytes to echo.
        payload: &'a [u8],
    },
    /// Return the SHA-256 of `payload` as one `U8[32]` tensor.
    Checksum {
        /// Bytes to digest.
        payload: &'a [u8],
    },
    /// Pull, verify and load a model.
    LoadModel(LoadModel),
    /// Run a model.
    Run {
        /// The model to run.
        model_id: u64,
        /// Inputs in the model's order.
        inputs: Tensors<'a>,
    },
    /// Forget a model.
    Unload {
        /// The model to forget.
        model_id: u64,
    },
    /// Describe the engine and the guest.
    Info,
}

impl<'a> Job<'a> {
    /// The message kind of this job.
    pub fn kind(&self) -> Kind {
        match self {
            Job::Echo { .. } => Kind::Echo,
            Job::Checksum { .. } => Kind::Checksum,
            Job::LoadModel(_) => Kind::LoadModel,
            Job::Run { .. } => Kind::Run,
            Job::Unload { .. } => Kind::Unload,
            Job::Info => Kind::Info,
        }
    }

    fn body_len(&self) -> Option<usize> {
        match self {
            Job::Echo { payload } | Job::Checksum { payload } => Some(payload.len()),
            Job::LoadModel(l) => Some(l.body_len()),
            Job::Run { inputs, .. } => inputs.encoded_len()?.checked_add(8),
            Job::Unload { .. } => Some(8),
            Job::Info => Some(0),
        }
    }

    /// Bytes of the complete message, `None` on overflow.
    pub fn encoded_len(&self) -> Option<usize> {
        HEADER_LEN.checked_add(self.body_len()?)
    }

    /// Encodes this job with `job_id` into `out`; returns the message length.
    pub fn encode(&self, job_id: u64, out: &mut [u8]) -> Result<usize, WireError> {
        let body_len = self
            .body_len()
            .ok_or(WireError::BufferTooSmall { need: usize::MAX })?;
        encode_message(self.kind(), job_id, body_len, out, |w| match self {
            Job::Echo { payload } | Job::Checksum { payload } => w.bytes(payload),
            Job::LoadModel(l) => l.encode(w),
            Job::Run { model_id, inputs } => {
                w.u64(*model_id)?;
                inputs.encode(w)
            }
            Job::Unload { model_id } => w.u64(*model_id),
            Job::Info => Ok(()),
        })
    }

    /// Decodes a job message at the start of `buf`; returns its job id and the job.
    pub fn decode(buf: &'a [u8]) -> Result<(u64, Job<'a>), WireError> {
        let (h, body) = MessageHeader::decode(buf)?;
        let mut r = Reader::new(body);
        let job = match h.kind {
            Kind::Echo => Job::Echo { payload: body },
            Kind::Checksum => Job::Checksum { payload: body },
            Kind::LoadModel => Job::LoadModel(LoadModel::decode(&mut r)?),
            Kind::Run => {
                let model_id = r.u64()?;
                let inputs = TensorList::decode(&body[8..])?;
                Job::Run {
                    model_id,
                    inputs: Tensors::Decoded(inputs),
                }
            }
            Kind::Unload => {
                let model_id = r.u64()?;
                r.finish()?;
                Job::Unload { model_id }
            }
            Kind::Info => {
                r.finish()?;
                Job::Info
            }
            other => return Err(WireError::UnexpectedKind(other as u16)),
        };
        Ok((h.job_id, job))
    }
}

/// Engine and guest description returned by an info job.
///
/// ```text
/// 0   le32 abi_version
/// 4   le16 format_count    <= MAX_FORMATS
/// 6   le16 name_len        <= MAX_ENGINE_NAME_LEN
/// 8   le64 memory_bytes    guest private memory available for models
/// 16  le64 max_model_size  largest model the guest accepts
/// 24  le32 formats[format_count], zero padding to a multiple of 8
/// ..  u8   engine_name[name_len] (UTF-8), zero padding to a multiple of 8
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoReply<'a> {
    /// ABI version the guest implements.
    pub abi_version: u32,
    /// Private memory the guest can give to models.
    pub memory_bytes: u64,
    /// Largest model the guest accepts.
    pub max_model_size: u64,
    format_count: u8,
    formats: [u32; MAX_FORMATS],
    /// Engine name and version.
    pub engine_name: &'a str,
}

impl<'a> InfoReply<'a> {
    /// Builds an info reply; fails if there are too many formats or the name is too long.
    pub fn new(
        abi_version: u32,
        memory_bytes: u64,
        max_model_size: u64,
        formats: &[ModelFormat],
        engine_name: &'a str,
    ) -> Result<Self, WireError> {
        if formats.len() > MAX_FORMATS {
            return Err(WireError::TooLarge {
                what: "format count",
                len: formats.len() as u64,
                max: MAX_FORMATS as u64,
            });
        }
        if engine_name.len() > MAX_ENGINE_NAME_LEN {
            return Err(WireError::TooLarge {
                what: "engine name",
                len: engine_name.len() as u64,
                max: MAX_ENGINE_NAME_LEN as u64,
            });
        }
        let mut f = [0u32; MAX_FORMATS];
        for (d, s) in f.iter_mut().zip(formats) {
            *d = s.0;
        }
        Ok(InfoReply {
            abi_version,
            memory_bytes,
            max_model_size,
            format_count: formats.len() as u8,
            formats: f,
            engine_name,
        })
    }

    /// Supported model formats.
    pub fn formats(&self) -> impl Iterator<Item = ModelFormat> + '_ {
        self.formats[..self.format_count as usize]
            .iter()
            .map(|&c| ModelFormat(c))
    }

    fn encoded_len(&self) -> usize {
        24 + (4 * self.format_count as usize).next_multiple_of(8)
            + self.engine_name.len().next_multiple_of(8)
    }

    fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.u32(self.abi_version)?;
        w.u16(self.format_count as u16)?;
        w.u16(self.engine_name.len() as u16)?;
        w.u64(self.memory_bytes)?;
        w.u64(self.max_model_size)?;
        for f in self.formats() {
            w.u32(f.0)?;
        }
        w.align8()?;
        w.bytes(self.engine_name.as_bytes())?;
        w.align8()
    }

    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let abi_version = r.u32()?;
        let format_count = r.u16()? as usize;
        if format_count > MAX_FORMATS {
            return Err(WireError::TooLarge {
                what: "format count",
                len: format_count as u64,
                max: MAX_FORMATS as u64,
            });
        }
        let name_len = r.u16()? as usize;
        if name_len > MAX_ENGINE_NAME_LEN {
            return Err(WireError::TooLarge {
                what: "engine name",
                len: name_len as u64,
                max: MAX_ENGINE_NAME_LEN as u64,
            });
        }
        let memory_bytes = r.u64()?;
        let max_model_size = r.u64()?;
        let mut formats = [0u32; MAX_FORMATS];
        for f in formats.iter_mut().take(format_count) {
            *f = r.u32()?;
        }
        r.align8()?;
        let engine_name =
            core::str::from_utf8(r.bytes(name_len)?).map_err(|_| WireError::NotUtf8)?;
        r.align8()?;
        Ok(InfoReply {
            abi_version,
            memory_bytes,
            max_model_size,
            format_count: format_count as u8,
            formats,
            engine_name,
        })
    }
}

/// Kind-specific payload of a successful result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ResultPayload<'a> {
    /// No payload: load-model, unload, and every failed job.
    Empty,
    /// Output tensors: echo, checksum, run.
    Tensors(Tensors<'a>),
    /// Info reply.
    Info(InfoReply<'a>),
}

/// `detail` cut to at most [`MAX_DETAIL_LEN`] bytes, at a char boundary so the cut never splits a
/// character.
pub fn truncate_detail(detail: &str) -> &str {
    let mut end = detail.len().min(MAX_DETAIL_LEN);
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    &detail[..end]
}

/// A result message (result queue).
///
/// ```text
/// header: kind = Result, job_id = the job's id
/// 0   le16 job_kind     kind of the job this answers
/// 2   le16 reserved     0
/// 4   le32 status       Status
/// 8   le32 detail_len   <= MAX_DETAIL_LEN
/// 12  le32 reserved     0
/// 16  u8   detail[detail_len] (UTF-8 diagnostic), zero padding to a multiple of 8
/// ..  payload: status Ok → echo/checksum/run: tensor list; info: InfoReply;
///              load-model/unload: nothing. status != Ok → nothing.
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobResult<'a> {
    /// Kind of the job this result answers.
    pub job_kind: Kind,
    /// Outcome.
    pub status: Status,
    /// Human-readable diagnostic (mostly for errors; may be empty).
    pub detail: &'a str,
    /// Payload (only with `Status::Ok`).
    pub payload: ResultPayload<'a>,
}

impl<'a> JobResult<'a> {
    /// An error result with a diagnostic (truncated to [`MAX_DETAIL_LEN`] at a char boundary).
    pub fn error(job_kind: Kind, status: Status, detail: &'a str) -> Self {
        JobResult {
            job_kind,
            status,
            detail: truncate_detail(detail),
            payload: ResultPayload::Empty,
        }
    }

    fn check(&self) -> Result<(), WireError> {
        if !self.job_kind.is_job() {
            return Err(WireError::UnexpectedKind(self.job_kind as u16));
        }
        if self.detail.len() > MAX_DETAIL_LEN {
            return Err(WireError::TooLarge {
                what: "result detail",
                len: self.detail.len() as u64,
                max: MAX_DETAIL_LEN as u64,
            });
        }
        let ok = match (self.status, self.job_kind, &self.payload) {
            (Status::Ok, Kind::Echo | Kind::Checksum | Kind::Run, ResultPayload::Tensors(_)) => {
                true
            }
            (Status::Ok, Kind::Info, ResultPayload::Info(_)) => true,
            (Status::Ok, Kind::LoadModel | Kind::Unload, ResultPayload::Empty) => true,
            (Status::Ok, _, _) => false,
            (_, _, ResultPayload::Empty) => true,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(WireError::InconsistentStatus)
        }
    }

    fn body_len(&self) -> Option<usize> {
        let payload = match &self.payload {
            ResultPayload::Empty => 0,
            ResultPayload::Tensors(t) => t.encoded_len()?,
            ResultPayload::Info(i) => i.encoded_len(),
        };
        RESULT_FIXED
            .checked_add(pad8(self.detail.len())?)?
            .checked_add(payload)
    }

    /// Bytes of the complete message, `None` on overflow.
    pub fn encoded_len(&self) -> Option<usize> {
        HEADER_LEN.checked_add(self.body_len()?)
    }

    /// Encodes this result for `job_id` into `out`; returns the message length.
    pub fn encode(&self, job_id: u64, out: &mut [u8]) -> Result<usize, WireError> {
        self.check()?;
        let body_len = self
            .body_len()
            .ok_or(WireError::BufferTooSmall { need: usize::MAX })?;
        encode_message(Kind::Result, job_id, body_len, out, |w| {
            w.u16(self.job_kind as u16)?;
            w.u16(0)?;
            w.u32(self.status as u32)?;
            w.u32(self.detail.len() as u32)?;
            w.u32(0)?;
            w.bytes(self.detail.as_bytes())?;
            w.align8()?;
            match &self.payload {
                ResultPayload::Empty => Ok(()),
                ResultPayload::Tensors(t) => t.encode(w),
                ResultPayload::Info(i) => i.encode(w),
            }
        })
    }

    /// Decodes a result message at the start of `buf`; returns its job id and the result.
    pub fn decode(buf: &'a [u8]) -> Result<(u64, JobResult<'a>), WireError> {
        let (h, body) = MessageHeader::decode(buf)?;
        if h.kind != Kind::Result {
            return Err(WireError::UnexpectedKind(h.kind as u16));
        }
        let mut r = Reader::new(body);
        let job_kind = Kind::from_code(r.u16()?)?;
        if !job_kind.is_job() {
            return Err(WireError::UnexpectedKind(job_kind as u16));
        }
        r.reserved16()?;
        let status = Status::from_code(r.u32()?)?;
        let detail_len = r.u32()? as usize;
        if detail_len > MAX_DETAIL_LEN {
            return Err(WireError::TooLarge {
                what: "result detail",
                len: detail_len as u64,
                max: MAX_DETAIL_LEN as u64,
            });
        }
        r.reserved32()?;
        let detail = core::str::from_utf8(r.bytes(detail_len)?).map_err(|_| WireError::NotUtf8)?;
        r.align8()?;
        let payload = match (status, job_kind) {
            (Status::Ok, Kind::Echo | Kind::Checksum | Kind::Run) => {
                let rest = r.bytes(r.remaining())?;
                ResultPayload::Tensors(Tensors::Decoded(TensorList::decode(rest)?))
            }
            (Status::Ok, Kind::Info) => ResultPayload::Info(InfoReply::decode(&mut r)?),
            _ => ResultPayload::Empty,
        };
        r.finish()?;
        Ok((
            h.job_id,
            JobResult {
                job_kind,
                status,
                detail,
                payload,
            },
        ))
    }
}

/// A request for a range of model bytes (device-readable part of a chunk-queue chain).
///
/// ```text
/// header: kind = ChunkRequest, body_len = 24, job_id = the load-model job's id
/// 0   le64 model_id
/// 8   le64 offset     byte offset in the model
/// 16  le32 length     bytes wanted, 1..=max_chunk_size
/// 20  le32 reserved   0
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRequest {
    /// The load-model job this request serves.
    pub job_id: u64,
    /// Model being loaded.
    pub model_id: u64,
    /// Byte offset in the model.
    pub offset: u64,
    /// Bytes wanted.
    pub length: u32,
}

impl ChunkRequest {
    /// Encodes the request (always [`CHUNK_REQUEST_LEN`] bytes).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        encode_message(
            Kind::ChunkRequest,
            self.job_id,
            CHUNK_REQUEST_BODY_LEN,
            out,
            |w| {
                w.u64(self.model_id)?;
                w.u64(self.offset)?;
                w.u32(self.length)?;
                w.u32(0)
            },
        )
    }

    /// Decodes a request; the message must fill `buf` exactly.
    pub fn decode(buf: &[u8]) -> Result<ChunkRequest, WireError> {
        let (h, body) = MessageHeader::decode(buf)?;
        if h.kind != Kind::ChunkRequest {
            return Err(WireError::UnexpectedKind(h.kind as u16));
        }
        if buf.len() != CHUNK_REQUEST_LEN {
            return Err(WireError::TrailingBytes);
        }
        let mut r = Reader::new(body);
        let model_id = r.u64()?;
        let offset = r.u64()?;
        let length = r.u32()?;
        r.reserved32()?;
        r.finish()?;
        Ok(ChunkRequest {
            job_id: h.job_id,
            model_id,
            offset,
            length,
        })
    }
}

/// The response to a chunk request (start of the device-writable part of the chain), followed
/// directly by `length` data bytes.
///
/// ```text
/// header: kind = ChunkResponse, body_len = 32 + length, job_id = the request's job_id
/// 0   le32 status     Ok, OutOfRange, UnknownModel, TooLarge or Malformed
/// 4   le32 reserved   0
/// 8   le64 model_id   echoed
/// 16  le64 offset     echoed
/// 24  le32 length     data bytes that follow (0 unless status is Ok)
/// 28  le32 reserved   0
/// 32  u8   data[length]
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkResponse {
    /// Job id of the request.
    pub job_id: u64,
    /// Outcome.
    pub status: Status,
    /// Model id of the request.
    pub model_id: u64,
    /// Offset of the request.
    pub offset: u64,
    /// Data bytes following the response header.
    pub length: u32,
}

impl ChunkResponse {
    /// Encodes the response header into `out` (which must hold at least
    /// [`CHUNK_RESPONSE_HEADER_LEN`] bytes); the caller places `length` data bytes right after.
    pub fn encode_header(&self, out: &mut [u8]) -> Result<usize, WireError> {
        if self.status != Status::Ok && self.length != 0 {
            return Err(WireError::InconsistentStatus);
        }
        let need = CHUNK_RESPONSE_HEADER_LEN;
        if out.len() < need {
            return Err(WireError::BufferTooSmall { need });
        }
        let mut w = Writer::new(&mut out[..need]);
        MessageHeader {
            kind: Kind::ChunkResponse,
            body_len: 32u32
                .checked_add(self.length)
                .ok_or(WireError::ShapeOverflow)?,
            job_id: self.job_id,
        }
        .encode(&mut w)?;
        w.u32(self.status as u32)?;
        w.u32(0)?;
        w.u64(self.model_id)?;
        w.u64(self.offset)?;
        w.u32(self.length)?;
        w.u32(0)?;
        Ok(need)
    }

    /// Decodes the fixed response header (the first [`CHUNK_RESPONSE_HEADER_LEN`] bytes);
    /// the `length` data bytes follow it.
    pub fn decode_header(hdr: &[u8]) -> Result<ChunkResponse, WireError> {
        let hdr = hdr
            .get(..CHUNK_RESPONSE_HEADER_LEN)
            .ok_or(WireError::Truncated {
                offset: 0,
                need: CHUNK_RESPONSE_HEADER_LEN,
            })?;
        let mut r = Reader::new(hdr);
        let kind = Kind::from_code(r.u16()?)?;
        if kind != Kind::ChunkResponse {
            return Err(WireError::UnexpectedKind(kind as u16));
        }
        r.reserved16()?;
        let body_len = r.u32()?;
        let job_id = r.u64()?;
        let status = Status::from_code(r.u32()?)?;
        r.reserved32()?;
        let model_id = r.u64()?;
        let offset = r.u64()?;
        let length = r.u32()?;
        r.reserved32()?;
        if status != Status::Ok && length != 0 {
            return Err(WireError::InconsistentStatus);
        }
        if u64::from(body_len) != 32 + u64::from(length) {
            return Err(WireError::TrailingBytes);
        }
        Ok(ChunkResponse {
            job_id,
            status,
            model_id,
            offset,
            length,
        })
    }

    /// Decodes a response and returns it with its data; bytes after the data are ignored.
    pub fn decode(buf: &[u8]) -> Result<(ChunkResponse, &[u8]), WireError> {
        let resp = ChunkResponse::decode_header(buf)?;
        let end = CHUNK_RESPONSE_HEADER_LEN + resp.length as usize;
        let data = buf
            .get(CHUNK_RESPONSE_HEADER_LEN..end)
            .ok_or(WireError::Truncated {
                offset: CHUNK_RESPONSE_HEADER_LEN,
                need: resp.length as usize,
            })?;
        Ok((resp, data))
    }
}

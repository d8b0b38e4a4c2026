//! Errors of the TensorFlow reader.

use alloc::string::String;
use core::fmt;

/// Everything that can go wrong while reading a SavedModel, a GraphDef or a TensorBundle.
///
/// Model files are untrusted: every malformed input maps to one of these, never to a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A protobuf message could not be decoded.
    Protobuf {
        /// Which message.
        message: &'static str,
        /// The decoder's explanation.
        detail: String,
    },
    /// The SSTable index file is malformed.
    Table(String),
    /// A TensorBundle header, entry or shard is malformed.
    Bundle(String),
    /// A checksum does not match.
    Checksum {
        /// What was checked.
        what: String,
        /// Checksum stored in the file.
        stored: u32,
        /// Checksum of the bytes.
        computed: u32,
    },
    /// A tensor is malformed (shape, size or content).
    Tensor(String),
    /// The graph structure is malformed (dangling input, cycle, bad reference).
    Graph(String),
    /// A requested MetaGraph, signature or name does not exist.
    NotFound(String),
    /// A valid construct this reader does not support.
    Unsupported(String),
    /// A size limit was exceeded.
    Limit(String),
    /// The archive holding the SavedModel directory is malformed.
    Archive(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protobuf { message, detail } => {
                write!(f, "malformed protobuf {message}: {detail}")
            }
            Error::Table(s) => write!(f, "malformed SSTable: {s}"),
            Error::Bundle(s) => write!(f, "malformed tensor bundle: {s}"),
            Error::Checksum {
                what,
                stored,
                computed,
            } => write!(
                f,
                "crc32c mismatch in {what}: stored {stored:#010x}, computed {computed:#010x}"
            ),
            Error::Tensor(s) => write!(f, "malformed tensor: {s}"),
            Error::Graph(s) => write!(f, "malformed graph: {s}"),
            Error::NotFound(s) => write!(f, "not found: {s}"),
            Error::Unsupported(s) => write!(f, "unsupported: {s}"),
            Error::Limit(s) => write!(f, "limit exceeded: {s}"),
            Error::Archive(s) => write!(f, "malformed archive: {s}"),
        }
    }
}

impl core::error::Error for Error {}

/// Result with the reader's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

/// Decodes a protobuf message, naming it in the error.
pub(crate) fn decode<M: prost::Message + Default>(
    message: &'static str,
    bytes: &[u8],
) -> Result<M> {
    M::decode(bytes).map_err(|e| Error::Protobuf {
        message,
        detail: alloc::format!("{e}"),
    })
}

//! Model format detection from content (never from a file name).
//!
//! Every check looks only at the bytes it is given and never panics: the bytes are untrusted.
//! Detection is a cheap, conservative first step; the front-end chosen afterwards validates the
//! whole file and reports what is wrong in detail.
//!
//! | format | what identifies it |
//! | --- | --- |
//! | TFLite | FlatBuffer file identifier `TFL3` at bytes 4..8 |
//! | SavedModel | a tar archive (`ustar` magic at 257) — a SavedModel directory packed as one blob |
//! | frozen GraphDef | a protobuf whose top-level fields are GraphDef's and whose first node is a NodeDef |
//! | StableHLO text | UTF-8 MLIR text starting with `module`, `func.func` or `"builtin.module"` |
//! | MLIR bytecode | the bytecode magic `ML\xefR` at byte 0 (a bare StableHLO portable artifact) |
//! | jax.export | a FlatBuffer (no identifier) that embeds an MLIR bytecode module |

use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, Result};
use crate::ir::Graph;

/// A model format the engine's loaders know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// TensorFlow Lite / LiteRT FlatBuffer (`.tflite`).
    TfLite,
    /// TensorFlow SavedModel directory, packed as a tar archive.
    SavedModel,
    /// Frozen TensorFlow `GraphDef` protobuf (`.pb`).
    GraphDef,
    /// StableHLO (MLIR) text, as printed by `jax.export(...).mlir_module()`.
    StableHloText,
    /// A `jax.export(...).serialize()` blob.
    JaxExport,
    /// A bare MLIR bytecode module (StableHLO portable artifact, `.mlirbc`).
    MlirBytecode,
}

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 6] = [
        Format::TfLite,
        Format::SavedModel,
        Format::GraphDef,
        Format::StableHloText,
        Format::JaxExport,
        Format::MlirBytecode,
    ];

    /// Short name used on command lines and in reports (`tflite`, `savedmodel`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Format::TfLite => "tflite",
            Format::SavedModel => "savedmodel",
            Format::GraphDef => "graphdef",
            Format::StableHloText => "stablehlo",
            Format::JaxExport => "jax",
            Format::MlirBytecode => "mlirbc",
        }
    }

    /// Human-readable description.
    pub const fn description(self) -> &'static str {
        match self {
            Format::TfLite => "TensorFlow Lite FlatBuffer",
            Format::SavedModel => "TensorFlow SavedModel",
            Format::GraphDef => "frozen TensorFlow GraphDef",
            Format::StableHloText => "StableHLO text",
            Format::JaxExport => "jax.export serialized blob",
            Format::MlirBytecode => "MLIR bytecode (StableHLO portable artifact)",
        }
    }

    /// Parses a format name: the short names of [`Format::name`] and the long names of the
    /// fixture manifest (`stablehlo_text`, `jax_export`, `mlir_bytecode`), case-insensitive.
    pub fn from_name(name: &str) -> Option<Format> {
        let lower = |s: &str| s.eq_ignore_ascii_case(name);
        if lower("tflite") || lower("litert") {
            Some(Format::TfLite)
        } else if lower("savedmodel") || lower("saved_model") {
            Some(Format::SavedModel)
        } else if lower("graphdef") || lower("frozen_graph") {
            Some(Format::GraphDef)
        } else if lower("stablehlo") || lower("stablehlo_text") || lower("mlir") {
            Some(Format::StableHloText)
        } else if lower("jax") || lower("jax_export") {
            Some(Format::JaxExport)
        } else if lower("mlirbc") || lower("mlir_bytecode") {
            Some(Format::MlirBytecode)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a load needs besides the model bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions<'a> {
    /// Flax parameters (`flax.serialization.to_bytes` msgpack) for a JAX model's first argument.
    pub params: Option<&'a [u8]>,
    /// SavedModel signature (`None`: `serving_default`).
    pub signature: Option<&'a str>,
    /// Static shapes for inputs whose dims the model leaves unknown (TensorFlow graphs).
    pub input_shapes: Option<&'a [Vec<usize>]>,
}

/// Loads `bytes` of `format` into the IR with the matching front-end: the one dispatch the
/// host CLI (`--native`, `inspect`) and the guest job handler share.
pub fn load_graph(bytes: &[u8], format: Format, options: &LoadOptions<'_>) -> Result<Graph> {
    if options.signature.is_some() && format != Format::SavedModel {
        return Err(Error::BadInput(alloc::format!(
            "a signature applies to SavedModels, not to a {}",
            format.description()
        )));
    }
    match format {
        Format::TfLite => {
            if options.params.is_some() {
                return Err(Error::BadInput(
                    "parameters apply to JAX/Flax models, not to TFLite".into(),
                ));
            }
            super::tflite::load(bytes)
        }
        Format::SavedModel | Format::GraphDef => {
            if options.params.is_some() {
                return Err(Error::BadInput(
                    "parameters apply to JAX/Flax models, not to TensorFlow graphs".into(),
                ));
            }
            let mut tf_options = super::tensorflow::Options {
                input_shapes: options.input_shapes,
                ..Default::default()
            };
            if let Some(signature) = options.signature {
                tf_options.signature = signature;
            }
            if format == Format::SavedModel {
                super::tensorflow::load_saved_model(bytes, &tf_options)
            } else {
                super::tensorflow::load_graphdef(bytes, &tf_options)
            }
        }
        Format::StableHloText | Format::JaxExport | Format::MlirBytecode => match options.params {
            Some(params) => super::stablehlo::load_with_params(bytes, params),
            None => super::stablehlo::load(bytes),
        },
    }
}

/// MLIR bytecode magic number.
const MLIR_BYTECODE_MAGIC: &[u8; 4] = b"ML\xefR";
/// Size of a tar header block.
const TAR_BLOCK: usize = 512;
/// How much of a text model is inspected to find its first token.
const TEXT_PROBE: usize = 64 * 1024;

/// Detects the format of `bytes`.
///
/// Fails with [`Error::Unsupported`] naming what the bytes look like when no loader's format
/// matches (including common formats the engine does not take, such as Keras `.keras` and
/// HDF5 files), and with [`Error::Malformed`] for an empty file.
pub fn detect(bytes: &[u8]) -> Result<Format> {
    if bytes.is_empty() {
        return Err(Error::Malformed("the model file is empty".into()));
    }
    if bytes.get(4..8) == Some(b"TFL3") {
        return Ok(Format::TfLite);
    }
    if bytes.starts_with(MLIR_BYTECODE_MAGIC) {
        return Ok(Format::MlirBytecode);
    }
    if is_tar(bytes) {
        return Ok(Format::SavedModel);
    }
    if is_jax_export(bytes) {
        return Ok(Format::JaxExport);
    }
    if is_mlir_text(bytes) {
        return Ok(Format::StableHloText);
    }
    match protobuf_kind(bytes) {
        Some(ProtoKind::GraphDef) => return Ok(Format::GraphDef),
        Some(ProtoKind::SavedModelProto) => {
            return Err(Error::Unsupported(
                "this is a SavedModel's saved_model.pb on its own; pass the SavedModel directory"
                    .into(),
            ))
        }
        None => {}
    }
    Err(Error::Unsupported(unknown_format_message(bytes)))
}

/// The one-line explanation for bytes no loader recognises.
fn unknown_format_message(bytes: &[u8]) -> alloc::string::String {
    use alloc::format;
    let what = if bytes.starts_with(b"PK\x03\x04") {
        "a zip archive (a Keras .keras file? export a SavedModel or convert to TFLite)"
    } else if bytes.starts_with(b"\x89HDF\r\n\x1a\n") {
        "an HDF5 file (a Keras .h5 model? export a SavedModel or convert to TFLite)"
    } else if bytes.starts_with(b"\x7fELF") {
        "an ELF executable"
    } else if bytes.starts_with(b"\x93NUMPY") {
        "a .npy array (an input, not a model)"
    } else if core::str::from_utf8(&bytes[..bytes.len().min(256)]).is_ok() {
        "text that is not StableHLO/MLIR"
    } else {
        "unrecognised binary data"
    };
    let mut head = alloc::string::String::new();
    for b in bytes.iter().take(8) {
        head.push_str(&format!("{b:02x}"));
    }
    format!(
        "unknown model format: {what} (first bytes {head}); expected TFLite, SavedModel, \
         frozen GraphDef, StableHLO text, jax.export or MLIR bytecode"
    )
}

/// True if `bytes` starts with a POSIX tar header (ustar magic).
pub fn is_tar(bytes: &[u8]) -> bool {
    bytes.len() >= TAR_BLOCK && bytes.get(257..262) == Some(b"ustar")
}

/// True if `bytes` is plausibly a `jax.export` FlatBuffer: a root offset that points inside the
/// buffer at a table whose vtable is inside the buffer, and an embedded MLIR bytecode module.
fn is_jax_export(bytes: &[u8]) -> bool {
    let Some(root) = read_u32(bytes, 0).map(|v| v as usize) else {
        return false;
    };
    if root < 4 || root % 4 != 0 || root.checked_add(4).is_none_or(|end| end > bytes.len()) {
        return false;
    }
    // The table starts with an soffset to its vtable: vtable = table - soffset.
    let Some(soffset) = read_u32(bytes, root).map(|v| v as i32) else {
        return false;
    };
    let vtable = (root as i64) - i64::from(soffset);
    if vtable < 0 || (vtable as u64).saturating_add(4) > bytes.len() as u64 {
        return false;
    }
    let vtable = vtable as usize;
    let (Some(vt_len), Some(table_len)) = (read_u16(bytes, vtable), read_u16(bytes, vtable + 2))
    else {
        return false;
    };
    if vt_len < 4 || vt_len % 2 != 0 || table_len < 4 {
        return false;
    }
    contains(bytes, MLIR_BYTECODE_MAGIC)
}

/// True if `bytes` begins (after whitespace, `//` comments and `#` attribute-alias lines) with
/// an MLIR top-level construct.
fn is_mlir_text(bytes: &[u8]) -> bool {
    let probe = &bytes[..bytes.len().min(TEXT_PROBE)];
    let text = match core::str::from_utf8(probe) {
        Ok(t) => t,
        // A multi-byte character cut by the probe limit is fine; anything else is not text.
        Err(e) if e.error_len().is_none() => {
            match core::str::from_utf8(&probe[..e.valid_up_to()]) {
                Ok(t) => t,
                Err(_) => return false,
            }
        }
        Err(_) => return false,
    };
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with("//") || line.starts_with('#') {
            continue;
        }
        return line.starts_with("module")
            || line.starts_with("func.func")
            || line.starts_with("\"builtin.module\"")
            || line.starts_with("\"func.func\"");
    }
    false
}

/// What a protobuf-looking file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProtoKind {
    GraphDef,
    SavedModelProto,
}

/// Classifies a protobuf by walking its top-level fields (all of them must parse).
fn protobuf_kind(bytes: &[u8]) -> Option<ProtoKind> {
    // GraphDef: node = 1 (LEN), library = 2 (LEN), version = 3 (varint), versions = 4 (LEN),
    // debug_info = 5 (LEN). SavedModel: saved_model_schema_version = 1 (varint),
    // meta_graphs = 2 (LEN).
    let mut graphdef = true;
    let mut saved_model = true;
    let mut first_node: Option<&[u8]> = None;
    let mut has_meta_graph = false;
    let mut pos = 0usize;
    let mut fields = 0usize;
    while pos < bytes.len() {
        let (field, wire, value, next) = read_field(bytes, pos)?;
        fields += 1;
        graphdef &= matches!((field, wire), (1 | 2 | 4 | 5, 2) | (3, 0));
        saved_model &= matches!((field, wire), (1, 0) | (2, 2));
        if field == 1 && wire == 2 && first_node.is_none() {
            first_node = value;
        }
        has_meta_graph |= field == 2 && wire == 2;
        if !graphdef && !saved_model {
            return None;
        }
        pos = next;
    }
    if fields == 0 {
        return None;
    }
    if graphdef && first_node.is_some_and(is_node_def) {
        return Some(ProtoKind::GraphDef);
    }
    if saved_model && has_meta_graph {
        return Some(ProtoKind::SavedModelProto);
    }
    None
}

/// True if `msg` parses as a NodeDef with a name and an op that are identifiers.
fn is_node_def(msg: &[u8]) -> bool {
    let mut pos = 0usize;
    let mut name = false;
    let mut op = false;
    while pos < msg.len() {
        let Some((field, wire, value, next)) = read_field(msg, pos) else {
            return false;
        };
        match (field, wire, value) {
            (1, 2, Some(v)) => name = !v.is_empty() && core::str::from_utf8(v).is_ok(),
            (2, 2, Some(v)) => {
                op = !v.is_empty() && v.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
            }
            (3..=7, 2, _) => {}
            _ => return false,
        }
        pos = next;
    }
    name && op
}

/// Reads one protobuf field at `pos`: (field number, wire type, LEN payload, next position).
fn read_field(bytes: &[u8], pos: usize) -> Option<(u64, u8, Option<&[u8]>, usize)> {
    let (tag, mut pos) = read_varint(bytes, pos)?;
    let field = tag >> 3;
    let wire = (tag & 7) as u8;
    if field == 0 {
        return None;
    }
    let mut value = None;
    match wire {
        0 => pos = read_varint(bytes, pos)?.1,
        1 => pos = pos.checked_add(8).filter(|&p| p <= bytes.len())?,
        2 => {
            let (len, start) = read_varint(bytes, pos)?;
            let end = start
                .checked_add(usize::try_from(len).ok()?)
                .filter(|&e| e <= bytes.len())?;
            value = Some(&bytes[start..end]);
            pos = end;
        }
        5 => pos = pos.checked_add(4).filter(|&p| p <= bytes.len())?,
        _ => return None,
    }
    Some((field, wire, value, pos))
}

/// Reads a base-128 varint (at most 10 bytes).
fn read_varint(bytes: &[u8], mut pos: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let b = *bytes.get(pos)?;
        pos += 1;
        value |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some((value, pos));
        }
    }
    None
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn tflite_identifier() {
        let mut b = vec![0u8; 32];
        b[4..8].copy_from_slice(b"TFL3");
        assert_eq!(detect(&b), Ok(Format::TfLite));
    }

    #[test]
    fn mlir_bytecode_magic() {
        assert_eq!(detect(b"ML\xefR\x06rest"), Ok(Format::MlirBytecode));
    }

    #[test]
    fn tar_is_saved_model() {
        let mut b = vec![0u8; 1024];
        b[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect(&b), Ok(Format::SavedModel));
    }

    #[test]
    fn stablehlo_text_after_comments_and_aliases() {
        let t = b"// generated\n#loc1 = loc(\"x\")\n\nmodule @jit_f attributes {} {\n}\n";
        assert_eq!(detect(t), Ok(Format::StableHloText));
        assert_eq!(
            detect(b"  func.func @main() {\n}"),
            Ok(Format::StableHloText)
        );
        assert!(matches!(
            detect(b"hello world\n"),
            Err(Error::Unsupported(_))
        ));
    }

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn len_field(field: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(field << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    #[test]
    fn graphdef_protobuf() {
        let mut node = Vec::new();
        len_field(1, b"x", &mut node);
        len_field(2, b"Placeholder", &mut node);
        let mut versions = Vec::new();
        varint(8, &mut versions);
        varint(1000, &mut versions);
        let mut g = Vec::new();
        len_field(1, &node, &mut g);
        len_field(4, &versions, &mut g);
        assert_eq!(detect(&g), Ok(Format::GraphDef));
    }

    #[test]
    fn saved_model_pb_alone_is_explained() {
        let mut s = vec![0x08, 0x01];
        len_field(2, b"\x0a\x00", &mut s);
        let err = detect(&s).unwrap_err();
        assert!(matches!(&err, Error::Unsupported(m) if m.contains("SavedModel directory")));
    }

    #[test]
    fn jax_export_flatbuffer() {
        // root offset 8 → table at 8 whose soffset (4) points at a vtable at 4.
        let mut b = vec![0u8; 8];
        b[0..4].copy_from_slice(&8u32.to_le_bytes());
        b[4..6].copy_from_slice(&4u16.to_le_bytes());
        b[6..8].copy_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&4i32.to_le_bytes());
        b.extend_from_slice(b"\0\0\0\0ML\xefR\x06\0");
        assert_eq!(detect(&b), Ok(Format::JaxExport));
    }

    #[test]
    fn unknown_and_empty() {
        assert!(matches!(detect(&[]), Err(Error::Malformed(_))));
        let e = detect(b"PK\x03\x04zipzipzip").unwrap_err();
        assert!(matches!(&e, Error::Unsupported(m) if m.contains("zip")));
        let e = detect(&[0xff, 0xfe, 0x00, 0x01, 0x02]).unwrap_err();
        assert!(matches!(&e, Error::Unsupported(m) if m.contains("unknown model format")));
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let mut seed = 0x1234_5678u32;
        for len in 0..300 {
            let mut b = Vec::with_capacity(len);
            for _ in 0..len {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b.push((seed >> 16) as u8);
            }
            let _ = detect(&b);
            if len >= 8 {
                b[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
                let _ = detect(&b);
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.name()), Some(f));
        }
        assert_eq!(Format::from_name("jax_export"), Some(Format::JaxExport));
        assert_eq!(Format::from_name("onnx"), None);
    }
}

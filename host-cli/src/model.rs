//! Reading a model from disk: a file, or a SavedModel directory packed into one tar blob; the
//! format detected from content (or forced by `--format`).

use std::fs;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use cerebro_engine::loader::detect::{self, Format};
use clap::ValueEnum;

use crate::error::{CliError, Result};

/// Value of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Detect from the content.
    Auto,
    /// TensorFlow Lite FlatBuffer.
    Tflite,
    /// TensorFlow SavedModel directory (or its tar).
    Savedmodel,
    /// Frozen TensorFlow GraphDef.
    Graphdef,
    /// StableHLO text.
    Stablehlo,
    /// jax.export serialized blob (with `--params` for Flax).
    Jax,
    /// Bare MLIR bytecode (StableHLO portable artifact).
    Mlirbc,
}

impl FormatArg {
    /// The forced format, or `None` for auto.
    pub fn forced(self) -> Option<Format> {
        match self {
            FormatArg::Auto => None,
            FormatArg::Tflite => Some(Format::TfLite),
            FormatArg::Savedmodel => Some(Format::SavedModel),
            FormatArg::Graphdef => Some(Format::GraphDef),
            FormatArg::Stablehlo => Some(Format::StableHloText),
            FormatArg::Jax => Some(Format::JaxExport),
            FormatArg::Mlirbc => Some(Format::MlirBytecode),
        }
    }
}

/// A model read from disk, ready to hand to a backend.
#[derive(Debug, Clone)]
pub struct ModelSource {
    /// Where it came from.
    pub path: PathBuf,
    /// The model bytes (a SavedModel directory as a tar archive).
    pub bytes: Vec<u8>,
    /// Its format.
    pub format: Format,
    /// Flax parameters (`flax.serialization.to_bytes` msgpack), if given.
    pub params: Option<Vec<u8>>,
    /// SavedModel signature to run (`None`: `serving_default`).
    pub signature: Option<String>,
    /// Static shapes for inputs a TensorFlow graph leaves unknown (from the given `.npy` files).
    pub input_shapes: Option<Vec<Vec<usize>>>,
}

/// Files at least this large show a progress line while read (on a terminal).
const PROGRESS_THRESHOLD: u64 = 64 << 20;

/// Reads the model at `path` (file or SavedModel directory) and its optional parameters.
pub fn read_model(
    path: &Path,
    format: FormatArg,
    params: Option<&Path>,
    signature: Option<&str>,
) -> Result<ModelSource> {
    let meta = fs::metadata(path)
        .map_err(|e| CliError::model(format!("cannot read model {}: {e}", path.display())))?;
    let bytes = if meta.is_dir() {
        pack_directory(path)?
    } else {
        read_with_progress(path, meta.len(), "model")
            .map_err(|e| CliError::model(format!("cannot read model {}: {e}", path.display())))?
    };
    let format = match format.forced() {
        Some(f) => f,
        None => detect::detect(&bytes)
            .map_err(|e| CliError::model(format!("{}: {}", path.display(), engine_message(&e))))?,
    };
    let params = match params {
        Some(p) => Some(fs::read(p).map_err(|e| {
            CliError::model(format!("cannot read parameters {}: {e}", p.display()))
        })?),
        None => None,
    };
    if params.is_some()
        && !matches!(
            format,
            Format::JaxExport | Format::MlirBytecode | Format::StableHloText
        )
    {
        return Err(CliError::usage(format!(
            "--params is for JAX/Flax models, not {}",
            format.description()
        )));
    }
    if signature.is_some() && format != Format::SavedModel {
        return Err(CliError::usage(format!(
            "--signature is for SavedModels, not {}",
            format.description()
        )));
    }
    Ok(ModelSource {
        path: path.to_path_buf(),
        bytes,
        format,
        params,
        signature: signature.map(str::to_string),
        input_shapes: None,
    })
}

/// The signature names of a SavedModel (packed as the tar [`read_model`] makes), in name
/// order; `None` if `bytes` is not a readable SavedModel.
pub fn saved_model_signatures(bytes: &[u8]) -> Option<Vec<String>> {
    use cerebro_tensorflow as tf;
    let entries = tf::archive::read_tar(bytes).ok()?;
    let files = tf::archive::saved_model_files(&entries).ok()?;
    let model = tf::SavedModel::parse(&files).ok()?;
    let names = model.signatures(tf::saved_model::DEFAULT_TAG).ok()?;
    Some(names.into_iter().map(str::to_string).collect())
}

/// The message of an engine error without its class prefix when the prefix adds nothing.
fn engine_message(e: &cerebro_engine::Error) -> String {
    match e {
        cerebro_engine::Error::Unsupported(m) | cerebro_engine::Error::Malformed(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Reads a file, printing progress on stderr when it is large and stderr is a terminal.
fn read_with_progress(path: &Path, len: u64, what: &str) -> std::io::Result<Vec<u8>> {
    if len < PROGRESS_THRESHOLD || !std::io::stderr().is_terminal() {
        return fs::read(path);
    }
    let mut file = fs::File::open(path)?;
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    let mut buf = vec![0u8; 8 << 20];
    let start = Instant::now();
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        eprint!("\rreading {what}: {} / {} MiB", out.len() >> 20, len >> 20);
    }
    eprintln!(
        "\rreading {what}: {} MiB in {:.1} s",
        out.len() >> 20,
        start.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// Packs a SavedModel directory into a tar archive (paths relative to the directory).
pub fn pack_directory(dir: &Path) -> Result<Vec<u8>> {
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files).map_err(|e| {
        CliError::model(format!(
            "cannot read SavedModel directory {}: {e}",
            dir.display()
        ))
    })?;
    if !files.iter().any(|(name, _)| name == "saved_model.pb") {
        return Err(CliError::model(format!(
            "{} is a directory without saved_model.pb (not a SavedModel)",
            dir.display()
        )));
    }
    files.sort();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    cerebro_tensorflow::archive::write_tar(&refs)
        .map_err(|e| CliError::model(format!("cannot pack {}: {e}", dir.display())))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let len = entry.metadata()?.len();
            out.push((rel.clone(), read_with_progress(&path, len, &rel)?));
        }
    }
    Ok(())
}

//! Errors of the model commands and the exit codes they map to.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | other failure (writing outputs, internal error) |
//! | 2 | bad usage (arguments; also what clap reports) |
//! | 3 | bad model: unreadable, unknown format, malformed, unsupported op, over the size limit |
//! | 4 | bad input: unreadable `.npy`, missing or extra input, wrong dtype or shape |
//! | 5 | enclave failure: the VM did not boot or crashed, a job outran `--job-timeout`, or the device failed |

use std::fmt;
use std::process::ExitCode;

/// Class of a failure; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Anything else (exit 1).
    Other,
    /// Bad command-line usage (exit 2).
    Usage,
    /// The model cannot be loaded or run (exit 3).
    BadModel,
    /// The inputs do not fit the model (exit 4).
    BadInput,
    /// The enclave failed (exit 5).
    Enclave,
}

impl ErrorKind {
    /// The process exit code for this kind.
    pub const fn code(self) -> u8 {
        match self {
            ErrorKind::Other => 1,
            ErrorKind::Usage => 2,
            ErrorKind::BadModel => 3,
            ErrorKind::BadInput => 4,
            ErrorKind::Enclave => 5,
        }
    }

    /// Stable name used in `--json` error documents.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::Other => "other",
            ErrorKind::Usage => "usage",
            ErrorKind::BadModel => "bad_model",
            ErrorKind::BadInput => "bad_input",
            ErrorKind::Enclave => "enclave",
        }
    }
}

/// A failure with its class and a one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// Class of the failure.
    pub kind: ErrorKind,
    /// One-line explanation (no trailing newline).
    pub message: String,
}

impl CliError {
    /// Builds an error, folding any newlines in `message` into one line.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message: String = message.into();
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        CliError { kind, message }
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(ErrorKind::Usage, message)
    }

    /// A bad-model error.
    pub fn model(message: impl Into<String>) -> Self {
        CliError::new(ErrorKind::BadModel, message)
    }

    /// A bad-input error.
    pub fn input(message: impl Into<String>) -> Self {
        CliError::new(ErrorKind::BadInput, message)
    }

    /// An enclave failure.
    pub fn enclave(message: impl Into<String>) -> Self {
        CliError::new(ErrorKind::Enclave, message)
    }

    /// Any other failure.
    pub fn other(message: impl Into<String>) -> Self {
        CliError::new(ErrorKind::Other, message)
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind.code())
    }

    /// Prints `error: <message>` on stderr (and, with `json`, an error document on stdout) and
    /// returns the exit code.
    pub fn report(&self, json: bool) -> ExitCode {
        eprintln!("error: {}", self.message);
        if json {
            let doc = serde_json::json!({
                "error": { "kind": self.kind.name(), "exit_code": self.kind.code(), "message": self.message }
            });
            println!("{doc}");
        }
        self.exit_code()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Maps an engine error: input mismatches are bad input, everything else is the model's fault.
pub fn from_engine(e: cerebro_engine::Error) -> CliError {
    match e {
        cerebro_engine::Error::BadInput(m) => CliError::input(m),
        other => CliError::model(other.to_string()),
    }
}

/// Result alias of the CLI.
pub type Result<T> = std::result::Result<T, CliError>;

//! The engine's error type: every failure says what is wrong, nothing panics.

use alloc::string::String;
use core::fmt;

/// Why loading or running a model failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The model bytes are not a well-formed model (bad FlatBuffer, offset out of range, ...).
    Malformed(String),
    /// The model is well formed but uses something the engine does not implement.
    Unsupported(String),
    /// The model is well formed but inconsistent (shapes, dtypes, indices that do not agree).
    Invalid(String),
    /// The caller passed inputs that do not match the model.
    BadInput(String),
    /// A size computation overflowed or a buffer would exceed the engine's limits.
    TooLarge(String),
}

/// Result alias used throughout the engine.
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed(m) => write!(f, "malformed model: {m}"),
            Error::Unsupported(m) => write!(f, "unsupported: {m}"),
            Error::Invalid(m) => write!(f, "invalid model: {m}"),
            Error::BadInput(m) => write!(f, "bad input: {m}"),
            Error::TooLarge(m) => write!(f, "too large: {m}"),
        }
    }
}

impl core::error::Error for Error {}

/// Builds an [`Error::Malformed`] from a format string.
#[macro_export]
macro_rules! malformed {
    ($($t:tt)*) => { $crate::error::Error::Malformed(alloc::format!($($t)*)) };
}
/// Builds an [`Error::Unsupported`] from a format string.
#[macro_export]
macro_rules! unsupported {
    ($($t:tt)*) => { $crate::error::Error::Unsupported(alloc::format!($($t)*)) };
}
/// Builds an [`Error::Invalid`] from a format string.
#[macro_export]
macro_rules! invalid {
    ($($t:tt)*) => { $crate::error::Error::Invalid(alloc::format!($($t)*)) };
}
/// Builds an [`Error::BadInput`] from a format string.
#[macro_export]
macro_rules! bad_input {
    ($($t:tt)*) => { $crate::error::Error::BadInput(alloc::format!($($t)*)) };
}
/// Builds an [`Error::TooLarge`] from a format string.
#[macro_export]
macro_rules! too_large {
    ($($t:tt)*) => { $crate::error::Error::TooLarge(alloc::format!($($t)*)) };
}

//! Errors of every front-end: what went wrong and where.

use alloc::string::String;
use core::fmt;

/// Where in the input an error was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// Text input: 1-based line and column.
    Text {
        /// Line.
        line: u32,
        /// Column.
        column: u32,
    },
    /// Binary input: byte offset.
    Offset(usize),
    /// No position applies (e.g. a whole-file property).
    None,
}

/// A front-end error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What went wrong.
    pub message: String,
    /// Where.
    pub location: Location,
}

impl Error {
    /// An error at a text position.
    pub fn at_text(line: u32, column: u32, message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            location: Location::Text { line, column },
        }
    }

    /// An error at a byte offset.
    pub fn at_offset(offset: usize, message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            location: Location::Offset(offset),
        }
    }

    /// An error without a position.
    pub fn msg(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            location: Location::None,
        }
    }

    /// Prefix the message with some context.
    pub fn context(mut self, what: &str) -> Error {
        self.message = alloc::format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Location::Text { line, column } => write!(f, "{line}:{column}: {}", self.message),
            Location::Offset(o) => write!(f, "at byte {o}: {}", self.message),
            Location::None => f.write_str(&self.message),
        }
    }
}

#[cfg(feature = "std")]
extern crate std;
#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Result alias.
pub type Result<T> = core::result::Result<T, Error>;

/// Maximum nesting depth (regions, attributes, types) any parser accepts.
pub const MAX_DEPTH: usize = 64;

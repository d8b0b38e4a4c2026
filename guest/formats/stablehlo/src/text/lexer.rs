//! MLIR text lexer.

use crate::error::{Error, Result};
use alloc::string::String;
use alloc::vec::Vec;

/// A token. Borrowed text points into the source.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok<'a> {
    /// End of input.
    Eof,
    /// Bare identifier (may contain `.` and `$`): `stablehlo.add`, `tensor`, `f32`, `x`.
    Ident(&'a str),
    /// `%name` (without `%`).
    Value(&'a str),
    /// `@name` or `@"name"` (without `@`).
    Symbol(String),
    /// `^name`.
    Caret(&'a str),
    /// `#name` (without `#`).
    Hash(&'a str),
    /// `!name` (without `!`).
    Bang(&'a str),
    /// Decimal or `0x` integer literal, unsigned text.
    Int(&'a str),
    /// Float literal text.
    Float(&'a str),
    /// String literal, unescaped bytes.
    Str(Vec<u8>),
    /// `->`.
    Arrow,
    /// Single punctuation: `( ) { } [ ] < > , : = ? * + - |`.
    Punct(u8),
}

/// Cursor state: byte offset plus line/column of that offset.
#[derive(Clone, Copy, Debug)]
pub struct Cursor {
    /// Byte offset.
    pub pos: usize,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

/// The lexer.
pub struct Lexer<'a> {
    src: &'a [u8],
    text: &'a str,
    /// Current cursor.
    pub cur: Cursor,
}

impl<'a> Lexer<'a> {
    /// Lex `text`, starting at `line` (for split files).
    pub fn new(text: &'a str, line: u32) -> Lexer<'a> {
        Lexer {
            src: text.as_bytes(),
            text,
            cur: Cursor {
                pos: 0,
                line,
                col: 1,
            },
        }
    }

    /// The source text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    fn peek_byte(&self) -> Option<u8> {
        self.src.get(self.cur.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.src.get(self.cur.pos.checked_add(n)?).copied()
    }

    /// Advance one byte, tracking line and column.
    pub fn bump(&mut self) {
        if let Some(b) = self.peek_byte() {
            self.cur.pos += 1;
            if b == b'\n' {
                self.cur.line = self.cur.line.saturating_add(1);
                self.cur.col = 1;
            } else if b & 0xC0 != 0x80 {
                self.cur.col = self.cur.col.saturating_add(1);
            }
        }
    }

    /// Skip whitespace and `//` comments.
    pub fn skip_trivia(&mut self) {
        loop {
            match self.peek_byte() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.bump(),
                Some(b'/') if self.peek_at(1) == Some(b'/') => {
                    while let Some(b) = self.peek_byte() {
                        if b == b'\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                _ => return,
            }
        }
    }

    fn err(&self, at: Cursor, msg: impl Into<String>) -> Error {
        Error::at_text(at.line, at.col, msg)
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.cur.pos;
        while let Some(b) = self.peek_byte() {
            if !f(b) {
                break;
            }
            self.bump();
        }
        // Only ASCII bytes are accepted by every predicate used, so this is a char boundary.
        self.text.get(start..self.cur.pos).unwrap_or("")
    }

    /// Lex the next token, returning it and where it starts.
    pub fn next(&mut self) -> Result<(Tok<'a>, Cursor)> {
        self.skip_trivia();
        let start = self.cur;
        let Some(b) = self.peek_byte() else {
            return Ok((Tok::Eof, start));
        };
        let tok = match b {
            b'%' => {
                self.bump();
                let name = self.take_while(is_suffix_char);
                if name.is_empty() {
                    return Err(self.err(start, "expected a value name after '%'"));
                }
                Tok::Value(name)
            }
            b'^' => {
                self.bump();
                let name = self.take_while(is_suffix_char);
                if name.is_empty() {
                    return Err(self.err(start, "expected a block name after '^'"));
                }
                Tok::Caret(name)
            }
            b'#' | b'!' => {
                self.bump();
                let name = self.take_while(is_suffix_char);
                if name.is_empty() {
                    return Err(self.err(start, "expected an identifier after '#' or '!'"));
                }
                if b == b'#' {
                    Tok::Hash(name)
                } else {
                    Tok::Bang(name)
                }
            }
            b'@' => {
                self.bump();
                if self.peek_byte() == Some(b'"') {
                    let s = self.string(start)?;
                    Tok::Symbol(
                        String::from_utf8(s)
                            .map_err(|_| self.err(start, "symbol name is not valid UTF-8"))?,
                    )
                } else {
                    let name = self.take_while(is_suffix_char);
                    if name.is_empty() {
                        return Err(self.err(start, "expected a symbol name after '@'"));
                    }
                    Tok::Symbol(String::from(name))
                }
            }
            b'"' => Tok::Str(self.string(start)?),
            b'0'..=b'9' => self.number(),
            b'-' if self.peek_at(1) == Some(b'>') => {
                self.bump();
                self.bump();
                Tok::Arrow
            }
            b'(' | b')' | b'{' | b'}' | b'[' | b']' | b'<' | b'>' | b',' | b':' | b'=' | b'?'
            | b'*' | b'+' | b'-' | b'|' => {
                self.bump();
                Tok::Punct(b)
            }
            b if b.is_ascii_alphabetic() || b == b'_' => Tok::Ident(
                self.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'.')),
            ),
            _ => {
                return Err(self.err(
                    start,
                    alloc::format!("unexpected character {:?}", b as char),
                ));
            }
        };
        Ok((tok, start))
    }

    fn number(&mut self) -> Tok<'a> {
        let start = self.cur.pos;
        if self.peek_byte() == Some(b'0')
            && self.peek_at(1) == Some(b'x')
            && self.peek_at(2).is_some_and(|c| c.is_ascii_hexdigit())
        {
            self.bump();
            self.bump();
            self.take_while(|c| c.is_ascii_hexdigit());
            return Tok::Int(&self.text[start..self.cur.pos]);
        }
        self.take_while(|c| c.is_ascii_digit());
        let mut float = false;
        if self.peek_byte() == Some(b'.') {
            float = true;
            self.bump();
            self.take_while(|c| c.is_ascii_digit());
            if matches!(self.peek_byte(), Some(b'e' | b'E')) {
                let sign = matches!(self.peek_at(1), Some(b'+' | b'-'));
                let digit_at = if sign { 2 } else { 1 };
                if self.peek_at(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                    if sign {
                        self.bump();
                    }
                    self.take_while(|c| c.is_ascii_digit());
                }
            }
        }
        let text = &self.text[start..self.cur.pos];
        if float {
            Tok::Float(text)
        } else {
            Tok::Int(text)
        }
    }

    fn string(&mut self, start: Cursor) -> Result<Vec<u8>> {
        self.bump(); // opening quote
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek_byte() else {
                return Err(self.err(start, "unterminated string"));
            };
            self.bump();
            match b {
                b'"' => return Ok(out),
                b'\n' => return Err(self.err(start, "newline in string")),
                b'\\' => {
                    let Some(e) = self.peek_byte() else {
                        return Err(self.err(start, "unterminated string"));
                    };
                    self.bump();
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'"' | b'\\' => out.push(e),
                        h if h.is_ascii_hexdigit() => {
                            let Some(l) = self.peek_byte().filter(|c| c.is_ascii_hexdigit()) else {
                                return Err(self.err(self.cur, "bad \\XX escape in string"));
                            };
                            self.bump();
                            out.push(hex_val(h) << 4 | hex_val(l));
                        }
                        _ => return Err(self.err(self.cur, "unknown escape in string")),
                    }
                }
                _ => out.push(b),
            }
        }
    }

    /// Scan `NxMx...x` dimension prefixes of a shaped type at the cursor (no whitespace allowed
    /// inside, like MLIR). Returns the dims and whether the type is unranked (`*x`).
    pub fn scan_dims(&mut self) -> Result<(Vec<Option<u64>>, bool)> {
        self.skip_trivia();
        let mut dims = Vec::new();
        if self.peek_byte() == Some(b'*') && self.peek_at(1) == Some(b'x') {
            self.bump();
            self.bump();
            return Ok((dims, true));
        }
        loop {
            let save = self.cur;
            match self.peek_byte() {
                Some(b'?') if self.peek_at(1) == Some(b'x') => {
                    self.bump();
                    self.bump();
                    dims.push(None);
                }
                Some(c) if c.is_ascii_digit() => {
                    let digits = self.take_while(|c| c.is_ascii_digit());
                    if self.peek_byte() != Some(b'x') {
                        self.cur = save;
                        return Ok((dims, false));
                    }
                    self.bump();
                    let v: u64 = digits
                        .parse()
                        .map_err(|_| self.err(save, "dimension size too large"))?;
                    dims.push(Some(v));
                }
                _ => return Ok((dims, false)),
            }
            if dims.len() > 1024 {
                return Err(self.err(save, "too many dimensions"));
            }
        }
    }

    /// Capture raw text up to the `>` that closes an already-consumed `<` (balanced).
    pub fn raw_until_close_angle(&mut self) -> Result<&'a str> {
        let start = self.cur;
        let mut depth = 1usize;
        loop {
            let Some(b) = self.peek_byte() else {
                return Err(self.err(start, "unterminated '<'"));
            };
            match b {
                b'"' => {
                    self.string(self.cur)?;
                    continue;
                }
                b'<' => depth += 1,
                b'>' if self.cur.pos > 0 && self.src[self.cur.pos - 1] == b'-' => {}
                b'>' => {
                    depth -= 1;
                    if depth == 0 {
                        let s = &self.text[start.pos..self.cur.pos];
                        self.bump();
                        return Ok(s);
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }
}

fn is_suffix_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'.' | b'-')
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Decode a hex digit string (without `0x`).
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) || !b.iter().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(
        b.chunks_exact(2)
            .map(|p| hex_val(p[0]) << 4 | hex_val(p[1]))
            .collect(),
    )
}

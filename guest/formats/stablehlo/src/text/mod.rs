//! StableHLO / MLIR text parser: pretty and generic op forms → [`crate::ast`].
//!
//! Entry points: [`parse_module`] for one module, [`parse_splits`] for files cut into independent
//! pieces by `// -----` lines (the conformance suite's `-split-input-file` convention).

mod lexer;
mod pretty;

use crate::ast::*;
use crate::error::{Error, Result, MAX_DEPTH};
use crate::numeric::{self, Literal};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
pub use lexer::decode_hex;
use lexer::{Cursor, Lexer, Tok};

/// Parse a single module (a `module { ... }` or top-level `func.func`s).
pub fn parse_module(text: &str) -> Result<Module> {
    let mut p = Parser::new(text, 1)?;
    p.parse_top()
}

/// Parse a file made of pieces separated by `// -----` lines; one module per piece.
pub fn parse_splits(text: &str) -> Result<Vec<Module>> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1u32;
    let mut offset = 0usize;
    for (line, l) in (1u32..).zip(text.split_inclusive('\n')) {
        if l.trim_end() == "// -----" {
            out.push(parse_piece(&text[start..offset], start_line)?);
            start = offset + l.len();
            start_line = line + 1;
        }
        offset += l.len();
    }
    out.push(parse_piece(&text[start..], start_line)?);
    Ok(out)
}

fn parse_piece(text: &str, line: u32) -> Result<Module> {
    let mut p = Parser::new(text, line)?;
    p.parse_top()
}

/// One scope of value names.
type Scope = BTreeMap<String, (ValueId, u32)>;

/// The parser state.
pub(crate) struct Parser<'a> {
    lex: Lexer<'a>,
    tok: Tok<'a>,
    at: Cursor,
    depth: usize,
    scopes: Vec<Scope>,
    next_value: u32,
    attr_aliases: BTreeMap<String, Attr>,
    type_aliases: BTreeMap<String, Type>,
}

/// Saved position to backtrack to.
#[derive(Clone)]
struct Saved<'a> {
    cur: Cursor,
    tok: Tok<'a>,
    at: Cursor,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, line: u32) -> Result<Parser<'a>> {
        let mut lex = Lexer::new(text, line);
        let (tok, at) = lex.next()?;
        Ok(Parser {
            lex,
            tok,
            at,
            depth: 0,
            scopes: Vec::new(),
            next_value: 0,
            attr_aliases: BTreeMap::new(),
            type_aliases: BTreeMap::new(),
        })
    }

    // ----- token helpers -----

    fn bump(&mut self) -> Result<Tok<'a>> {
        let (tok, at) = self.lex.next()?;
        self.at = at;
        Ok(core::mem::replace(&mut self.tok, tok))
    }

    fn save(&self) -> Saved<'a> {
        Saved {
            cur: self.lex.cur,
            tok: self.tok.clone(),
            at: self.at,
        }
    }

    fn restore(&mut self, s: Saved<'a>) {
        self.lex.cur = s.cur;
        self.tok = s.tok;
        self.at = s.at;
    }

    /// Put the lexer back at the start of the current token (for character-level scanning).
    fn rewind_to_tok(&mut self) {
        self.lex.cur = self.at;
    }

    fn relex(&mut self) -> Result<()> {
        let (tok, at) = self.lex.next()?;
        self.tok = tok;
        self.at = at;
        Ok(())
    }

    pub(crate) fn err(&self, msg: impl Into<String>) -> Error {
        Error::at_text(self.at.line, self.at.col, msg)
    }

    fn describe(&self) -> String {
        match &self.tok {
            Tok::Eof => "end of input".to_string(),
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Value(s) => format!("'%{s}'"),
            Tok::Symbol(s) => format!("'@{s}'"),
            Tok::Caret(s) => format!("'^{s}'"),
            Tok::Hash(s) => format!("'#{s}'"),
            Tok::Bang(s) => format!("'!{s}'"),
            Tok::Int(s) | Tok::Float(s) => format!("'{s}'"),
            Tok::Str(_) => "a string".to_string(),
            Tok::Arrow => "'->'".to_string(),
            Tok::Punct(c) => format!("'{}'", *c as char),
        }
    }

    fn is_punct(&self, c: u8) -> bool {
        self.tok == Tok::Punct(c)
    }

    fn is_ident(&self, s: &str) -> bool {
        matches!(self.tok, Tok::Ident(i) if i == s)
    }

    fn eat_punct(&mut self, c: u8) -> Result<bool> {
        if self.is_punct(c) {
            self.bump()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn eat_ident(&mut self, s: &str) -> Result<bool> {
        if self.is_ident(s) {
            self.bump()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn expect_punct(&mut self, c: u8) -> Result<()> {
        if self.eat_punct(c)? {
            Ok(())
        } else {
            Err(self.err(format!(
                "expected '{}', found {}",
                c as char,
                self.describe()
            )))
        }
    }

    fn expect_ident(&mut self, s: &str) -> Result<()> {
        if self.eat_ident(s)? {
            Ok(())
        } else {
            Err(self.err(format!("expected '{s}', found {}", self.describe())))
        }
    }

    fn expect_arrow(&mut self) -> Result<()> {
        if self.tok == Tok::Arrow {
            self.bump()?;
            Ok(())
        } else {
            Err(self.err(format!("expected '->', found {}", self.describe())))
        }
    }

    fn ident(&mut self) -> Result<&'a str> {
        match self.tok {
            Tok::Ident(s) => {
                self.bump()?;
                Ok(s)
            }
            _ => Err(self.err(format!("expected an identifier, found {}", self.describe()))),
        }
    }

    fn symbol(&mut self) -> Result<String> {
        match &self.tok {
            Tok::Symbol(s) => {
                let s = s.clone();
                self.bump()?;
                Ok(s)
            }
            _ => Err(self.err(format!(
                "expected a symbol '@name', found {}",
                self.describe()
            ))),
        }
    }

    fn string(&mut self) -> Result<String> {
        match &self.tok {
            Tok::Str(b) => {
                let s = String::from_utf8(b.clone())
                    .map_err(|_| self.err("string is not valid UTF-8"))?;
                self.bump()?;
                Ok(s)
            }
            _ => Err(self.err(format!("expected a string, found {}", self.describe()))),
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// An unsigned integer literal.
    fn uint(&mut self) -> Result<u64> {
        match self.tok {
            Tok::Int(s) => {
                let v = parse_int_text(s).and_then(|v| u64::try_from(v).ok());
                let v = v.ok_or_else(|| self.err("integer literal too large"))?;
                self.bump()?;
                Ok(v)
            }
            _ => Err(self.err(format!("expected an integer, found {}", self.describe()))),
        }
    }

    /// A possibly negative integer literal.
    fn int(&mut self) -> Result<i64> {
        let neg = self.eat_punct(b'-')?;
        let v = self.uint()?;
        let v = i64::try_from(v).map_err(|_| self.err("integer literal too large"))?;
        Ok(if neg { -v } else { v })
    }

    /// `[i, j, ...]` of integers.
    fn int_list(&mut self) -> Result<Vec<i64>> {
        self.expect_punct(b'[')?;
        let mut out = Vec::new();
        if !self.eat_punct(b']')? {
            loop {
                out.push(self.int()?);
                if !self.eat_punct(b',')? {
                    break;
                }
            }
            self.expect_punct(b']')?;
        }
        Ok(out)
    }

    /// Skip a trailing `loc(...)`, returning a simple `loc("name")` string if that is what it was.
    fn skip_loc(&mut self) -> Result<Option<String>> {
        if !self.is_ident("loc") {
            return Ok(None);
        }
        self.bump()?;
        self.expect_punct(b'(')?;
        let mut name = None;
        if let Tok::Str(b) = &self.tok {
            name = String::from_utf8(b.clone()).ok();
        }
        let mut depth = 1usize;
        let mut count = 0usize;
        while depth > 0 {
            match self.tok {
                Tok::Eof => return Err(self.err("unterminated loc(...)")),
                Tok::Punct(b'(') => depth += 1,
                Tok::Punct(b')') => depth -= 1,
                _ => {}
            }
            count += 1;
            self.bump()?;
        }
        Ok(if count == 2 { name } else { None })
    }

    // ----- values -----

    fn define(&mut self, name: &str, count: u32) -> Result<ValueId> {
        let first = self.next_value;
        self.next_value = first
            .checked_add(count)
            .ok_or_else(|| self.err("too many values"))?;
        let scope = self
            .scopes
            .last_mut()
            .ok_or_else(|| Error::msg("internal: no scope"))?;
        if scope.insert(String::from(name), (first, count)).is_some() {
            return Err(self.err(format!("redefinition of value '%{name}'")));
        }
        Ok(first)
    }

    /// A value use `%name` or `%name#i`.
    fn value_use(&mut self) -> Result<ValueId> {
        let Tok::Value(name) = self.tok else {
            return Err(self.err(format!(
                "expected a value '%name', found {}",
                self.describe()
            )));
        };
        let at = self.at;
        self.bump()?;
        let mut index = 0u32;
        if let Tok::Hash(n) = self.tok {
            index = n
                .parse()
                .map_err(|_| self.err(format!("bad result number '#{n}'")))?;
            self.bump()?;
        }
        for scope in self.scopes.iter().rev() {
            if let Some(&(first, count)) = scope.get(name) {
                if index >= count {
                    return Err(Error::at_text(
                        at.line,
                        at.col,
                        format!("'%{name}' has {count} results, #{index} used"),
                    ));
                }
                return Ok(first + index);
            }
        }
        Err(Error::at_text(
            at.line,
            at.col,
            format!("use of undefined value '%{name}'"),
        ))
    }

    /// A comma-separated list of value uses (possibly empty if no value follows).
    fn value_list(&mut self) -> Result<Vec<ValueId>> {
        let mut out = Vec::new();
        if !matches!(self.tok, Tok::Value(_)) {
            return Ok(out);
        }
        loop {
            out.push(self.value_use()?);
            if !self.is_punct(b',') {
                return Ok(out);
            }
            let s = self.save();
            self.bump()?;
            if !matches!(self.tok, Tok::Value(_)) {
                self.restore(s);
                return Ok(out);
            }
        }
    }

    // ----- top level -----

    fn parse_top(&mut self) -> Result<Module> {
        self.scopes.push(Scope::new());
        let mut module: Option<Module> = None;
        let mut loose = Vec::new();
        loop {
            match self.tok.clone() {
                Tok::Eof => break,
                Tok::Hash(name) => {
                    self.bump()?;
                    self.expect_punct(b'=')?;
                    let a = self.attr()?;
                    self.attr_aliases.insert(String::from(name), a);
                }
                Tok::Bang(name) => {
                    self.bump()?;
                    self.expect_punct(b'=')?;
                    let t = self.ty()?;
                    self.type_aliases.insert(String::from(name), t);
                }
                Tok::Ident("module") | Tok::Ident("builtin.module") => {
                    if module.is_some() || !loose.is_empty() {
                        return Err(self.err("more than one module in one piece of input"));
                    }
                    module = Some(self.module()?);
                }
                Tok::Ident("func.func") => loose.push(self.function()?),
                Tok::Str(_) => {
                    return Err(self.err("only module and func.func are allowed at top level"));
                }
                _ => {
                    return Err(self.err(format!(
                        "expected 'module' or 'func.func' at top level, found {}",
                        self.describe()
                    )))
                }
            }
        }
        match module {
            Some(m) => Ok(m),
            None => Ok(Module {
                name: None,
                attributes: Vec::new(),
                functions: loose,
            }),
        }
    }

    fn module(&mut self) -> Result<Module> {
        self.bump()?;
        let name = match self.tok {
            Tok::Symbol(_) => Some(self.symbol()?),
            _ => None,
        };
        let mut attributes = Vec::new();
        if self.eat_ident("attributes")? {
            attributes = self.dict()?;
        }
        self.expect_punct(b'{')?;
        let mut functions = Vec::new();
        while !self.eat_punct(b'}')? {
            if self.is_ident("func.func") {
                functions.push(self.function()?);
            } else {
                return Err(self.err(format!(
                    "expected 'func.func' in module body, found {}",
                    self.describe()
                )));
            }
        }
        self.skip_loc()?;
        Ok(Module {
            name,
            attributes,
            functions,
        })
    }

    fn function(&mut self) -> Result<Function> {
        self.bump()?;
        let visibility = match self.tok {
            Tok::Ident(v @ ("public" | "private" | "nested")) => {
                self.bump()?;
                Some(String::from(v))
            }
            _ => None,
        };
        let name = self.symbol()?;
        // Functions are isolated from above: fresh value numbering and scopes.
        let saved_scopes = core::mem::take(&mut self.scopes);
        self.scopes.push(Scope::new());
        self.next_value = 0;
        let result = self.function_rest(name, visibility);
        self.scopes = saved_scopes;
        result
    }

    fn function_rest(&mut self, name: String, visibility: Option<String>) -> Result<Function> {
        self.expect_punct(b'(')?;
        let mut arguments = Vec::new();
        let mut arg_names = Vec::new();
        if !self.eat_punct(b')')? {
            loop {
                let arg_name = if let Tok::Value(n) = self.tok {
                    self.bump()?;
                    self.expect_punct(b':')?;
                    Some(n)
                } else {
                    None
                };
                let ty = self.ty()?;
                let attrs = if self.is_punct(b'{') {
                    self.dict()?
                } else {
                    Vec::new()
                };
                let loc_name = self.skip_loc()?;
                arg_names.push(arg_name);
                arguments.push(Argument {
                    ty,
                    attrs,
                    loc_name,
                });
                if !self.eat_punct(b',')? {
                    break;
                }
            }
            self.expect_punct(b')')?;
        }
        let mut result_types = Vec::new();
        let mut result_attrs = Vec::new();
        if self.tok == Tok::Arrow {
            self.bump()?;
            if self.eat_punct(b'(')? {
                if !self.eat_punct(b')')? {
                    loop {
                        result_types.push(self.ty()?);
                        result_attrs.push(if self.is_punct(b'{') {
                            self.dict()?
                        } else {
                            Vec::new()
                        });
                        if !self.eat_punct(b',')? {
                            break;
                        }
                    }
                    self.expect_punct(b')')?;
                }
            } else {
                result_types.push(self.ty()?);
                result_attrs.push(Vec::new());
            }
        }
        let mut attributes = Vec::new();
        if self.eat_ident("attributes")? {
            attributes = self.dict()?;
        }
        let mut body = Region::default();
        if self.is_punct(b'{') {
            let mut entry_args = Vec::new();
            for (i, n) in arg_names.iter().enumerate() {
                let n = n.ok_or_else(|| self.err("function with a body needs named arguments"))?;
                let id = self.define(n, 1)?;
                entry_args.push((id, arguments[i].ty.clone()));
            }
            body = self.region(Some(entry_args))?;
        }
        self.skip_loc()?;
        Ok(Function {
            name,
            visibility,
            arguments,
            result_types,
            result_attrs,
            attributes,
            body,
            num_values: self.next_value,
        })
    }

    /// `{ [^bb(args):] ops ... }`. `entry_args` are already defined (function / while args).
    fn region(&mut self, entry_args: Option<Vec<(ValueId, Type)>>) -> Result<Region> {
        self.enter()?;
        self.expect_punct(b'{')?;
        let pushed = entry_args.is_none();
        if pushed {
            self.scopes.push(Scope::new());
        }
        let mut blocks = Vec::new();
        let mut current = Block {
            arguments: entry_args.unwrap_or_default(),
            ops: Vec::new(),
        };
        let mut started = false;
        loop {
            match self.tok {
                Tok::Punct(b'}') => {
                    self.bump()?;
                    break;
                }
                Tok::Caret(_) => {
                    if started || !current.ops.is_empty() {
                        blocks.push(core::mem::take(&mut current));
                    }
                    self.bump()?;
                    if self.eat_punct(b'(')? {
                        loop {
                            let Tok::Value(n) = self.tok else {
                                return Err(self.err("expected a block argument '%name'"));
                            };
                            self.bump()?;
                            self.expect_punct(b':')?;
                            let ty = self.ty()?;
                            self.skip_loc()?;
                            let id = self.define(n, 1)?;
                            current.arguments.push((id, ty));
                            if !self.eat_punct(b',')? {
                                break;
                            }
                        }
                        self.expect_punct(b')')?;
                    }
                    self.expect_punct(b':')?;
                    started = true;
                }
                Tok::Eof => return Err(self.err("unterminated region: expected '}'")),
                _ => {
                    let op = self.op()?;
                    current.ops.push(op);
                    started = true;
                }
            }
        }
        if started || !current.arguments.is_empty() || blocks.is_empty() {
            blocks.push(current);
        }
        if pushed {
            self.scopes.pop();
        }
        self.leave();
        Ok(Region { blocks })
    }

    /// A region whose entry block arguments are given here (while's cond/do).
    fn region_with_args(&mut self, names: &[&'a str], types: &[Type]) -> Result<Region> {
        self.scopes.push(Scope::new());
        let mut args = Vec::new();
        for (n, t) in names.iter().zip(types) {
            let id = self.define(n, 1)?;
            args.push((id, t.clone()));
        }
        let r = self.region(Some(args));
        self.scopes.pop();
        r
    }

    fn op(&mut self) -> Result<Op> {
        self.enter()?;
        let pos = Position {
            line: self.at.line,
            column: self.at.col,
        };
        // Results: %a, %b:2 = ...
        let mut result_names: Vec<(&'a str, u32)> = Vec::new();
        if let Tok::Value(_) = self.tok {
            loop {
                let Tok::Value(n) = self.tok else {
                    return Err(self.err("expected a result name"));
                };
                self.bump()?;
                let mut count = 1u32;
                if self.eat_punct(b':')? {
                    let c = self.uint()?;
                    count = u32::try_from(c)
                        .ok()
                        .filter(|c| *c <= 1 << 20)
                        .ok_or_else(|| self.err("result count too large"))?;
                }
                result_names.push((n, count));
                if !self.eat_punct(b',')? {
                    break;
                }
            }
            self.expect_punct(b'=')?;
        }
        let num_results: u32 = result_names.iter().map(|(_, c)| *c).sum();
        let mut op = match self.tok.clone() {
            Tok::Str(name) => {
                let name =
                    String::from_utf8(name).map_err(|_| self.err("op name is not valid UTF-8"))?;
                self.bump()?;
                self.generic_op(name, pos)?
            }
            Tok::Ident(name) => {
                self.bump()?;
                let name = match name {
                    "return" => "func.return",
                    "call" => "func.call",
                    n => n,
                };
                self.pretty_op(name, num_results as usize, pos)?
            }
            _ => return Err(self.err(format!("expected an operation, found {}", self.describe()))),
        };
        self.skip_loc()?;
        if op.result_types.len() != num_results as usize {
            return Err(Error::at_text(
                pos.line,
                pos.column,
                format!(
                    "'{}' defines {} results but its type gives {}",
                    op.name,
                    num_results,
                    op.result_types.len()
                ),
            ));
        }
        for (n, c) in result_names {
            let first = self.define(n, c)?;
            op.results.extend(first..first + c);
        }
        sort_attrs(&mut op.attributes);
        self.leave();
        Ok(op)
    }

    /// `"name"(operands) [<{props}>] [(regions)] [{attrs}] : (types) -> types`
    fn generic_op(&mut self, name: String, pos: Position) -> Result<Op> {
        self.expect_punct(b'(')?;
        let operands = self.value_list()?;
        self.expect_punct(b')')?;
        if self.is_punct(b'[') {
            return Err(self.err("block successors are not supported"));
        }
        let mut attributes = Vec::new();
        if self.is_punct(b'<') {
            self.bump()?;
            attributes.extend(self.dict()?);
            self.expect_punct(b'>')?;
        }
        let mut regions = Vec::new();
        if self.is_punct(b'(') {
            self.bump()?;
            loop {
                regions.push(self.region(None)?);
                if !self.eat_punct(b',')? {
                    break;
                }
            }
            self.expect_punct(b')')?;
        }
        if self.is_punct(b'{') {
            attributes.extend(self.dict()?);
        }
        self.expect_punct(b':')?;
        let (ins, outs) = self.function_type()?;
        if ins.len() != operands.len() {
            return Err(Error::at_text(
                pos.line,
                pos.column,
                format!(
                    "'{name}' has {} operands but its type lists {}",
                    operands.len(),
                    ins.len()
                ),
            ));
        }
        Ok(Op {
            name,
            operands,
            results: Vec::new(),
            result_types: outs,
            attributes,
            regions,
            position: pos,
        })
    }

    // ----- types -----

    /// `(types) -> type | (types)`.
    fn function_type(&mut self) -> Result<(Vec<Type>, Vec<Type>)> {
        self.expect_punct(b'(')?;
        let ins = self.type_list_until(b')')?;
        self.expect_arrow()?;
        let outs = if self.eat_punct(b'(')? {
            self.type_list_until(b')')?
        } else {
            alloc::vec![self.ty()?]
        };
        Ok((ins, outs))
    }

    fn type_list_until(&mut self, close: u8) -> Result<Vec<Type>> {
        let mut out = Vec::new();
        if self.eat_punct(close)? {
            return Ok(out);
        }
        loop {
            out.push(self.ty()?);
            if !self.eat_punct(b',')? {
                break;
            }
        }
        self.expect_punct(close)?;
        Ok(out)
    }

    /// Does the current token start a type?
    fn at_type(&self) -> bool {
        match self.tok {
            Tok::Ident(s) => {
                matches!(
                    s,
                    "tensor" | "tuple" | "complex" | "index" | "none" | "vector" | "memref"
                ) || scalar_type(s).is_some()
            }
            Tok::Bang(_) | Tok::Punct(b'(') => true,
            _ => false,
        }
    }

    pub(crate) fn ty(&mut self) -> Result<Type> {
        self.enter()?;
        let r = self.ty_inner();
        self.leave();
        r
    }

    fn ty_inner(&mut self) -> Result<Type> {
        match self.tok.clone() {
            Tok::Ident("tensor") => {
                self.bump()?;
                self.expect_punct(b'<')?;
                self.rewind_to_tok();
                let (shape, unranked) = self.lex.scan_dims()?;
                self.relex()?;
                let element = self.element_type()?;
                let mut encoding = None;
                if self.is_punct(b',') {
                    self.bump()?;
                    let start = self.at.pos;
                    self.attr()?;
                    let end = self.at.pos;
                    encoding = Some(String::from(
                        self.lex.text().get(start..end).unwrap_or("").trim(),
                    ));
                }
                self.expect_punct(b'>')?;
                if unranked {
                    return Ok(Type::Opaque(format!("tensor<*x{element:?}>")));
                }
                Ok(Type::Tensor(TensorType {
                    shape,
                    element,
                    encoding,
                }))
            }
            Tok::Ident("tuple") => {
                self.bump()?;
                self.expect_punct(b'<')?;
                Ok(Type::Tuple(self.type_list_until(b'>')?))
            }
            Tok::Ident("index") => {
                self.bump()?;
                Ok(Type::Index)
            }
            Tok::Ident(kw @ ("vector" | "memref" | "none")) => {
                self.bump()?;
                if kw != "none" && self.is_punct(b'<') {
                    self.rewind_to_tok();
                    self.lex.bump();
                    let raw = self.lex.raw_until_close_angle()?;
                    self.relex()?;
                    return Ok(Type::Opaque(format!("{kw}<{raw}>")));
                }
                Ok(Type::Opaque(String::from(kw)))
            }
            Tok::Punct(b'(') => {
                let (i, o) = self.function_type()?;
                Ok(Type::Function(i, o))
            }
            Tok::Bang("stablehlo.token") => {
                self.bump()?;
                Ok(Type::Token)
            }
            Tok::Bang(name) => {
                if let Some(t) = self.type_aliases.get(name) {
                    let t = t.clone();
                    self.bump()?;
                    return Ok(t);
                }
                let e = self.element_type()?;
                Ok(Type::Scalar(e))
            }
            Tok::Ident(_) => Ok(Type::Scalar(self.element_type()?)),
            _ => Err(self.err(format!("expected a type, found {}", self.describe()))),
        }
    }

    fn element_type(&mut self) -> Result<ElementType> {
        match self.tok.clone() {
            Tok::Ident("complex") => {
                self.bump()?;
                self.expect_punct(b'<')?;
                self.enter()?;
                let inner = self.element_type()?;
                self.leave();
                self.expect_punct(b'>')?;
                Ok(ElementType::Complex(Box::new(inner)))
            }
            Tok::Ident("index") => {
                self.bump()?;
                Ok(ElementType::Index)
            }
            Tok::Ident(s) => {
                let t = scalar_type(s)
                    .ok_or_else(|| self.err(format!("unknown element type '{s}'")))?;
                self.bump()?;
                Ok(t)
            }
            Tok::Bang(name) if name.starts_with("quant.") => {
                self.bump()?;
                if !self.is_punct(b'<') {
                    return Err(self.err("expected '<' after quantized type name"));
                }
                self.rewind_to_tok();
                self.lex.bump();
                let raw = self.lex.raw_until_close_angle()?;
                self.relex()?;
                let storage: String = raw
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                let storage = scalar_type(&storage)
                    .ok_or_else(|| self.err("unknown storage type in quantized type"))?;
                Ok(ElementType::Quant(
                    Box::new(storage),
                    format!("{name}<{raw}>"),
                ))
            }
            _ => Err(self.err(format!(
                "expected an element type, found {}",
                self.describe()
            ))),
        }
    }

    // ----- attributes -----

    /// `{name = attr, name, ...}` sorted by name.
    pub(crate) fn dict(&mut self) -> Result<Vec<NamedAttr>> {
        self.enter()?;
        self.expect_punct(b'{')?;
        let mut out = Vec::new();
        if !self.eat_punct(b'}')? {
            loop {
                let name = match self.tok.clone() {
                    Tok::Ident(s) => {
                        self.bump()?;
                        String::from(s)
                    }
                    Tok::Str(_) => self.string()?,
                    _ => {
                        return Err(self.err(format!(
                            "expected an attribute name, found {}",
                            self.describe()
                        )))
                    }
                };
                let value = if self.eat_punct(b'=')? {
                    self.attr()?
                } else {
                    Attr::Unit
                };
                out.push(NamedAttr { name, value });
                if !self.eat_punct(b',')? {
                    break;
                }
            }
            self.expect_punct(b'}')?;
        }
        sort_attrs(&mut out);
        self.leave();
        Ok(out)
    }

    /// A full attribute value (scalars take an optional `: type`).
    pub(crate) fn attr(&mut self) -> Result<Attr> {
        self.enter()?;
        let r = self.attr_inner(true);
        self.leave();
        r
    }

    fn attr_inner(&mut self, typed: bool) -> Result<Attr> {
        match self.tok.clone() {
            Tok::Punct(b'-') | Tok::Int(_) | Tok::Float(_) => {
                let lit = self.number_literal()?;
                let ty = if typed && self.is_punct(b':') {
                    self.bump()?;
                    match self.ty()? {
                        Type::Scalar(e) => Some(e),
                        Type::Index => Some(ElementType::Index),
                        _ => return Err(self.err("expected a scalar type for a number")),
                    }
                } else {
                    None
                };
                Ok(match (lit, ty) {
                    (Literal::Float(f), t) => {
                        Attr::Float(f, t.unwrap_or(ElementType::Float(FloatKind::F64)))
                    }
                    (Literal::Int(i), Some(t @ ElementType::Float(_))) => Attr::Float(i as f64, t),
                    (Literal::Bits(b), Some(ElementType::Float(k))) => {
                        Attr::Float(numeric::float_value(b as u64, k), ElementType::Float(k))
                    }
                    (Literal::Int(i), Some(ElementType::Int { bits: 1, .. })) => Attr::Bool(i != 0),
                    (Literal::Int(i), t) => Attr::Int(i, t.unwrap_or(I64)),
                    (Literal::Bits(b), t) => Attr::Int(
                        i128::try_from(b).map_err(|_| self.err("integer too large"))?,
                        t.unwrap_or(I64),
                    ),
                    _ => return Err(self.err("bad number")),
                })
            }
            Tok::Ident("true") => {
                self.bump()?;
                Ok(Attr::Bool(true))
            }
            Tok::Ident("false") => {
                self.bump()?;
                Ok(Attr::Bool(false))
            }
            Tok::Ident("unit") => {
                self.bump()?;
                Ok(Attr::Unit)
            }
            Tok::Ident("dense") => {
                self.bump()?;
                self.dense()
            }
            Tok::Ident("array") => {
                self.bump()?;
                self.dense_array()
            }
            Tok::Ident("loc") => {
                self.skip_loc()?;
                Ok(Attr::Opaque(String::from("loc")))
            }
            Tok::Ident(kw @ ("dense_resource" | "sparse" | "affine_map" | "distinct")) => {
                Err(self.err(format!("'{kw}' attributes are not supported")))
            }
            Tok::Str(_) => {
                let s = self.string()?;
                if typed && self.is_punct(b':') {
                    self.bump()?;
                    self.ty()?;
                }
                Ok(Attr::String(s))
            }
            Tok::Symbol(_) => {
                let mut s = self.symbol()?;
                while self.is_punct(b':') {
                    let save = self.save();
                    self.bump()?;
                    if self.eat_punct(b':')? {
                        s.push_str("::");
                        s.push_str(&self.symbol()?);
                    } else {
                        self.restore(save);
                        break;
                    }
                }
                Ok(Attr::Symbol(s))
            }
            Tok::Punct(b'[') => {
                self.bump()?;
                let mut items = Vec::new();
                if !self.eat_punct(b']')? {
                    loop {
                        items.push(self.attr()?);
                        if !self.eat_punct(b',')? {
                            break;
                        }
                    }
                    self.expect_punct(b']')?;
                }
                Ok(Attr::Array(items))
            }
            Tok::Punct(b'{') => Ok(Attr::Dict(self.dict()?)),
            Tok::Hash(name) => self.hash_attr(name),
            _ if self.at_type() => Ok(Attr::Type(self.ty()?)),
            _ => Err(self.err(format!(
                "expected an attribute value, found {}",
                self.describe()
            ))),
        }
    }

    /// `-? int | float | 0x...`
    fn number_literal(&mut self) -> Result<Literal> {
        let neg = self.eat_punct(b'-')?;
        let lit = match self.tok {
            Tok::Int(s) if s.starts_with("0x") => {
                if neg {
                    return Err(self.err("hexadecimal literal cannot be negative"));
                }
                let v = u128::from_str_radix(&s[2..], 16)
                    .map_err(|_| self.err("hexadecimal literal too large"))?;
                Literal::Bits(v)
            }
            Tok::Int(s) => {
                let v: i128 = s
                    .parse()
                    .map_err(|_| self.err("integer literal too large"))?;
                Literal::Int(if neg { -v } else { v })
            }
            Tok::Float(s) => {
                let v: f64 = s.parse().map_err(|_| self.err("bad float literal"))?;
                Literal::Float(if neg { -v } else { v })
            }
            Tok::Ident("inf") => Literal::Float(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }),
            Tok::Ident("nan") => Literal::Float(f64::NAN),
            _ => return Err(self.err(format!("expected a number, found {}", self.describe()))),
        };
        self.bump()?;
        Ok(lit)
    }

    /// One element of a dense literal.
    fn dense_scalar(&mut self) -> Result<Literal> {
        match self.tok {
            Tok::Ident("true") => {
                self.bump()?;
                Ok(Literal::Bool(true))
            }
            Tok::Ident("false") => {
                self.bump()?;
                Ok(Literal::Bool(false))
            }
            Tok::Punct(b'(') => {
                self.bump()?;
                let re = self.number_literal()?;
                self.expect_punct(b',')?;
                let im = self.number_literal()?;
                self.expect_punct(b')')?;
                let f = |l: Literal| match l {
                    Literal::Int(i) => i as f64,
                    Literal::Float(f) => f,
                    _ => f64::NAN,
                };
                Ok(Literal::Complex(f(re), f(im)))
            }
            _ => self.number_literal(),
        }
    }

    /// Nested list of literals; returns the flat elements and nesting depth.
    fn dense_list(
        &mut self,
        out: &mut Vec<Literal>,
        dims: &mut Vec<usize>,
        level: usize,
    ) -> Result<()> {
        self.enter()?;
        self.expect_punct(b'[')?;
        let mut count = 0usize;
        if !self.eat_punct(b']')? {
            loop {
                if self.is_punct(b'[') {
                    self.dense_list(out, dims, level + 1)?;
                } else {
                    if dims.len() > level + 1 {
                        return Err(self.err("inconsistent nesting in dense literal"));
                    }
                    out.push(self.dense_scalar()?);
                }
                count += 1;
                if !self.eat_punct(b',')? {
                    break;
                }
            }
            self.expect_punct(b']')?;
        }
        if dims.len() <= level {
            dims.resize(level + 1, usize::MAX);
        }
        if dims[level] == usize::MAX {
            dims[level] = count;
        } else if dims[level] != count {
            return Err(self.err("ragged dense literal"));
        }
        self.leave();
        Ok(())
    }

    /// After `dense`: `<...> : type`.
    fn dense(&mut self) -> Result<Attr> {
        let at = self.at;
        self.expect_punct(b'<')?;
        enum Body {
            Hex(Vec<u8>),
            Splat(Literal),
            List(Vec<Literal>, Vec<usize>),
        }
        let body = if self.is_punct(b'[') {
            let mut lits = Vec::new();
            let mut dims = Vec::new();
            self.dense_list(&mut lits, &mut dims, 0)?;
            Body::List(lits, dims)
        } else if let Tok::Str(b) = &self.tok {
            let s = core::str::from_utf8(b).map_err(|_| self.err("bad hex string"))?;
            let hex = s
                .strip_prefix("0x")
                .and_then(decode_hex)
                .ok_or_else(|| self.err("dense string must be \"0x\" followed by hex bytes"))?;
            self.bump()?;
            Body::Hex(hex)
        } else if self.is_punct(b'>') {
            Body::List(Vec::new(), alloc::vec![0])
        } else {
            Body::Splat(self.dense_scalar()?)
        };
        self.expect_punct(b'>')?;
        self.expect_punct(b':')?;
        let ty = match self.ty()? {
            Type::Tensor(t) => t,
            _ => {
                return Err(Error::at_text(
                    at.line,
                    at.col,
                    "dense attribute needs a tensor type",
                ))
            }
        };
        let bad = |m: &str| Error::at_text(at.line, at.col, format!("dense literal: {m}"));
        let n = ty
            .num_elements()
            .ok_or_else(|| bad("tensor type must be static"))?;
        let width = ty.element.storage_bytes() as u64;
        let mut data = Vec::new();
        match body {
            Body::Splat(lit) => {
                numeric::encode(lit, &ty.element, &mut data).map_err(bad)?;
                return Ok(Attr::Elements(DenseElements::new(ty, true, data)));
            }
            Body::List(lits, dims) => {
                if lits.len() as u64 != n {
                    return Err(bad("element count does not match the type"));
                }
                if !(lits.is_empty() || dims.len() == ty.shape.len()) {
                    return Err(bad("nesting does not match the rank"));
                }
                for lit in lits {
                    numeric::encode(lit, &ty.element, &mut data).map_err(bad)?;
                }
            }
            Body::Hex(hex) => {
                let full = n.checked_mul(width).ok_or_else(|| bad("too large"))?;
                if hex.len() as u64 == width && n != 1 {
                    return Ok(Attr::Elements(DenseElements::new(ty, true, hex)));
                } else if hex.len() as u64 == full {
                    data = hex;
                } else if ty.element == ElementType::BOOL && hex.len() as u64 == n.div_ceil(8) {
                    for i in 0..n as usize {
                        data.push((hex[i / 8] >> (i % 8)) & 1);
                    }
                } else {
                    return Err(bad("hex data size does not match the type"));
                }
            }
        }
        Ok(Attr::Elements(DenseElements::new(ty, false, data)))
    }

    /// After `array`: `<type[: values]>`.
    fn dense_array(&mut self) -> Result<Attr> {
        self.expect_punct(b'<')?;
        let elem = self.element_type()?;
        let is_float = matches!(elem, ElementType::Float(_));
        let mut ints = Vec::new();
        let mut floats = Vec::new();
        if self.eat_punct(b':')? {
            loop {
                match self.dense_scalar()? {
                    Literal::Bool(b) => ints.push(i64::from(b)),
                    Literal::Int(i) if !is_float => ints
                        .push(i64::try_from(i).map_err(|_| self.err("array element too large"))?),
                    Literal::Int(i) => floats.push(i as f64),
                    Literal::Float(f) if is_float => floats.push(f),
                    _ => return Err(self.err("array element does not match its type")),
                }
                if !self.eat_punct(b',')? {
                    break;
                }
            }
        }
        self.expect_punct(b'>')?;
        Ok(Attr::DenseArray(
            elem,
            if is_float {
                ArrayValues::Float(floats)
            } else {
                ArrayValues::Int(ints)
            },
        ))
    }

    /// `#...` attributes: stablehlo enums and structs, other dialect attrs, aliases.
    fn hash_attr(&mut self, name: &'a str) -> Result<Attr> {
        self.bump()?;
        if !self.is_punct(b'<') {
            return self
                .attr_aliases
                .get(name)
                .cloned()
                .ok_or_else(|| self.err(format!("unknown attribute alias '#{name}'")));
        }
        self.bump()?;
        if !name.contains('.') {
            // #dialect<kind VALUE>
            let kind = self.ident()?;
            let value = self.ident()?;
            self.expect_punct(b'>')?;
            return Ok(Attr::Enum(String::from(kind), String::from(value)));
        }
        match name {
            "stablehlo.conv" => {
                let c = self.conv_dims()?;
                self.expect_punct(b'>')?;
                Ok(Attr::Conv(c))
            }
            "stablehlo.dot" | "stablehlo.gather" | "stablehlo.scatter" => {
                let params = self.params()?;
                let get = |k: &str| -> Vec<i64> {
                    params
                        .iter()
                        .find(|p| p.name == k)
                        .and_then(|p| p.value.as_i64s())
                        .unwrap_or_default()
                };
                let get1 = |k: &str| -> i64 {
                    params
                        .iter()
                        .find(|p| p.name == k)
                        .and_then(|p| p.value.as_int())
                        .and_then(|v| i64::try_from(v).ok())
                        .unwrap_or(0)
                };
                Ok(match name {
                    "stablehlo.dot" => Attr::Dot(DotDimensions {
                        lhs_batching_dimensions: get("lhs_batching_dimensions"),
                        rhs_batching_dimensions: get("rhs_batching_dimensions"),
                        lhs_contracting_dimensions: get("lhs_contracting_dimensions"),
                        rhs_contracting_dimensions: get("rhs_contracting_dimensions"),
                    }),
                    "stablehlo.gather" => Attr::Gather(GatherDimensions {
                        offset_dims: get("offset_dims"),
                        collapsed_slice_dims: get("collapsed_slice_dims"),
                        operand_batching_dims: get("operand_batching_dims"),
                        start_indices_batching_dims: get("start_indices_batching_dims"),
                        start_index_map: get("start_index_map"),
                        index_vector_dim: get1("index_vector_dim"),
                    }),
                    _ => Attr::Scatter(ScatterDimensions {
                        update_window_dims: get("update_window_dims"),
                        inserted_window_dims: get("inserted_window_dims"),
                        input_batching_dims: get("input_batching_dims"),
                        scatter_indices_batching_dims: get("scatter_indices_batching_dims"),
                        scatter_dims_to_operand_dims: get("scatter_dims_to_operand_dims"),
                        index_vector_dim: get1("index_vector_dim"),
                    }),
                })
            }
            _ => {
                let save = self.save();
                match self.params() {
                    Ok(p) => Ok(Attr::Dialect(String::from(name), p)),
                    Err(_) => {
                        self.restore(save);
                        self.rewind_to_tok();
                        let raw = self.lex.raw_until_close_angle()?;
                        self.relex()?;
                        Ok(Attr::Opaque(format!("#{name}<{raw}>")))
                    }
                }
            }
        }
    }

    /// `key = value, ...>` (consumes the closing `>`).
    fn params(&mut self) -> Result<Vec<NamedAttr>> {
        let mut out = Vec::new();
        if !self.eat_punct(b'>')? {
            loop {
                let name = String::from(self.ident()?);
                self.expect_punct(b'=')?;
                let value = self.attr()?;
                out.push(NamedAttr { name, value });
                if !self.eat_punct(b',')? {
                    break;
                }
            }
            self.expect_punct(b'>')?;
        }
        Ok(out)
    }

    /// `[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]` or `raw key = value, ...`.
    pub(crate) fn conv_dims(&mut self) -> Result<ConvDimensions> {
        if self.eat_ident("raw")? {
            let mut c = ConvDimensions::default();
            loop {
                let key = self.ident()?;
                self.expect_punct(b'=')?;
                match key {
                    "input_spatial_dimensions" => c.input_spatial_dimensions = self.int_list()?,
                    "kernel_spatial_dimensions" => c.kernel_spatial_dimensions = self.int_list()?,
                    "output_spatial_dimensions" => c.output_spatial_dimensions = self.int_list()?,
                    _ => {
                        let v = self.int()?;
                        match key {
                            "input_batch_dimension" => c.input_batch_dimension = v,
                            "input_feature_dimension" => c.input_feature_dimension = v,
                            "kernel_input_feature_dimension" => {
                                c.kernel_input_feature_dimension = v
                            }
                            "kernel_output_feature_dimension" => {
                                c.kernel_output_feature_dimension = v
                            }
                            "output_batch_dimension" => c.output_batch_dimension = v,
                            "output_feature_dimension" => c.output_feature_dimension = v,
                            _ => return Err(self.err(format!("unknown conv dimension '{key}'"))),
                        }
                    }
                }
                if !self.eat_punct(b',')? {
                    break;
                }
            }
            return Ok(c);
        }
        let (ib, ifeat, ispatial) = self.conv_layout(b'b', b'f')?;
        self.expect_ident("x")?;
        let (ki, ko, kspatial) = self.conv_layout(b'i', b'o')?;
        self.expect_arrow()?;
        let (ob, ofeat, ospatial) = self.conv_layout(b'b', b'f')?;
        Ok(ConvDimensions {
            input_batch_dimension: ib,
            input_feature_dimension: ifeat,
            input_spatial_dimensions: ispatial,
            kernel_input_feature_dimension: ki,
            kernel_output_feature_dimension: ko,
            kernel_spatial_dimensions: kspatial,
            output_batch_dimension: ob,
            output_feature_dimension: ofeat,
            output_spatial_dimensions: ospatial,
        })
    }

    /// One `[b, 0, 1, f]` layout: (position of a, position of b, positions of spatial 0..n).
    fn conv_layout(&mut self, a: u8, b: u8) -> Result<(i64, i64, Vec<i64>)> {
        self.expect_punct(b'[')?;
        let (mut pa, mut pb) = (None, None);
        let mut spatial: Vec<Option<i64>> = Vec::new();
        let mut i = 0i64;
        if !self.is_punct(b']') {
            loop {
                match self.tok {
                    Tok::Ident(s) if s.len() == 1 && s.as_bytes()[0] == a && pa.is_none() => {
                        pa = Some(i)
                    }
                    Tok::Ident(s) if s.len() == 1 && s.as_bytes()[0] == b && pb.is_none() => {
                        pb = Some(i)
                    }
                    Tok::Int(s) => {
                        let k: usize = s
                            .parse()
                            .ok()
                            .filter(|k| *k < 64)
                            .ok_or_else(|| self.err("bad spatial dimension"))?;
                        if spatial.len() <= k {
                            spatial.resize(k + 1, None);
                        }
                        if spatial[k].replace(i).is_some() {
                            return Err(self.err("repeated spatial dimension"));
                        }
                    }
                    _ => {
                        return Err(
                            self.err(format!("unexpected {} in conv layout", self.describe()))
                        )
                    }
                }
                self.bump()?;
                i += 1;
                if !self.eat_punct(b',')? {
                    break;
                }
            }
        }
        self.expect_punct(b']')?;
        let spatial: Option<Vec<i64>> = spatial.into_iter().collect();
        match (pa, pb, spatial) {
            (Some(pa), Some(pb), Some(s)) => Ok((pa, pb, s)),
            _ => Err(self.err("incomplete conv layout")),
        }
    }
}

const I64: ElementType = ElementType::Int {
    bits: 64,
    signed: true,
};

/// Parse `i32`, `ui8`, `si16`, `f32`, `bf16`, `f8E4M3FN`, ...
pub fn scalar_type(s: &str) -> Option<ElementType> {
    if let Some(k) = FloatKind::from_name(s) {
        return Some(ElementType::Float(k));
    }
    let (signed, digits) = if let Some(d) = s.strip_prefix("ui") {
        (false, d)
    } else if let Some(d) = s.strip_prefix("si") {
        (true, d)
    } else if let Some(d) = s.strip_prefix('i') {
        (true, d)
    } else {
        return None;
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let bits: u16 = digits.parse().ok()?;
    if bits == 0 || bits > 64 {
        return None;
    }
    Some(ElementType::Int { bits, signed })
}

fn parse_int_text(s: &str) -> Option<u128> {
    if let Some(h) = s.strip_prefix("0x") {
        u128::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

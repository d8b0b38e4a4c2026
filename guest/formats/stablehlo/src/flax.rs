//! Flax parameters: `flax.serialization.to_bytes` msgpack → leaves sorted like `jax.tree_util`.
//!
//! Arrays are msgpack ExtType 1 (and numpy scalars ExtType 3) whose payload is the msgpack array
//! `[shape, dtype name, raw little-endian bytes]`; lists were turned into maps keyed "0", "1", …;
//! arrays above Flax's chunk size are `{"__msgpack_chunked_array__": true, "shape": ..,
//! "chunks": {"0": .., ..}}`.

use crate::ast::{ElementType, FloatKind};
use crate::error::{Error, Result, MAX_DEPTH};
use crate::export::{Aval, DType, Exported, PyTree};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use rmp::Marker;

/// One step of a leaf's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathKey {
    /// A dict key.
    Key(String),
    /// A list/tuple index (a map whose keys are all "0".."n-1").
    Index(u64),
}

/// A tensor leaf.
#[derive(Clone, Debug, PartialEq)]
pub struct Leaf {
    /// Path from the root.
    pub path: Vec<PathKey>,
    /// Element type.
    pub element: ElementType,
    /// numpy dtype name as stored (`float32`, `bfloat16`, ...).
    pub dtype: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Raw little-endian element data, C order.
    pub data: Vec<u8>,
}

impl Leaf {
    /// The path written like `jax.tree_util.keystr`: `['params']['Dense_0']['kernel']`.
    pub fn path_string(&self) -> String {
        path_string(&self.path)
    }
}

/// Write a path like `jax.tree_util.keystr`.
pub fn path_string(path: &[PathKey]) -> String {
    let mut s = String::new();
    for k in path {
        match k {
            PathKey::Key(k) => s.push_str(&format!("['{k}']")),
            PathKey::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A decoded msgpack value (only what Flax writes).
#[derive(Clone, Debug)]
enum Value {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bin(Vec<u8>),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Ext(i8, Vec<u8>),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, msg: impl Into<String>) -> Error {
        Error::at_offset(self.pos, msg)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| self.err(format!("truncated msgpack: need {n} more bytes")))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, b| a << 8 | u64::from(*b)))
    }

    fn len(&mut self, n: usize) -> Result<usize> {
        let v = self.be(n)?;
        let v = usize::try_from(v).map_err(|_| self.err("length too large"))?;
        // Every element takes at least one byte: a length beyond the rest of the input is a lie.
        if v > self.buf.len() - self.pos {
            return Err(self.err(format!("length {v} exceeds the remaining input")));
        }
        Ok(v)
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(self.err("msgpack nested too deeply"));
        }
        let at = self.pos;
        let m = Marker::from_u8(self.take(1)?[0]);
        let v = match m {
            Marker::Null => Value::Nil,
            Marker::True => Value::Bool(true),
            Marker::False => Value::Bool(false),
            Marker::FixPos(v) => Value::Int(i128::from(v)),
            Marker::FixNeg(v) => Value::Int(i128::from(v)),
            Marker::U8 => Value::Int(i128::from(self.be(1)?)),
            Marker::U16 => Value::Int(i128::from(self.be(2)?)),
            Marker::U32 => Value::Int(i128::from(self.be(4)?)),
            Marker::U64 => Value::Int(i128::from(self.be(8)?)),
            Marker::I8 => Value::Int(i128::from(self.be(1)? as u8 as i8)),
            Marker::I16 => Value::Int(i128::from(self.be(2)? as u16 as i16)),
            Marker::I32 => Value::Int(i128::from(self.be(4)? as u32 as i32)),
            Marker::I64 => Value::Int(i128::from(self.be(8)? as i64)),
            Marker::F32 => Value::Float(f64::from(f32::from_bits(self.be(4)? as u32))),
            Marker::F64 => Value::Float(f64::from_bits(self.be(8)?)),
            Marker::FixStr(n) => self.str(usize::from(n))?,
            Marker::Str8 => {
                let n = self.len(1)?;
                self.str(n)?
            }
            Marker::Str16 => {
                let n = self.len(2)?;
                self.str(n)?
            }
            Marker::Str32 => {
                let n = self.len(4)?;
                self.str(n)?
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let w = match m {
                    Marker::Bin8 => 1,
                    Marker::Bin16 => 2,
                    _ => 4,
                };
                let n = self.len(w)?;
                Value::Bin(self.take(n)?.to_vec())
            }
            Marker::FixArray(n) => self.array(usize::from(n), depth)?,
            Marker::Array16 => {
                let n = self.len(2)?;
                self.array(n, depth)?
            }
            Marker::Array32 => {
                let n = self.len(4)?;
                self.array(n, depth)?
            }
            Marker::FixMap(n) => self.map(usize::from(n), depth)?,
            Marker::Map16 => {
                let n = self.len(2)?;
                self.map(n, depth)?
            }
            Marker::Map32 => {
                let n = self.len(4)?;
                self.map(n, depth)?
            }
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16 => {
                let n = match m {
                    Marker::FixExt1 => 1,
                    Marker::FixExt2 => 2,
                    Marker::FixExt4 => 4,
                    Marker::FixExt8 => 8,
                    _ => 16,
                };
                let t = self.take(1)?[0] as i8;
                Value::Ext(t, self.take(n)?.to_vec())
            }
            Marker::Ext8 | Marker::Ext16 | Marker::Ext32 => {
                let w = match m {
                    Marker::Ext8 => 1,
                    Marker::Ext16 => 2,
                    _ => 4,
                };
                let n = self.len(w)?;
                let t = self.take(1)?[0] as i8;
                Value::Ext(t, self.take(n)?.to_vec())
            }
            Marker::Reserved => {
                return Err(Error::at_offset(at, "reserved msgpack marker 0xc1"));
            }
        };
        Ok(v)
    }

    fn str(&mut self, n: usize) -> Result<Value> {
        let at = self.pos;
        let b = self.take(n)?;
        let s = core::str::from_utf8(b).map_err(|_| Error::at_offset(at, "string is not UTF-8"))?;
        Ok(Value::Str(s.to_string()))
    }

    fn array(&mut self, n: usize, depth: usize) -> Result<Value> {
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            v.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(v))
    }

    fn map(&mut self, n: usize, depth: usize) -> Result<Value> {
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            let val = self.value(depth + 1)?;
            v.push((k, val));
        }
        Ok(Value::Map(v))
    }
}

fn decode_all(buf: &[u8]) -> Result<Value> {
    let mut r = Reader { buf, pos: 0 };
    let v = r.value(0)?;
    if r.pos != buf.len() {
        return Err(r.err("trailing bytes after the msgpack value"));
    }
    Ok(v)
}

/// numpy dtype name → element type.
pub fn element_of_dtype(name: &str) -> Option<ElementType> {
    let int = |bits, signed| Some(ElementType::Int { bits, signed });
    match name {
        "bool" => Some(ElementType::BOOL),
        "int4" => int(4, true),
        "int8" => int(8, true),
        "int16" => int(16, true),
        "int32" => int(32, true),
        "int64" => int(64, true),
        "uint4" => int(4, false),
        "uint8" => int(8, false),
        "uint16" => int(16, false),
        "uint32" => int(32, false),
        "uint64" => int(64, false),
        "float16" => Some(ElementType::Float(FloatKind::F16)),
        "bfloat16" => Some(ElementType::Float(FloatKind::BF16)),
        "float32" => Some(ElementType::Float(FloatKind::F32)),
        "float64" => Some(ElementType::Float(FloatKind::F64)),
        "complex64" => Some(ElementType::Complex(alloc::boxed::Box::new(
            ElementType::Float(FloatKind::F32),
        ))),
        "complex128" => Some(ElementType::Complex(alloc::boxed::Box::new(
            ElementType::Float(FloatKind::F64),
        ))),
        "float8_e4m3fn" => Some(ElementType::Float(FloatKind::F8E4M3FN)),
        "float8_e5m2" => Some(ElementType::Float(FloatKind::F8E5M2)),
        _ => None,
    }
}

/// Decode an ExtType 1/3 payload `[shape, dtype, bytes]`.
fn decode_array(
    payload: &[u8],
    path: &[PathKey],
) -> Result<(ElementType, String, Vec<u64>, Vec<u8>)> {
    let where_ = || path_string(path);
    let Value::Array(parts) =
        decode_all(payload).map_err(|e| e.context(&format!("array at {}", where_())))?
    else {
        return Err(Error::msg(format!(
            "array at {}: payload is not a list",
            where_()
        )));
    };
    let [shape, dtype, data] = parts.as_slice() else {
        return Err(Error::msg(format!(
            "array at {}: payload must have 3 parts",
            where_()
        )));
    };
    let shape =
        shape_of(shape).ok_or_else(|| Error::msg(format!("array at {}: bad shape", where_())))?;
    let Value::Str(dtype) = dtype else {
        return Err(Error::msg(format!(
            "array at {}: dtype is not a string",
            where_()
        )));
    };
    let element = element_of_dtype(dtype).ok_or_else(|| {
        Error::msg(format!(
            "array at {}: unsupported dtype '{dtype}'",
            where_()
        ))
    })?;
    let Value::Bin(data) = data else {
        return Err(Error::msg(format!(
            "array at {}: data is not bytes",
            where_()
        )));
    };
    let expect = element_bytes(&element, &shape)
        .ok_or_else(|| Error::msg(format!("array at {}: shape too large", where_())))?;
    if data.len() as u64 != expect {
        return Err(Error::msg(format!(
            "array at {}: {} bytes for shape {:?} of {dtype} (want {expect})",
            where_(),
            data.len(),
            shape
        )));
    }
    Ok((element, dtype.clone(), shape, data.clone()))
}

fn element_bytes(e: &ElementType, shape: &[u64]) -> Option<u64> {
    let n = shape.iter().try_fold(1u64, |a, d| a.checked_mul(*d))?;
    let w = match e {
        ElementType::Int { bits: 4, .. } => return Some(n.div_ceil(2)),
        e => e.storage_bytes() as u64,
    };
    n.checked_mul(w)
}

fn shape_of(v: &Value) -> Option<Vec<u64>> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|d| match d {
                Value::Int(i) => u64::try_from(*i).ok(),
                _ => None,
            })
            .collect(),
        Value::Map(_) => list_items(v)?
            .into_iter()
            .map(|d| match d {
                Value::Int(i) => u64::try_from(*i).ok(),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// A map keyed "0".."n-1" as its items in index order.
fn list_items(v: &Value) -> Option<Vec<&Value>> {
    let Value::Map(entries) = v else { return None };
    let mut items: Vec<Option<&Value>> = alloc::vec![None; entries.len()];
    for (k, val) in entries {
        let Value::Str(k) = k else { return None };
        let i: usize = canonical_index(k)?;
        let slot = items.get_mut(i)?;
        if slot.replace(val).is_some() {
            return None;
        }
    }
    items.into_iter().collect()
}

fn canonical_index(k: &str) -> Option<usize> {
    if k.is_empty() || (k.len() > 1 && k.starts_with('0')) || !k.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    k.parse().ok()
}

/// Parse `flax.serialization.to_bytes` output into leaves in `jax.tree_util` flatten order.
pub fn parse_params(buf: &[u8]) -> Result<Vec<Leaf>> {
    let root = decode_all(buf)?;
    let mut out = Vec::new();
    let mut path = Vec::new();
    flatten(&root, &mut path, &mut out, 0)?;
    Ok(out)
}

fn flatten(v: &Value, path: &mut Vec<PathKey>, out: &mut Vec<Leaf>, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::msg("parameter tree nested too deeply"));
    }
    match v {
        Value::Nil => Ok(()),
        Value::Map(entries) => {
            if is_chunked(entries) {
                out.push(chunked(entries, path)?);
                return Ok(());
            }
            if !entries.is_empty() {
                if let Some(items) = list_items(v) {
                    for (i, item) in items.into_iter().enumerate() {
                        path.push(PathKey::Index(i as u64));
                        flatten(item, path, out, depth + 1)?;
                        path.pop();
                    }
                    return Ok(());
                }
            }
            let mut keyed = Vec::with_capacity(entries.len());
            for (k, val) in entries {
                let Value::Str(k) = k else {
                    return Err(Error::msg(format!(
                        "non-string key in map at {}",
                        path_string(path)
                    )));
                };
                keyed.push((k.as_str(), val));
            }
            keyed.sort_by(|a, b| a.0.cmp(b.0));
            if keyed.windows(2).any(|w| w[0].0 == w[1].0) {
                return Err(Error::msg(format!(
                    "duplicate key in map at {}",
                    path_string(path)
                )));
            }
            for (k, val) in keyed {
                path.push(PathKey::Key(k.to_string()));
                flatten(val, path, out, depth + 1)?;
                path.pop();
            }
            Ok(())
        }
        Value::Ext(1 | 3, payload) => {
            let (element, dtype, shape, data) = decode_array(payload, path)?;
            out.push(Leaf {
                path: path.clone(),
                element,
                dtype,
                shape,
                data,
            });
            Ok(())
        }
        Value::Ext(t, _) => Err(Error::msg(format!(
            "unsupported msgpack ext type {t} at {}",
            path_string(path)
        ))),
        Value::Int(i) => {
            let v = i64::try_from(*i).map_err(|_| {
                Error::msg(format!("integer leaf too large at {}", path_string(path)))
            })?;
            out.push(scalar(path, "int64", v.to_le_bytes().to_vec()));
            Ok(())
        }
        Value::Float(f) => {
            out.push(scalar(path, "float64", f.to_le_bytes().to_vec()));
            Ok(())
        }
        Value::Bool(b) => {
            out.push(scalar(path, "bool", alloc::vec![u8::from(*b)]));
            Ok(())
        }
        Value::Array(_) | Value::Str(_) | Value::Bin(_) => Err(Error::msg(format!(
            "unsupported leaf (list, string or bytes) at {}",
            path_string(path)
        ))),
    }
}

fn scalar(path: &[PathKey], dtype: &str, data: Vec<u8>) -> Leaf {
    Leaf {
        path: path.to_vec(),
        element: element_of_dtype(dtype).unwrap_or(ElementType::BOOL),
        dtype: dtype.to_string(),
        shape: Vec::new(),
        data,
    }
}

fn get<'v>(entries: &'v [(Value, Value)], key: &str) -> Option<&'v Value> {
    entries
        .iter()
        .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
        .map(|(_, v)| v)
}

fn is_chunked(entries: &[(Value, Value)]) -> bool {
    matches!(
        get(entries, "__msgpack_chunked_array__"),
        Some(Value::Bool(true))
    )
}

fn chunked(entries: &[(Value, Value)], path: &[PathKey]) -> Result<Leaf> {
    let at = || path_string(path);
    let shape = get(entries, "shape")
        .and_then(shape_of)
        .ok_or_else(|| Error::msg(format!("chunked array at {}: bad shape", at())))?;
    let chunks = get(entries, "chunks")
        .and_then(|c| match c {
            Value::Array(v) => Some(v.iter().collect::<Vec<_>>()),
            m => list_items(m),
        })
        .ok_or_else(|| Error::msg(format!("chunked array at {}: bad chunks", at())))?;
    let mut data = Vec::new();
    let mut kind: Option<(ElementType, String)> = None;
    for c in chunks {
        let Value::Ext(1 | 3, payload) = c else {
            return Err(Error::msg(format!(
                "chunked array at {}: chunk is not an array",
                at()
            )));
        };
        let (e, d, _, bytes) = decode_array(payload, path)?;
        if kind.as_ref().is_some_and(|(k, _)| *k != e) {
            return Err(Error::msg(format!(
                "chunked array at {}: chunks differ in dtype",
                at()
            )));
        }
        kind = Some((e, d));
        data.extend_from_slice(&bytes);
    }
    let (element, dtype) =
        kind.ok_or_else(|| Error::msg(format!("chunked array at {}: no chunks", at())))?;
    if element_bytes(&element, &shape) != Some(data.len() as u64) {
        return Err(Error::msg(format!(
            "chunked array at {}: data does not fill its shape",
            at()
        )));
    }
    Ok(Leaf {
        path: path.to_vec(),
        element,
        dtype,
        shape,
        data,
    })
}

/// Where one `@main` argument comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgSource {
    /// Parameter leaf `i` of [`parse_params`]'s output.
    Param(usize),
    /// The user's input number `i` (counting the non-parameter leaves that `@main` keeps).
    Input(usize),
}

fn dtype_matches(d: DType, e: &ElementType) -> bool {
    let int = |b: u16, s: bool| *e == ElementType::Int { bits: b, signed: s };
    match d {
        DType::Bool => *e == ElementType::BOOL,
        DType::I4 => int(4, true),
        DType::I8 => int(8, true),
        DType::I16 => int(16, true),
        DType::I32 => int(32, true),
        DType::I64 => int(64, true),
        DType::U4 => int(4, false),
        DType::U8 => int(8, false),
        DType::U16 => int(16, false),
        DType::U32 => int(32, false),
        DType::U64 => int(64, false),
        DType::F16 => *e == ElementType::Float(FloatKind::F16),
        DType::BF16 => *e == ElementType::Float(FloatKind::BF16),
        DType::F32 => *e == ElementType::Float(FloatKind::F32),
        DType::F64 => *e == ElementType::Float(FloatKind::F64),
        _ => false,
    }
}

/// Bind `@main`'s arguments for a function exported as `f(variables, *inputs)`: the leaves of
/// positional argument `params_arg` come from `leaves` by path, every other leaf is a user input.
/// `module_kept_var_idx` then selects what `@main` really takes. Shapes and dtypes are checked
/// against the export's avals.
pub fn bind(exported: &Exported, leaves: &[Leaf], params_arg: usize) -> Result<Vec<ArgSource>> {
    let PyTree::Tuple(top) = &exported.in_tree else {
        return Err(Error::msg("in_tree is not (args, kwargs)"));
    };
    let Some(PyTree::Tuple(args)) = top.first() else {
        return Err(Error::msg("in_tree has no positional arguments"));
    };
    // Flattened leaf index → source.
    let mut sources = Vec::new();
    let mut inputs = 0usize;
    let mut used = alloc::vec![false; leaves.len()];
    for (ai, arg) in args.iter().enumerate() {
        let paths = arg.leaf_paths();
        for p in paths {
            let flat = sources.len();
            if ai == params_arg {
                let i = leaves
                    .iter()
                    .position(|l| l.path_string() == p)
                    .ok_or_else(|| Error::msg(format!("parameter {p} is not in the msgpack")))?;
                let aval: &Aval = exported
                    .in_avals
                    .get(flat)
                    .ok_or_else(|| Error::msg("fewer avals than leaves"))?;
                if aval.static_shape().as_deref() != Some(leaves[i].shape.as_slice())
                    || !dtype_matches(aval.dtype, &leaves[i].element)
                {
                    return Err(Error::msg(format!(
                        "parameter {p}: msgpack has {} {:?}, the function wants {:?} {:?}",
                        leaves[i].dtype, leaves[i].shape, aval.dtype, aval.shape
                    )));
                }
                used[i] = true;
                sources.push(ArgSource::Param(i));
            } else {
                sources.push(ArgSource::Input(usize::MAX));
            }
        }
    }
    if let Some(i) = used.iter().position(|u| !u) {
        return Err(Error::msg(format!(
            "msgpack leaf {} is not an argument of the function",
            leaves[i].path_string()
        )));
    }
    let mut out = Vec::new();
    for &k in &exported.module_kept_var_idx {
        let s = sources
            .get(usize::from(k))
            .ok_or_else(|| Error::msg("module_kept_var_idx out of range"))?;
        out.push(match s {
            ArgSource::Input(_) => {
                inputs += 1;
                ArgSource::Input(inputs - 1)
            }
            p => p.clone(),
        });
    }
    Ok(out)
}

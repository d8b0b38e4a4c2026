//! MLIR bytecode (`ML\xefR`) holding a StableHLO portable artifact (VHLO ops) → [`crate::ast`].
//!
//! The container follows MLIR's documented bytecode format (sections, prefix varints, string
//! table, dialect/op-name table, lazily decoded attribute/type table, IR section with nested
//! region sections). Builtin and VHLO attribute/type encodings are decoded here; [`vhlo`] maps
//! VHLO ops back onto the StableHLO generic shape the text parser produces.

mod reader;
mod vhlo;
mod vhlo_ops;

use crate::ast::*;
use crate::error::{Error, Result, MAX_DEPTH};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use reader::Reader;

/// Bytecode versions this reader accepts.
pub const SUPPORTED_VERSIONS: core::ops::RangeInclusive<u64> = 4..=6;

/// Magic number of MLIR bytecode.
pub const MAGIC: &[u8; 4] = b"ML\xefR";

const SECTION_STRING: u8 = 0;
const SECTION_DIALECT: u8 = 1;
const SECTION_ATTR_TYPE: u8 = 2;
const SECTION_ATTR_TYPE_OFFSET: u8 = 3;
const SECTION_IR: u8 = 4;
const SECTION_PROPERTIES: u8 = 8;

const OP_HAS_ATTRS: u8 = 0x01;
const OP_HAS_RESULTS: u8 = 0x02;
const OP_HAS_OPERANDS: u8 = 0x04;
const OP_HAS_SUCCESSORS: u8 = 0x08;
const OP_HAS_INLINE_REGIONS: u8 = 0x10;
const OP_HAS_USE_LIST_ORDERS: u8 = 0x20;
const OP_HAS_PROPERTIES: u8 = 0x40;

/// One attribute or type entry: owning dialect, byte range in the attr/type section, and whether
/// it uses the dialect's own encoding (else it is assembly text).
#[derive(Clone, Copy)]
struct Entry {
    dialect: usize,
    start: usize,
    end: usize,
    custom: bool,
}

/// A decoded attribute: either a value or a location (skipped).
#[derive(Clone, Debug)]
enum Decoded {
    Attr(Attr),
    Loc(Option<String>),
}

pub(crate) struct File<'a> {
    data: &'a [u8],
    version: u64,
    strings: Vec<&'a str>,
    dialects: Vec<&'a str>,
    /// (dialect index, op name without dialect, was registered)
    op_names: Vec<(usize, &'a str, bool)>,
    attrs: Vec<Entry>,
    types: Vec<Entry>,
    attr_type_section: (usize, usize),
    properties: Vec<(usize, usize)>,
    attr_cache: RefCell<Vec<Option<Decoded>>>,
    type_cache: RefCell<Vec<Option<Type>>>,
    depth: core::cell::Cell<usize>,
}

/// Parse a bytecode file into a module.
pub fn parse_bytecode(data: &[u8]) -> Result<Module> {
    let file = File::open(data)?;
    file.module()
}

impl<'a> File<'a> {
    fn open(data: &'a [u8]) -> Result<File<'a>> {
        let mut r = Reader::new(data, 0);
        if r.bytes(4)? != MAGIC {
            return Err(Error::at_offset(0, "not MLIR bytecode (bad magic)"));
        }
        let version = r.varint()?;
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(Error::at_offset(
                4,
                format!("unsupported MLIR bytecode version {version}"),
            ));
        }
        let _producer = r.cstr()?;
        let mut sections: [Option<(usize, usize)>; 9] = [None; 9];
        while !r.is_empty() {
            let (id, start, end) = r.section()?;
            let slot = sections
                .get_mut(usize::from(id))
                .ok_or_else(|| Error::at_offset(start, format!("unknown section id {id}")))?;
            if slot.replace((start, end)).is_some() {
                return Err(Error::at_offset(
                    start,
                    format!("section {id} appears twice"),
                ));
            }
        }
        let need = |id: u8| {
            sections[usize::from(id)]
                .ok_or_else(|| Error::msg(format!("bytecode lacks section {id}")))
        };
        let strings = read_strings(data, need(SECTION_STRING)?)?;
        let mut file = File {
            data,
            version,
            strings,
            dialects: Vec::new(),
            op_names: Vec::new(),
            attrs: Vec::new(),
            types: Vec::new(),
            attr_type_section: need(SECTION_ATTR_TYPE)?,
            properties: Vec::new(),
            attr_cache: RefCell::new(Vec::new()),
            type_cache: RefCell::new(Vec::new()),
            depth: core::cell::Cell::new(0),
        };
        file.read_dialects(need(SECTION_DIALECT)?)?;
        file.read_attr_type_offsets(need(SECTION_ATTR_TYPE_OFFSET)?)?;
        if let Some(p) = sections[usize::from(SECTION_PROPERTIES)] {
            file.read_properties(p)?;
        }
        file.attr_cache = RefCell::new(vec![None; file.attrs.len()]);
        file.type_cache = RefCell::new(vec![None; file.types.len()]);
        let ir = need(SECTION_IR)?;
        let _ = ir;
        Ok(file)
    }

    fn reader(&self, range: (usize, usize)) -> Reader<'a> {
        Reader::new(&self.data[..range.1], range.0)
    }

    fn string(&self, i: u64) -> Result<&'a str> {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.strings.get(i).copied())
            .ok_or_else(|| Error::msg(format!("string index {i} out of range")))
    }

    fn read_dialects(&mut self, range: (usize, usize)) -> Result<()> {
        let mut r = self.reader(range);
        let n = r.count()?;
        for _ in 0..n {
            let (name, versioned) = r.varint_flag()?;
            self.dialects.push(self.string(name)?);
            if versioned {
                let (id, _, _) = r.section()?;
                if id != 7 {
                    return Err(r.err("expected a dialect version section"));
                }
            }
        }
        if self.version >= 4 {
            let _num_ops = r.varint()?;
        }
        while !r.is_empty() {
            let d = r.index(self.dialects.len(), "dialect")?;
            let n = r.count()?;
            for _ in 0..n {
                let (name, registered) = if self.version >= 5 {
                    r.varint_flag()?
                } else {
                    (r.varint()?, true)
                };
                self.op_names.push((d, self.string(name)?, registered));
            }
        }
        Ok(())
    }

    fn read_attr_type_offsets(&mut self, range: (usize, usize)) -> Result<()> {
        let mut r = self.reader(range);
        let num_attrs = r.count()?;
        let num_types = r.count()?;
        let mut offset = self.attr_type_section.0;
        let end = self.attr_type_section.1;
        let mut all = Vec::new();
        while all.len() < num_attrs + num_types {
            let d = r.index(self.dialects.len(), "dialect")?;
            let n = r.count()?;
            for _ in 0..n {
                let (size, custom) = r.varint_flag()?;
                let size = usize::try_from(size).map_err(|_| r.err("entry too large"))?;
                let e = offset
                    .checked_add(size)
                    .filter(|e| *e <= end)
                    .ok_or_else(|| r.err("attribute/type entry past its section"))?;
                all.push(Entry {
                    dialect: d,
                    start: offset,
                    end: e,
                    custom,
                });
                offset = e;
            }
            if all.len() > num_attrs + num_types {
                return Err(r.err("more attribute/type entries than declared"));
            }
        }
        self.types = all.split_off(num_attrs);
        self.attrs = all;
        Ok(())
    }

    fn read_properties(&mut self, range: (usize, usize)) -> Result<()> {
        let mut r = self.reader(range);
        let n = r.count()?;
        for _ in 0..n {
            let start = r.pos();
            let size = r.varint()?;
            let size = usize::try_from(size).map_err(|_| r.err("properties too large"))?;
            let body = r.pos();
            r.bytes(size)?;
            let _ = start;
            self.properties.push((body, body + size));
        }
        Ok(())
    }

    fn enter(&self) -> Result<()> {
        let d = self.depth.get() + 1;
        if d > MAX_DEPTH * 4 {
            return Err(Error::msg("attributes or types nested too deeply"));
        }
        self.depth.set(d);
        Ok(())
    }

    fn leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }

    // ----- attributes and types -----

    fn decoded(&self, i: u64) -> Result<Decoded> {
        let idx = usize::try_from(i)
            .ok()
            .filter(|i| *i < self.attrs.len())
            .ok_or_else(|| Error::msg(format!("attribute index {i} out of range")))?;
        if let Some(d) = &self.attr_cache.borrow()[idx] {
            return Ok(d.clone());
        }
        self.enter()?;
        let e = self.attrs[idx];
        let r = self.decode_attr(e);
        self.leave();
        let d = r.map_err(|err| err.context(&format!("attribute #{idx}")))?;
        self.attr_cache.borrow_mut()[idx] = Some(d.clone());
        Ok(d)
    }

    /// Attribute `i` (a location is an error).
    pub(crate) fn attr(&self, i: u64) -> Result<Attr> {
        match self.decoded(i)? {
            Decoded::Attr(a) => Ok(a),
            Decoded::Loc(_) => Ok(Attr::Opaque(String::from("loc"))),
        }
    }

    pub(crate) fn ty(&self, i: u64) -> Result<Type> {
        let idx = usize::try_from(i)
            .ok()
            .filter(|i| *i < self.types.len())
            .ok_or_else(|| Error::msg(format!("type index {i} out of range")))?;
        if let Some(t) = &self.type_cache.borrow()[idx] {
            return Ok(t.clone());
        }
        self.enter()?;
        let e = self.types[idx];
        let r = self.decode_type(e);
        self.leave();
        let t = r.map_err(|err| err.context(&format!("type #{idx}")))?;
        self.type_cache.borrow_mut()[idx] = Some(t.clone());
        Ok(t)
    }

    fn decode_attr(&self, e: Entry) -> Result<Decoded> {
        let mut r = self.reader((e.start, e.end));
        let dialect = self.dialects[e.dialect];
        if !e.custom {
            let text = r.cstr()?;
            return Ok(Decoded::Attr(Attr::Opaque(text.to_string())));
        }
        let d = match dialect {
            "builtin" => self.builtin_attr(&mut r)?,
            "vhlo" => Decoded::Attr(vhlo::read_attr(self, &mut r)?),
            other => {
                return Err(r.err(format!("attribute of unsupported dialect '{other}'")));
            }
        };
        Ok(d)
    }

    fn decode_type(&self, e: Entry) -> Result<Type> {
        let mut r = self.reader((e.start, e.end));
        let dialect = self.dialects[e.dialect];
        if !e.custom {
            let text = r.cstr()?;
            return Ok(Type::Opaque(text.to_string()));
        }
        match dialect {
            "builtin" => self.builtin_type(&mut r),
            "vhlo" => vhlo::read_type(self, &mut r),
            other => Err(r.err(format!("type of unsupported dialect '{other}'"))),
        }
    }

    fn attr_list(&self, r: &mut Reader) -> Result<Vec<Attr>> {
        let n = r.count()?;
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            out.push(self.attr(r.varint()?)?);
        }
        Ok(out)
    }

    pub(crate) fn type_list(&self, r: &mut Reader) -> Result<Vec<Type>> {
        let n = r.count()?;
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            out.push(self.ty(r.varint()?)?);
        }
        Ok(out)
    }

    fn builtin_attr(&self, r: &mut Reader) -> Result<Decoded> {
        let code = r.varint()?;
        let a = match code {
            0 => Attr::Array(self.attr_list(r)?),
            1 => {
                let n = r.count()?;
                let mut out = Vec::new();
                for _ in 0..n {
                    let name = match self.attr(r.varint()?)? {
                        Attr::String(s) => s,
                        _ => return Err(r.err("dictionary key is not a string")),
                    };
                    let value = self.attr(r.varint()?)?;
                    out.push(NamedAttr { name, value });
                }
                sort_attrs(&mut out);
                Attr::Dict(out)
            }
            2 => Attr::String(self.string(r.varint()?)?.to_string()),
            3 => {
                let s = self.string(r.varint()?)?.to_string();
                self.ty(r.varint()?)?;
                Attr::String(s)
            }
            4 => match self.attr(r.varint()?)? {
                Attr::String(s) => Attr::Symbol(s),
                _ => return Err(r.err("symbol reference is not a string")),
            },
            6 => Attr::Type(self.ty(r.varint()?)?),
            7 => Attr::Unit,
            8 => {
                let ty = self.ty(r.varint()?)?;
                let (elem, bits) =
                    scalar_int(&ty).ok_or_else(|| r.err("integer attribute type"))?;
                let v = r.apint(bits)?;
                int_attr(sign_extend(v, bits, &elem), elem)
            }
            9 => {
                let ty = self.ty(r.varint()?)?;
                let Type::Scalar(ElementType::Float(k)) = ty else {
                    return Err(r.err("float attribute needs a float type"));
                };
                let bits = r.apint(k.bytes() as u32 * 8)?;
                Attr::Float(
                    crate::numeric::float_value(bits as u64, k),
                    ElementType::Float(k),
                )
            }
            10..=15 => return Ok(Decoded::Loc(self.location_name(code, r)?)),
            17 => {
                let elem = match self.ty(r.varint()?)? {
                    Type::Scalar(e) => e,
                    _ => return Err(r.err("dense array element type")),
                };
                let n = r.count()?;
                let blob = r.blob()?;
                dense_array(elem, n, blob).ok_or_else(|| r.err("dense array size mismatch"))?
            }
            18 => {
                let Type::Tensor(t) = self.ty(r.varint()?)? else {
                    return Err(r.err("dense elements need a tensor type"));
                };
                let blob = r.blob()?;
                Attr::Elements(dense_elements(t, blob).ok_or_else(|| r.err("dense data size"))?)
            }
            _ => return Err(r.err(format!("unsupported builtin attribute code {code}"))),
        };
        Ok(Decoded::Attr(a))
    }

    fn location_name(&self, code: u64, r: &mut Reader) -> Result<Option<String>> {
        // NameLoc: (name, child); other locations are not needed.
        if code == 14 {
            if let Attr::String(s) = self.attr(r.varint()?)? {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    fn builtin_type(&self, r: &mut Reader) -> Result<Type> {
        let code = r.varint()?;
        Ok(match code {
            0 => {
                let w = r.varint()?;
                let bits = u16::try_from(w >> 2).map_err(|_| r.err("integer width"))?;
                if bits == 0 || bits > 64 {
                    return Err(r.err("unsupported integer width"));
                }
                Type::Scalar(ElementType::Int {
                    bits,
                    signed: w & 3 != 2,
                })
            }
            1 => Type::Index,
            2 => {
                let i = self.type_list(r)?;
                let o = self.type_list(r)?;
                Type::Function(i, o)
            }
            3 => Type::Scalar(ElementType::Float(FloatKind::BF16)),
            4 => Type::Scalar(ElementType::Float(FloatKind::F16)),
            5 => Type::Scalar(ElementType::Float(FloatKind::F32)),
            6 => Type::Scalar(ElementType::Float(FloatKind::F64)),
            9 => match self.ty(r.varint()?)? {
                Type::Scalar(e) => Type::Scalar(ElementType::Complex(alloc::boxed::Box::new(e))),
                _ => return Err(r.err("complex element type")),
            },
            12 => Type::Opaque(String::from("none")),
            13 | 14 => {
                let encoding = if code == 14 {
                    Some(format!("{:?}", self.attr(r.varint()?)?))
                } else {
                    None
                };
                let shape = shape(r)?;
                match self.ty(r.varint()?)? {
                    Type::Scalar(element) => Type::Tensor(TensorType {
                        shape,
                        element,
                        encoding,
                    }),
                    _ => return Err(r.err("tensor element type")),
                }
            }
            15 => Type::Tuple(self.type_list(r)?),
            _ => return Err(r.err(format!("unsupported builtin type code {code}"))),
        })
    }

    // ----- IR -----

    fn module(&self) -> Result<Module> {
        // The IR section is the last one read by `open`; find it again.
        let mut r = Reader::new(self.data, 4);
        r.varint()?;
        r.cstr()?;
        let mut ir = None;
        while !r.is_empty() {
            let (id, s, e) = r.section()?;
            if id == SECTION_IR {
                ir = Some((s, e));
            }
        }
        let ir = ir.ok_or_else(|| Error::msg("no IR section"))?;
        let mut r = self.reader(ir);
        let (num_ops, has_args) = r.varint_flag()?;
        if has_args || num_ops != 1 {
            return Err(r.err("expected a single top-level module op"));
        }
        let mut scope = Scope::default();
        let raw = self.op(&mut r, &mut scope, 0)?;
        vhlo::to_module(raw)
    }

    /// Parse one op (and its regions) into a raw op tree.
    fn op(&self, r: &mut Reader<'a>, scope: &mut Scope, depth: usize) -> Result<RawOp> {
        if depth > MAX_DEPTH {
            return Err(r.err("regions nested too deeply"));
        }
        let at = r.pos();
        let idx = r.index(self.op_names.len(), "op name")?;
        let (d, name, registered) = self.op_names[idx];
        let name = format!("{}.{}", self.dialects[d], name);
        let mask = r.byte()?;
        let loc = self.decoded(r.varint()?)?;
        let mut attrs = Vec::new();
        if mask & OP_HAS_ATTRS != 0 {
            match self.attr(r.varint()?)? {
                Attr::Dict(d) => attrs = d,
                _ => return Err(Error::at_offset(at, "op attributes are not a dictionary")),
            }
        }
        if mask & OP_HAS_PROPERTIES != 0 {
            let p = if registered {
                let i = r.index(self.properties.len(), "properties")?;
                self.decode_properties(&name, self.properties[i])?
            } else {
                match self.attr(r.varint()?)? {
                    Attr::Dict(d) => d,
                    _ => Vec::new(),
                }
            };
            attrs.extend(p);
            sort_attrs(&mut attrs);
        }
        let mut result_types = Vec::new();
        if mask & OP_HAS_RESULTS != 0 {
            let n = r.count()?;
            for _ in 0..n {
                result_types.push(self.ty(r.varint()?)?);
            }
        }
        let mut operands = Vec::new();
        if mask & OP_HAS_OPERANDS != 0 {
            let n = r.count()?;
            for _ in 0..n {
                let v = r.varint()?;
                operands.push(scope.get(v).ok_or_else(|| {
                    Error::at_offset(at, format!("'{name}' uses undefined value #{v}"))
                })?);
            }
        }
        if mask & OP_HAS_SUCCESSORS != 0 {
            return Err(Error::at_offset(at, "block successors are not supported"));
        }
        if mask & OP_HAS_USE_LIST_ORDERS != 0 {
            skip_use_lists(r, result_types.len())?;
        }
        // Results take their slots now (MLIR defines them before reading nested regions) but get
        // our ids after the regions, matching the text parser's numbering.
        let slots = scope.reserve(result_types.len(), r)?;
        let mut regions = Vec::new();
        if mask & OP_HAS_INLINE_REGIONS != 0 {
            let (n, isolated) = r.varint_flag()?;
            let n = usize::try_from(n)
                .ok()
                .filter(|n| *n <= 64)
                .ok_or_else(|| r.err("too many regions"))?;
            if isolated && self.version >= 2 {
                let (id, s, e) = r.section()?;
                if id != SECTION_IR {
                    return Err(r.err("expected an IR section for an isolated region"));
                }
                let mut sub = self.reader((s, e));
                let mut inner = Scope {
                    next_id: scope.next_id,
                    ..Scope::default()
                };
                if name == "builtin.module" || name == "vhlo.func_v1" {
                    inner.next_id = 0;
                }
                for _ in 0..n {
                    regions.push(self.region(&mut sub, &mut inner, depth + 1)?);
                }
                if name != "builtin.module" && name != "vhlo.func_v1" {
                    scope.next_id = inner.next_id;
                }
                let _ = inner;
            } else {
                for _ in 0..n {
                    regions.push(self.region(r, scope, depth + 1)?);
                }
            }
        }
        let mut results = Vec::new();
        for slot in slots {
            let id = scope.fresh()?;
            scope.values[slot] = Some(id);
            results.push(id);
        }
        let _ = loc;
        Ok(RawOp {
            name,
            operands,
            results,
            result_types,
            attributes: attrs,
            regions,
            offset: at,
        })
    }

    fn region(&self, r: &mut Reader<'a>, scope: &mut Scope, depth: usize) -> Result<RawRegion> {
        let num_blocks = r.count()?;
        if num_blocks == 0 {
            return Ok(RawRegion { blocks: Vec::new() });
        }
        let num_values = r.count()?;
        let base = scope.values.len();
        scope.values.resize(base + num_values, None);
        scope.next_slot.push(base);
        let mut blocks = Vec::new();
        for _ in 0..num_blocks {
            let (num_ops, has_args) = r.varint_flag()?;
            let mut args = Vec::new();
            let mut arg_locs = Vec::new();
            if has_args {
                let n = r.count()?;
                for _ in 0..n {
                    let (t, has_loc) = r.varint_flag()?;
                    let ty = self.ty(t)?;
                    let mut ln = None;
                    if has_loc {
                        if let Decoded::Loc(n) = self.decoded(r.varint()?)? {
                            ln = n;
                        }
                    }
                    let slot = scope.reserve(1, r)?[0];
                    let id = scope.fresh()?;
                    scope.values[slot] = Some(id);
                    args.push((id, ty));
                    arg_locs.push(ln);
                }
                if self.version >= 3 && r.byte()? != 0 {
                    skip_use_lists(r, args.len())?;
                }
            }
            let mut ops = Vec::new();
            for _ in 0..num_ops {
                ops.push(self.op(r, scope, depth)?);
            }
            blocks.push(RawBlock {
                arguments: args,
                arg_locs,
                ops,
            });
        }
        scope.next_slot.pop();
        scope.values.truncate(base);
        Ok(RawRegion { blocks })
    }

    /// Properties of registered ops: only `builtin.module`'s optional `sym_name` and
    /// `sym_visibility` are expected in a portable artifact.
    fn decode_properties(&self, name: &str, range: (usize, usize)) -> Result<Vec<NamedAttr>> {
        let mut r = self.reader(range);
        let mut out = Vec::new();
        if name == "builtin.module" {
            for key in ["sym_name", "sym_visibility"] {
                if r.is_empty() {
                    break;
                }
                let (i, present) = r.varint_flag()?;
                if present {
                    out.push(NamedAttr {
                        name: key.to_string(),
                        value: self.attr(i)?,
                    });
                }
            }
            return Ok(out);
        }
        if let Some(op) = name.strip_prefix("vhlo.") {
            let (_, keys) = vhlo_ops::VHLO_OP_ATTRS
                .iter()
                .find(|(n, _)| *n == op)
                .ok_or_else(|| r.err(format!("unknown VHLO op '{name}'")))?;
            // ODS writes properties in the sorted order of the attribute names.
            let mut keys: Vec<&str> = keys.to_vec();
            keys.sort_unstable();
            for key in keys {
                let i = r.varint()?;
                out.push(NamedAttr {
                    name: key.to_string(),
                    value: self.attr(i)?,
                });
            }
            return Ok(out);
        }
        Err(r.err(format!("properties of op '{name}' are not supported")))
    }
}

/// MLIR-style value slots of one isolated scope plus our own id counter.
#[derive(Default)]
struct Scope {
    values: Vec<Option<ValueId>>,
    next_slot: Vec<usize>,
    next_id: u32,
}

impl Scope {
    fn get(&self, i: u64) -> Option<ValueId> {
        self.values.get(usize::try_from(i).ok()?).copied().flatten()
    }

    fn reserve(&mut self, n: usize, r: &Reader) -> Result<Vec<usize>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let Some(next) = self.next_slot.last_mut() else {
            return Ok(Vec::new()); // top level: values are not recorded
        };
        let start = *next;
        let end = start
            .checked_add(n)
            .filter(|e| *e <= self.values.len())
            .ok_or_else(|| r.err("more values defined than the region declared"))?;
        *next = end;
        Ok((start..end).collect())
    }

    fn fresh(&mut self) -> Result<ValueId> {
        let v = self.next_id;
        self.next_id = v
            .checked_add(1)
            .ok_or_else(|| Error::msg("too many values"))?;
        Ok(v)
    }
}

fn skip_use_lists(r: &mut Reader, num_values: usize) -> Result<()> {
    let n = if num_values > 1 { r.count()? } else { 1 };
    for _ in 0..n {
        if num_values > 1 {
            r.varint()?;
        }
        let (k, _) = r.varint_flag()?;
        for _ in 0..k {
            r.varint()?;
        }
    }
    Ok(())
}

/// An op as read, before VHLO names and attributes are mapped back to StableHLO.
pub(crate) struct RawOp {
    pub name: String,
    pub operands: Vec<ValueId>,
    pub results: Vec<ValueId>,
    pub result_types: Vec<Type>,
    pub attributes: Vec<NamedAttr>,
    pub regions: Vec<RawRegion>,
    pub offset: usize,
}

pub(crate) struct RawRegion {
    pub blocks: Vec<RawBlock>,
}

pub(crate) struct RawBlock {
    pub arguments: Vec<(ValueId, Type)>,
    pub arg_locs: Vec<Option<String>>,
    pub ops: Vec<RawOp>,
}

fn read_strings(data: &[u8], (start, end): (usize, usize)) -> Result<Vec<&str>> {
    let mut r = Reader::new(&data[..end], start);
    let n = r.count()?;
    let mut sizes = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        sizes.push(r.varint()?);
    }
    // Strings are laid out back to front from the end of the section, sizes given in reverse.
    let mut out = vec![""; n];
    let mut tail = end;
    for (i, size) in sizes.into_iter().enumerate() {
        let size = usize::try_from(size).map_err(|_| r.err("string too large"))?;
        let s = tail
            .checked_sub(size)
            .filter(|s| *s >= r.pos() && size >= 1)
            .ok_or_else(|| r.err("string table sizes exceed the section"))?;
        let bytes = &data[s..tail - 1];
        if data[tail - 1] != 0 {
            return Err(Error::at_offset(tail - 1, "string is not NUL-terminated"));
        }
        out[n - 1 - i] =
            core::str::from_utf8(bytes).map_err(|_| Error::at_offset(s, "string is not UTF-8"))?;
        tail = s;
    }
    if tail != r.pos() {
        return Err(r.err("unexpected bytes between string sizes and string data"));
    }
    Ok(out)
}

/// Integer element type and width for IntegerAttr's type.
pub(crate) fn scalar_int(t: &Type) -> Option<(ElementType, u32)> {
    match t {
        Type::Scalar(e @ ElementType::Int { bits, .. }) => Some((e.clone(), u32::from(*bits))),
        Type::Index => Some((ElementType::Index, 64)),
        _ => None,
    }
}

/// Interpret the low `bits` of `v` per the element's signedness.
pub(crate) fn sign_extend(v: u128, bits: u32, e: &ElementType) -> i128 {
    let signed = !matches!(e, ElementType::Int { signed: false, .. });
    let bits = bits.clamp(1, 128);
    let v = if bits < 128 {
        v & ((1u128 << bits) - 1)
    } else {
        v
    };
    if signed && bits > 1 && bits < 128 && (v >> (bits - 1)) & 1 == 1 {
        (v as i128) - (1i128 << bits)
    } else {
        v as i128
    }
}

fn shape(r: &mut Reader) -> Result<Vec<Option<u64>>> {
    let n = r.count()?;
    let mut out = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let d = r.svarint()?;
        out.push(if d < 0 { None } else { Some(d as u64) });
    }
    Ok(out)
}

pub(crate) fn read_shape(r: &mut Reader) -> Result<Vec<Option<u64>>> {
    shape(r)
}

/// Raw tensor data → dense elements (i1 may be bit-packed; one element means splat).
pub(crate) fn dense_elements(ty: TensorType, blob: &[u8]) -> Option<DenseElements> {
    let n = usize::try_from(ty.num_elements()?).ok()?;
    let w = ty.element.storage_bytes();
    if ty.element == ElementType::BOOL {
        if blob.len() == 1 && n != 1 && (blob[0] == 0xFF || blob[0] == 0x01 || blob[0] == 0) {
            return Some(DenseElements::new(ty, true, vec![u8::from(blob[0] != 0)]));
        }
        if blob.len() == n {
            return Some(DenseElements::new(
                ty,
                false,
                blob.iter().map(|b| u8::from(*b != 0)).collect(),
            ));
        }
        if blob.len() == n.div_ceil(8) {
            let data = (0..n).map(|i| (blob[i / 8] >> (i % 8)) & 1).collect();
            return Some(DenseElements::new(ty, false, data));
        }
        return None;
    }
    if blob.len() == w && n != 1 {
        return Some(DenseElements::new(ty, true, blob.to_vec()));
    }
    if blob.len() != n.checked_mul(w)? {
        return None;
    }
    Some(DenseElements::new(ty, false, blob.to_vec()))
}

fn dense_array(elem: ElementType, n: usize, blob: &[u8]) -> Option<Attr> {
    let w = match &elem {
        ElementType::Int { bits: 1, .. } => 1,
        e => e.storage_bytes(),
    };
    if blob.len() != n.checked_mul(w)? {
        return None;
    }
    Some(match elem {
        ElementType::Float(k) => Attr::DenseArray(
            elem.clone(),
            ArrayValues::Float(
                blob.chunks_exact(w)
                    .map(|c| {
                        let mut b = [0u8; 8];
                        b[..w].copy_from_slice(c);
                        crate::numeric::float_value(u64::from_le_bytes(b), k)
                    })
                    .collect(),
            ),
        ),
        _ => Attr::DenseArray(
            elem.clone(),
            ArrayValues::Int(
                blob.chunks_exact(w)
                    .map(|c| {
                        let mut b = [0u8; 8];
                        b[..w].copy_from_slice(c);
                        sign_extend(u128::from(u64::from_le_bytes(b)), (w * 8) as u32, &elem) as i64
                    })
                    .collect(),
            ),
        ),
    })
}

/// An integer attribute; `i1` integers are booleans (MLIR's `true`/`false`).
pub(crate) fn int_attr(v: i128, e: ElementType) -> Attr {
    if e == ElementType::BOOL {
        Attr::Bool(v != 0)
    } else {
        Attr::Int(v, e)
    }
}

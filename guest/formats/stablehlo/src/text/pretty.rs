//! The custom ("pretty") op syntaxes of func, stablehlo, check and interpreter ops, each turned
//! into the generic shape with the generic form's attribute names.

use super::{Parser, I64};
use crate::ast::*;
use crate::error::{Error, Result};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::lexer::Tok;

/// One item of a pretty op's comma-separated operand/attribute list.
enum Item {
    Operand(ValueId),
    Key(String, Attr),
    Bare(String),
    Value(Attr),
}

/// `: type-list` or `: (ins) -> outs`.
enum TypeSpec {
    None,
    List(Vec<Type>),
    Func(Vec<Type>, Vec<Type>),
}

fn i64_array(v: Vec<i64>) -> Attr {
    Attr::DenseArray(I64, ArrayValues::Int(v))
}

fn named(name: &str, value: Attr) -> NamedAttr {
    NamedAttr {
        name: String::from(name),
        value,
    }
}

impl<'a> Parser<'a> {
    pub(super) fn pretty_op(&mut self, name: &str, nres: usize, pos: Position) -> Result<Op> {
        let mut op = Op {
            name: String::from(name),
            operands: Vec::new(),
            results: Vec::new(),
            result_types: Vec::new(),
            attributes: Vec::new(),
            regions: Vec::new(),
            position: pos,
        };
        // `stablehlo.constant() <{...}> : () -> t` and other generic-shaped uses of a bare name.
        if self.is_punct(b'(')
            && !matches!(
                name,
                "stablehlo.while" | "stablehlo.reduce" | "stablehlo.convolution"
            )
        {
            return self.generic_op(String::from(name), pos);
        }
        let spec = match name {
            "func.call" => {
                let callee = self.symbol()?;
                self.expect_punct(b'(')?;
                op.operands = self.value_list()?;
                self.expect_punct(b')')?;
                self.attr_dict_opt(&mut op)?;
                op.attributes.push(named("callee", Attr::Symbol(callee)));
                self.type_spec()?
            }
            "stablehlo.custom_call" => {
                let target = self.symbol()?;
                self.expect_punct(b'(')?;
                op.operands = self.value_list()?;
                self.expect_punct(b')')?;
                self.attr_dict_opt(&mut op)?;
                op.attributes
                    .push(named("call_target_name", Attr::String(target)));
                self.type_spec()?
            }
            "stablehlo.composite" => {
                let cname = self.string()?;
                op.operands = self.value_list()?;
                self.attr_dict_opt(&mut op)?;
                op.attributes.push(named("name", Attr::String(cname)));
                self.type_spec()?
            }
            "stablehlo.constant" => {
                self.attr_dict_opt(&mut op)?;
                let value = self.attr()?;
                let Attr::Elements(e) = &value else {
                    return Err(self.err("stablehlo.constant needs a dense<...> : type value"));
                };
                op.result_types.push(Type::Tensor(e.ty.clone()));
                op.attributes.push(named("value", value));
                return Ok(op);
            }
            "stablehlo.while" => return self.pretty_while(op),
            "stablehlo.reduce" => return self.pretty_reduce(op),
            "stablehlo.convolution" => {
                self.expect_punct(b'(')?;
                op.operands = self.value_list()?;
                self.expect_punct(b')')?;
                loop {
                    let key = self.ident()?;
                    self.expect_punct(b'=')?;
                    match key {
                        "dim_numbers" => {
                            let c = self.conv_dims()?;
                            op.attributes
                                .push(named("dimension_numbers", Attr::Conv(c)));
                        }
                        "window" => self.conv_window(&mut op)?,
                        _ => return Err(self.err(format!("unknown convolution field '{key}'"))),
                    }
                    if !self.eat_punct(b',')? {
                        break;
                    }
                }
                self.attr_dict_opt(&mut op)?;
                self.type_spec()?
            }
            "stablehlo.slice" => {
                op.operands.push(self.value_use()?);
                self.expect_punct(b'[')?;
                let (mut start, mut limit, mut stride) = (Vec::new(), Vec::new(), Vec::new());
                if !self.is_punct(b']') {
                    loop {
                        start.push(self.int()?);
                        self.expect_punct(b':')?;
                        limit.push(self.int()?);
                        stride.push(if self.eat_punct(b':')? {
                            self.int()?
                        } else {
                            1
                        });
                        if !self.eat_punct(b',')? {
                            break;
                        }
                    }
                }
                self.expect_punct(b']')?;
                op.attributes.push(named("start_indices", i64_array(start)));
                op.attributes.push(named("limit_indices", i64_array(limit)));
                op.attributes.push(named("strides", i64_array(stride)));
                self.attr_dict_opt(&mut op)?;
                self.type_spec()?
            }
            "stablehlo.get_tuple_element" => {
                op.operands.push(self.value_use()?);
                self.expect_punct(b'[')?;
                let i = self.int()?;
                self.expect_punct(b']')?;
                op.attributes.push(named(
                    "index",
                    Attr::Int(
                        i128::from(i),
                        ElementType::Int {
                            bits: 32,
                            signed: true,
                        },
                    ),
                ));
                self.attr_dict_opt(&mut op)?;
                self.type_spec()?
            }
            _ => {
                let items = self.pretty_items()?;
                self.attr_dict_opt(&mut op)?;
                self.normalize_items(&mut op, items)?;
                if op.name == "stablehlo.dot_general" {
                    fold_dot_dims(&mut op);
                }
                self.type_spec()?
            }
        };
        self.assign_types(&mut op, nres, spec)?;
        Ok(op)
    }

    fn attr_dict_opt(&mut self, op: &mut Op) -> Result<()> {
        if self.is_punct(b'{') {
            op.attributes.extend(self.dict()?);
        } else if self.is_ident("attributes") {
            self.bump()?;
            op.attributes.extend(self.dict()?);
        }
        Ok(())
    }

    fn type_spec(&mut self) -> Result<TypeSpec> {
        if !self.eat_punct(b':')? {
            return Ok(TypeSpec::None);
        }
        if self.is_punct(b'(') {
            let (i, o) = self.function_type()?;
            return Ok(TypeSpec::Func(i, o));
        }
        let mut list = vec![self.ty()?];
        while self.eat_punct(b',')? {
            list.push(self.ty()?);
        }
        Ok(TypeSpec::List(list))
    }

    fn assign_types(&mut self, op: &mut Op, nres: usize, spec: TypeSpec) -> Result<()> {
        let types = match spec {
            TypeSpec::None => Vec::new(),
            TypeSpec::Func(ins, outs) => {
                if ins.len() != op.operands.len() && !op.name.starts_with("check.") {
                    return Err(self.err(format!(
                        "'{}' has {} operands but its type lists {}",
                        op.name,
                        op.operands.len(),
                        ins.len()
                    )));
                }
                outs
            }
            TypeSpec::List(list) => {
                if list.len() == nres {
                    list
                } else if list.len() == 1 {
                    vec![list[0].clone(); nres]
                } else if nres == 1 && op.name == "stablehlo.select" {
                    vec![list[list.len() - 1].clone()]
                } else if nres == 0 {
                    Vec::new()
                } else {
                    return Err(self.err(format!(
                        "'{}': cannot tell result types from {} types",
                        op.name,
                        list.len()
                    )));
                }
            }
        };
        op.result_types = types;
        Ok(())
    }

    /// Items up to an attribute dict, `:` or the end of the op.
    fn pretty_items(&mut self) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        loop {
            let item = match self.tok.clone() {
                Tok::Value(_) => Item::Operand(self.value_use()?),
                Tok::Ident(k)
                    if !self.at_type() && !matches!(k, "dense" | "array" | "true" | "false") =>
                {
                    let save = self.save();
                    self.bump()?;
                    if self.eat_punct(b'=')? {
                        Item::Key(String::from(k), self.pretty_value(k)?)
                    } else if items.is_empty()
                        && !k.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    {
                        // Not one of our keywords: the op has no items (next op follows).
                        self.restore(save);
                        return Ok(items);
                    } else {
                        Item::Bare(String::from(k))
                    }
                }
                Tok::Ident(_) | Tok::Hash(_) | Tok::Int(_) | Tok::Float(_) | Tok::Str(_) => {
                    if items.is_empty() && matches!(self.tok, Tok::Ident(_)) && self.at_type() {
                        return Ok(items);
                    }
                    Item::Value(self.attr()?)
                }
                _ => return Ok(items),
            };
            items.push(item);
            if !self.is_punct(b',') {
                return Ok(items);
            }
            let save = self.save();
            self.bump()?;
            // A comma followed by something that is not an item belongs to no one: error out.
            if matches!(self.tok, Tok::Punct(_) | Tok::Eof) && !self.is_punct(b'-') {
                self.restore(save);
                return Err(self.err("expected an operand or attribute after ','"));
            }
        }
    }

    /// The value after `key =` in a pretty op.
    fn pretty_value(&mut self, key: &str) -> Result<Attr> {
        match self.tok.clone() {
            Tok::Punct(b'[') => {
                self.enter()?;
                self.bump()?;
                let mut items = Vec::new();
                if !self.eat_punct(b']')? {
                    loop {
                        let v = match self.tok {
                            Tok::Ident(s) if s != "true" && s != "false" => {
                                self.bump()?;
                                Attr::Enum(String::new(), String::from(s))
                            }
                            Tok::Punct(b'[') => self.pretty_value(key)?,
                            _ => self.attr_inner(false)?,
                        };
                        items.push(v);
                        if !self.eat_punct(b',')? {
                            break;
                        }
                    }
                    self.expect_punct(b']')?;
                }
                self.leave();
                let list = Attr::Array(items);
                if self.is_ident("x") {
                    self.bump()?;
                    let rhs = self.pretty_value(key)?;
                    return Ok(Attr::Array(vec![list, rhs]));
                }
                Ok(list)
            }
            Tok::Punct(b'<') => {
                self.bump()?;
                let p = self.params_pub()?;
                Ok(Attr::Dialect(String::from(key), p))
            }
            Tok::Ident(s)
                if !matches!(s, "true" | "false" | "dense" | "array") && !self.at_type() =>
            {
                self.bump()?;
                Ok(Attr::Enum(String::new(), String::from(s)))
            }
            _ => self.attr_inner(false),
        }
    }

    fn params_pub(&mut self) -> Result<Vec<NamedAttr>> {
        let mut out = Vec::new();
        if !self.eat_punct(b'>')? {
            loop {
                let name = String::from(self.ident()?);
                self.expect_punct(b'=')?;
                let value = match self.tok {
                    Tok::Ident(s) if !matches!(s, "true" | "false") && !self.at_type() => {
                        self.bump()?;
                        Attr::Enum(String::new(), String::from(s))
                    }
                    _ => self.attr()?,
                };
                out.push(NamedAttr { name, value });
                if !self.eat_punct(b',')? {
                    break;
                }
            }
            self.expect_punct(b'>')?;
        }
        Ok(out)
    }

    /// Map pretty items onto operands and generic attributes for `op`.
    fn normalize_items(&mut self, op: &mut Op, items: Vec<Item>) -> Result<()> {
        let mut bare = Vec::new();
        let mut values = Vec::new();
        for item in items {
            match item {
                Item::Operand(v) => op.operands.push(v),
                Item::Bare(b) => bare.push(b),
                Item::Value(v) => values.push(v),
                Item::Key(k, v) => {
                    let attrs = self.pretty_key(&op.name, &k, v)?;
                    op.attributes.extend(attrs);
                }
            }
        }
        match op.name.as_str() {
            "stablehlo.compare" => {
                let mut it = bare.drain(..);
                let dir = it
                    .next()
                    .ok_or_else(|| self.err("compare needs a direction"))?;
                op.attributes.push(named(
                    "comparison_direction",
                    Attr::Enum(String::from("comparison_direction"), dir),
                ));
                if let Some(t) = it.next() {
                    op.attributes.push(named(
                        "compare_type",
                        Attr::Enum(String::from("comparison_type"), t),
                    ));
                }
                if it.next().is_some() {
                    return Err(self.err("too many keywords for stablehlo.compare"));
                }
            }
            _ if !bare.is_empty() => {
                return Err(self.err(format!("unexpected keyword '{}' in '{}'", bare[0], op.name)))
            }
            _ => {}
        }
        match values.len() {
            0 => {}
            1 => op.attributes.push(named("value", values.remove(0))),
            _ => return Err(self.err(format!("too many attribute values in '{}'", op.name))),
        }
        Ok(())
    }

    fn pretty_key(&mut self, op: &str, key: &str, v: Attr) -> Result<Vec<NamedAttr>> {
        let ints = |v: &Attr| -> Result<Vec<i64>> {
            v.as_i64s()
                .ok_or_else(|| self.err(format!("'{key}' must be a list of integers")))
        };
        let int = |v: &Attr| -> Result<i64> {
            v.as_int()
                .and_then(|v| i64::try_from(v).ok())
                .ok_or_else(|| self.err(format!("'{key}' must be an integer")))
        };
        let enum_of = |kind: &str, v: &Attr| -> Result<Attr> {
            match v {
                Attr::Enum(_, s) => Ok(Attr::Enum(String::from(kind), s.clone())),
                _ => Err(self.err(format!("'{key}' must be a keyword"))),
            }
        };
        let out = match (op, key) {
            ("stablehlo.iota" | "stablehlo.dynamic_iota", "dim") => {
                vec![named(
                    "iota_dimension",
                    Attr::Int(i128::from(int(&v)?), I64),
                )]
            }
            ("stablehlo.concatenate" | "stablehlo.get_dimension_size", "dim") => {
                vec![named("dimension", Attr::Int(i128::from(int(&v)?), I64))]
            }
            ("stablehlo.broadcast_in_dim" | "stablehlo.dynamic_broadcast_in_dim", "dims") => {
                vec![named("broadcast_dimensions", i64_array(ints(&v)?))]
            }
            ("stablehlo.transpose", "dims") => vec![named("permutation", i64_array(ints(&v)?))],
            ("stablehlo.reverse", "dims") => vec![named("dimensions", i64_array(ints(&v)?))],
            ("stablehlo.pad", "low") => vec![named("edge_padding_low", i64_array(ints(&v)?))],
            ("stablehlo.pad", "high") => vec![named("edge_padding_high", i64_array(ints(&v)?))],
            ("stablehlo.pad", "interior") => vec![named("interior_padding", i64_array(ints(&v)?))],
            ("stablehlo.dynamic_slice", "sizes") => {
                vec![named("slice_sizes", i64_array(ints(&v)?))]
            }
            (_, "batching_dims" | "contracting_dims") => {
                let Attr::Array(pair) = &v else {
                    return Err(self.err(format!("'{key}' must be '[..] x [..]'")));
                };
                if pair.len() != 2 {
                    return Err(self.err(format!("'{key}' must be '[..] x [..]'")));
                }
                let (l, r) = (ints(&pair[0])?, ints(&pair[1])?);
                vec![named(key, Attr::Array(vec![i64_array(l), i64_array(r)]))]
            }
            (_, "precision") => {
                let Attr::Array(items) = v else {
                    return Err(self.err("precision must be a list"));
                };
                let mut out = Vec::new();
                for i in &items {
                    out.push(enum_of("precision", i)?);
                }
                vec![named("precision_config", Attr::Array(out))]
            }
            (_, "algorithm") if op == "stablehlo.dot_general" => match v {
                Attr::Dialect(_, p) => {
                    vec![named(
                        "algorithm",
                        Attr::Dialect(String::from("stablehlo.dot_algorithm"), p),
                    )]
                }
                _ => return Err(self.err("bad dot algorithm")),
            },
            ("stablehlo.fft", "type") => vec![named("fft_type", enum_of("fft_type", &v)?)],
            ("stablehlo.fft", "length") => vec![named("fft_length", i64_array(ints(&v)?))],
            ("stablehlo.rng", "distribution") => {
                vec![named("rng_distribution", enum_of("rng_distribution", &v)?)]
            }
            ("stablehlo.rng_bit_generator", "algorithm") => {
                vec![named("rng_algorithm", enum_of("rng_algorithm", &v)?)]
            }
            ("stablehlo.reduce_precision", "format") => {
                let Attr::Enum(_, f) = &v else {
                    return Err(self.err("format must be eXmY"));
                };
                let parse = || -> Option<(i128, i128)> {
                    let rest = f.strip_prefix('e')?;
                    let (e, m) = rest.split_once('m')?;
                    Some((e.parse().ok()?, m.parse().ok()?))
                };
                let (e, m) = parse().ok_or_else(|| self.err("format must be eXmY"))?;
                let i32t = ElementType::Int {
                    bits: 32,
                    signed: true,
                };
                vec![
                    named("exponent_bits", Attr::Int(e, i32t.clone())),
                    named("mantissa_bits", Attr::Int(m, i32t)),
                ]
            }
            _ => vec![named(key, v)],
        };
        Ok(out)
    }

    fn pretty_while(&mut self, mut op: Op) -> Result<Op> {
        self.expect_punct(b'(')?;
        let mut names = Vec::new();
        if !self.is_punct(b')') {
            loop {
                let Tok::Value(n) = self.tok else {
                    return Err(self.err("expected '%iterArg = %init'"));
                };
                self.bump()?;
                self.expect_punct(b'=')?;
                op.operands.push(self.value_use()?);
                names.push(n);
                if !self.eat_punct(b',')? {
                    break;
                }
            }
        }
        self.expect_punct(b')')?;
        let mut types = Vec::new();
        if self.eat_punct(b':')? {
            loop {
                types.push(self.ty()?);
                if !self.eat_punct(b',')? {
                    break;
                }
            }
        }
        if types.len() != names.len() {
            return Err(self.err("stablehlo.while needs one type per loop variable"));
        }
        self.attr_dict_opt(&mut op)?;
        self.expect_ident("cond")?;
        let cond = self.region_with_args(&names, &types)?;
        self.expect_ident("do")?;
        let body = self.region_with_args(&names, &types)?;
        op.regions = vec![cond, body];
        op.result_types = types;
        Ok(op)
    }

    fn pretty_reduce(&mut self, mut op: Op) -> Result<Op> {
        // (%x init: %y), (%x2 init: %y2) ...
        let mut inputs = Vec::new();
        let mut inits = Vec::new();
        loop {
            self.expect_punct(b'(')?;
            inputs.push(self.value_use()?);
            self.expect_ident("init")?;
            self.expect_punct(b':')?;
            inits.push(self.value_use()?);
            self.expect_punct(b')')?;
            if !self.eat_punct(b',')? {
                break;
            }
        }
        let n = inputs.len();
        op.operands.extend(inputs);
        op.operands.extend(inits);
        let applies = if self.eat_ident("applies")? {
            let name = self.ident()?;
            Some(String::from(name))
        } else {
            None
        };
        self.expect_ident("across")?;
        self.expect_ident("dimensions")?;
        self.expect_punct(b'=')?;
        let dims = self.int_list()?;
        op.attributes.push(named("dimensions", i64_array(dims)));
        self.attr_dict_opt(&mut op)?;
        self.expect_punct(b':')?;
        let (ins, outs) = self.function_type()?;
        if ins.len() != 2 * n || outs.len() != n {
            return Err(self.err("stablehlo.reduce type does not match its operands"));
        }
        op.result_types = outs;
        if let Some(body_op) = applies {
            if n != 1 {
                return Err(self.err("'applies' form needs exactly one input"));
            }
            let Type::Tensor(t) = &ins[n] else {
                return Err(self.err("reduce init must be a tensor"));
            };
            let scalar = Type::Tensor(TensorType {
                shape: Vec::new(),
                element: t.element.clone(),
                encoding: None,
            });
            let a = self.fresh()?;
            let b = self.fresh()?;
            let r = self.fresh()?;
            let pos = op.position;
            let block = Block {
                arguments: vec![(a, scalar.clone()), (b, scalar.clone())],
                ops: vec![
                    Op {
                        name: body_op,
                        operands: vec![a, b],
                        results: vec![r],
                        result_types: vec![scalar.clone()],
                        attributes: Vec::new(),
                        regions: Vec::new(),
                        position: pos,
                    },
                    Op {
                        name: String::from("stablehlo.return"),
                        operands: vec![r],
                        results: Vec::new(),
                        result_types: Vec::new(),
                        attributes: Vec::new(),
                        regions: Vec::new(),
                        position: pos,
                    },
                ],
            };
            op.regions.push(Region {
                blocks: vec![block],
            });
            return Ok(op);
        }
        // reducer(%a: t, %c: t) (%b: t, %d: t) { ... }
        self.expect_ident("reducer")?;
        let mut lhs = Vec::new();
        let mut rhs = Vec::new();
        let mut names: Vec<(&'a str, Type)> = Vec::new();
        for _ in 0..n {
            self.expect_punct(b'(')?;
            for side in 0..2 {
                let Tok::Value(name) = self.tok else {
                    return Err(self.err("expected a reducer argument"));
                };
                self.bump()?;
                self.expect_punct(b':')?;
                let t = self.ty()?;
                self.skip_loc()?;
                if side == 0 {
                    lhs.push((name, t));
                    self.expect_punct(b',')?;
                } else {
                    rhs.push((name, t));
                }
            }
            self.expect_punct(b')')?;
        }
        names.extend(lhs);
        names.extend(rhs);
        let (ns, ts): (Vec<&'a str>, Vec<Type>) = names.into_iter().unzip();
        let region = self.region_with_args(&ns, &ts)?;
        op.regions.push(region);
        Ok(op)
    }

    fn fresh(&mut self) -> Result<ValueId> {
        let v = self.next_value;
        self.next_value = v
            .checked_add(1)
            .ok_or_else(|| Error::msg("too many values"))?;
        Ok(v)
    }

    /// `{stride = [..], pad = [[l, h], ..], lhs_dilate = [..], rhs_dilate = [..], reverse = [..]}`
    fn conv_window(&mut self, op: &mut Op) -> Result<()> {
        self.expect_punct(b'{')?;
        if !self.eat_punct(b'}')? {
            loop {
                let key = self.ident()?;
                self.expect_punct(b'=')?;
                match key {
                    "pad" => {
                        self.expect_punct(b'[')?;
                        let mut flat = Vec::new();
                        let mut rows = 0u64;
                        if !self.is_punct(b']') {
                            loop {
                                let pair = self.int_list()?;
                                if pair.len() != 2 {
                                    return Err(self.err("pad entries are [low, high]"));
                                }
                                flat.extend(pair);
                                rows += 1;
                                if !self.eat_punct(b',')? {
                                    break;
                                }
                            }
                        }
                        self.expect_punct(b']')?;
                        let mut data = Vec::new();
                        for v in flat {
                            data.extend_from_slice(&v.to_le_bytes());
                        }
                        let ty = TensorType {
                            shape: vec![Some(rows), Some(2)],
                            element: I64,
                            encoding: None,
                        };
                        op.attributes.push(named(
                            "padding",
                            Attr::Elements(DenseElements::new(ty, false, data)),
                        ));
                    }
                    "reverse" => {
                        self.expect_punct(b'[')?;
                        let mut v = Vec::new();
                        if !self.is_punct(b']') {
                            loop {
                                let b = match self.tok {
                                    Tok::Ident("true") => 1,
                                    Tok::Ident("false") => 0,
                                    Tok::Int("0") => 0,
                                    Tok::Int("1") => 1,
                                    _ => return Err(self.err("reverse entries are booleans")),
                                };
                                self.bump()?;
                                v.push(b);
                                if !self.eat_punct(b',')? {
                                    break;
                                }
                            }
                        }
                        self.expect_punct(b']')?;
                        op.attributes.push(named(
                            "window_reversal",
                            Attr::DenseArray(ElementType::BOOL, ArrayValues::Int(v)),
                        ));
                    }
                    "stride" | "lhs_dilate" | "rhs_dilate" => {
                        let v = self.int_list()?;
                        let name = match key {
                            "stride" => "window_strides",
                            "lhs_dilate" => "lhs_dilation",
                            _ => "rhs_dilation",
                        };
                        op.attributes.push(named(name, i64_array(v)));
                    }
                    _ => return Err(self.err(format!("unknown window field '{key}'"))),
                }
                if !self.eat_punct(b',')? {
                    break;
                }
            }
            self.expect_punct(b'}')?;
        }
        Ok(())
    }
}

/// Fold the pretty `batching_dims`/`contracting_dims` pairs into `dot_dimension_numbers`.
pub(super) fn fold_dot_dims(op: &mut Op) {
    let mut dot = DotDimensions::default();
    let mut found = false;
    op.attributes.retain(|a| {
        let pair = |v: &Attr| -> Option<(Vec<i64>, Vec<i64>)> {
            let Attr::Array(p) = v else { return None };
            Some((p.first()?.as_i64s()?, p.get(1)?.as_i64s()?))
        };
        match a.name.as_str() {
            "batching_dims" => {
                if let Some((l, r)) = pair(&a.value) {
                    dot.lhs_batching_dimensions = l;
                    dot.rhs_batching_dimensions = r;
                    found = true;
                }
                false
            }
            "contracting_dims" => {
                if let Some((l, r)) = pair(&a.value) {
                    dot.lhs_contracting_dimensions = l;
                    dot.rhs_contracting_dimensions = r;
                    found = true;
                }
                false
            }
            _ => true,
        }
    });
    if found || op.name == "stablehlo.dot_general" && op.attr("dot_dimension_numbers").is_none() {
        op.attributes
            .push(named("dot_dimension_numbers", Attr::Dot(dot)));
    }
}

//! VHLO attribute and type encodings (as StableHLO's `VhloBytecode.cpp` writes them), and the
//! mapping of VHLO ops back onto StableHLO's generic op shape.

use super::reader::Reader;
use super::{dense_elements, read_shape, scalar_int, sign_extend, File, RawOp, RawRegion};
use crate::ast::*;
use crate::error::{Error, Result};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

const COMPARISON_DIRECTION: &[&str] = &["EQ", "NE", "GE", "GT", "LE", "LT"];
const COMPARISON_TYPE: &[&str] = &["NOTYPE", "FLOAT", "TOTALORDER", "SIGNED", "UNSIGNED"];
const PRECISION: &[&str] = &["DEFAULT", "HIGH", "HIGHEST"];
const FFT_TYPE: &[&str] = &["FFT", "IFFT", "RFFT", "IRFFT"];
const RNG_ALGORITHM: &[&str] = &["DEFAULT", "THREE_FRY", "PHILOX"];
const RNG_DISTRIBUTION: &[&str] = &["UNSPECIFIED", "UNIFORM", "NORMAL"];
const TRANSPOSE: &[&str] = &["TRANSPOSE_INVALID", "NO_TRANSPOSE", "TRANSPOSE", "ADJOINT"];
const RESULT_ACCURACY_MODE: &[&str] = &["DEFAULT", "HIGHEST", "TOLERANCE"];

fn enum_attr(r: &mut Reader, kind: &str, names: &[&str]) -> Result<Attr> {
    let v = r.varint()?;
    let name = usize::try_from(v)
        .ok()
        .and_then(|i| names.get(i))
        .ok_or_else(|| r.err(format!("bad {kind} value {v}")))?;
    Ok(Attr::Enum(kind.to_string(), name.to_string()))
}

fn svarints(r: &mut Reader) -> Result<Vec<i64>> {
    let n = r.count()?;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        out.push(r.svarint()?);
    }
    Ok(out)
}

fn ints_attr(v: Vec<i64>) -> Attr {
    Attr::Array(
        v.into_iter()
            .map(|i| Attr::Int(i128::from(i), I64))
            .collect(),
    )
}

const I64: ElementType = ElementType::Int {
    bits: 64,
    signed: true,
};

fn named(name: &str, value: Attr) -> NamedAttr {
    NamedAttr {
        name: name.to_string(),
        value,
    }
}

/// Decode one VHLO attribute entry.
pub(super) fn read_attr(f: &File, r: &mut Reader) -> Result<Attr> {
    let code = r.varint()?;
    Ok(match code {
        1 => {
            let n = r.count()?;
            let mut v = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                v.push(f.attr(r.varint()?)?);
            }
            Attr::Array(v)
        }
        2 => match r.varint()? {
            0 => Attr::Bool(false),
            1 => Attr::Bool(true),
            v => return Err(r.err(format!("bad boolean {v}"))),
        },
        3 => enum_attr(r, "comparison_direction", COMPARISON_DIRECTION)?,
        4 => enum_attr(r, "comparison_type", COMPARISON_TYPE)?,
        5 => Attr::Int(
            i128::from(r.varint()?),
            ElementType::Int {
                bits: 32,
                signed: true,
            },
        ),
        6 => {
            let n = r.count()?;
            let mut out = Vec::new();
            for _ in 0..n {
                let name = match f.attr(r.varint()?)? {
                    Attr::String(s) => s,
                    _ => return Err(r.err("dictionary key is not a string")),
                };
                out.push(NamedAttr {
                    name,
                    value: f.attr(r.varint()?)?,
                });
            }
            sort_attrs(&mut out);
            Attr::Dict(out)
        }
        7 => enum_attr(r, "fft_type", FFT_TYPE)?,
        8 => {
            let Type::Scalar(ElementType::Float(k)) = f.ty(r.varint()?)? else {
                return Err(r.err("float attribute needs a float type"));
            };
            let bits = r.apint(k.bytes() as u32 * 8)?;
            Attr::Float(
                crate::numeric::float_value(bits as u64, k),
                ElementType::Float(k),
            )
        }
        9 => {
            let t = f.ty(r.varint()?)?;
            let (e, bits) = scalar_int(&t).ok_or_else(|| r.err("integer attribute type"))?;
            let v = r.apint(bits)?;
            super::int_attr(sign_extend(v, bits, &e), e)
        }
        10 => {
            let out = svarints(r)?;
            let operand = r.svarint()?;
            let operand_tuple = svarints(r)?;
            Attr::Dialect(
                "stablehlo.output_operand_alias".to_string(),
                vec![
                    named("output_tuple_indices", ints_attr(out)),
                    named("operand_index", Attr::Int(i128::from(operand), I64)),
                    named("operand_tuple_indices", ints_attr(operand_tuple)),
                ],
            )
        }
        11 => enum_attr(r, "precision", PRECISION)?,
        12 => enum_attr(r, "rng_algorithm", RNG_ALGORITHM)?,
        13 => enum_attr(r, "rng_distribution", RNG_DISTRIBUTION)?,
        14 => Attr::String(f.string(r.varint()?)?.to_string()),
        15 => {
            let Type::Tensor(t) = f.ty(r.varint()?)? else {
                return Err(r.err("tensor attribute needs a ranked tensor type"));
            };
            let blob = r.blob()?;
            Attr::Elements(
                dense_elements(t, blob)
                    .ok_or_else(|| r.err("tensor data does not fit its type"))?,
            )
        }
        16 => enum_attr(r, "transpose", TRANSPOSE)?,
        17 => Attr::Type(f.ty(r.varint()?)?),
        18 => Attr::Dialect(
            "stablehlo.type_extensions".to_string(),
            vec![named("bounds", ints_attr(svarints(r)?))],
        ),
        19 => enum_attr(r, "result_accuracy_mode", RESULT_ACCURACY_MODE)?,
        20 => {
            let atol = f64::from_bits(r.apint(64)? as u64);
            let rtol = f64::from_bits(r.apint(64)? as u64);
            let ulps = r.svarint()?;
            let mode = f.attr(r.varint()?)?;
            Attr::Dialect(
                "stablehlo.result_accuracy".to_string(),
                vec![
                    named(
                        "atol",
                        Attr::Float(atol, ElementType::Float(FloatKind::F64)),
                    ),
                    named("mode", mode),
                    named(
                        "rtol",
                        Attr::Float(rtol, ElementType::Float(FloatKind::F64)),
                    ),
                    named("ulps", Attr::Int(i128::from(ulps), I64)),
                ],
            )
        }
        _ => return Err(r.err(format!("unsupported VHLO attribute code {code}"))),
    })
}

/// Decode one VHLO type entry.
pub(super) fn read_type(f: &File, r: &mut Reader) -> Result<Type> {
    let code = r.varint()?;
    let int = |bits: u16, signed: bool| Ok(Type::Scalar(ElementType::Int { bits, signed }));
    let float = |k: FloatKind| Ok(Type::Scalar(ElementType::Float(k)));
    match code {
        0 => int(1, true),
        1 => match f.ty(r.varint()?)? {
            Type::Scalar(e) => Ok(Type::Scalar(ElementType::Complex(Box::new(e)))),
            _ => Err(r.err("complex element type")),
        },
        2 => float(FloatKind::BF16),
        3 => float(FloatKind::F16),
        4 => float(FloatKind::F32),
        5 => float(FloatKind::F64),
        6 => float(FloatKind::F8E4M3FN),
        7 => float(FloatKind::F8E5M2),
        8 => {
            let i = f.type_list(r)?;
            let o = f.type_list(r)?;
            Ok(Type::Function(i, o))
        }
        9 => Ok(Type::Index),
        10 => int(4, true),
        11 => int(8, true),
        12 => int(16, true),
        13 => int(32, true),
        14 => int(64, true),
        15 => int(4, false),
        16 => int(8, false),
        17 => int(16, false),
        18 => int(32, false),
        19 => int(64, false),
        20 | 21 => {
            let encoding = if code == 21 {
                Some(format!("{:?}", f.attr(r.varint()?)?))
            } else {
                None
            };
            let shape = read_shape(r)?;
            match f.ty(r.varint()?)? {
                Type::Scalar(element) => Ok(Type::Tensor(TensorType {
                    shape,
                    element,
                    encoding,
                })),
                _ => Err(r.err("tensor element type must be a scalar")),
            }
        }
        22 => Ok(Type::Token),
        23 => Ok(Type::Tuple(f.type_list(r)?)),
        25 => Ok(Type::Opaque(format!("tensor<*x{:?}>", f.ty(r.varint()?)?))),
        27 => float(FloatKind::F8E4M3FNUZ),
        28 => float(FloatKind::F8E5M2FNUZ),
        29 => float(FloatKind::F8E4M3B11FNUZ),
        31 => int(2, true),
        32 => int(2, false),
        33 => Ok(Type::Opaque("none".to_string())),
        34 => float(FloatKind::TF32),
        35 => float(FloatKind::F8E4M3),
        36 => float(FloatKind::F8E3M4),
        37 => float(FloatKind::F4E2M1FN),
        38 => float(FloatKind::F6E2M3FN),
        39 => float(FloatKind::F6E3M2FN),
        40 => float(FloatKind::F8E8M0FNU),
        _ => Err(r.err(format!("unsupported VHLO type code {code}"))),
    }
}

/// Attributes StableHLO keeps as `array<i64>` (or `array<i1>`) that VHLO stores as tensors.
const ARRAY_ATTRS: &[&str] = &[
    "broadcast_dimensions",
    "permutation",
    "start_indices",
    "limit_indices",
    "strides",
    "slice_sizes",
    "edge_padding_low",
    "edge_padding_high",
    "interior_padding",
    "dimensions",
    "window_dimensions",
    "window_strides",
    "base_dilations",
    "window_dilations",
    "lhs_dilation",
    "rhs_dilation",
    "window_reversal",
    "fft_length",
    "broadcast_sizes",
    "known_expanding_dimensions",
    "known_nonexpanding_dimensions",
];

fn take(attrs: &mut Vec<NamedAttr>, name: &str) -> Option<Attr> {
    let i = attrs.iter().position(|a| a.name == name)?;
    Some(attrs.remove(i).value)
}

fn take_ints(attrs: &mut Vec<NamedAttr>, name: &str) -> Vec<i64> {
    take(attrs, name)
        .and_then(|a| a.as_i64s())
        .unwrap_or_default()
}

fn take_int(attrs: &mut Vec<NamedAttr>, name: &str) -> i64 {
    take(attrs, name)
        .and_then(|a| a.as_int())
        .and_then(|v| i64::try_from(v).ok())
        .unwrap_or(0)
}

fn to_array(a: Attr) -> Attr {
    match a {
        Attr::Elements(e) if e.ty.shape.len() <= 1 => match (&e.ty.element, e.to_i64s()) {
            (ElementType::Int { bits: 1, .. }, Some(v)) => {
                Attr::DenseArray(ElementType::BOOL, ArrayValues::Int(v))
            }
            (ElementType::Int { .. }, Some(v)) => Attr::DenseArray(I64, ArrayValues::Int(v)),
            _ => Attr::Elements(e),
        },
        other => other,
    }
}

fn symbol(a: Attr) -> Attr {
    match a {
        Attr::String(s) => Attr::Symbol(s),
        Attr::Array(v) => Attr::Array(v.into_iter().map(symbol).collect()),
        other => other,
    }
}

/// Map a VHLO op name and attributes onto StableHLO's generic form.
fn legalize(op: RawOp, in_func_body: bool) -> Result<Op> {
    let RawOp {
        name,
        operands,
        results,
        result_types,
        mut attributes,
        regions,
        offset,
        ..
    } = op;
    let base = name
        .strip_prefix("vhlo.")
        .and_then(|n| n.rsplit_once("_v").map(|(b, _)| b))
        .ok_or_else(|| {
            Error::at_offset(offset, format!("unexpected op '{name}' in a VHLO module"))
        })?;
    let new_name = match base {
        "return" if in_func_body => "func.return".to_string(),
        "return" => "stablehlo.return".to_string(),
        "call" => "func.call".to_string(),
        "func" => return Err(Error::at_offset(offset, "nested vhlo.func")),
        b => format!("stablehlo.{b}"),
    };
    for a in attributes.iter_mut() {
        if ARRAY_ATTRS.contains(&a.name.as_str()) {
            a.value = to_array(core::mem::replace(&mut a.value, Attr::Unit));
        }
    }
    match base {
        "call" => {
            if let Some(c) = take(&mut attributes, "callee") {
                attributes.push(named("callee", symbol(c)));
            }
        }
        "composite" => {
            if let Some(c) = take(&mut attributes, "decomposition") {
                attributes.push(named("decomposition", symbol(c)));
            }
        }
        "custom_call" => {
            if let Some(c) = take(&mut attributes, "called_computations") {
                attributes.push(named("called_computations", symbol(c)));
            }
        }
        "dot_general" => {
            let d = DotDimensions {
                lhs_batching_dimensions: take_ints(&mut attributes, "lhs_batching_dimensions"),
                rhs_batching_dimensions: take_ints(&mut attributes, "rhs_batching_dimensions"),
                lhs_contracting_dimensions: take_ints(
                    &mut attributes,
                    "lhs_contracting_dimensions",
                ),
                rhs_contracting_dimensions: take_ints(
                    &mut attributes,
                    "rhs_contracting_dimensions",
                ),
            };
            attributes.push(named("dot_dimension_numbers", Attr::Dot(d)));
            let keys = [
                "lhs_precision_type",
                "rhs_precision_type",
                "accumulation_type",
                "lhs_component_count",
                "rhs_component_count",
                "num_primitive_operations",
                "allow_imprecise_accumulation",
            ];
            let mut params = Vec::new();
            for k in keys {
                if let Some(v) = take(&mut attributes, k) {
                    params.push(named(k, v));
                }
            }
            let is_none = |a: &Attr| matches!(a, Attr::Type(Type::Opaque(s)) if s == "none");
            if params.iter().any(|p| !is_none(&p.value)) {
                attributes.push(named(
                    "algorithm",
                    Attr::Dialect("stablehlo.dot_algorithm".to_string(), params),
                ));
            }
        }
        "convolution" | "dynamic_conv" => {
            let c = ConvDimensions {
                input_batch_dimension: take_int(&mut attributes, "input_batch_dimension"),
                input_feature_dimension: take_int(&mut attributes, "input_feature_dimension"),
                input_spatial_dimensions: take_ints(&mut attributes, "input_spatial_dimensions"),
                kernel_input_feature_dimension: take_int(
                    &mut attributes,
                    "kernel_input_feature_dimension",
                ),
                kernel_output_feature_dimension: take_int(
                    &mut attributes,
                    "kernel_output_feature_dimension",
                ),
                kernel_spatial_dimensions: take_ints(&mut attributes, "kernel_spatial_dimensions"),
                output_batch_dimension: take_int(&mut attributes, "output_batch_dimension"),
                output_feature_dimension: take_int(&mut attributes, "output_feature_dimension"),
                output_spatial_dimensions: take_ints(&mut attributes, "output_spatial_dimensions"),
            };
            attributes.push(named("dimension_numbers", Attr::Conv(c)));
        }
        "gather" | "dynamic_gather" => {
            let g = GatherDimensions {
                offset_dims: take_ints(&mut attributes, "offset_dims"),
                collapsed_slice_dims: take_ints(&mut attributes, "collapsed_slice_dims"),
                operand_batching_dims: take_ints(&mut attributes, "operand_batching_dims"),
                start_indices_batching_dims: take_ints(
                    &mut attributes,
                    "start_indices_batching_dims",
                ),
                start_index_map: take_ints(&mut attributes, "start_index_map"),
                index_vector_dim: take_int(&mut attributes, "index_vector_dim"),
            };
            attributes.push(named("dimension_numbers", Attr::Gather(g)));
        }
        "scatter" => {
            let s = ScatterDimensions {
                update_window_dims: take_ints(&mut attributes, "update_window_dims"),
                inserted_window_dims: take_ints(&mut attributes, "inserted_window_dims"),
                input_batching_dims: take_ints(&mut attributes, "input_batching_dims"),
                scatter_indices_batching_dims: take_ints(
                    &mut attributes,
                    "scatter_indices_batching_dims",
                ),
                scatter_dims_to_operand_dims: take_ints(
                    &mut attributes,
                    "scatter_dims_to_operand_dims",
                ),
                index_vector_dim: take_int(&mut attributes, "index_vector_dim"),
            };
            attributes.push(named("scatter_dimension_numbers", Attr::Scatter(s)));
        }
        _ => {}
    }
    sort_attrs(&mut attributes);
    let regions = regions
        .into_iter()
        .map(|r| region(r, false))
        .collect::<Result<Vec<_>>>()?;
    Ok(Op {
        name: new_name,
        operands,
        results,
        result_types,
        attributes,
        regions,
        position: Position {
            line: 0,
            column: u32::try_from(offset).unwrap_or(u32::MAX),
        },
    })
}

fn region(r: RawRegion, func_body: bool) -> Result<Region> {
    let mut blocks = Vec::new();
    for b in r.blocks {
        let ops = b
            .ops
            .into_iter()
            .map(|o| legalize(o, func_body))
            .collect::<Result<Vec<_>>>()?;
        blocks.push(Block {
            arguments: b.arguments,
            ops,
        });
    }
    Ok(Region { blocks })
}

fn count_values(r: &Region) -> u32 {
    let mut n = 0u32;
    for b in &r.blocks {
        n = n.saturating_add(b.arguments.len() as u32);
        for op in &b.ops {
            n = n.saturating_add(op.results.len() as u32);
            for r in &op.regions {
                n = n.saturating_add(count_values(r));
            }
        }
    }
    n
}

/// Turn the raw `builtin.module` of VHLO functions into a [`Module`].
pub(super) fn to_module(raw: RawOp) -> Result<Module> {
    if raw.name != "builtin.module" {
        return Err(Error::at_offset(
            raw.offset,
            format!("top-level op is '{}', not a module", raw.name),
        ));
    }
    let mut attributes = raw.attributes;
    let name = match take(&mut attributes, "sym_name") {
        Some(Attr::String(s)) => Some(s),
        _ => None,
    };
    sort_attrs(&mut attributes);
    let mut functions = Vec::new();
    for region_ in raw.regions {
        for block in region_.blocks {
            for op in block.ops {
                functions.push(function(op)?);
            }
        }
    }
    Ok(Module {
        name,
        attributes,
        functions,
    })
}

fn function(op: RawOp) -> Result<Function> {
    if op.name != "vhlo.func_v1" {
        return Err(Error::at_offset(
            op.offset,
            format!("expected vhlo.func_v1 in the module, found '{}'", op.name),
        ));
    }
    let mut attrs = op.attributes;
    let name = match take(&mut attrs, "sym_name") {
        Some(Attr::String(s)) => s,
        other => {
            return Err(Error::at_offset(
                op.offset,
                format!("function without a name: {other:?} in {attrs:?}"),
            ))
        }
    };
    let (inputs, outputs) = match take(&mut attrs, "function_type") {
        Some(Attr::Type(Type::Function(i, o))) => (i, o),
        _ => {
            return Err(Error::at_offset(
                op.offset,
                format!("function '{name}' has no function type"),
            ))
        }
    };
    let visibility = match take(&mut attrs, "sym_visibility") {
        Some(Attr::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let dicts = |a: Option<Attr>, n: usize| -> Vec<Vec<NamedAttr>> {
        let mut out = vec![Vec::new(); n];
        if let Some(Attr::Array(items)) = a {
            for (i, it) in items.into_iter().enumerate().take(n) {
                if let Attr::Dict(d) = it {
                    out[i] = d;
                }
            }
        }
        out
    };
    let arg_attrs = dicts(take(&mut attrs, "arg_attrs"), inputs.len());
    let result_attrs = dicts(take(&mut attrs, "res_attrs"), outputs.len());
    let mut loc_names = Vec::new();
    let mut body_regions = op.regions;
    if let Some(b) = body_regions.first().and_then(|r| r.blocks.first()) {
        loc_names = b.arg_locs.clone();
    }
    let body = match body_regions.pop() {
        Some(r) => region(r, true)?,
        None => Region::default(),
    };
    let arguments = inputs
        .into_iter()
        .zip(arg_attrs)
        .enumerate()
        .map(|(i, (ty, attrs))| Argument {
            ty,
            attrs,
            loc_name: loc_names.get(i).cloned().flatten(),
        })
        .collect();
    sort_attrs(&mut attrs);
    let num_values = count_values(&body);
    Ok(Function {
        name,
        visibility,
        arguments,
        result_types: outputs,
        result_attrs,
        attributes: attrs,
        body,
        num_values,
    })
}

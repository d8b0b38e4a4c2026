//! Canonical form for comparing modules from different front-ends: attributes that hold their
//! default value are dropped (text usually omits them, VHLO always spells them out), and
//! visibility defaults to public.

use crate::ast::*;
use alloc::string::String;

/// Normalize a module in place.
pub fn normalize(m: &mut Module) {
    for f in &mut m.functions {
        if f.visibility.is_none() {
            f.visibility = Some(String::from("public"));
        }
        normalize_region(&mut f.body);
    }
}

fn normalize_region(r: &mut Region) {
    for b in &mut r.blocks {
        for op in &mut b.ops {
            op.attributes.retain(|a| !is_default(&a.name, &a.value));
            for r in &mut op.regions {
                normalize_region(r);
            }
        }
    }
}

fn all_ints(a: &Attr, v: i64) -> bool {
    a.as_i64s().is_some_and(|x| x.iter().all(|e| *e == v))
}

fn empty(a: &Attr) -> bool {
    match a {
        Attr::Array(v) => v.is_empty(),
        Attr::Dict(v) => v.is_empty(),
        Attr::String(s) => s.is_empty(),
        Attr::DenseArray(_, ArrayValues::Int(v)) => v.is_empty(),
        _ => false,
    }
}

/// Is `value` the default of attribute `name` (so that leaving it out means the same)?
pub fn is_default(name: &str, value: &Attr) -> bool {
    match name {
        "compare_type" => matches!(value, Attr::Enum(_, v) if v == "NOTYPE"),
        "precision_config" => match value {
            Attr::Array(v) => v
                .iter()
                .all(|p| matches!(p, Attr::Enum(_, x) if x == "DEFAULT")),
            _ => false,
        },
        "window_strides" | "lhs_dilation" | "rhs_dilation" | "base_dilations"
        | "window_dilations" => all_ints(value, 1),
        "padding" | "window_reversal" => all_ints(value, 0),
        "indices_are_sorted" | "unique_indices" | "is_stable" | "has_side_effect" => {
            matches!(value, Attr::Bool(false))
        }
        "backend_config"
        | "called_computations"
        | "operand_layouts"
        | "result_layouts"
        | "output_operand_aliases"
        | "composite_attributes" => empty(value),
        "api_version" => value.as_int() == Some(1),
        "version" => value.as_int() == Some(0),
        "result_accuracy" => match value {
            Attr::Dialect(_, p) => p.iter().all(|a| match &a.value {
                Attr::Float(f, _) => *f == 0.0,
                Attr::Int(i, _) => *i == 0,
                Attr::Enum(_, m) => m == "DEFAULT",
                _ => false,
            }),
            _ => false,
        },
        _ => false,
    }
}

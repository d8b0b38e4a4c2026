//! The text parser on real JAX/Flax output (tests/data, made by tests/gen_data.py).

use cerebro_stablehlo::ast::*;
use cerebro_stablehlo::text::parse_module;

fn data(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn all_ops<'a>(r: &'a Region, out: &mut Vec<&'a Op>) {
    for b in &r.blocks {
        for op in &b.ops {
            out.push(op);
            for r in &op.regions {
                all_ops(r, out);
            }
        }
    }
}

#[test]
fn mlp_structure() {
    let m = parse_module(&data("mlp.mlir")).unwrap();
    assert_eq!(m.name.as_deref(), Some("jit__lambda"));
    let main = m.function("main").unwrap();
    assert_eq!(main.arguments.len(), 3);
    assert_eq!(main.arguments[1].loc_name.as_deref(), Some("w1"));
    let Type::Tensor(t) = &main.arguments[0].ty else {
        panic!()
    };
    assert_eq!(t.shape, vec![Some(2), Some(8)]);
    assert_eq!(t.element, ElementType::Float(FloatKind::F32));
    let mut ops = Vec::new();
    all_ops(&main.body, &mut ops);
    let dot = ops
        .iter()
        .find(|o| o.name == "stablehlo.dot_general")
        .unwrap();
    assert_eq!(
        dot.attr("dot_dimension_numbers"),
        Some(&Attr::Dot(DotDimensions {
            lhs_contracting_dimensions: vec![1],
            rhs_contracting_dimensions: vec![0],
            ..Default::default()
        }))
    );
    let reduce = ops.iter().find(|o| o.name == "stablehlo.reduce").unwrap();
    assert_eq!(reduce.operands.len(), 2);
    assert_eq!(reduce.regions[0].blocks[0].ops[0].name, "stablehlo.maximum");
    let neg_inf = ops
        .iter()
        .filter(|o| o.name == "stablehlo.constant")
        .filter_map(|o| match o.attr("value") {
            Some(Attr::Elements(e)) => Some(e.data.clone()),
            _ => None,
        })
        .any(|d| d == 0xFF80_0000u32.to_le_bytes());
    assert!(neg_inf, "the -inf constant written as 0xFF800000");
    assert!(ops
        .iter()
        .any(|o| o.name == "func.call" && o.attr("callee") == Some(&Attr::Symbol("relu".into()))));
    assert!(m.function("relu").is_some());
}

#[test]
fn cnn_and_misc_ops() {
    let m = parse_module(&data("cnn.mlir")).unwrap();
    let mut ops = Vec::new();
    for f in &m.functions {
        all_ops(&f.body, &mut ops);
    }
    let convs: Vec<_> = ops
        .iter()
        .filter(|o| o.name == "stablehlo.convolution")
        .collect();
    assert_eq!(convs.len(), 2);
    let Some(Attr::Conv(c)) = convs[0].attr("dimension_numbers") else {
        panic!()
    };
    assert_eq!((c.input_batch_dimension, c.input_feature_dimension), (0, 3));
    assert_eq!(c.kernel_output_feature_dimension, 3);
    assert_eq!(
        convs[1].attr("feature_group_count").and_then(Attr::as_int),
        Some(2)
    );
    assert!(ops.iter().any(|o| o.name == "stablehlo.reduce_window"));

    let m = parse_module(&data("misc.mlir")).unwrap();
    let mut ops = Vec::new();
    for f in &m.functions {
        all_ops(&f.body, &mut ops);
    }
    let names: std::collections::BTreeSet<_> = ops.iter().map(|o| o.name.as_str()).collect();
    for want in [
        "stablehlo.sort",
        "stablehlo.gather",
        "stablehlo.scatter",
        "stablehlo.while",
        "stablehlo.case",
        "stablehlo.slice",
        "stablehlo.dynamic_slice",
        "stablehlo.pad",
        "stablehlo.concatenate",
        "stablehlo.select",
        "stablehlo.clamp",
        "stablehlo.composite",
        "stablehlo.iota",
        "stablehlo.transpose",
        "stablehlo.compare",
    ] {
        assert!(names.contains(want), "{want} missing from {names:?}");
    }
    let slice = ops
        .iter()
        .find(|o| {
            o.name == "stablehlo.slice"
                && o.attr("strides").and_then(Attr::as_i64s) == Some(vec![2, 1])
        })
        .expect("strided slice");
    assert_eq!(
        slice.attr("start_indices").and_then(Attr::as_i64s),
        Some(vec![1, 0])
    );
    let w = ops.iter().find(|o| o.name == "stablehlo.while").unwrap();
    assert_eq!(w.regions.len(), 2);
    assert_eq!(w.regions[0].blocks[0].arguments.len(), w.operands.len());
    let cmp = ops.iter().find(|o| o.name == "stablehlo.compare").unwrap();
    assert!(
        matches!(cmp.attr("comparison_direction"), Some(Attr::Enum(k, _)) if k == "comparison_direction")
    );
}

#[test]
fn errors_say_where() {
    let e = parse_module("func.func @f(%a: tensor<2xf32>) -> tensor<2xf32> {\n  %0 = stablehlo.add %a, %b : tensor<2xf32>\n  return %0 : tensor<2xf32>\n}").unwrap_err();
    assert_eq!(
        e.location,
        cerebro_stablehlo::Location::Text {
            line: 2,
            column: 26
        }
    );
    assert!(e.message.contains("undefined value '%b'"), "{e}");
    let e = parse_module(
        "func.func @f() {\n  %0 = stablehlo.constant dense<[1, 2]> : tensor<3xi32>\n}",
    )
    .unwrap_err();
    assert!(e.message.contains("element count"), "{e}");
    let e = parse_module("func.func @f() {\n  %0 = stablehlo.constant dense<300> : tensor<i8>\n}")
        .unwrap_err();
    assert!(e.message.contains("out of range"), "{e}");
    let deep = format!(
        "func.func @f() {{ %0 = stablehlo.constant dense<{}1{}> : tensor<i32> }}",
        "[".repeat(500),
        "]".repeat(500)
    );
    assert!(parse_module(&deep)
        .unwrap_err()
        .message
        .contains("too deep"));
    for bad in [
        "module {",
        "func.func @f(",
        "\"a\"(",
        "func.func @f() { %0:99999999999 = x }",
        "#x = ",
        "func.func @f() -> tensor<999999999999999999999999xf32>",
    ] {
        assert!(parse_module(bad).is_err(), "{bad}");
    }
}

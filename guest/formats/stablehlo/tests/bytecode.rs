//! MLIR bytecode / VHLO reader against the text of the same JAX models.

use cerebro_stablehlo::ast::*;
use cerebro_stablehlo::bytecode::parse_bytecode;
use cerebro_stablehlo::normalize::normalize;
use cerebro_stablehlo::text::parse_module;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

/// First difference between two regions, for a readable failure.
fn diff_region(a: &Region, b: &Region, path: &str) -> Option<String> {
    if a.blocks.len() != b.blocks.len() {
        return Some(format!(
            "{path}: {} vs {} blocks",
            a.blocks.len(),
            b.blocks.len()
        ));
    }
    for (i, (x, y)) in a.blocks.iter().zip(&b.blocks).enumerate() {
        if x.arguments != y.arguments {
            return Some(format!(
                "{path} block {i}: arguments {:?} vs {:?}",
                x.arguments, y.arguments
            ));
        }
        if x.ops.len() != y.ops.len() {
            return Some(format!(
                "{path} block {i}: {} vs {} ops",
                x.ops.len(),
                y.ops.len()
            ));
        }
        for (j, (p, q)) in x.ops.iter().zip(&y.ops).enumerate() {
            let here = format!("{path}/{i}:{j} {}", p.name);
            if p.name != q.name
                || p.operands != q.operands
                || p.results != q.results
                || p.result_types != q.result_types
            {
                return Some(format!("{here}: {p:?}\nvs\n{q:?}"));
            }
            if p.attributes != q.attributes {
                return Some(format!(
                    "{here}: attributes {:?}\nvs\n{:?}",
                    p.attributes, q.attributes
                ));
            }
            if p.regions.len() != q.regions.len() {
                return Some(format!("{here}: region count"));
            }
            for (k, (r, s)) in p.regions.iter().zip(&q.regions).enumerate() {
                if let Some(d) = diff_region(r, s, &format!("{here}/r{k}")) {
                    return Some(d);
                }
            }
        }
    }
    None
}

fn same_model(name: &str) {
    let mut b = parse_bytecode(&data(&format!("{name}.mlirbc"))).unwrap();
    let mut t = parse_module(std::str::from_utf8(&data(&format!("{name}.mlir"))).unwrap()).unwrap();
    normalize(&mut b);
    normalize(&mut t);
    assert_eq!(b.functions.len(), t.functions.len());
    for (x, y) in b.functions.iter().zip(&t.functions) {
        assert_eq!(x.name, y.name);
        if let Some(d) = diff_region(&x.body, &y.body, &x.name) {
            panic!("{name}: {d}");
        }
        assert_eq!(x, y, "{name}: function {}", x.name);
    }
    assert_eq!(b.attributes, t.attributes);
    assert_eq!(b, t);
}

#[test]
fn mlp_text_and_bytecode_agree() {
    same_model("mlp");
}

#[test]
fn cnn_text_and_bytecode_agree() {
    same_model("cnn");
}

#[test]
fn misc_text_and_bytecode_agree() {
    same_model("misc");
}

#[test]
fn blob_and_bare_artifact_load() {
    let blob = cerebro_stablehlo::load_jax_model(&data("cnn.jax_exported")).unwrap();
    let bare = cerebro_stablehlo::load_jax_model(&data("cnn.mlirbc")).unwrap();
    assert!(blob.exported.is_some() && bare.exported.is_none());
    assert_eq!(blob.module, bare.module);
    let text = cerebro_stablehlo::load_jax_model(&data("cnn.mlir")).unwrap();
    assert_eq!(text.module.functions.len(), bare.module.functions.len());
}

#[test]
fn damaged_bytecode_never_panics() {
    let good = data("misc.mlirbc");
    assert!(parse_bytecode(&good[..good.len() - 3]).is_err());
    assert!(parse_bytecode(b"ML\xefR").is_err());
    for i in (4..good.len()).step_by(11) {
        for x in [0x01u8, 0x80, 0xff] {
            let mut b = good.clone();
            b[i] ^= x;
            let _ = parse_bytecode(&b);
        }
    }
}

/// Every JAX/Flax fixture of the repository (tests/models, issue 5): the text, the bare
/// portable artifact and the jax.export blob of one model give equal ASTs after normalization.
#[test]
fn repository_fixtures_agree_across_forms() {
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../tests/models");
    let mut compared = 0;
    for entry in std::fs::read_dir(models.join("stablehlo_text")).unwrap() {
        let dir = entry.unwrap().path();
        let base = dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches("_text")
            .to_string();
        let text = std::fs::read_to_string(dir.join("model.mlir")).unwrap();
        let mut t = parse_module(&text).unwrap_or_else(|e| panic!("{base} text: {e}"));
        let bc = std::fs::read(models.join(format!("mlir_bytecode/{base}_mlirbc/model.mlirbc")))
            .unwrap();
        let mut b = parse_bytecode(&bc).unwrap_or_else(|e| panic!("{base} mlirbc: {e}"));
        let blob =
            std::fs::read(models.join(format!("jax_export/{base}_export/model.jax_exported")))
                .unwrap();
        let mut x = cerebro_stablehlo::load_jax_model(&blob)
            .unwrap_or_else(|e| panic!("{base} blob: {e}"))
            .module;
        for m in [&mut t, &mut b, &mut x] {
            normalize(m);
        }
        for (f, g) in b.functions.iter().zip(&t.functions) {
            if let Some(d) = diff_region(&f.body, &g.body, &f.name) {
                panic!("{base}: {d}");
            }
        }
        assert_eq!(b, t, "{base}: bytecode vs text");
        assert_eq!(x, t, "{base}: blob vs text");
        compared += 1;
    }
    assert!(compared >= 8, "only {compared} fixtures compared");
}

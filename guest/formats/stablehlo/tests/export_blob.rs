//! jax.export blobs made by tests/gen_data.py.

use cerebro_stablehlo::export::{parse_exported, DType, PyTree};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

#[test]
fn blobs_parse() {
    let e = parse_exported(&data("mlp.jax_exported")).unwrap();
    assert_eq!(e.serialization_version, 3);
    assert_eq!(e.calling_convention_version, 10);
    assert_eq!(e.platforms, vec!["cpu".to_string()]);
    assert_eq!(e.module_kept_var_idx, vec![0, 1, 2]);
    assert_eq!(e.in_avals.len(), 3);
    assert_eq!(e.in_avals[1].static_shape(), Some(vec![8, 16]));
    assert_eq!(e.in_avals[0].dtype, DType::F32);
    assert_eq!(e.out_avals[0].static_shape(), Some(vec![2, 4]));
    assert_eq!(e.mlir_module_serialized, data("mlp.mlirbc"));
    assert!(matches!(&e.in_tree, PyTree::Tuple(c) if c.len() == 2));

    let e = parse_exported(&data("cnn.jax_exported")).unwrap();
    let paths = e.in_tree.leaf_paths();
    assert_eq!(paths[0], "[0][0]['params']['Conv_0']['bias']");
    assert_eq!(paths.len(), 7);
    assert_eq!(paths[6], "[0][1]");
    let e = parse_exported(&data("misc.jax_exported")).unwrap();
    assert_eq!(e.in_avals[1].dtype, DType::I32);
}

#[test]
fn damaged_blobs_are_refused() {
    let good = data("cnn.jax_exported");
    assert!(parse_exported(&[]).is_err());
    assert!(parse_exported(&good[..good.len() / 2]).is_err());
    // Flip bytes all over the buffer: errors are fine, panics are not.
    for i in (0..good.len()).step_by(7) {
        let mut b = good.clone();
        b[i] ^= 0xA5;
        let _ = parse_exported(&b);
    }
}

//! Flax msgpack parameters (tests/data, made by tests/gen_data.py with flax 0.12.8).

use cerebro_stablehlo::export::parse_exported;
use cerebro_stablehlo::flax::{bind, parse_params, ArgSource};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

/// Minimal reader for tree.json: [[path, dtype, shape, values]...] written by jax itself.
fn golden() -> Vec<(String, String, Vec<u64>, Vec<f64>)> {
    let v: serde_json::Value = serde_json::from_slice(&data("tree.json")).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e[0].as_str().unwrap().to_string(),
                e[1].as_str().unwrap().to_string(),
                e[2].as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap())
                    .collect(),
                e[3].as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_f64().unwrap())
                    .collect(),
            )
        })
        .collect()
}

fn values(l: &cerebro_stablehlo::flax::Leaf) -> Vec<f64> {
    let w = l.data.len() / l.shape.iter().product::<u64>().max(1) as usize;
    l.data
        .chunks_exact(w)
        .map(|c| match (l.dtype.as_str(), w) {
            ("float16", 2) => half::f16::from_le_bytes([c[0], c[1]]).to_f64(),
            ("float32", 4) => f32::from_le_bytes(c.try_into().unwrap()) as f64,
            ("float64", 8) => f64::from_le_bytes(c.try_into().unwrap()),
            ("int32", 4) => i32::from_le_bytes(c.try_into().unwrap()) as f64,
            ("int64", 8) => i64::from_le_bytes(c.try_into().unwrap()) as f64,
            ("bool", 1) => c[0] as f64,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn tree_matches_jax_flatten() {
    let leaves = parse_params(&data("tree.msgpack")).unwrap();
    let want = golden();
    assert_eq!(leaves.len(), want.len());
    for (l, (path, dtype, shape, vals)) in leaves.iter().zip(&want) {
        assert_eq!(&l.path_string(), path);
        assert_eq!(&l.dtype, dtype);
        assert_eq!(&l.shape, shape);
        assert_eq!(&values(l), vals, "{path}");
    }
}

#[test]
fn cnn_params_bind_to_main() {
    let leaves = parse_params(&data("cnn.msgpack")).unwrap();
    let e = parse_exported(&data("cnn.jax_exported")).unwrap();
    let b = bind(&e, &leaves, 0).unwrap();
    assert_eq!(b.len(), 7);
    assert_eq!(b[6], ArgSource::Input(0));
    assert_eq!(b[0], ArgSource::Param(0));
    assert_eq!(leaves[1].path_string(), "['params']['Conv_0']['kernel']");
    assert_eq!(leaves[1].shape, vec![3, 3, 3, 8]);
    // A parameter tree for another model is refused with the path that is missing.
    let err = bind(&e, &parse_params(&data("tree.msgpack")).unwrap(), 0).unwrap_err();
    assert!(
        err.message.contains("['params']['Conv_0']['bias']"),
        "{err}"
    );
}

#[test]
fn malformed_msgpack_is_refused() {
    let good = data("cnn.msgpack");
    assert!(parse_params(&good[..good.len() - 1]).is_err());
    assert!(parse_params(&[0xc1]).is_err());
    assert!(parse_params(&[0xdf, 0xff, 0xff, 0xff, 0xff]).is_err()); // map32 with a huge count
    let deep = vec![0x91u8; 10_000]; // nested fixarrays
    assert!(parse_params(&deep).is_err());
    for i in (0..good.len()).step_by(5) {
        let mut b = good.clone();
        b[i] = b[i].wrapping_add(0x3b);
        let _ = parse_params(&b);
    }
}

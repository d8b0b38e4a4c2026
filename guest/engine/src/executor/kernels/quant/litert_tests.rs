//! Bit-exactness against LiteRT itself: `testdata/litert_vectors.txt` holds int8 single-op
//! models converted by TensorFlow and run by LiteRT 2.3's reference kernels (`BUILTIN_REF`),
//! with their quantization parameters (made by `testdata/gen_litert_vectors.py`).

use super::super::conv::{ConvGeometry, Padding};
use super::super::pool::PoolKind;
use super::ops::*;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use std::collections::HashMap;

const VECTORS: &str = include_str!("../testdata/litert_vectors.txt");

/// A constant tensor: (dtype, shape, scales, values, first zero point).
type Const = (String, Vec<usize>, Vec<f32>, Vec<i32>, i32);

#[derive(Default)]
struct Case {
    name: String,
    params: HashMap<String, String>,
    shapes: HashMap<String, Vec<usize>>,
    data: HashMap<String, Vec<i8>>,
    /// Constants: (dtype, shape, scales, values, first zero point).
    consts: Vec<Const>,
}

impl Case {
    fn f(&self, k: &str) -> f32 {
        self.params[k].parse::<f64>().unwrap() as f32
    }
    fn i(&self, k: &str) -> i32 {
        self.params[k].parse().unwrap()
    }
    fn q(&self, t: &str) -> (f32, i32) {
        (self.f(&format!("{t}_scale")), self.i(&format!("{t}_zp")))
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut cur = Case::default();
    for line in VECTORS.lines() {
        let mut it = line.split_whitespace();
        match it.next() {
            Some("case") => cur.name = it.next().unwrap().into(),
            Some("param") => {
                let k = it.next().unwrap().into();
                cur.params
                    .insert(k, it.next().unwrap().trim_matches('\'').into());
            }
            Some("shape") => {
                let k = it.next().unwrap().into();
                cur.shapes
                    .insert(k, it.map(|v| v.parse().unwrap()).collect());
            }
            Some("data") => {
                let k = it.next().unwrap().into();
                cur.data.insert(k, it.map(|v| v.parse().unwrap()).collect());
            }
            Some("const") => {
                let _name = it.next();
                let dtype = it.next().unwrap().into();
                let shape = it.map(|v| v.parse().unwrap()).collect();
                cur.consts.push((dtype, shape, Vec::new(), Vec::new(), 0));
            }
            Some("scales") => {
                cur.consts.last_mut().unwrap().2 =
                    it.map(|v| v.parse::<f64>().unwrap() as f32).collect();
            }
            Some("zps") => {
                cur.consts.last_mut().unwrap().4 = it.next().map_or(0, |v| v.parse().unwrap());
            }
            Some("values") => {
                cur.consts.last_mut().unwrap().3 = it.map(|v| v.parse().unwrap()).collect();
            }
            Some("end") => out.push(core::mem::take(&mut cur)),
            _ => {}
        }
    }
    assert!(out.len() >= 20, "vector file truncated");
    out
}

#[test]
fn int8_ops_bit_exact_with_litert_builtin_ref() {
    for c in cases() {
        let x = &c.data["in0"];
        let want = &c.data["out0"];
        let mut got = alloc::vec![0i8; want.len()];
        let name = c.name.as_str();
        match name {
            "softmax" | "softmax_narrow" => {
                let s = &c.shapes["in0"];
                let p = SoftmaxI8Params::new(c.q("in0").0, 1.0);
                softmax_i8(&p, (s[0], s[1]), x, &mut got).unwrap();
            }
            "logistic" => {
                apply_lut_i8(&logistic_lut_i8(c.q("in0"), c.q("out0")), x, &mut got).unwrap()
            }
            "tanh" => apply_lut_i8(&tanh_lut_i8(c.q("in0"), c.q("out0")), x, &mut got).unwrap(),
            n if n.starts_with("mean") => {
                let s = &c.shapes["in0"];
                let (is, iz) = c.q("in0");
                let (os, oz) = c.q("out0");
                let q = MeanQuantParams {
                    input_zero_point: iz,
                    input_scale: is,
                    output_zero_point: oz,
                    output_scale: os,
                };
                mean_i8((s[0], s[1] * s[2], s[3]), &q, x, &mut got).unwrap();
            }
            "add" | "add_scales" | "sub" => {
                let p = AddI8Params::new(
                    c.q("in0"),
                    c.q("in1"),
                    c.q("out0"),
                    (-128, 127),
                    name == "sub",
                );
                p.run(x, &c.data["in1"], &mut got).unwrap();
            }
            "mul" | "mul_scales" => {
                let p = MulI8Params::new(c.q("in0"), c.q("in1"), c.q("out0"), (-128, 127));
                p.run(x, &c.data["in1"], &mut got).unwrap();
            }
            "avg_pool" | "max_pool" => {
                let s = &c.shapes["in0"];
                let k = c.i("k") as usize;
                let st = c.i("s") as usize;
                let pad = if c.params["pad"] == "SAME" {
                    Padding::Same
                } else {
                    Padding::Valid
                };
                let g = ConvGeometry::new(
                    s[0],
                    (s[1], s[2], s[3]),
                    s[3],
                    (k, k),
                    (st, st),
                    (1, 1),
                    pad,
                )
                .unwrap();
                let kind = if name == "avg_pool" {
                    PoolKind::Average
                } else {
                    PoolKind::Max
                };
                pool2d_i8(kind, &g, x, -128, 127, &mut got).unwrap();
            }
            n if n.starts_with("conv") || n.starts_with("dw") || n.starts_with("fc") => {
                run_conv_like(&c, x, &mut got, want)
            }
            other => panic!("unknown case {other}"),
        }
        assert_eq!(&got, want, "case {name}");
    }
}

/// Runs a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED case through the int8 kernels with the
/// multipliers and activation range computed the way TFLite's Prepare computes them.
fn run_conv_like(c: &Case, x: &[i8], got: &mut [i8], want: &[i8]) {
    use super::super::{Activation, Isa};
    use super::conv::*;
    let filter = c.consts.iter().find(|k| k.0 == "int8").unwrap();
    let bias = c
        .consts
        .iter()
        .find(|k| k.0 == "int32")
        .map(|k| k.3.clone());
    let w: Vec<i8> = filter.3.iter().map(|&v| v as i8).collect();
    let (is, iz) = c.q("in0");
    let (os, oz) = c.q("out0");
    let mult = super::conv_output_multipliers(is, &filter.2, os);
    let act = match c.params["act"].as_str() {
        "relu" => Activation::Relu,
        "relu6" => Activation::Relu6,
        _ => Activation::None,
    };
    let (lo, hi) = super::activation_range_i8(act, os, oz);
    let q = QuantConvParams {
        input_offset: -iz,
        output_offset: oz,
        multipliers: &mult,
        act_min: lo,
        act_max: hi,
    };
    let s = &c.shapes["in0"];
    for &isa in Isa::available() {
        if c.name.starts_with("fc") {
            let (n, k) = (filter.1[0], filter.1[1]);
            let packed =
                PackedI8Weights::with_zero_point(&w, n, k, filter.4, bias.as_deref()).unwrap();
            let mut scratch = alloc::vec![0i16; fully_connected_i8_scratch_len(k)];
            fully_connected_i8(isa, s[0], x, &packed, &q, got, &mut scratch).unwrap();
            assert_eq!(got, want, "case {} {isa:?}", c.name);
            continue;
        }
        let k = c.i("k") as usize;
        let st = c.i("s") as usize;
        let d = c.i("d") as usize;
        let pad = if c.params["pad"] == "SAME" {
            Padding::Same
        } else {
            Padding::Valid
        };
        let out_c = *c.shapes["out0"].last().unwrap();
        let groups = c.params.get("groups").map_or(1, |v| v.parse().unwrap());
        let mut g = ConvGeometry::new(
            s[0],
            (s[1], s[2], s[3]),
            out_c,
            (k, k),
            (st, st),
            (d, d),
            pad,
        )
        .unwrap();
        g.groups = groups;
        if c.name.starts_with("dw") {
            depthwise_conv2d_i8(isa, &g, x, &w, bias.as_deref(), &q, got).unwrap();
        } else {
            let packed =
                PackedI8Weights::grouped(&w, out_c, g.patch_depth(), groups, bias.as_deref())
                    .unwrap();
            let mut scratch = alloc::vec![0i16; conv2d_i8_scratch_len(&g)];
            conv2d_i8(isa, &g, x, &packed, &q, got, &mut scratch).unwrap();
        }
        assert_eq!(got, want, "case {} {isa:?}", c.name);
    }
}

//! General StableHLO windowed ops against a direct transcription of the spec: random 1-D, 2-D
//! and 3-D convolutions (lhs / rhs dilation, negative padding, reversal, feature and batch
//! groups) through both engine paths — the GEMM `Conv2d` path (constant kernel) and the
//! general `ConvNd` (kernel as a run-time input) — and hostile window attributes.

use cerebro_engine::loader::stablehlo::load;
use cerebro_engine::{DType, Error, Model, TensorData};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// One convolution: layouts `[b, spatial..., f] x [spatial..., i, o] -> [b, spatial..., f]`.
#[derive(Debug, Clone)]
struct Conv {
    batch: usize,
    in_c: usize,
    out_c: usize,
    input: Vec<usize>,
    kernel: Vec<usize>,
    stride: Vec<usize>,
    pad: Vec<(i64, i64)>,
    lhs: Vec<usize>,
    rhs: Vec<usize>,
    reverse: Vec<bool>,
    feature_groups: usize,
    batch_groups: usize,
}

impl Conv {
    fn output(&self) -> Option<Vec<usize>> {
        (0..self.input.len())
            .map(|d| {
                let din = (self.input[d] as i64 - 1) * self.lhs[d] as i64 + 1;
                let padded = din + self.pad[d].0 + self.pad[d].1;
                let dk = (self.kernel[d] as i64 - 1) * self.rhs[d] as i64 + 1;
                (padded >= dk).then(|| ((padded - dk) / self.stride[d] as i64 + 1) as usize)
            })
            .collect()
    }

    fn shape(dims: &[usize]) -> String {
        let mut s: String = dims.iter().map(|d| format!("{d}x")).collect();
        s.push_str("f32");
        format!("tensor<{s}>")
    }

    fn x_dims(&self) -> Vec<usize> {
        let mut v = vec![self.batch];
        v.extend(&self.input);
        v.push(self.in_c);
        v
    }

    fn k_dims(&self) -> Vec<usize> {
        let mut v = self.kernel.clone();
        v.push(self.in_c / self.feature_groups);
        v.push(self.out_c);
        v
    }

    fn y_dims(&self) -> Vec<usize> {
        let mut v = vec![self.batch / self.batch_groups];
        v.extend(self.output().unwrap());
        v.push(self.out_c);
        v
    }

    /// The StableHLO text; the kernel is a constant when given, else the second argument.
    fn text(&self, kernel: Option<&[f32]>) -> String {
        let s = self.input.len();
        let sp: Vec<String> = (0..s).map(|d| d.to_string()).collect();
        let sp = sp.join(", ");
        let list = |v: &[String]| v.join(", ");
        let ints = |v: &[usize]| list(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        let pads: Vec<String> = self
            .pad
            .iter()
            .map(|(l, h)| format!("[{l}, {h}]"))
            .collect();
        let rev: Vec<String> = self.reverse.iter().map(|r| r.to_string()).collect();
        let (xt, kt, yt) = (
            Self::shape(&self.x_dims()),
            Self::shape(&self.k_dims()),
            Self::shape(&self.y_dims()),
        );
        let (args, kdef) = match kernel {
            None => (format!("%x: {xt}, %k: {kt}"), String::new()),
            Some(k) => {
                let vals: Vec<String> = k.iter().map(|v| format!("{v:e}")).collect();
                (
                    format!("%x: {xt}"),
                    format!(
                        "  %k = stablehlo.constant dense<[{}]> : tensor<{}xf32>\n  %kr = stablehlo.reshape %k : (tensor<{}xf32>) -> {kt}\n",
                        vals.join(", "),
                        k.len(),
                        k.len()
                    ),
                )
            }
        };
        let kname = if kernel.is_some() { "%kr" } else { "%k" };
        format!(
            "func.func @main({args}) -> {yt} {{\n{kdef}  %0 = stablehlo.convolution(%x, {kname}) dim_numbers = [b, {sp}, f]x[{sp}, i, o]->[b, {sp}, f], window = {{stride = [{}], pad = [{}], lhs_dilate = [{}], rhs_dilate = [{}], reverse = [{}]}} {{batch_group_count = {} : i64, feature_group_count = {} : i64}} : ({xt}, {kt}) -> {yt}\n  return %0 : {yt}\n}}",
            ints(&self.stride),
            list(&pads),
            ints(&self.lhs),
            ints(&self.rhs),
            list(&rev),
            self.batch_groups,
            self.feature_groups,
        )
    }

    /// The spec, literally: every output element summed over its window in f64.
    fn reference(&self, x: &[f32], k: &[f32]) -> Vec<f32> {
        let s = self.input.len();
        let (xd, kd, yd) = (self.x_dims(), self.k_dims(), self.y_dims());
        let strides = |d: &[usize]| {
            let mut st = vec![1usize; d.len()];
            for i in (0..d.len() - 1).rev() {
                st[i] = st[i + 1] * d[i + 1];
            }
            st
        };
        let (xs, ks) = (strides(&xd), strides(&kd));
        let groups = self.feature_groups * self.batch_groups;
        let (cg, og) = (self.in_c / self.feature_groups, self.out_c / groups);
        let total: usize = yd.iter().product();
        let taps: usize = self.kernel.iter().product();
        let mut out = Vec::with_capacity(total);
        for flat in 0..total {
            let mut idx = vec![0usize; yd.len()];
            let mut r = flat;
            for d in (0..yd.len()).rev() {
                idx[d] = r % yd[d];
                r /= yd[d];
            }
            let (n, o) = (idx[0], idx[s + 1]);
            let g = o / og;
            let (b, c0) = if self.batch_groups > 1 {
                (g * yd[0] + n, 0)
            } else {
                (n, g * cg)
            };
            let mut acc = 0f64;
            for t in 0..taps {
                let mut kk = vec![0usize; s];
                let mut r = t;
                for d in (0..s).rev() {
                    kk[d] = r % self.kernel[d];
                    r /= self.kernel[d];
                }
                let mut xoff = Some(b * xs[0]);
                let mut koff = 0;
                for d in 0..s {
                    // Tap kk[d] of the window reads reversed kernel element kk[d].
                    let kidx = if self.reverse[d] {
                        self.kernel[d] - 1 - kk[d]
                    } else {
                        kk[d]
                    };
                    koff += kidx * ks[d];
                    let p =
                        (idx[d + 1] * self.stride[d] + kk[d] * self.rhs[d]) as i64 - self.pad[d].0;
                    let l = self.lhs[d] as i64;
                    xoff = match xoff {
                        Some(off) if p >= 0 && p % l == 0 && p / l < self.input[d] as i64 => {
                            Some(off + (p / l) as usize * xs[d + 1])
                        }
                        _ => None,
                    };
                }
                let Some(xoff) = xoff else { continue };
                for ci in 0..cg {
                    acc += f64::from(x[xoff + c0 + ci]) * f64::from(k[koff + ci * ks[s] + o]);
                }
            }
            out.push(acc as f32);
        }
        out
    }
}

fn run(text: &str, inputs: &[(&[usize], &[f32])]) -> Result<Vec<f32>, Error> {
    let mut m = Model::new(load(text.as_bytes())?)?;
    let bytes: Vec<Vec<u8>> = inputs
        .iter()
        .map(|(_, v)| v.iter().flat_map(|f| f.to_le_bytes()).collect())
        .collect();
    let data: Vec<TensorData> = inputs
        .iter()
        .zip(&bytes)
        .map(|((shape, _), b)| TensorData {
            dtype: DType::F32,
            shape,
            bytes: b,
        })
        .collect();
    m.run(&data)?;
    Ok(m.output(0)?
        .bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect())
}

fn random_conv(rng: &mut Rng) -> Conv {
    loop {
        let s = rng.range(1, 3) as usize;
        let groups = rng.range(1, 3) as usize;
        let batch_mode = rng.range(0, 3) == 0;
        let (fg, bg) = if batch_mode { (1, groups) } else { (groups, 1) };
        let c = Conv {
            batch: rng.range(1, 2) as usize * bg,
            in_c: rng.range(1, 3) as usize * fg,
            out_c: rng.range(1, 4) as usize * groups,
            input: (0..s)
                .map(|_| rng.range(1, if s == 3 { 4 } else { 7 }) as usize)
                .collect(),
            kernel: (0..s).map(|_| rng.range(1, 3) as usize).collect(),
            stride: (0..s).map(|_| rng.range(1, 3) as usize).collect(),
            pad: (0..s)
                .map(|_| (rng.range(-2, 3), rng.range(-2, 3)))
                .collect(),
            lhs: (0..s).map(|_| rng.range(1, 3) as usize).collect(),
            rhs: (0..s).map(|_| rng.range(1, 2) as usize).collect(),
            reverse: (0..s).map(|_| rng.range(0, 1) == 1).collect(),
            feature_groups: fg,
            batch_groups: bg,
        };
        if c.output().is_some_and(|o| o.iter().all(|&v| v > 0)) {
            return c;
        }
    }
}

#[test]
fn random_convolutions_match_the_spec_on_both_paths() {
    let mut rng = Rng(0x005e_ed0f_c0de);
    for case in 0..300 {
        let c = random_conv(&mut rng);
        let x: Vec<f32> = (0..c.x_dims().iter().product::<usize>())
            .map(|_| rng.f32())
            .collect();
        let k: Vec<f32> = (0..c.k_dims().iter().product::<usize>())
            .map(|_| rng.f32())
            .collect();
        let want = c.reference(&x, &k);
        let (xd, kd) = (c.x_dims(), c.k_dims());
        let general = run(&c.text(None), &[(&xd, &x), (&kd, &k)])
            .unwrap_or_else(|e| panic!("case {case} {c:?}: {e}"));
        let constant = run(&c.text(Some(&k)), &[(&xd, &x)])
            .unwrap_or_else(|e| panic!("case {case} {c:?}: {e}"));
        for (name, got) in [("ConvNd", &general), ("constant kernel", &constant)] {
            assert_eq!(got.len(), want.len(), "case {case} {name}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "case {case} {name} element {i}: {g} vs {w}\n{c:?}"
                );
            }
        }
    }
}

fn load_err(text: &str) -> Error {
    match load(text.as_bytes()).and_then(Model::new) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(e) => e,
    }
}

/// The model is refused with a load-time error (not a panic), which names the problem.
fn assert_refused(what: &str, text: &str) {
    let e = load_err(text);
    eprintln!("{what}: {e}");
    assert!(
        matches!(
            e,
            Error::Invalid(_) | Error::TooLarge(_) | Error::Malformed(_) | Error::Unsupported(_)
        ),
        "{what}: {e:?}"
    );
}

#[test]
fn hostile_window_attributes_are_refused() {
    let conv = |window: &str, groups: &str, dims: &str, out: &str| {
        format!(
            "func.func @main(%x: tensor<1x8x8x2xf32>, %k: tensor<3x3x2x4xf32>) -> tensor<{out}xf32> {{\n  %0 = stablehlo.convolution(%x, %k) dim_numbers = {dims}, window = {{{window}}} {{{groups}}} : (tensor<1x8x8x2xf32>, tensor<3x3x2x4xf32>) -> tensor<{out}xf32>\n  return %0 : tensor<{out}xf32>\n}}"
        )
    };
    let dn = "[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]";
    let g1 = "batch_group_count = 1 : i64, feature_group_count = 1 : i64";
    for (window, groups, dims, out) in [
        ("stride = [0, 1]", g1, dn, "1x6x6x4"),
        ("lhs_dilate = [0, 1]", g1, dn, "1x6x6x4"),
        ("rhs_dilate = [-1, 1]", g1, dn, "1x6x6x4"),
        (
            "pad = [[-9223372036854775807, 0], [0, 0]]",
            g1,
            dn,
            "1x6x6x4",
        ),
        (
            "pad = [[9223372036854775807, 9223372036854775807], [0, 0]]",
            g1,
            dn,
            "1x6x6x4",
        ),
        (
            "lhs_dilate = [9223372036854775807, 9223372036854775807]",
            g1,
            dn,
            "1x6x6x4",
        ),
        (
            "lhs_dilate = [1000000, 1000000]",
            g1,
            dn,
            "1x999992x999992x4",
        ),
        ("pad = [[-20, 0], [0, 0]]", g1, dn, "1x6x6x4"),
        ("stride = [1, 1, 1]", g1, dn, "1x6x6x4"),
        (
            "",
            "batch_group_count = 1 : i64, feature_group_count = 0 : i64",
            dn,
            "1x6x6x4",
        ),
        (
            "",
            "batch_group_count = 3 : i64, feature_group_count = 1 : i64",
            dn,
            "1x6x6x4",
        ),
        (
            "",
            "batch_group_count = 2 : i64, feature_group_count = 2 : i64",
            dn,
            "1x6x6x4",
        ),
        ("", g1, "[b, 0, 0, f]x[0, 1, i, o]->[b, 0, 1, f]", "1x6x6x4"),
        ("", g1, "[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 0, f]", "1x6x6x4"),
        ("", g1, dn, "1x7x6x4"),
    ] {
        assert_refused(
            &format!("{window} {groups} {dims}"),
            &conv(window, groups, dims, out),
        );
    }
    // reduce_window: absurd windows and dilations; pad: absurd interior padding.
    let rw = |attrs: &str, out: &str| {
        format!(
            "func.func @main(%x: tensor<4x4xf32>) -> tensor<{out}xf32> {{\n  %c = stablehlo.constant dense<0.0> : tensor<f32>\n  %0 = \"stablehlo.reduce_window\"(%x, %c) ({{\n  ^bb0(%a: tensor<f32>, %b: tensor<f32>):\n    %s = stablehlo.add %a, %b : tensor<f32>\n    stablehlo.return %s : tensor<f32>\n  }}) {{{attrs}}} : (tensor<4x4xf32>, tensor<f32>) -> tensor<{out}xf32>\n  return %0 : tensor<{out}xf32>\n}}"
        )
    };
    // Legal but absurd work (2^40 additions) is refused instead of running for minutes.
    let big = "func.func @main(%x: tensor<1024x1024xf32>) -> tensor<1025x1025xf32> {\n  %c = stablehlo.constant dense<0.0> : tensor<f32>\n  %0 = \"stablehlo.reduce_window\"(%x, %c) ({\n  ^bb0(%a: tensor<f32>, %b: tensor<f32>):\n    %s = stablehlo.add %a, %b : tensor<f32>\n    stablehlo.return %s : tensor<f32>\n  }) {window_dimensions = array<i64: 1024, 1024>, padding = dense<512> : tensor<2x2xi64>} : (tensor<1024x1024xf32>, tensor<f32>) -> tensor<1025x1025xf32>\n  return %0 : tensor<1025x1025xf32>\n}";
    assert!(matches!(load_err(big), Error::TooLarge(m) if m.contains("steps")));
    for (attrs, out) in [
        ("window_dimensions = array<i64: 2, 2>, window_strides = array<i64: 0, 1>", "3x3"),
        ("window_dimensions = array<i64: -2, 2>", "3x3"),
        ("window_dimensions = array<i64: 2>", "3x3"),
        ("window_dimensions = array<i64: 2, 2>, base_dilations = array<i64: 9223372036854775807, 1>", "3x3"),
        ("window_dimensions = array<i64: 4611686018427387904, 4611686018427387904>, padding = dense<4611686018427387904> : tensor<2x2xi64>", "3x3"),
        ("window_dimensions = array<i64: 1048576, 1048576>, padding = dense<1048576> : tensor<2x2xi64>", "1048580x1048580"),
        ("window_dimensions = array<i64: 2, 2>", "4x4"),
    ] {
        assert_refused(attrs, &rw(attrs, out));
    }
    let sas = |attrs: &str, src: &str| {
        format!(
            "func.func @main(%x: tensor<4x4xf32>, %s: tensor<{src}xf32>) -> tensor<4x4xf32> {{\n  %c = stablehlo.constant dense<0.0> : tensor<f32>\n  %0 = \"stablehlo.select_and_scatter\"(%x, %s, %c) ({{\n  ^bb0(%a: tensor<f32>, %b: tensor<f32>):\n    %p = stablehlo.compare GE, %a, %b : (tensor<f32>, tensor<f32>) -> tensor<i1>\n    stablehlo.return %p : tensor<i1>\n  }}, {{\n  ^bb0(%a: tensor<f32>, %b: tensor<f32>):\n    %q = stablehlo.add %a, %b : tensor<f32>\n    stablehlo.return %q : tensor<f32>\n  }}) {{{attrs}}} : (tensor<4x4xf32>, tensor<{src}xf32>, tensor<f32>) -> tensor<4x4xf32>\n  return %0 : tensor<4x4xf32>\n}}"
        )
    };
    // The well-formed one loads; each broken variant is refused.
    load(
        sas(
            "window_dimensions = array<i64: 2, 2>, window_strides = array<i64: 2, 2>",
            "2x2",
        )
        .as_bytes(),
    )
    .and_then(Model::new)
    .unwrap();
    for (attrs, src) in [
        (
            "window_dimensions = array<i64: 2, 2>, window_strides = array<i64: 0, 2>",
            "2x2",
        ),
        (
            "window_dimensions = array<i64: 2, 2>, window_strides = array<i64: 2, 2>",
            "3x2",
        ),
        ("window_dimensions = array<i64: 2, 2, 2>", "2x2"),
        (
            "window_dimensions = array<i64: 9223372036854775807, 2>",
            "1x3",
        ),
    ] {
        assert_refused(attrs, &sas(attrs, src));
    }
    let pad = |attrs: &str, out: &str| {
        format!(
            "func.func @main(%x: tensor<4x4xf32>) -> tensor<{out}xf32> {{\n  %c = stablehlo.constant dense<0.0> : tensor<f32>\n  %0 = stablehlo.pad %x, %c, {attrs} : (tensor<4x4xf32>, tensor<f32>) -> tensor<{out}xf32>\n  return %0 : tensor<{out}xf32>\n}}"
        )
    };
    for (attrs, out) in [
        ("low = [0, 0], high = [0, 0], interior = [-1, 0]", "4x4"),
        (
            "low = [0, 0], high = [0, 0], interior = [9223372036854775807, 0]",
            "4x4",
        ),
        ("low = [-5, 0], high = [0, 0], interior = [0, 0]", "4x4"),
        (
            "low = [-9223372036854775808, 0], high = [0, 0], interior = [0, 0]",
            "4x4",
        ),
        ("low = [0, 0], high = [0, 0], interior = [1, 0]", "4x4"),
        ("low = [0], high = [0, 0], interior = [1, 0]", "4x4"),
    ] {
        assert_refused(attrs, &pad(attrs, out));
    }
}

#[test]
fn interior_and_negative_padding_match_the_spec() {
    // The conformance example: low [1, -1], high [1, -1], interior [0, 1], value -1.
    let text = "func.func @main(%x: tensor<5x4xf32>) -> tensor<7x5xf32> {\n  %c = stablehlo.constant dense<-1.0> : tensor<f32>\n  %0 = stablehlo.pad %x, %c, low = [1, -1], high = [1, -1], interior = [0, 1] : (tensor<5x4xf32>, tensor<f32>) -> tensor<7x5xf32>\n  return %0 : tensor<7x5xf32>\n}";
    let x: Vec<f32> = (0..20).map(|v| v as f32).collect();
    let got = run(text, &[(&[5, 4], &x)]).unwrap();
    let mut want = Vec::new();
    for r in 0..7 {
        for c in 0..5usize {
            // Row r-1 of x; columns of the interior-padded row [x0, -1, x1, -1, x2, -1, x3]
            // without its first and last element.
            let v = if r == 0 || r == 6 || c % 2 == 0 {
                -1.0
            } else {
                x[(r - 1) * 4 + c.div_ceil(2)]
            };
            want.push(v);
        }
    }
    assert_eq!(got, want);
}

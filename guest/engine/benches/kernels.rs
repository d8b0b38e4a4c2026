//! Kernel benchmarks: f32 GEMM GFLOP/s on squares and MobileNetV2 layer shapes, AVX2 vs the
//! portable fallback, plus depthwise conv and int8 kernels. No assertions on time.
//!
//! Run: `cargo bench -p cerebro-engine --bench kernels` (single thread).

use cerebro_engine::executor::kernels::conv::{self, ConvGeometry, Padding};
use cerebro_engine::executor::kernels::gemm::{self, PackedB};
use cerebro_engine::executor::kernels::{Activation, Isa};
use std::hint::black_box;
use std::time::{Duration, Instant};

static FILTER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Whether the benchmark named `name` was selected by the command-line filter.
fn on(name: &str) -> bool {
    FILTER
        .get()
        .and_then(|f| f.as_deref())
        .is_none_or(|f| name.contains(f))
}

/// Best time of repeated runs of `f` (at least `min_runs`, at least ~0.3 s in total).
fn best_time(mut f: impl FnMut(), min_runs: usize) -> Duration {
    f();
    let mut best = Duration::MAX;
    let start = Instant::now();
    let mut runs = 0;
    while runs < min_runs || start.elapsed() < Duration::from_millis(300) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
        runs += 1;
    }
    best
}

fn fill(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn isa_name(isa: Isa) -> &'static str {
    match isa {
        Isa::Avx2Fma => "avx2+fma",
        Isa::Portable => "portable",
    }
}

fn bench_gemm(label: &str, m: usize, k: usize, n: usize) {
    if !on(&format!("gemm {label} {m}x{k}x{n}")) {
        return;
    }
    let a = fill(m * k, 1);
    let b = fill(k * n, 2);
    let packed = PackedB::from_kn(&b, k, n, None).unwrap();
    let mut c = vec![0.0f32; m * n];
    let mut scratch = vec![0.0f32; gemm::scratch_len(m, k)];
    let flops = 2.0 * m as f64 * k as f64 * n as f64;
    let mut line = format!("gemm {label:<28} m={m:<6} k={k:<5} n={n:<5}");
    for &isa in Isa::available() {
        let t = best_time(
            || {
                gemm::gemm(
                    isa,
                    &a,
                    m,
                    k,
                    &packed,
                    Activation::None,
                    &mut c,
                    n,
                    &mut scratch,
                )
                .unwrap();
                black_box(&c);
            },
            3,
        );
        let gf = flops / t.as_secs_f64() / 1e9;
        line += &format!(
            "  {}: {:7.1} GFLOP/s ({:8.1} us)",
            isa_name(isa),
            gf,
            t.as_secs_f64() * 1e6
        );
    }
    println!("{line}");
}

fn bench_conv(label: &str, g: ConvGeometry) {
    if !on(&format!("conv {label}")) {
        return;
    }
    let input = fill(g.input_len().unwrap(), 3);
    let filter = fill(g.out_c * g.patch_depth(), 4);
    let packed = conv::pack_conv_filter(&g, &filter, Some(&vec![0.1; g.out_c])).unwrap();
    let mut out = vec![0.0f32; g.output_len().unwrap()];
    let mut scratch = vec![0.0f32; conv::conv2d_scratch_len(&g)];
    let flops = 2.0 * g.out_pixels() as f64 * g.patch_depth() as f64 * g.out_c as f64;
    let mut line = format!("conv {label:<28}");
    for &isa in Isa::available() {
        let t = best_time(
            || {
                conv::conv2d_f32(
                    isa,
                    &g,
                    &input,
                    &packed,
                    Activation::Relu6,
                    &mut out,
                    &mut scratch,
                )
                .unwrap();
                black_box(&out);
            },
            3,
        );
        line += &format!(
            "  {}: {:7.1} GFLOP/s ({:8.1} us)",
            isa_name(isa),
            flops / t.as_secs_f64() / 1e9,
            t.as_secs_f64() * 1e6
        );
    }
    println!("{line}");
}

fn bench_depthwise(label: &str, g: ConvGeometry) {
    if !on(&format!("dwconv {label}")) {
        return;
    }
    let input = fill(g.input_len().unwrap(), 5);
    let filter = fill(g.kernel_h * g.kernel_w * g.out_c, 6);
    let bias = vec![0.1; g.out_c];
    let mut out = vec![0.0f32; g.output_len().unwrap()];
    let flops = 2.0 * g.output_len().unwrap() as f64 * (g.kernel_h * g.kernel_w) as f64;
    let mut line = format!("dwconv {label:<26}");
    for &isa in Isa::available() {
        let t = best_time(
            || {
                conv::depthwise_conv2d_f32(
                    isa,
                    &g,
                    &input,
                    &filter,
                    Some(&bias),
                    Activation::Relu6,
                    &mut out,
                )
                .unwrap();
                black_box(&out);
            },
            3,
        );
        line += &format!(
            "  {}: {:7.1} GFLOP/s ({:8.1} us)",
            isa_name(isa),
            flops / t.as_secs_f64() / 1e9,
            t.as_secs_f64() * 1e6
        );
    }
    println!("{line}");
}

/// One convolution layer of MobileNetV2 (224x224, width 1.0).
#[derive(Clone, Copy)]
enum Layer {
    /// Full conv (stem, or a 1x1 expand/project).
    Conv(ConvGeometry),
    /// Depthwise 3x3.
    Depthwise(ConvGeometry),
}

fn mobilenet_v2_layers() -> Vec<Layer> {
    let mut v = Vec::new();
    let geo = |hw: usize, cin: usize, cout: usize, k: usize, s: usize| {
        ConvGeometry::new(
            1,
            (hw, hw, cin),
            cout,
            (k, k),
            (s, s),
            (1, 1),
            Padding::Same,
        )
        .unwrap()
    };
    v.push(Layer::Conv(geo(224, 3, 32, 3, 2)));
    let mut hw = 112;
    let mut cin = 32;
    for (t, c, n, s) in [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ] {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            let mid = cin * t;
            if t != 1 {
                v.push(Layer::Conv(geo(hw, cin, mid, 1, 1)));
            }
            v.push(Layer::Depthwise(geo(hw, mid, mid, 3, stride)));
            hw = hw.div_ceil(stride);
            v.push(Layer::Conv(geo(hw, mid, c, 1, 1)));
            cin = c;
        }
    }
    v.push(Layer::Conv(geo(7, 320, 1280, 1, 1)));
    v
}

/// Sum of the f32 conv + depthwise kernel times over MobileNetV2's layers (plus the classifier
/// FC), per ISA: what the whole model costs in these kernels.
fn bench_mobilenet_f32_layers() {
    let layers = mobilenet_v2_layers();
    let fc = PackedB::from_nk(&fill(1280 * 1000, 9), 1000, 1280, Some(&fill(1000, 10))).unwrap();
    let verbose = std::env::var_os("KBENCH_VERBOSE").is_some();
    for &isa in Isa::available() {
        let (mut conv_t, mut dw_t, mut flops) = (0.0, 0.0, 0.0);
        for l in &layers {
            match *l {
                Layer::Conv(g) => {
                    let input = fill(g.input_len().unwrap(), 3);
                    let packed = conv::pack_conv_filter(
                        &g,
                        &fill(g.out_c * g.patch_depth(), 4),
                        Some(&fill(g.out_c, 1)),
                    )
                    .unwrap();
                    let mut out = vec![0.0f32; g.output_len().unwrap()];
                    let mut scratch = vec![0.0f32; conv::conv2d_scratch_len(&g)];
                    let t = best_time(
                        || {
                            conv::conv2d_f32(
                                isa,
                                &g,
                                &input,
                                &packed,
                                Activation::Relu6,
                                &mut out,
                                &mut scratch,
                            )
                            .unwrap();
                            black_box(&out);
                        },
                        3,
                    );
                    conv_t += t.as_secs_f64();
                    let f = 2.0 * (g.out_pixels() * g.patch_depth() * g.out_c) as f64;
                    flops += f;
                    if verbose {
                        println!(
                            "  conv {}x{}x{} -> {} k{} s{}: {:7.1} us {:6.1} GFLOP/s",
                            g.in_h,
                            g.in_w,
                            g.in_c,
                            g.out_c,
                            g.kernel_h,
                            g.stride_h,
                            t.as_secs_f64() * 1e6,
                            f / t.as_secs_f64() / 1e9
                        );
                    }
                }
                Layer::Depthwise(g) => {
                    let input = fill(g.input_len().unwrap(), 5);
                    let filter = fill(9 * g.out_c, 6);
                    let bias = fill(g.out_c, 7);
                    let mut out = vec![0.0f32; g.output_len().unwrap()];
                    let t = best_time(
                        || {
                            conv::depthwise_conv2d_f32(
                                isa,
                                &g,
                                &input,
                                &filter,
                                Some(&bias),
                                Activation::Relu6,
                                &mut out,
                            )
                            .unwrap();
                            black_box(&out);
                        },
                        3,
                    );
                    dw_t += t.as_secs_f64();
                    if verbose {
                        println!(
                            "  dw   {}x{}x{} s{}: {:7.1} us",
                            g.in_h,
                            g.in_w,
                            g.in_c,
                            g.stride_h,
                            t.as_secs_f64() * 1e6
                        );
                    }
                    flops += 2.0 * (g.output_len().unwrap() * 9) as f64;
                }
            }
        }
        let x = fill(1280, 8);
        let mut y = vec![0.0f32; 1000];
        let mut scratch = vec![0.0f32; conv::fully_connected_scratch_len(1, 1280)];
        let fc_t = best_time(
            || {
                conv::fully_connected_f32(isa, &x, 1, &fc, Activation::None, &mut y, &mut scratch)
                    .unwrap();
                black_box(&y);
            },
            3,
        )
        .as_secs_f64();
        let total = conv_t + dw_t + fc_t;
        println!(
            "mobilenetv2 f32 layer sum {:<9} conv {:7.3} ms  depthwise {:7.3} ms  fc {:6.3} ms  total {:7.3} ms ({:.1} GFLOP/s)",
            isa_name(isa), conv_t * 1e3, dw_t * 1e3, fc_t * 1e3, total * 1e3, flops / total / 1e9
        );
    }
}

/// Sum of the int8 conv + depthwise kernel times over MobileNetV2's layers, per ISA.
fn bench_mobilenet_i8_layers() {
    use cerebro_engine::executor::kernels::quant::conv as qconv;
    use cerebro_engine::executor::kernels::quant::quantize_multiplier;
    let layers = mobilenet_v2_layers();
    let verbose = std::env::var_os("KBENCH_VERBOSE").is_some();
    let fill_i8 = |n: usize, seed: u32| -> Vec<i8> {
        fill(n, seed).iter().map(|v| (v * 127.0) as i8).collect()
    };
    for &isa in Isa::available() {
        let (mut conv_t, mut dw_t) = (0.0, 0.0);
        for l in &layers {
            match *l {
                Layer::Conv(g) => {
                    let input = fill_i8(g.input_len().unwrap(), 3);
                    let w = qconv::PackedI8Weights::new(
                        &fill_i8(g.out_c * g.patch_depth(), 4),
                        g.out_c,
                        g.patch_depth(),
                        None,
                    )
                    .unwrap();
                    let m: Vec<_> = (0..g.out_c)
                        .map(|i| quantize_multiplier(0.001 + i as f64 * 1e-6))
                        .collect();
                    let q = qconv::QuantConvParams {
                        input_offset: 128,
                        output_offset: -128,
                        multipliers: &m,
                        act_min: -128,
                        act_max: 127,
                    };
                    let mut out = vec![0i8; g.output_len().unwrap()];
                    let mut scratch = vec![0i16; qconv::conv2d_i8_scratch_len(&g)];
                    let t = best_time(
                        || {
                            qconv::conv2d_i8(isa, &g, &input, &w, &q, &mut out, &mut scratch)
                                .unwrap();
                            black_box(&out);
                        },
                        3,
                    );
                    conv_t += t.as_secs_f64();
                    if verbose {
                        println!(
                            "  i8 conv {}x{}x{} -> {} k{}: {:7.1} us",
                            g.in_h,
                            g.in_w,
                            g.in_c,
                            g.out_c,
                            g.kernel_h,
                            t.as_secs_f64() * 1e6
                        );
                    }
                }
                Layer::Depthwise(g) => {
                    let input = fill_i8(g.input_len().unwrap(), 5);
                    let filter = fill_i8(9 * g.out_c, 6);
                    let m: Vec<_> = (0..g.out_c)
                        .map(|i| quantize_multiplier(0.001 + i as f64 * 1e-6))
                        .collect();
                    let q = qconv::QuantConvParams {
                        input_offset: 128,
                        output_offset: -128,
                        multipliers: &m,
                        act_min: -128,
                        act_max: 127,
                    };
                    let mut out = vec![0i8; g.output_len().unwrap()];
                    let t = best_time(
                        || {
                            qconv::depthwise_conv2d_i8(
                                isa, &g, &input, &filter, None, &q, &mut out,
                            )
                            .unwrap();
                            black_box(&out);
                        },
                        3,
                    );
                    dw_t += t.as_secs_f64();
                    if verbose {
                        println!(
                            "  i8 dw {}x{}x{} s{}: {:7.1} us",
                            g.in_h,
                            g.in_w,
                            g.in_c,
                            g.stride_h,
                            t.as_secs_f64() * 1e6
                        );
                    }
                }
            }
        }
        println!(
            "mobilenetv2 int8 layer sum {:<9} conv {:7.3} ms  depthwise {:7.3} ms  total {:7.3} ms",
            isa_name(isa),
            conv_t * 1e3,
            dw_t * 1e3,
            (conv_t + dw_t) * 1e3
        );
    }
}

fn main() {
    // Optional substring filter: `cargo bench -p cerebro-engine --bench kernels -- dwconv`.
    let _ = FILTER.set(std::env::args().skip(1).find(|a| !a.starts_with('-')));
    println!("detected ISA: {}", isa_name(Isa::detect()));
    if on("mobilenetv2 f32 layers") {
        bench_mobilenet_f32_layers();
    }
    if on("mobilenetv2 int8 layers") {
        bench_mobilenet_i8_layers();
    }
    for s in [256, 512, 1024] {
        bench_gemm("square", s, s, s);
    }
    // MobileNetV2 224x224 1x1 convolutions as GEMMs (M = pixels, K = in, N = out).
    let mb = [
        (12544, 32, 16),
        (12544, 16, 96),
        (3136, 96, 24),
        (3136, 24, 144),
        (3136, 144, 24),
        (784, 144, 32),
        (784, 32, 192),
        (784, 192, 32),
        (196, 192, 64),
        (196, 64, 384),
        (196, 384, 64),
        (196, 384, 96),
        (196, 96, 576),
        (196, 576, 96),
        (49, 576, 160),
        (49, 160, 960),
        (49, 960, 160),
        (49, 960, 320),
        (49, 320, 1280),
        (1, 1280, 1000),
    ];
    for (m, k, n) in mb {
        bench_gemm("mobilenetv2 1x1", m, k, n);
    }
    let g = ConvGeometry::new(1, (224, 224, 3), 32, (3, 3), (2, 2), (1, 1), Padding::Same).unwrap();
    bench_conv("mobilenetv2 stem 3x3/2", g);
    let g = ConvGeometry::new(1, (56, 56, 64), 64, (3, 3), (1, 1), (1, 1), Padding::Same).unwrap();
    bench_conv("3x3 56x56x64->64", g);
    for (hw, c, s) in [
        (112, 32, 1),
        (112, 96, 2),
        (56, 144, 1),
        (56, 144, 2),
        (28, 192, 1),
        (14, 384, 1),
        (14, 576, 2),
        (7, 960, 1),
    ] {
        let g =
            ConvGeometry::new(1, (hw, hw, c), c, (3, 3), (s, s), (1, 1), Padding::Same).unwrap();
        bench_depthwise(&format!("3x3/{s} {hw}x{hw}x{c}"), g);
    }
}

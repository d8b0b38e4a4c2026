//! int8 pooling, mean, elementwise add / sub / mul, softmax, logistic / tanh, and the
//! quantize / requantize / dequantize conversions, with TFLite's reference arithmetic.

use super::super::conv::ConvGeometry;
use super::super::pool::{check_pool, window, PoolKind};
use super::super::{mul_all, need, KernelError, KernelResult};
use super::fixed::{exp_on_negative_values, get_reciprocal};
use super::{
    multiply_by_quantized_multiplier, quantize_multiplier, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul, QuantMultiplier,
};

/// int8 max / average pooling (`reference_integer_ops::MaxPool` / `AveragePool`): input and
/// output share scale and zero point; the average rounds half away from zero over the taps
/// inside the input. A window with no tap inside the input gives `act_min` (max) / 0 (average,
/// where TFLite would fail).
pub fn pool2d_i8(
    kind: PoolKind,
    geo: &ConvGeometry,
    input: &[i8],
    act_min: i32,
    act_max: i32,
    output: &mut [i8],
) -> KernelResult {
    check_pool(geo, input.len(), output.len())?;
    if act_min > act_max {
        return Err(KernelError::InvalidParam("bad int8 activation range"));
    }
    let c = geo.in_c;
    const BLOCK: usize = 64;
    for b in 0..geo.batch {
        for oy in 0..geo.out_h {
            for ox in 0..geo.out_w {
                let (y0, y1, x0, x1) = window(geo, oy, ox);
                let count = ((y1 - y0) * (x1 - x0)) as i32;
                let o = ((b * geo.out_h + oy) * geo.out_w + ox) * c;
                let mut c0 = 0;
                while c0 < c {
                    let nc = BLOCK.min(c - c0);
                    let mut acc = [0i32; BLOCK];
                    let acc = &mut acc[..nc];
                    if kind == PoolKind::Max {
                        acc.fill(i8::MIN as i32);
                    }
                    for y in y0..y1 {
                        for x in x0..x1 {
                            let s = ((b * geo.in_h + y) * geo.in_w + x) * c + c0;
                            for (a, v) in acc.iter_mut().zip(&input[s..s + nc]) {
                                match kind {
                                    PoolKind::Max => *a = (*a).max(*v as i32),
                                    PoolKind::Average => *a += *v as i32,
                                }
                            }
                        }
                    }
                    for (j, a) in acc.iter().enumerate() {
                        let v = match kind {
                            PoolKind::Max => *a,
                            PoolKind::Average if count > 0 => {
                                if *a > 0 {
                                    (*a + count / 2) / count
                                } else {
                                    (*a - count / 2) / count
                                }
                            }
                            PoolKind::Average => 0,
                        };
                        output[o + c0 + j] = v.clamp(act_min, act_max) as i8;
                    }
                    c0 += nc;
                }
            }
        }
    }
    Ok(())
}

/// Quantization of an int8 mean.
#[derive(Debug, Clone, Copy)]
pub struct MeanQuantParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Input scale.
    pub input_scale: f32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Output scale.
    pub output_scale: f32,
}

/// int8 mean over the middle axis of `[outer, reduced, inner]` (NHWC mean over H,W:
/// `outer = N`, `reduced = H*W`, `inner = C`), as `reference_ops::QuantizedMeanOrSum`:
/// int32 sum, minus `zero_point · count`, times `input_scale / output_scale` folded with
/// `1 / count` into one multiplier, plus the output zero point.
pub fn mean_i8(
    (outer, reduced, inner): (usize, usize, usize),
    q: &MeanQuantParams,
    input: &[i8],
    output: &mut [i8],
) -> KernelResult {
    need(
        "mean input",
        mul_all(&[outer, reduced, inner])?,
        input.len(),
    )?;
    need("mean output", mul_all(&[outer, inner])?, output.len())?;
    if reduced == 0 {
        output[..outer * inner].fill(0);
        return Ok(());
    }
    let base = quantize_multiplier(q.input_scale as f64 / q.output_scale as f64);
    let num = reduced as u64;
    let mut shift = 63 - num.leading_zeros() as i32;
    shift = shift.min(32).min(31 + base.shift);
    let m = QuantMultiplier {
        multiplier: (((base.multiplier as i64) << shift) / num as i64) as i32,
        shift: base.shift - shift,
    };
    const BLOCK: usize = 64;
    for o in 0..outer {
        let mut c0 = 0;
        while c0 < inner {
            let nc = BLOCK.min(inner - c0);
            let mut acc = [0i32; BLOCK];
            let acc = &mut acc[..nc];
            for r in 0..reduced {
                let s = (o * reduced + r) * inner + c0;
                for (a, v) in acc.iter_mut().zip(&input[s..s + nc]) {
                    *a = a.wrapping_add(*v as i32);
                }
            }
            for (j, a) in acc.iter().enumerate() {
                let shifted = (*a as i64 - q.input_zero_point as i64 * reduced as i64) as i32;
                let v = multiply_by_quantized_multiplier(shifted, m) + q.output_zero_point;
                output[o * inner + c0 + j] = v.clamp(-128, 127) as i8;
            }
            c0 += nc;
        }
    }
    Ok(())
}

/// Parameters of int8 ADD / SUB (TFLite's `PrepareGeneralSubOp`-style rescaling: inputs
/// shifted left by 20 bits and scaled to twice the larger input scale).
#[derive(Debug, Clone, Copy)]
pub struct AddI8Params {
    input1_offset: i32,
    input2_offset: i32,
    input1: QuantMultiplier,
    input2: QuantMultiplier,
    output: QuantMultiplier,
    output_offset: i32,
    act_min: i32,
    act_max: i32,
    subtract: bool,
}

impl AddI8Params {
    /// Builds the parameters from the tensors' scales and zero points (`subtract` for SUB).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        (in1_scale, in1_zp): (f32, i32),
        (in2_scale, in2_zp): (f32, i32),
        (out_scale, out_zp): (f32, i32),
        (act_min, act_max): (i32, i32),
        subtract: bool,
    ) -> Self {
        const LEFT_SHIFT: i32 = 20;
        let twice_max = 2.0f32 * in1_scale.max(in2_scale);
        let twice_max = twice_max as f64;
        let real1 = in1_scale as f64 / twice_max;
        let real2 = in2_scale as f64 / twice_max;
        let real_out = twice_max / ((1i32 << LEFT_SHIFT) as f32 * out_scale) as f64;
        AddI8Params {
            input1_offset: -in1_zp,
            input2_offset: -in2_zp,
            input1: quantize_multiplier(real1),
            input2: quantize_multiplier(real2),
            output: quantize_multiplier(real_out),
            output_offset: out_zp,
            act_min,
            act_max,
            subtract,
        }
    }

    /// Builds the parameters from already computed multipliers (left shift 20, as TFLite uses
    /// for int8): `in*_offset = -zero_point`, `out_offset = output zero point`.
    #[allow(clippy::too_many_arguments)]
    pub fn from_multipliers(
        (in1_offset, in1): (i32, QuantMultiplier),
        (in2_offset, in2): (i32, QuantMultiplier),
        (out_offset, out): (i32, QuantMultiplier),
        (act_min, act_max): (i32, i32),
        subtract: bool,
    ) -> Self {
        AddI8Params {
            input1_offset: in1_offset,
            input2_offset: in2_offset,
            input1: in1,
            input2: in2,
            output: out,
            output_offset: out_offset,
            act_min,
            act_max,
            subtract,
        }
    }

    /// One element.
    #[inline]
    pub fn apply(&self, a: i8, b: i8) -> i8 {
        let a = (self.input1_offset + a as i32) * (1 << 20);
        let b = (self.input2_offset + b as i32) * (1 << 20);
        let a = multiply_by_quantized_multiplier(a, self.input1);
        let b = multiply_by_quantized_multiplier(b, self.input2);
        let raw = if self.subtract { a - b } else { a + b };
        let out = multiply_by_quantized_multiplier(raw, self.output) + self.output_offset;
        out.clamp(self.act_min, self.act_max) as i8
    }

    /// Same-shape elementwise add / sub (AVX2 when available).
    pub fn run(&self, a: &[i8], b: &[i8], out: &mut [i8]) -> KernelResult {
        self.run_isa(super::super::Isa::detect(), a, b, out)
    }

    /// [`Self::run`] on a chosen instruction set.
    pub fn run_isa(
        &self,
        isa: super::super::Isa,
        a: &[i8],
        b: &[i8],
        out: &mut [i8],
    ) -> KernelResult {
        if a.len() != b.len() || out.len() != a.len() {
            return Err(KernelError::InvalidParam(
                "elementwise operands differ in length",
            ));
        }
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if isa.checked() == super::super::Isa::Avx2Fma
            && [self.input1, self.input2, self.output]
                .iter()
                .all(|m| m.multiplier != i32::MIN && (-31..=30).contains(&m.shift))
        {
            let args = super::gemm_i8_avx2::AddArgs {
                in1_offset: self.input1_offset,
                in2_offset: self.input2_offset,
                in1: self.input1,
                in2: self.input2,
                out: self.output,
                out_offset: self.output_offset,
                act_min: self.act_min,
                act_max: self.act_max,
                subtract: self.subtract,
            };
            // SAFETY: AVX2 verified by `checked`; multipliers checked just above.
            done = unsafe { super::gemm_i8_avx2::add_i8(&args, a, b, out) };
        }
        let _ = isa;
        for ((o, a), b) in out[done..].iter_mut().zip(&a[done..]).zip(&b[done..]) {
            *o = self.apply(*a, *b);
        }
        Ok(())
    }
}

/// Parameters of int8 MUL (`reference_integer_ops::Mul`).
#[derive(Debug, Clone, Copy)]
pub struct MulI8Params {
    input1_offset: i32,
    input2_offset: i32,
    output: QuantMultiplier,
    output_offset: i32,
    act_min: i32,
    act_max: i32,
}

impl MulI8Params {
    /// Builds the parameters: multiplier `in1_scale · in2_scale / out_scale` (double).
    pub fn new(
        (in1_scale, in1_zp): (f32, i32),
        (in2_scale, in2_zp): (f32, i32),
        (out_scale, out_zp): (f32, i32),
        (act_min, act_max): (i32, i32),
    ) -> Self {
        MulI8Params {
            input1_offset: -in1_zp,
            input2_offset: -in2_zp,
            output: quantize_multiplier(in1_scale as f64 * in2_scale as f64 / out_scale as f64),
            output_offset: out_zp,
            act_min,
            act_max,
        }
    }

    /// One element.
    #[inline]
    pub fn apply(&self, a: i8, b: i8) -> i8 {
        let prod = (self.input1_offset + a as i32) * (self.input2_offset + b as i32);
        let out = multiply_by_quantized_multiplier(prod, self.output) + self.output_offset;
        out.clamp(self.act_min, self.act_max) as i8
    }

    /// Same-shape elementwise multiply.
    pub fn run(&self, a: &[i8], b: &[i8], out: &mut [i8]) -> KernelResult {
        if a.len() != b.len() || out.len() != a.len() {
            return Err(KernelError::InvalidParam(
                "elementwise operands differ in length",
            ));
        }
        for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
            *o = self.apply(*a, *b);
        }
        Ok(())
    }
}

/// Parameters of the int8 softmax (`reference_ops::Softmax` on int8, output scale 1/256 and
/// zero point -128).
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxI8Params {
    input_multiplier: i32,
    input_left_shift: i32,
    diff_min: i32,
}

/// Integer bits of the scaled input differences.
const SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the sum of exponentials.
const ACCUMULATION_INTEGER_BITS: i32 = 12;

impl SoftmaxI8Params {
    /// `PreprocessSoftmaxScaling(beta, input_scale, 5)` and `-CalculateInputRadius(5, shift)`.
    pub fn new(input_scale: f32, beta: f32) -> Self {
        let real =
            (beta as f64 * input_scale as f64 * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64)
                .min((1i64 << 31) as f64 - 1.0);
        let m = quantize_multiplier(real);
        let max_input_rescaled = ((1i64 << SCALED_DIFF_INTEGER_BITS) - 1) as f64
            * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64
            / (1i64 << m.shift.clamp(0, 62)) as f64;
        SoftmaxI8Params {
            input_multiplier: m.multiplier,
            input_left_shift: m.shift,
            diff_min: -(libm::floor(max_input_rescaled) as i32),
        }
    }
}

/// int8 softmax over the last axis: `input` and `output` are `[rows, depth]`.
pub fn softmax_i8(
    p: &SoftmaxI8Params,
    (rows, depth): (usize, usize),
    input: &[i8],
    output: &mut [i8],
) -> KernelResult {
    let len = mul_all(&[rows, depth])?;
    need("softmax input", len, input.len())?;
    need("softmax output", len, output.len())?;
    if !(0..=31).contains(&p.input_left_shift) {
        return Err(KernelError::InvalidParam(
            "softmax input scale out of range",
        ));
    }
    let rescaled = |diff: i32| {
        saturating_rounding_doubling_high_mul(
            diff.wrapping_mul(1 << p.input_left_shift),
            p.input_multiplier,
        )
    };
    for r in 0..rows {
        let x = &input[r * depth..(r + 1) * depth];
        let out = &mut output[r * depth..(r + 1) * depth];
        let max = x.iter().copied().max().unwrap_or(i8::MIN) as i32;
        let mut sum: i32 = 0;
        for &v in x {
            let diff = v as i32 - max;
            if diff >= p.diff_min {
                let e = exp_on_negative_values(rescaled(diff), SCALED_DIFF_INTEGER_BITS);
                sum = sum.wrapping_add(rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS));
            }
        }
        let (scale, bits_over_unit) = get_reciprocal(sum, ACCUMULATION_INTEGER_BITS);
        for (o, &v) in out.iter_mut().zip(x) {
            let diff = v as i32 - max;
            *o = if diff >= p.diff_min {
                let e = exp_on_negative_values(rescaled(diff), SCALED_DIFF_INTEGER_BITS);
                let unsat = rounding_divide_by_pot(
                    saturating_rounding_doubling_high_mul(scale, e),
                    (bits_over_unit + 31 - 8).clamp(0, 31),
                );
                (unsat - 128).clamp(-128, 127) as i8
            } else {
                i8::MIN
            };
        }
    }
    Ok(())
}

/// A 256-entry int8 lookup table, indexed by `input as u8`.
pub type LutI8 = [i8; 256];

/// TFLite's `LUTPopulate<int8_t>`: dequantize each int8 value, apply `f` in f32, requantize
/// with round-half-away-from-zero and clamp.
pub fn lut_i8(
    (in_scale, in_zp): (f32, i32),
    (out_scale, out_zp): (f32, i32),
    f: impl Fn(f32) -> f32,
) -> LutI8 {
    let mut lut = [0i8; 256];
    let inverse_scale = 1.0 / out_scale;
    for v in -128i32..=127 {
        let x = in_scale * (v - in_zp) as f32;
        let y = libm::roundf(f(x) * inverse_scale);
        let q = (y + out_zp as f32) as i32;
        lut[(v as i8) as u8 as usize] = q.clamp(-128, 127) as i8;
    }
    lut
}

/// The int8 LOGISTIC table (BUILTIN_REF evaluates int8 logistic through this table).
pub fn logistic_lut_i8(input: (f32, i32), output: (f32, i32)) -> LutI8 {
    lut_i8(input, output, |x| 1.0 / (1.0 + libm::expf(-x)))
}

/// The int8 TANH table.
pub fn tanh_lut_i8(input: (f32, i32), output: (f32, i32)) -> LutI8 {
    lut_i8(input, output, libm::tanhf)
}

/// Applies a lookup table elementwise.
pub fn apply_lut_i8(lut: &LutI8, input: &[i8], output: &mut [i8]) -> KernelResult {
    need("lut output", input.len(), output.len())?;
    for (o, v) in output.iter_mut().zip(input) {
        *o = lut[*v as u8 as usize];
    }
    Ok(())
}

/// f32 → int8 (`reference_ops::AffineQuantize`): `round(x / scale) + zero_point`, clamped.
pub fn quantize_f32_to_i8(
    input: &[f32],
    scale: f32,
    zero_point: i32,
    output: &mut [i8],
) -> KernelResult {
    need("quantize output", input.len(), output.len())?;
    for (o, &x) in output.iter_mut().zip(input) {
        let q = (libm::roundf(x / scale) as i32).saturating_add(zero_point);
        *o = q.clamp(-128, 127) as i8;
    }
    Ok(())
}

/// int8 → f32 (`reference_ops::Dequantize`): `scale · (x - zero_point)` in double, rounded to f32.
pub fn dequantize_i8_to_f32(
    input: &[i8],
    scale: f32,
    zero_point: i32,
    output: &mut [f32],
) -> KernelResult {
    need("dequantize output", input.len(), output.len())?;
    for (o, &x) in output.iter_mut().zip(input) {
        *o = (scale as f64 * (x as i32 - zero_point) as f64) as f32;
    }
    Ok(())
}

/// int8 → int8 rescale (`reference_ops::Requantize`): multiplier `in_scale / out_scale`.
pub fn requantize_i8(
    input: &[i8],
    (in_scale, in_zp): (f32, i32),
    (out_scale, out_zp): (f32, i32),
    output: &mut [i8],
) -> KernelResult {
    need("requantize output", input.len(), output.len())?;
    let m = quantize_multiplier(in_scale as f64 / out_scale as f64);
    for (o, &x) in output.iter_mut().zip(input) {
        let v = multiply_by_quantized_multiplier(x as i32 - in_zp, m) + out_zp;
        *o = v.clamp(-128, 127) as i8;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::super::conv::Padding;
    use super::super::super::testutil::Rng;
    use super::*;
    use alloc::vec;

    #[test]
    fn pool_i8_matches_reference() {
        let mut rng = Rng::new(51);
        for case in 0..30 {
            let c = rng.range(1, 70);
            let Ok(g) = ConvGeometry::new(
                1,
                (rng.range(2, 9), rng.range(2, 9), c),
                c,
                (rng.range(1, 4), rng.range(1, 4)),
                (rng.range(1, 3), rng.range(1, 3)),
                (1, 1),
                if case % 2 == 0 {
                    Padding::Same
                } else {
                    Padding::Valid
                },
            ) else {
                continue;
            };
            let x = rng.vec_i8(g.input_len().unwrap());
            let (lo, hi) = (rng.i32_in(-128, -20), rng.i32_in(20, 127));
            for kind in [PoolKind::Max, PoolKind::Average] {
                let mut out = vec![0i8; g.output_len().unwrap()];
                pool2d_i8(kind, &g, &x, lo, hi, &mut out).unwrap();
                for oy in 0..g.out_h {
                    for ox in 0..g.out_w {
                        for ch in 0..c {
                            let (mut acc, mut n, mut mx) = (0i32, 0i32, -128i32);
                            for ky in 0..g.kernel_h {
                                for kx in 0..g.kernel_w {
                                    let iy = (oy * g.stride_h + ky) as isize - g.pad_top as isize;
                                    let ix = (ox * g.stride_w + kx) as isize - g.pad_left as isize;
                                    if iy >= 0
                                        && ix >= 0
                                        && iy < g.in_h as isize
                                        && ix < g.in_w as isize
                                    {
                                        let v =
                                            x[(iy as usize * g.in_w + ix as usize) * c + ch] as i32;
                                        acc += v;
                                        n += 1;
                                        mx = mx.max(v);
                                    }
                                }
                            }
                            let want = match kind {
                                PoolKind::Max => mx,
                                PoolKind::Average => {
                                    if acc > 0 {
                                        (acc + n / 2) / n
                                    } else {
                                        (acc - n / 2) / n
                                    }
                                }
                            };
                            assert_eq!(
                                out[(oy * g.out_w + ox) * c + ch] as i32,
                                want.clamp(lo, hi)
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn add_mul_close_to_real_arithmetic() {
        let mut rng = Rng::new(61);
        let (s1, z1, s2, z2, so, zo) = (0.05f32, 3, 0.08f32, -7, 0.1f32, 2);
        let add = AddI8Params::new((s1, z1), (s2, z2), (so, zo), (-128, 127), false);
        let mul = MulI8Params::new((s1, z1), (s2, z2), (0.4, zo), (-128, 127));
        for _ in 0..5000 {
            let (a, b) = (rng.i8(), rng.i8());
            let ra = s1 * (a as i32 - z1) as f32;
            let rb = s2 * (b as i32 - z2) as f32;
            let want = ((ra + rb) / so).round() as i32 + zo;
            let got = add.apply(a, b) as i32;
            assert!(
                (got - want.clamp(-128, 127)).abs() <= 1,
                "{a}+{b}: {got} vs {want}"
            );
            let want = ((ra * rb) / 0.4).round() as i32 + zo;
            let got = mul.apply(a, b) as i32;
            assert!(
                (got - want.clamp(-128, 127)).abs() <= 1,
                "{a}*{b}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn add_vector_path_equals_scalar() {
        let mut rng = Rng::new(62);
        for case in 0..50 {
            let s1 = 0.001 + (rng.next_u64() % 1000) as f32 * 1e-4;
            let s2 = 0.001 + (rng.next_u64() % 1000) as f32 * 1e-4;
            let so = 0.001 + (rng.next_u64() % 1000) as f32 * 2e-4;
            let p = AddI8Params::new(
                (s1, rng.i32_in(-128, 127)),
                (s2, rng.i32_in(-128, 127)),
                (so, rng.i32_in(-128, 127)),
                (rng.i32_in(-128, -50), rng.i32_in(50, 127)),
                case % 2 == 1,
            );
            let n = rng.range(1, 100);
            let (a, b) = (rng.vec_i8(n), rng.vec_i8(n));
            let want: std::vec::Vec<i8> = a.iter().zip(&b).map(|(x, y)| p.apply(*x, *y)).collect();
            for &isa in super::super::super::Isa::available() {
                let mut out = vec![0i8; n];
                p.run_isa(isa, &a, &b, &mut out).unwrap();
                assert_eq!(out, want);
            }
        }
    }

    #[test]
    fn softmax_close_to_float() {
        let mut rng = Rng::new(71);
        for &scale in &[0.01f32, 0.1, 0.5] {
            let p = SoftmaxI8Params::new(scale, 1.0);
            let depth = 37;
            let x = rng.vec_i8(depth);
            let mut out = vec![0i8; depth];
            softmax_i8(&p, (1, depth), &x, &mut out).unwrap();
            let m = *x.iter().max().unwrap() as f32;
            let e: std::vec::Vec<f64> = x
                .iter()
                .map(|&v| ((v as f32 - m) * scale).exp() as f64)
                .collect();
            let s: f64 = e.iter().sum();
            for (o, e) in out.iter().zip(&e) {
                let want = (e / s * 256.0).round() - 128.0;
                assert!(
                    (*o as f64 - want.min(127.0)).abs() <= 1.0,
                    "scale {scale}: {o} vs {want}"
                );
            }
        }
    }

    #[test]
    fn conversions() {
        let mut out = [0i8; 5];
        quantize_f32_to_i8(&[0.0, 0.25, -0.25, 100.0, 0.125], 0.25, 1, &mut out).unwrap();
        assert_eq!(out, [1, 2, 0, 127, 2]); // 0.5 rounds away from zero
        let mut f = [0f32; 2];
        dequantize_i8_to_f32(&[3, -128], 0.5, 1, &mut f).unwrap();
        assert_eq!(f, [1.0, -64.5]);
        let mut r = [0i8; 3];
        requantize_i8(&[10, -10, 127], (0.5, 0), (1.0, 5), &mut r).unwrap();
        assert_eq!(r, [10, 0, 69]);
        let mut mo = [0i8; 1];
        mean_i8(
            (1, 4, 1),
            &MeanQuantParams {
                input_zero_point: 0,
                input_scale: 1.0,
                output_zero_point: 0,
                output_scale: 1.0,
            },
            &[1, 2, 3, 5],
            &mut mo,
        )
        .unwrap();
        assert_eq!(mo, [3]); // 11/4 = 2.75
    }
}

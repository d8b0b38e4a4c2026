//! int8 kernels with TFLite's reference integer arithmetic, bit-exact with LiteRT's
//! `BUILTIN_REF` kernels.
//!
//! - this module: the fixed-point primitives (`QuantizeMultiplier`,
//!   `SaturatingRoundingDoublingHighMul`, `RoundingDivideByPOT`,
//!   `MultiplyByQuantizedMultiplier`, activation ranges) and gemmlowp's fixed-point `exp`
//!   and reciprocal used by softmax;
//! - [`conv`]: conv2d, depthwise conv2d and fully connected (per-tensor and per-channel);
//! - [`ops`]: pooling, mean, add / sub / mul, softmax, logistic / tanh (lookup tables),
//!   quantize, requantize, dequantize.
//!
//! The math follows the TFLite reference kernels (`reference_ops` / `reference_integer_ops`)
//! as published; it is written from their definitions, not copied.

pub mod conv;
pub mod fixed;
#[cfg(target_arch = "x86_64")]
mod gemm_i8_avx2;
pub mod ops;

#[cfg(test)]
mod litert_tests;

/// A real multiplier as TFLite stores it: `real ≈ multiplier · 2^(shift - 31)` with
/// `multiplier` in `[2^30, 2^31)` (or 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct QuantMultiplier {
    /// Q31 significand.
    pub multiplier: i32,
    /// Power-of-two exponent (positive = left shift).
    pub shift: i32,
}

/// TFLite's `QuantizeMultiplier`: splits `real` into a Q31 significand and an exponent
/// (`frexp`, round half away from zero, renormalize `2^31`, flush below `2^-31` to zero).
pub fn quantize_multiplier(real: f64) -> QuantMultiplier {
    if real == 0.0 || !real.is_finite() {
        return QuantMultiplier::default();
    }
    let (q, mut shift) = libm::frexp(real);
    let mut q_fixed = libm::round(q * (1u64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    QuantMultiplier {
        multiplier: q_fixed as i32,
        shift,
    }
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `round(a·b / 2^31)` saturating the one
/// overflow case `a = b = i32::MIN`.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from
/// zero (`exponent` in `0..=31`).
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let exponent = exponent.clamp(0, 31) as u32;
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// TFLite's `MultiplyByQuantizedMultiplier` (double rounding, the default build):
/// `RoundingDivideByPOT(SRDHM(x · 2^left, multiplier), right)`.
#[inline]
pub fn multiply_by_quantized_multiplier(x: i32, m: QuantMultiplier) -> i32 {
    let left = m.shift.max(0);
    let right = (-m.shift).max(0);
    let shifted = x.wrapping_mul(1i32.wrapping_shl(left as u32));
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(shifted, m.multiplier),
        right,
    )
}

/// TFLite's `CalculateActivationRangeQuantized` for int8 outputs: the `[act_min, act_max]`
/// of a fused activation (`None`, `Relu`, `ReluN1To1`, `Relu6`; others give the full range).
pub fn activation_range_i8(
    act: super::Activation,
    output_scale: f32,
    output_zero_point: i32,
) -> (i32, i32) {
    use super::Activation as A;
    let q = |f: f32| output_zero_point + libm::roundf(f / output_scale) as i32;
    let (qmin, qmax) = (i8::MIN as i32, i8::MAX as i32);
    match act {
        A::Relu => (qmin.max(q(0.0)), qmax),
        A::Relu6 => (qmin.max(q(0.0)), qmax.min(q(6.0))),
        A::ReluN1To1 => (qmin.max(q(-1.0)), qmax.min(q(1.0))),
        _ => (qmin, qmax),
    }
}

/// Per-channel (or per-tensor, `filter_scales.len() == 1`) output multipliers of an int8
/// conv / depthwise / fully-connected layer: `input_scale · filter_scale[c] / output_scale`
/// in double precision, as TFLite's `PopulateConvolutionQuantizationParams` computes them.
pub fn conv_output_multipliers(
    input_scale: f32,
    filter_scales: &[f32],
    output_scale: f32,
) -> alloc::vec::Vec<QuantMultiplier> {
    filter_scales
        .iter()
        .map(|&fs| quantize_multiplier(input_scale as f64 * fs as f64 / output_scale as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_known_values() {
        assert_eq!(
            quantize_multiplier(0.5),
            QuantMultiplier {
                multiplier: 1 << 30,
                shift: 0
            }
        );
        assert_eq!(
            quantize_multiplier(1.0),
            QuantMultiplier {
                multiplier: 1 << 30,
                shift: 1
            }
        );
        // 0.75 = 0.75 * 2^0 -> round(0.75 * 2^31).
        assert_eq!(
            quantize_multiplier(0.75),
            QuantMultiplier {
                multiplier: 1610612736,
                shift: 0
            }
        );
        // Just below 1: rounds up to 2^31, renormalized.
        assert_eq!(
            quantize_multiplier(1.0 - 1e-12),
            QuantMultiplier {
                multiplier: 1 << 30,
                shift: 1
            }
        );
        assert_eq!(
            quantize_multiplier(1e-12),
            QuantMultiplier {
                multiplier: 0,
                shift: 0
            }
        );
        assert_eq!(quantize_multiplier(0.0), QuantMultiplier::default());
    }

    #[test]
    fn fixed_point_primitives() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1); // -1.5 -> -2? no: -1
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        let m = quantize_multiplier(0.25);
        assert_eq!(multiply_by_quantized_multiplier(1000, m), 250);
        assert_eq!(multiply_by_quantized_multiplier(-1002, m), -251);
        let m = quantize_multiplier(3.0);
        assert_eq!(multiply_by_quantized_multiplier(100, m), 300);
    }

    #[test]
    fn multiply_matches_exact_rounding_on_random_values() {
        // MultiplyByQuantizedMultiplier ≈ round(x · real) within one step of double rounding.
        let mut rng = super::super::testutil::Rng::new(99);
        for _ in 0..20000 {
            let real = (rng.next_u64() % 1_000_000) as f64 / 1_000_000.0 * 2.0 + 1e-6;
            let x = rng.i32_in(-100_000, 100_000);
            let got = multiply_by_quantized_multiplier(x, quantize_multiplier(real)) as f64;
            assert!(
                (got - x as f64 * real).abs() <= 1.0,
                "{x} * {real} -> {got}"
            );
        }
    }

    #[test]
    fn activation_ranges() {
        use super::super::Activation;
        assert_eq!(activation_range_i8(Activation::None, 0.1, 3), (-128, 127));
        assert_eq!(activation_range_i8(Activation::Relu, 0.1, 3), (3, 127));
        assert_eq!(
            activation_range_i8(Activation::Relu6, 0.05, -128),
            (-128, -8)
        );
        assert_eq!(
            activation_range_i8(Activation::ReluN1To1, 0.01, 0),
            (-100, 100)
        );
    }
}

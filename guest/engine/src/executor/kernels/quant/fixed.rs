//! gemmlowp-style Q-format fixed-point arithmetic on raw `i32` values, as TFLite's reference
//! softmax uses it. A value with `ib` integer bits is `raw / 2^(31 - ib)`.

use super::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul as mul};

/// `SaturatingRoundingMultiplyByPOT`: `x · 2^exponent`, saturating for positive exponents,
/// rounding for negative ones.
#[inline]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent > 0 {
        let threshold = (1i32 << (31 - exponent)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << exponent
        }
    } else if exponent < 0 {
        rounding_divide_by_pot(x, -exponent)
    } else {
        x
    }
}

/// `Rescale`: the same real value with `dst_bits` integer bits instead of `src_bits`.
#[inline]
pub fn rescale(raw: i32, src_bits: i32, dst_bits: i32) -> i32 {
    saturating_rounding_multiply_by_pot(raw, src_bits - dst_bits)
}

/// `RoundingHalfSum`: `(a + b) / 2` rounded away from zero.
#[inline]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `exp(a)` for `a` in `[-1/4, 0)` (Q0.31 in and out): Taylor series around -1/8.
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1895147668; // exp(-1/8)
    const ONE_THIRD: i32 = 715827883;
    let x = a.wrapping_add(1 << 28); // a + 1/8
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let poly = saturating_rounding_multiply_by_pot(
        mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        -1,
    );
    CONSTANT_TERM.wrapping_add(mul(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// `exp(a)` for `a <= 0` with `integer_bits` integer bits in; Q0.31 out.
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    let frac_bits = 31 - integer_bits;
    let one_quarter = 1i32 << (frac_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
        a_mod_quarter_minus_one_quarter,
        integer_bits,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    // exp(-2^e) for e = -2 ..= 4, in Q0.31.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1672461947),
        (-1, 1302514674),
        (0, 790015084),
        (1, 290630308),
        (2, 39332535),
        (3, 720401),
        (4, 242),
    ];
    for (exponent, multiplier) in BARREL {
        if integer_bits > exponent {
            let shift = frac_bits + exponent;
            if remainder & (1i32 << shift) != 0 {
                result = mul(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        let clamp = -(1i32 << (36 - integer_bits)); // -32.0
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = i32::MAX;
    }
    result
}

/// `1 / (1 + a)` for `a` in `[0, 1)` (Q0.31 in and out): three Newton-Raphson steps.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    const C48_OVER_17: i32 = 1515870810; // Q2.29
    const CNEG32_OVER_17: i32 = -1010580540; // Q2.29
    const F2_ONE: i32 = 1 << 29;
    let half_denominator = rounding_half_sum(a, i32::MAX);
    let mut x = C48_OVER_17.wrapping_add(mul(half_denominator, CNEG32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus = F2_ONE.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(rescale(mul(x, one_minus), 4, 2));
    }
    // x / 2 as Q1.30 rescaled to Q0.31.
    rescale(x, 1, 0)
}

/// TFLite's `GetReciprocal`: `1 / x` for a positive `x` with `x_integer_digits` integer bits,
/// as a Q0.31 significand and the number of bits the true value exceeds it by.
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_digits - headroom_plus_one;
    let shifted = (x as u32)
        .checked_shl(headroom_plus_one as u32)
        .unwrap_or(0)
        .wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted),
        num_bits_over_unit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(raw: i32, ib: i32) -> f64 {
        raw as f64 / (1u64 << (31 - ib)) as f64
    }

    #[test]
    fn exp_is_accurate() {
        for i in 0..2000 {
            let x = -(i as f64) * 0.01; // 0 .. -20
            let raw = (x * (1u64 << 26) as f64) as i32; // Q5.26
            let got = q(exp_on_negative_values(raw, 5), 0);
            assert!(
                (got - libm::exp(q(raw, 5))).abs() < 2e-6,
                "exp({x}) = {got}"
            );
        }
    }

    #[test]
    fn reciprocal_is_accurate() {
        for i in 1..3000 {
            let v = 1.0 + i as f64 * 0.37; // up to ~1110 in Q12.19
            let raw = (v * (1u64 << 19) as f64) as i32;
            let (s, bits) = get_reciprocal(raw, 12);
            let got = q(s, 0) / (1u64 << bits) as f64;
            assert!((got - 1.0 / q(raw, 12)).abs() < 1e-6 / v, "1/{v} = {got}");
        }
    }
}

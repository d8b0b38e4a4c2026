//! Vectorized f32 transcendental functions for elementwise ops: `exp`, `tanh` and the
//! logistic function over slices.
//!
//! Each function is one branch-free formula in plain Rust (no libm calls, selects instead of
//! branches) so the compiler vectorizes the loop: compiled once with AVX2 (8 lanes, chosen at
//! run time, see [`Isa`]) and once for the baseline target (SSE2 / NEON). Neither build
//! contracts multiplies and adds into FMAs, so both ISAs give bit-identical results.
//!
//! - `exp`: Cody–Waite reduction `x = n·ln2 + r`, `|r| ≤ ln2/2`, a degree-7 Taylor polynomial for
//!   `e^r`, and `2^n` applied as two exponent-field scalings (so results that are subnormal or
//!   overflow to infinity round once, like a correctly rounded `exp`).
//! - `tanh`: the odd Taylor series through `x^11` for `|x| < 0.3`, `1 - 2/(e^{2|x|} + 1)` above
//!   (saturating to ±1 from `|x| = 10`), sign restored with `copysign`.
//! - logistic: `1 / (1 + e^{-x})`.
//!
//! Accuracy (checked against libm over a sweep of every binade in the tests): `exp` within 1 ulp
//! of libm, `tanh` within 2 ulp, the logistic function within 3 ulp of `1 / (1 + expf(-x))`; NaN in gives NaN out, ±inf give the
//! limits.

use super::{need, Isa, KernelResult};

/// A function [`unary_f32`] computes lane-wise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VecUnary {
    /// `e^x`.
    Exp,
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + e^{-x})`.
    Logistic,
}

const LOG2E: f32 = core::f32::consts::LOG2_E;
/// `ln 2` split into a high part with 8 trailing zero bits (so `n · LN2_HI` is exact for
/// `|n| < 256`) and the rest.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// `1.5 · 2^23`: adding it to a float of magnitude below `2^22` rounds it to an integer held
/// in the low mantissa bits.
const ROUND: f32 = 12_582_912.0;

/// `2^n` for `-126 <= n <= 127` built in the exponent field.
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits((n.wrapping_add(127) as u32).wrapping_shl(23))
}

/// `e^x`, vectorizable.
#[inline(always)]
fn exp1(x: f32) -> f32 {
    // Past these bounds the result is 0 or inf anyway; NaN passes through the clamp.
    let y = x.clamp(-104.0, 89.0);
    let t = y * LOG2E + ROUND;
    let n = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let nf = t - ROUND;
    let r = (y - nf * LN2_HI) - nf * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // n is in [-150, 128]: two scalings keep each factor a normal float.
    let n1 = n >> 1;
    p * pow2(n1) * pow2(n - n1)
}

/// `tanh(x)`, vectorizable.
#[inline(always)]
fn tanh1(x: f32) -> f32 {
    let a = x.abs();
    let a2 = a * a;
    let small = a + a
        * a2
        * (-1.0 / 3.0
            + a2 * (2.0 / 15.0
                + a2 * (-17.0 / 315.0 + a2 * (62.0 / 2835.0 + a2 * (-1382.0 / 155_925.0)))));
    // tanh(10) rounds to 1; a NaN fails the comparison and stays NaN.
    let twice = 2.0 * a;
    let twice = if twice > 20.0 { 20.0 } else { twice };
    let large = 1.0 - 2.0 / (exp1(twice) + 1.0);
    let t = if a < 0.3 { small } else { large };
    t.copysign(x)
}

/// `1 / (1 + e^{-x})`, vectorizable.
#[inline(always)]
fn logistic1(x: f32) -> f32 {
    1.0 / (1.0 + exp1(-x))
}

/// `y[i] = f(x[i])` for `i < x.len()`; `y` must be at least as long as `x`.
pub fn unary_f32(isa: Isa, f: VecUnary, x: &[f32], y: &mut [f32]) -> KernelResult {
    need("output", x.len(), y.len())?;
    let y = &mut y[..x.len()];
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `checked` verified AVX2+FMA at run time.
        Isa::Avx2Fma => unsafe { unary_avx2(f, x, y) },
        _ => unary_body(f, x, y),
    }
    Ok(())
}

/// [`unary_body`] compiled with AVX2 (8 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn unary_avx2(f: VecUnary, x: &[f32], y: &mut [f32]) {
    unary_body(f, x, y)
}

#[inline(always)]
fn unary_body(f: VecUnary, x: &[f32], y: &mut [f32]) {
    match f {
        VecUnary::Exp => map(x, y, exp1),
        VecUnary::Tanh => map(x, y, tanh1),
        VecUnary::Logistic => map(x, y, logistic1),
    }
}

#[inline(always)]
fn map(x: &[f32], y: &mut [f32], f: impl Fn(f32) -> f32) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = f(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Distance in units in the last place (same-sign floats; 0 for equal values).
    fn ulps(a: f32, b: f32) -> u32 {
        if a == b {
            return 0;
        }
        if a.is_sign_negative() != b.is_sign_negative() {
            return u32::MAX;
        }
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    /// Every 97th float from -110 to 110 (all binades, both signs), specials, and a dense
    /// sweep around the tanh switch point.
    fn inputs() -> Vec<f32> {
        let mut v: Vec<f32> = (0..=u32::MAX / 97)
            .map(|i| f32::from_bits(i * 97))
            .filter(|x| x.is_finite() && x.abs() <= 110.0)
            .step_by(7)
            .flat_map(|x| [x, -x])
            .collect();
        v.extend((0..20_000).map(|i| 0.29 + i as f32 * 1e-6));
        v.extend([
            0.0, -0.0, 0.3, -0.3, 9.0, 88.7, 88.8, -87.4, -103.9, -104.5, 1e-30,
        ]);
        v
    }

    fn check(f: VecUnary, reference: impl Fn(f32) -> f32, max_ulps: u32) {
        let x = inputs();
        for &isa in Isa::available() {
            let mut y = alloc::vec![0.0; x.len()];
            unary_f32(isa, f, &x, &mut y).unwrap();
            for (&xi, &yi) in x.iter().zip(&y) {
                let want = reference(xi);
                // Subnormal results: compare absolutely (libm and we may differ in the last
                // subnormal bits).
                let ok = ulps(yi, want) <= max_ulps
                    || (want.abs() < f32::MIN_POSITIVE && (yi - want).abs() <= 1e-44);
                assert!(ok, "{f:?}({xi:e}) = {yi:e}, libm {want:e} ({isa:?})");
            }
        }
    }

    #[test]
    fn exp_matches_libm() {
        check(VecUnary::Exp, libm::expf, 1);
    }

    #[test]
    fn tanh_matches_libm() {
        check(VecUnary::Tanh, libm::tanhf, 2);
    }

    #[test]
    fn logistic_matches_libm() {
        check(VecUnary::Logistic, |x| 1.0 / (1.0 + libm::expf(-x)), 3);
    }

    #[test]
    fn special_values() {
        let x = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            1000.0,
            -1000.0,
        ];
        for &isa in Isa::available() {
            let mut y = [0.0f32; 6];
            unary_f32(isa, VecUnary::Exp, &x, &mut y).unwrap();
            assert!(y[0].is_nan());
            assert_eq!(&y[1..], &[f32::INFINITY, 0.0, 1.0, f32::INFINITY, 0.0]);
            unary_f32(isa, VecUnary::Tanh, &x, &mut y).unwrap();
            assert!(y[0].is_nan());
            assert_eq!(&y[1..], &[1.0, -1.0, 0.0, 1.0, -1.0]);
            assert!(y[3].is_sign_negative());
            unary_f32(isa, VecUnary::Logistic, &x, &mut y).unwrap();
            assert!(y[0].is_nan());
            assert_eq!(&y[1..], &[1.0, 0.0, 0.5, 1.0, 0.0]);
        }
        assert!(unary_f32(Isa::Portable, VecUnary::Exp, &x, &mut [0.0; 5]).is_err());
    }
}

//! Per-element semantics shared by the elementwise kernels: integer arithmetic with StableHLO /
//! XLA wrap-around rules for every integer width, and float math generic over f32 and f64
//! (f16 and bf16 are computed in f32 and rounded back by the callers).
//!
//! Integer rules (checked against `jax.jit` on CPU, see the unit tests):
//! - add/sub/mul/neg/abs wrap (two's complement);
//! - `x / 0` is all bits set (-1, or MAX unsigned), `MIN / -1` is MIN, `x % 0` is `x`,
//!   `MIN % -1` is 0;
//! - shifts by an amount outside `0..bits` (read as unsigned) give 0, or the sign fill for the
//!   arithmetic right shift;
//! - `x ^ y` with `y < 0` is 0 unless `x` is 1 or -1 (StableHLO `power`).

use crate::ir::{BinaryOp, UnaryOp};

/// Runs `$body` with `$T` bound to the Rust type of integer dtype `$d`, or `$other` for
/// non-integer dtypes.
macro_rules! with_int_type {
    ($d:expr, $T:ident => $body:expr, _ => $other:expr) => {
        with_int_type!(@arms $d, $T, $body, $other,
            I8 i8, U8 u8, I16 i16, U16 u16, I32 i32, U32 u32, I64 i64, U64 u64)
    };
    (@arms $d:expr, $T:ident, $body:expr, $other:expr, $($v:ident $t:ty),*) => {
        match $d {
            $(DType::$v => {
                type $T = $t;
                $body
            })*
            _ => $other,
        }
    };
}
pub(crate) use with_int_type;

/// An integer element type with the StableHLO per-element operations.
pub trait IntElem: Copy + Ord + Default + bytemuck::Pod {
    /// Smallest value.
    const MIN_VALUE: Self;
    /// Largest value.
    const MAX_VALUE: Self;
    /// The value 1.
    const ONE: Self;
    /// `v` cut to this width (two's complement wrap).
    fn wrap_from(v: i128) -> Self;
    /// Wrapping a + b.
    fn wadd(self, o: Self) -> Self;
    /// Wrapping a − b.
    fn wsub(self, o: Self) -> Self;
    /// Wrapping a · b.
    fn wmul(self, o: Self) -> Self;
    /// Wrapping −a.
    fn wneg(self) -> Self;
    /// Truncating division, XLA's values for division by zero and MIN / −1.
    fn div_xla(self, o: Self) -> Self;
    /// Truncated remainder (sign of the dividend), XLA's values for zero and MIN % −1.
    fn rem_xla(self, o: Self) -> Self;
    /// Floor division (`None` for division by zero).
    fn floor_div(self, o: Self) -> Option<Self>;
    /// Floor modulo, sign of the divisor (`None` for division by zero).
    fn floor_mod(self, o: Self) -> Option<Self>;
    /// StableHLO integer `power` (wrapping; negative exponents per the spec).
    fn pow_hlo(self, o: Self) -> Self;
    /// Bitwise and.
    fn and(self, o: Self) -> Self;
    /// Bitwise or.
    fn or(self, o: Self) -> Self;
    /// Bitwise xor.
    fn xor(self, o: Self) -> Self;
    /// Bitwise not.
    fn not(self) -> Self;
    /// Shift left; amounts outside `0..bits` give 0.
    fn shl_hlo(self, o: Self) -> Self;
    /// Arithmetic shift right; amounts outside `0..bits` give the sign fill.
    fn shr_arith(self, o: Self) -> Self;
    /// Logical shift right; amounts outside `0..bits` give 0.
    fn shr_logic(self, o: Self) -> Self;
    /// Number of set bits.
    fn popcnt(self) -> Self;
    /// Number of leading zero bits.
    fn clz(self) -> Self;
    /// −1, 0 or 1 (0 or 1 for unsigned types).
    fn signum_int(self) -> Self;
    /// Small constants (0..=6) for the clamping activations.
    fn small(v: u8) -> Self;
}

macro_rules! int_elem {
    ($t:ty, $u:ty, $signed:expr) => {
        impl IntElem for $t {
            const MIN_VALUE: Self = <$t>::MIN;
            const MAX_VALUE: Self = <$t>::MAX;
            const ONE: Self = 1;
            #[inline]
            fn wrap_from(v: i128) -> Self {
                v as Self
            }
            #[inline]
            fn wadd(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline]
            fn wsub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            #[inline]
            fn wmul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            #[inline]
            fn wneg(self) -> Self {
                self.wrapping_neg()
            }
            #[inline]
            fn div_xla(self, o: Self) -> Self {
                if o == 0 {
                    !0
                } else {
                    self.wrapping_div(o)
                }
            }
            #[inline]
            fn rem_xla(self, o: Self) -> Self {
                if o == 0 {
                    self
                } else {
                    self.wrapping_rem(o)
                }
            }
            #[inline]
            #[allow(unused_comparisons)] // unsigned types are never negative
            fn floor_div(self, o: Self) -> Option<Self> {
                if o == 0 {
                    return None;
                }
                let (q, r) = (self.wrapping_div(o), self.wrapping_rem(o));
                Some(if r != 0 && ((r < 0) != (o < 0)) {
                    q.wrapping_sub(1)
                } else {
                    q
                })
            }
            #[inline]
            #[allow(unused_comparisons)] // unsigned types are never negative
            fn floor_mod(self, o: Self) -> Option<Self> {
                if o == 0 {
                    return None;
                }
                let r = self.wrapping_rem(o);
                Some(if r != 0 && ((r < 0) != (o < 0)) {
                    r.wrapping_add(o)
                } else {
                    r
                })
            }
            #[allow(unused_comparisons)] // unsigned types are never negative
            fn pow_hlo(self, o: Self) -> Self {
                if o < 0 {
                    // Only reachable for signed types: |base| > 1 gives a fraction, truncated.
                    return if self == 1 {
                        1
                    } else if self == (0 as Self).wrapping_sub(1) {
                        if o & 1 == 0 {
                            1
                        } else {
                            self
                        }
                    } else {
                        0
                    };
                }
                let (mut base, mut e, mut acc) = (self, o, 1 as Self);
                while e != 0 {
                    if e & 1 != 0 {
                        acc = acc.wrapping_mul(base);
                    }
                    base = base.wrapping_mul(base);
                    e >>= 1;
                }
                acc
            }
            #[inline]
            fn and(self, o: Self) -> Self {
                self & o
            }
            #[inline]
            fn or(self, o: Self) -> Self {
                self | o
            }
            #[inline]
            fn xor(self, o: Self) -> Self {
                self ^ o
            }
            #[inline]
            fn not(self) -> Self {
                !self
            }
            #[inline]
            fn shl_hlo(self, o: Self) -> Self {
                let amount = o as $u;
                if amount >= <$t>::BITS as $u {
                    0
                } else {
                    self << amount
                }
            }
            #[inline]
            #[allow(unused_comparisons)] // unsigned types are never negative
            fn shr_arith(self, o: Self) -> Self {
                // As the signed type of the same width (XLA's AShr, for unsigned types too);
                // out-of-range amounts shift by bits − 1: the sign fill.
                let amount = (o as $u).min(<$t>::BITS as $u - 1);
                ((self as $u as <$u as Signed>::S) >> amount) as Self
            }
            #[inline]
            fn shr_logic(self, o: Self) -> Self {
                let amount = o as $u;
                if amount >= <$t>::BITS as $u {
                    0
                } else {
                    ((self as $u) >> amount) as Self
                }
            }
            #[inline]
            fn popcnt(self) -> Self {
                self.count_ones() as Self
            }
            #[inline]
            fn clz(self) -> Self {
                self.leading_zeros() as Self
            }
            #[inline]
            #[allow(unused_comparisons)] // unsigned types are never negative
            fn signum_int(self) -> Self {
                if self > 0 {
                    1
                } else if self < 0 {
                    !0
                } else {
                    0
                }
            }
            #[inline]
            fn small(v: u8) -> Self {
                v as Self
            }
        }
    };
}

/// The signed type of an unsigned width (for the arithmetic shift of unsigned values).
trait Signed {
    type S;
}
impl Signed for u8 {
    type S = i8;
}
impl Signed for u16 {
    type S = i16;
}
impl Signed for u32 {
    type S = i32;
}
impl Signed for u64 {
    type S = i64;
}

int_elem!(i8, u8, true);
int_elem!(u8, u8, false);
int_elem!(i16, u16, true);
int_elem!(u16, u16, false);
int_elem!(i32, u32, true);
int_elem!(u32, u32, false);
int_elem!(i64, u64, true);
int_elem!(u64, u64, false);

/// Unary ops defined on integers (besides the activations real models apply to i32).
pub fn int_unary_supported(op: UnaryOp) -> bool {
    matches!(
        op,
        UnaryOp::Abs
            | UnaryOp::Neg
            | UnaryOp::Square
            | UnaryOp::Sign
            | UnaryOp::Relu
            | UnaryOp::Relu6
            | UnaryOp::BitwiseNot
            | UnaryOp::PopCount
            | UnaryOp::CountLeadingZeros
    )
}

/// One integer unary op (callers check [`int_unary_supported`]; others return `x`).
#[inline]
pub fn int_unary<T: IntElem>(op: UnaryOp, x: T) -> T {
    let zero = T::default();
    match op {
        UnaryOp::Abs => {
            if x < zero {
                x.wneg()
            } else {
                x
            }
        }
        UnaryOp::Neg => x.wneg(),
        UnaryOp::Square => x.wmul(x),
        UnaryOp::Sign => x.signum_int(),
        UnaryOp::Relu => x.max(zero),
        UnaryOp::Relu6 => x.max(zero).min(T::small(6)),
        UnaryOp::BitwiseNot => x.not(),
        UnaryOp::PopCount => x.popcnt(),
        UnaryOp::CountLeadingZeros => x.clz(),
        _ => x,
    }
}

/// Binary ops defined on integers.
pub fn int_binary_supported(op: BinaryOp) -> bool {
    !matches!(
        op,
        BinaryOp::LogicalAnd | BinaryOp::LogicalOr | BinaryOp::Atan2 | BinaryOp::Prelu
    )
}

/// One integer binary op; `div_by_zero` is set when a floor division/modulo divides by zero
/// (TFLite's FLOOR_DIV/FLOOR_MOD have no defined value for it; StableHLO's divide/remainder do).
#[inline]
pub fn int_binary<T: IntElem>(op: BinaryOp, a: T, b: T, div_by_zero: &mut bool) -> T {
    match op {
        BinaryOp::Add => a.wadd(b),
        BinaryOp::Sub => a.wsub(b),
        BinaryOp::Mul => a.wmul(b),
        BinaryOp::Div => a.div_xla(b),
        BinaryOp::Rem => a.rem_xla(b),
        BinaryOp::Maximum => a.max(b),
        BinaryOp::Minimum => a.min(b),
        BinaryOp::Pow => a.pow_hlo(b),
        BinaryOp::SquaredDifference => a.wsub(b).wmul(a.wsub(b)),
        BinaryOp::FloorDiv => a.floor_div(b).unwrap_or_else(|| {
            *div_by_zero = true;
            T::default()
        }),
        BinaryOp::FloorMod => a.floor_mod(b).unwrap_or_else(|| {
            *div_by_zero = true;
            T::default()
        }),
        BinaryOp::BitwiseAnd => a.and(b),
        BinaryOp::BitwiseOr => a.or(b),
        BinaryOp::BitwiseXor => a.xor(b),
        BinaryOp::ShiftLeft => a.shl_hlo(b),
        BinaryOp::ShiftRightArithmetic => a.shr_arith(b),
        BinaryOp::ShiftRightLogical => a.shr_logic(b),
        BinaryOp::LogicalAnd | BinaryOp::LogicalOr | BinaryOp::Atan2 | BinaryOp::Prelu => a,
    }
}

/// A floating-point type the math is computed in (f32 or f64).
pub trait FloatElem:
    Copy
    + PartialOrd
    + core::ops::Add<Output = Self>
    + core::ops::Sub<Output = Self>
    + core::ops::Mul<Output = Self>
    + core::ops::Div<Output = Self>
    + core::ops::Neg<Output = Self>
{
    /// Converts a constant.
    fn c(v: f32) -> Self;
    /// NaN test.
    fn nan(self) -> bool;
    /// |x|.
    fn abs(self) -> Self;
    /// e^x.
    fn exp(self) -> Self;
    /// e^x − 1.
    fn expm1(self) -> Self;
    /// ln x.
    fn ln(self) -> Self;
    /// ln(1 + x).
    fn ln1p(self) -> Self;
    /// √x.
    fn sqrt(self) -> Self;
    /// ∛x.
    fn cbrt(self) -> Self;
    /// tanh x.
    fn tanh(self) -> Self;
    /// sin x.
    fn sin(self) -> Self;
    /// cos x.
    fn cos(self) -> Self;
    /// tan x.
    fn tan(self) -> Self;
    /// ⌊x⌋.
    fn floor(self) -> Self;
    /// ⌈x⌉.
    fn ceil(self) -> Self;
    /// Round half away from zero.
    fn round_afz(self) -> Self;
    /// erfc x.
    fn erfc(self) -> Self;
    /// x^y.
    fn pow(self, y: Self) -> Self;
    /// atan2(x, y).
    fn atan2(self, y: Self) -> Self;
    /// C fmod.
    fn fmod(self, y: Self) -> Self;
}

macro_rules! float_elem {
    ($t:ty, $exp:path, $expm1:path, $ln:path, $ln1p:path, $sqrt:path, $cbrt:path, $tanh:path,
     $sin:path, $cos:path, $tan:path, $floor:path, $ceil:path, $round:path, $erfc:path,
     $pow:path, $atan2:path, $fmod:path) => {
        impl FloatElem for $t {
            #[inline]
            fn c(v: f32) -> Self {
                v as $t
            }
            #[inline]
            fn nan(self) -> bool {
                self.is_nan()
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline]
            fn expm1(self) -> Self {
                $expm1(self)
            }
            #[inline]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline]
            fn ln1p(self) -> Self {
                $ln1p(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                $sqrt(self)
            }
            #[inline]
            fn cbrt(self) -> Self {
                $cbrt(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn sin(self) -> Self {
                $sin(self)
            }
            #[inline]
            fn cos(self) -> Self {
                $cos(self)
            }
            #[inline]
            fn tan(self) -> Self {
                $tan(self)
            }
            #[inline]
            fn floor(self) -> Self {
                $floor(self)
            }
            #[inline]
            fn ceil(self) -> Self {
                $ceil(self)
            }
            #[inline]
            fn round_afz(self) -> Self {
                $round(self)
            }
            #[inline]
            fn erfc(self) -> Self {
                $erfc(self)
            }
            #[inline]
            fn pow(self, y: Self) -> Self {
                $pow(self, y)
            }
            #[inline]
            fn atan2(self, y: Self) -> Self {
                $atan2(self, y)
            }
            #[inline]
            fn fmod(self, y: Self) -> Self {
                $fmod(self, y)
            }
        }
    };
}

float_elem!(
    f32,
    libm::expf,
    libm::expm1f,
    libm::logf,
    libm::log1pf,
    libm::sqrtf,
    libm::cbrtf,
    libm::tanhf,
    libm::sinf,
    libm::cosf,
    libm::tanf,
    libm::floorf,
    libm::ceilf,
    libm::roundf,
    libm::erfcf,
    libm::powf,
    libm::atan2f,
    libm::fmodf
);
float_elem!(
    f64,
    libm::exp,
    libm::expm1,
    libm::log,
    libm::log1p,
    libm::sqrt,
    libm::cbrt,
    libm::tanh,
    libm::sin,
    libm::cos,
    libm::tan,
    libm::floor,
    libm::ceil,
    libm::round,
    libm::erfc,
    libm::pow,
    libm::atan2,
    libm::fmod
);

/// Round half to even (TFLite ROUND, numpy `round`, StableHLO `round_nearest_even`).
#[inline]
pub fn round_half_even<T: FloatElem>(x: T) -> T {
    let r = x.round_afz();
    if (r - x).abs() == T::c(0.5) {
        T::c(2.0) * (x / T::c(2.0)).round_afz()
    } else {
        r
    }
}

/// Float unary function (TFLite reference semantics for the activations).
#[inline]
pub fn float_unary<T: FloatElem>(op: UnaryOp, x: T) -> T {
    let (zero, one) = (T::c(0.0), T::c(1.0));
    match op {
        UnaryOp::Abs => x.abs(),
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Expm1 => x.expm1(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Log1p => x.ln1p(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Rsqrt => one / x.sqrt(),
        UnaryOp::Cbrt => x.cbrt(),
        UnaryOp::Square => x * x,
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Logistic => one / (one + (-x).exp()),
        UnaryOp::Relu => {
            if x < zero {
                zero
            } else {
                x
            }
        }
        UnaryOp::Relu6 => clamp(x, zero, T::c(6.0)),
        UnaryOp::ReluN1To1 => clamp(x, -one, one),
        UnaryOp::Relu0To1 => clamp(x, zero, one),
        UnaryOp::HardSwish => x * clamp(x + T::c(3.0), zero, T::c(6.0)) / T::c(6.0),
        // TFLite gelu.cc forms (erfc avoids cancellation for large negative x).
        UnaryOp::Gelu { approximate: false } => {
            T::c(0.5) * x * (x * -T::c(core::f32::consts::FRAC_1_SQRT_2)).erfc()
        }
        UnaryOp::Gelu { approximate: true } => {
            let c = T::c(0.797_884_6); // sqrt(2/pi)
            T::c(0.5) * x * (one + (c * x * (one + T::c(0.044715) * x * x)).tanh())
        }
        UnaryOp::Elu => {
            if x < zero {
                x.expm1()
            } else {
                x
            }
        }
        UnaryOp::LeakyRelu { alpha } => {
            if x > zero {
                x
            } else {
                T::c(alpha) * x
            }
        }
        UnaryOp::Floor => x.floor(),
        UnaryOp::Ceil => x.ceil(),
        UnaryOp::Round => round_half_even(x),
        UnaryOp::RoundAwayFromZero => x.round_afz(),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tan => x.tan(),
        UnaryOp::Sign => {
            if x > zero {
                one
            } else if x < zero {
                -one
            } else {
                x
            }
        }
        UnaryOp::LogicalNot
        | UnaryOp::BitwiseNot
        | UnaryOp::PopCount
        | UnaryOp::CountLeadingZeros
        | UnaryOp::ReducePrecision { .. } => x,
    }
}

/// StableHLO `reduce_precision` on the bits of a float with `exp_bits` exponent and `man_bits`
/// mantissa bits (XLA's algorithm): the mantissa is rounded to `m` bits (nearest, ties to even),
/// then exponents beyond `e` bits overflow to ±inf or underflow to ±0. NaN stays NaN, except
/// with `m = 0`, where it becomes ±inf as in XLA.
pub fn reduce_precision_bits(bits: u64, (exp_bits, man_bits): (u32, u32), e: u32, m: u32) -> u64 {
    let width = exp_bits + man_bits + 1;
    let all = if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    let exp_mask = ((1u64 << exp_bits) - 1) << man_bits;
    let sign = bits & (1u64 << (exp_bits + man_bits));
    let is_nan = bits & exp_mask == exp_mask && bits & ((1u64 << man_bits) - 1) != 0;
    let mut x = bits;
    if m < man_bits {
        let last = 1u64 << (man_bits - m);
        let bias = (last >> 1) - 1 + ((x & last) >> (man_bits - m));
        x = x.wrapping_add(bias) & all & !(last - 1);
    }
    if e < exp_bits {
        let exp_bias = (1u64 << (exp_bits - 1)) - 1;
        let reduced_bias = (1u64 << (e.max(1) - 1)) - 1;
        let x_exp = x & exp_mask;
        if x_exp > (exp_bias + reduced_bias) << man_bits {
            x = (x & (1u64 << (exp_bits + man_bits))) | exp_mask;
        } else if x_exp <= (exp_bias - reduced_bias) << man_bits {
            x &= 1u64 << (exp_bits + man_bits);
        }
    }
    match (is_nan, m) {
        (true, 0) => sign | exp_mask,
        (true, _) => bits,
        _ => x,
    }
}

/// Unary ops defined on floats.
pub fn float_unary_supported(op: UnaryOp) -> bool {
    match op {
        UnaryOp::ReducePrecision { exponent_bits, .. } => exponent_bits >= 1,
        _ => !matches!(
            op,
            UnaryOp::LogicalNot
                | UnaryOp::BitwiseNot
                | UnaryOp::PopCount
                | UnaryOp::CountLeadingZeros
        ),
    }
}

#[inline]
fn clamp<T: FloatElem>(x: T, lo: T, hi: T) -> T {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

/// Binary ops defined on bools: the logical ones (bitwise and/or/xor act the same on 0/1).
pub fn bool_binary_supported(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::LogicalAnd
            | BinaryOp::LogicalOr
            | BinaryOp::BitwiseAnd
            | BinaryOp::BitwiseOr
            | BinaryOp::BitwiseXor
    )
}

/// Binary ops defined on floats: everything but logic and shifts.
pub fn float_binary_supported(op: BinaryOp) -> bool {
    !bool_binary_supported(op)
        && !matches!(
            op,
            BinaryOp::ShiftLeft | BinaryOp::ShiftRightArithmetic | BinaryOp::ShiftRightLogical
        )
}

/// Float binary function (max/min propagate NaN like XLA).
#[inline]
pub fn float_binary<T: FloatElem>(op: BinaryOp, a: T, b: T) -> T {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Maximum => {
            if a > b || a.nan() {
                a
            } else {
                b
            }
        }
        BinaryOp::Minimum => {
            if a < b || a.nan() {
                a
            } else {
                b
            }
        }
        BinaryOp::Pow => a.pow(b),
        BinaryOp::SquaredDifference => (a - b) * (a - b),
        BinaryOp::FloorDiv => (a / b).floor(),
        BinaryOp::FloorMod => {
            let r = a.fmod(b);
            let zero = T::c(0.0);
            if r != zero && ((r < zero) != (b < zero)) {
                r + b
            } else {
                r
            }
        }
        BinaryOp::Rem => a.fmod(b),
        BinaryOp::Prelu => {
            if a >= T::c(0.0) {
                a
            } else {
                a * b
            }
        }
        BinaryOp::Atan2 => a.atan2(b),
        // Not float ops (refused by `float_binary_supported`).
        _ => T::c(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    // Expected values from jax.jit on CPU (jax 0.10.2, x64 enabled):
    //   lax.div([7,-7,INT_MIN,5,-5,0], [0,0,-1,0,2,0]) = [-1,-1,INT_MIN,-1,-2,-1]
    //   lax.rem(same)                                 = [7,-7,0,5,-1,0]
    //   lax.div(u32 [7,0,5], [0,0,2]) = [u32::MAX, u32::MAX, 2]; lax.rem = [7,0,1]
    #[test]
    fn division_matches_xla() {
        let a = [7i32, -7, i32::MIN, 5, -5, 0];
        let b = [0i32, 0, -1, 0, 2, 0];
        let q: Vec<i32> = a.iter().zip(&b).map(|(x, y)| x.div_xla(*y)).collect();
        let r: Vec<i32> = a.iter().zip(&b).map(|(x, y)| x.rem_xla(*y)).collect();
        assert_eq!(q, [-1, -1, i32::MIN, -1, -2, -1]);
        assert_eq!(r, [7, -7, 0, 5, -1, 0]);
        assert_eq!(7u32.div_xla(0), u32::MAX);
        assert_eq!(5u32.div_xla(2), 2);
        assert_eq!(7u32.rem_xla(0), 7);
        assert_eq!(5u32.rem_xla(2), 1);
    }

    // lax.shift_left / shift_right_arithmetic / shift_right_logical (i32)
    //   of [-8,-8,-8,-8,8,8] by [31,32,33,-1,32,-1]:
    //   shl [0,0,0,0,0,0]; sra [-1,-1,-1,-1,0,0]; srl [1,0,0,0,0,0]
    #[test]
    fn out_of_range_shifts_match_xla() {
        let a = [-8i32, -8, -8, -8, 8, 8];
        let s = [31i32, 32, 33, -1, 32, -1];
        let f = |g: fn(i32, i32) -> i32| -> Vec<i32> {
            a.iter().zip(&s).map(|(x, y)| g(*x, *y)).collect()
        };
        assert_eq!(f(i32::shl_hlo), [0, 0, 0, 0, 0, 0]);
        assert_eq!(f(i32::shr_arith), [-1, -1, -1, -1, 0, 0]);
        assert_eq!(f(i32::shr_logic), [1, 0, 0, 0, 0, 0]);
        // Unsigned arithmetic shift fills with the top bit.
        assert_eq!(0x80u8.shr_arith(1), 0xC0);
        assert_eq!(0x80u8.shr_arith(9), 0xFF);
        assert_eq!(0x80u8.shr_logic(1), 0x40);
    }

    // lax.integer_pow(int32 3, 25) = 1180052131 (wrapped); StableHLO power.mlir:
    //   [-1,-1,-3,1,-3,0] ^ [1,0,-3,-3,3,2] = [-1,1,0,1,-27,0]
    #[test]
    fn integer_power_wraps_and_handles_negative_exponents() {
        assert_eq!(3i32.pow_hlo(25), 1_180_052_131);
        let a = [-1i64, -1, -3, 1, -3, 0];
        let b = [1i64, 0, -3, -3, 3, 2];
        let p: Vec<i64> = a.iter().zip(&b).map(|(x, y)| x.pow_hlo(*y)).collect();
        assert_eq!(p, [-1, 1, 0, 1, -27, 0]);
        assert_eq!(5u64.pow_hlo(5), 3125);
        assert_eq!(0u64.pow_hlo(0), 1);
    }

    // jnp.int8 [127,-128] + [1,-1] = [-128,127]
    #[test]
    fn narrow_integers_wrap() {
        let mut z = false;
        assert_eq!(int_binary(BinaryOp::Add, 127i8, 1, &mut z), -128);
        assert_eq!(int_binary(BinaryOp::Add, -128i8, -1, &mut z), 127);
        assert_eq!(int_unary(UnaryOp::Neg, i16::MIN), i16::MIN);
        assert_eq!(int_unary(UnaryOp::Abs, i8::MIN), i8::MIN);
        assert_eq!(int_binary(BinaryOp::Mul, 300u16, 300, &mut z), 24464);
        assert_eq!(int_unary(UnaryOp::Neg, 1u32), u32::MAX);
        assert_eq!(int_unary(UnaryOp::Sign, 7u8), 1);
        assert!(!z);
        int_binary(BinaryOp::FloorMod, 1i32, 0, &mut z);
        assert!(z);
    }

    // count_leading_zeros.mlir / popcnt.mlir (i64): clz [0,1,128,-1] = [64,63,56,0];
    // popcnt [0,1,2,127] = [0,1,1,7]
    #[test]
    fn bit_counts() {
        let clz: Vec<i64> = [0i64, 1, 128, -1].iter().map(|x| x.clz()).collect();
        assert_eq!(clz, [64, 63, 56, 0]);
        let pc: Vec<i64> = [0i64, 1, 2, 127].iter().map(|x| x.popcnt()).collect();
        assert_eq!(pc, [0, 1, 1, 7]);
        assert_eq!((-1i8).popcnt(), 8);
    }

    // reduce_precision.mlir: f64 [inf, nan, 2^-1074, 0, 65505, 65520] to e5m10 gives
    // [inf, nan, 0, 0, 65504, inf]; nan to e5m0 gives inf.
    #[test]
    fn reduce_precision_matches_the_interpreter() {
        let f = |v: f64, e, m| f64::from_bits(reduce_precision_bits(v.to_bits(), (11, 52), e, m));
        assert_eq!(f(f64::INFINITY, 5, 10), f64::INFINITY);
        assert!(f(f64::NAN, 5, 10).is_nan());
        assert_eq!(f(f64::from_bits(1), 5, 10), 0.0);
        assert_eq!(f(65505.0, 5, 10), 65504.0);
        assert_eq!(f(65520.0, 5, 10), f64::INFINITY);
        assert_eq!(
            f(f64::from_bits(0x7FFF_FFFF_FFFF_FFFF), 5, 0),
            f64::INFINITY
        );
        // f32 to bf16 precision (e8m7) rounds like a bf16 conversion.
        let g = |v: f32| {
            f32::from_bits(reduce_precision_bits(v.to_bits() as u64, (8, 23), 8, 7) as u32)
        };
        assert_eq!(g(1.0 + 2f32.powi(-8)), 1.0);
        assert_eq!(g(1.0 + 3.0 * 2f32.powi(-8)), 1.015625);
    }

    #[test]
    fn float_math_in_f64() {
        assert_eq!(
            float_binary(BinaryOp::Rem, 17.1f64, 3.0),
            2.1000000000000014
        );
        assert_eq!(round_half_even(2.5f64), 2.0);
        assert_eq!(round_half_even(-3.5f32), -4.0);
        assert!(float_binary(BinaryOp::Maximum, f64::NAN, 1.0).is_nan());
    }
}

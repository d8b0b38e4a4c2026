//! Scalar encodings: literals to raw little-endian element bytes.

use crate::ast::{ElementType, FloatKind};
use alloc::vec::Vec;

/// A scalar literal as written (text) or decoded (binary).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Literal {
    /// Integer literal (sign applied).
    Int(i128),
    /// Float literal.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `0x...` bit pattern (for floats: the raw bits).
    Bits(u128),
    /// `(re, im)`.
    Complex(f64, f64),
}

/// Append the storage bytes of `lit` as an element of type `ty`. Returns an error message.
pub fn encode(lit: Literal, ty: &ElementType, out: &mut Vec<u8>) -> Result<(), &'static str> {
    match ty {
        ElementType::Int { bits, signed } => {
            let v: i128 = match lit {
                Literal::Int(v) => v,
                Literal::Bool(b) => i128::from(b),
                Literal::Bits(b) => i128::try_from(b).map_err(|_| "integer literal too large")?,
                _ => return Err("expected an integer literal"),
            };
            let bits = u32::from(*bits);
            if bits == 0 || bits > 64 {
                return Err("unsupported integer width");
            }
            let fits = if *signed && bits > 1 {
                let lo = -(1i128 << (bits - 1));
                let hi = (1i128 << bits) - 1; // MLIR accepts the unsigned spelling too
                v >= lo && v <= hi
            } else {
                v >= 0 && v < (1i128 << bits) || (bits == 1 && v == -1)
            };
            if !fits {
                return Err("integer literal out of range for its type");
            }
            let mut v = v & ((1i128 << bits) - 1);
            // Sign-extend signed sub-byte/sub-word values into the storage width.
            if *signed && bits > 1 && v >> (bits - 1) & 1 == 1 {
                v -= 1i128 << bits;
            }
            let width = ty.storage_bytes();
            let raw = (v as i64).to_le_bytes();
            out.extend_from_slice(&raw[..width]);
            Ok(())
        }
        ElementType::Float(kind) => {
            let bits: u64 = match lit {
                Literal::Bits(b) => {
                    let w = kind.bytes() * 8;
                    if w < 128 && b >> w != 0 {
                        return Err("hexadecimal float literal wider than its type");
                    }
                    b as u64
                }
                Literal::Float(f) => float_bits(f, *kind),
                Literal::Int(i) => float_bits(i as f64, *kind),
                Literal::Bool(_) | Literal::Complex(..) => return Err("expected a float literal"),
            };
            out.extend_from_slice(&bits.to_le_bytes()[..kind.bytes()]);
            Ok(())
        }
        ElementType::Complex(inner) => {
            let (re, im) = match lit {
                Literal::Complex(re, im) => (re, im),
                Literal::Float(f) => (f, 0.0),
                Literal::Int(i) => (i as f64, 0.0),
                _ => return Err("expected a complex literal"),
            };
            encode(Literal::Float(re), inner, out)?;
            encode(Literal::Float(im), inner, out)
        }
        ElementType::Quant(storage, _) => encode(lit, storage, out),
        ElementType::Index => encode(
            lit,
            &ElementType::Int {
                bits: 64,
                signed: true,
            },
            out,
        ),
    }
}

/// Bit pattern of `v` rounded to `kind` (round to nearest even).
pub fn float_bits(v: f64, kind: FloatKind) -> u64 {
    match kind {
        FloatKind::F64 => v.to_bits(),
        FloatKind::F32 => u64::from((v as f32).to_bits()),
        FloatKind::TF32 => u64::from((v as f32).to_bits()),
        FloatKind::F16 => u64::from(half::f16::from_f64(v).to_bits()),
        FloatKind::BF16 => u64::from(half::bf16::from_f64(v).to_bits()),
        other => u64::from(minifloat_bits(v, other)),
    }
}

/// Value of a float of `kind` stored in `bits`.
pub fn float_value(bits: u64, kind: FloatKind) -> f64 {
    match kind {
        FloatKind::F64 => f64::from_bits(bits),
        FloatKind::F32 | FloatKind::TF32 => f64::from(f32::from_bits(bits as u32)),
        FloatKind::F16 => half::f16::from_bits(bits as u16).to_f64(),
        FloatKind::BF16 => half::bf16::from_bits(bits as u16).to_f64(),
        other => minifloat_value(bits as u8, other),
    }
}

/// (exponent bits, mantissa bits, bias, has sign, nan style)
#[derive(Clone, Copy, PartialEq)]
enum NanStyle {
    /// IEEE: all-ones exponent is inf/nan.
    Ieee,
    /// Finite-only, NaN is all ones.
    AllOnes,
    /// Finite-only, NaN is the negative-zero pattern, no -0.
    NegZero,
    /// No NaN or infinity at all.
    None,
}

fn layout(kind: FloatKind) -> (u32, u32, i32, bool, NanStyle) {
    match kind {
        FloatKind::F8E5M2 => (5, 2, 15, true, NanStyle::Ieee),
        FloatKind::F8E4M3 => (4, 3, 7, true, NanStyle::Ieee),
        FloatKind::F8E3M4 => (3, 4, 3, true, NanStyle::Ieee),
        FloatKind::F8E4M3FN => (4, 3, 7, true, NanStyle::AllOnes),
        FloatKind::F8E4M3FNUZ => (4, 3, 8, true, NanStyle::NegZero),
        FloatKind::F8E5M2FNUZ => (5, 2, 16, true, NanStyle::NegZero),
        FloatKind::F8E4M3B11FNUZ => (4, 3, 11, true, NanStyle::NegZero),
        FloatKind::F8E8M0FNU => (8, 0, 127, false, NanStyle::AllOnes),
        FloatKind::F6E2M3FN => (2, 3, 1, true, NanStyle::None),
        FloatKind::F6E3M2FN => (3, 2, 3, true, NanStyle::None),
        FloatKind::F4E2M1FN => (2, 1, 1, true, NanStyle::None),
        _ => (8, 23, 127, true, NanStyle::Ieee),
    }
}

fn pow2(e: i32) -> f64 {
    let e = e.clamp(-1022, 1023);
    f64::from_bits(((e + 1023) as u64) << 52)
}

fn minifloat_value(bits: u8, kind: FloatKind) -> f64 {
    let (eb, mb, bias, signed, nan) = layout(kind);
    let total = eb + mb + u32::from(signed);
    let bits = u32::from(bits) & ((1 << total) - 1);
    let neg = signed && (bits >> (eb + mb)) & 1 == 1;
    let e = ((bits >> mb) & ((1 << eb) - 1)) as i32;
    let m = bits & ((1 << mb) - 1);
    match nan {
        NanStyle::Ieee if e == (1 << eb) - 1 => {
            return if m == 0 {
                if neg {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }
            } else {
                f64::NAN
            };
        }
        NanStyle::AllOnes if e == (1 << eb) - 1 && m == (1 << mb) - 1 => return f64::NAN,
        NanStyle::NegZero if neg && e == 0 && m == 0 => return f64::NAN,
        _ => {}
    }
    let mag = if e == 0 && mb > 0 {
        f64::from(m) * pow2(1 - bias - mb as i32)
    } else {
        (1.0 + f64::from(m) * pow2(-(mb as i32))) * pow2(e - bias)
    };
    if neg {
        -mag
    } else {
        mag
    }
}

fn minifloat_bits(v: f64, kind: FloatKind) -> u8 {
    let (eb, mb, bias, signed, nan) = layout(kind);
    let sign_bit = if signed { 1u32 << (eb + mb) } else { 0 };
    let nan_bits = match nan {
        NanStyle::Ieee | NanStyle::AllOnes => sign_bit | ((1 << (eb + mb)) - 1),
        NanStyle::NegZero => sign_bit,
        NanStyle::None => sign_bit - 1,
    };
    if v.is_nan() {
        return nan_bits as u8;
    }
    let neg = v.is_sign_negative() && signed;
    let sign = if neg { sign_bit } else { 0 };
    let a = v.abs();
    if a == 0.0 {
        return if nan == NanStyle::NegZero {
            0
        } else {
            sign as u8
        };
    }
    // Largest finite encoding.
    let max_bits = match nan {
        NanStyle::Ieee => ((1u32 << eb) - 2) << mb | ((1 << mb) - 1),
        NanStyle::AllOnes if mb == 0 => (1u32 << eb) - 2,
        NanStyle::AllOnes => ((1u32 << eb) - 1) << mb | ((1 << mb) - 2),
        NanStyle::NegZero | NanStyle::None => ((1u32 << eb) - 1) << mb | ((1 << mb) - 1),
    };
    let overflow = || -> u8 {
        match nan {
            NanStyle::Ieee => (sign | ((1 << eb) - 1) << mb) as u8,
            NanStyle::None => (sign | max_bits) as u8,
            _ => nan_bits as u8,
        }
    };
    if a.is_infinite() {
        return overflow();
    }
    let raw = a.to_bits();
    let exp = ((raw >> 52) & 0x7ff) as i32 - 1023;
    let min_exp = 1 - bias;
    let (q, e_field) = if exp < min_exp {
        (round_even(a * pow2(bias - 1 + mb as i32)), 0u32)
    } else {
        let mut q = round_even(a * pow2(mb as i32 - exp));
        let mut e = exp;
        if q >= 2u64 << mb {
            q >>= 1;
            e += 1;
        }
        (q - (1u64 << mb), (e + bias) as u32)
    };
    let bits = if e_field == 0 {
        q as u32 // a subnormal that rounded up carries into the exponent naturally
    } else if e_field >= 1 << eb {
        return overflow();
    } else {
        e_field << mb | q as u32
    };
    if bits > max_bits {
        return overflow();
    }
    if bits == 0 && nan == NanStyle::NegZero {
        return 0;
    }
    (sign | bits) as u8
}

fn round_even(x: f64) -> u64 {
    if x >= 1.8e19 {
        return u64::MAX;
    }
    let t = x as u64;
    let frac = x - t as f64;
    if frac > 0.5 || (frac == 0.5 && t & 1 == 1) {
        t + 1
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minifloats_round_trip() {
        for kind in [
            FloatKind::F8E4M3FN,
            FloatKind::F8E5M2,
            FloatKind::F8E3M4,
            FloatKind::F8E4M3FNUZ,
            FloatKind::F6E2M3FN,
            FloatKind::F4E2M1FN,
        ] {
            let small: &[f64] = if kind == FloatKind::F4E2M1FN {
                &[0.5, -0.5]
            } else {
                &[0.25, -0.125]
            };
            for &v in [0.0, 1.0, -1.5, 3.0].iter().chain(small) {
                let b = float_bits(v, kind);
                assert_eq!(float_value(b, kind), v, "{kind:?} {v}");
            }
        }
        assert_eq!(float_bits(448.0, FloatKind::F8E4M3FN), 0x7E);
        assert_eq!(float_bits(1.0, FloatKind::F8E5M2), 0x3C);
        assert!(float_value(
            float_bits(f64::NAN, FloatKind::F8E4M3FN),
            FloatKind::F8E4M3FN
        )
        .is_nan());
    }

    #[test]
    fn integers_checked() {
        let i4 = ElementType::Int {
            bits: 4,
            signed: true,
        };
        let mut out = Vec::new();
        encode(Literal::Int(-8), &i4, &mut out).unwrap();
        assert_eq!(out, [0xF8]);
        assert!(encode(Literal::Int(-9), &i4, &mut out).is_err());
        let u2 = ElementType::Int {
            bits: 2,
            signed: false,
        };
        assert!(encode(Literal::Int(4), &u2, &mut out).is_err());
    }
}

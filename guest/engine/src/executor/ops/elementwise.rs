//! Elementwise ops: unary math, broadcasting binary math, comparisons, select, cast,
//! quantize / dequantize.

use half::{bf16, f16};

use super::quantized;
use super::util::{apply_activation_f32, is_quantized, same_dtype, Bcast};
use super::Prepared;
use crate::error::Result;
use crate::executor::Ctx;
use crate::ir::{Activation, BinaryOp, CompareOp, DType, Node, Subgraph, UnaryOp};
use crate::{invalid, unsupported};

use super::util::{input_info as info, output_info as out_info};

// ---------------------------------------------------------------- unary

pub(super) fn prepare_unary(sg: &Subgraph, node: &Node, op: UnaryOp) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    if x.shape != y.shape {
        return Err(invalid!(
            "output shape {} differs from input shape {}",
            y.shape,
            x.shape
        ));
    }
    same_dtype(x, y)?;
    if is_quantized(x) {
        return quantized::prepare_unary(x, y, op);
    }
    let ok = match x.dtype {
        DType::F32 => op != UnaryOp::LogicalNot,
        DType::I32 | DType::I64 => matches!(
            op,
            UnaryOp::Abs
                | UnaryOp::Neg
                | UnaryOp::Square
                | UnaryOp::Sign
                | UnaryOp::Relu
                | UnaryOp::Relu6
        ),
        DType::Bool => op == UnaryOp::LogicalNot,
        _ => false,
    };
    if !ok {
        return Err(unsupported!("{op:?} on {}", x.dtype));
    }
    Ok(Prepared::None)
}

/// f32 unary function (TFLite reference semantics).
#[inline]
pub fn unary_f32(op: UnaryOp, x: f32) -> f32 {
    match op {
        UnaryOp::Abs => x.abs(),
        UnaryOp::Neg => -x,
        UnaryOp::Exp => libm::expf(x),
        UnaryOp::Log => libm::logf(x),
        UnaryOp::Sqrt => libm::sqrtf(x),
        UnaryOp::Rsqrt => 1.0 / libm::sqrtf(x),
        UnaryOp::Square => x * x,
        UnaryOp::Tanh => libm::tanhf(x),
        UnaryOp::Logistic => 1.0 / (1.0 + libm::expf(-x)),
        UnaryOp::Relu => {
            if x < 0.0 {
                0.0
            } else {
                x
            }
        }
        UnaryOp::Relu6 => x.clamp(0.0, 6.0),
        UnaryOp::ReluN1To1 => x.clamp(-1.0, 1.0),
        UnaryOp::Relu0To1 => x.clamp(0.0, 1.0),
        UnaryOp::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        // TFLite gelu.cc forms (erfc avoids cancellation for large negative x).
        UnaryOp::Gelu { approximate: false } => {
            0.5 * x * libm::erfcf(x * -core::f32::consts::FRAC_1_SQRT_2)
        }
        UnaryOp::Gelu { approximate: true } => {
            let c = 0.797_884_6_f32; // sqrt(2/pi)
            0.5 * x * (1.0 + libm::tanhf(c * x * (1.0 + 0.044715 * x * x)))
        }
        UnaryOp::Elu => {
            if x < 0.0 {
                libm::expm1f(x)
            } else {
                x
            }
        }
        UnaryOp::LeakyRelu { alpha } => {
            if x > 0.0 {
                x
            } else {
                alpha * x
            }
        }
        UnaryOp::Floor => libm::floorf(x),
        UnaryOp::Ceil => libm::ceilf(x),
        UnaryOp::Round => round_half_even(x),
        UnaryOp::Sin => libm::sinf(x),
        UnaryOp::Cos => libm::cosf(x),
        UnaryOp::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }
        UnaryOp::LogicalNot => x,
    }
}

/// Round half to even (TFLite ROUND, numpy `round`).
pub fn round_half_even(x: f32) -> f32 {
    let r = libm::roundf(x);
    if (r - x).abs() == 0.5 {
        2.0 * libm::roundf(x / 2.0)
    } else {
        r
    }
}

fn unary_int<T>(op: UnaryOp, x: T) -> T
where
    T: Copy + Ord + Default + From<i8> + num_like::Wrapping,
{
    match op {
        UnaryOp::Abs => {
            if x < T::default() {
                x.wneg()
            } else {
                x
            }
        }
        UnaryOp::Neg => x.wneg(),
        UnaryOp::Square => x.wmul(x),
        UnaryOp::Sign => {
            if x > T::default() {
                T::from(1)
            } else if x < T::default() {
                T::from(-1)
            } else {
                x
            }
        }
        UnaryOp::Relu => x.max(T::default()),
        UnaryOp::Relu6 => x.max(T::default()).min(T::from(6)),
        _ => x,
    }
}

pub(super) mod num_like {
    /// Wrapping integer arithmetic for the integer elementwise paths.
    pub trait Wrapping: Sized {
        fn wadd(self, o: Self) -> Self;
        fn wsub(self, o: Self) -> Self;
        fn wmul(self, o: Self) -> Self;
        fn wneg(self) -> Self;
        fn cdiv(self, o: Self) -> Option<Self>;
        fn crem(self, o: Self) -> Option<Self>;
        fn wpow(self, o: Self) -> Self;
    }
    macro_rules! imp {
        ($t:ty) => {
            impl Wrapping for $t {
                fn wadd(self, o: Self) -> Self {
                    self.wrapping_add(o)
                }
                fn wsub(self, o: Self) -> Self {
                    self.wrapping_sub(o)
                }
                fn wmul(self, o: Self) -> Self {
                    self.wrapping_mul(o)
                }
                fn wneg(self) -> Self {
                    self.wrapping_neg()
                }
                fn cdiv(self, o: Self) -> Option<Self> {
                    self.checked_div(o)
                }
                fn crem(self, o: Self) -> Option<Self> {
                    self.checked_rem(o)
                }
                fn wpow(self, o: Self) -> Self {
                    if o < 0 {
                        0
                    } else {
                        self.wrapping_pow(o.min(u32::MAX as Self) as u32)
                    }
                }
            }
        };
    }
    imp!(i32);
    imp!(i64);
}

pub(super) fn run_unary(ctx: &Ctx<'_>, op: UnaryOp, prepared: &Prepared) -> Result<()> {
    let x = ctx.in_info(0)?;
    if let Prepared::QuantUnary(p) = prepared {
        return quantized::run_unary(ctx, p);
    }
    match x.dtype {
        DType::F32 => {
            let a = ctx.input_as::<f32>(0)?;
            let o = ctx.output_as::<f32>(0)?;
            for (o, &a) in o.iter_mut().zip(a) {
                *o = unary_f32(op, a);
            }
        }
        DType::I32 => {
            let a = ctx.input_as::<i32>(0)?;
            let o = ctx.output_as::<i32>(0)?;
            for (o, &a) in o.iter_mut().zip(a) {
                *o = unary_int(op, a);
            }
        }
        DType::I64 => {
            let a = ctx.input_as::<i64>(0)?;
            let o = ctx.output_as::<i64>(0)?;
            for (o, &a) in o.iter_mut().zip(a) {
                *o = unary_int(op, a);
            }
        }
        DType::Bool => {
            let a = ctx.input(0)?;
            let o = ctx.output(0)?;
            for (o, &a) in o.iter_mut().zip(a) {
                *o = u8::from(a == 0);
            }
        }
        d => return Err(unsupported!("{op:?} on {d}")),
    }
    Ok(())
}

// ---------------------------------------------------------------- binary

pub(super) fn prepare_binary(
    sg: &Subgraph,
    node: &Node,
    op: BinaryOp,
    act: Activation,
) -> Result<Prepared> {
    let a = info(sg, node, 0)?;
    let b = info(sg, node, 1)?;
    let y = out_info(sg, node, 0)?;
    let bc = Bcast::new(&[a.shape.dims(), b.shape.dims()], y.shape.dims())?;
    if act == Activation::SignBit {
        return Err(unsupported!("SIGN_BIT fused activation"));
    }
    if is_quantized(a) || is_quantized(y) {
        return quantized::prepare_binary(a, b, y, op, act, bc);
    }
    same_dtype(a, b)?;
    same_dtype(a, y)?;
    let ok = match a.dtype {
        DType::F32 => !matches!(op, BinaryOp::LogicalAnd | BinaryOp::LogicalOr),
        DType::I32 | DType::I64 => !matches!(
            op,
            BinaryOp::LogicalAnd | BinaryOp::LogicalOr | BinaryOp::Atan2 | BinaryOp::Prelu
        ),
        DType::Bool => matches!(op, BinaryOp::LogicalAnd | BinaryOp::LogicalOr),
        _ => false,
    };
    if !ok {
        return Err(unsupported!("{op:?} on {}", a.dtype));
    }
    if a.dtype != DType::F32 && !matches!(act, Activation::None) {
        return Err(unsupported!("fused activation {act:?} on {}", a.dtype));
    }
    Ok(Prepared::Bcast(bc))
}

#[inline]
fn binary_f32(op: BinaryOp, a: f32, b: f32) -> f32 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Maximum => {
            if a > b || a.is_nan() {
                a
            } else {
                b
            }
        }
        BinaryOp::Minimum => {
            if a < b || a.is_nan() {
                a
            } else {
                b
            }
        }
        BinaryOp::Pow => libm::powf(a, b),
        BinaryOp::SquaredDifference => (a - b) * (a - b),
        BinaryOp::FloorDiv => libm::floorf(a / b),
        BinaryOp::FloorMod => {
            let r = libm::fmodf(a, b);
            if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
                r + b
            } else {
                r
            }
        }
        BinaryOp::Prelu => {
            if a >= 0.0 {
                a
            } else {
                a * b
            }
        }
        BinaryOp::Atan2 => libm::atan2f(a, b),
        BinaryOp::LogicalAnd | BinaryOp::LogicalOr => 0.0,
    }
}

fn binary_int<T>(op: BinaryOp, a: T, b: T, div_by_zero: &mut bool) -> T
where
    T: Copy + Ord + Default + From<i8> + num_like::Wrapping,
{
    match op {
        BinaryOp::Add => a.wadd(b),
        BinaryOp::Sub => a.wsub(b),
        BinaryOp::Mul => a.wmul(b),
        BinaryOp::Div => a.cdiv(b).unwrap_or_else(|| {
            *div_by_zero = true;
            T::default()
        }),
        BinaryOp::Maximum => a.max(b),
        BinaryOp::Minimum => a.min(b),
        BinaryOp::Pow => a.wpow(b),
        BinaryOp::SquaredDifference => a.wsub(b).wmul(a.wsub(b)),
        BinaryOp::FloorDiv => match (a.cdiv(b), a.crem(b)) {
            (Some(q), Some(r)) => {
                if r != T::default() && ((r < T::default()) != (b < T::default())) {
                    q.wsub(T::from(1))
                } else {
                    q
                }
            }
            _ => {
                *div_by_zero = true;
                T::default()
            }
        },
        BinaryOp::FloorMod => match a.crem(b) {
            Some(r) => {
                if r != T::default() && ((r < T::default()) != (b < T::default())) {
                    r.wadd(b)
                } else {
                    r
                }
            }
            None => {
                *div_by_zero = true;
                T::default()
            }
        },
        _ => a,
    }
}

pub(super) fn run_binary(
    ctx: &Ctx<'_>,
    op: BinaryOp,
    act: Activation,
    prepared: &Prepared,
) -> Result<()> {
    let bc = match prepared {
        Prepared::Bcast(bc) => bc,
        Prepared::QuantBinary(p) => return quantized::run_binary(ctx, p),
        _ => return Err(invalid!("binary op not prepared")),
    };
    match ctx.in_info(0)?.dtype {
        DType::F32 => {
            let a = ctx.input_as::<f32>(0)?;
            let b = ctx.input_as::<f32>(1)?;
            let o = ctx.output_as::<f32>(0)?;
            check_lens(bc, &[a.len(), b.len()], o.len())?;
            if bc.contiguous[0] && bc.contiguous[1] && a.len() == o.len() && b.len() == o.len() {
                // Same-shape fast path: one tight loop per op so it vectorizes.
                macro_rules! each {
                    ($f:expr) => {
                        if act == Activation::None {
                            for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
                                *o = $f(x, y);
                            }
                        } else {
                            for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
                                *o = apply_activation_f32(act, $f(x, y));
                            }
                        }
                    };
                }
                match op {
                    BinaryOp::Add => each!(|x: f32, y: f32| x + y),
                    BinaryOp::Sub => each!(|x: f32, y: f32| x - y),
                    BinaryOp::Mul => each!(|x: f32, y: f32| x * y),
                    BinaryOp::Div => each!(|x: f32, y: f32| x / y),
                    _ => each!(|x, y| binary_f32(op, x, y)),
                }
                return Ok(());
            }
            bc.for_each(|i, [ia, ib]| {
                o[i] = apply_activation_f32(act, binary_f32(op, a[ia], b[ib]))
            });
        }
        DType::I32 => int_binary::<i32>(ctx, bc, op)?,
        DType::I64 => int_binary::<i64>(ctx, bc, op)?,
        DType::Bool => {
            let a = ctx.input(0)?;
            let b = ctx.input(1)?;
            let o = ctx.output(0)?;
            check_lens(bc, &[a.len(), b.len()], o.len())?;
            let and = op == BinaryOp::LogicalAnd;
            bc.for_each(|i, [ia, ib]| {
                let (x, y) = (a[ia] != 0, b[ib] != 0);
                o[i] = u8::from(if and { x && y } else { x || y });
            });
        }
        d => return Err(unsupported!("{op:?} on {d}")),
    }
    Ok(())
}

fn int_binary<T>(ctx: &Ctx<'_>, bc: &Bcast, op: BinaryOp) -> Result<()>
where
    T: bytemuck::Pod + Ord + Default + From<i8> + num_like::Wrapping,
{
    let a = ctx.input_as::<T>(0)?;
    let b = ctx.input_as::<T>(1)?;
    let o = ctx.output_as::<T>(0)?;
    check_lens(bc, &[a.len(), b.len()], o.len())?;
    let mut div_by_zero = false;
    bc.for_each(|i, [ia, ib]| o[i] = binary_int(op, a[ia], b[ib], &mut div_by_zero));
    if div_by_zero {
        return Err(crate::bad_input!("integer division by zero in {op:?}"));
    }
    Ok(())
}

/// Checks that the broadcast plan fits the actual slices (defensive; the planner sized them).
pub(super) fn check_lens(bc: &Bcast, inputs: &[usize], out: usize) -> Result<()> {
    if out < bc.len {
        return Err(invalid!("output has {out} elements, {} expected", bc.len));
    }
    for (k, &n) in inputs.iter().enumerate() {
        let mut max_index = 0usize;
        for d in 0..bc.rank {
            max_index += bc.strides[k][d] * (bc.dims[d].saturating_sub(1));
        }
        let needed = if bc.scalar[k] {
            1
        } else if bc.contiguous[k] {
            bc.len
        } else {
            max_index + 1
        };
        if bc.len > 0 && n < needed {
            return Err(invalid!("input {k} has {n} elements, {needed} needed"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- compare / select

pub(super) fn prepare_compare(sg: &Subgraph, node: &Node) -> Result<Prepared> {
    let a = info(sg, node, 0)?;
    let b = info(sg, node, 1)?;
    let y = out_info(sg, node, 0)?;
    if y.dtype != DType::Bool {
        return Err(invalid!("comparison output must be bool, is {}", y.dtype));
    }
    let bc = Bcast::new(&[a.shape.dims(), b.shape.dims()], y.shape.dims())?;
    same_dtype(a, b)?;
    if is_quantized(a) {
        return quantized::prepare_compare(a, b, bc);
    }
    if !matches!(
        a.dtype,
        DType::F32 | DType::I32 | DType::I64 | DType::Bool | DType::I8 | DType::U8 | DType::I16
    ) {
        return Err(unsupported!("comparison on {}", a.dtype));
    }
    Ok(Prepared::Bcast(bc))
}

fn cmp<T: PartialOrd>(op: CompareOp, a: T, b: T) -> bool {
    match op {
        CompareOp::Equal => a == b,
        CompareOp::NotEqual => a != b,
        CompareOp::Less => a < b,
        CompareOp::LessEqual => a <= b,
        CompareOp::Greater => a > b,
        CompareOp::GreaterEqual => a >= b,
    }
}

fn compare_typed<T: bytemuck::Pod + PartialOrd>(
    ctx: &Ctx<'_>,
    bc: &Bcast,
    op: CompareOp,
) -> Result<()> {
    let a = ctx.input_as::<T>(0)?;
    let b = ctx.input_as::<T>(1)?;
    let o = ctx.output(0)?;
    check_lens(bc, &[a.len(), b.len()], o.len())?;
    bc.for_each(|i, [ia, ib]| o[i] = u8::from(cmp(op, a[ia], b[ib])));
    Ok(())
}

pub(super) fn run_compare(ctx: &Ctx<'_>, op: CompareOp, prepared: &Prepared) -> Result<()> {
    let bc = match prepared {
        Prepared::Bcast(bc) => bc,
        Prepared::QuantCompare(p) => return quantized::run_compare(ctx, op, p),
        _ => return Err(invalid!("compare not prepared")),
    };
    match ctx.in_info(0)?.dtype {
        DType::F32 => compare_typed::<f32>(ctx, bc, op),
        DType::I32 => compare_typed::<i32>(ctx, bc, op),
        DType::I64 => compare_typed::<i64>(ctx, bc, op),
        DType::I8 => compare_typed::<i8>(ctx, bc, op),
        DType::I16 => compare_typed::<i16>(ctx, bc, op),
        DType::U8 | DType::Bool => compare_typed::<u8>(ctx, bc, op),
        d => Err(unsupported!("comparison on {d}")),
    }
}

pub(super) fn prepare_select(sg: &Subgraph, node: &Node) -> Result<Prepared> {
    let c = info(sg, node, 0)?;
    let a = info(sg, node, 1)?;
    let b = info(sg, node, 2)?;
    let y = out_info(sg, node, 0)?;
    if c.dtype != DType::Bool {
        return Err(invalid!("select condition must be bool, is {}", c.dtype));
    }
    same_dtype(a, b)?;
    same_dtype(a, y)?;
    super::util::same_quant(a, y)?;
    super::util::same_quant(b, y)?;
    Ok(Prepared::Bcast(Bcast::new(
        &[c.shape.dims(), a.shape.dims(), b.shape.dims()],
        y.shape.dims(),
    )?))
}

pub(super) fn run_select(ctx: &Ctx<'_>, prepared: &Prepared) -> Result<()> {
    let Prepared::Bcast(bc) = prepared else {
        return Err(invalid!("select not prepared"));
    };
    let c = ctx.input(0)?;
    let a = ctx.input(1)?;
    let b = ctx.input(2)?;
    let o = ctx.output(0)?;
    let es = ctx.out_info(0)?.dtype.size();
    check_lens(bc, &[c.len(), a.len() / es, b.len() / es], o.len() / es)?;
    bc.for_each(|i, [ic, ia, ib]| {
        let src = if c[ic] != 0 {
            &a[ia * es..ia * es + es]
        } else {
            &b[ib * es..ib * es + es]
        };
        o[i * es..i * es + es].copy_from_slice(src);
    });
    Ok(())
}

// ---------------------------------------------------------------- cast

pub(super) fn prepare_cast(sg: &Subgraph, node: &Node) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    if x.shape.num_elements()? != y.shape.num_elements()? {
        return Err(invalid!(
            "cast changes the element count ({} to {})",
            x.shape,
            y.shape
        ));
    }
    if matches!(x.dtype, DType::Resource) || matches!(y.dtype, DType::Resource) {
        return Err(unsupported!("cast of resource handles"));
    }
    Ok(Prepared::None)
}

/// Reads element `i` of a typed byte slice as f64 (exact for every supported dtype but i64
/// beyond 2^53, handled by `read_i64`).
fn read_f64(d: DType, b: &[u8], i: usize) -> f64 {
    let s = d.size();
    let e = &b[i * s..i * s + s];
    match d {
        DType::F32 => f32::from_le_bytes([e[0], e[1], e[2], e[3]]) as f64,
        DType::F16 => f16::from_le_bytes([e[0], e[1]]).to_f64(),
        DType::BF16 => bf16::from_le_bytes([e[0], e[1]]).to_f64(),
        _ => read_i64(d, b, i) as f64,
    }
}

fn read_i64(d: DType, b: &[u8], i: usize) -> i64 {
    let s = d.size();
    let e = &b[i * s..i * s + s];
    match d {
        DType::I8 => e[0] as i8 as i64,
        DType::U8 | DType::Bool => e[0] as i64,
        DType::I16 => i16::from_le_bytes([e[0], e[1]]) as i64,
        DType::I32 | DType::Resource => i32::from_le_bytes([e[0], e[1], e[2], e[3]]) as i64,
        DType::U32 => u32::from_le_bytes([e[0], e[1], e[2], e[3]]) as i64,
        DType::I64 => i64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]),
        DType::F32 | DType::F16 | DType::BF16 => read_f64(d, b, i) as i64,
    }
}

fn write_value(d: DType, b: &mut [u8], i: usize, from_float: bool, f: f64, n: i64) {
    let s = d.size();
    let e = &mut b[i * s..i * s + s];
    match d {
        DType::F32 => {
            e.copy_from_slice(&(if from_float { f as f32 } else { n as f32 }).to_le_bytes())
        }
        DType::F16 => {
            e.copy_from_slice(&f16::from_f64(if from_float { f } else { n as f64 }).to_le_bytes())
        }
        DType::BF16 => {
            e.copy_from_slice(&bf16::from_f64(if from_float { f } else { n as f64 }).to_le_bytes())
        }
        DType::Bool => e[0] = u8::from(if from_float { f != 0.0 } else { n != 0 }),
        _ => {
            // Float to integer truncates toward zero (C++ static_cast; saturating here).
            let v = if from_float { f as i64 } else { n };
            match d {
                DType::I8 => {
                    e[0] = if from_float {
                        f as i8 as u8
                    } else {
                        v as i8 as u8
                    }
                }
                DType::U8 => e[0] = if from_float { f as u8 } else { v as u8 },
                DType::I16 => {
                    e.copy_from_slice(&(if from_float { f as i16 } else { v as i16 }).to_le_bytes())
                }
                DType::I32 | DType::Resource => {
                    e.copy_from_slice(&(if from_float { f as i32 } else { v as i32 }).to_le_bytes())
                }
                DType::U32 => {
                    e.copy_from_slice(&(if from_float { f as u32 } else { v as u32 }).to_le_bytes())
                }
                _ => e.copy_from_slice(&v.to_le_bytes()),
            }
        }
    }
}

pub(super) fn run_cast(ctx: &Ctx<'_>) -> Result<()> {
    let from = ctx.in_info(0)?.dtype;
    let to = ctx.out_info(0)?.dtype;
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    let n = y.len() / to.size();
    if x.len() / from.size() < n {
        return Err(invalid!("cast input too short"));
    }
    if from == DType::F32 && to == DType::F32 {
        y.copy_from_slice(&x[..y.len()]);
        return Ok(());
    }
    let float_src = from.is_float();
    for i in 0..n {
        if float_src {
            write_value(to, y, i, true, read_f64(from, x, i), 0);
        } else {
            write_value(to, y, i, false, 0.0, read_i64(from, x, i));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- (de)quantize

pub(super) fn prepare_dequantize(sg: &Subgraph, node: &Node) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    if x.shape != y.shape {
        return Err(invalid!(
            "dequantize changes the shape ({} to {})",
            x.shape,
            y.shape
        ));
    }
    if y.dtype != DType::F32 {
        return Err(unsupported!("dequantize to {}", y.dtype));
    }
    match x.dtype {
        DType::F16 | DType::BF16 | DType::F32 => Ok(Prepared::None),
        DType::I8 | DType::U8 | DType::I16 | DType::I32 => {
            let q = x
                .quant
                .as_ref()
                .ok_or_else(|| invalid!("dequantize input `{}` has no quantization", x.name))?;
            quantized::prepare_dequantize(x, q)
        }
        d => Err(unsupported!("dequantize from {d}")),
    }
}

pub(super) fn run_dequantize(ctx: &Ctx<'_>, prepared: &Prepared) -> Result<()> {
    let x = ctx.in_info(0)?;
    let y = ctx.output_as::<f32>(0)?;
    let bytes = ctx.input(0)?;
    match x.dtype {
        DType::F16 => {
            let h: &[f16] = bytemuck::try_cast_slice(bytes).map_err(|e| invalid!("{e:?}"))?;
            for (o, &v) in y.iter_mut().zip(h) {
                *o = v.to_f32();
            }
            Ok(())
        }
        DType::BF16 => {
            let h: &[bf16] = bytemuck::try_cast_slice(bytes).map_err(|e| invalid!("{e:?}"))?;
            for (o, &v) in y.iter_mut().zip(h) {
                *o = v.to_f32();
            }
            Ok(())
        }
        DType::F32 => {
            let h: &[f32] = bytemuck::try_cast_slice(bytes).map_err(|e| invalid!("{e:?}"))?;
            y.copy_from_slice(&h[..y.len()]);
            Ok(())
        }
        _ => quantized::run_dequantize(ctx, x, bytes, y, prepared),
    }
}

//! Elementwise ops: unary math, broadcasting binary math, comparisons, select, cast,
//! quantize / dequantize.

use half::{bf16, f16};

use super::quantized;
use super::scalar::{self, float_binary, float_unary, with_int_type, IntElem};
use super::util::{apply_activation_f32, is_quantized, same_dtype, Bcast};
use super::Prepared;
use crate::error::Result;
use crate::executor::kernels::math::{self, VecUnary};
use crate::executor::kernels::Isa;
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
        d if d.is_float() => scalar::float_unary_supported(op),
        d if d.is_int() => scalar::int_unary_supported(op),
        DType::Bool => matches!(op, UnaryOp::LogicalNot | UnaryOp::BitwiseNot),
        _ => false,
    };
    if !ok {
        return Err(unsupported!("{op:?} on {}", x.dtype));
    }
    Ok(Prepared::None)
}

/// `out[i] = f(in[i])` over typed input 0 and output 0.
fn map_unary<T: bytemuck::Pod>(ctx: &Ctx<'_>, f: impl Fn(T) -> T) -> Result<()> {
    let a = ctx.input_as::<T>(0)?;
    let o = ctx.output_as::<T>(0)?;
    for (o, &a) in o.iter_mut().zip(a) {
        *o = f(a);
    }
    Ok(())
}

/// The vectorized f32 kernel for `op`, if it has one.
fn vectorized_unary(op: UnaryOp) -> Option<VecUnary> {
    match op {
        UnaryOp::Exp => Some(VecUnary::Exp),
        UnaryOp::Tanh => Some(VecUnary::Tanh),
        UnaryOp::Logistic => Some(VecUnary::Logistic),
        _ => None,
    }
}

pub(super) fn run_unary(ctx: &Ctx<'_>, op: UnaryOp, prepared: &Prepared) -> Result<()> {
    let x = ctx.in_info(0)?;
    if let Prepared::QuantUnary(p) = prepared {
        return quantized::run_unary(ctx, p);
    }
    if let UnaryOp::ReducePrecision {
        exponent_bits: e,
        mantissa_bits: m,
    } = op
    {
        let rp = |bits: u64, format| scalar::reduce_precision_bits(bits, format, e, m);
        return match x.dtype {
            DType::F32 => map_unary(ctx, |a: u32| rp(a.into(), (8, 23)) as u32),
            DType::F64 => map_unary(ctx, |a: u64| rp(a, (11, 52))),
            DType::F16 => map_unary(ctx, |a: u16| rp(a.into(), (5, 10)) as u16),
            DType::BF16 => map_unary(ctx, |a: u16| rp(a.into(), (8, 7)) as u16),
            d => Err(unsupported!("{op:?} on {d}")),
        };
    }
    match x.dtype {
        DType::F32 => match vectorized_unary(op) {
            Some(f) => Ok(math::unary_f32(
                Isa::detect(),
                f,
                ctx.input_as::<f32>(0)?,
                ctx.output_as::<f32>(0)?,
            )?),
            None => map_unary(ctx, |a: f32| float_unary(op, a)),
        },
        DType::F64 => map_unary(ctx, |a: f64| float_unary(op, a)),
        // Half types compute in f32 and round back (as XLA on CPU does).
        DType::F16 => map_unary(ctx, |a: f16| f16::from_f32(float_unary(op, a.to_f32()))),
        DType::BF16 => map_unary(ctx, |a: bf16| bf16::from_f32(float_unary(op, a.to_f32()))),
        DType::Bool => map_unary(ctx, |a: u8| u8::from(a == 0)),
        d => with_int_type!(d, T => map_unary(ctx, |a: T| scalar::int_unary(op, a)),
            _ => Err(unsupported!("{op:?} on {d}"))),
    }
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
        d if d.is_float() => scalar::float_binary_supported(op),
        d if d.is_int() => scalar::int_binary_supported(op),
        DType::Bool => scalar::bool_binary_supported(op),
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
                    _ => each!(|x, y| float_binary(op, x, y)),
                }
                return Ok(());
            }
            bc.for_each(|i, [ia, ib]| {
                o[i] = apply_activation_f32(act, float_binary(op, a[ia], b[ib]))
            });
            Ok(())
        }
        DType::F64 => map_binary(ctx, bc, |x: f64, y| float_binary(op, x, y)),
        DType::F16 => map_binary(ctx, bc, |x: f16, y: f16| {
            f16::from_f32(float_binary(op, x.to_f32(), y.to_f32()))
        }),
        DType::BF16 => map_binary(ctx, bc, |x: bf16, y: bf16| {
            bf16::from_f32(float_binary(op, x.to_f32(), y.to_f32()))
        }),
        DType::Bool => map_binary(ctx, bc, |x: u8, y: u8| {
            let (x, y) = (x != 0, y != 0);
            u8::from(match op {
                BinaryOp::LogicalAnd | BinaryOp::BitwiseAnd => x && y,
                BinaryOp::LogicalOr | BinaryOp::BitwiseOr => x || y,
                _ => x != y,
            })
        }),
        d => with_int_type!(d, T => int_binary::<T>(ctx, bc, op),
            _ => Err(unsupported!("{op:?} on {d}"))),
    }
}

/// `out[i] = f(a[ia], b[ib])` over the broadcast plan, typed inputs 0 and 1 and output 0.
fn map_binary<T: bytemuck::Pod>(ctx: &Ctx<'_>, bc: &Bcast, f: impl Fn(T, T) -> T) -> Result<()> {
    let a = ctx.input_as::<T>(0)?;
    let b = ctx.input_as::<T>(1)?;
    let o = ctx.output_as::<T>(0)?;
    check_lens(bc, &[a.len(), b.len()], o.len())?;
    bc.for_each(|i, [ia, ib]| o[i] = f(a[ia], b[ib]));
    Ok(())
}

fn int_binary<T: IntElem>(ctx: &Ctx<'_>, bc: &Bcast, op: BinaryOp) -> Result<()> {
    let dz = core::cell::Cell::new(false);
    map_binary(ctx, bc, |x: T, y: T| {
        let mut div_by_zero = false;
        let v = scalar::int_binary(op, x, y, &mut div_by_zero);
        if div_by_zero {
            dz.set(true);
        }
        v
    })?;
    if dz.get() {
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
    if !(a.dtype.is_float() || a.dtype.is_int() || a.dtype == DType::Bool) {
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
        DType::F64 => compare_typed::<f64>(ctx, bc, op),
        DType::F16 => compare_typed::<f16>(ctx, bc, op),
        DType::BF16 => compare_typed::<bf16>(ctx, bc, op),
        DType::Bool => compare_typed::<u8>(ctx, bc, op),
        d => with_int_type!(d, T => compare_typed::<T>(ctx, bc, op),
            _ => Err(unsupported!("comparison on {d}"))),
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

/// One element's value on its way through a cast: floats exactly as f64, integers and bools
/// exactly as i128 (covers u64 and i64).
#[derive(Clone, Copy)]
pub(super) enum Value {
    /// A float value.
    Float(f64),
    /// An integer or bool value.
    Int(i128),
}

/// Element `i` of a typed byte slice (the caller checked the length).
pub(super) fn read_value(d: DType, b: &[u8], i: usize) -> Value {
    let s = d.size();
    let e = &b[i * s..i * s + s];
    let mut w = [0u8; 8];
    w[..s].copy_from_slice(e);
    let (b2, b4, b8) = ([w[0], w[1]], [w[0], w[1], w[2], w[3]], w);
    match d {
        DType::F32 => Value::Float(f32::from_le_bytes(b4) as f64),
        DType::F64 => Value::Float(f64::from_le_bytes(b8)),
        DType::F16 => Value::Float(f16::from_le_bytes(b2).to_f64()),
        DType::BF16 => Value::Float(bf16::from_le_bytes(b2).to_f64()),
        DType::I8 => Value::Int(i128::from(w[0] as i8)),
        DType::U8 => Value::Int(i128::from(w[0])),
        DType::Bool => Value::Int(i128::from(w[0] != 0)),
        DType::I16 => Value::Int(i128::from(i16::from_le_bytes(b2))),
        DType::U16 => Value::Int(i128::from(u16::from_le_bytes(b2))),
        DType::I32 | DType::Resource => Value::Int(i128::from(i32::from_le_bytes(b4))),
        DType::U32 => Value::Int(i128::from(u32::from_le_bytes(b4))),
        DType::I64 => Value::Int(i128::from(i64::from_le_bytes(b8))),
        DType::U64 => Value::Int(i128::from(u64::from_le_bytes(b8))),
    }
}

/// Writes `v` as element `i` of dtype `d` with XLA's conversion rules: float to integer
/// truncates toward zero and saturates (NaN gives 0), integer to narrower integer wraps, to
/// bool is `!= 0` (NaN is true), floats round to nearest even.
pub(super) fn write_value(d: DType, b: &mut [u8], i: usize, v: Value) {
    let s = d.size();
    let e = &mut b[i * s..i * s + s];
    macro_rules! int {
        ($t:ty) => {
            e.copy_from_slice(
                &match v {
                    Value::Float(f) => f as $t,
                    Value::Int(n) => n as $t,
                }
                .to_le_bytes(),
            )
        };
    }
    match d {
        DType::F32 => e.copy_from_slice(
            &match v {
                Value::Float(f) => f as f32,
                Value::Int(n) => n as f32,
            }
            .to_le_bytes(),
        ),
        DType::F64 => e.copy_from_slice(
            &match v {
                Value::Float(f) => f,
                Value::Int(n) => n as f64,
            }
            .to_le_bytes(),
        ),
        // Integers beyond 2^53 round twice on their way to a half type (both overflow f16).
        DType::F16 => e.copy_from_slice(
            &f16::from_f64(match v {
                Value::Float(f) => f,
                Value::Int(n) => n as f64,
            })
            .to_le_bytes(),
        ),
        DType::BF16 => e.copy_from_slice(
            &bf16::from_f64(match v {
                Value::Float(f) => f,
                Value::Int(n) => n as f64,
            })
            .to_le_bytes(),
        ),
        DType::Bool => {
            e[0] = u8::from(match v {
                Value::Float(f) => f != 0.0,
                Value::Int(n) => n != 0,
            })
        }
        DType::I8 => int!(i8),
        DType::U8 => int!(u8),
        DType::I16 => int!(i16),
        DType::U16 => int!(u16),
        DType::I32 | DType::Resource => int!(i32),
        DType::U32 => int!(u32),
        DType::I64 => int!(i64),
        DType::U64 => int!(u64),
    }
}

pub(super) fn run_cast(ctx: &Ctx<'_>) -> Result<()> {
    let from = ctx.in_info(0)?.dtype;
    let to = ctx.out_info(0)?.dtype;
    match (from, to) {
        // The conversions mixed-precision models run on large tensors.
        (DType::F32, DType::BF16) => return convert_slice(ctx, bf16::from_f32),
        (DType::F32, DType::F16) => return convert_slice(ctx, f16::from_f32),
        (DType::BF16, DType::F32) => return convert_slice(ctx, |v: bf16| v.to_f32()),
        (DType::F16, DType::F32) => return convert_slice(ctx, |v: f16| v.to_f32()),
        _ => {}
    }
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    let n = y.len() / to.size();
    if x.len() / from.size() < n {
        return Err(invalid!("cast input too short"));
    }
    if from == to {
        y.copy_from_slice(&x[..y.len()]);
        return Ok(());
    }
    for i in 0..n {
        write_value(to, y, i, read_value(from, x, i));
    }
    Ok(())
}

/// Typed elementwise conversion of input 0 into output 0.
fn convert_slice<S: bytemuck::Pod, D: bytemuck::Pod>(
    ctx: &Ctx<'_>,
    f: impl Fn(S) -> D,
) -> Result<()> {
    let x = ctx.input_as::<S>(0)?;
    let y = ctx.output_as::<D>(0)?;
    if x.len() < y.len() {
        return Err(invalid!("cast input too short"));
    }
    for (o, &v) in y.iter_mut().zip(x) {
        *o = f(v);
    }
    Ok(())
}

// ---------------------------------------------------------------- bitcast

pub(super) fn prepare_bitcast(sg: &Subgraph, node: &Node) -> Result<Prepared> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    if matches!(x.dtype, DType::Resource) || matches!(y.dtype, DType::Resource) {
        return Err(unsupported!("bitcast of resource handles"));
    }
    let bits = |t: &crate::ir::TensorInfo| -> Result<usize> {
        t.shape
            .num_elements()?
            .checked_mul(t.dtype.bits())
            .ok_or_else(|| crate::too_large!("bitcast size"))
    };
    if bits(x)? != bits(y)? {
        return Err(invalid!(
            "bitcast from {} {} to {} {} changes the number of bits",
            x.dtype,
            x.shape,
            y.dtype,
            y.shape
        ));
    }
    Ok(Prepared::None)
}

/// Bit `k` of a typed byte buffer where each element is `width` bits (1 = a bool byte).
#[inline]
fn get_bit(b: &[u8], width: usize, k: usize) -> bool {
    if width == 1 {
        b[k] != 0
    } else {
        b[k / 8] >> (k % 8) & 1 != 0
    }
}

pub(super) fn run_bitcast(ctx: &Ctx<'_>) -> Result<()> {
    let (from, to) = (ctx.in_info(0)?.dtype.bits(), ctx.out_info(0)?.dtype.bits());
    let x = ctx.input(0)?;
    let y = ctx.output(0)?;
    // Element bits, least significant first, in element order: for byte-sized types that is
    // the little-endian memory layout itself.
    let total = if to == 1 { y.len() } else { y.len() * 8 };
    let have = if from == 1 { x.len() } else { x.len() * 8 };
    if have < total {
        return Err(invalid!("bitcast input too short"));
    }
    if from != 1 && to != 1 {
        y.copy_from_slice(&x[..y.len()]);
        return Ok(());
    }
    if to == 1 {
        for (k, o) in y.iter_mut().enumerate() {
            *o = u8::from(get_bit(x, from, k));
        }
    } else {
        y.fill(0);
        for k in 0..total {
            if get_bit(x, from, k) {
                y[k / 8] |= 1 << (k % 8);
            }
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

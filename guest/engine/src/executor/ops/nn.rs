//! Convolutions, fully connected, matrix products and pooling: shape checks and prepared
//! weights at load, then calls into [`crate::executor::kernels`].

use alloc::vec::Vec;

use super::util::per_tensor;
use super::util::{input_info as info, output_info as out_info};
use super::Prepared;
use crate::error::{Error, Result};
use crate::executor::kernels::conv::{self as kconv, ConvGeometry, PackedConvF32};
use crate::executor::kernels::gemm::PackedB;
use crate::executor::kernels::pool::{self as kpool, PoolKind as KPoolKind};
use crate::executor::kernels::quant::conv::{self as qconv, PackedI8Weights, QuantConvParams};
use crate::executor::kernels::quant::{self as kq, QuantMultiplier};
use crate::executor::kernels::{self, Isa, KernelError};
use crate::executor::Ctx;
use crate::ir::{
    Activation, Conv2dAttrs, DType, DepthwiseAttrs, Graph, Node, Padding2d, Pool2dAttrs, PoolKind,
    Subgraph, TensorInfo, TensorKind,
};
use crate::{invalid, unsupported};

impl From<KernelError> for Error {
    fn from(e: KernelError) -> Self {
        Error::Invalid(alloc::format!("{e}"))
    }
}

/// Integer parameters shared by the int8 conv / depthwise / FC paths.
#[derive(Debug, Clone)]
pub(crate) struct QuantConv {
    pub input_offset: i32,
    pub output_offset: i32,
    pub multipliers: Vec<QuantMultiplier>,
    pub act_min: i32,
    pub act_max: i32,
}

impl QuantConv {
    fn params(&self) -> QuantConvParams<'_> {
        QuantConvParams {
            input_offset: self.input_offset,
            output_offset: self.output_offset,
            multipliers: &self.multipliers,
            act_min: self.act_min,
            act_max: self.act_max,
        }
    }
}

/// Load-time data of an NN op.
pub(crate) enum NnPrepared {
    ConvF32 {
        geo: ConvGeometry,
        packed: PackedConvF32,
        act: kernels::Activation,
    },
    ConvI8 {
        geo: ConvGeometry,
        weights: PackedI8Weights,
        q: QuantConv,
    },
    DepthwiseF32 {
        geo: ConvGeometry,
        act: kernels::Activation,
    },
    DepthwiseI8 {
        geo: ConvGeometry,
        q: QuantConv,
    },
    FcF32 {
        rows: usize,
        packed: PackedB,
        act: kernels::Activation,
    },
    /// Fully connected with non-constant weights (reference loop).
    FcF32Dynamic {
        rows: usize,
        n: usize,
        k: usize,
        act: Activation,
    },
    FcI8 {
        rows: usize,
        weights: PackedI8Weights,
        q: QuantConv,
    },
    PoolF32 {
        geo: ConvGeometry,
        kind: KPoolKind,
        act: kernels::Activation,
    },
    PoolI8 {
        geo: ConvGeometry,
        kind: KPoolKind,
        act_min: i32,
        act_max: i32,
    },
}

fn kernel_activation(a: Activation) -> Result<kernels::Activation> {
    Ok(match a {
        Activation::None => kernels::Activation::None,
        Activation::Relu => kernels::Activation::Relu,
        Activation::Relu6 => kernels::Activation::Relu6,
        Activation::ReluN1To1 => kernels::Activation::ReluN1To1,
        Activation::Tanh => kernels::Activation::Tanh,
        Activation::SignBit => return Err(unsupported!("SIGN_BIT fused activation")),
    })
}

fn const_f32<'a>(graph: &'a Graph, t: &TensorInfo) -> Result<Option<&'a [f32]>> {
    match t.kind {
        TensorKind::Constant(c) => Ok(Some(
            bytemuck::try_cast_slice(graph.constant_bytes(c))
                .map_err(|e| invalid!("constant `{}`: {e:?}", t.name))?,
        )),
        TensorKind::Activation => Ok(None),
    }
}

fn const_bytes<'a>(graph: &'a Graph, t: &TensorInfo) -> Option<&'a [u8]> {
    match t.kind {
        TensorKind::Constant(c) => Some(graph.constant_bytes(c)),
        TensorKind::Activation => None,
    }
}

fn dims4(t: &TensorInfo) -> Result<[usize; 4]> {
    let d = t.shape.dims();
    if d.len() != 4 {
        return Err(invalid!(
            "tensor `{}` must be 4-D (NHWC), is {}",
            t.name,
            t.shape
        ));
    }
    Ok([d[0], d[1], d[2], d[3]])
}

#[allow(clippy::too_many_arguments)]
fn geometry(
    x: [usize; 4],
    y: [usize; 4],
    kernel: (usize, usize),
    stride: (usize, usize),
    dilation: (usize, usize),
    pad: Padding2d,
    groups: usize,
) -> Result<ConvGeometry> {
    if x[0] != y[0] {
        return Err(invalid!(
            "batch of input ({}) and output ({}) differ",
            x[0],
            y[0]
        ));
    }
    let out = |inp: usize, k: usize, s: usize, d: usize, a: usize, b: usize| -> Result<usize> {
        if s == 0 || d == 0 || k == 0 {
            return Err(invalid!("zero stride, dilation or kernel size"));
        }
        let eff = (k - 1)
            .checked_mul(d)
            .and_then(|v| v.checked_add(1))
            .ok_or_else(|| invalid!("kernel extent overflows"))?;
        let padded = inp
            .checked_add(a)
            .and_then(|v| v.checked_add(b))
            .ok_or_else(|| invalid!("padding overflows"))?;
        Ok(if padded < eff {
            0
        } else {
            (padded - eff) / s + 1
        })
    };
    let oh = out(x[1], kernel.0, stride.0, dilation.0, pad.top, pad.bottom)?;
    let ow = out(x[2], kernel.1, stride.1, dilation.1, pad.left, pad.right)?;
    if oh != y[1] || ow != y[2] {
        return Err(invalid!(
            "input {}x{} with kernel {}x{}, stride {:?}, dilation {:?}, padding {:?} gives {oh}x{ow}, output is {}x{}",
            x[1], x[2], kernel.0, kernel.1, stride, dilation, pad, y[1], y[2]
        ));
    }
    let geo = ConvGeometry {
        batch: x[0],
        in_h: x[1],
        in_w: x[2],
        in_c: x[3],
        out_h: y[1],
        out_w: y[2],
        out_c: y[3],
        kernel_h: kernel.0,
        kernel_w: kernel.1,
        stride_h: stride.0,
        stride_w: stride.1,
        dilation_h: dilation.0,
        dilation_w: dilation.1,
        pad_top: pad.top,
        pad_left: pad.left,
        groups,
    };
    geo.validate()?;
    Ok(geo)
}

fn quant_conv(
    x: &TensorInfo,
    w: &TensorInfo,
    y: &TensorInfo,
    act: Activation,
    channels: usize,
    axis: usize,
    allow_weight_zero_point: bool,
) -> Result<QuantConv> {
    let (si, zi) = per_tensor(x)?;
    let (so, zo) = per_tensor(y)?;
    let wq = w
        .quant
        .as_ref()
        .ok_or_else(|| invalid!("weights `{}` have no quantization", w.name))?;
    // TFLite's FULLY_CONNECTED takes a per-tensor weight zero point (`filter_offset`); its
    // convolutions use symmetric weights.
    let fc_zero_point = allow_weight_zero_point && wq.zero_point.len() == 1;
    if wq.zero_point.iter().any(|&z| z != 0) && !fc_zero_point {
        return Err(unsupported!(
            "weights `{}` with non-zero zero points",
            w.name
        ));
    }
    if wq.scale.len() != 1 && (wq.scale.len() != channels || wq.axis != axis) {
        return Err(invalid!(
            "weights `{}` have {} scales on axis {}, expected 1 or {channels} on axis {axis}",
            w.name,
            wq.scale.len(),
            wq.axis
        ));
    }
    if x.dtype != DType::I8 || y.dtype != DType::I8 || w.dtype != DType::I8 {
        return Err(unsupported!(
            "quantized conv {} x {} -> {}",
            x.dtype,
            w.dtype,
            y.dtype
        ));
    }
    let (act_min, act_max) = kq::activation_range_i8(kernel_activation(act)?, so, zo);
    Ok(QuantConv {
        input_offset: -zi,
        output_offset: zo,
        multipliers: kq::conv_output_multipliers(si, &wq.scale, so),
        act_min,
        act_max,
    })
}

/// The optional constant bias of `node` at input `idx`: `n` values of `dtype` (i32 for the
/// quantized kernels, f32 for the float ones), referenced in place.
fn bias<'a, T: bytemuck::Pod>(
    graph: &'a Graph,
    sg: &Subgraph,
    node: &Node,
    idx: usize,
    n: usize,
    dtype: DType,
) -> Result<Option<&'a [T]>> {
    let Some(t) = node.inputs.get(idx).copied().flatten() else {
        return Ok(None);
    };
    let b = sg
        .tensors
        .get(t)
        .ok_or_else(|| invalid!("bias out of range"))?;
    if b.dtype != dtype || b.shape.num_elements()? != n {
        return Err(invalid!(
            "bias `{}` must be {n} {dtype} values, is {} {}",
            b.name,
            b.dtype,
            b.shape
        ));
    }
    let bytes =
        const_bytes(graph, b).ok_or_else(|| unsupported!("non-constant bias `{}`", b.name))?;
    let values =
        bytemuck::try_cast_slice(bytes).map_err(|e| invalid!("constant `{}`: {e:?}", b.name))?;
    Ok(Some(values))
}

pub(super) fn prepare_conv(
    graph: &Graph,
    sg: &Subgraph,
    node: &Node,
    a: &Conv2dAttrs,
) -> Result<(Prepared, usize)> {
    let x = info(sg, node, 0)?;
    let w = info(sg, node, 1)?;
    let y = out_info(sg, node, 0)?;
    let (xd, wd, yd) = (dims4(x)?, dims4(w)?, dims4(y)?);
    if wd[0] != yd[3] || wd[3] == 0 || xd[3] % wd[3] != 0 {
        return Err(invalid!(
            "filter {} does not fit input {} and output {}",
            w.shape,
            x.shape,
            y.shape
        ));
    }
    let groups = xd[3] / wd[3];
    if groups != a.groups.max(1) && a.groups != 1 {
        return Err(invalid!(
            "filter gives {groups} groups, attribute says {}",
            a.groups
        ));
    }
    if groups == 0 || yd[3] % groups != 0 {
        return Err(invalid!(
            "output channels {} not divisible by {groups} groups",
            yd[3]
        ));
    }
    let geo = geometry(
        xd,
        yd,
        (wd[1], wd[2]),
        (a.stride_h, a.stride_w),
        (a.dilation_h, a.dilation_w),
        a.padding,
        groups,
    )?;
    match x.dtype {
        DType::F32 => {
            let wf = const_f32(graph, w)?
                .ok_or_else(|| unsupported!("non-constant conv filter `{}`", w.name))?;
            let bias = bias::<f32>(graph, sg, node, 2, yd[3], DType::F32)?;
            let packed = kconv::pack_conv_filter(&geo, wf, bias)?;
            let scratch = kconv::conv2d_scratch_len(&geo)
                .checked_mul(4)
                .ok_or_else(|| invalid!("scratch overflows"))?;
            Ok((
                Prepared::Nn(alloc::boxed::Box::new(NnPrepared::ConvF32 {
                    geo,
                    packed,
                    act: kernel_activation(a.activation)?,
                })),
                scratch,
            ))
        }
        DType::I8 => {
            let q = quant_conv(x, w, y, a.activation, yd[3], 0, false)?;
            let wb = const_bytes(graph, w)
                .ok_or_else(|| unsupported!("non-constant conv filter `{}`", w.name))?;
            let bias = bias::<i32>(graph, sg, node, 2, yd[3], DType::I32)?;
            let weights = PackedI8Weights::grouped(
                bytemuck::cast_slice(wb),
                yd[3],
                wd[1] * wd[2] * wd[3],
                groups,
                bias,
            )?;
            let scratch = qconv::conv2d_i8_scratch_len(&geo)
                .checked_mul(2)
                .ok_or_else(|| invalid!("scratch overflows"))?;
            Ok((
                Prepared::Nn(alloc::boxed::Box::new(NnPrepared::ConvI8 {
                    geo,
                    weights,
                    q,
                })),
                scratch,
            ))
        }
        d => Err(unsupported!("convolution on {d}")),
    }
}

pub(super) fn prepare_depthwise(
    graph: &Graph,
    sg: &Subgraph,
    node: &Node,
    a: &DepthwiseAttrs,
) -> Result<(Prepared, usize)> {
    let x = info(sg, node, 0)?;
    let w = info(sg, node, 1)?;
    let y = out_info(sg, node, 0)?;
    let (xd, wd, yd) = (dims4(x)?, dims4(w)?, dims4(y)?);
    if wd[0] != 1 || wd[3] != yd[3] || xd[3] == 0 || yd[3] % xd[3] != 0 {
        return Err(invalid!(
            "depthwise filter {} does not fit input {} and output {}",
            w.shape,
            x.shape,
            y.shape
        ));
    }
    let geo = geometry(
        xd,
        yd,
        (wd[1], wd[2]),
        (a.stride_h, a.stride_w),
        (a.dilation_h, a.dilation_w),
        a.padding,
        1,
    )?;
    if const_bytes(graph, w).is_none() {
        return Err(unsupported!("non-constant depthwise filter `{}`", w.name));
    }
    match x.dtype {
        DType::F32 => {
            bias::<f32>(graph, sg, node, 2, yd[3], DType::F32)?;
            Ok((
                Prepared::Nn(alloc::boxed::Box::new(NnPrepared::DepthwiseF32 {
                    geo,
                    act: kernel_activation(a.activation)?,
                })),
                0,
            ))
        }
        DType::I8 => {
            bias::<i32>(graph, sg, node, 2, yd[3], DType::I32)?;
            let q = quant_conv(x, w, y, a.activation, yd[3], 3, false)?;
            Ok((
                Prepared::Nn(alloc::boxed::Box::new(NnPrepared::DepthwiseI8 { geo, q })),
                0,
            ))
        }
        d => Err(unsupported!("depthwise convolution on {d}")),
    }
}

pub(super) fn prepare_fc(
    graph: &Graph,
    sg: &Subgraph,
    node: &Node,
    act: Activation,
) -> Result<(Prepared, usize)> {
    let x = info(sg, node, 0)?;
    let w = info(sg, node, 1)?;
    let y = out_info(sg, node, 0)?;
    let wd = w.shape.dims();
    if wd.len() != 2 || wd[1] == 0 {
        return Err(invalid!(
            "fully-connected weights must be [n, k], are {}",
            w.shape
        ));
    }
    let (n, k) = (wd[0], wd[1]);
    let total = x.shape.num_elements()?;
    if total % k != 0 {
        return Err(invalid!("input {} is not a multiple of k = {k}", x.shape));
    }
    let rows = total / k;
    if y.shape.num_elements()?
        != rows
            .checked_mul(n)
            .ok_or_else(|| invalid!("output size overflows"))?
    {
        return Err(invalid!("output {} should hold {rows} x {n}", y.shape));
    }
    match x.dtype {
        DType::F32 => {
            let bias = bias::<f32>(graph, sg, node, 2, n, DType::F32)?;
            match const_f32(graph, w)? {
                Some(wf) => {
                    let packed = PackedB::from_nk(wf, n, k, bias)?;
                    let scratch = kconv::fully_connected_scratch_len(rows, k)
                        .checked_mul(4)
                        .ok_or_else(|| invalid!("scratch overflows"))?;
                    Ok((
                        Prepared::Nn(alloc::boxed::Box::new(NnPrepared::FcF32 {
                            rows,
                            packed,
                            act: kernel_activation(act)?,
                        })),
                        scratch,
                    ))
                }
                None => Ok((
                    Prepared::Nn(alloc::boxed::Box::new(NnPrepared::FcF32Dynamic {
                        rows,
                        n,
                        k,
                        act,
                    })),
                    0,
                )),
            }
        }
        DType::I8 => {
            let q = quant_conv(x, w, y, act, n, 0, true)?;
            let wb = const_bytes(graph, w)
                .ok_or_else(|| unsupported!("non-constant int8 weights `{}`", w.name))?;
            let bias = bias::<i32>(graph, sg, node, 2, n, DType::I32)?;
            // Checked by `quant_conv`: one zero point when it is not zero.
            let zero_point = w
                .quant
                .as_ref()
                .and_then(|q| q.zero_point.first())
                .map_or(0, |&z| z);
            let zero_point = i32::try_from(zero_point)
                .map_err(|_| invalid!("weights `{}` zero point {zero_point}", w.name))?;
            let weights =
                PackedI8Weights::with_zero_point(bytemuck::cast_slice(wb), n, k, zero_point, bias)?;
            let scratch = qconv::fully_connected_i8_scratch_len(k)
                .checked_mul(2)
                .ok_or_else(|| invalid!("scratch overflows"))?;
            Ok((
                Prepared::Nn(alloc::boxed::Box::new(NnPrepared::FcI8 {
                    rows,
                    weights,
                    q,
                })),
                scratch,
            ))
        }
        d => Err(unsupported!("fully connected on {d}")),
    }
}

pub(super) fn prepare_pool(
    sg: &Subgraph,
    node: &Node,
    a: &Pool2dAttrs,
) -> Result<(Prepared, usize)> {
    let x = info(sg, node, 0)?;
    let y = out_info(sg, node, 0)?;
    let (xd, yd) = (dims4(x)?, dims4(y)?);
    if xd[3] != yd[3] {
        return Err(invalid!("pooling changes channels {} -> {}", xd[3], yd[3]));
    }
    let geo = geometry(
        xd,
        yd,
        (a.filter_h, a.filter_w),
        (a.stride_h, a.stride_w),
        (1, 1),
        a.padding,
        1,
    )?;
    let kind = match a.kind {
        PoolKind::Max => KPoolKind::Max,
        PoolKind::Average => KPoolKind::Average,
    };
    match x.dtype {
        DType::F32 => Ok((
            Prepared::Nn(alloc::boxed::Box::new(NnPrepared::PoolF32 {
                geo,
                kind,
                act: kernel_activation(a.activation)?,
            })),
            0,
        )),
        DType::I8 => {
            super::util::same_quant(x, y)?;
            let (so, zo) = per_tensor(y)?;
            let (act_min, act_max) =
                kq::activation_range_i8(kernel_activation(a.activation)?, so, zo);
            Ok((
                Prepared::Nn(alloc::boxed::Box::new(NnPrepared::PoolI8 {
                    geo,
                    kind,
                    act_min,
                    act_max,
                })),
                0,
            ))
        }
        d => Err(unsupported!("pooling on {d}")),
    }
}

/// f32 mean over the middle dim of `[outer, reduced, inner]`.
pub(crate) fn mean_f32(
    outer: usize,
    reduced: usize,
    inner: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<()> {
    kpool::mean_hw_f32(x, (outer, 1, reduced, inner), y)?;
    Ok(())
}

fn scratch_as<T: bytemuck::Pod>(s: &mut [u8]) -> Result<&mut [T]> {
    let n = s.len() / core::mem::size_of::<T>() * core::mem::size_of::<T>();
    bytemuck::try_cast_slice_mut(&mut s[..n]).map_err(|e| invalid!("scratch: {e:?}"))
}

pub(super) fn run(ctx: &Ctx<'_>, p: &NnPrepared) -> Result<()> {
    let isa = Isa::detect();
    match p {
        NnPrepared::ConvF32 { geo, packed, act } => {
            let x = ctx.input_as::<f32>(0)?;
            let y = ctx.output_as::<f32>(0)?;
            kconv::conv2d_f32(isa, geo, x, packed, *act, y, scratch_as(ctx.scratch()?)?)?;
            act.apply_post(y);
        }
        NnPrepared::ConvI8 { geo, weights, q } => {
            let x = ctx.input_as::<i8>(0)?;
            let y = ctx.output_as::<i8>(0)?;
            qconv::conv2d_i8(
                isa,
                geo,
                x,
                weights,
                &q.params(),
                y,
                scratch_as(ctx.scratch()?)?,
            )?;
        }
        NnPrepared::DepthwiseF32 { geo, act } => {
            let x = ctx.input_as::<f32>(0)?;
            let w = ctx.input_as::<f32>(1)?;
            let b = if ctx.has_input(2) {
                Some(ctx.input_as::<f32>(2)?)
            } else {
                None
            };
            let y = ctx.output_as::<f32>(0)?;
            kconv::depthwise_conv2d_f32(isa, geo, x, w, b, *act, y)?;
            act.apply_post(y);
        }
        NnPrepared::DepthwiseI8 { geo, q } => {
            let x = ctx.input_as::<i8>(0)?;
            let w = ctx.input_as::<i8>(1)?;
            let b = if ctx.has_input(2) {
                Some(ctx.input_as::<i32>(2)?)
            } else {
                None
            };
            let y = ctx.output_as::<i8>(0)?;
            qconv::depthwise_conv2d_i8(isa, geo, x, w, b, &q.params(), y)?;
        }
        NnPrepared::FcF32 { rows, packed, act } => {
            let x = ctx.input_as::<f32>(0)?;
            let y = ctx.output_as::<f32>(0)?;
            kconv::fully_connected_f32(
                isa,
                x,
                *rows,
                packed,
                *act,
                y,
                scratch_as(ctx.scratch()?)?,
            )?;
            act.apply_post(y);
        }
        NnPrepared::FcF32Dynamic { rows, n, k, act } => {
            let x = ctx.input_as::<f32>(0)?;
            let w = ctx.input_as::<f32>(1)?;
            let b = if ctx.has_input(2) {
                Some(ctx.input_as::<f32>(2)?)
            } else {
                None
            };
            let y = ctx.output_as::<f32>(0)?;
            if x.len() < rows * k || w.len() < n * k || y.len() < rows * n {
                return Err(invalid!("fully-connected buffers too short"));
            }
            for r in 0..*rows {
                for j in 0..*n {
                    let mut acc = b.map_or(0.0, |b| b[j]);
                    for kk in 0..*k {
                        acc += x[r * k + kk] * w[j * k + kk];
                    }
                    y[r * n + j] = super::util::apply_activation_f32(*act, acc);
                }
            }
        }
        NnPrepared::FcI8 { rows, weights, q } => {
            let x = ctx.input_as::<i8>(0)?;
            let y = ctx.output_as::<i8>(0)?;
            qconv::fully_connected_i8(
                isa,
                *rows,
                x,
                weights,
                &q.params(),
                y,
                scratch_as(ctx.scratch()?)?,
            )?;
        }
        NnPrepared::PoolF32 { geo, kind, act } => {
            let x = ctx.input_as::<f32>(0)?;
            let y = ctx.output_as::<f32>(0)?;
            kpool::pool2d_f32(*kind, geo, x, *act, y)?;
            act.apply_post(y);
        }
        NnPrepared::PoolI8 {
            geo,
            kind,
            act_min,
            act_max,
        } => {
            let x = ctx.input_as::<i8>(0)?;
            let y = ctx.output_as::<i8>(0)?;
            kq::ops::pool2d_i8(*kind, geo, x, *act_min, *act_max, y)?;
        }
    }
    Ok(())
}

//! The flat entry points the executor's ops call (the signatures agreed in
//! `/work/logs/ir-ready.md`): the instruction set is detected at run time, scratch comes as
//! 64-byte aligned bytes, and every function returns [`KernelResult`] instead of panicking.

use super::conv::{self, ConvGeometry, PackedConvF32};
use super::gemm::{self, PackedB};
use super::pool::{self, PoolKind};
use super::quant::conv::{self as qconv, PackedI8Weights, QuantConvParams};
use super::quant::ops::{self as qops, MeanQuantParams};
use super::{Activation, Isa, KernelError, KernelResult};

/// A fused activation as a clamp range (`[f32::MIN, f32::MAX]` for none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClampF32 {
    /// Lower bound.
    pub min: f32,
    /// Upper bound.
    pub max: f32,
}

impl ClampF32 {
    /// No activation (TFLite still clamps to the finite f32 range).
    pub const NONE: ClampF32 = ClampF32 {
        min: f32::MIN,
        max: f32::MAX,
    };

    /// The clamp of a clamping activation (`Tanh`/`Sigmoid` give [`ClampF32::NONE`]).
    pub fn from_activation(act: Activation) -> Self {
        let (min, max) = act.range();
        ClampF32 { min, max }
    }

    fn act(self) -> Activation {
        Activation::Clamp {
            min: self.min,
            max: self.max,
        }
    }
}

/// An int8 conv filter packed at load.
pub type PackedConvI8 = PackedI8Weights;
/// f32 fully-connected weights packed at load.
pub type PackedFcF32 = PackedB;
/// int8 fully-connected weights packed at load.
pub type PackedFcI8 = PackedI8Weights;

fn scratch_as<T: bytemuck::Pod>(scratch: &mut [u8]) -> KernelResult<&mut [T]> {
    let size = core::mem::size_of::<T>();
    let len = scratch.len() / size * size;
    bytemuck::try_cast_slice_mut(&mut scratch[..len])
        .map_err(|_| KernelError::InvalidParam("scratch is not aligned"))
}

/// Packs an OHWI f32 conv filter (`[out_c, kernel_h, kernel_w, in_c/groups]`) and bias.
pub fn pack_conv2d_f32(
    g: &ConvGeometry,
    filter_ohwi: &[f32],
    bias: Option<&[f32]>,
) -> KernelResult<PackedConvF32> {
    conv::pack_conv_filter(g, filter_ohwi, bias)
}

/// Scratch bytes [`conv2d_f32`] needs.
pub fn conv2d_f32_scratch_bytes(g: &ConvGeometry) -> usize {
    conv::conv2d_scratch_len(g) * 4
}

/// f32 conv2d, NHWC.
pub fn conv2d_f32(
    g: &ConvGeometry,
    w: &PackedConvF32,
    clamp: ClampF32,
    input: &[f32],
    output: &mut [f32],
    scratch: &mut [u8],
) -> KernelResult {
    let scratch = scratch_as::<f32>(scratch)?;
    conv::conv2d_f32(Isa::detect(), g, input, w, clamp.act(), output, scratch)
}

/// Packs an OHWI int8 conv filter and its int32 bias.
pub fn pack_conv2d_i8(
    g: &ConvGeometry,
    filter_ohwi: &[i8],
    bias: Option<&[i32]>,
) -> KernelResult<PackedConvI8> {
    g.validate()?;
    PackedI8Weights::new(filter_ohwi, g.out_c, g.patch_depth(), bias)
}

/// Scratch bytes [`conv2d_i8`] needs.
pub fn conv2d_i8_scratch_bytes(g: &ConvGeometry) -> usize {
    qconv::conv2d_i8_scratch_len(g) * 2
}

/// int8 conv2d with TFLite's reference arithmetic, NHWC.
pub fn conv2d_i8(
    g: &ConvGeometry,
    w: &PackedConvI8,
    q: &QuantConvParams<'_>,
    input: &[i8],
    output: &mut [i8],
    scratch: &mut [u8],
) -> KernelResult {
    let scratch = scratch_as::<i16>(scratch)?;
    qconv::conv2d_i8(Isa::detect(), g, input, w, q, output, scratch)
}

/// f32 depthwise conv2d (filter `[1, kernel_h, kernel_w, out_c]`).
pub fn depthwise_conv2d_f32(
    g: &ConvGeometry,
    filter: &[f32],
    bias: Option<&[f32]>,
    clamp: ClampF32,
    input: &[f32],
    output: &mut [f32],
) -> KernelResult {
    conv::depthwise_conv2d_f32(Isa::detect(), g, input, filter, bias, clamp.act(), output)
}

/// int8 depthwise conv2d with TFLite's reference arithmetic.
pub fn depthwise_conv2d_i8(
    g: &ConvGeometry,
    filter: &[i8],
    bias: Option<&[i32]>,
    q: &QuantConvParams<'_>,
    input: &[i8],
    output: &mut [i8],
) -> KernelResult {
    qconv::depthwise_conv2d_i8(Isa::detect(), g, input, filter, bias, q, output)
}

/// Packs f32 fully-connected weights `[n, k]` and bias.
pub fn pack_fully_connected_f32(
    n: usize,
    k: usize,
    weights_nk: &[f32],
    bias: Option<&[f32]>,
) -> KernelResult<PackedFcF32> {
    PackedB::from_nk(weights_nk, n, k, bias)
}

/// Scratch bytes [`fully_connected_f32`] needs.
pub fn fully_connected_f32_scratch_bytes(rows: usize, _n: usize, k: usize) -> usize {
    conv::fully_connected_scratch_len(rows, k) * 4
}

/// f32 fully connected: input `[rows, k]`, output `[rows, n]`.
pub fn fully_connected_f32(
    rows: usize,
    w: &PackedFcF32,
    clamp: ClampF32,
    input: &[f32],
    output: &mut [f32],
    scratch: &mut [u8],
) -> KernelResult {
    let scratch = scratch_as::<f32>(scratch)?;
    conv::fully_connected_f32(Isa::detect(), input, rows, w, clamp.act(), output, scratch)
}

/// Packs int8 fully-connected weights `[n, k]` and int32 bias.
pub fn pack_fully_connected_i8(
    n: usize,
    k: usize,
    weights_nk: &[i8],
    bias: Option<&[i32]>,
) -> KernelResult<PackedFcI8> {
    PackedI8Weights::new(weights_nk, n, k, bias)
}

/// Scratch bytes [`fully_connected_i8`] needs.
pub fn fully_connected_i8_scratch_bytes(_rows: usize, _n: usize, k: usize) -> usize {
    qconv::fully_connected_i8_scratch_len(k) * 2
}

/// int8 fully connected with TFLite's reference arithmetic (filter zero point 0).
pub fn fully_connected_i8(
    rows: usize,
    w: &PackedFcI8,
    q: &QuantConvParams<'_>,
    input: &[i8],
    output: &mut [i8],
    scratch: &mut [u8],
) -> KernelResult {
    let scratch = scratch_as::<i16>(scratch)?;
    qconv::fully_connected_i8(Isa::detect(), rows, input, w, q, output, scratch)
}

/// Scratch bytes [`gemm_f32`] needs.
pub fn gemm_f32_scratch_bytes(m: usize, n: usize, k: usize) -> usize {
    gemm::gemm_unpacked_scratch_len(m, k, n) * 4
}

/// `C[m,n] = A[m,k]·B[k,n]`, row-major with leading dimensions in elements.
#[allow(clippy::too_many_arguments)]
pub fn gemm_f32(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [u8],
) -> KernelResult {
    let scratch = scratch_as::<f32>(scratch)?;
    gemm::gemm_unpacked(
        Isa::detect(),
        (m, k, n),
        a,
        lda,
        b,
        ldb,
        Activation::None,
        c,
        ldc,
        scratch,
    )
}

/// f32 max pooling.
pub fn max_pool2d_f32(
    g: &ConvGeometry,
    clamp: ClampF32,
    input: &[f32],
    output: &mut [f32],
) -> KernelResult {
    pool::pool2d_f32(PoolKind::Max, g, input, clamp.act(), output)
}

/// f32 average pooling (counts only taps inside the input).
pub fn avg_pool2d_f32(
    g: &ConvGeometry,
    clamp: ClampF32,
    input: &[f32],
    output: &mut [f32],
) -> KernelResult {
    pool::pool2d_f32(PoolKind::Average, g, input, clamp.act(), output)
}

/// int8 max pooling.
pub fn max_pool2d_i8(
    g: &ConvGeometry,
    act_min: i32,
    act_max: i32,
    input: &[i8],
    output: &mut [i8],
) -> KernelResult {
    qops::pool2d_i8(PoolKind::Max, g, input, act_min, act_max, output)
}

/// int8 average pooling (TFLite rounding).
pub fn avg_pool2d_i8(
    g: &ConvGeometry,
    act_min: i32,
    act_max: i32,
    input: &[i8],
    output: &mut [i8],
) -> KernelResult {
    qops::pool2d_i8(PoolKind::Average, g, input, act_min, act_max, output)
}

/// f32 mean over the middle axis of `[outer, reduced, inner]`.
pub fn mean_f32(
    outer: usize,
    reduced: usize,
    inner: usize,
    input: &[f32],
    output: &mut [f32],
) -> KernelResult {
    pool::mean_hw_f32(input, (outer, reduced, 1, inner), output)
}

/// int8 mean over the middle axis of `[outer, reduced, inner]` (= BUILTIN_REF MEAN).
pub fn mean_i8(
    outer: usize,
    reduced: usize,
    inner: usize,
    q: &MeanQuantParams,
    input: &[i8],
    output: &mut [i8],
) -> KernelResult {
    qops::mean_i8((outer, reduced, inner), q, input, output)
}

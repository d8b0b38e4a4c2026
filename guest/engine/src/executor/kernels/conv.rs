//! f32 convolutions and fully-connected layers, and TFLite's padding arithmetic.
//!
//! Layouts are TFLite's: activations NHWC, conv filters OHWI (`[out_c, kernel_h, kernel_w, in_c]`),
//! depthwise filters `[1, kernel_h, kernel_w, out_c]` with `out_c = in_c * depth_multiplier`,
//! fully-connected weights `[out, in]`.

use super::activation::clamp;
use super::gemm::{self, ASource, MatrixA, PackedB, MR};
use super::{mul_all, need, Activation, Isa, KernelError, KernelResult};

/// TFLite padding mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Output size `ceil(in / stride)`, input padded (extra padding at the end).
    Same,
    /// No padding: output size `ceil((in - effective_filter + 1) / stride)`.
    Valid,
}

/// Output size and leading padding along one axis, as TFLite computes them
/// (`ComputeOutSize` and `ComputePaddingWithOffset`).
pub fn out_size_and_padding(
    in_size: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> KernelResult<(usize, usize)> {
    if stride == 0 || dilation == 0 || filter == 0 {
        return Err(KernelError::InvalidParam(
            "zero stride, dilation or filter size",
        ));
    }
    let eff = (filter - 1)
        .checked_mul(dilation)
        .and_then(|v| v.checked_add(1))
        .ok_or(KernelError::InvalidParam("effective filter size overflows"))?;
    let out = match padding {
        Padding::Same => in_size.div_ceil(stride),
        Padding::Valid => {
            if in_size < eff {
                0
            } else {
                (in_size - eff) / stride + 1
            }
        }
    };
    let needed = if out == 0 {
        0
    } else {
        (out - 1)
            .checked_mul(stride)
            .and_then(|v| v.checked_add(eff))
            .ok_or(KernelError::InvalidParam("padding overflows"))?
    };
    let total = needed.saturating_sub(in_size);
    Ok((out, total / 2))
}

/// Geometry of a 2-D convolution or pooling window over an NHWC tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Batch size.
    pub batch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Output channels.
    pub out_c: usize,
    /// Filter (window) height.
    pub kernel_h: usize,
    /// Filter (window) width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
    /// Rows of implicit padding above the input.
    pub pad_top: usize,
    /// Columns of implicit padding left of the input.
    pub pad_left: usize,
    /// Conv2d channel groups (`in_c / filter_in_c`; 1 = ordinary). Depthwise and pooling: 1.
    pub groups: usize,
}

impl ConvGeometry {
    /// Builds the geometry from TFLite's op parameters (output size and padding derived the
    /// way TFLite derives them).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        batch: usize,
        (in_h, in_w, in_c): (usize, usize, usize),
        out_c: usize,
        (kernel_h, kernel_w): (usize, usize),
        (stride_h, stride_w): (usize, usize),
        (dilation_h, dilation_w): (usize, usize),
        padding: Padding,
    ) -> KernelResult<Self> {
        let (out_h, pad_top) = out_size_and_padding(in_h, kernel_h, stride_h, dilation_h, padding)?;
        let (out_w, pad_left) =
            out_size_and_padding(in_w, kernel_w, stride_w, dilation_w, padding)?;
        let g = ConvGeometry {
            batch,
            in_h,
            in_w,
            in_c,
            out_h,
            out_w,
            out_c,
            kernel_h,
            kernel_w,
            stride_h,
            stride_w,
            dilation_h,
            dilation_w,
            pad_top,
            pad_left,
            groups: 1,
        };
        g.validate()?;
        Ok(g)
    }

    /// Checks strides and that every derived size fits in `usize` (and in `i32` for the
    /// signed coordinate arithmetic of the kernels).
    pub fn validate(&self) -> KernelResult {
        if self.stride_h == 0 || self.stride_w == 0 || self.dilation_h == 0 || self.dilation_w == 0
        {
            return Err(KernelError::InvalidParam("zero stride or dilation"));
        }
        if self.kernel_h == 0 || self.kernel_w == 0 {
            return Err(KernelError::InvalidParam("zero filter size"));
        }
        if self.groups == 0
            || !self.in_c.is_multiple_of(self.groups)
            || !self.out_c.is_multiple_of(self.groups)
        {
            return Err(KernelError::InvalidParam(
                "groups must divide in_c and out_c",
            ));
        }
        let big = [
            self.input_len()?,
            self.output_len()?,
            mul_all(&[self.out_c, self.kernel_h, self.kernel_w, self.in_c])?,
            mul_all(&[self.out_h, self.stride_h])?
                .saturating_add(mul_all(&[self.kernel_h, self.dilation_h])?)
                .saturating_add(self.pad_top),
            mul_all(&[self.out_w, self.stride_w])?
                .saturating_add(mul_all(&[self.kernel_w, self.dilation_w])?)
                .saturating_add(self.pad_left),
        ];
        if big.iter().any(|&v| v > i32::MAX as usize) {
            return Err(KernelError::InvalidParam("convolution sizes exceed i32"));
        }
        Ok(())
    }

    /// Elements of the input tensor.
    pub fn input_len(&self) -> KernelResult<usize> {
        mul_all(&[self.batch, self.in_h, self.in_w, self.in_c])
    }

    /// Elements of the output tensor.
    pub fn output_len(&self) -> KernelResult<usize> {
        mul_all(&[self.batch, self.out_h, self.out_w, self.out_c])
    }

    /// Output pixels (`batch * out_h * out_w`): the GEMM's M.
    pub fn out_pixels(&self) -> usize {
        self.batch * self.out_h * self.out_w
    }

    /// Patch depth `kernel_h * kernel_w * in_c / groups`: the GEMM's K (per group).
    pub fn patch_depth(&self) -> usize {
        self.kernel_h * self.kernel_w * (self.in_c / self.groups.max(1))
    }

    /// A 1x1, stride-1, unpadded convolution reads the input as a matrix (no im2col).
    pub fn is_pointwise(&self) -> bool {
        self.kernel_h == 1
            && self.kernel_w == 1
            && self.stride_h == 1
            && self.stride_w == 1
            && self.pad_top == 0
            && self.pad_left == 0
            && self.out_h == self.in_h
            && self.out_w == self.in_w
            && self.groups == 1
    }

    /// Input row for output row `oy` and filter row `ky`, if inside the input.
    #[inline]
    pub fn in_y(&self, oy: usize, ky: usize) -> Option<usize> {
        let y = (oy * self.stride_h + ky * self.dilation_h) as isize - self.pad_top as isize;
        (y >= 0 && (y as usize) < self.in_h).then_some(y as usize)
    }

    /// Input column for output column `ox` and filter column `kx`, if inside the input.
    #[inline]
    pub fn in_x(&self, ox: usize, kx: usize) -> Option<usize> {
        let x = (ox * self.stride_w + kx * self.dilation_w) as isize - self.pad_left as isize;
        (x >= 0 && (x as usize) < self.in_w).then_some(x as usize)
    }
}

/// The im2col view of a convolution input: row = output pixel, column = `(ky, kx, ci)` in
/// OHWI order; out-of-bounds taps read `pad_value`. Rows are built directly into the GEMM's
/// packed A panels, so no im2col matrix is ever materialized.
pub(crate) struct Im2col<'a, T> {
    pub geo: &'a ConvGeometry,
    pub input: &'a [T],
    pub pad_value: T,
    /// First input channel of the group.
    pub c0: usize,
    /// Input channels per group.
    pub cg: usize,
}

impl<T: Copy> Im2col<'_, T> {
    /// Splits an output row index into `(batch, oy, ox)`.
    #[inline]
    pub fn split_row(&self, row: usize) -> (usize, usize, usize) {
        let g = self.geo;
        let per_img = g.out_h * g.out_w;
        (row / per_img, (row % per_img) / g.out_w, row % g.out_w)
    }

    /// The row after `(b, oy, ox)`.
    #[inline]
    pub fn next_row(&self, (b, oy, ox): (usize, usize, usize)) -> (usize, usize, usize) {
        if ox + 1 < self.geo.out_w {
            (b, oy, ox + 1)
        } else if oy + 1 < self.geo.out_h {
            (b, oy + 1, 0)
        } else {
            (b + 1, 0, 0)
        }
    }

    /// Calls `f(p, run)` for the (already split) row's columns `k0 .. k0 + kc`, one
    /// contiguous run of input channels at a time (`Err(n)` for `n` columns of padding).
    #[inline]
    pub fn for_runs_at(
        &self,
        (b, oy, ox): (usize, usize, usize),
        k0: usize,
        kc: usize,
        mut f: impl FnMut(usize, Result<&[T], usize>),
    ) {
        let g = self.geo;
        let cg = self.cg;
        let (mut ky, mut kx, mut ci) = if k0 == 0 {
            (0, 0, 0)
        } else {
            (k0 / (cg * g.kernel_w), (k0 / cg) % g.kernel_w, k0 % cg)
        };
        let mut p = 0;
        let img = b * g.in_h;
        while p < kc {
            let iy = g.in_y(oy, ky);
            if ci == 0 && iy.is_none() && kx == 0 && kc - p >= cg * g.kernel_w {
                // A whole filter row above or below the input.
                f(p, Err(cg * g.kernel_w));
                p += cg * g.kernel_w;
                ky += 1;
                continue;
            }
            let run = (cg - ci).min(kc - p);
            match (iy, g.in_x(ox, kx)) {
                (Some(iy), Some(ix)) => {
                    let s = ((img + iy) * g.in_w + ix) * g.in_c + self.c0 + ci;
                    f(p, Ok(&self.input[s..s + run]));
                }
                _ => f(p, Err(run)),
            }
            p += run;
            ci += run;
            if ci == cg {
                ci = 0;
                kx += 1;
                if kx == g.kernel_w {
                    kx = 0;
                    ky += 1;
                }
            }
        }
    }
}

impl Im2col<'_, f32> {
    /// Packs `MR` output pixels of one output row (`ox .. ox + MR`): for each patch column,
    /// the `MR` input values are `stride_w * in_c` apart.
    fn pack_panel_same_row(
        &self,
        (b, oy, ox): (usize, usize, usize),
        k0: usize,
        kc: usize,
        dst: &mut [f32],
    ) {
        let g = self.geo;
        let cg = self.cg;
        let (mut ky, mut kx, mut ci) = (k0 / (cg * g.kernel_w), (k0 / cg) % g.kernel_w, k0 % cg);
        let step = g.stride_w * g.in_c;
        let img = b * g.in_h;
        for d in dst[..kc * MR].chunks_exact_mut(MR) {
            let d: &mut [f32; MR] = d.try_into().unwrap_or_else(|_| unreachable!());
            let ix0 = (ox * g.stride_w + kx * g.dilation_w) as isize - g.pad_left as isize;
            let ix_last = ix0 + ((MR - 1) * g.stride_w) as isize;
            match g.in_y(oy, ky) {
                Some(iy) if ix0 >= 0 && (ix_last as usize) < g.in_w => {
                    let base = ((img + iy) * g.in_w + ix0 as usize) * g.in_c + self.c0 + ci;
                    let src = &self.input[base..base + (MR - 1) * step + 1];
                    for (i, v) in d.iter_mut().enumerate() {
                        *v = src[i * step];
                    }
                }
                Some(iy) => {
                    for (i, v) in d.iter_mut().enumerate() {
                        let ix = ix0 + (i * g.stride_w) as isize;
                        *v = if ix >= 0 && (ix as usize) < g.in_w {
                            self.input[((img + iy) * g.in_w + ix as usize) * g.in_c + self.c0 + ci]
                        } else {
                            0.0
                        };
                    }
                }
                None => *d = [0.0; MR],
            }
            ci += 1;
            if ci == cg {
                ci = 0;
                kx += 1;
                if kx == g.kernel_w {
                    kx = 0;
                    ky += 1;
                }
            }
        }
    }
}

impl ASource for Im2col<'_, f32> {
    fn rows(&self) -> usize {
        self.geo.out_pixels()
    }

    fn depth(&self) -> usize {
        self.geo.patch_depth()
    }

    fn pack_panel(&self, row0: usize, rows: usize, k0: usize, kc: usize, dst: &mut [f32]) {
        let dst = &mut dst[..kc * MR];
        let at = self.split_row(row0);
        if rows == MR && self.cg < 32 && at.2 + MR <= self.geo.out_w {
            self.pack_panel_same_row(at, k0, kc, dst);
            return;
        }
        if rows < MR {
            dst.fill(0.0);
        }
        let mut at = at;
        for i in 0..rows {
            self.for_runs_at(at, k0, kc, |p, run| match run {
                Ok(vals) => {
                    for (q, v) in vals.iter().enumerate() {
                        dst[(p + q) * MR + i] = *v;
                    }
                }
                Err(n) => {
                    for q in 0..n {
                        dst[(p + q) * MR + i] = self.pad_value;
                    }
                }
            });
            at = self.next_row(at);
        }
    }
}

/// A conv filter packed for [`conv2d_f32`]: one [`PackedB`] per channel group.
#[derive(Debug, Clone)]
pub struct PackedConvF32 {
    groups: alloc::vec::Vec<PackedB>,
}

impl PackedConvF32 {
    /// Bytes of memory held.
    pub fn memory_bytes(&self) -> usize {
        self.groups.iter().map(PackedB::memory_bytes).sum()
    }
}

/// Packs a conv filter (OHWI, `out_c × (kernel_h*kernel_w*in_c/groups)`) and its bias.
pub fn pack_conv_filter(
    geo: &ConvGeometry,
    filter: &[f32],
    bias: Option<&[f32]>,
) -> KernelResult<PackedConvF32> {
    geo.validate()?;
    let k = geo.patch_depth();
    let ocg = geo.out_c / geo.groups;
    need("conv filter", mul_all(&[geo.out_c, k])?, filter.len())?;
    if let Some(b) = bias {
        need("conv bias", geo.out_c, b.len())?;
    }
    let groups = (0..geo.groups)
        .map(|g| {
            PackedB::from_nk(
                &filter[g * ocg * k..(g + 1) * ocg * k],
                ocg,
                k,
                bias.map(|b| &b[g * ocg..(g + 1) * ocg]),
            )
        })
        .collect::<KernelResult<_>>()?;
    Ok(PackedConvF32 { groups })
}

/// Scratch floats [`conv2d_f32`] needs.
pub fn conv2d_scratch_len(geo: &ConvGeometry) -> usize {
    gemm::scratch_len(geo.out_pixels(), geo.patch_depth())
}

/// f32 conv2d: NHWC input, filter packed by [`pack_conv_filter`], NHWC output, fused `act`.
pub fn conv2d_f32(
    isa: Isa,
    geo: &ConvGeometry,
    input: &[f32],
    filter: &PackedConvF32,
    act: Activation,
    output: &mut [f32],
    scratch: &mut [f32],
) -> KernelResult {
    geo.validate()?;
    need("conv input", geo.input_len()?, input.len())?;
    need("conv output", geo.output_len()?, output.len())?;
    let ocg = geo.out_c / geo.groups;
    if filter.groups.len() != geo.groups
        || filter
            .groups
            .iter()
            .any(|b| b.n() != ocg || b.k() != geo.patch_depth())
    {
        return Err(KernelError::InvalidParam(
            "conv filter does not match the geometry",
        ));
    }
    if geo.is_pointwise() {
        let a = MatrixA::new(input, geo.out_pixels(), geo.in_c, geo.in_c)?;
        return gemm::gemm_source(isa, &a, &filter.groups[0], act, output, geo.out_c, scratch);
    }
    let cg = geo.in_c / geo.groups;
    for (g, packed) in filter.groups.iter().enumerate() {
        let a = Im2col {
            geo,
            input,
            pad_value: 0.0f32,
            c0: g * cg,
            cg,
        };
        let out = &mut output[g * ocg..];
        gemm::gemm_source(isa, &a, packed, act, out, geo.out_c, scratch)?;
    }
    Ok(())
}

/// Scratch floats [`fully_connected_f32`] needs.
pub fn fully_connected_scratch_len(batch: usize, in_features: usize) -> usize {
    gemm::scratch_len(batch, in_features)
}

/// f32 fully connected: `output[b] = W · input[b] + bias` with `W` (`[out, in]`) packed by
/// [`PackedB::from_nk`].
pub fn fully_connected_f32(
    isa: Isa,
    input: &[f32],
    batch: usize,
    weights: &PackedB,
    act: Activation,
    output: &mut [f32],
    scratch: &mut [f32],
) -> KernelResult {
    let k = weights.k();
    gemm::gemm(
        isa,
        input,
        batch,
        k,
        weights,
        act,
        output,
        weights.n(),
        scratch,
    )
}

/// f32 depthwise conv2d. `filter` is `[1, kernel_h, kernel_w, out_c]` with
/// `out_c = in_c * depth_multiplier` (`geo.out_c`); `bias` has `out_c` entries.
pub fn depthwise_conv2d_f32(
    isa: Isa,
    geo: &ConvGeometry,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    output: &mut [f32],
) -> KernelResult {
    geo.validate()?;
    if geo.in_c == 0 || !geo.out_c.is_multiple_of(geo.in_c) || geo.groups != 1 {
        return Err(KernelError::InvalidParam(
            "depthwise out_c is not a multiple of in_c",
        ));
    }
    need("depthwise input", geo.input_len()?, input.len())?;
    need("depthwise output", geo.output_len()?, output.len())?;
    need(
        "depthwise filter",
        mul_all(&[geo.kernel_h, geo.kernel_w, geo.out_c])?,
        filter.len(),
    )?;
    if let Some(b) = bias {
        need("depthwise bias", geo.out_c, b.len())?;
    }
    match isa.checked() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => {
            // SAFETY: `checked` verified AVX2+FMA support at run time.
            unsafe { depthwise_avx2(geo, input, filter, bias, act, output) }
        }
        _ => depthwise_body(geo, input, filter, bias, act, output),
    }
    if act.needs_post_pass() {
        act.apply_post(&mut output[..geo.output_len()?]);
    }
    Ok(())
}

/// The depthwise body compiled with AVX2+FMA enabled (same source, wider vectors).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn depthwise_avx2(
    geo: &ConvGeometry,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    output: &mut [f32],
) {
    if geo.in_c == geo.out_c {
        // SAFETY: AVX2+FMA verified by the caller; geometry validated and slice lengths
        // checked in `depthwise_conv2d_f32`.
        unsafe { super::dw_avx2::depthwise_mult1(geo, input, filter, bias, act.range(), output) }
    } else {
        depthwise_body(geo, input, filter, bias, act, output)
    }
}

#[inline(always)]
fn depthwise_body(
    geo: &ConvGeometry,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    output: &mut [f32],
) {
    let (lo, hi) = act.range();
    let (cin, cout) = (geo.in_c, geo.out_c);
    let mult = cout / cin;
    for b in 0..geo.batch {
        for oy in 0..geo.out_h {
            for ox in 0..geo.out_w {
                let o = ((b * geo.out_h + oy) * geo.out_w + ox) * cout;
                let out = &mut output[o..o + cout];
                match bias {
                    Some(bias) => out.copy_from_slice(&bias[..cout]),
                    None => out.fill(0.0),
                }
                for ky in 0..geo.kernel_h {
                    let Some(iy) = geo.in_y(oy, ky) else { continue };
                    for kx in 0..geo.kernel_w {
                        let Some(ix) = geo.in_x(ox, kx) else { continue };
                        let s = ((b * geo.in_h + iy) * geo.in_w + ix) * cin;
                        let inp = &input[s..s + cin];
                        let f = (ky * geo.kernel_w + kx) * cout;
                        let w = &filter[f..f + cout];
                        if mult == 1 {
                            for ((o, x), w) in out.iter_mut().zip(inp).zip(w) {
                                *o += x * w;
                            }
                        } else {
                            for (ci, x) in inp.iter().enumerate() {
                                let os = &mut out[ci * mult..(ci + 1) * mult];
                                for (o, w) in os.iter_mut().zip(&w[ci * mult..(ci + 1) * mult]) {
                                    *o += x * w;
                                }
                            }
                        }
                    }
                }
                for v in out.iter_mut() {
                    *v = clamp(*v, lo, hi);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_close, Rng};
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Direct 7-loop convolution in f64 (the reference).
    fn naive_conv(
        g: &ConvGeometry,
        input: &[f32],
        filter: &[f32],
        bias: &[f32],
        act: Activation,
        depthwise: bool,
    ) -> Vec<f32> {
        let mut out = vec![0.0f32; g.output_len().unwrap()];
        let mult = g.out_c / g.in_c.max(1);
        for b in 0..g.batch {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for co in 0..g.out_c {
                        let mut s = bias[co] as f64;
                        for ky in 0..g.kernel_h {
                            for kx in 0..g.kernel_w {
                                let iy = (oy * g.stride_h + ky * g.dilation_h) as isize
                                    - g.pad_top as isize;
                                let ix = (ox * g.stride_w + kx * g.dilation_w) as isize
                                    - g.pad_left as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= g.in_h as isize
                                    || ix >= g.in_w as isize
                                {
                                    continue;
                                }
                                let base =
                                    ((b * g.in_h + iy as usize) * g.in_w + ix as usize) * g.in_c;
                                if depthwise {
                                    let ci = co / mult;
                                    s += input[base + ci] as f64
                                        * filter[(ky * g.kernel_w + kx) * g.out_c + co] as f64;
                                } else {
                                    let cg = g.in_c / g.groups;
                                    let c0 = co / (g.out_c / g.groups) * cg;
                                    for ci in 0..cg {
                                        s += input[base + c0 + ci] as f64
                                            * filter[((co * g.kernel_h + ky) * g.kernel_w + kx)
                                                * cg
                                                + ci]
                                                as f64;
                                    }
                                }
                            }
                        }
                        out[((b * g.out_h + oy) * g.out_w + ox) * g.out_c + co] =
                            act.apply_scalar(s as f32);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn padding_matches_tflite() {
        // 224, k3, s2, SAME: out 112, total padding 1 -> top 0 (extra at the bottom).
        assert_eq!(
            out_size_and_padding(224, 3, 2, 1, Padding::Same).unwrap(),
            (112, 0)
        );
        assert_eq!(
            out_size_and_padding(7, 3, 1, 1, Padding::Same).unwrap(),
            (7, 1)
        );
        assert_eq!(
            out_size_and_padding(7, 3, 1, 2, Padding::Same).unwrap(),
            (7, 2)
        );
        assert_eq!(
            out_size_and_padding(7, 3, 2, 1, Padding::Valid).unwrap(),
            (3, 0)
        );
        assert_eq!(
            out_size_and_padding(2, 3, 1, 1, Padding::Valid).unwrap(),
            (0, 0)
        );
        assert_eq!(
            out_size_and_padding(10, 5, 3, 1, Padding::Same).unwrap(),
            (4, 2)
        );
        assert!(out_size_and_padding(10, 3, 0, 1, Padding::Same).is_err());
    }

    #[test]
    fn conv2d_matches_naive_on_random_geometries() {
        let mut rng = Rng::new(21);
        for case in 0..40 {
            let pad = if case % 2 == 0 {
                Padding::Same
            } else {
                Padding::Valid
            };
            let k = (rng.range(1, 4), rng.range(1, 4));
            let g = ConvGeometry::new(
                rng.range(1, 2),
                (rng.range(3, 12), rng.range(3, 12), rng.range(1, 9)),
                rng.range(1, 20),
                k,
                (rng.range(1, 3), rng.range(1, 3)),
                (rng.range(1, 2), rng.range(1, 2)),
                pad,
            );
            let Ok(mut g) = g else { continue };
            if g.out_pixels() == 0 {
                continue;
            }
            if case % 5 == 4 {
                // Grouped convolution.
                g.in_c *= 2;
                g.out_c *= 2;
                g.groups = 2;
            }
            let input = rng.vec_f32(g.input_len().unwrap());
            let filter = rng.vec_f32(g.out_c * g.patch_depth());
            let bias = rng.vec_f32(g.out_c);
            let act = [Activation::None, Activation::Relu, Activation::Relu6][case % 3];
            let want = naive_conv(&g, &input, &filter, &bias, act, false);
            let packed = pack_conv_filter(&g, &filter, Some(&bias)).unwrap();
            for &isa in Isa::available() {
                let mut out = vec![0.0; g.output_len().unwrap()];
                let mut scratch = vec![0.0; conv2d_scratch_len(&g)];
                conv2d_f32(isa, &g, &input, &packed, act, &mut out, &mut scratch).unwrap();
                assert_close(&out, &want, 1e-5, "conv2d");
            }
        }
    }

    #[test]
    fn pointwise_conv_and_fully_connected() {
        let mut rng = Rng::new(5);
        let g =
            ConvGeometry::new(1, (9, 7, 13), 24, (1, 1), (1, 1), (1, 1), Padding::Same).unwrap();
        assert!(g.is_pointwise());
        let input = rng.vec_f32(g.input_len().unwrap());
        let filter = rng.vec_f32(24 * 13);
        let bias = rng.vec_f32(24);
        let want = naive_conv(&g, &input, &filter, &bias, Activation::Relu6, false);
        let packed = pack_conv_filter(&g, &filter, Some(&bias)).unwrap();
        for &isa in Isa::available() {
            let mut out = vec![0.0; g.output_len().unwrap()];
            let mut scratch = vec![0.0; conv2d_scratch_len(&g)];
            conv2d_f32(
                isa,
                &g,
                &input,
                &packed,
                Activation::Relu6,
                &mut out,
                &mut scratch,
            )
            .unwrap();
            assert_close(&out, &want, 1e-5, "pointwise");
            // The same numbers through fully_connected (batch = pixels).
            let mut out2 = vec![0.0; g.output_len().unwrap()];
            let mut scratch = vec![0.0; fully_connected_scratch_len(63, 13)];
            let fc = PackedB::from_nk(&filter, 24, 13, Some(&bias)).unwrap();
            fully_connected_f32(
                isa,
                &input,
                63,
                &fc,
                Activation::Relu6,
                &mut out2,
                &mut scratch,
            )
            .unwrap();
            assert_close(&out2, &want, 1e-5, "fully connected");
        }
    }

    #[test]
    fn depthwise_matches_naive() {
        let mut rng = Rng::new(9);
        for case in 0..40 {
            let pad = if case % 2 == 0 {
                Padding::Same
            } else {
                Padding::Valid
            };
            let cin = rng.range(1, 20);
            let mult = [1, 1, 2, 3][case % 4];
            let g = ConvGeometry::new(
                rng.range(1, 2),
                (rng.range(3, 12), rng.range(3, 12), cin),
                cin * mult,
                (rng.range(1, 5), rng.range(1, 5)),
                (rng.range(1, 3), rng.range(1, 3)),
                (rng.range(1, 2), rng.range(1, 2)),
                pad,
            );
            let Ok(g) = g else { continue };
            let input = rng.vec_f32(g.input_len().unwrap());
            let filter = rng.vec_f32(g.kernel_h * g.kernel_w * g.out_c);
            let bias = rng.vec_f32(g.out_c);
            let act = [Activation::None, Activation::Relu6, Activation::ReluN1To1][case % 3];
            let want = naive_conv(&g, &input, &filter, &bias, act, true);
            for &isa in Isa::available() {
                let mut out = vec![0.0; g.output_len().unwrap()];
                depthwise_conv2d_f32(isa, &g, &input, &filter, Some(&bias), act, &mut out).unwrap();
                assert_close(&out, &want, 1e-5, "depthwise");
            }
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let g = ConvGeometry::new(1, (4, 4, 2), 3, (3, 3), (1, 1), (1, 1), Padding::Same).unwrap();
        let packed = pack_conv_filter(&g, &[0.0; 54], None).unwrap();
        let mut out = vec![0.0; 48];
        let mut scratch = vec![0.0; conv2d_scratch_len(&g)];
        assert!(conv2d_f32(
            Isa::Portable,
            &g,
            &[0.0; 31],
            &packed,
            Activation::None,
            &mut out,
            &mut scratch
        )
        .is_err());
        assert!(conv2d_f32(
            Isa::Portable,
            &g,
            &[0.0; 32],
            &packed,
            Activation::None,
            &mut out[..47],
            &mut scratch
        )
        .is_err());
        let g2 = ConvGeometry { out_c: 4, ..g };
        assert!(conv2d_f32(
            Isa::Portable,
            &g2,
            &[0.0; 32],
            &packed,
            Activation::None,
            &mut vec![0.0; 64],
            &mut scratch
        )
        .is_err());
        assert!(ConvGeometry::new(
            1,
            (usize::MAX / 2, 4, 4),
            1,
            (1, 1),
            (1, 1),
            (1, 1),
            Padding::Valid
        )
        .is_err());
        let dg = ConvGeometry { out_c: 5, ..g };
        assert!(depthwise_conv2d_f32(
            Isa::Portable,
            &dg,
            &[0.0; 32],
            &[0.0; 45],
            None,
            Activation::None,
            &mut [0.0; 80]
        )
        .is_err());
    }
}

//! int8 conv2d, depthwise conv2d and fully connected with TFLite's reference arithmetic
//! (`reference_integer_ops::ConvPerChannel`, `DepthwiseConvPerChannel`, `FullyConnected`):
//! `acc = Σ w · (x + input_offset) + bias`, then `MultiplyByQuantizedMultiplier` with the
//! channel's multiplier, `+ output_offset`, clamp to `[act_min, act_max]`.
//!
//! Integer sums are exact (wrapping `i32`, like TFLite's), so summation order is free: conv
//! and FC build each output pixel's patch as `x + input_offset` in `i16` (padding taps are
//! `0`, the same as skipping them) and take `i16·i16→i32` dot products with the filter rows
//! (vectorized to `pmaddwd`; the AVX2 build of the same code processes 16 lanes).

use super::super::conv::{ConvGeometry, Im2col};
use super::super::{mul_all, need, Isa, KernelError, KernelResult};
use super::{multiply_by_quantized_multiplier, QuantMultiplier};
use alloc::vec;
use alloc::vec::Vec;

/// Quantization parameters of an int8 conv / depthwise / fully-connected layer.
#[derive(Debug, Clone, Copy)]
pub struct QuantConvParams<'a> {
    /// `-input_zero_point`.
    pub input_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    /// One multiplier per output channel, or one for the whole tensor.
    pub multipliers: &'a [QuantMultiplier],
    /// Lower clamp (fused activation included, within `[-128, 127]`).
    pub act_min: i32,
    /// Upper clamp.
    pub act_max: i32,
}

impl QuantConvParams<'_> {
    fn check(&self, out_c: usize) -> KernelResult {
        if self.multipliers.len() != 1 && self.multipliers.len() != out_c {
            return Err(KernelError::InvalidParam(
                "multipliers must be 1 or out_c long",
            ));
        }
        if self.act_min > self.act_max || self.act_min < -128 || self.act_max > 127 {
            return Err(KernelError::InvalidParam("bad int8 activation range"));
        }
        if !(-255..=255).contains(&self.input_offset) {
            return Err(KernelError::InvalidParam("input offset outside int8 range"));
        }
        Ok(())
    }

    #[inline]
    fn multiplier(&self, c: usize) -> QuantMultiplier {
        if self.multipliers.len() == 1 {
            self.multipliers[0]
        } else {
            self.multipliers[c]
        }
    }

    /// Requantizes one accumulator of output channel `c`.
    #[inline]
    pub fn requantize(&self, acc: i32, c: usize) -> i8 {
        let v = multiply_by_quantized_multiplier(acc, self.multiplier(c)) + self.output_offset;
        v.clamp(self.act_min, self.act_max) as i8
    }
}

/// int8 weights `[n, k]` widened to `i16` once at load (row-major, and on x86_64 also in
/// the AVX2 kernel's K-pair-interleaved 16-column panels), with the int32 bias. The rows may
/// form `groups` groups of `n / groups` consecutive rows (a grouped conv's filter): panels and
/// bias are then padded per group.
#[derive(Debug, Clone)]
pub struct PackedI8Weights {
    n: usize,
    k: usize,
    groups: usize,
    weights: Vec<i16>,
    /// Per group: its `n / groups` biases padded to a multiple of 16.
    bias: Vec<i32>,
    /// `k` rounded up to even.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    kp: usize,
    /// Panels for the AVX2 kernel (empty on other targets).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    panels: Vec<i16>,
}

/// One group of [`PackedI8Weights`]: `n` rows of depth `k`.
struct GroupWeights<'a> {
    n: usize,
    k: usize,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    kp: usize,
    weights: &'a [i16],
    /// `n` rounded up to 16.
    bias: &'a [i32],
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    panels: &'a [i16],
}

impl PackedI8Weights {
    /// Packs `n × k` row-major int8 weights (FC `[out, in]`, conv OHWI) and an optional bias.
    pub fn new(weights: &[i8], n: usize, k: usize, bias: Option<&[i32]>) -> KernelResult<Self> {
        Self::pack(weights, (n, k, 1), 0, bias)
    }

    /// Like [`PackedI8Weights::new`] for weights with a (per-tensor) zero point: the kernels
    /// then use `w - zero_point` (TFLite's `filter_offset`), widened exactly to `i16`.
    pub fn with_zero_point(
        weights: &[i8],
        n: usize,
        k: usize,
        zero_point: i32,
        bias: Option<&[i32]>,
    ) -> KernelResult<Self> {
        if !(-128..=127).contains(&zero_point) {
            return Err(KernelError::InvalidParam(
                "int8 weight zero point out of range",
            ));
        }
        Self::pack(weights, (n, k, 1), zero_point as i16, bias)
    }

    /// Like [`PackedI8Weights::new`] for a grouped conv's filter: rows `g·n/groups ..
    /// (g+1)·n/groups` are group `g`'s output channels.
    pub fn grouped(
        weights: &[i8],
        n: usize,
        k: usize,
        groups: usize,
        bias: Option<&[i32]>,
    ) -> KernelResult<Self> {
        Self::pack(weights, (n, k, groups), 0, bias)
    }

    fn pack(
        weights: &[i8],
        (n, k, groups): (usize, usize, usize),
        zero_point: i16,
        bias: Option<&[i32]>,
    ) -> KernelResult<Self> {
        if groups == 0 || !n.is_multiple_of(groups) {
            return Err(KernelError::InvalidParam("rows not divisible by groups"));
        }
        let len = mul_all(&[n, k])?;
        need("int8 weights", len, weights.len())?;
        if let Some(bias) = bias {
            need("int8 bias", n, bias.len())?;
        }
        let ng = n / groups;
        let ng_pad = ng.div_ceil(16) * 16;
        let mut b = vec![0i32; mul_all(&[groups, ng_pad])?];
        if let Some(bias) = bias {
            for (dst, src) in b.chunks_exact_mut(ng_pad).zip(bias.chunks_exact(ng.max(1))) {
                dst[..ng].copy_from_slice(&src[..ng]);
            }
        }
        let kp = k + (k & 1);
        let mut panels = Vec::new();
        if cfg!(target_arch = "x86_64") {
            panels = vec![0i16; mul_all(&[groups, ng_pad, kp])?];
            let pairs = kp / 2;
            for (g, group) in panels.chunks_exact_mut((ng_pad * kp).max(1)).enumerate() {
                for (jp, panel) in group.chunks_exact_mut((pairs * 32).max(1)).enumerate() {
                    for t in 0..pairs {
                        for c in 0..16 {
                            let col = jp * 16 + c;
                            for h in 0..2 {
                                let kk = 2 * t + h;
                                if col < ng && kk < k {
                                    panel[t * 32 + c * 2 + h] =
                                        weights[(g * ng + col) * k + kk] as i16 - zero_point;
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(PackedI8Weights {
            n,
            k,
            groups,
            weights: weights[..len]
                .iter()
                .map(|&w| w as i16 - zero_point)
                .collect(),
            bias: b,
            kp,
            panels,
        })
    }

    /// Output channels.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Depth.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Group `g` (`g < groups`).
    fn group(&self, g: usize) -> GroupWeights<'_> {
        let ng = self.n / self.groups;
        let ng_pad = ng.div_ceil(16) * 16;
        let per_group = ng_pad * self.kp;
        GroupWeights {
            n: ng,
            k: self.k,
            kp: self.kp,
            weights: &self.weights[g * ng * self.k..(g + 1) * ng * self.k],
            bias: &self.bias[g * ng_pad..(g + 1) * ng_pad],
            panels: self
                .panels
                .get(g * per_group..(g + 1) * per_group)
                .unwrap_or(&[]),
        }
    }
}

/// Rows of patches built per block.
const ROWS: usize = 4;

/// `i16` scratch elements [`conv2d_i8`] needs.
pub fn conv2d_i8_scratch_len(geo: &ConvGeometry) -> usize {
    fully_connected_i8_scratch_len(geo.patch_depth())
}

/// `i16` scratch elements [`fully_connected_i8`] needs.
pub fn fully_connected_i8_scratch_len(k: usize) -> usize {
    2 * 6 * (k + 1)
}

/// int8 conv2d (NHWC input, OHWI filter packed in [`PackedI8Weights`] with `n = out_c`,
/// `k = kernel_h*kernel_w*in_c`).
pub fn conv2d_i8(
    isa: Isa,
    geo: &ConvGeometry,
    input: &[i8],
    weights: &PackedI8Weights,
    q: &QuantConvParams<'_>,
    output: &mut [i8],
    scratch: &mut [i16],
) -> KernelResult {
    geo.validate()?;
    q.check(geo.out_c)?;
    need("conv input", geo.input_len()?, input.len())?;
    need("conv output", geo.output_len()?, output.len())?;
    if weights.n != geo.out_c || weights.k != geo.patch_depth() {
        return Err(KernelError::InvalidParam(
            "int8 conv filter does not match the geometry",
        ));
    }
    let k = weights.k;
    need(
        "int8 conv scratch",
        fully_connected_i8_scratch_len(k),
        scratch.len(),
    )?;
    if weights.groups != geo.groups.max(1) {
        return Err(KernelError::InvalidParam(
            "int8 conv filter groups differ from the geometry's",
        ));
    }
    let groups = weights.groups;
    // Input channels and output channels per group.
    let (cin, ng) = (geo.in_c / groups, geo.out_c / groups);
    let im2col = Im2col {
        geo,
        input,
        pad_value: 0i8,
        c0: 0,
        cg: cin,
    };
    let off = q.input_offset as i16;
    if geo.out_pixels() == 0 {
        return Ok(());
    }
    let matrix = (groups == 1 && geo.is_pointwise()).then_some(&input[..geo.input_len()?]);
    for g in 0..groups {
        let c0 = g * cin;
        // Rows arrive in increasing order: step (b, oy, ox) instead of dividing each time.
        let last = core::cell::Cell::new((usize::MAX - 1, (0, 0, 0)));
        let fill = |row: usize, dst: &mut [i16]| {
            let (prev, at) = last.get();
            let (b, oy, ox) = if prev.wrapping_add(1) == row {
                im2col.next_row(at)
            } else {
                im2col.split_row(row)
            };
            last.set((row, (b, oy, ox)));
            let mut p = 0;
            for ky in 0..geo.kernel_h {
                let iy = geo.in_y(oy, ky);
                for kx in 0..geo.kernel_w {
                    let d = &mut dst[p..p + cin];
                    match (iy, geo.in_x(ox, kx)) {
                        (Some(iy), Some(ix)) => {
                            let s = ((b * geo.in_h + iy) * geo.in_w + ix) * geo.in_c + c0;
                            for (d, v) in d.iter_mut().zip(&input[s..s + cin]) {
                                *d = *v as i16 + off;
                            }
                        }
                        _ => d.fill(0),
                    }
                    p += cin;
                }
            }
        };
        let multipliers = match q.multipliers.len() {
            1 => q.multipliers,
            _ => &q.multipliers[g * ng..(g + 1) * ng],
        };
        let qg = QuantConvParams { multipliers, ..*q };
        matmul_rows(
            isa,
            geo.out_pixels(),
            &weights.group(g),
            &qg,
            fill,
            matrix,
            (&mut output[g * ng..], geo.out_c),
            scratch,
        );
    }
    Ok(())
}

/// int8 fully connected: `input` is `[rows, k]`, output `[rows, n]`.
pub fn fully_connected_i8(
    isa: Isa,
    rows: usize,
    input: &[i8],
    weights: &PackedI8Weights,
    q: &QuantConvParams<'_>,
    output: &mut [i8],
    scratch: &mut [i16],
) -> KernelResult {
    q.check(weights.n)?;
    let k = weights.k;
    need("fc input", mul_all(&[rows, k])?, input.len())?;
    need("fc output", mul_all(&[rows, weights.n])?, output.len())?;
    need(
        "int8 fc scratch",
        fully_connected_i8_scratch_len(k),
        scratch.len(),
    )?;
    let off = q.input_offset as i16;
    let fill = |row: usize, dst: &mut [i16]| {
        for (d, v) in dst.iter_mut().zip(&input[row * k..(row + 1) * k]) {
            *d = *v as i16 + off;
        }
    };
    if weights.groups != 1 {
        return Err(KernelError::InvalidParam("grouped fully-connected weights"));
    }
    let matrix = Some(&input[..rows * k]);
    let n = weights.n;
    matmul_rows(
        isa,
        rows,
        &weights.group(0),
        q,
        fill,
        matrix,
        (output, n),
        scratch,
    );
    Ok(())
}

/// Shared driver: builds `ROWS` offset rows at a time with `fill`, dots them with every
/// weight row and requantizes into `output` (row `r`, channel `c` at `r * ldo + c`; callers
/// checked that `output` holds `(rows - 1) * ldo + w.n` bytes).
#[allow(clippy::too_many_arguments)]
fn matmul_rows(
    isa: Isa,
    rows: usize,
    w: &GroupWeights<'_>,
    q: &QuantConvParams<'_>,
    fill: impl Fn(usize, &mut [i16]),
    matrix: Option<&[i8]>,
    (output, ldo): (&mut [i8], usize),
    scratch: &mut [i16],
) {
    let (n, k) = (w.n, w.k);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = matrix;
    #[cfg(target_arch = "x86_64")]
    if isa.checked() == Isa::Avx2Fma && vector_ok(q) && !w.panels.is_empty() {
        use super::gemm_i8_avx2::{tile_rows, MR};
        let kp = w.kp;
        let rows_buf = &mut scratch[..MR * kp];
        let off = q.input_offset as i16;
        let mut r0 = 0;
        while r0 < rows {
            let nr = MR.min(rows - r0);
            for i in 0..MR {
                let row = &mut rows_buf[i * kp..(i + 1) * kp];
                if i < nr {
                    match matrix {
                        Some(a) => {
                            let src = &a[(r0 + i) * k..(r0 + i + 1) * k];
                            for (d, v) in row[..k].iter_mut().zip(src) {
                                *d = *v as i16 + off;
                            }
                        }
                        None => fill(r0 + i, &mut row[..k]),
                    }
                    row[k..].fill(0);
                } else {
                    row.fill(0);
                }
            }
            // SAFETY: AVX2 verified by `checked`; rows_buf holds MR rows of kp i16, w.panels
            // ceil(n/16) panels of kp/2*32, w.bias n rounded up to 16, the output slice
            // (nr-1)*ldo+n bytes; `vector_ok` checked the multipliers.
            unsafe {
                tile_rows(
                    kp,
                    (n, ldo),
                    nr,
                    rows_buf,
                    w.panels,
                    w.bias,
                    q,
                    &mut output[r0 * ldo..(r0 + nr - 1) * ldo + n],
                );
            }
            r0 += nr;
        }
        return;
    }
    let mut r0 = 0;
    while r0 < rows {
        let nr = ROWS.min(rows - r0);
        for i in 0..nr {
            fill(r0 + i, &mut scratch[i * k..(i + 1) * k]);
        }
        for i in nr..ROWS {
            scratch[i * k..(i + 1) * k].fill(0);
        }
        let patches = &scratch[..ROWS * k];
        for c in 0..n {
            let wr = &w.weights[c * k..(c + 1) * k];
            let acc = dot4(isa, patches, wr, k);
            for i in 0..nr {
                let v = acc[i].wrapping_add(w.bias[c]);
                output[(r0 + i) * ldo + c] = q.requantize(v, c);
            }
        }
        r0 += nr;
    }
}

/// Whether the vectorized requantization reproduces the scalar one for these multipliers.
#[cfg(target_arch = "x86_64")]
fn vector_ok(q: &QuantConvParams<'_>) -> bool {
    q.multipliers
        .iter()
        .all(|m| m.multiplier != i32::MIN && (-31..=30).contains(&m.shift))
}

#[inline]
fn dot4(isa: Isa, patches: &[i16], w: &[i16], k: usize) -> [i32; ROWS] {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma if isa.checked() == Isa::Avx2Fma => {
            // SAFETY: AVX2 support was verified at run time by `checked`.
            unsafe { dot4_avx2(patches, w, k) }
        }
        _ => dot4_body(patches, w, k),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot4_avx2(patches: &[i16], w: &[i16], k: usize) -> [i32; ROWS] {
    dot4_body(patches, w, k)
}

#[inline(always)]
fn dot4_body(patches: &[i16], w: &[i16], k: usize) -> [i32; ROWS] {
    let w = &w[..k];
    let (p0, rest) = patches.split_at(k);
    let (p1, rest) = rest.split_at(k);
    let (p2, p3) = rest.split_at(k);
    let p3 = &p3[..k];
    let (mut s0, mut s1, mut s2, mut s3) = (0i32, 0i32, 0i32, 0i32);
    for j in 0..k {
        let wj = w[j] as i32;
        s0 = s0.wrapping_add(p0[j] as i32 * wj);
        s1 = s1.wrapping_add(p1[j] as i32 * wj);
        s2 = s2.wrapping_add(p2[j] as i32 * wj);
        s3 = s3.wrapping_add(p3[j] as i32 * wj);
    }
    [s0, s1, s2, s3]
}

/// Channels per accumulator block of the depthwise kernel.
const DW_BLOCK: usize = 64;

/// int8 depthwise conv2d: filter `[1, kernel_h, kernel_w, out_c]`, `out_c = in_c * multiplier`,
/// bias `[out_c]`.
pub fn depthwise_conv2d_i8(
    isa: Isa,
    geo: &ConvGeometry,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    q: &QuantConvParams<'_>,
    output: &mut [i8],
) -> KernelResult {
    geo.validate()?;
    q.check(geo.out_c)?;
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
            // SAFETY: AVX2 support was verified at run time by `checked`.
            unsafe { depthwise_i8_avx2(geo, input, filter, bias, q, output) }
        }
        _ => depthwise_i8_body(geo, input, filter, bias, q, output, |acc, c0, out| {
            for (j, a) in acc.iter().enumerate() {
                out[j] = q.requantize(*a, c0 + j);
            }
        }),
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn depthwise_i8_avx2(
    geo: &ConvGeometry,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    q: &QuantConvParams<'_>,
    output: &mut [i8],
) {
    let vec = vector_ok(q);
    if vec && geo.in_c == geo.out_c && geo.kernel_h <= 16 && geo.kernel_w <= 16 {
        // SAFETY: AVX2 enabled here; geometry validated and lengths checked by the caller;
        // `vector_ok` checked the multipliers.
        unsafe { super::gemm_i8_avx2::depthwise_mult1_i8(geo, input, filter, bias, q, output) };
        return;
    }
    depthwise_i8_body(geo, input, filter, bias, q, output, |acc, c0, out| {
        if vec {
            // SAFETY: this function runs with AVX2 enabled; acc and out have equal lengths.
            unsafe { super::gemm_i8_avx2::requantize_row(acc, q, c0, geo.out_c, out) }
        } else {
            for (j, a) in acc.iter().enumerate() {
                out[j] = q.requantize(*a, c0 + j);
            }
        }
    })
}

#[inline(always)]
fn depthwise_i8_body(
    geo: &ConvGeometry,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    q: &QuantConvParams<'_>,
    output: &mut [i8],
    requant: impl Fn(&[i32], usize, &mut [i8]),
) {
    let (cin, cout) = (geo.in_c, geo.out_c);
    let mult = cout / cin;
    let off = q.input_offset;
    for b in 0..geo.batch {
        for oy in 0..geo.out_h {
            for ox in 0..geo.out_w {
                let o = ((b * geo.out_h + oy) * geo.out_w + ox) * cout;
                let mut c0 = 0;
                while c0 < cout {
                    let nc = DW_BLOCK.min(cout - c0);
                    let mut acc = [0i32; DW_BLOCK];
                    let acc = &mut acc[..nc];
                    if let Some(bias) = bias {
                        acc.copy_from_slice(&bias[c0..c0 + nc]);
                    }
                    for ky in 0..geo.kernel_h {
                        let Some(iy) = geo.in_y(oy, ky) else { continue };
                        for kx in 0..geo.kernel_w {
                            let Some(ix) = geo.in_x(ox, kx) else { continue };
                            let s = ((b * geo.in_h + iy) * geo.in_w + ix) * cin;
                            let f = (ky * geo.kernel_w + kx) * cout + c0;
                            let w = &filter[f..f + nc];
                            if mult == 1 {
                                let x = &input[s + c0..s + c0 + nc];
                                for ((a, x), w) in acc.iter_mut().zip(x).zip(w) {
                                    *a = a.wrapping_add((*x as i32 + off) * *w as i32);
                                }
                            } else {
                                for (j, (a, w)) in acc.iter_mut().zip(w).enumerate() {
                                    let x = input[s + (c0 + j) / mult] as i32;
                                    *a = a.wrapping_add((x + off) * *w as i32);
                                }
                            }
                        }
                    }
                    requant(acc, c0, &mut output[o + c0..o + c0 + nc]);
                    c0 += nc;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::conv::Padding;
    use super::super::super::testutil::Rng;
    use super::super::quantize_multiplier;
    use super::*;

    /// Scalar transcription of TFLite's ConvPerChannel / DepthwiseConvPerChannel.
    fn reference_conv(
        g: &ConvGeometry,
        input: &[i8],
        filter: &[i8],
        bias: &[i32],
        q: &QuantConvParams<'_>,
        depthwise: bool,
    ) -> Vec<i8> {
        let mut out = vec![0i8; g.output_len().unwrap()];
        let mult = g.out_c / g.in_c;
        for b in 0..g.batch {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for co in 0..g.out_c {
                        let mut acc: i32 = 0;
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
                                    let x = input[base + co / mult] as i32;
                                    let w = filter[(ky * g.kernel_w + kx) * g.out_c + co] as i32;
                                    acc += w * (x + q.input_offset);
                                } else {
                                    // Group of `co`: its input channels start at c0.
                                    let cg = g.in_c / g.groups;
                                    let c0 = co / (g.out_c / g.groups) * cg;
                                    for ci in 0..cg {
                                        let x = input[base + c0 + ci] as i32;
                                        let w = filter
                                            [((co * g.kernel_h + ky) * g.kernel_w + kx) * cg + ci]
                                            as i32;
                                        acc += w * (x + q.input_offset);
                                    }
                                }
                            }
                        }
                        acc += bias[co];
                        let m = q.multipliers[if q.multipliers.len() == 1 { 0 } else { co }];
                        let mut v = multiply_by_quantized_multiplier(acc, m);
                        v += q.output_offset;
                        v = v.max(q.act_min).min(q.act_max);
                        out[((b * g.out_h + oy) * g.out_w + ox) * g.out_c + co] = v as i8;
                    }
                }
            }
        }
        out
    }

    fn random_geo(rng: &mut Rng, case: usize, depthwise: bool) -> Option<ConvGeometry> {
        let cin = rng.range(1, 12);
        let cout = if depthwise {
            cin * [1, 2, 3][case % 3]
        } else {
            rng.range(1, 20)
        };
        ConvGeometry::new(
            rng.range(1, 2),
            (rng.range(2, 10), rng.range(2, 10), cin),
            cout,
            (rng.range(1, 4), rng.range(1, 4)),
            (rng.range(1, 3), rng.range(1, 3)),
            (rng.range(1, 2), rng.range(1, 2)),
            if case.is_multiple_of(2) {
                Padding::Same
            } else {
                Padding::Valid
            },
        )
        .ok()
    }

    fn random_q(
        rng: &mut Rng,
        out_c: usize,
        per_channel: bool,
    ) -> (Vec<QuantMultiplier>, i32, i32, i32, i32) {
        let n = if per_channel { out_c } else { 1 };
        let m = (0..n)
            .map(|_| {
                // 10^-5 .. 10^0.6: right shifts, no shift and left shifts.
                let e = (rng.next_u64() % 1000) as f64 / 1000.0 * 5.6 - 5.0;
                quantize_multiplier(libm::pow(10.0, e))
            })
            .collect();
        let lo = rng.i32_in(-128, 0);
        let hi = rng.i32_in(lo, 127);
        (m, rng.i32_in(-127, 128), rng.i32_in(-128, 127), lo, hi)
    }

    /// Runs `conv2d_i8` on random data for `g` (grouped as `g.groups` says) on every ISA and
    /// compares with [`reference_conv`]; also checks that a filter packed ungrouped is refused
    /// when `g` is grouped.
    fn check_conv(rng: &mut Rng, g: &ConvGeometry, per_channel: bool, case: usize) {
        let input = rng.vec_i8(g.input_len().unwrap());
        let filter = rng.vec_i8(g.out_c * g.patch_depth());
        let bias: Vec<i32> = (0..g.out_c).map(|_| rng.i32_in(-5000, 5000)).collect();
        let (m, in_off, out_off, lo, hi) = random_q(rng, g.out_c, per_channel);
        let q = QuantConvParams {
            input_offset: in_off,
            output_offset: out_off,
            multipliers: &m,
            act_min: lo,
            act_max: hi,
        };
        let want = reference_conv(g, &input, &filter, &bias, &q, false);
        let (n, k) = (g.out_c, g.patch_depth());
        let w = PackedI8Weights::grouped(&filter, n, k, g.groups, Some(&bias)).unwrap();
        let mut out = vec![0i8; g.output_len().unwrap()];
        let mut scratch = vec![0i16; conv2d_i8_scratch_len(g)];
        for &isa in Isa::available() {
            conv2d_i8(isa, g, &input, &w, &q, &mut out, &mut scratch).unwrap();
            assert_eq!(out, want, "case {case} {g:?}");
        }
        if g.groups > 1 {
            let ungrouped = PackedI8Weights::new(&filter, n, k, None).unwrap();
            let r = conv2d_i8(
                Isa::Portable,
                g,
                &input,
                &ungrouped,
                &q,
                &mut out,
                &mut scratch,
            );
            assert!(r.is_err());
        }
    }

    #[test]
    fn conv2d_i8_bit_exact() {
        let mut rng = Rng::new(31);
        for case in 0..40 {
            if let Some(g) = random_geo(&mut rng, case, false) {
                check_conv(&mut rng, &g, case % 3 != 0, case);
            }
        }
    }

    #[test]
    fn grouped_conv2d_i8_bit_exact() {
        let mut rng = Rng::new(35);
        for case in 0..30 {
            let groups = [2, 3, 4][case % 3];
            // Up to 20 output channels per group: panels padded per group, channel tails.
            let (cg, ng) = (rng.range(1, 6), rng.range(1, 20));
            let Ok(mut g) = ConvGeometry::new(
                rng.range(1, 2),
                (rng.range(2, 9), rng.range(2, 9), groups * cg),
                groups * ng,
                (rng.range(1, 3), rng.range(1, 3)),
                (rng.range(1, 2), rng.range(1, 2)),
                (1, rng.range(1, 2)),
                if case % 2 == 0 {
                    Padding::Same
                } else {
                    Padding::Valid
                },
            ) else {
                continue;
            };
            g.groups = groups;
            check_conv(&mut rng, &g, case % 4 != 0, case);
        }
    }

    #[test]
    fn pointwise_conv2d_i8_bit_exact() {
        let mut rng = Rng::new(33);
        for &(h, w_, cin, cout) in &[(5, 7, 19, 23), (3, 4, 16, 40), (1, 1, 1, 1), (6, 6, 7, 16)] {
            let g = ConvGeometry::new(1, (h, w_, cin), cout, (1, 1), (1, 1), (1, 1), Padding::Same)
                .unwrap();
            assert!(g.is_pointwise());
            check_conv(&mut rng, &g, true, cout);
        }
    }

    #[test]
    fn depthwise_i8_bit_exact() {
        let mut rng = Rng::new(37);
        // Wide rows so the 4-pixel interior path runs, plus channel tails.
        let wide = [
            ConvGeometry::new(1, (12, 16, 24), 24, (3, 3), (1, 1), (1, 1), Padding::Same),
            ConvGeometry::new(2, (13, 17, 40), 40, (3, 3), (2, 2), (1, 1), Padding::Valid),
            ConvGeometry::new(1, (9, 21, 19), 19, (5, 3), (1, 2), (2, 1), Padding::Same),
        ];
        for case in 0..43 {
            let g = if case >= 40 {
                wide[case - 40].clone().ok()
            } else {
                random_geo(&mut rng, case, true)
            };
            let Some(g) = g else {
                continue;
            };
            let input = rng.vec_i8(g.input_len().unwrap());
            let filter = rng.vec_i8(g.kernel_h * g.kernel_w * g.out_c);
            let bias: Vec<i32> = (0..g.out_c).map(|_| rng.i32_in(-5000, 5000)).collect();
            let (m, in_off, out_off, lo, hi) = random_q(&mut rng, g.out_c, case % 3 != 0);
            let q = QuantConvParams {
                input_offset: in_off,
                output_offset: out_off,
                multipliers: &m,
                act_min: lo,
                act_max: hi,
            };
            let want = reference_conv(&g, &input, &filter, &bias, &q, true);
            for &isa in Isa::available() {
                let mut out = vec![0i8; g.output_len().unwrap()];
                depthwise_conv2d_i8(isa, &g, &input, &filter, Some(&bias), &q, &mut out).unwrap();
                assert_eq!(out, want, "case {case} {g:?}");
            }
        }
    }

    #[test]
    fn fully_connected_i8_bit_exact() {
        let mut rng = Rng::new(41);
        for case in 0..20 {
            let (rows, k, n) = (rng.range(1, 9), rng.range(1, 300), rng.range(1, 40));
            let input = rng.vec_i8(rows * k);
            let weights = rng.vec_i8(n * k);
            let bias: Vec<i32> = (0..n).map(|_| rng.i32_in(-5000, 5000)).collect();
            let (m, in_off, out_off, lo, hi) = random_q(&mut rng, n, case % 2 == 0);
            // Every third case has a weight zero point (extremes included).
            let zp = if case % 3 == 1 {
                [-128, 127, 5, -3][case / 3 % 4]
            } else {
                0
            };
            let q = QuantConvParams {
                input_offset: in_off,
                output_offset: out_off,
                multipliers: &m,
                act_min: lo,
                act_max: hi,
            };
            let mut want = vec![0i8; rows * n];
            for r in 0..rows {
                for c in 0..n {
                    let mut acc = 0i32;
                    for j in 0..k {
                        acc +=
                            (weights[c * k + j] as i32 - zp) * (input[r * k + j] as i32 + in_off);
                    }
                    acc += bias[c];
                    let mm = m[if m.len() == 1 { 0 } else { c }];
                    let v = (multiply_by_quantized_multiplier(acc, mm) + out_off)
                        .max(lo)
                        .min(hi);
                    want[r * n + c] = v as i8;
                }
            }
            let w = PackedI8Weights::with_zero_point(&weights, n, k, zp, Some(&bias)).unwrap();
            for &isa in Isa::available() {
                let mut out = vec![0i8; rows * n];
                let mut scratch = vec![0i16; fully_connected_i8_scratch_len(k)];
                fully_connected_i8(isa, rows, &input, &w, &q, &mut out, &mut scratch).unwrap();
                assert_eq!(out, want);
            }
        }
    }
}

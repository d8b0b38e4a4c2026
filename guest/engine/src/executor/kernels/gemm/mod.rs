//! Packed f32 GEMM: `C[m×n] = A[m×k] · B[k×n] + bias[n]`, then a fused clamp.
//!
//! The structure is BLIS's: B (the weights) is packed once at load into [`PackedB`]: for each
//! block of [`KC`] rows of K, panels of [`NR`] columns stored K-major (`kc × NR`, zero-padded
//! past `n`), 64-byte aligned. A is packed per call, one block of [`MC`] rows × [`KC`] at a
//! time, into `MR`-row panels in caller-provided scratch ([`scratch_len`]) — no allocation
//! while running. A micro-kernel computes an `MR × NR` tile of C from one A panel and one B
//! panel; the first K block starts from the bias, later blocks accumulate into C, and the last
//! applies the clamp.
//!
//! Micro-kernels: [`Isa::Avx2Fma`] uses a 6x16 kernel (12 ymm accumulators, `vfmadd231ps`)
//! compiled with `#[target_feature(enable = "avx2,fma")]`; [`Isa::Portable`] uses plain Rust
//! that the compiler vectorizes for the baseline target (SSE2 / NEON). Both read the same
//! packed layouts, so a [`PackedB`] serves either path.
//!
//! A comes from an [`ASource`]: a row-major matrix ([`MatrixA`]) or a view that builds the
//! rows on the fly while packing (the im2col view of a convolution, see `conv`).

#[cfg(target_arch = "x86_64")]
mod avx2;
mod portable;

use super::{need, Activation, Isa, KernelError, KernelResult};
use alloc::vec;
use alloc::vec::Vec;

/// Rows of C per micro-kernel tile.
pub const MR: usize = 6;
/// Columns of C per micro-kernel tile.
pub const NR: usize = 16;
/// K-block depth (rows of packed B per block).
pub const KC: usize = 256;
/// M-block height (rows of A packed at a time; a multiple of [`MR`]).
pub const MC: usize = 144;

/// Floats of slack so buffers can be realigned to 64 bytes.
const ALIGN_FLOATS: usize = 16;

/// The B operand (usually constant weights) packed once into micro-panels.
#[derive(Clone)]
pub struct PackedB {
    k: usize,
    n: usize,
    /// `n` rounded up to a multiple of [`NR`].
    n_pad: usize,
    storage: Vec<f32>,
    /// Start of the 64-byte aligned data inside `storage`.
    offset: usize,
    /// Bias padded to `n_pad` (zeros when the op has no bias).
    bias: Vec<f32>,
}

impl core::fmt::Debug for PackedB {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PackedB")
            .field("k", &self.k)
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl PackedB {
    /// Packs B given as `n × k` row-major (`b[j*k + p] = B[p][j]`): the layout of TFLite's
    /// fully-connected weights `[out, in]` and of conv filters `OHWI` flattened to
    /// `[out, kh*kw*in]`. `bias`, if given, has `n` entries.
    pub fn from_nk(b: &[f32], n: usize, k: usize, bias: Option<&[f32]>) -> KernelResult<Self> {
        need("B", super::mul_all(&[n, k])?, b.len())?;
        Self::pack(k, n, bias, |p, j| b[j * k + p])
    }

    /// Packs B given as `k × n` row-major (`b[p*n + j] = B[p][j]`).
    pub fn from_kn(b: &[f32], k: usize, n: usize, bias: Option<&[f32]>) -> KernelResult<Self> {
        need("B", super::mul_all(&[n, k])?, b.len())?;
        Self::pack(k, n, bias, |p, j| b[p * n + j])
    }

    /// Packs B given as a [`GatherMatrix`] (`k × n`: any strided or permuted view of a
    /// tensor, converted to f32).
    pub fn from_gather<T: GemmElement>(
        b: &GatherMatrix<'_, T>,
        bias: Option<&[f32]>,
    ) -> KernelResult<Self> {
        Self::pack(b.rows.len(), b.cols.len(), bias, |p, j| b.get(p, j))
    }

    fn pack(
        k: usize,
        n: usize,
        bias: Option<&[f32]>,
        get: impl Fn(usize, usize) -> f32,
    ) -> KernelResult<Self> {
        let n_pad = n
            .checked_add(NR - 1)
            .ok_or(KernelError::InvalidParam("GEMM n overflows"))?
            / NR
            * NR;
        let len = super::mul_all(&[k, n_pad])?;
        let mut storage = vec![0.0f32; len + ALIGN_FLOATS];
        let offset = align_offset(&storage);
        pack_b_data(k, n, n_pad, &mut storage[offset..offset + len], get);
        let mut padded_bias = vec![0.0f32; n_pad];
        if let Some(bias) = bias {
            need("bias", n, bias.len())?;
            padded_bias[..n].copy_from_slice(&bias[..n]);
        }
        Ok(PackedB {
            k,
            n,
            n_pad,
            storage,
            offset,
            bias: padded_bias,
        })
    }

    /// Depth (rows of B, columns of A).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of B and C.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The padded bias (`n` rounded up to [`NR`]).
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    fn data(&self) -> &[f32] {
        &self.storage[self.offset..self.offset + self.k * self.n_pad]
    }

    fn view(&self) -> BView<'_> {
        BView {
            k: self.k,
            n: self.n,
            n_pad: self.n_pad,
            data: self.data(),
            bias: &self.bias,
        }
    }

    /// Bytes of memory held.
    pub fn memory_bytes(&self) -> usize {
        (self.storage.len() + self.bias.len()) * core::mem::size_of::<f32>()
    }
}

/// A borrowed packed B (from a [`PackedB`] or packed per call into scratch).
struct BView<'a> {
    k: usize,
    n: usize,
    n_pad: usize,
    data: &'a [f32],
    /// `n_pad` floats, or empty for no bias.
    bias: &'a [f32],
}

/// Floats of packed B for a `k × n` operand (see [`pack_b_into`]).
pub fn packed_b_len(k: usize, n: usize) -> usize {
    k * n.div_ceil(NR) * NR + ALIGN_FLOATS
}

/// Index of the first 64-byte aligned element of `buf`.
fn align_offset(buf: &[f32]) -> usize {
    let addr = buf.as_ptr() as usize;
    let mis = addr % 64;
    if mis == 0 {
        0
    } else {
        (64 - mis) / 4
    }
}

/// Scratch floats [`gemm`] needs for an A operand with `m` rows and depth `k`.
pub fn scratch_len(m: usize, k: usize) -> usize {
    let rows = m.min(MC).div_ceil(MR) * MR;
    rows * k.min(KC) + ALIGN_FLOATS
}

/// A source of A rows that packs itself into micro-panels.
pub trait ASource {
    /// Rows of A (= rows of C).
    fn rows(&self) -> usize;
    /// Depth (columns of A).
    fn depth(&self) -> usize;
    /// Writes rows `row0 .. row0+rows` (`rows <= MR`) and columns `k0 .. k0+kc` into `dst`
    /// (`kc * MR` floats) as `dst[p*MR + i] = A[row0+i][k0+p]`, zero for `i >= rows`.
    fn pack_panel(&self, row0: usize, rows: usize, k0: usize, kc: usize, dst: &mut [f32]);

    /// The rows in place (`data`, row stride), if A is a plain matrix the micro-kernel can
    /// read without packing.
    fn in_place(&self) -> Option<(&[f32], usize)> {
        None
    }
}

/// A row-major A matrix with a row stride.
pub struct MatrixA<'a> {
    data: &'a [f32],
    rows: usize,
    depth: usize,
    stride: usize,
}

impl<'a> MatrixA<'a> {
    /// `rows × depth` matrix whose row `i` starts at `data[i * stride]`.
    pub fn new(data: &'a [f32], rows: usize, depth: usize, stride: usize) -> KernelResult<Self> {
        if stride < depth {
            return Err(KernelError::InvalidParam("A row stride < depth"));
        }
        if rows > 0 {
            let len = super::mul_all(&[rows - 1, stride])?
                .checked_add(depth)
                .ok_or(KernelError::InvalidParam("A size overflows"))?;
            need("A", len, data.len())?;
        }
        Ok(MatrixA {
            data,
            rows,
            depth,
            stride,
        })
    }
}

impl ASource for MatrixA<'_> {
    fn rows(&self) -> usize {
        self.rows
    }

    fn in_place(&self) -> Option<(&[f32], usize)> {
        Some((self.data, self.stride))
    }

    fn depth(&self) -> usize {
        self.depth
    }

    #[inline]
    fn pack_panel(&self, row0: usize, rows: usize, k0: usize, kc: usize, dst: &mut [f32]) {
        let dst = &mut dst[..kc * MR];
        if rows == MR {
            let r: [&[f32]; MR] = core::array::from_fn(|i| {
                let s = (row0 + i) * self.stride + k0;
                &self.data[s..s + kc]
            });
            for (p, d) in dst.chunks_exact_mut(MR).enumerate() {
                for i in 0..MR {
                    d[i] = r[i][p];
                }
            }
        } else {
            dst.fill(0.0);
            for i in 0..rows {
                let s = (row0 + i) * self.stride + k0;
                for (p, v) in self.data[s..s + kc].iter().enumerate() {
                    dst[p * MR + i] = *v;
                }
            }
        }
    }
}

/// An element type GEMM operands can be read from; converted to f32 while packing (the
/// products accumulate in f32).
pub trait GemmElement: Copy {
    /// The value as f32.
    fn to_f32(self) -> f32;
}

impl GemmElement for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl GemmElement for half::f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        half::f16::to_f32(self)
    }
}

impl GemmElement for half::bf16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        half::bf16::to_f32(self)
    }
}

/// A matrix whose element `(r, c)` is `data[base + rows[r] + cols[c]]`: any strided,
/// transposed or permuted view of a tensor (for instance `dot_general`'s free and contracting
/// dims, each group flattened into one offset table computed at load). Serves as A (an
/// [`ASource`]) or as B ([`PackedB::from_gather`], [`gemm_gather_b`]).
pub struct GatherMatrix<'a, T> {
    data: &'a [T],
    base: usize,
    rows: &'a [usize],
    cols: &'a [usize],
}

impl<'a, T: GemmElement> GatherMatrix<'a, T> {
    /// The `rows.len() × cols.len()` view; fails if an element lies outside `data`.
    pub fn new(
        data: &'a [T],
        base: usize,
        rows: &'a [usize],
        cols: &'a [usize],
    ) -> KernelResult<Self> {
        if let (Some(r), Some(c)) = (rows.iter().max(), cols.iter().max()) {
            let last = base
                .checked_add(*r)
                .and_then(|v| v.checked_add(*c))
                .ok_or(KernelError::InvalidParam("matrix offset overflows"))?;
            need("matrix", last + 1, data.len())?;
        }
        Ok(GatherMatrix {
            data,
            base,
            rows,
            cols,
        })
    }

    /// Element `(r, c)` as f32 (in bounds: checked by [`GatherMatrix::new`]).
    #[inline(always)]
    fn get(&self, r: usize, c: usize) -> f32 {
        self.data[self.base + self.rows[r] + self.cols[c]].to_f32()
    }
}

impl<T: GemmElement> ASource for GatherMatrix<'_, T> {
    fn rows(&self) -> usize {
        self.rows.len()
    }

    fn depth(&self) -> usize {
        self.cols.len()
    }

    #[inline]
    fn pack_panel(&self, row0: usize, rows: usize, k0: usize, kc: usize, dst: &mut [f32]) {
        let dst = &mut dst[..kc * MR];
        let starts: [usize; MR] = core::array::from_fn(|i| {
            if i < rows {
                self.base + self.rows[row0 + i]
            } else {
                0
            }
        });
        let cols = &self.cols[k0..k0 + kc];
        if rows == MR {
            for (d, &c) in dst.chunks_exact_mut(MR).zip(cols) {
                for (v, &s) in d.iter_mut().zip(&starts) {
                    *v = self.data[s + c].to_f32();
                }
            }
        } else {
            for (d, &c) in dst.chunks_exact_mut(MR).zip(cols) {
                for (i, v) in d.iter_mut().enumerate() {
                    *v = if i < rows {
                        self.data[starts[i] + c].to_f32()
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}

/// `C = A·B + bias` with `A` row-major (`m × k`, row stride `lda`), C row-major (row stride
/// `ldc >= n`), then `act`. `scratch` needs [`scratch_len`]`(m, k)` floats.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    isa: Isa,
    a: &[f32],
    m: usize,
    lda: usize,
    b: &PackedB,
    act: Activation,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
) -> KernelResult {
    let src = MatrixA::new(a, m, b.k, lda)?;
    gemm_source(isa, &src, b, act, c, ldc, scratch)
}

/// Like [`gemm`] with A taken from any [`ASource`].
pub fn gemm_source<S: ASource>(
    isa: Isa,
    src: &S,
    b: &PackedB,
    act: Activation,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
) -> KernelResult {
    gemm_view(isa, src, &b.view(), act, c, ldc, scratch)
}

/// `C = A·B` with both operands unpacked (row-major, leading dimensions `lda`, `ldb`, `ldc`):
/// B is packed per call into `scratch`, which needs [`gemm_unpacked_scratch_len`] floats.
#[allow(clippy::too_many_arguments)]
pub fn gemm_unpacked(
    isa: Isa,
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    act: Activation,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
) -> KernelResult {
    if ldb < n {
        return Err(KernelError::InvalidParam("B row stride < n"));
    }
    if k > 0 && n > 0 {
        let b_len = super::mul_all(&[k - 1, ldb])?
            .checked_add(n)
            .ok_or(KernelError::InvalidParam("B size overflows"))?;
        need("B", b_len, b.len())?;
    }
    let src = MatrixA::new(a, m, k, lda)?;
    gemm_packing_b(
        isa,
        &src,
        (k, n),
        |p, j| b[p * ldb + j],
        act,
        c,
        ldc,
        scratch,
    )
}

/// `C = A·B` with A from any [`ASource`] and B a [`GatherMatrix`] packed per call into
/// `scratch`, which needs [`gemm_unpacked_scratch_len`] floats.
pub fn gemm_gather_b<S: ASource, T: GemmElement>(
    isa: Isa,
    src: &S,
    b: &GatherMatrix<'_, T>,
    act: Activation,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
) -> KernelResult {
    let kn = (b.rows.len(), b.cols.len());
    gemm_packing_b(isa, src, kn, |p, j| b.get(p, j), act, c, ldc, scratch)
}

/// Packs B (`get(p, j)`, in bounds for `p < k, j < n`) into the front of `scratch`, then runs
/// the GEMM with the rest of `scratch` for A.
#[allow(clippy::too_many_arguments)]
fn gemm_packing_b<S: ASource>(
    isa: Isa,
    src: &S,
    (k, n): (usize, usize),
    get: impl Fn(usize, usize) -> f32,
    act: Activation,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
) -> KernelResult {
    let m = src.rows();
    let blen = packed_b_len(k, n);
    need("GEMM scratch", blen + scratch_len(m, k), scratch.len())?;
    let (bbuf, rest) = scratch.split_at_mut(blen);
    let off = align_offset(bbuf);
    let n_pad = n.div_ceil(NR) * NR;
    let data = &mut bbuf[off..off + k * n_pad];
    pack_b_data(k, n, n_pad, data, get);
    let view = BView {
        k,
        n,
        n_pad,
        data,
        bias: &[],
    };
    gemm_view(isa, src, &view, act, c, ldc, rest)
}

/// Scratch floats [`gemm_unpacked`] and [`gemm_gather_b`] need.
pub fn gemm_unpacked_scratch_len(m: usize, k: usize, n: usize) -> usize {
    packed_b_len(k, n) + scratch_len(m, k)
}

/// Writes B into the panel layout (`data` holds `k * n_pad` floats, already zeroed or not).
fn pack_b_data(
    k: usize,
    n: usize,
    n_pad: usize,
    data: &mut [f32],
    get: impl Fn(usize, usize) -> f32,
) {
    let mut p0 = 0;
    while p0 < k {
        let kc = KC.min(k - p0);
        let block = &mut data[p0 * n_pad..(p0 + kc) * n_pad];
        for (jp, panel) in block.chunks_exact_mut(kc * NR).enumerate() {
            let j0 = jp * NR;
            let cols = NR.min(n - j0);
            for p in 0..kc {
                let row = &mut panel[p * NR..(p + 1) * NR];
                for (jj, v) in row.iter_mut().enumerate() {
                    *v = if jj < cols { get(p0 + p, j0 + jj) } else { 0.0 };
                }
            }
        }
        p0 += kc;
    }
}

static ZERO_BIAS: [f32; NR] = [0.0; NR];

fn gemm_view<S: ASource>(
    isa: Isa,
    src: &S,
    b: &BView<'_>,
    act: Activation,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
) -> KernelResult {
    let (m, k, n) = (src.rows(), b.k, b.n);
    if src.depth() != k {
        return Err(KernelError::InvalidParam("A depth differs from B depth"));
    }
    if ldc < n {
        return Err(KernelError::InvalidParam("C row stride < n"));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let c_len = super::mul_all(&[m - 1, ldc])?
        .checked_add(n)
        .ok_or(KernelError::InvalidParam("C size overflows"))?;
    need("C", c_len, c.len())?;
    let (lo, hi) = act.range();

    if k == 0 {
        for i in 0..m {
            for (j, out) in c[i * ldc..i * ldc + n].iter_mut().enumerate() {
                let bias = b.bias.get(j).copied().unwrap_or(0.0);
                *out = super::activation::clamp(bias, lo, hi);
            }
        }
    } else {
        need("GEMM scratch", scratch_len(m, k), scratch.len())?;
        match isa.checked() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `checked` verified AVX2+FMA at run time.
            Isa::Avx2Fma => unsafe { blocked_avx2(src, b, (lo, hi), c, ldc, scratch) },
            _ => blocked(Isa::Portable, src, b, (lo, hi), c, ldc, scratch),
        }
    }
    if act.needs_post_pass() {
        for i in 0..m {
            act.apply_post(&mut c[i * ldc..i * ldc + n]);
        }
    }
    Ok(())
}

/// [`blocked`] compiled with AVX2+FMA so the micro-kernels inline into the loop nest.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn blocked_avx2<S: ASource>(
    src: &S,
    b: &BView<'_>,
    clamp: (f32, f32),
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
) {
    blocked(Isa::Avx2Fma, src, b, clamp, c, ldc, scratch)
}

/// The blocked loop nest (K blocks, M blocks, column panels, row tiles). Arguments were
/// checked by [`gemm_view`]; `isa` is already `checked`.
#[inline(always)]
fn blocked<S: ASource>(
    isa: Isa,
    src: &S,
    b: &BView<'_>,
    (lo, hi): (f32, f32),
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
) {
    let (m, k, n) = (src.rows(), b.k, b.n);
    let off = align_offset(scratch);
    let apack = &mut scratch[off..];
    let bdata = b.data;
    let panels = b.n_pad / NR;
    let mut p0 = 0;
    while p0 < k {
        let kc = KC.min(k - p0);
        let first = p0 == 0;
        let last = p0 + kc == k;
        let bblock = &bdata[p0 * b.n_pad..(p0 + kc) * b.n_pad];
        let mut i0 = 0;
        // AVX2 reads a plain A matrix in place (full 6-row tiles only): measured as fast
        // or faster than packing on every MobileNetV2 1x1 shape (most with small K).
        let direct = match src.in_place() {
            // Rows a multiple of 4 KiB apart alias in L1; pack those.
            Some((_, lda)) if isa == Isa::Avx2Fma && (lda * 4) % 4096 != 0 => src.in_place(),
            _ => None,
        };
        while i0 < m {
            let mc = MC.min(m - i0);
            let tiles = mc.div_ceil(MR);
            for t in 0..tiles {
                if direct.is_some() && MR.min(mc - t * MR) == MR {
                    continue;
                }
                let r0 = t * MR;
                src.pack_panel(
                    i0 + r0,
                    MR.min(mc - r0),
                    p0,
                    kc,
                    &mut apack[t * kc * MR..(t + 1) * kc * MR],
                );
            }
            for jp in 0..panels {
                let j0 = jp * NR;
                let nr = NR.min(n - j0);
                let bpanel = &bblock[jp * kc * NR..(jp + 1) * kc * NR];
                let bias = b.bias.get(j0..j0 + NR).unwrap_or(&ZERO_BIAS);
                for t in 0..tiles {
                    let r0 = t * MR;
                    let mr = MR.min(mc - r0);
                    let apanel = &apack[t * kc * MR..(t + 1) * kc * MR];
                    let c0 = (i0 + r0) * ldc + j0;
                    let a_direct = match direct {
                        Some((data, lda)) if mr == MR => {
                            let s = (i0 + r0) * lda + p0;
                            Some((&data[s..s + (MR - 1) * lda + kc], lda))
                        }
                        _ => None,
                    };
                    let tile = Tile {
                        kc,
                        a: apanel,
                        a_direct,
                        b: bpanel,
                        bias,
                        accumulate: !first,
                        clamp: if last { Some((lo, hi)) } else { None },
                    };
                    if mr == MR && nr == NR {
                        // Full tile: straight into C (bounds: the last row ends at
                        // c0 + (MR-1)*ldc + NR <= c_len because i0+r0+MR <= m, j0+NR <= n).
                        tile.run(isa, &mut c[c0..c0 + (MR - 1) * ldc + NR], ldc);
                    } else {
                        let mut buf = [0.0f32; MR * NR];
                        if !first {
                            for i in 0..mr {
                                buf[i * NR..i * NR + nr]
                                    .copy_from_slice(&c[c0 + i * ldc..c0 + i * ldc + nr]);
                            }
                        }
                        tile.run(isa, &mut buf, NR);
                        for i in 0..mr {
                            c[c0 + i * ldc..c0 + i * ldc + nr]
                                .copy_from_slice(&buf[i * NR..i * NR + nr]);
                        }
                    }
                }
            }
            i0 += mc;
        }
        p0 += kc;
    }
}

/// One micro-kernel invocation (checked slices; the ISA kernels use raw pointers inside).
struct Tile<'a> {
    kc: usize,
    a: &'a [f32],
    /// A rows in place with their stride (AVX2 only), instead of the packed panel.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    a_direct: Option<(&'a [f32], usize)>,
    b: &'a [f32],
    bias: &'a [f32],
    accumulate: bool,
    clamp: Option<(f32, f32)>,
}

impl Tile<'_> {
    #[inline(always)]
    fn run(&self, isa: Isa, c: &mut [f32], ldc: usize) {
        debug_assert!(self.a.len() >= self.kc * MR && self.b.len() >= self.kc * NR);
        debug_assert!(self.bias.len() >= NR && ldc >= NR && c.len() > (MR - 1) * ldc + NR - 1);
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma if self.a_direct.is_some() => {
                let (a, lda) = self.a_direct.unwrap_or((&[], 0));
                debug_assert!(a.len() > (MR - 1) * lda + self.kc - 1);
                // SAFETY: as below; `a` holds 6 rows of kc floats with stride lda (sliced
                // by the caller from the checked A matrix).
                unsafe {
                    avx2::kernel_6x16_direct(
                        self.kc,
                        a.as_ptr(),
                        lda,
                        self.b.as_ptr(),
                        self.bias.as_ptr(),
                        c.as_mut_ptr(),
                        ldc,
                        self.accumulate,
                        self.clamp,
                    )
                }
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => {
                // SAFETY: `Isa::Avx2Fma` only reaches here via `Isa::checked`, which verified
                // AVX2+FMA support at run time; the slices hold kc*MR (A), kc*NR (B), NR
                // (bias) and (MR-1)*ldc+NR (C) floats, checked by the caller's construction.
                unsafe {
                    avx2::kernel_6x16(
                        self.kc,
                        self.a.as_ptr(),
                        self.b.as_ptr(),
                        self.bias.as_ptr(),
                        c.as_mut_ptr(),
                        ldc,
                        self.accumulate,
                        self.clamp,
                    )
                }
            }
            _ => portable::kernel_6x16(
                self.kc,
                self.a,
                self.b,
                self.bias,
                c,
                ldc,
                self.accumulate,
                self.clamp,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_close, Rng};
    use super::*;

    fn naive(a: &[f32], b_kn: &[f32], bias: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = bias[j] as f64;
                for p in 0..k {
                    s += a[i * k + p] as f64 * b_kn[p * n + j] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn gemm_matches_naive_on_random_shapes() {
        let mut rng = Rng::new(7);
        let shapes = [
            (1, 1, 1),
            (6, 16, 16),
            (7, 17, 5),
            (13, 300, 33),
            (150, 9, 40),
            (200, 520, 17),
            (5, 3, 100),
        ];
        for &(m, k, n) in &shapes {
            let a = rng.vec_f32(m * k);
            let b = rng.vec_f32(k * n);
            let bias = rng.vec_f32(n);
            let want = naive(&a, &b, &bias, m, k, n);
            let packed = PackedB::from_kn(&b, k, n, Some(&bias)).unwrap();
            for &isa in Isa::available() {
                let mut c = vec![f32::NAN; m * n];
                let mut scratch = vec![0.0; scratch_len(m, k)];
                gemm(
                    isa,
                    &a,
                    m,
                    k,
                    &packed,
                    Activation::None,
                    &mut c,
                    n,
                    &mut scratch,
                )
                .unwrap();
                assert_close(&c, &want, 1e-5, "gemm");
            }
        }
    }

    #[test]
    fn from_nk_equals_from_kn_and_strides_work() {
        let mut rng = Rng::new(3);
        let (m, k, n) = (23, 37, 29);
        let b_nk = rng.vec_f32(n * k);
        let mut b_kn = vec![0.0; k * n];
        for j in 0..n {
            for p in 0..k {
                b_kn[p * n + j] = b_nk[j * k + p];
            }
        }
        let lda = k + 3;
        let ldc = n + 5;
        let a_strided = rng.vec_f32(m * lda);
        let a: Vec<f32> = (0..m * k)
            .map(|i| a_strided[(i / k) * lda + i % k])
            .collect();
        let want = naive(&a, &b_kn, &vec![0.0; n], m, k, n);
        let packed = PackedB::from_nk(&b_nk, n, k, None).unwrap();
        for &isa in Isa::available() {
            let mut c = vec![-7.0f32; m * ldc];
            let mut scratch = vec![0.0; scratch_len(m, k)];
            gemm(
                isa,
                &a_strided,
                m,
                lda,
                &packed,
                Activation::None,
                &mut c,
                ldc,
                &mut scratch,
            )
            .unwrap();
            for i in 0..m {
                assert_close(
                    &c[i * ldc..i * ldc + n],
                    &want[i * n..(i + 1) * n],
                    1e-5,
                    "row",
                );
                assert!(c[i * ldc + n..(i + 1) * ldc].iter().all(|&v| v == -7.0));
            }
        }
    }

    #[test]
    fn fused_activations() {
        let mut rng = Rng::new(11);
        let (m, k, n) = (19, 70, 21);
        let a: Vec<f32> = rng.vec_f32(m * k).iter().map(|v| v * 2.0).collect();
        let b = rng.vec_f32(k * n);
        let want = naive(&a, &b, &vec![0.0; n], m, k, n);
        let packed = PackedB::from_kn(&b, k, n, None).unwrap();
        let acts = [
            Activation::Relu,
            Activation::Relu6,
            Activation::ReluN1To1,
            Activation::Clamp {
                min: -0.5,
                max: 2.0,
            },
            Activation::Tanh,
            Activation::Sigmoid,
        ];
        for &isa in Isa::available() {
            for act in acts {
                let mut c = vec![0.0; m * n];
                let mut scratch = vec![0.0; scratch_len(m, k)];
                gemm(isa, &a, m, k, &packed, act, &mut c, n, &mut scratch).unwrap();
                let w: Vec<f32> = want.iter().map(|&v| act.apply_scalar(v)).collect();
                assert_close(&c, &w, 1e-5, "activation");
            }
        }
    }

    #[test]
    fn none_clamps_infinity_like_tflite_and_k0_gives_bias() {
        let packed = PackedB::from_kn(&[1.0], 1, 1, None).unwrap();
        let mut c = [0.0f32];
        let mut scratch = vec![0.0; scratch_len(1, 1)];
        for &isa in Isa::available() {
            gemm(
                isa,
                &[f32::INFINITY],
                1,
                1,
                &packed,
                Activation::None,
                &mut c,
                1,
                &mut scratch,
            )
            .unwrap();
            assert_eq!(c[0], f32::MAX);
        }
        let packed = PackedB::from_kn(&[], 0, 3, Some(&[1.0, -2.0, 3.0])).unwrap();
        let mut c = [0.0f32; 6];
        gemm(
            Isa::detect(),
            &[],
            2,
            0,
            &packed,
            Activation::Relu,
            &mut c,
            3,
            &mut [],
        )
        .unwrap();
        assert_eq!(c, [1.0, 0.0, 3.0, 1.0, 0.0, 3.0]);
    }

    #[test]
    fn unpacked_gemm_matches_naive() {
        let mut rng = Rng::new(17);
        for &(m, k, n) in &[(3, 5, 7), (40, 300, 19), (1, 1, 33)] {
            let ldb = n + 2;
            let a = rng.vec_f32(m * k);
            let b_strided = rng.vec_f32(k * ldb);
            let b: Vec<f32> = (0..k * n)
                .map(|i| b_strided[(i / n) * ldb + i % n])
                .collect();
            let want = naive(&a, &b, &vec![0.0; n], m, k, n);
            for &isa in Isa::available() {
                let mut c = vec![0.0; m * n];
                let mut scratch = vec![0.0; gemm_unpacked_scratch_len(m, k, n)];
                gemm_unpacked(
                    isa,
                    (m, k, n),
                    &a,
                    k,
                    &b_strided,
                    ldb,
                    Activation::None,
                    &mut c,
                    n,
                    &mut scratch,
                )
                .unwrap();
                assert_close(&c, &want, 1e-5, "unpacked gemm");
            }
        }
    }

    #[test]
    fn gather_operands_match_naive_on_both_isas() {
        // A stored transposed (k × m) with an offset, B stored transposed (n × k): both read
        // through offset tables, B packed at load and per call.
        let mut rng = Rng::new(23);
        for &(m, k, n) in &[(7, 300, 33), (13, 5, 16), (1, 1, 1)] {
            let base = 3;
            let at = rng.vec_f32(base + k * m);
            let bt = rng.vec_f32(n * k);
            let a: Vec<f32> = (0..m * k).map(|i| at[base + (i % k) * m + i / k]).collect();
            let b: Vec<f32> = (0..k * n).map(|i| bt[(i % n) * k + i / n]).collect();
            let want = naive(&a, &b, &vec![0.0; n], m, k, n);
            let a_rows: Vec<usize> = (0..m).collect();
            let a_cols: Vec<usize> = (0..k).map(|p| p * m).collect();
            let b_rows: Vec<usize> = (0..k).collect();
            let b_cols: Vec<usize> = (0..n).map(|j| j * k).collect();
            let ga = GatherMatrix::new(&at, base, &a_rows, &a_cols).unwrap();
            let gb = GatherMatrix::new(&bt, 0, &b_rows, &b_cols).unwrap();
            let packed = PackedB::from_gather(&gb, None).unwrap();
            for &isa in Isa::available() {
                let mut c = vec![f32::NAN; m * n];
                let mut scratch = vec![0.0; gemm_unpacked_scratch_len(m, k, n)];
                gemm_gather_b(isa, &ga, &gb, Activation::None, &mut c, n, &mut scratch).unwrap();
                assert_close(&c, &want, 1e-5, "gather A and B");
                c.fill(f32::NAN);
                gemm_source(isa, &ga, &packed, Activation::None, &mut c, n, &mut scratch).unwrap();
                assert_close(&c, &want, 1e-5, "gather A, packed gather B");
            }
        }
        // An element past the data is refused.
        assert!(GatherMatrix::new(&[0.0f32; 4], 1, &[0, 1], &[0, 2]).is_err());
    }

    #[test]
    fn short_buffers_are_errors() {
        let packed = PackedB::from_kn(&[0.0; 12], 3, 4, None).unwrap();
        let mut c = [0.0f32; 7];
        let mut scratch = vec![0.0; scratch_len(2, 3)];
        let r = gemm(
            Isa::detect(),
            &[0.0; 6],
            2,
            3,
            &packed,
            Activation::None,
            &mut c,
            4,
            &mut scratch,
        );
        assert!(matches!(
            r,
            Err(KernelError::BufferTooSmall { what: "C", .. })
        ));
        let mut c = [0.0f32; 8];
        let r = gemm(
            Isa::detect(),
            &[0.0; 5],
            2,
            3,
            &packed,
            Activation::None,
            &mut c,
            4,
            &mut scratch,
        );
        assert!(matches!(
            r,
            Err(KernelError::BufferTooSmall { what: "A", .. })
        ));
        let r = gemm(
            Isa::detect(),
            &[0.0; 6],
            2,
            3,
            &packed,
            Activation::None,
            &mut c,
            4,
            &mut [0.0; 3],
        );
        assert!(matches!(r, Err(KernelError::BufferTooSmall { .. })));
        assert!(PackedB::from_kn(&[0.0; 11], 3, 4, None).is_err());
    }
}

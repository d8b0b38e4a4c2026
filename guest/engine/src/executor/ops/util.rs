//! Shared helpers for ops: broadcasting, index arithmetic, dtype dispatch.

use alloc::vec::Vec;

use crate::error::Result;
use crate::ir::{Activation, DType, Node, QuantParams, Subgraph, TensorInfo};
use crate::{invalid, unsupported};

/// Highest rank the broadcasting and strided loops handle.
pub const MAX_RANK: usize = 8;

/// Numpy-style broadcast of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = alloc::vec![0usize; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// Row-major strides of `dims`.
pub fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = alloc::vec![1usize; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Index plan for reading an input broadcast to an output shape.
#[derive(Debug, Clone)]
pub struct Bcast {
    /// Output dims (rank ≤ [`MAX_RANK`]), left-padded to `rank`.
    pub dims: [usize; MAX_RANK],
    /// Rank.
    pub rank: usize,
    /// Per input: stride per output dim (0 where broadcast).
    pub strides: Vec<[usize; MAX_RANK]>,
    /// Per input: true when it has exactly the output's elements in order.
    pub contiguous: Vec<bool>,
    /// Per input: true when it is a single element.
    pub scalar: Vec<bool>,
    /// Number of output elements.
    pub len: usize,
}

impl Bcast {
    /// Plans broadcasting `inputs` to `out`; fails if a shape does not broadcast to `out`.
    pub fn new(inputs: &[&[usize]], out: &[usize]) -> Result<Bcast> {
        if out.len() > MAX_RANK {
            return Err(unsupported!(
                "broadcasting rank {} (max {MAX_RANK})",
                out.len()
            ));
        }
        let rank = out.len();
        let mut dims = [1usize; MAX_RANK];
        dims[..rank].copy_from_slice(out);
        let len = crate::ir::Shape::new(out).num_elements()?;
        let mut all_strides = Vec::new();
        let mut contiguous = Vec::new();
        let mut scalar = Vec::new();
        for (k, &inp) in inputs.iter().enumerate() {
            if inp.len() > rank {
                return Err(invalid!(
                    "input {k} of shape {:?} has more dims than the output {:?}",
                    inp,
                    out
                ));
            }
            let st = strides(inp);
            let mut s = [0usize; MAX_RANK];
            let off = rank - inp.len();
            for (i, &d) in inp.iter().enumerate() {
                if d == out[off + i] {
                    s[off + i] = if d == 1 { 0 } else { st[i] };
                } else if d == 1 {
                    s[off + i] = 0;
                } else {
                    return Err(invalid!(
                        "input {k} of shape {:?} does not broadcast to {:?}",
                        inp,
                        out
                    ));
                }
            }
            let n = crate::ir::Shape::new(inp).num_elements()?;
            contiguous.push(n == len);
            scalar.push(n == 1);
            all_strides.push(s);
        }
        Ok(Bcast {
            dims,
            rank,
            strides: all_strides,
            contiguous,
            scalar,
            len,
        })
    }

    /// Plans reading an input of shape `dims` transposed by `perm` (output dim `i` is input
    /// dim `perm[i]`; `perm` checked by the caller).
    pub fn permuted(dims: &[usize], perm: &[usize]) -> Result<Bcast> {
        let rank = dims.len();
        if rank > MAX_RANK || perm.len() != rank {
            return Err(unsupported!("transposing rank {rank} (max {MAX_RANK})"));
        }
        let st = strides(dims);
        let mut out = [1usize; MAX_RANK];
        let mut s = [0usize; MAX_RANK];
        for (i, &p) in perm.iter().enumerate() {
            out[i] = *dims
                .get(p)
                .ok_or_else(|| invalid!("{perm:?} is not a permutation"))?;
            s[i] = st[p];
        }
        let len = crate::ir::Shape::new(dims).num_elements()?;
        Ok(Bcast {
            dims: out,
            rank,
            strides: alloc::vec![s],
            contiguous: alloc::vec![perm.iter().enumerate().all(|(i, &p)| i == p)],
            scalar: alloc::vec![len == 1],
            len,
        })
    }

    /// Length of the innermost output dim (the rows [`Bcast::for_each_row`] visits).
    pub fn row_len(&self) -> usize {
        if self.rank == 0 {
            1
        } else {
            self.dims[self.rank - 1]
        }
    }

    /// Stride of input `k` along the innermost output dim (0 where it is broadcast).
    pub fn row_stride(&self, k: usize) -> usize {
        if self.rank == 0 {
            0
        } else {
            self.strides[k][self.rank - 1]
        }
    }

    /// Calls `f(out_index, [input indices])` at the start of every output row (innermost
    /// dim, [`Bcast::row_len`] elements; input `k` then advances by [`Bcast::row_stride`]).
    #[inline]
    #[allow(clippy::needless_range_loop)] // indexes several per-input arrays in step
    pub fn for_each_row<const N: usize>(&self, mut f: impl FnMut(usize, [usize; N])) {
        let step = self.row_len();
        if self.len == 0 {
            return;
        }
        if self.rank <= 1 {
            f(0, [0; N]);
            return;
        }
        let outer = self.rank - 1;
        let mut counter = [0usize; MAX_RANK];
        let mut pos = [0usize; N];
        let mut o = 0usize;
        loop {
            f(o, pos);
            o += step;
            // Advance the odometer over the outer dims.
            let mut d = outer;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                counter[d] += 1;
                for k in 0..N {
                    pos[k] += self.strides[k][d];
                }
                if counter[d] < self.dims[d] {
                    break;
                }
                for k in 0..N {
                    pos[k] -= self.strides[k][d] * counter[d];
                }
                counter[d] = 0;
            }
        }
    }

    /// Calls `f(out_index, [input indices])` for every output element in order.
    #[inline]
    #[allow(clippy::needless_range_loop)] // indexes several per-input arrays in step
    pub fn for_each<const N: usize>(&self, mut f: impl FnMut(usize, [usize; N])) {
        if self.len == 0 {
            return;
        }
        if (0..N).all(|k| self.contiguous[k] || self.scalar[k]) {
            for i in 0..self.len {
                let mut idx = [0usize; N];
                for k in 0..N {
                    idx[k] = if self.scalar[k] { 0 } else { i };
                }
                f(i, idx);
            }
            return;
        }
        let inner = self.row_len();
        let mut inner_strides = [0usize; N];
        for k in 0..N {
            inner_strides[k] = self.row_stride(k);
        }
        self.for_each_row(|o, pos: [usize; N]| {
            let mut p = pos;
            for j in 0..inner {
                f(o + j, p);
                for k in 0..N {
                    p[k] += inner_strides[k];
                }
            }
        });
    }
}

/// Applies a fused f32 activation to one value.
#[inline]
pub fn apply_activation_f32(a: Activation, v: f32) -> f32 {
    match a {
        Activation::None => v,
        Activation::Relu => {
            if v < 0.0 {
                0.0
            } else {
                v
            }
        }
        Activation::Relu6 => v.clamp(0.0, 6.0),
        Activation::ReluN1To1 => v.clamp(-1.0, 1.0),
        Activation::Tanh => libm::tanhf(v),
        Activation::SignBit => v,
    }
}

/// Quantized activation range (TFLite `CalculateActivationRangeQuantized`).
pub fn activation_range_quant(a: Activation, q: &QuantParams, dtype: DType) -> Result<(i32, i32)> {
    let (qmin, qmax) = qrange(dtype)?;
    let (scale, zp) = q.first();
    let quantize = |x: f32| -> i32 {
        let v = libm::roundf(x / scale) as i64 + zp;
        v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
    };
    Ok(match a {
        Activation::None | Activation::Tanh | Activation::SignBit => (qmin, qmax),
        Activation::Relu => (qmin.max(quantize(0.0)), qmax),
        Activation::Relu6 => (qmin.max(quantize(0.0)), qmax.min(quantize(6.0))),
        Activation::ReluN1To1 => (qmin.max(quantize(-1.0)), qmax.min(quantize(1.0))),
    })
    .and_then(|(lo, hi): (i32, i32)| {
        if lo > hi {
            Err(invalid!(
                "fused activation {a:?} leaves an empty range [{lo}, {hi}]"
            ))
        } else {
            Ok((lo, hi))
        }
    })
}

/// Representable range of a quantized integer dtype.
pub fn qrange(dtype: DType) -> Result<(i32, i32)> {
    Ok(match dtype {
        DType::I8 => (-128, 127),
        DType::U8 => (0, 255),
        DType::I16 => (-32768, 32767),
        DType::I32 => (i32::MIN, i32::MAX),
        d => return Err(unsupported!("quantized dtype {d}")),
    })
}

/// The per-tensor quantization of `t`, or an error naming the tensor.
pub fn per_tensor(t: &TensorInfo) -> Result<(f32, i32)> {
    let q = t.quant.as_ref().ok_or_else(|| {
        invalid!(
            "tensor `{}` ({}) has no quantization parameters",
            t.name,
            t.dtype
        )
    })?;
    if !q.is_per_tensor() {
        return Err(unsupported!(
            "per-channel quantization on tensor `{}` for this op",
            t.name
        ));
    }
    let (s, z) = q.first();
    if !(s.is_finite() && s > 0.0) {
        return Err(invalid!("tensor `{}` has quantization scale {s}", t.name));
    }
    let z = i32::try_from(z).map_err(|_| invalid!("tensor `{}` has zero point {z}", t.name))?;
    Ok((s, z))
}

/// True when the tensor is a quantized 8/16-bit integer tensor.
pub fn is_quantized(t: &TensorInfo) -> bool {
    matches!(t.dtype, DType::I8 | DType::U8 | DType::I16) && t.quant.is_some()
}

/// Checks that two tensors have the same dtype.
pub fn same_dtype(a: &TensorInfo, b: &TensorInfo) -> Result<()> {
    if a.dtype != b.dtype {
        return Err(invalid!(
            "tensor `{}` is {} but `{}` is {}",
            a.name,
            a.dtype,
            b.name,
            b.dtype
        ));
    }
    Ok(())
}

/// Checks that quantization parameters of two tensors agree (ops that move values unchanged).
pub fn same_quant(a: &TensorInfo, b: &TensorInfo) -> Result<()> {
    let eq = match (&a.quant, &b.quant) {
        (None, None) => true,
        (Some(x), Some(y)) => x.scale == y.scale && x.zero_point == y.zero_point,
        _ => !is_quantized(a) && !is_quantized(b),
    };
    if !eq {
        return Err(unsupported!(
            "tensors `{}` and `{}` have different quantization; this op moves values unchanged",
            a.name,
            b.name
        ));
    }
    Ok(())
}

/// Static info of input `i` of `node`.
pub fn input_info<'a>(sg: &'a Subgraph, node: &Node, i: usize) -> Result<&'a TensorInfo> {
    let t = node
        .inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| invalid!("missing input {i}"))?;
    sg.tensors
        .get(t)
        .ok_or_else(|| invalid!("input {i} (tensor {t}) out of range"))
}

/// Static info of output `i` of `node`.
pub fn output_info<'a>(sg: &'a Subgraph, node: &Node, i: usize) -> Result<&'a TensorInfo> {
    let t = *node
        .outputs
        .get(i)
        .ok_or_else(|| invalid!("missing output {i}"))?;
    sg.tensors
        .get(t)
        .ok_or_else(|| invalid!("output {i} (tensor {t}) out of range"))
}

/// Calls `f` with every multi-index of `dims` in row-major order (nothing for an empty
/// shape; rank at most [`MAX_RANK`]).
pub fn for_each_index(dims: &[usize], mut f: impl FnMut(&[usize])) {
    if dims.contains(&0) {
        return;
    }
    let mut idx = [0usize; MAX_RANK];
    let r = dims.len();
    loop {
        f(&idx[..r]);
        let mut d = r;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < dims[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

//! Fused activations for f32 kernels, as TFLite defines them.

/// A fused activation function (TFLite's `ActivationFunctionType`).
///
/// TFLite's conv / depthwise / fully-connected / pooling / add kernels only honour the clamping
/// activations (`None`, `Relu`, `ReluN1To1`, `Relu6`): for them `TANH` and `SIGN_BIT` are
/// treated as no activation by `CalculateActivationRange`. `Tanh` and `Sigmoid` here are for
/// ops whose definition applies them (the caller decides which it needs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// No activation; TFLite still clamps to `[f32::MIN, f32::MAX]` (so ±inf become ±MAX).
    None,
    /// `max(x, 0)`.
    Relu,
    /// `clamp(x, -1, 1)`.
    ReluN1To1,
    /// `clamp(x, 0, 6)`.
    Relu6,
    /// Clamp to an explicit range.
    Clamp {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// `tanh(x)` (applied after the clamp-free kernel).
    Tanh,
    /// `1 / (1 + exp(-x))` (applied after the clamp-free kernel).
    Sigmoid,
}

impl Activation {
    /// The clamp range applied inside kernels (`[f32::MIN, f32::MAX]` for none / tanh / sigmoid).
    pub fn range(self) -> (f32, f32) {
        match self {
            Activation::Relu => (0.0, f32::MAX),
            Activation::ReluN1To1 => (-1.0, 1.0),
            Activation::Relu6 => (0.0, 6.0),
            Activation::Clamp { min, max } => (min, max),
            Activation::None | Activation::Tanh | Activation::Sigmoid => (f32::MIN, f32::MAX),
        }
    }

    /// Whether a non-clamping function must be applied after the kernel.
    pub fn needs_post_pass(self) -> bool {
        matches!(self, Activation::Tanh | Activation::Sigmoid)
    }

    /// Applies the non-clamping part (tanh / sigmoid) in place; no-op for clamping activations.
    pub fn apply_post(self, data: &mut [f32]) {
        match self {
            Activation::Tanh => data.iter_mut().for_each(|v| *v = libm::tanhf(*v)),
            Activation::Sigmoid => data.iter_mut().for_each(|v| *v = sigmoid(*v)),
            _ => {}
        }
    }

    /// Applies the whole activation to one value (reference semantics).
    pub fn apply_scalar(self, v: f32) -> f32 {
        match self {
            Activation::Tanh => libm::tanhf(v),
            Activation::Sigmoid => sigmoid(v),
            _ => {
                let (lo, hi) = self.range();
                clamp(v, lo, hi)
            }
        }
    }
}

/// `min(max(v, lo), hi)` with C++ `std::max`/`std::min` semantics (a NaN input stays NaN).
#[inline(always)]
pub fn clamp(v: f32, lo: f32, hi: f32) -> f32 {
    let v = if v < lo { lo } else { v };
    if hi < v {
        hi
    } else {
        v
    }
}

/// The logistic function `1 / (1 + exp(-x))`.
#[inline]
pub fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-v))
}

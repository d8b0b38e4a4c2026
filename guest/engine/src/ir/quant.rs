use alloc::vec::Vec;

/// Affine quantization: `real = scale * (q - zero_point)`.
///
/// One scale/zero point (per-tensor) or one per slice along `axis` (per-channel).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantParams {
    /// Scales: one, or one per channel along `axis`.
    pub scale: Vec<f32>,
    /// Zero points: same length as `scale`.
    pub zero_point: Vec<i64>,
    /// The quantized dimension for per-channel parameters (0 for per-tensor).
    pub axis: usize,
}

impl QuantParams {
    /// Per-tensor parameters.
    pub fn per_tensor(scale: f32, zero_point: i64) -> Self {
        QuantParams {
            scale: alloc::vec![scale],
            zero_point: alloc::vec![zero_point],
            axis: 0,
        }
    }

    /// True when one scale covers the whole tensor.
    pub fn is_per_tensor(&self) -> bool {
        self.scale.len() == 1
    }

    /// The per-tensor scale and zero point (the first channel's for per-channel parameters).
    pub fn first(&self) -> (f32, i64) {
        (
            self.scale.first().copied().unwrap_or(1.0),
            self.zero_point.first().copied().unwrap_or(0),
        )
    }
}

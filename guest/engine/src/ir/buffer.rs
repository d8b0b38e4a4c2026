use alloc::vec::Vec;
use core::fmt;

/// One 64-byte aligned block of storage.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
struct Block([u8; 64]);

/// A byte buffer whose start is aligned to 64 bytes (cache line, and enough for any element
/// type), so constants and arena tensors can be viewed as typed slices without copying.
#[derive(Clone, Default)]
pub struct AlignedBuf {
    blocks: Vec<Block>,
    len: usize,
}

impl AlignedBuf {
    /// Alignment of the buffer start, in bytes.
    pub const ALIGN: usize = 64;

    /// A zero-filled buffer of `len` bytes; `None` if the allocation size overflows.
    pub fn zeroed(len: usize) -> Option<Self> {
        let n = len.checked_add(63)? / 64;
        let mut blocks = Vec::new();
        blocks.try_reserve_exact(n).ok()?;
        blocks.resize(n, Block([0; 64]));
        Some(AlignedBuf { blocks, len })
    }

    /// Copies `bytes` into a new aligned buffer; `None` if memory is exhausted.
    pub fn copy_from(bytes: &[u8]) -> Option<Self> {
        let mut b = Self::zeroed(bytes.len())?;
        b.as_mut_slice().copy_from_slice(bytes);
        Some(b)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice::<Block, u8>(&self.blocks)[..self.len]
    }

    /// The bytes, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<Block, u8>(&mut self.blocks)[..self.len]
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlignedBuf({} bytes)", self.len)
    }
}

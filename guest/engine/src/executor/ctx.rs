//! What an op sees while running: typed views of its inputs, outputs and scratch.

use core::cell::Cell;

use crate::error::Result;
use crate::invalid;
use crate::ir::{Graph, Node, Subgraph, TensorInfo};

use super::Slot;

/// Views of one node's tensors in the arena and constants.
///
/// Soundness: the planner gives every activation tensor a range of the arena that does not
/// overlap any other tensor alive at the same time; a node's inputs and outputs are all alive
/// while it runs, and no tensor is both an input and an output of one node (checked at plan
/// time). Scratch lies past every tensor. Each output may be borrowed mutably only once per
/// step, which `taken` enforces, so the slices handed out never alias mutably.
pub(crate) struct Ctx<'a> {
    base: *mut u8,
    arena_len: usize,
    pub graph: &'a Graph,
    pub sub: &'a Subgraph,
    slots: &'a [Slot],
    pub node: &'a Node,
    scratch_offset: usize,
    scratch_len: usize,
    taken: Cell<u64>,
}

impl<'a> Ctx<'a> {
    /// # Safety
    /// `base` must point to `arena_len` writable bytes that nothing else accesses for `'a`,
    /// and `slots` must come from the plan of `sub` built for an arena of that size.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn new(
        base: *mut u8,
        arena_len: usize,
        graph: &'a Graph,
        sub: &'a Subgraph,
        slots: &'a [Slot],
        node: &'a Node,
        scratch_offset: usize,
        scratch_len: usize,
    ) -> Self {
        Ctx {
            base,
            arena_len,
            graph,
            sub,
            slots,
            node,
            scratch_offset,
            scratch_len,
            taken: Cell::new(0),
        }
    }

    /// Number of inputs (including absent optional ones).
    pub fn num_inputs(&self) -> usize {
        self.node.inputs.len()
    }

    /// Number of outputs.
    pub fn num_outputs(&self) -> usize {
        self.node.outputs.len()
    }

    /// True when optional input `i` is present.
    pub fn has_input(&self, i: usize) -> bool {
        matches!(self.node.inputs.get(i), Some(Some(_)))
    }

    /// Static info of input `i`.
    pub fn in_info(&self, i: usize) -> Result<&'a TensorInfo> {
        let tid = self
            .node
            .inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| invalid!("missing input {i}"))?;
        self.sub
            .tensors
            .get(tid)
            .ok_or_else(|| invalid!("input tensor {tid} out of range"))
    }

    /// Static info of output `i`.
    pub fn out_info(&self, i: usize) -> Result<&'a TensorInfo> {
        let tid = *self
            .node
            .outputs
            .get(i)
            .ok_or_else(|| invalid!("missing output {i}"))?;
        self.sub
            .tensors
            .get(tid)
            .ok_or_else(|| invalid!("output tensor {tid} out of range"))
    }

    /// Bytes of input `i`.
    pub fn input(&self, i: usize) -> Result<&'a [u8]> {
        let tid = self
            .node
            .inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| invalid!("missing input {i}"))?;
        match self.slots.get(tid) {
            Some(Slot::Arena { offset, len }) => {
                self.check_range(*offset, *len)?;
                // SAFETY: the range is inside the arena (checked) and not mutably borrowed
                // during this step (see the type's soundness note).
                Ok(unsafe { core::slice::from_raw_parts(self.base.add(*offset), *len) })
            }
            Some(Slot::Const(c)) => Ok(self.graph.constant_bytes(*c)),
            _ => Err(invalid!("input tensor {tid} has no storage")),
        }
    }

    /// Bytes of output `i`; may be called once per output per step.
    pub fn output(&self, i: usize) -> Result<&'a mut [u8]> {
        let tid = *self
            .node
            .outputs
            .get(i)
            .ok_or_else(|| invalid!("missing output {i}"))?;
        if i >= 63 {
            return Err(invalid!("ops with more than 63 outputs are not supported"));
        }
        let bit = 1u64 << i;
        if self.taken.get() & bit != 0 {
            return Err(invalid!("output {i} borrowed twice"));
        }
        match self.slots.get(tid) {
            Some(Slot::Arena { offset, len }) => {
                self.check_range(*offset, *len)?;
                self.taken.set(self.taken.get() | bit);
                // SAFETY: in-bounds (checked), disjoint from every other tensor of this step and
                // handed out once (the `taken` bit), so no other reference aliases it.
                Ok(unsafe { core::slice::from_raw_parts_mut(self.base.add(*offset), *len) })
            }
            _ => Err(invalid!("output tensor {tid} is not in the arena")),
        }
    }

    /// The shared scratch region (64-byte aligned); may be called once per step.
    pub fn scratch(&self) -> Result<&'a mut [u8]> {
        let bit = 1u64 << 63;
        if self.taken.get() & bit != 0 {
            return Err(invalid!("scratch borrowed twice"));
        }
        self.check_range(self.scratch_offset, self.scratch_len)?;
        self.taken.set(self.taken.get() | bit);
        // SAFETY: scratch lies past all tensors of every subgraph and is handed out once.
        Ok(unsafe {
            core::slice::from_raw_parts_mut(self.base.add(self.scratch_offset), self.scratch_len)
        })
    }

    fn check_range(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.arena_len => Ok(()),
            _ => Err(invalid!("tensor range {offset}+{len} outside the arena")),
        }
    }

    /// Input `i` viewed as a typed slice.
    pub fn input_as<T: bytemuck::Pod>(&self, i: usize) -> Result<&'a [T]> {
        bytemuck::try_cast_slice(self.input(i)?).map_err(|e| invalid!("input {i}: {e:?}"))
    }

    /// Output `i` viewed as a typed slice (once per output per step).
    pub fn output_as<T: bytemuck::Pod>(&self, i: usize) -> Result<&'a mut [T]> {
        bytemuck::try_cast_slice_mut(self.output(i)?).map_err(|e| invalid!("output {i}: {e:?}"))
    }
}

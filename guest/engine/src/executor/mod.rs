//! The executor: plans a [`Graph`] once (shape checks, static arena, prepared weights) and runs
//! it any number of times without allocating per op.
//!
//! - `plan`: lifetimes → arena offsets, per-subgraph regions, scratch.
//! - `ctx`: the view an op gets of its inputs, outputs and scratch while running.
//! - `ops`: per-op `prepare` (load time) and `run`.
//! - `kernels`: the compute kernels (GEMM, convolutions, pooling, mean; owned by the kernels work).

mod ctx;
pub mod kernels;
mod ops;
mod plan;
mod regions;

use alloc::vec::Vec;

use crate::error::Result;
use crate::ir::{
    AlignedBuf, DType, Graph, Op, ScatterAttrs, ScatterCombiner, SortComparator, SubgraphId,
    TensorData, TensorInfo,
};
use crate::{bad_input, invalid, too_large};

pub(crate) use ctx::Ctx;
pub(crate) use plan::{Slot, SubgraphPlan};

/// Largest arena one model may use (guards against absurd graphs).
pub const MAX_ARENA_BYTES: usize = crate::ir::MAX_TENSOR_BYTES;

/// Most iterations one WHILE op may run (a model cannot make the engine spin forever).
pub const MAX_WHILE_ITERATIONS: u64 = 1 << 24;

/// Current value of a resource variable.
#[derive(Debug, Clone)]
pub(crate) struct Variable {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: AlignedBuf,
}

/// A loaded, planned model ready to run; keeps its state (arena, resource variables, which
/// CALL_ONCE initializers have run) across invokes.
pub struct Model {
    graph: Graph,
    plans: Vec<SubgraphPlan>,
    arena: AlignedBuf,
    scratch_offset: usize,
    scratch_len: usize,
    variables: Vec<Option<Variable>>,
    call_once_done: Vec<bool>,
}

impl core::fmt::Debug for Model {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Model")
            .field("subgraphs", &self.graph.subgraphs.len())
            .field("arena_bytes", &self.arena.len())
            .finish()
    }
}

impl Model {
    /// Plans `graph`: validates every node (shapes, dtypes, indices), lays out the arena and
    /// prepares weights. Fails with a descriptive error on any inconsistency.
    pub fn new(graph: Graph) -> Result<Model> {
        Self::with_arena_limit(graph, MAX_ARENA_BYTES)
    }

    /// Like [`Model::new`], refusing models whose arena (activations + scratch) would exceed
    /// `max_arena_bytes` before allocating it (for hosts with a memory budget).
    pub fn with_arena_limit(graph: Graph, max_arena_bytes: usize) -> Result<Model> {
        let layout = plan::plan_graph(&graph)?;
        let arena_len = layout
            .arena_len
            .checked_add(layout.scratch_len)
            .filter(|&n| n <= max_arena_bytes.min(MAX_ARENA_BYTES))
            .ok_or_else(|| too_large!("arena of {} bytes exceeds the limit", layout.arena_len))?;
        let arena = AlignedBuf::zeroed(arena_len)
            .ok_or_else(|| too_large!("cannot allocate an arena of {arena_len} bytes"))?;
        let n_res = graph.resources.len();
        let n_sub = graph.subgraphs.len();
        Ok(Model {
            graph,
            plans: layout.plans,
            arena,
            scratch_offset: layout.arena_len,
            scratch_len: layout.scratch_len,
            variables: alloc::vec![None; n_res],
            call_once_done: alloc::vec![false; n_sub],
        })
    }

    /// The IR graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Size of the planned arena in bytes (activations + scratch).
    pub fn arena_bytes(&self) -> usize {
        self.arena.len()
    }

    /// The entry subgraph's input tensors.
    pub fn inputs(&self) -> impl Iterator<Item = &TensorInfo> {
        let sg = &self.graph.subgraphs[self.graph.entry];
        sg.inputs.iter().map(move |&t| &sg.tensors[t])
    }

    /// The entry subgraph's output tensors.
    pub fn outputs(&self) -> impl Iterator<Item = &TensorInfo> {
        let sg = &self.graph.subgraphs[self.graph.entry];
        sg.outputs.iter().map(move |&t| &sg.tensors[t])
    }

    /// Runs the entry subgraph on `inputs` (dtype and shape must match the model's inputs).
    /// Results are read with [`Model::output`].
    pub fn run(&mut self, inputs: &[TensorData<'_>]) -> Result<()> {
        let entry = self.graph.entry;
        let sg = &self.graph.subgraphs[entry];
        if inputs.len() != sg.inputs.len() {
            return Err(bad_input!(
                "model takes {} inputs, got {}",
                sg.inputs.len(),
                inputs.len()
            ));
        }
        for (i, (given, &tid)) in inputs.iter().zip(sg.inputs.iter()).enumerate() {
            let info = &sg.tensors[tid];
            if given.dtype != info.dtype || given.shape != info.shape.dims() {
                return Err(bad_input!(
                    "input {i} ({}) must be {} {}, got {} {:?}",
                    info.name,
                    info.dtype,
                    info.shape,
                    given.dtype,
                    given.shape
                ));
            }
            let expected = info.byte_len()?;
            if given.bytes.len() != expected {
                return Err(bad_input!(
                    "input {i} ({}) must be {expected} bytes, got {}",
                    info.name,
                    given.bytes.len()
                ));
            }
            let dst = self.plans[entry].slot_range(tid)?;
            self.arena.as_mut_slice()[dst].copy_from_slice(given.bytes);
        }
        self.run_subgraph(entry)
    }

    /// Output `i` of the entry subgraph after [`Model::run`].
    pub fn output(&self, i: usize) -> Result<TensorData<'_>> {
        let entry = self.graph.entry;
        let sg = &self.graph.subgraphs[entry];
        let &tid = sg
            .outputs
            .get(i)
            .ok_or_else(|| bad_input!("model has {} outputs, asked for {i}", sg.outputs.len()))?;
        let info = &sg.tensors[tid];
        let bytes = self.tensor_bytes(entry, tid)?;
        Ok(TensorData {
            dtype: info.dtype,
            shape: info.shape.dims(),
            bytes,
        })
    }

    /// Number of outputs of the entry subgraph.
    pub fn num_outputs(&self) -> usize {
        self.graph.subgraphs[self.graph.entry].outputs.len()
    }

    fn tensor_bytes(&self, sub: SubgraphId, tid: usize) -> Result<&[u8]> {
        tensor_bytes_of(&self.plans, &self.arena, &self.graph, sub, tid)
    }

    /// Copies tensor `src` of subgraph `from` into tensor `dst` of subgraph `to` (same size).
    fn copy_tensor(
        &mut self,
        from: SubgraphId,
        src: usize,
        to: SubgraphId,
        dst: usize,
    ) -> Result<()> {
        let dst_range = self.plans[to].slot_range(dst)?;
        match self.plans[from].slots.get(src) {
            Some(Slot::Arena { offset, len }) => {
                if *len != dst_range.len() {
                    return Err(invalid!(
                        "tensor size mismatch passing values between subgraphs"
                    ));
                }
                self.arena
                    .as_mut_slice()
                    .copy_within(*offset..offset + len, dst_range.start);
                Ok(())
            }
            Some(Slot::Const(c)) => {
                let bytes = self.graph.constant_bytes(*c);
                if bytes.len() != dst_range.len() {
                    return Err(invalid!(
                        "constant size mismatch passing values between subgraphs"
                    ));
                }
                self.arena.as_mut_slice()[dst_range].copy_from_slice(bytes);
                Ok(())
            }
            _ => Err(invalid!("tensor {src} of subgraph {from} has no storage")),
        }
    }

    fn run_subgraph(&mut self, sub: SubgraphId) -> Result<()> {
        let n_steps = self.plans[sub].steps.len();
        for step in 0..n_steps {
            let node_index = self.plans[sub].steps[step].node;
            let op = &self.graph.subgraphs[sub].nodes[node_index].op;
            match op {
                Op::Call { subgraph } => {
                    let callee = *subgraph;
                    self.call(sub, node_index, callee, 0)?;
                }
                Op::If {
                    then_branch,
                    else_branch,
                } => {
                    let (t, e) = (*then_branch, *else_branch);
                    let cond = self.read_condition(sub, node_index, 0)?;
                    self.call(sub, node_index, if cond { t } else { e }, 1)?;
                }
                Op::While { cond, body } => {
                    let (c, b) = (*cond, *body);
                    self.run_while(sub, node_index, c, b)?;
                }
                Op::CallOnce { init } => {
                    let init = *init;
                    if !self.call_once_done[init] {
                        self.run_subgraph(init)?;
                        self.call_once_done[init] = true;
                    }
                }
                Op::ReadVariable | Op::AssignVariable => self.run_variable_op(sub, node_index)?,
                Op::Scatter(ScatterAttrs {
                    combiner: ScatterCombiner::Region(region),
                    ..
                }) => {
                    let region = *region;
                    self.run_scatter_region(sub, step, region)?
                }
                Op::Sort {
                    comparator: SortComparator::Region(region),
                    ..
                } => {
                    let region = *region;
                    self.run_sort_region(sub, step, region)?
                }
                _ => self.run_step(sub, step)?,
            }
        }
        Ok(())
    }

    fn run_step(&mut self, sub: SubgraphId, step: usize) -> Result<()> {
        let plan = &self.plans[sub];
        let st = &plan.steps[step];
        let sg = &self.graph.subgraphs[sub];
        let node = &sg.nodes[st.node];
        let arena_len = self.arena.len();
        let base = self.arena.as_mut_slice().as_mut_ptr();
        // SAFETY: `base` points to the arena's `arena_len` bytes, exclusively borrowed by `self`
        // for the duration of this call; `Ctx` only hands out slices of planned, in-bounds,
        // pairwise non-overlapping ranges (see `Ctx`).
        let ctx = unsafe {
            Ctx::new(
                base,
                arena_len,
                &self.graph,
                sg,
                &plan.slots,
                node,
                self.scratch_offset,
                self.scratch_len,
            )
        };
        ops::run(&ctx, node, &st.prepared)
    }

    fn read_condition(&self, sub: SubgraphId, node_index: usize, input: usize) -> Result<bool> {
        let node = &self.graph.subgraphs[sub].nodes[node_index];
        let tid = node
            .inputs
            .get(input)
            .copied()
            .flatten()
            .ok_or_else(|| invalid!("missing condition"))?;
        let bytes = self.tensor_bytes(sub, tid)?;
        Ok(bytes.iter().any(|&b| b != 0))
    }

    /// Copies the node's inputs (from `first_input`) into `callee`'s inputs, runs it, and copies
    /// its outputs into the node's outputs.
    fn call(
        &mut self,
        sub: SubgraphId,
        node_index: usize,
        callee: SubgraphId,
        first_input: usize,
    ) -> Result<()> {
        let n_in = self.graph.subgraphs[sub].nodes[node_index].inputs.len();
        for k in first_input..n_in {
            let src = self.graph.subgraphs[sub].nodes[node_index].inputs[k]
                .ok_or_else(|| invalid!("call with an absent input"))?;
            let dst = self.graph.subgraphs[callee].inputs[k - first_input];
            self.copy_tensor(sub, src, callee, dst)?;
        }
        self.run_subgraph(callee)?;
        let n_out = self.graph.subgraphs[sub].nodes[node_index].outputs.len();
        for k in 0..n_out {
            let src = self.graph.subgraphs[callee].outputs[k];
            let dst = self.graph.subgraphs[sub].nodes[node_index].outputs[k];
            self.copy_tensor(callee, src, sub, dst)?;
        }
        Ok(())
    }

    fn run_while(
        &mut self,
        sub: SubgraphId,
        node_index: usize,
        cond: SubgraphId,
        body: SubgraphId,
    ) -> Result<()> {
        let n = self.graph.subgraphs[sub].nodes[node_index].inputs.len();
        // State lives in the node's outputs between iterations.
        for k in 0..n {
            let src = self.graph.subgraphs[sub].nodes[node_index].inputs[k]
                .ok_or_else(|| invalid!("while with an absent input"))?;
            let dst = self.graph.subgraphs[sub].nodes[node_index].outputs[k];
            self.copy_tensor(sub, src, sub, dst)?;
        }
        let mut iterations = 0u64;
        loop {
            iterations += 1;
            if iterations > MAX_WHILE_ITERATIONS {
                return Err(bad_input!(
                    "WHILE loop in subgraph {sub} ran more than {MAX_WHILE_ITERATIONS} iterations"
                ));
            }
            for k in 0..n {
                let src = self.graph.subgraphs[sub].nodes[node_index].outputs[k];
                let dst = self.graph.subgraphs[cond].inputs[k];
                self.copy_tensor(sub, src, cond, dst)?;
            }
            self.run_subgraph(cond)?;
            let cond_out = self.graph.subgraphs[cond].outputs[0];
            if !self.tensor_bytes(cond, cond_out)?.iter().any(|&b| b != 0) {
                return Ok(());
            }
            for k in 0..n {
                let src = self.graph.subgraphs[sub].nodes[node_index].outputs[k];
                let dst = self.graph.subgraphs[body].inputs[k];
                self.copy_tensor(sub, src, body, dst)?;
            }
            self.run_subgraph(body)?;
            for k in 0..n {
                let src = self.graph.subgraphs[body].outputs[k];
                let dst = self.graph.subgraphs[sub].nodes[node_index].outputs[k];
                self.copy_tensor(body, src, sub, dst)?;
            }
        }
    }

    fn run_variable_op(&mut self, sub: SubgraphId, node_index: usize) -> Result<()> {
        let node = &self.graph.subgraphs[sub].nodes[node_index];
        let handle = node
            .inputs
            .first()
            .copied()
            .flatten()
            .ok_or_else(|| invalid!("variable op without a handle"))?;
        let hb = self.tensor_bytes(sub, handle)?;
        let id = u32::from_le_bytes(
            hb.get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| invalid!("bad resource handle"))?,
        ) as usize;
        if id >= self.variables.len() {
            return Err(invalid!("resource handle {id} out of range"));
        }
        match node.op {
            Op::AssignVariable => {
                let value = node
                    .inputs
                    .get(1)
                    .copied()
                    .flatten()
                    .ok_or_else(|| invalid!("ASSIGN_VARIABLE without a value"))?;
                let info = &self.graph.subgraphs[sub].tensors[value];
                let (dtype, shape) = (info.dtype, info.shape.dims());
                let bytes = tensor_bytes_of(&self.plans, &self.arena, &self.graph, sub, value)?;
                match &mut self.variables[id] {
                    // Same size: reuse the storage (no allocation in steady state).
                    Some(v) if v.data.len() == bytes.len() => {
                        v.data.as_mut_slice().copy_from_slice(bytes);
                        v.dtype = dtype;
                        if v.shape != shape {
                            v.shape.clear();
                            v.shape.extend_from_slice(shape);
                        }
                    }
                    slot => {
                        let data = AlignedBuf::copy_from(bytes)
                            .ok_or_else(|| too_large!("variable of {} bytes", bytes.len()))?;
                        *slot = Some(Variable {
                            dtype,
                            shape: shape.to_vec(),
                            data,
                        });
                    }
                }
                Ok(())
            }
            Op::ReadVariable => {
                let out = node.outputs[0];
                let info = &self.graph.subgraphs[sub].tensors[out];
                let var = self.variables[id].as_ref().ok_or_else(|| {
                    invalid!(
                        "READ_VARIABLE of `{}` before any ASSIGN_VARIABLE",
                        self.graph.resources[id].name
                    )
                })?;
                if var.dtype != info.dtype || var.shape != info.shape.0 {
                    return Err(invalid!(
                        "variable `{}` holds {} {:?}, READ_VARIABLE expects {} {}",
                        self.graph.resources[id].name,
                        var.dtype,
                        var.shape,
                        info.dtype,
                        info.shape
                    ));
                }
                let dst = self.plans[sub].slot_range(out)?;
                let src = var.data.as_slice();
                self.arena.as_mut_slice()[dst].copy_from_slice(src);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The bytes of tensor `tid` of subgraph `sub` (arena or constant).
fn tensor_bytes_of<'a>(
    plans: &[SubgraphPlan],
    arena: &'a AlignedBuf,
    graph: &'a Graph,
    sub: SubgraphId,
    tid: usize,
) -> Result<&'a [u8]> {
    match plans[sub].slots.get(tid) {
        Some(Slot::Arena { offset, len }) => arena
            .as_slice()
            .get(*offset..offset.saturating_add(*len))
            .ok_or_else(|| invalid!("tensor {tid} of subgraph {sub} lies outside the arena")),
        Some(Slot::Const(c)) => Ok(graph.constant_bytes(*c)),
        _ => Err(invalid!("tensor {tid} of subgraph {sub} has no storage")),
    }
}

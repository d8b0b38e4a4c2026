//! Load-time planning: validation, tensor lifetimes, the static arena, prepared op data.

use alloc::vec::Vec;
use core::ops::Range;

use super::ops::{self, Prepared};
use super::MAX_ARENA_BYTES;
use crate::error::Result;
use crate::ir::{ConstId, Graph, Op, ScatterCombiner, SortComparator, SubgraphId, TensorKind};
use crate::{invalid, too_large};

/// Where a tensor's bytes live while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Not used by any node.
    Unused,
    /// A range of the arena.
    Arena { offset: usize, len: usize },
    /// A constant of the graph, referenced in place.
    Const(ConstId),
}

/// One node to run, with its load-time prepared data.
pub(crate) struct Step {
    pub node: usize,
    pub prepared: Prepared,
}

/// The plan of one subgraph.
pub(crate) struct SubgraphPlan {
    pub slots: Vec<Slot>,
    pub steps: Vec<Step>,
}

impl SubgraphPlan {
    /// The arena range of activation tensor `tid`.
    pub fn slot_range(&self, tid: usize) -> Result<Range<usize>> {
        match self.slots.get(tid) {
            Some(Slot::Arena { offset, len }) => Ok(*offset..offset + len),
            _ => Err(invalid!("tensor {tid} is not an arena tensor")),
        }
    }
}

/// The plan of a whole graph.
pub(crate) struct Layout {
    pub plans: Vec<SubgraphPlan>,
    pub arena_len: usize,
    pub scratch_len: usize,
}

const ALIGN: usize = 64;

fn align_up(x: usize) -> Result<usize> {
    x.checked_add(ALIGN - 1)
        .map(|v| v & !(ALIGN - 1))
        .ok_or_else(|| too_large!("arena offset overflows"))
}

/// Validates `graph` and lays it out.
pub(crate) fn plan_graph(graph: &Graph) -> Result<Layout> {
    let n_sub = graph.subgraphs.len();
    if graph.entry >= n_sub {
        return Err(invalid!(
            "entry subgraph {} out of range ({} subgraphs)",
            graph.entry,
            n_sub
        ));
    }
    check_call_graph(graph)?;
    let mut plans = Vec::with_capacity(n_sub);
    let mut region_base = 0usize;
    let mut scratch_len = 0usize;
    for s in 0..n_sub {
        let (plan, region_len, scratch) = plan_subgraph(graph, s, region_base)?;
        region_base = region_base
            .checked_add(region_len)
            .and_then(|v| align_up(v).ok())
            .filter(|&v| v <= MAX_ARENA_BYTES)
            .ok_or_else(|| too_large!("arena exceeds {MAX_ARENA_BYTES} bytes"))?;
        scratch_len = scratch_len.max(scratch);
        plans.push(plan);
    }
    Ok(Layout {
        plans,
        arena_len: region_base,
        scratch_len: align_up(scratch_len)?,
    })
}

/// Callee indices in range, callee arities match, no recursion.
fn check_call_graph(graph: &Graph) -> Result<()> {
    let n = graph.subgraphs.len();
    let callees = |s: SubgraphId| -> Vec<SubgraphId> {
        let mut v = Vec::new();
        for node in &graph.subgraphs[s].nodes {
            match node.op {
                Op::Call { subgraph } => v.push(subgraph),
                Op::If {
                    then_branch,
                    else_branch,
                } => {
                    v.push(then_branch);
                    v.push(else_branch)
                }
                Op::While { cond, body } => {
                    v.push(cond);
                    v.push(body)
                }
                Op::CallOnce { init } => v.push(init),
                Op::Scatter(ref a) => {
                    if let ScatterCombiner::Region(r) = a.combiner {
                        v.push(r)
                    }
                }
                Op::Sort {
                    comparator: SortComparator::Region(r),
                    ..
                } => v.push(r),
                _ => {}
            }
        }
        v
    };
    for s in 0..n {
        for c in callees(s) {
            if c >= n {
                return Err(invalid!(
                    "subgraph {s} calls subgraph {c}, which does not exist ({n} subgraphs)"
                ));
            }
        }
    }
    // Iterative DFS with colours: 0 white, 1 on stack, 2 done.
    let mut colour = alloc::vec![0u8; n];
    for root in 0..n {
        if colour[root] != 0 {
            continue;
        }
        let mut stack: Vec<(SubgraphId, Vec<SubgraphId>)> = alloc::vec![(root, callees(root))];
        colour[root] = 1;
        while let Some((s, rest)) = stack.last_mut() {
            let s = *s;
            if let Some(c) = rest.pop() {
                match colour[c] {
                    1 => {
                        return Err(invalid!(
                            "subgraph {c} calls itself recursively (via subgraph {s})"
                        ))
                    }
                    0 => {
                        colour[c] = 1;
                        let cs = callees(c);
                        stack.push((c, cs));
                    }
                    _ => {}
                }
            } else {
                colour[s] = 2;
                stack.pop();
            }
        }
    }
    // Arity and type agreement at call sites.
    for (s, sg) in graph.subgraphs.iter().enumerate() {
        for (ni, node) in sg.nodes.iter().enumerate() {
            let check = |callee: SubgraphId, ins: &[Option<usize>], outs: &[usize]| -> Result<()> {
                let c = &graph.subgraphs[callee];
                if c.inputs.len() != ins.len() || c.outputs.len() != outs.len() {
                    return Err(invalid!(
                        "node {ni} of subgraph {s} passes {} inputs / {} outputs to subgraph {callee}, which has {} / {}",
                        ins.len(), outs.len(), c.inputs.len(), c.outputs.len()
                    ));
                }
                for (k, (a, &b)) in ins.iter().zip(c.inputs.iter()).enumerate() {
                    let a = a.ok_or_else(|| {
                        invalid!("node {ni} of subgraph {s}: absent input {k} to a call")
                    })?;
                    same_type(graph, s, a, callee, b)?;
                }
                for (&a, &b) in outs.iter().zip(c.outputs.iter()) {
                    same_type(graph, s, a, callee, b)?;
                }
                Ok(())
            };
            match node.op {
                Op::Call { subgraph } => check(subgraph, &node.inputs, &node.outputs)?,
                Op::If {
                    then_branch,
                    else_branch,
                } => {
                    if node.inputs.is_empty() {
                        return Err(invalid!("IF node {ni} of subgraph {s} has no condition"));
                    }
                    check(then_branch, &node.inputs[1..], &node.outputs)?;
                    check(else_branch, &node.inputs[1..], &node.outputs)?;
                }
                Op::While { cond, body } => {
                    if node.inputs.len() != node.outputs.len() {
                        return Err(invalid!(
                            "WHILE node {ni} of subgraph {s} has {} inputs but {} outputs",
                            node.inputs.len(),
                            node.outputs.len()
                        ));
                    }
                    check(body, &node.inputs, &node.outputs)?;
                    let c = &graph.subgraphs[cond];
                    if c.inputs.len() != node.inputs.len() || c.outputs.len() != 1 {
                        return Err(invalid!("WHILE condition subgraph {cond} must take the loop state and return one value"));
                    }
                    for (a, &b) in node.inputs.iter().zip(c.inputs.iter()) {
                        same_type(graph, s, a.unwrap_or(usize::MAX), cond, b)?;
                    }
                }
                Op::CallOnce { init } => {
                    let c = &graph.subgraphs[init];
                    if !c.inputs.is_empty() || !c.outputs.is_empty() {
                        return Err(invalid!(
                            "CALL_ONCE init subgraph {init} must have no inputs or outputs"
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn same_type(graph: &Graph, sa: SubgraphId, a: usize, sb: SubgraphId, b: usize) -> Result<()> {
    let ta = graph.subgraphs[sa].tensors.get(a);
    let tb = graph.subgraphs[sb].tensors.get(b);
    match (ta, tb) {
        (Some(x), Some(y)) if x.dtype == y.dtype && x.shape == y.shape => Ok(()),
        (Some(x), Some(y)) => Err(invalid!(
            "tensor `{}` ({} {}) of subgraph {sa} is passed as `{}` ({} {}) of subgraph {sb}",
            x.name,
            x.dtype,
            x.shape,
            y.name,
            y.dtype,
            y.shape
        )),
        _ => Err(invalid!(
            "tensor index out of range at a call between subgraphs {sa} and {sb}"
        )),
    }
}

/// Plans one subgraph at `base`; returns the plan, the region length and its scratch need.
fn plan_subgraph(
    graph: &Graph,
    s: SubgraphId,
    base: usize,
) -> Result<(SubgraphPlan, usize, usize)> {
    let sg = &graph.subgraphs[s];
    let nt = sg.tensors.len();
    let n_nodes = sg.nodes.len();
    // Tensor checks: sizes, constants.
    let mut sizes = Vec::with_capacity(nt);
    for (t, info) in sg.tensors.iter().enumerate() {
        let len = info
            .byte_len()
            .map_err(|e| invalid!("tensor {t} (`{}`) of subgraph {s}: {e}", info.name))?;
        if let TensorKind::Constant(c) = info.kind {
            if c >= graph.constants.len() {
                return Err(invalid!(
                    "tensor {t} (`{}`) refers to constant {c}, out of range",
                    info.name
                ));
            }
            let bytes = graph.constant_bytes(c);
            if bytes.len() != len {
                return Err(invalid!(
                    "constant tensor {t} (`{}`, {} {}) needs {len} bytes but its buffer has {}",
                    info.name,
                    info.dtype,
                    info.shape,
                    bytes.len()
                ));
            }
            if !(bytes.as_ptr() as usize).is_multiple_of(info.dtype.align()) {
                return Err(invalid!(
                    "constant tensor {t} (`{}`) is misaligned",
                    info.name
                ));
            }
        }
        sizes.push(len);
    }
    // Lifetimes. Time 0 = subgraph inputs; node i runs at time i + 1; outputs live to n + 1.
    const NEVER: usize = usize::MAX;
    let mut first = alloc::vec![NEVER; nt];
    let mut last = alloc::vec![0usize; nt];
    let is_const = |t: usize| matches!(sg.tensors[t].kind, TensorKind::Constant(_));
    for &t in &sg.inputs {
        if t >= nt {
            return Err(invalid!(
                "subgraph {s} input tensor {t} out of range ({nt} tensors)"
            ));
        }
        if is_const(t) {
            return Err(invalid!("subgraph {s} input tensor {t} is a constant"));
        }
        first[t] = 0;
        last[t] = 0;
    }
    for (i, node) in sg.nodes.iter().enumerate() {
        let time = i + 1;
        for inp in node.inputs.iter().flatten() {
            let t = *inp;
            if t >= nt {
                return Err(invalid!(
                    "node {i} ({}) of subgraph {s}: input tensor {t} out of range ({nt} tensors)",
                    node.op.name()
                ));
            }
            if is_const(t) {
                continue;
            }
            if first[t] == NEVER {
                return Err(invalid!(
                    "node {i} ({}) of subgraph {s} reads tensor {t} (`{}`) before anything produces it (cycle or missing producer)",
                    node.op.name(), sg.tensors[t].name
                ));
            }
            last[t] = last[t].max(time);
        }
        for (k, &t) in node.outputs.iter().enumerate() {
            if t >= nt {
                return Err(invalid!(
                    "node {i} ({}) of subgraph {s}: output tensor {t} out of range ({nt} tensors)",
                    node.op.name()
                ));
            }
            if is_const(t) {
                return Err(invalid!(
                    "node {i} ({}) of subgraph {s} writes constant tensor {t}",
                    node.op.name()
                ));
            }
            if first[t] != NEVER {
                return Err(invalid!(
                    "tensor {t} (`{}`) of subgraph {s} is produced twice (node {i})",
                    sg.tensors[t].name
                ));
            }
            if node.outputs[..k].contains(&t) {
                return Err(invalid!("node {i} lists output tensor {t} twice"));
            }
            first[t] = time;
            last[t] = time;
        }
    }
    for &t in &sg.outputs {
        if t >= nt {
            return Err(invalid!(
                "subgraph {s} output tensor {t} out of range ({nt} tensors)"
            ));
        }
        if !is_const(t) {
            if first[t] == NEVER {
                return Err(invalid!(
                    "subgraph {s} output tensor {t} (`{}`) is never produced",
                    sg.tensors[t].name
                ));
            }
            last[t] = n_nodes + 1;
        }
    }
    // Greedy by size: biggest first, lowest offset that does not overlap a live neighbour.
    let mut order: Vec<usize> = (0..nt)
        .filter(|&t| first[t] != NEVER && !is_const(t))
        .collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let mut placed: Vec<(usize, usize, usize)> = Vec::new(); // (tensor, offset, aligned len)
    let mut offsets = alloc::vec![0usize; nt];
    let mut region_len = 0usize;
    for &t in &order {
        let len = align_up(sizes[t].max(1))?;
        let mut live: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&(u, _, _)| first[u] <= last[t] && first[t] <= last[u])
            .map(|&(_, o, l)| (o, l))
            .collect();
        live.sort_unstable();
        let mut offset = 0usize;
        for (o, l) in live {
            if offset
                .checked_add(len)
                .ok_or_else(|| too_large!("arena overflows"))?
                <= o
            {
                break;
            }
            offset = offset.max(
                o.checked_add(l)
                    .ok_or_else(|| too_large!("arena overflows"))?,
            );
        }
        offsets[t] = offset;
        region_len = region_len.max(
            offset
                .checked_add(len)
                .ok_or_else(|| too_large!("arena overflows"))?,
        );
        if region_len > MAX_ARENA_BYTES {
            return Err(too_large!(
                "subgraph {s} needs more than {MAX_ARENA_BYTES} arena bytes"
            ));
        }
        placed.push((t, offset, len));
    }
    let mut slots = alloc::vec![Slot::Unused; nt];
    for (t, info) in sg.tensors.iter().enumerate() {
        slots[t] = match info.kind {
            TensorKind::Constant(c) => Slot::Const(c),
            TensorKind::Activation if first[t] != NEVER => Slot::Arena {
                offset: base
                    .checked_add(offsets[t])
                    .ok_or_else(|| too_large!("arena overflows"))?,
                len: sizes[t],
            },
            TensorKind::Activation => Slot::Unused,
        };
    }
    // Prepare every node (shape/dtype checks, packed weights, scratch needs).
    let mut steps = Vec::with_capacity(n_nodes);
    let mut scratch = 0usize;
    for (i, node) in sg.nodes.iter().enumerate() {
        let (prepared, need) =
            ops::prepare(graph, sg, node).map_err(|e| prefix(e, s, i, node.op.name()))?;
        scratch = scratch.max(need);
        steps.push(Step { node: i, prepared });
    }
    Ok((SubgraphPlan { slots, steps }, region_len, scratch))
}

fn prefix(e: crate::Error, s: usize, i: usize, op: &str) -> crate::Error {
    use crate::Error::*;
    let p = |m: alloc::string::String| alloc::format!("node {i} ({op}) of subgraph {s}: {m}");
    match e {
        Malformed(m) => Malformed(p(m)),
        Unsupported(m) => Unsupported(p(m)),
        Invalid(m) => Invalid(p(m)),
        BadInput(m) => BadInput(p(m)),
        TooLarge(m) => TooLarge(p(m)),
    }
}

//! Ops that run a region subgraph per element: scatter with a combiner and sort with a
//! comparator that are not one of the built-in ones. The region runs like any subgraph (its own
//! arena range, its own steps); its scalar inputs are written and its outputs read one element
//! at a time. Slow but general; the loader maps the common regions onto built-in kernels.

use alloc::vec::Vec;

use super::ops::indexing::for_each_scatter;
use super::ops::sort::merge_sort;
use super::ops::Prepared;
use super::{Model, Slot};
use crate::error::Result;
use crate::ir::{Node, SubgraphId, TensorId};
use crate::{invalid, too_large};

/// An element of a tensor: subgraph, tensor, element index.
type Element = (SubgraphId, TensorId, usize);

impl Model {
    /// Copies one `es`-byte element between tensors (the destination is in the arena).
    fn copy_element(&mut self, from: Element, to: Element, es: usize) -> Result<()> {
        let out_of_range = || invalid!("element outside its tensor while running a region");
        let (ts, tt, te) = to;
        let dst = self.plans[ts].slot_range(tt)?;
        let d = te
            .checked_mul(es)
            .and_then(|o| o.checked_add(dst.start))
            .filter(|&d| d.saturating_add(es) <= dst.end)
            .ok_or_else(out_of_range)?;
        let (fs, ft, fe) = from;
        let s = fe.checked_mul(es).ok_or_else(out_of_range)?;
        match self.plans[fs].slots.get(ft) {
            Some(&Slot::Arena { offset, len }) => {
                if s.saturating_add(es) > len {
                    return Err(out_of_range());
                }
                self.arena
                    .as_mut_slice()
                    .copy_within(offset + s..offset + s + es, d);
            }
            Some(&Slot::Const(c)) => {
                let src = self
                    .graph
                    .constant_bytes(c)
                    .get(s..s.saturating_add(es))
                    .ok_or_else(out_of_range)?;
                self.arena.as_mut_slice()[d..d + es].copy_from_slice(src);
            }
            _ => return Err(invalid!("tensor {ft} of subgraph {fs} has no storage")),
        }
        Ok(())
    }

    /// Runs `f` with the prepared data of `step` (taken out of the plan meanwhile: a region is
    /// another subgraph, so nothing else reads it).
    fn with_prepared<T>(
        &mut self,
        sub: SubgraphId,
        step: usize,
        f: impl FnOnce(&mut Self, &Node, &Prepared) -> Result<T>,
    ) -> Result<T> {
        let node_index = self.plans[sub].steps[step].node;
        let node = self.graph.subgraphs[sub].nodes[node_index].clone();
        let p = core::mem::replace(&mut self.plans[sub].steps[step].prepared, Prepared::None);
        let r = f(self, &node, &p);
        self.plans[sub].steps[step].prepared = p;
        r
    }

    /// Copies the node's inputs from `first` on into the region's inputs from `slot` on.
    fn pass_captures(
        &mut self,
        sub: SubgraphId,
        node: &Node,
        first: usize,
        region: SubgraphId,
        slot: usize,
    ) -> Result<()> {
        for (c, k) in (first..node.inputs.len()).enumerate() {
            let src = input(node, k)?;
            let dst = *self.graph.subgraphs[region]
                .inputs
                .get(slot + c)
                .ok_or_else(|| invalid!("region has too few inputs"))?;
            self.copy_tensor(sub, src, region, dst)?;
        }
        Ok(())
    }

    fn element_sizes(&self, sub: SubgraphId, node: &Node) -> Vec<usize> {
        let sg = &self.graph.subgraphs[sub];
        node.outputs
            .iter()
            .map(|&t| sg.tensors[t].dtype.size())
            .collect()
    }

    /// Scatter whose combiner is region subgraph `region`.
    pub(super) fn run_scatter_region(
        &mut self,
        sub: SubgraphId,
        step: usize,
        region: SubgraphId,
    ) -> Result<()> {
        self.with_prepared(sub, step, |m, node, p| {
            let Prepared::Scatter(plan) = p else {
                return Err(invalid!("scatter not prepared"));
            };
            let n = plan.n;
            for k in 0..n {
                m.copy_tensor(sub, input(node, k)?, sub, node.outputs[k])?;
            }
            m.pass_captures(sub, node, 2 * n + 1, region, 2 * n)?;
            let rin = m.graph.subgraphs[region].inputs.clone();
            let rout = m.graph.subgraphs[region].outputs.clone();
            let es = m.element_sizes(sub, node);
            let idx = m.tensor_bytes(sub, input(node, n)?)?.to_vec();
            for_each_scatter(plan, &idx, |o, u| {
                for k in 0..n {
                    m.copy_element((sub, node.outputs[k], o), (region, rin[k], 0), es[k])?;
                    let upd = input(node, n + 1 + k)?;
                    m.copy_element((sub, upd, u), (region, rin[n + k], 0), es[k])?;
                }
                m.run_subgraph(region)?;
                for k in 0..n {
                    m.copy_element((region, rout[k], 0), (sub, node.outputs[k], o), es[k])?;
                }
                Ok(())
            })
        })
    }

    /// Sort whose comparator is region subgraph `region`.
    pub(super) fn run_sort_region(
        &mut self,
        sub: SubgraphId,
        step: usize,
        region: SubgraphId,
    ) -> Result<()> {
        self.with_prepared(sub, step, |m, node, p| {
            let Prepared::Sort(plan) = p else {
                return Err(invalid!("sort not prepared"));
            };
            let n = plan.n;
            m.pass_captures(sub, node, n, region, 2 * n)?;
            let rin = m.graph.subgraphs[region].inputs.clone();
            let verdict = *m.graph.subgraphs[region]
                .outputs
                .first()
                .ok_or_else(|| invalid!("comparator returns nothing"))?;
            let es = m.element_sizes(sub, node);
            let mut perm = Vec::new();
            let mut tmp = Vec::new();
            perm.try_reserve_exact(plan.len)
                .and_then(|_| tmp.try_reserve_exact(plan.len))
                .map_err(|_| too_large!("sort of {} elements", plan.len))?;
            perm.resize(plan.len, 0);
            tmp.resize(plan.len, 0);
            for o in 0..plan.outer {
                for i in 0..plan.inner {
                    for (j, v) in perm.iter_mut().enumerate() {
                        *v = j;
                    }
                    merge_sort(&mut perm, &mut tmp, |a, b| {
                        for k in 0..n {
                            let x = input(node, k)?;
                            m.copy_element(
                                (sub, x, plan.at(o, i, a)),
                                (region, rin[2 * k], 0),
                                es[k],
                            )?;
                            m.copy_element(
                                (sub, x, plan.at(o, i, b)),
                                (region, rin[2 * k + 1], 0),
                                es[k],
                            )?;
                        }
                        m.run_subgraph(region)?;
                        Ok(m.tensor_bytes(region, verdict)?.iter().any(|&b| b != 0))
                    })?;
                    for (k, (&y, &es)) in node.outputs.iter().zip(&es).enumerate() {
                        let x = input(node, k)?;
                        for (j, &s) in perm.iter().enumerate() {
                            m.copy_element(
                                (sub, x, plan.at(o, i, s)),
                                (sub, y, plan.at(o, i, j)),
                                es,
                            )?;
                        }
                    }
                }
            }
            Ok(())
        })
    }
}

/// Input `k` of `node`, which must be present.
fn input(node: &Node, k: usize) -> Result<TensorId> {
    node.inputs
        .get(k)
        .copied()
        .flatten()
        .ok_or_else(|| invalid!("missing input {k}"))
}

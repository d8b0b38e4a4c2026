//! Graph extraction: from a TensorFlow `GraphDef` (with its function library) to a flat,
//! topologically ordered dataflow graph.
//!
//! Function calls (`StatefulPartitionedCall`, `PartitionedCall`, or a node whose op is a library
//! function) are inlined with their arguments and `ret` map; identity-like ops are forwarded;
//! control edges and `NoOp`s disappear; resource variables read with `ReadVariableOp` become
//! constants bound from the checkpoint (see [`crate::saved_model`]).

use alloc::borrow::ToOwned;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::proto::attr_value::Value;
use crate::proto::{AttrValue, FunctionDef, GraphDef, NodeDef};
use crate::tensor::{DType, PartialShape, Tensor};

/// Most nodes an expanded graph may hold (inlining can multiply the size of a hostile file).
pub const MAX_NODES: usize = 1 << 20;
/// Deepest function-call nesting accepted.
pub const MAX_CALL_DEPTH: usize = 64;
/// Most bytes of node names an expansion may create (inlining repeats call-path prefixes).
pub const MAX_NAME_BYTES: usize = 1 << 28;
/// Most bytes of attributes and constants the extracted graph may hold (inlining copies a
/// function body per call; a constant splatted from one value can be large).
pub const MAX_GRAPH_BYTES: usize = 1 << 31;

/// One output of one node of a [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TensorRef {
    /// Index of the producing node in [`Graph::nodes`].
    pub node: usize,
    /// Output index of that node (flat: list outputs are counted element by element).
    pub output: usize,
}

/// A node of the flat graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    /// Unique name: the call path of inlined functions joined with `/`.
    pub name: String,
    /// TensorFlow op type (`Conv2D`, `Const`, `Placeholder`, ...).
    pub op: String,
    /// Data inputs; every one refers to an earlier node.
    pub inputs: Vec<TensorRef>,
    /// Attributes as written in the model.
    pub attrs: BTreeMap<String, AttrValue>,
    /// The value of a `Const` node (graph constants and bound variables alike).
    pub value: Option<Tensor<'a>>,
    /// For a bound variable: the checkpoint key its value came from.
    pub checkpoint_key: Option<String>,
}

/// A graph input (a `Placeholder` node).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphInput {
    /// Signature key (or the placeholder's name for a GraphDef).
    pub name: String,
    /// The `Placeholder` node.
    pub node: usize,
    /// Element type.
    pub dtype: DType,
    /// Declared shape.
    pub shape: PartialShape,
}

/// A graph output.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphOutput {
    /// Signature key (or the tensor's name for a GraphDef).
    pub name: String,
    /// The tensor.
    pub tensor: TensorRef,
}

/// A flat dataflow graph in topological order.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph<'a> {
    /// Nodes; inputs always point to earlier nodes.
    pub nodes: Vec<Node<'a>>,
    /// Inputs in signature-key order.
    pub inputs: Vec<GraphInput>,
    /// Outputs in signature-key order.
    pub outputs: Vec<GraphOutput>,
}

impl Graph<'_> {
    /// Op type names used by the graph, with their counts (constants and inputs included).
    pub fn op_counts(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for n in &self.nodes {
            *counts.entry(n.op.as_str()).or_insert(0) += 1;
        }
        counts
    }
}

impl Node<'_> {
    /// Attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&Value> {
        self.attrs.get(name).and_then(|a| a.value.as_ref())
    }

    fn attr_err(&self, name: &str, want: &str) -> Error {
        Error::Graph(format!(
            "node {:?} ({}): attribute {name:?} missing or not {want}",
            self.name, self.op
        ))
    }

    /// Integer attribute.
    pub fn attr_int(&self, name: &str) -> Result<i64> {
        match self.attr(name) {
            Some(Value::I(v)) => Ok(*v),
            _ => Err(self.attr_err(name, "an integer")),
        }
    }

    /// Float attribute.
    pub fn attr_float(&self, name: &str) -> Result<f32> {
        match self.attr(name) {
            Some(Value::F(v)) => Ok(*v),
            _ => Err(self.attr_err(name, "a float")),
        }
    }

    /// Boolean attribute.
    pub fn attr_bool(&self, name: &str) -> Result<bool> {
        match self.attr(name) {
            Some(Value::B(v)) => Ok(*v),
            _ => Err(self.attr_err(name, "a boolean")),
        }
    }

    /// Byte-string attribute.
    pub fn attr_bytes(&self, name: &str) -> Result<&[u8]> {
        match self.attr(name) {
            Some(Value::S(v)) => Ok(v),
            _ => Err(self.attr_err(name, "a string")),
        }
    }

    /// Type attribute.
    pub fn attr_type(&self, name: &str) -> Result<DType> {
        match self.attr(name) {
            Some(Value::Type(v)) => DType::from_proto(*v),
            _ => Err(self.attr_err(name, "a type")),
        }
    }

    /// Integer-list attribute.
    pub fn attr_ints(&self, name: &str) -> Result<&[i64]> {
        match self.attr(name) {
            Some(Value::List(l)) => Ok(&l.i),
            _ => Err(self.attr_err(name, "an integer list")),
        }
    }
}

/// Ops that forward their inputs unchanged at inference time.
fn is_identity_like(op: &str) -> bool {
    matches!(
        op,
        "Identity" | "IdentityN" | "StopGradient" | "Snapshot" | "PreventGradient"
    )
}

/// Output argument names of ops with more than one output argument.
fn multi_output_args(op: &str) -> Option<&'static [&'static str]> {
    Some(match op {
        "FusedBatchNorm" | "FusedBatchNormV2" => &[
            "y",
            "batch_mean",
            "batch_variance",
            "reserve_space_1",
            "reserve_space_2",
        ],
        "FusedBatchNormV3" => &[
            "y",
            "batch_mean",
            "batch_variance",
            "reserve_space_1",
            "reserve_space_2",
            "reserve_space_3",
        ],
        "Unique" | "UniqueV2" => &["y", "idx"],
        "TopKV2" | "TopK" => &["values", "indices"],
        "MaxPoolWithArgmax" => &["output", "argmax"],
        "Switch" => &["output_false", "output_true"],
        "Merge" => &["output", "value_index"],
        "BroadcastGradientArgs" => &["r0", "r1"],
        "QuantizeV2" | "QuantizedConv2D" => &["output", "output_min", "output_max"],
        _ => return None,
    })
}

/// A node during expansion: either a real op or a forwarder whose output `k` is input `k`.
#[derive(Debug)]
struct RawNode<'g> {
    name: String,
    def: Option<&'g NodeDef>,
    forward: bool,
    inputs: Vec<TensorRef>,
}

/// Inlines function calls of a `GraphDef` into a list of raw nodes.
struct Expander<'g> {
    library: BTreeMap<&'g str, &'g FunctionDef>,
    by_name: BTreeMap<&'g str, &'g NodeDef>,
    nodes: Vec<RawNode<'g>>,
    top_ids: BTreeMap<&'g str, usize>,
    name_bytes: usize,
}

/// A parsed node input string.
enum InputRef<'s> {
    Control,
    Tensor {
        node: &'s str,
        arg: Option<&'s str>,
        index: usize,
    },
}

fn parse_index(s: &str, full: &str) -> Result<usize> {
    s.parse::<usize>()
        .map_err(|_| Error::Graph(format!("bad output index in input {full:?}")))
}

fn parse_input(s: &str) -> Result<InputRef<'_>> {
    if s.starts_with('^') {
        return Ok(InputRef::Control);
    }
    let mut parts = s.split(':');
    let node = parts.next().unwrap_or("");
    let second = parts.next();
    let third = parts.next();
    if node.is_empty() || parts.next().is_some() {
        return Err(Error::Graph(format!("malformed input {s:?}")));
    }
    Ok(match (second, third) {
        (None, _) => InputRef::Tensor {
            node,
            arg: None,
            index: 0,
        },
        (Some(i), None) => InputRef::Tensor {
            node,
            arg: None,
            index: parse_index(i, s)?,
        },
        (Some(a), Some(i)) => InputRef::Tensor {
            node,
            arg: Some(a),
            index: parse_index(i, s)?,
        },
    })
}

/// Parses a graph tensor name `node:index` (or `node`).
pub fn parse_tensor_name(s: &str) -> Result<(&str, usize)> {
    match parse_input(s)? {
        InputRef::Tensor {
            node,
            arg: None,
            index,
        } => Ok((node, index)),
        _ => Err(Error::Graph(format!("malformed tensor name {s:?}"))),
    }
}

impl<'g> Expander<'g> {
    fn new(graph: &'g GraphDef) -> Result<Self> {
        let mut library = BTreeMap::new();
        if let Some(lib) = &graph.library {
            for f in &lib.function {
                let name = f
                    .signature
                    .as_ref()
                    .map(|s| s.name.as_str())
                    .ok_or_else(|| Error::Graph("function without a signature".into()))?;
                if library.insert(name, f).is_some() {
                    return Err(Error::Graph(format!("function {name:?} defined twice")));
                }
            }
        }
        let mut by_name = BTreeMap::new();
        for n in &graph.node {
            if by_name.insert(n.name.as_str(), n).is_some() {
                return Err(Error::Graph(format!("node {:?} defined twice", n.name)));
            }
        }
        Ok(Expander {
            library,
            by_name,
            nodes: Vec::new(),
            top_ids: BTreeMap::new(),
            name_bytes: 0,
        })
    }

    fn push(&mut self, node: RawNode<'g>) -> Result<usize> {
        if self.nodes.len() >= MAX_NODES {
            return Err(Error::Limit(format!(
                "more than {MAX_NODES} nodes after inlining functions"
            )));
        }
        self.name_bytes = self
            .name_bytes
            .checked_add(node.name.len())
            .filter(|&n| n <= MAX_NAME_BYTES)
            .ok_or_else(|| Error::Limit("node names after inlining are too long".into()))?;
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    /// The callee of a call node, if the node is a function call.
    fn callee(&self, def: &NodeDef) -> Result<Option<&'g FunctionDef>> {
        if def.op == "StatefulPartitionedCall" || def.op == "PartitionedCall" {
            let name = match def.attr.get("f").and_then(|a| a.value.as_ref()) {
                Some(Value::Func(f)) => f.name.as_str(),
                _ => {
                    return Err(Error::Graph(format!(
                        "call node {:?} has no function attribute",
                        def.name
                    )))
                }
            };
            return self.library.get(name).copied().map(Some).ok_or_else(|| {
                Error::NotFound(format!("function {name:?} called by {:?}", def.name))
            });
        }
        Ok(self.library.get(def.op.as_str()).copied())
    }

    /// Expands the top-level nodes reachable from `roots` (through data and control edges).
    fn expand_top(&mut self, roots: &[&str]) -> Result<()> {
        let mut order: Vec<&'g NodeDef> = Vec::new();
        let mut stack: Vec<&str> = roots.to_vec();
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        while let Some(name) = stack.pop() {
            if self.top_ids.contains_key(name) || !seen.insert(name) {
                continue;
            }
            let def = *self
                .by_name
                .get(name)
                .ok_or_else(|| Error::NotFound(format!("graph node {name:?}")))?;
            order.push(def);
            for input in &def.input {
                let src = input.trim_start_matches('^');
                let src = src.split(':').next().unwrap_or("");
                stack.push(src);
            }
        }
        let mut ids = Vec::with_capacity(order.len());
        for def in &order {
            let id = self.push(RawNode {
                name: def.name.clone(),
                def: Some(def),
                forward: false,
                inputs: Vec::new(),
            })?;
            self.top_ids.insert(def.name.as_str(), id);
            ids.push(id);
        }
        for (def, id) in order.into_iter().zip(ids) {
            let mut inputs = Vec::new();
            for input in &def.input {
                match parse_input(input)? {
                    InputRef::Control => {}
                    InputRef::Tensor { arg: Some(_), .. } => {
                        return Err(Error::Graph(format!(
                            "function-style input {input:?} in the graph"
                        )))
                    }
                    InputRef::Tensor { node, index, .. } => {
                        let node = *self.top_ids.get(node).ok_or_else(|| {
                            Error::Graph(format!("input {input:?} of {:?} is dangling", def.name))
                        })?;
                        inputs.push(TensorRef {
                            node,
                            output: index,
                        });
                    }
                }
            }
            self.finish_node(id, def, inputs, "", 0)?;
        }
        Ok(())
    }

    /// Turns the placeholder node `id` into a forwarder (identity or call) or a real op.
    fn finish_node(
        &mut self,
        id: usize,
        def: &'g NodeDef,
        inputs: Vec<TensorRef>,
        prefix: &str,
        depth: usize,
    ) -> Result<()> {
        if let Some(callee) = self.callee(def)? {
            let path = format!("{prefix}{}/", def.name);
            let rets = self.expand_function(callee, &inputs, &path, depth + 1)?;
            let node = &mut self.nodes[id];
            node.forward = true;
            node.inputs = rets;
        } else {
            let node = &mut self.nodes[id];
            node.forward = is_identity_like(&def.op);
            node.inputs = inputs;
        }
        Ok(())
    }

    /// Inlines one call of `f` with arguments `args`; returns its results in signature order.
    fn expand_function(
        &mut self,
        f: &'g FunctionDef,
        args: &[TensorRef],
        prefix: &str,
        depth: usize,
    ) -> Result<Vec<TensorRef>> {
        let sig = f
            .signature
            .as_ref()
            .ok_or_else(|| Error::Graph("function without a signature".into()))?;
        if depth > MAX_CALL_DEPTH {
            return Err(Error::Limit(format!(
                "function calls nested deeper than {MAX_CALL_DEPTH} (at {:?})",
                sig.name
            )));
        }
        for a in sig.input_arg.iter().chain(&sig.output_arg) {
            if !a.number_attr.is_empty() || !a.type_list_attr.is_empty() {
                return Err(Error::Unsupported(format!(
                    "list argument {:?} of function {:?}",
                    a.name, sig.name
                )));
            }
        }
        if sig.input_arg.len() != args.len() {
            return Err(Error::Graph(format!(
                "function {:?} takes {} arguments, called with {}",
                sig.name,
                sig.input_arg.len(),
                args.len()
            )));
        }
        let arg_refs: BTreeMap<&str, TensorRef> = sig
            .input_arg
            .iter()
            .map(|a| a.name.as_str())
            .zip(args.iter().copied())
            .collect();
        let mut local: BTreeMap<&str, (usize, &'g NodeDef)> = BTreeMap::new();
        for def in &f.node_def {
            let id = self.push(RawNode {
                name: format!("{prefix}{}", def.name),
                def: Some(def),
                forward: false,
                inputs: Vec::new(),
            })?;
            if local.insert(def.name.as_str(), (id, def)).is_some() {
                return Err(Error::Graph(format!(
                    "node {:?} defined twice in function {:?}",
                    def.name, sig.name
                )));
            }
        }
        let resolve = |this: &Self, input: &str| -> Result<Option<TensorRef>> {
            match parse_input(input)? {
                InputRef::Control => Ok(None),
                InputRef::Tensor { node, arg, index } => {
                    if let Some((id, def)) = local.get(node) {
                        let output = match arg {
                            Some(arg) => this.output_index(def, arg, index)?,
                            None => index,
                        };
                        Ok(Some(TensorRef { node: *id, output }))
                    } else if let (Some(r), None, 0) = (arg_refs.get(node), arg, index) {
                        Ok(Some(*r))
                    } else {
                        Err(Error::Graph(format!(
                            "input {input:?} in function {:?} is dangling",
                            sig.name
                        )))
                    }
                }
            }
        };
        for def in &f.node_def {
            let mut inputs = Vec::new();
            for input in &def.input {
                if let Some(r) = resolve(self, input)? {
                    inputs.push(r);
                }
            }
            let (id, _) = local[def.name.as_str()];
            self.finish_node(id, def, inputs, prefix, depth)?;
        }
        let mut rets = Vec::with_capacity(sig.output_arg.len());
        for out in &sig.output_arg {
            let target = f.ret.get(&out.name).ok_or_else(|| {
                Error::Graph(format!(
                    "function {:?} does not return {:?}",
                    sig.name, out.name
                ))
            })?;
            let r = resolve(self, target)?.ok_or_else(|| {
                Error::Graph(format!("function {:?} returns a control edge", sig.name))
            })?;
            rets.push(r);
        }
        Ok(rets)
    }

    /// Flat output index of `node:arg:index` inside a function body.
    fn output_index(&self, def: &NodeDef, arg: &str, index: usize) -> Result<usize> {
        let unknown = || {
            Error::Graph(format!(
                "op {} ({:?}) has no output argument {arg:?}",
                def.op, def.name
            ))
        };
        if def.op != "StatefulPartitionedCall" && def.op != "PartitionedCall" {
            if let Some(f) = self.library.get(def.op.as_str()) {
                let sig = f.signature.as_ref().ok_or_else(unknown)?;
                let pos = sig
                    .output_arg
                    .iter()
                    .position(|a| a.name == arg)
                    .ok_or_else(unknown)?;
                if index != 0 {
                    return Err(unknown());
                }
                return Ok(pos);
            }
        }
        match multi_output_args(&def.op) {
            Some(args) => {
                let pos = args.iter().position(|a| *a == arg).ok_or_else(unknown)?;
                if index != 0 {
                    return Err(unknown());
                }
                Ok(pos)
            }
            None => Ok(index),
        }
    }

    /// Follows forwarders to the real producer of `r`.
    fn resolve(&self, mut r: TensorRef) -> Result<TensorRef> {
        for _ in 0..=self.nodes.len() {
            let node = self
                .nodes
                .get(r.node)
                .ok_or_else(|| Error::Graph("reference to a missing node".into()))?;
            if !node.forward {
                return Ok(r);
            }
            r = *node.inputs.get(r.output).ok_or_else(|| {
                Error::Graph(format!(
                    "output {} of {:?} does not exist",
                    r.output, node.name
                ))
            })?;
        }
        Err(Error::Graph("cycle of identity ops".into()))
    }
}

/// Identity of a variable in TensorFlow's resource manager: container and shared name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VariableId {
    /// `container` attribute.
    pub container: String,
    /// `shared_name` attribute, or the node name when it is empty.
    pub shared_name: String,
}

fn is_variable_op(op: &str) -> bool {
    matches!(op, "VarHandleOp" | "VariableV2" | "Variable")
}

fn variable_id(def: &NodeDef) -> VariableId {
    let s = |name: &str| match def.attr.get(name).and_then(|a| a.value.as_ref()) {
        Some(Value::S(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => String::new(),
    };
    let mut shared_name = s("shared_name");
    if shared_name.is_empty() {
        shared_name = def.name.clone();
    }
    VariableId {
        container: s("container"),
        shared_name,
    }
}

/// An expanded graph with identity-like nodes and calls resolved.
pub(crate) struct Expanded<'g> {
    exp: Expander<'g>,
}

impl<'g> Expanded<'g> {
    /// Expands the graph nodes reachable from `roots` (node names).
    pub(crate) fn new(graph: &'g GraphDef, roots: &[&str]) -> Result<Self> {
        let mut exp = Expander::new(graph)?;
        exp.expand_top(roots)?;
        // Resolve every input once so later passes see real producers only.
        for i in 0..exp.nodes.len() {
            if exp.nodes[i].forward {
                continue;
            }
            let inputs = core::mem::take(&mut exp.nodes[i].inputs);
            let mut resolved = Vec::with_capacity(inputs.len());
            for r in inputs {
                resolved.push(exp.resolve(r)?);
            }
            exp.nodes[i].inputs = resolved;
        }
        Ok(Expanded { exp })
    }

    /// The top-level tensor `name` (`node:index`), resolved.
    pub(crate) fn top_tensor(&self, name: &str) -> Result<TensorRef> {
        let (node, index) = parse_tensor_name(name)?;
        let id = *self
            .exp
            .top_ids
            .get(node)
            .ok_or_else(|| Error::NotFound(format!("graph tensor {name:?}")))?;
        self.exp.resolve(TensorRef {
            node: id,
            output: index,
        })
    }

    fn def(&self, id: usize) -> Option<&'g NodeDef> {
        self.exp.nodes.get(id).and_then(|n| n.def)
    }

    fn op(&self, id: usize) -> &str {
        self.def(id).map(|d| d.op.as_str()).unwrap_or("")
    }

    /// Checkpoint key of every variable assigned from a `RestoreV2` in this expansion.
    pub(crate) fn restore_map(&self) -> Result<BTreeMap<VariableId, String>> {
        let mut map = BTreeMap::new();
        for (id, node) in self.exp.nodes.iter().enumerate() {
            if node.forward || !matches!(self.op(id), "AssignVariableOp" | "Assign") {
                continue;
            }
            let (Some(var), Some(value)) = (node.inputs.first(), node.inputs.get(1)) else {
                return Err(Error::Graph(format!(
                    "{:?} has fewer than 2 inputs",
                    node.name
                )));
            };
            let Some(var_def) = self.def(var.node).filter(|d| is_variable_op(&d.op)) else {
                continue;
            };
            if self.op(value.node) != "RestoreV2" {
                continue;
            }
            let restore = &self.exp.nodes[value.node];
            let names = restore.inputs.get(1).ok_or_else(|| {
                Error::Graph(format!("RestoreV2 {:?} has no tensor_names", restore.name))
            })?;
            let key = self.const_string(*names, value.output)?;
            if let Some(slices) = restore.inputs.get(2) {
                if !self.const_string(*slices, value.output)?.is_empty() {
                    return Err(Error::Unsupported(format!(
                        "restoring a slice of checkpoint tensor {key:?}"
                    )));
                }
            }
            map.insert(variable_id(var_def), key);
        }
        Ok(map)
    }

    /// Element `index` of the string constant `r`.
    fn const_string(&self, r: TensorRef, index: usize) -> Result<String> {
        let def = self
            .def(r.node)
            .filter(|d| d.op == "Const")
            .ok_or_else(|| Error::Unsupported("RestoreV2 with computed tensor names".into()))?;
        let proto = match def.attr.get("value").and_then(|a| a.value.as_ref()) {
            Some(Value::Tensor(t)) => t,
            _ => return Err(Error::Graph(format!("Const {:?} has no value", def.name))),
        };
        let s = proto
            .string_val
            .get(index)
            .ok_or_else(|| Error::Graph(format!("{:?} has no element {index}", def.name)))?;
        String::from_utf8(s.clone())
            .map_err(|_| Error::Graph(format!("{:?} holds a non-UTF-8 name", def.name)))
    }

    /// Prunes to what `outputs` and `inputs` need, orders topologically and binds constants and
    /// variables. `bind` returns the value of a variable (with its checkpoint key).
    pub(crate) fn into_graph<'a>(
        self,
        inputs: Vec<(String, TensorRef)>,
        outputs: Vec<(String, TensorRef)>,
        mut bind: impl FnMut(&VariableId, &str) -> Result<(Tensor<'a>, String)>,
    ) -> Result<Graph<'a>> {
        let mut exp = self.exp;
        // Ops other than reads that take a variable's handle (assignments, gathers) cannot be
        // turned into constants; they are refused if the outputs need them.
        let is_handle = |exp: &Expander<'g>, r: &TensorRef| {
            exp.nodes[r.node].def.map(|d| d.op.as_str()) == Some("VarHandleOp")
        };
        let handle_users: BTreeSet<usize> = (0..exp.nodes.len())
            .filter(|&i| {
                let n = &exp.nodes[i];
                !n.forward
                    && n.def.map(|d| d.op.as_str()) != Some("ReadVariableOp")
                    && n.inputs.iter().any(|r| is_handle(&exp, r))
            })
            .collect();
        // Reads of resource variables forward the variable node (bound to its value below).
        for i in 0..exp.nodes.len() {
            let node = &exp.nodes[i];
            if node.forward || node.def.map(|d| d.op.as_str()) != Some("ReadVariableOp") {
                continue;
            }
            let handle = *node.inputs.first().ok_or_else(|| {
                Error::Graph(format!("ReadVariableOp {:?} has no input", node.name))
            })?;
            let handle_op = exp.nodes[handle.node]
                .def
                .map(|d| d.op.as_str())
                .unwrap_or("");
            if handle_op != "VarHandleOp" {
                return Err(Error::Unsupported(format!(
                    "ReadVariableOp {:?} reads a resource made by {handle_op:?}",
                    node.name
                )));
            }
            exp.nodes[i].forward = true;
            exp.nodes[i].inputs = vec![handle];
        }
        let resolve_all = |exp: &Expander<'g>, refs: Vec<(String, TensorRef)>| {
            refs.into_iter()
                .map(|(n, r)| Ok((n, exp.resolve(r)?)))
                .collect::<Result<Vec<_>>>()
        };
        let inputs = resolve_all(&exp, inputs)?;
        let outputs = resolve_all(&exp, outputs)?;
        // Iterative depth-first topological sort from the outputs (and the inputs).
        let mut state = vec![0u8; exp.nodes.len()];
        let mut order: Vec<usize> = Vec::new();
        let roots = inputs.iter().chain(&outputs).map(|(_, r)| r.node);
        for root in roots {
            if state[root] == 2 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            state[root] = 1;
            while let Some(&mut (id, ref mut next)) = stack.last_mut() {
                let node = &exp.nodes[id];
                if let Some(r) = node.inputs.get(*next) {
                    *next += 1;
                    let src = exp.resolve(*r)?.node;
                    match state[src] {
                        0 => {
                            state[src] = 1;
                            stack.push((src, 0));
                        }
                        1 => {
                            return Err(Error::Graph(format!(
                                "cycle through {:?}",
                                exp.nodes[src].name
                            )))
                        }
                        _ => {}
                    }
                } else {
                    state[id] = 2;
                    order.push(id);
                    stack.pop();
                }
            }
        }
        let mut new_index = vec![usize::MAX; exp.nodes.len()];
        for (i, &id) in order.iter().enumerate() {
            new_index[id] = i;
        }
        let remap = |exp: &Expander<'g>, r: TensorRef| -> Result<TensorRef> {
            let r = exp.resolve(r)?;
            Ok(TensorRef {
                node: new_index[r.node],
                output: r.output,
            })
        };
        let mut nodes = Vec::with_capacity(order.len());
        let mut budget = MAX_GRAPH_BYTES;
        let mut charge = |bytes: usize| -> Result<()> {
            budget = budget.checked_sub(bytes).ok_or_else(|| {
                Error::Limit(format!(
                    "attributes and constants of the graph exceed {MAX_GRAPH_BYTES} bytes"
                ))
            })?;
            Ok(())
        };
        for &id in &order {
            let raw = &exp.nodes[id];
            let def = raw
                .def
                .ok_or_else(|| Error::Graph(format!("node {:?} has no definition", raw.name)))?;
            let mut node_inputs = Vec::with_capacity(raw.inputs.len());
            if handle_users.contains(&id) {
                return Err(Error::Unsupported(format!(
                    "op {} ({:?}) uses a resource variable other than by reading it",
                    def.op, raw.name
                )));
            }
            for r in &raw.inputs {
                node_inputs.push(remap(&exp, *r)?);
            }
            charge(prost::Message::encoded_len(def))?;
            let mut node = Node {
                name: raw.name.clone(),
                op: def.op.clone(),
                inputs: node_inputs,
                attrs: def.attr.clone(),
                value: None,
                checkpoint_key: None,
            };
            if is_variable_op(&def.op) {
                let (value, key) = bind(&variable_id(def), &raw.name)?;
                node.op = "Const".to_owned();
                node.value = Some(value);
                node.checkpoint_key = Some(key);
                node.attrs.clear();
            } else if def.op == "Const" {
                match def.attr.get("value").and_then(|a| a.value.as_ref()) {
                    Some(Value::Tensor(t)) => {
                        let value = Tensor::from_proto(t)?;
                        charge(value.bytes().map_or(0, <[u8]>::len))?;
                        node.value = Some(value);
                    }
                    _ => return Err(Error::Graph(format!("Const {:?} has no value", raw.name))),
                }
            }
            nodes.push(node);
        }
        let mut graph_inputs = Vec::with_capacity(inputs.len());
        for (name, r) in inputs {
            let r = remap(&exp, r)?;
            let node = &nodes[r.node];
            if node.op != "Placeholder" || r.output != 0 {
                return Err(Error::Graph(format!(
                    "input {name:?} is {} {:?}, not a Placeholder",
                    node.op, node.name
                )));
            }
            let dtype = node.attr_type("dtype")?;
            let shape = match node.attr("shape") {
                Some(Value::Shape(s)) => PartialShape::from_proto(Some(s))?,
                _ => PartialShape { dims: None },
            };
            graph_inputs.push(GraphInput {
                name,
                node: r.node,
                dtype,
                shape,
            });
        }
        let mut graph_outputs = Vec::with_capacity(outputs.len());
        for (name, r) in outputs {
            graph_outputs.push(GraphOutput {
                name,
                tensor: remap(&exp, r)?,
            });
        }
        Ok(Graph {
            nodes,
            inputs: graph_inputs,
            outputs: graph_outputs,
        })
    }
}

/// Names of a GraphDef's `Placeholder` nodes, in file order.
pub(crate) fn placeholders(graph: &GraphDef) -> Vec<String> {
    graph
        .node
        .iter()
        .filter(|n| n.op == "Placeholder")
        .map(|n| n.name.clone())
        .collect()
}

/// Nodes of a GraphDef whose outputs nothing consumes (the natural outputs of a frozen graph).
pub(crate) fn sinks(graph: &GraphDef) -> Vec<String> {
    let mut consumed: BTreeSet<&str> = BTreeSet::new();
    for n in &graph.node {
        for i in &n.input {
            consumed.insert(i.trim_start_matches('^').split(':').next().unwrap_or(""));
        }
    }
    graph
        .node
        .iter()
        .filter(|n| {
            !consumed.contains(n.name.as_str())
                && !matches!(
                    n.op.as_str(),
                    "NoOp" | "Placeholder" | "Const" | "VarHandleOp"
                )
        })
        .map(|n| n.name.to_string())
        .collect()
}

//! Loading a SavedModel (or a frozen GraphDef) into a flat [`Graph`].

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::bundle::Bundle;
use crate::error::{decode, Error, Result};
use crate::graph::{parse_tensor_name, placeholders, sinks, Expanded, Graph, TensorRef};
use crate::proto::{self, GraphDef, MetaGraphDef};

/// Default MetaGraph tag.
pub const DEFAULT_TAG: &str = "serve";
/// Default signature.
pub const DEFAULT_SIGNATURE: &str = "serving_default";

/// The files of a SavedModel directory.
#[derive(Debug, Clone, Default)]
pub struct SavedModelFiles<'a> {
    /// `saved_model.pb`.
    pub saved_model: &'a [u8],
    /// `variables/variables.index`, absent for a model without variables.
    pub variables_index: Option<&'a [u8]>,
    /// `variables/variables.data-K-of-N`, shard `K` at position `K`.
    pub variables_data: Vec<&'a [u8]>,
}

/// Which entry point of a SavedModel to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection<'s> {
    /// MetaGraph tag (`serve` by default).
    pub tag: &'s str,
    /// Signature name (`serving_default` by default).
    pub signature: &'s str,
}

impl Default for Selection<'_> {
    fn default() -> Self {
        Selection {
            tag: DEFAULT_TAG,
            signature: DEFAULT_SIGNATURE,
        }
    }
}

/// A decoded SavedModel with its variables, ready to extract signatures from.
#[derive(Debug, Clone)]
pub struct SavedModel<'a> {
    /// The decoded `saved_model.pb`.
    pub proto: proto::SavedModel,
    /// The checkpoint, when the model has variables.
    pub bundle: Option<Bundle<'a>>,
}

impl<'a> SavedModel<'a> {
    /// Decodes `saved_model.pb` and opens the checkpoint index.
    pub fn parse(files: &SavedModelFiles<'a>) -> Result<Self> {
        let proto: proto::SavedModel = decode("SavedModel", files.saved_model)?;
        let bundle = match files.variables_index {
            Some(index) => Some(Bundle::open(index, files.variables_data.clone())?),
            None => None,
        };
        Ok(SavedModel { proto, bundle })
    }

    /// The MetaGraph carrying `tag`.
    pub fn meta_graph(&self, tag: &str) -> Result<&MetaGraphDef> {
        self.proto
            .meta_graphs
            .iter()
            .find(|m| {
                m.meta_info_def
                    .as_ref()
                    .is_some_and(|i| i.tags.iter().any(|t| t == tag))
            })
            .ok_or_else(|| {
                let tags: Vec<Vec<String>> = self
                    .proto
                    .meta_graphs
                    .iter()
                    .map(|m| {
                        m.meta_info_def
                            .as_ref()
                            .map(|i| i.tags.clone())
                            .unwrap_or_default()
                    })
                    .collect();
                Error::NotFound(format!("MetaGraph with tag {tag:?} (tag sets: {tags:?})"))
            })
    }

    /// Names of the signatures of the MetaGraph carrying `tag`.
    pub fn signatures(&self, tag: &str) -> Result<Vec<&str>> {
        Ok(self
            .meta_graph(tag)?
            .signature_def
            .keys()
            .map(String::as_str)
            .collect())
    }

    /// Extracts one signature as a flat graph with its variables bound.
    ///
    /// Inputs and outputs come in signature-key order.
    pub fn graph(&self, selection: Selection<'_>) -> Result<Graph<'a>> {
        let meta = self.meta_graph(selection.tag)?;
        let signature = meta.signature_def.get(selection.signature).ok_or_else(|| {
            let names: Vec<&String> = meta.signature_def.keys().collect();
            Error::NotFound(format!(
                "signature {:?} (available: {names:?})",
                selection.signature
            ))
        })?;
        let graph_def = meta
            .graph_def
            .as_ref()
            .ok_or_else(|| Error::Graph("MetaGraph without a graph".into()))?;
        let tensor_name = |kind: &str, key: &str, info: &proto::TensorInfo| -> Result<String> {
            if info.coo_sparse.is_some() || info.composite_tensor.is_some() || info.name.is_empty()
            {
                return Err(Error::Unsupported(format!(
                    "{kind} {key:?} is not a dense tensor"
                )));
            }
            Ok(info.name.clone())
        };
        let mut inputs = Vec::new();
        for (key, info) in &signature.inputs {
            inputs.push((key.clone(), tensor_name("input", key, info)?));
        }
        let mut outputs = Vec::new();
        for (key, info) in &signature.outputs {
            outputs.push((key.clone(), tensor_name("output", key, info)?));
        }
        // Variables are bound by interpreting the saver's restore op.
        let restore_map = match meta.saver_def.as_ref() {
            Some(saver) if !saver.restore_op_name.is_empty() && self.bundle.is_some() => {
                let root = saver.restore_op_name.trim_start_matches('^');
                let (root, _) = parse_tensor_name(root)?;
                Expanded::new(graph_def, &[root])?.restore_map()?
            }
            _ => Default::default(),
        };
        let bundle = self.bundle.as_ref();
        extract(graph_def, &inputs, &outputs, |var, node| {
            let key = restore_map.get(var).ok_or_else(|| {
                Error::NotFound(format!(
                    "checkpoint entry for variable {:?} (node {node:?}): the restore function does not assign it",
                    var.shared_name
                ))
            })?;
            let bundle = bundle.ok_or_else(|| Error::NotFound("variables".into()))?;
            Ok((bundle.tensor(key)?, key.clone()))
        })
    }
}

/// Expands `graph_def` for named inputs/outputs (`(key, "node:index")`).
fn extract<'a>(
    graph_def: &GraphDef,
    inputs: &[(String, String)],
    outputs: &[(String, String)],
    bind: impl FnMut(&crate::graph::VariableId, &str) -> Result<(crate::tensor::Tensor<'a>, String)>,
) -> Result<Graph<'a>> {
    let mut roots = Vec::new();
    for (_, name) in inputs.iter().chain(outputs) {
        roots.push(parse_tensor_name(name)?.0);
    }
    let expanded = Expanded::new(graph_def, &roots)?;
    let refs = |list: &[(String, String)]| -> Result<Vec<(String, TensorRef)>> {
        list.iter()
            .map(|(k, n)| Ok((k.clone(), expanded.top_tensor(n)?)))
            .collect()
    };
    let inputs = refs(inputs)?;
    let outputs = refs(outputs)?;
    expanded.into_graph(inputs, outputs, bind)
}

/// Loads a frozen GraphDef (`.pb`): weights are `Const` nodes, there are no variables.
///
/// Without explicit names, the inputs are the `Placeholder` nodes in file order and the outputs
/// are output 0 of every node nothing consumes (`NoOp`, `Const` and `Placeholder` excluded).
pub fn load_frozen_graph<'a>(
    bytes: &[u8],
    inputs: Option<&[&str]>,
    outputs: Option<&[&str]>,
) -> Result<Graph<'a>> {
    let graph_def: GraphDef = decode("GraphDef", bytes)?;
    let named = |names: Vec<String>| -> Vec<(String, String)> {
        names
            .into_iter()
            .map(|n| {
                let tensor = if n.contains(':') {
                    n.clone()
                } else {
                    format!("{n}:0")
                };
                (n, tensor)
            })
            .collect()
    };
    let owned = |list: &[&str]| list.iter().map(|s| String::from(*s)).collect::<Vec<_>>();
    let inputs = named(
        inputs
            .map(owned)
            .unwrap_or_else(|| placeholders(&graph_def)),
    );
    let outputs = named(outputs.map(owned).unwrap_or_else(|| sinks(&graph_def)));
    if outputs.is_empty() {
        return Err(Error::Graph("the GraphDef has no output node".into()));
    }
    extract(&graph_def, &inputs, &outputs, |var, node| {
        Err(Error::Unsupported(format!(
            "variable {:?} (node {node:?}) in a frozen GraphDef",
            var.shared_name
        )))
    })
}

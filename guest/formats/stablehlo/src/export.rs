//! The `jax.export` serialized form: an `Exported` FlatBuffer (no file identifier).
//!
//! The table layout follows JAX's `serialization.fbs` (field slots in declaration order); the
//! accessors below are our own, and every buffer is run through the flatbuffers verifier before a
//! field is read.

use crate::error::{Error, Result};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use flatbuffers::{
    Follow, ForwardsUOffset, InvalidFlatbuffer, Table, Vector, Verifiable, Verifier,
    VerifierOptions,
};

/// A pytree structure (`PyTreeDef`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PyTree {
    /// A leaf (`*`).
    Leaf,
    /// `None`.
    None,
    /// A tuple.
    Tuple(Vec<PyTree>),
    /// A list.
    List(Vec<PyTree>),
    /// A dict: (key, child), keys in the stored (sorted) order.
    Dict(Vec<(String, PyTree)>),
    /// A custom node: registered name and children.
    Custom(String, Vec<PyTree>),
}

impl PyTree {
    /// Number of leaves.
    pub fn num_leaves(&self) -> usize {
        match self {
            PyTree::Leaf => 1,
            PyTree::None => 0,
            PyTree::Tuple(c) | PyTree::List(c) | PyTree::Custom(_, c) => {
                c.iter().map(PyTree::num_leaves).sum()
            }
            PyTree::Dict(c) => c.iter().map(|(_, t)| t.num_leaves()).sum(),
        }
    }

    /// Leaf paths in flatten order, written like `jax.tree_util.keystr`: `[0]['params']['w']`.
    pub fn leaf_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.paths_into(&mut String::new(), &mut out);
        out
    }

    fn paths_into(&self, prefix: &mut String, out: &mut Vec<String>) {
        let len = prefix.len();
        match self {
            PyTree::Leaf => out.push(prefix.clone()),
            PyTree::None => {}
            PyTree::Tuple(c) | PyTree::List(c) | PyTree::Custom(_, c) => {
                for (i, t) in c.iter().enumerate() {
                    prefix.push_str(&alloc::format!("[{i}]"));
                    t.paths_into(prefix, out);
                    prefix.truncate(len);
                }
            }
            PyTree::Dict(c) => {
                for (k, t) in c {
                    prefix.push_str(&alloc::format!("['{k}']"));
                    t.paths_into(prefix, out);
                    prefix.truncate(len);
                }
            }
        }
    }
}

/// JAX dtypes as numbered in the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum DType {
    Bool,
    I4,
    I8,
    I16,
    I32,
    I64,
    U4,
    U8,
    U16,
    U32,
    U64,
    F16,
    BF16,
    F32,
    F64,
    C64,
    C128,
    /// Other (float8 kinds, float0, PRNG keys): the schema code.
    Other(i8),
}

impl DType {
    fn from_code(c: i8) -> DType {
        match c {
            0 => DType::Bool,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::I64,
            5 => DType::U8,
            6 => DType::U16,
            7 => DType::U32,
            8 => DType::U64,
            9 => DType::F16,
            10 => DType::F32,
            11 => DType::F64,
            12 => DType::C64,
            13 => DType::C128,
            14 => DType::BF16,
            15 => DType::I4,
            16 => DType::U4,
            other => DType::Other(other),
        }
    }
}

/// An abstract value: shape (dimension expressions as strings) and dtype.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aval {
    /// Dimensions as written by JAX (decimal for static dimensions).
    pub shape: Vec<String>,
    /// Element type.
    pub dtype: DType,
}

impl Aval {
    /// Static dimensions, or None if some dimension is symbolic.
    pub fn static_shape(&self) -> Option<Vec<u64>> {
        self.shape.iter().map(|d| d.parse().ok()).collect()
    }
}

/// The parts of an `Exported` that a loader needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    /// Stored schema version of the blob (see [`SUPPORTED_VERSIONS`]).
    pub serialization_version: u16,
    /// Function name.
    pub function_name: String,
    /// Input pytree (usually `((args...), {kwargs})`).
    pub in_tree: PyTree,
    /// Input avals, one per leaf of `in_tree`.
    pub in_avals: Vec<Aval>,
    /// Output pytree.
    pub out_tree: PyTree,
    /// Output avals.
    pub out_avals: Vec<Aval>,
    /// Lowering platforms (`cpu`, ...).
    pub platforms: Vec<String>,
    /// Calling convention version of the module.
    pub calling_convention_version: u16,
    /// Indices of the flattened inputs that `@main` keeps (others were unused).
    pub module_kept_var_idx: Vec<u16>,
    /// Number of devices.
    pub nr_devices: u32,
    /// Ordered + unordered effect type names (a loader should refuse effects it cannot honour).
    pub effects: Vec<String>,
    /// The StableHLO portable artifact (MLIR bytecode).
    pub mlir_module_serialized: Vec<u8>,
}

/// Stored schema versions this reader accepts. JAX 0.10.2 writes schema 11 but stores 3 there
/// (older deserializers only accepted 2 or 3); fields added later are read when present.
pub const SUPPORTED_VERSIONS: core::ops::RangeInclusive<u16> = 2..=11;

// Field slots (vtable byte offsets: 4 + 2 * field index).
const fn slot(i: u16) -> u16 {
    4 + 2 * i
}

struct ExportedTable<'a>(Table<'a>);
struct PyTreeTable<'a>(Table<'a>);
struct AvalTable<'a>(Table<'a>);
struct EffectTable<'a>(Table<'a>);

macro_rules! table_follow {
    ($t:ident) => {
        impl<'a> Follow<'a> for $t<'a> {
            type Inner = $t<'a>;
            unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
                // SAFETY: the caller guarantees a table at `loc` (verified before any access).
                $t(unsafe { Table::new(buf, loc) })
            }
        }
    };
}
table_follow!(ExportedTable);
table_follow!(PyTreeTable);
table_follow!(AvalTable);
table_follow!(EffectTable);

type Strings<'a> = Vector<'a, ForwardsUOffset<&'a str>>;

impl Verifiable for PyTreeTable<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> core::result::Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<i8>("kind", slot(0), false)?
            .visit_field::<ForwardsUOffset<Vector<ForwardsUOffset<PyTreeTable>>>>(
                "children",
                slot(1),
                false,
            )?
            .visit_field::<ForwardsUOffset<Strings>>("children_names", slot(2), false)?
            .visit_field::<ForwardsUOffset<&str>>("custom_name", slot(3), false)?
            .visit_field::<ForwardsUOffset<Vector<i8>>>("custom_auxdata", slot(4), false)?
            .finish();
        Ok(())
    }
}

impl Verifiable for AvalTable<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> core::result::Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<i8>("kind", slot(0), false)?
            .visit_field::<ForwardsUOffset<Strings>>("shape", slot(1), false)?
            .visit_field::<i8>("dtype", slot(2), false)?
            .visit_field::<i8>("memory_space", slot(3), false)?
            .finish();
        Ok(())
    }
}

impl Verifiable for EffectTable<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> core::result::Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<ForwardsUOffset<&str>>("type_name", slot(0), false)?
            .finish();
        Ok(())
    }
}

impl Verifiable for ExportedTable<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> core::result::Result<(), InvalidFlatbuffer> {
        // Fields we do not read (shardings, meshes, vjp, ...) are skipped; the verifier still
        // checks the offsets of everything we follow.
        v.visit_table(pos)?
            .visit_field::<u16>("serialization_version", slot(0), false)?
            .visit_field::<ForwardsUOffset<&str>>("function_name", slot(1), false)?
            .visit_field::<ForwardsUOffset<PyTreeTable>>("in_tree", slot(2), false)?
            .visit_field::<ForwardsUOffset<Vector<ForwardsUOffset<AvalTable>>>>(
                "in_avals",
                slot(3),
                false,
            )?
            .visit_field::<ForwardsUOffset<PyTreeTable>>("out_tree", slot(4), false)?
            .visit_field::<ForwardsUOffset<Vector<ForwardsUOffset<AvalTable>>>>(
                "out_avals",
                slot(5),
                false,
            )?
            .visit_field::<i16>("nr_devices_short", slot(6), false)?
            .visit_field::<ForwardsUOffset<Strings>>("platforms", slot(9), false)?
            .visit_field::<ForwardsUOffset<Vector<ForwardsUOffset<EffectTable>>>>(
                "ordered_effects",
                slot(10),
                false,
            )?
            .visit_field::<ForwardsUOffset<Vector<ForwardsUOffset<EffectTable>>>>(
                "unordered_effects",
                slot(11),
                false,
            )?
            .visit_field::<ForwardsUOffset<Vector<u8>>>("mlir_module_serialized", slot(13), false)?
            .visit_field::<u16>("calling_convention_version", slot(14), false)?
            .visit_field::<ForwardsUOffset<Vector<u16>>>("module_kept_var_idx", slot(15), false)?
            .visit_field::<u32>("nr_devices", slot(18), false)?
            .visit_field::<ForwardsUOffset<Vector<ForwardsUOffset<AvalTable>>>>(
                "unique_avals",
                slot(19),
                false,
            )?
            .visit_field::<ForwardsUOffset<Vector<u32>>>("in_avals_idxs", slot(22), false)?
            .visit_field::<ForwardsUOffset<Vector<u32>>>("out_avals_idxs", slot(23), false)?
            .finish();
        Ok(())
    }
}

/// Read a field of a verified table.
fn field<'a, T: Follow<'a> + 'a>(t: &Table<'a>, slot: u16) -> Option<T::Inner> {
    // SAFETY: every table handed to this function was reached from a root that passed the
    // verifier, which checked that the field at `slot` (if present) has type `T` and lies in
    // bounds; callers use the same type as the verifier for each slot.
    unsafe { t.get::<T>(slot, None) }
}

fn read_tree(t: &PyTreeTable, depth: usize) -> Result<PyTree> {
    if depth > crate::error::MAX_DEPTH {
        return Err(Error::msg("pytree nested too deeply"));
    }
    let kind = field::<i8>(&t.0, slot(0)).unwrap_or(0);
    let mut children = Vec::new();
    if let Some(c) = field::<ForwardsUOffset<Vector<ForwardsUOffset<PyTreeTable>>>>(&t.0, slot(1)) {
        for child in c.iter() {
            children.push(read_tree(&child, depth + 1)?);
        }
    }
    Ok(match kind {
        0 => PyTree::Leaf,
        1 => PyTree::None,
        2 => PyTree::Tuple(children),
        3 => PyTree::List(children),
        4 => {
            let names: Vec<String> = field::<ForwardsUOffset<Strings>>(&t.0, slot(2))
                .map(|v| v.iter().map(String::from).collect())
                .unwrap_or_default();
            if names.len() != children.len() {
                return Err(Error::msg(
                    "pytree dict: names and children differ in number",
                ));
            }
            PyTree::Dict(names.into_iter().zip(children).collect())
        }
        5 => PyTree::Custom(
            field::<ForwardsUOffset<&str>>(&t.0, slot(3))
                .unwrap_or("")
                .to_string(),
            children,
        ),
        k => return Err(Error::msg(alloc::format!("unknown pytree kind {k}"))),
    })
}

fn read_aval(t: &AvalTable) -> Aval {
    Aval {
        shape: field::<ForwardsUOffset<Strings>>(&t.0, slot(1))
            .map(|v| v.iter().map(String::from).collect())
            .unwrap_or_default(),
        dtype: DType::from_code(field::<i8>(&t.0, slot(2)).unwrap_or(0)),
    }
}

fn read_avals(t: &Table, direct: u16, idxs: u16) -> Result<Vec<Aval>> {
    if let Some(v) = field::<ForwardsUOffset<Vector<ForwardsUOffset<AvalTable>>>>(t, slot(direct)) {
        if !v.is_empty() {
            return Ok(v.iter().map(|a| read_aval(&a)).collect());
        }
    }
    let Some(idx) = field::<ForwardsUOffset<Vector<u32>>>(t, slot(idxs)) else {
        return Ok(Vec::new());
    };
    let unique: Vec<Aval> =
        field::<ForwardsUOffset<Vector<ForwardsUOffset<AvalTable>>>>(t, slot(19))
            .map(|v| v.iter().map(|a| read_aval(&a)).collect())
            .unwrap_or_default();
    idx.iter()
        .map(|i| {
            unique
                .get(i as usize)
                .cloned()
                .ok_or_else(|| Error::msg(alloc::format!("aval index {i} out of range")))
        })
        .collect()
}

/// Parse a `jax.export` serialized blob.
pub fn parse_exported(buf: &[u8]) -> Result<Exported> {
    let opts = VerifierOptions {
        max_depth: 2 * crate::error::MAX_DEPTH,
        max_tables: 1_000_000,
        max_apparent_size: 1 << 31,
        ..Default::default()
    };
    let root = flatbuffers::root_with_opts::<ExportedTable>(&opts, buf)
        .map_err(|e| Error::msg(alloc::format!("jax.export blob failed verification: {e}")))?;
    let t = &root.0;
    let serialization_version = field::<u16>(t, slot(0)).unwrap_or(0);
    if !SUPPORTED_VERSIONS.contains(&serialization_version) {
        return Err(Error::msg(alloc::format!(
            "unsupported jax.export serialization version {serialization_version} (supported: {}..={})",
            SUPPORTED_VERSIONS.start(),
            SUPPORTED_VERSIONS.end()
        )));
    }
    let tree = |s: u16| -> Result<PyTree> {
        match field::<ForwardsUOffset<PyTreeTable>>(t, slot(s)) {
            Some(p) => read_tree(&p, 0),
            None => Err(Error::msg("jax.export blob has no pytree")),
        }
    };
    let in_tree = tree(2)?;
    let out_tree = tree(4)?;
    let in_avals = read_avals(t, 3, 22)?;
    let out_avals = read_avals(t, 5, 23)?;
    if in_avals.len() != in_tree.num_leaves() || out_avals.len() != out_tree.num_leaves() {
        return Err(Error::msg(
            "jax.export blob: avals do not match the pytree leaves",
        ));
    }
    let mut effects = Vec::new();
    for s in [10u16, 11] {
        if let Some(v) = field::<ForwardsUOffset<Vector<ForwardsUOffset<EffectTable>>>>(t, slot(s))
        {
            for e in v.iter() {
                effects.push(
                    field::<ForwardsUOffset<&str>>(&e.0, slot(0))
                        .unwrap_or("")
                        .to_string(),
                );
            }
        }
    }
    let module_kept_var_idx: Vec<u16> = field::<ForwardsUOffset<Vector<u16>>>(t, slot(15))
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    if let Some(bad) = module_kept_var_idx
        .iter()
        .find(|i| usize::from(**i) >= in_avals.len())
    {
        return Err(Error::msg(alloc::format!(
            "module_kept_var_idx {bad} out of range for {} inputs",
            in_avals.len()
        )));
    }
    let nr_devices = match field::<u32>(t, slot(18)).unwrap_or(0) {
        0 => u32::try_from(field::<i16>(t, slot(6)).unwrap_or(1)).unwrap_or(1),
        n => n,
    };
    Ok(Exported {
        serialization_version,
        function_name: field::<ForwardsUOffset<&str>>(t, slot(1))
            .unwrap_or("")
            .to_string(),
        in_tree,
        in_avals,
        out_tree,
        out_avals,
        platforms: field::<ForwardsUOffset<Strings>>(t, slot(9))
            .map(|v| v.iter().map(String::from).collect())
            .unwrap_or_default(),
        calling_convention_version: field::<u16>(t, slot(14)).unwrap_or(0),
        module_kept_var_idx,
        nr_devices,
        effects,
        mlir_module_serialized: field::<ForwardsUOffset<Vector<u8>>>(t, slot(13))
            .map(|v| v.bytes().to_vec())
            .ok_or_else(|| Error::msg("jax.export blob has no mlir_module_serialized"))?,
    })
}

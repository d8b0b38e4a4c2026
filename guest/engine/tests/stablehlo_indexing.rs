//! StableHLO indexing ops through the loader and executor: gather (clamped starts, batching
//! dims), scatter (built-in combiners, region combiners, skipped out-of-bounds updates), sort
//! (multiple operands, JAX's total-order comparator, region comparators), run-time dynamic
//! slices; and malformed attributes refused with a clear error at load.

use cerebro_engine::loader::stablehlo::load;
use cerebro_engine::{DType, Error, Model, TensorData};

/// An input: dtype, shape, little-endian bytes.
type Input = (DType, Vec<usize>, Vec<u8>);

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i32s(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn to_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn to_i32(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Loads and plans `text` (both are "loading" for a user).
fn plan(text: &str) -> Result<Model, Error> {
    Model::new(load(text.as_bytes())?)
}

/// Runs `@main` of `text` on `inputs`; returns every output's bytes.
fn run(text: &str, inputs: &[Input]) -> Vec<Vec<u8>> {
    let mut m = plan(text).unwrap_or_else(|e| panic!("{e}"));
    let data: Vec<TensorData> = inputs
        .iter()
        .map(|(d, s, b)| TensorData {
            dtype: *d,
            shape: s,
            bytes: b,
        })
        .collect();
    m.run(&data).unwrap();
    (0..m.num_outputs())
        .map(|i| m.output(i).unwrap().bytes.to_vec())
        .collect()
}

const GATHER_ROWS: &str = r#"
func.func @main(%x: tensor<4x3xf32>, %i: tensor<5x1xi32>) -> tensor<5x2xf32> {
  %0 = "stablehlo.gather"(%x, %i) {dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, slice_sizes = array<i64: 1, 2>} : (tensor<4x3xf32>, tensor<5x1xi32>) -> tensor<5x2xf32>
  return %0 : tensor<5x2xf32>
}"#;

#[test]
fn gather_clamps_start_indices() {
    let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let out = run(
        GATHER_ROWS,
        &[
            (DType::F32, vec![4, 3], f32s(&x)),
            (DType::I32, vec![5, 1], i32s(&[2, 0, -7, 3, 1_000_000])),
        ],
    );
    // Rows 2, 0, 0 (clamped up), 3, 3 (clamped down); columns 0..2.
    assert_eq!(to_f32(&out[0]), [6., 7., 0., 1., 0., 1., 9., 10., 9., 10.]);
}

#[test]
fn gather_with_batching_dims() {
    // out[b, j] = x[b, idx[b, j]] (take_along_axis).
    let text = r#"
func.func @main(%x: tensor<2x4xi32>, %i: tensor<2x3x1xi32>) -> tensor<2x3xi32> {
  %0 = "stablehlo.gather"(%x, %i) {dimension_numbers = #stablehlo.gather<collapsed_slice_dims = [1], operand_batching_dims = [0], start_indices_batching_dims = [0], start_index_map = [1], index_vector_dim = 2>, slice_sizes = array<i64: 1, 1>} : (tensor<2x4xi32>, tensor<2x3x1xi32>) -> tensor<2x3xi32>
  return %0 : tensor<2x3xi32>
}"#;
    let out = run(
        text,
        &[
            (
                DType::I32,
                vec![2, 4],
                i32s(&[10, 11, 12, 13, 20, 21, 22, 23]),
            ),
            (DType::I32, vec![2, 3, 1], i32s(&[3, 0, 1, 2, 2, 9])),
        ],
    );
    assert_eq!(to_i32(&out[0]), [13, 10, 11, 22, 22, 23]);
}

/// `x.at[idx].<op>(v)` on rows of a 4x2 matrix with the given update computation body.
fn scatter_rows(body: &str) -> String {
    format!(
        r#"
func.func @main(%x: tensor<4x2xf32>, %i: tensor<3x1xi32>, %u: tensor<3x2xf32>) -> tensor<4x2xf32> {{
  %0 = "stablehlo.scatter"(%x, %i, %u) ({{
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    {body}
  }}) {{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, indices_are_sorted = false, unique_indices = false}} : (tensor<4x2xf32>, tensor<3x1xi32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}}"#
    )
}

fn scatter_inputs(idx: &[i32]) -> Vec<Input> {
    vec![
        (
            DType::F32,
            vec![4, 2],
            f32s(&[1., 2., 3., 4., 5., 6., 7., 8.]),
        ),
        (DType::I32, vec![3, 1], i32s(idx)),
        (
            DType::F32,
            vec![3, 2],
            f32s(&[10., 20., 30., 40., 50., 60.]),
        ),
    ]
}

#[test]
fn scatter_add_accumulates_duplicates_and_skips_out_of_bounds() {
    let text = scatter_rows(
        "%s = stablehlo.add %a, %b : tensor<f32>\n    stablehlo.return %s : tensor<f32>",
    );
    let out = run(&text, &scatter_inputs(&[1, 1, 4]));
    assert_eq!(to_f32(&out[0]), [1., 2., 43., 64., 5., 6., 7., 8.]);
    let out = run(&text, &scatter_inputs(&[-1, 3, 0]));
    assert_eq!(to_f32(&out[0]), [51., 62., 3., 4., 5., 6., 37., 48.]);
}

#[test]
fn scatter_replace_max_and_region_combiners() {
    let set = scatter_rows("stablehlo.return %b : tensor<f32>");
    assert_eq!(
        to_f32(&run(&set, &scatter_inputs(&[2, 0, 9]))[0]),
        [30., 40., 3., 4., 10., 20., 7., 8.]
    );
    let max = scatter_rows(
        "%s = stablehlo.maximum %b, %a : tensor<f32>\n    stablehlo.return %s : tensor<f32>",
    );
    assert_eq!(
        to_f32(&run(&max, &scatter_inputs(&[3, 3, 0]))[0]),
        [50., 60., 3., 4., 5., 6., 30., 40.]
    );
    // Not a built-in combiner: a * 2 - b, run as a region subgraph per element (the constant
    // comes from the enclosing function).
    let region = scatter_rows(
        "%two = stablehlo.constant dense<2.0> : tensor<f32>\n    %m = stablehlo.multiply %a, %two : tensor<f32>\n    %s = stablehlo.subtract %m, %b : tensor<f32>\n    stablehlo.return %s : tensor<f32>",
    );
    assert_eq!(
        to_f32(&run(&region, &scatter_inputs(&[1, 1, -3]))[0]),
        // Row 1 twice in order: (3·2 − 10)·2 − 30, (4·2 − 20)·2 − 40; index −3 is skipped.
        [1., 2., -38., -64., 5., 6., 7., 8.]
    );
}

#[test]
fn scatter_region_with_captured_value() {
    // The update computation reads a runtime value of the enclosing function.
    let text = r#"
func.func @main(%x: tensor<3xf32>, %i: tensor<2x1xi32>, %u: tensor<2xf32>, %k: tensor<f32>) -> tensor<3xf32> {
  %0 = "stablehlo.scatter"(%x, %i, %u) ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %m = stablehlo.multiply %b, %k : tensor<f32>
    %s = stablehlo.add %a, %m : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) {scatter_dimension_numbers = #stablehlo.scatter<inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>} : (tensor<3xf32>, tensor<2x1xi32>, tensor<2xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}"#;
    let out = run(
        text,
        &[
            (DType::F32, vec![3], f32s(&[1., 2., 3.])),
            (DType::I32, vec![2, 1], i32s(&[2, 0])),
            (DType::F32, vec![2], f32s(&[10., 20.])),
            (DType::F32, vec![], f32s(&[0.5])),
        ],
    );
    assert_eq!(to_f32(&out[0]), [11., 2., 8.]);
}

/// JAX's `jnp.argsort` comparator: −0 → +0 and NaN → +NaN, then a total-order `LT`.
const JAX_ARGSORT: &str = r#"
func.func @main(%x: tensor<6xf32>) -> (tensor<6xf32>, tensor<6xi32>) {
  %nan = stablehlo.constant dense<0x7FC00000> : tensor<f32>
  %zero = stablehlo.constant dense<0.000000e+00> : tensor<f32>
  %iota = stablehlo.iota dim = 0 : tensor<6xi32>
  %0:2 = "stablehlo.sort"(%x, %iota) <{dimension = 0 : i64, is_stable = true}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>, %c: tensor<i32>, %d: tensor<i32>):
    %1 = stablehlo.compare EQ, %a, %zero, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %2 = stablehlo.select %1, %zero, %a : tensor<i1>, tensor<f32>
    %3 = stablehlo.compare NE, %a, %a, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %4 = stablehlo.select %3, %nan, %2 : tensor<i1>, tensor<f32>
    %5 = stablehlo.compare EQ, %b, %zero, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %6 = stablehlo.select %5, %zero, %b : tensor<i1>, tensor<f32>
    %7 = stablehlo.compare NE, %b, %b, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %8 = stablehlo.select %7, %nan, %6 : tensor<i1>, tensor<f32>
    %9 = stablehlo.compare LT, %4, %8, TOTALORDER : (tensor<f32>, tensor<f32>) -> tensor<i1>
    stablehlo.return %9 : tensor<i1>
  }) : (tensor<6xf32>, tensor<6xi32>) -> (tensor<6xf32>, tensor<6xi32>)
  return %0#0, %0#1 : tensor<6xf32>, tensor<6xi32>
}"#;

#[test]
fn jax_argsort_orders_nan_last_and_zeros_equal() {
    let x = [3.0, f32::NAN, -0.0, -1.0, 0.0, f32::NEG_INFINITY];
    let out = run(JAX_ARGSORT, &[(DType::F32, vec![6], f32s(&x))]);
    // −0 and +0 are equal (stable: index 2 before 4); NaN last.
    assert_eq!(to_i32(&out[1]), [5, 3, 2, 4, 0, 1]);
    let sorted = to_f32(&out[0]);
    assert_eq!(sorted[..5], [f32::NEG_INFINITY, -1.0, -0.0, 0.0, 3.0]);
    assert!(sorted[2].is_sign_negative() && sorted[5].is_nan());
}

#[test]
fn sort_descending_along_a_dim_and_by_a_region() {
    // GT on the second operand pair sorts by that operand, largest first, carrying operand 0.
    let text = |body: &str| {
        format!(
            r#"
func.func @main(%x: tensor<2x3xi32>, %y: tensor<2x3xf32>) -> (tensor<2x3xi32>, tensor<2x3xf32>) {{
  %0:2 = "stablehlo.sort"(%x, %y) ({{
  ^bb0(%a: tensor<i32>, %b: tensor<i32>, %c: tensor<f32>, %d: tensor<f32>):
    {body}
  }}) {{dimension = 1 : i64}} : (tensor<2x3xi32>, tensor<2x3xf32>) -> (tensor<2x3xi32>, tensor<2x3xf32>)
  return %0#0, %0#1 : tensor<2x3xi32>, tensor<2x3xf32>
}}"#
        )
    };
    let inputs = [
        (DType::I32, vec![2, 3], i32s(&[1, 2, 3, 4, 5, 6])),
        (DType::F32, vec![2, 3], f32s(&[0.5, -2., 1.5, 7., 7., -1.])),
    ];
    let gt = text(
        "%p = stablehlo.compare GT, %c, %d, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>\n    stablehlo.return %p : tensor<i1>",
    );
    let out = run(&gt, &inputs);
    assert_eq!(to_i32(&out[0]), [3, 1, 2, 4, 5, 6]);
    assert_eq!(to_f32(&out[1]), [1.5, 0.5, -2., 7., 7., -1.]);
    // |c| < |d|: not a built-in comparator, runs as a region.
    let abs = text(
        "%e = stablehlo.abs %c : tensor<f32>\n    %f = stablehlo.abs %d : tensor<f32>\n    %p = stablehlo.compare LT, %e, %f, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>\n    stablehlo.return %p : tensor<i1>",
    );
    let out = run(&abs, &inputs);
    assert_eq!(to_i32(&out[0]), [1, 3, 2, 6, 4, 5]);
    assert_eq!(to_f32(&out[1]), [0.5, 1.5, -2., -1., 7., 7.]);
}

#[test]
fn dynamic_slice_and_update_clamp_runtime_starts() {
    let text = r#"
func.func @main(%x: tensor<4x3xi32>, %r: tensor<i32>, %c: tensor<i64>) -> (tensor<2x2xi32>, tensor<4x3xi32>) {
  %0 = stablehlo.dynamic_slice %x, %r, %c, sizes = [2, 2] : (tensor<4x3xi32>, tensor<i32>, tensor<i64>) -> tensor<2x2xi32>
  %u = stablehlo.constant dense<[[-1, -2], [-3, -4]]> : tensor<2x2xi32>
  %1 = stablehlo.dynamic_update_slice %x, %u, %r, %c : (tensor<4x3xi32>, tensor<2x2xi32>, tensor<i32>, tensor<i64>) -> tensor<4x3xi32>
  return %0, %1 : tensor<2x2xi32>, tensor<4x3xi32>
}"#;
    let x: Vec<i32> = (0..12).collect();
    let case = |r: i32, c: i64| {
        run(
            text,
            &[
                (DType::I32, vec![4, 3], i32s(&x)),
                (DType::I32, vec![], i32s(&[r])),
                (DType::I64, vec![], c.to_le_bytes().to_vec()),
            ],
        )
    };
    let out = case(1, 0);
    assert_eq!(to_i32(&out[0]), [3, 4, 6, 7]);
    assert_eq!(to_i32(&out[1]), [0, 1, 2, -1, -2, 5, -3, -4, 8, 9, 10, 11]);
    // Rows clamp to 2 (4 - 2), columns to 1 (3 - 2); negative starts clamp to 0.
    let out = case(99, i64::MAX);
    assert_eq!(to_i32(&out[0]), [7, 8, 10, 11]);
    assert_eq!(to_i32(&out[1]), [0, 1, 2, 3, 4, 5, 6, -1, -2, 9, -3, -4]);
    let out = case(i32::MIN, -5);
    assert_eq!(to_i32(&out[0]), [0, 1, 3, 4]);
}

/// Loading must fail with an error naming the problem (never panic).
fn refused(text: &str, needle: &str) {
    match plan(text) {
        Ok(_) => panic!("loaded a malformed model (expected '{needle}')"),
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.contains(needle),
                "error '{m}' does not mention '{needle}'"
            );
        }
    }
}

#[test]
fn malformed_indexing_attributes_are_refused() {
    // Gather: an offset dim past the output rank, a start_index_map dim past the operand rank,
    // a slice larger than the operand, a negative index_vector_dim.
    let g = |dims: &str, sizes: &str| {
        format!(
            r#"
func.func @main(%x: tensor<4x3xf32>, %i: tensor<5x1xi32>) -> tensor<5x2xf32> {{
  %0 = "stablehlo.gather"(%x, %i) {{dimension_numbers = #stablehlo.gather<{dims}>, slice_sizes = array<i64: {sizes}>}} : (tensor<4x3xf32>, tensor<5x1xi32>) -> tensor<5x2xf32>
  return %0 : tensor<5x2xf32>
}}"#
        )
    };
    let ok = "offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1";
    plan(&g(ok, "1, 2")).unwrap();
    refused(
        &g("offset_dims = [7], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1", "1, 2"),
        "offset_dims [7]: dimension 7 out of range",
    );
    refused(
        &g("offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [5], index_vector_dim = 1", "1, 2"),
        "start_index_map [5]: dimension 5 out of range",
    );
    refused(&g(ok, "1, 9"), "slice size 9 of dim 1 exceeds");
    refused(&g(ok, "1"), "slice_sizes [1] for an operand of rank 2");
    refused(
        &g("offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = -1", "1, 2"),
        "negative index_vector_dim",
    );
    refused(
        &g("offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 4", "1, 2"),
        "index_vector_dim 4 out of range",
    );
    // Scatter: window dims past the updates' rank, inserted dim repeated, wrong vector length.
    let s = |dims: &str| {
        format!(
            r#"
func.func @main(%x: tensor<4x2xf32>, %i: tensor<3x1xi32>, %u: tensor<3x2xf32>) -> tensor<4x2xf32> {{
  %0 = "stablehlo.scatter"(%x, %i, %u) ({{
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    stablehlo.return %b : tensor<f32>
  }}) {{scatter_dimension_numbers = #stablehlo.scatter<{dims}>}} : (tensor<4x2xf32>, tensor<3x1xi32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}}"#
        )
    };
    plan(&s("update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1")).unwrap();
    refused(
        &s("update_window_dims = [3], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1"),
        "update_window_dims [3]: dimension 3 out of range",
    );
    refused(
        &s("update_window_dims = [1], inserted_window_dims = [0, 0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1"),
        "repeats dimension 0",
    );
    refused(
        &s("update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 1"),
        "index vectors have 1 components, the op maps 2",
    );
    // Sort: dimension out of range.
    refused(
        r#"
func.func @main(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "stablehlo.sort"(%x) ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %p = stablehlo.compare LT, %a, %b : (tensor<f32>, tensor<f32>) -> tensor<i1>
    stablehlo.return %p : tensor<i1>
  }) {dimension = 3 : i64} : (tensor<3xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}"#,
        "sort dimension out of range",
    );
    // A comparator that does not return a bool.
    refused(
        r#"
func.func @main(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "stablehlo.sort"(%x) ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %p = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %p : tensor<f32>
  }) {dimension = 0 : i64} : (tensor<3xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}"#,
        "region output 0 must be a bool scalar",
    );
    // Dynamic slice bigger than its operand.
    refused(
        r#"
func.func @main(%x: tensor<3xf32>, %s: tensor<i32>) -> tensor<4xf32> {
  %0 = stablehlo.dynamic_slice %x, %s, sizes = [4] : (tensor<3xf32>, tensor<i32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}"#,
        "slice larger than operand",
    );
}

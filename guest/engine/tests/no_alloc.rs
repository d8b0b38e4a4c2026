//! The executor allocates nothing while running: all memory (arena, scratch, packed weights) is
//! planned at load. Checked with a counting global allocator around `Model::run` on real
//! fixtures (f32 and int8 MobileNetV2, the digits CNN, the stateful model after its first run,
//! a Flax transformer encoder block and a JAX CNN).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use cerebro_engine::ir::TensorData;
use cerebro_engine::{loader, Model};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A TFLite fixture.
fn check(name: &str, warm_runs: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/models/tflite")
        .join(name);
    let bytes = std::fs::read(dir.join("model.tflite")).expect("fixture model");
    let model = Model::new(loader::tflite::load(&bytes).expect("load")).expect("plan");
    check_model(name, model, &dir, warm_runs);
}

/// A JAX export (with its Flax variables when the fixture has them).
fn check_stablehlo(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/models/jax_export")
        .join(name);
    let bytes = std::fs::read(dir.join("model.jax_exported")).expect("fixture model");
    let graph = match std::fs::read(dir.join("variables.msgpack")) {
        Ok(params) => loader::stablehlo::load_with_params(&bytes, &params),
        Err(_) => loader::stablehlo::load(&bytes),
    }
    .expect("load");
    check_model(name, Model::new(graph).expect("plan"), &dir, 0);
}

/// Runs `model` on the fixture's first inputs `warm_runs` times, then asserts that two more
/// runs allocate nothing.
fn check_model(name: &str, mut model: Model, dir: &Path, warm_runs: usize) {
    let dtypes: Vec<_> = model.inputs().map(|t| t.dtype).collect();
    let inputs: Vec<_> = (0..dtypes.len())
        .map(|i| cerebro_npy::read(dir.join(format!("run0_input{i}.npy"))).expect("fixture input"))
        .collect();
    let data: Vec<TensorData> = inputs
        .iter()
        .zip(&dtypes)
        .map(|(a, &dtype)| TensorData {
            dtype,
            shape: &a.shape,
            bytes: &a.data,
        })
        .collect();
    for _ in 0..warm_runs {
        model.run(&data).expect("run");
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    model.run(&data).expect("run");
    model.run(&data).expect("run");
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(
        after - before,
        0,
        "{name}: {} allocations while running",
        after - before
    );
}

#[test]
fn running_does_not_allocate() {
    check("mobilenet_v2_f32", 0);
    check("mobilenet_v2_int8", 0);
    check("digits_cnn_f32", 0);
    check("add_relu_bcast_int8", 0);
    check("softmax_int8", 0);
    // Resource variables get their storage on the first ASSIGN_VARIABLE, then reuse it.
    check("stateful_accumulator", 1);
    // Matrix products (dot_general on the GEMM), broadcasts, reductions, transposes.
    check_stablehlo("flax_encoder_block_export");
    check_stablehlo("jax_cnn_export");
}

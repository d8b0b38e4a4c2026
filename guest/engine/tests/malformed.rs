//! Malformed and hostile TFLite files: every one must be refused with an error that says what
//! is wrong, and nothing may panic. Models are built with the FlatBuffers builder so each test
//! breaks exactly one thing; real fixture files are also truncated and bit-flipped.

use cerebro_engine::ir::{DType, TensorData};
use cerebro_engine::{loader, Error, Model};
use flatbuffers::{FlatBufferBuilder, WIPOffset};

/// One tensor of a test model.
#[derive(Clone)]
struct T {
    shape: Vec<i32>,
    dtype: i8,
    buffer: u32,
}

/// One operator: builtin code, inputs, outputs.
#[derive(Clone)]
struct O {
    opcode_index: u32,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
}

/// A small model description, turned into FlatBuffer bytes by `build`.
#[derive(Clone)]
struct Spec {
    codes: Vec<i32>,
    tensors: Vec<T>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    ops: Vec<O>,
    /// Buffer contents (buffer 0 is always the empty sentinel and is added by `build`).
    buffers: Vec<Vec<u8>>,
    /// Buffers stored past the FlatBuffer: (offset, size) overriding inline data.
    external: Vec<(usize, u64, u64)>,
    version: u32,
}

fn add_model() -> Spec {
    // y = a + b, all f32 [2, 3].
    Spec {
        codes: vec![0],
        tensors: vec![
            T {
                shape: vec![2, 3],
                dtype: 0,
                buffer: 0,
            },
            T {
                shape: vec![2, 3],
                dtype: 0,
                buffer: 0,
            },
            T {
                shape: vec![2, 3],
                dtype: 0,
                buffer: 0,
            },
        ],
        inputs: vec![0, 1],
        outputs: vec![2],
        ops: vec![O {
            opcode_index: 0,
            inputs: vec![0, 1],
            outputs: vec![2],
        }],
        buffers: vec![],
        external: vec![],
        version: 3,
    }
}

fn build(spec: &Spec) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    let mut codes = Vec::new();
    for &c in &spec.codes {
        let start = b.start_table();
        b.push_slot::<i8>(4, c.clamp(0, 127) as i8, 0);
        b.push_slot::<i32>(10, c, 0);
        codes.push(b.end_table(start));
    }
    let codes = b.create_vector(&codes);
    let mut tensors = Vec::new();
    for (i, t) in spec.tensors.iter().enumerate() {
        let shape = b.create_vector(&t.shape);
        let name = b.create_string(&format!("t{i}"));
        let start = b.start_table();
        b.push_slot_always::<WIPOffset<_>>(4, shape);
        b.push_slot::<i8>(6, t.dtype, 0);
        b.push_slot::<u32>(8, t.buffer, 0);
        b.push_slot_always::<WIPOffset<_>>(10, name);
        tensors.push(b.end_table(start));
    }
    let tensors = b.create_vector(&tensors);
    let mut ops = Vec::new();
    for o in &spec.ops {
        let ins = b.create_vector(&o.inputs);
        let outs = b.create_vector(&o.outputs);
        let start = b.start_table();
        b.push_slot::<u32>(4, o.opcode_index, 0);
        b.push_slot_always::<WIPOffset<_>>(6, ins);
        b.push_slot_always::<WIPOffset<_>>(8, outs);
        ops.push(b.end_table(start));
    }
    let ops = b.create_vector(&ops);
    let ins = b.create_vector(&spec.inputs);
    let outs = b.create_vector(&spec.outputs);
    let start = b.start_table();
    b.push_slot_always::<WIPOffset<_>>(4, tensors);
    b.push_slot_always::<WIPOffset<_>>(6, ins);
    b.push_slot_always::<WIPOffset<_>>(8, outs);
    b.push_slot_always::<WIPOffset<_>>(10, ops);
    let sg = b.end_table(start);
    let sgs = b.create_vector(&[sg]);
    let mut bufs = Vec::new();
    let start = b.start_table();
    bufs.push(b.end_table(start));
    for (i, data) in spec.buffers.iter().enumerate() {
        let ext = spec.external.iter().find(|e| e.0 == i + 1);
        let d = if ext.is_none() {
            Some(b.create_vector(data))
        } else {
            None
        };
        let start = b.start_table();
        if let Some(d) = d {
            b.push_slot_always::<WIPOffset<_>>(4, d);
        }
        if let Some(&(_, off, size)) = ext {
            b.push_slot::<u64>(6, off, 0);
            b.push_slot::<u64>(8, size, 0);
        }
        bufs.push(b.end_table(start));
    }
    let bufs = b.create_vector(&bufs);
    let start = b.start_table();
    b.push_slot::<u32>(4, spec.version, 0);
    b.push_slot_always::<WIPOffset<_>>(6, codes);
    b.push_slot_always::<WIPOffset<_>>(8, sgs);
    b.push_slot_always::<WIPOffset<_>>(12, bufs);
    let model = b.end_table(start);
    b.finish(model, Some("TFL3"));
    b.finished_data().to_vec()
}

/// Loads and plans a TFLite model (the TFLite front-end directly, no format detection).
fn load(bytes: &[u8]) -> Result<Model, Error> {
    loader::tflite::load(bytes).and_then(Model::new)
}

fn err_of(bytes: &[u8]) -> Error {
    match load(bytes) {
        Ok(_) => panic!("malformed model was accepted"),
        Err(e) => e,
    }
}

fn assert_err_contains(bytes: &[u8], needles: &[&str]) {
    let e = err_of(bytes).to_string();
    for n in needles {
        assert!(e.contains(n), "error {e:?} should mention {n:?}");
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn builder_makes_a_valid_model() {
    let mut m = load(&build(&add_model())).expect("valid model loads");
    let a = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = f32_bytes(&[10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
    let t = |bytes: &'static [u8]| TensorData {
        dtype: DType::F32,
        shape: &[2, 3],
        bytes,
    };
    let a: &'static [u8] = Box::leak(a.into_boxed_slice());
    let b: &'static [u8] = Box::leak(b.into_boxed_slice());
    m.run(&[t(a), t(b)]).unwrap();
    let out = m.output(0).unwrap();
    let v: Vec<f32> = out
        .bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(v, [11.0, 22.0, 33.0, 44.0, 55.0, 66.0]);
    // Wrong input shape and count are refused at run time.
    let e = m.run(&[t(a)]).unwrap_err().to_string();
    assert!(e.contains("takes 2 inputs"), "{e}");
    let bad = TensorData {
        dtype: DType::F32,
        shape: &[3, 2],
        bytes: a,
    };
    let e = m.run(&[bad, t(b)]).unwrap_err().to_string();
    assert!(e.contains("must be f32 [2, 3]"), "{e}");
}

#[test]
fn constant_buffers_inline_and_past_the_flatbuffer() {
    // b is a constant: inline, then stored after the FlatBuffer via Buffer.offset/size.
    let mut spec = add_model();
    spec.tensors[1].buffer = 1;
    spec.inputs = vec![0];
    let data = f32_bytes(&[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    spec.buffers = vec![data.clone()];
    let inline = build(&spec);
    assert!(load(&inline).is_ok());

    // Place the data at a 16-aligned offset after the FlatBuffer.
    let probe = {
        let mut s = spec.clone();
        s.external = vec![(1, 1 << 20, data.len() as u64)];
        build(&s)
    };
    let off = probe.len().div_ceil(16) * 16;
    let mut s = spec.clone();
    s.external = vec![(1, off as u64, data.len() as u64)];
    let mut file = build(&s);
    assert_eq!(
        file.len(),
        probe.len(),
        "offset width does not change the layout"
    );
    file.resize(off, 0);
    file.extend_from_slice(&data);
    let mut m = load(&file).expect("external buffer loads");
    let x: &'static [u8] = Box::leak(f32_bytes(&[0.5; 6]).into_boxed_slice());
    m.run(&[TensorData {
        dtype: DType::F32,
        shape: &[2, 3],
        bytes: x,
    }])
    .unwrap();
    let v: Vec<f32> = m
        .output(0)
        .unwrap()
        .bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(v, [1.5, 1.5, 1.5, 2.5, 2.5, 2.5]);

    // The same buffer pointing past the end of the file.
    let mut s = spec.clone();
    s.external = vec![(1, off as u64 + 8, data.len() as u64)];
    let mut file = build(&s);
    file.resize(off, 0);
    file.extend_from_slice(&data);
    assert_err_contains(&file, &["buffer 1", "outside"]);
    // An offset so large it overflows.
    let mut s = spec.clone();
    s.external = vec![(1, u64::MAX - 4, 64)];
    assert_err_contains(&build(&s), &["buffer 1"]);
}

#[test]
fn wrong_buffer_size_is_refused() {
    let mut spec = add_model();
    spec.tensors[1].buffer = 1;
    spec.inputs = vec![0];
    spec.buffers = vec![vec![0u8; 8]];
    assert_err_contains(&build(&spec), &["needs 24 bytes", "buffer 1 has 8"]);
    // Buffer index past the buffer table.
    spec.tensors[1].buffer = 7;
    assert_err_contains(&build(&spec), &["buffer 7", "2 buffers"]);
}

#[test]
fn out_of_range_tensor_indices_are_refused() {
    let mut spec = add_model();
    spec.ops[0].inputs = vec![0, 9];
    assert_err_contains(&build(&spec), &["input tensor index 9 out of range"]);
    let mut spec = add_model();
    spec.ops[0].outputs = vec![-3];
    assert_err_contains(&build(&spec), &["output tensor index -3 out of range"]);
    let mut spec = add_model();
    spec.outputs = vec![5];
    assert_err_contains(&build(&spec), &["output tensor index 5 out of range"]);
    let mut spec = add_model();
    spec.inputs = vec![0, 1, 1000000];
    assert_err_contains(&build(&spec), &["input tensor index 1000000 out of range"]);
}

#[test]
fn cycles_and_unproduced_tensors_are_refused() {
    // op0: t2 = t0 + t3 ; op1: t3 = t2 + t1  (t3 read before it is produced)
    let mut spec = add_model();
    spec.tensors.push(T {
        shape: vec![2, 3],
        dtype: 0,
        buffer: 0,
    });
    spec.ops = vec![
        O {
            opcode_index: 0,
            inputs: vec![0, 3],
            outputs: vec![2],
        },
        O {
            opcode_index: 0,
            inputs: vec![2, 1],
            outputs: vec![3],
        },
    ];
    spec.outputs = vec![3];
    assert_err_contains(&build(&spec), &["before anything produces it"]);
    // A node that reads its own output.
    let mut spec = add_model();
    spec.ops[0].inputs = vec![0, 2];
    assert_err_contains(&build(&spec), &["before anything produces it"]);
    // A tensor produced twice.
    let mut spec = add_model();
    spec.ops.push(spec.ops[0].clone());
    assert_err_contains(&build(&spec), &["produced twice"]);
    // An output nothing produces.
    let mut spec = add_model();
    spec.ops.clear();
    assert_err_contains(&build(&spec), &["never produced"]);
}

#[test]
fn absurd_shapes_are_refused() {
    let mut spec = add_model();
    for t in &mut spec.tensors {
        t.shape = vec![1 << 20, 1 << 20, 1 << 20];
    }
    assert_err_contains(&build(&spec), &["too large"]);
    let mut spec = add_model();
    spec.tensors[0].shape = vec![2, -3];
    assert_err_contains(&build(&spec), &["dimension -3"]);
    let mut spec = add_model();
    spec.tensors[0].shape = vec![1; 40];
    assert_err_contains(&build(&spec), &["rank 40"]);
    // Shapes that disagree with the op.
    let mut spec = add_model();
    spec.tensors[2].shape = vec![3, 2];
    assert_err_contains(&build(&spec), &["does not broadcast"]);
}

#[test]
fn bad_codes_types_and_versions_are_refused() {
    let mut spec = add_model();
    spec.ops[0].opcode_index = 4;
    assert_err_contains(&build(&spec), &["opcode index 4", "1 operator codes"]);
    let mut spec = add_model();
    spec.codes = vec![250];
    assert_err_contains(&build(&spec), &["unknown builtin code 250"]);
    let mut spec = add_model();
    spec.codes = vec![16];
    assert_err_contains(&build(&spec), &["LSTM"]);
    let mut spec = add_model();
    spec.tensors[0].dtype = 5;
    assert_err_contains(&build(&spec), &["STRING"]);
    let mut spec = add_model();
    spec.tensors[0].dtype = 99;
    assert_err_contains(&build(&spec), &["unknown type 99"]);
    let mut spec = add_model();
    spec.version = 2;
    assert_err_contains(&build(&spec), &["version 2"]);
    let mut spec = add_model();
    spec.tensors[1].dtype = 2; // i32 + f32
    assert_err_contains(&build(&spec), &["is i32", "is f32"]);
}

#[test]
fn recursive_calls_are_refused() {
    // CALL (code 31) without options refers to subgraph 0, i.e. itself.
    let mut spec = add_model();
    spec.codes = vec![31];
    let e = err_of(&build(&spec)).to_string();
    assert!(e.contains("CallOptions") || e.contains("recursive"), "{e}");
}

#[test]
fn not_a_model_and_truncations_are_refused() {
    assert_err_contains(b"", &["too short"]);
    assert_err_contains(b"1234XXXX", &["TFL3"]);
    let good = build(&add_model());
    for n in 0..good.len() {
        let e = err_of(&good[..n]).to_string();
        assert!(!e.is_empty());
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/models/tflite/digits_cnn_int8/model.tflite"
    );
    let real = std::fs::read(path).expect("digits_cnn_int8 fixture");
    assert!(load(&real).is_ok());
    let step = (real.len() / 997).max(1);
    for n in (0..real.len()).step_by(step) {
        let e = err_of(&real[..n]);
        assert!(
            matches!(
                e,
                Error::Malformed(_)
                    | Error::Invalid(_)
                    | Error::Unsupported(_)
                    | Error::TooLarge(_)
            ),
            "{e}"
        );
    }
}

#[test]
fn bit_flips_never_panic() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/models/tflite/digits_mlp_int8/model.tflite"
    );
    let real = std::fs::read(path).expect("digits_mlp_int8 fixture");
    let input = [0u8; 64];
    let mut accepted = 0;
    let mut rng = 0x9e3779b97f4a7c15u64;
    for i in 0..4000 {
        let mut bytes = real.clone();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let pos = (rng as usize) % bytes.len();
        bytes[pos] ^= 1 << (i % 8);
        if let Ok(mut m) = load(&bytes) {
            accepted += 1;
            let shape: Vec<usize> = m
                .inputs()
                .next()
                .map(|t| t.shape.0.clone())
                .unwrap_or_default();
            let dtype = m.inputs().next().map(|t| t.dtype).unwrap_or(DType::I8);
            let n: usize = shape.iter().product::<usize>() * dtype.size();
            if n <= input.len() {
                let _ = m.run(&[TensorData {
                    dtype,
                    shape: &shape,
                    bytes: &input[..n],
                }]);
            }
        }
    }
    // Flips in weights keep the model valid; flips in structure must be refused, not crash.
    assert!(accepted > 0);
}

#[test]
fn op_output_rank_mismatch_is_refused() {
    // Regression (cargo fuzz): PAD whose output rank differs from its input rank.
    let pads: Vec<u8> = [0i32, 1, 1, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let spec = Spec {
        codes: vec![34],
        tensors: vec![
            T {
                shape: vec![2, 3],
                dtype: 0,
                buffer: 0,
            },
            T {
                shape: vec![2, 2],
                dtype: 2,
                buffer: 1,
            },
            T {
                shape: vec![3],
                dtype: 0,
                buffer: 0,
            },
        ],
        inputs: vec![0],
        outputs: vec![2],
        ops: vec![O {
            opcode_index: 0,
            inputs: vec![0, 1],
            outputs: vec![2],
        }],
        buffers: vec![pads.clone()],
        external: vec![],
        version: 3,
    };
    assert_err_contains(&build(&spec), &["Pad", "rank-1 output"]);
    let mut ok = spec.clone();
    ok.tensors[2].shape = vec![3, 4];
    assert!(load(&build(&ok)).is_ok());
}

//! Property tests: every encoder's output decodes to the same value, and decoders never accept
//! a truncated or corrupted message as something else.

use cerebro_spec::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct OwnedTensor {
    dtype: DType,
    dims: Vec<u64>,
    name: String,
    data: Vec<u8>,
}

impl OwnedTensor {
    fn view(&self) -> TensorView<'_> {
        TensorView::new(self.dtype, &self.dims, &self.name, &self.data).unwrap()
    }
}

fn dtype() -> impl Strategy<Value = DType> {
    prop::sample::select(DType::ALL.to_vec())
}

fn tensor() -> impl Strategy<Value = OwnedTensor> {
    (
        dtype(),
        prop::collection::vec(0u64..6, 0..=4),
        "[a-z_:0-9]{0,24}",
    )
        .prop_flat_map(|(dtype, dims, name)| {
            let n = dims.iter().product::<u64>() as usize * dtype.size();
            prop::collection::vec(any::<u8>(), n).prop_map(move |data| OwnedTensor {
                dtype,
                dims: dims.clone(),
                name: name.clone(),
                data,
            })
        })
}

fn status() -> impl Strategy<Value = Status> {
    prop::sample::select(Status::ALL.to_vec())
}

fn encode_job(job: &Job<'_>, id: u64) -> Vec<u8> {
    let mut buf = vec![0u8; job.encoded_len().unwrap()];
    assert_eq!(job.encode(id, &mut buf).unwrap(), buf.len());
    buf
}

proptest! {
    #[test]
    fn echo_and_checksum_round_trip(payload in prop::collection::vec(any::<u8>(), 0..2000), id: u64, checksum: bool) {
        let job = if checksum { Job::Checksum { payload: &payload } } else { Job::Echo { payload: &payload } };
        let buf = encode_job(&job, id);
        let (got_id, got) = Job::decode(&buf).unwrap();
        prop_assert_eq!(got_id, id);
        prop_assert_eq!(got, job);
    }

    #[test]
    fn load_model_round_trip(model_id: u64, total_size: u64, format: u32, digest: [u8; 32], blake3: bool, id: u64, name in prop::option::of("\\PC{1,30}")) {
        let signature = name.as_deref().map(|n| SignatureName::new(n).unwrap());
        let digest_alg = if blake3 { DigestAlgorithm::Blake3 } else { DigestAlgorithm::Sha256 };
        let job = Job::LoadModel(LoadModel { model_id, total_size, format: ModelFormat(format), digest_alg, digest, signature });
        let buf = encode_job(&job, id);
        let expected = match &name {
            None => HEADER_LEN + LOAD_MODEL_BODY_LEN,
            Some(n) => HEADER_LEN + LOAD_MODEL_BODY_LEN + 8 + n.len().next_multiple_of(8),
        };
        prop_assert_eq!(buf.len(), expected);
        let (got_id, got) = Job::decode(&buf).unwrap();
        prop_assert_eq!(got_id, id);
        let Job::LoadModel(l) = got else { panic!("kind") };
        prop_assert_eq!(l.signature.as_ref().map(|s| s.as_str()), name.as_deref());
        prop_assert_eq!(Job::LoadModel(l), job);
        // Every strict prefix of the body fails to decode (a header whose body_len we shrink).
        if name.is_some() {
            for cut in [1usize, 8] {
                let mut short = buf[..buf.len() - cut].to_vec();
                let body_len = (short.len() - HEADER_LEN) as u32;
                short[4..8].copy_from_slice(&body_len.to_le_bytes());
                prop_assert!(Job::decode(&short).is_err());
            }
        }
    }

    #[test]
    fn run_round_trip(tensors in prop::collection::vec(tensor(), 0..6), model_id: u64, id: u64) {
        let views: Vec<_> = tensors.iter().map(|t| t.view()).collect();
        let job = Job::Run { model_id, inputs: Tensors::Views(&views) };
        let buf = encode_job(&job, id);
        prop_assert_eq!(buf.len() % 8, 0);
        let (got_id, got) = Job::decode(&buf).unwrap();
        prop_assert_eq!(got_id, id);
        let Job::Run { model_id: m, inputs } = got else { panic!("kind") };
        prop_assert_eq!(m, model_id);
        let back: Vec<_> = inputs.iter().collect();
        prop_assert_eq!(back, views);
    }

    #[test]
    fn result_round_trip(tensors in prop::collection::vec(tensor(), 0..4), st in status(), detail in "\\PC{0,40}", id: u64) {
        let views: Vec<_> = tensors.iter().map(|t| t.view()).collect();
        let r = if st == Status::Ok {
            JobResult { job_kind: Kind::Run, status: st, detail: &detail, payload: ResultPayload::Tensors(Tensors::Views(&views)) }
        } else {
            JobResult::error(Kind::Run, st, &detail)
        };
        let mut buf = vec![0u8; r.encoded_len().unwrap()];
        r.encode(id, &mut buf).unwrap();
        let (got_id, got) = JobResult::decode(&buf).unwrap();
        prop_assert_eq!(got_id, id);
        prop_assert_eq!(got, r);
    }

    #[test]
    fn info_round_trip(formats in prop::collection::vec(any::<u32>(), 0..=MAX_FORMATS), name in "\\PC{0,60}", mem: u64, max: u64, id: u64) {
        let formats: Vec<_> = formats.into_iter().map(ModelFormat).collect();
        let info = InfoReply::new(ABI_VERSION, mem, max, &formats, &name).unwrap();
        let r = JobResult { job_kind: Kind::Info, status: Status::Ok, detail: "", payload: ResultPayload::Info(info) };
        let mut buf = vec![0u8; r.encoded_len().unwrap()];
        r.encode(id, &mut buf).unwrap();
        let (_, got) = JobResult::decode(&buf).unwrap();
        let ResultPayload::Info(i) = got.payload else { panic!("payload") };
        prop_assert_eq!(i.formats().collect::<Vec<_>>(), formats);
        prop_assert_eq!(i.engine_name, name.as_str());
        prop_assert_eq!((i.memory_bytes, i.max_model_size), (mem, max));
    }

    #[test]
    fn chunk_messages_round_trip(job_id: u64, model_id: u64, offset: u64, length in 0u32..5000, st in status()) {
        let req = ChunkRequest { job_id, model_id, offset, length };
        let mut buf = [0u8; CHUNK_REQUEST_LEN];
        req.encode(&mut buf).unwrap();
        prop_assert_eq!(ChunkRequest::decode(&buf).unwrap(), req);

        let len = if st == Status::Ok { length } else { 0 };
        let resp = ChunkResponse { job_id, status: st, model_id, offset, length: len };
        let mut out = vec![0u8; CHUNK_RESPONSE_HEADER_LEN + len as usize];
        resp.encode_header(&mut out).unwrap();
        for (i, b) in out[CHUNK_RESPONSE_HEADER_LEN..].iter_mut().enumerate() { *b = i as u8; }
        let (got, data) = ChunkResponse::decode(&out).unwrap();
        prop_assert_eq!(got, resp);
        prop_assert_eq!(data.len(), len as usize);
    }

    /// Every strict prefix of a job message is rejected (never misread as a shorter message).
    #[test]
    fn truncated_jobs_are_rejected(tensors in prop::collection::vec(tensor(), 1..3), cut in any::<prop::sample::Index>()) {
        let views: Vec<_> = tensors.iter().map(|t| t.view()).collect();
        let buf = encode_job(&Job::Run { model_id: 1, inputs: Tensors::Views(&views) }, 9);
        let n = cut.index(buf.len());
        prop_assert!(Job::decode(&buf[..n]).is_err());
    }

    /// Flipping any byte either is rejected or decodes to something that re-encodes to exactly
    /// the flipped bytes (no silent acceptance of a different message).
    #[test]
    fn corrupted_jobs_never_decode_loosely(tensors in prop::collection::vec(tensor(), 1..3), at in any::<prop::sample::Index>(), x in 1u8..) {
        let views: Vec<_> = tensors.iter().map(|t| t.view()).collect();
        let mut buf = encode_job(&Job::Run { model_id: 1, inputs: Tensors::Views(&views) }, 9);
        let i = at.index(buf.len());
        buf[i] ^= x;
        if let Ok((id, job)) = Job::decode(&buf) {
            let again = encode_job(&job, id);
            prop_assert_eq!(&again[..], &buf[..again.len()]);
        }
    }

    #[test]
    fn config_round_trip(job in 4096u32.., result in 4096u32.., chunk in 1u32..(1 << 30), model: u64, t: u32) {
        let c = DeviceConfig { abi_version: ABI_VERSION, max_job_size: job, max_result_size: result, max_chunk_size: chunk, max_model_size: model, wait_timeout_us: t };
        prop_assert_eq!(DeviceConfig::from_bytes(&c.to_bytes()).unwrap(), c);
    }
}

#[test]
fn hostile_tensor_headers_are_rejected() {
    let data = [0u8; 16];
    let t = TensorView::new(DType::F32, &[2, 2], "x", &data).unwrap();
    let mut buf = vec![0u8; TensorList::encoded_len(&[t]).unwrap()];
    TensorList::encode(&[t], &mut Writer::new(&mut buf)).unwrap();
    assert!(TensorList::decode(&buf).is_ok());
    // dtype, rank, name_len, reserved, data_len, dims: each corrupted.
    let cases: &[(usize, &[u8], WireError)] = &[
        (8, &99u16.to_le_bytes(), WireError::UnknownDType(99)),
        (
            10,
            &9u16.to_le_bytes(),
            WireError::TooLarge {
                what: "tensor rank",
                len: 9,
                max: 8,
            },
        ),
        (
            12,
            &300u16.to_le_bytes(),
            WireError::TooLarge {
                what: "tensor name",
                len: 300,
                max: 256,
            },
        ),
        (14, &1u16.to_le_bytes(), WireError::ReservedNotZero),
        (
            16,
            &17u64.to_le_bytes(),
            WireError::DataLengthMismatch {
                expected: 16,
                declared: 17,
            },
        ),
        (24, &u64::MAX.to_le_bytes(), WireError::ShapeOverflow),
    ];
    for (at, bytes, err) in cases {
        let mut b = buf.clone();
        b[*at..*at + bytes.len()].copy_from_slice(bytes);
        assert_eq!(TensorList::decode(&b), Err(*err), "offset {at}");
    }
    // Too many tensors.
    let mut b = buf.clone();
    b[0..4].copy_from_slice(&65u32.to_le_bytes());
    assert!(matches!(
        TensorList::decode(&b),
        Err(WireError::TooLarge { .. })
    ));
    // Trailing bytes.
    let mut b = buf.clone();
    b.extend_from_slice(&[0; 8]);
    assert_eq!(TensorList::decode(&b), Err(WireError::TrailingBytes));
    // A huge body_len in the header cannot read past the buffer.
    let mut msg = vec![0u8; 64];
    let n = Job::Echo { payload: b"abc" }.encode(1, &mut msg).unwrap();
    msg[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Job::decode(&msg[..n]),
        Err(WireError::Truncated { .. })
    ));
    // Unknown kind; a result kind on the job queue.
    msg[0..2].copy_from_slice(&0x7777u16.to_le_bytes());
    assert_eq!(Job::decode(&msg), Err(WireError::UnknownKind(0x7777)));
    msg[0..2].copy_from_slice(&(Kind::Result as u16).to_le_bytes());
    msg[4..8].copy_from_slice(&3u32.to_le_bytes());
    assert_eq!(Job::decode(&msg), Err(WireError::UnexpectedKind(0x0101)));
}

#[test]
fn inconsistent_results_are_rejected() {
    let data = [1u8; 4];
    let t = [TensorView::new(DType::U8, &[4], "", &data).unwrap()];
    let bad = JobResult {
        job_kind: Kind::Echo,
        status: Status::BadInput,
        detail: "",
        payload: ResultPayload::Tensors(Tensors::Views(&t)),
    };
    assert_eq!(
        bad.encode(1, &mut [0u8; 256]),
        Err(WireError::InconsistentStatus)
    );
    let bad = JobResult {
        job_kind: Kind::Info,
        status: Status::Ok,
        detail: "",
        payload: ResultPayload::Empty,
    };
    assert_eq!(
        bad.encode(1, &mut [0u8; 256]),
        Err(WireError::InconsistentStatus)
    );
    let long = "x".repeat(MAX_DETAIL_LEN + 10);
    assert_eq!(
        JobResult::error(Kind::Echo, Status::Internal, &long)
            .detail
            .len(),
        MAX_DETAIL_LEN
    );
    assert!(matches!(
        Job::Echo { payload: b"abc" }.encode(1, &mut [0u8; 10]),
        Err(WireError::BufferTooSmall { need: 19 })
    ));
}

/// Found by `cargo fuzz run decode`: a chunk response longer than its header made the
/// truncation error's arithmetic underflow.
#[test]
fn fuzz_regression_chunk_response_long_input() {
    let data = include_bytes!("../fuzz/regressions/crash-84b3dd5193993485439eaaecb7ca7f55bda35ed9");
    let _ = ChunkResponse::decode(data);
    let _ = ChunkResponse::decode_header(&[0u8; 100]);
    assert!(ChunkResponse::decode_header(&[0u8; 10]).is_err());
}

#[test]
fn truncated_detail_never_splits_a_character() {
    let long = "é".repeat(cerebro_spec::MAX_DETAIL_LEN);
    let cut = cerebro_spec::truncate_detail(&long);
    assert!(cut.len() <= cerebro_spec::MAX_DETAIL_LEN);
    assert!(cut.len() >= cerebro_spec::MAX_DETAIL_LEN - 1);
    assert_eq!(cerebro_spec::truncate_detail("short"), "short");
}

//! The `Enclave` API against a real VM under KVM: echo/checksum plumbing, sequential and
//! concurrent jobs, a 256 MiB chunked model transfer checked in the guest, and bad requests
//! that get an error while the enclave keeps serving.
//!
//! Without `/dev/kvm` these tests print a notice and pass, unless `CEREBRO_REQUIRE_KVM=1` (CI),
//! where they fail.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use cerebro_tests::vmm::enclave::{
    DType, DeviceConfig, HostJob, JobError, ModelFormat, Status, Tensor,
};
use cerebro_tests::vmm::{Enclave, EnclaveConfig, EnclaveError};
use cerebro_tests::{require_kvm, KERNEL};
use sha2::{Digest, Sha256};

/// A small deterministic PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }

    /// A payload length in 0..=limit, with the edges (0, 1, limit) often.
    fn len(&mut self, limit: usize) -> usize {
        match self.next() % 10 {
            0 => 0,
            1 => 1,
            2 => limit,
            3 => (self.next() as usize) % 4096,
            _ => (self.next() as usize) % (limit + 1),
        }
    }
}

fn start() -> Enclave {
    let mut config = EnclaveConfig::new(KERNEL);
    config.mem_mib = 256;
    config.job_timeout = Duration::from_secs(120);
    Enclave::start(config).expect("enclave starts")
}

fn echo_limit(e: &Enclave) -> usize {
    cerebro_tests::vmm::enclave::virtio_cerebro::spec::echo_payload_limit(&e.limits())
}

#[test]
fn enclave_serves_1000_sequential_echo_jobs() {
    if !require_kvm("enclave_serves_1000_sequential_echo_jobs") {
        return;
    }
    let e = start();
    let info = e.info().unwrap();
    assert_eq!(
        info.abi_version,
        vmm::enclave::virtio_cerebro::spec::ABI_VERSION
    );
    assert!(info.formats.contains(&ModelFormat::RAW), "{info:?}");
    let limit = echo_limit(&e);
    let mut rng = Rng(0x5eed_0001);
    let mut mismatched = 0;
    for i in 0..1000 {
        let n = rng.len(limit);
        let payload = rng.bytes(n);
        let got = e
            .echo(payload.clone())
            .unwrap_or_else(|err| panic!("job {i}: {err}"));
        if got != payload {
            mismatched += 1;
        }
    }
    assert_eq!(mismatched, 0);
    let payload = rng.bytes(100_000);
    assert_eq!(
        e.checksum(payload.clone()).unwrap(),
        <[u8; 32]>::from(Sha256::digest(&payload))
    );
    let stats = e.stats();
    assert!(stats.results_received >= 1002, "{stats:?}");
    assert_eq!(stats.malformed_chains, 0, "{stats:?}");
    assert_eq!(e.shutdown().as_deref(), Some("Ok(Exited { status: 0 })"));
}

#[test]
fn enclave_serves_8_threads_of_concurrent_jobs() {
    if !require_kvm("enclave_serves_8_threads_of_concurrent_jobs") {
        return;
    }
    let e = Arc::new(start());
    let limit = echo_limit(&e);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let e = e.clone();
            thread::spawn(move || {
                let mut rng = Rng(0xc0ff_ee00 + t);
                let mut ok = 0;
                // Keep several jobs in flight per thread so completions interleave.
                let mut in_flight = std::collections::VecDeque::new();
                for i in 0..125 {
                    let n = rng.len(limit);
                    let payload = rng.bytes(n);
                    let job = if i % 5 == 4 {
                        HostJob::Checksum(payload.clone())
                    } else {
                        HostJob::Echo(payload.clone())
                    };
                    in_flight.push_back((e.submit(job).unwrap(), payload, i % 5 == 4));
                    if in_flight.len() >= 4 || i == 124 {
                        while let Some((ticket, payload, checksum)) = in_flight.pop_front() {
                            let reply = ticket.wait_timeout(Duration::from_secs(120)).unwrap();
                            assert_eq!(reply.status, Status::Ok, "{}", reply.detail);
                            let cerebro_tests::vmm::enclave::virtio_cerebro::ReplyPayload::Tensors(
                                out,
                            ) = reply.payload
                            else {
                                panic!("no tensors");
                            };
                            let expected = if checksum {
                                Sha256::digest(&payload).to_vec()
                            } else {
                                payload
                            };
                            assert_eq!(out.len(), 1);
                            if out[0].data == expected {
                                ok += 1;
                            }
                        }
                    }
                }
                ok
            })
        })
        .collect();
    let ok: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(ok, 1000, "lost or mismatched jobs: {}", 1000 - ok);
    assert_eq!(e.stats().malformed_chains, 0);
}

#[test]
fn enclave_transfers_a_256_mib_model_checked_in_the_guest() {
    if !require_kvm("enclave_transfers_a_256_mib_model_checked_in_the_guest") {
        return;
    }
    let e = start();
    let mut rng = Rng(0x256);
    let model: Arc<[u8]> = rng.bytes(256 << 20).into();
    let before = e.stats();
    let started = Instant::now();
    let id = e.load_model(model.clone(), ModelFormat::RAW).unwrap();
    let elapsed = started.elapsed();
    let after = e.stats();
    assert_eq!(after.chunk_bytes - before.chunk_bytes, 256 << 20);
    eprintln!(
        "256 MiB model transferred and SHA-256-checked in the guest in {:.1} ms ({:.2} GB/s), \
         {} chunk requests, {} wait reads",
        elapsed.as_secs_f64() * 1e3,
        (256u64 << 20) as f64 / elapsed.as_secs_f64() / 1e9,
        after.chunks_served - before.chunks_served,
        after.wait_reads - before.wait_reads,
    );
    // The same bytes announced with another digest: the guest refuses them.
    let err = e
        .load_model_with_digest(
            model.clone(),
            ModelFormat::RAW,
            vmm::enclave::ModelDigest {
                alg: vmm::enclave::DigestAlgorithm::Blake3,
                value: [0u8; 32],
            },
        )
        .unwrap_err();
    assert_eq!(err.guest_status(), Some(Status::DigestMismatch), "{err}");
    e.unload(id).unwrap();
    assert_eq!(e.echo(b"after".to_vec()).unwrap(), b"after");
}

#[test]
fn enclave_refuses_bad_requests_and_keeps_serving() {
    if !require_kvm("enclave_refuses_bad_requests_and_keeps_serving") {
        return;
    }
    let e = start();
    let limits: DeviceConfig = e.limits();
    let alive = |e: &Enclave| assert_eq!(e.echo(b"alive".to_vec()).unwrap(), b"alive");

    // Too large for a job message: refused before it reaches the guest.
    let err = e.echo(vec![0; limits.max_job_size as usize]).unwrap_err();
    assert!(
        matches!(err, EnclaveError::Job(JobError::JobTooLarge { .. })),
        "{err}"
    );
    alive(&e);
    // Fits a job but its echo would not fit a result: the guest answers TooLarge.
    let err = e.echo(vec![0; echo_limit(&e) + 8]).unwrap_err();
    assert_eq!(err.guest_status(), Some(Status::TooLarge), "{err}");
    alive(&e);
    // A model over the device limit.
    let huge: Arc<[u8]> = vec![0u8; limits.max_model_size as usize + 1].into();
    let err = e.load_model(huge, ModelFormat::RAW).unwrap_err();
    assert!(
        matches!(err, EnclaveError::Job(JobError::ModelTooLarge { .. })),
        "{err}"
    );
    alive(&e);
    // A format code no handler knows; a model id that does not exist.
    let err = e
        .load_model(vec![1u8; 1000], ModelFormat(0x1234))
        .unwrap_err();
    assert_eq!(err.guest_status(), Some(Status::Unsupported), "{err}");
    alive(&e);
    let x = Tensor {
        dtype: DType::F32,
        dims: vec![1, 2],
        name: "x".into(),
        data: vec![0; 8],
    };
    let err = e
        .run(cerebro_tests::vmm::ModelId(999), vec![x.clone()])
        .unwrap_err();
    assert_eq!(err.guest_status(), Some(Status::UnknownModel), "{err}");
    alive(&e);
    let err = e.unload(cerebro_tests::vmm::ModelId(999)).unwrap_err();
    assert_eq!(err.guest_status(), Some(Status::UnknownModel), "{err}");
    alive(&e);
    // A malformed tensor (data does not match its shape) cannot be encoded.
    let bad = Tensor {
        data: vec![0; 7],
        ..x
    };
    let err = e
        .run(cerebro_tests::vmm::ModelId(1), vec![bad])
        .unwrap_err();
    assert!(
        matches!(err, EnclaveError::Job(JobError::Encode(_))),
        "{err}"
    );
    alive(&e);
    assert_eq!(e.stats().malformed_chains, 0);
}

//! The real virtio-cerebro device and this driver talking through guest memory on the host:
//! the driver runs on a "guest" thread with the memory's host pointers, the host submits jobs
//! through the device handle.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use cerebro_guest_driver::{
    serve_one, BuiltinHandler, Driver, DriverError, DriverOptions, SharedPool, Transport,
};
use cerebro_spec::{DType, DeviceConfig, DigestAlgorithm, ModelDigest, ModelFormat, Status};
use sha2::{Digest, Sha256};
use virtio_cerebro::{CerebroDevice, DeviceHandle, HostJob, JobError, ReplyPayload, Tensor};
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

const MEM_SIZE: usize = 64 << 20;
const POOL_BASE: u64 = 16 << 20;
const POOL_SIZE: usize = 16 << 20;
const TIMEOUT: Duration = Duration::from_secs(30);

struct DeviceTransport(CerebroDevice);

impl Transport for DeviceTransport {
    fn read32(&self, offset: u64) -> u32 {
        let mut b = [0u8; 4];
        self.0.mmio_read(offset, &mut b);
        u32::from_le_bytes(b)
    }

    fn write32(&self, offset: u64, value: u32) {
        self.0.mmio_write(offset, &value.to_le_bytes());
    }
}

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
        (0..n).map(|_| self.next() as u8).collect()
    }
}

struct Enclave {
    handle: DeviceHandle,
    device: CerebroDevice,
    guest: Option<thread::JoinHandle<Result<(), DriverError>>>,
}

impl Enclave {
    fn start(config: DeviceConfig, opts: DriverOptions) -> Enclave {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM_SIZE)]).unwrap();
        let pool_ptr = mem.get_host_address(GuestAddress(POOL_BASE)).unwrap() as usize;
        let device = CerebroDevice::new(mem.clone(), config).unwrap();
        let handle = device.handle();
        let dev = device.clone();
        let guest = thread::spawn(move || {
            // SAFETY: [POOL_BASE, POOL_BASE + POOL_SIZE) is mapped by `mem` (kept alive by the
            // device) and used by nothing else in this test.
            let pool = unsafe { SharedPool::new(pool_ptr as *mut u8, POOL_BASE, POOL_SIZE) };
            let mut driver = Driver::new(Box::new(DeviceTransport(dev)), pool, opts)?;
            let mut handler = BuiltinHandler::new(opts.chunk_size as usize, 1 << 30);
            loop {
                match serve_one(&mut driver, &mut handler) {
                    Ok(_) => {}
                    Err(DriverError::Shutdown) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        });
        Enclave {
            handle,
            device,
            guest: Some(guest),
        }
    }

    fn stop(mut self) {
        self.handle.shutdown();
        let r = self.guest.take().unwrap().join().unwrap();
        assert_eq!(r, Ok(()));
    }
}

fn echo_ok(handle: &DeviceHandle, payload: Vec<u8>) {
    let reply = handle
        .call(HostJob::Echo(payload.clone()), TIMEOUT)
        .unwrap();
    assert_eq!(reply.status, Status::Ok, "{}", reply.detail);
    let ReplyPayload::Tensors(t) = reply.payload else {
        panic!("no tensors");
    };
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].dtype, DType::U8);
    assert_eq!(t[0].dims, vec![payload.len() as u64]);
    assert!(
        t[0].data == payload,
        "echo mismatch for {} bytes",
        payload.len()
    );
}

fn small_config() -> DeviceConfig {
    DeviceConfig {
        max_job_size: 256 << 10,
        max_result_size: 256 << 10,
        max_chunk_size: 256 << 10,
        max_model_size: 64 << 20,
        wait_timeout_us: 20_000,
        ..DeviceConfig::default()
    }
}

#[test]
fn echo_checksum_info_sequential_and_concurrent() {
    let config = small_config();
    let e = Enclave::start(
        config,
        DriverOptions {
            chunk_size: 256 << 10,
            ..Default::default()
        },
    );
    let limit = cerebro_spec::echo_payload_limit(&config);

    let reply = e.handle.call(HostJob::Info, TIMEOUT).unwrap();
    let ReplyPayload::Info(info) = reply.payload else {
        panic!("no info: {reply:?}");
    };
    assert_eq!(info.formats, vec![ModelFormat::RAW]);
    assert_eq!(info.abi_version, cerebro_spec::ABI_VERSION);

    let mut rng = Rng(0x1234_5678_9abc_def1);
    for i in 0..300 {
        let n = match i % 4 {
            0 => 0,
            1 => limit,
            _ => (rng.next() as usize) % (limit + 1),
        };
        echo_ok(&e.handle, rng.bytes(n));
    }

    let payload = rng.bytes(10_000);
    let reply = e
        .handle
        .call(HostJob::Checksum(payload.clone()), TIMEOUT)
        .unwrap();
    let ReplyPayload::Tensors(t) = reply.payload else {
        panic!("no tensors");
    };
    assert_eq!(t[0].data, Sha256::digest(&payload).to_vec());

    let threads: Vec<_> = (0..8)
        .map(|k| {
            let h = e.handle.clone();
            thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ k);
                // Submit a burst first so completions interleave, then check each.
                let jobs: Vec<_> = (0..25)
                    .map(|_| {
                        let n = (rng.next() as usize) % (limit + 1);
                        let p = rng.bytes(n);
                        (h.submit(HostJob::Echo(p.clone())).unwrap(), p)
                    })
                    .collect();
                for (ticket, p) in jobs {
                    let r = ticket.wait_timeout(TIMEOUT).unwrap();
                    let ReplyPayload::Tensors(t) = r.payload else {
                        panic!("no tensors");
                    };
                    assert!(t[0].data == p);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(e.handle.outstanding(), 0);
    e.stop();
}

#[test]
fn chunked_model_transfer_and_errors() {
    let config = small_config();
    let e = Enclave::start(
        config,
        DriverOptions {
            chunk_size: 256 << 10,
            ..Default::default()
        },
    );
    let mut rng = Rng(42);
    let model: Arc<[u8]> = rng.bytes((20 << 20) + 12345).into();
    let reply = e
        .handle
        .call(
            HostJob::LoadModel {
                model_id: 7,
                format: ModelFormat::RAW,
                bytes: model.clone(),
                digest: None,
                signature: None,
            },
            TIMEOUT,
        )
        .unwrap();
    assert_eq!(reply.status, Status::Ok, "{}", reply.detail);
    let stats = e.device.stats();
    assert_eq!(stats.chunk_bytes, model.len() as u64);

    // Digests given by the host, of each algorithm: the right one loads; one that does not match
    // the bytes fails the guest's check on its private copy.
    for (i, alg) in [DigestAlgorithm::Sha256, DigestAlgorithm::Blake3]
        .into_iter()
        .enumerate()
    {
        let right = ModelDigest::of(alg, &model);
        let mut wrong = right;
        wrong.value[31] ^= 1;
        for (digest, expected) in [(wrong, Status::DigestMismatch), (right, Status::Ok)] {
            let reply = e
                .handle
                .call(
                    HostJob::LoadModel {
                        model_id: 11 + i as u64,
                        format: ModelFormat::RAW,
                        bytes: model.clone(),
                        digest: Some(digest),
                        signature: None,
                    },
                    TIMEOUT,
                )
                .unwrap();
            assert_eq!(reply.status, expected, "{alg:?}: {}", reply.detail);
        }
    }

    // Loading the same id again: the guest refuses; the enclave keeps serving.
    let reply = e
        .handle
        .call(
            HostJob::LoadModel {
                model_id: 7,
                format: ModelFormat::RAW,
                bytes: model.clone(),
                digest: None,
                signature: None,
            },
            TIMEOUT,
        )
        .unwrap();
    assert_eq!(reply.status, Status::Busy);

    // A format the built-in handler cannot load.
    let reply = e
        .handle
        .call(
            HostJob::LoadModel {
                model_id: 8,
                format: ModelFormat::TFLITE,
                bytes: model[..100].into(),
                digest: None,
                signature: None,
            },
            TIMEOUT,
        )
        .unwrap();
    assert_eq!(reply.status, Status::Unsupported);

    // Run without an engine, unknown model, unload twice.
    let input = Tensor {
        dtype: DType::F32,
        dims: vec![2],
        name: "x".into(),
        data: vec![0; 8],
    };
    let r = e
        .handle
        .call(
            HostJob::Run {
                model_id: 7,
                inputs: vec![input.clone()],
            },
            TIMEOUT,
        )
        .unwrap();
    assert_eq!(r.status, Status::Unsupported);
    let r = e
        .handle
        .call(
            HostJob::Run {
                model_id: 99,
                inputs: vec![input],
            },
            TIMEOUT,
        )
        .unwrap();
    assert_eq!(r.status, Status::UnknownModel);
    let r = e
        .handle
        .call(HostJob::Unload { model_id: 7 }, TIMEOUT)
        .unwrap();
    assert_eq!(r.status, Status::Ok);
    let r = e
        .handle
        .call(HostJob::Unload { model_id: 7 }, TIMEOUT)
        .unwrap();
    assert_eq!(r.status, Status::UnknownModel);

    // Oversized requests are refused on the host side; the next request works.
    let too_big = vec![0u8; config.max_job_size as usize];
    assert!(matches!(
        e.handle.submit(HostJob::Echo(too_big)),
        Err(JobError::JobTooLarge { .. })
    ));
    let huge: Arc<[u8]> = vec![0u8; (config.max_model_size + 1) as usize].into();
    assert!(matches!(
        e.handle.submit(HostJob::LoadModel {
            model_id: 9,
            format: ModelFormat::RAW,
            bytes: huge,
            digest: None,
            signature: None,
        }),
        Err(JobError::ModelTooLarge { .. })
    ));
    // An echo whose result would not fit max_result_size: the guest answers TooLarge.
    let limit = cerebro_spec::echo_payload_limit(&config);
    let r = e
        .handle
        .call(HostJob::Echo(vec![1; limit + 8]), TIMEOUT)
        .unwrap();
    assert_eq!(r.status, Status::TooLarge);
    echo_ok(&e.handle, b"still alive".to_vec());
    e.stop();
}

//! Device unit tests driven through the MMIO register file, with rings and descriptor tables
//! built by virtio-queue's `MockSplitQueue`: the happy path, and each hostile chain followed by
//! a good request that must still work.

use std::sync::Arc;
use std::time::Duration;

use cerebro_spec::features::{VIRTIO_CEREBRO_F_WAIT, VIRTIO_F_VERSION_1};
use cerebro_spec::mmio::{desc_flags, reg, status};
use cerebro_spec::{
    wait_bits, ChunkRequest, ChunkResponse, DType, DeviceConfig, Job, JobResult, Kind, ModelFormat,
    ResultPayload, Status, TensorView, Tensors, CHUNKQ, CHUNK_REQUEST_LEN,
    CHUNK_RESPONSE_HEADER_LEN, JOBQ, RESULTQ,
};
use virtio_cerebro::{CerebroDevice, HostJob, JobError, JobReply, JobTicket, ReplyPayload};
use virtio_queue::desc::{split::Descriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const QSIZE: u16 = 16;
const MEM: usize = 16 << 20;
/// Ring bases of the three queues (descriptor table + available ring from the mock).
const RING_BASE: [u64; 3] = [0x0, 0x1_0000, 0x2_0000];
/// Used rings, placed apart from the mock's rings.
const USED_BASE: [u64; 3] = [0x3_0000, 0x4_0000, 0x5_0000];
const BUF_BASE: u64 = 0x10_0000;
const T: Duration = Duration::from_secs(5);

fn config() -> DeviceConfig {
    DeviceConfig {
        max_job_size: 8192,
        max_result_size: 8192,
        max_chunk_size: 4096,
        max_model_size: 1 << 20,
        wait_timeout_us: 1000,
        ..DeviceConfig::default()
    }
}

struct Harness {
    mem: &'static GuestMemoryMmap,
    /// Driver-side view of each queue, created once (creating one zeroes its ring headers).
    mocks: Vec<MockSplitQueue<'static, GuestMemoryMmap>>,
    dev: CerebroDevice,
    next_desc: [u16; 3],
    avail_idx: [u16; 3],
    used_seen: [u16; 3],
    next_buf: u64,
}

impl Harness {
    fn new() -> Harness {
        Self::with_features((1 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_CEREBRO_F_WAIT))
    }

    fn with_features(features: u64) -> Harness {
        // Leaked so the mocks can borrow it for the rest of the test process.
        let mem: &'static GuestMemoryMmap = Box::leak(Box::new(
            GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM)]).unwrap(),
        ));
        let dev = CerebroDevice::new(mem.clone(), config()).unwrap();
        let mocks = RING_BASE
            .iter()
            .map(|&b| MockSplitQueue::create(mem, GuestAddress(b), QSIZE))
            .collect();
        let h = Harness {
            mem,
            mocks,
            dev,
            next_desc: [0; 3],
            avail_idx: [0; 3],
            used_seen: [0; 3],
            next_buf: BUF_BASE,
        };
        h.write(reg::STATUS, 0);
        h.write(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        h.write(reg::DRIVER_FEATURES_SEL, 0);
        h.write(reg::DRIVER_FEATURES, features as u32);
        h.write(reg::DRIVER_FEATURES_SEL, 1);
        h.write(reg::DRIVER_FEATURES, (features >> 32) as u32);
        let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
        h.write(reg::STATUS, s);
        assert_ne!(h.read(reg::STATUS) & status::FEATURES_OK, 0);
        for q in 0..3u16 {
            let mock = &h.mocks[q as usize];
            h.write(reg::QUEUE_SEL, q as u32);
            assert_eq!(h.read(reg::QUEUE_NUM_MAX), 256);
            h.write(reg::QUEUE_NUM, QSIZE as u32);
            h.write(reg::QUEUE_DESC_LOW, mock.desc_table_addr().0 as u32);
            h.write(reg::QUEUE_DESC_HIGH, 0);
            h.write(reg::QUEUE_AVAIL_LOW, mock.avail_addr().0 as u32);
            h.write(reg::QUEUE_AVAIL_HIGH, 0);
            h.write(reg::QUEUE_USED_LOW, USED_BASE[q as usize] as u32);
            h.write(reg::QUEUE_USED_HIGH, 0);
            h.write(reg::QUEUE_READY, 1);
        }
        h.write(reg::STATUS, s | status::DRIVER_OK);
        assert_eq!(h.read(reg::STATUS) & status::DEVICE_NEEDS_RESET, 0);
        h
    }

    fn read(&self, off: u64) -> u32 {
        let mut b = [0u8; 4];
        self.dev.mmio_read(off, &mut b);
        u32::from_le_bytes(b)
    }

    fn write(&self, off: u64, v: u32) {
        self.dev.mmio_write(off, &v.to_le_bytes());
    }

    fn buf(&mut self, len: u32) -> u64 {
        let a = self.next_buf;
        self.next_buf += (len as u64).next_multiple_of(4096);
        a
    }

    /// Writes raw descriptors (addr, len, flags, next) at consecutive table slots and makes
    /// `head` (an offset into them, or any index for hostile cases) available.
    fn post_raw(&mut self, q: u16, descs: &[(u64, u32, u16, u16)], head: Option<u16>) -> u16 {
        let qi = q as usize;
        let base = self.next_desc[qi];
        let mock = &self.mocks[qi];
        for (i, &(addr, len, flags, next)) in descs.iter().enumerate() {
            let raw = RawDescriptor::from(Descriptor::new(addr, len, flags, next));
            mock.desc_table()
                .store((base + i as u16) % QSIZE, raw)
                .unwrap();
        }
        self.next_desc[qi] = (base + descs.len() as u16) % QSIZE;
        let head = head.unwrap_or(base);
        let slot = self.avail_idx[qi] % QSIZE;
        mock.avail()
            .ring()
            .ref_at(slot as usize)
            .unwrap()
            .store(head.to_le());
        self.avail_idx[qi] = self.avail_idx[qi].wrapping_add(1);
        mock.avail().idx().store(self.avail_idx[qi].to_le());
        head
    }

    /// Posts a well-formed chain: buffers (len, writable), linked in order.
    fn post(&mut self, q: u16, bufs: &[(u64, u32, bool)]) -> u16 {
        let base = self.next_desc[q as usize];
        let descs: Vec<_> = bufs
            .iter()
            .enumerate()
            .map(|(i, &(a, l, w))| {
                let mut f = if w { desc_flags::WRITE } else { 0 };
                if i + 1 < bufs.len() {
                    f |= desc_flags::NEXT;
                }
                (a, l, f, (base + i as u16 + 1) % QSIZE)
            })
            .collect();
        self.post_raw(q, &descs, None)
    }

    fn used_idx(&self, q: u16) -> u16 {
        self.mem
            .read_obj::<u16>(GuestAddress(USED_BASE[q as usize] + 2))
            .unwrap()
    }

    /// Takes the next used entry (id, len).
    fn pop_used(&mut self, q: u16) -> Option<(u32, u32)> {
        let qi = q as usize;
        if self.used_idx(q) == self.used_seen[qi] {
            return None;
        }
        let slot = (self.used_seen[qi] % QSIZE) as u64;
        let a = GuestAddress(USED_BASE[qi] + 4 + 8 * slot);
        let id: u32 = self.mem.read_obj(a).unwrap();
        let len: u32 = self.mem.read_obj(GuestAddress(a.0 + 4)).unwrap();
        self.used_seen[qi] += 1;
        Some((id, len))
    }

    /// Posts a good job buffer and returns its address.
    fn post_job_buffer(&mut self) -> (u16, u64) {
        let len = config().max_job_size;
        let a = self.buf(len);
        (self.post(JOBQ, &[(a, len, true)]), a)
    }

    /// Reads the job delivered into the buffer at `addr` (used length `len`).
    fn job_at(&self, addr: u64, len: u32) -> Vec<u8> {
        let mut v = vec![0u8; len as usize];
        self.mem.read_slice(&mut v, GuestAddress(addr)).unwrap();
        v
    }

    /// Posts a result message (readable) and notifies the result queue.
    fn send_result(&mut self, msg: &[u8]) -> u16 {
        let a = self.buf(msg.len() as u32);
        self.mem.write_slice(msg, GuestAddress(a)).unwrap();
        let head = self.post(RESULTQ, &[(a, msg.len() as u32, false)]);
        self.write(reg::QUEUE_NOTIFY, RESULTQ as u32);
        head
    }

    /// Runs one echo round trip through a fresh job buffer and checks it.
    fn echo_round_trip(&mut self, payload: &[u8]) {
        let (head, addr) = self.post_job_buffer();
        let ticket = self
            .dev
            .handle()
            .submit(HostJob::Echo(payload.to_vec()))
            .unwrap();
        let (id, len) = self.pop_used(JOBQ).expect("job delivered");
        assert_eq!(id, head as u32);
        let msg = self.job_at(addr, len);
        let (job_id, job) = Job::decode(&msg).unwrap();
        assert_eq!(job_id, ticket.id());
        let Job::Echo { payload: p } = job else {
            panic!("not an echo");
        };
        assert_eq!(p, payload);
        self.answer_echo(job_id, p.to_vec());
        let reply = ticket.wait_timeout(T).unwrap();
        assert_eq!(reply.status, Status::Ok);
        let ReplyPayload::Tensors(t) = reply.payload else {
            panic!("no tensors")
        };
        assert_eq!(t[0].data, payload);
    }

    fn answer_echo(&mut self, job_id: u64, p: Vec<u8>) {
        let t = [TensorView::new(DType::U8, &[p.len() as u64], "", &p).unwrap()];
        let r = JobResult {
            job_kind: Kind::Echo,
            status: Status::Ok,
            detail: "",
            payload: ResultPayload::Tensors(Tensors::Views(&t)),
        };
        let mut msg = vec![0u8; r.encoded_len().unwrap()];
        r.encode(job_id, &mut msg).unwrap();
        self.send_result(&msg);
        assert!(self.pop_used(RESULTQ).is_some(), "result buffer returned");
    }
}

#[test]
fn registers_identify_the_device() {
    let h = Harness::new();
    assert_eq!(h.read(reg::MAGIC_VALUE), 0x7472_6976);
    assert_eq!(h.read(reg::VERSION), 2);
    assert_eq!(h.read(reg::DEVICE_ID), cerebro_spec::VIRTIO_ID_CEREBRO);
    h.write(reg::DEVICE_FEATURES_SEL, 1);
    assert_eq!(h.read(reg::DEVICE_FEATURES) & 1, 1, "VERSION_1 offered");
    h.write(reg::DEVICE_FEATURES_SEL, 0);
    assert_eq!(h.read(reg::DEVICE_FEATURES) & 1, 1, "F_WAIT offered");
    // Config space: limits readable, writes ignored, bad widths read as zero.
    let cfg = config();
    assert_eq!(h.read(reg::CONFIG + 4), cfg.max_job_size);
    h.write(reg::CONFIG + 4, 1);
    assert_eq!(h.read(reg::CONFIG + 4), cfg.max_job_size);
    let mut two = [0xffu8; 2];
    h.dev.mmio_read(reg::MAGIC_VALUE, &mut two);
    assert_eq!(two, [0, 0]);
    let mut oob = [0xffu8; 4];
    h.dev.mmio_read(reg::CONFIG + 0x800, &mut oob);
    assert_eq!(oob, [0; 4]);
}

#[test]
fn features_without_version_1_are_refused() {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM)]).unwrap();
    let dev = CerebroDevice::new(mem, config()).unwrap();
    let w = |o, v: u32| dev.mmio_write(o, &v.to_le_bytes());
    w(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    w(reg::DRIVER_FEATURES, 1);
    w(
        reg::STATUS,
        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
    );
    let mut b = [0u8; 4];
    dev.mmio_read(reg::STATUS, &mut b);
    assert_eq!(u32::from_le_bytes(b) & status::FEATURES_OK, 0);
}

#[test]
fn happy_path_echo_and_out_of_order_completion() {
    let mut h = Harness::new();
    h.echo_round_trip(b"hello enclave");
    // Two jobs answered in reverse order complete with their own payloads.
    let (_, a1) = h.post_job_buffer();
    let (_, a2) = h.post_job_buffer();
    let t1 = h
        .dev
        .handle()
        .submit(HostJob::Echo(b"first".to_vec()))
        .unwrap();
    let t2 = h
        .dev
        .handle()
        .submit(HostJob::Echo(b"second".to_vec()))
        .unwrap();
    let (_, l1) = h.pop_used(JOBQ).unwrap();
    let (_, l2) = h.pop_used(JOBQ).unwrap();
    let (id1, _) = Job::decode(&h.job_at(a1, l1)).unwrap();
    let (id2, _) = Job::decode(&h.job_at(a2, l2)).unwrap();
    h.answer_echo(id2, b"second".to_vec());
    h.answer_echo(id1, b"first".to_vec());
    let r1 = t1.wait_timeout(T).unwrap();
    let r2 = t2.wait_timeout(T).unwrap();
    let data = |r: virtio_cerebro::JobReply| match r.payload {
        ReplyPayload::Tensors(t) => t[0].data.clone(),
        _ => panic!(),
    };
    assert_eq!(data(r1), b"first");
    assert_eq!(data(r2), b"second");
    assert_eq!(h.dev.stats().malformed_chains, 0);
}

#[test]
fn jobs_wait_for_buffers_and_wait_register_reports_them() {
    let mut h = Harness::new();
    let ticket = h.dev.handle().submit(HostJob::Info).unwrap();
    assert!(h.pop_used(JOBQ).is_none(), "no buffer posted yet");
    assert_eq!(
        h.read(reg::CONFIG + 0x20),
        0,
        "wait times out with nothing to do"
    );
    let (_, addr) = h.post_job_buffer();
    // The wait read polls the job queue, delivers, and reports it.
    assert_eq!(h.read(reg::CONFIG + 0x20), wait_bits::JOBS);
    let (_, len) = h.pop_used(JOBQ).unwrap();
    let msg = h.job_at(addr, len);
    let (id, job) = Job::decode(&msg).unwrap();
    assert_eq!(job, Job::Info);
    assert_eq!(id, ticket.id());
    h.dev.handle().shutdown();
    assert_eq!(h.read(reg::CONFIG + 0x20), wait_bits::SHUTDOWN);
    assert_eq!(ticket.wait_timeout(T), Err(JobError::Shutdown));
}

/// Posts a hostile job-queue chain, then checks it was returned with length 0 (or not at all
/// when its head is out of range) and that a good request still works.
fn hostile_job_chain(descs: &[(u64, u32, u16, u16)], head: Option<u16>, returned: bool) {
    let mut h = Harness::new();
    let head = h.post_raw(JOBQ, descs, head);
    let ticket = h.dev.handle().submit(HostJob::Echo(b"x".to_vec())).unwrap();
    if returned {
        assert_eq!(
            h.pop_used(JOBQ),
            Some((head as u32, 0)),
            "hostile chain returned empty"
        );
    }
    assert!(h.pop_used(JOBQ).is_none());
    assert_eq!(h.dev.stats().malformed_chains, 1);
    assert_eq!(h.dev.stats().jobs_delivered, 0);
    // The pending job goes into the next good buffer.
    let (_, addr) = h.post_job_buffer();
    h.write(reg::QUEUE_NOTIFY, JOBQ as u32);
    let (_, len) = h.pop_used(JOBQ).unwrap();
    let (id, _) = Job::decode(&h.job_at(addr, len)).unwrap();
    assert_eq!(id, ticket.id());
    h.answer_echo(id, b"x".to_vec());
    assert_eq!(ticket.wait_timeout(T).unwrap().status, Status::Ok);
    h.echo_round_trip(b"next one");
}

const W: u16 = desc_flags::WRITE;
const N: u16 = desc_flags::NEXT;

#[test]
fn hostile_job_chain_loop() {
    // Descriptor 0 -> 1 -> 0 -> ...
    hostile_job_chain(
        &[
            (BUF_BASE, 4096, W | N, 1),
            (BUF_BASE + 4096, 4096, W | N, 0),
        ],
        None,
        true,
    );
}

#[test]
fn hostile_job_chain_out_of_range_address() {
    hostile_job_chain(&[(MEM as u64 - 100, 8192, W, 0)], None, true);
    hostile_job_chain(&[(u64::MAX - 10, 8192, W, 0)], None, true);
}

#[test]
fn hostile_job_chain_wrong_direction() {
    hostile_job_chain(&[(BUF_BASE, 8192, 0, 0)], None, true);
}

#[test]
fn hostile_job_chain_short_buffer() {
    hostile_job_chain(&[(BUF_BASE, 100, W, 0)], None, true);
}

#[test]
fn hostile_job_chain_indirect() {
    hostile_job_chain(&[(BUF_BASE, 16 * 4, desc_flags::INDIRECT, 0)], None, true);
}

#[test]
fn hostile_job_chain_next_out_of_range() {
    hostile_job_chain(&[(BUF_BASE, 4096, W | N, 999)], None, true);
}

#[test]
fn hostile_job_chain_head_out_of_range() {
    hostile_job_chain(&[(BUF_BASE, 8192, W, 0)], Some(QSIZE + 3), false);
}

#[test]
fn hostile_job_chain_huge_lengths() {
    // Two descriptors whose lengths sum past u32: refused, not wrapped.
    hostile_job_chain(
        &[(BUF_BASE, u32::MAX, W | N, 1), (BUF_BASE, u32::MAX, W, 0)],
        None,
        true,
    );
}

fn delivered_echo(h: &mut Harness, payload: &[u8]) -> (JobTicket, u64) {
    let (_, addr) = h.post_job_buffer();
    let ticket = h
        .dev
        .handle()
        .submit(HostJob::Echo(payload.to_vec()))
        .unwrap();
    let (_, len) = h.pop_used(JOBQ).unwrap();
    let (id, _) = Job::decode(&h.job_at(addr, len)).unwrap();
    (ticket, id)
}

#[test]
fn hostile_results() {
    let mut h = Harness::new();
    let cfg = config();

    // A result chain with a device-writable buffer: dropped, job still open.
    let (t1, id1) = delivered_echo(&mut h, b"a");
    let a = h.buf(64);
    let head = h.post(RESULTQ, &[(a, 64, true)]);
    h.write(reg::QUEUE_NOTIFY, RESULTQ as u32);
    assert_eq!(h.pop_used(RESULTQ), Some((head as u32, 0)));
    assert!(t1.try_wait().is_none());
    h.answer_echo(id1, b"a".to_vec());
    assert_eq!(t1.wait_timeout(T).unwrap().status, Status::Ok);

    // A result larger than max_result_size: the job fails with a typed error.
    let (t2, id2) = delivered_echo(&mut h, b"b");
    let mut big = vec![0u8; cfg.max_result_size as usize + 8];
    let r = JobResult::error(Kind::Echo, Status::Internal, "");
    r.encode(id2, &mut big).unwrap();
    h.send_result(&big);
    assert!(matches!(
        t2.wait_timeout(T),
        Err(JobError::MalformedResult(_))
    ));

    // A malformed body (bad status code) for a known job: typed error.
    let (t3, id3) = delivered_echo(&mut h, b"c");
    let mut msg = vec![0u8; 64];
    let n = JobResult::error(Kind::Echo, Status::Internal, "x")
        .encode(id3, &mut msg)
        .unwrap();
    msg[20] = 0xee; // status field
    h.send_result(&msg[..n]);
    assert!(matches!(
        t3.wait_timeout(T),
        Err(JobError::MalformedResult(_))
    ));

    // A result naming the wrong job kind.
    let (t4, id4) = delivered_echo(&mut h, b"d");
    let n = JobResult::error(Kind::Run, Status::Internal, "x")
        .encode(id4, &mut msg)
        .unwrap();
    h.send_result(&msg[..n]);
    assert!(matches!(
        t4.wait_timeout(T),
        Err(JobError::MalformedResult(_))
    ));

    // A result for an unknown job id: ignored.
    let n = JobResult::error(Kind::Echo, Status::Internal, "")
        .encode(424242, &mut msg)
        .unwrap();
    h.send_result(&msg[..n]);

    // A truncated header.
    h.send_result(&msg[..5]);

    h.echo_round_trip(b"still works");
    assert_eq!(h.dev.handle().outstanding(), 0);
}

/// Submits a load-model job and returns its ticket and job id.
fn start_load(h: &mut Harness, model: &Arc<[u8]>) -> (JobTicket, u64) {
    let (_, addr) = h.post_job_buffer();
    let t = h
        .dev
        .handle()
        .submit(HostJob::LoadModel {
            model_id: 5,
            format: ModelFormat::RAW,
            bytes: model.clone(),
            digest: None,
            signature: None,
        })
        .unwrap();
    let (_, len) = h.pop_used(JOBQ).unwrap();
    let msg = h.job_at(addr, len);
    let (id, job) = Job::decode(&msg).unwrap();
    let Job::LoadModel(l) = job else { panic!() };
    assert_eq!(l.total_size, model.len() as u64);
    (t, id)
}

/// Posts a chunk request chain and returns (used len, response header, data).
fn chunk(
    h: &mut Harness,
    req: ChunkRequest,
    room: u32,
) -> Option<(u32, Option<ChunkResponse>, Vec<u8>)> {
    let mut msg = [0u8; CHUNK_REQUEST_LEN];
    req.encode(&mut msg).unwrap();
    let ra = h.buf(CHUNK_REQUEST_LEN as u32);
    h.mem.write_slice(&msg, GuestAddress(ra)).unwrap();
    let wa = h.buf(room);
    h.post(
        CHUNKQ,
        &[(ra, CHUNK_REQUEST_LEN as u32, false), (wa, room, true)],
    );
    assert_eq!(
        h.read(reg::CONFIG + 0x20) & wait_bits::CHUNKS,
        wait_bits::CHUNKS
    );
    let (_, len) = h.pop_used(CHUNKQ)?;
    let mut out = vec![0u8; len as usize];
    h.mem.read_slice(&mut out, GuestAddress(wa)).unwrap();
    match ChunkResponse::decode(&out) {
        Ok((r, d)) => Some((len, Some(r), d.to_vec())),
        Err(_) => Some((len, None, vec![])),
    }
}

#[test]
fn chunk_requests_valid_and_hostile() {
    let mut h = Harness::new();
    let model: Arc<[u8]> = (0..10_000u32)
        .map(|i| (i * 7) as u8)
        .collect::<Vec<_>>()
        .into();
    let (ticket, id) = start_load(&mut h, &model);
    let room = (CHUNK_RESPONSE_HEADER_LEN + 4096) as u32;
    let req = |offset, length| ChunkRequest {
        job_id: id,
        model_id: 5,
        offset,
        length,
    };

    let (_, r, d) = chunk(&mut h, req(0, 4096), room).unwrap();
    assert_eq!(r.unwrap().status, Status::Ok);
    assert_eq!(d, &model[..4096]);
    let (_, r, d) = chunk(&mut h, req(8192, 10_000 - 8192), room).unwrap();
    assert_eq!(r.unwrap().status, Status::Ok);
    assert_eq!(d, &model[8192..]);

    // Past the end, zero length, over max_chunk_size, larger than the buffer, unknown model,
    // unknown job: error statuses with no data.
    for (rq, st) in [
        (req(9000, 2000), Status::OutOfRange),
        (req(u64::MAX - 1, 100), Status::OutOfRange),
        (req(0, 0), Status::TooLarge),
        (req(0, 4097), Status::TooLarge),
        (
            ChunkRequest {
                model_id: 6,
                ..req(0, 10)
            },
            Status::UnknownModel,
        ),
        (
            ChunkRequest {
                job_id: 999,
                ..req(0, 10)
            },
            Status::UnknownModel,
        ),
    ] {
        let (len, r, d) = chunk(&mut h, rq, room).unwrap();
        assert_eq!(r.unwrap().status, st, "{rq:?}");
        assert_eq!(len as usize, CHUNK_RESPONSE_HEADER_LEN);
        assert!(d.is_empty());
    }
    let (_, r, _) = chunk(
        &mut h,
        req(0, 2000),
        1000 + CHUNK_RESPONSE_HEADER_LEN as u32,
    )
    .unwrap();
    assert_eq!(
        r.unwrap().status,
        Status::TooLarge,
        "buffer smaller than the request"
    );

    // Wrong chain shapes: dropped with used length 0.
    let a = h.buf(4096);
    h.post(CHUNKQ, &[(a, 4096, true)]);
    h.post(CHUNKQ, &[(a, CHUNK_REQUEST_LEN as u32, false)]);
    h.post(
        CHUNKQ,
        &[(a, CHUNK_REQUEST_LEN as u32, false), (a + 1024, 10, true)],
    );
    h.write(reg::QUEUE_NOTIFY, CHUNKQ as u32);
    for i in 0..3 {
        let u = h.pop_used(CHUNKQ);
        assert_eq!(u.map(|u| u.1), Some(0), "shape {i}: {u:?}");
    }
    // A garbage request in a well-shaped chain: Malformed status.
    h.mem
        .write_slice(&[0xabu8; CHUNK_REQUEST_LEN], GuestAddress(a))
        .unwrap();
    h.post(
        CHUNKQ,
        &[(a, CHUNK_REQUEST_LEN as u32, false), (a + 1024, room, true)],
    );
    h.write(reg::QUEUE_NOTIFY, CHUNKQ as u32);
    let (_, len) = h.pop_used(CHUNKQ).unwrap();
    let mut out = vec![0u8; len as usize];
    h.mem.read_slice(&mut out, GuestAddress(a + 1024)).unwrap();
    assert_eq!(
        ChunkResponse::decode(&out).unwrap().0.status,
        Status::Malformed
    );

    // Still serving.
    let (_, r, d) = chunk(&mut h, req(4096, 4096), room).unwrap();
    assert_eq!(r.unwrap().status, Status::Ok);
    assert_eq!(d, &model[4096..8192]);

    // Completing the load drops the model: later chunk requests are UnknownModel.
    let mut msg = vec![0u8; 64];
    let r = JobResult {
        job_kind: Kind::LoadModel,
        status: Status::Ok,
        detail: "",
        payload: ResultPayload::Empty,
    };
    let n = r.encode(id, &mut msg).unwrap();
    h.send_result(&msg[..n]);
    assert_eq!(ticket.wait_timeout(T).unwrap().status, Status::Ok);
    let (_, r, _) = chunk(&mut h, req(0, 10), room).unwrap();
    assert_eq!(r.unwrap().status, Status::UnknownModel);
}

#[test]
fn reset_cancels_in_flight_jobs_and_device_recovers() {
    let mut h = Harness::new();
    let (ticket, _) = delivered_echo(&mut h, b"lost");
    h.write(reg::STATUS, 0);
    assert_eq!(ticket.wait_timeout(T), Err(JobError::Cancelled));
    assert_eq!(h.read(reg::STATUS), 0);
    // Queue registers are ignored outside configuration.
    h.write(reg::QUEUE_SEL, 0);
    h.write(reg::QUEUE_READY, 1);
    assert_eq!(h.read(reg::QUEUE_READY), 0);
    // Re-initialize from scratch and serve again.
    let mut h2 = Harness::new();
    h2.echo_round_trip(b"after reset");
}

#[test]
fn driver_ok_with_bad_rings_needs_reset() {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM)]).unwrap();
    let dev = CerebroDevice::new(mem, config()).unwrap();
    let w = |o, v: u32| dev.mmio_write(o, &v.to_le_bytes());
    w(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    w(reg::DRIVER_FEATURES_SEL, 1);
    w(reg::DRIVER_FEATURES, 1);
    let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
    w(reg::STATUS, s);
    for q in 0..3 {
        w(reg::QUEUE_SEL, q);
        w(reg::QUEUE_NUM, 16);
        w(reg::QUEUE_DESC_LOW, 0xffff_0000); // outside guest memory
        w(reg::QUEUE_DESC_HIGH, 0xffff);
        w(reg::QUEUE_READY, 1);
    }
    w(reg::STATUS, s | status::DRIVER_OK);
    let mut b = [0u8; 4];
    dev.mmio_read(reg::STATUS, &mut b);
    assert_ne!(u32::from_le_bytes(b) & status::DEVICE_NEEDS_RESET, 0);
    // Jobs stay queued, nothing is touched.
    let t = dev.handle().submit(HostJob::Info).unwrap();
    assert!(t.try_wait().is_none());
}

/// A stalled device names the job its guest serves; `abandon` answers that job and hands the
/// others (delivered or still queued) to a replacement device, which delivers them with the same
/// ids, in order, and their callers get the replacement's answers.
#[test]
fn abandoned_jobs_move_to_a_replacement_device() {
    let mut old = Harness::new();
    assert_eq!(old.dev.handle().stall(), None);
    let (runaway, runaway_id) = delivered_echo(&mut old, b"runaway");
    let (second, second_id) = delivered_echo(&mut old, b"second");
    // No buffer posted for this one: it stays queued on the host side.
    let queued = old
        .dev
        .handle()
        .submit(HostJob::Echo(b"queued".to_vec()))
        .unwrap();
    let stall = old.dev.handle().stall().expect("jobs unanswered");
    assert_eq!(stall.job_id, Some(runaway_id));
    let unfinished = old.dev.handle().abandon(
        stall.job_id,
        Ok(JobReply {
            status: Status::DeadlineExceeded,
            detail: "over the job limit".into(),
            payload: ReplyPayload::Empty,
        }),
    );
    assert_eq!(unfinished.len(), 2);
    assert_eq!(
        runaway.wait_timeout(T).unwrap().status,
        Status::DeadlineExceeded
    );
    assert_eq!(old.read(reg::CONFIG + 0x20), wait_bits::SHUTDOWN);
    assert_eq!(old.dev.handle().stall(), None);

    let mut new = Harness::new();
    let (_, a) = new.post_job_buffer();
    let (_, b) = new.post_job_buffer();
    new.dev.handle().adopt(unfinished);
    let (_, la) = new.pop_used(JOBQ).unwrap();
    let (_, lb) = new.pop_used(JOBQ).unwrap();
    let (msg_a, msg_b) = (new.job_at(a, la), new.job_at(b, lb));
    let (ida, ja) = Job::decode(&msg_a).unwrap();
    let (idb, jb) = Job::decode(&msg_b).unwrap();
    assert_eq!((ida, idb), (second_id, queued.id()));
    assert_eq!(ja, Job::Echo { payload: b"second" });
    assert_eq!(jb, Job::Echo { payload: b"queued" });
    new.answer_echo(idb, b"queued".to_vec());
    new.answer_echo(ida, b"second".to_vec());
    for (ticket, want) in [(second, &b"second"[..]), (queued, &b"queued"[..])] {
        match ticket.wait_timeout(T).unwrap().payload {
            ReplyPayload::Tensors(t) => assert_eq!(t[0].data, want),
            other => panic!("{other:?}"),
        }
    }
    // Later jobs get ids above the adopted ones.
    let later = new.dev.handle().submit(HostJob::Info).unwrap();
    assert!(later.id() > idb);
    assert_eq!(new.dev.handle().stall().map(|s| s.job_id), Some(None));
}

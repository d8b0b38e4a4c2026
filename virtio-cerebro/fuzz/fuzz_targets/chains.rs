//! The device's chain handling with guest memory and queue state from the fuzzer (the Cloud
//! Hypervisor way): the fuzzer picks queue sizes and ring addresses, writes descriptors,
//! available-ring entries and raw bytes into guest memory, and interleaves that with host
//! submissions, doorbells, wait-register reads, register writes and resets. The device must never
//! panic or hang, and every submitted job must get at most one outcome.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use virtio_cerebro::spec::features::{VIRTIO_CEREBRO_F_WAIT, VIRTIO_F_VERSION_1};
use virtio_cerebro::spec::mmio::{reg, status};
use virtio_cerebro::spec::{DType, DeviceConfig, ModelFormat};
use virtio_cerebro::{CerebroDevice, HostJob, Tensor};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Two regions with a hole between them, so ranges can straddle unmapped memory.
const REGIONS: [(u64, usize); 2] = [(0, 0x8000), (0x1_0000, 0x8000)];

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
}

fn write32(dev: &CerebroDevice, off: u64, v: u32) {
    dev.mmio_write(off, &v.to_le_bytes());
}

fn read32(dev: &CerebroDevice, off: u64) -> u32 {
    let mut b = [0u8; 4];
    dev.mmio_read(off, &mut b);
    u32::from_le_bytes(b)
}

/// Ring addresses and size of each queue as programmed by `init`.
#[derive(Clone, Copy, Default)]
struct Rings {
    size: u16,
    desc: u64,
    avail: u64,
    avail_idx: u16,
}

fn init(dev: &CerebroDevice, inp: &mut Input<'_>) -> [Rings; 3] {
    let mut rings = [Rings::default(); 3];
    write32(dev, reg::STATUS, 0);
    write32(dev, reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    let features = (1u64 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_CEREBRO_F_WAIT);
    write32(dev, reg::DRIVER_FEATURES_SEL, 0);
    write32(dev, reg::DRIVER_FEATURES, features as u32);
    write32(dev, reg::DRIVER_FEATURES_SEL, 1);
    write32(dev, reg::DRIVER_FEATURES, (features >> 32) as u32);
    let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
    write32(dev, reg::STATUS, s);
    for q in 0..3u32 {
        write32(dev, reg::QUEUE_SEL, q);
        // Mostly powers of two up to 256, sometimes anything.
        let sb = inp.byte();
        let size = if sb & 0x80 != 0 { u32::from(sb & 0x7f) } else { 1 << (sb % 9) };
        write32(dev, reg::QUEUE_NUM, size);
        let mut addrs = [0u64; 3];
        for (i, r) in [reg::QUEUE_DESC_LOW, reg::QUEUE_AVAIL_LOW, reg::QUEUE_USED_LOW]
            .into_iter()
            .enumerate()
        {
            // Addresses in 16-byte steps over 0..0x20000 (which includes the hole).
            addrs[i] = u64::from(inp.u16() & 0x1fff) * 16;
            write32(dev, r, addrs[i] as u32);
            write32(dev, r + 4, 0);
        }
        write32(dev, reg::QUEUE_READY, 1);
        rings[q as usize] = Rings {
            size: size as u16,
            desc: addrs[0],
            avail: addrs[1],
            avail_idx: 0,
        };
    }
    write32(dev, reg::STATUS, s | status::DRIVER_OK);
    rings
}

fuzz_target!(|data: &[u8]| {
    let mem = GuestMemoryMmap::<()>::from_ranges(
        &REGIONS.map(|(a, l)| (GuestAddress(a), l)),
    )
    .expect("guest memory");
    let config = DeviceConfig {
        max_job_size: 4096,
        max_result_size: 4096,
        max_chunk_size: 1024,
        max_model_size: 1 << 16,
        wait_timeout_us: 0,
        ..DeviceConfig::default()
    };
    let dev = CerebroDevice::new(mem.clone(), config).expect("device");
    let handle = dev.handle();
    let mut inp = Input { data };
    let mut rings = init(&dev, &mut inp);

    let model: Arc<[u8]> = (0..3000u32).map(|i| i as u8).collect::<Vec<_>>().into();
    let mut tickets = Vec::new();
    for _ in 0..256 {
        if inp.data.is_empty() {
            break;
        }
        match inp.byte() % 11 {
            0 => {
                let n = inp.u16() as usize % 5000;
                if let Ok(t) = handle.submit(HostJob::Echo(vec![0x5a; n])) {
                    tickets.push(t);
                }
            }
            1 => {
                let id = u64::from(inp.byte() % 4);
                if let Ok(t) = handle.submit(HostJob::LoadModel {
                    model_id: id,
                    format: ModelFormat::RAW,
                    bytes: model.clone(),
                digest: None,
                signature: None,
                }) {
                    tickets.push(t);
                }
            }
            2 => {
                let q = u32::from(inp.byte() % 4);
                write32(&dev, reg::QUEUE_NOTIFY, q);
            }
            3 => {
                let _ = read32(&dev, reg::CONFIG + 0x20);
            }
            4 => {
                let off = u64::from(inp.byte()) * 4;
                let v = inp.u32();
                write32(&dev, off, v);
            }
            5 => {
                // Raw guest memory (e.g. message bytes in a buffer).
                let region = REGIONS[(inp.byte() & 1) as usize].0;
                let off = u64::from(inp.u16() & 0x7fff);
                let n = inp.byte() as usize;
                let bytes = inp.bytes(n).to_vec();
                let _ = mem.write_slice(&bytes, GuestAddress(region + off));
            }
            6 => rings = init(&dev, &mut inp),
            9 => {
                // A descriptor in queue q's table: index, buffer address, length, flags, next.
                let r = rings[(inp.byte() % 3) as usize];
                let index = u64::from(inp.byte()) % u64::from(r.size.max(1));
                let addr = u64::from(inp.u16()) * 8;
                let len = u32::from(inp.u16());
                let flags = u16::from(inp.byte() & 7);
                let next = u16::from(inp.byte());
                let mut d = [0u8; 16];
                d[..8].copy_from_slice(&addr.to_le_bytes());
                d[8..12].copy_from_slice(&len.to_le_bytes());
                d[12..14].copy_from_slice(&flags.to_le_bytes());
                d[14..16].copy_from_slice(&next.to_le_bytes());
                let _ = mem.write_slice(&d, GuestAddress(r.desc + 16 * index));
            }
            10 => {
                // Make a head available on queue q (sometimes skipping the idx ahead).
                let qi = (inp.byte() % 3) as usize;
                let head = u16::from(inp.byte());
                let r = &mut rings[qi];
                let slot = u64::from(r.avail_idx % r.size.max(1));
                let _ = mem.write_obj(head, GuestAddress(r.avail + 4 + 2 * slot));
                let bump = if inp.byte() == 0xff { 300 } else { 1 };
                r.avail_idx = r.avail_idx.wrapping_add(bump);
                let _ = mem.write_obj(r.avail_idx, GuestAddress(r.avail + 2));
            }
            7 => {
                let dims = vec![u64::from(inp.byte() % 8), 2];
                let data = vec![1u8; dims.iter().product::<u64>() as usize * 4];
                let t = Tensor { dtype: DType::F32, dims, name: "x".into(), data };
                if let Ok(t) = handle.submit(HostJob::Run { model_id: 1, inputs: vec![t] }) {
                    tickets.push(t);
                }
            }
            _ => {
                let mut b = [0u8; 8];
                let off = u64::from(inp.u16() & 0x1ff);
                dev.mmio_read(off, &mut b[..(1 << (inp.byte() % 4))]);
            }
        }
    }
    // Each job has at most one outcome; after shutdown every job has exactly one.
    handle.shutdown();
    for t in tickets {
        assert!(t.try_wait().is_some(), "job left without an outcome after shutdown");
        assert!(t.try_wait().is_some_and(|o| o.is_err()), "second outcome delivered");
    }
});

//! virtio-cerebro benchmarks in a real enclave: small-job round-trip latency (p50/p99), exits
//! per job, concurrent job throughput, and model transfer throughput.
//!
//! `cargo bench -p cerebro-tests --bench virtio` (needs /dev/kvm; prints a notice without it).
//! `VBENCH_JOBS=N` changes the number of sequential small jobs (default 3000).

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use cerebro_tests::vmm::enclave::{
    DeviceStats, DigestAlgorithm, HostJob, ModelDigest, ModelFormat,
};
use cerebro_tests::vmm::{Enclave, EnclaveConfig};
use cerebro_tests::{kvm_available, KERNEL};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// CPU time of the calling thread (what a hash costs, whatever the machine's load).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_THREAD_CPUTIME_ID always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Exits the device saw between two snapshots: MMIO accesses that reached the VMM (including
/// wait reads) and queue doorbells (ioeventfd, handled in KVM without reaching the VMM).
fn exits(a: &DeviceStats, b: &DeviceStats) -> (u64, u64) {
    (
        b.mmio_accesses - a.mmio_accesses,
        b.notifications - a.notifications,
    )
}

fn main() {
    if !kvm_available() {
        eprintln!("SKIPPED virtio bench: /dev/kvm is not available");
        return;
    }
    let jobs: usize = std::env::var("VBENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut config = EnclaveConfig::new(KERNEL);
    config.mem_mib = 512;
    let started = Instant::now();
    let e = Arc::new(Enclave::start(config).expect("enclave starts"));
    println!(
        "enclave boot to serving: {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    // Warm-up.
    for _ in 0..200 {
        e.echo(vec![1; 64]).unwrap();
    }

    // Small-job round trips, one at a time.
    let payload = vec![0x5a; 64];
    let before = e.stats();
    let mut lat = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let t = Instant::now();
        let out = e.echo(payload.clone()).unwrap();
        lat.push(t.elapsed());
        assert_eq!(out, payload);
    }
    let after = e.stats();
    lat.sort();
    let (mmio, doorbells) = exits(&before, &after);
    println!(
        "echo 64 B, sequential, {jobs} jobs: p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, min {:.1} us; \
         per job: {:.2} VMM exits (wait reads {:.2}), {:.2} ioeventfd doorbells",
        us(percentile(&lat, 0.5)),
        us(percentile(&lat, 0.9)),
        us(percentile(&lat, 0.99)),
        us(lat[0]),
        mmio as f64 / jobs as f64,
        (after.wait_reads - before.wait_reads) as f64 / jobs as f64,
        doorbells as f64 / jobs as f64,
    );

    // Larger payload round trips.
    for size in [64 << 10, 1000 << 10] {
        let payload = vec![0xa5u8; size];
        let n = 100;
        let mut lat = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let out = e.echo(payload.clone()).unwrap();
            lat.push(t.elapsed());
            assert_eq!(out.len(), size);
        }
        lat.sort();
        println!(
            "echo {} KiB, sequential, {n} jobs: p50 {:.1} us, p99 {:.1} us",
            size >> 10,
            us(percentile(&lat, 0.5)),
            us(percentile(&lat, 0.99)),
        );
    }

    // Concurrent small jobs: 8 host threads, each keeping 4 jobs in flight.
    let per_thread = jobs / 8;
    let before = e.stats();
    let t = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let e = e.clone();
            thread::spawn(move || {
                let mut in_flight = std::collections::VecDeque::new();
                for i in 0..per_thread {
                    in_flight.push_back(e.submit(HostJob::Echo(vec![7; 64])).unwrap());
                    if in_flight.len() >= 4 || i + 1 == per_thread {
                        while let Some(t) = in_flight.pop_front() {
                            t.wait_timeout(Duration::from_secs(60)).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let elapsed = t.elapsed();
    let after = e.stats();
    let total = per_thread * 8;
    let (mmio, doorbells) = exits(&before, &after);
    println!(
        "echo 64 B, 8 threads x 4 in flight, {total} jobs: {:.0} jobs/s; per job: {:.2} VMM exits, {:.2} doorbells",
        total as f64 / elapsed.as_secs_f64(),
        mmio as f64 / total as f64,
        doorbells as f64 / total as f64,
    );

    // Model transfer: 256 MiB, the guest pulls 1 MiB chunks (4 per wait exit) into private
    // memory and checks the digest over its copy: SHA-256 and BLAKE3 alternately.
    let model: Arc<[u8]> = (0..(256u32 << 20) / 4)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect::<Vec<u8>>()
        .into();
    let mut digests = Vec::new();
    for alg in [DigestAlgorithm::Sha256, DigestAlgorithm::Blake3] {
        let (t, cpu) = (Instant::now(), thread_cpu());
        digests.push(ModelDigest::of(alg, &model));
        let (wall, cpu) = (t.elapsed(), thread_cpu() - cpu);
        println!(
            "host reference, same run: {alg:?} {:.2} GB/s ({:.2} GB/s of thread CPU time)",
            model.len() as f64 / wall.as_secs_f64() / 1e9,
            model.len() as f64 / cpu.as_secs_f64() / 1e9,
        );
    }
    let mut copy = vec![0u8; model.len()];
    copy.copy_from_slice(&model); // first touch of the destination, not timed
    let t = Instant::now();
    copy.copy_from_slice(&model);
    let memcpy = t.elapsed();
    drop(copy);
    println!(
        "host reference, same run: memcpy {:.2} GB/s",
        model.len() as f64 / memcpy.as_secs_f64() / 1e9,
    );
    for run in 0..3 {
        for digest in &digests {
            let before = e.stats();
            let t = Instant::now();
            let id = e
                .load_model_with_digest(model.clone(), ModelFormat::RAW, *digest)
                .unwrap();
            let elapsed = t.elapsed();
            let after = e.stats();
            e.unload(id).unwrap();
            let (mmio, doorbells) = exits(&before, &after);
            println!(
                "model transfer 256 MiB (run {run}, {:?} digest supplied): {:.1} ms, {:.2} GB/s incl. the guest's check; \
                 {} chunks, {} VMM exits, {} doorbells",
                digest.alg,
                elapsed.as_secs_f64() * 1e3,
                model.len() as f64 / elapsed.as_secs_f64() / 1e9,
                after.chunks_served - before.chunks_served,
                mmio,
                doorbells,
            );
        }
    }
    let t = Instant::now();
    let id = e.load_model(model.clone(), ModelFormat::RAW).unwrap();
    let elapsed = t.elapsed();
    e.unload(id).unwrap();
    println!(
        "model transfer 256 MiB (host computes the digest first): {:.1} ms, {:.2} GB/s",
        elapsed.as_secs_f64() * 1e3,
        model.len() as f64 / elapsed.as_secs_f64() / 1e9,
    );
    // Guest SHA-256 speed alone: checksum of 1000 KiB minus echo of 1000 KiB is about the hash.
    let payload = vec![3u8; 1000 << 10];
    let n = 50;
    let t = Instant::now();
    for _ in 0..n {
        e.checksum(payload.clone()).unwrap();
    }
    let checksum = t.elapsed() / n;
    let t = Instant::now();
    for _ in 0..n {
        e.echo(payload.clone()).unwrap();
    }
    let echo = t.elapsed() / n;
    if checksum > echo {
        println!(
            "guest SHA-256 (checksum minus echo of 1000 KiB): {:.2} GB/s",
            payload.len() as f64 / (checksum - echo).as_secs_f64() / 1e9
        );
    }
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}

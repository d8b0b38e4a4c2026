//! `cerebro-vmm boot`: boot the enclave, print its banner and how long it took.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use vmm::{Populate, VmBuilder, VmConfig, VmExit};

use crate::Failure;

/// Arguments of `boot`.
#[derive(Args, Debug)]
pub struct BootArgs {
    /// Guest memory in MiB (even, 32..=3072).
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    mem: u64,
    /// Stop the guest if it has not finished after this many seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    timeout: f64,
    /// Boot this kernel ELF instead of the embedded one.
    #[arg(long, value_name = "PATH")]
    kernel: Option<PathBuf>,
    /// Kernel command line (e.g. `cerebro.test=pf` selects a test entry point).
    #[arg(long, default_value = "")]
    cmdline: String,
    /// Pre-fault all guest memory before starting the vCPU (default: what the guest touches while
    /// booting before, the heap on a background thread while it boots).
    #[arg(long)]
    populate_all: bool,
    /// Boot this many VMs one after another in this process and print boot-time statistics.
    #[arg(long, value_name = "N")]
    bench_runs: Option<u32>,
    /// Also print when the guest became ready as `ready_unix_ns=N` (wall clock), so a benchmark
    /// that noted the time before spawning this process can measure spawn -> ready.
    #[arg(long, hide = true)]
    print_ready_unix_ns: bool,
}

/// One boot's measurements.
struct BootTimes {
    /// Guest console output.
    console: String,
    /// From `process_start` to the guest's ready report.
    to_ready: Duration,
    /// From VM set-up start (`VmBuilder::new`) to ready.
    setup_to_ready: Duration,
    /// VMM resident memory beyond guest RAM, in KiB, measured at ready.
    vmm_memory: Option<VmmMemory>,
    /// Wall-clock time of the ready report, in nanoseconds since the Unix epoch.
    ready_unix_ns: u128,
}

/// Runs `boot`.
pub fn run(args: &BootArgs, process_start: Instant, verbose: u8) -> Result<(), Failure> {
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 86_400.0) {
        return Err(Failure::new(
            Failure::USAGE,
            format!(
                "--timeout must be between 0 and 86400 seconds, not {}",
                args.timeout
            ),
        ));
    }
    let kernel_file;
    let kernel: &[u8] = match &args.kernel {
        Some(path) => {
            kernel_file = std::fs::read(path).map_err(|e| {
                Failure::new(
                    Failure::USAGE,
                    format!("cannot read kernel {}: {e}", path.display()),
                )
            })?;
            &kernel_file
        }
        None => cerebro_guest_image::KERNEL,
    };
    let config = VmConfig {
        mem_mib: args.mem,
        cmdline: args.cmdline.clone(),
        watchdog: Some(Duration::from_secs_f64(args.timeout)),
        populate: if args.populate_all {
            Populate::Full
        } else {
            VmConfig::default().populate
        },
    };

    let first = boot_once(&config, kernel, process_start, verbose)?;
    print!("{}", first.console);
    println!(
        "guest ready {:.2} ms after process start ({:.2} ms after VM set-up began)",
        ms(first.to_ready),
        ms(first.setup_to_ready)
    );
    if let Some(vmm) = first.vmm_memory {
        println!(
            "VMM resident memory beyond guest RAM: {:.1} MiB ({} KiB; anonymous {} KiB, the rest is the binary and libraries)",
            vmm.rss_kib as f64 / 1024.0,
            vmm.rss_kib,
            vmm.anonymous_kib
        );
    }
    if args.print_ready_unix_ns {
        println!("ready_unix_ns={}", first.ready_unix_ns);
    }

    if let Some(runs) = args.bench_runs {
        let mut setup_to_ready = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..runs {
            let times = boot_once(&config, kernel, Instant::now(), 0)?;
            setup_to_ready.push(ms(times.setup_to_ready));
            rss.extend(times.vmm_memory.map(|m| m.rss_kib));
        }
        setup_to_ready.sort_by(f64::total_cmp);
        rss.sort_unstable();
        println!(
            "bench: {runs} boots, VM set-up start -> guest ready: median {:.2} ms, p90 {:.2} ms, min {:.2} ms, max {:.2} ms",
            percentile(&setup_to_ready, 50.0),
            percentile(&setup_to_ready, 90.0),
            setup_to_ready.first().copied().unwrap_or(0.0),
            setup_to_ready.last().copied().unwrap_or(0.0),
        );
        if let (Some(min), Some(max)) = (rss.first(), rss.last()) {
            println!("bench: VMM resident memory beyond guest RAM: {min}..{max} KiB");
        }
    }
    Ok(())
}

fn boot_once(
    config: &VmConfig,
    kernel: &[u8],
    process_start: Instant,
    verbose: u8,
) -> Result<BootTimes, Failure> {
    let enclave_failure = |error: vmm::Error| {
        if verbose > 0 {
            if let vmm::Error::Guest(guest) = &error {
                if let Some(dump) = guest.register_dump() {
                    eprintln!("{dump}");
                }
            }
        }
        // A bad --mem or --cmdline is a usage error; everything else is the enclave failing.
        let code = if matches!(error, vmm::Error::Config(_)) {
            Failure::USAGE
        } else {
            Failure::ENCLAVE
        };
        Failure::new(code, error)
    };
    let builder = VmBuilder::new(config.clone()).map_err(enclave_failure)?;
    let created = builder.created_at();
    let mut vm = builder.start(kernel).map_err(enclave_failure)?;
    if std::ptr::eq(kernel, cerebro_guest_image::KERNEL) {
        // The guest has its copy: the VMM need not keep the embedded image resident.
        cerebro_guest_image::release_resident_pages();
    }
    let console_log = vm.console().clone();
    let ready_at = match vm.wait_ready() {
        Ok(at) => at,
        Err(error) => {
            eprint!("{}", console_log.text());
            return Err(enclave_failure(error));
        }
    };
    let ready_unix_ns = std::time::SystemTime::now()
        .checked_sub(ready_at.elapsed())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let vmm_memory = rss_beyond_guest(vm.memory());
    let exit = vm.wait();
    let console = console_log.text();
    match exit {
        Ok(VmExit::Exited { status: 0 }) | Ok(VmExit::Stopped) => {}
        Ok(VmExit::Exited { status }) => {
            eprint!("{console}");
            return Err(Failure::new(
                Failure::ENCLAVE,
                format!("guest exited with status {status}"),
            ));
        }
        Err(error) => {
            eprint!("{console}");
            return Err(enclave_failure(error));
        }
    }
    Ok(BootTimes {
        console,
        to_ready: ready_at.saturating_duration_since(process_start),
        setup_to_ready: ready_at.saturating_duration_since(created),
        vmm_memory,
        ready_unix_ns,
    })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// This process's memory outside guest RAM, from /proc/self/smaps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct VmmMemory {
    /// Resident KiB of every mapping but guest RAM (binary and libraries included).
    rss_kib: u64,
    /// Of that, anonymous KiB (heap, stacks, VMM data), i.e. not file-backed.
    anonymous_kib: u64,
}

fn rss_beyond_guest(memory: &vm_memory_alias::GuestMemoryMmap) -> Option<VmmMemory> {
    use vm_memory_alias::{GuestMemoryBackend, GuestMemoryRegion};
    let guest: Vec<(u64, u64)> = memory
        .iter()
        .map(|r| (r.as_ptr() as u64, r.as_ptr() as u64 + r.len()))
        .collect();
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let kib = |rest: &str| {
        rest.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
    };
    let mut total = VmmMemory::default();
    let mut in_guest = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ') {
            if let Some((start, end)) = range.split_once('-') {
                if let (Ok(start), Ok(end)) =
                    (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
                {
                    // One guest region may be split into several mappings (madvise ranges).
                    in_guest = guest.iter().any(|&(gs, ge)| start < ge && gs < end);
                    continue;
                }
            }
        }
        if in_guest {
            continue;
        }
        if let Some(rest) = line.strip_prefix("Rss:") {
            total.rss_kib += kib(rest)?;
        } else if let Some(rest) = line.strip_prefix("Anonymous:") {
            total.anonymous_kib += kib(rest)?;
        }
    }
    Some(total)
}

/// vm-memory, through the vmm crate's re-export.
mod vm_memory_alias {
    pub use vmm::vm_memory::{GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 10.0);
        assert_eq!(percentile(&values, 90.0), 18.0);
        assert_eq!(percentile(&[3.0], 90.0), 3.0);
    }
}

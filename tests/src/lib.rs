//! End-to-end tests: real enclaves booted under KVM.
//!
//! Helpers shared by the test files in `tests/tests/`: whether KVM is usable (and what to do
//! when it is not), and booting the embedded Cerebro kernel with a command line.

use std::time::{Duration, Instant};

pub use cerebro_guest_image::{KERNEL, KERNEL_PATH};
pub use vmm;

/// Whether `/dev/kvm` can be opened read-write.
pub fn kvm_available() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// Call at the top of a test that boots VMs: returns true if it can run. Without `/dev/kvm`
/// it panics when `CEREBRO_REQUIRE_KVM=1` (CI) and otherwise prints a notice and returns false,
/// so the test returns early.
pub fn require_kvm(test: &str) -> bool {
    if kvm_available() {
        return true;
    }
    if std::env::var("CEREBRO_REQUIRE_KVM").is_ok_and(|v| v == "1") {
        panic!("{test}: /dev/kvm is not available and CEREBRO_REQUIRE_KVM=1");
    }
    eprintln!("SKIPPED {test}: /dev/kvm is not available (set CEREBRO_REQUIRE_KVM=1 to make this a failure)");
    false
}

/// The outcome of one boot of a test VM.
pub struct Boot {
    /// When the guest reported ready (`None` if it ended first).
    pub ready_at: Option<Instant>,
    /// How the VM ended.
    pub result: Result<vmm::VmExit, vmm::Error>,
    /// The guest's console output.
    pub console: String,
    /// From VM set-up to the end of the VM.
    pub elapsed: Duration,
}

/// A VM configuration for tests: 64 MiB, the given command line and watchdog limit.
pub fn test_config(cmdline: &str, watchdog: Duration) -> vmm::VmConfig {
    vmm::VmConfig {
        mem_mib: 64,
        cmdline: cmdline.to_string(),
        watchdog: Some(watchdog),
        ..Default::default()
    }
}

/// Boots `kernel` with `config`, waits for it to end and collects what happened.
pub fn boot_with(config: vmm::VmConfig, kernel: &[u8]) -> Boot {
    boot_and_rearm(config, kernel, None)
}

/// Boots the embedded kernel with `cmdline` (allowing `boot_limit` to get ready), then re-arms the
/// watchdog to `after_ready`: whatever the guest does next (fault, hang) must end within that,
/// however long VM set-up took on a loaded machine.
pub fn boot_then_arm(cmdline: &str, boot_limit: Duration, after_ready: Duration) -> Boot {
    boot_and_rearm(test_config(cmdline, boot_limit), KERNEL, Some(after_ready))
}

/// Boots `kernel`, re-arms the watchdog to `after_ready` (if given) once the guest is ready, and
/// collects how the VM ended.
fn boot_and_rearm(config: vmm::VmConfig, kernel: &[u8], after_ready: Option<Duration>) -> Boot {
    let started = Instant::now();
    let ended_early = |result, console: String| Boot {
        ready_at: None,
        result: Err(result),
        console,
        elapsed: started.elapsed(),
    };
    let builder = match vmm::VmBuilder::new(config) {
        Ok(builder) => builder,
        Err(error) => return ended_early(error, String::new()),
    };
    let console = builder.console();
    let mut vm = match builder.start(kernel) {
        Ok(vm) => vm,
        Err(error) => return ended_early(error, console.text()),
    };
    let ready_at = vm.wait_ready().ok();
    if let (Some(_), Some(limit)) = (ready_at, after_ready) {
        vm.watchdog().arm(limit);
    }
    let result = vm.wait();
    Boot {
        ready_at,
        result,
        console: console.text(),
        elapsed: started.elapsed(),
    }
}

/// Boots the embedded kernel with `cmdline` and a watchdog of `watchdog`.
pub fn boot(cmdline: &str, watchdog: Duration) -> Boot {
    boot_with(test_config(cmdline, watchdog), KERNEL)
}

/// A loadable segment of an ELF image: file offset, address, file size, flags.
#[derive(Clone, Copy, Debug)]
pub struct ElfSegment {
    /// Offset in the file.
    pub offset: u64,
    /// Load address.
    pub addr: u64,
    /// Bytes in the file.
    pub file_size: u64,
    /// `p_flags` (1 = X, 2 = W, 4 = R).
    pub flags: u32,
}

/// The PT_LOAD segments of a (trusted, well-formed) ELF64 image.
pub fn elf_segments(image: &[u8]) -> Vec<ElfSegment> {
    let u16_at = |o: usize| u16::from_le_bytes(image[o..o + 2].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(image[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(image[o..o + 8].try_into().unwrap());
    let phoff = u64_at(32) as usize;
    let phnum = u16_at(56) as usize;
    (0..phnum)
        .map(|i| phoff + i * 56)
        .filter(|&p| u32_at(p) == 1)
        .map(|p| ElfSegment {
            offset: u64_at(p + 8),
            addr: u64_at(p + 24),
            file_size: u64_at(p + 32),
            flags: u32_at(p + 4),
        })
        .collect()
}

/// The bytes of `image` loaded at guest address `addr` (up to `len`), if a segment holds them.
pub fn bytes_at(image: &[u8], addr: u64, len: usize) -> Option<&[u8]> {
    let segment = elf_segments(image)
        .into_iter()
        .find(|s| s.addr <= addr && addr < s.addr + s.file_size)?;
    let start = (segment.offset + (addr - segment.addr)) as usize;
    image.get(start..start + len)
}

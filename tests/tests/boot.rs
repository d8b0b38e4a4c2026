//! Boot tests: real VMs under KVM running the embedded Cerebro kernel.
//!
//! Without `/dev/kvm` these tests print a notice and pass, unless `CEREBRO_REQUIRE_KVM=1` (CI),
//! where they fail. The PVH tests boot the kernel under QEMU (TCG) the way other VMMs do; without
//! QEMU they print a notice, unless `CEREBRO_REQUIRE_QEMU=1` (CI, which installs it).
//! Fault and hang tests re-arm the watchdog once the guest is ready: a fault not reported within
//! a second of that, or a hang, ends as a watchdog error.

use std::process::Command;
use std::time::Duration;

use cerebro_tests::vmm::{self, Error, FaultReport, GuestError, VmBuilder, VmExit};
use cerebro_tests::{
    boot, boot_then_arm, boot_with, bytes_at, elf_segments, require_kvm, test_config, KERNEL,
    KERNEL_PATH,
};

/// Guest-physical start of the kernel's ring-3 image (guest/kernel/linker.ld).
const RING3_IMAGE_START: u64 = 0xC0_0000;

fn ring3_text() -> (u64, u64) {
    let text = elf_segments(KERNEL)
        .into_iter()
        .find(|s| s.flags & 1 != 0 && s.addr >= RING3_IMAGE_START)
        .expect("the kernel has an executable ring-3 segment");
    (text.addr, text.addr + text.file_size)
}

/// Boots with `cerebro.test=<mode>` and returns the fault report; fails on anything else.
fn expect_fault(mode: &str) -> FaultReport {
    let outcome = boot_then_arm(
        &format!("cerebro.test={mode}"),
        Duration::from_secs(30),
        Duration::from_secs(1),
    );
    assert!(
        outcome.ready_at.is_some(),
        "{mode}: the guest must report ready before faulting; console:\n{}",
        outcome.console
    );
    match outcome.result {
        Err(Error::Guest(GuestError::Fault(report))) => {
            let message = GuestError::Fault(report.clone()).to_string();
            assert!(
                message.contains(&format!("RIP {:#x}", report.rip)),
                "{message}"
            );
            assert!(
                outcome.console.contains("test entry point"),
                "{}",
                outcome.console
            );
            *report
        }
        other => panic!(
            "{mode}: expected a guest fault, got {other:?}; console:\n{}",
            outcome.console
        ),
    }
}

#[test]
fn boots_prints_banner_and_reports_ready() {
    if !require_kvm("boots_prints_banner_and_reports_ready") {
        return;
    }
    let outcome = boot("", Duration::from_secs(30));
    assert!(
        outcome.ready_at.is_some(),
        "no ready report; console:\n{}",
        outcome.console
    );
    assert!(
        matches!(outcome.result, Ok(VmExit::Exited { status: 0 })),
        "{:?}",
        outcome.result
    );
    let banner = outcome.console.lines().next().unwrap_or_default();
    assert!(banner.starts_with("Cerebro kernel "), "banner: {banner:?}");
    assert!(
        banner.contains("ring 3") && banner.contains("64 MiB RAM"),
        "banner: {banner:?}"
    );
    assert!(
        outcome.console.contains("simd self-test passed"),
        "{}",
        outcome.console
    );
}

#[test]
fn ring3_page_fault_names_vector_rip_and_address() {
    if !require_kvm("ring3_page_fault_names_vector_rip_and_address") {
        return;
    }
    let report = expect_fault("pf");
    let (text_start, text_end) = ring3_text();
    assert_eq!(report.vector, 14, "{report}");
    assert_eq!(report.ring(), 3, "{report}");
    assert_eq!(report.cr2, 0x7_0000_0000, "{report}");
    // User-mode read of a not-present page: error code U=1, W=0, P=0.
    assert_eq!(report.error_code & 0b111, 0b100, "{report}");
    assert!(
        (text_start..text_end).contains(&report.rip),
        "RIP {:#x} outside ring-3 text {text_start:#x}..{text_end:#x}",
        report.rip
    );
    assert!(
        report
            .to_string()
            .starts_with("#PF (page fault, vector 14) in ring 3"),
        "{report}"
    );
}

#[test]
fn ring3_invalid_opcode_points_at_the_ud2() {
    if !require_kvm("ring3_invalid_opcode_points_at_the_ud2") {
        return;
    }
    let report = expect_fault("ud");
    assert_eq!(report.vector, 6, "{report}");
    assert_eq!(report.ring(), 3, "{report}");
    assert_eq!(
        bytes_at(KERNEL, report.rip, 2),
        Some(&[0x0F, 0x0B][..]),
        "RIP {:#x} is not a ud2",
        report.rip
    );
    assert!(
        report
            .to_string()
            .starts_with("#UD (invalid opcode, vector 6)"),
        "{report}"
    );
}

#[test]
fn ring3_general_protection_fault_is_reported() {
    if !require_kvm("ring3_general_protection_fault_is_reported") {
        return;
    }
    let report = expect_fault("gp");
    let (text_start, text_end) = ring3_text();
    assert_eq!(report.vector, 13, "{report}");
    assert_eq!(report.ring(), 3, "{report}");
    assert!((text_start..text_end).contains(&report.rip), "{report}");
    assert!(
        report
            .to_string()
            .contains("#GP (general protection, vector 13)"),
        "{report}"
    );
}

#[test]
fn ring3_breakpoint_reaches_its_dpl3_gate() {
    if !require_kvm("ring3_breakpoint_reaches_its_dpl3_gate") {
        return;
    }
    let report = expect_fault("bp");
    assert_eq!(report.vector, 3, "{report}");
    // #BP is a trap: RIP is after the one-byte int3.
    assert_eq!(
        bytes_at(KERNEL, report.rip - 1, 1),
        Some(&[0xCC][..]),
        "{report}"
    );
}

#[test]
fn ring3_stack_overflow_hits_the_guard() {
    if !require_kvm("ring3_stack_overflow_hits_the_guard") {
        return;
    }
    let report = expect_fault("stack");
    assert_eq!(report.vector, 14, "{report}");
    assert!(
        (0x20_0000..0x40_0000).contains(&report.cr2),
        "CR2 {:#x} is not in the stack guard",
        report.cr2
    );
}

#[test]
fn hanging_guest_is_stopped_by_the_watchdog() {
    if !require_kvm("hanging_guest_is_stopped_by_the_watchdog") {
        return;
    }
    let outcome = boot_then_arm(
        "cerebro.test=hang",
        Duration::from_secs(30),
        Duration::from_millis(300),
    );
    assert!(outcome.ready_at.is_some(), "{}", outcome.console);
    match &outcome.result {
        Err(Error::Guest(error @ GuestError::Watchdog { limit, dump })) => {
            assert_eq!(*limit, Duration::from_millis(300));
            let dump = dump.as_ref().expect("registers of the stopped guest");
            let (text_start, text_end) = ring3_text();
            assert!(
                (text_start..text_end).contains(&dump.regs.rip),
                "stopped outside the ring-3 spin loop: {error}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with("watchdog: guest still running after 300ms, stopped at RIP"),
                "{error}"
            );
        }
        other => panic!("expected the watchdog to stop the guest, got {other:?}"),
    }
}

#[test]
fn watchdog_can_be_disarmed_and_rearmed_while_the_guest_runs() {
    if !require_kvm("watchdog_can_be_disarmed_and_rearmed_while_the_guest_runs") {
        return;
    }
    let mut config = test_config("cerebro.test=hang", Duration::from_secs(1));
    config.watchdog = None;
    let builder = VmBuilder::new(config).unwrap();
    let mut vm = builder.start(KERNEL).unwrap();
    vm.wait_ready().unwrap();
    // Armed then disarmed: it must not fire.
    vm.watchdog().arm(Duration::from_millis(50));
    vm.watchdog().disarm();
    assert!(
        !vm.stop_token().wait_timeout(Duration::from_millis(250)),
        "a disarmed watchdog stopped the guest"
    );
    // Re-armed: it fires.
    vm.watchdog().arm(Duration::from_millis(100));
    match vm.wait() {
        Err(Error::Guest(GuestError::Watchdog { limit, .. })) => {
            assert_eq!(limit, Duration::from_millis(100))
        }
        other => panic!("expected a watchdog stop, got {other:?}"),
    }
}

#[test]
fn host_stop_ends_a_running_guest() {
    if !require_kvm("host_stop_ends_a_running_guest") {
        return;
    }
    let builder =
        VmBuilder::new(test_config("cerebro.test=hang", Duration::from_secs(30))).unwrap();
    let mut vm = builder.start(KERNEL).unwrap();
    vm.wait_ready().unwrap();
    vm.wait_memory_populated();
    vm.stop();
    assert_eq!(vm.wait().unwrap(), VmExit::Stopped);
}

#[test]
fn guest_panic_ends_with_its_status_and_message() {
    if !require_kvm("guest_panic_ends_with_its_status_and_message") {
        return;
    }
    let outcome = boot("cerebro.test=panic", Duration::from_secs(30));
    assert!(
        matches!(outcome.result, Ok(VmExit::Exited { status: 101 })),
        "{:?}",
        outcome.result
    );
    assert!(
        outcome
            .console
            .contains("cerebro: panic at src/selftest.rs")
            && outcome
                .console
                .contains(": test entry point: deliberate panic"),
        "{}",
        outcome.console
    );
}

#[test]
fn unknown_test_entry_point_is_refused_by_the_guest() {
    if !require_kvm("unknown_test_entry_point_is_refused_by_the_guest") {
        return;
    }
    let outcome = boot("cerebro.test=nonsense", Duration::from_secs(30));
    assert!(
        outcome.ready_at.is_none(),
        "the guest reported ready with a bad command line"
    );
    assert!(
        matches!(outcome.result, Ok(VmExit::Exited { status: 102 })),
        "{:?}",
        outcome.result
    );
    assert!(
        outcome.console.contains("unknown cerebro.test="),
        "{}",
        outcome.console
    );
}

/// Starts a VM with `image` and returns the error; a kernel must be refused before it runs.
fn refused(image: &[u8]) -> String {
    let outcome = boot_with(test_config("", Duration::from_secs(30)), image);
    match outcome.result {
        Err(Error::Kernel(error)) => error.to_string(),
        other => panic!(
            "expected the image ({} bytes, starting {:02x?}) to be refused, got {other:?}",
            image.len(),
            &image[..image.len().min(16)]
        ),
    }
}

#[test]
fn corrupt_and_foreign_kernel_images_are_refused() {
    if !require_kvm("corrupt_and_foreign_kernel_images_are_refused") {
        return;
    }
    assert_eq!(refused(b""), "kernel image is empty");
    assert!(refused(b"MZ\x90\x00 this is not an ELF file")
        .starts_with("kernel image is not an ELF file"));
    assert!(refused(&KERNEL[..40]).starts_with("kernel image is truncated or corrupt: ELF header"));
    assert!(refused(&KERNEL[..200]).contains("program header table"));

    // A truncated real image: cut inside its last loadable segment.
    let last = elf_segments(KERNEL)
        .into_iter()
        .max_by_key(|s| s.offset + s.file_size)
        .unwrap();
    let truncated = refused(&KERNEL[..(last.offset + last.file_size / 2) as usize]);
    assert!(truncated.contains("past the end of the"), "{truncated}");

    // Program header table pointing far outside the file.
    let mut bad_phoff = KERNEL.to_vec();
    bad_phoff[32..40].copy_from_slice(&0xFFFF_FFFF_FFFF_0000u64.to_le_bytes());
    assert!(refused(&bad_phoff).contains("program header table"));

    // A real ELF that is not a Cerebro kernel (this test binary: PIE or not, it has no note).
    let this_binary = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let foreign = refused(&this_binary);
    assert!(
        foreign.contains("not an executable")
            || foreign.contains("no Cerebro boot note")
            || foreign.contains("segment"),
        "{foreign}"
    );

    // The Cerebro note renamed: the image is no longer accepted as a Cerebro kernel.
    let mut no_note = KERNEL.to_vec();
    let at = no_note
        .windows(8)
        .position(|w| w == b"Cerebro\0")
        .expect("the kernel carries the Cerebro note");
    no_note[at] = b'X';
    assert_eq!(
        refused(&no_note),
        "kernel image has no Cerebro boot note: not a Cerebro kernel"
    );

    // A segment moved into the system area.
    let mut low_segment = KERNEL.to_vec();
    let phoff = u64::from_le_bytes(low_segment[32..40].try_into().unwrap()) as usize;
    let first_load = (0..8)
        .map(|i| phoff + i * 56)
        .find(|&p| low_segment[p] == 1)
        .unwrap();
    low_segment[first_load + 24..first_load + 32].copy_from_slice(&0x1000u64.to_le_bytes());
    assert!(refused(&low_segment).contains("below 1 MiB"));

    // Random bytes after a valid ELF magic: refused, never a panic.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..50 {
        let mut junk: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        junk[..4].copy_from_slice(b"\x7fELF");
        refused(&junk);
    }
}

#[test]
fn invalid_memory_sizes_are_refused() {
    for mib in [0, 16, 33, 4096, u64::MAX] {
        let config = vmm::VmConfig {
            mem_mib: mib,
            ..Default::default()
        };
        assert!(
            matches!(config.ram_size(), Err(Error::Config(_))),
            "{mib} MiB accepted"
        );
    }
}

/// Disassembles one section of the kernel with objdump.
fn disassemble(section: &str) -> String {
    let output = Command::new("objdump")
        .args(["-d", "--no-show-raw-insn", "-j", section, KERNEL_PATH])
        .output()
        .expect("objdump (binutils) must be installed to check the kernel's code");
    assert!(
        output.status.success(),
        "objdump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("objdump prints text")
}

#[test]
fn ring3_code_has_real_simd_and_ring0_code_has_none() {
    let ring0 = disassemble(".ring0");
    let ring0_instructions = ring0.lines().filter(|l| l.contains(":\t")).count();
    assert!(
        ring0_instructions > 50,
        "the .ring0 section was not disassembled:\n{ring0}"
    );
    for line in ring0.lines() {
        let lower = line.to_ascii_lowercase();
        for forbidden in [
            "%xmm", "%ymm", "%zmm", "%mm", "mxcsr", "fxsave", "fxrstor", "xsave", "xrstor",
        ] {
            assert!(!lower.contains(forbidden), "SIMD in ring-0 code: {line}");
        }
    }
    assert!(
        ring0.contains("iretq") && ring0.contains("out "),
        "ring-0 code lacks its entry/fault path"
    );

    let ring3 = disassemble(".text");
    let count = |needle: &str| ring3.lines().filter(|l| l.contains(needle)).count();
    assert!(
        count("vfmadd") >= 1
            && ring3
                .lines()
                .any(|l| l.contains("vfmadd") && l.contains("%ymm")),
        "no AVX2/FMA in ring 3"
    );
    assert!(count("%ymm") >= 8, "too few AVX instructions in ring 3");
    assert!(count("%xmm") >= 8, "too few SSE instructions in ring 3");
    // Hard-float code, not soft-float library calls.
    assert!(
        !ring3.contains("__mulsf3") && !ring3.contains("__addsf3"),
        "soft-float calls in ring 3"
    );
}

/// Boots the kernel under QEMU (TCG, no KVM needed) through its PVH entry and returns QEMU's exit
/// code and console output; `None` (with a notice) when QEMU is not installed.
fn qemu_pvh(test: &str, cmdline: &str) -> Option<(i32, String)> {
    let spawned = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-m",
            "128",
            "-nographic",
            "-no-reboot",
            "-nodefaults",
            "-serial",
            "stdio",
        ])
        .args([
            "-device",
            "isa-debug-exit,iobase=0xe4,iosize=0x04",
            "-kernel",
            KERNEL_PATH,
            "-append",
            cmdline,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var("CEREBRO_REQUIRE_QEMU").is_ok_and(|v| v == "1") {
                panic!("{test}: qemu-system-x86_64 is not installed and CEREBRO_REQUIRE_QEMU=1");
            }
            eprintln!("SKIPPED {test}: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
            return None;
        }
        Err(error) => panic!("{test}: cannot start QEMU: {error}"),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("waiting for QEMU") {
            let output = child.wait_with_output().expect("QEMU output");
            let console = String::from_utf8_lossy(&output.stdout).into_owned();
            return Some((status.code().unwrap_or(-1), console));
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("QEMU output");
            panic!(
                "{test}: QEMU still running after 60 s; console:\n{}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pvh_entry_boots_under_qemu() {
    let Some((code, console)) = qemu_pvh("pvh_entry_boots_under_qemu", "hello cerebro") else {
        return;
    };
    assert!(
        console.contains("Cerebro kernel ") && console.contains("(pvh boot): ring 3"),
        "{console}"
    );
    assert!(console.contains("command line: hello cerebro"), "{console}");
    assert!(console.contains("simd self-test passed"), "{console}");
    // isa-debug-exit: status 0 -> exit code 1.
    assert_eq!(code, 1, "{console}");
}

#[test]
fn pvh_fault_under_qemu_is_reported_on_the_console() {
    let Some((code, console)) = qemu_pvh(
        "pvh_fault_under_qemu_is_reported_on_the_console",
        "cerebro.test=ud",
    ) else {
        return;
    };
    let line = console
        .lines()
        .find(|l| l.contains("CPU exception"))
        .unwrap_or_else(|| panic!("no fault report:\n{console}"));
    assert!(
        line.starts_with("cerebro: CPU exception, vector 0x06, error code 0x00000000, RIP 0x"),
        "{line}"
    );
    let rip = u64::from_str_radix(
        line.split("RIP 0x")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap(),
        16,
    )
    .unwrap();
    assert_eq!(
        bytes_at(KERNEL, rip, 2),
        Some(&[0x0F, 0x0B][..]),
        "RIP {rip:#x} is not a ud2"
    );
    // Status 0x80 | 6 -> exit code 2 * 0x86 + 1, truncated to a byte.
    assert_eq!(code, (2 * 0x86 + 1) & 0xFF, "{console}");
}

/// Records MMIO accesses; reads return zeros (not a virtio device), or block until the VM stops.
struct RecordingDevice {
    accesses: std::sync::Mutex<Vec<(u64, usize)>>,
    block_reads_until: Option<cerebro_tests::vmm::StopToken>,
}

impl cerebro_tests::vmm::MmioDevice for RecordingDevice {
    fn read(&self, offset: u64, data: &mut [u8]) {
        self.accesses.lock().unwrap().push((offset, data.len()));
        if let Some(stop) = &self.block_reads_until {
            // A "wait for work" register: blocks, but gives up when the VM is stopped.
            while !stop.wait_timeout(Duration::from_secs(1)) {}
        }
        data.fill(0);
    }

    fn write(&self, offset: u64, data: &[u8]) {
        self.accesses.lock().unwrap().push((offset, data.len()));
    }
}

#[test]
fn ring3_mmio_reaches_a_registered_device() {
    if !require_kvm("ring3_mmio_reaches_a_registered_device") {
        return;
    }
    let mut builder = VmBuilder::new(test_config("", Duration::from_secs(30))).unwrap();
    let (base, size) = builder.device_window();
    let device = std::sync::Arc::new(RecordingDevice {
        accesses: Default::default(),
        block_reads_until: None,
    });
    builder
        .register_mmio_device(base, size, device.clone())
        .unwrap();
    let mut vm = builder.start(KERNEL).unwrap();
    vm.wait_ready().unwrap();
    let console = vm.console().clone();
    assert_eq!(
        vm.wait().unwrap(),
        VmExit::Exited { status: 0 },
        "{}",
        console.text()
    );
    // The guest's driver probes the virtio-mmio magic register (offset 0, 32 bits) from ring 3.
    let accesses = device.accesses.lock().unwrap();
    assert_eq!(accesses.first(), Some(&(0, 4)), "{accesses:?}");
}

#[test]
fn a_device_read_blocked_waiting_for_work_is_interrupted_by_the_watchdog() {
    if !require_kvm("a_device_read_blocked_waiting_for_work_is_interrupted_by_the_watchdog") {
        return;
    }
    let mut builder = VmBuilder::new(test_config("", Duration::from_secs(30))).unwrap();
    let (base, size) = builder.device_window();
    let device = std::sync::Arc::new(RecordingDevice {
        accesses: Default::default(),
        block_reads_until: Some(builder.stop_token()),
    });
    builder
        .register_mmio_device(base, size, device.clone())
        .unwrap();
    let mut vm = builder.start(KERNEL).unwrap();
    vm.wait_ready().unwrap();
    vm.watchdog().arm(Duration::from_millis(300));
    match vm.wait() {
        Err(Error::Guest(GuestError::Watchdog { limit, .. })) => {
            assert_eq!(limit, Duration::from_millis(300))
        }
        other => panic!("expected the watchdog to end the blocked guest, got {other:?}"),
    }
    assert_eq!(
        device.accesses.lock().unwrap().len(),
        1,
        "the guest must not run past the blocked read"
    );
}

#[test]
fn fully_populated_memory_boots_too() {
    if !require_kvm("fully_populated_memory_boots_too") {
        return;
    }
    let mut config = test_config("", Duration::from_secs(30));
    config.populate = vmm::Populate::Full;
    let outcome = boot_with(config, KERNEL);
    assert!(outcome.ready_at.is_some(), "{}", outcome.console);
    assert!(
        matches!(outcome.result, Ok(VmExit::Exited { status: 0 })),
        "{:?}",
        outcome.result
    );
}

/// Boots a copy of the kernel whose 64-bit entry (ELF `e_entry`, ring 0) starts with `code`;
/// returns the entry address and the outcome.
fn boot_with_entry_patched(code: &[u8]) -> (u64, cerebro_tests::Boot) {
    let mut image = KERNEL.to_vec();
    let entry = u64::from_le_bytes(image[24..32].try_into().unwrap());
    let segment = elf_segments(KERNEL)
        .into_iter()
        .find(|s| s.addr <= entry && entry < s.addr + s.file_size)
        .expect("a segment holds the entry");
    let at = (segment.offset + (entry - segment.addr)) as usize;
    image[at..at + code.len()].copy_from_slice(code);
    (
        entry,
        boot_with(test_config("", Duration::from_secs(30)), &image),
    )
}

#[test]
fn ring0_fault_in_the_entry_is_reported_too() {
    if !require_kvm("ring0_fault_in_the_entry_is_reported_too") {
        return;
    }
    // A ud2 over the first instruction of the 64-bit entry (ring 0).
    let (entry, outcome) = boot_with_entry_patched(&[0x0F, 0x0B]);
    assert!(outcome.ready_at.is_none());
    match outcome.result {
        Err(Error::Guest(GuestError::Fault(report))) => {
            assert_eq!(
                (report.vector, report.ring(), report.rip),
                (6, 0, entry),
                "{report}"
            );
            assert!(report.to_string().contains("in ring 0"), "{report}");
        }
        other => panic!("expected a ring-0 #UD, got {other:?}"),
    }
}

/// Counts events on an eventfd (drains it each time).
struct EventCounter {
    event: cerebro_tests::vmm::EventFd,
    seen: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl cerebro_tests::vmm::event_manager::MutEventSubscriber for EventCounter {
    fn process(
        &mut self,
        _events: cerebro_tests::vmm::event_manager::Events,
        _ops: &mut cerebro_tests::vmm::event_manager::EventOps,
    ) {
        if let Ok(count) = self.event.read() {
            self.seen
                .fetch_add(count, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn init(&mut self, ops: &mut cerebro_tests::vmm::event_manager::EventOps) {
        use std::os::fd::AsRawFd;
        ops.add(cerebro_tests::vmm::event_manager::Events::new_raw(
            self.event.as_raw_fd(),
            cerebro_tests::vmm::event_manager::EventSet::IN,
        ))
        .expect("watching the test eventfd");
    }
}

#[test]
fn event_manager_thread_serves_subscribers_and_ends_with_the_vm() {
    if !require_kvm("event_manager_thread_serves_subscribers_and_ends_with_the_vm") {
        return;
    }
    let mut builder =
        VmBuilder::new(test_config("cerebro.test=hang", Duration::from_secs(30))).unwrap();
    let event = cerebro_tests::vmm::EventFd::new(0).unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = EventCounter {
        event: event.try_clone().unwrap(),
        seen: seen.clone(),
    };
    builder.add_event_subscriber(std::sync::Arc::new(std::sync::Mutex::new(counter)));
    let mut vm = builder.start(KERNEL).unwrap();
    vm.wait_ready().unwrap();
    event.write(3).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.load(std::sync::atomic::Ordering::SeqCst) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the event-manager thread did not process the event"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    vm.stop();
    // Dropping joins the event thread: this returns only if it ended with the VM.
    drop(vm);
}

#[test]
fn triple_fault_ends_with_shutdown_and_registers() {
    if !require_kvm("triple_fault_ends_with_shutdown_and_registers") {
        return;
    }
    // Patch `xor %rsp, %rsp; ud2` over the 64-bit entry: the #UD cannot push its frame (#PF),
    // neither can the #PF (#DF), nor the #DF: a triple fault, KVM_EXIT_SHUTDOWN.
    let (_, outcome) = boot_with_entry_patched(&[0x48, 0x31, 0xE4, 0x0F, 0x0B]);
    match outcome.result {
        Err(Error::Guest(error @ GuestError::Shutdown(_))) => {
            let dump = error
                .register_dump()
                .expect("registers of the shut-down vCPU");
            assert!(
                error
                    .to_string()
                    .starts_with("KVM_EXIT_SHUTDOWN (triple fault)"),
                "{error}"
            );
            assert_eq!(dump.sregs.cs.selector & 3, 0, "{dump}");
        }
        other => panic!("expected KVM_EXIT_SHUTDOWN, got {other:?}"),
    }
}

#[test]
fn sse_in_ring0_is_reported_as_the_platform_handles_it() {
    if !require_kvm("sse_in_ring0_is_reported_as_the_platform_handles_it") {
        return;
    }
    // Patch `xorps %xmm0, %xmm0; ud2` over the 64-bit entry. kvm-pvm emulates ring 0 and cannot
    // emulate SSE: KVM_EXIT_INTERNAL_ERROR. Hardware KVM runs the xorps and reports the ud2.
    let (entry, outcome) = boot_with_entry_patched(&[0x0F, 0x57, 0xC0, 0x0F, 0x0B]);
    match outcome.result {
        Err(Error::Guest(error @ GuestError::InternalError { .. })) => {
            assert!(
                error
                    .to_string()
                    .starts_with("KVM_EXIT_INTERNAL_ERROR (suberror "),
                "{error}"
            );
            assert_eq!(
                error.register_dump().expect("registers").regs.rip,
                entry,
                "{error}"
            );
        }
        Err(Error::Guest(GuestError::Fault(report))) => {
            assert_eq!((report.vector, report.rip), (6, entry + 3), "{report}")
        }
        other => panic!("expected KVM_EXIT_INTERNAL_ERROR or a #UD after the xorps, got {other:?}"),
    }
}

#[test]
fn boots_with_ram_beyond_the_first_gib() {
    if !require_kvm("boots_with_ram_beyond_the_first_gib") {
        return;
    }
    // 1.5 GiB: the heap's top lies in the second page directory, which the guest touches at boot.
    let mut config = test_config("", Duration::from_secs(30));
    config.mem_mib = 1536;
    let outcome = boot_with(config, KERNEL);
    assert!(outcome.ready_at.is_some(), "{}", outcome.console);
    assert!(
        matches!(outcome.result, Ok(VmExit::Exited { status: 0 })),
        "{:?}",
        outcome.result
    );
    assert!(
        outcome.console.contains("1536 MiB RAM"),
        "{}",
        outcome.console
    );
}

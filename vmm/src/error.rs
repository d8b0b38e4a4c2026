//! Errors: setting a VM up ([`Error`]) and what ends a running guest ([`GuestError`]).

use std::fmt;
use std::time::Duration;

use kvm_bindings::{kvm_regs, kvm_sregs};

use crate::arch::x86_64::regs::RegsError;
use crate::devices::bus::BusError;
use crate::loader::KernelError;

/// Everything that can go wrong with a VM.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `/dev/kvm` could not be opened.
    #[error("cannot open /dev/kvm: {0}")]
    KvmUnavailable(#[source] kvm_ioctls::Error),
    /// A KVM ioctl failed while setting the VM up.
    #[error("{op}: {source}")]
    Kvm {
        /// The ioctl.
        op: &'static str,
        /// Its error.
        #[source]
        source: kvm_ioctls::Error,
    },
    /// The configuration is invalid.
    #[error("invalid VM configuration: {0}")]
    Config(String),
    /// Guest memory could not be allocated or written.
    #[error("guest memory: {0}")]
    Memory(String),
    /// The kernel image was refused.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The vCPU registers could not be set.
    #[error("vCPU set-up: {0}")]
    Regs(#[from] RegsError),
    /// A device could not be registered.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A host thread could not be started.
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        /// Which thread.
        name: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The guest ended abnormally.
    #[error(transparent)]
    Guest(#[from] GuestError),
}

/// Why a running guest was ended. `Display` is one line; [`GuestError::register_dump`] has the
/// full register state where there is one.
#[derive(Clone, Debug, thiserror::Error)]
pub enum GuestError {
    /// The guest took a CPU exception and its fault stub reported it.
    #[error("guest fault: {0}")]
    Fault(Box<FaultReport>),
    /// The watchdog stopped a guest that ran past its deadline.
    #[error("watchdog: guest still running after {limit:?}, stopped{}", at_rip(.dump))]
    Watchdog {
        /// The deadline that passed.
        limit: Duration,
        /// Registers when it was stopped.
        dump: Option<Box<RegisterDump>>,
    },
    /// Triple fault.
    #[error("KVM_EXIT_SHUTDOWN (triple fault){}", at_rip(.0))]
    Shutdown(Option<Box<RegisterDump>>),
    /// KVM could not emulate something (on kvm-pvm: e.g. SSE/AVX in ring 0).
    #[error("KVM_EXIT_INTERNAL_ERROR (suberror {suberror}){}", at_rip(.dump))]
    InternalError {
        /// `kvm_run.internal.suberror`.
        suberror: u32,
        /// Registers.
        dump: Option<Box<RegisterDump>>,
    },
    /// VM entry failed.
    #[error("KVM_EXIT_FAIL_ENTRY (hardware reason {reason:#x}){}", at_rip(.dump))]
    FailEntry {
        /// Hardware entry failure reason.
        reason: u64,
        /// Registers.
        dump: Option<Box<RegisterDump>>,
    },
    /// The guest halted (ring 3 cannot; ring 0 halts only after reporting a fault).
    #[error("KVM_EXIT_HLT: the guest halted{}", at_rip(.0))]
    Halted(Option<Box<RegisterDump>>),
    /// An exit this VMM does not handle.
    #[error("unexpected VM exit {name}{}", at_rip(.dump))]
    UnexpectedExit {
        /// The exit.
        name: String,
        /// Registers.
        dump: Option<Box<RegisterDump>>,
    },
    /// The fault port was written but the report could not be read.
    #[error("bad fault report: {reason}{}", at_rip(.dump))]
    BadFaultReport {
        /// What was wrong.
        reason: String,
        /// Registers.
        dump: Option<Box<RegisterDump>>,
    },
    /// `KVM_RUN` failed.
    #[error("KVM_RUN: {0}")]
    Run(#[source] kvm_ioctls::Error),
    /// The guest ended (with this exit status) before reporting ready.
    #[error("guest exited with status {0} before it was ready")]
    ExitedBeforeReady(u32),
    /// The host stopped the VM before it was ready.
    #[error("VM stopped by the host before the guest was ready")]
    StoppedBeforeReady,
    /// The vCPU thread panicked (a VMM bug).
    #[error("the vCPU thread panicked")]
    VcpuPanicked,
}

fn at_rip(dump: &Option<Box<RegisterDump>>) -> String {
    match dump {
        Some(dump) => format!(" at RIP {:#x} (RSP {:#x})", dump.regs.rip, dump.regs.rsp),
        None => String::new(),
    }
}

impl GuestError {
    /// The full register state captured when the guest was ended, if any.
    pub fn register_dump(&self) -> Option<&RegisterDump> {
        match self {
            GuestError::Fault(report) => Some(&report.dump),
            GuestError::Watchdog { dump, .. }
            | GuestError::InternalError { dump, .. }
            | GuestError::FailEntry { dump, .. }
            | GuestError::UnexpectedExit { dump, .. }
            | GuestError::BadFaultReport { dump, .. }
            | GuestError::Shutdown(dump)
            | GuestError::Halted(dump) => dump.as_deref(),
            _ => None,
        }
    }
}

/// The vCPU's registers at the moment a guest was ended.
#[derive(Clone, Debug)]
pub struct RegisterDump {
    /// General-purpose registers.
    pub regs: kvm_regs,
    /// Segment and control registers.
    pub sregs: kvm_sregs,
}

impl fmt::Display for RegisterDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.regs;
        let s = &self.sregs;
        writeln!(
            f,
            "RIP {:#018x} RSP {:#018x} RFLAGS {:#010x} CPL {}",
            r.rip,
            r.rsp,
            r.rflags,
            s.cs.selector & 3
        )?;
        writeln!(
            f,
            "RAX {:#018x} RBX {:#018x} RCX {:#018x} RDX {:#018x}",
            r.rax, r.rbx, r.rcx, r.rdx
        )?;
        writeln!(
            f,
            "RSI {:#018x} RDI {:#018x} RBP {:#018x} R8  {:#018x}",
            r.rsi, r.rdi, r.rbp, r.r8
        )?;
        writeln!(
            f,
            "R9  {:#018x} R10 {:#018x} R11 {:#018x} R12 {:#018x}",
            r.r9, r.r10, r.r11, r.r12
        )?;
        writeln!(
            f,
            "R13 {:#018x} R14 {:#018x} R15 {:#018x}",
            r.r13, r.r14, r.r15
        )?;
        writeln!(
            f,
            "CS {:#06x} SS {:#06x} DS {:#06x} TR {:#06x}",
            s.cs.selector, s.ss.selector, s.ds.selector, s.tr.selector
        )?;
        write!(
            f,
            "CR0 {:#x} CR2 {:#x} CR3 {:#x} CR4 {:#x} EFER {:#x}",
            s.cr0, s.cr2, s.cr3, s.cr4, s.efer
        )
    }
}

/// A CPU exception reported by the kernel's fault stub.
#[derive(Clone, Debug)]
pub struct FaultReport {
    /// Exception vector.
    pub vector: u64,
    /// Error code (0 for vectors without one).
    pub error_code: u64,
    /// Faulting instruction.
    pub rip: u64,
    /// Code segment at the fault (its low two bits are the ring).
    pub cs: u64,
    /// RFLAGS at the fault.
    pub rflags: u64,
    /// Stack pointer at the fault.
    pub rsp: u64,
    /// CR2 (the faulting address for #PF).
    pub cr2: u64,
    /// Registers when the stub reported (general-purpose registers are the faulting context's).
    pub dump: RegisterDump,
}

impl FaultReport {
    /// Mnemonic and name of the vector, e.g. `("#PF", "page fault")`.
    pub fn vector_name(&self) -> (&'static str, &'static str) {
        vector_name(self.vector)
    }

    /// The privilege level the fault happened at.
    pub fn ring(&self) -> u64 {
        self.cs & 3
    }
}

impl fmt::Display for FaultReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mnemonic, name) = self.vector_name();
        write!(
            f,
            "{mnemonic} ({name}, vector {}) in ring {} at RIP {:#x}, error code {:#x}, RSP {:#x}, CR2 {:#x}",
            self.vector,
            self.ring(),
            self.rip,
            self.error_code,
            self.rsp,
            self.cr2
        )
    }
}

/// Mnemonic and name of an x86 exception vector.
pub fn vector_name(vector: u64) -> (&'static str, &'static str) {
    match vector {
        0 => ("#DE", "divide error"),
        1 => ("#DB", "debug"),
        2 => ("NMI", "non-maskable interrupt"),
        3 => ("#BP", "breakpoint"),
        4 => ("#OF", "overflow"),
        5 => ("#BR", "bound range exceeded"),
        6 => ("#UD", "invalid opcode"),
        7 => ("#NM", "device not available"),
        8 => ("#DF", "double fault"),
        10 => ("#TS", "invalid TSS"),
        11 => ("#NP", "segment not present"),
        12 => ("#SS", "stack-segment fault"),
        13 => ("#GP", "general protection"),
        14 => ("#PF", "page fault"),
        16 => ("#MF", "x87 floating-point error"),
        17 => ("#AC", "alignment check"),
        18 => ("#MC", "machine check"),
        19 => ("#XM", "SIMD floating-point exception"),
        20 => ("#VE", "virtualization exception"),
        21 => ("#CP", "control protection"),
        9 | 15 | 22..=31 => ("#??", "reserved exception"),
        _ => ("INT", "unexpected interrupt"),
    }
}

//! The vCPU and its exit loop, run on a thread of its own.
//!
//! Port I/O goes to the serial console and Cerebro's ports, MMIO in the device window to the
//! [`MmioBus`]. The loop ends when the guest writes the exit port (`Ok`), when a fault is reported,
//! the guest halts, KVM reports SHUTDOWN / INTERNAL_ERROR / FAIL_ENTRY or an exit this VMM does
//! not handle (`Err`, naming the exit, with the registers), or when the VM is stopped (by the
//! watchdog: `Err(Watchdog)`; by the host: `Ok(Stopped)`).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use kvm_ioctls::{VcpuExit, VcpuFd};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::devices::bus::MmioBus;
use crate::devices::ports::{
    exit_status, CONSOLE_MAX, CONSOLE_PORT, EXIT_PORT, FAULT_PORT, READY_PORT,
};
use crate::devices::serial::SerialConsole;
use crate::error::{FaultReport, GuestError, RegisterDump};
use crate::stop::{self, StopReason, StopToken};

/// How a guest ended without error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmExit {
    /// The guest wrote this status to the exit port.
    Exited {
        /// The status.
        status: u32,
    },
    /// The host stopped the VM.
    Stopped,
}

/// Boot progress shared between the vCPU thread and the VM's owner.
#[derive(Default)]
pub struct Progress {
    state: Mutex<ProgressState>,
    changed: Condvar,
}

/// A snapshot of [`Progress`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ProgressState {
    /// When the guest wrote the ready port.
    pub ready_at: Option<Instant>,
    /// The vCPU loop has ended.
    pub ended: bool,
}

impl Progress {
    fn lock(&self) -> MutexGuard<'_, ProgressState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut ProgressState)) {
        change(&mut self.lock());
        self.changed.notify_all();
    }

    /// Waits until the guest is ready or the vCPU loop has ended.
    pub fn wait_ready_or_end(&self) -> ProgressState {
        let guard = self.lock();
        *self
            .changed
            .wait_while(guard, |s| s.ready_at.is_none() && !s.ended)
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The current state.
    pub fn snapshot(&self) -> ProgressState {
        *self.lock()
    }
}

/// What one exit asks the loop to do once the exit's borrow of the vCPU has ended.
enum Next {
    Continue,
    Console,
    Exited(u32),
    Fault,
    Halted,
    Shutdown,
    InternalError,
    FailEntry(u64),
    Unexpected(String),
}

/// A configured vCPU with the devices its exits reach.
pub struct Vcpu {
    /// The KVM vCPU.
    pub fd: VcpuFd,
    /// Guest memory (for reading fault frames).
    pub memory: GuestMemoryMmap,
    /// COM1.
    pub serial: SerialConsole,
    /// Devices in the MMIO window.
    pub bus: Arc<MmioBus>,
    /// Stops the loop.
    pub stop: StopToken,
    /// Ready / ended notifications.
    pub progress: Arc<Progress>,
}

impl Vcpu {
    /// Runs the guest until it ends. Call on the vCPU thread.
    pub fn run(mut self) -> Result<VmExit, GuestError> {
        stop::set_thread_kvm_run(self.fd.get_kvm_run());
        let result = self.run_loop();
        stop::set_thread_kvm_run(std::ptr::null_mut());
        self.progress.update(|s| s.ended = true);
        result
    }

    fn run_loop(&mut self) -> Result<VmExit, GuestError> {
        let started = Instant::now();
        loop {
            if self.stop.is_stopped() {
                return self.stopped();
            }
            let result = self.fd.run();
            tracing::trace!(
                elapsed_us = started.elapsed().as_micros() as u64,
                "vCPU exit {result:?}"
            );
            let next = match result {
                Ok(exit) => match exit {
                    VcpuExit::IoOut(port, data) => {
                        if SerialConsole::handles(port) {
                            self.serial.write(port, data);
                            Next::Continue
                        } else if port == READY_PORT {
                            let now = Instant::now();
                            self.progress.update(|s| {
                                s.ready_at.get_or_insert(now);
                            });
                            Next::Continue
                        } else if port == CONSOLE_PORT {
                            Next::Console
                        } else if port == EXIT_PORT {
                            Next::Exited(exit_status(data))
                        } else if port == FAULT_PORT {
                            Next::Fault
                        } else {
                            tracing::trace!("write to unhandled port {port:#x}");
                            Next::Continue
                        }
                    }
                    VcpuExit::IoIn(port, data) => {
                        if SerialConsole::handles(port) {
                            self.serial.read(port, data);
                        } else {
                            data.fill(0xFF);
                        }
                        Next::Continue
                    }
                    VcpuExit::MmioRead(addr, data) => {
                        if !self.bus.read(addr, data) {
                            tracing::trace!("read of unclaimed MMIO address {addr:#x}");
                        }
                        Next::Continue
                    }
                    VcpuExit::MmioWrite(addr, data) => {
                        if !self.bus.write(addr, data) {
                            tracing::trace!("write to unclaimed MMIO address {addr:#x}");
                        }
                        Next::Continue
                    }
                    VcpuExit::Hlt => Next::Halted,
                    VcpuExit::Shutdown => Next::Shutdown,
                    VcpuExit::InternalError => Next::InternalError,
                    VcpuExit::FailEntry(reason, _cpu) => Next::FailEntry(reason),
                    other => Next::Unexpected(format!("{other:?}")),
                },
                Err(error) if error.errno() == libc::EINTR || error.errno() == libc::EAGAIN => {
                    self.fd.set_kvm_immediate_exit(0);
                    Next::Continue
                }
                Err(error) => return Err(GuestError::Run(error)),
            };
            match next {
                Next::Continue => {}
                Next::Console => self.fast_console(),
                Next::Exited(status) => return Ok(VmExit::Exited { status }),
                Next::Fault => return Err(self.fault_report()),
                Next::Halted => return Err(GuestError::Halted(self.dump())),
                Next::Shutdown => return Err(GuestError::Shutdown(self.dump())),
                Next::InternalError => {
                    // SAFETY: after KVM_EXIT_INTERNAL_ERROR the `internal` member is the active one.
                    let suberror =
                        unsafe { self.fd.get_kvm_run().__bindgen_anon_1.internal.suberror };
                    return Err(GuestError::InternalError {
                        suberror,
                        dump: self.dump(),
                    });
                }
                Next::FailEntry(reason) => {
                    return Err(GuestError::FailEntry {
                        reason,
                        dump: self.dump(),
                    })
                }
                Next::Unexpected(name) => {
                    return Err(GuestError::UnexpectedExit {
                        name,
                        dump: self.dump(),
                    })
                }
            }
        }
    }

    /// Copies the buffer the guest named in `rsi`/`rcx` (untrusted: bounded, checked) to COM1.
    fn fast_console(&mut self) {
        let Ok(regs) = self.fd.get_regs() else {
            tracing::warn!("fast console: cannot read the vCPU registers");
            return;
        };
        let len = regs.rcx.min(CONSOLE_MAX) as usize;
        let mut buffer = vec![0u8; len];
        match self.memory.read_slice(&mut buffer, GuestAddress(regs.rsi)) {
            Ok(()) => self
                .serial
                .write(crate::devices::serial::COM1_BASE, &buffer),
            Err(error) => tracing::warn!(
                "fast console: buffer at {:#x} (+{len}) unreadable: {error}",
                regs.rsi
            ),
        }
    }

    fn stopped(&self) -> Result<VmExit, GuestError> {
        match self.stop.reason() {
            Some(StopReason::Watchdog { limit }) => Err(GuestError::Watchdog {
                limit,
                dump: self.dump(),
            }),
            Some(StopReason::Host) | None => Ok(VmExit::Stopped),
        }
    }

    /// The registers, if KVM will give them.
    fn dump(&self) -> Option<Box<RegisterDump>> {
        let regs = self.fd.get_regs().ok()?;
        let sregs = self.fd.get_sregs().ok()?;
        Some(Box::new(RegisterDump { regs, sregs }))
    }

    /// Reads the frame the ring-0 fault stub left at `rsp`: vector, error code, RIP, CS, RFLAGS,
    /// RSP, SS. The frame is guest memory: every read is checked.
    fn fault_report(&self) -> GuestError {
        let Some(dump) = self.dump() else {
            return GuestError::BadFaultReport {
                reason: "cannot read the vCPU registers".into(),
                dump: None,
            };
        };
        let cpl = dump.sregs.cs.selector & 3;
        if cpl != 0 {
            return GuestError::BadFaultReport {
                reason: format!("fault port written from ring {cpl}"),
                dump: Some(dump),
            };
        }
        let frame: [u64; 7] = match self.memory.read_obj(GuestAddress(dump.regs.rsp)) {
            Ok(frame) => frame,
            Err(error) => {
                return GuestError::BadFaultReport {
                    reason: format!("fault frame at {:#x} unreadable: {error}", dump.regs.rsp),
                    dump: Some(dump),
                }
            }
        };
        let [vector, error_code, rip, cs, rflags, rsp, _ss] = frame;
        let cr2 = dump.sregs.cr2;
        GuestError::Fault(Box::new(FaultReport {
            vector,
            error_code,
            rip,
            cs,
            rflags,
            rsp,
            cr2,
            dump: *dump,
        }))
    }
}

//! Stopping a running VM from another thread.
//!
//! [`StopToken::stop`] records why, makes the token's eventfd readable (and keeps it readable:
//! nobody reads it), wakes [`StopToken::wait_timeout`] callers and kicks the vCPU thread with a
//! signal whose handler sets `kvm_run.immediate_exit`, so `KVM_RUN` returns `EINTR` whether the
//! signal lands inside the ioctl or just before it. Devices that block in an MMIO read watch the
//! eventfd or call `wait_timeout`.

use std::cell::Cell;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use kvm_bindings::kvm_run;
use libc::{c_int, c_void, siginfo_t};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
use vmm_sys_util::signal::{register_signal_handler, SIGRTMIN};

/// Why a VM was stopped from the host side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The watchdog's deadline passed.
    Watchdog {
        /// The limit that was armed.
        limit: Duration,
    },
    /// The host asked for it ([`RunningVm::stop`](crate::RunningVm::stop) or drop).
    Host,
}

struct StopInner {
    stopped: AtomicBool,
    reason: Mutex<Option<StopReason>>,
    wake: Condvar,
    event: EventFd,
    vcpu_thread: Mutex<Option<libc::pthread_t>>,
}

/// A cloneable handle that stops one VM and tells its devices it is stopping.
#[derive(Clone)]
pub struct StopToken {
    inner: Arc<StopInner>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl StopToken {
    /// A token for a VM that is not stopped.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            inner: Arc::new(StopInner {
                stopped: AtomicBool::new(false),
                reason: Mutex::new(None),
                wake: Condvar::new(),
                event: EventFd::new(EFD_NONBLOCK)?,
                vcpu_thread: Mutex::new(None),
            }),
        })
    }

    /// Whether the VM is stopping or stopped.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    /// An eventfd that becomes (and stays) readable when the VM stops: poll it beside your own.
    pub fn event_fd(&self) -> RawFd {
        self.inner.event.as_raw_fd()
    }

    /// Waits up to `timeout` for the VM to stop; returns whether it has.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let guard = lock(&self.inner.reason);
        let (_guard, _) = self
            .inner
            .wake
            .wait_timeout_while(guard, timeout, |_| !self.is_stopped())
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.is_stopped()
    }

    /// Stops the VM for `reason`. Returns false if it was already stopping (the first reason
    /// wins).
    pub fn stop(&self, reason: StopReason) -> bool {
        {
            let mut current = lock(&self.inner.reason);
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            self.inner.stopped.store(true, Ordering::Release);
        }
        self.inner.wake.notify_all();
        if let Err(error) = self.inner.event.write(1) {
            tracing::warn!("stop eventfd: {error}");
        }
        self.kick_vcpu();
        true
    }

    /// Why the VM was stopped, if it was.
    pub fn reason(&self) -> Option<StopReason> {
        *lock(&self.inner.reason)
    }

    /// Interrupts the vCPU thread's `KVM_RUN` (no-op if there is no vCPU thread).
    pub(crate) fn kick_vcpu(&self) {
        let thread = lock(&self.inner.vcpu_thread);
        if let Some(thread) = *thread {
            // SAFETY: `thread` is a live, not yet joined thread: it is cleared (under this lock)
            // before the vCPU thread is joined. The signal has a handler (registered before the
            // thread was spawned) that only stores to the thread's own kvm_run.
            let result = unsafe { libc::pthread_kill(thread, kick_signal()) };
            if result != 0 {
                tracing::debug!("kicking the vCPU thread: error {result}");
            }
        }
    }

    pub(crate) fn set_vcpu_thread(&self, thread: Option<libc::pthread_t>) {
        *lock(&self.inner.vcpu_thread) = thread;
    }
}

/// The real-time signal used to kick vCPU threads out of `KVM_RUN`.
pub(crate) fn kick_signal() -> c_int {
    SIGRTMIN() + 2
}

thread_local! {
    /// This thread's `kvm_run` while it runs a vCPU (null otherwise).
    static KVM_RUN: Cell<*mut kvm_run> = const { Cell::new(std::ptr::null_mut()) };
}

extern "C" fn handle_kick(_signal: c_int, _info: *mut siginfo_t, _context: *mut c_void) {
    let _ = KVM_RUN.try_with(|run| {
        let run = run.get();
        if !run.is_null() {
            // SAFETY: the pointer is this thread's mapped kvm_run, valid while it is set (it is
            // cleared before the vCPU fd is dropped); a byte store is async-signal-safe.
            unsafe { std::ptr::write_volatile(&mut (*run).immediate_exit, 1) };
        }
    });
}

/// Installs the kick handler (once per process; without SA_RESTART, so KVM_RUN returns EINTR).
pub(crate) fn install_kick_handler() -> std::io::Result<()> {
    // The outcome of the one installation, reported to every caller (errno on failure).
    static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();
    let result = INSTALLED
        .get_or_init(|| register_signal_handler(kick_signal(), handle_kick).map_err(|e| e.errno()));
    result.map_err(std::io::Error::from_raw_os_error)
}

/// Publishes (or clears, with null) the calling thread's `kvm_run` for the kick handler.
pub(crate) fn set_thread_kvm_run(run: *mut kvm_run) {
    KVM_RUN.with(|cell| cell.set(run));
}

impl std::fmt::Debug for StopToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopToken")
            .field("stopped", &self.is_stopped())
            .field("reason", &self.reason())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins_and_waiters_wake() {
        let token = StopToken::new().unwrap();
        assert!(!token.is_stopped());
        assert!(!token.wait_timeout(Duration::from_millis(1)));
        let waiter = {
            let token = token.clone();
            std::thread::spawn(move || token.wait_timeout(Duration::from_secs(30)))
        };
        assert!(token.stop(StopReason::Host));
        assert!(!token.stop(StopReason::Watchdog {
            limit: Duration::from_secs(1)
        }));
        assert!(waiter.join().unwrap());
        assert_eq!(token.reason(), Some(StopReason::Host));
        let mut fds = [libc::pollfd {
            fd: token.event_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one valid pollfd; zero timeout.
        assert_eq!(unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) }, 1);
    }
}

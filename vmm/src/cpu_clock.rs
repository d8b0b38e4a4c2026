//! [`CpuClock`]: the CPU time one thread has used, e.g. the vCPU thread (whose CPU time includes
//! the time the guest ran). On a shared machine this measures work, not waits for a core.

use std::time::Duration;

/// A thread's CPU-time clock.
#[derive(Clone, Copy, Debug)]
pub struct CpuClock(libc::clockid_t);

impl CpuClock {
    /// The calling thread's clock.
    pub fn current_thread() -> Self {
        CpuClock(libc::CLOCK_THREAD_CPUTIME_ID)
    }

    /// The clock of a running thread of this process; `None` if the thread is gone.
    pub fn of_thread(thread: libc::pthread_t) -> Option<Self> {
        let mut id: libc::clockid_t = 0;
        // SAFETY: `id` is a valid place to write; an invalid thread is reported as an error.
        (unsafe { libc::pthread_getcpuclockid(thread, &mut id) } == 0).then_some(CpuClock(id))
    }

    /// CPU time used so far; `None` if the clock cannot be read (its thread has ended).
    pub fn elapsed(&self) -> Option<Duration> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write; a bad clock id is reported as an error.
        if unsafe { libc::clock_gettime(self.0, &mut ts) } != 0 {
            return None;
        }
        Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }
}

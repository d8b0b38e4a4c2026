//! The watchdog: stops a guest that runs past its deadline.
//!
//! It can be armed, re-armed and disarmed at any time, so a serving enclave can disarm it while
//! idle and arm it per job. On expiry it stops the VM through its [`StopToken`] with
//! [`StopReason::Watchdog`]; the vCPU loop then ends with
//! [`GuestError::Watchdog`](crate::GuestError::Watchdog).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::stop::{StopReason, StopToken};

#[derive(Default)]
struct State {
    deadline: Option<(Instant, Duration)>,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// A per-VM watchdog with its own thread.
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Watchdog {
    /// Starts a disarmed watchdog that will stop the VM behind `stop`.
    pub fn start(stop: StopToken) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("cerebro-watchdog".into())
                .spawn(move || watch(&shared, &stop))?
        };
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Arms (or re-arms) the watchdog: the VM is stopped if it is still running `limit` from now
    /// and not disarmed or re-armed before.
    pub fn arm(&self, limit: Duration) {
        let now = Instant::now();
        lock(&self.shared).deadline = Some((
            now.checked_add(limit)
                .unwrap_or(now + Duration::from_secs(86_400 * 365)),
            limit,
        ));
        self.shared.changed.notify_all();
    }

    /// Disarms the watchdog.
    pub fn disarm(&self) {
        lock(&self.shared).deadline = None;
        self.shared.changed.notify_all();
    }

    /// The armed deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        lock(&self.shared).deadline.map(|(at, _)| at)
    }
}

fn watch(shared: &Shared, stop: &StopToken) {
    let mut state = lock(shared);
    loop {
        if state.shutdown {
            return;
        }
        match state.deadline {
            None => {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner())
            }
            Some((at, limit)) => {
                let now = Instant::now();
                if now >= at {
                    state.deadline = None;
                    drop(state);
                    tracing::warn!("watchdog: guest still running after {limit:?}; stopping it");
                    stop.stop(StopReason::Watchdog { limit });
                    state = lock(shared);
                } else {
                    state = shared
                        .changed
                        .wait_timeout(state, at - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        lock(&self.shared).shutdown = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_only_when_armed() {
        let stop = StopToken::new().unwrap();
        let watchdog = Watchdog::start(stop.clone()).unwrap();
        watchdog.arm(Duration::from_millis(20));
        watchdog.disarm();
        assert!(
            !stop.wait_timeout(Duration::from_millis(60)),
            "a disarmed watchdog must not fire"
        );
        watchdog.arm(Duration::from_millis(10));
        assert!(stop.wait_timeout(Duration::from_secs(10)));
        assert_eq!(
            stop.reason(),
            Some(StopReason::Watchdog {
                limit: Duration::from_millis(10)
            })
        );
        assert_eq!(watchdog.deadline(), None);
    }
}

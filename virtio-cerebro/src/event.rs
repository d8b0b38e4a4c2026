//! ioeventfd-driven queue notifications on an event-manager thread.

use event_manager::{EventOps, Events, MutEventSubscriber};
use tracing::warn;
use vmm_sys_util::epoll::EventSet;

use cerebro_spec::NUM_QUEUES;

use crate::device::CerebroDevice;

/// Serves QueueNotify doorbells delivered through ioeventfds: register it with an
/// `event_manager::EventManager` running on its own thread, and register each
/// [`CerebroDevice::queue_event`] with KVM as an ioeventfd on the QueueNotify register with the
/// queue index as datamatch.
pub struct QueueEventHandler {
    device: CerebroDevice,
}

impl QueueEventHandler {
    pub(crate) fn new(device: CerebroDevice) -> Self {
        QueueEventHandler { device }
    }
}

impl MutEventSubscriber for QueueEventHandler {
    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        let index = events.data() as u16;
        let Some(evt) = self.device.queue_event(index) else {
            return;
        };
        // Drain the counter; EAGAIN (already drained) is harmless.
        let _ = evt.read();
        if events.event_set().contains(EventSet::IN) {
            self.device.process_queue(index);
        }
    }

    fn init(&mut self, ops: &mut EventOps) {
        for index in 0..NUM_QUEUES as u16 {
            if let Some(evt) = self.device.queue_event(index) {
                if let Err(e) = ops.add(Events::with_data(evt, u32::from(index), EventSet::IN)) {
                    warn!("virtio-cerebro: cannot watch queue {index} eventfd: {e}");
                }
            }
        }
    }
}

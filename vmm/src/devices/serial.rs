//! The serial console: a vm-superio 16550 on COM1 whose output goes to the host log (tracing,
//! target `cerebro::guest`) and is captured for callers.

use std::io;
use std::sync::{Arc, Mutex};

use vm_superio::serial::NoEvents;
use vm_superio::{Serial, Trigger};

/// COM1's first port.
pub const COM1_BASE: u16 = 0x3F8;
/// COM1's port count.
pub const COM1_PORTS: u16 = 8;
/// Captured console bytes kept per VM; beyond this output is logged but not kept.
pub const CAPTURE_LIMIT: usize = 1 << 20;
/// Longest line buffered before it is logged anyway.
const MAX_LINE: usize = 4096;

/// No interrupts: the guest polls (it runs with interrupts off in ring 3).
pub struct NoInterrupt;

impl Trigger for NoInterrupt {
    type E = io::Error;

    fn trigger(&self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Default)]
struct Capture {
    text: String,
    line: Vec<u8>,
    dropped: u64,
}

/// The guest's console output, shared between the vCPU thread and callers.
#[derive(Clone, Default)]
pub struct ConsoleLog {
    inner: Arc<Mutex<Capture>>,
}

impl ConsoleLog {
    /// Everything the guest printed so far (complete lines), up to [`CAPTURE_LIMIT`] bytes.
    pub fn text(&self) -> String {
        self.lock().text.clone()
    }

    /// Bytes that were not kept because the capture was full.
    pub fn dropped_bytes(&self) -> u64 {
        self.lock().dropped
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Capture> {
        // A panic while holding this lock cannot leave the text inconsistent; keep going.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, bytes: &[u8]) {
        let mut capture = self.lock();
        for &byte in bytes {
            if byte == b'\n' || capture.line.len() >= MAX_LINE {
                let line = std::mem::take(&mut capture.line);
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches('\r');
                tracing::info!(target: "cerebro::guest", "{line}");
                if capture.text.len() + line.len() < CAPTURE_LIMIT {
                    capture.text.push_str(line);
                    capture.text.push('\n');
                } else {
                    capture.dropped += line.len() as u64 + 1;
                }
                if byte == b'\n' {
                    continue;
                }
            }
            capture.line.push(byte);
        }
    }

    /// Logs and keeps a final line the guest did not terminate.
    pub fn flush_partial_line(&self) {
        if !self.lock().line.is_empty() {
            self.push(b"\n");
        }
    }
}

/// The `io::Write` end vm-superio writes transmitted bytes to.
pub struct ConsoleWriter(ConsoleLog);

impl io::Write for ConsoleWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.push(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// COM1 as the vCPU sees it.
pub struct SerialConsole {
    serial: Serial<NoInterrupt, NoEvents, ConsoleWriter>,
}

impl SerialConsole {
    /// A UART writing to `log`.
    pub fn new(log: ConsoleLog) -> Self {
        Self {
            serial: Serial::new(NoInterrupt, ConsoleWriter(log)),
        }
    }

    /// Whether `port` belongs to COM1.
    pub fn handles(port: u16) -> bool {
        (COM1_BASE..COM1_BASE + COM1_PORTS).contains(&port)
    }

    /// A guest write (each byte of a `rep outsb` in turn).
    pub fn write(&mut self, port: u16, data: &[u8]) {
        let offset = (port - COM1_BASE) as u8;
        for &byte in data {
            // Writing to the capture cannot fail; vm-superio reports only trigger errors here.
            if let Err(error) = self.serial.write(offset, byte) {
                tracing::debug!("serial write: {error:?}");
            }
        }
    }

    /// A guest read.
    pub fn read(&mut self, port: u16, data: &mut [u8]) {
        let offset = (port - COM1_BASE) as u8;
        for byte in data {
            *byte = self.serial.read(offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_lines_written_to_the_uart() {
        let log = ConsoleLog::default();
        let mut console = SerialConsole::new(log.clone());
        console.write(COM1_BASE, b"hello\nwor");
        console.write(COM1_BASE, b"ld\n");
        console.write(COM1_BASE, b"partial");
        assert_eq!(log.text(), "hello\nworld\n");
        log.flush_partial_line();
        assert_eq!(log.text(), "hello\nworld\npartial\n");
    }
}

//! The console: formatted lines to Cerebro's fast console port (one VM exit per line) or, under
//! other VMMs, to the COM1 UART.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::ports;

/// Bytes buffered before a flush; a line longer than this is sent in several pieces.
const LINE_BUFFER: usize = 512;

/// Whether Cerebro's fast console port is there (set once the boot protocol is known).
static FAST_CONSOLE: AtomicBool = AtomicBool::new(false);

/// Sends console output through Cerebro's one-exit-per-line port instead of the UART.
pub fn use_fast_console() {
    FAST_CONSOLE.store(true, Ordering::Relaxed);
}

/// A line-buffered writer to the serial console.
pub struct Console {
    buffer: [u8; LINE_BUFFER],
    len: usize,
}

impl Console {
    /// An empty console writer.
    pub const fn new() -> Self {
        Self {
            buffer: [0; LINE_BUFFER],
            len: 0,
        }
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) {
        if FAST_CONSOLE.load(Ordering::Relaxed) {
            ports::write_console(&self.buffer[..self.len]);
        } else {
            ports::write_bytes(ports::SERIAL_PORT, &self.buffer[..self.len]);
        }
        self.len = 0;
    }
}

impl Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.len == LINE_BUFFER {
                self.flush();
            }
            self.buffer[self.len] = byte;
            self.len += 1;
        }
        Ok(())
    }
}

/// Prints one line (used by [`kprintln!`]).
pub fn print_line(args: fmt::Arguments<'_>) {
    let mut console = Console::new();
    // Formatting into the console cannot fail: `write_str` always succeeds.
    let _ = console.write_fmt(args);
    let _ = console.write_str("\n");
    console.flush();
}

/// Prints a formatted line on the serial console.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::console::print_line(format_args!($($arg)*))
    };
}

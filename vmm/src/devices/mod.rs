//! Devices the vCPU exit loop dispatches to: the MMIO bus in the device window, the serial
//! console and Cerebro's own I/O ports.

pub mod bus;
pub mod ports;
pub mod serial;

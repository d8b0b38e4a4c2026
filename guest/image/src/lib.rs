//! The Cerebro kernel image, built for its freestanding target and embedded as bytes.

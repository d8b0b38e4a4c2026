//! The Cerebro model engine: loader, executor and retriever.
#![no_std]

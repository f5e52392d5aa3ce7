//! `cargo test --release --target T` trains the UCI handwritten digits in QEMU (Cortex-M4F;
//! skipped, exit 0, on the other boards).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::digits::DIGITS);

//! `cargo test --release --target T` trains the smartwatch exercises in QEMU (Cortex-M4F;
//! skipped, exit 0, on the other boards).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::exercises::EXERCISES_GRU);

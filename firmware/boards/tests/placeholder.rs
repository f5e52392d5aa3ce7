//! `cargo test --release --target T` runs the placeholder example in QEMU.
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::workload::PLACEHOLDER);

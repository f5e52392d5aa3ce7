//! `cargo test --release --target T` trains the `spiral_deep` seed example in QEMU.
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::workload::SPIRAL_DEEP);

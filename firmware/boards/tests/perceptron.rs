//! `cargo test --release --target T` trains the `perceptron` seed example in QEMU.
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::workload::PERCEPTRON);

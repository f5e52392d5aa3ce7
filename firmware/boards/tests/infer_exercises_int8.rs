//! `cargo test --release --target T` classifies the held-out rows with the exercises CNN in int8 in QEMU.
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::infer::INFER_EXERCISES_INT8);

//! `cargo test --release --target T` fine-tunes the biases only of the pre-trained digits model in
//! QEMU (Cortex-M4F; skipped, exit 0, on the other boards).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::finetune::FINETUNE_BIASES);

//! Trains the `mlp_xor` seed example on the device (see `workload::MLP_XOR`).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::workload::MLP_XOR);

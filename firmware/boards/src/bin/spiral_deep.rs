//! Trains the `spiral_deep` seed example on the device (see `workload::SPIRAL_DEEP`).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::workload::SPIRAL_DEEP);

//! Trains the `perceptron` seed example on the device (see `workload::PERCEPTRON`).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::workload::PERCEPTRON);

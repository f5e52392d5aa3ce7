//! Placeholder example firmware (see `workload::PLACEHOLDER`).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::workload::PLACEHOLDER);

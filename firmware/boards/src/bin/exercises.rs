//! Trains the smartwatch exercises on the device (see `exercises::EXERCISES`; Cortex-M4F boards only).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::exercises::EXERCISES);

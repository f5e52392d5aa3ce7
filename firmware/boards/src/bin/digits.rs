//! Trains the UCI handwritten digits on the device (see `digits::DIGITS`; Cortex-M4F boards only).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::digits::DIGITS);

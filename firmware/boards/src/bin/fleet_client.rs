//! A federated-learning client: one local round of the digits fleet, its job, weights and
//! checkpoints in semihosting files (see `fleet::FLEET_CLIENT`; Cortex-M4F boards only).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::fleet::FLEET_CLIENT);

//! Classifies the held-out rows with the digits network in int8 (see `infer::INFER_DIGITS_INT8`; every board).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::infer::INFER_DIGITS_INT8);

//! Classifies the held-out rows with the pre-trained digits network in f32 (see `infer::INFER_DIGITS`; every board).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::infer::INFER_DIGITS);

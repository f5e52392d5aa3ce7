//! Classifies the held-out rows with the exercises CNN in int8 (see `infer::INFER_EXERCISES_INT8`; every board).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::infer::INFER_EXERCISES_INT8);

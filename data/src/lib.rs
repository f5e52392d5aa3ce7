//! # embedgrad-data
//!
//! The examples embedgrad trains on — the tutorial's seed examples and real data sets stored
//! as bytes that stay in flash, with the recipes that train on them — shared by the desktop
//! runner (`embedgrad-sim`), the firmware and the tests, so all train on the same bytes, the
//! same split and the same network.
//!
//! - [`seed`]: the tutorial's three seed examples (perceptron, mlp_xor, spiral_deep), made
//!   bit-reproducible: data, initial weights, nets and hyper-parameters exactly as specified.
//! - [`digits`]: the UCI optical recognition of handwritten digits (8×8 images, grey levels
//!   0..=16, 1,797 samples, 10 classes) as shipped by scikit-learn, 112 KiB (115,008 bytes) of `u8` in flash,
//!   a fixed 1,437 / 360 train/test split and a 64-32-10 multilayer perceptron.
//! - [`exercises`]: shoulder physiotherapy exercises seen by a smartwatch's 3-axis
//!   accelerometer and gyroscope (D. M. Burns et al., 2018, as seglearn ships it; BSD 3-Clause),
//!   980 windows of 64 steps × 6 channels at 25 Hz, 7 classes, 10 subjects, 368 KiB
//!   (376,320 bytes) of `i8` in flash, a fixed 784 / 196 train/test split.
//!
//! ```
//! use embedgrad_data::digits;
//!
//! let data = digits::dataset()?;
//! assert_eq!((data.len(), data.dim(), data.classes()), (1797, 64, 10));
//! let mut row = [0.0f32; 64];
//! data.row_into(0, &mut row)?; // grey levels scaled to 0..=1
//! assert_eq!((data.label(0), row[2]), (Some(0), 5.0 / 16.0));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
//!
//! **Why a crate of its own.** The data files are bytes in this package (`include_bytes!`), so
//! they are compiled into whatever uses them and nothing else: `embedgrad-train` stays free of
//! 115 KB of pixels and of any one data set, the firmware and the simulator depend on the same
//! statics (no copy to drift), and a published package still finds its files. Unused statics
//! cost nothing: the linker drops them from a firmware that does not train on the digits.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod digits;
pub mod exercises;
pub mod seed;

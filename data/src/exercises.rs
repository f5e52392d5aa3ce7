//! Shoulder physiotherapy exercises seen by a smartwatch: 980 windows of 2.56 s of a 3-axis
//! accelerometer and a 3-axis gyroscope (64 steps at 25 Hz × 6 channels), 7 exercises,
//! 10 subjects.
//!
//! **Source.** The inertial data of D. M. Burns et al., *Shoulder physiotherapy exercise
//! recognition: machine learning the inertial signals from a smartwatch* (Physiological
//! Measurement 39, 2018), as its first author ships it in the seglearn package
//! (`seglearn/data/watch_dataset.npy`, under seglearn's BSD 3-Clause licence):
//! 140 recordings at 50 Hz, one per subject, exercise and arm, each a set of about twenty
//! repetitions. `exercises/README.md` gives the source, the licence and how the files were made
//! (`exercises/make.py`).
//!
//! **Windows.** Each recording is brought to 25 Hz (the mean of each pair of samples) and cut
//! into [`WINDOWS_PER_RECORDING`] = 7 windows of [`TIMESTEPS`] = 64 steps, evenly spaced from
//! its start to its end and never overlapping. Row `r` of [`WINDOWS`] is window `r % 7` of
//! recording `r / 7`, in the package's order; it holds the window time-major, `x[t][c]` at
//! `t * CHANNELS + c` with the channels `ax, ay, az, wx, wy, wz` ([`CHANNEL_NAMES`]) — the
//! `B × (T·C)` layout of the `conv1d` ops.
//!
//! **Integers.** Each value is an `i8`, `raw = round(x · RAW_PER_UNIT[c])` (ties to even):
//! 16 steps per unit for the accelerometer (g; `±7.9` g fit, the windows reach 4.9 g), 4 per
//! unit for the gyroscope (`±31.7` fit, the windows reach 18.3; the package does not name the
//! unit, its range fits rad/s). Nothing is clipped, so [`dequantise`] is within half a step
//! of the 25 Hz signal: 1/32 g and 1/8 gyroscope unit. [`TABLE`] decodes every value as
//! `raw / 16`: the accelerometer in g, the gyroscope in units of 4 — inputs of the same order
//! on every channel, which is what a network wants.
//!
//! **Split.** [`split`] shuffles the row numbers with a SplitMix64 seeded with [`SPLIT_SEED`]
//! and holds out the last [`TEST`] = 196, like the digits: held-out windows come from the
//! same recordings as training windows (other repetitions of the same set, as the study's
//! "temporally stratified" validation). [`SUBJECTS`] gives each window's subject, for a
//! harder split by subject.
//!
//! ```
//! use embedgrad_data::exercises::{self, CHANNELS, TIMESTEPS};
//!
//! let data = exercises::dataset()?;
//! assert_eq!((data.len(), data.dim(), data.classes()), (980, 64 * 6, 7));
//! let mut row = [0.0f32; TIMESTEPS * CHANNELS];
//! data.row_into(0, &mut row)?;
//! // The watch's first reading: ax ≈ -1.08 g (gravity), in 1/16 g steps.
//! assert_eq!((data.label(0), row[0]), (Some(0), -17.0 / 16.0));
//! assert_eq!(exercises::dequantise(0, 0, 3), Some(2.0 / 4.0)); // wx at t = 0, in its unit
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use embedgrad_core::Error;
use embedgrad_train::data::{Dataset, Table};
use embedgrad_train::SplitMix64;

/// Windows.
pub const SAMPLES: usize = RECORDINGS * WINDOWS_PER_RECORDING;
/// Steps per window (2.56 s at [`SAMPLE_RATE_HZ`]).
pub const TIMESTEPS: usize = 64;
/// Channels: `ax, ay, az` (accelerometer), `wx, wy, wz` (gyroscope).
pub const CHANNELS: usize = 6;
/// Values per window, `TIMESTEPS × CHANNELS`.
pub const FEATURES: usize = TIMESTEPS * CHANNELS;
/// Classes (the exercises).
pub const CLASSES: usize = 7;
/// Steps per second of the windows (the package's 50 Hz, halved).
pub const SAMPLE_RATE_HZ: usize = 25;
/// Recordings in the package (10 subjects × 7 exercises × 2 arms).
pub const RECORDINGS: usize = 140;
/// Windows cut from each recording.
pub const WINDOWS_PER_RECORDING: usize = 7;
/// Subjects, numbered `1..=10` in [`SUBJECTS`].
pub const SUBJECT_COUNT: usize = 10;

/// The exercises as the package names them (`y_labels`), in label order `0..=6`.
pub const CLASS_NAMES: [&str; CLASSES] = ["PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW"];
/// The channels as the package names them (`X_labels`), in row order.
pub const CHANNEL_NAMES: [&str; CHANNELS] = ["ax", "ay", "az", "wx", "wy", "wz"];
/// Integer steps per unit of each channel: a value is `raw / RAW_PER_UNIT[c]`.
pub const RAW_PER_UNIT: [f32; CHANNELS] = [16.0, 16.0, 16.0, 4.0, 4.0, 4.0];

/// The windows, `SAMPLES × FEATURES` signed bytes, one window per row, time-major.
pub static WINDOWS: [i8; SAMPLES * FEATURES] = signed(include_bytes!("../exercises/windows.i8"));
/// The exercise of each window, `0..=6` (see [`CLASS_NAMES`]).
pub static LABELS: [u8; SAMPLES] = *include_bytes!("../exercises/labels.u8");
/// The subject of each window, `1..=10`.
pub static SUBJECTS: [u8; SAMPLES] = *include_bytes!("../exercises/subjects.u8");

/// The windows as a table of features `raw / 16`: the accelerometer in g, the gyroscope in
/// units of 4.
pub const TABLE: Table<'static> = Table::i8(&WINDOWS, FEATURES, 1.0 / 16.0, 0.0);

/// The bytes of a file as `i8`, at compile time (two's complement, as written by numpy).
const fn signed<const N: usize>(bytes: &[u8; N]) -> [i8; N] {
    let mut out = [0i8; N];
    let mut src: &[u8] = bytes;
    let mut dst: &mut [i8] = &mut out;
    while let ([s, src_rest @ ..], [d, dst_rest @ ..]) = (src, dst) {
        *d = s.cast_signed();
        src = src_rest;
        dst = dst_rest;
    }
    out
}

/// The value of channel `c` at step `t` of window `row` in the channel's own unit (g for the
/// accelerometer): `raw / RAW_PER_UNIT[c]`; `None` outside the data.
pub fn dequantise(row: usize, t: usize, c: usize) -> Option<f32> {
    if t >= TIMESTEPS {
        return None;
    }
    let per_unit = RAW_PER_UNIT.get(c)?;
    let raw = WINDOWS.get(row.checked_mul(FEATURES)? + t * CHANNELS + c)?;
    Some(f32::from(*raw) / per_unit)
}

/// The labelled data set: [`TABLE`] with [`LABELS`], 7 classes.
///
/// # Errors
/// None in practice (the tests check that the statics are well-formed); the
/// [`Dataset::new`] checks are kept rather than bypassed.
pub fn dataset() -> Result<Dataset<'static>, Error> {
    Dataset::new(TABLE, &LABELS, CLASSES)
}

/// Held-out windows (a fifth).
pub const TEST: usize = 196;
/// Training windows.
pub const TRAIN: usize = SAMPLES - TEST;
/// Seed of the generator that draws the train/test split.
pub const SPLIT_SEED: u64 = 0x5170_0980;

/// The fixed split: fills `indices` with the row numbers shuffled by SplitMix64([`SPLIT_SEED`])
/// and returns `(train, test)`, the first [`TRAIN`] and the last [`TEST`] of them.
///
/// ```
/// use embedgrad_data::exercises;
/// let mut idx = [0u16; exercises::SAMPLES];
/// let (train, test) = exercises::split(&mut idx)?;
/// assert_eq!((train.len(), test.len()), (784, 196));
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
///
/// # Errors
/// None in practice (as [`Dataset::split`]).
pub fn split(indices: &mut [u16; SAMPLES]) -> Result<(&mut [u16], &mut [u16]), Error> {
    dataset()?.split(&mut SplitMix64::new(SPLIT_SEED), indices, TEST)
}

pub mod models;
pub mod quantized;
pub mod stream;
mod trainer;
pub use models::{Model, Net};
pub use trainer::{
    Augment, Part, Recipe, Trainer, BATCH, BATCHES, CNN, CNN_EPOCHS, GRU, GRU_EPOCHS,
};

#[cfg(test)]
mod tests;

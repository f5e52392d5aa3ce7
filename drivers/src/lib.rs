//! # embedgrad-drivers
//!
//! Sensor drivers for embedgrad: an [`Accelerometer`] that reads a 3-axis accelerometer
//! through the `embedded-hal` 1.0 [`I2c`] trait, with the register layouts of the InvenSense
//! MPU-6050 ([`AccelConfig::mpu6050`]) and the ST LIS3DH ([`AccelConfig::lis3dh`]), as an
//! unlabelled [`SampleSource`] of `embedgrad-train` (see its `source` module for `Labelled`
//! and the `OnlineTrainer` that learns from it). no_std, no alloc, no panic paths.
//!
//! ```
//! use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, Operation};
//! use embedgrad_drivers::{AccelConfig, Accelerometer};
//! use embedgrad_train::source::{Labelled, SampleSource};
//!
//! /// A device that always reads X = 0.5 g, Y = Z = 0 (LIS3DH register layout).
//! struct Flat;
//! impl ErrorType for Flat { type Error = ErrorKind; }
//! impl I2c for Flat {
//!     fn transaction(&mut self, _addr: u8, ops: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
//!         for op in ops {
//!             if let Operation::Read(buf) = op {
//!                 buf.copy_from_slice(&[0x00, 0x20, 0x00, 0x00, 0x00, 0x00]);
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//! struct NoDelay;
//! impl embedded_hal::delay::DelayNs for NoDelay { fn delay_ns(&mut self, _ns: u32) {} }
//!
//! // Two readings per sample; labels from elsewhere (here always class 1).
//! let accel = Accelerometer::new(Flat, NoDelay, AccelConfig::lis3dh().with_window(2, 0));
//! let mut sensor = Labelled::new(accel, || Some(1));
//! let mut row = [0.0f32; 6];
//! assert_eq!(sensor.read_sample(&mut row)?, Some(1));
//! assert_eq!(row, [0.5, 0.0, 0.0, 0.5, 0.0, 0.0]);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
//!
//! **Why a crate of its own, and why not an existing driver.** In the `embedded-hal` 1.0
//! ecosystem a device driver is a crate of its own, so the training crate keeps only the
//! [`SampleSource`] trait and does not depend on `embedded-hal`. The kept driver crates do not
//! fit here (as of this writing): `mpu6050` (0.1.6) and `lis3dh` (0.4.4) are written against
//! `embedded-hal` 0.2, and `mpu6050` pulls in `nalgebra`; `lis3dh-async` is async only;
//! `mpu6050-dmp` carries the DMP firmware blob and its loader, far more than six data
//! registers need, and `mpu6050-driver` is young (0.1). What a sample source
//! needs is small — one `write_read` of six data bytes, their byte order and scale, a window of
//! readings paced by a [`DelayNs`], and every bus error reported as [`Error::Source`] with its
//! [`ErrorKind`] kept, without a panic path — so it is one generic adapter over register
//! layouts rather than a driver per part. A part's configuration (wake-up, ranges, filters)
//! is written with [`Accelerometer::write_register`], or by a full driver crate before the bus
//! is handed over.
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

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{Error as _, ErrorKind, I2c};
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Scalar};
use embedgrad_train::source::SampleSource;

/// Byte order of a 16-bit register pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ByteOrder {
    /// High byte first (MPU-6050, ADXL-style `_H`/`_L` pairs).
    BigEndian,
    /// Low byte first (LIS3DH, LSM6DS and most ST parts).
    LittleEndian,
}

/// Where and how an [`Accelerometer`] reads: the device's I2C address, the register of the
/// first of the six data bytes (X, Y, Z as 16-bit two's complement), their byte order, the
/// value of one least significant bit, and how many readings make one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AccelConfig {
    /// 7-bit I2C address.
    pub address: u8,
    /// Register written before the 6-byte read (with the auto-increment bit, if the part
    /// needs one).
    pub register: u8,
    /// Byte order of each axis.
    pub byte_order: ByteOrder,
    /// Feature value of one raw count (for example `1/16384` for g at ±2 g full scale).
    pub scale: f32,
    /// Readings per sample: a sample has `3 · window` features, `x0 y0 z0 x1 y1 z1 …`.
    pub window: usize,
    /// Microseconds to wait between the readings of a window (0: none).
    pub period_us: u32,
}

impl AccelConfig {
    /// InvenSense MPU-6050 at address `0x68` (AD0 low): `ACCEL_XOUT_H` = `0x3B`, big-endian,
    /// ±2 g full scale (16384 counts per g), features in g, one reading per sample. Wake the
    /// part first (`PWR_MGMT_1` = `0x6B` ← 0, see [`Accelerometer::write_register`]).
    pub const fn mpu6050() -> Self {
        Self {
            address: 0x68,
            register: 0x3B,
            byte_order: ByteOrder::BigEndian,
            scale: 1.0 / 16384.0,
            window: 1,
            period_us: 0,
        }
    }

    /// ST LIS3DH at address `0x18` (SA0 low): `OUT_X_L` = `0x28` with the auto-increment bit
    /// (`0xA8`), little-endian, left-justified, ±2 g full scale (16384 counts per g of the
    /// 16-bit value), features in g, one reading per sample. Enable the axes first
    /// (`CTRL_REG1` = `0x20`).
    pub const fn lis3dh() -> Self {
        Self {
            address: 0x18,
            register: 0x28 | 0x80,
            byte_order: ByteOrder::LittleEndian,
            scale: 1.0 / 16384.0,
            window: 1,
            period_us: 0,
        }
    }

    /// The same configuration with `window` readings per sample, `period_us` apart.
    pub const fn with_window(self, window: usize, period_us: u32) -> Self {
        Self {
            window,
            period_us,
            ..self
        }
    }
}

/// A 3-axis accelerometer on an I2C bus, as an unlabelled [`SampleSource`]: each sample is
/// `window` readings of X, Y, Z, each read with one `write_read` of the data register and
/// decoded from 16-bit two's complement times `scale`.
///
/// Any driver of the `embedded-hal` 1.0 [`I2c`] trait works: a microcontroller's HAL, a
/// Linux `/dev/i2c-*` bus, a mock or a simulated device. `delay` paces the readings of a
/// window ([`AccelConfig::period_us`]).
///
/// ```
/// use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, Operation};
/// use embedgrad_drivers::{AccelConfig, Accelerometer};
/// use embedgrad_train::source::SampleSource;
///
/// /// A device that always reads X = 1 g, Y = −0.5 g, Z = 0 (MPU-6050 register layout).
/// struct Still;
/// impl ErrorType for Still { type Error = ErrorKind; }
/// impl I2c for Still {
///     fn transaction(&mut self, _addr: u8, ops: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
///         for op in ops {
///             if let Operation::Read(buf) = op {
///                 buf.copy_from_slice(&[0x40, 0x00, 0xE0, 0x00, 0x00, 0x00]);
///             }
///         }
///         Ok(())
///     }
/// }
/// struct NoDelay;
/// impl embedded_hal::delay::DelayNs for NoDelay { fn delay_ns(&mut self, _ns: u32) {} }
///
/// let mut accel = Accelerometer::new(Still, NoDelay, AccelConfig::mpu6050());
/// let mut row = [0.0f32; 3];
/// assert_eq!(accel.read_sample(&mut row)?, None);
/// assert_eq!(row, [1.0, -0.5, 0.0]);
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Accelerometer<I2C, D> {
    i2c: I2C,
    delay: D,
    config: AccelConfig,
    last_error: Option<ErrorKind>,
    errors: u32,
}

impl<I2C: I2c, D: DelayNs> Accelerometer<I2C, D> {
    /// An accelerometer on `i2c` read as `config` says.
    pub const fn new(i2c: I2C, delay: D, config: AccelConfig) -> Self {
        Self {
            i2c,
            delay,
            config,
            last_error: None,
            errors: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AccelConfig {
        &self.config
    }

    /// The kind of the last bus error, if there was one.
    pub fn last_error(&self) -> Option<ErrorKind> {
        self.last_error
    }

    /// Bus errors so far.
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// Gives the bus and the delay back.
    pub fn release(self) -> (I2C, D) {
        (self.i2c, self.delay)
    }

    fn bus<R>(&mut self, r: Result<R, I2C::Error>) -> Result<R, Error> {
        r.map_err(|e| {
            self.last_error = Some(e.kind());
            self.errors = self.errors.saturating_add(1);
            Error::Source
        })
    }

    /// Writes one configuration register (`[register, value]` in one write).
    ///
    /// # Errors
    /// [`Error::Source`] on a bus error (its kind in [`Accelerometer::last_error`]).
    pub fn write_register(&mut self, register: u8, value: u8) -> Result<(), Error> {
        let r = self.i2c.write(self.config.address, &[register, value]);
        self.bus(r)
    }

    /// One reading of the three axes as raw counts.
    ///
    /// # Errors
    /// [`Error::Source`] on a bus error.
    pub fn read_raw(&mut self) -> Result<[i16; 3], Error> {
        let mut b = [0u8; 6];
        let c = self.config;
        let r = self.i2c.write_read(c.address, &[c.register], &mut b);
        self.bus(r)?;
        let [x0, x1, y0, y1, z0, z1] = b;
        let word = |p: [u8; 2]| match c.byte_order {
            ByteOrder::BigEndian => i16::from_be_bytes(p),
            ByteOrder::LittleEndian => i16::from_le_bytes(p),
        };
        Ok([word([x0, x1]), word([y0, y1]), word([z0, z1])])
    }
}

impl<T: Scalar, I2C: I2c, D: DelayNs> SampleSource<T> for Accelerometer<I2C, D> {
    fn dim(&self) -> usize {
        3 * self.config.window
    }

    fn read_sample(&mut self, features: &mut [T]) -> Result<Option<u8>, Error> {
        let dim = SampleSource::<T>::dim(self);
        if features.len() != dim || dim == 0 {
            return Err(Error::LengthMismatch {
                expected: dim,
                found: features.len(),
            });
        }
        let scale = f64::from(self.config.scale);
        for (k, reading) in features.exact_rows_mut(3).enumerate() {
            if k > 0 && self.config.period_us > 0 {
                self.delay.delay_us(self.config.period_us);
            }
            let raw = self.read_raw()?;
            for (f, r) in reading.iter_mut().zip(raw) {
                *f = T::from_f64(f64::from(r) * scale);
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;

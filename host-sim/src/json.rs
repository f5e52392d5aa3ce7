//! The JSON lines of `embedgrad-sim ... --json`: each line is a `#[derive(Serialize)]` struct
//! written by `serde_json`, its keys in the order of the struct's fields.
//!
//! Numbers are written in shortest round-trip form in their own precision (Rust's `Display` of
//! `f32` and `f64`, which never uses an exponent), so `"loss":0.1` in an f32 run means the f32
//! nearest to 0.1 and an accuracy of one is `1`. (`serde_json`'s own float writer would print
//! `1.0` and `1e-7`; [`line()`] keeps the form the lines have always had.) JSON has no NaN or
//! infinity: a non-finite number is written as `null`.
//!
//! ```
//! use embedgrad_host_sim::json;
//! assert_eq!(
//!     json::step_line("perceptron", "f32", 10, 0.25f32),
//!     r#"{"example":"perceptron","precision":"f32","step":10,"loss":0.25}"#
//! );
//! assert_eq!(json::number(f64::NAN), "null");
//! assert_eq!(json::number(1.0f64), "1");
//! ```

use crate::Precision;
use embedgrad_core::Scalar;
use serde::{Serialize, Serializer};
use std::io;

/// A number of a run's precision: serialised as `f32` or `f64`, whichever `T` is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Num<T>(pub T);

impl<T: Scalar> Serialize for Num<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match Precision::of::<T>() {
            // Exact: an f32 widened to f64 and back is the same f32.
            Precision::F32 => s.serialize_f32(self.0.to_f64() as f32),
            Precision::F64 => s.serialize_f64(self.0.to_f64()),
        }
    }
}

/// A checksum, serialised as a string of 16 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hex(pub u64);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:016x}", self.0))
    }
}

/// `serde_json`'s compact format, but floats in the form of Rust's `Display`.
struct Plain;

impl serde_json::ser::Formatter for Plain {
    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, v: f32) -> io::Result<()> {
        write!(w, "{v}")
    }
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, v: f64) -> io::Result<()> {
        write!(w, "{v}")
    }
}

/// One JSON line (without the newline) of `value`.
pub fn line<V: Serialize + ?Sized>(value: &V) -> String {
    let mut buf = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, Plain);
    // Writing into a `Vec` cannot fail, and the lines' structs have only strings, integers,
    // floats and bools; a failure would leave a line short, never panic.
    if value.serialize(&mut ser).is_err() {
        buf.clear();
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A number in shortest round-trip form, or `null` when it is not finite.
pub fn number<T: Scalar>(v: T) -> String {
    line(&Num(v))
}

/// A seed example's logged step: `{"example":E,"precision":P,"step":S,"loss":L}`.
#[derive(Serialize)]
#[serde(bound = "Num<T>: Serialize")]
pub struct Step<'a, T> {
    /// The example's name.
    pub example: &'a str,
    /// `"f32"` or `"f64"`.
    pub precision: &'a str,
    /// The step whose loss this is.
    pub step: usize,
    /// The loss.
    pub loss: Num<T>,
}

/// A seed example's summary:
/// `{"example":E,"precision":P,"final_loss":L,"accuracy":A,"checksum":"<16 hex digits>"}`.
#[derive(Serialize)]
#[serde(bound = "Num<T>: Serialize")]
pub struct Final<'a, T> {
    /// The example's name.
    pub example: &'a str,
    /// `"f32"` or `"f64"`.
    pub precision: &'a str,
    /// The loss after the last update.
    pub final_loss: Num<T>,
    /// Training accuracy.
    pub accuracy: f64,
    /// FNV-1a of the data.
    pub checksum: Hex,
}

/// An epoch of a data set's training: `{"example":E,"precision":P,"epoch":N,"loss":L}`.
#[derive(Serialize)]
#[serde(bound = "Num<T>: Serialize")]
pub struct Epoch<'a, T> {
    /// The example's name.
    pub example: &'a str,
    /// `"f32"` or `"f64"`.
    pub precision: &'a str,
    /// The epoch, from 1.
    pub epoch: usize,
    /// The epoch's mean training loss.
    pub loss: Num<T>,
}

/// A data set's training summary: `{"example":E,"precision":P,"final_loss":L,"accuracy":A,
/// "test_accuracy":T,"checksum":"<16 hex digits>"}`.
#[derive(Serialize)]
#[serde(bound = "Num<T>: Serialize")]
pub struct HeldOut<'a, T> {
    /// The example's name.
    pub example: &'a str,
    /// `"f32"` or `"f64"`.
    pub precision: &'a str,
    /// The mean loss per training item after training.
    pub final_loss: Num<T>,
    /// Training accuracy.
    pub accuracy: f64,
    /// Held-out accuracy.
    pub test_accuracy: f64,
    /// FNV-1a of the data.
    pub checksum: Hex,
}

/// `{"example":E,"precision":P,"step":S,"loss":L}`.
pub fn step_line<T: Scalar>(example: &str, precision: &str, step: usize, loss: T) -> String {
    line(&Step {
        example,
        precision,
        step,
        loss: Num(loss),
    })
}

/// `{"example":E,"precision":P,"final_loss":L,"accuracy":A,"checksum":"<16 hex digits>"}`.
pub fn final_line<T: Scalar>(
    example: &str,
    precision: &str,
    final_loss: T,
    accuracy: f64,
    checksum: u64,
) -> String {
    line(&Final {
        example,
        precision,
        final_loss: Num(final_loss),
        accuracy,
        checksum: Hex(checksum),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            final_line("mlp_xor", "f64", 1.5f64, 0.99, 0x0123_4567_89ab_cdef),
            r#"{"example":"mlp_xor","precision":"f64","final_loss":1.5,"accuracy":0.99,"checksum":"0123456789abcdef"}"#
        );
        assert_eq!(number(1e-7f32), "0.0000001");
        assert_eq!(number(f32::INFINITY), "null");
        assert_eq!(line("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(line(&[Num(1.0f64), Num(-0.5)]), "[1,-0.5]");
    }

    #[test]
    fn shortest_round_trip() {
        // 0.1 in f32 is 0.100000001490116…; its shortest round-trip form is "0.1".
        assert_eq!(number(0.1f32), "0.1");
        assert_eq!(number(0.1f32 as f64), "0.10000000149011612");
        assert_eq!(number(1.0f64 / 3.0), "0.3333333333333333");
    }
}

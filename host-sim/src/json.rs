//! The JSON lines of `embedgrad-sim train --json`.
//!
//! Numbers are written in shortest round-trip form in their own precision (Rust's `Display` of
//! `f32` and `f64`, which never uses an exponent), so `"loss":0.1` in an f32 run means the f32
//! nearest to 0.1. JSON has no NaN or infinity: a non-finite number is written as `null`.
//!
//! ```
//! use embedgrad_host_sim::json;
//! assert_eq!(
//!     json::step_line("perceptron", "f32", 10, 0.25f32),
//!     r#"{"example":"perceptron","precision":"f32","step":10,"loss":0.25}"#
//! );
//! assert_eq!(json::number(f64::NAN), "null");
//! ```

use embedgrad_core::Scalar;

/// A number in shortest round-trip form, or `null` when it is not finite.
pub fn number<T: Scalar>(v: T) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".to_string()
    }
}

/// A JSON string literal (quotes and escapes).
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `{"example":E,"precision":P,"step":S,"loss":L}`.
pub fn step_line<T: Scalar>(example: &str, precision: &str, step: usize, loss: T) -> String {
    format!(
        "{{\"example\":{},\"precision\":{},\"step\":{step},\"loss\":{}}}",
        string(example),
        string(precision),
        number(loss)
    )
}

/// `{"example":E,"precision":P,"final_loss":L,"accuracy":A,"checksum":"<16 hex digits>"}`.
pub fn final_line<T: Scalar>(
    example: &str,
    precision: &str,
    final_loss: T,
    accuracy: f64,
    checksum: u64,
) -> String {
    format!(
        "{{\"example\":{},\"precision\":{},\"final_loss\":{},\"accuracy\":{},\"checksum\":\"{checksum:016x}\"}}",
        string(example),
        string(precision),
        number(final_loss),
        number(accuracy)
    )
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
        assert_eq!(string("a\"b\\c\n"), r#""a\"b\\c\u000a""#);
    }

    #[test]
    fn shortest_round_trip() {
        // 0.1 in f32 is 0.100000001490116…; its shortest round-trip form is "0.1".
        assert_eq!(number(0.1f32), "0.1");
        assert_eq!(number(0.1f32 as f64), "0.10000000149011612");
        assert_eq!(number(1.0f64 / 3.0), "0.3333333333333333");
    }
}

//! The [`Scalar`] trait and the one place transcendental functions come from.
//!
//! Every transcendental function used anywhere in embedgrad is called through [`Scalar`], whose
//! `f32`/`f64` implementations call into [`math`]. By default that is `libm` (accurate, the same
//! results on every target). With the `micromath` feature, `f32` switches to micromath's fast
//! approximations; they are called as functions (`micromath::F32(x).exp()`), never as methods on
//! `f32`, because in host tests std's inherent methods would silently win over the trait.
//!
//! micromath trades accuracy (relative errors around 1e-4 to 1e-3) for speed and size, and its
//! edge cases differ: for example its `ln(0)` is about −88 rather than −∞. Training still
//! works, but results are not bit-comparable with libm runs.

use crate::nopanic::SliceExt as _;
use core::fmt::{Debug, Display};
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

#[cfg(all(feature = "micromath", feature = "libm"))]
compile_error!(
    "embedgrad: choose one math backend for f32: `libm` (the default) or `micromath` \
     (depend with `default-features = false, features = [\"micromath\"]`)"
);
#[cfg(not(any(feature = "micromath", feature = "libm")))]
compile_error!("embedgrad: enable one math backend for f32: `libm` (the default) or `micromath`");

/// A floating-point element type: implemented for `f32` and `f64`.
///
/// ```
/// use embedgrad_core::Scalar;
/// fn logistic<T: Scalar>(x: T) -> T { T::ONE / (T::ONE + (-x).exp()) }
/// assert_eq!(logistic(0.0f64), 0.5);
/// assert!((logistic(2.0f32) - 0.880_797).abs() < 1e-6);
/// ```
pub trait Scalar:
    Copy
    + Default
    + PartialEq
    + PartialOrd
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Positive infinity.
    const INFINITY: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;
    /// Machine epsilon.
    const EPSILON: Self;
    /// `"f32"` or `"f64"`.
    const NAME: &'static str;
    /// Size in bytes.
    const BYTES: usize;

    /// Converts from `f64`, rounding to nearest.
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` (exact).
    fn to_f64(self) -> f64;
    /// Converts an integer count, rounding to nearest.
    fn from_usize(v: usize) -> Self;
    /// `e^self`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Cosine (radians).
    fn cos(self) -> Self;
    /// `self` raised to a floating-point power.
    fn powf(self, e: Self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// `true` unless NaN or infinite.
    fn is_finite(self) -> bool;
    /// Larger of two values; NaN-propagating is not guaranteed.
    #[inline]
    fn max(self, other: Self) -> Self {
        if other > self {
            other
        } else {
            self
        }
    }
    /// Smaller of two values.
    #[inline]
    fn min(self, other: Self) -> Self {
        if other < self {
            other
        } else {
            self
        }
    }
    /// Little-endian IEEE bytes written into `out` (length [`Scalar::BYTES`]); returns `false`
    /// when `out` has the wrong length.
    fn write_le(self, out: &mut [u8]) -> bool;
    /// Reads little-endian IEEE bytes; `None` when `bytes` has the wrong length.
    fn read_le(bytes: &[u8]) -> Option<Self>;
}

/// The math backend: `libm` by default, micromath for `f32` with the `micromath` feature.
pub mod math {
    /// `e^x` in f32.
    #[inline]
    pub fn expf(x: f32) -> f32 {
        #[cfg(feature = "micromath")]
        {
            micromath::F32(x).exp().0
        }
        #[cfg(feature = "libm")]
        {
            libm::expf(x)
        }
    }
    /// `ln x` in f32.
    #[inline]
    pub fn lnf(x: f32) -> f32 {
        #[cfg(feature = "micromath")]
        {
            micromath::F32(x).ln().0
        }
        #[cfg(feature = "libm")]
        {
            libm::logf(x)
        }
    }
    /// `√x` in f32.
    #[inline]
    pub fn sqrtf(x: f32) -> f32 {
        #[cfg(feature = "micromath")]
        {
            micromath::F32(x).sqrt().0
        }
        #[cfg(feature = "libm")]
        {
            libm::sqrtf(x)
        }
    }
    /// `tanh x` in f32 (micromath has none: built from its `exp`, saturating for |x| > 9).
    #[inline]
    pub fn tanhf(x: f32) -> f32 {
        #[cfg(feature = "micromath")]
        {
            if x > 9.0 {
                1.0
            } else if x < -9.0 {
                -1.0
            } else {
                let e = micromath::F32(2.0 * x).exp().0;
                (e - 1.0) / (e + 1.0)
            }
        }
        #[cfg(feature = "libm")]
        {
            libm::tanhf(x)
        }
    }
    /// `cos x` in f32.
    #[inline]
    pub fn cosf(x: f32) -> f32 {
        #[cfg(feature = "micromath")]
        {
            micromath::F32(x).cos().0
        }
        #[cfg(feature = "libm")]
        {
            libm::cosf(x)
        }
    }
    /// `x^e` in f32.
    #[inline]
    pub fn powf(x: f32, e: f32) -> f32 {
        #[cfg(feature = "micromath")]
        {
            micromath::F32(x).powf(micromath::F32(e)).0
        }
        #[cfg(feature = "libm")]
        {
            libm::powf(x, e)
        }
    }
}

macro_rules! impl_scalar {
    ($t:ty, $name:literal, $bytes:literal, $exp:expr, $ln:expr, $sqrt:expr, $tanh:expr, $cos:expr, $pow:expr, $abs:expr) => {
        impl Scalar for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const INFINITY: Self = <$t>::INFINITY;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const EPSILON: Self = <$t>::EPSILON;
            const NAME: &'static str = $name;
            const BYTES: usize = $bytes;
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_usize(v: usize) -> Self {
                v as $t
            }
            #[inline]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                $sqrt(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn cos(self) -> Self {
                $cos(self)
            }
            #[inline]
            fn powf(self, e: Self) -> Self {
                $pow(self, e)
            }
            #[inline]
            fn abs(self) -> Self {
                $abs(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            fn write_le(self, out: &mut [u8]) -> bool {
                let b = self.to_le_bytes();
                if out.len() != b.len() {
                    return false;
                }
                out.copy_from(&b);
                true
            }
            #[inline]
            fn read_le(bytes: &[u8]) -> Option<Self> {
                let arr = bytes.try_into().ok()?;
                Some(<$t>::from_le_bytes(arr))
            }
        }
    };
}

impl_scalar!(
    f32,
    "f32",
    4,
    math::expf,
    math::lnf,
    math::sqrtf,
    math::tanhf,
    math::cosf,
    math::powf,
    libm::fabsf
);
impl_scalar!(
    f64,
    "f64",
    8,
    libm::exp,
    libm::log,
    libm::sqrt,
    libm::tanh,
    libm::cos,
    libm::pow,
    libm::fabs
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips_and_math() {
        assert_eq!(f64::from_f64(0.1), 0.1);
        assert_eq!(f32::from_f64(0.1), 0.1f32);
        assert!((Scalar::exp(1.0f64) - core::f64::consts::E).abs() < 1e-15);
        assert!((Scalar::ln(core::f32::consts::E) - 1.0).abs() < 1e-3);
        assert_eq!(Scalar::max(1.0f32, 2.0), 2.0);
        assert_eq!(Scalar::min(1.0f32, 2.0), 1.0);
        assert!(!Scalar::is_finite(f32::NAN));
        let mut b = [0u8; 4];
        assert!(1.5f32.write_le(&mut b));
        assert_eq!(f32::read_le(&b), Some(1.5));
        assert_eq!(f32::read_le(&b[..3]), None);
        assert!(!1.5f32.write_le(&mut [0u8; 3]));
    }

    #[test]
    fn tanh_is_bounded() {
        for x in [-100.0f32, -9.5, -1.0, 0.0, 1.0, 9.5, 100.0] {
            let t = Scalar::tanh(x);
            assert!((-1.0..=1.0).contains(&t), "{x} -> {t}");
        }
    }
}

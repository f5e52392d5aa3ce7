//! `sigmoid`: `σ(x) = 1 / (1 + e^(−x))`, element-wise.
//!
//! Gradient: `∂J/∂x = G · σ(x) · (1 − σ(x))`, computed from the stored output. (The tutorial's
//! prose writes `σ(a)·σ(1−a)`, which is wrong: at `a = 0` it gives 0.3655 instead of 0.25.)
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[0.0, 5.0]]))?;
//! let y = g.sigmoid(x)?;
//! assert_eq!(g.eval(y)?.get(0, 0), Some(0.5));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

crate::unary_op! {
    /// Element-wise logistic sigmoid.
    Sigmoid, "sigmoid";
    /// Builder for [`Sigmoid`].
    SigmoidExt::sigmoid {
        /// `σ(x)`, element-wise.
    }
    // e^(−x) overflows to +∞ for very negative x, giving exactly 0: no NaN.
    forward(x) { T::ONE / (T::ONE + (-x).exp()) }
    backward(_, s, g) { g * s * (T::ONE - s) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedgrad_core::Shape;
    use crate::testing::*;

    #[test]
    fn literal() {
        let y = forward(&Sigmoid, &[(Shape::new(1, 4), vec![0.0f64, 2.0, -1000.0, 1000.0])]);
        assert_close(&y, &[0.5, 0.880_797_077_977_882_3, 0.0, 1.0], 1e-15);
    }

    #[test]
    fn gradient_at_zero_is_a_quarter_not_the_tutorials_value() {
        let d = backward(&Sigmoid, &[(Shape::new(1, 1), vec![0.0])], &[1.0], 0);
        assert_eq!(d, vec![0.25]);
    }

    #[test]
    fn gradient() {
        for (i, s) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Sigmoid, &[rand(i as u64, Shape::new(s.0, s.1), -4.0, 4.0)]);
        }
    }
}

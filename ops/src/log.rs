//! `log`: natural logarithm, element-wise. Gradient: `∂J/∂x = G / x`.
//!
//! `log(0)` is `−∞` and the loss becomes NaN; for training use the fused, stable
//! `softmax_cross_entropy` instead of `log(softmax(·))` when probabilities can reach 0.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1.0, core::f64::consts::E]]))?;
//! let y = g.log(x)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[0.0, 1.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

crate::unary_op! {
    /// Element-wise natural logarithm.
    Log, "log";
    /// Builder for [`Log`].
    LogExt::log {
        /// `ln x`, element-wise.
    }
    forward(x) { x.ln() }
    backward(x, _, g) { g / x }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedgrad_core::Shape;
    use crate::testing::*;

    #[test]
    fn literal() {
        let y = forward(&Log, &[(Shape::new(1, 3), vec![1.0f64, 10.0, 0.5])]);
        assert_close(&y, &[0.0, core::f64::consts::LN_10, -core::f64::consts::LN_2], 1e-15);
        let z = forward(&Log, &[(Shape::new(1, 1), vec![0.0f32])]);
        // libm gives −∞; micromath's approximation bottoms out at about −88 (documented in
        // embedgrad-core's `micromath` feature).
        #[cfg(feature = "libm")]
        assert_eq!(z, vec![f32::NEG_INFINITY]);
        #[cfg(not(feature = "libm"))]
        assert!(z[0] < -80.0, "{z:?}");
    }

    #[test]
    fn gradient() {
        for (i, s) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Log, &[rand(i as u64, Shape::new(s.0, s.1), 0.2, 3.0)]);
        }
    }
}

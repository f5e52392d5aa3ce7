//! `tanh`: `y = tanh(x)`, element-wise. Gradient: `∂J/∂x = G · (1 − y²)`, computed from the
//! stored output.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[0.0, 100.0]]))?;
//! let y = g.tanh(x)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[0.0, 1.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

crate::unary_op! {
    /// Element-wise hyperbolic tangent.
    Tanh, "tanh";
    /// Builder for [`Tanh`].
    TanhExt::tanh {
        /// `tanh(x)`, element-wise.
    }
    forward(x) { x.tanh() }
    backward(_, t, g) { g * (T::ONE - t * t) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedgrad_core::Shape;
    use crate::testing::*;

    #[test]
    fn literal() {
        // tanh(ln 2) = (2 − 1/2) / (2 + 1/2) = 0.6; its derivative is 1 − 0.36 = 0.64.
        let ln2 = core::f64::consts::LN_2;
        let y = forward(&Tanh, &[(Shape::new(1, 3), vec![0.0f64, ln2, -ln2])]);
        assert_close(&y, &[0.0, 0.6, -0.6], 1e-15);
        let d = backward(&Tanh, &[(Shape::new(1, 2), vec![0.0, ln2])], &[1.0, 1.0], 0);
        assert_close(&d, &[1.0, 0.64], 1e-15);
    }

    #[test]
    fn gradient() {
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Tanh, &[rand(i as u64, Shape::new(r, c), -3.0, 3.0)]);
        }
    }
}

//! `relu`: `y = max(x, 0)`, element-wise.
//!
//! Gradient: `∂J/∂x = G` where `x > 0`, else 0. At the kink `x = 0` the derivative is taken
//! as 0 (a subgradient; the usual convention).
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[-2.0, 0.0, 3.0]]))?;
//! let y = g.relu(x)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[0.0, 0.0, 3.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

crate::unary_op! {
    /// Element-wise rectified linear unit.
    Relu, "relu";
    /// Builder for [`Relu`].
    ReluExt::relu {
        /// `max(x, 0)`, element-wise.
    }
    forward(x) { if x > T::ZERO { x } else { T::ZERO } }
    backward(x, _, g) { if x > T::ZERO { g } else { T::ZERO } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedgrad_core::Shape;
    use crate::testing::*;

    #[test]
    fn literal() {
        let x = (Shape::new(1, 4), vec![-1.5f64, 0.0, 2.0, -0.0]);
        assert_eq!(forward(&Relu, std::slice::from_ref(&x)), vec![0.0, 0.0, 2.0, 0.0]);
        // Subgradient 0 at the kink.
        assert_eq!(backward(&Relu, &[x], &[1.0, 1.0, 3.0, 1.0], 0), vec![0.0, 0.0, 3.0, 0.0]);
    }

    #[test]
    fn gradient() {
        // Random points are almost surely away from the kink at 0 (by far more than h = 1e-6).
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5), (4, 4)].into_iter().enumerate() {
            grad_check(&Relu, &[rand(i as u64, Shape::new(r, c), -3.0, 3.0)]);
        }
    }
}

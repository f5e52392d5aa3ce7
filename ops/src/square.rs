//! `square`: `y = x²`, element-wise. Gradient: `∂J/∂x = 2x · G`.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[3.0, -0.5]]))?;
//! let y = g.square(x)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[9.0, 0.25]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

crate::unary_op! {
    /// Element-wise square.
    Square, "square";
    /// Builder for [`Square`].
    SquareExt::square {
        /// `x²`, element-wise.
    }
    forward(x) { x * x }
    backward(x, _, g) { g * (x + x) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedgrad_core::Shape;
    use crate::testing::*;

    #[test]
    fn literal() {
        let y = forward(&Square, &[(Shape::new(2, 2), vec![1.0f32, -2.0, 0.5, 0.0])]);
        assert_eq!(y, vec![1.0, 4.0, 0.25, 0.0]);
        let d = backward(&Square, &[(Shape::new(1, 3), vec![1.0, -2.0, 3.0])], &[1.0, 1.0, 0.5], 0);
        assert_eq!(d, vec![2.0, -4.0, 3.0]);
    }

    #[test]
    fn gradient() {
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Square, &[rand(i as u64, Shape::new(r, c), -3.0, 3.0)]);
        }
    }
}

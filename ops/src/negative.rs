//! `negative`: `y = −x`, element-wise. Gradient: `∂J/∂x = −G`.
//!
//! ```
//! use embedgrad_core::{Matrix};
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1.0, -2.0]]))?;
//! let y = g.negative(x)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[-1.0, 2.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

crate::unary_op! {
    /// Element-wise negation.
    Negative, "negative";
    /// Builder for [`Negative`].
    NegativeExt::negative {
        /// `−x`.
    }
    forward(x) { -x }
    backward(_, _, g) { -g }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedgrad_core::Shape;
    use crate::testing::*;

    #[test]
    fn literal() {
        let y = forward(&Negative, &[(Shape::new(1, 3), vec![1.0f32, 0.0, -2.5])]);
        assert_eq!(y, vec![-1.0, -0.0, 2.5]);
    }

    #[test]
    fn gradient() {
        for (i, s) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Negative, &[rand(i as u64, Shape::new(s.0, s.1), -2.0, 2.0)]);
        }
    }
}

//! `exp`: `y = eˣ`, element-wise. Gradient: `∂J/∂x = G · eˣ`, computed from the stored output.
//!
//! Large inputs overflow to `+∞` (above about 88.7 in f32, 709.8 in f64) and very negative
//! ones underflow to 0; neither panics. For probabilities prefer `softmax`, and for losses the
//! fused `softmax_cross_entropy`, which never form `eˣ` of an unshifted logit.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[0.0, 1.0]]))?;
//! let y = g.exp(x)?;
//! let v = g.eval(y)?;
//! assert_eq!(v.get(0, 0), Some(1.0));
//! assert!((v.data[0][1] - core::f64::consts::E).abs() < 1e-15);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

crate::unary_op! {
    /// Element-wise exponential.
    Exp, "exp";
    /// Builder for [`Exp`].
    ExpExt::exp {
        /// `eˣ`, element-wise.
    }
    forward(x) { x.exp() }
    backward(_, e, g) { g * e }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedgrad_core::Shape;
    use crate::testing::*;

    #[test]
    fn literal() {
        let e = core::f64::consts::E;
        let y = forward(&Exp, &[(Shape::new(1, 4), vec![0.0f64, 1.0, -1.0, 2.0])]);
        assert_close(&y, &[1.0, e, 1.0 / e, e * e], 1e-15);
        let d = backward(&Exp, &[(Shape::new(1, 2), vec![0.0, 1.0])], &[2.0, 1.0], 0);
        assert_close(&d, &[2.0, e], 1e-15);
        // Overflow and underflow saturate; nothing panics.
        let big = forward(&Exp, &[(Shape::new(1, 2), vec![100.0f32, -200.0])]);
        assert_eq!(big, vec![f32::INFINITY, 0.0]);
    }

    #[test]
    fn gradient() {
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Exp, &[rand(i as u64, Shape::new(r, c), -3.0, 3.0)]);
        }
    }
}

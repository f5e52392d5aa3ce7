//! `sparse_softmax_cross_entropy`: [`softmax_cross_entropy`](crate::softmax_cross_entropy)
//! with class labels instead of one-hot rows — logits `x` (`B×K`) and labels `l` (`B×1`, each
//! a class index `0..K` stored as a scalar), **summed** over the rows:
//!
//! `J = Σ_i −log softmax(x_i)_(l_i) = Σ_i (m_i + log Σ_k e^(x_ik − m_i) − x_(i,l_i))`
//!
//! It needs `B` scalars for the targets instead of `B·K` (on a 10-class problem a tenth of
//! the memory), and is stable for logits of any finite size, like the one-hot form.
//!
//! **Invalid labels.** A label that is not an integer in `0..K` (negative, too large,
//! fractional, NaN) marks its row as ignored: the row contributes 0 to the loss and 0 to the
//! gradient. Nothing panics. This is how a short last batch is padded (the data sets of
//! `embedgrad-train` write the label `K` into padding rows), so the op itself cannot refuse
//! such a label — it cannot tell padding from a mistake, and an op's kernel cannot return an
//! error. Labels are therefore checked where they *enter*: `embedgrad-train`'s `Dataset::new`
//! refuses a label `≥ K` with the row (`Error::InvalidLabel`), and labels you feed yourself
//! are checked by [`check_labels`], which names the first bad row and its value:
//!
//! ```
//! use embedgrad_core::Error;
//! use embedgrad_ops::sparse_softmax_cross_entropy::check_labels;
//! assert_eq!(check_labels(&[0.0f32, 2.0, 1.0], 3), Ok(()));
//! let err = check_labels(&[0.0f32, 3.0], 3).unwrap_err(); // 1-based labels, say
//! assert!(matches!(err, Error::InvalidLabel { row: 1, classes: 3, .. }));
//! assert_eq!(err.to_string(), "invalid label 3 in row 1: must be a class index 0..3");
//! ```
//!
//! Gradients, with `p = softmax(x)` recomputed row by row:
//! - logits: `∂J/∂x_ij = G · (p_ij − [j = l_i])` for valid rows, 0 for ignored rows;
//! - labels: 0 — the loss is piecewise constant in a label, so 0 is its derivative wherever
//!   it exists. A label that depends on a variable thus gets nothing added.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 8, 32> = StdGraph::new();
//! let x = g.variable(&Matrix::new([[0.0, 0.0], [5.0, 1.0], [1.0, 2.0]]))?;
//! let labels = g.constant(&Matrix::new([[1.0], [7.0], [0.0]]))?; // 7 is out of range: ignored
//! let loss = g.sparse_softmax_cross_entropy(x, labels)?;
//! let j = g.forward_backward(loss)?;
//! let want = 2f64.ln() + (1.0 + (1.0f64).exp()).ln(); // ln 2 + (log-sum-exp(1, 2) − 1)
//! assert!((j - want).abs() < 1e-14);
//! assert_eq!(g.grad(x)?.data[1], [0.0, 0.0]); // the ignored row
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::softmax_cross_entropy::{log_prob, log_sum_exp};
use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Fused softmax and cross-entropy against class labels, summed over rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SparseSoftmaxCrossEntropy;

/// The class index a label scalar stands for: `Some(i)` when the label is exactly the integer
/// `i` and `i < classes`; `None` (the row is ignored) otherwise, NaN included.
///
/// ```
/// use embedgrad_ops::sparse_softmax_cross_entropy::class_index;
/// assert_eq!(class_index(3.0f32, 10), Some(3));
/// assert_eq!(class_index(10.0f32, 10), None);
/// assert_eq!(class_index(-1.0f32, 10), None);
/// assert_eq!(class_index(2.5f32, 10), None);
/// assert_eq!(class_index(f32::NAN, 10), None);
/// ```
pub fn class_index<T: Scalar>(label: T, classes: usize) -> Option<usize> {
    let l = label.to_f64();
    // `contains` is false for NaN too.
    if !(0.0..classes as f64).contains(&l) {
        return None;
    }
    let i = l as usize; // in range: 0 ≤ l < classes
    (i as f64 == l).then_some(i)
}

/// Checks a column of labels before it is fed: each must be an integer in `0..classes`
/// (padding rows, which the op ignores on purpose, are not labels: leave them out of the
/// slice, or check the real rows only).
///
/// # Errors
/// [`Error::InvalidLabel`] with the first bad row, its label and `classes`.
pub fn check_labels<T: Scalar>(labels: &[T], classes: usize) -> Result<(), Error> {
    match labels
        .iter()
        .enumerate()
        .find(|(_, &l)| class_index(l, classes).is_none())
    {
        None => Ok(()),
        Some((row, &l)) => Err(Error::InvalidLabel {
            row,
            label: l.to_f64(),
            classes,
        }),
    }
}

impl<T: Scalar> Op<T> for SparseSoftmaxCrossEntropy {
    fn name(&self) -> &'static str {
        "sparse_softmax_cross_entropy"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 2)?;
        match s {
            [x, l] if l.rows == x.rows && l.cols == 1 => Ok(Shape::new(1, 1)),
            [x, l] => Err(Error::ShapeMismatch {
                expected: Shape::new(x.rows, 1),
                found: *l,
            }),
            _ => Err(Error::InvalidArgument),
        }
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let [logits, labels] = x else { return };
        let k = logits.cols();
        let mut total = T::ZERO;
        for (xrow, &l) in logits.row_iter().zip(labels.as_slice()) {
            let Some(target) = class_index(l, k).and_then(|i| xrow.get(i)) else {
                continue;
            };
            let (m, lse) = log_sum_exp(xrow);
            total -= log_prob(*target, m, lse);
        }
        if let Some(o) = y.as_mut_slice().first_mut() {
            *o = total;
        }
    }
    fn backward(
        &self,
        index: usize,
        x: &[MatRef<'_, T>],
        _: MatRef<'_, T>,
        g: MatRef<'_, T>,
        mut dx: MatMut<'_, T>,
    ) {
        if index != 0 {
            return; // labels: derivative 0
        }
        let [logits, labels] = x else { return };
        let k = logits.cols();
        let g = g.as_slice().first().copied().unwrap_or(T::ZERO);
        let rows = logits.row_iter().zip(labels.as_slice());
        for ((xrow, &l), drow) in rows.zip(dx.row_iter_mut()) {
            let Some(target) = class_index(l, k) else {
                continue;
            };
            let (m, lse) = log_sum_exp(xrow);
            for (j, (d, &x)) in drow.iter_mut().zip(xrow).enumerate() {
                let p = log_prob(x, m, lse).exp();
                *d += if j == target { g * (p - T::ONE) } else { g * p };
            }
        }
    }
}

/// Builder for [`SparseSoftmaxCrossEntropy`].
pub trait SparseSoftmaxCrossEntropyExt<T> {
    /// `Σ_i −log softmax(logits_i)[labels_i]`, with `labels` a column of class indices
    /// (rows with an invalid label are ignored: check fed labels with [`check_labels`]).
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn sparse_softmax_cross_entropy<const B: usize, const K: usize>(
        &mut self,
        logits: Tensor<B, K>,
        labels: Tensor<B, 1>,
    ) -> Result<Tensor<1, 1>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize>
    SparseSoftmaxCrossEntropyExt<T> for Graph<T, O, N, S>
{
    fn sparse_softmax_cross_entropy<const B: usize, const K: usize>(
        &mut self,
        logits: Tensor<B, K>,
        labels: Tensor<B, 1>,
    ) -> Result<Tensor<1, 1>, Error> {
        self.op(
            StdOp::from(SparseSoftmaxCrossEntropy).into(),
            &[logits.id(), labels.id()],
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_labels_names_the_first_bad_row_and_value() {
        use super::check_labels;
        use embedgrad_core::Error;
        assert_eq!(check_labels(&[0.0f64, 1.0, 2.0], 3), Ok(()));
        assert_eq!(check_labels::<f32>(&[], 3), Ok(()));
        for (labels, row, label) in [
            (&[0.0f64, 3.0, 9.0][..], 1, 3.0), // ≥ classes: the first one
            (&[-1.0][..], 0, -1.0),
            (&[1.0, 1.5][..], 1, 1.5),
        ] {
            assert_eq!(
                check_labels(labels, 3),
                Err(Error::InvalidLabel {
                    row,
                    label,
                    classes: 3
                })
            );
        }
        assert!(matches!(
            check_labels(&[0.0f32, f32::NAN], 3),
            Err(Error::InvalidLabel { row: 1, classes: 3, label }) if label.is_nan()
        ));
    }

    use super::*;
    use crate::softmax_cross_entropy::SoftmaxCrossEntropy;
    use crate::testing::*;

    #[test]
    fn literal() {
        // Row 0: (0, 0), label 0 → ln 2. Row 1: (ln 3, 0), label 1 → p = ¼ → ln 4.
        let ln3 = 3f64.ln();
        let inputs = [
            (Shape::new(2, 2), vec![0.0, 0.0, ln3, 0.0]),
            (Shape::new(2, 1), vec![0.0, 1.0]),
        ];
        let y = forward(&SparseSoftmaxCrossEntropy, &inputs);
        assert_close(&y, &[2f64.ln() + 4f64.ln()], 1e-15);
        let dx = backward(&SparseSoftmaxCrossEntropy, &inputs, &[2.0], 0);
        assert_close(&dx, &[-1.0, 1.0, 1.5, -1.5], 1e-15);
        // Labels get a zero gradient.
        assert_eq!(backward(&SparseSoftmaxCrossEntropy, &inputs, &[2.0], 1), vec![0.0, 0.0]);
    }

    #[test]
    fn invalid_labels_ignore_their_row() {
        let x = vec![0.0, 0.0, 1.0, 3.0, -2.0, 4.0];
        for bad in [-1.0, 2.0, 0.5, 1e300, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let inputs = [(Shape::new(3, 2), x.clone()), (Shape::new(3, 1), vec![1.0, bad, 0.0])];
            let only = [
                (Shape::new(2, 2), vec![0.0, 0.0, -2.0, 4.0]),
                (Shape::new(2, 1), vec![1.0, 0.0]),
            ];
            let y = forward(&SparseSoftmaxCrossEntropy, &inputs);
            assert_eq!(y, forward(&SparseSoftmaxCrossEntropy, &only), "label {bad}");
            let dx = backward(&SparseSoftmaxCrossEntropy, &inputs, &[1.0], 0);
            assert_eq!(&dx[2..4], &[0.0, 0.0], "label {bad}");
            let d_only = backward(&SparseSoftmaxCrossEntropy, &only, &[1.0], 0);
            assert_eq!([&dx[..2], &dx[4..]].concat(), d_only);
        }
        // All rows ignored: zero loss.
        let none = [(Shape::new(1, 3), vec![1.0f32, 2.0, 3.0]), (Shape::new(1, 1), vec![3.0])];
        assert_eq!(forward(&SparseSoftmaxCrossEntropy, &none), vec![0.0]);
    }

    #[test]
    fn equals_the_one_hot_form() {
        let (s, x) = rand(5, Shape::new(6, 4), -4.0, 4.0);
        let labels: Vec<f64> = [3, 0, 2, 2, 1, 0].iter().map(|&l| l as f64).collect();
        let mut onehot = vec![0.0; 24];
        for (r, &l) in labels.iter().enumerate() {
            onehot[r * 4 + l as usize] = 1.0;
        }
        let sparse = [(s, x.clone()), (Shape::new(6, 1), labels)];
        let dense = [(s, x), (s, onehot)];
        let ys = forward(&SparseSoftmaxCrossEntropy, &sparse);
        let yd = forward(&SoftmaxCrossEntropy, &dense);
        assert_close(&ys, &yd, 1e-13);
        let gs = backward(&SparseSoftmaxCrossEntropy, &sparse, &[0.7], 0);
        let gd = backward(&SoftmaxCrossEntropy, &dense, &[0.7], 0);
        assert_close(&gs, &gd, 1e-15);
    }

    #[test]
    fn huge_logits_stay_finite_in_f32() {
        let inputs = [
            (Shape::new(2, 3), vec![1e30f32, -1e30, 0.0, -3e38, 3e38, 1.0]),
            (Shape::new(2, 1), vec![2.0, 1.0]),
        ];
        // Row 0: label 2 has logit 0 against a max of 1e30: loss 1e30. Row 1 right: 0.
        let y = forward(&SparseSoftmaxCrossEntropy, &inputs);
        assert_eq!(y, vec![1e30]);
    }

    #[test]
    fn shapes() {
        let op = SparseSoftmaxCrossEntropy;
        let ok = Op::<f32>::out_shape(&op, &[Shape::new(4, 10), Shape::new(4, 1)]);
        assert_eq!(ok, Ok(Shape::new(1, 1)));
        assert!(Op::<f32>::out_shape(&op, &[Shape::new(4, 10), Shape::new(4, 10)]).is_err());
        assert!(Op::<f32>::out_shape(&op, &[Shape::new(4, 10), Shape::new(3, 1)]).is_err());
    }

    #[test]
    fn gradient() {
        for (i, (r, c)) in [(1, 1), (1, 3), (3, 2), (5, 4)].into_iter().enumerate() {
            // Moderate logits keep p well above the difference quotient's rounding error (see
            // the one-hot form's test).
            let labels: Vec<f64> = (0..r).map(|row| ((row * 5 + i) % c) as f64).collect();
            grad_check_inputs(
                &SparseSoftmaxCrossEntropy,
                &[rand(i as u64, Shape::new(r, c), -1.5, 1.5), (Shape::new(r, 1), labels)],
                &[0],
            );
        }
    }
}

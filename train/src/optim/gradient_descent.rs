//! The tutorial's gradient descent: `W ← W − η ∂J/∂W`, stateless.

use super::{check_learning_rate, minimize, refused_update, LearningRate, Optimizer};
use embedgrad_core::{Error, Graph, Op, Scalar, Tensor, VariableMut};

/// The tutorial's `GradientDescentOptimizer`: `W ← W − η ∂J/∂W`.
///
/// ```
/// use embedgrad_core::Matrix;
/// use embedgrad_ops::prelude::*;
/// use embedgrad_train::GradientDescent;
/// let mut g: StdGraph<f64, 4, 16> = StdGraph::new();
/// let w = g.variable(&Matrix::new([[3.0]]))?;
/// let sq = g.multiply(w, w)?;
/// let loss = g.reduce_sum(sq)?;
/// let mut opt = GradientDescent::new(0.25);
/// assert_eq!(opt.minimize(&mut g, loss)?, 9.0); // the loss before the update
/// assert_eq!(g.value(w)?, Matrix::new([[1.5]])); // 3 − 0.25 · 6
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradientDescent<T> {
    /// Step size η.
    pub learning_rate: T,
}

impl<T: Scalar> GradientDescent<T> {
    /// An optimizer with step size `learning_rate`, not checked here (so that it can be a
    /// `const`): [`Optimizer::apply`] refuses a learning rate that is negative, NaN or infinite.
    /// Use [`GradientDescent::try_new`] to be told at once.
    pub const fn new(learning_rate: T) -> Self {
        Self { learning_rate }
    }

    /// An optimizer with step size `learning_rate`, checked.
    ///
    /// ```
    /// use embedgrad_core::Error;
    /// use embedgrad_train::GradientDescent;
    /// assert!(GradientDescent::try_new(0.1f32).is_ok());
    /// assert!(matches!(
    ///     GradientDescent::try_new(-0.1f32),
    ///     Err(Error::InvalidParameter { name: "learning_rate", .. })
    /// ));
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`"learning_rate"`, with the value) unless `learning_rate`
    /// is finite and `≥ 0`.
    pub fn try_new(learning_rate: T) -> Result<Self, Error> {
        let opt = Self::new(learning_rate);
        opt.validate()?;
        Ok(opt)
    }

    /// Checks the settings, as [`Optimizer::apply`] does before each update.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`"learning_rate"`, with the value) unless the learning
    /// rate is finite and `≥ 0`.
    pub fn validate(&self) -> Result<(), Error> {
        check_learning_rate(self.learning_rate)
    }

    /// One training step: forward, backprop, update (see [`minimize`]); returns the loss
    /// computed before the update.
    ///
    /// # Errors
    /// As [`minimize`].
    pub fn minimize<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        loss: Tensor<1, 1>,
    ) -> Result<T, Error> {
        minimize(self, g, loss)
    }
}

impl<T: Scalar> Optimizer<T> for GradientDescent<T> {
    fn fingerprint(&self) -> u32 {
        crate::checkpoint::Fingerprint::new(b"gradient-descent").finish()
    }

    fn begin_step(&mut self) -> Result<(), Error> {
        self.validate()
    }

    fn update_variable(&mut self, v: VariableMut<'_, T>) -> Result<(), Error> {
        if !descent_fits(v.value, v.grad, self.learning_rate) {
            return Err(refused_update(v.id, v.grad));
        }
        descend(v.value, v.grad, self.learning_rate);
        Ok(())
    }

    fn apply<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
    ) -> Result<(), Error> {
        self.validate()?;
        let lr = self.learning_rate;
        // First a dry run: an update that would overflow a variable (a huge step or gradient)
        // is refused before anything changes.
        g.for_each_variable(|v| {
            if v.reached && !descent_fits(v.value, v.grad, lr) {
                Err(refused_update(v.id, v.grad))
            } else {
                Ok(())
            }
        })?;
        g.for_each_variable(|v| {
            if v.reached {
                descend(v.value, v.grad, lr);
            }
            Ok(())
        })
    }
}

/// Whether `w − η d` stays finite for every entry of one variable.
fn descent_fits<T: Scalar>(value: &[T], grad: &[T], lr: T) -> bool {
    value
        .iter()
        .zip(grad)
        .all(|(&w, &d)| (w - lr * d).is_finite())
}

/// `w ← w − η d` for every entry of one variable.
fn descend<T: Scalar>(value: &mut [T], grad: &[T], lr: T) {
    for (w, &d) in value.iter_mut().zip(grad) {
        *w -= lr * d;
    }
}

impl<T: Scalar> LearningRate<T> for GradientDescent<T> {
    fn learning_rate(&self) -> T {
        self.learning_rate
    }
    fn set_learning_rate(&mut self, lr: T) {
        self.learning_rate = lr;
    }
}

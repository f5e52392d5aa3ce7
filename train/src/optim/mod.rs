//! Optimizers and the training step: the [`Optimizer`] trait, gradient descent, [`Momentum`]
//! (classical or Nesterov) and [`Adam`] with their per-parameter state in fixed arrays, the
//! [`LearningRate`] hook that schedules use, gradient clipping by global norm
//! ([`clip_grad_norm`]), and the minimise step with gradient accumulation over micro-batches
//! ([`minimize`], [`accumulate`]). One file per optimizer.
//!
//! The state arrays are sized by a const generic `P`: the number of trainable scalars, which
//! [`Graph::trainable_scalars`] reports (frozen variables take no state; see
//! [`layers`](crate::layers) for `P` as a `const`, and `embedgrad_data::seed::Example::parameters`
//! for the seed nets). `P` may be larger than the graph needs (the rest is unused); when it is
//! smaller, [`Optimizer::apply`] returns [`Error::TooSmall`] (needed and available) before changing anything.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! use embedgrad_train::{minimize, Adam};
//!
//! // Minimise (w − 3)² from w = 0.
//! let mut g: StdGraph<f32, 8, 16> = StdGraph::new();
//! let w = g.variable(&Matrix::new([[0.0f32]]))?;
//! let three = g.constant(&Matrix::new([[3.0f32]]))?;
//! let loss = g.mse(w, three)?;
//! let mut opt: Adam<f32, 1> = Adam::new(0.1);
//! for _ in 0..300 {
//!     minimize(&mut opt, &mut g, loss)?;
//! }
//! assert!((g.value(w)?.data[0][0] - 3.0).abs() < 0.05);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

mod adam;
mod clip;
mod gradient_descent;
mod momentum;
mod step;

pub use adam::{adam_step, Adam};
pub use clip::{clip_grad_norm, grad_norm, minimize_clipped};
pub use gradient_descent::GradientDescent;
pub use momentum::{momentum_step, Momentum};
pub use step::{
    accumulate, accumulate_with, argmax, check_gradients, evaluate, gradients_finite, minimize,
    step_accumulated, step_accumulated_with, Feeds,
};

use embedgrad_core::{Error, Graph, NodeId, Op, Origin, Scalar, Tensor, VariableMut};

/// The error for an update of variable `id` that an optimizer refuses because it would not be
/// finite: [`Origin::Gradient`] when the gradient itself holds a NaN or infinity, else
/// [`Origin::Update`] (the step or the state would overflow). Only computed on a refusal.
pub(crate) fn refused_update<T: Scalar>(id: NodeId, grad: &[T]) -> Error {
    let origin = if grad.iter().all(|d| d.is_finite()) {
        Origin::Update
    } else {
        Origin::Gradient
    };
    Error::non_finite(origin, id)
}

/// Updates variables from the gradients the graph holds.
pub trait Optimizer<T: Scalar> {
    /// Applies one update to every variable the last backprop reached.
    ///
    /// The optimizers of this crate refuse (with [`Error::NonFinite`], changing nothing) an
    /// update that would make a variable or their state non-finite, and (with
    /// [`Error::InvalidParameter`], changing nothing) settings out of range: a learning rate
    /// that is negative, NaN or infinite, a momentum or Adam decay outside `[0, 1)`, an Adam
    /// epsilon that is not finite and `≥ 0`.
    ///
    /// # Errors
    /// Implementation-specific; for this crate's optimizers [`Error::InvalidParameter`] (the
    /// parameter's name, value and range), [`Error::TooSmall`] when per-parameter
    /// state is too small for the graph, [`Error::NonFinite`] for an overflowing update.
    fn apply<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
    ) -> Result<(), Error>;

    /// Per-parameter state (momentum, Adam moments…), laid out as the optimizer likes, for
    /// checkpoints. Empty for stateless optimizers.
    fn state(&self) -> &[T] {
        &[]
    }

    /// Mutable per-parameter state, for restoring checkpoints.
    fn state_mut(&mut self) -> &mut [T] {
        &mut []
    }

    /// Updates applied so far (Adam's `t`), for checkpoints. 0 for optimizers without one.
    fn update_count(&self) -> u32 {
        0
    }

    /// Restores the update counter.
    fn set_update_count(&mut self, _count: u32) {}

    /// The optimizer's kind and fixed settings as a fingerprint, for checkpoints: a record
    /// restores only into an optimizer with the same one (see
    /// [`checkpoint::Fingerprint`](crate::checkpoint::Fingerprint)). The learning rate is not
    /// part of it: a schedule changes it while training. 0 by default ("not declared"):
    /// implement it for your own optimizer so that its checkpoints cannot be restored into
    /// another one whose state happens to have the same length.
    fn fingerprint(&self) -> u32 {
        0
    }

    /// Starts a planned step ([`Graph::step`]): checks the settings and counts the update
    /// (Adam's `t`). The default does nothing.
    ///
    /// # Errors
    /// As [`Optimizer::apply`] for bad settings.
    fn begin_step(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// Updates one variable from its final gradient, during a planned step's backward sweep
    /// (called once per trainable variable, after [`Optimizer::begin_step`]). The optimizers
    /// of this crate check the variable's whole update first and change nothing of it when it
    /// would overflow. The default refuses: implement it to train with a step plan.
    ///
    /// # Errors
    /// [`Error::NotPlanned`] by default; [`Error::NonFinite`] for a non-finite gradient or an
    /// overflowing update; [`Error::TooSmall`] when the state is too small.
    fn update_variable(&mut self, v: VariableMut<'_, T>) -> Result<(), Error> {
        Err(Error::NotPlanned(v.id))
    }

    /// One training step with this optimizer: forward, backprop, update — the free
    /// [`minimize`] (a planned step when a plan for `loss` is installed). Returns the loss
    /// computed before the update.
    ///
    /// # Errors
    /// As [`minimize`]; no variable is changed on an error.
    fn minimize<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        loss: Tensor<1, 1>,
    ) -> Result<T, Error>
    where
        Self: Sized,
    {
        minimize(self, g, loss)
    }
}

/// Read and set an optimizer's step size: what a [`Schedule`](crate::Schedule) drives.
pub trait LearningRate<T> {
    /// The current step size.
    fn learning_rate(&self) -> T;
    /// Sets the step size for the following updates.
    fn set_learning_rate(&mut self, lr: T);
}

/// Refuses a learning rate that is negative, NaN or infinite. Zero is allowed: it is where a
/// schedule decaying to 0 ends (the step then changes nothing).
pub(crate) fn check_learning_rate<T: Scalar>(lr: T) -> Result<(), Error> {
    check_non_negative("learning_rate", lr)
}

/// Refuses a setting `name` that is negative, NaN or infinite.
pub(crate) fn check_non_negative<T: Scalar>(name: &'static str, v: T) -> Result<(), Error> {
    if v.is_finite() && v >= T::ZERO {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value: v.to_f64(),
            expected: "finite and >= 0",
        })
    }
}

/// Refuses a decay (momentum, Adam's betas) outside `[0, 1)`.
pub(crate) fn check_decay<T: Scalar>(name: &'static str, b: T) -> Result<(), Error> {
    if b >= T::ZERO && b < T::ONE {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value: b.to_f64(),
            expected: "in [0, 1)",
        })
    }
}

/// The error for a state of `available` scalars (per moment) where `needed` are used.
pub(crate) const fn state_too_small(needed: usize, available: usize) -> Error {
    Error::TooSmall {
        what: "optimizer state",
        needed,
        available,
    }
}

/// Refuses a graph with more trainable scalars than the optimizer's state holds.
fn check_capacity<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
    p: usize,
) -> Result<(), Error> {
    let needed = g.trainable_scalars();
    if needed > p {
        Err(Error::TooSmall {
            what: "optimizer state",
            needed,
            available: p,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;

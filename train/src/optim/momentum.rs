//! Gradient descent with momentum, classical or Nesterov, one velocity per trainable scalar.

use super::{
    check_capacity, check_decay, check_learning_rate, refused_update, state_too_small,
    LearningRate, Optimizer,
};
use embedgrad_core::{Error, Graph, Op, Scalar, VariableMut};

/// Stochastic gradient descent with momentum, classical or Nesterov, with one velocity per
/// trainable scalar.
///
/// Per scalar `w` with gradient `d` and velocity `v` (initially 0), in the form PyTorch uses:
///
/// - classical: `v ← μ·v + d`, then `w ← w − η·v`;
/// - Nesterov: `v ← μ·v + d`, then `w ← w − η·(d + μ·v)`.
///
/// With a constant `η` the classical form equals the other common one (`v ← μv − ηd`,
/// `w ← w + v`). `μ = 0` is plain gradient descent. Variables the last backprop did not reach
/// are not updated and keep their velocity.
///
/// ```
/// use embedgrad_core::Matrix;
/// use embedgrad_ops::prelude::*;
/// use embedgrad_train::{minimize, Momentum};
/// // J = w², dJ/dw = 2w, from w = 1 with η = 0.1, μ = 0.9.
/// let mut g: StdGraph<f64, 4, 8> = StdGraph::new();
/// let w = g.variable(&Matrix::new([[1.0]]))?;
/// let sq = g.square(w)?;
/// let loss = g.reduce_sum(sq)?;
/// let mut opt: Momentum<f64, 1> = Momentum::new(0.1, 0.9);
/// minimize(&mut opt, &mut g, loss)?; // v = 2,             w = 1 − 0.2   = 0.8
/// minimize(&mut opt, &mut g, loss)?; // v = 0.9·2 + 1.6 = 3.4, w = 0.8 − 0.34 = 0.46
/// assert!((g.value(w)?.data[0][0] - 0.46).abs() < 1e-15);
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Momentum<T, const P: usize> {
    /// Step size `η`.
    pub learning_rate: T,
    /// Momentum `μ` (typically 0.9).
    pub momentum: T,
    /// Nesterov's variant when `true`.
    pub nesterov: bool,
    velocity: [T; P],
}

impl<T: Scalar, const P: usize> Momentum<T, P> {
    /// Classical momentum with step size `learning_rate` and momentum `momentum`.
    pub const fn new(learning_rate: T, momentum: T) -> Self {
        Self {
            learning_rate,
            momentum,
            nesterov: false,
            velocity: [T::ZERO; P],
        }
    }

    /// Nesterov momentum with step size `learning_rate` and momentum `momentum`.
    pub const fn nesterov(learning_rate: T, momentum: T) -> Self {
        Self {
            learning_rate,
            momentum,
            nesterov: true,
            velocity: [T::ZERO; P],
        }
    }

    /// The velocities, one per trainable scalar in [`Graph::for_each_variable`] order.
    pub fn velocity(&self) -> &[T] {
        &self.velocity
    }

    /// Forgets the velocities (back to the state of a new optimizer).
    pub fn reset(&mut self) {
        self.velocity = [T::ZERO; P];
    }

    /// Checks the settings, as [`Optimizer::apply`] does before each update (the
    /// constructors are `const` and do not).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (name, value, range) for a learning rate that is negative,
    /// NaN or infinite, or a momentum outside `[0, 1)`.
    pub fn validate(&self) -> Result<(), Error> {
        check_learning_rate(self.learning_rate)?;
        check_decay("momentum", self.momentum)
    }
}

impl<T: Scalar, const P: usize> Optimizer<T> for Momentum<T, P> {
    fn begin_step(&mut self) -> Result<(), Error> {
        self.validate()
    }

    fn update_variable(&mut self, v: VariableMut<'_, T>) -> Result<(), Error> {
        let rule = momentum_rule(self.learning_rate, self.momentum, self.nesterov);
        let available = self.velocity.len();
        let end = v.offset + v.value.len();
        let vel = self
            .velocity
            .get_mut(v.offset..end)
            .ok_or(state_too_small(end, available))?;
        if !momentum_fits(v.value, v.grad, vel, rule) {
            return Err(refused_update(v.id, v.grad));
        }
        momentum_apply(v.value, v.grad, vel, rule);
        Ok(())
    }

    /// # Errors
    /// As [`momentum_step`]: [`Error::InvalidParameter`] for a setting out of range (see
    /// [`Momentum::validate`]), [`Error::TooSmall`] when the graph has more than `P`
    /// trainable scalars, [`Error::NonFinite`] for an overflowing update (nothing is changed
    /// then).
    fn apply<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
    ) -> Result<(), Error> {
        momentum_step(
            g,
            &mut self.velocity,
            self.learning_rate,
            self.momentum,
            self.nesterov,
        )
    }

    fn state(&self) -> &[T] {
        &self.velocity
    }

    /// Kind, momentum and Nesterov's flag.
    fn fingerprint(&self) -> u32 {
        crate::checkpoint::Fingerprint::new(b"momentum")
            .scalar(self.momentum)
            .flag(self.nesterov)
            .finish()
    }

    fn state_mut(&mut self) -> &mut [T] {
        &mut self.velocity
    }
}

impl<T: Scalar, const P: usize> LearningRate<T> for Momentum<T, P> {
    fn learning_rate(&self) -> T {
        self.learning_rate
    }
    fn set_learning_rate(&mut self, lr: T) {
        self.learning_rate = lr;
    }
}

/// Momentum's update (the rule of [`Momentum`]) with the velocities in a caller's slice, indexed
/// by the variables' offsets: for callers that keep the state elsewhere, like the C API.
///
/// A dry run comes first, so an update that would make a variable or a velocity non-finite is
/// refused before anything changes.
///
/// # Errors
/// [`Error::InvalidParameter`] for a learning rate that is negative, NaN or infinite, or a
/// momentum outside `[0, 1)`; [`Error::TooSmall`] when `velocity` is shorter than the
/// graph's trainable scalars; [`Error::NonFinite`] for an overflowing update. Nothing changes
/// on an error.
pub fn momentum_step<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    velocity: &mut [T],
    learning_rate: T,
    momentum: T,
    nesterov: bool,
) -> Result<(), Error> {
    check_learning_rate(learning_rate)?;
    check_decay("momentum", momentum)?;
    check_capacity(g, velocity.len())?;
    let rule = momentum_rule(learning_rate, momentum, nesterov);
    // A dry run first: an update that would overflow is refused before anything changes.
    let state: &[T] = velocity;
    g.for_each_variable(|v| {
        if !v.reached {
            return Ok(());
        }
        let end = v.offset + v.value.len();
        let vel = state
            .get(v.offset..end)
            .ok_or(state_too_small(end, state.len()))?;
        if momentum_fits(v.value, v.grad, vel, rule) {
            Ok(())
        } else {
            Err(refused_update(v.id, v.grad))
        }
    })?;
    g.for_each_variable(|v| {
        if !v.reached {
            return Ok(());
        }
        let end = v.offset + v.value.len();
        let available = velocity.len();
        let vel = velocity
            .get_mut(v.offset..end)
            .ok_or(state_too_small(end, available))?;
        momentum_apply(v.value, v.grad, vel, rule);
        Ok(())
    })
}

/// The momentum rule for one entry: `(w, d, u) ↦ (w − η·step, u')` with `u' = μu + d` and
/// `step = u'` (classical) or `d + μu'` (Nesterov).
fn momentum_rule<T: Scalar>(lr: T, mu: T, nesterov: bool) -> impl Fn(T, T, T) -> (T, T) + Copy {
    move |w, d, u| {
        let u = mu * u + d;
        let step = if nesterov { d + mu * u } else { u };
        (w - lr * step, u)
    }
}

/// Whether `rule` keeps every weight and velocity of one variable finite.
fn momentum_fits<T: Scalar>(
    value: &[T],
    grad: &[T],
    vel: &[T],
    rule: impl Fn(T, T, T) -> (T, T),
) -> bool {
    value.iter().zip(grad).zip(vel).all(|((&w, &d), &u)| {
        let (w, u) = rule(w, d, u);
        w.is_finite() && u.is_finite()
    })
}

/// Applies `rule` to one variable's weights and velocities.
fn momentum_apply<T: Scalar>(
    value: &mut [T],
    grad: &[T],
    vel: &mut [T],
    rule: impl Fn(T, T, T) -> (T, T),
) {
    for ((w, &d), u) in value.iter_mut().zip(grad).zip(vel) {
        (*w, *u) = rule(*w, d, *u);
    }
}
